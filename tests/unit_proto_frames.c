/*
 * unit_proto_frames.c - the wire codec's frames and primitives: PROTOCOL.md's
 * worked examples byte for byte, frames cut short, concatenated, with bad
 * magic, version, flags or length, every byte flipped; the integer and
 * string readers and writers at their edges. What the unit_proto_*.c tests
 * share, and why they work as they do: unit_proto/proto_samples.h.
 */
#include "check.h"
#include "proto.h"
#include "proto_samples.h"

#include <xxhash.h>

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
static const uint8_t found_frame[159] = {
	0x41, 0x43, 0x52, 0x55, 0x01, 0x11, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x87, 0x00, 0x00, 0x00,
	0xa0, 0x16, 0xf5, 0xd5, 0xd7, 0x6e, 0x07, 0x74, /* checksum */
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
	0x01,                                           /* opted out of marketing */
	0x00, 0x02, 0x0a, 0x24, 0x24, 0x0a, 0x06, 0x00, /* optout_us 1700000200000000 */
	0x08, 0x00, 's', 'm', 's', ' ', 'S', 'T', 'O', 'P', /* optout_source */
	0x01, 0x02, 0x00, 'A', '7',                     /* 1 card: "A7" */
	0x00,                                           /* not archived */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* merged_into: none */
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
	uint8_t buf[160];
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
		.tier = LIT("gold"), .ngroups = 1, .groups = {LIT("staff")}, .opted_out = 1,
		.optout_us = 1700000200000000ll, .optout_source = LIT("sms STOP"), .ncards = 1, .cards = {LIT("A7")}};
	struct proto_customer ann_in;
	proto_wbuf_init(&w, buf + PROTO_HEADER_SIZE, sizeof buf - PROTO_HEADER_SIZE);
	proto_reply_put_status(&w, PROTO_OK);
	CHECK_INT(proto_customer_rep_encode(&w, &ann), 0);
	CHECK_INT(frame_make(buf, sizeof buf, PROTO_OP_LOOKUP, PROTO_FLAG_REPLY, 2, buf + PROTO_HEADER_SIZE,
			     (uint32_t)w.len),
		  sizeof found_frame);
	CHECK(memcmp(buf, found_frame, sizeof found_frame) == 0);
	CHECK(le_read(found_frame + 16, 8) == 0x74076ed7d5f516a0ull);
	CHECK(XXH3_64bits(found_frame, 16) == 0x75256d8a6c6f93edull);
	CHECK_INT(proto_frame_decode(found_frame, sizeof found_frame, PROTO_MAX_BODY_DEFAULT, &h, &body, &frame_len),
		  1);
	CHECK_INT(h.body_len, 135);
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
	return check_done("unit_proto_frames");
}
