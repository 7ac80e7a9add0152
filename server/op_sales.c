/*
 * op_sales.c - the checkout's handlers: ACCRUE (one sale), ACCRUE_BATCH
 * (many sales in one frame, a result each), RETURN (by amount or by lines,
 * against an order read back from the journal), QUOTE (what a sale would
 * earn) and ORDER (a sale with what its returns refunded). The earning and
 * return arithmetic is rules'; this file checks requests and makes records.
 * See dispatch_ops.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "dispatch_ops.h"

/* A guest's ENROL, made by a sale, answers no request of its own. */
static const uint8_t no_key[PROTO_KEY_SIZE];

/* The result of one sale, for ACCRUE's reply or one ACCRUE_BATCH item. */
struct outcome {
	uint16_t status;
	int replay;
	uint64_t seq;
	int64_t points;
	struct model_customer *c;
	uint64_t wait_seq;
	char msg[PROTO_MAX_MESSAGE + 1];
};

static void fail(struct outcome *o, uint16_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct outcome *o, uint16_t status, const char *fmt, ...)
{
	va_list ap;

	o->status = status;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof o->msg, fmt, ap);
	va_end(ap);
}

/*
 * The location a sale is booked at: the request's, else the key's, else the
 * default, normalised into buf (trimmed, A-Z lower-cased:
 * model_location_normalise) before any order key is made of it, so that
 * "store-1", "STORE-1" and "store-1 " are one store.
 */
static int sale_location(const struct dispatch_session *sess, struct proto_str asked,
			 char buf[PROTO_MAX_LOCATION + 1], struct proto_str *loc, struct outcome *o)
{
	char own_buf[PROTO_MAX_LOCATION + 1];
	struct proto_str own;

	if (model_location_normalise(asked, buf, loc)) {
		fail(o, PROTO_ST_BAD_REQUEST, "location must be text of at most %d bytes without control characters",
		     PROTO_MAX_LOCATION);
		return -1;
	}
	/* A key made before locations were normalised may hold capitals. */
	if (model_location_normalise(proto_str_c(sess->location), own_buf, &own))
		own = proto_str_c(sess->location);
	if (sess->role == PROTO_ROLE_TERMINAL && loc->len &&
	    (loc->len != own.len || memcmp(loc->ptr, own.ptr, own.len) != 0)) {
		fail(o, PROTO_ST_FORBIDDEN, "this terminal key is bound to location \"%s\", not \"%.*s\"", sess->location,
		     (int)asked.len, asked.ptr);
		return -1;
	}
	if (!loc->len) {
		if (!own.len)
			own = proto_str_c(MODEL_DEFAULT_LOCATION);
		memcpy(buf, own.ptr, own.len);
		buf[own.len] = 0;
		loc->ptr = buf;
		loc->len = own.len;
	}
	return 0;
}

/* An order id as typed, trimmed of blanks (a view into id). */
static struct proto_str order_id_trim(struct proto_str id)
{
	while (id.len && (id.ptr[0] == ' ' || id.ptr[0] == '\t')) {
		id.ptr++;
		id.len--;
	}
	while (id.len && (id.ptr[id.len - 1] == ' ' || id.ptr[id.len - 1] == '\t'))
		id.len--;
	return id;
}

/* A sale may be dated up to this far ahead of the server's clock. */
#define SALE_CLOCK_SKEW_US (5 * 60 * 1000000LL)

/*
 * Check a sale's lines and time; fill rules' view of the lines. An order id
 * is required unless for_quote. Returns 0 or -1 with o filled.
 */
static int sale_check(const struct proto_sale *sale, int for_quote, struct rules_line *lines, int64_t *when,
		      struct outcome *o)
{
	int64_t sum = 0, now = dispatch_now_us();

	if (!for_quote && (!sale->order_id.len || dispatch_has_control(sale->order_id))) {
		fail(o, PROTO_ST_BAD_REQUEST, "an order id is required (printable text)");
		return -1;
	}
	if (sale->amount <= 0) {
		fail(o, PROTO_ST_RANGE, "sale amount must be positive, in minor units (got %lld)", (long long)sale->amount);
		return -1;
	}
	for (uint16_t i = 0; i < sale->nlines; i++) {
		const struct proto_line *l = &sale->lines[i];
		if (!l->sku.len || dispatch_has_control(l->sku) || dispatch_has_control(l->category)) {
			fail(o, PROTO_ST_BAD_REQUEST, "line %u: a SKU is required, and SKU and category must be printable", i + 1);
			return -1;
		}
		if (l->qty < 1 || l->amount < 0) {
			fail(o, PROTO_ST_RANGE, "line %u: quantity must be at least 1 and amount not negative", i + 1);
			return -1;
		}
		if (__builtin_add_overflow(sum, l->amount, &sum)) {
			fail(o, PROTO_ST_RANGE, "line amounts are out of range");
			return -1;
		}
		lines[i].sku.ptr = l->sku.ptr;
		lines[i].sku.len = l->sku.len;
		lines[i].category.ptr = l->category.ptr;
		lines[i].category.len = l->category.len;
		lines[i].qty = l->qty;
		lines[i].amount = l->amount;
	}
	if (sale->nlines && sum != sale->amount) {
		char a[32], b[32];
		fail(o, PROTO_ST_BAD_REQUEST, "the lines add up to %s, not the sale amount %s", dispatch_money_text(sum, a, sizeof a),
		     dispatch_money_text(sale->amount, b, sizeof b));
		return -1;
	}
	if (sale->time_us < 0 || sale->time_us > now + SALE_CLOCK_SKEW_US) {
		fail(o, PROTO_ST_RANGE, "sale time is in the future or negative");
		return -1;
	}
	*when = sale->time_us ? sale->time_us : now;
	return 0;
}

/*
 * A sale for a customer that is not there: with the program recording
 * guests, an email or phone becomes a guest (an ENROL record of its own,
 * ahead of the sale's). Returns the guest, or NULL with o filled.
 */
static struct model_customer *guest_for(struct dispatch *d, const struct proto_ref *ref, struct outcome *o)
{
	char norm_buf[PROTO_MAX_EMAIL + 1], buf[300];
	struct proto_str norm, none = {"", 0};
	struct record *rec = &d->scratch->guest_rec;

	/* An id or a card names someone who is there: a guest is made of an email or phone only. */
	if (ref->kind == PROTO_REF_ID || ref->kind == PROTO_REF_CARD || d->model->rules.guests != RULES_GUESTS_RECORD) {
		fail(o, PROTO_ST_NOT_FOUND, "no customer %s%s", dispatch_ref_text(ref, buf, sizeof buf),
		     ref->kind == PROTO_REF_ID || ref->kind == PROTO_REF_CARD ? "" : " (the program does not record guests)");
		return NULL;
	}
	if (dispatch_ref_check(d, ref, norm_buf, &norm, o->msg, sizeof o->msg)) {
		o->status = PROTO_ST_BAD_REQUEST;
		return NULL;
	}
	dispatch_record_init(rec, PROTO_ENTRY_ENROL, no_key, 0);
	rec->customer_id = d->model->next_customer_id;
	rec->u.enrol.email = ref->kind == PROTO_REF_EMAIL ? norm : none;
	rec->u.enrol.phone = ref->kind == PROTO_REF_PHONE ? norm : none;
	rec->u.enrol.first_name = rec->u.enrol.last_name = proto_str_c("");
	rec->u.enrol.member = 0;
	if (!dispatch_commit_record(d, rec, NULL)) {
		fail(o, PROTO_ST_INTERNAL, "cannot journal the guest (out of memory)");
		return NULL;
	}
	return model_customer_by_id(d->model, rec->customer_id);
}

/* One sale: ACCRUE, and each item of ACCRUE_BATCH. */
static void accrue_one(struct dispatch *d, const struct dispatch_session *sess, const struct proto_accrue_req *req,
		       uint64_t hash, struct outcome *o)
{
	/* Large (line arrays): the dispatch's scratch, not allocated per sale. */
	struct rules_line *lines = d->scratch->lines;
	struct rules_earning *earning = &d->scratch->earning;
	struct record *rec = &d->scratch->rec;
	struct rules_customer who;
	const struct model_request *q;
	const struct model_order *ord;
	struct model_customer *c;
	struct proto_str loc, norm;
	char loc_buf[PROTO_MAX_LOCATION + 1], norm_buf[PROTO_MAX_EMAIL + 1], a[32], b[32];
	int64_t when, balance, total;

	memset(o, 0, sizeof *o);
	o->status = dispatch_request_key_lookup(d, PROTO_OP_ACCRUE, req->key, hash, &q, o->msg, sizeof o->msg);
	if (q)
		o->wait_seq = q->seq;
	if (o->status)
		return;
	if (q) {
		o->c = model_customer_by_id(d->model, q->object_id);
		o->replay = 1;
		o->seq = q->seq;
		o->points = q->value;
		return;
	}
	if (sale_location(sess, req->sale.location, loc_buf, &loc, o) || sale_check(&req->sale, 0, lines, &when, o))
		return;
	if (!places_location_listed(&d->model->rules.locations, loc)) {
		fail(o, PROTO_ST_BAD_REQUEST, "location \"%.*s\" is not one of the program's locations (program setting locations)",
		     (int)loc.len, loc.ptr);
		return;
	}
	if (req->sale.amount > d->model->rules.sale_max_amount) {
		fail(o, PROTO_ST_RANGE, "sale amount %s is over the program's limit of %s a sale (sale.max_amount)",
		     dispatch_money_text(req->sale.amount, a, sizeof a),
		     dispatch_money_text(d->model->rules.sale_max_amount, b, sizeof b));
		return;
	}
	if ((ord = model_order_find(d->model, loc, req->sale.order_id))) {
		o->wait_seq = ord->seq;
		fail(o, PROTO_ST_DUPLICATE_ORDER, "order \"%.*s\" at location \"%.*s\" was already accrued (journal entry %llu)",
		     (int)req->sale.order_id.len, req->sale.order_id.ptr, (int)loc.len, loc.ptr, (unsigned long long)ord->seq);
		return;
	}
	/* An email or phone as enrol would store it, or refused as enrol would refuse it. */
	if (dispatch_ref_check(d, &req->ref, norm_buf, &norm, o->msg, sizeof o->msg)) {
		o->status = PROTO_ST_BAD_REQUEST;
		return;
	}
	c = model_customer_find(d->model, &req->ref);
	if (c && c->archived) {
		o->wait_seq = c->last_seq;
		fail(o, PROTO_ST_NOT_FOUND, "customer #%llu was archived", (unsigned long long)c->id);
		return;
	}
	if (c && !c->member && d->model->rules.guests != RULES_GUESTS_RECORD) {
		o->wait_seq = c->last_seq;
		fail(o, PROTO_ST_NOT_MEMBER, "customer #%llu is a guest, and the program does not record guests' sales",
		     (unsigned long long)c->id);
		return;
	}
	if (c) {
		o->wait_seq = c->last_seq;
		model_customer_rules(c, &who);
	} else {
		/* A guest (if the program records them): it earns nothing, and
		 * nothing is journalled for it before the sale is known to be good. */
		memset(&who, 0, sizeof who);
		who.tier.ptr = "";
	}
	if (rules_earn(&d->model->rules, &who, when, req->sale.amount, req->sale.nlines ? lines : NULL, req->sale.nlines,
		       earning) != RULES_OK) {
		fail(o, PROTO_ST_RANGE, "the sale's amounts are out of range");
		return;
	}
	if (!c && !(c = guest_for(d, &req->ref, o)))
		return;
	if (rules_add(c->balance, earning->earned, &balance) || rules_add(c->lifetime_points, earning->earned, &total) ||
	    rules_add(c->total_spend, req->sale.amount, &total)) {
		fail(o, PROTO_ST_RANGE, "a sale of %s would take customer #%llu's totals past what the ledger can hold",
		     dispatch_money_text(req->sale.amount, a, sizeof a), (unsigned long long)c->id);
		return;
	}
	dispatch_record_init(rec, PROTO_ENTRY_ACCRUE, req->key, hash);
	rec->time_us = when;
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.accrue.location = loc;
	rec->u.accrue.order_id = req->sale.order_id;
	rec->u.accrue.amount = req->sale.amount;
	rec->u.accrue.points = earning->earned;
	rec->u.accrue.balance_after = balance;
	rec->u.accrue.multiplier = earning->multiplier;
	rec->u.accrue.nlines = req->sale.nlines;
	for (uint16_t i = 0; i < req->sale.nlines; i++) {
		rec->u.accrue.lines[i].sku = req->sale.lines[i].sku;
		rec->u.accrue.lines[i].category = req->sale.lines[i].category;
		rec->u.accrue.lines[i].qty = req->sale.lines[i].qty;
		rec->u.accrue.lines[i].amount = req->sale.lines[i].amount;
		rec->u.accrue.lines[i].earned = earning->line_earned[i];
	}
	o->seq = dispatch_commit_record(d, rec, NULL);
	if (!o->seq) {
		fail(o, PROTO_ST_INTERNAL, "cannot journal the sale (out of memory)");
		return;
	}
	o->c = c;
	o->points = earning->earned;
	o->wait_seq = o->seq;
}

enum dispatch_action op_accrue(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			       struct dispatch_out *out)
{
	struct proto_accrue_req *req = &d->scratch->accrue_req;
	struct outcome o;

	if (proto_accrue_req_decode(body, len, req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ACCRUE body");
		return DISPATCH_REPLY;
	}
	req->sale.order_id = order_id_trim(req->sale.order_id);
	accrue_one(d, sess, req, XXH3_64bits(body, len), &o);
	dispatch_depend(out, o.wait_seq);
	if (o.status) {
		dispatch_error(out, o.status, "%s", o.msg);
		return DISPATCH_REPLY;
	}
	if (!o.c) {
		dispatch_error(out, PROTO_ST_NOT_FOUND, "the customer of this request key no longer exists");
		return DISPATCH_REPLY;
	}
	dispatch_reply_change(out, o.c, o.seq, o.points);
	if (o.replay)
		out->flags |= PROTO_FLAG_REPLAY;
	return DISPATCH_REPLY;
}

/*
 * Sales a batch looks ahead: the index slots of sale i + BATCH_LOOKAHEAD
 * are fetched while sale i is applied, so their cache misses (the order and
 * request-key tables outgrow every cache) overlap instead of coming one
 * after the other.
 */
#define BATCH_LOOKAHEAD 8

static void batch_prefetch_next(struct dispatch *d, const struct dispatch_session *sess, struct proto_rbuf *ahead)
{
	struct proto_accrue_req *req = &d->scratch->ahead_req;
	const uint8_t *item;
	size_t item_len;
	struct proto_str loc;
	struct outcome o;
	char loc_buf[PROTO_MAX_LOCATION + 1];

	if (proto_batch_req_next(ahead, &item, &item_len) || proto_accrue_req_decode(item, item_len, req) ||
	    sale_location(sess, req->sale.location, loc_buf, &loc, &o))
		return;
	model_prefetch_sale(d->model, req->key, loc, order_id_trim(req->sale.order_id), &req->ref);
}

enum dispatch_action op_accrue_batch(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
				     struct dispatch_out *out)
{
	struct proto_accrue_req *req = &d->scratch->accrue_req;
	struct proto_rbuf r;
	struct proto_wbuf w;
	uint16_t count;

	proto_rbuf_init(&r, body, len);
	if (dispatch_batch_begin(&r, &count, "ACCRUE_BATCH", out))
		return DISPATCH_REPLY;
	/* A sale may add a guest too: room for two records each, or none yet. */
	if (!store_has_room_for(d->store, 2u * count))
		return DISPATCH_BLOCKED;
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_batch_rep_put_header(&w, count);
	struct proto_rbuf ahead = r;
	for (uint16_t i = 0; i < count && i < BATCH_LOOKAHEAD; i++)
		batch_prefetch_next(d, sess, &ahead);
	for (uint16_t i = 0; i < count; i++) {
		struct proto_batch_item it;
		struct outcome o;
		const uint8_t *item;
		size_t item_len;

		if (i + BATCH_LOOKAHEAD < count)
			batch_prefetch_next(d, sess, &ahead);

		memset(&it, 0, sizeof it);
		memset(&o, 0, sizeof o);
		if (proto_batch_req_next(&r, &item, &item_len)) {
			/* The scan above makes this impossible; refuse rather than guess. */
			fail(&o, PROTO_ST_BAD_REQUEST, "batch item %u is truncated", i + 1);
		} else if (proto_accrue_req_decode(item, item_len, req)) {
			fail(&o, PROTO_ST_BAD_REQUEST, "malformed sale");
		} else {
			req->sale.order_id = order_id_trim(req->sale.order_id);
			accrue_one(d, sess, req, XXH3_64bits(item, item_len), &o);
		}
		dispatch_depend(out, o.wait_seq);
		if (!o.status && !o.c)
			fail(&o, PROTO_ST_NOT_FOUND, "the customer of this request key no longer exists");
		it.status = o.status;
		it.replay = (uint8_t)o.replay;
		if (!o.status) {
			it.seq = o.seq;
			it.points = o.points;
			it.customer_id = o.c->id;
			it.balance = o.c->balance;
			dispatch_depend(out, o.c->last_seq);
		} else {
			it.message = proto_str_c(o.msg);
			if (it.message.len > DISPATCH_BATCH_MESSAGE_MAX)
				it.message.len = DISPATCH_BATCH_MESSAGE_MAX;
		}
		proto_batch_item_put(&w, &it);
	}
	if (w.overflow) {
		/* Cannot happen within the limits above; say so rather than send half a reply. */
		dispatch_error(out, PROTO_ST_INTERNAL, "batch reply does not fit a frame");
		return DISPATCH_REPLY;
	}
	out->len = w.len;
	return DISPATCH_REPLY;
}

static const struct model_order *find_order(struct dispatch *d, const struct dispatch_session *sess,
					    struct proto_str location, struct proto_str order_id, struct dispatch_out *out)
{
	const struct model_order *o;
	struct proto_str loc;
	struct outcome oc;
	char loc_buf[PROTO_MAX_LOCATION + 1];

	order_id = order_id_trim(order_id);
	if (sale_location(sess, location, loc_buf, &loc, &oc)) {
		dispatch_error(out, oc.status, "%s", oc.msg);
		return NULL;
	}
	if (!(o = model_order_find(d->model, loc, order_id)))
		dispatch_error(out, PROTO_ST_NOT_FOUND, "no order \"%.*s\" at location \"%.*s\"", (int)order_id.len,
			       order_id.ptr, (int)loc.len, loc.ptr);
	return o;
}

static void reply_return(struct dispatch_out *out, const struct model_customer *c, uint64_t seq, const struct record *rec)
{
	struct proto_return_rep r;
	struct proto_wbuf w;

	r.seq = seq;
	r.points = -rec->u.ret.applied;
	r.shortfall = rec->u.ret.taken - rec->u.ret.applied;
	r.refunded = rec->u.ret.refunded;
	model_customer_view(c, &r.customer);
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_return_rep_encode(&w, &r);
	out->len = w.len;
	dispatch_depend(out, c->last_seq);
	dispatch_depend(out, seq);
}

struct replay_return {
	struct dispatch_out *out;
	const struct model_customer *c;
};

static int replay_return_rec(void *ctx, uint64_t seq, const struct record *rec)
{
	struct replay_return *rr = ctx;
	if (rec->type == PROTO_ENTRY_RETURN)
		reply_return(rr->out, rr->c, seq, rec);
	return 1;
}

/* Whether refund is more than order o has left to refund: OVER_RETURN is written into out then. */
static int over_refund(const struct model_order *o, int64_t refund, struct dispatch_out *out)
{
	char left[32], want[32];

	if (refund <= o->amount - o->refunded)
		return 0;
	dispatch_error(out, PROTO_ST_OVER_RETURN, "order has %s left to refund; cannot refund %s",
		       dispatch_money_text(o->amount - o->refunded, left, sizeof left),
		       dispatch_money_text(refund, want, sizeof want));
	return 1;
}

enum dispatch_action op_return(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			       struct dispatch_out *out)
{
	struct proto_return_req *req = &d->scratch->return_req;
	struct orders_view *or = &d->scratch->order;
	struct record *rec = &d->scratch->rec;
	int64_t *line_take = d->scratch->line_take;
	const struct model_request *q;
	const struct model_order *o;
	struct model_customer *c;
	uint64_t hash = XXH3_64bits(body, len), seq;
	int64_t refund = 0, take = 0, applied, balance, when, sale_us, now = dispatch_now_us();

	if (proto_return_req_decode(body, len, req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed RETURN body");
		return DISPATCH_REPLY;
	}
	{
		char msg[160];
		uint16_t status = dispatch_request_key_lookup(d, PROTO_OP_RETURN, req->key, hash, &q, msg, sizeof msg);
		if (q)
			dispatch_depend(out, q->seq);
		if (status) {
			dispatch_error(out, status, "%s", msg);
			return DISPATCH_REPLY;
		}
	}
	if (q) {
		struct replay_return rr = {out, NULL};
		/* The original outcome is in the journal: read it once it is durable. */
		if (q->seq > store_durable_seq(d->store)) {
			out->wait_seq = q->seq;
			return DISPATCH_DEFER;
		}
		rr.c = model_customer_by_id(d->model, q->object_id);
		if (!rr.c) {
			dispatch_error(out, PROTO_ST_NOT_FOUND, "the customer of this request key no longer exists");
			return DISPATCH_REPLY;
		}
		out->len = 0;
		if (store_walk_chain(d->store, q->seq, replay_return_rec, &rr) || !out->len) {
			dispatch_error(out, PROTO_ST_STORAGE, "cannot read the original return (journal entry %llu)",
				       (unsigned long long)q->seq);
			return DISPATCH_REPLY;
		}
		out->flags |= PROTO_FLAG_REPLAY;
		return DISPATCH_REPLY;
	}
	if (!(o = find_order(d, sess, req->location, req->order_id, out)))
		return DISPATCH_REPLY;
	if (!(c = model_customer_owner(d->model, o->customer_id)) || c->archived) {
		dispatch_error(out, PROTO_ST_NOT_FOUND, "the customer of this order no longer exists");
		return DISPATCH_REPLY;
	}
	dispatch_depend(out, c->last_seq);
	if (req->time_us < 0 || req->time_us > now + SALE_CLOCK_SKEW_US) {
		dispatch_error(out, PROTO_ST_RANGE, "return time is in the future or negative");
		return DISPATCH_REPLY;
	}
	/* A return is never before its sale: the sale's time is in the journal. */
	if (o->seq > store_durable_seq(d->store)) {
		out->wait_seq = o->seq;
		return DISPATCH_DEFER;
	}
	if (orders_sale_time(d->store, o, &sale_us)) {
		dispatch_error(out, PROTO_ST_STORAGE, "cannot read the sale of order \"%.*s\" from the journal",
			       (int)req->order_id.len, req->order_id.ptr);
		return DISPATCH_REPLY;
	}
	if (req->time_us && req->time_us < sale_us) {
		char rt[32], st[32];
		dispatch_error(out, PROTO_ST_RANGE, "a return dated %s cannot be before its sale (%s)",
			       dispatch_time_text(req->time_us, rt, sizeof rt), dispatch_time_text(sale_us, st, sizeof st));
		return DISPATCH_REPLY;
	}
	/* A sale dated a little ahead of this clock: its return is not earlier. */
	when = req->time_us ? req->time_us : now > sale_us ? now : sale_us;

	rec->u.ret.nlines = 0; /* rec is reused: an amount return names no lines */
	if (req->nlines == 0) {
		refund = req->amount;
		if (refund <= 0) {
			dispatch_error(out, PROTO_ST_RANGE, "a return refunds a positive amount or names lines");
			return DISPATCH_REPLY;
		}
		if (over_refund(o, refund, out))
			return DISPATCH_REPLY;
		if (rules_take_back(o->points, o->amount, o->refunded, o->taken_back, refund, &take) != RULES_OK) {
			dispatch_error(out, PROTO_ST_RANGE, "refund out of range");
			return DISPATCH_REPLY;
		}
	} else {
		/* By lines: the sale's lines and earlier returns are read from the journal. */
		uint64_t need = orders_last_seq(o);
		if (need > store_durable_seq(d->store)) {
			out->wait_seq = need;
			return DISPATCH_DEFER;
		}
		if (orders_load(d->store, o, or)) {
			dispatch_error(out, PROTO_ST_STORAGE, "cannot read order \"%.*s\" from the journal", (int)req->order_id.len,
				       req->order_id.ptr);
			return DISPATCH_REPLY;
		}
		for (uint16_t i = 0; i < req->nlines; i++) {
			const struct proto_line *l = &req->lines[i];
			int k = l->qty >= 1 ? orders_line_for_sku(or, l->sku, l->qty) : -1;
			int64_t t;
			if (l->qty < 1 || l->amount < 0) {
				dispatch_error(out, PROTO_ST_RANGE, "line %u: quantity must be at least 1 and amount not negative",
					       i + 1);
				return DISPATCH_REPLY;
			}
			if (k < 0) {
				if (!orders_sold(or, l->sku))
					dispatch_error(out, PROTO_ST_BAD_REQUEST, "line %u: SKU \"%.*s\" is not in this order", i + 1,
						       (int)l->sku.len, l->sku.ptr);
				else
					dispatch_error(out, PROTO_ST_OVER_RETURN,
						       "line %u: SKU \"%.*s\" has fewer than %lld left to return in this order", i + 1,
						       (int)l->sku.len, l->sku.ptr, (long long)l->qty);
				return DISPATCH_REPLY;
			}
			if (rules_take_back(or->line[k].earned, or->line[k].amount, or->line[k].refunded, or->line[k].taken, l->amount,
					    &t) != RULES_OK) {
				char want[32];
				dispatch_error(out, PROTO_ST_OVER_RETURN, "line %u: refund %s is more than is left of SKU \"%.*s\"",
					       i + 1, dispatch_money_text(l->amount, want, sizeof want), (int)l->sku.len, l->sku.ptr);
				return DISPATCH_REPLY;
			}
			or->line[k].refunded_qty += l->qty;
			or->line[k].refunded += l->amount;
			or->line[k].taken += t;
			refund += l->amount;
			take += t;
			rec->u.ret.lines[i].sku = l->sku;
			rec->u.ret.lines[i].category = proto_str_c("");
			rec->u.ret.lines[i].qty = l->qty;
			rec->u.ret.lines[i].amount = l->amount;
			line_take[i] = t;
		}
		if (req->amount && req->amount != refund) {
			char sum[32], want[32];
			dispatch_error(out, PROTO_ST_BAD_REQUEST, "the lines add up to %s, not the return amount %s",
				       dispatch_money_text(refund, sum, sizeof sum), dispatch_money_text(req->amount, want, sizeof want));
			return DISPATCH_REPLY;
		}
		if (over_refund(o, refund, out))
			return DISPATCH_REPLY;
		rec->u.ret.nlines = req->nlines;
	}
	/* Never more than the sale earned, whatever mix of returns came before. */
	rules_return_cap(&take, o->points - o->taken_back, line_take, rec->u.ret.nlines);
	for (uint16_t i = 0; i < rec->u.ret.nlines; i++)
		rec->u.ret.lines[i].earned = line_take[i];
	applied = rules_return_applied(&d->model->rules, c->balance, take);
	balance = c->balance - applied;

	dispatch_record_init(rec, PROTO_ENTRY_RETURN, req->key, hash);
	rec->time_us = when;
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.ret.location = proto_str_c("");
	{
		const char *z = memchr(o->key, 0, o->key_len);
		rec->u.ret.location.ptr = o->key;
		rec->u.ret.location.len = (uint32_t)(z - o->key);
		rec->u.ret.order_id.ptr = z + 1;
		rec->u.ret.order_id.len = (uint32_t)(o->key_len - rec->u.ret.location.len - 1);
	}
	rec->u.ret.sale_seq = o->seq;
	rec->u.ret.prev_return_seq = o->last_return_seq;
	rec->u.ret.refunded = refund;
	rec->u.ret.taken = take;
	rec->u.ret.applied = applied;
	rec->u.ret.balance_after = balance;
	rec->u.ret.full = o->refunded + refund == o->amount;
	if (!(seq = dispatch_commit_record(d, rec, out)))
		return DISPATCH_REPLY;
	reply_return(out, c, seq, rec);
	return DISPATCH_REPLY;
}

enum dispatch_action op_quote(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			      struct dispatch_out *out)
{
	struct proto_quote_req *req = &d->scratch->quote_req;
	struct rules_line *lines = d->scratch->lines;
	struct rules_earning *earning = &d->scratch->earning;
	struct proto_quote_rep *rep = &d->scratch->quote_rep;
	struct rules_customer who;
	struct outcome o;
	struct proto_wbuf w;
	int64_t when;

	if (proto_quote_req_decode(body, len, req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed QUOTE body");
		return DISPATCH_REPLY;
	}
	memset(&who, 0, sizeof who);
	who.tier.ptr = "";
	who.member = 1;
	if (req->ref.kind) {
		struct model_customer *c = dispatch_find_customer(d, &req->ref, out);
		if (!c)
			return DISPATCH_REPLY;
		model_customer_rules(c, &who);
		dispatch_depend(out, c->last_seq);
	}
	memset(&o, 0, sizeof o);
	if (sale_check(&req->sale, 1, lines, &when, &o)) {
		dispatch_error(out, o.status, "%s", o.msg);
		return DISPATCH_REPLY;
	}
	if (req->sale.amount > d->model->rules.sale_max_amount) {
		char a[32], b[32];
		dispatch_error(out, PROTO_ST_RANGE, "sale amount %s is over the program's limit of %s a sale (sale.max_amount)",
			       dispatch_money_text(req->sale.amount, a, sizeof a),
			       dispatch_money_text(d->model->rules.sale_max_amount, b, sizeof b));
		return DISPATCH_REPLY;
	}
	if (rules_earn(&d->model->rules, &who, when, req->sale.amount, req->sale.nlines ? lines : NULL, req->sale.nlines,
		       earning) != RULES_OK) {
		dispatch_error(out, PROTO_ST_RANGE, "the sale's amounts are out of range");
		return DISPATCH_REPLY;
	}
	rep->earned = earning->earned;
	rep->qualifying = earning->qualifying;
	rep->qualifying_items = earning->qualifying_items;
	rep->multiplier = earning->multiplier;
	rep->unit = d->model->rules.unit;
	rep->nlines = req->sale.nlines;
	for (uint16_t i = 0; i < req->sale.nlines; i++)
		rep->line_earned[i] = earning->line_earned[i];
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_quote_rep_encode(&w, rep);
	out->len = w.len;
	dispatch_depend(out, d->model->program_seq);
	return DISPATCH_REPLY;
}

enum dispatch_action op_order(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			      struct dispatch_out *out)
{
	struct proto_order_req *req = &d->scratch->order_req;
	struct orders_view *or = &d->scratch->order;
	struct proto_order_rep *rep = &d->scratch->order_rep;
	const struct model_order *o;
	struct proto_wbuf w;
	uint64_t need;

	if (proto_order_req_decode(body, len, req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ORDER body");
		return DISPATCH_REPLY;
	}
	if (!(o = find_order(d, sess, req->location, req->order_id, out)))
		return DISPATCH_REPLY;
	need = orders_last_seq(o);
	if (need > store_durable_seq(d->store)) {
		out->wait_seq = need;
		return DISPATCH_DEFER;
	}
	if (orders_load(d->store, o, or)) {
		dispatch_error(out, PROTO_ST_STORAGE, "cannot read the order from the journal");
		return DISPATCH_REPLY;
	}
	{
		/* After a merge the order is the merged-into customer's. */
		const struct model_customer *owner = model_customer_owner(d->model, o->customer_id);
		rep->customer_id = owner ? owner->id : o->customer_id;
	}
	rep->seq = o->seq;
	rep->time_us = or->time_us;
	rep->location.ptr = o->key;
	rep->location.len = (uint32_t)strlen(o->key);
	rep->order_id.ptr = o->key + rep->location.len + 1;
	rep->order_id.len = o->key_len - rep->location.len - 1;
	rep->amount = o->amount;
	rep->earned = o->points;
	rep->refunded = o->refunded;
	rep->taken_back = o->taken_back;
	rep->multiplier = or->multiplier;
	rep->nlines = or->nlines;
	for (uint16_t i = 0; i < or->nlines; i++) {
		rep->lines[i].sku.ptr = or->line[i].sku;
		rep->lines[i].sku.len = or->line[i].sku_len;
		rep->lines[i].category.ptr = or->line[i].category;
		rep->lines[i].category.len = or->line[i].category_len;
		rep->lines[i].qty = or->line[i].qty;
		rep->lines[i].amount = or->line[i].amount;
		rep->lines[i].earned = or->line[i].earned;
		rep->lines[i].refunded_qty = or->line[i].refunded_qty;
		rep->lines[i].refunded = or->line[i].refunded;
	}
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_order_rep_encode(&w, rep);
	out->len = w.len;
	return DISPATCH_REPLY;
}
