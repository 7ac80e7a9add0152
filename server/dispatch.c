/*
 * dispatch.c - request handling (see dispatch.h).
 */
#include "dispatch.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "auth.h"

#define DEFAULT_COMMENT "Manual adjustments"

int64_t dispatch_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void dispatch_error(struct dispatch_out *out, uint16_t status, const char *fmt, ...)
{
	char msg[PROTO_MAX_MESSAGE + 1];
	struct proto_wbuf w;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_error_encode(&w, status, proto_str_c(msg));
	out->len = w.len;
	out->flags = 0;
}

void dispatch_frame_error(int err, struct dispatch_out *out)
{
	out->wait_seq = 0;
	dispatch_error(out, err == PROTO_E_VERSION ? PROTO_ST_VERSION : PROTO_ST_PROTOCOL, "%s; closing connection",
		       proto_errstr(err));
}

/* Make a reply depend on seq being durable too. */
static void depend(struct dispatch_out *out, uint64_t seq)
{
	if (seq > out->wait_seq)
		out->wait_seq = seq;
}

static void reply_customer(struct dispatch_out *out, const struct model_customer *c)
{
	struct proto_customer v;
	struct proto_wbuf w;

	model_customer_view(c, &v);
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_customer_rep_encode(&w, &v);
	out->len = w.len;
	depend(out, c->last_seq);
}

static void reply_change(struct dispatch_out *out, const struct model_customer *c, uint64_t seq, int64_t points)
{
	struct proto_change_rep r;
	struct proto_wbuf w;

	r.seq = seq;
	r.points = points;
	model_customer_view(c, &r.customer);
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_change_rep_encode(&w, &r);
	out->len = w.len;
	depend(out, c->last_seq);
	depend(out, seq);
}

static void reply_empty(struct dispatch_out *out)
{
	struct proto_wbuf w;

	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	out->len = w.len;
}

static int has_control(struct proto_str s)
{
	for (uint32_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.ptr[i];
		if (ch < 0x20 || ch == 0x7f)
			return 1;
	}
	return 0;
}

/* Minor units as people write money: 12.34, -0.05. */
static const char *money_text(int64_t minor, char *buf, size_t cap)
{
	uint64_t v = minor < 0 ? -(uint64_t)minor : (uint64_t)minor;
	snprintf(buf, cap, "%s%llu.%02llu", minor < 0 ? "-" : "", (unsigned long long)(v / 100),
		 (unsigned long long)(v % 100));
	return buf;
}

static const char *ref_text(const struct proto_ref *ref, char *buf, size_t cap)
{
	if (ref->kind == PROTO_REF_ID)
		snprintf(buf, cap, "#%llu", (unsigned long long)ref->id);
	else
		snprintf(buf, cap, "%.*s", (int)ref->text.len, ref->text.ptr);
	return buf;
}

static struct model_customer *find_customer(struct dispatch *d, const struct proto_ref *ref, struct dispatch_out *out)
{
	struct model_customer *c = model_customer_find(d->model, ref);
	char buf[300];

	if (!c)
		dispatch_error(out, PROTO_ST_NOT_FOUND, "no customer %s", ref_text(ref, buf, sizeof buf));
	return c;
}

/*
 * The request-key check every mutation starts with. Returns 1 if the request
 * was answered (a replay or a refusal), 0 if it is new and must be applied.
 */
/*
 * Look a mutation's request key up. Returns 0 with *q NULL for a new
 * request, 0 with *q set for a replay of the same request, or a refusal
 * (BAD_REQUEST: an all-zero key; KEY_REUSED: the key was used for another
 * request, *q set) with its message in msg.
 */
static uint16_t request_key_lookup(const struct dispatch *d, uint8_t opcode, const uint8_t key[PROTO_KEY_SIZE],
				   uint64_t body_hash, const struct model_request **q, char *msg, size_t cap)
{
	*q = NULL;
	if (model_key_is_zero(key)) {
		snprintf(msg, cap, "request key must not be all zero");
		return PROTO_ST_BAD_REQUEST;
	}
	*q = model_request_find(d->model, key);
	if (*q && ((*q)->opcode != opcode || (*q)->body_hash != body_hash)) {
		snprintf(msg, cap, "request key was already used for a different %s request", proto_opcode_name((*q)->opcode));
		return PROTO_ST_KEY_REUSED;
	}
	return 0;
}

/* request_key_lookup for the mutations answered here; 1 if answered (a replay or a refusal). */
static int check_request_key(struct dispatch *d, uint8_t opcode, const uint8_t key[PROTO_KEY_SIZE], uint64_t body_hash,
			     struct dispatch_out *out)
{
	const struct model_request *q;
	const struct model_customer *c;
	char msg[160];
	uint16_t status = request_key_lookup(d, opcode, key, body_hash, &q, msg, sizeof msg);

	if (q)
		depend(out, q->seq);
	if (status) {
		dispatch_error(out, status, "%s", msg);
		return 1;
	}
	if (!q)
		return 0;
	switch (opcode) {
	case PROTO_OP_ENROL:
	case PROTO_OP_GROUP:
	case PROTO_OP_TIER:
		c = model_customer_by_id(d->model, q->object_id);
		if (!c)
			goto gone;
		reply_customer(out, c);
		break;
	case PROTO_OP_ACCRUE:
	case PROTO_OP_ADJUST:
		c = model_customer_by_id(d->model, q->object_id);
		if (!c)
			goto gone;
		reply_change(out, c, q->seq, q->value);
		break;
	case PROTO_OP_KEY_CREATE: {
		const struct model_apikey *k = model_apikey_find(d->model, q->object_id);
		struct proto_key_create_rep r;
		struct proto_wbuf w;
		if (!k)
			goto gone;
		/* The secret was shown once, with the original reply. */
		r.key_id = k->id;
		r.role = k->role;
		r.location = proto_str_c(k->location);
		r.secret = proto_str_c("");
		proto_wbuf_init(&w, out->body, out->cap);
		proto_reply_put_status(&w, PROTO_OK);
		proto_key_create_rep_encode(&w, &r);
		out->len = w.len;
		break;
	}
	default:
		reply_empty(out);
	}
	out->flags |= PROTO_FLAG_REPLAY;
	return 1;
gone:
	dispatch_error(out, PROTO_ST_NOT_FOUND, "the object this request key created no longer exists");
	return 1;
}

/* Append rec and apply it. Returns its seq, or 0 after writing an error reply. */
static uint64_t commit_record(struct dispatch *d, struct record *rec, struct dispatch_out *out)
{
	uint64_t seq = store_append(d->store, rec);
	int rc;

	if (!seq) {
		if (out)
			dispatch_error(out, PROTO_ST_INTERNAL, "cannot journal the change (out of memory)");
		return 0;
	}
	rc = model_apply(d->model, seq, rec);
	if (rc) {
		/* The record is in the open batch but memory refused it: the two
		 * disagree, and memory must never run ahead of or behind disk.
		 * Nothing of this batch has been acknowledged; stop, and recovery
		 * rebuilds memory from what was committed. */
		fprintf(stderr, "accrued: fatal: cannot apply journal record %llu (%d); exiting\n",
			(unsigned long long)seq, rc);
		abort();
	}
	return seq;
}

/* The header only: each operation sets every field of its own part (a
 * record holds line arrays of 14 KiB that a sale without lines never reads). */
static void record_init(struct record *rec, uint8_t type, const uint8_t key[PROTO_KEY_SIZE], uint64_t body_hash)
{
	memset(rec, 0, offsetof(struct record, u));
	rec->type = type;
	rec->time_us = dispatch_now_us();
	memcpy(rec->request_key, key, PROTO_KEY_SIZE);
	rec->body_hash = body_hash;
}

/* ---- operations -------------------------------------------------------------- */

int dispatch_session_valid(const struct dispatch *d, const struct dispatch_session *sess)
{
	const struct model_apikey *k;

	if (!sess->authed)
		return 1;
	k = model_apikey_find(d->model, sess->key_id);
	return k && !k->revoked;
}

static enum dispatch_action op_hello(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body,
				     size_t len, struct dispatch_out *out)
{
	struct proto_hello_req req;
	struct proto_hello_rep rep;
	const struct model_apikey *k;
	struct proto_wbuf w;
	uint64_t id;

	if (proto_hello_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed HELLO");
		return DISPATCH_REPLY_CLOSE;
	}
	if (req.version != PROTO_VERSION) {
		dispatch_error(out, PROTO_ST_VERSION, "protocol version %u not supported; this server speaks %d",
			       req.version, PROTO_VERSION);
		return DISPATCH_REPLY_CLOSE;
	}
	id = auth_key_id(req.api_key.ptr, req.api_key.len);
	k = id ? model_apikey_find(d->model, id) : NULL;
	if (!k || k->revoked || !auth_key_matches(req.api_key.ptr, req.api_key.len, k->hash)) {
		/* One message for every failure, so a caller learns nothing about which part was wrong. */
		dispatch_error(out, PROTO_ST_AUTH, "unknown or revoked API key");
		return DISPATCH_REPLY_CLOSE;
	}
	sess->authed = 1;
	sess->role = k->role;
	sess->key_id = k->id;
	snprintf(sess->location, sizeof sess->location, "%s", k->location);
	rep.role = k->role;
	rep.key_id = k->id;
	rep.location = proto_str_c(k->location);
	rep.max_body = d->max_body;
	rep.max_inflight = d->max_inflight;
	rep.server_time_us = dispatch_now_us();
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_hello_rep_encode(&w, &rep);
	out->len = w.len;
	return DISPATCH_REPLY;
}

static enum dispatch_action op_enrol(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	struct proto_enrol_req req;
	char email[PROTO_MAX_EMAIL + 1], phone[PROTO_MAX_PHONE + 1];
	struct proto_str ne, np;
	struct model_customer *c, *ce, *cp, *guest;
	struct record rec;
	uint64_t seq;

	if (proto_enrol_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ENROL body");
		return DISPATCH_REPLY;
	}
	if (check_request_key(d, PROTO_OP_ENROL, req.key, XXH3_64bits(body, len), out))
		return DISPATCH_REPLY;
	if (model_email_normalise(req.email, email, &ne)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "email \"%.*s\" is not a valid address", (int)req.email.len,
			       req.email.ptr);
		return DISPATCH_REPLY;
	}
	if (model_phone_normalise(req.phone, phone, &np)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST,
			       "phone \"%.*s\" is not a valid number (6 to 15 digits, optional leading +)",
			       (int)req.phone.len, req.phone.ptr);
		return DISPATCH_REPLY;
	}
	if (!ne.len && !np.len) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "an email or a phone number is required");
		return DISPATCH_REPLY;
	}
	if (has_control(req.first_name) || has_control(req.last_name)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "names must not contain control characters");
		return DISPATCH_REPLY;
	}
	/* A guest that a sale recorded joins: same customer, now a member. */
	ce = model_customer_by_email(d->model, ne);
	cp = model_customer_by_phone(d->model, np);
	if ((ce && ce->member) || (cp && cp->member) || (ce && cp && ce != cp)) {
		int by_email = ce && (ce->member || !cp || !cp->member);
		c = by_email ? ce : cp;
		depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_CONFLICT, "%s %s already belongs to %s #%llu", by_email ? "email" : "phone",
			       by_email ? email : phone, c->member ? "customer" : "guest", (unsigned long long)c->id);
		return DISPATCH_REPLY;
	}
	guest = ce ? ce : cp;
	record_init(&rec, guest ? PROTO_ENTRY_JOIN : PROTO_ENTRY_ENROL, req.key, XXH3_64bits(body, len));
	rec.customer_id = guest ? guest->id : d->model->next_customer_id;
	rec.prev_seq = guest ? guest->last_seq : 0;
	rec.u.enrol.email = ne.len || !guest ? ne : model_customer_email(guest);
	rec.u.enrol.phone = np.len || !guest ? np : model_customer_phone(guest);
	rec.u.enrol.first_name = req.first_name;
	rec.u.enrol.last_name = req.last_name;
	rec.u.enrol.member = 1;
	if (!(seq = commit_record(d, &rec, out)))
		return DISPATCH_REPLY;
	reply_customer(out, model_customer_by_id(d->model, rec.customer_id));
	return DISPATCH_REPLY;
}

static enum dispatch_action op_lookup(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	struct proto_lookup_req req;
	struct model_customer *c;

	if (proto_lookup_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed LOOKUP body");
		return DISPATCH_REPLY;
	}
	if ((c = find_customer(d, &req.ref, out)))
		reply_customer(out, c);
	return DISPATCH_REPLY;
}

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

/* The location a sale is booked at: the request's, else the key's, else the default. */
static int sale_location(const struct dispatch_session *sess, struct proto_str asked, struct proto_str *loc,
			 struct outcome *o)
{
	struct proto_str own = proto_str_c(sess->location);

	if (sess->role == PROTO_ROLE_TERMINAL && asked.len &&
	    (asked.len != own.len || memcmp(asked.ptr, own.ptr, own.len) != 0)) {
		fail(o, PROTO_ST_FORBIDDEN, "this terminal key is bound to location \"%s\", not \"%.*s\"", sess->location,
		     (int)asked.len, asked.ptr);
		return -1;
	}
	if (asked.len)
		*loc = asked;
	else if (own.len)
		*loc = own;
	else
		*loc = proto_str_c(MODEL_DEFAULT_LOCATION);
	if (has_control(*loc)) {
		fail(o, PROTO_ST_BAD_REQUEST, "location must not contain control characters");
		return -1;
	}
	return 0;
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

	if (!for_quote && (!sale->order_id.len || has_control(sale->order_id))) {
		fail(o, PROTO_ST_BAD_REQUEST, "an order id is required (printable text)");
		return -1;
	}
	if (sale->amount <= 0) {
		fail(o, PROTO_ST_RANGE, "sale amount must be positive, in minor units (got %lld)", (long long)sale->amount);
		return -1;
	}
	for (uint16_t i = 0; i < sale->nlines; i++) {
		const struct proto_line *l = &sale->lines[i];
		if (!l->sku.len || has_control(l->sku) || has_control(l->category)) {
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
		fail(o, PROTO_ST_BAD_REQUEST, "the lines add up to %s, not the sale amount %s", money_text(sum, a, sizeof a),
		     money_text(sale->amount, b, sizeof b));
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
	char email[PROTO_MAX_EMAIL + 1], phone[PROTO_MAX_PHONE + 1], buf[300];
	struct proto_str ne = {"", 0}, np = {"", 0};
	static const uint8_t no_key[PROTO_KEY_SIZE];
	struct record rec;

	if (ref->kind == PROTO_REF_ID || d->model->rules.guests != RULES_GUESTS_RECORD) {
		fail(o, PROTO_ST_NOT_FOUND, "no customer %s%s", ref_text(ref, buf, sizeof buf),
		     ref->kind == PROTO_REF_ID ? "" : " (the program does not record guests)");
		return NULL;
	}
	if ((ref->kind == PROTO_REF_EMAIL && model_email_normalise(ref->text, email, &ne)) ||
	    (ref->kind == PROTO_REF_PHONE && model_phone_normalise(ref->text, phone, &np)) || (!ne.len && !np.len)) {
		fail(o, PROTO_ST_BAD_REQUEST, "\"%s\" is not a valid %s", ref_text(ref, buf, sizeof buf),
		     ref->kind == PROTO_REF_EMAIL ? "email" : "phone number");
		return NULL;
	}
	record_init(&rec, PROTO_ENTRY_ENROL, no_key, 0);
	rec.customer_id = d->model->next_customer_id;
	rec.u.enrol.email = ne;
	rec.u.enrol.phone = np;
	rec.u.enrol.first_name = rec.u.enrol.last_name = proto_str_c("");
	rec.u.enrol.member = 0;
	if (!commit_record(d, &rec, NULL)) {
		fail(o, PROTO_ST_INTERNAL, "cannot journal the guest (out of memory)");
		return NULL;
	}
	return model_customer_by_id(d->model, rec.customer_id);
}

/* One sale: ACCRUE, and each item of ACCRUE_BATCH. */
static void accrue_one(struct dispatch *d, const struct dispatch_session *sess, const struct proto_accrue_req *req,
		       uint64_t hash, struct outcome *o)
{
	/* Large (line arrays) and used by the loop thread alone: kept, not allocated per sale. */
	static struct rules_line lines[PROTO_MAX_LINES];
	static struct rules_earning earning;
	static struct record sale_rec;
	struct record *rec = &sale_rec;
	struct rules_customer who;
	const struct model_request *q;
	const struct model_order *ord;
	struct model_customer *c;
	struct proto_str loc;
	int64_t when, balance, total;

	memset(o, 0, sizeof *o);
	o->status = request_key_lookup(d, PROTO_OP_ACCRUE, req->key, hash, &q, o->msg, sizeof o->msg);
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
	if (sale_location(sess, req->sale.location, &loc, o) || sale_check(&req->sale, 0, lines, &when, o))
		return;
	if ((ord = model_order_find(d->model, loc, req->sale.order_id))) {
		o->wait_seq = ord->seq;
		fail(o, PROTO_ST_DUPLICATE_ORDER, "order \"%.*s\" at location \"%.*s\" was already accrued (journal entry %llu)",
		     (int)req->sale.order_id.len, req->sale.order_id.ptr, (int)loc.len, loc.ptr, (unsigned long long)ord->seq);
		return;
	}
	c = model_customer_find(d->model, &req->ref);
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
		       &earning) != RULES_OK) {
		fail(o, PROTO_ST_RANGE, "the sale's amounts are out of range");
		return;
	}
	if (!c && !(c = guest_for(d, &req->ref, o)))
		return;
	if (rules_add(c->balance, earning.earned, &balance) || rules_add(c->lifetime_points, earning.earned, &total) ||
	    rules_add(c->total_spend, req->sale.amount, &total)) {
		fail(o, PROTO_ST_RANGE, "sale amount %lld is out of range for this customer", (long long)req->sale.amount);
		return;
	}
	record_init(rec, PROTO_ENTRY_ACCRUE, req->key, hash);
	rec->time_us = when;
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.accrue.location = loc;
	rec->u.accrue.order_id = req->sale.order_id;
	rec->u.accrue.amount = req->sale.amount;
	rec->u.accrue.points = earning.earned;
	rec->u.accrue.balance_after = balance;
	rec->u.accrue.multiplier = earning.multiplier;
	rec->u.accrue.nlines = req->sale.nlines;
	for (uint16_t i = 0; i < req->sale.nlines; i++) {
		rec->u.accrue.lines[i].sku = req->sale.lines[i].sku;
		rec->u.accrue.lines[i].category = req->sale.lines[i].category;
		rec->u.accrue.lines[i].qty = req->sale.lines[i].qty;
		rec->u.accrue.lines[i].amount = req->sale.lines[i].amount;
		rec->u.accrue.lines[i].earned = earning.line_earned[i];
	}
	o->seq = commit_record(d, rec, NULL);
	if (!o->seq) {
		fail(o, PROTO_ST_INTERNAL, "cannot journal the sale (out of memory)");
		return;
	}
	o->c = c;
	o->points = earning.earned;
	o->wait_seq = o->seq;
}

static enum dispatch_action op_accrue(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body,
				      size_t len, struct dispatch_out *out)
{
	static struct proto_accrue_req req;
	struct outcome o;

	if (proto_accrue_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ACCRUE body");
		return DISPATCH_REPLY;
	}
	accrue_one(d, sess, &req, XXH3_64bits(body, len), &o);
	depend(out, o.wait_seq);
	if (o.status) {
		dispatch_error(out, o.status, "%s", o.msg);
		return DISPATCH_REPLY;
	}
	if (!o.c) {
		dispatch_error(out, PROTO_ST_NOT_FOUND, "the customer of this request key no longer exists");
		return DISPATCH_REPLY;
	}
	reply_change(out, o.c, o.seq, o.points);
	if (o.replay)
		out->flags |= PROTO_FLAG_REPLAY;
	return DISPATCH_REPLY;
}

/* Batch replies keep refusal messages short so 8,190 of them fit one frame. */
#define BATCH_MESSAGE_MAX 96

/*
 * Sales a batch looks ahead: the index slots of sale i + BATCH_LOOKAHEAD
 * are fetched while sale i is applied, so their cache misses (the order and
 * request-key tables outgrow every cache) overlap instead of coming one
 * after the other.
 */
#define BATCH_LOOKAHEAD 8

static void batch_prefetch_next(struct dispatch *d, const struct dispatch_session *sess, struct proto_rbuf *ahead)
{
	static struct proto_accrue_req req;
	const uint8_t *item;
	size_t item_len;
	struct proto_str loc;
	struct outcome o;

	if (proto_batch_req_next(ahead, &item, &item_len) || proto_accrue_req_decode(item, item_len, &req) ||
	    sale_location(sess, req.sale.location, &loc, &o))
		return;
	model_prefetch_sale(d->model, req.key, loc, req.sale.order_id, &req.ref);
}

static enum dispatch_action op_accrue_batch(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body,
					    size_t len, struct dispatch_out *out)
{
	static struct proto_accrue_req req;
	struct proto_rbuf r;
	struct proto_wbuf w;
	uint16_t count;

	proto_rbuf_init(&r, body, len);
	if (proto_batch_req_begin(&r, &count)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ACCRUE_BATCH body (1 to %d sales)", PROTO_MAX_BATCH);
		return DISPATCH_REPLY;
	}
	/* The whole frame is checked before anything is applied: every item
	 * framed, nothing after the last, and room for the worst-case reply. */
	{
		struct proto_rbuf scan = r;
		const uint8_t *item;
		size_t item_len;
		for (uint16_t i = 0; i < count; i++)
			if (proto_batch_req_next(&scan, &item, &item_len))
				break;
		if (proto_rbuf_finish(&scan)) {
			dispatch_error(out, PROTO_ST_BAD_REQUEST, "ACCRUE_BATCH items are cut short or followed by stray bytes; nothing applied");
			return DISPATCH_REPLY;
		}
		/* An item is OK (status, replay, seq, points, customer, balance: 35
		 * bytes) or refused (status, replay, message: 5 + at most 96). */
		size_t item_max = 3 + 2 + BATCH_MESSAGE_MAX > 3 + 32 ? 3 + 2 + BATCH_MESSAGE_MAX : 3 + 32;
		if (4 + (size_t)count * item_max > out->cap) {
			dispatch_error(out, PROTO_ST_RANGE, "a batch of %u sales may not fit one reply; send fewer", count);
			return DISPATCH_REPLY;
		}
	}
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
		} else if (proto_accrue_req_decode(item, item_len, &req)) {
			fail(&o, PROTO_ST_BAD_REQUEST, "malformed sale");
		} else {
			accrue_one(d, sess, &req, XXH3_64bits(item, item_len), &o);
		}
		depend(out, o.wait_seq);
		if (!o.status && !o.c)
			fail(&o, PROTO_ST_NOT_FOUND, "the customer of this request key no longer exists");
		it.status = o.status;
		it.replay = (uint8_t)o.replay;
		if (!o.status) {
			it.seq = o.seq;
			it.points = o.points;
			it.customer_id = o.c->id;
			it.balance = o.c->balance;
			depend(out, o.c->last_seq);
		} else {
			it.message = proto_str_c(o.msg);
			if (it.message.len > BATCH_MESSAGE_MAX)
				it.message.len = BATCH_MESSAGE_MAX;
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

static enum dispatch_action op_adjust(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	struct proto_adjust_req req;
	struct model_customer *c;
	struct record rec;
	int64_t balance, lifetime;
	uint64_t seq, hash = XXH3_64bits(body, len);

	if (proto_adjust_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ADJUST body");
		return DISPATCH_REPLY;
	}
	if (check_request_key(d, PROTO_OP_ADJUST, req.key, hash, out))
		return DISPATCH_REPLY;
	if (req.points == 0 || req.points == INT64_MIN) {
		dispatch_error(out, PROTO_ST_RANGE, "points must be a non-zero amount");
		return DISPATCH_REPLY;
	}
	if (has_control(req.reason) || has_control(req.comment)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "reason and comment must not contain control characters");
		return DISPATCH_REPLY;
	}
	if (!(c = find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	depend(out, c->last_seq);
	if (rules_add(c->balance, req.points, &balance) ||
	    (req.points > 0 && rules_add(c->lifetime_points, req.points, &lifetime))) {
		dispatch_error(out, PROTO_ST_RANGE, "adjustment of %lld points is out of range", (long long)req.points);
		return DISPATCH_REPLY;
	}
	if (balance < 0) {
		dispatch_error(out, PROTO_ST_INSUFFICIENT, "customer #%llu has %lld points; cannot use %lld",
			       (unsigned long long)c->id, (long long)c->balance, (long long)-req.points);
		return DISPATCH_REPLY;
	}
	record_init(&rec, PROTO_ENTRY_ADJUST, req.key, hash);
	rec.customer_id = c->id;
	rec.prev_seq = c->last_seq;
	rec.u.adjust.points = req.points;
	rec.u.adjust.balance_after = balance;
	rec.u.adjust.reason = req.reason;
	rec.u.adjust.comment = req.comment.len ? req.comment : proto_str_c(DEFAULT_COMMENT);
	if (!(seq = commit_record(d, &rec, out)))
		return DISPATCH_REPLY;
	reply_change(out, c, seq, req.points);
	return DISPATCH_REPLY;
}

struct history_walk {
	struct proto_wbuf w;
	size_t count_at; /* offset of the count field */
	uint32_t count, limit;
	uint64_t before;
	uint64_t next_before;
	int64_t balance; /* the balance after the entry being visited (newest first) */
};

static int history_entry(void *ctx, uint64_t seq, const struct record *rec)
{
	struct history_walk *hw = ctx;
	struct proto_entry e;
	size_t mark = hw->w.len;

	/* Entries that change no balance show the balance they left standing;
	 * walking newest first, that is the balance before the next newer change. */
	int64_t after = hw->balance;
	switch (rec->type) {
	case PROTO_ENTRY_ACCRUE:
		after = rec->u.accrue.balance_after;
		hw->balance = after - rec->u.accrue.points;
		break;
	case PROTO_ENTRY_ADJUST:
		after = rec->u.adjust.balance_after;
		hw->balance = after - rec->u.adjust.points;
		break;
	case PROTO_ENTRY_RETURN:
		after = rec->u.ret.balance_after;
		hw->balance = after + rec->u.ret.applied;
		break;
	}
	if (hw->before && seq >= hw->before)
		return 0;
	if (hw->count == hw->limit) {
		hw->next_before = seq + 1;
		return 1;
	}
	memset(&e, 0, sizeof e);
	e.seq = seq;
	e.type = rec->type;
	e.time_us = rec->time_us;
	e.location = e.order_id = e.reason = e.comment = proto_str_c("");
	e.balance_after = after;
	switch (rec->type) {
	case PROTO_ENTRY_ACCRUE:
		e.points = rec->u.accrue.points;
		e.balance_after = rec->u.accrue.balance_after;
		e.amount = rec->u.accrue.amount;
		e.location = rec->u.accrue.location;
		e.order_id = rec->u.accrue.order_id;
		break;
	case PROTO_ENTRY_ADJUST:
		e.points = rec->u.adjust.points;
		e.balance_after = rec->u.adjust.balance_after;
		e.reason = rec->u.adjust.reason;
		e.comment = rec->u.adjust.comment;
		break;
	case PROTO_ENTRY_ENROL:
		if (!rec->u.enrol.member)
			e.comment = proto_str_c("guest, recorded by a sale");
		break;
	case PROTO_ENTRY_JOIN:
		e.comment = proto_str_c("joined as a member");
		break;
	case PROTO_ENTRY_RETURN: {
		static char note[96];
		e.points = -rec->u.ret.applied;
		e.balance_after = rec->u.ret.balance_after;
		e.amount = rec->u.ret.refunded;
		e.location = rec->u.ret.location;
		e.order_id = rec->u.ret.order_id;
		if (rec->u.ret.taken > rec->u.ret.applied) {
			snprintf(note, sizeof note, "shortfall %lld: the balance stops at zero",
				 (long long)(rec->u.ret.taken - rec->u.ret.applied));
			e.comment = proto_str_c(note);
		} else if (rec->u.ret.balance_after < 0) {
			e.comment = proto_str_c("balance below zero after a return of spent points");
		}
		break;
	}
	case PROTO_ENTRY_GROUP:
		e.reason = rec->u.group.group;
		e.comment = proto_str_c(rec->u.group.add ? "added to group" : "removed from group");
		break;
	case PROTO_ENTRY_TIER:
		e.reason = rec->u.tier.note;
		e.comment = rec->u.tier.tier.len ? rec->u.tier.tier : proto_str_c("(no tier)");
		break;
	}
	proto_entry_put(&hw->w, &e);
	if (hw->w.overflow) {
		/* The reply is full: end the page before this entry. */
		hw->w.overflow = 0;
		hw->w.len = mark;
		hw->next_before = seq + 1;
		return 1;
	}
	hw->count++;
	return 0;
}

static enum dispatch_action op_history(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	struct proto_history_req req;
	struct model_customer *c;
	struct history_walk hw;
	uint8_t *p;

	if (proto_history_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed HISTORY body (limit must be 1 to %d)", PROTO_MAX_HISTORY);
		return DISPATCH_REPLY;
	}
	if (!(c = find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	/* History is read from LMDB, so the chain must be committed first. */
	if (c->last_seq > store_durable_seq(d->store)) {
		out->wait_seq = c->last_seq;
		return DISPATCH_DEFER;
	}
	memset(&hw, 0, sizeof hw);
	proto_wbuf_init(&hw.w, out->body, out->cap);
	proto_reply_put_status(&hw.w, PROTO_OK);
	hw.count_at = hw.w.len;
	proto_history_rep_put_header(&hw.w, 0, 0);
	hw.limit = req.limit;
	hw.before = req.before_seq;
	hw.balance = c->balance;
	if (store_walk_chain(d->store, c->last_seq, history_entry, &hw)) {
		dispatch_error(out, PROTO_ST_STORAGE,
			       "cannot read the journal of customer #%llu: record %llu is missing or damaged (accrue-check names every problem)",
			       (unsigned long long)c->id, (unsigned long long)store_walk_bad_seq(d->store));
		return DISPATCH_REPLY;
	}
	/* Rewrite the header now that the page is known. */
	p = out->body + hw.count_at;
	{
		struct proto_wbuf hdr;
		proto_wbuf_init(&hdr, p, 12);
		proto_history_rep_put_header(&hdr, hw.next_before, hw.count);
	}
	out->len = hw.w.len;
	return DISPATCH_REPLY;
}

/* ---- returns, quotes, orders -------------------------------------------------- */

/* What the journal says of one order, read back for line returns and ORDER. */
struct order_read {
	int ok;
	int64_t time_us;
	uint32_t multiplier;
	uint16_t nlines;
	struct {
		char sku[PROTO_MAX_SKU], category[PROTO_MAX_CATEGORY];
		uint8_t sku_len, category_len;
		int64_t qty, amount, earned;
		int64_t refunded_qty, refunded, taken; /* by returns naming this line */
	} line[PROTO_MAX_LINES];
	uint64_t next_return; /* walking the order's returns */
};

static int read_sale(void *ctx, uint64_t seq, const struct record *rec)
{
	struct order_read *or = ctx;

	(void)seq;
	if (rec->type != PROTO_ENTRY_ACCRUE)
		return 1;
	or->ok = 1;
	or->time_us = rec->time_us;
	or->multiplier = rec->u.accrue.multiplier;
	or->nlines = rec->u.accrue.nlines;
	for (uint16_t i = 0; i < or->nlines; i++) {
		const struct record_line *l = &rec->u.accrue.lines[i];
		memcpy(or->line[i].sku, l->sku.ptr, l->sku.len);
		or->line[i].sku_len = (uint8_t)l->sku.len;
		memcpy(or->line[i].category, l->category.ptr, l->category.len);
		or->line[i].category_len = (uint8_t)l->category.len;
		or->line[i].qty = l->qty;
		or->line[i].amount = l->amount;
		or->line[i].earned = l->earned;
		or->line[i].refunded_qty = or->line[i].refunded = or->line[i].taken = 0;
	}
	return 1;
}

/* The line of the sale a returned SKU belongs to: the first with quantity left. */
static int line_for_sku(const struct order_read *or, struct proto_str sku, int64_t qty)
{
	for (uint16_t i = 0; i < or->nlines; i++)
		if (or->line[i].sku_len == sku.len && memcmp(or->line[i].sku, sku.ptr, sku.len) == 0 &&
		    or->line[i].qty - or->line[i].refunded_qty >= qty)
			return i;
	return -1;
}

static int read_return(void *ctx, uint64_t seq, const struct record *rec)
{
	struct order_read *or = ctx;

	(void)seq;
	if (rec->type != PROTO_ENTRY_RETURN) {
		or->ok = 0;
		return 1;
	}
	for (uint16_t i = 0; i < rec->u.ret.nlines; i++) {
		const struct record_line *l = &rec->u.ret.lines[i];
		struct proto_str sku = {l->sku.ptr, l->sku.len};
		/* Replayed oldest first, the line is the one chosen when the return was made. */
		int k = line_for_sku(or, sku, l->qty);
		if (k < 0) {
			or->ok = 0;
			return 1;
		}
		or->line[k].refunded_qty += l->qty;
		or->line[k].refunded += l->amount;
		or->line[k].taken += l->earned;
	}
	or->next_return = rec->u.ret.prev_return_seq;
	return 1;
}

/* Returns of one order that a line return reads back, at most. */
#define MAX_RETURNS_PER_ORDER 1024

static int note_return(void *ctx, uint64_t seq, const struct record *rec)
{
	struct order_read *or = ctx;
	(void)seq;
	or->next_return = rec->type == PROTO_ENTRY_RETURN ? rec->u.ret.prev_return_seq : 0;
	or->ok = rec->type == PROTO_ENTRY_RETURN;
	return 1;
}

/*
 * Load a sale and the per-line effect of its returns, applied oldest first
 * as they were made. Returns 0, or -1 if the journal cannot be read or the
 * order has more returns than this reads back.
 */
static int order_load(struct dispatch *d, const struct model_order *o, struct order_read *or)
{
	static uint64_t seqs[MAX_RETURNS_PER_ORDER];
	uint32_t n = 0;

	or->ok = 0;
	if (store_walk_chain(d->store, o->seq, read_sale, or) || !or->ok)
		return -1;
	for (uint64_t seq = o->last_return_seq; seq; seq = or->next_return) {
		if (n == MAX_RETURNS_PER_ORDER || store_walk_chain(d->store, seq, note_return, or) || !or->ok)
			return -1;
		seqs[n++] = seq;
	}
	while (n--)
		if (store_walk_chain(d->store, seqs[n], read_return, or) || !or->ok)
			return -1;
	return 0;
}

static const struct model_order *find_order(struct dispatch *d, const struct dispatch_session *sess,
					    struct proto_str location, struct proto_str order_id, struct dispatch_out *out)
{
	const struct model_order *o;
	struct proto_str loc;
	struct outcome oc;

	if (sale_location(sess, location, &loc, &oc)) {
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
	depend(out, c->last_seq);
	depend(out, seq);
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

static enum dispatch_action op_return(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body,
				      size_t len, struct dispatch_out *out)
{
	static struct proto_return_req req;
	static struct order_read or;
	static struct record rec;
	const struct model_request *q;
	const struct model_order *o;
	struct model_customer *c;
	uint64_t hash = XXH3_64bits(body, len), seq;
	int64_t refund = 0, take = 0, applied, balance, when, now = dispatch_now_us();

	if (proto_return_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed RETURN body");
		return DISPATCH_REPLY;
	}
	{
		char msg[160];
		uint16_t status = request_key_lookup(d, PROTO_OP_RETURN, req.key, hash, &q, msg, sizeof msg);
		if (q)
			depend(out, q->seq);
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
	if (!(o = find_order(d, sess, req.location, req.order_id, out)))
		return DISPATCH_REPLY;
	if (!(c = model_customer_by_id(d->model, o->customer_id))) {
		dispatch_error(out, PROTO_ST_NOT_FOUND, "the customer of this order no longer exists");
		return DISPATCH_REPLY;
	}
	depend(out, c->last_seq);
	if (req.time_us < 0 || req.time_us > now + SALE_CLOCK_SKEW_US) {
		dispatch_error(out, PROTO_ST_RANGE, "return time is in the future or negative");
		return DISPATCH_REPLY;
	}
	when = req.time_us ? req.time_us : now;

	rec.u.ret.nlines = 0; /* rec is reused: an amount return names no lines */
	if (req.nlines == 0) {
		refund = req.amount;
		if (refund <= 0) {
			dispatch_error(out, PROTO_ST_RANGE, "a return refunds a positive amount or names lines");
			return DISPATCH_REPLY;
		}
		if (refund > o->amount - o->refunded) {
			char left[32], want[32];
			dispatch_error(out, PROTO_ST_OVER_RETURN, "order has %s left to refund; cannot refund %s",
				       money_text(o->amount - o->refunded, left, sizeof left), money_text(refund, want, sizeof want));
			return DISPATCH_REPLY;
		}
		if (rules_take_back(o->points, o->amount, o->refunded, o->taken_back, refund, &take) != RULES_OK) {
			dispatch_error(out, PROTO_ST_RANGE, "refund out of range");
			return DISPATCH_REPLY;
		}
	} else {
		/* By lines: the sale's lines and earlier returns are read from the journal. */
		uint64_t need = o->last_return_seq > o->seq ? o->last_return_seq : o->seq;
		if (need > store_durable_seq(d->store)) {
			out->wait_seq = need;
			return DISPATCH_DEFER;
		}
		if (order_load(d, o, &or)) {
			dispatch_error(out, PROTO_ST_STORAGE, "cannot read order \"%.*s\" from the journal", (int)req.order_id.len,
				       req.order_id.ptr);
			return DISPATCH_REPLY;
		}
		for (uint16_t i = 0; i < req.nlines; i++) {
			const struct proto_line *l = &req.lines[i];
			int k = l->qty >= 1 ? line_for_sku(&or, l->sku, l->qty) : -1;
			int64_t t;
			if (l->qty < 1 || l->amount < 0) {
				dispatch_error(out, PROTO_ST_RANGE, "line %u: quantity must be at least 1 and amount not negative",
					       i + 1);
				return DISPATCH_REPLY;
			}
			if (k < 0) {
				int sold = 0;
				for (uint16_t j = 0; j < or.nlines; j++)
					sold |= or.line[j].sku_len == l->sku.len &&
						memcmp(or.line[j].sku, l->sku.ptr, l->sku.len) == 0;
				if (!sold)
					dispatch_error(out, PROTO_ST_BAD_REQUEST, "line %u: SKU \"%.*s\" is not in this order", i + 1,
						       (int)l->sku.len, l->sku.ptr);
				else
					dispatch_error(out, PROTO_ST_OVER_RETURN,
						       "line %u: SKU \"%.*s\" has fewer than %lld left to return in this order", i + 1,
						       (int)l->sku.len, l->sku.ptr, (long long)l->qty);
				return DISPATCH_REPLY;
			}
			if (rules_take_back(or.line[k].earned, or.line[k].amount, or.line[k].refunded, or.line[k].taken, l->amount,
					    &t) != RULES_OK) {
				char want[32];
				dispatch_error(out, PROTO_ST_OVER_RETURN, "line %u: refund %s is more than is left of SKU \"%.*s\"",
					       i + 1, money_text(l->amount, want, sizeof want), (int)l->sku.len, l->sku.ptr);
				return DISPATCH_REPLY;
			}
			or.line[k].refunded_qty += l->qty;
			or.line[k].refunded += l->amount;
			or.line[k].taken += t;
			refund += l->amount;
			take += t;
			rec.u.ret.lines[i].sku = l->sku;
			rec.u.ret.lines[i].category = proto_str_c("");
			rec.u.ret.lines[i].qty = l->qty;
			rec.u.ret.lines[i].amount = l->amount;
			rec.u.ret.lines[i].earned = t;
		}
		if (req.amount && req.amount != refund) {
			char sum[32], want[32];
			dispatch_error(out, PROTO_ST_BAD_REQUEST, "the lines add up to %s, not the return amount %s",
				       money_text(refund, sum, sizeof sum), money_text(req.amount, want, sizeof want));
			return DISPATCH_REPLY;
		}
		if (refund > o->amount - o->refunded) {
			char left[32], want[32];
			dispatch_error(out, PROTO_ST_OVER_RETURN, "order has %s left to refund; cannot refund %s",
				       money_text(o->amount - o->refunded, left, sizeof left), money_text(refund, want, sizeof want));
			return DISPATCH_REPLY;
		}
		rec.u.ret.nlines = req.nlines;
	}
	/* Never more than the sale earned, whatever mix of returns came before;
	 * the lines' shares shrink with it, newest line first, to keep adding up. */
	if (take > o->points - o->taken_back) {
		int64_t excess = take - (o->points - o->taken_back);
		take = o->points - o->taken_back;
		for (uint16_t i = rec.u.ret.nlines; i-- > 0 && excess > 0;) {
			int64_t cut = rec.u.ret.lines[i].earned < excess ? rec.u.ret.lines[i].earned : excess;
			rec.u.ret.lines[i].earned -= cut;
			excess -= cut;
		}
	}
	applied = take;
	if (d->model->rules.below_zero == RULES_BELOW_ZERO_STOP)
		applied = c->balance <= 0 ? 0 : (take < c->balance ? take : c->balance);
	balance = c->balance - applied;

	record_init(&rec, PROTO_ENTRY_RETURN, req.key, hash);
	rec.time_us = when;
	rec.customer_id = c->id;
	rec.prev_seq = c->last_seq;
	rec.u.ret.location = proto_str_c("");
	{
		const char *z = memchr(o->key, 0, o->key_len);
		rec.u.ret.location.ptr = o->key;
		rec.u.ret.location.len = (uint32_t)(z - o->key);
		rec.u.ret.order_id.ptr = z + 1;
		rec.u.ret.order_id.len = (uint32_t)(o->key_len - rec.u.ret.location.len - 1);
	}
	rec.u.ret.sale_seq = o->seq;
	rec.u.ret.prev_return_seq = o->last_return_seq;
	rec.u.ret.refunded = refund;
	rec.u.ret.taken = take;
	rec.u.ret.applied = applied;
	rec.u.ret.balance_after = balance;
	rec.u.ret.full = o->refunded + refund == o->amount;
	if (!(seq = commit_record(d, &rec, out)))
		return DISPATCH_REPLY;
	reply_return(out, c, seq, &rec);
	return DISPATCH_REPLY;
}

static enum dispatch_action op_quote(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	static struct proto_quote_req req;
	static struct rules_line lines[PROTO_MAX_LINES];
	static struct rules_earning earning;
	static struct proto_quote_rep rep;
	struct rules_customer who;
	struct outcome o;
	struct proto_wbuf w;
	int64_t when;

	if (proto_quote_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed QUOTE body");
		return DISPATCH_REPLY;
	}
	memset(&who, 0, sizeof who);
	who.tier.ptr = "";
	who.member = 1;
	if (req.ref.kind) {
		struct model_customer *c = find_customer(d, &req.ref, out);
		if (!c)
			return DISPATCH_REPLY;
		model_customer_rules(c, &who);
		depend(out, c->last_seq);
	}
	memset(&o, 0, sizeof o);
	if (sale_check(&req.sale, 1, lines, &when, &o)) {
		dispatch_error(out, o.status, "%s", o.msg);
		return DISPATCH_REPLY;
	}
	if (rules_earn(&d->model->rules, &who, when, req.sale.amount, req.sale.nlines ? lines : NULL, req.sale.nlines,
		       &earning) != RULES_OK) {
		dispatch_error(out, PROTO_ST_RANGE, "the sale's amounts are out of range");
		return DISPATCH_REPLY;
	}
	rep.earned = earning.earned;
	rep.qualifying = earning.qualifying;
	rep.qualifying_items = earning.qualifying_items;
	rep.multiplier = earning.multiplier;
	rep.unit = d->model->rules.unit;
	rep.nlines = req.sale.nlines;
	for (uint16_t i = 0; i < req.sale.nlines; i++)
		rep.line_earned[i] = earning.line_earned[i];
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_quote_rep_encode(&w, &rep);
	out->len = w.len;
	depend(out, d->model->program_seq);
	return DISPATCH_REPLY;
}

static enum dispatch_action op_order(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body,
				     size_t len, struct dispatch_out *out)
{
	static struct proto_order_req req;
	static struct order_read or;
	static struct proto_order_rep rep;
	const struct model_order *o;
	struct proto_wbuf w;
	uint64_t need;

	if (proto_order_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ORDER body");
		return DISPATCH_REPLY;
	}
	if (!(o = find_order(d, sess, req.location, req.order_id, out)))
		return DISPATCH_REPLY;
	need = o->last_return_seq > o->seq ? o->last_return_seq : o->seq;
	if (need > store_durable_seq(d->store)) {
		out->wait_seq = need;
		return DISPATCH_DEFER;
	}
	if (order_load(d, o, &or)) {
		dispatch_error(out, PROTO_ST_STORAGE, "cannot read the order from the journal");
		return DISPATCH_REPLY;
	}
	rep.customer_id = o->customer_id;
	rep.seq = o->seq;
	rep.time_us = or.time_us;
	rep.location.ptr = o->key;
	rep.location.len = (uint32_t)strlen(o->key);
	rep.order_id.ptr = o->key + rep.location.len + 1;
	rep.order_id.len = o->key_len - rep.location.len - 1;
	rep.amount = o->amount;
	rep.earned = o->points;
	rep.refunded = o->refunded;
	rep.taken_back = o->taken_back;
	rep.multiplier = or.multiplier;
	rep.nlines = or.nlines;
	for (uint16_t i = 0; i < or.nlines; i++) {
		rep.lines[i].sku.ptr = or.line[i].sku;
		rep.lines[i].sku.len = or.line[i].sku_len;
		rep.lines[i].category.ptr = or.line[i].category;
		rep.lines[i].category.len = or.line[i].category_len;
		rep.lines[i].qty = or.line[i].qty;
		rep.lines[i].amount = or.line[i].amount;
		rep.lines[i].earned = or.line[i].earned;
		rep.lines[i].refunded_qty = or.line[i].refunded_qty;
		rep.lines[i].refunded = or.line[i].refunded;
	}
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_order_rep_encode(&w, &rep);
	out->len = w.len;
	return DISPATCH_REPLY;
}

/* ---- groups, tiers, the program --------------------------------------------- */

/* A group or tier name: printable, no spaces or commas (they separate lists in settings). */
static int name_ok(struct proto_str n)
{
	for (uint32_t i = 0; i < n.len; i++) {
		unsigned char ch = (unsigned char)n.ptr[i];
		if (ch <= ' ' || ch == ',' || ch == 0x7f)
			return 0;
	}
	return 1;
}

static enum dispatch_action op_group(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	struct proto_group_req req;
	struct model_customer *c;
	struct record rec;
	uint64_t hash = XXH3_64bits(body, len);
	int in;

	if (proto_group_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed GROUP body");
		return DISPATCH_REPLY;
	}
	if (check_request_key(d, PROTO_OP_GROUP, req.key, hash, out))
		return DISPATCH_REPLY;
	if (!req.group.len || !name_ok(req.group)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "a group name is required: printable, no spaces or commas");
		return DISPATCH_REPLY;
	}
	if (!(c = find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	in = model_customer_in_group(c, req.group);
	if (req.add && in) {
		reply_customer(out, c);
		return DISPATCH_REPLY;
	}
	if (!req.add && !in) {
		depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_NOT_FOUND, "customer #%llu is not in group \"%.*s\"", (unsigned long long)c->id,
			       (int)req.group.len, req.group.ptr);
		return DISPATCH_REPLY;
	}
	if (req.add && c->tags && c->tags->ngroups >= PROTO_MAX_GROUPS) {
		depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_RANGE, "a customer is in at most %d groups", PROTO_MAX_GROUPS);
		return DISPATCH_REPLY;
	}
	record_init(&rec, PROTO_ENTRY_GROUP, req.key, hash);
	rec.customer_id = c->id;
	rec.prev_seq = c->last_seq;
	rec.u.group.add = req.add;
	rec.u.group.group = req.group;
	if (!commit_record(d, &rec, out))
		return DISPATCH_REPLY;
	reply_customer(out, c);
	return DISPATCH_REPLY;
}

static enum dispatch_action op_tier(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	struct proto_tier_req req;
	struct proto_customer v;
	struct model_customer *c;
	struct record rec;
	uint64_t hash = XXH3_64bits(body, len);

	if (proto_tier_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed TIER body");
		return DISPATCH_REPLY;
	}
	if (check_request_key(d, PROTO_OP_TIER, req.key, hash, out))
		return DISPATCH_REPLY;
	if (!name_ok(req.tier) || has_control(req.note)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "a tier name is printable, with no spaces or commas");
		return DISPATCH_REPLY;
	}
	if (!(c = find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	model_customer_view(c, &v);
	if (v.tier.len == req.tier.len && memcmp(v.tier.ptr, req.tier.ptr, v.tier.len) == 0) {
		reply_customer(out, c);
		return DISPATCH_REPLY;
	}
	record_init(&rec, PROTO_ENTRY_TIER, req.key, hash);
	rec.customer_id = c->id;
	rec.prev_seq = c->last_seq;
	rec.u.tier.tier = req.tier;
	rec.u.tier.note = req.note;
	if (!commit_record(d, &rec, out))
		return DISPATCH_REPLY;
	reply_customer(out, c);
	return DISPATCH_REPLY;
}

struct program_list {
	struct proto_wbuf w;
	uint16_t n;
};

static int program_list_put(void *ctx, const char *key, const char *value)
{
	struct program_list *pl = ctx;
	proto_setting_put(&pl->w, proto_str_c(key), proto_str_c(value));
	pl->n++;
	return 0;
}

static enum dispatch_action op_program_get(struct dispatch *d, struct dispatch_out *out)
{
	struct program_list pl;
	size_t at;

	proto_wbuf_init(&pl.w, out->body, out->cap);
	proto_reply_put_status(&pl.w, PROTO_OK);
	at = pl.w.len;
	proto_program_rep_put_header(&pl.w, 0);
	pl.n = 0;
	rules_each(&d->model->rules, program_list_put, &pl);
	if (pl.w.overflow) {
		dispatch_error(out, PROTO_ST_INTERNAL, "the program does not fit a reply");
		return DISPATCH_REPLY;
	}
	out->body[at] = (uint8_t)pl.n;
	out->body[at + 1] = (uint8_t)(pl.n >> 8);
	out->len = pl.w.len;
	depend(out, d->model->program_seq);
	return DISPATCH_REPLY;
}

static enum dispatch_action op_program_set(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	static struct rules trial;
	struct proto_program_set_req req;
	struct record rec;
	char err[300];
	uint64_t hash = XXH3_64bits(body, len);
	int rc;

	if (proto_program_set_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed PROGRAM_SET body");
		return DISPATCH_REPLY;
	}
	if (check_request_key(d, PROTO_OP_PROGRAM_SET, req.key, hash, out))
		return DISPATCH_REPLY;
	/* Try it on a copy: only a setting that applies cleanly is journalled. */
	trial = d->model->rules;
	err[0] = 0;
	rc = rules_set(&trial, req.name.ptr, req.name.len, req.value.ptr, req.value.len, err, sizeof err);
	if (rc != RULES_OK) {
		dispatch_error(out, rc == RULES_E_FULL ? PROTO_ST_RANGE : PROTO_ST_BAD_REQUEST, "%s",
			       err[0] ? err : "invalid setting");
		return DISPATCH_REPLY;
	}
	record_init(&rec, PROTO_ENTRY_PROGRAM, req.key, hash);
	rec.u.program.name = req.name;
	rec.u.program.value = req.value;
	if (!commit_record(d, &rec, out))
		return DISPATCH_REPLY;
	reply_empty(out);
	depend(out, d->model->program_seq);
	return DISPATCH_REPLY;
}

static enum dispatch_action op_key_create(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	struct proto_key_create_req req;
	struct proto_key_create_rep rep;
	struct proto_wbuf w;
	struct record rec;
	char text[AUTH_KEY_TEXT_MAX];
	uint64_t seq, hash = XXH3_64bits(body, len);

	if (proto_key_create_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed KEY_CREATE body (role must be 1, 2 or 3)");
		return DISPATCH_REPLY;
	}
	if (check_request_key(d, PROTO_OP_KEY_CREATE, req.key, hash, out))
		return DISPATCH_REPLY;
	if (req.role == PROTO_ROLE_TERMINAL && !req.location.len) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "a terminal key needs a location");
		return DISPATCH_REPLY;
	}
	if (has_control(req.location)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "location must not contain control characters");
		return DISPATCH_REPLY;
	}
	record_init(&rec, PROTO_ENTRY_KEY_CREATE, req.key, hash);
	rec.u.key_create.key_id = d->model->next_key_id;
	rec.u.key_create.role = req.role;
	rec.u.key_create.location = req.location;
	auth_key_generate(rec.u.key_create.key_id, text, rec.u.key_create.hash);
	if (!(seq = commit_record(d, &rec, out)))
		return DISPATCH_REPLY;
	rep.key_id = rec.u.key_create.key_id;
	rep.role = req.role;
	rep.location = req.location;
	rep.secret = proto_str_c(text);
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_key_create_rep_encode(&w, &rep);
	out->len = w.len;
	depend(out, seq);
	return DISPATCH_REPLY;
}

static enum dispatch_action op_key_list(struct dispatch *d, struct dispatch_out *out)
{
	struct proto_wbuf w;
	uint64_t last = 0;

	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_key_list_rep_put_header(&w, d->model->nkeys);
	for (uint32_t i = 0; i < d->model->nkeys; i++) {
		const struct model_apikey *k = &d->model->keys[i];
		struct proto_key_info info = {k->id, k->role, k->revoked, k->created_us, proto_str_c(k->location)};
		proto_key_info_put(&w, &info);
	}
	out->len = w.len;
	/* Keys change rarely; the list must not show one that is not yet durable. */
	last = store_last_seq(d->store);
	depend(out, last);
	return DISPATCH_REPLY;
}

static enum dispatch_action op_key_revoke(struct dispatch *d, const uint8_t *body, size_t len, struct dispatch_out *out)
{
	struct proto_key_revoke_req req;
	struct record rec;
	const struct model_apikey *k;
	uint64_t seq, hash = XXH3_64bits(body, len);

	if (proto_key_revoke_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed KEY_REVOKE body");
		return DISPATCH_REPLY;
	}
	if (check_request_key(d, PROTO_OP_KEY_REVOKE, req.key, hash, out))
		return DISPATCH_REPLY;
	if (!(k = model_apikey_find(d->model, req.key_id))) {
		dispatch_error(out, PROTO_ST_NOT_FOUND, "no API key %llu", (unsigned long long)req.key_id);
		return DISPATCH_REPLY;
	}
	record_init(&rec, PROTO_ENTRY_KEY_REVOKE, req.key, hash);
	rec.u.key_revoke.key_id = req.key_id;
	if (!(seq = commit_record(d, &rec, out)))
		return DISPATCH_REPLY;
	reply_empty(out);
	depend(out, seq);
	return DISPATCH_REPLY;
}

/* ---- the entry point ------------------------------------------------------------ */

#define ROLE_BIT(r) (1u << (r))
#define ANY_ROLE (ROLE_BIT(PROTO_ROLE_ADMIN) | ROLE_BIT(PROTO_ROLE_TERMINAL) | ROLE_BIT(PROTO_ROLE_READONLY))
#define SELLERS (ROLE_BIT(PROTO_ROLE_ADMIN) | ROLE_BIT(PROTO_ROLE_TERMINAL))
#define ADMIN ROLE_BIT(PROTO_ROLE_ADMIN)

/* What each opcode after HELLO is: who may send it, whether it changes the
 * ledger, and whether its body must be empty. One row per opcode. */
static const struct op_info {
	uint8_t opcode;
	uint8_t roles;
	uint8_t mutation;
	uint8_t empty_body;
} op_table[] = {
	{PROTO_OP_PING, ANY_ROLE, 0, 1},
	{PROTO_OP_ENROL, SELLERS, 1, 0},
	{PROTO_OP_LOOKUP, ANY_ROLE, 0, 0},
	{PROTO_OP_ACCRUE, SELLERS, 1, 0},
	{PROTO_OP_ADJUST, ADMIN, 1, 0},
	{PROTO_OP_HISTORY, ANY_ROLE, 0, 0},
	{PROTO_OP_RETURN, SELLERS, 1, 0},
	{PROTO_OP_QUOTE, ANY_ROLE, 0, 0},
	{PROTO_OP_ACCRUE_BATCH, SELLERS, 1, 0},
	{PROTO_OP_ORDER, ANY_ROLE, 0, 0},
	{PROTO_OP_GROUP, ADMIN, 1, 0},
	{PROTO_OP_TIER, ADMIN, 1, 0},
	{PROTO_OP_KEY_CREATE, ADMIN, 1, 0},
	{PROTO_OP_KEY_LIST, ADMIN, 0, 1},
	{PROTO_OP_KEY_REVOKE, ADMIN, 1, 0},
	{PROTO_OP_PROGRAM_GET, ANY_ROLE, 0, 1},
	{PROTO_OP_PROGRAM_SET, ADMIN, 1, 0},
};

static const struct op_info *op_find(uint8_t opcode)
{
	for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
		if (op_table[i].opcode == opcode)
			return &op_table[i];
	return NULL;
}

enum dispatch_action dispatch_request(struct dispatch *d, struct dispatch_session *sess, const struct proto_header *h,
				      const uint8_t *body, struct dispatch_out *out)
{
	const struct op_info *op;
	size_t len = h->body_len;

	out->len = 0;
	out->flags = 0;
	out->wait_seq = 0;
	if (h->flags & PROTO_FLAG_REPLY) {
		dispatch_error(out, PROTO_ST_PROTOCOL, "a client must not send reply frames; closing connection");
		return DISPATCH_REPLY_CLOSE;
	}
	if (h->opcode == PROTO_OP_HELLO) {
		if (sess->authed) {
			dispatch_error(out, PROTO_ST_BAD_REQUEST, "this connection has already said HELLO");
			return DISPATCH_REPLY;
		}
		return op_hello(d, sess, body, len, out);
	}
	if (!sess->authed) {
		dispatch_error(out, PROTO_ST_HELLO_REQUIRED, "the first request on a connection must be HELLO");
		return DISPATCH_REPLY_CLOSE;
	}
	if (!(op = op_find(h->opcode))) {
		dispatch_error(out, PROTO_ST_UNSUPPORTED, "opcode 0x%02x is not supported", h->opcode);
		return DISPATCH_REPLY;
	}
	if (!(op->roles & ROLE_BIT(sess->role))) {
		dispatch_error(out, PROTO_ST_FORBIDDEN, "a %s key may not %s", proto_role_name(sess->role),
			       proto_opcode_name(h->opcode));
		return DISPATCH_REPLY;
	}
	if (op->empty_body && len) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "%s has an empty body", proto_opcode_name(h->opcode));
		return DISPATCH_REPLY;
	}
	if (op->mutation) {
		if (d->shutting_down) {
			dispatch_error(out, PROTO_ST_SHUTTING_DOWN, "the server is stopping; retry shortly");
			return DISPATCH_REPLY;
		}
		if (!store_has_room(d->store))
			return DISPATCH_BLOCKED;
	}
	switch (h->opcode) {
	case PROTO_OP_PING:
		reply_empty(out);
		return DISPATCH_REPLY;
	case PROTO_OP_ENROL:
		return op_enrol(d, body, len, out);
	case PROTO_OP_LOOKUP:
		return op_lookup(d, body, len, out);
	case PROTO_OP_ACCRUE:
		return op_accrue(d, sess, body, len, out);
	case PROTO_OP_ADJUST:
		return op_adjust(d, body, len, out);
	case PROTO_OP_HISTORY:
		return op_history(d, body, len, out);
	case PROTO_OP_KEY_CREATE:
		return op_key_create(d, body, len, out);
	case PROTO_OP_KEY_LIST:
		return op_key_list(d, out);
	case PROTO_OP_RETURN:
		return op_return(d, sess, body, len, out);
	case PROTO_OP_QUOTE:
		return op_quote(d, body, len, out);
	case PROTO_OP_ACCRUE_BATCH:
		return op_accrue_batch(d, sess, body, len, out);
	case PROTO_OP_ORDER:
		return op_order(d, sess, body, len, out);
	case PROTO_OP_GROUP:
		return op_group(d, body, len, out);
	case PROTO_OP_TIER:
		return op_tier(d, body, len, out);
	case PROTO_OP_PROGRAM_GET:
		return op_program_get(d, out);
	case PROTO_OP_PROGRAM_SET:
		return op_program_set(d, body, len, out);
	default:
		return op_key_revoke(d, body, len, out);
	}
}
