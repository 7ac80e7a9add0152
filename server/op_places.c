/*
 * op_places.c - the program's groups and locations: GROUPS (each group
 * with its member count), GROUP_RENAME (every member of one group moved
 * to another) and LOCATIONS (each location with its sales,
 * points, last sale and the terminal keys bound to it). See
 * dispatch_ops.h.
 *
 * Both answer from the aggregates the model keeps (places.h), so a page
 * costs O(groups) or O(locations + keys), never a scan of the customers,
 * and a checkout is not held up behind it. A page is the names after the
 * request's cursor in byte order, at most PROTO_MAX_PLACES of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dispatch_ops.h"

/* Byte order, shorter first on a common prefix. */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* ---- GROUPS ----------------------------------------------------------- */

static const struct places *sort_places; /* qsort has no context argument; only the loop thread sorts */

static int group_order(const void *x, const void *y)
{
	const struct places_group *a = &sort_places->groups[*(const uint32_t *)x];
	const struct places_group *b = &sort_places->groups[*(const uint32_t *)y];

	return name_cmp(a->name, a->len, b->name, b->len);
}

enum dispatch_action op_groups(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			       struct dispatch_out *out)
{
	const struct places *p = &d->model->places;
	struct proto_places_req req;
	struct proto_wbuf w;
	uint32_t *rows, n = 0, page;

	(void)sess;
	if (proto_groups_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed GROUPS body (a cursor of at most %d bytes)",
			       PROTO_MAX_GROUP);
		return DISPATCH_REPLY;
	}
	if (!(rows = malloc(((size_t)p->ngroups + 1) * sizeof *rows))) {
		dispatch_error(out, PROTO_ST_BUSY, "out of memory listing %u groups", (unsigned)p->ngroups);
		return DISPATCH_REPLY;
	}
	/* A group nobody is in any more keeps its row (and index slot) but is not listed. */
	for (uint32_t i = 0; i < p->ngroups; i++)
		if (p->groups[i].members &&
		    name_cmp(p->groups[i].name, p->groups[i].len, req.after.ptr, req.after.len) > 0)
			rows[n++] = i;
	sort_places = p;
	qsort(rows, n, sizeof *rows, group_order);
	page = n < PROTO_MAX_PLACES ? n : PROTO_MAX_PLACES;
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_places_rep_put_header(&w, n > page, page);
	for (uint32_t i = 0; i < page; i++) {
		const struct places_group *g = &p->groups[rows[i]];
		struct proto_group_info info = {{g->name, g->len}, g->members};
		proto_group_info_put(&w, &info);
	}
	free(rows);
	out->len = w.len;
	/* The counts include every record applied: answer once they are durable. */
	dispatch_depend(out, store_last_seq(d->store));
	return DISPATCH_REPLY;
}

/* ---- LOCATIONS -------------------------------------------------------- */

/* The most bytes one LOCATIONS row takes (PROTOCOL.md). */
#define LOCATION_ROW_MAX (2 + PROTO_MAX_LOCATION + 8 * 7 + 4 + 2 + 8 * PROTO_MAX_PLACE_KEYS)

/* One row: a location with sales, or one a terminal key is bound to (sales NULL). */
struct location_row {
	char name[PROTO_MAX_LOCATION + 1];
	uint8_t len;
	const struct places_location *sales;
};

static int location_order(const void *x, const void *y)
{
	const struct location_row *a = x, *b = y;

	return name_cmp(a->name, a->len, b->name, b->len);
}

/* A terminal key's location as sales store it (keys made before locations were normalised may hold capitals). */
static struct proto_str key_location(const struct model_apikey *k, char buf[PROTO_MAX_LOCATION + 1])
{
	struct proto_str loc;

	if (k->revoked || k->role != PROTO_ROLE_TERMINAL || !k->location[0])
		return proto_str_c("");
	if (model_location_normalise(proto_str_c(k->location), buf, &loc))
		return proto_str_c(k->location);
	return loc;
}

/* Add a row for loc (with no sales) unless it is there or not after the cursor. */
static void row_add(const struct places *p, struct location_row *rows, uint32_t *n, struct proto_str loc,
		    struct proto_str after)
{
	if (!loc.len || places_location_find(p, loc) || name_cmp(loc.ptr, loc.len, after.ptr, after.len) <= 0)
		return;
	for (uint32_t j = 0; j < *n; j++)
		if (rows[j].len == loc.len && memcmp(rows[j].name, loc.ptr, loc.len) == 0)
			return;
	memcpy(rows[*n].name, loc.ptr, loc.len);
	rows[*n].len = (uint8_t)loc.len;
	rows[(*n)++].sales = NULL;
}

static int first_record_time(void *ctx, uint64_t seq, const struct record *rec)
{
	(void)seq;
	*(int64_t *)ctx = rec->time_us;
	return 1;
}

enum dispatch_action op_locations(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
				  struct dispatch_out *out)
{
	struct model *m = d->model;
	struct places *p = &m->places;
	struct proto_places_req req;
	struct proto_location_info info;
	struct location_row *rows;
	struct proto_wbuf w;
	uint32_t n = 0, page;
	size_t header_at;

	(void)sess;
	if (proto_locations_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed LOCATIONS body (a cursor of at most %d bytes)",
			       PROTO_MAX_LOCATION);
		return DISPATCH_REPLY;
	}
	if (!(rows = malloc(((size_t)p->nlocations + m->nkeys + m->rules.locations.n + 1) * sizeof *rows))) {
		dispatch_error(out, PROTO_ST_BUSY, "out of memory listing %u locations", (unsigned)p->nlocations);
		return DISPATCH_REPLY;
	}
	for (uint32_t i = 0; i < p->nlocations; i++) {
		const struct places_location *l = &p->locations[i];
		if (name_cmp(l->name, l->len, req.after.ptr, req.after.len) <= 0)
			continue;
		memcpy(rows[n].name, l->name, l->len);
		rows[n].len = l->len;
		rows[n++].sales = l;
	}
	/* Locations with keys but no sale yet, and those the program lists, are locations too. */
	for (uint32_t i = 0; i < m->nkeys; i++) {
		char buf[PROTO_MAX_LOCATION + 1];
		row_add(p, rows, &n, key_location(&m->keys[i], buf), req.after);
	}
	for (uint32_t i = 0; i < m->rules.locations.n; i++) {
		char buf[PROTO_MAX_LOCATION + 1];
		struct proto_str item = {m->rules.locations.item[i].text, m->rules.locations.item[i].len}, loc;
		if (model_location_normalise(item, buf, &loc))
			loc = item;
		row_add(p, rows, &n, loc, req.after);
	}
	qsort(rows, n, sizeof *rows, location_order);
	page = n < PROTO_MAX_PLACES ? n : PROTO_MAX_PLACES;
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	header_at = w.len;
	proto_places_rep_put_header(&w, n > page, page);
	for (uint32_t i = 0; i < page; i++) {
		/* A page ends early where the next row might not fit the reply (a small max_body). */
		if (w.len + LOCATION_ROW_MAX > out->cap) {
			struct proto_wbuf hdr;

			proto_wbuf_init(&hdr, out->body + header_at, 5);
			proto_places_rep_put_header(&hdr, 1, i);
			page = i;
			break;
		}
		const struct places_location *l = rows[i].sales;
		struct proto_str name = {rows[i].name, rows[i].len};

		memset(&info, 0, sizeof info);
		info.name = name;
		if (l) {
			/* A sale loaded from a snapshot has no time in memory: the journal has it. */
			if (l->last_seq && !l->last_us && l->last_seq <= store_durable_seq(d->store)) {
				int64_t t = 0;
				if (store_walk_chain(d->store, l->last_seq, first_record_time, &t) == 0 && t)
					places_sale_time(p, name, l->last_seq, t);
			}
			info.sales = l->sales;
			info.amount = l->amount;
			info.points = l->points;
			info.refunded = l->refunded;
			info.taken_back = l->taken_back;
			info.last_seq = l->last_seq;
			info.last_us = l->last_us;
		}
		for (uint32_t k = 0; k < m->nkeys; k++) {
			char buf[PROTO_MAX_LOCATION + 1];
			struct proto_str loc = key_location(&m->keys[k], buf);

			if (loc.len != name.len || memcmp(loc.ptr, name.ptr, name.len) != 0)
				continue;
			if (info.nkeys < PROTO_MAX_PLACE_KEYS)
				info.keys[info.nkeys++] = m->keys[k].id;
			info.nkeys_total++;
		}
		proto_location_info_put(&w, &info);
	}
	free(rows);
	if (w.overflow || (n && !page)) {
		dispatch_error(out, PROTO_ST_INTERNAL, "the LOCATIONS page does not fit the reply");
		return DISPATCH_REPLY;
	}
	out->len = w.len;
	dispatch_depend(out, store_last_seq(d->store));
	return DISPATCH_REPLY;
}

/* ---- GROUP_RENAME ----------------------------------------------------- */

/* A group name: printable, no spaces or commas (they separate lists in settings), as GROUP takes it. */
static int group_name_ok(struct proto_str n)
{
	if (!n.len)
		return 0;
	for (uint32_t i = 0; i < n.len; i++) {
		unsigned char ch = (unsigned char)n.ptr[i];
		if (ch <= ' ' || ch == ',' || ch == 0x7f)
			return 0;
	}
	return 1;
}

static int rules_name_is(const struct rules_name *r, struct proto_str s)
{
	return r->len == s.len && memcmp(r->text, s.ptr, s.len) == 0;
}

/*
 * The program setting that names group g (a multiplier for it, or a
 * promotion limited to it), written into buf; 0 when none does. A rename
 * is refused while one does: the program is changed by PROGRAM_SET
 * records alone, and a rename that rewrote it behind the manager's back
 * would be a change of the program no PROGRAM record shows.
 */
static int program_names_group(const struct rules *r, struct proto_str g, char *buf, size_t cap)
{
	for (uint32_t i = 0; i < r->ngroup_mults; i++)
		if (rules_name_is(&r->group_mults[i].name, g)) {
			snprintf(buf, cap, "multiplier.group.%.*s", (int)g.len, g.ptr);
			return 1;
		}
	for (uint32_t i = 0; i < r->npromos; i++)
		for (uint32_t j = 0; j < r->promos[i].groups.n; j++)
			if (rules_name_is(&r->promos[i].groups.item[j], g)) {
				snprintf(buf, cap, "promo.%.*s", (int)r->promos[i].name.len, r->promos[i].name.text);
				return 1;
			}
	return 0;
}

static void rename_reply(struct dispatch_out *out, uint64_t moved, uint64_t members)
{
	struct proto_wbuf w;
	struct proto_group_rename_rep rep = {moved, members};

	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_group_rename_rep_encode(&w, &rep);
	out->len = w.len;
}

enum dispatch_action op_group_rename(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
				     struct dispatch_out *out)
{
	struct proto_group_rename_req req;
	struct record *rec = &d->scratch->rec;
	const struct model_request *q;
	const struct places_group *g;
	uint64_t seq, hash = XXH3_64bits(body, len);
	char msg[160];
	uint16_t status;

	(void)sess;
	if (proto_group_rename_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed GROUP_RENAME body");
		return DISPATCH_REPLY;
	}
	/* The reply of a replay is the original one's: what moved then, and the new group's count now. */
	status = dispatch_request_key_lookup(d, PROTO_OP_GROUP_RENAME, req.key, hash, &q, msg, sizeof msg);
	if (q)
		dispatch_depend(out, q->seq);
	if (status) {
		dispatch_error(out, status, "%s", msg);
		return DISPATCH_REPLY;
	}
	if (q) {
		g = places_group_find(&d->model->places, req.to);
		rename_reply(out, (uint64_t)q->value, g ? g->members : 0);
		out->flags |= PROTO_FLAG_REPLAY;
		return DISPATCH_REPLY;
	}
	if (!group_name_ok(req.from) || !group_name_ok(req.to)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "both group names are required: printable, no spaces or commas");
		return DISPATCH_REPLY;
	}
	if (req.from.len == req.to.len && memcmp(req.from.ptr, req.to.ptr, req.to.len) == 0) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "group \"%.*s\" is renamed to itself", (int)req.to.len, req.to.ptr);
		return DISPATCH_REPLY;
	}
	if (!(g = places_group_find(&d->model->places, req.from)) || !g->members) {
		dispatch_depend(out, store_last_seq(d->store));
		dispatch_error(out, PROTO_ST_NOT_FOUND, "no customer is in group \"%.*s\"", (int)req.from.len, req.from.ptr);
		return DISPATCH_REPLY;
	}
	if (program_names_group(&d->model->rules, req.from, msg, sizeof msg)) {
		dispatch_depend(out, d->model->program_seq);
		dispatch_error(out, PROTO_ST_CONFLICT,
			       "program setting %s names group \"%.*s\": change or remove it first (program set), then rename",
			       msg, (int)req.from.len, req.from.ptr);
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_GROUP_RENAME, req.key, hash);
	rec->u.group_rename.from = req.from;
	rec->u.group_rename.to = req.to;
	if (!(seq = dispatch_commit_record(d, rec, out)))
		return DISPATCH_REPLY;
	{
		const struct model_request *made = model_request_find(d->model, req.key);
		g = places_group_find(&d->model->places, req.to);
		rename_reply(out, made ? (uint64_t)made->value : 0, g ? g->members : 0);
	}
	dispatch_depend(out, seq);
	return DISPATCH_REPLY;
}
