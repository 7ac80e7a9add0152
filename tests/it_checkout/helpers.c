/*
 * helpers.c - the daemon, the admin connection, the record of customers and
 * sales, and the helpers the sections of it_checkout share (checkout.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "checkout.h"

struct harness h;
accrue *adm;

uint64_t all_ids[MAX_IDS];
int nids;
struct checkout_order_ref all_orders[MAX_ORDERS];
int norders;

void iso_time(int64_t seconds, char *buf, size_t cap)
{
	time_t t = (time_t)seconds;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t ceil_share(int64_t a, int64_t b, int64_t c)
{
	return (a * b + c - 1) / c;
}

void remember_customer(uint64_t id)
{
	for (int i = 0; i < nids; i++)
		if (all_ids[i] == id)
			return;
	REQUIRE(nids < MAX_IDS);
	all_ids[nids++] = id;
}

void remember_order(const char *loc, const char *order_id)
{
	REQUIRE(norders < MAX_ORDERS);
	snprintf(all_orders[norders].loc, sizeof all_orders[norders].loc, "%s", loc);
	snprintf(all_orders[norders].id, sizeof all_orders[norders].id, "%s", order_id);
	norders++;
}

uint64_t enrol(const char *email)
{
	struct accrue_customer c;
	memset(&c, 0, sizeof c);
	int rc = accrue_enrol(adm, NULL, email, NULL, "Test", "Shopper", &c, NULL);
	CHECK_RC(adm, rc, 0);
	REQUIRE(rc == 0 && c.id != 0);
	remember_customer(c.id);
	return c.id;
}

struct accrue_customer lookup(uint64_t id)
{
	struct accrue_customer c;
	struct accrue_ref r = by_id(id);
	memset(&c, 0, sizeof c);
	CHECK_RC(adm, accrue_lookup(adm, &r, &c), 0);
	return c;
}

void set(const char *name, const char *value)
{
	int rc = accrue_program_set(adm, NULL, name, value);
	CHECK_RC(adm, rc, 0);
	if (rc != 0)
		fprintf(stderr, "    (setting %s = \"%s\")\n", name, value);
}

const char *setting(const char *name, char *buf, size_t cap)
{
	struct accrue_setting *s = NULL;
	uint32_t n = 0;
	snprintf(buf, cap, "(absent)");
	CHECK_RC(adm, accrue_program_get(adm, &s, &n), 0);
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			snprintf(buf, cap, "%s", s[i].value);
	free(s);
	return buf;
}

struct accrue_line line(const char *sku, const char *category, int64_t qty, int64_t amount)
{
	struct accrue_line l;
	memset(&l, 0, sizeof l);
	snprintf(l.sku, sizeof l.sku, "%s", sku);
	snprintf(l.category, sizeof l.category, "%s", category);
	l.qty = qty;
	l.amount = amount;
	return l;
}

struct accrue_sale sale_of(const char *loc, const char *order_id, int64_t time_us, int64_t amount,
				  const struct accrue_line *lines, uint32_t nlines)
{
	struct accrue_sale s;
	memset(&s, 0, sizeof s);
	s.location = loc;
	s.order_id = order_id;
	s.time_us = time_us;
	s.amount = amount;
	s.nlines = nlines;
	s.lines = lines;
	return s;
}

int sell_ref(const struct accrue_ref *ref, const char *order_id, int64_t time_us, int64_t amount,
		    const struct accrue_line *lines, uint32_t nlines, struct accrue_result *res)
{
	struct accrue_sale s = sale_of(LOC, order_id, time_us, amount, lines, nlines);
	memset(res, 0, sizeof *res);
	int rc = accrue_sale(adm, NULL, ref, &s, res);
	if (rc == 0 && !res->replay)
		remember_order(LOC, order_id);
	return rc;
}

struct accrue_result expect_sale(uint64_t id, const char *order_id, int64_t time_us, int64_t amount,
					const struct accrue_line *lines, uint32_t nlines, int64_t want)
{
	int before = check_failures;
	struct accrue_customer c0 = lookup(id);
	struct accrue_ref r = by_id(id);
	struct accrue_result res;

	CHECK_RC(adm, sell_ref(&r, order_id, time_us, amount, lines, nlines, &res), 0);
	CHECK_INT(res.points, want);
	CHECK_INT(res.replay, 0);
	CHECK_INT(res.customer.id, id);
	CHECK_INT(res.customer.balance, c0.balance + want);
	CHECK_INT(res.customer.visits, c0.visits + 1);
	CHECK_INT(res.customer.total_spend, c0.total_spend + amount);
	struct accrue_customer c1 = lookup(id);
	CHECK_INT(c1.balance, c0.balance + want);
	if (check_failures != before)
		fprintf(stderr, "    (in sale %s of %lld for #%llu, expected %lld)\n", order_id, (long long)amount,
			(unsigned long long)id, (long long)want);
	return res;
}

struct accrue_order order_buf;

const struct accrue_order *order_of(const char *loc, const char *order_id)
{
	memset(&order_buf, 0, sizeof order_buf);
	int rc = accrue_order(adm, loc, order_id, &order_buf);
	CHECK_RC(adm, rc, 0);
	if (rc != 0)
		fprintf(stderr, "    (order %s at %s)\n", order_id, loc);
	return &order_buf;
}

int64_t order_lines_are(const char *loc, const char *order_id, const int64_t *want, uint32_t n)
{
	int before = check_failures;
	const struct accrue_order *o = order_of(loc, order_id);
	int64_t sum = 0;

	CHECK_INT(o->nlines, n);
	for (uint32_t i = 0; i < n && i < o->nlines; i++) {
		CHECK_INT(o->lines[i].earned, want[i]);
		sum += o->lines[i].earned;
	}
	if (check_failures != before)
		fprintf(stderr, "    (in the lines of order %s)\n", order_id);
	return sum;
}

struct accrue_entry hist[MAX_ENTRIES];

uint32_t history_of(uint64_t id)
{
	struct accrue_ref ref = by_id(id);
	uint64_t before = 0, next = 0;
	uint32_t n = 0;

	for (int pages = 0; pages < 100; pages++) {
		uint32_t got = 0;
		int rc = accrue_history(adm, &ref, before, hist + n, MAX_ENTRIES - n < 100 ? MAX_ENTRIES - n : 100, &got,
					&next);
		CHECK_RC(adm, rc, 0);
		if (rc != 0)
			break;
		n += got;
		if (next == 0 || got == 0 || n == MAX_ENTRIES)
			break;
		before = next;
	}
	return n;
}

const struct accrue_entry *entry_for(uint64_t id, int type, const char *order_id)
{
	uint32_t n = history_of(id);
	for (uint32_t i = 0; i < n; i++)
		if (hist[i].type == type && strcmp(hist[i].order_id, order_id) == 0)
			return &hist[i];
	return NULL;
}

int do_return(const uint8_t *key, const char *order_id, int64_t amount, const struct accrue_line *lines,
		     uint32_t nlines, struct accrue_return_result *rr)
{
	memset(rr, 0, sizeof *rr);
	return accrue_return(adm, key, LOC, order_id, 0, amount, lines, nlines, rr);
}
