/*
 * accrue_ledger.c - libaccrue's operations on customers, sales and points:
 * enrol, lookup, accrue and sale, return, quote, batch, order, group, tier,
 * adjust and history (see accrue.h).
 *
 * Each one checks its arguments here, where a bad one costs no round trip
 * and gets a message naming it, encodes its request once, and leaves the
 * sending, retrying and reply matching to accrue__call (accrue_conn.c).
 * Replies are decoded into the caller's structs as copies, so nothing a
 * caller keeps points into the handle's buffers.
 */
#include "accrue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The largest encoding of one line (two strings at their limits, qty and
 * amount) and of a sale around its lines; request bodies that carry a sale
 * are sized from these.
 */
#define LINE_MAX_SIZE (2 + PROTO_MAX_SKU + 2 + PROTO_MAX_CATEGORY + 8 + 8)
#define SALE_MAX_SIZE(nlines) \
	((size_t)(2 + PROTO_MAX_LOCATION + 2 + PROTO_MAX_ORDER + 8 + 8 + 2) + (size_t)(nlines)*LINE_MAX_SIZE)
#define REF_MAX_SIZE (1 + 2 + PROTO_MAX_EMAIL)

/* ---- from the caller's structs to the codec's, and back -------------- */

static int ref_to_proto(accrue *a, const struct accrue_ref *ref, struct proto_ref *out)
{
	size_t len, max;

	if (!ref)
		return accrue__arg_invalid(a, "no customer reference given");
	memset(out, 0, sizeof *out);
	switch (ref->kind) {
	case ACCRUE_REF_ID:
		if (ref->id == 0)
			return accrue__arg_invalid(a, "customer id 0 names nobody");
		out->kind = PROTO_REF_ID;
		out->id = ref->id;
		return 0;
	case ACCRUE_REF_EMAIL:
		out->kind = PROTO_REF_EMAIL;
		max = PROTO_MAX_EMAIL;
		break;
	case ACCRUE_REF_PHONE:
		out->kind = PROTO_REF_PHONE;
		max = PROTO_MAX_PHONE;
		break;
	case ACCRUE_REF_CARD:
		out->kind = PROTO_REF_CARD;
		max = PROTO_MAX_CARD;
		break;
	default:
		return accrue__arg_invalid(a, "unknown customer reference kind");
	}
	len = strnlen(ref->text, sizeof ref->text);
	if (len == 0)
		return accrue__arg_invalid(a, "empty customer reference");
	if (len > max) {
		accrue__message_set(a, "customer %s is longer than %zu bytes",
				    out->kind == PROTO_REF_EMAIL ? "email" : out->kind == PROTO_REF_CARD ? "card" : "phone", max);
		return ACCRUE_E_INVALID;
	}
	out->text.ptr = ref->text;
	out->text.len = (uint32_t)len;
	return 0;
}

static void customer_copy(struct accrue_customer *dst, const struct proto_customer *c)
{
	memset(dst, 0, sizeof *dst);
	dst->id = c->id;
	accrue__str_copy(dst->email, sizeof dst->email, c->email);
	accrue__str_copy(dst->phone, sizeof dst->phone, c->phone);
	accrue__str_copy(dst->first_name, sizeof dst->first_name, c->first_name);
	accrue__str_copy(dst->last_name, sizeof dst->last_name, c->last_name);
	dst->balance = c->balance;
	dst->lifetime_points = c->lifetime_points;
	dst->visits = c->visits;
	dst->total_spend = c->total_spend;
	/* A visit count past INT64_MAX is nonsense; leave the average at 0 then. */
	if (c->visits > 0 && c->visits <= (uint64_t)INT64_MAX)
		dst->average_spend = c->total_spend / (int64_t)c->visits;
	dst->created_us = c->created_us;
	dst->last_visit_us = c->last_visit_us;
	dst->member = c->member != 0;
	accrue__str_copy(dst->tier, sizeof dst->tier, c->tier);
	dst->ngroups = c->ngroups <= ACCRUE_MAX_GROUPS ? c->ngroups : ACCRUE_MAX_GROUPS;
	for (int i = 0; i < dst->ngroups; i++)
		accrue__str_copy(dst->groups[i], sizeof dst->groups[i], c->groups[i]);
	dst->opted_out = c->opted_out != 0;
	dst->optout_us = c->optout_us;
	accrue__str_copy(dst->optout_source, sizeof dst->optout_source, c->optout_source);
	dst->ncards = c->ncards <= ACCRUE_MAX_CARDS ? c->ncards : ACCRUE_MAX_CARDS;
	for (int i = 0; i < dst->ncards; i++)
		accrue__str_copy(dst->cards[i], sizeof dst->cards[i], c->cards[i]);
	dst->archived = c->archived != 0;
	dst->merged_into = c->merged_into;
}

void accrue__customer_copy(struct accrue_customer *dst, const struct proto_customer *c)
{
	customer_copy(dst, c);
}

static void change_copy(struct accrue_result *dst, const struct proto_change_rep *m, uint16_t flags)
{
	dst->seq = m->seq;
	dst->points = m->points;
	dst->replay = (flags & PROTO_FLAG_REPLAY) != 0;
	customer_copy(&dst->customer, &m->customer);
}

/* ---- customers ------------------------------------------------------- */

int accrue_enrol(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *email, const char *phone,
		 const char *first_name, const char *last_name, struct accrue_customer *out, int *replay)
{
	struct request rq;
	struct reply rep;
	struct proto_enrol_req m;
	struct proto_customer c;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!out)
		return accrue__arg_invalid(a, "no place for the customer (out is NULL)");
	if (accrue__text_too_long(a, "email", email, PROTO_MAX_EMAIL) || accrue__text_too_long(a, "phone", phone, PROTO_MAX_PHONE) ||
	    accrue__text_too_long(a, "first name", first_name, PROTO_MAX_NAME) ||
	    accrue__text_too_long(a, "last name", last_name, PROTO_MAX_NAME))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.email = proto_str_c(email);
	m.phone = proto_str_c(phone);
	m.first_name = proto_str_c(first_name);
	m.last_name = proto_str_c(last_name);
	accrue__request_init(&rq, PROTO_OP_ENROL);
	proto_enrol_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_customer_rep_decode(rep.body, rep.len, &c) != 0)
		return accrue__reply_invalid(a, "a malformed ENROL reply");
	customer_copy(out, &c);
	if (replay)
		*replay = (rep.flags & PROTO_FLAG_REPLAY) != 0;
	return 0;
}

int accrue_lookup(accrue *a, const struct accrue_ref *ref, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_lookup_req m;
	struct proto_customer c;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!out)
		return accrue__arg_invalid(a, "no place for the customer (out is NULL)");
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	accrue__request_init(&rq, PROTO_OP_LOOKUP);
	proto_lookup_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_customer_rep_decode(rep.body, rep.len, &c) != 0)
		return accrue__reply_invalid(a, "a malformed LOOKUP reply");
	customer_copy(out, &c);
	return 0;
}

/* ---- sales, returns and quotes --------------------------------------- */

/*
 * The caller's lines as the codec sees them: views into lines, valid as
 * long as they are. what names the request in messages ("sale", "return").
 */
static int lines_to_proto(accrue *a, const char *what, const struct accrue_line *lines, uint32_t nlines,
			  struct proto_line *out)
{
	if (nlines > PROTO_MAX_LINES) {
		accrue__message_set(a, "a %s of %u lines: at most %d are allowed", what, (unsigned)nlines, PROTO_MAX_LINES);
		return ACCRUE_E_INVALID;
	}
	if (nlines > 0 && !lines)
		return accrue__arg_invalid(a, "lines is NULL but nlines is not 0");
	for (uint32_t i = 0; i < nlines; i++) {
		size_t sku_len = strnlen(lines[i].sku, sizeof lines[i].sku);
		size_t category_len = strnlen(lines[i].category, sizeof lines[i].category);

		if (sku_len > PROTO_MAX_SKU || category_len > PROTO_MAX_CATEGORY) {
			accrue__message_set(a, "line %u of the %s: %s is longer than %d bytes", (unsigned)i + 1, what,
				    sku_len > PROTO_MAX_SKU ? "the SKU" : "the category",
				    sku_len > PROTO_MAX_SKU ? PROTO_MAX_SKU : PROTO_MAX_CATEGORY);
			return ACCRUE_E_INVALID;
		}
		out[i].sku.ptr = lines[i].sku;
		out[i].sku.len = (uint32_t)sku_len;
		out[i].category.ptr = lines[i].category;
		out[i].category.len = (uint32_t)category_len;
		out[i].qty = lines[i].qty;
		out[i].amount = lines[i].amount;
	}
	return 0;
}

/* A caller's sale as the codec sees it (views into sale). */
static int sale_to_proto(accrue *a, const struct accrue_sale *sale, struct proto_sale *out)
{
	int rc;

	if (!sale)
		return accrue__arg_invalid(a, "no sale given (sale is NULL)");
	if (accrue__text_too_long(a, "location", sale->location, PROTO_MAX_LOCATION) ||
	    accrue__text_too_long(a, "order id", sale->order_id, PROTO_MAX_ORDER))
		return ACCRUE_E_INVALID;
	rc = lines_to_proto(a, "sale", sale->lines, sale->nlines, out->lines);
	if (rc != 0)
		return rc;
	out->location = proto_str_c(sale->location);
	out->order_id = proto_str_c(sale->order_id);
	out->time_us = sale->time_us;
	out->amount = sale->amount;
	out->nlines = (uint16_t)sale->nlines;
	return 0;
}

/* Bytes the codec writes for these (kept in step with proto.c; a mismatch shows as an encode overflow). */
static size_t ref_encoded_size(const struct proto_ref *ref)
{
	return ref->kind == PROTO_REF_ID ? 1 + 8 : 1 + 2 + (size_t)ref->text.len;
}

static size_t sale_encoded_size(const struct proto_sale *sale)
{
	size_t n = 2 + (size_t)sale->location.len + 2 + (size_t)sale->order_id.len + 8 + 8 + 2;

	for (uint16_t i = 0; i < sale->nlines; i++)
		n += 2 + (size_t)sale->lines[i].sku.len + 2 + (size_t)sale->lines[i].category.len + 8 + 8;
	return n;
}

/* The largest body a request may have: what HELLO announced, else the protocol's default. */
static size_t body_limit(const accrue *a)
{
	return a->max_body ? a->max_body : PROTO_MAX_BODY_DEFAULT;
}

int accrue_accrue(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *location,
		  const char *order_id, int64_t amount, struct accrue_result *out)
{
	struct accrue_sale sale;

	memset(&sale, 0, sizeof sale);
	sale.location = location;
	sale.order_id = order_id;
	sale.amount = amount;
	return accrue_sale(a, key, ref, &sale, out);
}

int accrue_sale(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref,
		const struct accrue_sale *sale, struct accrue_result *out)
{
	struct request rq;
	struct reply rep;
	struct proto_accrue_req *m;
	struct proto_change_rep c;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!out)
		return accrue__arg_invalid(a, "no place for the result (out is NULL)");
	/* Two hundred and fifty-six lines make the request struct 12 KiB: not for a till's stack. */
	m = malloc(sizeof *m);
	if (!m) {
		accrue__message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	accrue__request_init(&rq, PROTO_OP_ACCRUE);
	if ((rc = ref_to_proto(a, ref, &m->ref)) != 0 || (rc = sale_to_proto(a, sale, &m->sale)) != 0 ||
	    (rc = accrue__key_fill(a, m->key, key)) != 0)
		goto done;
	rc = accrue__request_init_sized(a, &rq, PROTO_OP_ACCRUE, PROTO_KEY_SIZE + REF_MAX_SIZE + SALE_MAX_SIZE(m->sale.nlines));
	if (rc != 0)
		goto done;
	proto_accrue_req_encode(&rq.body, m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	if (proto_change_rep_decode(rep.body, rep.len, &c) != 0) {
		rc = accrue__reply_invalid(a, "a malformed ACCRUE reply");
		goto done;
	}
	change_copy(out, &c, rep.flags);
done:
	accrue__request_free(&rq);
	free(m);
	return rc;
}

int accrue_return(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *location, const char *order_id,
		  int64_t time_us, int64_t amount, const struct accrue_line *lines, uint32_t nlines,
		  struct accrue_return_result *out)
{
	struct request rq;
	struct reply rep;
	struct proto_return_req *m;
	struct proto_return_rep r;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!out)
		return accrue__arg_invalid(a, "no place for the result (out is NULL)");
	if (accrue__text_too_long(a, "location", location, PROTO_MAX_LOCATION) ||
	    accrue__text_too_long(a, "order id", order_id, PROTO_MAX_ORDER))
		return ACCRUE_E_INVALID;
	m = malloc(sizeof *m);
	if (!m) {
		accrue__message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	accrue__request_init(&rq, PROTO_OP_RETURN);
	if ((rc = lines_to_proto(a, "return", lines, nlines, m->lines)) != 0 || (rc = accrue__key_fill(a, m->key, key)) != 0)
		goto done;
	m->location = proto_str_c(location);
	m->order_id = proto_str_c(order_id);
	m->time_us = time_us;
	m->amount = amount;
	m->nlines = (uint16_t)nlines;
	rc = accrue__request_init_sized(a, &rq, PROTO_OP_RETURN, PROTO_KEY_SIZE + SALE_MAX_SIZE(nlines));
	if (rc != 0)
		goto done;
	proto_return_req_encode(&rq.body, m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	if (proto_return_rep_decode(rep.body, rep.len, &r) != 0) {
		rc = accrue__reply_invalid(a, "a malformed RETURN reply");
		goto done;
	}
	memset(out, 0, sizeof *out);
	out->seq = r.seq;
	out->points = r.points;
	out->shortfall = r.shortfall;
	out->refunded = r.refunded;
	out->replay = (rep.flags & PROTO_FLAG_REPLAY) != 0;
	customer_copy(&out->customer, &r.customer);
done:
	accrue__request_free(&rq);
	free(m);
	return rc;
}

int accrue_quote(accrue *a, const struct accrue_ref *ref, const struct accrue_sale *sale, struct accrue_quote *out)
{
	struct scratch {
		struct proto_quote_req req;
		struct proto_quote_rep rep;
	} *m;
	struct request rq;
	struct reply rep;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!out)
		return accrue__arg_invalid(a, "no place for the quote (out is NULL)");
	m = malloc(sizeof *m);
	if (!m) {
		accrue__message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	accrue__request_init(&rq, PROTO_OP_QUOTE);
	/* Kind 0 on the wire: nobody in particular, a member with no tier and no groups. */
	memset(&m->req.ref, 0, sizeof m->req.ref);
	m->req.ref.text.ptr = "";
	if ((ref && (rc = ref_to_proto(a, ref, &m->req.ref)) != 0) || (rc = sale_to_proto(a, sale, &m->req.sale)) != 0)
		goto done;
	rc = accrue__request_init_sized(a, &rq, PROTO_OP_QUOTE, REF_MAX_SIZE + SALE_MAX_SIZE(m->req.sale.nlines));
	if (rc != 0)
		goto done;
	proto_quote_req_encode(&rq.body, &m->req);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	if (proto_quote_rep_decode(rep.body, rep.len, &m->rep) != 0) {
		rc = accrue__reply_invalid(a, "a malformed QUOTE reply");
		goto done;
	}
	memset(out, 0, sizeof *out);
	out->earned = m->rep.earned;
	out->qualifying = m->rep.qualifying;
	out->qualifying_items = m->rep.qualifying_items;
	out->multiplier = m->rep.multiplier;
	out->unit = m->rep.unit;
	out->nlines = m->rep.nlines;
	memcpy(out->line_earned, m->rep.line_earned, (size_t)m->rep.nlines * sizeof out->line_earned[0]);
done:
	accrue__request_free(&rq);
	free(m);
	return rc;
}

/* Put "sale N: " (or another noun) before the message of a refused batch argument. */
static int batch_item_invalid(accrue *a, const char *noun, uint32_t i, int rc)
{
	char why[sizeof a->message];

	snprintf(why, sizeof why, "%s", a->message);
	accrue__message_set(a, "%s %u of the batch: %s", noun, (unsigned)i + 1, why);
	return rc;
}

/* The items of a batch reply (ACCRUE_BATCH, ADJUST_BATCH) into results[0..n). */
static int batch_results_read(accrue *a, const struct reply *rep, uint32_t n, struct accrue_batch_result *results,
			      const char *opname)
{
	struct proto_rbuf r;
	uint16_t count;
	char why[96];

	proto_rbuf_init(&r, rep->body, rep->len);
	if (proto_batch_rep_begin(&r, &count) != 0 || count != n) {
		snprintf(why, sizeof why, "an %s reply with the wrong number of items", opname);
		return accrue__reply_invalid(a, why);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct proto_batch_item it;
		struct accrue_batch_result *d = &results[i];

		if (proto_batch_item_next(&r, &it) != 0) {
			snprintf(why, sizeof why, "a malformed %s item", opname);
			return accrue__reply_invalid(a, why);
		}
		memset(d, 0, sizeof *d);
		d->status = it.status;
		d->replay = it.replay != 0;
		d->seq = it.seq;
		d->points = it.points;
		d->customer_id = it.customer_id;
		d->balance = it.balance;
		accrue__str_copy(d->message, sizeof d->message, it.message);
	}
	if (proto_rbuf_finish(&r) != 0) {
		snprintf(why, sizeof why, "trailing bytes after the %s items", opname);
		return accrue__reply_invalid(a, why);
	}
	return 0;
}

int accrue_batch(accrue *a, uint32_t n, const uint8_t (*keys)[ACCRUE_KEY_SIZE], const struct accrue_ref *refs,
		 const struct accrue_sale *sales, struct accrue_batch_result *results)
{
	struct proto_accrue_req *m;
	struct request rq;
	struct reply rep;
	size_t size = 2, limit, fit = 0;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (n == 0 || n > PROTO_MAX_BATCH) {
		accrue__message_set(a, "a batch holds 1 to %d sales, not %u", PROTO_MAX_BATCH, (unsigned)n);
		return ACCRUE_E_INVALID;
	}
	if (!refs || !sales || !results)
		return accrue__arg_invalid(a, "a batch needs refs, sales and results");
	/* The frame limit comes with HELLO: make sure a session has announced it. */
	if (a->max_body == 0 && (rc = accrue__call(a, NULL, NULL)) != 0)
		return rc;
	limit = body_limit(a);
	m = malloc(sizeof *m);
	if (!m) {
		accrue__message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	accrue__request_init(&rq, PROTO_OP_ACCRUE_BATCH);
	/* First pass: check every item and size the frame exactly, so nothing is sent that cannot fit. */
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = ref_to_proto(a, &refs[i], &m->ref)) != 0 || (rc = sale_to_proto(a, &sales[i], &m->sale)) != 0) {
			rc = batch_item_invalid(a, "sale", i, rc);
			goto done;
		}
		size += 4 + PROTO_KEY_SIZE + ref_encoded_size(&m->ref) + sale_encoded_size(&m->sale);
		if (size <= limit)
			fit = i + 1;
	}
	if (size > limit) {
		accrue__message_set(a,
			    "a batch of %u sales takes %zu bytes, over the server's frame limit of %zu; the first %zu "
			    "fit: split the batch",
			    (unsigned)n, size, limit, fit);
		rc = ACCRUE_E_INVALID;
		goto done;
	}
	rc = accrue__request_init_sized(a, &rq, PROTO_OP_ACCRUE_BATCH, size);
	if (rc != 0)
		goto done;
	/* Second pass: encode. Random keys are drawn here, once: a retry re-sends these very bytes. */
	proto_batch_req_put_header(&rq.body, (uint16_t)n);
	for (uint32_t i = 0; i < n; i++) {
		ref_to_proto(a, &refs[i], &m->ref);
		sale_to_proto(a, &sales[i], &m->sale);
		if ((rc = accrue__key_fill(a, m->key, keys ? keys[i] : NULL)) != 0)
			goto done;
		proto_batch_req_put_item(&rq.body, m);
	}
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	rc = batch_results_read(a, &rep, n, results, "ACCRUE_BATCH");
done:
	accrue__request_free(&rq);
	free(m);
	return rc;
}

int accrue_order(accrue *a, const char *location, const char *order_id, struct accrue_order *out)
{
	struct request rq;
	struct reply rep;
	struct proto_order_req m;
	struct proto_order_rep *o;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!out)
		return accrue__arg_invalid(a, "no place for the order (out is NULL)");
	if (accrue__text_too_long(a, "location", location, PROTO_MAX_LOCATION) ||
	    accrue__text_too_long(a, "order id", order_id, PROTO_MAX_ORDER))
		return ACCRUE_E_INVALID;
	m.location = proto_str_c(location);
	m.order_id = proto_str_c(order_id);
	accrue__request_init(&rq, PROTO_OP_ORDER);
	proto_order_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	o = malloc(sizeof *o);
	if (!o) {
		accrue__message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	if (proto_order_rep_decode(rep.body, rep.len, o) != 0) {
		rc = accrue__reply_invalid(a, "a malformed ORDER reply");
		goto done;
	}
	memset(out, 0, sizeof *out);
	out->customer_id = o->customer_id;
	out->seq = o->seq;
	out->time_us = o->time_us;
	accrue__str_copy(out->location, sizeof out->location, o->location);
	accrue__str_copy(out->order_id, sizeof out->order_id, o->order_id);
	out->amount = o->amount;
	out->earned = o->earned;
	out->refunded = o->refunded;
	out->taken_back = o->taken_back;
	out->multiplier = o->multiplier;
	out->nlines = o->nlines;
	for (uint16_t i = 0; i < o->nlines; i++) {
		struct accrue_order_line *d = &out->lines[i];
		const struct proto_order_line *l = &o->lines[i];

		accrue__str_copy(d->sku, sizeof d->sku, l->sku);
		accrue__str_copy(d->category, sizeof d->category, l->category);
		d->qty = l->qty;
		d->amount = l->amount;
		d->earned = l->earned;
		d->refunded_qty = l->refunded_qty;
		d->refunded = l->refunded;
	}
done:
	free(o);
	return rc;
}

/* ---- groups, tiers, adjustments, history ----------------------------- */

/* GROUP and TIER answer with the customer after the change. */
static int customer_reply(accrue *a, const struct reply *rep, const char *what, struct accrue_customer *out)
{
	struct proto_customer c;

	if (proto_customer_rep_decode(rep->body, rep->len, &c) != 0) {
		accrue__message_set(a, "invalid reply from %s: a malformed %s reply", a->address, what);
		return ACCRUE_E_PROTOCOL;
	}
	if (out)
		customer_copy(out, &c);
	return 0;
}

/* For the customer book's calls (accrue_book.c), which share these two. */
int accrue__ref_to_proto(accrue *a, const struct accrue_ref *ref, struct proto_ref *out)
{
	return ref_to_proto(a, ref, out);
}

int accrue__customer_reply(accrue *a, const struct reply *rep, const char *what, struct accrue_customer *out)
{
	return customer_reply(a, rep, what, out);
}

int accrue_group(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int add,
		 const char *group, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_group_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (!group || !*group)
		return accrue__arg_invalid(a, "no group named");
	if (accrue__text_too_long(a, "group", group, PROTO_MAX_GROUP))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.add = add ? 1 : 0;
	m.group = proto_str_c(group);
	accrue__request_init(&rq, PROTO_OP_GROUP);
	proto_group_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	return customer_reply(a, &rep, "GROUP", out);
}

int accrue_tier(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *tier,
		const char *note, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_tier_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (accrue__text_too_long(a, "tier", tier, PROTO_MAX_TIER) || accrue__text_too_long(a, "note", note, PROTO_MAX_REASON))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.tier = proto_str_c(tier);
	m.note = proto_str_c(note);
	accrue__request_init(&rq, PROTO_OP_TIER);
	proto_tier_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	return customer_reply(a, &rep, "TIER", out);
}

int accrue_adjust(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int64_t points,
		  const char *reason, const char *comment, struct accrue_result *out)
{
	struct request rq;
	struct reply rep;
	struct proto_adjust_req m;
	struct proto_change_rep c;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!out)
		return accrue__arg_invalid(a, "no place for the result (out is NULL)");
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (accrue__text_too_long(a, "reason", reason, PROTO_MAX_REASON) ||
	    accrue__text_too_long(a, "comment", comment, PROTO_MAX_REASON))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.points = points;
	m.reason = proto_str_c(reason);
	m.comment = proto_str_c(comment);
	accrue__request_init(&rq, PROTO_OP_ADJUST);
	proto_adjust_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_change_rep_decode(rep.body, rep.len, &c) != 0)
		return accrue__reply_invalid(a, "a malformed ADJUST reply");
	change_copy(out, &c, rep.flags);
	return 0;
}

int accrue_adjust_batch(accrue *a, uint32_t n, const uint8_t (*keys)[ACCRUE_KEY_SIZE],
			const struct accrue_adjustment *items, struct accrue_batch_result *results, uint32_t *sent)
{
	struct proto_adjust_req m;
	struct request rq;
	struct reply rep;
	size_t size = 2, limit;
	uint32_t fit = 0;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (n == 0 || n > PROTO_MAX_BATCH) {
		accrue__message_set(a, "a batch holds 1 to %d adjustments, not %u", PROTO_MAX_BATCH, (unsigned)n);
		return ACCRUE_E_INVALID;
	}
	if (!items || !results || !sent)
		return accrue__arg_invalid(a, "a batch needs items, results and sent");
	*sent = 0;
	/* The frame limit comes with HELLO: make sure a session has announced it. */
	if (a->max_body == 0 && (rc = accrue__call(a, NULL, NULL)) != 0)
		return rc;
	limit = body_limit(a);
	/* First pass: check each item and take as many as fit one frame. */
	for (uint32_t i = 0; i < n; i++) {
		const struct accrue_adjustment *it = &items[i];
		size_t item_size;

		if ((rc = ref_to_proto(a, &it->ref, &m.ref)) != 0)
			return batch_item_invalid(a, "adjustment", i, rc);
		if (accrue__text_too_long(a, "reason", it->reason, PROTO_MAX_REASON) ||
		    accrue__text_too_long(a, "comment", it->comment, PROTO_MAX_REASON))
			return batch_item_invalid(a, "adjustment", i, ACCRUE_E_INVALID);
		item_size = 4 + PROTO_KEY_SIZE + ref_encoded_size(&m.ref) + 8 + 2 + strlen(it->reason ? it->reason : "") +
			    2 + strlen(it->comment ? it->comment : "");
		/* The reply must fit too: a refused item's result is at most 101 bytes. */
		if (size + item_size > limit || 2 + 2 + (size_t)(i + 1) * 101 > limit)
			break;
		size += item_size;
		fit = i + 1;
	}
	if (fit == 0) {
		accrue__message_set(a, "adjustment 1 of the batch does not fit the server's frame limit of %zu bytes",
				    limit);
		return ACCRUE_E_INVALID;
	}
	rc = accrue__request_init_sized(a, &rq, PROTO_OP_ADJUST_BATCH, size);
	if (rc != 0)
		return rc;
	/* Second pass: encode. Random keys are drawn here, once: a retry re-sends these very bytes. */
	proto_batch_req_put_header(&rq.body, (uint16_t)fit);
	for (uint32_t i = 0; i < fit; i++) {
		ref_to_proto(a, &items[i].ref, &m.ref);
		if ((rc = accrue__key_fill(a, m.key, keys ? keys[i] : NULL)) != 0)
			goto done;
		m.points = items[i].points;
		m.reason = proto_str_c(items[i].reason);
		m.comment = proto_str_c(items[i].comment);
		proto_adjust_batch_req_put_item(&rq.body, &m);
	}
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	rc = batch_results_read(a, &rep, fit, results, "ADJUST_BATCH");
	if (rc == 0)
		*sent = fit;
done:
	accrue__request_free(&rq);
	return rc;
}

int accrue_history(accrue *a, const struct accrue_ref *ref, uint64_t before_seq, struct accrue_entry *entries,
		   uint32_t max, uint32_t *count, uint64_t *next_before)
{
	struct request rq;
	struct reply rep;
	struct proto_history_req m;
	struct proto_rbuf r;
	uint64_t next;
	uint32_t n;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if (!entries || !count || max == 0)
		return accrue__arg_invalid(a, "history needs room for at least one entry");
	*count = 0;
	if (next_before)
		*next_before = 0;
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	m.before_seq = before_seq;
	m.limit = max < PROTO_MAX_HISTORY ? max : PROTO_MAX_HISTORY;
	accrue__request_init(&rq, PROTO_OP_HISTORY);
	proto_history_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	proto_rbuf_init(&r, rep.body, rep.len);
	if (proto_history_rep_begin(&r, &next, &n) != 0)
		return accrue__reply_invalid(a, "a malformed HISTORY reply");
	if (n > m.limit)
		return accrue__reply_invalid(a, "more history entries than asked for");
	for (uint32_t i = 0; i < n; i++) {
		struct proto_entry e;
		struct accrue_entry *d = &entries[i];

		if (proto_entry_next(&r, &e) != 0)
			return accrue__reply_invalid(a, "a malformed history entry");
		memset(d, 0, sizeof *d);
		d->seq = e.seq;
		d->type = e.type;
		d->time_us = e.time_us;
		d->points = e.points;
		d->balance_after = e.balance_after;
		d->amount = e.amount;
		accrue__str_copy(d->location, sizeof d->location, e.location);
		accrue__str_copy(d->order_id, sizeof d->order_id, e.order_id);
		accrue__str_copy(d->reason, sizeof d->reason, e.reason);
		accrue__str_copy(d->comment, sizeof d->comment, e.comment);
		accrue__str_copy(d->detail, sizeof d->detail, e.detail);
	}
	if (proto_rbuf_finish(&r) != 0)
		return accrue__reply_invalid(a, "trailing bytes after the history entries");
	*count = n;
	if (next_before)
		*next_before = next;
	return 0;
}
