/*
 * it_abuse_limits.c - the daemon's limits on connections, each case on a
 * daemon of its own started with the option under test (see
 * it_abuse/abuse.h for what the it_abuse_*.c tests share). In order: the
 * frame timeout (--frame-timeout), the idle timeout (--idle-timeout), the
 * delay after repeated failed HELLOs, and the connection limit
 * (--max-connections).
 */
#include <ctype.h>
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

/* Whether s holds needle, ignoring case. */
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
	harness_finish(hx, case_failed());
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

/* ---- main ----------------------------------------------------------------------- */

int main(void)
{
	long long t0 = harness_now_ms();
	signal(SIGPIPE, SIG_IGN);
	test_frame_timeout();
	test_idle_timeout();
	test_hello_penalty();
	test_max_connections();
	fprintf(stderr, "it_abuse_limits: %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);
	return check_done("it_abuse_limits");
}
