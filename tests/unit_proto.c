/*
 * unit_proto.c - the wire codec: frames, primitives and every message body.
 *
 * The codec is the one place where bytes from the network become structs, so
 * these tests try every way a frame or a body can be short, long, corrupt or
 * over a limit, and check the exact code each gets. Bytes handed to the codec
 * are heap copies of exactly the length under test, and encoders write into
 * heap buffers of exactly their capacity, so AddressSanitizer catches any
 * access past the end.
 *
 * Expected bodies are built with a small writer of this file's own (spec_*),
 * from PROTOCOL.md rather than from the codec, so a field moved in both the
 * encoder and the decoder is still caught.
 *
 * A message with lines holds up to PROTO_MAX_LINES of them (about 13 KB a
 * struct), so those structs and the spec writer are static, not on the stack.
 */
#include "check.h"
#include "proto.h"

#include <xxhash.h>

#define LIT(s) { (s), (uint32_t)(sizeof(s) - 1) }

/* ---- helpers --------------------------------------------------------- */

static int str_is(struct proto_str s, const char *want)
{
	size_t n = strlen(want);
	return s.len == n && (n == 0 || memcmp(s.ptr, want, n) == 0);
}

static int str_same(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* A heap copy of exactly n bytes, so a read past n trips ASan. */
static uint8_t *dup_exact(const uint8_t *b, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	REQUIRE(p != NULL);
	if (n)
		memcpy(p, b, n);
	return p;
}

static uint64_t le_read(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* An independent writer for the layouts PROTOCOL.md describes. */
struct spec {
	uint8_t b[1 << 17]; /* the largest body built here is an ORDER reply of 44 KB */
	size_t n;
};

static void spec_le(struct spec *s, uint64_t v, int size)
{
	REQUIRE(s->n + (size_t)size <= sizeof s->b);
	for (int i = 0; i < size; i++)
		s->b[s->n++] = (uint8_t)(v >> (8 * i));
}

static void spec_bytes(struct spec *s, const void *p, size_t n)
{
	REQUIRE(s->n + n <= sizeof s->b);
	if (n)
		memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void spec_str(struct spec *s, struct proto_str v)
{
	spec_le(s, v.len, 2);
	spec_bytes(s, v.ptr, v.len);
}

/* A string of n copies of c. */
static void spec_fill(struct spec *s, size_t n, char c)
{
	spec_le(s, n, 2);
	REQUIRE(s->n + n <= sizeof s->b);
	memset(s->b + s->n, c, n);
	s->n += n;
}

static void spec_ref(struct spec *s, const struct proto_ref *ref)
{
	spec_le(s, ref->kind, 1);
	if (ref->kind == PROTO_REF_ID)
		spec_le(s, ref->id, 8);
	else
		spec_str(s, ref->text);
}

static void spec_line(struct spec *s, const struct proto_line *l)
{
	spec_str(s, l->sku);
	spec_str(s, l->category);
	spec_le(s, (uint64_t)l->qty, 8);
	spec_le(s, (uint64_t)l->amount, 8);
}

/* A sale: location, order_id, time_us, amount, u16 nlines, the lines. */
static void spec_sale(struct spec *s, const struct proto_sale *sale)
{
	spec_str(s, sale->location);
	spec_str(s, sale->order_id);
	spec_le(s, (uint64_t)sale->time_us, 8);
	spec_le(s, (uint64_t)sale->amount, 8);
	spec_le(s, sale->nlines, 2);
	for (uint16_t i = 0; i < sale->nlines; i++)
		spec_line(s, &sale->lines[i]);
}

/* Encode with enc into a fresh buffer and compare it with the spec's bytes. */
static int bytes_equal(const struct proto_wbuf *w, const struct spec *s)
{
	return w->len == s->n && memcmp(w->p, s->b, s->n) == 0;
}

/* ---- samples: one value of every message ---------------------------- */

static const uint8_t sample_key[PROTO_KEY_SIZE] = {0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78,
						   0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0};

static const struct proto_hello_req s_hello_req = {PROTO_VERSION, LIT("ak_live_0123456789abcdef")};
static const struct proto_hello_rep s_hello_rep = {PROTO_ROLE_TERMINAL, 0x0102030405060708ull, LIT("store-12"),
						   PROTO_MAX_BODY_DEFAULT, 128, 1700000000123456ll};
static const struct proto_customer s_customer = {
	.id = 0x00000000deadbeefull,
	.email = LIT("ann@example.com"),
	.phone = LIT("+15551234567"),
	.first_name = LIT("Ann"),
	.last_name = LIT("Lee-Ng"),
	.balance = -5,
	.lifetime_points = 1ll << 40,
	.visits = 3,
	.total_spend = 98765,
	.created_us = 1700000000000001ll,
	.last_visit_us = 1700000100000002ll,
	.member = 1,
	.tier = LIT("gold"),
	.ngroups = 2,
	.groups = {LIT("staff"), LIT("vip")},
};
/* A guest a sale recorded: no names, no tier, no groups. */
static const struct proto_customer s_guest = {
	.id = 77,
	.email = LIT(""),
	.phone = LIT("+15550000000"),
	.first_name = LIT(""),
	.last_name = LIT(""),
	.visits = 1,
	.total_spend = 500,
	.created_us = 1700000000000009ll,
	.last_visit_us = 1700000000000009ll,
	.member = 0,
	.tier = LIT(""),
	.ngroups = 0,
};
static const struct proto_entry s_entries[2] = {
	{.seq = 1001, .type = PROTO_ENTRY_ACCRUE, .time_us = 1700000000000123ll, .points = 123,
	 .balance_after = 456, .amount = 12345, .location = LIT("store-12"), .order_id = LIT("ORD-0001"),
	 .reason = LIT(""), .comment = LIT("")},
	{.seq = 999, .type = PROTO_ENTRY_ADJUST, .time_us = 1699999999999999ll, .points = -77,
	 .balance_after = 333, .amount = 0, .location = LIT(""), .order_id = LIT(""),
	 .reason = LIT("goodwill"), .comment = LIT("Manual adjustments")},
};
static const struct proto_key_info s_keys[2] = {
	{.id = 1, .role = PROTO_ROLE_ADMIN, .revoked = 0, .created_us = 1600000000000000ll, .location = LIT("")},
	{.id = 2, .role = PROTO_ROLE_TERMINAL, .revoked = 1, .created_us = 1600000000000042ll,
	 .location = LIT("store-12")},
};

static void sample_refs(struct proto_ref refs[3])
{
	refs[0] = (struct proto_ref){PROTO_REF_ID, 0xfedcba9876543210ull, LIT("")};
	refs[1] = (struct proto_ref){PROTO_REF_EMAIL, 0, LIT("ann@example.com")};
	refs[2] = (struct proto_ref){PROTO_REF_PHONE, 0, LIT("+15551234567")};
}

static void check_ref(const struct proto_ref *got, const struct proto_ref *want)
{
	CHECK_INT(got->kind, want->kind);
	if (want->kind == PROTO_REF_ID) {
		CHECK(got->id == want->id);
		CHECK_INT(got->text.len, 0);
	} else {
		CHECK(got->id == 0);
		CHECK(str_same(got->text, want->text));
	}
}

static void check_customer(const struct proto_customer *got, const struct proto_customer *want)
{
	CHECK(got->id == want->id);
	CHECK(str_same(got->email, want->email));
	CHECK(str_same(got->phone, want->phone));
	CHECK(str_same(got->first_name, want->first_name));
	CHECK(str_same(got->last_name, want->last_name));
	CHECK(got->balance == want->balance);
	CHECK(got->lifetime_points == want->lifetime_points);
	CHECK(got->visits == want->visits);
	CHECK(got->total_spend == want->total_spend);
	CHECK(got->created_us == want->created_us);
	CHECK(got->last_visit_us == want->last_visit_us);
	CHECK_INT(got->member, want->member);
	CHECK(str_same(got->tier, want->tier));
	CHECK_INT(got->ngroups, want->ngroups);
	for (uint8_t i = 0; i < got->ngroups && i < want->ngroups; i++)
		CHECK(str_same(got->groups[i], want->groups[i]));
}

static void spec_customer(struct spec *s, const struct proto_customer *c)
{
	spec_le(s, c->id, 8);
	spec_str(s, c->email);
	spec_str(s, c->phone);
	spec_str(s, c->first_name);
	spec_str(s, c->last_name);
	spec_le(s, (uint64_t)c->balance, 8);
	spec_le(s, (uint64_t)c->lifetime_points, 8);
	spec_le(s, c->visits, 8);
	spec_le(s, (uint64_t)c->total_spend, 8);
	spec_le(s, (uint64_t)c->created_us, 8);
	spec_le(s, (uint64_t)c->last_visit_us, 8);
	spec_le(s, c->member, 1);
	spec_str(s, c->tier);
	spec_le(s, c->ngroups, 1);
	for (uint8_t i = 0; i < c->ngroups; i++)
		spec_str(s, c->groups[i]);
}

/*
 * Lines for samples: line i has its own SKU and category ("sku-i", or 64
 * bytes starting with it when at_limits), quantity i + 1 and amount
 * 100 * (i + 1) + i; the first line's amount is -1 and the last line's
 * quantity INT64_MAX, since the codec carries any i64 (the server judges).
 */
static char line_text[PROTO_MAX_LINES][2][PROTO_MAX_SKU > PROTO_MAX_CATEGORY ? PROTO_MAX_SKU : PROTO_MAX_CATEGORY];

static void sample_lines(struct proto_line *lines, uint16_t n, int at_limits)
{
	REQUIRE(n <= PROTO_MAX_LINES);
	for (uint16_t i = 0; i < n; i++) {
		char tmp[32];
		int k = snprintf(tmp, sizeof tmp, "sku-%u", (unsigned)i);
		REQUIRE(k > 0 && (size_t)k < sizeof tmp);
		memset(line_text[i][0], 'S', PROTO_MAX_SKU);
		memcpy(line_text[i][0], tmp, (size_t)k);
		memset(line_text[i][1], 'C', PROTO_MAX_CATEGORY);
		memcpy(line_text[i][1], "cat-", 4);
		memcpy(line_text[i][1] + 4, tmp + 4, (size_t)k - 4);
		lines[i].sku = (struct proto_str){line_text[i][0], at_limits ? PROTO_MAX_SKU : (uint32_t)k};
		lines[i].category = (struct proto_str){line_text[i][1], at_limits ? PROTO_MAX_CATEGORY : (uint32_t)k};
		lines[i].qty = i + 1;
		lines[i].amount = 100 * (int64_t)(i + 1) + i;
	}
	if (n) {
		lines[0].amount = -1;
		lines[n - 1].qty = INT64_MAX;
	}
}

static void check_line(const struct proto_line *got, const struct proto_line *want)
{
	CHECK(str_same(got->sku, want->sku));
	CHECK(str_same(got->category, want->category));
	CHECK(got->qty == want->qty);
	CHECK(got->amount == want->amount);
}

static void check_sale(const struct proto_sale *got, const struct proto_sale *want)
{
	CHECK(str_same(got->location, want->location));
	CHECK(str_same(got->order_id, want->order_id));
	CHECK(got->time_us == want->time_us);
	CHECK(got->amount == want->amount);
	CHECK_INT(got->nlines, want->nlines);
	for (uint16_t i = 0; i < got->nlines && i < want->nlines; i++)
		check_line(&got->lines[i], &want->lines[i]);
}

/* ---- frames ---------------------------------------------------------- */

/*
 * The worked example of PROTOCOL.md: HELLO, version 1, api_key "test",
 * request id 1. If this changes, every deployed client breaks.
 */
static const uint8_t hello_frame[32] = {
	0x41, 0x43, 0x52, 0x55,                         /* magic "ACRU" */
	0x01,                                           /* version */
	0x01,                                           /* opcode HELLO */
	0x00, 0x00,                                     /* flags */
	0x01, 0x00, 0x00, 0x00,                         /* request id 1 */
	0x08, 0x00, 0x00, 0x00,                         /* body length 8 */
	0x51, 0x1c, 0x16, 0xd3, 0xfc, 0xc2, 0xa0, 0x4e, /* checksum */
	0x01, 0x00,                                     /* body: version 1 */
	0x04, 0x00, 't', 'e', 's', 't',                 /* api_key "test" */
};

/* The second example: LOOKUP by email "ann@example.com", request id 2. */
static const uint8_t lookup_frame[42] = {
	0x41, 0x43, 0x52, 0x55, 0x01, 0x11, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x12, 0x00,
	0x00, 0x00, 0x96, 0x6f, 0x20, 0xc1, 0x73, 0xa1, 0x39, 0xca, 0x02, 0x0f, 0x00, 'a',
	'n',  'n',  '@',  'e',  'x',  'a',  'm',  'p',  'l',  'e',  '.',  'c',  'o',  'm',
};

/* The third: the server's NOT_FOUND reply to that LOOKUP. */
static const uint8_t not_found_frame[44] = {
	0x41, 0x43, 0x52, 0x55, 0x01, 0x11, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
	0x00, 0xdf, 0x6c, 0x22, 0xbc, 0x03, 0x2d, 0x29, 0xab, 0x06, 0x00, 0x10, 0x00, 'n',  'o',
	' ',  's',  'u',  'c',  'h',  ' ',  'c',  'u',  's',  't',  'o',  'm',  'e',  'r',
};

/*
 * The fourth: the reply when the customer is there, OK and a customer with
 * a tier and a group (the customer encoding of PROTOCOL.md).
 */
static const uint8_t found_frame[126] = {
	0x41, 0x43, 0x52, 0x55, 0x01, 0x11, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x66, 0x00, 0x00, 0x00,
	0x52, 0xed, 0xaf, 0x48, 0x6c, 0xe4, 0xd5, 0xd2, /* checksum */
	0x00, 0x00,                                     /* status OK */
	0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* id 42 */
	0x0f, 0x00, 'a', 'n', 'n', '@', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
	0x00, 0x00,                                     /* phone: none */
	0x03, 0x00, 'A', 'n', 'n', 0x03, 0x00, 'L', 'e', 'e',
	0x7b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* balance 123 */
	0x7b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* lifetime_points 123 */
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* visits 1 */
	0x39, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* total_spend 12345 */
	0x00, 0x40, 0x1e, 0x18, 0x24, 0x0a, 0x06, 0x00, /* created_us 1700000000000000 */
	0x00, 0x21, 0x14, 0x1e, 0x24, 0x0a, 0x06, 0x00, /* last_visit_us 1700000100000000 */
	0x01,                                           /* member */
	0x04, 0x00, 'g', 'o', 'l', 'd',                 /* tier */
	0x01, 0x05, 0x00, 's', 't', 'a', 'f', 'f',      /* 1 group: "staff" */
};

/* The fifth: QUOTE for nobody in particular (ref kind 0), 123.45 without lines, request id 3. */
static const uint8_t quote_frame[47] = {
	0x41, 0x43, 0x52, 0x55, 0x01, 0x16, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00,
	0x3a, 0x89, 0x76, 0xf0, 0xd7, 0x65, 0xb0, 0xd8, /* checksum */
	0x00,                                           /* ref kind 0: anonymous */
	0x00, 0x00, 0x00, 0x00,                         /* location, order_id: empty */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* time_us 0: now */
	0x39, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* amount 12345 */
	0x00, 0x00,                                     /* no lines */
};

/* Header and body into out; returns the frame's length. */
static size_t frame_make(uint8_t *out, size_t cap, uint8_t opcode, uint16_t flags, uint32_t request_id,
			 const uint8_t *body, uint32_t body_len)
{
	REQUIRE(cap >= PROTO_HEADER_SIZE + (size_t)body_len);
	if (body_len)
		memcpy(out + PROTO_HEADER_SIZE, body, body_len);
	proto_header_encode(out, opcode, flags, request_id, out + PROTO_HEADER_SIZE, body_len);
	return PROTO_HEADER_SIZE + (size_t)body_len;
}

/* Decode a heap copy of exactly len bytes. */
static int frame_decode_exact(const uint8_t *buf, size_t len, uint32_t max_body, struct proto_header *h,
			      size_t *frame_len)
{
	uint8_t *copy = dup_exact(buf, len);
	const uint8_t *body = NULL;
	int rc = proto_frame_decode(copy, len, max_body, h, &body, frame_len);
	if (rc == 1)
		CHECK(body == copy + PROTO_HEADER_SIZE);
	free(copy);
	return rc;
}

static void test_frame_examples(void)
{
	uint8_t buf[128];
	struct proto_wbuf w;
	struct proto_header h;
	const uint8_t *body;
	size_t frame_len = 0;
	struct proto_hello_req hello = {PROTO_VERSION, LIT("test")};
	struct proto_lookup_req lookup = {{PROTO_REF_EMAIL, 0, LIT("ann@example.com")}};
	struct proto_hello_req hello_in;
	struct proto_lookup_req lookup_in;

	/* The encoder produces exactly the documented bytes. */
	proto_wbuf_init(&w, buf + PROTO_HEADER_SIZE, sizeof buf - PROTO_HEADER_SIZE);
	CHECK_INT(proto_hello_req_encode(&w, &hello), 0);
	CHECK_INT(frame_make(buf, sizeof buf, PROTO_OP_HELLO, 0, 1, buf + PROTO_HEADER_SIZE, (uint32_t)w.len),
		  sizeof hello_frame);
	CHECK(memcmp(buf, hello_frame, sizeof hello_frame) == 0);

	proto_wbuf_init(&w, buf + PROTO_HEADER_SIZE, sizeof buf - PROTO_HEADER_SIZE);
	CHECK_INT(proto_lookup_req_encode(&w, &lookup), 0);
	CHECK_INT(frame_make(buf, sizeof buf, PROTO_OP_LOOKUP, 0, 2, buf + PROTO_HEADER_SIZE, (uint32_t)w.len),
		  sizeof lookup_frame);
	CHECK(memcmp(buf, lookup_frame, sizeof lookup_frame) == 0);

	proto_wbuf_init(&w, buf + PROTO_HEADER_SIZE, sizeof buf - PROTO_HEADER_SIZE);
	CHECK_INT(proto_reply_error_encode(&w, PROTO_ST_NOT_FOUND, proto_str_c("no such customer")), 0);
	CHECK_INT(frame_make(buf, sizeof buf, PROTO_OP_LOOKUP, PROTO_FLAG_REPLY, 2, buf + PROTO_HEADER_SIZE,
			     (uint32_t)w.len),
		  sizeof not_found_frame);
	CHECK(memcmp(buf, not_found_frame, sizeof not_found_frame) == 0);

	/* The checksum is what PROTOCOL.md says, computed here without the codec:
	 * XXH3-64 of the body seeded with XXH3-64 of header bytes 0..15. */
	CHECK(XXH3_64bits_withSeed(hello_frame + 24, 8, XXH3_64bits(hello_frame, 16)) == 0x4ea0c2fcd3161c51ull);
	CHECK(proto_checksum(hello_frame, hello_frame + 24, 8) == 0x4ea0c2fcd3161c51ull);
	CHECK(XXH3_64bits_withSeed(lookup_frame + 24, 18, XXH3_64bits(lookup_frame, 16)) ==
	      le_read(lookup_frame + 16, 8));

	/* And decodes to the documented fields. */
	CHECK_INT(proto_frame_decode(hello_frame, sizeof hello_frame, PROTO_MAX_BODY_DEFAULT, &h, &body, &frame_len),
		  1);
	CHECK(h.magic == PROTO_MAGIC);
	CHECK_INT(h.version, 1);
	CHECK_INT(h.opcode, PROTO_OP_HELLO);
	CHECK_INT(h.flags, 0);
	CHECK_INT(h.request_id, 1);
	CHECK_INT(h.body_len, 8);
	CHECK(h.checksum == 0x4ea0c2fcd3161c51ull);
	CHECK(body == hello_frame + 24);
	CHECK_INT(frame_len, 32);
	CHECK_INT(proto_hello_req_decode(body, h.body_len, &hello_in), 0);
	CHECK_INT(hello_in.version, 1);
	CHECK(str_is(hello_in.api_key, "test"));

	CHECK_INT(proto_frame_decode(lookup_frame, sizeof lookup_frame, PROTO_MAX_BODY_DEFAULT, &h, &body,
				     &frame_len),
		  1);
	CHECK_INT(h.opcode, PROTO_OP_LOOKUP);
	CHECK_INT(h.request_id, 2);
	CHECK_INT(h.body_len, 18);
	CHECK_INT(frame_len, 42);
	CHECK_INT(proto_lookup_req_decode(body, h.body_len, &lookup_in), 0);
	CHECK_INT(lookup_in.ref.kind, PROTO_REF_EMAIL);
	CHECK(str_is(lookup_in.ref.text, "ann@example.com"));

	struct proto_rbuf r;
	struct proto_str msg;
	uint16_t status = 0;
	CHECK_INT(proto_frame_decode(not_found_frame, sizeof not_found_frame, PROTO_MAX_BODY_DEFAULT, &h, &body,
				     &frame_len),
		  1);
	CHECK_INT(h.flags, PROTO_FLAG_REPLY);
	CHECK_INT(h.request_id, 2);
	CHECK(h.checksum == 0xab292d03bc226cdfull);
	proto_rbuf_init(&r, body, h.body_len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_ST_NOT_FOUND);
	CHECK_INT(proto_reply_error_decode(&r, &msg), 0);
	CHECK(str_is(msg, "no such customer"));

	/* The customer reply and the anonymous quote, both ways. */
	static const struct proto_customer ann = {
		.id = 42, .email = LIT("ann@example.com"), .phone = LIT(""), .first_name = LIT("Ann"),
		.last_name = LIT("Lee"), .balance = 123, .lifetime_points = 123, .visits = 1, .total_spend = 12345,
		.created_us = 1700000000000000ll, .last_visit_us = 1700000100000000ll, .member = 1,
		.tier = LIT("gold"), .ngroups = 1, .groups = {LIT("staff")}};
	struct proto_customer ann_in;
	proto_wbuf_init(&w, buf + PROTO_HEADER_SIZE, sizeof buf - PROTO_HEADER_SIZE);
	proto_reply_put_status(&w, PROTO_OK);
	CHECK_INT(proto_customer_rep_encode(&w, &ann), 0);
	CHECK_INT(frame_make(buf, sizeof buf, PROTO_OP_LOOKUP, PROTO_FLAG_REPLY, 2, buf + PROTO_HEADER_SIZE,
			     (uint32_t)w.len),
		  sizeof found_frame);
	CHECK(memcmp(buf, found_frame, sizeof found_frame) == 0);
	CHECK(le_read(found_frame + 16, 8) == 0xd2d5e46c48afed52ull);
	CHECK(XXH3_64bits(found_frame, 16) == 0xa04a5d9fe0774363ull);
	CHECK_INT(proto_frame_decode(found_frame, sizeof found_frame, PROTO_MAX_BODY_DEFAULT, &h, &body, &frame_len),
		  1);
	CHECK_INT(h.body_len, 102);
	proto_rbuf_init(&r, body, h.body_len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_OK);
	memset(&ann_in, 0xa5, sizeof ann_in);
	CHECK_INT(proto_customer_rep_decode(body + r.off, h.body_len - r.off, &ann_in), 0);
	check_customer(&ann_in, &ann);

	static struct proto_quote_req quote, quote_in;
	memset(&quote, 0, sizeof quote);
	quote.ref.text = proto_str_c("");
	quote.sale.location = quote.sale.order_id = proto_str_c("");
	quote.sale.amount = 12345;
	proto_wbuf_init(&w, buf + PROTO_HEADER_SIZE, sizeof buf - PROTO_HEADER_SIZE);
	CHECK_INT(proto_quote_req_encode(&w, &quote), 0);
	CHECK_INT(frame_make(buf, sizeof buf, PROTO_OP_QUOTE, 0, 3, buf + PROTO_HEADER_SIZE, (uint32_t)w.len),
		  sizeof quote_frame);
	CHECK(memcmp(buf, quote_frame, sizeof quote_frame) == 0);
	CHECK(le_read(quote_frame + 16, 8) == 0xd8b065d7f076893aull);
	CHECK(XXH3_64bits(quote_frame, 16) == 0x0f09fa742f9da3dfull);
	CHECK_INT(proto_frame_decode(quote_frame, sizeof quote_frame, PROTO_MAX_BODY_DEFAULT, &h, &body, &frame_len),
		  1);
	CHECK_INT(h.opcode, PROTO_OP_QUOTE);
	CHECK_INT(h.body_len, 23);
	memset(&quote_in, 0xa5, sizeof quote_in);
	CHECK_INT(proto_quote_req_decode(body, h.body_len, &quote_in), 0);
	CHECK_INT(quote_in.ref.kind, 0);
	CHECK(quote_in.ref.id == 0);
	CHECK_INT(quote_in.ref.text.len, 0);
	check_sale(&quote_in.sale, &quote.sale);

	/* An empty body (PING) is a frame of just the header. */
	CHECK_INT(frame_make(buf, sizeof buf, PROTO_OP_PING, 0, 3, NULL, 0), PROTO_HEADER_SIZE);
	CHECK(le_read(buf + 16, 8) == XXH3_64bits_withSeed("", 0, XXH3_64bits(buf, 16)));
	CHECK_INT(frame_decode_exact(buf, PROTO_HEADER_SIZE, 0, &h, &frame_len), 1);
	CHECK_INT(h.opcode, PROTO_OP_PING);
	CHECK_INT(h.body_len, 0);
	CHECK_INT(frame_len, PROTO_HEADER_SIZE);

	/* Header fields land where the table says, little-endian. */
	frame_make(buf, sizeof buf, 0xab, PROTO_FLAG_REPLY | PROTO_FLAG_REPLAY, 0xa1b2c3d4u, hello_frame, 5);
	CHECK(le_read(buf, 4) == PROTO_MAGIC);
	CHECK_INT(buf[4], PROTO_VERSION);
	CHECK_INT(buf[5], 0xab);
	CHECK_INT(le_read(buf + 6, 2), 3);
	CHECK(le_read(buf + 8, 4) == 0xa1b2c3d4u);
	CHECK_INT(le_read(buf + 12, 4), 5);
	CHECK_INT(frame_decode_exact(buf, 29, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), 1);
	CHECK_INT(h.opcode, 0xab);
	CHECK_INT(h.flags, PROTO_FLAG_REPLY | PROTO_FLAG_REPLAY);
	CHECK(h.request_id == 0xa1b2c3d4u);
}

/* Every proper prefix of a valid frame asks for more and fills nothing. */
static void check_need_more(const uint8_t *frame, size_t len)
{
	static const uint8_t sentinel;
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = dup_exact(frame, n);
		struct proto_header h;
		const uint8_t *body = &sentinel;
		size_t frame_len = 777;
		memset(&h, 0x5a, sizeof h);
		int rc = proto_frame_decode(copy, n, PROTO_MAX_BODY_DEFAULT, &h, &body, &frame_len);
		if (rc != 0)
			fprintf(stderr, "need-more: prefix %zu of %zu gave %d\n", n, len, rc);
		CHECK_INT(rc, 0);
		CHECK(body == &sentinel);
		CHECK_INT(frame_len, 777);
		CHECK_INT(h.opcode, 0x5a);
		free(copy);
	}
}

static void test_frame_need_more(void)
{
	uint8_t big[PROTO_HEADER_SIZE + 300];
	uint8_t body[300];
	uint8_t ping[PROTO_HEADER_SIZE];

	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (uint8_t)(i * 7);
	frame_make(big, sizeof big, PROTO_OP_KEY_LIST, PROTO_FLAG_REPLY, 9, body, sizeof body);
	frame_make(ping, sizeof ping, PROTO_OP_PING, 0, 4, NULL, 0);
	check_need_more(hello_frame, sizeof hello_frame);
	check_need_more(lookup_frame, sizeof lookup_frame);
	check_need_more(big, sizeof big);
	check_need_more(ping, sizeof ping);
	check_need_more(found_frame, sizeof found_frame);
	check_need_more(quote_frame, sizeof quote_frame);
}

static void test_frame_concatenated(void)
{
	uint8_t buf[sizeof hello_frame + sizeof lookup_frame];
	struct proto_header h;
	size_t frame_len = 0;

	memcpy(buf, hello_frame, sizeof hello_frame);
	memcpy(buf + sizeof hello_frame, lookup_frame, sizeof lookup_frame);

	/* Exactly the first frame, however much of the second is there. */
	for (size_t n = sizeof hello_frame; n <= sizeof buf; n++) {
		frame_len = 0;
		CHECK_INT(frame_decode_exact(buf, n, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), 1);
		CHECK_INT(frame_len, sizeof hello_frame);
		CHECK_INT(h.request_id, 1);
		CHECK_INT(h.opcode, PROTO_OP_HELLO);
	}
	/* Then the second from where the first ended. */
	CHECK_INT(frame_decode_exact(buf + frame_len, sizeof buf - frame_len, PROTO_MAX_BODY_DEFAULT, &h, &frame_len),
		  1);
	CHECK_INT(frame_len, sizeof lookup_frame);
	CHECK_INT(h.request_id, 2);
	CHECK_INT(h.opcode, PROTO_OP_LOOKUP);

	/* Garbage after a whole frame does not spoil it: the decoder does not
	 * look past the frame it returns. */
	memset(buf + sizeof hello_frame, 0xee, sizeof lookup_frame);
	CHECK_INT(frame_decode_exact(buf, sizeof buf, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), 1);
	CHECK_INT(frame_len, sizeof hello_frame);
	CHECK_INT(frame_decode_exact(buf + frame_len, sizeof buf - frame_len, PROTO_MAX_BODY_DEFAULT, &h, &frame_len),
		  PROTO_E_MAGIC);
}

static void test_frame_magic_version(void)
{
	uint8_t buf[sizeof hello_frame];
	struct proto_header h;
	size_t frame_len;
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	static const uint8_t swapped[] = {'U', 'R', 'C', 'A', 1, 1, 0, 0};

	/* A wrong magic byte is refused as soon as it has arrived, before the
	 * rest of the header: only the good prefix before it asks for more. */
	for (size_t i = 0; i < 4; i++) {
		memcpy(buf, hello_frame, sizeof buf);
		buf[i] ^= 0x20;
		for (size_t n = 0; n <= sizeof buf; n++) {
			int rc = frame_decode_exact(buf, n, PROTO_MAX_BODY_DEFAULT, &h, &frame_len);
			CHECK_INT(rc, n <= i ? 0 : PROTO_E_MAGIC);
		}
	}
	CHECK_INT(frame_decode_exact(http, 1, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), PROTO_E_MAGIC);
	CHECK_INT(frame_decode_exact(http, sizeof http - 1, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), PROTO_E_MAGIC);
	CHECK_INT(frame_decode_exact(swapped, 1, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), PROTO_E_MAGIC);

	/* A wrong version is refused from the fifth byte on. */
	static const uint8_t versions[] = {0, 2, 0x81, 0xff};
	for (size_t v = 0; v < sizeof versions; v++) {
		memcpy(buf, hello_frame, sizeof buf);
		buf[4] = versions[v];
		for (size_t n = 0; n <= sizeof buf; n++) {
			int rc = frame_decode_exact(buf, n, PROTO_MAX_BODY_DEFAULT, &h, &frame_len);
			CHECK_INT(rc, n <= 4 ? 0 : PROTO_E_VERSION);
		}
	}
}

static void test_frame_flags(void)
{
	uint8_t buf[64];
	struct proto_header h;
	size_t frame_len, len;

	/* REPLY and REPLAY, alone or together, are the only bits. */
	for (uint16_t f = 0; f <= 3; f++) {
		len = frame_make(buf, sizeof buf, PROTO_OP_ACCRUE, f, 5, hello_frame, 8);
		CHECK_INT(frame_decode_exact(buf, len, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), 1);
		CHECK_INT(h.flags, f);
	}
	/* Every other bit is refused, even with a correct checksum, and as soon
	 * as the header is in. */
	for (int bit = 2; bit < 16; bit++) {
		uint16_t f = (uint16_t)(1u << bit);
		len = frame_make(buf, sizeof buf, PROTO_OP_ACCRUE, f, 5, hello_frame, 8);
		CHECK_INT(frame_decode_exact(buf, len, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), PROTO_E_FLAGS);
		CHECK_INT(frame_decode_exact(buf, PROTO_HEADER_SIZE, PROTO_MAX_BODY_DEFAULT, &h, &frame_len),
			  PROTO_E_FLAGS);
		len = frame_make(buf, sizeof buf, PROTO_OP_ACCRUE, (uint16_t)(f | PROTO_FLAG_REPLY), 5, hello_frame,
				 8);
		CHECK_INT(frame_decode_exact(buf, len, PROTO_MAX_BODY_DEFAULT, &h, &frame_len), PROTO_E_FLAGS);
	}
}

/* A header announcing body_len, with nothing of the body present. */
static int header_only_decode(uint32_t body_len, uint32_t max_body)
{
	uint8_t buf[PROTO_HEADER_SIZE];
	struct proto_header h;
	size_t frame_len;

	memcpy(buf, hello_frame, PROTO_HEADER_SIZE);
	for (int i = 0; i < 4; i++)
		buf[12 + i] = (uint8_t)(body_len >> (8 * i));
	return frame_decode_exact(buf, sizeof buf, max_body, &h, &frame_len);
}

static void test_frame_too_large(void)
{
	struct proto_header h;
	size_t frame_len;

	/* The length is judged from the header alone, before any body is
	 * buffered: at the limit it waits for the body, one past it fails. */
	CHECK_INT(header_only_decode(100, 100), 0);
	CHECK_INT(header_only_decode(101, 100), PROTO_E_TOO_LARGE);
	CHECK_INT(header_only_decode(PROTO_MAX_BODY_DEFAULT, PROTO_MAX_BODY_DEFAULT), 0);
	CHECK_INT(header_only_decode(PROTO_MAX_BODY_DEFAULT + 1, PROTO_MAX_BODY_DEFAULT), PROTO_E_TOO_LARGE);
	CHECK_INT(header_only_decode(1, 0), PROTO_E_TOO_LARGE);
	/* The hard ceiling holds whatever max_body a caller passes. */
	CHECK_INT(header_only_decode(PROTO_MAX_BODY_HARD, UINT32_MAX), 0);
	CHECK_INT(header_only_decode(PROTO_MAX_BODY_HARD + 1, UINT32_MAX), PROTO_E_TOO_LARGE);
	CHECK_INT(header_only_decode(UINT32_MAX, UINT32_MAX), PROTO_E_TOO_LARGE);
	CHECK_INT(header_only_decode(UINT32_MAX, PROTO_MAX_BODY_DEFAULT), PROTO_E_TOO_LARGE);

	/* A whole valid frame is refused under a smaller announced limit. */
	CHECK_INT(frame_decode_exact(hello_frame, sizeof hello_frame, 7, &h, &frame_len), PROTO_E_TOO_LARGE);
	CHECK_INT(frame_decode_exact(hello_frame, sizeof hello_frame, 8, &h, &frame_len), 1);
}

/* What a frame with byte i altered must give (it may never be accepted). */
static int expected_after_flip(const uint8_t *flipped, size_t len, size_t i, uint32_t max_body)
{
	if (i < 4)
		return PROTO_E_MAGIC;
	if (i == 4)
		return PROTO_E_VERSION;
	if (i >= 12 && i < 16) {
		uint64_t body_len = le_read(flipped + 12, 4);
		if (body_len > max_body)
			return PROTO_E_TOO_LARGE;
		if (body_len > len - PROTO_HEADER_SIZE)
			return 0; /* waits for bytes that a real peer would not send */
		return PROTO_E_CHECKSUM;
	}
	if ((i == 6 || i == 7) && (le_read(flipped + 6, 2) & ~(uint64_t)3))
		return PROTO_E_FLAGS;
	return PROTO_E_CHECKSUM;
}

static void check_every_flip(const uint8_t *frame, size_t len)
{
	static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
	uint8_t *copy = dup_exact(frame, len);
	struct proto_header h;
	const uint8_t *body;
	size_t frame_len;

	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof masks; m++) {
			copy[i] ^= masks[m];
			int want = expected_after_flip(copy, len, i, PROTO_MAX_BODY_DEFAULT);
			int rc = proto_frame_decode(copy, len, PROTO_MAX_BODY_DEFAULT, &h, &body, &frame_len);
			if (rc != want)
				fprintf(stderr, "flip byte %zu ^ 0x%02x of %zu: got %d\n", i, masks[m], len, rc);
			CHECK_INT(rc, want);
			copy[i] ^= masks[m];
		}
	}
	/* Unflipped, the same bytes are still a frame. */
	CHECK_INT(proto_frame_decode(copy, len, PROTO_MAX_BODY_DEFAULT, &h, &body, &frame_len), 1);
	free(copy);
}

static void test_frame_flips(void)
{
	uint8_t big[PROTO_HEADER_SIZE + 300];
	uint8_t body[300];

	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (uint8_t)(i * 13 + 5);
	/* 300 = 0x012c: flips of the length's low bytes can make it shorter. */
	frame_make(big, sizeof big, PROTO_OP_HISTORY, PROTO_FLAG_REPLY, 0x01020304, body, sizeof body);
	check_every_flip(hello_frame, sizeof hello_frame);
	check_every_flip(lookup_frame, sizeof lookup_frame);
	check_every_flip(not_found_frame, sizeof not_found_frame);
	check_every_flip(found_frame, sizeof found_frame);
	check_every_flip(quote_frame, sizeof quote_frame);
	check_every_flip(big, sizeof big);
}

/* ---- primitives ------------------------------------------------------ */

static void test_primitives(void)
{
	uint8_t buf[64];
	struct proto_wbuf w;
	struct proto_rbuf r;

	proto_wbuf_init(&w, buf, sizeof buf);
	proto_put_u8(&w, 0x9a);
	proto_put_u16(&w, 0x1234);
	proto_put_u32(&w, 0x11223344u);
	proto_put_u64(&w, 0x0102030405060708ull);
	proto_put_i64(&w, -2);
	proto_put_str(&w, proto_str_c("hi"));
	proto_put_str(&w, proto_str_c(NULL));
	CHECK_INT(w.overflow, 0);
	CHECK_INT(w.len, 1 + 2 + 4 + 8 + 8 + 4 + 2);
	static const uint8_t want[] = {0x9a, 0x34, 0x12, 0x44, 0x33, 0x22, 0x11, 0x08, 0x07, 0x06, 0x05,
				       0x04, 0x03, 0x02, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0x02, 0x00, 'h',  'i',  0x00, 0x00};
	CHECK_INT(sizeof want, w.len);
	CHECK(memcmp(buf, want, sizeof want) == 0);

	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_get_u8(&r), 0x9a);
	CHECK_INT(proto_get_u16(&r), 0x1234);
	CHECK(proto_get_u32(&r) == 0x11223344u);
	CHECK(proto_get_u64(&r) == 0x0102030405060708ull);
	CHECK(proto_get_i64(&r) == -2);
	CHECK(str_is(proto_get_str(&r, 2), "hi"));
	CHECK(str_is(proto_get_str(&r, 0), ""));
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* A short read is sticky and reads as zero afterwards. */
	proto_rbuf_init(&r, buf, 3);
	CHECK_INT(proto_get_u8(&r), 0x9a);
	CHECK_INT(proto_get_u32(&r), 0);
	CHECK_INT(r.error, PROTO_E_BODY);
	CHECK_INT(proto_get_u8(&r), 0);
	CHECK_INT(proto_rbuf_finish(&r), PROTO_E_BODY);

	/* A string over its max is PROTO_E_FIELD, judged from the length alone. */
	proto_rbuf_init(&r, want + 23, 4);
	CHECK(str_is(proto_get_str(&r, 1), ""));
	CHECK_INT(proto_rbuf_finish(&r), PROTO_E_FIELD);
	static const uint8_t huge_len[] = {0xff, 0xff};
	proto_rbuf_init(&r, huge_len, sizeof huge_len);
	proto_get_str(&r, PROTO_MAX_MESSAGE);
	CHECK_INT(proto_rbuf_finish(&r), PROTO_E_FIELD);
	/* A string whose bytes are missing is PROTO_E_BODY. */
	proto_rbuf_init(&r, want + 23, 3);
	proto_get_str(&r, 2);
	CHECK_INT(proto_rbuf_finish(&r), PROTO_E_BODY);
	/* Unread bytes at the end are PROTO_E_BODY. */
	proto_rbuf_init(&r, buf, 2);
	proto_get_u8(&r);
	CHECK_INT(proto_rbuf_finish(&r), PROTO_E_BODY);

	/* Overflow is sticky: a smaller write after it writes nothing. */
	proto_wbuf_init(&w, buf, 4);
	proto_put_u64(&w, 1);
	CHECK_INT(w.overflow, 1);
	proto_put_u8(&w, 1);
	CHECK_INT(w.len, 0);
	CHECK_INT(w.overflow, 1);

	/* A string longer than a u16 can say cannot be encoded. */
	static char big[0x10001];
	memset(big, 'x', sizeof big);
	uint8_t *out = malloc(0x10010);
	REQUIRE(out != NULL);
	proto_wbuf_init(&w, out, 0x10010);
	proto_put_str(&w, (struct proto_str){big, 0xffff});
	CHECK_INT(w.overflow, 0);
	CHECK_INT(w.len, 0x10001);
	proto_wbuf_init(&w, out, 0x10010);
	proto_put_str(&w, (struct proto_str){big, 0x10000});
	CHECK_INT(w.overflow, 1);
	struct proto_hello_req hr = {1, {big, 0x10000}};
	proto_wbuf_init(&w, out, 0x10010);
	CHECK_INT(proto_hello_req_encode(&w, &hr), PROTO_E_SPACE);
	free(out);
}

/* ---- message round trips -------------------------------------------- */

/* Start a wbuf over buf (the caller's scratch space). */
#define WBUF(w, buf) proto_wbuf_init(&(w), (buf), sizeof(buf))

static void test_hello_round_trip(void)
{
	uint8_t buf[512];
	struct proto_wbuf w;
	static struct spec s;
	struct proto_hello_req req;
	struct proto_hello_rep rep;

	s.n = 0;

	WBUF(w, buf);
	CHECK_INT(proto_hello_req_encode(&w, &s_hello_req), 0);
	spec_le(&s, PROTO_VERSION, 2);
	spec_str(&s, s_hello_req.api_key);
	CHECK(bytes_equal(&w, &s));
	memset(&req, 0xa5, sizeof req);
	CHECK_INT(proto_hello_req_decode(buf, w.len, &req), 0);
	CHECK_INT(req.version, s_hello_req.version);
	CHECK(str_same(req.api_key, s_hello_req.api_key));

	WBUF(w, buf);
	s.n = 0;
	CHECK_INT(proto_hello_rep_encode(&w, &s_hello_rep), 0);
	spec_le(&s, s_hello_rep.role, 1);
	spec_le(&s, s_hello_rep.key_id, 8);
	spec_str(&s, s_hello_rep.location);
	spec_le(&s, s_hello_rep.max_body, 4);
	spec_le(&s, s_hello_rep.max_inflight, 4);
	spec_le(&s, (uint64_t)s_hello_rep.server_time_us, 8);
	CHECK(bytes_equal(&w, &s));
	memset(&rep, 0xa5, sizeof rep);
	CHECK_INT(proto_hello_rep_decode(buf, w.len, &rep), 0);
	CHECK_INT(rep.role, s_hello_rep.role);
	CHECK(rep.key_id == s_hello_rep.key_id);
	CHECK(str_same(rep.location, s_hello_rep.location));
	CHECK_INT(rep.max_body, s_hello_rep.max_body);
	CHECK_INT(rep.max_inflight, s_hello_rep.max_inflight);
	CHECK(rep.server_time_us == s_hello_rep.server_time_us);
}

static void test_request_round_trips(void)
{
	uint8_t buf[2048];
	struct proto_wbuf w;
	static struct spec s;
	struct proto_ref refs[3];

	sample_refs(refs);

	/* ENROL */
	struct proto_enrol_req enrol = {.email = LIT("ann@example.com"), .phone = LIT("+15551234567"),
					.first_name = LIT("Ann"), .last_name = LIT("")};
	struct proto_enrol_req enrol_in;
	memcpy(enrol.key, sample_key, PROTO_KEY_SIZE);
	WBUF(w, buf);
	CHECK_INT(proto_enrol_req_encode(&w, &enrol), 0);
	s.n = 0;
	spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
	spec_str(&s, enrol.email);
	spec_str(&s, enrol.phone);
	spec_str(&s, enrol.first_name);
	spec_str(&s, enrol.last_name);
	CHECK(bytes_equal(&w, &s));
	memset(&enrol_in, 0xa5, sizeof enrol_in);
	CHECK_INT(proto_enrol_req_decode(buf, w.len, &enrol_in), 0);
	CHECK(memcmp(enrol_in.key, sample_key, PROTO_KEY_SIZE) == 0);
	CHECK(str_same(enrol_in.email, enrol.email));
	CHECK(str_same(enrol_in.phone, enrol.phone));
	CHECK(str_same(enrol_in.first_name, enrol.first_name));
	CHECK(str_same(enrol_in.last_name, enrol.last_name));

	for (int k = 0; k < 3; k++) {
		/* LOOKUP */
		struct proto_lookup_req lookup = {refs[k]}, lookup_in;
		WBUF(w, buf);
		CHECK_INT(proto_lookup_req_encode(&w, &lookup), 0);
		s.n = 0;
		spec_ref(&s, &refs[k]);
		CHECK(bytes_equal(&w, &s));
		CHECK_INT(w.len, k == 0 ? 9 : 3 + refs[k].text.len);
		memset(&lookup_in, 0xa5, sizeof lookup_in);
		CHECK_INT(proto_lookup_req_decode(buf, w.len, &lookup_in), 0);
		check_ref(&lookup_in.ref, &refs[k]);

		/* ACCRUE, a sale without lines (more in test_sale_round_trips) */
		static struct proto_accrue_req accrue, accrue_in;
		memset(&accrue, 0, sizeof accrue);
		accrue.ref = refs[k];
		accrue.sale.location = proto_str_c("store-12");
		accrue.sale.order_id = proto_str_c("ORD-0001");
		accrue.sale.time_us = 1700000000000777ll;
		accrue.sale.amount = 12345;
		memcpy(accrue.key, sample_key, PROTO_KEY_SIZE);
		WBUF(w, buf);
		CHECK_INT(proto_accrue_req_encode(&w, &accrue), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_ref(&s, &refs[k]);
		spec_str(&s, accrue.sale.location);
		spec_str(&s, accrue.sale.order_id);
		spec_le(&s, (uint64_t)accrue.sale.time_us, 8);
		spec_le(&s, (uint64_t)accrue.sale.amount, 8);
		spec_le(&s, 0, 2);
		CHECK(bytes_equal(&w, &s));
		memset(&accrue_in, 0xa5, sizeof accrue_in);
		CHECK_INT(proto_accrue_req_decode(buf, w.len, &accrue_in), 0);
		CHECK(memcmp(accrue_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		check_ref(&accrue_in.ref, &refs[k]);
		check_sale(&accrue_in.sale, &accrue.sale);

		/* ADJUST */
		struct proto_adjust_req adjust = {.ref = refs[k], .points = -250, .reason = LIT("goodwill"),
						  .comment = LIT("Sorry for the wait")};
		struct proto_adjust_req adjust_in;
		memcpy(adjust.key, sample_key, PROTO_KEY_SIZE);
		adjust.key[15] = (uint8_t)k;
		WBUF(w, buf);
		CHECK_INT(proto_adjust_req_encode(&w, &adjust), 0);
		s.n = 0;
		spec_bytes(&s, adjust.key, PROTO_KEY_SIZE);
		spec_ref(&s, &refs[k]);
		spec_le(&s, (uint64_t)adjust.points, 8);
		spec_str(&s, adjust.reason);
		spec_str(&s, adjust.comment);
		CHECK(bytes_equal(&w, &s));
		memset(&adjust_in, 0xa5, sizeof adjust_in);
		CHECK_INT(proto_adjust_req_decode(buf, w.len, &adjust_in), 0);
		CHECK(memcmp(adjust_in.key, adjust.key, PROTO_KEY_SIZE) == 0);
		check_ref(&adjust_in.ref, &refs[k]);
		CHECK(adjust_in.points == adjust.points);
		CHECK(str_same(adjust_in.reason, adjust.reason));
		CHECK(str_same(adjust_in.comment, adjust.comment));

		/* HISTORY */
		struct proto_history_req hist = {.ref = refs[k], .before_seq = 0x0badc0ffee000001ull,
						 .limit = PROTO_MAX_HISTORY};
		struct proto_history_req hist_in;
		WBUF(w, buf);
		CHECK_INT(proto_history_req_encode(&w, &hist), 0);
		s.n = 0;
		spec_ref(&s, &refs[k]);
		spec_le(&s, hist.before_seq, 8);
		spec_le(&s, hist.limit, 4);
		CHECK(bytes_equal(&w, &s));
		memset(&hist_in, 0xa5, sizeof hist_in);
		CHECK_INT(proto_history_req_decode(buf, w.len, &hist_in), 0);
		check_ref(&hist_in.ref, &refs[k]);
		CHECK(hist_in.before_seq == hist.before_seq);
		CHECK_INT(hist_in.limit, hist.limit);

		/* GROUP, adding and removing */
		for (uint8_t add = 0; add <= 1; add++) {
			struct proto_group_req group = {.ref = refs[k], .add = add, .group = LIT("staff")}, group_in;
			memcpy(group.key, sample_key, PROTO_KEY_SIZE);
			group.key[0] = add;
			WBUF(w, buf);
			CHECK_INT(proto_group_req_encode(&w, &group), 0);
			s.n = 0;
			spec_bytes(&s, group.key, PROTO_KEY_SIZE);
			spec_ref(&s, &refs[k]);
			spec_le(&s, add, 1);
			spec_str(&s, group.group);
			CHECK(bytes_equal(&w, &s));
			memset(&group_in, 0xa5, sizeof group_in);
			CHECK_INT(proto_group_req_decode(buf, w.len, &group_in), 0);
			CHECK(memcmp(group_in.key, group.key, PROTO_KEY_SIZE) == 0);
			check_ref(&group_in.ref, &refs[k]);
			CHECK_INT(group_in.add, add);
			CHECK(str_same(group_in.group, group.group));
		}

		/* TIER, to a tier and to none */
		static const struct proto_str tiers[2] = {LIT("gold"), LIT("")};
		for (int t = 0; t < 2; t++) {
			struct proto_tier_req tier = {.ref = refs[k], .tier = tiers[t], .note = LIT("spent 1000 in 2025")};
			struct proto_tier_req tier_in;
			memcpy(tier.key, sample_key, PROTO_KEY_SIZE);
			WBUF(w, buf);
			CHECK_INT(proto_tier_req_encode(&w, &tier), 0);
			s.n = 0;
			spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
			spec_ref(&s, &refs[k]);
			spec_str(&s, tier.tier);
			spec_str(&s, tier.note);
			CHECK(bytes_equal(&w, &s));
			memset(&tier_in, 0xa5, sizeof tier_in);
			CHECK_INT(proto_tier_req_decode(buf, w.len, &tier_in), 0);
			CHECK(memcmp(tier_in.key, sample_key, PROTO_KEY_SIZE) == 0);
			check_ref(&tier_in.ref, &refs[k]);
			CHECK(str_same(tier_in.tier, tier.tier));
			CHECK(str_same(tier_in.note, tier.note));
		}
	}

	/* KEY_CREATE, for each role */
	for (uint8_t role = PROTO_ROLE_ADMIN; role <= PROTO_ROLE_READONLY; role++) {
		struct proto_key_create_req kc = {.role = role, .location = LIT("store-12")}, kc_in;
		memcpy(kc.key, sample_key, PROTO_KEY_SIZE);
		WBUF(w, buf);
		CHECK_INT(proto_key_create_req_encode(&w, &kc), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_le(&s, role, 1);
		spec_str(&s, kc.location);
		CHECK(bytes_equal(&w, &s));
		memset(&kc_in, 0xa5, sizeof kc_in);
		CHECK_INT(proto_key_create_req_decode(buf, w.len, &kc_in), 0);
		CHECK(memcmp(kc_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		CHECK_INT(kc_in.role, role);
		CHECK(str_same(kc_in.location, kc.location));
	}

	/* KEY_REVOKE */
	struct proto_key_revoke_req kr = {.key_id = 0x8000000000000001ull}, kr_in;
	memcpy(kr.key, sample_key, PROTO_KEY_SIZE);
	WBUF(w, buf);
	CHECK_INT(proto_key_revoke_req_encode(&w, &kr), 0);
	s.n = 0;
	spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
	spec_le(&s, kr.key_id, 8);
	CHECK(bytes_equal(&w, &s));
	memset(&kr_in, 0xa5, sizeof kr_in);
	CHECK_INT(proto_key_revoke_req_decode(buf, w.len, &kr_in), 0);
	CHECK(memcmp(kr_in.key, sample_key, PROTO_KEY_SIZE) == 0);
	CHECK(kr_in.key_id == kr.key_id);

	/* ORDER, at a named location and at the key's own (empty) */
	static const struct proto_order_req orders[2] = {{LIT("store-12"), LIT("ORD-0001")}, {LIT(""), LIT("ORD-0002")}};
	for (int i = 0; i < 2; i++) {
		struct proto_order_req order_in;
		WBUF(w, buf);
		CHECK_INT(proto_order_req_encode(&w, &orders[i]), 0);
		s.n = 0;
		spec_str(&s, orders[i].location);
		spec_str(&s, orders[i].order_id);
		CHECK(bytes_equal(&w, &s));
		memset(&order_in, 0xa5, sizeof order_in);
		CHECK_INT(proto_order_req_decode(buf, w.len, &order_in), 0);
		CHECK(str_same(order_in.location, orders[i].location));
		CHECK(str_same(order_in.order_id, orders[i].order_id));
	}

	/* PROGRAM_SET, a value and back to the default (empty) */
	static const struct proto_str values[2] = {LIT("1.5 2026-12-01T00:00:00Z 2027-01-01T00:00:00Z vip,staff"),
						   LIT("")};
	for (int i = 0; i < 2; i++) {
		struct proto_program_set_req ps = {.name = LIT("promo.xmas"), .value = values[i]}, ps_in;
		memcpy(ps.key, sample_key, PROTO_KEY_SIZE);
		WBUF(w, buf);
		CHECK_INT(proto_program_set_req_encode(&w, &ps), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_str(&s, ps.name);
		spec_str(&s, ps.value);
		CHECK(bytes_equal(&w, &s));
		memset(&ps_in, 0xa5, sizeof ps_in);
		CHECK_INT(proto_program_set_req_decode(buf, w.len, &ps_in), 0);
		CHECK(memcmp(ps_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		CHECK(str_same(ps_in.name, ps.name));
		CHECK(str_same(ps_in.value, ps.value));
	}
}

/*
 * The messages that carry a sale or lines: ACCRUE, QUOTE and RETURN, with
 * no lines, a few, and PROTO_MAX_LINES of them with every string at its
 * limit; one line more is refused by the encoder.
 */
static void test_sale_round_trips(void)
{
	static uint8_t buf[1 << 16];
	static struct spec s;
	static struct proto_accrue_req acc, acc_in;
	static struct proto_quote_req quote, quote_in;
	static struct proto_return_req ret, ret_in;
	static const uint16_t counts[] = {0, 1, 3, PROTO_MAX_LINES};
	static char loc_max[PROTO_MAX_LOCATION], order_max[PROTO_MAX_ORDER], email_max[PROTO_MAX_EMAIL];
	struct proto_ref refs[4];
	struct proto_wbuf w;

	memset(loc_max, 'L', sizeof loc_max);
	memset(order_max, 'O', sizeof order_max);
	memset(email_max, 'e', sizeof email_max);
	sample_refs(refs);
	refs[3] = (struct proto_ref){PROTO_REF_EMAIL, 0, {email_max, PROTO_MAX_EMAIL}};

	for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
		uint16_t n = counts[c];
		int at_limits = n == PROTO_MAX_LINES;
		size_t want_len;

		/* ACCRUE */
		memset(&acc, 0, sizeof acc);
		memcpy(acc.key, sample_key, PROTO_KEY_SIZE);
		acc.ref = refs[at_limits ? 3 : c % 3];
		acc.sale.location = at_limits ? (struct proto_str){loc_max, PROTO_MAX_LOCATION} : proto_str_c("");
		acc.sale.order_id = at_limits ? (struct proto_str){order_max, PROTO_MAX_ORDER} : proto_str_c("ORD-7");
		acc.sale.time_us = -1;
		acc.sale.amount = INT64_MAX;
		acc.sale.nlines = n;
		sample_lines(acc.sale.lines, n, at_limits);
		WBUF(w, buf);
		CHECK_INT(proto_accrue_req_encode(&w, &acc), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_ref(&s, &acc.ref);
		spec_sale(&s, &acc.sale);
		CHECK(bytes_equal(&w, &s));
		/* A line is 20 bytes plus its SKU and category. */
		want_len = PROTO_KEY_SIZE + (acc.ref.kind == PROTO_REF_ID ? 9 : 3 + acc.ref.text.len) + 2 +
			   acc.sale.location.len + 2 + acc.sale.order_id.len + 8 + 8 + 2;
		for (uint16_t i = 0; i < n; i++)
			want_len += 20 + acc.sale.lines[i].sku.len + acc.sale.lines[i].category.len;
		CHECK_INT(w.len, want_len);
		memset(&acc_in, 0xa5, sizeof acc_in);
		CHECK_INT(proto_accrue_req_decode(buf, w.len, &acc_in), 0);
		CHECK(memcmp(acc_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		check_ref(&acc_in.ref, &acc.ref);
		check_sale(&acc_in.sale, &acc.sale);
		/* The largest ACCRUE body, as PROTOCOL.md states it; a byte less
		 * of buffer fails without writing past it. */
		if (at_limits) {
			struct proto_wbuf small;
			uint8_t *out = malloc(w.len - 1);
			REQUIRE(out != NULL);
			CHECK_INT(w.len, 38311);
			proto_wbuf_init(&small, out, w.len - 1);
			CHECK_INT(proto_accrue_req_encode(&small, &acc), PROTO_E_SPACE);
			CHECK(small.len <= w.len - 1);
			free(out);
		}

		/* QUOTE of the same sale: for each ref, and for nobody (kind 0). */
		for (int k = 0; k < 5; k++) {
			memset(&quote.ref, 0, sizeof quote.ref);
			quote.ref.text = proto_str_c("");
			if (k < 4)
				quote.ref = refs[k];
			quote.sale = acc.sale;
			WBUF(w, buf);
			CHECK_INT(proto_quote_req_encode(&w, &quote), 0);
			s.n = 0;
			if (k < 4)
				spec_ref(&s, &quote.ref);
			else
				spec_le(&s, 0, 1);
			spec_sale(&s, &quote.sale);
			CHECK(bytes_equal(&w, &s));
			memset(&quote_in, 0xa5, sizeof quote_in);
			CHECK_INT(proto_quote_req_decode(buf, w.len, &quote_in), 0);
			if (k < 4) {
				check_ref(&quote_in.ref, &quote.ref);
			} else {
				CHECK_INT(quote_in.ref.kind, 0);
				CHECK(quote_in.ref.id == 0);
				CHECK_INT(quote_in.ref.text.len, 0);
			}
			check_sale(&quote_in.sale, &quote.sale);
		}

		/* RETURN by the same lines (or, with none, by amount). */
		memset(&ret, 0, sizeof ret);
		memcpy(ret.key, sample_key, PROTO_KEY_SIZE);
		ret.location = acc.sale.location;
		ret.order_id = acc.sale.order_id;
		ret.time_us = 1700000000000001ll;
		ret.amount = n ? 0 : 250;
		ret.nlines = n;
		sample_lines(ret.lines, n, at_limits);
		WBUF(w, buf);
		CHECK_INT(proto_return_req_encode(&w, &ret), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_str(&s, ret.location);
		spec_str(&s, ret.order_id);
		spec_le(&s, (uint64_t)ret.time_us, 8);
		spec_le(&s, (uint64_t)ret.amount, 8);
		spec_le(&s, n, 2);
		for (uint16_t i = 0; i < n; i++)
			spec_line(&s, &ret.lines[i]);
		CHECK(bytes_equal(&w, &s));
		memset(&ret_in, 0xa5, sizeof ret_in);
		CHECK_INT(proto_return_req_decode(buf, w.len, &ret_in), 0);
		CHECK(memcmp(ret_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		CHECK(str_same(ret_in.location, ret.location));
		CHECK(str_same(ret_in.order_id, ret.order_id));
		CHECK(ret_in.time_us == ret.time_us);
		CHECK(ret_in.amount == ret.amount);
		CHECK_INT(ret_in.nlines, n);
		for (uint16_t i = 0; i < n && i < ret_in.nlines; i++)
			check_line(&ret_in.lines[i], &ret.lines[i]);
	}

	/* One line over PROTO_MAX_LINES cannot be encoded: what a decoder would
	 * refuse is never sent. */
	acc.sale.nlines = PROTO_MAX_LINES + 1;
	WBUF(w, buf);
	CHECK_INT(proto_accrue_req_encode(&w, &acc), PROTO_E_SPACE);
	quote.sale.nlines = PROTO_MAX_LINES + 1;
	WBUF(w, buf);
	CHECK_INT(proto_quote_req_encode(&w, &quote), PROTO_E_SPACE);
	ret.nlines = UINT16_MAX;
	WBUF(w, buf);
	CHECK_INT(proto_return_req_encode(&w, &ret), PROTO_E_SPACE);

	/* A decode that fails reports no lines, so nobody walks stale ones. */
	acc.sale.nlines = 3;
	sample_lines(acc.sale.lines, 3, 0);
	WBUF(w, buf);
	CHECK_INT(proto_accrue_req_encode(&w, &acc), 0);
	memset(&acc_in, 0xa5, sizeof acc_in);
	CHECK_INT(proto_accrue_req_decode(buf, w.len - 1, &acc_in), PROTO_E_BODY);
	CHECK_INT(acc_in.sale.nlines, 0);
}

/*
 * ACCRUE_BATCH: a count, then each item a u32 length and a whole ACCRUE
 * body with its own key. Items are read back one at a time, and each
 * decodes on its own.
 */
static void test_batch_request(void)
{
	static uint8_t buf[1 << 16];
	static struct spec s, one;
	static struct proto_accrue_req items[4], got;
	struct proto_ref refs[3];
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint16_t count = 0;
	const uint8_t *item;
	size_t item_len;

	sample_refs(refs);
	for (int i = 0; i < 4; i++) {
		memset(&items[i], 0, sizeof items[i]);
		memcpy(items[i].key, sample_key, PROTO_KEY_SIZE);
		items[i].key[15] = (uint8_t)(0x40 + i);
		items[i].ref = refs[i % 3];
		items[i].sale.location = proto_str_c(i == 2 ? "" : "store-12");
		items[i].sale.order_id = proto_str_c(i == 1 ? "ORD-2" : "ORD-1");
		items[i].sale.time_us = 1700000000000000ll + i;
		items[i].sale.amount = 1000 * (i + 1);
	}
	/* One item with every line there may be. */
	items[3].sale.nlines = PROTO_MAX_LINES;
	sample_lines(items[3].sale.lines, PROTO_MAX_LINES, 0);

	WBUF(w, buf);
	proto_batch_req_put_header(&w, 4);
	for (int i = 0; i < 4; i++)
		CHECK_INT(proto_batch_req_put_item(&w, &items[i]), 0);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, 4, 2);
	for (int i = 0; i < 4; i++) {
		one.n = 0;
		spec_bytes(&one, items[i].key, PROTO_KEY_SIZE);
		spec_ref(&one, &items[i].ref);
		spec_sale(&one, &items[i].sale);
		spec_le(&s, one.n, 4);
		spec_bytes(&s, one.b, one.n);
	}
	CHECK(bytes_equal(&w, &s));

	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_batch_req_begin(&r, &count), 0);
	CHECK_INT(count, 4);
	for (int i = 0; i < 4 && i < count; i++) {
		CHECK_INT(proto_batch_req_next(&r, &item, &item_len), 0);
		/* The item is the ACCRUE body itself: the bytes its request key's
		 * replay check hashes, the same as a lone ACCRUE would send. */
		one.n = 0;
		spec_bytes(&one, items[i].key, PROTO_KEY_SIZE);
		spec_ref(&one, &items[i].ref);
		spec_sale(&one, &items[i].sale);
		CHECK_INT(item_len, one.n);
		CHECK(item_len == one.n && memcmp(item, one.b, one.n) == 0);
		memset(&got, 0xa5, sizeof got);
		CHECK_INT(proto_accrue_req_decode(item, item_len, &got), 0);
		CHECK(memcmp(got.key, items[i].key, PROTO_KEY_SIZE) == 0);
		check_ref(&got.ref, &items[i].ref);
		check_sale(&got.sale, &items[i].sale);
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* An item that does not decode does not spoil the others: its length
	 * still says where the next one starts. */
	s.n = 0;
	spec_le(&s, 3, 2);
	one.n = 0;
	spec_bytes(&one, items[0].key, PROTO_KEY_SIZE);
	spec_ref(&one, &items[0].ref);
	spec_sale(&one, &items[0].sale);
	spec_le(&s, one.n, 4);
	spec_bytes(&s, one.b, one.n);
	spec_le(&s, 5, 4);
	spec_bytes(&s, "\x01\x02\x03\x04\x05", 5);
	spec_le(&s, one.n, 4);
	spec_bytes(&s, one.b, one.n);
	proto_rbuf_init(&r, s.b, s.n);
	CHECK_INT(proto_batch_req_begin(&r, &count), 0);
	CHECK_INT(count, 3);
	CHECK_INT(proto_batch_req_next(&r, &item, &item_len), 0);
	CHECK_INT(proto_accrue_req_decode(item, item_len, &got), 0);
	CHECK_INT(proto_batch_req_next(&r, &item, &item_len), 0);
	CHECK_INT(item_len, 5);
	CHECK_INT(proto_accrue_req_decode(item, item_len, &got), PROTO_E_BODY);
	CHECK_INT(proto_batch_req_next(&r, &item, &item_len), 0);
	CHECK_INT(proto_accrue_req_decode(item, item_len, &got), 0);
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* Count: 1..PROTO_MAX_BATCH. */
	static const struct {
		uint16_t count;
		int rc;
	} counts[] = {{0, PROTO_E_FIELD}, {1, 0}, {PROTO_MAX_BATCH, 0}, {PROTO_MAX_BATCH + 1, PROTO_E_FIELD},
		      {UINT16_MAX, PROTO_E_FIELD}};
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		uint8_t hdr[2];
		WBUF(w, hdr);
		proto_batch_req_put_header(&w, counts[i].count);
		proto_rbuf_init(&r, hdr, sizeof hdr);
		CHECK_INT(proto_batch_req_begin(&r, &count), counts[i].rc);
		CHECK_INT(count, counts[i].count);
	}

	/* An item longer than what is left is truncation, judged from its
	 * length alone (nothing past the buffer is read), and sticks. */
	static const uint32_t long_lens[] = {1, 100, UINT32_MAX};
	for (size_t i = 0; i < sizeof long_lens / sizeof long_lens[0]; i++) {
		uint8_t *copy;
		s.n = 0;
		spec_le(&s, 2, 2);
		spec_le(&s, long_lens[i], 4);
		copy = dup_exact(s.b, s.n);
		proto_rbuf_init(&r, copy, s.n);
		CHECK_INT(proto_batch_req_begin(&r, &count), 0);
		item = buf;
		item_len = 99;
		CHECK_INT(proto_batch_req_next(&r, &item, &item_len), PROTO_E_BODY);
		CHECK(item == NULL);
		CHECK_INT(item_len, 0);
		CHECK_INT(proto_batch_req_next(&r, &item, &item_len), PROTO_E_BODY);
		free(copy);
	}
}

static void test_reply_round_trips(void)
{
	uint8_t buf[4096];
	struct proto_wbuf w;
	struct proto_rbuf r;
	static struct spec s;
	uint16_t status;

	/* ENROL / LOOKUP reply: status OK then the customer. */
	struct proto_customer c_in;
	WBUF(w, buf);
	proto_reply_put_status(&w, PROTO_OK);
	CHECK_INT(proto_customer_rep_encode(&w, &s_customer), 0);
	s.n = 0;
	spec_le(&s, PROTO_OK, 2);
	spec_customer(&s, &s_customer);
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	status = 0xffff;
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_OK);
	CHECK_INT(r.off, 2);
	memset(&c_in, 0xa5, sizeof c_in);
	CHECK_INT(proto_customer_rep_decode(buf + r.off, w.len - r.off, &c_in), 0);
	check_customer(&c_in, &s_customer);

	/* ACCRUE / ADJUST reply. */
	struct proto_change_rep ch = {.seq = 0x0102030405060708ull, .points = -123, .customer = s_customer};
	struct proto_change_rep ch_in;
	WBUF(w, buf);
	CHECK_INT(proto_change_rep_encode(&w, &ch), 0);
	s.n = 0;
	spec_le(&s, ch.seq, 8);
	spec_le(&s, (uint64_t)ch.points, 8);
	spec_customer(&s, &s_customer);
	CHECK(bytes_equal(&w, &s));
	memset(&ch_in, 0xa5, sizeof ch_in);
	CHECK_INT(proto_change_rep_decode(buf, w.len, &ch_in), 0);
	CHECK(ch_in.seq == ch.seq);
	CHECK(ch_in.points == ch.points);
	check_customer(&ch_in.customer, &s_customer);

	/* KEY_CREATE reply, first time (with the secret) and as a replay. */
	static const struct proto_key_create_rep kcs[2] = {
		{9, PROTO_ROLE_TERMINAL, LIT("store-12"), LIT("acr_9_0123456789abcdef0123456789abcdef")},
		{9, PROTO_ROLE_TERMINAL, LIT("store-12"), LIT("")},
	};
	for (int i = 0; i < 2; i++) {
		struct proto_key_create_rep kc_in;
		WBUF(w, buf);
		CHECK_INT(proto_key_create_rep_encode(&w, &kcs[i]), 0);
		s.n = 0;
		spec_le(&s, kcs[i].key_id, 8);
		spec_le(&s, kcs[i].role, 1);
		spec_str(&s, kcs[i].location);
		spec_str(&s, kcs[i].secret);
		CHECK(bytes_equal(&w, &s));
		memset(&kc_in, 0xa5, sizeof kc_in);
		CHECK_INT(proto_key_create_rep_decode(buf, w.len, &kc_in), 0);
		CHECK(kc_in.key_id == kcs[i].key_id);
		CHECK_INT(kc_in.role, kcs[i].role);
		CHECK(str_same(kc_in.location, kcs[i].location));
		CHECK(str_same(kc_in.secret, kcs[i].secret));
	}

	/* HISTORY reply: header then items. */
	uint64_t next_before = 0;
	uint32_t count = 0;
	WBUF(w, buf);
	proto_history_rep_put_header(&w, 998, 2);
	proto_entry_put(&w, &s_entries[0]);
	proto_entry_put(&w, &s_entries[1]);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, 998, 8);
	spec_le(&s, 2, 4);
	for (int i = 0; i < 2; i++) {
		const struct proto_entry *e = &s_entries[i];
		spec_le(&s, e->seq, 8);
		spec_le(&s, e->type, 1);
		spec_le(&s, (uint64_t)e->time_us, 8);
		spec_le(&s, (uint64_t)e->points, 8);
		spec_le(&s, (uint64_t)e->balance_after, 8);
		spec_le(&s, (uint64_t)e->amount, 8);
		spec_str(&s, e->location);
		spec_str(&s, e->order_id);
		spec_str(&s, e->reason);
		spec_str(&s, e->comment);
	}
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_history_rep_begin(&r, &next_before, &count), 0);
	CHECK(next_before == 998);
	CHECK_INT(count, 2);
	for (uint32_t i = 0; i < count && i < 2; i++) {
		struct proto_entry e;
		memset(&e, 0xa5, sizeof e);
		CHECK_INT(proto_entry_next(&r, &e), 0);
		CHECK(e.seq == s_entries[i].seq);
		CHECK_INT(e.type, s_entries[i].type);
		CHECK(e.time_us == s_entries[i].time_us);
		CHECK(e.points == s_entries[i].points);
		CHECK(e.balance_after == s_entries[i].balance_after);
		CHECK(e.amount == s_entries[i].amount);
		CHECK(str_same(e.location, s_entries[i].location));
		CHECK(str_same(e.order_id, s_entries[i].order_id));
		CHECK(str_same(e.reason, s_entries[i].reason));
		CHECK(str_same(e.comment, s_entries[i].comment));
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* An empty page. */
	WBUF(w, buf);
	proto_history_rep_put_header(&w, 0, 0);
	CHECK_INT(w.len, 12);
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_history_rep_begin(&r, &next_before, &count), 0);
	CHECK(next_before == 0);
	CHECK_INT(count, 0);
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* KEY_LIST reply. */
	WBUF(w, buf);
	proto_key_list_rep_put_header(&w, 2);
	proto_key_info_put(&w, &s_keys[0]);
	proto_key_info_put(&w, &s_keys[1]);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, 2, 4);
	for (int i = 0; i < 2; i++) {
		spec_le(&s, s_keys[i].id, 8);
		spec_le(&s, s_keys[i].role, 1);
		spec_le(&s, s_keys[i].revoked, 1);
		spec_le(&s, (uint64_t)s_keys[i].created_us, 8);
		spec_str(&s, s_keys[i].location);
	}
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_key_list_rep_begin(&r, &count), 0);
	CHECK_INT(count, 2);
	for (uint32_t i = 0; i < count && i < 2; i++) {
		struct proto_key_info k;
		memset(&k, 0xa5, sizeof k);
		CHECK_INT(proto_key_info_next(&r, &k), 0);
		CHECK(k.id == s_keys[i].id);
		CHECK_INT(k.role, s_keys[i].role);
		CHECK_INT(k.revoked, s_keys[i].revoked);
		CHECK(k.created_us == s_keys[i].created_us);
		CHECK(str_same(k.location, s_keys[i].location));
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* An error reply: status then message. */
	struct proto_str msg;
	WBUF(w, buf);
	CHECK_INT(proto_reply_error_encode(&w, PROTO_ST_NOT_FOUND, proto_str_c("no such customer")), 0);
	s.n = 0;
	spec_le(&s, PROTO_ST_NOT_FOUND, 2);
	spec_str(&s, proto_str_c("no such customer"));
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_ST_NOT_FOUND);
	CHECK_INT(proto_reply_error_decode(&r, &msg), 0);
	CHECK(str_is(msg, "no such customer"));

	/* A message over the limit is cut to PROTO_MAX_MESSAGE, so the reply
	 * still decodes. */
	static char long_msg[PROTO_MAX_MESSAGE + 500];
	memset(long_msg, 'm', sizeof long_msg);
	WBUF(w, buf);
	CHECK_INT(proto_reply_error_encode(&w, PROTO_ST_INTERNAL, (struct proto_str){long_msg, sizeof long_msg}),
		  0);
	CHECK_INT(w.len, 2 + 2 + PROTO_MAX_MESSAGE);
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_ST_INTERNAL);
	CHECK_INT(proto_reply_error_decode(&r, &msg), 0);
	CHECK_INT(msg.len, PROTO_MAX_MESSAGE);
	CHECK(msg.ptr == (const char *)buf + 4);

	/* A status with nothing after it cannot be an error reply. */
	proto_rbuf_init(&r, buf, 2);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(proto_reply_error_decode(&r, &msg), PROTO_E_BODY);
	proto_rbuf_init(&r, buf, 1);
	CHECK_INT(proto_reply_status(&r, &status), PROTO_E_BODY);
}

/* The customer at its extremes: a guest, and every field at its limit. */
static void test_customer_round_trips(void)
{
	static uint8_t buf[4096];
	static struct spec s;
	static char text[PROTO_MAX_GROUPS][PROTO_MAX_EMAIL];
	static struct proto_customer big, got;
	struct proto_wbuf w;

	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &s_guest), 0);
	s.n = 0;
	spec_customer(&s, &s_guest);
	CHECK(bytes_equal(&w, &s));
	/* 68 bytes, the strings' bytes, and 2 per group. */
	CHECK_INT(w.len, 68 + 12);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(proto_customer_rep_decode(buf, w.len, &got), 0);
	check_customer(&got, &s_guest);

	for (int i = 0; i < PROTO_MAX_GROUPS; i++)
		memset(text[i], 'a' + i, sizeof text[i]);
	memset(&big, 0, sizeof big);
	big.id = UINT64_MAX;
	big.email = (struct proto_str){text[0], PROTO_MAX_EMAIL};
	big.phone = (struct proto_str){text[1], PROTO_MAX_PHONE};
	big.first_name = (struct proto_str){text[2], PROTO_MAX_NAME};
	big.last_name = (struct proto_str){text[3], PROTO_MAX_NAME};
	big.balance = INT64_MIN;
	big.lifetime_points = INT64_MAX;
	big.visits = UINT64_MAX;
	big.total_spend = -1;
	big.created_us = INT64_MAX;
	big.last_visit_us = INT64_MIN;
	big.member = 1;
	big.tier = (struct proto_str){text[4], PROTO_MAX_TIER};
	big.ngroups = PROTO_MAX_GROUPS;
	for (int i = 0; i < PROTO_MAX_GROUPS; i++)
		big.groups[i] = (struct proto_str){text[i], PROTO_MAX_GROUP};
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), 0);
	s.n = 0;
	spec_customer(&s, &big);
	CHECK(bytes_equal(&w, &s));
	/* The largest customer, as PROTOCOL.md states it. */
	CHECK_INT(w.len, 1674);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(proto_customer_rep_decode(buf, w.len, &got), 0);
	check_customer(&got, &big);

	/* More groups than a customer may hold cannot be encoded. */
	big.ngroups = PROTO_MAX_GROUPS + 1;
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), PROTO_E_SPACE);
	big.ngroups = UINT8_MAX;
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), PROTO_E_SPACE);

	/* A customer that fails to decode reports no groups. */
	big.ngroups = 3;
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), 0);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(proto_customer_rep_decode(buf, w.len - 1, &got), PROTO_E_BODY);
	CHECK_INT(got.ngroups, 0);
}

/* Replies of RETURN, QUOTE, ORDER, ACCRUE_BATCH and PROGRAM_GET. */
static void test_checkout_reply_round_trips(void)
{
	static uint8_t buf[1 << 17];
	static struct spec s;
	static struct proto_quote_rep quote, quote_in;
	static struct proto_order_rep order, order_in;
	static struct proto_line lines[PROTO_MAX_LINES];
	static char loc_max[PROTO_MAX_LOCATION], order_max[PROTO_MAX_ORDER];
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint16_t status, count;

	memset(loc_max, 'L', sizeof loc_max);
	memset(order_max, 'O', sizeof order_max);

	/* RETURN reply: seq, points, shortfall, refunded, customer. */
	struct proto_return_rep ret = {.seq = 0x0102030405060708ull, .points = -40, .shortfall = 7,
				       .refunded = 2500, .customer = s_customer};
	struct proto_return_rep ret_in;
	WBUF(w, buf);
	proto_reply_put_status(&w, PROTO_OK);
	CHECK_INT(proto_return_rep_encode(&w, &ret), 0);
	s.n = 0;
	spec_le(&s, PROTO_OK, 2);
	spec_le(&s, ret.seq, 8);
	spec_le(&s, (uint64_t)ret.points, 8);
	spec_le(&s, (uint64_t)ret.shortfall, 8);
	spec_le(&s, (uint64_t)ret.refunded, 8);
	spec_customer(&s, &s_customer);
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_OK);
	memset(&ret_in, 0xa5, sizeof ret_in);
	CHECK_INT(proto_return_rep_decode(buf + r.off, w.len - r.off, &ret_in), 0);
	CHECK(ret_in.seq == ret.seq);
	CHECK(ret_in.points == ret.points);
	CHECK(ret_in.shortfall == ret.shortfall);
	CHECK(ret_in.refunded == ret.refunded);
	check_customer(&ret_in.customer, &s_customer);

	/* QUOTE reply, in either unit, with no lines, a few, and all of them. */
	static const uint16_t quote_lines[] = {0, 3, PROTO_MAX_LINES};
	for (size_t q = 0; q < sizeof quote_lines / sizeof quote_lines[0]; q++) {
		memset(&quote, 0, sizeof quote);
		quote.earned = 185;
		quote.qualifying = 12345;
		quote.qualifying_items = 4;
		quote.multiplier = 15000;
		quote.unit = q == 1 ? PROTO_UNIT_STAMPS : PROTO_UNIT_POINTS;
		quote.nlines = quote_lines[q];
		for (uint16_t i = 0; i < quote.nlines; i++)
			quote.line_earned[i] = i % 2 ? -(int64_t)i : (int64_t)i * 1000;
		WBUF(w, buf);
		CHECK_INT(proto_quote_rep_encode(&w, &quote), 0);
		s.n = 0;
		spec_le(&s, (uint64_t)quote.earned, 8);
		spec_le(&s, (uint64_t)quote.qualifying, 8);
		spec_le(&s, (uint64_t)quote.qualifying_items, 8);
		spec_le(&s, quote.multiplier, 4);
		spec_le(&s, quote.unit, 1);
		spec_le(&s, quote.nlines, 2);
		for (uint16_t i = 0; i < quote.nlines; i++)
			spec_le(&s, (uint64_t)quote.line_earned[i], 8);
		CHECK(bytes_equal(&w, &s));
		CHECK_INT(w.len, 31 + 8 * (size_t)quote.nlines);
		memset(&quote_in, 0xa5, sizeof quote_in);
		CHECK_INT(proto_quote_rep_decode(buf, w.len, &quote_in), 0);
		CHECK(quote_in.earned == quote.earned);
		CHECK(quote_in.qualifying == quote.qualifying);
		CHECK(quote_in.qualifying_items == quote.qualifying_items);
		CHECK_INT(quote_in.multiplier, quote.multiplier);
		CHECK_INT(quote_in.unit, quote.unit);
		CHECK_INT(quote_in.nlines, quote.nlines);
		for (uint16_t i = 0; i < quote.nlines && i < quote_in.nlines; i++)
			CHECK(quote_in.line_earned[i] == quote.line_earned[i]);
	}
	quote.nlines = PROTO_MAX_LINES + 1;
	WBUF(w, buf);
	CHECK_INT(proto_quote_rep_encode(&w, &quote), PROTO_E_SPACE);

	/* ORDER reply. */
	static const uint16_t order_lines[] = {0, 2, PROTO_MAX_LINES};
	for (size_t o = 0; o < sizeof order_lines / sizeof order_lines[0]; o++) {
		int at_limits = order_lines[o] == PROTO_MAX_LINES;
		memset(&order, 0, sizeof order);
		order.customer_id = 42;
		order.seq = 1001;
		order.time_us = 1700000000000000ll;
		order.location = at_limits ? (struct proto_str){loc_max, PROTO_MAX_LOCATION} : proto_str_c("store-12");
		order.order_id = at_limits ? (struct proto_str){order_max, PROTO_MAX_ORDER} : proto_str_c("ORD-1");
		order.amount = 12345;
		order.earned = 185;
		order.refunded = 2000;
		order.taken_back = 30;
		order.multiplier = 15000;
		order.nlines = order_lines[o];
		sample_lines(lines, order.nlines, at_limits);
		for (uint16_t i = 0; i < order.nlines; i++) {
			order.lines[i].sku = lines[i].sku;
			order.lines[i].category = lines[i].category;
			order.lines[i].qty = lines[i].qty;
			order.lines[i].amount = lines[i].amount;
			order.lines[i].earned = 10 + i;
			order.lines[i].refunded_qty = i % 3;
			order.lines[i].refunded = 50 * (i % 3);
		}
		WBUF(w, buf);
		proto_reply_put_status(&w, PROTO_OK);
		CHECK_INT(proto_order_rep_encode(&w, &order), 0);
		s.n = 0;
		spec_le(&s, PROTO_OK, 2);
		spec_le(&s, order.customer_id, 8);
		spec_le(&s, order.seq, 8);
		spec_le(&s, (uint64_t)order.time_us, 8);
		spec_str(&s, order.location);
		spec_str(&s, order.order_id);
		spec_le(&s, (uint64_t)order.amount, 8);
		spec_le(&s, (uint64_t)order.earned, 8);
		spec_le(&s, (uint64_t)order.refunded, 8);
		spec_le(&s, (uint64_t)order.taken_back, 8);
		spec_le(&s, order.multiplier, 4);
		spec_le(&s, order.nlines, 2);
		for (uint16_t i = 0; i < order.nlines; i++) {
			const struct proto_order_line *l = &order.lines[i];
			spec_str(&s, l->sku);
			spec_str(&s, l->category);
			spec_le(&s, (uint64_t)l->qty, 8);
			spec_le(&s, (uint64_t)l->amount, 8);
			spec_le(&s, (uint64_t)l->earned, 8);
			spec_le(&s, (uint64_t)l->refunded_qty, 8);
			spec_le(&s, (uint64_t)l->refunded, 8);
		}
		CHECK(bytes_equal(&w, &s));
		/* The largest ORDER reply body (with its status), as PROTOCOL.md states it. */
		if (at_limits) {
			struct proto_wbuf small;
			uint8_t *out = malloc(w.len - 3);
			REQUIRE(out != NULL);
			CHECK_INT(w.len, 44228);
			proto_wbuf_init(&small, out, w.len - 3);
			CHECK_INT(proto_order_rep_encode(&small, &order), PROTO_E_SPACE);
			CHECK(small.len <= w.len - 3);
			free(out);
		}
		memset(&order_in, 0xa5, sizeof order_in);
		CHECK_INT(proto_order_rep_decode(buf + 2, w.len - 2, &order_in), 0);
		CHECK(order_in.customer_id == order.customer_id);
		CHECK(order_in.seq == order.seq);
		CHECK(order_in.time_us == order.time_us);
		CHECK(str_same(order_in.location, order.location));
		CHECK(str_same(order_in.order_id, order.order_id));
		CHECK(order_in.amount == order.amount);
		CHECK(order_in.earned == order.earned);
		CHECK(order_in.refunded == order.refunded);
		CHECK(order_in.taken_back == order.taken_back);
		CHECK_INT(order_in.multiplier, order.multiplier);
		CHECK_INT(order_in.nlines, order.nlines);
		for (uint16_t i = 0; i < order.nlines && i < order_in.nlines; i++) {
			const struct proto_order_line *a = &order_in.lines[i], *b = &order.lines[i];
			CHECK(str_same(a->sku, b->sku));
			CHECK(str_same(a->category, b->category));
			CHECK(a->qty == b->qty);
			CHECK(a->amount == b->amount);
			CHECK(a->earned == b->earned);
			CHECK(a->refunded_qty == b->refunded_qty);
			CHECK(a->refunded == b->refunded);
		}
	}
	order.nlines = PROTO_MAX_LINES + 1;
	WBUF(w, buf);
	CHECK_INT(proto_order_rep_encode(&w, &order), PROTO_E_SPACE);

	/* ACCRUE_BATCH reply: applied, replayed and refused items, in order. */
	static char long_msg[PROTO_MAX_MESSAGE + 200];
	memset(long_msg, 'm', sizeof long_msg);
	const struct proto_batch_item items[4] = {
		{.status = PROTO_OK, .replay = 0, .seq = 1001, .points = 123, .customer_id = 42, .balance = 456},
		{.status = PROTO_ST_DUPLICATE_ORDER, .replay = 0, .message = LIT("order \"ORD-1\" was already accrued")},
		{.status = PROTO_OK, .replay = 1, .seq = 999, .points = -1, .customer_id = UINT64_MAX,
		 .balance = INT64_MIN},
		{.status = PROTO_ST_BAD_REQUEST, .replay = 0, .message = {long_msg, sizeof long_msg}},
	};
	WBUF(w, buf);
	proto_reply_put_status(&w, PROTO_OK);
	proto_batch_rep_put_header(&w, 4);
	for (int i = 0; i < 4; i++)
		proto_batch_item_put(&w, &items[i]);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, PROTO_OK, 2);
	spec_le(&s, 4, 2);
	for (int i = 0; i < 4; i++) {
		spec_le(&s, items[i].status, 2);
		spec_le(&s, items[i].replay, 1);
		if (items[i].status == PROTO_OK) {
			spec_le(&s, items[i].seq, 8);
			spec_le(&s, (uint64_t)items[i].points, 8);
			spec_le(&s, items[i].customer_id, 8);
			spec_le(&s, (uint64_t)items[i].balance, 8);
		} else {
			/* A message over PROTO_MAX_MESSAGE is cut to it. */
			struct proto_str m = items[i].message;
			if (m.len > PROTO_MAX_MESSAGE)
				m.len = PROTO_MAX_MESSAGE;
			spec_str(&s, m);
		}
	}
	CHECK(bytes_equal(&w, &s));
	CHECK_INT(w.len, 2 + 2 + 35 + (5 + items[1].message.len) + 35 + (5 + PROTO_MAX_MESSAGE));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(proto_batch_rep_begin(&r, &count), 0);
	CHECK_INT(count, 4);
	for (int i = 0; i < 4 && i < count; i++) {
		struct proto_batch_item it;
		memset(&it, 0xa5, sizeof it);
		CHECK_INT(proto_batch_item_next(&r, &it), 0);
		CHECK_INT(it.status, items[i].status);
		CHECK_INT(it.replay, items[i].replay);
		if (items[i].status == PROTO_OK) {
			CHECK(it.seq == items[i].seq);
			CHECK(it.points == items[i].points);
			CHECK(it.customer_id == items[i].customer_id);
			CHECK(it.balance == items[i].balance);
			CHECK_INT(it.message.len, 0);
		} else {
			/* A refusal carries a message and zeros for the rest. */
			CHECK(it.seq == 0 && it.points == 0 && it.customer_id == 0 && it.balance == 0);
			CHECK_INT(it.message.len, items[i].message.len > PROTO_MAX_MESSAGE ? PROTO_MAX_MESSAGE
											: items[i].message.len);
			CHECK(memcmp(it.message.ptr, items[i].message.ptr, it.message.len) == 0);
		}
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* PROGRAM_GET reply: a count, then (name, value) pairs. */
	static char value_max[PROTO_MAX_SETTING_VALUE], name_max[PROTO_MAX_SETTING_KEY];
	memset(value_max, 'v', sizeof value_max);
	memset(name_max, 'n', sizeof name_max);
	const struct proto_str settings[4][2] = {
		{LIT("unit"), LIT("points")},
		{LIT("earn.per"), LIT("1.00")},
		{LIT("exclude.skus"), LIT("")},
		{{name_max, PROTO_MAX_SETTING_KEY}, {value_max, PROTO_MAX_SETTING_VALUE}},
	};
	WBUF(w, buf);
	proto_reply_put_status(&w, PROTO_OK);
	proto_program_rep_put_header(&w, 4);
	for (int i = 0; i < 4; i++)
		proto_setting_put(&w, settings[i][0], settings[i][1]);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, PROTO_OK, 2);
	spec_le(&s, 4, 2);
	for (int i = 0; i < 4; i++) {
		spec_str(&s, settings[i][0]);
		spec_str(&s, settings[i][1]);
	}
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(proto_program_rep_begin(&r, &count), 0);
	CHECK_INT(count, 4);
	for (int i = 0; i < 4 && i < count; i++) {
		struct proto_str name, value;
		CHECK_INT(proto_setting_next(&r, &name, &value), 0);
		CHECK(str_same(name, settings[i][0]));
		CHECK(str_same(value, settings[i][1]));
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* List headers over their maxima are refused before any item. */
	uint8_t hdr[2];
	WBUF(w, hdr);
	proto_batch_rep_put_header(&w, PROTO_MAX_BATCH + 1);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_batch_rep_begin(&r, &count), PROTO_E_FIELD);
	WBUF(w, hdr);
	proto_batch_rep_put_header(&w, PROTO_MAX_BATCH);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_batch_rep_begin(&r, &count), 0);
	WBUF(w, hdr);
	proto_program_rep_put_header(&w, PROTO_MAX_SETTINGS + 1);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_program_rep_begin(&r, &count), PROTO_E_FIELD);
	WBUF(w, hdr);
	proto_program_rep_put_header(&w, PROTO_MAX_SETTINGS);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_program_rep_begin(&r, &count), 0);
	CHECK_INT(count, PROTO_MAX_SETTINGS);
}

/* ---- strict bodies: templates from PROTOCOL.md ---------------------- */

/*
 * Each body is described as a list of fields so it can be built with any
 * string at any length. Every decoder is wrapped to the same shape.
 */
enum tkind { T_U8, T_U16, T_U32, T_U64, T_KEY, T_STR, T_ITEM };

struct tfield {
	enum tkind kind;
	/* The integer, or a string's usual length; for T_ITEM (a u32 byte
	 * count of what follows), how many of the next fields it counts. */
	uint64_t value;
	uint32_t max;   /* a string's limit */
	const char *name;
};

struct tmsg {
	const char *name;
	int (*decode)(const uint8_t *b, size_t n);
	const struct tfield *fields;
	size_t nfields;
};

static int dec_hello_req(const uint8_t *b, size_t n)
{
	struct proto_hello_req m;
	return proto_hello_req_decode(b, n, &m);
}
static int dec_hello_rep(const uint8_t *b, size_t n)
{
	struct proto_hello_rep m;
	return proto_hello_rep_decode(b, n, &m);
}
static int dec_enrol_req(const uint8_t *b, size_t n)
{
	struct proto_enrol_req m;
	return proto_enrol_req_decode(b, n, &m);
}
static int dec_lookup_req(const uint8_t *b, size_t n)
{
	struct proto_lookup_req m;
	return proto_lookup_req_decode(b, n, &m);
}
static int dec_accrue_req(const uint8_t *b, size_t n)
{
	static struct proto_accrue_req m;
	return proto_accrue_req_decode(b, n, &m);
}
static int dec_return_req(const uint8_t *b, size_t n)
{
	static struct proto_return_req m;
	return proto_return_req_decode(b, n, &m);
}
static int dec_quote_req(const uint8_t *b, size_t n)
{
	static struct proto_quote_req m;
	return proto_quote_req_decode(b, n, &m);
}
static int dec_order_req(const uint8_t *b, size_t n)
{
	struct proto_order_req m;
	return proto_order_req_decode(b, n, &m);
}
static int dec_group_req(const uint8_t *b, size_t n)
{
	struct proto_group_req m;
	return proto_group_req_decode(b, n, &m);
}
static int dec_tier_req(const uint8_t *b, size_t n)
{
	struct proto_tier_req m;
	return proto_tier_req_decode(b, n, &m);
}
static int dec_program_set_req(const uint8_t *b, size_t n)
{
	struct proto_program_set_req m;
	return proto_program_set_req_decode(b, n, &m);
}
/* The whole of an ACCRUE_BATCH request: every item must decode. */
static int dec_batch_req(const uint8_t *b, size_t n)
{
	static struct proto_accrue_req m;
	struct proto_rbuf r;
	const uint8_t *item;
	size_t item_len;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_batch_req_begin(&r, &count);
	for (uint16_t i = 0; rc == 0 && i < count; i++) {
		rc = proto_batch_req_next(&r, &item, &item_len);
		if (rc == 0)
			rc = proto_accrue_req_decode(item, item_len, &m);
	}
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_adjust_req(const uint8_t *b, size_t n)
{
	struct proto_adjust_req m;
	return proto_adjust_req_decode(b, n, &m);
}
static int dec_history_req(const uint8_t *b, size_t n)
{
	struct proto_history_req m;
	return proto_history_req_decode(b, n, &m);
}
static int dec_key_create_req(const uint8_t *b, size_t n)
{
	struct proto_key_create_req m;
	return proto_key_create_req_decode(b, n, &m);
}
static int dec_key_revoke_req(const uint8_t *b, size_t n)
{
	struct proto_key_revoke_req m;
	return proto_key_revoke_req_decode(b, n, &m);
}
static int dec_customer_rep(const uint8_t *b, size_t n)
{
	struct proto_customer m;
	return proto_customer_rep_decode(b, n, &m);
}
static int dec_change_rep(const uint8_t *b, size_t n)
{
	struct proto_change_rep m;
	return proto_change_rep_decode(b, n, &m);
}
static int dec_key_create_rep(const uint8_t *b, size_t n)
{
	struct proto_key_create_rep m;
	return proto_key_create_rep_decode(b, n, &m);
}
static int dec_return_rep(const uint8_t *b, size_t n)
{
	struct proto_return_rep m;
	return proto_return_rep_decode(b, n, &m);
}
static int dec_quote_rep(const uint8_t *b, size_t n)
{
	static struct proto_quote_rep m;
	return proto_quote_rep_decode(b, n, &m);
}
static int dec_order_rep(const uint8_t *b, size_t n)
{
	static struct proto_order_rep m;
	return proto_order_rep_decode(b, n, &m);
}
static int dec_batch_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct proto_batch_item it;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_batch_rep_begin(&r, &count);
	for (uint16_t i = 0; rc == 0 && i < count; i++)
		rc = proto_batch_item_next(&r, &it);
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_program_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct proto_str name, value;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_program_rep_begin(&r, &count);
	for (uint16_t i = 0; rc == 0 && i < count; i++)
		rc = proto_setting_next(&r, &name, &value);
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_history_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	uint64_t next;
	uint32_t count;
	struct proto_entry e;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_history_rep_begin(&r, &next, &count);
	for (uint32_t i = 0; rc == 0 && i < count; i++)
		rc = proto_entry_next(&r, &e);
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_key_list_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	uint32_t count;
	struct proto_key_info k;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_key_list_rep_begin(&r, &count);
	for (uint32_t i = 0; rc == 0 && i < count; i++)
		rc = proto_key_info_next(&r, &k);
	return rc ? rc : proto_rbuf_finish(&r);
}
static int dec_error_reply(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct proto_str msg;
	uint16_t status;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_reply_status(&r, &status);
	return rc ? rc : proto_reply_error_decode(&r, &msg);
}

#define KEY16 {T_KEY, 0, 0, "key"}
#define CUSTOMER_FIELDS                                                                                      \
	{T_U64, 42, 0, "id"}, {T_STR, 15, PROTO_MAX_EMAIL, "email"}, {T_STR, 12, PROTO_MAX_PHONE, "phone"},   \
		{T_STR, 3, PROTO_MAX_NAME, "first_name"}, {T_STR, 3, PROTO_MAX_NAME, "last_name"},            \
		{T_U64, 10, 0, "balance"}, {T_U64, 20, 0, "lifetime"}, {T_U64, 1, 0, "visits"},               \
		{T_U64, 500, 0, "total_spend"}, {T_U64, 7, 0, "created"}, {T_U64, 8, 0, "last_visit"},         \
		{T_U8, 1, 0, "member"}, {T_STR, 4, PROTO_MAX_TIER, "tier"}, {T_U8, 2, 0, "ngroups"},          \
		{T_STR, 5, PROTO_MAX_GROUP, "group 1"}, {T_STR, 3, PROTO_MAX_GROUP, "group 2"}
/* A sale with one line. */
#define SALE_FIELDS                                                                                          \
	{T_STR, 8, PROTO_MAX_LOCATION, "location"}, {T_STR, 8, PROTO_MAX_ORDER, "order_id"},                  \
		{T_U64, 1700000000000000ull, 0, "time"}, {T_U64, 12345, 0, "amount"}, {T_U16, 1, 0, "nlines"}, \
		{T_STR, 6, PROTO_MAX_SKU, "sku"}, {T_STR, 5, PROTO_MAX_CATEGORY, "category"},                  \
		{T_U64, 2, 0, "qty"}, {T_U64, 12345, 0, "line amount"}

static const struct tfield t_hello_req[] = {{T_U16, 1, 0, "version"}, {T_STR, 4, PROTO_MAX_APIKEY, "api_key"}};
static const struct tfield t_hello_rep[] = {{T_U8, 2, 0, "role"},         {T_U64, 7, 0, "key_id"},
					    {T_STR, 5, PROTO_MAX_LOCATION, "location"}, {T_U32, 1u << 20, 0, "max_body"},
					    {T_U32, 64, 0, "max_inflight"}, {T_U64, 123, 0, "server_time"}};
static const struct tfield t_enrol[] = {KEY16,
					{T_STR, 15, PROTO_MAX_EMAIL, "email"},
					{T_STR, 12, PROTO_MAX_PHONE, "phone"},
					{T_STR, 3, PROTO_MAX_NAME, "first_name"},
					{T_STR, 3, PROTO_MAX_NAME, "last_name"}};
static const struct tfield t_lookup_id[] = {{T_U8, PROTO_REF_ID, 0, "kind"}, {T_U64, 42, 0, "id"}};
static const struct tfield t_lookup_email[] = {{T_U8, PROTO_REF_EMAIL, 0, "kind"},
					       {T_STR, 15, PROTO_MAX_EMAIL, "ref email"}};
static const struct tfield t_lookup_phone[] = {{T_U8, PROTO_REF_PHONE, 0, "kind"},
					       {T_STR, 12, PROTO_MAX_PHONE, "ref phone"}};
static const struct tfield t_accrue[] = {KEY16, {T_U8, PROTO_REF_EMAIL, 0, "kind"},
					 {T_STR, 15, PROTO_MAX_EMAIL, "ref email"}, SALE_FIELDS};
static const struct tfield t_return_req[] = {KEY16, SALE_FIELDS};
static const struct tfield t_quote_id[] = {{T_U8, PROTO_REF_ID, 0, "kind"}, {T_U64, 42, 0, "id"}, SALE_FIELDS};
static const struct tfield t_quote_phone[] = {{T_U8, PROTO_REF_PHONE, 0, "kind"},
					      {T_STR, 12, PROTO_MAX_PHONE, "ref phone"}, SALE_FIELDS};
static const struct tfield t_quote_anon[] = {{T_U8, 0, 0, "kind"}, SALE_FIELDS};
static const struct tfield t_order_req[] = {{T_STR, 8, PROTO_MAX_LOCATION, "location"},
					    {T_STR, 8, PROTO_MAX_ORDER, "order_id"}};
static const struct tfield t_group_req[] = {KEY16,
					    {T_U8, PROTO_REF_ID, 0, "kind"},
					    {T_U64, 42, 0, "id"},
					    {T_U8, 1, 0, "add"},
					    {T_STR, 5, PROTO_MAX_GROUP, "group"}};
static const struct tfield t_tier_req[] = {KEY16,
					   {T_U8, PROTO_REF_EMAIL, 0, "kind"},
					   {T_STR, 15, PROTO_MAX_EMAIL, "ref email"},
					   {T_STR, 4, PROTO_MAX_TIER, "tier"},
					   {T_STR, 10, PROTO_MAX_REASON, "note"}};
static const struct tfield t_program_set_req[] = {KEY16, {T_STR, 11, PROTO_MAX_SETTING_KEY, "name"},
						  {T_STR, 3, PROTO_MAX_SETTING_VALUE, "value"}};
/* Two items, each an ACCRUE body (key, ref by id, a sale with one line). */
static const struct tfield t_batch_req[] = {
	{T_U16, 2, 0, "count"},
	{T_ITEM, 12, 0, "item 1 length"}, KEY16, {T_U8, PROTO_REF_ID, 0, "kind"}, {T_U64, 42, 0, "id"}, SALE_FIELDS,
	{T_ITEM, 12, 0, "item 2 length"}, KEY16, {T_U8, PROTO_REF_ID, 0, "kind 2"}, {T_U64, 43, 0, "id 2"},
	SALE_FIELDS};
static const struct tfield t_adjust[] = {KEY16,
					 {T_U8, PROTO_REF_PHONE, 0, "kind"},
					 {T_STR, 12, PROTO_MAX_PHONE, "ref phone"},
					 {T_U64, 100, 0, "points"},
					 {T_STR, 8, PROTO_MAX_REASON, "reason"},
					 {T_STR, 18, PROTO_MAX_REASON, "comment"}};
static const struct tfield t_history[] = {{T_U8, PROTO_REF_ID, 0, "kind"},
					  {T_U64, 42, 0, "id"},
					  {T_U64, 0, 0, "before_seq"},
					  {T_U32, 50, 0, "limit"}};
static const struct tfield t_key_create_req[] = {KEY16, {T_U8, PROTO_ROLE_TERMINAL, 0, "role"},
						 {T_STR, 8, PROTO_MAX_LOCATION, "location"}};
static const struct tfield t_key_revoke[] = {KEY16, {T_U64, 3, 0, "key_id"}};
static const struct tfield t_customer[] = {CUSTOMER_FIELDS};
static const struct tfield t_change[] = {{T_U64, 77, 0, "seq"}, {T_U64, 5, 0, "points"}, CUSTOMER_FIELDS};
static const struct tfield t_key_create_rep[] = {{T_U64, 3, 0, "key_id"},
						 {T_U8, PROTO_ROLE_READONLY, 0, "role"},
						 {T_STR, 0, PROTO_MAX_LOCATION, "location"},
						 {T_STR, 40, PROTO_MAX_APIKEY, "secret"}};
static const struct tfield t_history_rep[] = {
	{T_U64, 0, 0, "next_before"},  {T_U32, 1, 0, "count"},
	{T_U64, 77, 0, "seq"},         {T_U8, PROTO_ENTRY_ACCRUE, 0, "type"},
	{T_U64, 1, 0, "time"},         {T_U64, 5, 0, "points"},
	{T_U64, 5, 0, "balance_after"}, {T_U64, 500, 0, "amount"},
	{T_STR, 8, PROTO_MAX_LOCATION, "entry location"}, {T_STR, 8, PROTO_MAX_ORDER, "entry order_id"},
	{T_STR, 0, PROTO_MAX_REASON, "entry reason"},     {T_STR, 0, PROTO_MAX_REASON, "entry comment"}};
static const struct tfield t_key_list_rep[] = {{T_U32, 1, 0, "count"},
					       {T_U64, 3, 0, "id"},
					       {T_U8, PROTO_ROLE_ADMIN, 0, "role"},
					       {T_U8, 0, 0, "revoked"},
					       {T_U64, 1, 0, "created"},
					       {T_STR, 0, PROTO_MAX_LOCATION, "key location"}};
static const struct tfield t_error_reply[] = {{T_U16, PROTO_ST_CONFLICT, 0, "status"},
					      {T_STR, 20, PROTO_MAX_MESSAGE, "message"}};
static const struct tfield t_return_rep[] = {{T_U64, 77, 0, "seq"},
					     {T_U64, (uint64_t)-5, 0, "points"},
					     {T_U64, 1, 0, "shortfall"},
					     {T_U64, 500, 0, "refunded"},
					     CUSTOMER_FIELDS};
static const struct tfield t_quote_rep[] = {{T_U64, 185, 0, "earned"},     {T_U64, 12345, 0, "qualifying"},
					    {T_U64, 3, 0, "items"},        {T_U32, 15000, 0, "multiplier"},
					    {T_U8, PROTO_UNIT_POINTS, 0, "unit"}, {T_U16, 2, 0, "nlines"},
					    {T_U64, 100, 0, "line 1"},     {T_U64, 85, 0, "line 2"}};
static const struct tfield t_order_rep[] = {
	{T_U64, 42, 0, "customer_id"},    {T_U64, 1001, 0, "seq"},
	{T_U64, 1, 0, "time"},            {T_STR, 8, PROTO_MAX_LOCATION, "location"},
	{T_STR, 5, PROTO_MAX_ORDER, "order_id"}, {T_U64, 12345, 0, "amount"},
	{T_U64, 123, 0, "earned"},        {T_U64, 100, 0, "refunded"},
	{T_U64, 1, 0, "taken_back"},      {T_U32, 10000, 0, "multiplier"},
	{T_U16, 1, 0, "nlines"},          {T_STR, 6, PROTO_MAX_SKU, "sku"},
	{T_STR, 5, PROTO_MAX_CATEGORY, "category"}, {T_U64, 2, 0, "qty"},
	{T_U64, 12345, 0, "line amount"}, {T_U64, 123, 0, "line earned"},
	{T_U64, 1, 0, "refunded_qty"},    {T_U64, 100, 0, "line refunded"}};
static const struct tfield t_batch_rep[] = {
	{T_U16, 2, 0, "count"},       {T_U16, PROTO_OK, 0, "status 1"}, {T_U8, 0, 0, "replay 1"},
	{T_U64, 1001, 0, "seq"},      {T_U64, 123, 0, "points"},         {T_U64, 42, 0, "customer_id"},
	{T_U64, 456, 0, "balance"},   {T_U16, PROTO_ST_DUPLICATE_ORDER, 0, "status 2"},
	{T_U8, 0, 0, "replay 2"},     {T_STR, 30, PROTO_MAX_MESSAGE, "item message"}};
static const struct tfield t_program_rep[] = {{T_U16, 2, 0, "count"},
					      {T_STR, 4, PROTO_MAX_SETTING_KEY, "name 1"},
					      {T_STR, 6, PROTO_MAX_SETTING_VALUE, "value 1"},
					      {T_STR, 8, PROTO_MAX_SETTING_KEY, "name 2"},
					      {T_STR, 4, PROTO_MAX_SETTING_VALUE, "value 2"}};

#define TMSG(name, dec, fields) {name, dec, fields, sizeof(fields) / sizeof((fields)[0])}

static const struct tmsg tmsgs[] = {
	TMSG("hello req", dec_hello_req, t_hello_req),
	TMSG("hello rep", dec_hello_rep, t_hello_rep),
	TMSG("enrol req", dec_enrol_req, t_enrol),
	TMSG("lookup req (id)", dec_lookup_req, t_lookup_id),
	TMSG("lookup req (email)", dec_lookup_req, t_lookup_email),
	TMSG("lookup req (phone)", dec_lookup_req, t_lookup_phone),
	TMSG("accrue req", dec_accrue_req, t_accrue),
	TMSG("adjust req", dec_adjust_req, t_adjust),
	TMSG("history req", dec_history_req, t_history),
	TMSG("key_create req", dec_key_create_req, t_key_create_req),
	TMSG("key_revoke req", dec_key_revoke_req, t_key_revoke),
	TMSG("customer rep", dec_customer_rep, t_customer),
	TMSG("change rep", dec_change_rep, t_change),
	TMSG("key_create rep", dec_key_create_rep, t_key_create_rep),
	TMSG("history rep", dec_history_rep, t_history_rep),
	TMSG("key_list rep", dec_key_list_rep, t_key_list_rep),
	TMSG("error reply", dec_error_reply, t_error_reply),
	TMSG("return req", dec_return_req, t_return_req),
	TMSG("quote req (id)", dec_quote_req, t_quote_id),
	TMSG("quote req (phone)", dec_quote_req, t_quote_phone),
	TMSG("quote req (anonymous)", dec_quote_req, t_quote_anon),
	TMSG("order req", dec_order_req, t_order_req),
	TMSG("group req", dec_group_req, t_group_req),
	TMSG("tier req", dec_tier_req, t_tier_req),
	TMSG("program_set req", dec_program_set_req, t_program_set_req),
	TMSG("batch req", dec_batch_req, t_batch_req),
	TMSG("return rep", dec_return_rep, t_return_rep),
	TMSG("quote rep", dec_quote_rep, t_quote_rep),
	TMSG("order rep", dec_order_rep, t_order_rep),
	TMSG("batch rep", dec_batch_rep, t_batch_rep),
	TMSG("program rep", dec_program_rep, t_program_rep),
};

/* tmsg_build option: write only the overridden string's length prefix. */
enum { STR_PREFIX_ONLY = 1 };

/*
 * Build m's body into s. The string at field index `which` (SIZE_MAX: none)
 * gets length len; the other strings keep their usual length.
 */
static void tmsg_build(struct spec *s, const struct tmsg *m, size_t which, size_t len, int opts)
{
	size_t item_at = SIZE_MAX, item_last = 0;

	s->n = 0;
	for (size_t i = 0; i < m->nfields; i++) {
		const struct tfield *f = &m->fields[i];
		switch (f->kind) {
		case T_ITEM:
			item_at = s->n;
			item_last = i + f->value;
			spec_le(s, 0, 4);
			break;
		case T_U8: spec_le(s, f->value, 1); break;
		case T_U16: spec_le(s, f->value, 2); break;
		case T_U32: spec_le(s, f->value, 4); break;
		case T_U64: spec_le(s, f->value, 8); break;
		case T_KEY: spec_bytes(s, sample_key, PROTO_KEY_SIZE); break;
		case T_STR:
			if (i != which)
				spec_fill(s, f->value, (char)('a' + i));
			else if (opts & STR_PREFIX_ONLY)
				spec_le(s, len, 2);
			else
				spec_fill(s, len, (char)('a' + i));
			break;
		}
		if (item_at != SIZE_MAX && i == item_last) {
			uint64_t n = s->n - item_at - 4;
			for (int k = 0; k < 4; k++)
				s->b[item_at + (size_t)k] = (uint8_t)(n >> (8 * k));
			item_at = SIZE_MAX;
		}
	}
}

static int decode_exact(const struct tmsg *m, const uint8_t *b, size_t n)
{
	uint8_t *copy = dup_exact(b, n);
	int rc = m->decode(copy, n);
	free(copy);
	return rc;
}

/* The template decodes; every truncation and any trailing byte does not. */
static void test_bodies_strict(void)
{
	static struct spec s;

	for (size_t t = 0; t < sizeof tmsgs / sizeof tmsgs[0]; t++) {
		const struct tmsg *m = &tmsgs[t];
		tmsg_build(&s, m, SIZE_MAX, 0, 0);
		CHECK_INT(decode_exact(m, s.b, s.n), 0);
		for (size_t cut = 0; cut < s.n; cut++) {
			int rc = decode_exact(m, s.b, cut);
			if (rc != PROTO_E_BODY)
				fprintf(stderr, "%s: cut at %zu of %zu gave %d\n", m->name, cut, s.n, rc);
			CHECK_INT(rc, PROTO_E_BODY);
		}
		static const uint8_t extra[] = {0x00, 0xff};
		for (size_t e = 0; e < sizeof extra; e++) {
			s.b[s.n] = extra[e];
			int rc = decode_exact(m, s.b, s.n + 1);
			if (rc != PROTO_E_BODY)
				fprintf(stderr, "%s: trailing 0x%02x gave %d\n", m->name, extra[e], rc);
			CHECK_INT(rc, PROTO_E_BODY);
		}
	}
}

/* Every string is accepted at its limit and refused one byte past it. */
static void test_string_limits(void)
{
	static struct spec s;
	int strings = 0;

	for (size_t t = 0; t < sizeof tmsgs / sizeof tmsgs[0]; t++) {
		const struct tmsg *m = &tmsgs[t];
		for (size_t i = 0; i < m->nfields; i++) {
			const struct tfield *f = &m->fields[i];
			if (f->kind != T_STR)
				continue;
			strings++;
			tmsg_build(&s, m, i, f->max, 0);
			int at = decode_exact(m, s.b, s.n);
			tmsg_build(&s, m, i, (size_t)f->max + 1, 0);
			int over = decode_exact(m, s.b, s.n);
			/* Judged from the length alone: the bytes need not be there. */
			tmsg_build(&s, m, i, 0xffff, STR_PREFIX_ONLY);
			int huge = decode_exact(m, s.b, s.n);
			tmsg_build(&s, m, i, 0, 0);
			int empty = decode_exact(m, s.b, s.n);
			if (at != 0 || over != PROTO_E_FIELD || huge != PROTO_E_FIELD || empty != 0)
				fprintf(stderr, "%s: %s: at %d over %d huge %d empty %d\n", m->name, f->name, at, over,
					huge, empty);
			CHECK_INT(at, 0);
			CHECK_INT(over, PROTO_E_FIELD);
			CHECK_INT(huge, PROTO_E_FIELD);
			CHECK_INT(empty, 0);
		}
	}
	/*
	 * Every string field of every message is in a template: hello req 1,
	 * hello rep 1, enrol 4, lookup refs 2, accrue 1 + 4 (a sale with a
	 * line), adjust 3, key_create req 1, customer 7, change 7,
	 * key_create rep 2, history rep 4, key_list rep 1, error 1, return req
	 * 4, quotes 4 + 5 + 4, order req 2, group 1, tier 3, program_set 2,
	 * batch req 2 * 4, return rep 7, order rep 4, batch rep 1, program
	 * rep 4.
	 */
	CHECK_INT(strings, 1 + 1 + 4 + 2 + 5 + 3 + 1 + 7 + 7 + 2 + 4 + 1 + 1 + 4 + 13 + 2 + 1 + 3 + 2 + 8 + 7 + 4 +
				   1 + 4);
}

/* Build m with the u8/u16/u32 field called name set to value, and decode. */
static int tmsg_with(const struct tmsg *m, const char *name, uint64_t value)
{
	struct tfield fields[48];
	struct tmsg copy = *m;
	static struct spec s;
	int found = 0;

	REQUIRE(m->nfields <= 48);
	memcpy(fields, m->fields, m->nfields * sizeof fields[0]);
	for (size_t i = 0; i < m->nfields; i++) {
		if (strcmp(fields[i].name, name) == 0) {
			fields[i].value = value;
			found = 1;
		}
	}
	REQUIRE(found);
	copy.fields = fields;
	tmsg_build(&s, &copy, SIZE_MAX, 0, 0);
	return decode_exact(&copy, s.b, s.n);
}

static const struct tmsg *tmsg_named(const char *name)
{
	for (size_t t = 0; t < sizeof tmsgs / sizeof tmsgs[0]; t++)
		if (strcmp(tmsgs[t].name, name) == 0)
			return &tmsgs[t];
	REQUIRE(!"no such template");
	return NULL;
}

static void test_enum_ranges(void)
{
	static const char *const with_ref[] = {"lookup req (email)", "accrue req", "adjust req", "history req",
					       "group req",          "tier req",   "batch req"};
	static const uint8_t bad_kinds[] = {0, 4, 0x80, 0xff};

	/* A ref kind other than 1..3 is refused; the good ones pass. */
	for (size_t i = 0; i < sizeof with_ref / sizeof with_ref[0]; i++) {
		const struct tmsg *m = tmsg_named(with_ref[i]);
		for (size_t k = 0; k < sizeof bad_kinds; k++)
			CHECK_INT(tmsg_with(m, "kind", bad_kinds[k]), PROTO_E_FIELD);
	}
	/* QUOTE alone takes kind 0 (nobody in particular); 4 and up are still refused. */
	static const char *const quotes[] = {"quote req (id)", "quote req (phone)"};
	for (size_t i = 0; i < sizeof quotes / sizeof quotes[0]; i++)
		for (size_t k = 1; k < sizeof bad_kinds; k++)
			CHECK_INT(tmsg_with(tmsg_named(quotes[i]), "kind", bad_kinds[k]), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(tmsg_named("quote req (anonymous)"), "kind", 0), 0);
	CHECK_INT(tmsg_with(tmsg_named("quote req (anonymous)"), "kind", 4), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(tmsg_named("lookup req (email)"), "kind", PROTO_REF_PHONE), 0);
	CHECK_INT(tmsg_with(tmsg_named("lookup req (phone)"), "kind", PROTO_REF_EMAIL), 0);
	/* An email of 33..254 bytes read as a phone is over the phone limit. */
	{
		struct spec s = {.n = 0};
		spec_le(&s, PROTO_REF_PHONE, 1);
		spec_fill(&s, PROTO_MAX_PHONE + 1, '1');
		CHECK_INT(dec_lookup_req(s.b, s.n), PROTO_E_FIELD);
	}

	/* Roles are 1..3 wherever they appear in a request or reply. */
	static const char *const with_role[] = {"key_create req", "hello rep", "key_create rep"};
	for (size_t i = 0; i < sizeof with_role / sizeof with_role[0]; i++) {
		const struct tmsg *m = tmsg_named(with_role[i]);
		CHECK_INT(tmsg_with(m, "role", 0), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "role", 4), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "role", 0xff), PROTO_E_FIELD);
		for (uint64_t role = PROTO_ROLE_ADMIN; role <= PROTO_ROLE_READONLY; role++)
			CHECK_INT(tmsg_with(m, "role", role), 0);
	}

	/* History pages hold 1..1000 entries. */
	const struct tmsg *hist = tmsg_named("history req");
	CHECK_INT(tmsg_with(hist, "limit", 0), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(hist, "limit", 1), 0);
	CHECK_INT(tmsg_with(hist, "limit", PROTO_MAX_HISTORY), 0);
	CHECK_INT(tmsg_with(hist, "limit", PROTO_MAX_HISTORY + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(hist, "limit", UINT32_MAX), PROTO_E_FIELD);

	/* A history reply announcing more than a page is refused at its header. */
	uint8_t hdr[12];
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint64_t next;
	uint32_t count;
	WBUF(w, hdr);
	proto_history_rep_put_header(&w, 5, PROTO_MAX_HISTORY + 1);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_history_rep_begin(&r, &next, &count), PROTO_E_FIELD);
	WBUF(w, hdr);
	proto_history_rep_put_header(&w, 5, PROTO_MAX_HISTORY);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_history_rep_begin(&r, &next, &count), 0);
	CHECK_INT(count, PROTO_MAX_HISTORY);
	/* A count larger than the items present fails on the missing item. */
	CHECK_INT(tmsg_with(tmsg_named("history rep"), "count", 2), PROTO_E_BODY);
	CHECK_INT(tmsg_with(tmsg_named("key_list rep"), "count", 2), PROTO_E_BODY);
	/* And a smaller one leaves trailing bytes. */
	CHECK_INT(tmsg_with(tmsg_named("history rep"), "count", 0), PROTO_E_BODY);
	CHECK_INT(tmsg_with(tmsg_named("key_list rep"), "count", 0), PROTO_E_BODY);

	/* member is 0 or 1, and a customer is in at most 16 groups, wherever a customer appears. */
	static const char *const with_customer[] = {"customer rep", "change rep", "return rep"};
	for (size_t i = 0; i < sizeof with_customer / sizeof with_customer[0]; i++) {
		const struct tmsg *m = tmsg_named(with_customer[i]);
		CHECK_INT(tmsg_with(m, "member", 0), 0);
		CHECK_INT(tmsg_with(m, "member", 1), 0);
		CHECK_INT(tmsg_with(m, "member", 2), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "member", 0xff), PROTO_E_FIELD);
		/* Refused from the count alone, before the groups are read. */
		CHECK_INT(tmsg_with(m, "ngroups", PROTO_MAX_GROUPS + 1), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "ngroups", 0xff), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "ngroups", PROTO_MAX_GROUPS), PROTO_E_BODY);
		CHECK_INT(tmsg_with(m, "ngroups", 3), PROTO_E_BODY);
		CHECK_INT(tmsg_with(m, "ngroups", 1), PROTO_E_BODY);
	}

	/* At most 256 lines, judged from the count before any line is read. */
	static const char *const with_lines[] = {"accrue req", "return req", "quote req (id)", "quote req (anonymous)",
						 "batch req", "order rep", "quote rep"};
	for (size_t i = 0; i < sizeof with_lines / sizeof with_lines[0]; i++) {
		const struct tmsg *m = tmsg_named(with_lines[i]);
		uint64_t usual = 0;
		for (size_t f = 0; f < m->nfields; f++)
			if (strcmp(m->fields[f].name, "nlines") == 0)
				usual = m->fields[f].value;
		REQUIRE(usual > 0);
		CHECK_INT(tmsg_with(m, "nlines", PROTO_MAX_LINES + 1), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "nlines", UINT16_MAX), PROTO_E_FIELD);
		CHECK_INT(tmsg_with(m, "nlines", PROTO_MAX_LINES), PROTO_E_BODY);
		CHECK_INT(tmsg_with(m, "nlines", usual + 1), PROTO_E_BODY);
		CHECK_INT(tmsg_with(m, "nlines", usual - 1), PROTO_E_BODY);
	}

	/* GROUP's add is 0 (remove) or 1 (add). */
	const struct tmsg *group = tmsg_named("group req");
	CHECK_INT(tmsg_with(group, "add", 0), 0);
	CHECK_INT(tmsg_with(group, "add", 1), 0);
	CHECK_INT(tmsg_with(group, "add", 2), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(group, "add", 0xff), PROTO_E_FIELD);

	/* A quote's unit is 0 (points) or 1 (stamps). */
	const struct tmsg *quote_rep = tmsg_named("quote rep");
	CHECK_INT(tmsg_with(quote_rep, "unit", PROTO_UNIT_POINTS), 0);
	CHECK_INT(tmsg_with(quote_rep, "unit", PROTO_UNIT_STAMPS), 0);
	CHECK_INT(tmsg_with(quote_rep, "unit", 2), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(quote_rep, "unit", 0xff), PROTO_E_FIELD);

	/* A batch holds 1..8190 sales; its reply at most as many items. */
	const struct tmsg *batch = tmsg_named("batch req");
	CHECK_INT(tmsg_with(batch, "count", 0), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(batch, "count", PROTO_MAX_BATCH + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(batch, "count", UINT16_MAX), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(batch, "count", PROTO_MAX_BATCH), PROTO_E_BODY);
	CHECK_INT(tmsg_with(batch, "count", 3), PROTO_E_BODY);
	CHECK_INT(tmsg_with(batch, "count", 1), PROTO_E_BODY);
	const struct tmsg *batch_rep = tmsg_named("batch rep");
	CHECK_INT(tmsg_with(batch_rep, "count", PROTO_MAX_BATCH + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(batch_rep, "count", 3), PROTO_E_BODY);
	CHECK_INT(tmsg_with(batch_rep, "count", 1), PROTO_E_BODY);
	/* An item length that does not match its body: too short leaves the
	 * sale cut, too long takes the next item's bytes. */
	{
		static struct spec s;
		tmsg_build(&s, batch, SIZE_MAX, 0, 0);
		CHECK_INT(decode_exact(batch, s.b, s.n), 0);
		uint32_t len1 = (uint32_t)le_read(s.b + 2, 4);
		const uint32_t bad[] = {len1 - 1, len1 + 1, 0, UINT32_MAX};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			for (int k = 0; k < 4; k++)
				s.b[2 + k] = (uint8_t)(bad[i] >> (8 * k));
			CHECK_INT(decode_exact(batch, s.b, s.n), PROTO_E_BODY);
		}
	}

	/* A program holds at most 512 settings. */
	const struct tmsg *program = tmsg_named("program rep");
	CHECK_INT(tmsg_with(program, "count", PROTO_MAX_SETTINGS + 1), PROTO_E_FIELD);
	CHECK_INT(tmsg_with(program, "count", 3), PROTO_E_BODY);
	CHECK_INT(tmsg_with(program, "count", 1), PROTO_E_BODY);
}

/* ---- encoder overflow ------------------------------------------------ */

static int enc_hello_req(struct proto_wbuf *w) { return proto_hello_req_encode(w, &s_hello_req); }
static int enc_hello_rep(struct proto_wbuf *w) { return proto_hello_rep_encode(w, &s_hello_rep); }
static int enc_enrol_req(struct proto_wbuf *w)
{
	struct proto_enrol_req m = {.email = LIT("ann@example.com"), .phone = LIT("+1555"), .first_name = LIT("A"),
				    .last_name = LIT("L")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_enrol_req_encode(w, &m);
}
static int enc_lookup_req(struct proto_wbuf *w)
{
	struct proto_lookup_req m = {{PROTO_REF_EMAIL, 0, LIT("ann@example.com")}};
	return proto_lookup_req_encode(w, &m);
}
/* A sale with two lines, for the encoders of ACCRUE, QUOTE and ACCRUE_BATCH. */
static const struct proto_accrue_req *small_accrue(void)
{
	static struct proto_accrue_req m;
	memset(&m, 0, sizeof m);
	m.ref = (struct proto_ref){PROTO_REF_ID, 42, LIT("")};
	m.sale.location = proto_str_c("s1");
	m.sale.order_id = proto_str_c("o1");
	m.sale.time_us = 5;
	m.sale.amount = 100;
	m.sale.nlines = 2;
	sample_lines(m.sale.lines, 2, 0);
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return &m;
}
static int enc_accrue_req(struct proto_wbuf *w) { return proto_accrue_req_encode(w, small_accrue()); }
static int enc_return_req(struct proto_wbuf *w)
{
	static struct proto_return_req m;
	memset(&m, 0, sizeof m);
	m.location = proto_str_c("s1");
	m.order_id = proto_str_c("o1");
	m.nlines = 2;
	sample_lines(m.lines, 2, 0);
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_return_req_encode(w, &m);
}
static int enc_quote_req(struct proto_wbuf *w)
{
	static struct proto_quote_req m;
	m.ref = (struct proto_ref){PROTO_REF_EMAIL, 0, LIT("ann@example.com")};
	m.sale = small_accrue()->sale;
	return proto_quote_req_encode(w, &m);
}
static int enc_quote_anon_req(struct proto_wbuf *w)
{
	static struct proto_quote_req m;
	memset(&m.ref, 0, sizeof m.ref);
	m.ref.text = proto_str_c("");
	m.sale = small_accrue()->sale;
	return proto_quote_req_encode(w, &m);
}
static int enc_order_req(struct proto_wbuf *w)
{
	struct proto_order_req m = {LIT("s1"), LIT("o1")};
	return proto_order_req_encode(w, &m);
}
static int enc_group_req(struct proto_wbuf *w)
{
	struct proto_group_req m = {.ref = {PROTO_REF_ID, 42, LIT("")}, .add = 1, .group = LIT("vip")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_group_req_encode(w, &m);
}
static int enc_tier_req(struct proto_wbuf *w)
{
	struct proto_tier_req m = {.ref = {PROTO_REF_PHONE, 0, LIT("+1555")}, .tier = LIT("gold"), .note = LIT("n")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_tier_req_encode(w, &m);
}
static int enc_program_set_req(struct proto_wbuf *w)
{
	struct proto_program_set_req m = {.name = LIT("earn.points"), .value = LIT("2")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_program_set_req_encode(w, &m);
}
static int enc_batch_req(struct proto_wbuf *w)
{
	proto_batch_req_put_header(w, 2);
	proto_batch_req_put_item(w, small_accrue());
	return proto_batch_req_put_item(w, small_accrue());
}
static int enc_adjust_req(struct proto_wbuf *w)
{
	struct proto_adjust_req m = {.ref = {PROTO_REF_PHONE, 0, LIT("+1555")}, .points = 5, .reason = LIT("r"),
				     .comment = LIT("c")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_adjust_req_encode(w, &m);
}
static int enc_history_req(struct proto_wbuf *w)
{
	struct proto_history_req m = {.ref = {PROTO_REF_ID, 42, LIT("")}, .before_seq = 9, .limit = 10};
	return proto_history_req_encode(w, &m);
}
static int enc_key_create_req(struct proto_wbuf *w)
{
	struct proto_key_create_req m = {.role = PROTO_ROLE_TERMINAL, .location = LIT("s1")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_key_create_req_encode(w, &m);
}
static int enc_key_revoke_req(struct proto_wbuf *w)
{
	struct proto_key_revoke_req m = {.key_id = 3};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_key_revoke_req_encode(w, &m);
}
static int enc_customer_rep(struct proto_wbuf *w) { return proto_customer_rep_encode(w, &s_customer); }
static int enc_change_rep(struct proto_wbuf *w)
{
	struct proto_change_rep m = {.seq = 1, .points = 2, .customer = s_customer};
	return proto_change_rep_encode(w, &m);
}
static int enc_key_create_rep(struct proto_wbuf *w)
{
	struct proto_key_create_rep m = {3, PROTO_ROLE_ADMIN, LIT(""), LIT("acr_secret")};
	return proto_key_create_rep_encode(w, &m);
}
static int enc_return_rep(struct proto_wbuf *w)
{
	struct proto_return_rep m = {.seq = 1, .points = -2, .shortfall = 1, .refunded = 50, .customer = s_customer};
	return proto_return_rep_encode(w, &m);
}
static int enc_quote_rep(struct proto_wbuf *w)
{
	static struct proto_quote_rep m;
	m.earned = 3;
	m.qualifying = 300;
	m.qualifying_items = 2;
	m.multiplier = 10000;
	m.unit = PROTO_UNIT_POINTS;
	m.nlines = 2;
	m.line_earned[0] = 1;
	m.line_earned[1] = 2;
	return proto_quote_rep_encode(w, &m);
}
static int enc_order_rep(struct proto_wbuf *w)
{
	static struct proto_order_rep m;
	memset(&m, 0, sizeof m);
	m.customer_id = 42;
	m.location = proto_str_c("s1");
	m.order_id = proto_str_c("o1");
	m.nlines = 2;
	for (int i = 0; i < 2; i++) {
		m.lines[i].sku = proto_str_c("sku");
		m.lines[i].category = proto_str_c("cat");
		m.lines[i].qty = 1;
	}
	return proto_order_rep_encode(w, &m);
}
static int enc_batch_rep(struct proto_wbuf *w)
{
	const struct proto_batch_item ok = {.status = PROTO_OK, .seq = 1, .points = 2, .customer_id = 3, .balance = 4};
	const struct proto_batch_item no = {.status = PROTO_ST_RANGE, .message = LIT("amount must be positive")};
	proto_batch_rep_put_header(w, 2);
	proto_batch_item_put(w, &ok);
	proto_batch_item_put(w, &no);
	return w->overflow ? PROTO_E_SPACE : 0;
}
static int enc_program_rep(struct proto_wbuf *w)
{
	proto_program_rep_put_header(w, 2);
	proto_setting_put(w, proto_str_c("unit"), proto_str_c("points"));
	proto_setting_put(w, proto_str_c("guests"), proto_str_c("refuse"));
	return w->overflow ? PROTO_E_SPACE : 0;
}
static int enc_error_reply(struct proto_wbuf *w)
{
	return proto_reply_error_encode(w, PROTO_ST_BUSY, proto_str_c("too many requests in flight"));
}
/* The list encoders return nothing: the caller reads w->overflow. */
static int enc_history_rep(struct proto_wbuf *w)
{
	proto_history_rep_put_header(w, 0, 2);
	proto_entry_put(w, &s_entries[0]);
	proto_entry_put(w, &s_entries[1]);
	return w->overflow ? PROTO_E_SPACE : 0;
}
static int enc_key_list_rep(struct proto_wbuf *w)
{
	proto_key_list_rep_put_header(w, 2);
	proto_key_info_put(w, &s_keys[0]);
	proto_key_info_put(w, &s_keys[1]);
	return w->overflow ? PROTO_E_SPACE : 0;
}

static void test_encoder_space(void)
{
	static const struct {
		const char *name;
		int (*encode)(struct proto_wbuf *w);
	} encs[] = {
		{"hello req", enc_hello_req},       {"hello rep", enc_hello_rep},
		{"enrol req", enc_enrol_req},       {"lookup req", enc_lookup_req},
		{"accrue req", enc_accrue_req},     {"adjust req", enc_adjust_req},
		{"history req", enc_history_req},   {"key_create req", enc_key_create_req},
		{"key_revoke req", enc_key_revoke_req}, {"customer rep", enc_customer_rep},
		{"change rep", enc_change_rep},     {"key_create rep", enc_key_create_rep},
		{"error reply", enc_error_reply},   {"history rep", enc_history_rep},
		{"key_list rep", enc_key_list_rep}, {"return req", enc_return_req},
		{"quote req", enc_quote_req},       {"quote req (anonymous)", enc_quote_anon_req},
		{"order req", enc_order_req},       {"group req", enc_group_req},
		{"tier req", enc_tier_req},         {"program_set req", enc_program_set_req},
		{"batch req", enc_batch_req},       {"return rep", enc_return_rep},
		{"quote rep", enc_quote_rep},       {"order rep", enc_order_rep},
		{"batch rep", enc_batch_rep},       {"program rep", enc_program_rep},
	};
	uint8_t big[4096];

	for (size_t e = 0; e < sizeof encs / sizeof encs[0]; e++) {
		struct proto_wbuf w;
		WBUF(w, big);
		CHECK_INT(encs[e].encode(&w), 0);
		size_t need = w.len;
		CHECK(need > 0);
		/* Every capacity short of the need fails, never writing past it. */
		for (size_t cap = 0; cap <= need; cap++) {
			uint8_t *out = malloc(cap ? cap : 1);
			REQUIRE(out != NULL);
			proto_wbuf_init(&w, out, cap);
			int rc = encs[e].encode(&w);
			int want = cap < need ? PROTO_E_SPACE : 0;
			if (rc != want)
				fprintf(stderr, "%s: cap %zu of %zu gave %d\n", encs[e].name, cap, need, rc);
			CHECK_INT(rc, want);
			CHECK(w.len <= cap);
			if (cap == need)
				CHECK(memcmp(out, big, need) == 0);
			free(out);
		}
	}
}

/* ---- names ----------------------------------------------------------- */

static void test_names(void)
{
	static const char *const status_names[] = {
		"OK",           "PROTOCOL",     "UNSUPPORTED", "BAD_REQUEST", "AUTH",           "FORBIDDEN",
		"NOT_FOUND",    "CONFLICT",     "DUPLICATE_ORDER", "INSUFFICIENT", "KEY_REUSED", "STORAGE",
		"BUSY",         "RANGE",        "HELLO_REQUIRED", "SHUTTING_DOWN", "INTERNAL",   "VERSION",
		"OVER_RETURN",  "NOT_MEMBER",
	};
	for (int st = 0; st < (int)(sizeof status_names / sizeof status_names[0]); st++)
		CHECK_STR(proto_status_name(st), status_names[st]);
	CHECK_INT(PROTO_ST_VERSION, 17);
	CHECK_INT(PROTO_ST_KEY_REUSED, 10);
	CHECK_INT(PROTO_ST_OVER_RETURN, 18);
	CHECK_INT(PROTO_ST_NOT_MEMBER, 19);
	CHECK_STR(proto_status_name(20), "UNKNOWN");
	CHECK_STR(proto_status_name(-1), "UNKNOWN");
	CHECK_STR(proto_status_name(0xffff), "UNKNOWN");

	static const struct {
		int op;
		const char *name;
	} ops[] = {
		{0x01, "HELLO"},  {0x02, "PING"},       {0x10, "ENROL"},    {0x11, "LOOKUP"},     {0x12, "ACCRUE"},
		{0x13, "ADJUST"}, {0x14, "HISTORY"},    {0x20, "KEY_CREATE"}, {0x21, "KEY_LIST"}, {0x22, "KEY_REVOKE"},
		{0x15, "RETURN"}, {0x16, "QUOTE"},      {0x17, "ACCRUE_BATCH"}, {0x18, "ORDER"},  {0x19, "GROUP"},
		{0x1a, "TIER"},   {0x30, "PROGRAM_GET"}, {0x31, "PROGRAM_SET"},
	};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		CHECK_STR(proto_opcode_name(ops[i].op), ops[i].name);
	CHECK_INT(PROTO_OP_RETURN, 0x15);
	CHECK_INT(PROTO_OP_QUOTE, 0x16);
	CHECK_INT(PROTO_OP_ACCRUE_BATCH, 0x17);
	CHECK_INT(PROTO_OP_ORDER, 0x18);
	CHECK_INT(PROTO_OP_GROUP, 0x19);
	CHECK_INT(PROTO_OP_TIER, 0x1a);
	CHECK_INT(PROTO_OP_PROGRAM_GET, 0x30);
	CHECK_INT(PROTO_OP_PROGRAM_SET, 0x31);
	static const int not_ops[] = {0, 0x03, 0x0f, 0x1b, 0x1f, 0x23, 0x2f, 0x32, 0xff};
	for (size_t i = 0; i < sizeof not_ops / sizeof not_ops[0]; i++)
		CHECK_STR(proto_opcode_name(not_ops[i]), "UNKNOWN");

	CHECK_STR(proto_role_name(PROTO_ROLE_ADMIN), "admin");
	CHECK_STR(proto_role_name(PROTO_ROLE_TERMINAL), "terminal");
	CHECK_STR(proto_role_name(PROTO_ROLE_READONLY), "readonly");
	CHECK_STR(proto_role_name(0), "unknown");
	CHECK_STR(proto_role_name(4), "unknown");
	CHECK_INT(proto_role_parse("admin"), PROTO_ROLE_ADMIN);
	CHECK_INT(proto_role_parse("terminal"), PROTO_ROLE_TERMINAL);
	CHECK_INT(proto_role_parse("readonly"), PROTO_ROLE_READONLY);
	static const char *const not_roles[] = {"", "Admin", "ADMIN", "admin ", "admi", "adminx", "read-only",
						 "unknown", "root"};
	for (size_t i = 0; i < sizeof not_roles / sizeof not_roles[0]; i++)
		CHECK_INT(proto_role_parse(not_roles[i]), 0);

	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_ENROL), "enrol");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_ACCRUE), "accrue");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_ADJUST), "adjust");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_KEY_CREATE), "key-create");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_KEY_REVOKE), "key-revoke");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_RETURN), "return");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_PROGRAM), "program");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_GROUP), "group");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_TIER), "tier");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_JOIN), "join");
	/* The numbers are stable: history and the journal both store them. */
	static const int entry_numbers[] = {PROTO_ENTRY_ENROL,   PROTO_ENTRY_ACCRUE,  PROTO_ENTRY_ADJUST, PROTO_ENTRY_KEY_CREATE,
					    PROTO_ENTRY_KEY_REVOKE, PROTO_ENTRY_RETURN, PROTO_ENTRY_PROGRAM, PROTO_ENTRY_GROUP,
					    PROTO_ENTRY_TIER,    PROTO_ENTRY_JOIN};
	for (int i = 0; i < 10; i++)
		CHECK_INT(entry_numbers[i], i + 1);
	CHECK_INT(PROTO_UNIT_POINTS, 0);
	CHECK_INT(PROTO_UNIT_STAMPS, 1);
	CHECK_STR(proto_entry_type_name(0), "unknown");
	CHECK_STR(proto_entry_type_name(11), "unknown");

	/* Every codec error has its own text. */
	static const int errs[] = {0,
				   PROTO_E_MAGIC,
				   PROTO_E_VERSION,
				   PROTO_E_TOO_LARGE,
				   PROTO_E_CHECKSUM,
				   PROTO_E_FLAGS,
				   PROTO_E_BODY,
				   PROTO_E_FIELD,
				   PROTO_E_SPACE};
	const size_t nerrs = sizeof errs / sizeof errs[0];
	for (size_t i = 0; i < nerrs; i++) {
		CHECK(strcmp(proto_errstr(errs[i]), "unknown codec error") != 0);
		for (size_t j = i + 1; j < nerrs; j++)
			CHECK(strcmp(proto_errstr(errs[i]), proto_errstr(errs[j])) != 0);
	}
	CHECK_STR(proto_errstr(-9), "unknown codec error");
	CHECK_STR(proto_errstr(1), "unknown codec error");
}

int main(void)
{
	test_frame_examples();
	test_frame_need_more();
	test_frame_concatenated();
	test_frame_magic_version();
	test_frame_flags();
	test_frame_too_large();
	test_frame_flips();
	test_primitives();
	test_hello_round_trip();
	test_request_round_trips();
	test_sale_round_trips();
	test_batch_request();
	test_reply_round_trips();
	test_customer_round_trips();
	test_checkout_reply_round_trips();
	test_bodies_strict();
	test_string_limits();
	test_enum_ranges();
	test_encoder_space();
	test_names();
	return check_done("unit_proto");
}
