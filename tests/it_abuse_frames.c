/*
 * it_abuse_frames.c - raw bytes that are not the protocol, or are it in odd
 * pieces, against the real daemon (see it_abuse/abuse.h for what the
 * it_abuse_*.c tests share). it_client.c has the first raw-frame tests;
 * this file goes further. In order:
 *
 *   A  raw bytes   bad magic (from its first wrong byte) and version;
 *                  bad checksum; a length over the announced max_body and
 *                  one exactly at it; a frame cut short, then closed; unknown
 *                  opcodes (UNSUPPORTED, the connection stays); no HELLO
 *                  (HELLO_REQUIRED, closed, nothing after it runs); refused
 *                  HELLOs (AUTH, VERSION, BAD_REQUEST, closed) and a second
 *                  HELLO; reserved and REPLY flags; random garbage of many
 *                  sizes; frames in 1-byte writes; frames sharing a write.
 *
 * and then the well-behaved client's ledger.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "proto.h"
#include "raw.h"
#include "abuse.h"

static struct harness h;

/* A small deterministic generator (xorshift64*), so a failure can be re-run byte for byte. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* ---- A: raw bytes ------------------------------------------------------------ */

static void test_bad_magic(struct raw *r)
{
	case_begin();
	struct raw_body bd;
	uint8_t frame[512];
	size_t len;

	/* A HELLO whose first byte is wrong, first thing on a connection. */
	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, h.admin_key);
	len = raw_frame(frame, sizeof frame, PROTO_OP_HELLO, 0, 7, bd.b, bd.n);
	frame[0] = 'a';
	CHECK_INT(raw_write(r, frame, len), 0);
	expect(r, "a HELLO with a bad magic", PROTO_ST_PROTOCOL, 0, 0, NULL);
	expect_closed(r, "after a bad magic before HELLO");
	raw_close(r);
	serve_sale("a bad magic before HELLO");

	/* Bytes 1, 2 and 3 wrong after HELLO, sending nothing past the wrong
	 * byte: refused from that byte, without waiting for a header. */
	for (int i = 1; i < 4; i++) {
		raw_login(r, &h, h.admin_key);
		raw_frame(frame, sizeof frame, PROTO_OP_PING, 0, 8, NULL, 0);
		frame[i] ^= 0x20;
		CHECK_INT(raw_write(r, frame, (size_t)i + 1), 0);
		expect(r, "a partial magic wrong in its last byte", PROTO_ST_PROTOCOL, 0, 0, NULL);
		expect_closed(r, "after a bad magic after HELLO");
		raw_close(r);
		serve_sale("a bad magic after HELLO");
	}

	/* A version byte other than 1: VERSION, as soon as byte 4 is there. */
	REQUIRE(raw_open(r, &h) == 0);
	len = raw_frame(frame, sizeof frame, PROTO_OP_HELLO, 0, 9, bd.b, bd.n);
	frame[4] = 2;
	CHECK_INT(raw_write(r, frame, 5), 0);
	expect(r, "a frame of version 2 before HELLO", PROTO_ST_VERSION, 0, 0, NULL);
	expect_closed(r, "after a bad version byte");
	raw_close(r);
	raw_login(r, &h, h.admin_key);
	len = raw_frame(frame, sizeof frame, PROTO_OP_PING, 0, 10, NULL, 0);
	frame[4] = 0;
	CHECK_INT(raw_write(r, frame, len), 0);
	expect(r, "a PING of version 0", PROTO_ST_VERSION, 0, 0, NULL);
	expect_closed(r, "after a bad version byte");
	raw_close(r);
	serve_sale("a bad version byte");
	case_end("A bad magic: PROTOCOL (opcode 0, request id 0) from the first wrong byte of 0..3, before and "
		 "after HELLO, then closed; a version byte other than 1: VERSION, the same way");
}

static void test_bad_checksum(struct raw *r)
{
	case_begin();
	struct raw_body bd;
	uint8_t frame[512];
	size_t len;

	/* A HELLO with a damaged checksum: refused with its header's opcode and id. */
	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, h.admin_key);
	len = raw_frame(frame, sizeof frame, PROTO_OP_HELLO, 0, 11, bd.b, bd.n);
	frame[20] ^= 0x01;
	CHECK_INT(raw_write(r, frame, len), 0);
	expect(r, "a HELLO with a bad checksum", PROTO_ST_PROTOCOL, PROTO_OP_HELLO, 11, NULL);
	expect_closed(r, "after a bad checksum on HELLO");
	raw_close(r);
	serve_sale("a bad checksum on HELLO");

	/* A sale whose body was damaged in transit: refused, closed, not applied. */
	raw_login(r, &h, h.admin_key);
	raw_body_accrue(&bd, ledger.id, "store-9", "a2-damaged", 99900);
	len = raw_frame(frame, sizeof frame, PROTO_OP_ACCRUE, 0, 12, bd.b, bd.n);
	frame[PROTO_HEADER_SIZE + bd.n - 12] ^= 0x40; /* inside the amount */
	CHECK_INT(raw_write(r, frame, len), 0);
	expect(r, "an ACCRUE with a damaged body", PROTO_ST_PROTOCOL, PROTO_OP_ACCRUE, 12, NULL);
	expect_closed(r, "after a bad checksum on ACCRUE");
	raw_close(r);
	check_no_order("store-9", "a2-damaged");
	serve_sale("a damaged ACCRUE");

	/* A damaged request id: the reply carries the id as it arrived. */
	raw_login(r, &h, h.admin_key);
	len = raw_frame(frame, sizeof frame, PROTO_OP_PING, 0, 13, NULL, 0);
	frame[8] = 14;
	CHECK_INT(raw_write(r, frame, len), 0);
	expect(r, "a PING with a damaged request id", PROTO_ST_PROTOCOL, PROTO_OP_PING, 14, NULL);
	expect_closed(r, "after a damaged request id");
	raw_close(r);
	serve_sale("a damaged request id");
	case_end("A bad checksum (checksum, body or header damaged; before and after HELLO): PROTOCOL with the "
		 "header's opcode and request id, closed, the damaged sale not applied");
}

static void put_body_len(uint8_t *frame, uint32_t n)
{
	for (int i = 0; i < 4; i++)
		frame[12 + i] = (uint8_t)(n >> (8 * i));
}

static void test_length(struct raw *r)
{
	case_begin();
	struct proto_hello_rep hello;
	uint8_t frame[PROTO_HEADER_SIZE];

	/* The limit is what HELLO announces; the main daemon runs with the default. */
	REQUIRE(raw_open(r, &h) == 0);
	memset(&hello, 0, sizeof hello);
	CHECK_INT(raw_hello(r, h.admin_key, &hello), PROTO_OK);
	uint32_t max_body = hello.max_body;
	CHECK_INT(max_body, PROTO_MAX_BODY_DEFAULT);
	CHECK(max_body > 0 && max_body <= PROTO_MAX_BODY_HARD);

	/* One byte over: refused from the header alone, no body sent. */
	raw_frame(frame, sizeof frame, PROTO_OP_PING, 0, 15, NULL, 0);
	put_body_len(frame, max_body + 1);
	CHECK_INT(raw_write(r, frame, sizeof frame), 0);
	expect(r, "a length one over max_body", PROTO_ST_PROTOCOL, PROTO_OP_PING, 15, NULL);
	expect_closed(r, "after a length over the limit");
	raw_close(r);
	serve_sale("a length over the limit");

	/* The largest u32, before HELLO. */
	REQUIRE(raw_open(r, &h) == 0);
	raw_frame(frame, sizeof frame, PROTO_OP_HELLO, 0, 16, NULL, 0);
	put_body_len(frame, 0xffffffffu);
	CHECK_INT(raw_write(r, frame, sizeof frame), 0);
	expect(r, "a length of 4 GiB before HELLO", PROTO_ST_PROTOCOL, PROTO_OP_HELLO, 16, NULL);
	expect_closed(r, "after a 4 GiB length");
	raw_close(r);
	serve_sale("a 4 GiB length");

	/* Exactly max_body is a frame: a PING with that much body is a bad
	 * request, not a framing error, and the connection stays. */
	raw_login(r, &h, h.admin_key);
	uint8_t *big = calloc(1, PROTO_HEADER_SIZE + (size_t)max_body);
	REQUIRE(big != NULL);
	size_t len = raw_frame(big, PROTO_HEADER_SIZE + (size_t)max_body, PROTO_OP_PING, 0, 17,
				 big + PROTO_HEADER_SIZE, max_body);
	CHECK_INT(raw_write(r, big, len), 0);
	free(big);
	expect(r, "a PING with exactly max_body bytes of body", PROTO_ST_BAD_REQUEST, PROTO_OP_PING, 17, NULL);
	expect_open(r, "after a frame of exactly max_body");
	raw_close(r);
	serve_sale("a frame of exactly max_body");
	case_end("A length: max_body %u from HELLO; one byte over it and 4 GiB are PROTOCOL with the header's "
		 "opcode and request id, closed, before any body; exactly max_body is read (BAD_REQUEST for a PING "
		 "with a body) and the connection stays",
		 max_body);
}

static void test_truncated(struct raw *r)
{
	case_begin();
	struct raw_body bd;
	uint8_t frame[2048];
	size_t len;

	/* A sale cut 5 bytes short, then the client goes away. */
	raw_login(r, &h, h.admin_key);
	raw_body_accrue(&bd, ledger.id, "store-9", "a4-cut", 88800);
	len = raw_frame(frame, sizeof frame, PROTO_OP_ACCRUE, 0, 18, bd.b, bd.n);
	CHECK_INT(raw_write(r, frame, len - 5), 0);
	harness_sleep_ms(50);
	raw_close(r);
	serve_sale("a truncated ACCRUE");
	check_no_order("store-9", "a4-cut");

	/* Ten bytes of a header, before HELLO. */
	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, h.admin_key);
	len = raw_frame(frame, sizeof frame, PROTO_OP_HELLO, 0, 19, bd.b, bd.n);
	CHECK_INT(raw_write(r, frame, 10), 0);
	harness_sleep_ms(50);
	raw_close(r);
	serve_sale("a truncated header");

	/* A header announcing 1,000 bytes, and 500 of them. */
	raw_login(r, &h, h.admin_key);
	memset(frame + PROTO_HEADER_SIZE, 0x5a, 1000);
	len = raw_frame(frame, sizeof frame, PROTO_OP_LOOKUP, 0, 20, frame + PROTO_HEADER_SIZE, 1000);
	CHECK_INT(raw_write(r, frame, PROTO_HEADER_SIZE + 500), 0);
	harness_sleep_ms(50);
	raw_close(r);
	serve_sale("a truncated body");
	CHECK_INT(kill(h.pid, 0), 0);
	case_end("A truncated frame then close (cut in the header, in the body, 5 bytes short of a sale): the "
		 "sale is not applied and the daemon keeps serving");
}

static void test_unknown_opcodes(struct raw *r)
{
	case_begin();
	static const uint8_t unknown[] = { 0x00, 0x03, 0x0f, 0x1b, 0x23, 0x2f, 0x32, 0x7f, 0x80, 0xfe, 0xff };
	uint8_t junk[64];

	raw_login(r, &h, h.admin_key);
	for (size_t i = 0; i < sizeof unknown; i++) {
		uint32_t n = (uint32_t)(i * 5 % sizeof junk);
		for (uint32_t j = 0; j < n; j++)
			junk[j] = (uint8_t)rng();
		char what[64];
		snprintf(what, sizeof what, "unknown opcode 0x%02x with %u body bytes", unknown[i], n);
		CHECK_INT(raw_send_flags(r, unknown[i], 0, 100 + (uint32_t)i, junk, n), 0);
		expect(r, what, PROTO_ST_UNSUPPORTED, unknown[i], 100 + (uint32_t)i, NULL);
	}
	expect_open(r, "after unknown opcodes");
	struct raw_body bd;
	raw_body_lookup(&bd, ledger.id);
	call(r, "LOOKUP after unknown opcodes", PROTO_OP_LOOKUP, 120, &bd, PROTO_OK, NULL);
	raw_close(r);
	serve_sale("unknown opcodes");
	case_end("A unknown opcodes (%zu of them, 0x00 to 0xff, with and without bodies): UNSUPPORTED with the "
		 "opcode and request id, the connection stays (PING and LOOKUP work after)",
		 sizeof unknown);
}

static void test_no_hello(struct raw *r)
{
	case_begin();
	struct raw_body bd;
	uint8_t two[1024];
	size_t len;

	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_send(r, PROTO_OP_PING, 21, NULL), 0);
	expect(r, "PING before HELLO", PROTO_ST_HELLO_REQUIRED, PROTO_OP_PING, 21, NULL);
	expect_closed(r, "after PING before HELLO");
	raw_close(r);

	/* Not UNSUPPORTED: HELLO comes first whatever the opcode. */
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_send_flags(r, 0x7f, 0, 22, NULL, 0), 0);
	expect(r, "an unknown opcode before HELLO", PROTO_ST_HELLO_REQUIRED, 0x7f, 22, NULL);
	expect_closed(r, "after an unknown opcode before HELLO");
	raw_close(r);

	REQUIRE(raw_open(r, &h) == 0);
	raw_body_accrue(&bd, ledger.id, "store-9", "a6-first", 77700);
	CHECK_INT(raw_send(r, PROTO_OP_ACCRUE, 23, &bd), 0);
	expect(r, "ACCRUE before HELLO", PROTO_ST_HELLO_REQUIRED, PROTO_OP_ACCRUE, 23, NULL);
	expect_closed(r, "after ACCRUE before HELLO");
	raw_close(r);
	check_no_order("store-9", "a6-first");

	/* A PING and a good HELLO in one write: the HELLO is never run. */
	REQUIRE(raw_open(r, &h) == 0);
	len = raw_frame(two, sizeof two, PROTO_OP_PING, 0, 24, NULL, 0);
	raw_body_hello(&bd, PROTO_VERSION, h.admin_key);
	len += raw_frame(two + len, sizeof two - len, PROTO_OP_HELLO, 0, 25, bd.b, bd.n);
	CHECK_INT(raw_write(r, two, len), 0);
	expect(r, "PING then HELLO in one write", PROTO_ST_HELLO_REQUIRED, PROTO_OP_PING, 24, NULL);
	expect_closed(r, "after PING then HELLO (no reply to the HELLO)");
	raw_close(r);
	serve_sale("requests before HELLO");
	case_end("A no HELLO (PING, an unknown opcode, ACCRUE, PING+HELLO in one write): HELLO_REQUIRED with the "
		 "opcode and request id, closed with nothing after it answered, the sale not applied");
}

static void test_refused_hello(struct raw *r)
{
	case_begin();
	struct raw_body bd;
	uint8_t two[1024];
	size_t len;

	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, "ak_1_000000000000000000000000000000000000000000000000");
	CHECK_INT(raw_send(r, PROTO_OP_HELLO, 26, &bd), 0);
	expect(r, "HELLO with a wrong key", PROTO_ST_AUTH, PROTO_OP_HELLO, 26, NULL);
	expect_closed(r, "after AUTH");
	raw_close(r);

	/* A wrong key and a PING in one write: AUTH, and the PING is never run. */
	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, "not-a-key");
	len = raw_frame(two, sizeof two, PROTO_OP_HELLO, 0, 27, bd.b, bd.n);
	len += raw_frame(two + len, sizeof two - len, PROTO_OP_PING, 0, 28, NULL, 0);
	CHECK_INT(raw_write(r, two, len), 0);
	expect(r, "a wrong HELLO and a PING in one write", PROTO_ST_AUTH, PROTO_OP_HELLO, 27, NULL);
	expect_closed(r, "after AUTH (no reply to the PING)");
	raw_close(r);

	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, 2, h.admin_key);
	CHECK_INT(raw_send(r, PROTO_OP_HELLO, 29, &bd), 0);
	expect(r, "HELLO version 2", PROTO_ST_VERSION, PROTO_OP_HELLO, 29, NULL);
	expect_closed(r, "after HELLO version 2");
	raw_close(r);

	/* The api_key's length says 200 bytes; 4 follow. */
	REQUIRE(raw_open(r, &h) == 0);
	const uint8_t bad[] = { 1, 0, 200, 0, 't', 'e', 's', 't' };
	CHECK_INT(raw_send_flags(r, PROTO_OP_HELLO, 0, 30, bad, sizeof bad), 0);
	expect(r, "a HELLO body that does not decode", PROTO_ST_BAD_REQUEST, PROTO_OP_HELLO, 30, NULL);
	expect_closed(r, "after a malformed HELLO");
	raw_close(r);

	/* A second HELLO on a connection that has one: BAD_REQUEST, and it stays. */
	raw_login(r, &h, h.admin_key);
	raw_body_hello(&bd, PROTO_VERSION, h.admin_key);
	call(r, "a second HELLO", PROTO_OP_HELLO, 31, &bd, PROTO_ST_BAD_REQUEST, NULL);
	expect_open(r, "after a second HELLO");
	raw_body_hello(&bd, PROTO_VERSION, "not-a-key");
	call(r, "a second HELLO with a wrong key", PROTO_OP_HELLO, 32, &bd, PROTO_ST_BAD_REQUEST, NULL);
	expect_open(r, "after a second HELLO with a wrong key");
	call(r, "KEY_LIST after a second HELLO (still admin)", PROTO_OP_KEY_LIST, 33, NULL, PROTO_OK, NULL);
	raw_close(r);
	serve_sale("refused HELLOs");
	case_end("A refused HELLO: wrong key AUTH, version 2 VERSION, undecodable BAD_REQUEST, each with opcode "
		 "HELLO and its request id, then closed (a PING after it in the same write is not run); a second "
		 "HELLO is BAD_REQUEST and the connection stays, with its role");
}

static void test_flags(struct raw *r)
{
	case_begin();
	struct raw_body bd;

	raw_login(r, &h, h.admin_key);
	CHECK_INT(raw_send_flags(r, PROTO_OP_PING, 0x0004, 34, NULL, 0), 0);
	expect(r, "a PING with a reserved flag", PROTO_ST_PROTOCOL, PROTO_OP_PING, 34, NULL);
	expect_closed(r, "after a reserved flag");
	raw_close(r);

	raw_login(r, &h, h.admin_key);
	CHECK_INT(raw_send_flags(r, PROTO_OP_PING, PROTO_FLAG_REPLY, 35, NULL, 0), 0);
	expect(r, "a PING with the REPLY flag", PROTO_ST_PROTOCOL, PROTO_OP_PING, 35, NULL);
	expect_closed(r, "after a client frame with REPLY set");
	raw_close(r);

	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, h.admin_key);
	CHECK_INT(raw_send_flags(r, PROTO_OP_HELLO, 0x8000, 36, bd.b, bd.n), 0);
	expect(r, "a HELLO with a reserved flag", PROTO_ST_PROTOCOL, PROTO_OP_HELLO, 36, NULL);
	expect_closed(r, "after a HELLO with a reserved flag");
	raw_close(r);
	serve_sale("bad flags");
	case_end("A flags: a reserved bit (after and before HELLO) or REPLY set by the client is PROTOCOL with the "
		 "opcode and request id, then closed");
}

/*
 * Write n bytes as far as the server takes them: stop when it has answered
 * (it stops reading after a framing error), when it is gone, or when it
 * takes nothing for a second.
 */
static void write_best_effort(struct raw *r, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(r->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return;
		struct pollfd pfd = { r->fd, POLLIN | POLLOUT, 0 };
		if (poll(&pfd, 1, 1000) <= 0 || (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
			return;
	}
}

static void test_garbage(struct raw *r)
{
	case_begin();
	static const size_t sizes[] = { 1, 2, 3, 7, 16, 23, 24, 25, 64, 100, 1000, 4096, 65536, 200000, 1 << 20 };
	size_t nsizes = sizeof sizes / sizeof sizes[0];
	uint8_t *junk = malloc(1 << 20);
	REQUIRE(junk != NULL);

	/* Garbage from its first byte: PROTOCOL with opcode 0 and request id 0. */
	for (size_t i = 0; i < nsizes; i++) {
		for (size_t j = 0; j < sizes[i]; j++)
			junk[j] = (uint8_t)rng();
		if (junk[0] == 0x41)
			junk[0] = 0x42;
		if (i % 2)
			raw_login(r, &h, h.admin_key);
		else
			REQUIRE(raw_open(r, &h) == 0);
		write_best_effort(r, junk, sizes[i]);
		char what[96];
		snprintf(what, sizeof what, "%zu bytes of garbage %s HELLO", sizes[i], i % 2 ? "after" : "before");
		expect(r, what, PROTO_ST_PROTOCOL, 0, 0, NULL);
		expect_closed(r, what);
		raw_close(r);
		serve_sale(what);
	}

	/* Garbage behind a good magic and version, with a reserved flag bit so
	 * the header is refused whatever its length says: the reply echoes the
	 * garbage header's opcode and request id. */
	for (int i = 0; i < 6; i++) {
		size_t n = PROTO_HEADER_SIZE + rng() % 3000;
		for (size_t j = 0; j < n; j++)
			junk[j] = (uint8_t)rng();
		memcpy(junk, "ACRU\x01", 5);
		junk[7] |= 0x80;
		uint32_t rid = (uint32_t)junk[8] | (uint32_t)junk[9] << 8 | (uint32_t)junk[10] << 16 |
			       (uint32_t)junk[11] << 24;
		if (i % 2)
			raw_login(r, &h, h.admin_key);
		else
			REQUIRE(raw_open(r, &h) == 0);
		write_best_effort(r, junk, n);
		char what[96];
		snprintf(what, sizeof what, "a garbage header (opcode 0x%02x) and %zu bytes", junk[5], n);
		expect(r, what, PROTO_ST_PROTOCOL, junk[5], rid, NULL);
		expect_closed(r, what);
		raw_close(r);
	}
	serve_sale("garbage headers");
	free(junk);
	case_end("A random garbage of %zu sizes (1 byte to 1 MiB, before and after HELLO): PROTOCOL with opcode 0 "
		 "and request id 0, closed; garbage behind a good magic: PROTOCOL echoing its header",
		 nsizes);
}

/*
 * Read n replies, in whatever order they come, into rep[rid] for request ids
 * below 16 (seen[rid] counts them; points[rid] is what an OK ACCRUE earned).
 * Returns how many came.
 */
static int collect(struct raw *r, int n, struct raw_reply *rep, int *seen, int64_t *points)
{
	for (int i = 0; i < n; i++) {
		struct raw_reply one;
		int rc = raw_reply(r, &one, RAW_REPLY_WAIT_MS);
		if (rc != 1) {
			fprintf(stderr, "    reply %d of %d: %s\n", i + 1, n, raw_got_name(rc));
			return i;
		}
		uint32_t id = one.hdr.request_id;
		if (id >= 16)
			continue;
		seen[id]++;
		if (one.status == PROTO_OK && one.hdr.opcode == PROTO_OP_ACCRUE) {
			struct proto_change_rep ch;
			CHECK_INT(proto_change_rep_decode(one.ok, one.ok_len, &ch), 0);
			points[id] = ch.points;
		}
		/* The OK body lives in the raw's frame copy, which the next read replaces. */
		one.ok = NULL;
		one.ok_len = 0;
		rep[id] = one;
	}
	return n;
}

static void test_split_writes(struct raw *r)
{
	case_begin();
	static uint8_t frames[4096];
	struct raw_body bd;
	struct raw_reply rep[16];
	int seen[16];
	int64_t points[16];
	size_t len;

	/* HELLO, a sale and a LOOKUP, every byte its own write. */
	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, h.admin_key);
	len = raw_frame(frames, sizeof frames, PROTO_OP_HELLO, 0, 1, bd.b, bd.n);
	raw_body_accrue(&bd, ledger.id, "store-9", "a10-slow", 4321);
	len += raw_frame(frames + len, sizeof frames - len, PROTO_OP_ACCRUE, 0, 2, bd.b, bd.n);
	raw_body_lookup(&bd, ledger.id);
	len += raw_frame(frames + len, sizeof frames - len, PROTO_OP_LOOKUP, 0, 3, bd.b, bd.n);
	for (size_t i = 0; i < len; i++) {
		CHECK_INT(raw_write(r, frames + i, 1), 0);
		harness_sleep_ms(1);
	}
	memset(seen, 0, sizeof seen);
	memset(points, 0, sizeof points);
	CHECK_INT(collect(r, 3, rep, seen, points), 3);
	for (uint32_t id = 1; id <= 3; id++) {
		static const uint8_t ops[] = { 0, PROTO_OP_HELLO, PROTO_OP_ACCRUE, PROTO_OP_LOOKUP };
		CHECK_INT(seen[id], 1);
		if (seen[id])
			check_reply("a frame written a byte at a time", 1, &rep[id], PROTO_OK, ops[id], id);
	}
	if (seen[2] && rep[2].status == PROTO_OK) {
		CHECK_INT(points[2], 43);
		ledger_add(4321, points[2]);
	}
	expect_open(r, "after byte-at-a-time frames");
	raw_close(r);
	serve_sale("byte-at-a-time frames");
	size_t split_len = len;

	/* HELLO and PING in one write, before the HELLO reply could be read. */
	REQUIRE(raw_open(r, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, h.admin_key);
	len = raw_frame(frames, sizeof frames, PROTO_OP_HELLO, 0, 1, bd.b, bd.n);
	len += raw_frame(frames + len, sizeof frames - len, PROTO_OP_PING, 0, 2, NULL, 0);
	CHECK_INT(raw_write(r, frames, len), 0);
	expect(r, "HELLO sharing a write with a PING", PROTO_OK, PROTO_OP_HELLO, 1, NULL);
	expect(r, "a PING sharing a write with HELLO", PROTO_OK, PROTO_OP_PING, 2, NULL);

	/* A sale, a LOOKUP and the first 10 bytes of a PING in one write; the rest later. */
	raw_body_accrue(&bd, ledger.id, "store-9", "a11-shared", 5555);
	len = raw_frame(frames, sizeof frames, PROTO_OP_ACCRUE, 0, 3, bd.b, bd.n);
	raw_body_lookup(&bd, ledger.id);
	len += raw_frame(frames + len, sizeof frames - len, PROTO_OP_LOOKUP, 0, 4, bd.b, bd.n);
	len += raw_frame(frames + len, sizeof frames - len, PROTO_OP_PING, 0, 5, NULL, 0);
	CHECK_INT(raw_write(r, frames, len - 14), 0);
	harness_sleep_ms(100);
	CHECK_INT(raw_write(r, frames + len - 14, 14), 0);
	memset(seen, 0, sizeof seen);
	memset(points, 0, sizeof points);
	CHECK_INT(collect(r, 3, rep, seen, points), 3);
	for (uint32_t id = 3; id <= 5; id++) {
		static const uint8_t ops[] = { 0, 0, 0, PROTO_OP_ACCRUE, PROTO_OP_LOOKUP, PROTO_OP_PING };
		CHECK_INT(seen[id], 1);
		if (seen[id])
			check_reply("frames sharing a write", 1, &rep[id], PROTO_OK, ops[id], id);
	}
	if (seen[3] && rep[3].status == PROTO_OK) {
		CHECK_INT(points[3], 55);
		ledger_add(5555, points[3]);
	}

	/* A good PING and garbage in one write: the PING is answered, then the error. */
	len = raw_frame(frames, sizeof frames, PROTO_OP_PING, 0, 6, NULL, 0);
	memcpy(frames + len, "GET / HTTP/1.0\r\n\r\n", 18);
	CHECK_INT(raw_write(r, frames, len + 18), 0);
	expect(r, "a PING before garbage in one write", PROTO_OK, PROTO_OP_PING, 6, NULL);
	expect(r, "garbage after a PING in one write", PROTO_ST_PROTOCOL, 0, 0, NULL);
	expect_closed(r, "after garbage behind a good frame");
	raw_close(r);
	serve_sale("frames sharing writes");
	case_end("A split and shared writes: HELLO, a sale and a LOOKUP in %zu one-byte writes all work (the sale "
		 "counted once); HELLO+PING, sale+LOOKUP+part of a PING in one write all answered; a PING then "
		 "garbage in one write: OK, then PROTOCOL and closed",
		 split_len);
}

/* ---- main ----------------------------------------------------------------------- */

int main(void)
{
	long long t0 = harness_now_ms();
	signal(SIGPIPE, SIG_IGN);
	abuse_start(&h, "it_abuse_frames");
	struct raw *r = raw_new();
	test_bad_magic(r);
	test_bad_checksum(r);
	test_length(r);
	test_truncated(r);
	test_unknown_opcodes(r);
	test_no_hello(r);
	test_refused_hello(r);
	test_flags(r);
	test_garbage(r);
	test_split_writes(r);
	raw_free(r);
	abuse_finish(&h);
	fprintf(stderr, "it_abuse_frames: %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);
	return check_done("it_abuse_frames");
}
