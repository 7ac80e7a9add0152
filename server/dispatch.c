/*
 * dispatch.c - request handling (see dispatch.h).
 */
#include "dispatch.h"

#include <stdarg.h>
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
static int check_request_key(struct dispatch *d, uint8_t opcode, const uint8_t key[PROTO_KEY_SIZE], uint64_t body_hash,
			     struct dispatch_out *out)
{
	const struct model_request *q;
	const struct model_customer *c;

	if (model_key_is_zero(key)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "request key must not be all zero");
		return 1;
	}
	q = model_request_find(d->model, key);
	if (!q)
		return 0;
	depend(out, q->seq);
	if (q->opcode != opcode || q->body_hash != body_hash) {
		dispatch_error(out, PROTO_ST_KEY_REUSED, "request key was already used for a different %s request",
			       proto_opcode_name(q->opcode));
		return 1;
	}
	switch (opcode) {
	case PROTO_OP_ENROL:
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

static void record_init(struct record *rec, uint8_t type, const uint8_t key[PROTO_KEY_SIZE], uint64_t body_hash)
{
	memset(rec, 0, sizeof *rec);
	rec->type = type;
	rec->time_us = dispatch_now_us();
	memcpy(rec->request_key, key, PROTO_KEY_SIZE);
	rec->body_hash = body_hash;
}

/* ---- operations -------------------------------------------------------------- */

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
	struct model_customer *c;
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
	if ((c = model_customer_by_email(d->model, ne))) {
		depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_CONFLICT, "email %s already belongs to customer #%llu", email,
			       (unsigned long long)c->id);
		return DISPATCH_REPLY;
	}
	if ((c = model_customer_by_phone(d->model, np))) {
		depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_CONFLICT, "phone %s already belongs to customer #%llu", phone,
			       (unsigned long long)c->id);
		return DISPATCH_REPLY;
	}
	record_init(&rec, PROTO_ENTRY_ENROL, req.key, XXH3_64bits(body, len));
	rec.customer_id = d->model->next_customer_id;
	rec.u.enrol.email = ne;
	rec.u.enrol.phone = np;
	rec.u.enrol.first_name = req.first_name;
	rec.u.enrol.last_name = req.last_name;
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

/* The location a sale is booked at: the request's, else the key's, else the default. */
static int sale_location(const struct dispatch_session *sess, struct proto_str asked, struct proto_str *loc,
			 struct dispatch_out *out)
{
	struct proto_str own = proto_str_c(sess->location);

	if (sess->role == PROTO_ROLE_TERMINAL && asked.len &&
	    (asked.len != own.len || memcmp(asked.ptr, own.ptr, own.len) != 0)) {
		dispatch_error(out, PROTO_ST_FORBIDDEN, "this terminal key is bound to location \"%s\", not \"%.*s\"",
			       sess->location, (int)asked.len, asked.ptr);
		return -1;
	}
	if (asked.len)
		*loc = asked;
	else if (own.len)
		*loc = own;
	else
		*loc = proto_str_c(MODEL_DEFAULT_LOCATION);
	if (has_control(*loc)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "location must not contain control characters");
		return -1;
	}
	return 0;
}

static enum dispatch_action op_accrue(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body,
				      size_t len, struct dispatch_out *out)
{
	struct proto_accrue_req req;
	struct model_customer *c;
	const struct model_order *o;
	struct proto_str loc;
	struct record rec;
	int64_t points, balance, spend;
	uint64_t seq, hash = XXH3_64bits(body, len);

	if (proto_accrue_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ACCRUE body");
		return DISPATCH_REPLY;
	}
	if (check_request_key(d, PROTO_OP_ACCRUE, req.key, hash, out))
		return DISPATCH_REPLY;
	if (sale_location(sess, req.location, &loc, out))
		return DISPATCH_REPLY;
	if (!req.order_id.len || has_control(req.order_id)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "an order id is required (printable text)");
		return DISPATCH_REPLY;
	}
	if (req.amount <= 0) {
		dispatch_error(out, PROTO_ST_RANGE, "sale amount must be positive, in minor units (got %lld)",
			       (long long)req.amount);
		return DISPATCH_REPLY;
	}
	if (!(c = find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	if ((o = model_order_find(d->model, loc, req.order_id))) {
		depend(out, o->seq);
		dispatch_error(out, PROTO_ST_DUPLICATE_ORDER,
			       "order \"%.*s\" at location \"%.*s\" was already accrued (journal entry %llu)",
			       (int)req.order_id.len, req.order_id.ptr, (int)loc.len, loc.ptr, (unsigned long long)o->seq);
		return DISPATCH_REPLY;
	}
	if (rules_points_for_sale(&d->rules, req.amount, &points) || rules_add(c->balance, points, &balance) ||
	    rules_add(c->lifetime_points, points, &spend) || rules_add(c->total_spend, req.amount, &spend)) {
		depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_RANGE, "sale amount %lld is out of range for this customer",
			       (long long)req.amount);
		return DISPATCH_REPLY;
	}
	record_init(&rec, PROTO_ENTRY_ACCRUE, req.key, hash);
	rec.customer_id = c->id;
	rec.prev_seq = c->last_seq;
	rec.u.accrue.location = loc;
	rec.u.accrue.order_id = req.order_id;
	rec.u.accrue.amount = req.amount;
	rec.u.accrue.points = points;
	rec.u.accrue.balance_after = balance;
	if (!(seq = commit_record(d, &rec, out)))
		return DISPATCH_REPLY;
	reply_change(out, c, seq, points);
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
};

static int history_entry(void *ctx, uint64_t seq, const struct record *rec)
{
	struct history_walk *hw = ctx;
	struct proto_entry e;
	size_t mark = hw->w.len;

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
	if (store_walk_chain(d->store, c->last_seq, history_entry, &hw)) {
		dispatch_error(out, PROTO_ST_STORAGE, "cannot read the journal of customer #%llu", (unsigned long long)c->id);
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

static int is_mutation(uint8_t opcode)
{
	switch (opcode) {
	case PROTO_OP_ENROL:
	case PROTO_OP_ACCRUE:
	case PROTO_OP_ADJUST:
	case PROTO_OP_KEY_CREATE:
	case PROTO_OP_KEY_REVOKE:
		return 1;
	}
	return 0;
}

/* Whether role may run opcode. */
static int allowed(uint8_t role, uint8_t opcode)
{
	switch (opcode) {
	case PROTO_OP_PING:
	case PROTO_OP_LOOKUP:
	case PROTO_OP_HISTORY:
		return 1;
	case PROTO_OP_ENROL:
	case PROTO_OP_ACCRUE:
		return role == PROTO_ROLE_ADMIN || role == PROTO_ROLE_TERMINAL;
	default:
		return role == PROTO_ROLE_ADMIN;
	}
}

enum dispatch_action dispatch_request(struct dispatch *d, struct dispatch_session *sess, const struct proto_header *h,
				      const uint8_t *body, struct dispatch_out *out)
{
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
	switch (h->opcode) {
	case PROTO_OP_PING:
	case PROTO_OP_ENROL:
	case PROTO_OP_LOOKUP:
	case PROTO_OP_ACCRUE:
	case PROTO_OP_ADJUST:
	case PROTO_OP_HISTORY:
	case PROTO_OP_KEY_CREATE:
	case PROTO_OP_KEY_LIST:
	case PROTO_OP_KEY_REVOKE:
		break;
	default:
		dispatch_error(out, PROTO_ST_UNSUPPORTED, "opcode 0x%02x is not supported", h->opcode);
		return DISPATCH_REPLY;
	}
	if (!allowed(sess->role, h->opcode)) {
		dispatch_error(out, PROTO_ST_FORBIDDEN, "a %s key may not %s", proto_role_name(sess->role),
			       proto_opcode_name(h->opcode));
		return DISPATCH_REPLY;
	}
	if (is_mutation(h->opcode)) {
		if (d->shutting_down) {
			dispatch_error(out, PROTO_ST_SHUTTING_DOWN, "the server is stopping; retry shortly");
			return DISPATCH_REPLY;
		}
		if (!store_has_room(d->store))
			return DISPATCH_BLOCKED;
	}
	switch (h->opcode) {
	case PROTO_OP_PING:
		if (len) {
			dispatch_error(out, PROTO_ST_BAD_REQUEST, "PING has an empty body");
			return DISPATCH_REPLY;
		}
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
		if (len) {
			dispatch_error(out, PROTO_ST_BAD_REQUEST, "KEY_LIST has an empty body");
			return DISPATCH_REPLY;
		}
		return op_key_list(d, out);
	default:
		return op_key_revoke(d, body, len, out);
	}
}
