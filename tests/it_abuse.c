/*
 * it_abuse.c - hostile and broken clients against the real daemon.
 *
 * Every hostile client here writes its own bytes on a raw socket: proto.h
 * builds valid frames, which are then cut, damaged or sent in odd pieces.
 * Meanwhile a well-behaved client (libaccrue, the admin key) keeps accruing
 * sales to a customer of its own between and after the cases, and at the end
 * that customer's balance, visits and spend must be exactly the sales it was
 * told were accrued: the daemon kept serving others and the abuse applied
 * nothing. it_client.c has the first raw-frame tests; this file goes
 * further. In order:
 *
 *   A  raw bytes   bad magic (from its first wrong byte) and version;
 *                  bad checksum; a length over the announced max_body and
 *                  one exactly at it; a frame cut short, then closed; unknown
 *                  opcodes (UNSUPPORTED, the connection stays); no HELLO
 *                  (HELLO_REQUIRED, closed, nothing after it runs); refused
 *                  HELLOs (AUTH, VERSION, BAD_REQUEST, closed) and a second
 *                  HELLO; reserved and REPLY flags; random garbage of many
 *                  sizes; frames in 1-byte writes; frames sharing a write.
 *   B  roles       a terminal key (store-1) and a read-only key may make
 *                  exactly the requests PROTOCOL.md's role table allows;
 *                  every refusal is FORBIDDEN, comes before the body is read,
 *                  and changes nothing (customers, history, keys, program,
 *                  orders).
 *   C  keys        a secret is shown once: never in KEY_LIST, a replayed
 *                  KEY_CREATE, the daemon's log or its data files; a revoked
 *                  key gets AUTH.
 *   D  limits      the frame timeout (--frame-timeout), the idle timeout
 *                  (--idle-timeout), the delay after repeated failed HELLOs,
 *                  the connection limit (--max-connections), revocation
 *                  closing a key's connections, a client that pipelines
 *                  200,000 requests without reading (bounded daemon memory,
 *                  every reply in order), and 10,000 idle connections.
 *
 * Each case prints one line saying what it showed, "[ok]" or "[FAILED]".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "proto.h"
#include "raw.h"

/* How long a connection the server must close may take to close. */
#define CLOSE_WAIT_MS 5000
/* The request id of a PING that checks a connection is still served. */
#define PING_ID 0x0e0e0e0eu

static struct harness h;      /* A, B, C, revocation and the greedy client */
static struct harness h_many; /* the 10,000 idle connections */
static accrue *serve;         /* the well-behaved client on h */

/* The well-behaved client's customer and what it was told it accrued. */
static struct {
	uint64_t id;
	int64_t points;
	int64_t spend;
	uint64_t sales;
	int orders;
} ledger;

/* ---- reporting ------------------------------------------------------- */

static int case_failures;
static long long case_started;

static void case_begin(void)
{
	case_failures = check_failures;
	case_started = harness_now_ms();
}

/* One line per case: what it showed, and whether every check in it passed. */
__attribute__((format(printf, 1, 2))) static void case_end(const char *fmt, ...)
{
	va_list ap;
	printf("%s ", check_failures == case_failures ? "[ok]    " : "[FAILED]");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (%.1f s)\n", (double)(harness_now_ms() - case_started) / 1000.0);
	fflush(stdout);
}

/* ---- bytes ------------------------------------------------------------- */

static const uint8_t *find_bytes(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	if (m == 0 || m > n)
		return NULL;
	for (size_t i = 0; i + m <= n; i++)
		if (hay[i] == *(const uint8_t *)needle && memcmp(hay + i, needle, m) == 0)
			return hay + i;
	return NULL;
}

static int has_text_ci(const char *s, const char *needle)
{
	size_t m = strlen(needle);
	for (; *s; s++) {
		size_t i = 0;
		while (i < m && s[i] && tolower((unsigned char)s[i]) == tolower((unsigned char)needle[i]))
			i++;
		if (i == m)
			return 1;
	}
	return 0;
}

/* A small deterministic generator (xorshift64*), so a failure can be re-run byte for byte. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* VmRSS of a process in KiB, or -1. */
static long rss_kib(pid_t pid)
{
	char path[64], text[8192];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (harness_read_file(path, text, sizeof text) <= 0)
		return -1;
	const char *p = strstr(text, "VmRSS:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

/* ---- expectations on raw connections ------------------------------------ */

/* A reply must be there with this status and echo this opcode and request id. */
static void check_reply(const char *what, int got, const struct raw_reply *rep, int status, int opcode, uint32_t rid)
{
	int before = check_failures;
	CHECK_INT(got, 1);
	if (got == 1) {
		CHECK_INT(rep->status, status);
		CHECK_INT(rep->hdr.opcode, opcode);
		CHECK_INT(rep->hdr.request_id, rid);
		CHECK(rep->hdr.flags & PROTO_FLAG_REPLY);
	}
	if (check_failures != before)
		fprintf(stderr,
			"    (%s: wanted %s with opcode 0x%02x and request id %u; got %s: %s, opcode 0x%02x, "
			"request id %u, \"%s\")\n",
			what, proto_status_name(status), opcode, rid, raw_got_name(got),
			got == 1 ? proto_status_name(rep->status) : "-", rep->hdr.opcode, rep->hdr.request_id, rep->msg);
}

static void expect(struct raw *r, const char *what, int status, int opcode, uint32_t rid, struct raw_reply *rep)
{
	struct raw_reply local;
	if (!rep)
		rep = &local;
	check_reply(what, raw_reply(r, rep, RAW_REPLY_WAIT_MS), rep, status, opcode, rid);
}

/* The server must close the connection, sending nothing more. */
static void expect_closed(struct raw *r, const char *what)
{
	size_t extra = 0;
	int closed = raw_wait_eof(r, CLOSE_WAIT_MS, &extra);
	CHECK_INT(closed, 1);
	CHECK_INT(extra, 0);
	if (!closed || extra)
		fprintf(stderr, "    (%s: the connection %s, after %zu more bytes)\n", what,
			closed ? "was closed" : "was still open after 5 s", extra);
}

/* The connection must still answer a PING. */
static void expect_open(struct raw *r, const char *what)
{
	CHECK_INT(raw_send(r, PROTO_OP_PING, PING_ID, NULL), 0);
	expect(r, what, PROTO_OK, PROTO_OP_PING, PING_ID, NULL);
}


/* Send one request and check its reply. Returns the status, or -1 with no reply. */
static int call(struct raw *r, const char *what, uint8_t op, uint32_t rid, const struct raw_body *bd, int want,
		struct raw_reply *rep)
{
	struct raw_reply local;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof *rep);
	if (raw_send(r, op, rid, bd) != 0) {
		CHECK(!"request written");
		fprintf(stderr, "    (%s: the connection is gone)\n", what);
		return -1;
	}
	int got = raw_reply(r, rep, RAW_REPLY_WAIT_MS);
	check_reply(what, got, rep, want, op, rid);
	return got == 1 ? rep->status : -1;
}

/* ---- the well-behaved client ---------------------------------------------- */

/* One sale by the well-behaved client: it must be accrued, whatever happened before. */
static void serve_sale(const char *after)
{
	char order[32];
	int64_t amount = 1037 + (int64_t)(ledger.sales % 7) * 100;
	struct accrue_ref ref = by_id(ledger.id);
	struct accrue_result res;
	snprintf(order, sizeof order, "serve-%d", ++ledger.orders);
	int rc = accrue_accrue(serve, NULL, &ref, "store-9", order, amount, &res);
	CHECK_INT(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "    the well-behaved client was refused after %s: %s: %s\n", after,
			accrue_strerror(rc), accrue_message(serve));
		return;
	}
	CHECK_INT(res.points, amount / 100);
	ledger.points += res.points;
	ledger.spend += amount;
	ledger.sales++;
}

/* A sale made on a raw connection that the server acknowledged counts too. */
static void ledger_add(int64_t amount, int64_t points)
{
	ledger.points += points;
	ledger.spend += amount;
	ledger.sales++;
}

/* The sale order at location must not exist: the abuse applied nothing. */
static void check_no_order(const char *location, const char *order)
{
	static struct accrue_order o;
	int rc = accrue_order(serve, location, order, &o);
	CHECK_INT(rc, ACCRUE_ST_NOT_FOUND);
	if (rc != ACCRUE_ST_NOT_FOUND)
		fprintf(stderr, "    order %s at %s: %s (it must not have been recorded)\n", order, location,
			accrue_strerror(rc));
}

/* How many history entries a customer has. */
static uint32_t history_length(accrue *a, uint64_t id)
{
	static struct accrue_entry e[100];
	struct accrue_ref ref = by_id(id);
	uint64_t before = 0;
	uint32_t total = 0;
	for (;;) {
		uint32_t n = 0;
		uint64_t next = 0;
		int rc = accrue_history(a, &ref, before, e, 100, &n, &next);
		CHECK_INT(rc, 0);
		if (rc != 0)
			return 0;
		total += n;
		if (next == 0 || n == 0)
			return total;
		before = next;
	}
}

/* At the end: the customer holds exactly what the well-behaved client was told. */
static void check_ledger(void)
{
	case_begin();
	struct accrue_ref ref = by_id(ledger.id);
	struct accrue_customer c;
	CHECK_RC(serve, accrue_lookup(serve, &ref, &c), 0);
	CHECK_INT(c.balance, ledger.points);
	CHECK_INT(c.lifetime_points, ledger.points);
	CHECK_INT(c.visits, ledger.sales);
	CHECK_INT(c.total_spend, ledger.spend);
	CHECK_INT(history_length(serve, ledger.id), 1 + ledger.sales);
	case_end("ledger: after all the abuse the customer holds exactly the %llu sales (%lld points) the "
		 "well-behaved client was told were accrued, and nothing else",
		 (unsigned long long)ledger.sales, (long long)ledger.points);
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

/* ---- B: roles ---------------------------------------------------------------- */

static uint64_t roles_id;  /* the customer the role checks work on */
static uint64_t walkin_id; /* enrolled by the terminal */
static char term_secret[256], ro_secret[256];
static uint64_t term_id, ro_id;

/* Everything a refused request could have changed. */
struct state {
	struct accrue_customer c[3];
	uint32_t nhist[3];
	uint32_t nkeys, nrevoked;
	uint32_t nsettings;
	uint64_t settings_hash;
	int64_t refunded, taken_back; /* of order b-2 at store-2 */
};

/* FNV-1a over a string, to compare the program's settings in one number. */
static uint64_t fnv(uint64_t hash, const char *s)
{
	for (; *s; s++)
		hash = (hash ^ (uint8_t)*s) * 1099511628211ull;
	return hash;
}

static void state_take(struct state *s)
{
	static struct accrue_order o;
	uint64_t ids[3] = { roles_id, walkin_id, ledger.id };
	memset(s, 0, sizeof *s);
	for (int i = 0; i < 3; i++) {
		struct accrue_ref ref = by_id(ids[i]);
		CHECK_RC(serve, accrue_lookup(serve, &ref, &s->c[i]), 0);
		s->nhist[i] = history_length(serve, ids[i]);
	}
	struct accrue_key_info *keys = NULL;
	CHECK_RC(serve, accrue_key_list(serve, &keys, &s->nkeys), 0);
	for (uint32_t i = 0; keys && i < s->nkeys; i++)
		s->nrevoked += keys[i].revoked ? 1u : 0u;
	free(keys);
	struct accrue_setting *set = NULL;
	CHECK_RC(serve, accrue_program_get(serve, &set, &s->nsettings), 0);
	s->settings_hash = 1469598103934665603ull;
	for (uint32_t i = 0; set && i < s->nsettings; i++) {
		s->settings_hash = fnv(s->settings_hash, set[i].name);
		s->settings_hash = fnv(s->settings_hash, "=");
		s->settings_hash = fnv(s->settings_hash, set[i].value);
	}
	free(set);
	CHECK_RC(serve, accrue_order(serve, "store-2", "b-2", &o), 0);
	s->refunded = o.refunded;
	s->taken_back = o.taken_back;
}

static void state_same(const char *what, const struct state *x, const struct state *y)
{
	int before = check_failures;
	for (int i = 0; i < 3; i++) {
		CHECK_INT(x->c[i].balance, y->c[i].balance);
		CHECK_INT(x->c[i].lifetime_points, y->c[i].lifetime_points);
		CHECK_INT(x->c[i].visits, y->c[i].visits);
		CHECK_INT(x->c[i].total_spend, y->c[i].total_spend);
		CHECK_INT(x->c[i].last_visit_us, y->c[i].last_visit_us);
		CHECK_STR(x->c[i].email, y->c[i].email);
		CHECK_STR(x->c[i].tier, y->c[i].tier);
		CHECK_INT(x->c[i].ngroups, y->c[i].ngroups);
		CHECK_INT(x->nhist[i], y->nhist[i]);
	}
	CHECK_INT(x->nkeys, y->nkeys);
	CHECK_INT(x->nrevoked, y->nrevoked);
	CHECK_INT(x->nsettings, y->nsettings);
	CHECK(x->settings_hash == y->settings_hash);
	CHECK_INT(x->refunded, y->refunded);
	CHECK_INT(x->taken_back, y->taken_back);
	if (check_failures != before)
		fprintf(stderr, "    (something changed: %s)\n", what);
}

static void roles_setup(void)
{
	struct accrue_customer c;
	struct accrue_result res;
	struct accrue_key_info info;
	int replay = 0;

	CHECK_RC(serve, accrue_enrol(serve, NULL, "roles@example.com", NULL, "Role", "Play", &c, NULL), 0);
	roles_id = c.id;
	struct accrue_ref ref = by_id(roles_id);
	CHECK_RC(serve, accrue_accrue(serve, NULL, &ref, "store-2", "b-2", 5000, &res), 0);
	CHECK_RC(serve, accrue_accrue(serve, NULL, &ref, "store-1", "b-1", 3000, &res), 0);
	CHECK_RC(serve, accrue_key_create(serve, NULL, ACCRUE_ROLE_TERMINAL, "store-1", &info, term_secret,
					  sizeof term_secret, &replay), 0);
	term_id = info.id;
	CHECK_RC(serve, accrue_key_create(serve, NULL, ACCRUE_ROLE_READONLY, NULL, &info, ro_secret, sizeof ro_secret,
					  &replay), 0);
	ro_id = info.id;
	REQUIRE(term_id && ro_id && term_secret[0] && ro_secret[0]);
}

/*
 * Every request a role may not make, with a well-formed body and then with
 * a body that does not decode: FORBIDDEN either way (the role is checked
 * before the body is read), with the request's opcode and id.
 */
struct forbidden {
	uint8_t op;
	struct raw_body bd;
};

static void check_forbidden(struct raw *r, const char *role, const struct forbidden *f, int n, uint32_t *rid)
{
	static const uint8_t junk[] = { 0xff, 0xfe, 0xfd };
	for (int i = 0; i < n; i++) {
		char what[96];
		snprintf(what, sizeof what, "%s %s", role, proto_opcode_name(f[i].op));
		call(r, what, f[i].op, (*rid)++, &f[i].bd, PROTO_ST_FORBIDDEN, NULL);
		snprintf(what, sizeof what, "%s %s with a body that does not decode", role, proto_opcode_name(f[i].op));
		CHECK_INT(raw_send_flags(r, f[i].op, 0, *rid, junk, sizeof junk), 0);
		expect(r, what, PROTO_ST_FORBIDDEN, f[i].op, (*rid)++, NULL);
	}
}

static void test_terminal(struct raw *r)
{
	case_begin();
	struct proto_hello_rep hello;
	struct raw_body bd;
	struct raw_reply rep;
	struct state before, after;
	uint32_t rid = 200;

	REQUIRE(raw_open(r, &h) == 0);
	memset(&hello, 0, sizeof hello);
	CHECK_INT(raw_hello(r, term_secret, &hello), PROTO_OK);
	CHECK_INT(hello.role, PROTO_ROLE_TERMINAL);
	CHECK(hello.location.len == 7 && memcmp(hello.location.ptr, "store-1", 7) == 0);
	CHECK_INT(hello.key_id, term_id);

	/* What a till does, at its own store (or naming no store). */
	call(r, "terminal PING", PROTO_OP_PING, rid++, NULL, PROTO_OK, NULL);
	raw_body_enrol(&bd, "walkin-b@example.com");
	if (call(r, "terminal ENROL", PROTO_OP_ENROL, rid++, &bd, PROTO_OK, &rep) == PROTO_OK) {
		struct proto_customer c;
		CHECK_INT(proto_customer_rep_decode(rep.ok, rep.ok_len, &c), 0);
		walkin_id = c.id;
	}
	CHECK(walkin_id != 0);
	raw_body_lookup(&bd, roles_id);
	call(r, "terminal LOOKUP", PROTO_OP_LOOKUP, rid++, &bd, PROTO_OK, NULL);
	raw_body_accrue(&bd, roles_id, "store-1", "t-1", 2500);
	call(r, "terminal ACCRUE at store-1", PROTO_OP_ACCRUE, rid++, &bd, PROTO_OK, NULL);
	raw_body_accrue(&bd, roles_id, "", "t-2", 1200);
	call(r, "terminal ACCRUE at its own location", PROTO_OP_ACCRUE, rid++, &bd, PROTO_OK, NULL);
	raw_body_order(&bd, "store-1", "t-2");
	call(r, "terminal ORDER t-2 (booked at store-1)", PROTO_OP_ORDER, rid++, &bd, PROTO_OK, NULL);
	raw_body_order(&bd, "", "t-1");
	call(r, "terminal ORDER at its own location", PROTO_OP_ORDER, rid++, &bd, PROTO_OK, NULL);
	raw_body_return(&bd, "store-1", "t-1", 1000);
	call(r, "terminal RETURN at store-1", PROTO_OP_RETURN, rid++, &bd, PROTO_OK, NULL);
	raw_body_return(&bd, "", "t-2", 200);
	call(r, "terminal RETURN at its own location", PROTO_OP_RETURN, rid++, &bd, PROTO_OK, NULL);
	raw_body_quote(&bd, roles_id, 1000);
	call(r, "terminal QUOTE", PROTO_OP_QUOTE, rid++, &bd, PROTO_OK, NULL);
	raw_body_quote(&bd, 0, 1000);
	call(r, "terminal QUOTE for nobody", PROTO_OP_QUOTE, rid++, &bd, PROTO_OK, NULL);
	raw_body_history(&bd, roles_id, 10);
	call(r, "terminal HISTORY", PROTO_OP_HISTORY, rid++, &bd, PROTO_OK, NULL);
	call(r, "terminal PROGRAM_GET", PROTO_OP_PROGRAM_GET, rid++, NULL, PROTO_OK, NULL);

	/* A batch with a sale at another store: that item alone is FORBIDDEN. */
	static const char *const locs[] = { "store-2", "store-1", "" };
	static const char *const orders[] = { "t-y", "t-3", "t-4" };
	raw_body_batch(&bd, 3, roles_id, locs, orders, 700);
	if (call(r, "terminal ACCRUE_BATCH", PROTO_OP_ACCRUE_BATCH, rid++, &bd, PROTO_OK, &rep) == PROTO_OK) {
		struct proto_rbuf rb;
		struct proto_batch_item it;
		uint16_t count = 0;
		proto_rbuf_init(&rb, rep.ok, rep.ok_len);
		CHECK_INT(proto_batch_rep_begin(&rb, &count), 0);
		CHECK_INT(count, 3);
		static const int want[] = { PROTO_ST_FORBIDDEN, PROTO_OK, PROTO_OK };
		for (int i = 0; i < 3 && i < count; i++) {
			CHECK_INT(proto_batch_item_next(&rb, &it), 0);
			CHECK_INT(it.status, want[i]);
		}
		CHECK_INT(proto_rbuf_finish(&rb), 0);
	}
	check_no_order("store-2", "t-y");

	/* What it may not do: nothing of it may change anything. */
	state_take(&before);
	struct forbidden *f = calloc(12, sizeof *f);
	REQUIRE(f != NULL);
	int n = 0;
	f[n].op = PROTO_OP_ACCRUE;
	raw_body_accrue(&f[n++].bd, roles_id, "store-2", "t-x", 9900);
	f[n].op = PROTO_OP_RETURN;
	raw_body_return(&f[n++].bd, "store-2", "b-2", 1000);
	f[n].op = PROTO_OP_ORDER;
	raw_body_order(&f[n++].bd, "store-2", "b-2");
	f[n].op = PROTO_OP_ADJUST;
	raw_body_adjust(&f[n++].bd, roles_id, 500);
	f[n].op = PROTO_OP_ADJUST;
	raw_body_adjust(&f[n++].bd, roles_id, -5);
	f[n].op = PROTO_OP_GROUP;
	raw_body_group(&f[n++].bd, roles_id, "vip");
	f[n].op = PROTO_OP_TIER;
	raw_body_tier(&f[n++].bd, roles_id, "gold");
	f[n].op = PROTO_OP_KEY_CREATE;
	raw_body_key_create(&f[n++].bd, NULL, PROTO_ROLE_ADMIN, "");
	f[n].op = PROTO_OP_KEY_LIST;
	f[n++].bd.n = 0;
	f[n].op = PROTO_OP_KEY_REVOKE;
	raw_body_key_revoke(&f[n++].bd, ro_id);
	f[n].op = PROTO_OP_PROGRAM_SET;
	raw_body_program_set(&f[n++].bd, "earn.points", "100");
	/* Location is judged before the body: ACCRUE, RETURN and ORDER at
	 * another store must give FORBIDDEN there, but an undecodable body
	 * cannot name a store, so those three are checked well-formed only. */
	for (int i = 0; i < 3; i++) {
		char what[64];
		snprintf(what, sizeof what, "terminal %s at store-2", proto_opcode_name(f[i].op));
		call(r, what, f[i].op, rid++, &f[i].bd, PROTO_ST_FORBIDDEN, NULL);
	}
	check_forbidden(r, "terminal", f + 3, n - 3, &rid);
	free(f);
	expect_open(r, "terminal after its refusals");
	raw_close(r);
	state_take(&after);
	state_same("a terminal's refused requests", &before, &after);
	check_no_order("store-2", "t-x");

	/* The read-only key it tried to revoke still works. */
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_hello(r, ro_secret, NULL), PROTO_OK);
	raw_close(r);
	case_end("B terminal (store-1): PING, ENROL, LOOKUP, ACCRUE, RETURN, ORDER, QUOTE, HISTORY, PROGRAM_GET and a "
		 "batch at its own store work; ACCRUE/RETURN/ORDER/batch item at store-2, ADJUST, GROUP, TIER, "
		 "KEY_CREATE/LIST/REVOKE and PROGRAM_SET are FORBIDDEN (before the body is read) and change nothing");
}

static void test_readonly(struct raw *r)
{
	case_begin();
	struct proto_hello_rep hello;
	struct raw_body bd;
	struct raw_reply rep;
	struct state before, after;
	uint32_t rid = 300;

	state_take(&before);
	REQUIRE(raw_open(r, &h) == 0);
	memset(&hello, 0, sizeof hello);
	CHECK_INT(raw_hello(r, ro_secret, &hello), PROTO_OK);
	CHECK_INT(hello.role, PROTO_ROLE_READONLY);
	CHECK_INT(hello.location.len, 0);

	call(r, "read-only PING", PROTO_OP_PING, rid++, NULL, PROTO_OK, NULL);
	raw_body_lookup(&bd, roles_id);
	call(r, "read-only LOOKUP", PROTO_OP_LOOKUP, rid++, &bd, PROTO_OK, NULL);
	raw_body_history(&bd, roles_id, 100);
	if (call(r, "read-only HISTORY", PROTO_OP_HISTORY, rid++, &bd, PROTO_OK, &rep) == PROTO_OK) {
		struct proto_rbuf rb;
		uint64_t next = 1;
		uint32_t count = 0;
		proto_rbuf_init(&rb, rep.ok, rep.ok_len);
		CHECK_INT(proto_history_rep_begin(&rb, &next, &count), 0);
		CHECK_INT(count, before.nhist[0]);
	}
	/* ORDER at any store: the location rule binds terminals only. */
	raw_body_order(&bd, "store-1", "b-1");
	call(r, "read-only ORDER at store-1", PROTO_OP_ORDER, rid++, &bd, PROTO_OK, NULL);
	raw_body_order(&bd, "store-2", "b-2");
	if (call(r, "read-only ORDER at store-2", PROTO_OP_ORDER, rid++, &bd, PROTO_OK, &rep) == PROTO_OK) {
		static struct proto_order_rep o;
		CHECK_INT(proto_order_rep_decode(rep.ok, rep.ok_len, &o), 0);
		CHECK_INT(o.customer_id, roles_id);
	}
	raw_body_quote(&bd, roles_id, 1234);
	call(r, "read-only QUOTE", PROTO_OP_QUOTE, rid++, &bd, PROTO_OK, NULL);
	raw_body_quote(&bd, 0, 1234);
	call(r, "read-only QUOTE for nobody", PROTO_OP_QUOTE, rid++, &bd, PROTO_OK, NULL);
	call(r, "read-only PROGRAM_GET", PROTO_OP_PROGRAM_GET, rid++, NULL, PROTO_OK, NULL);

	/* Every mutating opcode, and KEY_LIST. */
	struct forbidden *f = calloc(12, sizeof *f);
	REQUIRE(f != NULL);
	int n = 0;
	f[n].op = PROTO_OP_ENROL;
	raw_body_enrol(&f[n++].bd, "ro-enrol@example.com");
	f[n].op = PROTO_OP_ACCRUE;
	raw_body_accrue(&f[n++].bd, roles_id, "store-1", "ro-1", 9900);
	f[n].op = PROTO_OP_ADJUST;
	raw_body_adjust(&f[n++].bd, roles_id, 500);
	f[n].op = PROTO_OP_RETURN;
	raw_body_return(&f[n++].bd, "store-2", "b-2", 1000);
	static const char *const locs[] = { "store-1" };
	static const char *const orders[] = { "ro-2" };
	f[n].op = PROTO_OP_ACCRUE_BATCH;
	raw_body_batch(&f[n++].bd, 1, roles_id, locs, orders, 700);
	f[n].op = PROTO_OP_GROUP;
	raw_body_group(&f[n++].bd, roles_id, "vip");
	f[n].op = PROTO_OP_TIER;
	raw_body_tier(&f[n++].bd, roles_id, "gold");
	f[n].op = PROTO_OP_KEY_CREATE;
	raw_body_key_create(&f[n++].bd, NULL, PROTO_ROLE_ADMIN, "");
	f[n].op = PROTO_OP_KEY_REVOKE;
	raw_body_key_revoke(&f[n++].bd, term_id);
	f[n].op = PROTO_OP_PROGRAM_SET;
	raw_body_program_set(&f[n++].bd, "earn.points", "100");
	f[n].op = PROTO_OP_KEY_LIST;
	f[n++].bd.n = 0;
	check_forbidden(r, "read-only", f, n, &rid);
	free(f);
	expect_open(r, "read-only after its refusals");
	raw_close(r);

	state_take(&after);
	state_same("a read-only key's requests", &before, &after);
	struct accrue_customer c;
	struct accrue_ref ref = by_text(ACCRUE_REF_EMAIL, "ro-enrol@example.com");
	CHECK_RC(serve, accrue_lookup(serve, &ref, &c), ACCRUE_ST_NOT_FOUND);
	check_no_order("store-1", "ro-1");
	check_no_order("store-1", "ro-2");
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_hello(r, term_secret, NULL), PROTO_OK);
	raw_close(r);
	serve_sale("role checks");
	case_end("B read-only: PING, LOOKUP, HISTORY, ORDER (any store), QUOTE and PROGRAM_GET work; ENROL, ACCRUE, "
		 "ADJUST, RETURN, ACCRUE_BATCH, GROUP, TIER, KEY_CREATE, KEY_REVOKE, PROGRAM_SET and KEY_LIST are "
		 "FORBIDDEN with and without a decodable body, and balances, history, keys, program and orders are "
		 "unchanged");
}

/* ---- C: keys ----------------------------------------------------------------- */

/* 1 if the file holds needle, 0 if not, -1 if it cannot be read. */
static int file_holds(const char *path, const char *needle)
{
	static uint8_t buf[(1 << 20) + 256];
	size_t m = strlen(needle), keep = 0;
	int found = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	for (;;) {
		size_t n = fread(buf + keep, 1, sizeof buf - keep, f);
		if (n == 0)
			break;
		n += keep;
		if (find_bytes(buf, n, needle, m)) {
			found = 1;
			break;
		}
		/* Keep the last m-1 bytes: the needle may straddle two reads. */
		keep = m - 1 < n ? m - 1 : n;
		memmove(buf, buf + n - keep, keep);
	}
	fclose(f);
	return found;
}

/* How many files in dir (not recursing, not admin.key) hold needle; *scanned counts those read. */
static int dir_holds(const char *dir, const char *needle, int *scanned)
{
	int found = 0;
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[HARNESS_PATH_MAX * 2];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (strcmp(e->d_name, "admin.key") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (file_holds(path, needle) == 1) {
			fprintf(stderr, "    %s holds a key's secret\n", path);
			found++;
		}
		(*scanned)++;
	}
	closedir(d);
	return found;
}

static void test_keys_shown_once(struct raw *r)
{
	case_begin();
	struct raw_body bd;
	struct raw_reply rep;
	struct proto_key_create_rep k;
	uint8_t request_key[PROTO_KEY_SIZE];
	char secret[256] = "";
	uint64_t id = 0;

	raw_login(r, &h, h.admin_key);
	new_key(request_key);
	raw_body_key_create(&bd, request_key, PROTO_ROLE_READONLY, "");
	if (call(r, "KEY_CREATE", PROTO_OP_KEY_CREATE, 400, &bd, PROTO_OK, &rep) == PROTO_OK) {
		CHECK_INT(proto_key_create_rep_decode(rep.ok, rep.ok_len, &k), 0);
		snprintf(secret, sizeof secret, "%.*s", (int)k.secret.len, k.secret.ptr);
		id = k.key_id;
		CHECK_INT(k.role, PROTO_ROLE_READONLY);
		CHECK(!(rep.hdr.flags & PROTO_FLAG_REPLAY));
	}
	REQUIRE(strlen(secret) >= 22 && id != 0);
	/* The random part: the whole secret, less any "ak_<id>_" in front. */
	const char *random_part = strrchr(secret, '_') ? strrchr(secret, '_') + 1 : secret;
	CHECK(strlen(random_part) >= 16);
	/* Twelve characters of it: enough to be found nowhere by chance. */
	char piece[13];
	memcpy(piece, random_part, sizeof piece - 1);
	piece[sizeof piece - 1] = '\0';

	/* The same request again is a replay, and the secret is not shown. */
	if (call(r, "KEY_CREATE replayed", PROTO_OP_KEY_CREATE, 401, &bd, PROTO_OK, &rep) == PROTO_OK) {
		CHECK(rep.hdr.flags & PROTO_FLAG_REPLAY);
		CHECK_INT(proto_key_create_rep_decode(rep.ok, rep.ok_len, &k), 0);
		CHECK_INT(k.secret.len, 0);
		CHECK_INT(k.key_id, id);
		CHECK(find_bytes(r->frame, r->frame_len, piece, strlen(piece)) == NULL);
	}

	/* KEY_LIST lists it, and no part of the secret is anywhere in its bytes. */
	if (call(r, "KEY_LIST", PROTO_OP_KEY_LIST, 402, NULL, PROTO_OK, &rep) == PROTO_OK) {
		CHECK(find_bytes(r->frame, r->frame_len, secret, strlen(secret)) == NULL);
		CHECK(find_bytes(r->frame, r->frame_len, piece, strlen(piece)) == NULL);
		struct proto_rbuf rb;
		struct proto_key_info info;
		uint32_t count = 0;
		int listed = 0;
		proto_rbuf_init(&rb, rep.ok, rep.ok_len);
		CHECK_INT(proto_key_list_rep_begin(&rb, &count), 0);
		for (uint32_t i = 0; i < count; i++) {
			if (proto_key_info_next(&rb, &info) != 0)
				break;
			if (info.id == id) {
				listed++;
				CHECK_INT(info.role, PROTO_ROLE_READONLY);
				CHECK_INT(info.revoked, 0);
			}
		}
		/* Read exactly to the end: a key info has no room for a secret or a hash. */
		CHECK_INT(proto_rbuf_finish(&rb), 0);
		CHECK_INT(listed, 1);
	}

	/* Nor in the daemon's log or its data files: it keeps only a hash. */
	int scanned = 0;
	CHECK_INT(file_holds(h.log, piece), 0);
	CHECK_INT(dir_holds(h.data, piece, &scanned), 0);
	CHECK(scanned >= 1);

	/* The key works until revoked; then HELLO gets AUTH and is closed. */
	struct raw *x = raw_new();
	REQUIRE(raw_open(x, &h) == 0);
	CHECK_INT(raw_hello(x, secret, NULL), PROTO_OK);
	raw_close(x);
	raw_body_key_revoke(&bd, id);
	call(r, "KEY_REVOKE", PROTO_OP_KEY_REVOKE, 403, &bd, PROTO_OK, NULL);
	REQUIRE(raw_open(x, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, secret);
	CHECK_INT(raw_send(x, PROTO_OP_HELLO, 404, &bd), 0);
	expect(x, "HELLO with a revoked key", PROTO_ST_AUTH, PROTO_OP_HELLO, 404, NULL);
	expect_closed(x, "after HELLO with a revoked key");
	raw_free(x);
	if (call(r, "KEY_LIST after the revocation", PROTO_OP_KEY_LIST, 405, NULL, PROTO_OK, &rep) == PROTO_OK) {
		struct proto_rbuf rb;
		struct proto_key_info info;
		uint32_t count = 0;
		int revoked = -1;
		proto_rbuf_init(&rb, rep.ok, rep.ok_len);
		CHECK_INT(proto_key_list_rep_begin(&rb, &count), 0);
		for (uint32_t i = 0; i < count && proto_key_info_next(&rb, &info) == 0; i++)
			if (info.id == id)
				revoked = info.revoked;
		CHECK_INT(revoked, 1);
	}
	raw_close(r);
	serve_sale("key checks");
	case_end("C keys: a secret is in KEY_CREATE's reply only; not in its replay (REPLAY, empty secret), not in "
		 "KEY_LIST's bytes (which decode exactly, without it), the log or %d data files; after KEY_REVOKE "
		 "its HELLO is AUTH and closed",
		 scanned);
}

/* ---- D: limits on the main daemon ---------------------------------------------- */

static void test_revoke_closes(struct raw *r1, struct raw *r2)
{
	case_begin();
	char secret[256];
	struct accrue_key_info info;
	struct accrue_result res;
	struct raw_body bd;
	int replay = 0;

	CHECK_RC(serve, accrue_key_create(serve, NULL, ACCRUE_ROLE_TERMINAL, "store-3", &info, secret, sizeof secret,
					  &replay), 0);
	REQUIRE(secret[0]);
	raw_login(r1, &h, secret);
	raw_login(r2, &h, secret);
	raw_body_accrue(&bd, roles_id, "store-3", "rv-0", 1500);
	call(r1, "ACCRUE with a key about to be revoked", PROTO_OP_ACCRUE, 500, &bd, PROTO_OK, NULL);
	accrue *t = NULL;
	CHECK_INT(harness_connect_key(&h, secret, &t), 0);
	REQUIRE(t != NULL);
	struct accrue_ref ref = by_id(roles_id);
	CHECK_RC(t, accrue_accrue(t, NULL, &ref, NULL, "rv-1", 1500, &res), 0);

	long long t0 = harness_now_ms();
	CHECK_RC(serve, accrue_key_revoke(serve, NULL, info.id), 0);
	size_t extra1 = 0, extra2 = 0;
	int closed1 = raw_wait_eof(r1, CLOSE_WAIT_MS, &extra1);
	long long t1 = harness_now_ms() - t0;
	int closed2 = raw_wait_eof(r2, t1 < CLOSE_WAIT_MS ? CLOSE_WAIT_MS - (int)t1 : 1, &extra2);
	long long t2 = harness_now_ms() - t0;
	CHECK_INT(closed1, 1);
	CHECK_INT(closed2, 1);
	if (!closed1 || !closed2)
		fprintf(stderr, "    connections of a revoked key still open %d ms after KEY_REVOKE: %s%s\n", CLOSE_WAIT_MS,
			closed1 ? "" : "first ", closed2 ? "" : "second");
	if (extra1 || extra2)
		printf("    (before closing, the server sent %zu and %zu bytes)\n", extra1, extra2);
	raw_close(r1);
	raw_close(r2);

	/* The till's library handle: its next sale reconnects, gets AUTH, and is not applied. */
	CHECK_RC(t, accrue_accrue(t, NULL, &ref, NULL, "rv-2", 1500, &res), ACCRUE_ST_AUTH);
	accrue_close(t);
	check_no_order("store-3", "rv-2");
	serve_sale("a revocation");
	case_end("D revocation: both open connections of a revoked terminal key see EOF (%lld ms and %lld ms after "
		 "KEY_REVOKE), its library handle then gets AUTH and its sale is not applied, the admin goes on",
		 closed1 ? t1 : -1, closed2 ? t2 : -1);
}

#define GREEDY_REQUESTS 200000
/*
 * How much the daemon's RSS may grow while one client pipelines without
 * reading. The daemon stops reading a connection once 4 MiB of replies are
 * unsent (net.c, WBUF_HIGH): its filling buffer ends a reply past that
 * mark, in an allocation grown by doubling (8 MiB), and the buffer being
 * written is as large, so about 16 MiB plus a 64 KiB read buffer. The
 * 200,000 replies of 1,680 bytes this client asks for are 320 MiB: a bound
 * of 64 MiB tells the two apart with room for the sanitizer's bookkeeping
 * (about 8 MiB of growth seen in the normal build, 28 MiB under ASan).
 */
#define GREEDY_RSS_BOUND_KIB (64L * 1024)

/* The greedy client's request stream: GREEDY_REQUESTS LOOKUP frames of one size, ids from 1000. */
struct greedy {
	int fd;
	uint64_t id;        /* the customer looked up */
	size_t frame_size;  /* of one request */
	uint64_t total;     /* bytes of the whole stream */
	uint64_t written;   /* bytes of it written so far */
	uint8_t chunk[(PROTO_HEADER_SIZE + 9) * 2048]; /* 2,048 frames: a LOOKUP by id has 9 body bytes */
	uint64_t chunk_at;  /* stream offset of chunk[0] */
	size_t chunk_len;
};

#define GREEDY_FIRST_RID 1000u

/* Write as much of the stream as the socket takes now. Returns the bytes written. */
static uint64_t greedy_push(struct greedy *g)
{
	uint64_t before = g->written;
	while (g->written < g->total) {
		if (g->written >= g->chunk_at + g->chunk_len) {
			/* Build the next chunk of whole frames. */
			uint64_t frame = g->written / g->frame_size;
			struct raw_body bd;
			raw_body_lookup(&bd, g->id);
			g->chunk_at = frame * g->frame_size;
			g->chunk_len = 0;
			while (frame < GREEDY_REQUESTS && g->chunk_len + g->frame_size <= sizeof g->chunk) {
				g->chunk_len += raw_frame(g->chunk + g->chunk_len, sizeof g->chunk - g->chunk_len,
							    PROTO_OP_LOOKUP, 0, GREEDY_FIRST_RID + (uint32_t)frame, bd.b,
							    bd.n);
				frame++;
			}
		}
		size_t off = (size_t)(g->written - g->chunk_at);
		ssize_t w = send(g->fd, g->chunk + off, g->chunk_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		g->written += (uint64_t)w;
	}
	return g->written - before;
}

/* A customer whose LOOKUP reply is as large as a customer gets (~1.7 KiB). */
static uint64_t make_big_customer(void)
{
	char email[PROTO_MAX_EMAIL + 1], first[PROTO_MAX_NAME + 1], last[PROTO_MAX_NAME + 1], tier[65], group[65];
	struct accrue_customer c;
	size_t local = PROTO_MAX_EMAIL - strlen("@example.com");
	memset(email, 'g', local);
	snprintf(email + local, sizeof email - local, "@example.com");
	memset(first, 'F', PROTO_MAX_NAME);
	first[PROTO_MAX_NAME] = 0;
	memset(last, 'L', PROTO_MAX_NAME);
	last[PROTO_MAX_NAME] = 0;
	CHECK_RC(serve, accrue_enrol(serve, NULL, email, "+1 555 010 9999", first, last, &c, NULL), 0);
	struct accrue_ref ref = by_id(c.id);
	memset(tier, 't', 64);
	tier[64] = 0;
	CHECK_RC(serve, accrue_tier(serve, NULL, &ref, tier, "big", NULL), 0);
	for (int i = 0; i < PROTO_MAX_GROUPS; i++) {
		memset(group, 'a' + i, 64);
		group[64] = 0;
		CHECK_RC(serve, accrue_group(serve, NULL, &ref, 1, group, NULL), 0);
	}
	return c.id;
}

static void test_greedy(void)
{
	case_begin();
	static struct greedy g;
	struct raw_body bd;
	struct raw_reply rep;
	long long t0 = harness_now_ms();

	memset(&g, 0, sizeof g);
	g.id = make_big_customer();
	struct raw *r = raw_new();
	raw_login(r, &h, h.admin_key);
	/* One LOOKUP first, to know the exact size of every reply. */
	raw_body_lookup(&bd, g.id);
	call(r, "LOOKUP of the big customer", PROTO_OP_LOOKUP, 1, &bd, PROTO_OK, &rep);
	size_t reply_size = r->frame_len;
	CHECK(reply_size > 1600);
	g.fd = r->fd;
	g.frame_size = PROTO_HEADER_SIZE + bd.n;
	g.total = (uint64_t)GREEDY_REQUESTS * g.frame_size;
	REQUIRE(fcntl(g.fd, F_SETFL, fcntl(g.fd, F_GETFL) | O_NONBLOCK) == 0);

	long base = rss_kib(h.pid), peak = base;
	CHECK(base > 0);

	/* Write until the socket takes no more for 3 s, never reading; the
	 * well-behaved client accrues a sale every 200 ms meanwhile. */
	long long last_progress = harness_now_ms(), last_sale = 0;
	int sales = 0;
	while (g.written < g.total && harness_now_ms() - last_progress < 3000 && harness_now_ms() - t0 < 20000) {
		if (greedy_push(&g))
			last_progress = harness_now_ms();
		long rss = rss_kib(h.pid);
		if (rss > peak)
			peak = rss;
		if (harness_now_ms() - last_sale >= 200) {
			serve_sale("a client pipelining without reading");
			sales++;
			last_sale = harness_now_ms();
		}
		harness_sleep_ms(20);
	}
	uint64_t stalled_at = g.written / g.frame_size;

	/* Now read every reply, writing the rest of the stream as room appears. */
	static uint8_t in[1 << 20];
	size_t in_len = 0;
	uint32_t want_rid = GREEDY_FIRST_RID, replies = 0, busy = 0, wrong = 0, stalled_replies = 0;
	long long last_sample = 0, last_read = harness_now_ms();
	int eof = 0, stalled = 0;
	while (replies < GREEDY_REQUESTS && !eof) {
		struct pollfd pfd = { g.fd, (short)(POLLIN | (g.written < g.total ? POLLOUT : 0)), 0 };
		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			break;
		if (pfd.revents & POLLOUT)
			greedy_push(&g);
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			if (harness_now_ms() - last_read < 3000)
				continue;
			/* Nothing for 3 s while replies are owed. Once: see whether
			 * another client's commit gets them moving, then give up. */
			if (stalled)
				break;
			stalled = 1;
			stalled_replies = replies;
			fprintf(stderr,
				"    greedy client: no reply for 3 s after %u of %d (%llu requests written); a sale by "
				"another client now:\n",
				replies, GREEDY_REQUESTS, (unsigned long long)(g.written / g.frame_size));
			serve_sale("a stalled greedy client");
			last_read = harness_now_ms() + 1000; /* watch 2 s more */
			continue;
		}
		ssize_t n = recv(g.fd, in + in_len, sizeof in - in_len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			eof = 1;
			break;
		}
		last_read = harness_now_ms();
		in_len += (size_t)n;
		size_t off = 0;
		for (;;) {
			struct proto_header hd;
			const uint8_t *body;
			size_t flen;
			int d = proto_frame_decode(in + off, in_len - off, PROTO_MAX_BODY_HARD, &hd, &body, &flen);
			if (d == 0)
				break;
			if (d < 0) {
				fprintf(stderr, "    greedy client: reply %u is not a frame (%s)\n", replies,
					proto_errstr(d));
				wrong++;
				eof = 1;
				break;
			}
			uint16_t st = 0xffff;
			struct proto_rbuf rb;
			proto_rbuf_init(&rb, body, hd.body_len);
			proto_reply_status(&rb, &st);
			if (st == PROTO_ST_BUSY)
				busy++;
			if (hd.request_id != want_rid || hd.opcode != PROTO_OP_LOOKUP || !(hd.flags & PROTO_FLAG_REPLY) ||
			    !((st == PROTO_OK && flen == reply_size) || st == PROTO_ST_BUSY)) {
				if (wrong++ < 3)
					fprintf(stderr,
						"    greedy client: reply %u: request id %u (want %u), opcode 0x%02x, "
						"status %s, %zu bytes (want %zu)\n",
						replies, hd.request_id, want_rid, hd.opcode, proto_status_name(st), flen,
						reply_size);
			}
			want_rid++;
			replies++;
			off += flen;
		}
		memmove(in, in + off, in_len - off);
		in_len -= off;
		if (harness_now_ms() - last_sample >= 50) {
			long rss = rss_kib(h.pid);
			if (rss > peak)
				peak = rss;
			last_sample = harness_now_ms();
		}
	}
	CHECK_INT(stalled, 0);
	if (stalled)
		fprintf(stderr,
			"    greedy client: after that sale, %u more replies came, then %s: a connection paused for "
			"unsent output is resumed only by a commit\n",
			replies - stalled_replies, replies < GREEDY_REQUESTS ? "nothing for 3 s again" : "all of them");
	CHECK_INT(replies, GREEDY_REQUESTS);
	CHECK_INT(wrong, 0);
	CHECK_INT(eof, 0);

	/* Done: the client closes its side and the server closes cleanly. */
	if (replies == GREEDY_REQUESTS) {
		shutdown(g.fd, SHUT_WR);
		r->len = in_len;
		expect_closed(r, "after the greedy client finished");
	}
	raw_free(r);
	long growth = peak - base;
	CHECK(growth <= GREEDY_RSS_BOUND_KIB);
	if (growth > GREEDY_RSS_BOUND_KIB)
		fprintf(stderr, "    daemon RSS grew by %ld KiB (from %ld to %ld KiB), more than %ld KiB\n", growth, base,
			peak, GREEDY_RSS_BOUND_KIB);
	CHECK(sales >= 5);
	serve_sale("a client pipelining without reading");
	case_end("D greedy client: %d LOOKUPs of a %zu-byte reply pipelined without reading (the socket stopped "
		 "taking them after %llu); daemon RSS grew %ld KiB (bound %ld KiB) while %d sales were served; then "
		 "%u of the replies came back, in request-id order (%u BUSY)%s",
		 GREEDY_REQUESTS, reply_size, (unsigned long long)stalled_at, growth, GREEDY_RSS_BOUND_KIB, sales,
		 replies, busy, replies == GREEDY_REQUESTS ? ", and the close was clean" : "");
}

/* ---- D: limits on daemons of their own ------------------------------------------ */

/* Start a daemon with extra arguments for one case; on failure the case is reported and skipped. */
static int start_special(struct harness *hx, const char *name, const char *const *args, const char *what)
{
	const char *option = args ? args[0] : "its default options";
	if (harness_start_args(hx, name, args) == 0)
		return 0;
	CHECK(!"the daemon starts");
	fprintf(stderr, "    cannot start accrued with %s (see its log above); skipping: %s\n", option, what);
	harness_finish(hx, 1);
	case_end("%s: SKIPPED, accrued did not start with %s", what, option);
	return -1;
}

static void finish_special(struct harness *hx)
{
	CHECK_INT(harness_stop(hx), 0);
	harness_finish(hx, check_failures != case_failures);
}

/* A connection watched for an error reply and EOF while other things happen. */
struct watch {
	const char *what;
	struct raw *r;
	long long since;   /* when the time the server enforces started */
	long long replied; /* when the first reply frame was whole; 0: not yet */
	long long closed;  /* when EOF came; 0: not yet */
	int bad;           /* bytes that are not a reply frame */
	struct raw_reply rep;
};

/* Take what has arrived on each watched connection, waiting at most ms. */
static void watch_poll(struct watch *w, int n, int ms)
{
	struct pollfd pfd[8];
	int map[8], k = 0;
	for (int i = 0; i < n && k < 8; i++)
		if (!w[i].closed && w[i].r->fd >= 0) {
			pfd[k].fd = w[i].r->fd;
			pfd[k].events = POLLIN;
			pfd[k].revents = 0;
			map[k++] = i;
		}
	if (k == 0) {
		harness_sleep_ms(ms);
		return;
	}
	if (poll(pfd, (nfds_t)k, ms) <= 0)
		return;
	for (int j = 0; j < k; j++) {
		struct watch *x = &w[map[j]];
		struct raw *r = x->r;
		if (!pfd[j].revents)
			continue;
		if (r->len == sizeof r->buf)
			r->len = 0; /* only the first reply is looked at */
		ssize_t got = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			x->closed = harness_now_ms();
			continue;
		}
		r->len += (size_t)got;
		if (!x->replied && !x->bad) {
			int rc = raw_reply(r, &x->rep, 0);
			if (rc == 1)
				x->replied = harness_now_ms();
			else if (rc == -2)
				x->bad = 1;
		}
	}
}

/* The connection must have had one PROTOCOL error about the timeout, opcode 0 id 0, then EOF. */
static void check_timed_out(struct watch *x, int timeout_ms)
{
	int before = check_failures;
	CHECK(x->replied != 0);
	CHECK_INT(x->rep.status, PROTO_ST_PROTOCOL);
	CHECK_INT(x->rep.hdr.opcode, 0);
	CHECK_INT(x->rep.hdr.request_id, 0);
	CHECK(has_text_ci(x->rep.msg, "time"));
	CHECK(x->closed != 0);
	CHECK_INT(x->r->len, 0);
	/* A lower bound on a deliberate delay: not before the timeout. */
	if (x->replied)
		CHECK(x->replied - x->since >= timeout_ms - 100);
	if (check_failures != before)
		fprintf(stderr,
			"    (%s: %s%s after %lld ms: %s \"%s\" opcode 0x%02x id %u; %s after %lld ms; %zu bytes more)\n",
			x->what, x->replied ? "a reply" : "no reply", x->bad ? " (not a frame)" : "",
			x->replied ? x->replied - x->since : -1, proto_status_name(x->rep.status), x->rep.msg,
			x->rep.hdr.opcode, x->rep.hdr.request_id, x->closed ? "EOF" : "no EOF",
			x->closed ? x->closed - x->since : -1, x->r->len);
}

static void test_frame_timeout(void)
{
	case_begin();
	static struct harness hf;
	static const char *const args[] = { "--frame-timeout", "1", NULL };
	const char *what = "D frame timeout";
	if (start_special(&hf, "it_abuse_frame", args, what) != 0)
		return;

	struct watch w[5];
	struct raw *pinger = raw_new(), *quiet = raw_new();
	uint8_t hello[512], frame[64];
	struct raw_body bd;
	memset(w, 0, sizeof w);
	for (int i = 0; i < 5; i++)
		w[i].r = raw_new();
	raw_body_hello(&bd, PROTO_VERSION, hf.admin_key);
	size_t hello_len = raw_frame(hello, sizeof hello, PROTO_OP_HELLO, 0, 1, bd.b, bd.n);

	w[0].what = "a connection that sends nothing";
	REQUIRE(raw_open(w[0].r, &hf) == 0);
	w[0].since = harness_now_ms();
	w[1].what = "half a HELLO";
	REQUIRE(raw_open(w[1].r, &hf) == 0);
	CHECK_INT(raw_write(w[1].r, hello, 12), 0);
	w[1].since = harness_now_ms();
	w[2].what = "half a header after HELLO";
	raw_login(w[2].r, &hf, hf.admin_key);
	raw_frame(frame, sizeof frame, PROTO_OP_PING, 0, 2, NULL, 0);
	CHECK_INT(raw_write(w[2].r, frame, 10), 0);
	w[2].since = harness_now_ms();
	w[3].what = "a header and part of its body after HELLO";
	raw_login(w[3].r, &hf, hf.admin_key);
	raw_body_lookup(&bd, 1);
	size_t len = raw_frame(frame, sizeof frame, PROTO_OP_LOOKUP, 0, 3, bd.b, bd.n);
	CHECK_INT(raw_write(w[3].r, frame, len - 4), 0);
	w[3].since = harness_now_ms();
	w[4].what = "a HELLO trickled a byte every 250 ms";
	REQUIRE(raw_open(w[4].r, &hf) == 0);
	CHECK_INT(raw_write(w[4].r, hello, 1), 0);
	w[4].since = harness_now_ms();
	size_t trickled = 1;
	raw_login(pinger, &hf, hf.admin_key);
	raw_login(quiet, &hf, hf.admin_key);

	/* 3.3 s: more than three timeouts. The pinger is busy all along, the
	 * quiet one says nothing after its HELLO. */
	long long t0 = harness_now_ms(), next_ping = t0 + 300, next_byte = t0 + 250;
	uint32_t pings = 0, pongs = 0;
	while (harness_now_ms() - t0 < 3300) {
		long long now = harness_now_ms();
		if (now >= next_ping) {
			struct raw_reply rep;
			if (raw_send(pinger, PROTO_OP_PING, 10 + pings, NULL) == 0 &&
			    raw_reply(pinger, &rep, 2000) == 1 && rep.status == PROTO_OK && rep.hdr.request_id == 10 + pings)
				pongs++;
			pings++;
			next_ping += 300;
		}
		if (now >= next_byte && !w[4].replied && !w[4].closed && trickled < hello_len) {
			if (send(w[4].r->fd, hello + trickled, 1, MSG_NOSIGNAL) == 1)
				trickled++;
			next_byte += 250;
		}
		watch_poll(w, 5, 20);
	}
	for (;;) {
		int open = 0;
		for (int i = 0; i < 5; i++)
			open += !w[i].closed && harness_now_ms() < w[i].since + 6000;
		if (!open)
			break;
		watch_poll(w, 5, 50);
	}
	long long first = -1, last = -1;
	for (int i = 0; i < 5; i++) {
		check_timed_out(&w[i], 1000);
		long long after = w[i].replied ? w[i].replied - w[i].since : -1;
		if (first < 0 || (after >= 0 && after < first))
			first = after;
		if (after > last)
			last = after;
	}
	CHECK_INT(pongs, pings);
	CHECK(pings >= 10);
	expect_open(pinger, "a connection pinging every 300 ms");
	expect_open(quiet, "an authenticated connection silent between frames");
	for (int i = 0; i < 5; i++)
		raw_free(w[i].r);
	raw_free(pinger);
	raw_free(quiet);
	finish_special(&hf);
	case_end("%s (1 s): no bytes, half a HELLO, half a header, a header and part of a body, and a HELLO "
		 "trickled a byte per 250 ms each got one PROTOCOL error about the timeout (opcode 0, id 0; after "
		 "%lld to %lld ms) and EOF; %u PINGs 300 ms apart and 3.3 s of silence between frames were not cut",
		 what, first, last, pings);
}

static void test_idle_timeout(void)
{
	case_begin();
	static struct harness hi;
	static const char *const args[] = { "--idle-timeout", "2", NULL };
	const char *what = "D idle timeout";
	if (start_special(&hi, "it_abuse_idle", args, what) != 0)
		return;

	struct watch w;
	struct raw *pinger = raw_new();
	memset(&w, 0, sizeof w);
	w.what = "an authenticated connection that sends nothing";
	w.r = raw_new();
	raw_login(w.r, &hi, hi.admin_key);
	w.since = harness_now_ms();
	raw_login(pinger, &hi, hi.admin_key);

	/* A till's library handle makes a sale, then sits idle past the timeout. */
	accrue *a = NULL;
	struct accrue_customer c;
	struct accrue_result res;
	CHECK_INT(harness_connect(&hi, &a), 0);
	REQUIRE(a != NULL);
	CHECK_RC(a, accrue_enrol(a, NULL, "idle@example.com", NULL, "Idle", "Till", &c, NULL), 0);
	struct accrue_ref ref = by_id(c.id);
	CHECK_RC(a, accrue_accrue(a, NULL, &ref, NULL, "idle-1", 2000, &res), 0);

	long long t0 = harness_now_ms(), next_ping = t0 + 500;
	uint32_t pings = 0, pongs = 0;
	while (harness_now_ms() - t0 < 3500 || (!w.closed && harness_now_ms() - w.since < 6000)) {
		if (harness_now_ms() >= next_ping && harness_now_ms() - t0 < 3500) {
			struct raw_reply rep;
			if (raw_send(pinger, PROTO_OP_PING, 10 + pings, NULL) == 0 &&
			    raw_reply(pinger, &rep, 2000) == 1 && rep.status == PROTO_OK && rep.hdr.request_id == 10 + pings)
				pongs++;
			pings++;
			next_ping += 500;
		}
		watch_poll(&w, 1, 20);
	}
	/* Closed without a reply, and not before the timeout (a lower bound on a deliberate delay). */
	CHECK(w.closed != 0);
	if (w.closed)
		CHECK(w.closed - w.since >= 1900);
	CHECK(!w.replied && w.r->len == 0);
	if (w.replied)
		fprintf(stderr, "    the idle connection got %s \"%s\" before EOF\n", proto_status_name(w.rep.status),
			w.rep.msg);
	CHECK_INT(pongs, pings);
	expect_open(pinger, "a connection pinging every 500 ms");

	/* The handle was idle as long: its next sale reconnects and counts once. */
	CHECK_RC(a, accrue_accrue(a, NULL, &ref, NULL, "idle-2", 3000, &res), 0);
	CHECK_RC(a, accrue_lookup(a, &ref, &c), 0);
	CHECK_INT(c.visits, 2);
	CHECK_INT(c.balance, 50);
	accrue_close(a);
	raw_free(w.r);
	raw_free(pinger);
	finish_special(&hi);
	case_end("%s (2 s): an authenticated connection sending nothing was closed without a reply after %lld ms; "
		 "one pinging every "
		 "500 ms was not; a library handle idle as long reconnected and its sale counted once",
		 what, w.closed ? w.closed - w.since : -1);
}

static void test_hello_penalty(void)
{
	case_begin();
	static struct harness hp;
	const char *what = "D failed HELLOs";
	/* A daemon of its own, so that the delays it earns touch no other case. */
	if (start_special(&hp, "it_abuse_penalty", NULL, what) != 0)
		return;

	struct raw *r = raw_new();
	struct raw_body bd;
	long long took[7];
	raw_body_hello(&bd, PROTO_VERSION, "ak_1_000000000000000000000000000000000000000000000000");
	for (int i = 0; i < 7; i++) {
		REQUIRE(raw_open(r, &hp) == 0);
		long long t = harness_now_ms();
		CHECK_INT(raw_send(r, PROTO_OP_HELLO, 1 + (uint32_t)i, &bd), 0);
		expect(r, "a wrong HELLO", PROTO_ST_AUTH, PROTO_OP_HELLO, 1 + (uint32_t)i, NULL);
		took[i] = harness_now_ms() - t;
		expect_closed(r, "after a wrong HELLO");
		raw_close(r);
	}
	/* From the 4th on: 250 ms, doubling; lower bounds only, with 10% for clock granularity. */
	for (int i = 3; i < 7; i++) {
		long long want = (250LL << (i - 3)) * 9 / 10;
		if (i >= 4 && want < 400)
			want = 400;
		CHECK(took[i] >= want);
		if (took[i] < want)
			fprintf(stderr, "    failed HELLO %d was answered after %lld ms; want at least %lld\n", i + 1,
				took[i], want);
	}
	REQUIRE(raw_open(r, &hp) == 0);
	long long t = harness_now_ms();
	CHECK_INT(raw_hello(r, hp.admin_key, NULL), PROTO_OK);
	long long good = harness_now_ms() - t;
	expect_open(r, "a correct HELLO after failed ones");
	raw_free(r);
	finish_special(&hp);
	case_end("%s: 7 wrong keys from one address answered AUTH (closed) after %lld, %lld, %lld ms, then %lld, "
		 "%lld, %lld, %lld ms (from the 4th: at least 250 ms doubling); a correct HELLO then took %lld ms",
		 what, took[0], took[1], took[2], took[3], took[4], took[5], took[6], good);
}

static void test_max_connections(void)
{
	case_begin();
	static struct harness hm;
	static const char *const args[] = { "--max-connections", "20", NULL };
	const char *what = "D connection limit";
	if (start_special(&hm, "it_abuse_maxconn", args, what) != 0)
		return;

	struct raw *c[21];
	struct raw_body bd;
	struct raw_reply rep;
	for (int i = 0; i < 20; i++) {
		c[i] = raw_new();
		raw_login(c[i], &hm, hm.admin_key);
	}
	/* The 21st says HELLO like any client: one BUSY frame naming the limit, then EOF. */
	c[20] = raw_new();
	REQUIRE(raw_open(c[20], &hm) == 0);
	raw_body_hello(&bd, PROTO_VERSION, hm.admin_key);
	raw_send(c[20], PROTO_OP_HELLO, 21, &bd); /* the server may have hung up already */
	/* PROTOCOL.md: opcode HELLO and request id 0, since it is sent before any request is read. */
	int got = raw_reply(c[20], &rep, RAW_REPLY_WAIT_MS);
	check_reply("the 21st connection", got, &rep, PROTO_ST_BUSY, PROTO_OP_HELLO, 0);
	CHECK(strstr(rep.msg, "20") != NULL);
	expect_closed(c[20], "the 21st connection");
	raw_close(c[20]);
	accrue *a = NULL;
	int lib_rc = harness_connect(&hm, &a);
	CHECK_INT(lib_rc, ACCRUE_ST_BUSY);
	accrue_close(a);

	/* One of the twenty goes; a new one is let in once the server has seen it go. */
	raw_close(c[0]);
	int admitted = 0, tries = 0;
	for (long long t = harness_now_ms(); !admitted && harness_now_ms() - t < 5000; tries++) {
		REQUIRE(raw_open(c[20], &hm) == 0);
		if (raw_hello(c[20], hm.admin_key, NULL) == PROTO_OK)
			admitted = 1;
		else {
			raw_close(c[20]);
			harness_sleep_ms(50);
		}
	}
	CHECK(admitted);
	for (int i = 1; i <= 20; i++)
		if (c[i]->fd >= 0)
			expect_open(c[i], "a connection within the limit");
	for (int i = 0; i <= 20; i++)
		raw_free(c[i]);
	finish_special(&hm);
	case_end("%s (20): the 21st connection got one BUSY frame \"%s\" (opcode 0x%02x, id %u) and EOF; "
		 "libaccrue's connect said %s; after one of the 20 closed a new one was admitted (try %d) and all 20 "
		 "answer",
		 what, rep.msg, rep.hdr.opcode, rep.hdr.request_id, accrue_strerror(lib_rc), tries);
}

/* ---- D: 10,000 idle connections ----------------------------------------------------- */

#define MANY 10000
#define MANY_BATCH 500

struct idle {
	int fd;
	uint8_t len;
	uint8_t buf[191];
};

/* Read what is there; 1 with the status of a whole reply frame, 0 for more, -1 on EOF or bad bytes. */
static int idle_read(struct idle *c, uint16_t *status, uint32_t *rid)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	c->len = (uint8_t)(c->len + n);
	struct proto_header hd;
	const uint8_t *body;
	size_t flen;
	int d = proto_frame_decode(c->buf, c->len, PROTO_MAX_BODY_HARD, &hd, &body, &flen);
	if (d < 0 || (d == 0 && c->len == sizeof c->buf))
		return -1;
	if (d == 0)
		return 0;
	struct proto_rbuf rb;
	proto_rbuf_init(&rb, body, hd.body_len);
	if (proto_reply_status(&rb, status) != 0)
		return -1;
	*rid = hd.request_id;
	memmove(c->buf, c->buf + flen, c->len - flen);
	c->len = (uint8_t)(c->len - flen);
	return 1;
}

/* Wait until each of c[0..n) has a reply (or failed). Counts OK replies with request id rid. */
static int idle_replies(struct idle *c, int n, uint32_t rid, int timeout_ms, int *refused)
{
	struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
	int *done = calloc((size_t)n, sizeof *done);
	REQUIRE(pfd && done);
	int ok = 0, left = n;
	long long deadline = harness_now_ms() + timeout_ms;
	for (int i = 0; i < n; i++)
		if (c[i].fd < 0) {
			done[i] = 1;
			left--;
		}
	while (left > 0 && harness_now_ms() < deadline) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (!done[i]) {
				pfd[k].fd = c[i].fd;
				pfd[k].events = POLLIN;
				pfd[k].revents = 0;
				k++;
			}
		if (poll(pfd, (nfds_t)k, 200) <= 0)
			continue;
		k = 0;
		for (int i = 0; i < n; i++) {
			if (done[i])
				continue;
			if (pfd[k++].revents == 0)
				continue;
			uint16_t st = 0;
			uint32_t got_rid = 0;
			int rc = idle_read(&c[i], &st, &got_rid);
			if (rc == 0)
				continue;
			done[i] = 1;
			left--;
			if (rc == 1 && st == PROTO_OK && got_rid == rid) {
				ok++;
			} else {
				if ((*refused)++ < 3)
					fprintf(stderr, "    connection %d: %s\n", i,
						rc == 1 ? proto_status_name(st) : "closed or not a frame");
			}
		}
	}
	free(pfd);
	free(done);
	return ok;
}

static void test_many_idle(void)
{
	case_begin();
	struct rlimit rl;
	REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = rl.rlim_max;
	CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
	int want = MANY;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < MANY + 100) {
		want = rl.rlim_max > 300 ? (int)rl.rlim_max - 100 : 0;
		printf("    the hard limit on open files is %llu, below %d: testing %d connections instead of %d\n",
		       (unsigned long long)rl.rlim_max, MANY + 100, want, MANY);
	}
	if (want == 0) {
		case_end("D 10,000 idle connections: SKIPPED, the hard limit on open files is %llu",
			 (unsigned long long)rl.rlim_max);
		return;
	}

	struct idle *c = calloc((size_t)want, sizeof *c);
	REQUIRE(c != NULL);
	uint8_t hello[512];
	struct raw_body bd;
	raw_body_hello(&bd, PROTO_VERSION, h_many.admin_key);
	size_t hello_len = raw_frame(hello, sizeof hello, PROTO_OP_HELLO, 0, 1, bd.b, bd.n);
	int ok = 0, refused = 0, unconnected = 0;
	long long t0 = harness_now_ms();

	/* In batches below the listen backlog: connect, HELLO on each, then the replies. */
	for (int start = 0; start < want; start += MANY_BATCH) {
		int n = want - start < MANY_BATCH ? want - start : MANY_BATCH;
		struct idle *b = c + start;
		for (int i = 0; i < n; i++) {
			b[i].fd = raw_connect(&h_many, 1);
			if (b[i].fd < 0 && unconnected++ < 3)
				fprintf(stderr, "    connection %d: %s\n", start + i, strerror(errno));
		}
		/* A non-blocking connect on loopback is done or nearly: wait for each to be writable. */
		for (int i = 0; i < n; i++) {
			if (b[i].fd < 0)
				continue;
			struct pollfd pfd = { b[i].fd, POLLOUT, 0 };
			int err = 0;
			socklen_t el = sizeof err;
			if (poll(&pfd, 1, 10000) != 1 || getsockopt(b[i].fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err ||
			    send(b[i].fd, hello, hello_len, MSG_NOSIGNAL) != (ssize_t)hello_len) {
				if (unconnected++ < 3)
					fprintf(stderr, "    connection %d: cannot connect and send HELLO: %s\n", start + i,
						strerror(err ? err : errno));
				close(b[i].fd);
				b[i].fd = -1;
			}
		}
		ok += idle_replies(b, n, 1, 20000, &refused);
	}
	long long opened_ms = harness_now_ms() - t0;
	CHECK_INT(unconnected, 0);
	CHECK_INT(refused, 0);
	CHECK_INT(ok, want);

	/* While they are all held, a till accrues 500 sales. */
	long long t1 = harness_now_ms();
	accrue *a = NULL;
	int sales = 0;
	CHECK_INT(harness_connect(&h_many, &a), 0);
	if (a) {
		struct accrue_customer cust;
		struct accrue_result res;
		CHECK_RC(a, accrue_enrol(a, NULL, "many@example.com", NULL, "Many", "Idle", &cust, NULL), 0);
		struct accrue_ref ref = by_id(cust.id);
		for (int i = 0; i < 500; i++) {
			char order[32];
			snprintf(order, sizeof order, "many-%d", i);
			int rc = accrue_accrue(a, NULL, &ref, NULL, order, 100, &res);
			if (rc == 0)
				sales++;
			else if (sales + 3 > i)
				fprintf(stderr, "    sale %d with %d idle connections: %s: %s\n", i, ok, accrue_strerror(rc),
					accrue_message(a));
		}
		CHECK_RC(a, accrue_lookup(a, &ref, &cust), 0);
		CHECK_INT(cust.balance, sales);
		accrue_close(a);
	}
	CHECK_INT(sales, 500);
	long long sales_ms = harness_now_ms() - t1;

	/* A sample of 100 of the idle ones still answers. */
	int sample = 0, pongs = 0, sample_refused = 0;
	for (int i = 0; i < want; i += want / 100 > 0 ? want / 100 : 1) {
		uint8_t ping[PROTO_HEADER_SIZE];
		if (c[i].fd < 0)
			continue;
		raw_frame(ping, sizeof ping, PROTO_OP_PING, 0, 7000 + (uint32_t)i, NULL, 0);
		sample++;
		if (send(c[i].fd, ping, sizeof ping, MSG_NOSIGNAL) != (ssize_t)sizeof ping) {
			sample_refused++;
			continue;
		}
		pongs += idle_replies(&c[i], 1, 7000 + (uint32_t)i, 5000, &sample_refused);
	}
	CHECK(sample >= 100 || sample == want);
	CHECK_INT(pongs, sample);

	char limits[4096] = "", path[64];
	snprintf(path, sizeof path, "/proc/%d/limits", (int)h_many.pid);
	harness_read_file(path, limits, sizeof limits);
	const char *nofile = strstr(limits, "Max open files");
	long long daemon_soft = nofile ? strtoll(nofile + strlen("Max open files"), NULL, 10) : -1;
	long rss = rss_kib(h_many.pid);
	for (int i = 0; i < want; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	free(c);
	case_end("D %d idle connections: %d said HELLO and were answered OK in %.1f s; meanwhile %d of 500 sales "
		 "were accrued (%.1f s); %d of %d sampled idle ones answered PING (daemon: %ld MiB RSS, open-file "
		 "limit %lld)",
		 want, ok, (double)opened_ms / 1000.0, sales, (double)sales_ms / 1000.0, pongs, sample, rss / 1024,
		 daemon_soft);
}

/* ---- main ----------------------------------------------------------------------- */

int main(void)
{
	long long t0 = harness_now_ms();
	signal(SIGPIPE, SIG_IGN);

	/* Started before this process raises its own limit on open files, so
	 * the daemon must raise its own to hold 10,000 connections. */
	REQUIRE(harness_start(&h_many, "it_abuse_many") == 0);
	REQUIRE(harness_start(&h, "it_abuse") == 0);
	int rc = harness_connect(&h, &serve);
	if (rc != 0)
		fprintf(stderr, "cannot connect as admin to %s: %s\n", h.addr, accrue_strerror(rc));
	REQUIRE(rc == 0 && serve != NULL);
	struct accrue_customer c;
	CHECK_RC(serve, accrue_enrol(serve, NULL, "ledger@example.com", NULL, "Well", "Behaved", &c, NULL), 0);
	ledger.id = c.id;
	REQUIRE(ledger.id != 0);

	struct raw *r = raw_new(), *r2 = raw_new();
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

	roles_setup();
	test_terminal(r);
	test_readonly(r);
	test_keys_shown_once(r);

	test_revoke_closes(r, r2);
	test_greedy();
	test_frame_timeout();
	test_idle_timeout();
	test_hello_penalty();
	test_max_connections();
	test_many_idle();

	check_ledger();
	raw_free(r);
	raw_free(r2);
	accrue_close(serve);
	CHECK_INT(harness_stop(&h), 0);
	CHECK_INT(harness_stop(&h_many), 0);
	harness_finish(&h, check_failures);
	harness_finish(&h_many, check_failures);
	fprintf(stderr, "it_abuse: %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);
	return check_done("it_abuse");
}
