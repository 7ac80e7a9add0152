/*
 * accrue_list.c - the customer book's pages: accrue_customers (CUSTOMERS).
 */
#include <string.h>

#include "accrue_int.h"

_Static_assert((int)ACCRUE_SORT_ID == (int)PROTO_SORT_ID && (int)ACCRUE_SORT_EMAIL == (int)PROTO_SORT_EMAIL &&
		       (int)ACCRUE_SORT_NAME == (int)PROTO_SORT_NAME && (int)ACCRUE_SORT_AVERAGE_SPEND == (int)PROTO_SORT_AVERAGE_SPEND,
	       "accrue.h's sort fields must be proto.h's");
_Static_assert(ACCRUE_MAX_PAGE == PROTO_MAX_PAGE && ACCRUE_MAX_CURSOR == PROTO_MAX_CURSOR &&
		       ACCRUE_TOTAL_UNKNOWN == PROTO_TOTAL_UNKNOWN,
	       "accrue.h's page limits must be proto.h's");

const char *accrue_sort_name(int sort)
{
	return proto_sort_name(sort);
}

int accrue_sort_parse(const char *name)
{
	return proto_sort_parse(name);
}

static struct proto_str opt_str(const char *s)
{
	return proto_str_c(s ? s : "");
}

int accrue_customers(accrue *a, const struct accrue_customer_query *q, struct accrue_customer *rows, uint32_t cap,
		     struct accrue_customer_page *page)
{
	struct proto_customers_req m;
	struct request rq;
	struct reply rep;
	struct proto_rbuf r;
	struct proto_str next;
	uint64_t total;
	uint32_t n;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!q || !rows || !page || cap == 0)
		return accrue__arg_invalid(a, "accrue_customers needs a query, a page and room for at least one row");
	memset(page, 0, sizeof *page);
	if (q->limit == 0 || q->limit > ACCRUE_MAX_PAGE)
		return accrue__arg_invalid(a, "a page holds 1 to 1000 customers");
	if (q->sort < 0 || q->sort > ACCRUE_SORT_EMAIL)
		return accrue__arg_invalid(a, "unknown sort field");
	if (q->members < 0 || q->members > 2 || q->opted_out < 0 || q->opted_out > 2)
		return accrue__arg_invalid(a, "members and opted_out are 0, 1 or 2");
	if (accrue__text_too_long(a, "search", q->search, PROTO_MAX_SEARCH) ||
	    accrue__text_too_long(a, "group", q->group, PROTO_MAX_GROUP) ||
	    accrue__text_too_long(a, "tier", q->tier, PROTO_MAX_TIER) ||
	    accrue__text_too_long(a, "cursor", q->after, PROTO_MAX_CURSOR))
		return ACCRUE_E_INVALID;
	memset(&m, 0, sizeof m);
	m.sort = (uint8_t)(q->sort ? q->sort : ACCRUE_SORT_CREATED);
	m.desc = q->descending ? 1 : 0;
	m.flags = (uint8_t)((q->want_total ? PROTO_LIST_TOTAL : 0) | (q->has_min_points ? PROTO_LIST_MIN_POINTS : 0) |
			    (q->has_max_points ? PROTO_LIST_MAX_POINTS : 0));
	m.member = (uint8_t)q->members;
	m.optout = (uint8_t)q->opted_out;
	m.limit = q->limit < cap ? q->limit : cap;
	m.min_points = q->min_points;
	m.max_points = q->max_points;
	m.search = opt_str(q->search);
	m.group = opt_str(q->group);
	m.tier = opt_str(q->tier);
	m.after = opt_str(q->after);
	accrue__request_init(&rq, PROTO_OP_CUSTOMERS);
	proto_customers_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	proto_rbuf_init(&r, rep.body, rep.len);
	if (proto_customers_rep_begin(&r, &total, &next, &n) != 0)
		return accrue__reply_invalid(a, "a malformed CUSTOMERS reply");
	if (n > m.limit)
		return accrue__reply_invalid(a, "more customers than asked for");
	for (uint32_t i = 0; i < n; i++) {
		struct proto_customer c;

		proto_customer_get(&r, &c);
		if (r.error)
			return accrue__reply_invalid(a, "a malformed customer in a CUSTOMERS reply");
		accrue__customer_copy(&rows[i], &c);
	}
	if (proto_rbuf_finish(&r) != 0)
		return accrue__reply_invalid(a, "trailing bytes after the customers");
	page->total = total;
	accrue__str_copy(page->next, sizeof page->next, next);
	page->count = n;
	return 0;
}
