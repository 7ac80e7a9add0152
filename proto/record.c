/*
 * record.c - journal records and checkpoint snapshots (see record.h).
 */
#include "record.h"

#include <stddef.h>
#include <string.h>
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

const char *record_db_name(int db)
{
	static const char *const names[RECORD_DB_COUNT] = {
#define DB_NAME(NAME, name) [RECORD_DB_##NAME] = name,
		RECORD_DBS(DB_NAME)
#undef DB_NAME
	};
	return db >= 0 && db < RECORD_DB_COUNT ? names[db] : NULL;
}

const char *record_errstr(int err)
{
	switch (err) {
	case 0: return "ok";
	case RECORD_E_SHORT: return "record truncated";
	case RECORD_E_CHECKSUM: return "record checksum mismatch";
	case RECORD_E_FORMAT: return "record of unknown type or format";
	case RECORD_E_LENGTH: return "longer than any record can be";
	}
	return proto_errstr(err);
}

static int customer_fits(const struct proto_customer *c)
{
	if (c->member > 1 || c->ngroups > PROTO_MAX_GROUPS || c->tier.len > PROTO_MAX_TIER)
		return 0;
	if (c->opted_out > 1 || c->optout_source.len > PROTO_MAX_OPTOUT_SOURCE || c->ncards > PROTO_MAX_CARDS)
		return 0;
	for (uint8_t i = 0; i < c->ncards; i++)
		if (c->cards[i].len > PROTO_MAX_CARD)
			return 0;
	for (uint8_t i = 0; i < c->ngroups; i++)
		if (c->groups[i].len > PROTO_MAX_GROUP)
			return 0;
	return c->email.len <= PROTO_MAX_EMAIL && c->phone.len <= PROTO_MAX_PHONE && c->first_name.len <= PROTO_MAX_NAME &&
	       c->last_name.len <= PROTO_MAX_NAME;
}

/*
 * A record's payload is moved by one function per payload kind, in the
 * direction a record_io says: written, read, or checked against the limits
 * its reader enforces. The encoder, the decoder and the limit check share
 * that one description of the fields, so they cannot disagree, and a new
 * kind is one function plus its row in PROTO_ENTRIES.
 */
enum record_io_dir {
	IO_PUT, /* encode into w */
	IO_GET, /* decode from r */
	IO_FIT, /* check every field against the limit IO_GET enforces */
};

struct record_io {
	enum record_io_dir dir;
	struct proto_wbuf *w;
	struct proto_rbuf *r;
	int unfit;    /* IO_FIT: a field is over its limit */
	int bad_flag; /* IO_GET: a flag byte is neither 0 nor 1 */
};

static void io_str(struct record_io *io, struct proto_str *s, uint32_t max)
{
	switch (io->dir) {
	case IO_PUT: proto_put_str(io->w, *s); break;
	case IO_GET: *s = proto_get_str(io->r, max); break;
	case IO_FIT: io->unfit |= s->len > max; break;
	}
}

/* A byte that is 0 or 1, as the encoder writes it. */
static void io_flag(struct record_io *io, uint8_t *v)
{
	switch (io->dir) {
	case IO_PUT: proto_put_u8(io->w, *v); break;
	case IO_GET:
		*v = proto_get_u8(io->r);
		io->bad_flag |= *v > 1;
		break;
	case IO_FIT: io->unfit |= *v > 1; break;
	}
}

static void io_u8(struct record_io *io, uint8_t *v)
{
	if (io->dir == IO_PUT)
		proto_put_u8(io->w, *v);
	else if (io->dir == IO_GET)
		*v = proto_get_u8(io->r);
}

static void io_u32(struct record_io *io, uint32_t *v)
{
	if (io->dir == IO_PUT)
		proto_put_u32(io->w, *v);
	else if (io->dir == IO_GET)
		*v = proto_get_u32(io->r);
}

static void io_u64(struct record_io *io, uint64_t *v)
{
	if (io->dir == IO_PUT)
		proto_put_u64(io->w, *v);
	else if (io->dir == IO_GET)
		*v = proto_get_u64(io->r);
}

static void io_i64(struct record_io *io, int64_t *v)
{
	if (io->dir == IO_PUT)
		proto_put_i64(io->w, *v);
	else if (io->dir == IO_GET)
		*v = proto_get_i64(io->r);
}

static void io_bytes(struct record_io *io, uint8_t *p, size_t n)
{
	if (io->dir == IO_PUT)
		proto_put_bytes(io->w, p, n);
	else if (io->dir == IO_GET)
		proto_get_bytes(io->r, p, n);
}

/* A u8 count of at most max; a count over it is unfit or malformed (and read as 0). */
static void io_count(struct record_io *io, uint8_t *n, uint8_t max)
{
	if (io->dir == IO_PUT) {
		proto_put_u8(io->w, *n);
	} else if (io->dir == IO_FIT) {
		io->unfit |= *n > max;
	} else {
		*n = proto_get_u8(io->r);
		if (*n > max) {
			if (!io->r->error)
				io->r->error = PROTO_E_FIELD;
			*n = 0;
		}
	}
}

/* Whether a list can go on: nothing is wrong yet. */
static int io_failed(const struct record_io *io)
{
	return io->unfit || (io->dir == IO_GET && io->r->error);
}

/* A sale's or a return's lines: a u16 count, then each line. */
static void io_lines(struct record_io *io, uint16_t *n, struct record_line *lines)
{
	if (io->dir == IO_GET) {
		*n = proto_get_u16(io->r);
		if (*n > PROTO_MAX_LINES) {
			if (!io->r->error)
				io->r->error = PROTO_E_FIELD;
			*n = 0;
			return;
		}
	} else if (io->dir == IO_PUT) {
		proto_put_u16(io->w, *n);
	} else if (*n > PROTO_MAX_LINES) {
		io->unfit = 1;
		return;
	}
	for (uint16_t i = 0; i < *n && !(io->r && io->r->error); i++) {
		io_str(io, &lines[i].sku, PROTO_MAX_SKU);
		io_str(io, &lines[i].category, PROTO_MAX_CATEGORY);
		io_i64(io, &lines[i].qty);
		io_i64(io, &lines[i].amount);
		io_i64(io, &lines[i].earned);
	}
}

/* ---- one function per payload (PROTO_ENTRIES' payload column) ---------- */

static void payload_enrol(struct record_io *io, struct record *rec)
{
	io_str(io, &rec->u.enrol.email, PROTO_MAX_EMAIL);
	io_str(io, &rec->u.enrol.phone, PROTO_MAX_PHONE);
	io_str(io, &rec->u.enrol.first_name, PROTO_MAX_NAME);
	io_str(io, &rec->u.enrol.last_name, PROTO_MAX_NAME);
	io_flag(io, &rec->u.enrol.member);
}

static void payload_accrue(struct record_io *io, struct record *rec)
{
	io_str(io, &rec->u.accrue.location, PROTO_MAX_LOCATION);
	io_str(io, &rec->u.accrue.order_id, PROTO_MAX_ORDER);
	io_i64(io, &rec->u.accrue.amount);
	io_i64(io, &rec->u.accrue.points);
	io_i64(io, &rec->u.accrue.balance_after);
	io_u32(io, &rec->u.accrue.multiplier);
	io_lines(io, &rec->u.accrue.nlines, rec->u.accrue.lines);
}

static void payload_ret(struct record_io *io, struct record *rec)
{
	io_str(io, &rec->u.ret.location, PROTO_MAX_LOCATION);
	io_str(io, &rec->u.ret.order_id, PROTO_MAX_ORDER);
	io_u64(io, &rec->u.ret.sale_seq);
	io_u64(io, &rec->u.ret.prev_return_seq);
	io_i64(io, &rec->u.ret.refunded);
	io_i64(io, &rec->u.ret.taken);
	io_i64(io, &rec->u.ret.applied);
	io_i64(io, &rec->u.ret.balance_after);
	io_flag(io, &rec->u.ret.full);
	io_lines(io, &rec->u.ret.nlines, rec->u.ret.lines);
}

static void payload_program(struct record_io *io, struct record *rec)
{
	io_str(io, &rec->u.program.name, PROTO_MAX_SETTING_KEY);
	io_str(io, &rec->u.program.value, PROTO_MAX_SETTING_VALUE);
}

static void payload_group(struct record_io *io, struct record *rec)
{
	io_flag(io, &rec->u.group.add);
	io_str(io, &rec->u.group.group, PROTO_MAX_GROUP);
}

static void payload_group_rename(struct record_io *io, struct record *rec)
{
	io_str(io, &rec->u.group_rename.from, PROTO_MAX_GROUP);
	io_str(io, &rec->u.group_rename.to, PROTO_MAX_GROUP);
}

static void payload_tier(struct record_io *io, struct record *rec)
{
	io_str(io, &rec->u.tier.tier, PROTO_MAX_TIER);
	io_str(io, &rec->u.tier.note, PROTO_MAX_REASON);
}

static void payload_adjust(struct record_io *io, struct record *rec)
{
	io_i64(io, &rec->u.adjust.points);
	io_i64(io, &rec->u.adjust.balance_after);
	io_str(io, &rec->u.adjust.reason, PROTO_MAX_REASON);
	io_str(io, &rec->u.adjust.comment, PROTO_MAX_REASON);
}

static void payload_key_create(struct record_io *io, struct record *rec)
{
	io_u64(io, &rec->u.key_create.key_id);
	io_u8(io, &rec->u.key_create.role);
	io_str(io, &rec->u.key_create.location, PROTO_MAX_LOCATION);
	io_bytes(io, rec->u.key_create.hash, RECORD_HASH_SIZE);
}

static void payload_key_revoke(struct record_io *io, struct record *rec)
{
	io_u64(io, &rec->u.key_revoke.key_id);
}

static void payload_edit(struct record_io *io, struct record *rec)
{
	io_u8(io, &rec->u.edit.fields);
	/* No change at all, or an unknown field, could not have been written. */
	if (io->dir == IO_GET)
		io->bad_flag |= rec->u.edit.fields == 0 || rec->u.edit.fields > PROTO_EDIT_ALL;
	else if (io->dir == IO_FIT)
		io->unfit |= rec->u.edit.fields == 0 || rec->u.edit.fields > PROTO_EDIT_ALL;
	io_str(io, &rec->u.edit.email, PROTO_MAX_EMAIL);
	io_str(io, &rec->u.edit.phone, PROTO_MAX_PHONE);
	io_str(io, &rec->u.edit.first_name, PROTO_MAX_NAME);
	io_str(io, &rec->u.edit.last_name, PROTO_MAX_NAME);
}

static void payload_card(struct record_io *io, struct record *rec)
{
	io_flag(io, &rec->u.card.link);
	io_str(io, &rec->u.card.card, PROTO_MAX_CARD);
}

static void payload_optout(struct record_io *io, struct record *rec)
{
	io_flag(io, &rec->u.optout.opted_out);
	io_str(io, &rec->u.optout.source, PROTO_MAX_OPTOUT_SOURCE);
}

typedef void payload_fn(struct record_io *io, struct record *rec);

static void payload_archive(struct record_io *io, struct record *rec)
{
	io_u64(io, &rec->u.archive.merged_into);
	io_i64(io, &rec->u.archive.points);
	io_i64(io, &rec->u.archive.lifetime);
	io_i64(io, &rec->u.archive.spend);
	io_u64(io, &rec->u.archive.visits);
}

static void payload_merge(struct record_io *io, struct record *rec)
{
	io_u64(io, &rec->u.merge.from);
	io_i64(io, &rec->u.merge.points);
	io_i64(io, &rec->u.merge.lifetime);
	io_i64(io, &rec->u.merge.spend);
	io_u64(io, &rec->u.merge.visits);
	io_i64(io, &rec->u.merge.last_visit_us);
	io_i64(io, &rec->u.merge.balance_after);
	io_count(io, &rec->u.merge.ngroups, PROTO_MAX_GROUPS);
	for (uint8_t i = 0; i < rec->u.merge.ngroups && !io_failed(io); i++)
		io_str(io, &rec->u.merge.groups[i], PROTO_MAX_GROUP);
	io_count(io, &rec->u.merge.ncards, PROTO_MAX_CARDS);
	for (uint8_t i = 0; i < rec->u.merge.ncards && !io_failed(io); i++)
		io_str(io, &rec->u.merge.cards[i], PROTO_MAX_CARD);
}

static payload_fn *const payload_of_type[PROTO_ENTRY_TYPE_MAX + 1] = {
#define PAYLOAD_ROW(TYPE, kind, code, name, payload, op, of_customer) [PROTO_ENTRY_##TYPE] = payload_##payload,
	PROTO_ENTRIES(PAYLOAD_ROW)
#undef PAYLOAD_ROW
};

static payload_fn *payload_find(uint8_t type)
{
	return type <= PROTO_ENTRY_TYPE_MAX ? payload_of_type[type] : NULL;
}

int record_erase(struct record *rec)
{
	static const struct proto_str none = {"", 0};
	int had = 0;

#define ERASE(f)                  \
	do {                      \
		had |= (f).len != 0; \
		(f) = none;       \
	} while (0)
	switch (rec->type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN:
		ERASE(rec->u.enrol.email);
		ERASE(rec->u.enrol.phone);
		ERASE(rec->u.enrol.first_name);
		ERASE(rec->u.enrol.last_name);
		break;
	case PROTO_ENTRY_EDIT:
		ERASE(rec->u.edit.email);
		ERASE(rec->u.edit.phone);
		ERASE(rec->u.edit.first_name);
		ERASE(rec->u.edit.last_name);
		break;
	case PROTO_ENTRY_CARD: ERASE(rec->u.card.card); break;
	case PROTO_ENTRY_OPTOUT: ERASE(rec->u.optout.source); break;
	case PROTO_ENTRY_ADJUST:
		ERASE(rec->u.adjust.reason);
		ERASE(rec->u.adjust.comment);
		break;
	case PROTO_ENTRY_TIER: ERASE(rec->u.tier.note); break;
	case PROTO_ENTRY_MERGE:
		had |= rec->u.merge.ncards != 0;
		rec->u.merge.ncards = 0;
		break;
	default: break;
	}
#undef ERASE
	/* An EDIT or CARD keeps its shape (which fields, link or unlink), so
	 * it is rewritten even when every field it changed was already empty. */
	had |= rec->type == PROTO_ENTRY_EDIT || rec->type == PROTO_ENTRY_CARD;
	if (had)
		rec->erased = 1;
	return had;
}

size_t record_encode(uint8_t *out, size_t cap, uint64_t seq, const struct record *rec)
{
	struct proto_wbuf w;
	payload_fn *payload = payload_find(rec->type);
	/* IO_FIT and IO_PUT only read the record: the cast lets one function per
	 * payload serve the decoder as well. */
	struct record *r = (struct record *)rec;
	struct record_io io = {IO_FIT, NULL, NULL, 0, 0};

	if (!payload)
		return 0;
	/* An encoder must never write what recovery would refuse to read. */
	payload(&io, r);
	if (io.unfit)
		return 0;
	proto_wbuf_init(&w, out, cap);
	proto_put_u8(&w, rec->type);
	proto_put_u8(&w, rec->erased ? RECORD_FORMAT_ERASED : RECORD_FORMAT);
	proto_put_i64(&w, rec->time_us);
	proto_put_u64(&w, rec->customer_id);
	proto_put_u64(&w, rec->prev_seq);
	proto_put_bytes(&w, rec->request_key, PROTO_KEY_SIZE);
	proto_put_u64(&w, rec->body_hash);
	io.dir = IO_PUT;
	io.w = &w;
	payload(&io, r);
	if (w.overflow)
		return 0;
	proto_put_u64(&w, XXH3_64bits_withSeed(out, w.len, seq));
	return w.overflow ? 0 : w.len;
}

int record_decode(const uint8_t *buf, size_t len, uint64_t seq, struct record *rec)
{
	struct proto_rbuf r;
	struct record_io io = {IO_GET, NULL, &r, 0, 0};
	payload_fn *payload;
	uint64_t sum;

	/* The length comes from the page that held the record: bounded before
	 * anything at its far end is read. */
	if (len > RECORD_MAX_SIZE)
		return RECORD_E_LENGTH;
	if (len < 8 + 2)
		return RECORD_E_SHORT;
	proto_rbuf_init(&r, buf + len - 8, 8);
	sum = proto_get_u64(&r);
	if (XXH3_64bits_withSeed(buf, len - 8, seq) != sum)
		return RECORD_E_CHECKSUM;

	/* Only the header: each payload function sets every field of its own,
	 * and the line arrays (14 KiB) are read only up to nlines. */
	memset(rec, 0, offsetof(struct record, u));
	proto_rbuf_init(&r, buf, len - 8);
	rec->type = proto_get_u8(&r);
	switch (proto_get_u8(&r)) {
	case RECORD_FORMAT: break;
	case RECORD_FORMAT_ERASED: rec->erased = 1; break;
	default: return RECORD_E_FORMAT;
	}
	rec->time_us = proto_get_i64(&r);
	rec->customer_id = proto_get_u64(&r);
	rec->prev_seq = proto_get_u64(&r);
	proto_get_bytes(&r, rec->request_key, PROTO_KEY_SIZE);
	rec->body_hash = proto_get_u64(&r);
	if (!(payload = payload_find(rec->type)))
		return RECORD_E_FORMAT;
	payload(&io, rec);
	if (r.error == PROTO_E_BODY)
		return RECORD_E_SHORT;
	if (!r.error && io.bad_flag)
		return RECORD_E_FORMAT;
	return proto_rbuf_finish(&r) ? RECORD_E_FORMAT : 0;
}

/* ---- snapshot checksums ------------------------------------------------ */

uint64_t record_snapshot_sum(int db, const void *key, size_t key_len, const void *val, size_t len)
{
	uint64_t seed = XXH3_64bits_withSeed(key, key_len, (uint64_t)db + 1);
	return XXH3_64bits_withSeed(val, len, seed);
}

int record_snapshot_check(int db, const void *key, size_t key_len, const void *stored, size_t stored_len, size_t *len)
{
	struct proto_rbuf r;
	uint64_t sum;

	if (stored_len > RECORD_SNAPSHOT_MAX_SIZE)
		return RECORD_E_LENGTH;
	if (stored_len < RECORD_SNAPSHOT_SUM_SIZE)
		return RECORD_E_SHORT;
	*len = stored_len - RECORD_SNAPSHOT_SUM_SIZE;
	proto_rbuf_init(&r, (const uint8_t *)stored + *len, RECORD_SNAPSHOT_SUM_SIZE);
	sum = proto_get_u64(&r);
	return record_snapshot_sum(db, key, key_len, stored, *len) == sum ? 0 : RECORD_E_CHECKSUM;
}

void record_meta_seal(uint8_t out[RECORD_META_SIZE], const char *name, uint64_t v)
{
	struct proto_wbuf w;

	record_key_u64(out, v);
	proto_wbuf_init(&w, out + 8, RECORD_SNAPSHOT_SUM_SIZE);
	proto_put_u64(&w, record_snapshot_sum(RECORD_DB_META, name, strlen(name), out, 8));
}

int record_meta_open(const char *name, const void *stored, size_t len, uint64_t *v)
{
	size_t n;
	int rc;

	if (len != RECORD_META_SIZE)
		return RECORD_E_SHORT;
	if ((rc = record_snapshot_check(RECORD_DB_META, name, strlen(name), stored, len, &n)))
		return rc;
	*v = record_key_u64_read(stored);
	return 0;
}

/* ---- snapshots ------------------------------------------------------- */

int record_customer_encode(struct proto_wbuf *w, const struct record_customer *s)
{
	if (!customer_fits(&s->c))
		return PROTO_E_FIELD;
	proto_put_u8(w, RECORD_CUSTOMER_FORMAT);
	proto_customer_put(w, &s->c);
	proto_put_u64(w, s->last_seq);
	return w->overflow ? PROTO_E_SPACE : 0;
}

int record_customer_decode(const uint8_t *b, size_t n, struct record_customer *s)
{
	struct proto_rbuf r;
	uint8_t format;

	proto_rbuf_init(&r, b, n);
	format = proto_get_u8(&r);
	if (format == RECORD_CUSTOMER_FORMAT)
		proto_customer_get(&r, &s->c);
	else if (format == 2)
		proto_customer_get_v2(&r, &s->c); /* written before archive */
	else if (format == 1)
		proto_customer_get_v1(&r, &s->c); /* written before the opt-out and the cards */
	else
		return RECORD_E_FORMAT;
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
