/*
 * abuse.c - the well-behaved client, the case reports and the expectations
 * on raw connections that the it_abuse_*.c tests share (see abuse.h).
 */
#include "abuse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client_check.h"

accrue *serve;
struct abuse_ledger ledger;

/* ---- reporting ------------------------------------------------------- */

static int case_failures;
static long long case_started;

void case_begin(void)
{
	case_failures = check_failures;
	case_started = harness_now_ms();
}

void case_end(const char *fmt, ...)
{
	va_list ap;
	printf("%s ", check_failures == case_failures ? "[ok]    " : "[FAILED]");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (%.1f s)\n", (double)(harness_now_ms() - case_started) / 1000.0);
	fflush(stdout);
}

int case_failed(void)
{
	return check_failures != case_failures;
}

/* ---- the daemon and raw connections ------------------------------------ */

long rss_kib(pid_t pid)
{
	char path[64], text[8192];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (harness_read_file(path, text, sizeof text) <= 0)
		return -1;
	const char *p = strstr(text, "VmRSS:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

void check_reply(const char *what, int got, const struct raw_reply *rep, int status, int opcode, uint32_t rid)
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

void expect(struct raw *r, const char *what, int status, int opcode, uint32_t rid, struct raw_reply *rep)
{
	struct raw_reply local;
	if (!rep)
		rep = &local;
	check_reply(what, raw_reply(r, rep, RAW_REPLY_WAIT_MS), rep, status, opcode, rid);
}

void expect_closed(struct raw *r, const char *what)
{
	size_t extra = 0;
	int closed = raw_wait_eof(r, CLOSE_WAIT_MS, &extra);
	CHECK_INT(closed, 1);
	CHECK_INT(extra, 0);
	if (!closed || extra)
		fprintf(stderr, "    (%s: the connection %s, after %zu more bytes)\n", what,
			closed ? "was closed" : "was still open after 5 s", extra);
}

void expect_open(struct raw *r, const char *what)
{
	CHECK_INT(raw_send(r, PROTO_OP_PING, PING_ID, NULL), 0);
	expect(r, what, PROTO_OK, PROTO_OP_PING, PING_ID, NULL);
}

int call(struct raw *r, const char *what, uint8_t op, uint32_t rid, const struct raw_body *bd, int want,
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

void serve_sale(const char *after)
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

void ledger_add(int64_t amount, int64_t points)
{
	ledger.points += points;
	ledger.spend += amount;
	ledger.sales++;
}

void check_no_order(const char *location, const char *order)
{
	static struct accrue_order o;
	int rc = accrue_order(serve, location, order, &o);
	CHECK_INT(rc, ACCRUE_ST_NOT_FOUND);
	if (rc != ACCRUE_ST_NOT_FOUND)
		fprintf(stderr, "    order %s at %s: %s (it must not have been recorded)\n", order, location,
			accrue_strerror(rc));
}

uint32_t history_length(accrue *a, uint64_t id)
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

void abuse_start(struct harness *hh, const char *name)
{
	REQUIRE(harness_start(hh, name) == 0);
	int rc = harness_connect(hh, &serve);
	if (rc != 0)
		fprintf(stderr, "cannot connect as admin to %s: %s\n", hh->addr, accrue_strerror(rc));
	REQUIRE(rc == 0 && serve != NULL);
	struct accrue_customer c;
	CHECK_RC(serve, accrue_enrol(serve, NULL, "ledger@example.com", NULL, "Well", "Behaved", &c, NULL), 0);
	ledger.id = c.id;
	REQUIRE(ledger.id != 0);
}

void abuse_finish(struct harness *hh)
{
	check_ledger();
	accrue_close(serve);
	serve = NULL;
	CHECK_INT(harness_stop(hh), 0);
	harness_finish(hh, check_failures);
}
