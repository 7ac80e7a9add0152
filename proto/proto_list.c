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

/* ---- GROUPS and LOCATIONS ---------------------------------------------- */

int proto_places_req_encode(struct proto_wbuf *w, const struct proto_places_req *m)
{
	proto_put_str(w, m->after);
	return w->overflow ? PROTO_E_SPACE : 0;
}

static int places_req_decode(const uint8_t *b, size_t n, struct proto_places_req *m, uint32_t max)
{
	struct proto_rbuf r;

	proto_rbuf_init(&r, b, n);
	m->after = proto_get_str(&r, max);
	return proto_rbuf_finish(&r);
}

int proto_groups_req_decode(const uint8_t *b, size_t n, struct proto_places_req *m)
{
	return places_req_decode(b, n, m, PROTO_MAX_GROUP);
}

int proto_locations_req_decode(const uint8_t *b, size_t n, struct proto_places_req *m)
{
	return places_req_decode(b, n, m, PROTO_MAX_LOCATION);
}

void proto_places_rep_put_header(struct proto_wbuf *w, uint8_t more, uint32_t count)
{
	proto_put_u8(w, more);
	proto_put_u32(w, count);
}

int proto_places_rep_begin(struct proto_rbuf *r, uint8_t *more, uint32_t *count)
{
	*more = proto_get_u8(r);
	*count = proto_get_u32(r);
	if (!r->error && (*more > 1 || *count > PROTO_MAX_PLACES))
		r->error = PROTO_E_FIELD;
	return r->error;
}

void proto_group_info_put(struct proto_wbuf *w, const struct proto_group_info *g)
{
	proto_put_str(w, g->name);
	proto_put_u64(w, g->members);
}

int proto_group_info_next(struct proto_rbuf *r, struct proto_group_info *g)
{
	g->name = proto_get_str(r, PROTO_MAX_GROUP);
	g->members = proto_get_u64(r);
	if (!r->error && !g->name.len)
		r->error = PROTO_E_FIELD;
	return r->error;
}

void proto_location_info_put(struct proto_wbuf *w, const struct proto_location_info *l)
{
	proto_put_str(w, l->name);
	proto_put_u64(w, l->sales);
	proto_put_i64(w, l->amount);
	proto_put_i64(w, l->points);
	proto_put_i64(w, l->refunded);
	proto_put_i64(w, l->taken_back);
	proto_put_u64(w, l->last_seq);
	proto_put_i64(w, l->last_us);
	proto_put_u32(w, l->nkeys_total);
	proto_put_u16(w, l->nkeys);
	for (uint16_t i = 0; i < l->nkeys && i < PROTO_MAX_PLACE_KEYS; i++)
		proto_put_u64(w, l->keys[i]);
}

int proto_location_info_next(struct proto_rbuf *r, struct proto_location_info *l)
{
	l->name = proto_get_str(r, PROTO_MAX_LOCATION);
	l->sales = proto_get_u64(r);
	l->amount = proto_get_i64(r);
	l->points = proto_get_i64(r);
	l->refunded = proto_get_i64(r);
	l->taken_back = proto_get_i64(r);
	l->last_seq = proto_get_u64(r);
	l->last_us = proto_get_i64(r);
	l->nkeys_total = proto_get_u32(r);
	l->nkeys = proto_get_u16(r);
	if (!r->error && (l->nkeys > PROTO_MAX_PLACE_KEYS || l->nkeys > l->nkeys_total))
		r->error = PROTO_E_FIELD;
	for (uint16_t i = 0; !r->error && i < l->nkeys; i++)
		l->keys[i] = proto_get_u64(r);
	return r->error;
}

/* ---- GROUP_RENAME ------------------------------------------------------ */

int proto_group_rename_req_encode(struct proto_wbuf *w, const struct proto_group_rename_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_put_str(w, m->from);
	proto_put_str(w, m->to);
	return w->overflow ? PROTO_E_SPACE : 0;
}

int proto_group_rename_req_decode(const uint8_t *b, size_t n, struct proto_group_rename_req *m)
{
	struct proto_rbuf r;

	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	m->from = proto_get_str(&r, PROTO_MAX_GROUP);
	m->to = proto_get_str(&r, PROTO_MAX_GROUP);
	return proto_rbuf_finish(&r);
}

int proto_group_rename_rep_encode(struct proto_wbuf *w, const struct proto_group_rename_rep *m)
{
	proto_put_u64(w, m->moved);
	proto_put_u64(w, m->members);
	return w->overflow ? PROTO_E_SPACE : 0;
}

int proto_group_rename_rep_decode(const uint8_t *b, size_t n, struct proto_group_rename_rep *m)
{
	struct proto_rbuf r;

	proto_rbuf_init(&r, b, n);
	m->moved = proto_get_u64(&r);
	m->members = proto_get_u64(&r);
	if (!r.error && m->moved > m->members)
		r.error = PROTO_E_FIELD;
	return proto_rbuf_finish(&r);
}
