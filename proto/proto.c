/*
 * proto.c - the accrue wire codec (see proto.h and PROTOCOL.md).
 */
#include "proto.h"

#include <xxhash.h>

/* ---- byte order: the only place it is converted --------------------- */

static void store_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t load_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- frames ---------------------------------------------------------- */

uint64_t proto_checksum(const uint8_t header16[16], const uint8_t *body, size_t body_len)
{
	uint64_t seed = XXH3_64bits(header16, 16);
	return XXH3_64bits_withSeed(body_len ? body : (const uint8_t *)"", body_len, seed);
}

int proto_frame_decode(const uint8_t *buf, size_t len, uint32_t max_body, struct proto_header *h,
		       const uint8_t **body, size_t *frame_len)
{
	struct proto_header t;

	/* Reject a wrong magic as soon as its bytes are in, so garbage is not
	 * buffered while waiting for a whole header. */
	for (size_t i = 0; i < len && i < 4; i++)
		if (buf[i] != (uint8_t)(PROTO_MAGIC >> (8 * i)))
			return PROTO_E_MAGIC;
	if (len >= 5 && buf[4] != PROTO_VERSION)
		return PROTO_E_VERSION;
	if (len < PROTO_HEADER_SIZE)
		return 0;
	t.magic = (uint32_t)load_le(buf, 4);
	t.version = buf[4];
	t.opcode = buf[5];
	t.flags = (uint16_t)load_le(buf + 6, 2);
	t.request_id = (uint32_t)load_le(buf + 8, 4);
	t.body_len = (uint32_t)load_le(buf + 12, 4);
	t.checksum = load_le(buf + 16, 8);
	/* From here on the header was read whole: an error hands it back too,
	 * so the reply can name the request it refuses. */
	if (t.body_len > max_body || t.body_len > PROTO_MAX_BODY_HARD) {
		*h = t;
		return PROTO_E_TOO_LARGE;
	}
	if (t.flags & ~(uint16_t)(PROTO_FLAG_REPLY | PROTO_FLAG_REPLAY)) {
		*h = t;
		return PROTO_E_FLAGS;
	}
	if (len - PROTO_HEADER_SIZE < t.body_len)
		return 0;
	*h = t;
	if (proto_checksum(buf, buf + PROTO_HEADER_SIZE, t.body_len) != t.checksum)
		return PROTO_E_CHECKSUM;
	*body = buf + PROTO_HEADER_SIZE;
	*frame_len = PROTO_HEADER_SIZE + (size_t)t.body_len;
	return 1;
}

void proto_header_encode(uint8_t out[PROTO_HEADER_SIZE], uint8_t opcode, uint16_t flags, uint32_t request_id,
			 const uint8_t *body, uint32_t body_len)
{
	store_le(out, PROTO_MAGIC, 4);
	out[4] = PROTO_VERSION;
	out[5] = opcode;
	store_le(out + 6, flags, 2);
	store_le(out + 8, request_id, 4);
	store_le(out + 12, body_len, 4);
	store_le(out + 16, proto_checksum(out, body, body_len), 8);
}

/* ---- names ----------------------------------------------------------- */

const char *proto_errstr(int err)
{
	switch (err) {
	case 0: return "ok";
	case PROTO_E_MAGIC: return "bad magic";
	case PROTO_E_VERSION: return "unsupported protocol version";
	case PROTO_E_TOO_LARGE: return "frame body over the size limit";
	case PROTO_E_CHECKSUM: return "frame checksum mismatch";
	case PROTO_E_FLAGS: return "unknown flag bits";
	case PROTO_E_BODY: return "malformed body: truncated or trailing bytes";
	case PROTO_E_FIELD: return "field out of range or too long";
	case PROTO_E_SPACE: return "encode buffer too small";
	}
	return "unknown codec error";
}

const char *proto_status_name(int status)
{
	switch (status) {
	case PROTO_OK: return "OK";
#define STATUS_NAME(name, code, text) \
	case PROTO_ST_##name: return #name;
		PROTO_STATUSES(STATUS_NAME)
#undef STATUS_NAME
	}
	return "UNKNOWN";
}

const char *proto_opcode_name(int opcode)
{
	switch (opcode) {
#define OPCODE_NAME(name, code) \
	case PROTO_OP_##name: return #name;
		PROTO_OPCODES(OPCODE_NAME)
#undef OPCODE_NAME
	}
	return "UNKNOWN";
}

const char *proto_role_name(int role)
{
	switch (role) {
	case PROTO_ROLE_ADMIN: return "admin";
	case PROTO_ROLE_TERMINAL: return "terminal";
	case PROTO_ROLE_READONLY: return "readonly";
	}
	return "unknown";
}

int proto_role_parse(const char *name)
{
	for (int r = PROTO_ROLE_ADMIN; r <= PROTO_ROLE_READONLY; r++)
		if (strcmp(name, proto_role_name(r)) == 0)
			return r;
	return 0;
}

const char *proto_entry_type_name(int type)
{
	switch (type) {
#define ENTRY_NAME(TYPE, kind, code, name, payload, op, of_customer) \
	case PROTO_ENTRY_##TYPE: return name;
		PROTO_ENTRIES(ENTRY_NAME)
#undef ENTRY_NAME
	}
	return "unknown";
}

uint8_t proto_entry_opcode(int type)
{
	switch (type) {
#define ENTRY_OPCODE(TYPE, kind, code, name, payload, op, of_customer) \
	case PROTO_ENTRY_##TYPE: return PROTO_OP_##op;
		PROTO_ENTRIES(ENTRY_OPCODE)
#undef ENTRY_OPCODE
	}
	return 0;
}

int proto_entry_of_customer(int type)
{
	switch (type) {
#define ENTRY_OF_CUSTOMER(TYPE, kind, code, name, payload, op, of_customer) \
	case PROTO_ENTRY_##TYPE: return of_customer;
		PROTO_ENTRIES(ENTRY_OF_CUSTOMER)
#undef ENTRY_OF_CUSTOMER
	}
	return 0;
}

/* Every entry code is at most PROTO_ENTRY_TYPE_MAX, so tables sized by it hold every kind. */
#define ENTRY_BOUND(TYPE, kind, code, name, payload, op, of_customer) \
	_Static_assert(code >= 1 && code <= PROTO_ENTRY_TYPE_MAX, "PROTO_ENTRY_TYPE_MAX is below " #TYPE);
PROTO_ENTRIES(ENTRY_BOUND)
#undef ENTRY_BOUND

/* ---- primitives ------------------------------------------------------ */

static uint8_t *wbuf_take(struct proto_wbuf *w, size_t n)
{
	if (w->overflow || w->cap - w->len < n) {
		w->overflow = 1;
		return NULL;
	}
	uint8_t *p = w->p + w->len;
	w->len += n;
	return p;
}

static void put_le(struct proto_wbuf *w, uint64_t v, int n)
{
	uint8_t *p = wbuf_take(w, (size_t)n);
	if (p)
		store_le(p, v, n);
}

void proto_put_u8(struct proto_wbuf *w, uint8_t v) { put_le(w, v, 1); }
void proto_put_u16(struct proto_wbuf *w, uint16_t v) { put_le(w, v, 2); }
void proto_put_u32(struct proto_wbuf *w, uint32_t v) { put_le(w, v, 4); }
void proto_put_u64(struct proto_wbuf *w, uint64_t v) { put_le(w, v, 8); }
void proto_put_i64(struct proto_wbuf *w, int64_t v) { put_le(w, (uint64_t)v, 8); }

void proto_put_bytes(struct proto_wbuf *w, const void *src, size_t n)
{
	uint8_t *p = wbuf_take(w, n);
	if (p && n)
		memcpy(p, src, n);
}

void proto_put_str(struct proto_wbuf *w, struct proto_str s)
{
	if (s.len > 0xffff) {
		w->overflow = 1;
		return;
	}
	proto_put_u16(w, (uint16_t)s.len);
	proto_put_bytes(w, s.ptr, s.len);
}

static const uint8_t *rbuf_take(struct proto_rbuf *r, size_t n)
{
	if (r->error || r->len - r->off < n) {
		if (!r->error)
			r->error = PROTO_E_BODY;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t get_le(struct proto_rbuf *r, int n)
{
	const uint8_t *p = rbuf_take(r, (size_t)n);
	return p ? load_le(p, n) : 0;
}

uint8_t proto_get_u8(struct proto_rbuf *r) { return (uint8_t)get_le(r, 1); }
uint16_t proto_get_u16(struct proto_rbuf *r) { return (uint16_t)get_le(r, 2); }
uint32_t proto_get_u32(struct proto_rbuf *r) { return (uint32_t)get_le(r, 4); }
uint64_t proto_get_u64(struct proto_rbuf *r) { return get_le(r, 8); }
int64_t proto_get_i64(struct proto_rbuf *r) { return (int64_t)get_le(r, 8); }

void proto_get_bytes(struct proto_rbuf *r, void *out, size_t n)
{
	const uint8_t *p = rbuf_take(r, n);
	if (p)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

struct proto_str proto_get_str(struct proto_rbuf *r, uint32_t max)
{
	struct proto_str s = {"", 0};
	uint16_t n = proto_get_u16(r);
	const uint8_t *p;

	if (r->error)
		return s;
	if (n > max) {
		r->error = PROTO_E_FIELD;
		return s;
	}
	p = rbuf_take(r, n);
	if (p) {
		s.ptr = (const char *)p;
		s.len = n;
	}
	return s;
}

int proto_rbuf_finish(const struct proto_rbuf *r)
{
	if (r->error)
		return r->error;
	return r->off == r->len ? 0 : PROTO_E_BODY;
}

static int wbuf_result(const struct proto_wbuf *w)
{
	return w->overflow ? PROTO_E_SPACE : 0;
}

static void field_check(struct proto_rbuf *r, int ok)
{
	if (!ok && !r->error)
		r->error = PROTO_E_FIELD;
}

/* ---- messages -------------------------------------------------------- */

int proto_hello_req_encode(struct proto_wbuf *w, const struct proto_hello_req *m)
{
	proto_put_u16(w, m->version);
	proto_put_str(w, m->api_key);
	return wbuf_result(w);
}

int proto_hello_req_decode(const uint8_t *b, size_t n, struct proto_hello_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	m->version = proto_get_u16(&r);
	m->api_key = proto_get_str(&r, PROTO_MAX_APIKEY);
	return proto_rbuf_finish(&r);
}

int proto_hello_rep_encode(struct proto_wbuf *w, const struct proto_hello_rep *m)
{
	proto_put_u8(w, m->role);
	proto_put_u64(w, m->key_id);
	proto_put_str(w, m->location);
	proto_put_u32(w, m->max_body);
	proto_put_u32(w, m->max_inflight);
	proto_put_i64(w, m->server_time_us);
	return wbuf_result(w);
}

int proto_hello_rep_decode(const uint8_t *b, size_t n, struct proto_hello_rep *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	m->role = proto_get_u8(&r);
	m->key_id = proto_get_u64(&r);
	m->location = proto_get_str(&r, PROTO_MAX_LOCATION);
	m->max_body = proto_get_u32(&r);
	m->max_inflight = proto_get_u32(&r);
	m->server_time_us = proto_get_i64(&r);
	field_check(&r, m->role >= PROTO_ROLE_ADMIN && m->role <= PROTO_ROLE_READONLY);
	return proto_rbuf_finish(&r);
}

void proto_ref_put(struct proto_wbuf *w, const struct proto_ref *ref)
{
	proto_put_u8(w, ref->kind);
	if (ref->kind == PROTO_REF_ID)
		proto_put_u64(w, ref->id);
	else
		proto_put_str(w, ref->text);
}

void proto_ref_get(struct proto_rbuf *r, struct proto_ref *ref)
{
	ref->kind = proto_get_u8(r);
	ref->id = 0;
	ref->text.ptr = "";
	ref->text.len = 0;
	switch (ref->kind) {
	case PROTO_REF_ID:
		ref->id = proto_get_u64(r);
		break;
	case PROTO_REF_EMAIL:
		ref->text = proto_get_str(r, PROTO_MAX_EMAIL);
		break;
	case PROTO_REF_PHONE:
		ref->text = proto_get_str(r, PROTO_MAX_PHONE);
		break;
	case PROTO_REF_CARD:
		ref->text = proto_get_str(r, PROTO_MAX_CARD);
		break;
	default:
		field_check(r, 0);
	}
}

int proto_enrol_req_encode(struct proto_wbuf *w, const struct proto_enrol_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_put_str(w, m->email);
	proto_put_str(w, m->phone);
	proto_put_str(w, m->first_name);
	proto_put_str(w, m->last_name);
	return wbuf_result(w);
}

int proto_enrol_req_decode(const uint8_t *b, size_t n, struct proto_enrol_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	m->email = proto_get_str(&r, PROTO_MAX_EMAIL);
	m->phone = proto_get_str(&r, PROTO_MAX_PHONE);
	m->first_name = proto_get_str(&r, PROTO_MAX_NAME);
	m->last_name = proto_get_str(&r, PROTO_MAX_NAME);
	return proto_rbuf_finish(&r);
}

int proto_lookup_req_encode(struct proto_wbuf *w, const struct proto_lookup_req *m)
{
	proto_ref_put(w, &m->ref);
	return wbuf_result(w);
}

int proto_lookup_req_decode(const uint8_t *b, size_t n, struct proto_lookup_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_ref_get(&r, &m->ref);
	return proto_rbuf_finish(&r);
}

static void line_put(struct proto_wbuf *w, const struct proto_line *l)
{
	proto_put_str(w, l->sku);
	proto_put_str(w, l->category);
	proto_put_i64(w, l->qty);
	proto_put_i64(w, l->amount);
}

static void line_get(struct proto_rbuf *r, struct proto_line *l)
{
	l->sku = proto_get_str(r, PROTO_MAX_SKU);
	l->category = proto_get_str(r, PROTO_MAX_CATEGORY);
	l->qty = proto_get_i64(r);
	l->amount = proto_get_i64(r);
}

static void lines_put(struct proto_wbuf *w, uint16_t n, const struct proto_line *lines)
{
	if (n > PROTO_MAX_LINES) {
		w->overflow = 1;
		return;
	}
	proto_put_u16(w, n);
	for (uint16_t i = 0; i < n; i++)
		line_put(w, &lines[i]);
}

static uint16_t lines_get(struct proto_rbuf *r, struct proto_line *lines)
{
	uint16_t n = proto_get_u16(r);

	if (n > PROTO_MAX_LINES) {
		field_check(r, 0);
		return 0;
	}
	for (uint16_t i = 0; i < n && !r->error; i++)
		line_get(r, &lines[i]);
	return r->error ? 0 : n;
}

void proto_sale_put(struct proto_wbuf *w, const struct proto_sale *sale)
{
	proto_put_str(w, sale->location);
	proto_put_str(w, sale->order_id);
	proto_put_i64(w, sale->time_us);
	proto_put_i64(w, sale->amount);
	lines_put(w, sale->nlines, sale->lines);
}

void proto_sale_get(struct proto_rbuf *r, struct proto_sale *sale)
{
	sale->location = proto_get_str(r, PROTO_MAX_LOCATION);
	sale->order_id = proto_get_str(r, PROTO_MAX_ORDER);
	sale->time_us = proto_get_i64(r);
	sale->amount = proto_get_i64(r);
	sale->nlines = lines_get(r, sale->lines);
}

int proto_accrue_req_encode(struct proto_wbuf *w, const struct proto_accrue_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->ref);
	proto_sale_put(w, &m->sale);
	return wbuf_result(w);
}

int proto_accrue_req_decode(const uint8_t *b, size_t n, struct proto_accrue_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->ref);
	proto_sale_get(&r, &m->sale);
	return proto_rbuf_finish(&r);
}

int proto_return_req_encode(struct proto_wbuf *w, const struct proto_return_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_put_str(w, m->location);
	proto_put_str(w, m->order_id);
	proto_put_i64(w, m->time_us);
	proto_put_i64(w, m->amount);
	lines_put(w, m->nlines, m->lines);
	return wbuf_result(w);
}

int proto_return_req_decode(const uint8_t *b, size_t n, struct proto_return_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	m->location = proto_get_str(&r, PROTO_MAX_LOCATION);
	m->order_id = proto_get_str(&r, PROTO_MAX_ORDER);
	m->time_us = proto_get_i64(&r);
	m->amount = proto_get_i64(&r);
	m->nlines = lines_get(&r, m->lines);
	return proto_rbuf_finish(&r);
}

/* A quote's ref may be kind 0: nobody in particular. */
int proto_quote_req_encode(struct proto_wbuf *w, const struct proto_quote_req *m)
{
	if (m->ref.kind == 0)
		proto_put_u8(w, 0);
	else
		proto_ref_put(w, &m->ref);
	proto_sale_put(w, &m->sale);
	return wbuf_result(w);
}

int proto_quote_req_decode(const uint8_t *b, size_t n, struct proto_quote_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	if (n && b[0] == 0) {
		proto_get_u8(&r);
		memset(&m->ref, 0, sizeof m->ref);
		m->ref.text.ptr = "";
	} else {
		proto_ref_get(&r, &m->ref);
	}
	proto_sale_get(&r, &m->sale);
	return proto_rbuf_finish(&r);
}

int proto_order_req_encode(struct proto_wbuf *w, const struct proto_order_req *m)
{
	proto_put_str(w, m->location);
	proto_put_str(w, m->order_id);
	return wbuf_result(w);
}

int proto_order_req_decode(const uint8_t *b, size_t n, struct proto_order_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	m->location = proto_get_str(&r, PROTO_MAX_LOCATION);
	m->order_id = proto_get_str(&r, PROTO_MAX_ORDER);
	return proto_rbuf_finish(&r);
}

int proto_group_req_encode(struct proto_wbuf *w, const struct proto_group_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->ref);
	proto_put_u8(w, m->add);
	proto_put_str(w, m->group);
	return wbuf_result(w);
}

int proto_group_req_decode(const uint8_t *b, size_t n, struct proto_group_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->ref);
	m->add = proto_get_u8(&r);
	m->group = proto_get_str(&r, PROTO_MAX_GROUP);
	field_check(&r, m->add <= 1);
	return proto_rbuf_finish(&r);
}

int proto_tier_req_encode(struct proto_wbuf *w, const struct proto_tier_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->ref);
	proto_put_str(w, m->tier);
	proto_put_str(w, m->note);
	return wbuf_result(w);
}

int proto_tier_req_decode(const uint8_t *b, size_t n, struct proto_tier_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->ref);
	m->tier = proto_get_str(&r, PROTO_MAX_TIER);
	m->note = proto_get_str(&r, PROTO_MAX_REASON);
	return proto_rbuf_finish(&r);
}

int proto_program_set_req_encode(struct proto_wbuf *w, const struct proto_program_set_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_put_str(w, m->name);
	proto_put_str(w, m->value);
	return wbuf_result(w);
}

int proto_program_set_req_decode(const uint8_t *b, size_t n, struct proto_program_set_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	m->name = proto_get_str(&r, PROTO_MAX_SETTING_KEY);
	m->value = proto_get_str(&r, PROTO_MAX_SETTING_VALUE);
	return proto_rbuf_finish(&r);
}

void proto_batch_req_put_header(struct proto_wbuf *w, uint16_t count)
{
	proto_put_u16(w, count);
}

/* A batch item is a u32 length then a request body: the length is written
 * once the body is, at the place batch_item_open kept for it. */
static size_t batch_item_open(struct proto_wbuf *w)
{
	size_t at = w->len;

	proto_put_u32(w, 0);
	return at;
}

static int batch_item_close(struct proto_wbuf *w, size_t at)
{
	if (!w->overflow) {
		uint32_t len = (uint32_t)(w->len - at - 4);
		store_le(w->p + at, len, 4);
	}
	return wbuf_result(w);
}

int proto_batch_req_put_item(struct proto_wbuf *w, const struct proto_accrue_req *m)
{
	size_t at = batch_item_open(w);

	proto_accrue_req_encode(w, m);
	return batch_item_close(w, at);
}

int proto_adjust_batch_req_put_item(struct proto_wbuf *w, const struct proto_adjust_req *m)
{
	size_t at = batch_item_open(w);

	proto_adjust_req_encode(w, m);
	return batch_item_close(w, at);
}

int proto_batch_req_begin(struct proto_rbuf *r, uint16_t *count)
{
	*count = proto_get_u16(r);
	field_check(r, *count >= 1 && *count <= PROTO_MAX_BATCH);
	return r->error;
}

int proto_batch_req_next(struct proto_rbuf *r, const uint8_t **item, size_t *item_len)
{
	uint32_t len = proto_get_u32(r);
	const uint8_t *p = r->error ? NULL : rbuf_take(r, len);

	*item = p;
	*item_len = p ? len : 0;
	return r->error;
}

int proto_adjust_req_encode(struct proto_wbuf *w, const struct proto_adjust_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_ref_put(w, &m->ref);
	proto_put_i64(w, m->points);
	proto_put_str(w, m->reason);
	proto_put_str(w, m->comment);
	return wbuf_result(w);
}

int proto_adjust_req_decode(const uint8_t *b, size_t n, struct proto_adjust_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	proto_ref_get(&r, &m->ref);
	m->points = proto_get_i64(&r);
	m->reason = proto_get_str(&r, PROTO_MAX_REASON);
	m->comment = proto_get_str(&r, PROTO_MAX_REASON);
	return proto_rbuf_finish(&r);
}

int proto_history_req_encode(struct proto_wbuf *w, const struct proto_history_req *m)
{
	proto_ref_put(w, &m->ref);
	proto_put_u64(w, m->before_seq);
	proto_put_u32(w, m->limit);
	return wbuf_result(w);
}

int proto_history_req_decode(const uint8_t *b, size_t n, struct proto_history_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_ref_get(&r, &m->ref);
	m->before_seq = proto_get_u64(&r);
	m->limit = proto_get_u32(&r);
	field_check(&r, m->limit >= 1 && m->limit <= PROTO_MAX_HISTORY);
	return proto_rbuf_finish(&r);
}

int proto_key_create_req_encode(struct proto_wbuf *w, const struct proto_key_create_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_put_u8(w, m->role);
	proto_put_str(w, m->location);
	return wbuf_result(w);
}

int proto_key_create_req_decode(const uint8_t *b, size_t n, struct proto_key_create_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	m->role = proto_get_u8(&r);
	m->location = proto_get_str(&r, PROTO_MAX_LOCATION);
	field_check(&r, m->role >= PROTO_ROLE_ADMIN && m->role <= PROTO_ROLE_READONLY);
	return proto_rbuf_finish(&r);
}

int proto_key_revoke_req_encode(struct proto_wbuf *w, const struct proto_key_revoke_req *m)
{
	proto_put_bytes(w, m->key, PROTO_KEY_SIZE);
	proto_put_u64(w, m->key_id);
	return wbuf_result(w);
}

int proto_key_revoke_req_decode(const uint8_t *b, size_t n, struct proto_key_revoke_req *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_get_bytes(&r, m->key, PROTO_KEY_SIZE);
	m->key_id = proto_get_u64(&r);
	return proto_rbuf_finish(&r);
}

void proto_customer_put(struct proto_wbuf *w, const struct proto_customer *c)
{
	proto_put_u64(w, c->id);
	proto_put_str(w, c->email);
	proto_put_str(w, c->phone);
	proto_put_str(w, c->first_name);
	proto_put_str(w, c->last_name);
	proto_put_i64(w, c->balance);
	proto_put_i64(w, c->lifetime_points);
	proto_put_u64(w, c->visits);
	proto_put_i64(w, c->total_spend);
	proto_put_i64(w, c->created_us);
	proto_put_i64(w, c->last_visit_us);
	proto_put_u8(w, c->member);
	proto_put_str(w, c->tier);
	if (c->ngroups > PROTO_MAX_GROUPS) {
		w->overflow = 1;
		return;
	}
	proto_put_u8(w, c->ngroups);
	for (uint8_t i = 0; i < c->ngroups; i++)
		proto_put_str(w, c->groups[i]);
	proto_put_u8(w, c->opted_out);
	proto_put_i64(w, c->optout_us);
	proto_put_str(w, c->optout_source);
	if (c->ncards > PROTO_MAX_CARDS) {
		w->overflow = 1;
		return;
	}
	proto_put_u8(w, c->ncards);
	for (uint8_t i = 0; i < c->ncards; i++)
		proto_put_str(w, c->cards[i]);
	proto_put_u8(w, c->archived);
	proto_put_u64(w, c->merged_into);
}

void proto_customer_get_v1(struct proto_rbuf *r, struct proto_customer *c)
{
	c->archived = 0; /* before format 3 nobody was archived */
	c->merged_into = 0;
	c->id = proto_get_u64(r);
	c->email = proto_get_str(r, PROTO_MAX_EMAIL);
	c->phone = proto_get_str(r, PROTO_MAX_PHONE);
	c->first_name = proto_get_str(r, PROTO_MAX_NAME);
	c->last_name = proto_get_str(r, PROTO_MAX_NAME);
	c->balance = proto_get_i64(r);
	c->lifetime_points = proto_get_i64(r);
	c->visits = proto_get_u64(r);
	c->total_spend = proto_get_i64(r);
	c->created_us = proto_get_i64(r);
	c->last_visit_us = proto_get_i64(r);
	c->member = proto_get_u8(r);
	c->tier = proto_get_str(r, PROTO_MAX_TIER);
	c->ngroups = proto_get_u8(r);
	field_check(r, c->member <= 1 && c->ngroups <= PROTO_MAX_GROUPS);
	for (uint8_t i = 0; i < c->ngroups && !r->error; i++)
		c->groups[i] = proto_get_str(r, PROTO_MAX_GROUP);
	if (r->error)
		c->ngroups = 0;
	c->opted_out = 0;
	c->optout_us = 0;
	c->optout_source.ptr = "";
	c->optout_source.len = 0;
	c->ncards = 0;
}

/* The opt-out and the cards follow the groups. */
void proto_customer_get(struct proto_rbuf *r, struct proto_customer *c)
{
	proto_customer_get_v2(r, c);
	c->archived = proto_get_u8(r);
	c->merged_into = proto_get_u64(r);
	if (!r->error && (c->archived > 1 || (c->merged_into && !c->archived)))
		r->error = PROTO_E_FIELD;
	if (r->error)
		c->ncards = c->ngroups = 0;
}

void proto_customer_get_v2(struct proto_rbuf *r, struct proto_customer *c)
{
	proto_customer_get_v1(r, c);
	c->opted_out = proto_get_u8(r);
	c->optout_us = proto_get_i64(r);
	c->optout_source = proto_get_str(r, PROTO_MAX_OPTOUT_SOURCE);
	c->ncards = proto_get_u8(r);
	field_check(r, c->opted_out <= 1 && c->ncards <= PROTO_MAX_CARDS);
	for (uint8_t i = 0; i < c->ncards && !r->error; i++)
		c->cards[i] = proto_get_str(r, PROTO_MAX_CARD);
	/* A customer that fails to decode has no lists to walk. */
	if (r->error)
		c->ncards = c->ngroups = 0;
}

int proto_customer_rep_encode(struct proto_wbuf *w, const struct proto_customer *c)
{
	proto_customer_put(w, c);
	return wbuf_result(w);
}

int proto_customer_rep_decode(const uint8_t *b, size_t n, struct proto_customer *c)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	proto_customer_get(&r, c);
	return proto_rbuf_finish(&r);
}

int proto_change_rep_encode(struct proto_wbuf *w, const struct proto_change_rep *m)
{
	proto_put_u64(w, m->seq);
	proto_put_i64(w, m->points);
	proto_customer_put(w, &m->customer);
	return wbuf_result(w);
}

int proto_change_rep_decode(const uint8_t *b, size_t n, struct proto_change_rep *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	m->seq = proto_get_u64(&r);
	m->points = proto_get_i64(&r);
	proto_customer_get(&r, &m->customer);
	return proto_rbuf_finish(&r);
}

int proto_return_rep_encode(struct proto_wbuf *w, const struct proto_return_rep *m)
{
	proto_put_u64(w, m->seq);
	proto_put_i64(w, m->points);
	proto_put_i64(w, m->shortfall);
	proto_put_i64(w, m->refunded);
	proto_customer_put(w, &m->customer);
	return wbuf_result(w);
}

int proto_return_rep_decode(const uint8_t *b, size_t n, struct proto_return_rep *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	m->seq = proto_get_u64(&r);
	m->points = proto_get_i64(&r);
	m->shortfall = proto_get_i64(&r);
	m->refunded = proto_get_i64(&r);
	proto_customer_get(&r, &m->customer);
	return proto_rbuf_finish(&r);
}

int proto_quote_rep_encode(struct proto_wbuf *w, const struct proto_quote_rep *m)
{
	proto_put_i64(w, m->earned);
	proto_put_i64(w, m->qualifying);
	proto_put_i64(w, m->qualifying_items);
	proto_put_u32(w, m->multiplier);
	proto_put_u8(w, m->unit);
	if (m->nlines > PROTO_MAX_LINES)
		w->overflow = 1;
	proto_put_u16(w, m->nlines);
	for (uint16_t i = 0; i < m->nlines && !w->overflow; i++)
		proto_put_i64(w, m->line_earned[i]);
	return wbuf_result(w);
}

int proto_quote_rep_decode(const uint8_t *b, size_t n, struct proto_quote_rep *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	m->earned = proto_get_i64(&r);
	m->qualifying = proto_get_i64(&r);
	m->qualifying_items = proto_get_i64(&r);
	m->multiplier = proto_get_u32(&r);
	m->unit = proto_get_u8(&r);
	m->nlines = proto_get_u16(&r);
	field_check(&r, m->unit <= PROTO_UNIT_STAMPS && m->nlines <= PROTO_MAX_LINES);
	for (uint16_t i = 0; i < m->nlines && !r.error; i++)
		m->line_earned[i] = proto_get_i64(&r);
	return proto_rbuf_finish(&r);
}

int proto_order_rep_encode(struct proto_wbuf *w, const struct proto_order_rep *m)
{
	proto_put_u64(w, m->customer_id);
	proto_put_u64(w, m->seq);
	proto_put_i64(w, m->time_us);
	proto_put_str(w, m->location);
	proto_put_str(w, m->order_id);
	proto_put_i64(w, m->amount);
	proto_put_i64(w, m->earned);
	proto_put_i64(w, m->refunded);
	proto_put_i64(w, m->taken_back);
	proto_put_u32(w, m->multiplier);
	if (m->nlines > PROTO_MAX_LINES)
		w->overflow = 1;
	proto_put_u16(w, m->nlines);
	for (uint16_t i = 0; i < m->nlines && !w->overflow; i++) {
		const struct proto_order_line *l = &m->lines[i];
		proto_put_str(w, l->sku);
		proto_put_str(w, l->category);
		proto_put_i64(w, l->qty);
		proto_put_i64(w, l->amount);
		proto_put_i64(w, l->earned);
		proto_put_i64(w, l->refunded_qty);
		proto_put_i64(w, l->refunded);
	}
	return wbuf_result(w);
}

int proto_order_rep_decode(const uint8_t *b, size_t n, struct proto_order_rep *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	m->customer_id = proto_get_u64(&r);
	m->seq = proto_get_u64(&r);
	m->time_us = proto_get_i64(&r);
	m->location = proto_get_str(&r, PROTO_MAX_LOCATION);
	m->order_id = proto_get_str(&r, PROTO_MAX_ORDER);
	m->amount = proto_get_i64(&r);
	m->earned = proto_get_i64(&r);
	m->refunded = proto_get_i64(&r);
	m->taken_back = proto_get_i64(&r);
	m->multiplier = proto_get_u32(&r);
	m->nlines = proto_get_u16(&r);
	field_check(&r, m->nlines <= PROTO_MAX_LINES);
	for (uint16_t i = 0; i < m->nlines && !r.error; i++) {
		struct proto_order_line *l = &m->lines[i];
		l->sku = proto_get_str(&r, PROTO_MAX_SKU);
		l->category = proto_get_str(&r, PROTO_MAX_CATEGORY);
		l->qty = proto_get_i64(&r);
		l->amount = proto_get_i64(&r);
		l->earned = proto_get_i64(&r);
		l->refunded_qty = proto_get_i64(&r);
		l->refunded = proto_get_i64(&r);
	}
	return proto_rbuf_finish(&r);
}

void proto_batch_rep_put_header(struct proto_wbuf *w, uint16_t count)
{
	proto_put_u16(w, count);
}

void proto_batch_item_put(struct proto_wbuf *w, const struct proto_batch_item *it)
{
	proto_put_u16(w, it->status);
	proto_put_u8(w, it->replay);
	if (it->status == PROTO_OK) {
		proto_put_u64(w, it->seq);
		proto_put_i64(w, it->points);
		proto_put_u64(w, it->customer_id);
		proto_put_i64(w, it->balance);
	} else {
		struct proto_str msg = it->message;
		if (msg.len > PROTO_MAX_MESSAGE)
			msg.len = PROTO_MAX_MESSAGE;
		proto_put_str(w, msg);
	}
}

int proto_batch_rep_begin(struct proto_rbuf *r, uint16_t *count)
{
	*count = proto_get_u16(r);
	field_check(r, *count <= PROTO_MAX_BATCH);
	return r->error;
}

int proto_batch_item_next(struct proto_rbuf *r, struct proto_batch_item *it)
{
	memset(it, 0, sizeof *it);
	it->message.ptr = "";
	it->status = proto_get_u16(r);
	it->replay = proto_get_u8(r);
	field_check(r, it->replay <= 1);
	if (it->status == PROTO_OK) {
		it->seq = proto_get_u64(r);
		it->points = proto_get_i64(r);
		it->customer_id = proto_get_u64(r);
		it->balance = proto_get_i64(r);
	} else {
		it->message = proto_get_str(r, PROTO_MAX_MESSAGE);
	}
	return r->error;
}

void proto_program_rep_put_header(struct proto_wbuf *w, uint16_t count)
{
	proto_put_u16(w, count);
}

void proto_setting_put(struct proto_wbuf *w, struct proto_str name, struct proto_str value)
{
	proto_put_str(w, name);
	proto_put_str(w, value);
}

int proto_program_rep_begin(struct proto_rbuf *r, uint16_t *count)
{
	*count = proto_get_u16(r);
	field_check(r, *count <= PROTO_MAX_SETTINGS);
	return r->error;
}

int proto_setting_next(struct proto_rbuf *r, struct proto_str *name, struct proto_str *value)
{
	*name = proto_get_str(r, PROTO_MAX_SETTING_KEY);
	*value = proto_get_str(r, PROTO_MAX_SETTING_VALUE);
	return r->error;
}

int proto_key_create_rep_encode(struct proto_wbuf *w, const struct proto_key_create_rep *m)
{
	proto_put_u64(w, m->key_id);
	proto_put_u8(w, m->role);
	proto_put_str(w, m->location);
	proto_put_str(w, m->secret);
	return wbuf_result(w);
}

int proto_key_create_rep_decode(const uint8_t *b, size_t n, struct proto_key_create_rep *m)
{
	struct proto_rbuf r;
	proto_rbuf_init(&r, b, n);
	m->key_id = proto_get_u64(&r);
	m->role = proto_get_u8(&r);
	m->location = proto_get_str(&r, PROTO_MAX_LOCATION);
	m->secret = proto_get_str(&r, PROTO_MAX_APIKEY);
	field_check(&r, m->role >= PROTO_ROLE_ADMIN && m->role <= PROTO_ROLE_READONLY);
	return proto_rbuf_finish(&r);
}

void proto_history_rep_put_header(struct proto_wbuf *w, uint64_t next_before, uint32_t count)
{
	proto_put_u64(w, next_before);
	proto_put_u32(w, count);
}

void proto_entry_put(struct proto_wbuf *w, const struct proto_entry *e)
{
	proto_put_u64(w, e->seq);
	proto_put_u8(w, e->type);
	proto_put_i64(w, e->time_us);
	proto_put_i64(w, e->points);
	proto_put_i64(w, e->balance_after);
	proto_put_i64(w, e->amount);
	proto_put_str(w, e->location);
	proto_put_str(w, e->order_id);
	proto_put_str(w, e->reason);
	proto_put_str(w, e->comment);
	proto_put_str(w, e->detail);
}

int proto_history_rep_begin(struct proto_rbuf *r, uint64_t *next_before, uint32_t *count)
{
	*next_before = proto_get_u64(r);
	*count = proto_get_u32(r);
	field_check(r, *count <= PROTO_MAX_HISTORY);
	return r->error;
}

int proto_entry_next(struct proto_rbuf *r, struct proto_entry *e)
{
	e->seq = proto_get_u64(r);
	e->type = proto_get_u8(r);
	e->time_us = proto_get_i64(r);
	e->points = proto_get_i64(r);
	e->balance_after = proto_get_i64(r);
	e->amount = proto_get_i64(r);
	e->location = proto_get_str(r, PROTO_MAX_LOCATION);
	e->order_id = proto_get_str(r, PROTO_MAX_ORDER);
	e->reason = proto_get_str(r, PROTO_MAX_REASON);
	e->comment = proto_get_str(r, PROTO_MAX_REASON);
	e->detail = proto_get_str(r, PROTO_MAX_DETAIL);
	return r->error;
}

void proto_key_list_rep_put_header(struct proto_wbuf *w, uint32_t count)
{
	proto_put_u32(w, count);
}

void proto_key_info_put(struct proto_wbuf *w, const struct proto_key_info *k)
{
	proto_put_u64(w, k->id);
	proto_put_u8(w, k->role);
	proto_put_u8(w, k->revoked);
	proto_put_i64(w, k->created_us);
	proto_put_str(w, k->location);
}

int proto_key_list_rep_begin(struct proto_rbuf *r, uint32_t *count)
{
	*count = proto_get_u32(r);
	/* Each key takes at least 20 bytes: a count the rest cannot hold means
	 * the body was cut short, and nobody should allocate for it. */
	if (!r->error && *count > (r->len - r->off) / 20)
		r->error = PROTO_E_BODY;
	return r->error;
}

int proto_key_info_next(struct proto_rbuf *r, struct proto_key_info *k)
{
	k->id = proto_get_u64(r);
	k->role = proto_get_u8(r);
	k->revoked = proto_get_u8(r);
	k->created_us = proto_get_i64(r);
	k->location = proto_get_str(r, PROTO_MAX_LOCATION);
	return r->error;
}

void proto_reply_put_status(struct proto_wbuf *w, uint16_t status)
{
	proto_put_u16(w, status);
}

int proto_reply_error_encode(struct proto_wbuf *w, uint16_t status, struct proto_str message)
{
	if (message.len > PROTO_MAX_MESSAGE)
		message.len = PROTO_MAX_MESSAGE;
	proto_put_u16(w, status);
	proto_put_str(w, message);
	return wbuf_result(w);
}

int proto_reply_status(struct proto_rbuf *r, uint16_t *status)
{
	*status = proto_get_u16(r);
	return r->error;
}

int proto_reply_error_decode(struct proto_rbuf *r, struct proto_str *message)
{
	*message = proto_get_str(r, PROTO_MAX_MESSAGE);
	return proto_rbuf_finish(r);
}
