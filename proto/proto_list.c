/*
 * proto_list.c - the customer book's messages: CUSTOMERS requests and
 * replies, and the names of the sort fields. Split from proto.c along the
 * seam between the checkout's messages and the manager's; declared in
 * proto.h like the rest of the codec.
 */
#include <string.h>

#include "proto.h"

static const char *const sort_names[PROTO_SORT_MAX + 1] = {
	[PROTO_SORT_ID] = "id",
	[PROTO_SORT_CREATED] = "created",
	[PROTO_SORT_LAST_VISIT] = "last-visit",
	[PROTO_SORT_BALANCE] = "balance",
	[PROTO_SORT_LIFETIME] = "lifetime",
	[PROTO_SORT_VISITS] = "visits",
	[PROTO_SORT_SPEND] = "spend",
	[PROTO_SORT_AVERAGE_SPEND] = "average-spend",
	[PROTO_SORT_NAME] = "name",
	[PROTO_SORT_EMAIL] = "email",
};

const char *proto_sort_name(int sort)
{
	return sort >= 1 && sort <= PROTO_SORT_MAX ? sort_names[sort] : NULL;
}

int proto_sort_parse(const char *name)
{
	for (int i = 1; name && i <= PROTO_SORT_MAX; i++)
		if (strcmp(name, sort_names[i]) == 0)
			return i;
	return 0;
}

int proto_customers_req_encode(struct proto_wbuf *w, const struct proto_customers_req *m)
{
	proto_put_u8(w, m->sort);
	proto_put_u8(w, m->desc);
	proto_put_u8(w, m->flags);
	proto_put_u8(w, m->member);
	proto_put_u8(w, m->optout);
	proto_put_u32(w, m->limit);
	proto_put_i64(w, m->min_points);
	proto_put_i64(w, m->max_points);
	proto_put_str(w, m->search);
	proto_put_str(w, m->group);
	proto_put_str(w, m->tier);
	proto_put_str(w, m->after);
	return w->overflow ? PROTO_E_SPACE : 0;
}

int proto_customers_req_decode(const uint8_t *b, size_t n, struct proto_customers_req *m)
{
	struct proto_rbuf r;

	proto_rbuf_init(&r, b, n);
	m->sort = proto_get_u8(&r);
	m->desc = proto_get_u8(&r);
	m->flags = proto_get_u8(&r);
	m->member = proto_get_u8(&r);
	m->optout = proto_get_u8(&r);
	m->limit = proto_get_u32(&r);
	m->min_points = proto_get_i64(&r);
	m->max_points = proto_get_i64(&r);
	m->search = proto_get_str(&r, PROTO_MAX_SEARCH);
	m->group = proto_get_str(&r, PROTO_MAX_GROUP);
	m->tier = proto_get_str(&r, PROTO_MAX_TIER);
	m->after = proto_get_str(&r, PROTO_MAX_CURSOR);
	if (!r.error && (m->sort < 1 || m->sort > PROTO_SORT_MAX || m->desc > 1 || (m->flags & ~PROTO_LIST_FLAGS) ||
			 m->member > PROTO_LIST_GUESTS || m->optout > PROTO_LIST_OPTED_IN || m->limit < 1 ||
			 m->limit > PROTO_MAX_PAGE))
		return PROTO_E_FIELD;
	return proto_rbuf_finish(&r);
}

void proto_customers_rep_put_header(struct proto_wbuf *w, uint64_t total, struct proto_str next, uint32_t count)
{
	proto_put_u64(w, total);
	proto_put_str(w, next);
	proto_put_u32(w, count);
}

int proto_customers_rep_begin(struct proto_rbuf *r, uint64_t *total, struct proto_str *next, uint32_t *count)
{
	*total = proto_get_u64(r);
	*next = proto_get_str(r, PROTO_MAX_CURSOR);
	*count = proto_get_u32(r);
	if (!r->error && *count > PROTO_MAX_PAGE)
		r->error = PROTO_E_FIELD;
	return r->error;
}
