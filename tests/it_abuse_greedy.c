/*
 * it_abuse_greedy.c - a client that pipelines 200,000 requests without
 * reading the replies, against the real daemon (see it_abuse/abuse.h for
 * what the it_abuse_*.c tests share): the daemon's memory stays bounded,
 * every reply comes in order once the client reads, and the well-behaved
 * client is served meanwhile and its ledger is exact at the end.
 */
#include <errno.h>
#include <fcntl.h>
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

/* ---- D: the greedy client ------------------------------------------------------- */

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

/* ---- main ----------------------------------------------------------------------- */

int main(void)
{
	long long t0 = harness_now_ms();
	signal(SIGPIPE, SIG_IGN);
	abuse_start(&h, "it_abuse_greedy");
	test_greedy();
	abuse_finish(&h);
	fprintf(stderr, "it_abuse_greedy: %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);
	return check_done("it_abuse_greedy");
}
