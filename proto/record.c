/*
 * record.c - journal records and checkpoint snapshots (see record.h).
 */
#include "record.h"

#include <stddef.h>
#include <xxhash.h>

void record_key_u64(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t record_key_u64_read(const uint8_t in[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

const char *record_errstr(int err)
{
	switch (err) {
	case 0: return "ok";
	case RECORD_E_SHORT: return "record truncated";
	case RECORD_E_CHECKSUM: return "record checksum mismatch";
	case RECORD_E_FORMAT: return "record of unknown type or format";
	}
	return proto_errstr(err);
}

static int lines_fit(uint16_t n, const struct record_line *lines)
{
	if (n > PROTO_MAX_LINES)
		return 0;
	for (uint16_t i = 0; i < n; i++)
		if (lines[i].sku.len > PROTO_MAX_SKU || lines[i].category.len > PROTO_MAX_CATEGORY)
			return 0;
	return 1;
}

/*
 * Whether every string of rec is within the limit its decoder enforces: an
 * encoder must never write what recovery would refuse to read.
 */
static int record_fits(const struct record *rec)
{
	switch (rec->type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN:
		return rec->u.enrol.member <= 1 && rec->u.enrol.email.len <= PROTO_MAX_EMAIL && rec->u.enrol.phone.len <= PROTO_MAX_PHONE &&
		       rec->u.enrol.first_name.len <= PROTO_MAX_NAME && rec->u.enrol.last_name.len <= PROTO_MAX_NAME;
	case PROTO_ENTRY_ACCRUE:
		return rec->u.accrue.location.len <= PROTO_MAX_LOCATION && rec->u.accrue.order_id.len <= PROTO_MAX_ORDER &&
		       lines_fit(rec->u.accrue.nlines, rec->u.accrue.lines);
	case PROTO_ENTRY_RETURN:
		return rec->u.ret.full <= 1 && rec->u.ret.location.len <= PROTO_MAX_LOCATION && rec->u.ret.order_id.len <= PROTO_MAX_ORDER &&
		       lines_fit(rec->u.ret.nlines, rec->u.ret.lines);
	case PROTO_ENTRY_PROGRAM:
		return rec->u.program.name.len <= PROTO_MAX_SETTING_KEY && rec->u.program.value.len <= PROTO_MAX_SETTING_VALUE;
	case PROTO_ENTRY_GROUP:
		return rec->u.group.add <= 1 && rec->u.group.group.len <= PROTO_MAX_GROUP;
	case PROTO_ENTRY_TIER:
		return rec->u.tier.tier.len <= PROTO_MAX_TIER && rec->u.tier.note.len <= PROTO_MAX_REASON;
	case PROTO_ENTRY_ADJUST:
		return rec->u.adjust.reason.len <= PROTO_MAX_REASON && rec->u.adjust.comment.len <= PROTO_MAX_REASON;
	case PROTO_ENTRY_KEY_CREATE:
		return rec->u.key_create.location.len <= PROTO_MAX_LOCATION;
	}
	return 1;
}

static int customer_fits(const struct proto_customer *c)
{
	if (c->member > 1 || c->ngroups > PROTO_MAX_GROUPS || c->tier.len > PROTO_MAX_TIER)
		return 0;
	for (uint8_t i = 0; i < c->ngroups; i++)
		if (c->groups[i].len > PROTO_MAX_GROUP)
			return 0;
	return c->email.len <= PROTO_MAX_EMAIL && c->phone.len <= PROTO_MAX_PHONE && c->first_name.len <= PROTO_MAX_NAME &&
	       c->last_name.len <= PROTO_MAX_NAME;
}

static void rlines_put(struct proto_wbuf *w, uint16_t n, const struct record_line *lines)
{
	proto_put_u16(w, n);
	for (uint16_t i = 0; i < n; i++) {
		proto_put_str(w, lines[i].sku);
		proto_put_str(w, lines[i].category);
		proto_put_i64(w, lines[i].qty);
		proto_put_i64(w, lines[i].amount);
		proto_put_i64(w, lines[i].earned);
	}
}

static uint16_t rlines_get(struct proto_rbuf *r, struct record_line *lines)
{
	uint16_t n = proto_get_u16(r);

	if (n > PROTO_MAX_LINES) {
		if (!r->error)
			r->error = PROTO_E_FIELD;
		return 0;
	}
	for (uint16_t i = 0; i < n && !r->error; i++) {
		lines[i].sku = proto_get_str(r, PROTO_MAX_SKU);
		lines[i].category = proto_get_str(r, PROTO_MAX_CATEGORY);
		lines[i].qty = proto_get_i64(r);
		lines[i].amount = proto_get_i64(r);
		lines[i].earned = proto_get_i64(r);
	}
	return n;
}

static void put_payload(struct proto_wbuf *w, const struct record *rec)
{
	switch (rec->type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN:
		proto_put_str(w, rec->u.enrol.email);
		proto_put_str(w, rec->u.enrol.phone);
		proto_put_str(w, rec->u.enrol.first_name);
		proto_put_str(w, rec->u.enrol.last_name);
		proto_put_u8(w, rec->u.enrol.member);
		break;
	case PROTO_ENTRY_ACCRUE:
		proto_put_str(w, rec->u.accrue.location);
		proto_put_str(w, rec->u.accrue.order_id);
		proto_put_i64(w, rec->u.accrue.amount);
		proto_put_i64(w, rec->u.accrue.points);
		proto_put_i64(w, rec->u.accrue.balance_after);
		proto_put_u32(w, rec->u.accrue.multiplier);
		rlines_put(w, rec->u.accrue.nlines, rec->u.accrue.lines);
		break;
	case PROTO_ENTRY_RETURN:
		proto_put_str(w, rec->u.ret.location);
		proto_put_str(w, rec->u.ret.order_id);
		proto_put_u64(w, rec->u.ret.sale_seq);
		proto_put_u64(w, rec->u.ret.prev_return_seq);
		proto_put_i64(w, rec->u.ret.refunded);
		proto_put_i64(w, rec->u.ret.taken);
		proto_put_i64(w, rec->u.ret.applied);
		proto_put_i64(w, rec->u.ret.balance_after);
		proto_put_u8(w, rec->u.ret.full);
		rlines_put(w, rec->u.ret.nlines, rec->u.ret.lines);
		break;
	case PROTO_ENTRY_PROGRAM:
		proto_put_str(w, rec->u.program.name);
		proto_put_str(w, rec->u.program.value);
		break;
	case PROTO_ENTRY_GROUP:
		proto_put_u8(w, rec->u.group.add);
		proto_put_str(w, rec->u.group.group);
		break;
	case PROTO_ENTRY_TIER:
		proto_put_str(w, rec->u.tier.tier);
		proto_put_str(w, rec->u.tier.note);
		break;
	case PROTO_ENTRY_ADJUST:
		proto_put_i64(w, rec->u.adjust.points);
		proto_put_i64(w, rec->u.adjust.balance_after);
		proto_put_str(w, rec->u.adjust.reason);
		proto_put_str(w, rec->u.adjust.comment);
		break;
	case PROTO_ENTRY_KEY_CREATE:
		proto_put_u64(w, rec->u.key_create.key_id);
		proto_put_u8(w, rec->u.key_create.role);
		proto_put_str(w, rec->u.key_create.location);
		proto_put_bytes(w, rec->u.key_create.hash, RECORD_HASH_SIZE);
		break;
	case PROTO_ENTRY_KEY_REVOKE:
		proto_put_u64(w, rec->u.key_revoke.key_id);
		break;
	default:
		w->overflow = 1;
	}
}

size_t record_encode(uint8_t *out, size_t cap, uint64_t seq, const struct record *rec)
{
	struct proto_wbuf w;

	if (!record_fits(rec))
		return 0;
	proto_wbuf_init(&w, out, cap);
	proto_put_u8(&w, rec->type);
	proto_put_u8(&w, RECORD_FORMAT);
	proto_put_i64(&w, rec->time_us);
	proto_put_u64(&w, rec->customer_id);
	proto_put_u64(&w, rec->prev_seq);
	proto_put_bytes(&w, rec->request_key, PROTO_KEY_SIZE);
	proto_put_u64(&w, rec->body_hash);
	put_payload(&w, rec);
	if (w.overflow)
		return 0;
	proto_put_u64(&w, XXH3_64bits_withSeed(out, w.len, seq));
	return w.overflow ? 0 : w.len;
}

int record_decode(const uint8_t *buf, size_t len, uint64_t seq, struct record *rec)
{
	struct proto_rbuf r;
	uint64_t sum;

	if (len < 8 + 2)
		return RECORD_E_SHORT;
	proto_rbuf_init(&r, buf + len - 8, 8);
	sum = proto_get_u64(&r);
	if (XXH3_64bits_withSeed(buf, len - 8, seq) != sum)
		return RECORD_E_CHECKSUM;

	/* Only the header: each type's decoder sets every field of its own,
	 * and the line arrays (14 KiB) are read only up to nlines. */
	memset(rec, 0, offsetof(struct record, u));
	proto_rbuf_init(&r, buf, len - 8);
	rec->type = proto_get_u8(&r);
	if (proto_get_u8(&r) != RECORD_FORMAT)
		return RECORD_E_FORMAT;
	rec->time_us = proto_get_i64(&r);
	rec->customer_id = proto_get_u64(&r);
	rec->prev_seq = proto_get_u64(&r);
	proto_get_bytes(&r, rec->request_key, PROTO_KEY_SIZE);
	rec->body_hash = proto_get_u64(&r);
	switch (rec->type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN:
		rec->u.enrol.email = proto_get_str(&r, PROTO_MAX_EMAIL);
		rec->u.enrol.phone = proto_get_str(&r, PROTO_MAX_PHONE);
		rec->u.enrol.first_name = proto_get_str(&r, PROTO_MAX_NAME);
		rec->u.enrol.last_name = proto_get_str(&r, PROTO_MAX_NAME);
		rec->u.enrol.member = proto_get_u8(&r);
		break;
	case PROTO_ENTRY_ACCRUE:
		rec->u.accrue.location = proto_get_str(&r, PROTO_MAX_LOCATION);
		rec->u.accrue.order_id = proto_get_str(&r, PROTO_MAX_ORDER);
		rec->u.accrue.amount = proto_get_i64(&r);
		rec->u.accrue.points = proto_get_i64(&r);
		rec->u.accrue.balance_after = proto_get_i64(&r);
		rec->u.accrue.multiplier = proto_get_u32(&r);
		rec->u.accrue.nlines = rlines_get(&r, rec->u.accrue.lines);
		break;
	case PROTO_ENTRY_RETURN:
		rec->u.ret.location = proto_get_str(&r, PROTO_MAX_LOCATION);
		rec->u.ret.order_id = proto_get_str(&r, PROTO_MAX_ORDER);
		rec->u.ret.sale_seq = proto_get_u64(&r);
		rec->u.ret.prev_return_seq = proto_get_u64(&r);
		rec->u.ret.refunded = proto_get_i64(&r);
		rec->u.ret.taken = proto_get_i64(&r);
		rec->u.ret.applied = proto_get_i64(&r);
		rec->u.ret.balance_after = proto_get_i64(&r);
		rec->u.ret.full = proto_get_u8(&r);
		rec->u.ret.nlines = rlines_get(&r, rec->u.ret.lines);
		break;
	case PROTO_ENTRY_PROGRAM:
		rec->u.program.name = proto_get_str(&r, PROTO_MAX_SETTING_KEY);
		rec->u.program.value = proto_get_str(&r, PROTO_MAX_SETTING_VALUE);
		break;
	case PROTO_ENTRY_GROUP:
		rec->u.group.add = proto_get_u8(&r);
		rec->u.group.group = proto_get_str(&r, PROTO_MAX_GROUP);
		break;
	case PROTO_ENTRY_TIER:
		rec->u.tier.tier = proto_get_str(&r, PROTO_MAX_TIER);
		rec->u.tier.note = proto_get_str(&r, PROTO_MAX_REASON);
		break;
	case PROTO_ENTRY_ADJUST:
		rec->u.adjust.points = proto_get_i64(&r);
		rec->u.adjust.balance_after = proto_get_i64(&r);
		rec->u.adjust.reason = proto_get_str(&r, PROTO_MAX_REASON);
		rec->u.adjust.comment = proto_get_str(&r, PROTO_MAX_REASON);
		break;
	case PROTO_ENTRY_KEY_CREATE:
		rec->u.key_create.key_id = proto_get_u64(&r);
		rec->u.key_create.role = proto_get_u8(&r);
		rec->u.key_create.location = proto_get_str(&r, PROTO_MAX_LOCATION);
		proto_get_bytes(&r, rec->u.key_create.hash, RECORD_HASH_SIZE);
		break;
	case PROTO_ENTRY_KEY_REVOKE:
		rec->u.key_revoke.key_id = proto_get_u64(&r);
		break;
	default:
		return RECORD_E_FORMAT;
	}
	if (r.error == PROTO_E_BODY)
		return RECORD_E_SHORT;
	/* Flag bytes are 0 or 1, as the encoder writes them. */
	if (!r.error && (((rec->type == PROTO_ENTRY_ENROL || rec->type == PROTO_ENTRY_JOIN) && rec->u.enrol.member > 1) ||
			 (rec->type == PROTO_ENTRY_GROUP && rec->u.group.add > 1) ||
			 (rec->type == PROTO_ENTRY_RETURN && rec->u.ret.full > 1)))
		return RECORD_E_FORMAT;
	return proto_rbuf_finish(&r) ? RECORD_E_FORMAT : 0;
}

/* ---- snapshots ------------------------------------------------------- */

int record_customer_encode(struct proto_wbuf *w, const struct record_customer *s)
{
	if (!customer_fits(&s->c))
		return PROTO_E_FIELD;
	proto_put_u8(w, RECORD_FORMAT);
	proto_customer_put(w, &s->c);
	proto_put_u64(w, s->last_seq);
	return w->overflow ? PROTO_E_SPACE : 0;
}

int record_customer_decode(const uint8_t *b, size_t n, struct record_customer *s)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	if (proto_get_u8(&r) != RECORD_FORMAT)
		return RECORD_E_FORMAT;
	proto_customer_get(&r, &s->c);
	s->last_seq = proto_get_u64(&r);
	return proto_rbuf_finish(&r);
}

int record_order_encode(struct proto_wbuf *w, const struct record_order *s)
{
	proto_put_u64(w, s->customer_id);
	proto_put_u64(w, s->seq);
	proto_put_i64(w, s->amount);
	proto_put_i64(w, s->points);
	proto_put_i64(w, s->refunded);
	proto_put_i64(w, s->taken_back);
	proto_put_u64(w, s->last_return_seq);
	if (s->key.len > PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER)
		return PROTO_E_FIELD;
	proto_put_str(w, s->key);
	return w->overflow ? PROTO_E_SPACE : 0;
}

int record_order_decode(const uint8_t *b, size_t n, struct record_order *s)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	s->customer_id = proto_get_u64(&r);
	s->seq = proto_get_u64(&r);
	s->amount = proto_get_i64(&r);
	s->points = proto_get_i64(&r);
	s->refunded = proto_get_i64(&r);
	s->taken_back = proto_get_i64(&r);
	s->last_return_seq = proto_get_u64(&r);
	s->key = proto_get_str(&r, PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER);
	return proto_rbuf_finish(&r);
}

int record_request_encode(struct proto_wbuf *w, const struct record_request *s)
{
	proto_put_u8(w, s->opcode);
	proto_put_u64(w, s->body_hash);
	proto_put_u64(w, s->seq);
	proto_put_u64(w, s->object_id);
	proto_put_i64(w, s->value);
	proto_put_bytes(w, s->key, PROTO_KEY_SIZE);
	return w->overflow ? PROTO_E_SPACE : 0;
}

int record_request_decode(const uint8_t *b, size_t n, struct record_request *s)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	s->opcode = proto_get_u8(&r);
	s->body_hash = proto_get_u64(&r);
	s->seq = proto_get_u64(&r);
	s->object_id = proto_get_u64(&r);
	s->value = proto_get_i64(&r);
	proto_get_bytes(&r, s->key, PROTO_KEY_SIZE);
	return proto_rbuf_finish(&r);
}

int record_apikey_encode(struct proto_wbuf *w, const struct record_apikey *s)
{
	if (s->location.len > PROTO_MAX_LOCATION)
		return PROTO_E_FIELD;
	proto_put_u8(w, s->role);
	proto_put_u8(w, s->revoked);
	proto_put_i64(w, s->created_us);
	proto_put_str(w, s->location);
	proto_put_bytes(w, s->hash, RECORD_HASH_SIZE);
	return w->overflow ? PROTO_E_SPACE : 0;
}

int record_apikey_decode(const uint8_t *b, size_t n, struct record_apikey *s)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	s->role = proto_get_u8(&r);
	s->revoked = proto_get_u8(&r);
	s->created_us = proto_get_i64(&r);
	s->location = proto_get_str(&r, PROTO_MAX_LOCATION);
	proto_get_bytes(&r, s->hash, RECORD_HASH_SIZE);
	return proto_rbuf_finish(&r);
}
