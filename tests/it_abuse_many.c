/*
 * it_abuse_many.c - 10,000 idle connections to the real daemon (see
 * it_abuse/abuse.h for what the it_abuse_*.c tests share): each says HELLO
 * and is answered, the daemon keeps serving others meanwhile, and its
 * memory and open files stay within bounds.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "proto.h"
#include "raw.h"
#include "abuse.h"

static struct harness h_many;

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
	test_many_idle();
	CHECK_INT(harness_stop(&h_many), 0);
	harness_finish(&h_many, check_failures);
	fprintf(stderr, "it_abuse_many: %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);
	return check_done("it_abuse_many");
}
