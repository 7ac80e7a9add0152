/*
 * accrue_places.c - libaccrue's calls for the program's groups and
 * locations: accrue_groups and accrue_locations (see accrue.h). Each asks
 * for pages after the last name it has until the server says there are no
 * more, and hands the caller one array.
 */
#include "accrue_int.h"

#include <stdlib.h>
#include <string.h>

/* Appends one page's rows to the caller's growing array. */
typedef int page_fn(accrue *a, struct proto_rbuf *r, uint32_t n, void *list, uint32_t at, char *last, size_t lastcap);

static int group_rows(accrue *a, struct proto_rbuf *r, uint32_t n, void *list, uint32_t at, char *last, size_t lastcap)
{
	struct accrue_group_info *out = (struct accrue_group_info *)list + at;

	for (uint32_t i = 0; i < n; i++) {
		struct proto_group_info g;

		if (proto_group_info_next(r, &g) != 0)
			return accrue__reply_invalid(a, "a malformed group in GROUPS");
		memset(&out[i], 0, sizeof out[i]);
		accrue__str_copy(out[i].name, sizeof out[i].name, g.name);
		out[i].members = g.members;
		accrue__str_copy(last, lastcap, g.name);
	}
	return 0;
}

static int location_rows(accrue *a, struct proto_rbuf *r, uint32_t n, void *list, uint32_t at, char *last,
			 size_t lastcap)
{
	struct accrue_location_info *out = (struct accrue_location_info *)list + at;
	struct proto_location_info *l = malloc(sizeof *l);

	if (!l) {
		accrue__message_set(a, "out of memory reading locations");
		return ACCRUE_E_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (proto_location_info_next(r, l) != 0) {
			free(l);
			return accrue__reply_invalid(a, "a malformed location in LOCATIONS");
		}
		memset(&out[i], 0, sizeof out[i]);
		accrue__str_copy(out[i].name, sizeof out[i].name, l->name);
		out[i].sales = l->sales;
		out[i].amount = l->amount;
		out[i].points = l->points;
		out[i].refunded = l->refunded;
		out[i].taken_back = l->taken_back;
		out[i].last_seq = l->last_seq;
		out[i].last_us = l->last_us;
		out[i].nkeys_total = l->nkeys_total;
		out[i].nkeys = l->nkeys;
		memcpy(out[i].keys, l->keys, l->nkeys * sizeof l->keys[0]);
		accrue__str_copy(last, lastcap, l->name);
	}
	free(l);
	return 0;
}

static int list_pages(accrue *a, uint8_t opcode, const char *what, size_t size, page_fn *rows_fn, void **out,
		      uint32_t *count)
{
	char last[PROTO_MAX_LOCATION + 1] = "";
	void *list = NULL;
	uint32_t total = 0;
	uint8_t more = 1;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!out || !count)
		return accrue__arg_invalid(a, "no place for the list");
	*out = NULL;
	*count = 0;
	while (more) {
		struct request rq;
		struct reply rep;
		struct proto_rbuf r;
		struct proto_places_req m = {proto_str_c(last)};
		uint32_t n;
		void *grown;

		accrue__request_init(&rq, opcode);
		proto_places_req_encode(&rq.body, &m);
		if ((rc = accrue__call(a, &rq, &rep)) != 0)
			goto fail;
		proto_rbuf_init(&r, rep.body, rep.len);
		if (proto_places_rep_begin(&r, &more, &n) != 0 || (more && !n)) {
			rc = accrue__reply_invalid(a, what);
			goto fail;
		}
		if (!(grown = realloc(list, ((size_t)total + n + 1) * size))) {
			accrue__message_set(a, "out of memory for %u rows", (unsigned)(total + n));
			rc = ACCRUE_E_NOMEM;
			goto fail;
		}
		list = grown;
		{
			char before[sizeof last];

			memcpy(before, last, sizeof last);
			if ((rc = rows_fn(a, &r, n, list, total, last, sizeof last)) != 0)
				goto fail;
			/* Each page must move past the one before, or a broken server could keep us here. */
			if (more && strcmp(last, before) <= 0) {
				rc = accrue__reply_invalid(a, what);
				goto fail;
			}
		}
		if (proto_rbuf_finish(&r) != 0) {
			rc = accrue__reply_invalid(a, what);
			goto fail;
		}
		total += n;
	}
	*out = list;
	*count = total;
	return 0;

fail:
	free(list);
	return rc;
}

int accrue_groups(accrue *a, struct accrue_group_info **groups, uint32_t *count)
{
	return list_pages(a, PROTO_OP_GROUPS, "a malformed GROUPS reply", sizeof **groups, group_rows, (void **)groups,
			  count);
}

int accrue_locations(accrue *a, struct accrue_location_info **locations, uint32_t *count)
{
	return list_pages(a, PROTO_OP_LOCATIONS, "a malformed LOCATIONS reply", sizeof **locations, location_rows,
			  (void **)locations, count);
}

int accrue_group_rename(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *from, const char *to,
			uint64_t *moved, uint64_t *members, int *replay)
{
	struct request rq;
	struct reply rep;
	struct proto_group_rename_req m;
	struct proto_group_rename_rep r;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!from || !*from || !to || !*to)
		return accrue__arg_invalid(a, "both group names are required");
	if (accrue__text_too_long(a, "group", from, PROTO_MAX_GROUP) || accrue__text_too_long(a, "group", to, PROTO_MAX_GROUP))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.from = proto_str_c(from);
	m.to = proto_str_c(to);
	accrue__request_init(&rq, PROTO_OP_GROUP_RENAME);
	proto_group_rename_req_encode(&rq.body, &m);
	if ((rc = accrue__call(a, &rq, &rep)) != 0)
		return rc;
	if (proto_group_rename_rep_decode(rep.body, rep.len, &r) != 0)
		return accrue__reply_invalid(a, "a malformed GROUP_RENAME reply");
	if (moved)
		*moved = r.moved;
	if (members)
		*members = r.members;
	if (replay)
		*replay = (rep.flags & PROTO_FLAG_REPLAY) != 0;
	return 0;
}
