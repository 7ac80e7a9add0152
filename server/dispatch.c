/*
 * dispatch.c - the opcode table, the entry point, and the helpers every
 * handler shares (see dispatch.h and dispatch_ops.h).
 */
#include "dispatch.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "dispatch_ops.h"

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

void dispatch_depend(struct dispatch_out *out, uint64_t seq)
{
	if (seq > out->wait_seq)
		out->wait_seq = seq;
}

void dispatch_reply_customer(struct dispatch_out *out, const struct model_customer *c)
{
	struct proto_customer v;
	struct proto_wbuf w;

	model_customer_view(c, &v);
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_customer_rep_encode(&w, &v);
	out->len = w.len;
	dispatch_depend(out, c->last_seq);
}

void dispatch_reply_change(struct dispatch_out *out, const struct model_customer *c, uint64_t seq, int64_t points)
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
	dispatch_depend(out, c->last_seq);
	dispatch_depend(out, seq);
}

void dispatch_reply_empty(struct dispatch_out *out)
{
	struct proto_wbuf w;

	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	out->len = w.len;
}

void dispatch_pairs_begin(struct dispatch_pairs *p, struct dispatch_out *out)
{
	proto_wbuf_init(&p->w, out->body, out->cap);
	proto_reply_put_status(&p->w, PROTO_OK);
	p->count_at = p->w.len;
	proto_program_rep_put_header(&p->w, 0);
	p->n = 0;
}

void dispatch_pairs_put(struct dispatch_pairs *p, const char *name, const char *value)
{
	proto_setting_put(&p->w, proto_str_c(name), proto_str_c(value));
	p->n++;
}

void dispatch_pairs_end(struct dispatch_pairs *p, struct dispatch_out *out, const char *what)
{
	if (p->w.overflow) {
		dispatch_error(out, PROTO_ST_INTERNAL, "%s do not fit a reply", what);
		return;
	}
	out->body[p->count_at] = (uint8_t)p->n;
	out->body[p->count_at + 1] = (uint8_t)(p->n >> 8);
	out->len = p->w.len;
}

int dispatch_has_control(struct proto_str s)
{
	for (uint32_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.ptr[i];
		if (ch < 0x20 || ch == 0x7f)
			return 1;
	}
	return 0;
}

const char *dispatch_money_text(int64_t minor, char *buf, size_t cap)
{
	uint64_t v = minor < 0 ? -(uint64_t)minor : (uint64_t)minor;
	snprintf(buf, cap, "%s%llu.%02llu", minor < 0 ? "-" : "", (unsigned long long)(v / 100),
		 (unsigned long long)(v % 100));
	return buf;
}

const char *dispatch_time_text(int64_t us, char *buf, size_t cap)
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;

	if (!gmtime_r(&secs, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, cap, "%lld us", (long long)us);
	return buf;
}

const char *dispatch_ref_text(const struct proto_ref *ref, char *buf, size_t cap)
{
	if (ref->kind == PROTO_REF_ID)
		snprintf(buf, cap, "#%llu", (unsigned long long)ref->id);
	else if (ref->kind == PROTO_REF_CARD)
		snprintf(buf, cap, "with card %.*s", (int)ref->text.len, ref->text.ptr);
	else
		snprintf(buf, cap, "%.*s", (int)ref->text.len, ref->text.ptr);
	return buf;
}

struct model_customer *dispatch_find_customer(struct dispatch *d, const struct proto_ref *ref, struct dispatch_out *out)
{
	struct model_customer *c = dispatch_find_any_customer(d, ref, out);

	if (c && c->archived) {
		dispatch_archived(out, c);
		return NULL;
	}
	return c;
}

void dispatch_archived(struct dispatch_out *out, const struct model_customer *c)
{
	uint64_t into = model_customer_merged_into(c);

	if (into)
		dispatch_error(out, PROTO_ST_NOT_FOUND, "customer #%llu was merged into #%llu and archived",
			       (unsigned long long)c->id, (unsigned long long)into);
	else
		dispatch_error(out, PROTO_ST_NOT_FOUND, "customer #%llu was archived", (unsigned long long)c->id);
}

struct model_customer *dispatch_find_any_customer(struct dispatch *d, const struct proto_ref *ref,
						  struct dispatch_out *out)
{
	char norm_buf[PROTO_MAX_EMAIL + 1], msg[PROTO_MAX_MESSAGE + 1];
	struct proto_str norm;
	struct model_customer *c;

	if (dispatch_ref_check(d, ref, norm_buf, &norm, msg, sizeof msg)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "%s", msg);
		return NULL;
	}
	if (ref->kind == PROTO_REF_ID)
		c = model_customer_by_id(d->model, ref->id);
	else if (ref->kind == PROTO_REF_EMAIL)
		c = model_customer_by_email(d->model, norm);
	else if (ref->kind == PROTO_REF_CARD)
		c = model_customer_by_card(d->model, norm);
	else
		c = model_customer_by_phone(d->model, norm);
	if (!c) {
		/* The form searched for, so that "555 010 0001" read in the wrong
		 * country is seen to have been. */
		if (ref->kind == PROTO_REF_ID)
			dispatch_error(out, PROTO_ST_NOT_FOUND, "no customer #%llu", (unsigned long long)ref->id);
		else
			dispatch_error(out, PROTO_ST_NOT_FOUND, "no customer with %s %.*s",
				       ref->kind == PROTO_REF_EMAIL  ? "email"
				       : ref->kind == PROTO_REF_CARD ? "card"
								     : "phone",
				       (int)norm.len, norm.ptr);
	}
	return c;
}

int dispatch_ref_check(const struct dispatch *d, const struct proto_ref *ref, char buf[PROTO_MAX_EMAIL + 1],
		       struct proto_str *norm, char *msg, size_t cap)
{
	int rc = model_ref_normalise(d->model, ref, buf, norm);

	if (rc == 0)
		return 0;
	if (rc == MODEL_PHONE_NO_COUNTRY)
		dispatch_phone_no_country(ref->text, msg, cap);
	else if (ref->kind == PROTO_REF_EMAIL)
		snprintf(msg, cap, "\"%.*s\" is not a valid email address", (int)ref->text.len, ref->text.ptr);
	else if (ref->kind == PROTO_REF_CARD)
		snprintf(msg, cap, "\"%.*s\" is not a valid card number (1 to %d letters and digits)", (int)ref->text.len,
			 ref->text.ptr, PROTO_MAX_CARD);
	else
		snprintf(msg, cap, "\"%.*s\" is not a valid phone number (6 to 15 digits)", (int)ref->text.len,
			 ref->text.ptr);
	return -1;
}

void dispatch_phone_no_country(struct proto_str phone, char *msg, size_t cap)
{
	snprintf(msg, cap,
		 "phone \"%.*s\" has no country code: write it with + and the country code (like +44 20 7946 0000), "
		 "or set the program's phone.country",
		 (int)phone.len, phone.ptr);
}

uint16_t dispatch_request_key_lookup(const struct dispatch *d, uint8_t opcode, const uint8_t key[PROTO_KEY_SIZE],
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

int dispatch_batch_begin(struct proto_rbuf *r, uint16_t *count, const char *opname, struct dispatch_out *out)
{
	struct proto_rbuf scan;
	const uint8_t *item;
	size_t item_len;

	if (proto_batch_req_begin(r, count)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed %s body (1 to %d items)", opname, PROTO_MAX_BATCH);
		return -1;
	}
	scan = *r;
	for (uint16_t i = 0; i < *count; i++)
		if (proto_batch_req_next(&scan, &item, &item_len))
			break;
	if (proto_rbuf_finish(&scan)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "%s items are cut short or followed by stray bytes; nothing applied",
			       opname);
		return -1;
	}
	/* An item is OK (status, replay, seq, points, customer, balance: 35
	 * bytes) or refused (status, replay, message: 5 + at most 96). */
	size_t item_max = 3 + 2 + DISPATCH_BATCH_MESSAGE_MAX > 3 + 32 ? 3 + 2 + DISPATCH_BATCH_MESSAGE_MAX : 3 + 32;
	if (4 + (size_t)*count * item_max > out->cap) {
		dispatch_error(out, PROTO_ST_RANGE, "a batch of %u items may not fit one reply; send fewer", *count);
		return -1;
	}
	return 0;
}

uint64_t dispatch_commit_record(struct dispatch *d, struct record *rec, struct dispatch_out *out)
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
void dispatch_record_init(struct record *rec, uint8_t type, const uint8_t key[PROTO_KEY_SIZE], uint64_t body_hash)
{
	memset(rec, 0, offsetof(struct record, u));
	rec->type = type;
	rec->time_us = dispatch_now_us();
	memcpy(rec->request_key, key, PROTO_KEY_SIZE);
	rec->body_hash = body_hash;
}

enum dispatch_action dispatch_continue(struct dispatch *d, struct dispatch_cont *k, struct dispatch_out *out)
{
	enum dispatch_action a;

	out->len = 0;
	out->flags = 0;
	out->wait_seq = 0;
	out->cont = NULL;
	a = k->step(d, k, out);
	if (a == DISPATCH_CONTINUE)
		out->cont = k;
	else
		k->free(k);
	return a;
}

void dispatch_cont_free(struct dispatch_cont *k)
{
	if (k)
		k->free(k);
}

int dispatch_session_valid(const struct dispatch *d, const struct dispatch_session *sess)
{
	const struct model_apikey *k;

	if (!sess->authed)
		return 1;
	k = model_apikey_find(d->model, sess->key_id);
	return k && !k->revoked;
}

int dispatch_init(struct dispatch *d, struct model *m, struct store *s, uint32_t max_inflight)
{
	memset(d, 0, sizeof *d);
	d->model = m;
	d->store = s;
	d->max_body = PROTO_MAX_BODY_DEFAULT;
	d->max_inflight = max_inflight;
	d->scratch = calloc(1, sizeof *d->scratch);
	return d->scratch ? 0 : -1;
}

void dispatch_free(struct dispatch *d)
{
	free(d->scratch);
	d->scratch = NULL;
}

/* ---- replays --------------------------------------------------------------- */

/*
 * How a replay of each mutation is answered from what the request key
 * remembers (the seq, the object it made or changed, the points). Return 0,
 * or -1 if the object no longer exists.
 */
typedef int op_replay(struct dispatch *d, const struct model_request *q, struct dispatch_out *out);

static int replay_customer(struct dispatch *d, const struct model_request *q, struct dispatch_out *out)
{
	const struct model_customer *c = model_customer_by_id(d->model, q->object_id);

	if (!c)
		return -1;
	dispatch_reply_customer(out, c);
	return 0;
}

static int replay_change(struct dispatch *d, const struct model_request *q, struct dispatch_out *out)
{
	const struct model_customer *c = model_customer_by_id(d->model, q->object_id);

	if (!c)
		return -1;
	dispatch_reply_change(out, c, q->seq, q->value);
	return 0;
}

static int replay_empty(struct dispatch *d, const struct model_request *q, struct dispatch_out *out)
{
	dispatch_reply_empty(out);
	return 0;
}

static int replay_key_create(struct dispatch *d, const struct model_request *q, struct dispatch_out *out)
{
	const struct model_apikey *k = model_apikey_find(d->model, q->object_id);
	struct proto_key_create_rep r;
	struct proto_wbuf w;

	if (!k)
		return -1;
	/* The secret was shown once, with the original reply. */
	r.key_id = k->id;
	r.role = k->role;
	r.location = proto_str_c(k->location);
	r.secret = proto_str_c("");
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_key_create_rep_encode(&w, &r);
	out->len = w.len;
	return 0;
}

static enum dispatch_action op_ping(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
				    struct dispatch_out *out)
{
	dispatch_reply_empty(out);
	return DISPATCH_REPLY;
}

/* ---- the opcode table --------------------------------------------------------- */

#define ROLE_BIT(r) (1u << (r))
#define ANY_ROLE (ROLE_BIT(PROTO_ROLE_ADMIN) | ROLE_BIT(PROTO_ROLE_TERMINAL) | ROLE_BIT(PROTO_ROLE_READONLY))
#define SELLERS (ROLE_BIT(PROTO_ROLE_ADMIN) | ROLE_BIT(PROTO_ROLE_TERMINAL))
#define ADMIN ROLE_BIT(PROTO_ROLE_ADMIN)
/* Who may list and export the customer base: not a till. */
#define BOOK_READERS (ROLE_BIT(PROTO_ROLE_ADMIN) | ROLE_BIT(PROTO_ROLE_READONLY))

enum op_flag {
	OP_MUTATION = 1,   /* changes the ledger: refused while stopping, waits for room in the batch */
	OP_EMPTY_BODY = 2, /* its body must be empty */
	OP_HELLO = 4,      /* the one opcode of an unauthenticated connection, and only there */
};

struct op_info {
	uint8_t opcode;
	uint8_t roles; /* ROLE_BIT of each role that may send it */
	uint8_t flags; /* enum op_flag */
	const char *name;
	op_handler *handler;
	/* How a replay is answered by dispatch_check_request_key; NULL where the
	 * handler answers its replays itself (ACCRUE, ACCRUE_BATCH, RETURN) or
	 * the opcode changes nothing. */
	op_replay *replay;
	/* What it does, as a refusal says it to a person ("a terminal key may
	 * not add or use points by hand"), not the wire name. */
	const char *what;
};

#define OP(NAME, roles, flags, handler, replay, what) \
	[PROTO_OP_##NAME] = {PROTO_OP_##NAME, roles, flags, #NAME, handler, replay, what}

/* Every opcode after HELLO, one row each: who may send it, what it is, what
 * handles it. Indexed by opcode; a row with no handler is not an opcode. */
static const struct op_info op_table[256] = {
	OP(HELLO, 0, OP_HELLO, op_hello, NULL, "say HELLO"),
	OP(PING, ANY_ROLE, OP_EMPTY_BODY, op_ping, NULL, "ping"),
	OP(ENROL, SELLERS, OP_MUTATION, op_enrol, replay_customer, "enrol customers"),
	OP(LOOKUP, ANY_ROLE, 0, op_lookup, NULL, "look customers up"),
	OP(ACCRUE, SELLERS, OP_MUTATION, op_accrue, NULL, "accrue sales"),
	OP(ADJUST, ADMIN, OP_MUTATION, op_adjust, replay_change, "add or use points by hand"),
	OP(HISTORY, ANY_ROLE, 0, op_history, NULL, "read a customer's history"),
	OP(RETURN, SELLERS, OP_MUTATION, op_return, NULL, "record returns"),
	OP(QUOTE, ANY_ROLE, 0, op_quote, NULL, "quote sales"),
	OP(ACCRUE_BATCH, SELLERS, OP_MUTATION, op_accrue_batch, NULL, "accrue batches of sales"),
	OP(ORDER, ANY_ROLE, 0, op_order, NULL, "look orders up"),
	OP(GROUP, ADMIN, OP_MUTATION, op_group, replay_customer, "change a customer's groups"),
	OP(TIER, ADMIN, OP_MUTATION, op_tier, replay_customer, "change a customer's tier"),
	OP(KEY_CREATE, ADMIN, OP_MUTATION, op_key_create, replay_key_create, "create API keys"),
	OP(KEY_LIST, ADMIN, OP_EMPTY_BODY, op_key_list, NULL, "list API keys"),
	OP(KEY_REVOKE, ADMIN, OP_MUTATION, op_key_revoke, replay_empty, "revoke API keys"),
	OP(PROGRAM_GET, ANY_ROLE, OP_EMPTY_BODY, op_program_get, NULL, "read the program"),
	OP(PROGRAM_SET, ADMIN, OP_MUTATION, op_program_set, replay_empty, "change the program"),
	OP(STATS, ANY_ROLE, OP_EMPTY_BODY, op_stats, NULL, "read the daemon's figures"),
	OP(CUSTOMERS, BOOK_READERS, 0, op_customers, NULL, "list or export the customer base"),
	OP(ADJUST_BATCH, ADMIN, OP_MUTATION, op_adjust_batch, NULL, "add or use points in batches"),
	OP(EDIT, ADMIN, OP_MUTATION, op_edit, replay_customer, "edit customers"),
	OP(CARD, ADMIN, OP_MUTATION, op_card, replay_customer, "link or unlink loyalty cards"),
	OP(OPTOUT, SELLERS, OP_MUTATION, op_optout, replay_customer, "record marketing opt-outs"),
	OP(ARCHIVE, ADMIN, OP_MUTATION, op_archive, replay_customer, "archive customers"),
	OP(MERGE, ADMIN, OP_MUTATION, op_merge, replay_customer, "merge customers"),
	OP(GROUPS, BOOK_READERS, 0, op_groups, NULL, "list the groups"),
	OP(GROUP_RENAME, ADMIN, OP_MUTATION, op_group_rename, NULL, "rename groups"),
	OP(LOCATIONS, BOOK_READERS, 0, op_locations, NULL, "list the locations"),
};

static const struct op_info *op_find(uint8_t opcode)
{
	return op_table[opcode].handler ? &op_table[opcode] : NULL;
}

int dispatch_check_request_key(struct dispatch *d, uint8_t opcode, const uint8_t key[PROTO_KEY_SIZE],
			       uint64_t body_hash, struct dispatch_out *out)
{
	const struct op_info *op = op_find(opcode);
	const struct model_request *q;
	char msg[160];
	uint16_t status = dispatch_request_key_lookup(d, opcode, key, body_hash, &q, msg, sizeof msg);

	if (q)
		dispatch_depend(out, q->seq);
	if (status) {
		dispatch_error(out, status, "%s", msg);
		return 1;
	}
	if (!q)
		return 0;
	if (!op || !op->replay) {
		/* A handler that answers its own replays does not come here. */
		dispatch_error(out, PROTO_ST_INTERNAL, "no replay for %s", proto_opcode_name(opcode));
		return 1;
	}
	if (op->replay(d, q, out)) {
		dispatch_error(out, PROTO_ST_NOT_FOUND, "the object this request key created no longer exists");
		return 1;
	}
	out->flags |= PROTO_FLAG_REPLAY;
	return 1;
}

enum dispatch_action dispatch_request(struct dispatch *d, struct dispatch_session *sess, const struct proto_header *h,
				      const uint8_t *body, struct dispatch_out *out)
{
	const struct op_info *op = op_find(h->opcode);
	size_t len = h->body_len;

	out->len = 0;
	out->flags = 0;
	out->wait_seq = 0;
	out->cont = NULL;
	if (h->flags & PROTO_FLAG_REPLY) {
		dispatch_error(out, PROTO_ST_PROTOCOL, "a client must not send reply frames; closing connection");
		return DISPATCH_REPLY_CLOSE;
	}
	if (!sess->authed) {
		if (!op || !(op->flags & OP_HELLO)) {
			dispatch_error(out, PROTO_ST_HELLO_REQUIRED, "the first request on a connection must be HELLO");
			return DISPATCH_REPLY_CLOSE;
		}
		return op->handler(d, sess, body, len, out);
	}
	if (!op) {
		dispatch_error(out, PROTO_ST_UNSUPPORTED, "opcode 0x%02x is not supported", h->opcode);
		return DISPATCH_REPLY;
	}
	if (op->flags & OP_HELLO) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "this connection has already said HELLO");
		return DISPATCH_REPLY;
	}
	if (!(op->roles & ROLE_BIT(sess->role))) {
		dispatch_error(out, PROTO_ST_FORBIDDEN, "a %s key may not %s", proto_role_name(sess->role), op->what);
		return DISPATCH_REPLY;
	}
	if ((op->flags & OP_EMPTY_BODY) && len) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "%s has an empty body", op->name);
		return DISPATCH_REPLY;
	}
	if (op->flags & OP_MUTATION) {
		if (d->shutting_down) {
			dispatch_error(out, PROTO_ST_SHUTTING_DOWN, "the server is stopping; retry shortly");
			return DISPATCH_REPLY;
		}
		if (!store_has_room(d->store))
			return DISPATCH_BLOCKED;
	}
	return op->handler(d, sess, body, len, out);
}
