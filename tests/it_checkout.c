/*
 * it_checkout.c - checkout as a store manager sees it: what sales, returns,
 * quotes and batches do to balances, driven through libaccrue against the
 * real accrued (harness.c) with real LMDB.
 *
 * server/rules.h is the specification; every expected number below is
 * worked out by hand from it in a comment beside the check. The program's
 * settings are global, so each section sets what it needs and puts it back
 * ("" restores a default) before the next one; every case uses a customer
 * of its own so that balances are known. In order:
 *
 *   earning      1 point per 1.00 rounded down; nearest and up; earn.points;
 *                excluded categories and SKUs (a basket of only excluded
 *                lines still counts a visit and spend); earn.min_spend at
 *                and below; line shares with their remainders, as ORDER
 *                shows them, adding up to the sale; settings that do not
 *                parse, and a 17th promotion, are refused.
 *   stamps       per visit; per item in stamps.categories; min spend.
 *   multipliers  tier, best group (only groups with a multiplier count),
 *                both; promotions in and out of force (start inclusive, end
 *                exclusive, by the sale's time), for a group only; the cap
 *                at 100 and the 4-decimal truncation, both of the exact
 *                product; a settings change between two sales applies to
 *                the second.
 *   quote        the same numbers as the sale that follows, recording
 *                nothing, for any role.
 *   returns      full, thirds and sevenths (cumulative ceiling, never more
 *                than earned), OVER_RETURN, unknown order, spent points with
 *                returns.below_zero allow and stop, replay by key, by lines.
 *   guests       refused; recorded (member 0, visits, no points); enrolment
 *                turns the guest into a member with the same id; a known
 *                guest under a refusing program is NOT_MEMBER.
 *   batch        300 sales with a duplicate order, a replayed key, an
 *                unknown customer, a negative amount and lines that do not
 *                add up: each its own status, the good ones applied once;
 *                the same batch again replays.
 *   durability   SIGTERM + restart and SIGKILL + restart: every customer,
 *                history, order and setting is the same, request keys are
 *                still recognised.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"

#define LOC "store-1" /* where the single sales are booked */
#define GW "gw-1"     /* where the batch is booked */
#define DAY_S 86400LL
#define MAX_IDS 64
#define MAX_ORDERS 512
#define MAX_ENTRIES 512
#define DIGEST_LINES 8
#define BATCH_N 300
#define BATCH_CUSTOMERS 10

static struct harness h;
static accrue *adm; /* the admin connection every section uses */

/* Everything the durability section compares: every customer and every sale made. */
static uint64_t all_ids[MAX_IDS];
static int nids;
static struct {
	char loc[16];
	char id[32];
} all_orders[MAX_ORDERS];
static int norders;

/* ---- helpers --------------------------------------------------------- */

/* "2026-12-01T00:00:00Z" for a whole second. */
static void iso_time(int64_t seconds, char *buf, size_t cap)
{
	time_t t = (time_t)seconds;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ceil(a * b / c) for non-negative a, b and positive c: what rules.h says a return has taken back by now. */
static int64_t ceil_share(int64_t a, int64_t b, int64_t c)
{
	return (a * b + c - 1) / c;
}

static void remember_customer(uint64_t id)
{
	for (int i = 0; i < nids; i++)
		if (all_ids[i] == id)
			return;
	REQUIRE(nids < MAX_IDS);
	all_ids[nids++] = id;
}

static void remember_order(const char *loc, const char *order_id)
{
	REQUIRE(norders < MAX_ORDERS);
	snprintf(all_orders[norders].loc, sizeof all_orders[norders].loc, "%s", loc);
	snprintf(all_orders[norders].id, sizeof all_orders[norders].id, "%s", order_id);
	norders++;
}

static uint64_t enrol(const char *email)
{
	struct accrue_customer c;
	memset(&c, 0, sizeof c);
	int rc = accrue_enrol(adm, NULL, email, NULL, "Test", "Shopper", &c, NULL);
	CHECK_RC(adm, rc, 0);
	REQUIRE(rc == 0 && c.id != 0);
	remember_customer(c.id);
	return c.id;
}

static struct accrue_customer lookup(uint64_t id)
{
	struct accrue_customer c;
	struct accrue_ref r = by_id(id);
	memset(&c, 0, sizeof c);
	CHECK_RC(adm, accrue_lookup(adm, &r, &c), 0);
	return c;
}

static void set(const char *name, const char *value)
{
	int rc = accrue_program_set(adm, NULL, name, value);
	CHECK_RC(adm, rc, 0);
	if (rc != 0)
		fprintf(stderr, "    (setting %s = \"%s\")\n", name, value);
}

/* The value of one setting as PROGRAM_GET lists it, or "(absent)". */
static const char *setting(const char *name, char *buf, size_t cap)
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

static struct accrue_line line(const char *sku, const char *category, int64_t qty, int64_t amount)
{
	struct accrue_line l;
	memset(&l, 0, sizeof l);
	snprintf(l.sku, sizeof l.sku, "%s", sku);
	snprintf(l.category, sizeof l.category, "%s", category);
	l.qty = qty;
	l.amount = amount;
	return l;
}

static struct accrue_sale sale_of(const char *loc, const char *order_id, int64_t time_us, int64_t amount,
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

/* Sell to ref at LOC; remembers the order when it was recorded. */
static int sell_ref(const struct accrue_ref *ref, const char *order_id, int64_t time_us, int64_t amount,
		    const struct accrue_line *lines, uint32_t nlines, struct accrue_result *res)
{
	struct accrue_sale s = sale_of(LOC, order_id, time_us, amount, lines, nlines);
	memset(res, 0, sizeof *res);
	int rc = accrue_sale(adm, NULL, ref, &s, res);
	if (rc == 0 && !res->replay)
		remember_order(LOC, order_id);
	return rc;
}

/*
 * A sale that must be recorded and earn exactly want: the reply, the
 * balance, the visit and the spend it adds are all checked.
 */
static struct accrue_result expect_sale(uint64_t id, const char *order_id, int64_t time_us, int64_t amount,
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

static struct accrue_order order_buf; /* 48 KiB: kept off the stack */

static const struct accrue_order *order_of(const char *loc, const char *order_id)
{
	memset(&order_buf, 0, sizeof order_buf);
	int rc = accrue_order(adm, loc, order_id, &order_buf);
	CHECK_RC(adm, rc, 0);
	if (rc != 0)
		fprintf(stderr, "    (order %s at %s)\n", order_id, loc);
	return &order_buf;
}

/* The order's lines earned exactly want[0..n); returns what they add up to. */
static int64_t order_lines_are(const char *loc, const char *order_id, const int64_t *want, uint32_t n)
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

static struct accrue_entry hist[MAX_ENTRIES];

/* The whole history of a customer, newest first, into hist. Returns the count. */
static uint32_t history_of(uint64_t id)
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

/* The history entry of customer id for order_id of type type, or NULL. Points into hist. */
static const struct accrue_entry *entry_for(uint64_t id, int type, const char *order_id)
{
	uint32_t n = history_of(id);
	for (uint32_t i = 0; i < n; i++)
		if (hist[i].type == type && strcmp(hist[i].order_id, order_id) == 0)
			return &hist[i];
	return NULL;
}

static int do_return(const uint8_t *key, const char *order_id, int64_t amount, const struct accrue_line *lines,
		     uint32_t nlines, struct accrue_return_result *rr)
{
	memset(rr, 0, sizeof *rr);
	return accrue_return(adm, key, LOC, order_id, 0, amount, lines, nlines, rr);
}

/* ---- 1. earning rules ---------------------------------------------------- */

static void test_earning(void)
{
	char v[512];
	struct accrue_line b[4];

	/* The default program: 1 point per 1.00, rounded down. 12.99 -> 12. */
	CHECK_STR(setting("unit", v, sizeof v), "points");
	CHECK_STR(setting("earn.points", v, sizeof v), "1");
	CHECK_STR(setting("earn.per", v, sizeof v), "1.00");
	CHECK_STR(setting("earn.rounding", v, sizeof v), "down");
	CHECK_STR(setting("guests", v, sizeof v), "refuse");
	CHECK_STR(setting("returns.below_zero", v, sizeof v), "allow");
	uint64_t e1 = enrol("earn-default@example.com");
	expect_sale(e1, "E-1", 0, 1299, NULL, 0, 12);

	/* nearest: 12.50 -> 13 (a half goes up), 12.49 -> 12. */
	set("earn.rounding", "nearest");
	CHECK_STR(setting("earn.rounding", v, sizeof v), "nearest");
	uint64_t e2 = enrol("earn-nearest@example.com");
	expect_sale(e2, "E-2a", 0, 1250, NULL, 0, 13);
	expect_sale(e2, "E-2b", 0, 1249, NULL, 0, 12);

	/* up: 12.01 -> 13; a whole 12.00 stays 12. */
	set("earn.rounding", "up");
	uint64_t e3 = enrol("earn-up@example.com");
	expect_sale(e3, "E-3a", 0, 1201, NULL, 0, 13);
	expect_sale(e3, "E-3b", 0, 1200, NULL, 0, 12);

	/* An empty value restores the default: 12.99 -> 12 again. */
	set("earn.rounding", "");
	CHECK_STR(setting("earn.rounding", v, sizeof v), "down");
	expect_sale(e3, "E-3c", 0, 1299, NULL, 0, 12);

	/* 5 points per 1.00: 9.99 * 5 = 49.95 -> 49. */
	set("earn.points", "5");
	uint64_t e4 = enrol("earn-five@example.com");
	expect_sale(e4, "E-4", 0, 999, NULL, 0, 49);
	set("earn.points", "");

	/*
	 * Exclusions. Gift cards (by category) and bags (by SKU) earn nothing:
	 * 4.50 coffee + 50.00 gift card + 3.00 bag + 12.75 mug = 70.25 paid,
	 * 4.50 + 12.75 = 17.25 qualifying -> 17 points. Shared by amount over
	 * the qualifying lines: coffee 17 * 450/1725 = 4.43 -> 4, mug
	 * 17 * 1275/1725 = 12.57 -> 12; the remaining point goes to the larger
	 * remainder, the mug: {4, 0, 0, 13}, adding up to 17.
	 */
	set("exclude.categories", "giftcard");
	set("exclude.skus", "BAG");
	uint64_t e5 = enrol("earn-exclude@example.com");
	b[0] = line("COF-1", "coffee", 1, 450);
	b[1] = line("GC-50", "giftcard", 1, 5000);
	b[2] = line("BAG", "merch", 1, 300);
	b[3] = line("MUG", "merch", 1, 1275);
	expect_sale(e5, "E-5a", 0, 7025, b, 4, 17);
	{
		static const int64_t want[] = {4, 0, 0, 13};
		CHECK_INT(order_lines_are(LOC, "E-5a", want, 4), 17);
		const struct accrue_order *o = order_of(LOC, "E-5a");
		CHECK_INT(o->earned, 17);
		CHECK_INT(o->amount, 7025);
		CHECK_INT(o->customer_id, e5);
		CHECK_INT(o->multiplier, ACCRUE_MULTIPLIER_ONE);
		CHECK_STR(o->lines[1].sku, "GC-50");
		CHECK_STR(o->lines[1].category, "giftcard");
		CHECK_INT(o->lines[3].qty, 1);
		CHECK_INT(o->lines[3].amount, 1275);
	}
	/* Only excluded lines: 0 points, but a visit and 53.00 of spend. */
	b[0] = line("GC-50", "giftcard", 1, 5000);
	b[1] = line("BAG", "merch", 1, 300);
	expect_sale(e5, "E-5b", 0, 5300, b, 2, 0);
	{
		struct accrue_customer c = lookup(e5);
		CHECK_INT(c.balance, 17);
		CHECK_INT(c.visits, 2);
		CHECK_INT(c.total_spend, 7025 + 5300);
		CHECK_INT(c.average_spend, (7025 + 5300) / 2);
	}

	/* Minimum spend 10.00: 9.99 earns nothing (still a visit), 10.00 earns 10. */
	set("earn.min_spend", "10");
	CHECK_STR(setting("earn.min_spend", v, sizeof v), "10.00");
	uint64_t e6 = enrol("earn-minspend@example.com");
	expect_sale(e6, "E-6a", 0, 999, NULL, 0, 0);
	expect_sale(e6, "E-6b", 0, 1000, NULL, 0, 10);
	/* 59.00 paid, but only 9.00 of it qualifies (the gift card is excluded): below 10.00, nothing. */
	b[0] = line("GC-50", "giftcard", 1, 5000);
	b[1] = line("COF-2", "coffee", 2, 900);
	expect_sale(e6, "E-6c", 0, 5900, b, 2, 0);
	{
		struct accrue_customer c = lookup(e6);
		CHECK_INT(c.balance, 10);
		CHECK_INT(c.visits, 3);
		CHECK_INT(c.total_spend, 999 + 1000 + 5900);
	}
	set("earn.min_spend", "");
	CHECK_STR(setting("earn.min_spend", v, sizeof v), "0.00");

	/*
	 * Remainders. Four lines of 2.50 earn 10: 2.5 each, 2 each after
	 * rounding down, and the 2 left over go one each to the largest
	 * remainders, all equal, so earliest first: {3, 3, 2, 2}.
	 */
	uint64_t e7 = enrol("earn-lines@example.com");
	b[0] = line("A", "food", 1, 250);
	b[1] = line("B", "food", 1, 250);
	b[2] = line("C", "food", 1, 250);
	b[3] = line("D", "food", 1, 250);
	expect_sale(e7, "E-7a", 0, 1000, b, 4, 10);
	{
		static const int64_t want[] = {3, 3, 2, 2};
		CHECK_INT(order_lines_are(LOC, "E-7a", want, 4), 10);
	}
	/* 3.33 + 3.33 + 3.34 earn 10: 3.33, 3.33, 3.34 -> 3, 3, 3 and the point left to the 0.34: {3, 3, 4}. */
	b[0] = line("A", "food", 1, 333);
	b[1] = line("B", "food", 1, 333);
	b[2] = line("C", "food", 1, 334);
	expect_sale(e7, "E-7b", 0, 1000, b, 3, 10);
	{
		static const int64_t want[] = {3, 3, 4};
		CHECK_INT(order_lines_are(LOC, "E-7b", want, 3), 10);
	}
	/* The lines must add up to the amount. */
	{
		struct accrue_result res;
		struct accrue_ref r = by_id(e7);
		CHECK_RC(adm, sell_ref(&r, "E-7c", 0, 1001, b, 3, &res), ACCRUE_ST_BAD_REQUEST);
		CHECK_INT(lookup(e7).visits, 2);
	}
	set("exclude.categories", "");
	set("exclude.skus", "");

	/* Blanks around a value are ignored: " 2 " is 2 points per 1.00. */
	set("earn.points", " 2 ");
	CHECK_STR(setting("earn.points", v, sizeof v), "2");
	expect_sale(e1, "E-1c", 0, 150, NULL, 0, 3);
	set("earn.points", "");

	/* Settings that do not parse are refused and change nothing. */
	CHECK_RC(adm, accrue_program_set(adm, NULL, "earn.bogus", "1"), ACCRUE_ST_BAD_REQUEST);
	CHECK_STR(setting("earn.bogus", v, sizeof v), "(absent)");
	CHECK_RC(adm, accrue_program_set(adm, NULL, "earn.rounding", "sideways"), ACCRUE_ST_BAD_REQUEST);
	CHECK_STR(setting("earn.rounding", v, sizeof v), "down");
	CHECK_RC(adm, accrue_program_set(adm, NULL, "earn.per", "0"), ACCRUE_ST_BAD_REQUEST);
	CHECK_RC(adm, accrue_program_set(adm, NULL, "earn.min_spend", "1.234"), ACCRUE_ST_BAD_REQUEST);
	CHECK_RC(adm, accrue_program_set(adm, NULL, "multiplier.group.vip", "100.01"), ACCRUE_ST_BAD_REQUEST);
	CHECK_STR(setting("multiplier.group.vip", v, sizeof v), "(absent)");
	CHECK_STR(setting("earn.per", v, sizeof v), "1.00");
	CHECK_STR(setting("earn.min_spend", v, sizeof v), "0.00");
	expect_sale(e1, "E-1b", 0, 1299, NULL, 0, 12);

	/* At most 16 promotions: the 17th is RANGE (accrue.h) and is not added. */
	{
		char name[32], start[32], end[32], promo[96];
		int64_t now_s = wall_us() / 1000000;
		iso_time(now_s + 10 * DAY_S, start, sizeof start);
		iso_time(now_s + 11 * DAY_S, end, sizeof end);
		snprintf(promo, sizeof promo, "2 %s %s", start, end);
		for (int i = 0; i < 16; i++) {
			snprintf(name, sizeof name, "promo.f%02d", i);
			set(name, promo);
		}
		CHECK_RC(adm, accrue_program_set(adm, NULL, "promo.f16", promo), ACCRUE_ST_RANGE);
		CHECK_STR(setting("promo.f16", v, sizeof v), "(absent)");
		CHECK_STR(setting("promo.f15", v, sizeof v), promo);
		for (int i = 0; i < 16; i++) {
			snprintf(name, sizeof name, "promo.f%02d", i);
			set(name, "");
		}
		CHECK_STR(setting("promo.f00", v, sizeof v), "(absent)");
	}
}

/* ---- 2. stamps --------------------------------------------------------- */

static void test_stamps(void)
{
	char v[512];
	struct accrue_line b[2];

	/* A stamp card: one stamp per sale, whatever its amount. */
	set("unit", "stamps");
	CHECK_STR(setting("unit", v, sizeof v), "stamps");
	CHECK_STR(setting("stamps.per_visit", v, sizeof v), "1");
	uint64_t s1 = enrol("stamps-visit@example.com");
	expect_sale(s1, "S-1a", 0, 500, NULL, 0, 1);
	expect_sale(s1, "S-1b", 0, 20000, NULL, 0, 1);
	CHECK_INT(lookup(s1).balance, 2);

	/*
	 * Plus a stamp per coffee: 2 lattes and 1 tea earn 1 (the visit) + 2
	 * (the lattes; tea is not in stamps.categories) = 3. The per-item
	 * stamps go to the latte line, the per-visit stamp to no line.
	 */
	set("stamps.per_item", "1");
	set("stamps.categories", "coffee");
	uint64_t s2 = enrol("stamps-item@example.com");
	b[0] = line("LATTE", "coffee", 2, 800);
	b[1] = line("TEA", "tea", 1, 350);
	{
		struct accrue_quote q;
		struct accrue_sale s = sale_of(LOC, NULL, 0, 1150, b, 2);
		struct accrue_ref r = by_id(s2);
		memset(&q, 0, sizeof q);
		CHECK_RC(adm, accrue_quote(adm, &r, &s, &q), 0);
		CHECK_INT(q.unit, ACCRUE_UNIT_STAMPS);
		CHECK_INT(q.earned, 3);
		CHECK_INT(q.qualifying_items, 2);
		CHECK_INT(q.line_earned[0], 2);
		CHECK_INT(q.line_earned[1], 0);
	}
	expect_sale(s2, "S-2", 0, 1150, b, 2, 3);
	/* A sale without lines has no items: the visit's stamp only. */
	expect_sale(s2, "S-2b", 0, 1150, NULL, 0, 1);
	{
		static const int64_t want[] = {2, 0};
		order_lines_are(LOC, "S-2", want, 2);
		CHECK_INT(order_of(LOC, "S-2")->earned, 3);
	}

	/* Minimum spend 5.00 applies to stamps too: 4.99 -> 0, 5.00 -> 1; 3 coffees for 4.50 -> 0, not 4. */
	set("earn.min_spend", "5");
	uint64_t s3 = enrol("stamps-minspend@example.com");
	expect_sale(s3, "S-3a", 0, 499, NULL, 0, 0);
	expect_sale(s3, "S-3b", 0, 500, NULL, 0, 1);
	b[0] = line("ESPRESSO", "coffee", 3, 450);
	expect_sale(s3, "S-3c", 0, 450, b, 1, 0);
	CHECK_INT(lookup(s3).visits, 3);

	set("earn.min_spend", "");
	set("stamps.categories", "");
	set("stamps.per_item", "");
	set("unit", "");
	CHECK_STR(setting("unit", v, sizeof v), "points");
}

/* ---- 3. multipliers -------------------------------------------------------- */

static uint64_t m_gold, m_vip, m_both, m_promo;

static void test_multipliers(void)
{
	char v[512], start[32], end[32], old_start[32], old_end[32], promo[160];
	struct accrue_customer c;
	struct accrue_ref r;
	int64_t now_s = wall_us() / 1000000;

	/* Gold tier x2: 10.00 -> 20. */
	set("multiplier.tier.gold", "2");
	m_gold = enrol("mult-gold@example.com");
	r = by_id(m_gold);
	memset(&c, 0, sizeof c);
	CHECK_RC(adm, accrue_tier(adm, NULL, &r, "gold", "spent 1000 last year", &c), 0);
	CHECK_STR(c.tier, "gold");
	expect_sale(m_gold, "M-1", 0, 1000, NULL, 0, 20);
	CHECK_INT(order_of(LOC, "M-1")->multiplier, 2 * ACCRUE_MULTIPLIER_ONE);

	/* VIP group x1.5: 10.00 -> 15. */
	set("multiplier.group.vip", "1.5");
	CHECK_STR(setting("multiplier.group.vip", v, sizeof v), "1.5");
	m_vip = enrol("mult-vip@example.com");
	r = by_id(m_vip);
	memset(&c, 0, sizeof c);
	CHECK_RC(adm, accrue_group(adm, NULL, &r, 1, "vip", &c), 0);
	CHECK_INT(c.ngroups, 1);
	CHECK_STR(c.groups[0], "vip");
	expect_sale(m_vip, "M-2", 0, 1000, NULL, 0, 15);
	CHECK_INT(order_of(LOC, "M-2")->multiplier, 15000);

	/*
	 * Gold and in two groups, vip x1.5 and staff x1.2: tier times the best
	 * group, 2 * 1.5 = 3 (not 2 * 1.5 * 1.2 = 3.6): 10.00 -> 30.
	 */
	set("multiplier.group.staff", "1.2");
	m_both = enrol("mult-both@example.com");
	r = by_id(m_both);
	CHECK_RC(adm, accrue_tier(adm, NULL, &r, "gold", NULL, NULL), 0);
	CHECK_RC(adm, accrue_group(adm, NULL, &r, 1, "staff", NULL), 0);
	CHECK_RC(adm, accrue_group(adm, NULL, &r, 1, "vip", NULL), 0);
	c = lookup(m_both);
	CHECK_STR(c.tier, "gold");
	CHECK_INT(c.ngroups, 2);
	expect_sale(m_both, "M-3", 0, 1000, NULL, 0, 30);
	CHECK_INT(order_of(LOC, "M-3")->multiplier, 30000);

	/* The cap: gold x100 and vip x100 make 10000, held at 100: 1.00 -> 100 points. */
	set("multiplier.tier.gold", "100");
	set("multiplier.group.vip", "100");
	{
		struct accrue_quote q;
		struct accrue_sale s = sale_of(LOC, NULL, 0, 100, NULL, 0);
		memset(&q, 0, sizeof q);
		CHECK_RC(adm, accrue_quote(adm, &r, &s, &q), 0);
		CHECK_INT(q.multiplier, 100 * ACCRUE_MULTIPLIER_ONE);
		CHECK_INT(q.earned, 100);
	}
	set("multiplier.tier.gold", "2");
	set("multiplier.group.vip", "1.5");

	/*
	 * Only groups that have a multiplier compete, and names are compared
	 * byte for byte. In "half" (x0.5), "plain" (none) and "VIP" (not
	 * "vip"): the multiplier is 0.5, not 1 or 1.5: 10.00 -> 5.
	 */
	set("multiplier.group.half", "0.5");
	uint64_t m_half = enrol("mult-half@example.com");
	r = by_id(m_half);
	CHECK_RC(adm, accrue_group(adm, NULL, &r, 1, "plain", NULL), 0);
	CHECK_RC(adm, accrue_group(adm, NULL, &r, 1, "half", NULL), 0);
	CHECK_RC(adm, accrue_group(adm, NULL, &r, 1, "VIP", NULL), 0);
	expect_sale(m_half, "M-7", 0, 1000, NULL, 0, 5);
	CHECK_INT(order_of(LOC, "M-7")->multiplier, 5000);
	/* The cap is on the product: 100 (tier) * 3 (group) * 0.5 (promotion) = 150 -> 100, not 100 * 0.5 = 50. */
	set("multiplier.tier.t100", "100");
	set("multiplier.group.g3", "3");
	iso_time(now_s - DAY_S, start, sizeof start);
	iso_time(now_s + DAY_S, end, sizeof end);
	snprintf(promo, sizeof promo, "0.5 %s %s g3", start, end);
	set("promo.halfcap", promo);
	{
		uint64_t m8 = enrol("mult-cap@example.com");
		struct accrue_ref r8 = by_id(m8);
		struct accrue_quote q;
		struct accrue_sale s = sale_of(LOC, NULL, 0, 100, NULL, 0);
		CHECK_RC(adm, accrue_tier(adm, NULL, &r8, "t100", NULL, NULL), 0);
		CHECK_RC(adm, accrue_group(adm, NULL, &r8, 1, "g3", NULL), 0);
		memset(&q, 0, sizeof q);
		CHECK_RC(adm, accrue_quote(adm, &r8, &s, &q), 0);
		CHECK_INT(q.multiplier, 100 * ACCRUE_MULTIPLIER_ONE);
		CHECK_INT(q.earned, 100);
	}
	set("promo.halfcap", "");
	set("multiplier.group.g3", "");
	set("multiplier.tier.t100", "");
	set("multiplier.group.half", "");

	/*
	 * Promotions, by the sale's time. "double" x2 runs [now-1d, now+1d);
	 * "old" x3 ran [now-3d, now-2d). A customer with no tier or group:
	 *   now                 double         10.00 -> 20
	 *   now-3d (old start)  old, inclusive         -> 30
	 *   now-2d (old end)    neither, exclusive     -> 10
	 *   now-1d (start)      double                 -> 20
	 *   now-1d - 1 us       neither                -> 10
	 */
	iso_time(now_s - DAY_S, start, sizeof start);
	iso_time(now_s + DAY_S, end, sizeof end);
	iso_time(now_s - 3 * DAY_S, old_start, sizeof old_start);
	iso_time(now_s - 2 * DAY_S, old_end, sizeof old_end);
	snprintf(promo, sizeof promo, "2 %s %s", start, end);
	set("promo.double", promo);
	CHECK_STR(setting("promo.double", v, sizeof v), promo);
	snprintf(promo, sizeof promo, "3 %s %s", old_start, old_end);
	set("promo.old", promo);
	m_promo = enrol("mult-promo@example.com");
	expect_sale(m_promo, "M-4a", 0, 1000, NULL, 0, 20);
	expect_sale(m_promo, "M-4b", (now_s - 3 * DAY_S) * 1000000, 1000, NULL, 0, 30);
	expect_sale(m_promo, "M-4c", (now_s - 2 * DAY_S) * 1000000, 1000, NULL, 0, 10);
	expect_sale(m_promo, "M-4d", (now_s - DAY_S) * 1000000, 1000, NULL, 0, 20);
	expect_sale(m_promo, "M-4e", (now_s - DAY_S) * 1000000 - 1, 1000, NULL, 0, 10);
	CHECK_INT(order_of(LOC, "M-4b")->multiplier, 30000);
	CHECK_INT(order_of(LOC, "M-4c")->multiplier, ACCRUE_MULTIPLIER_ONE);
	/* Removed, it no longer applies. */
	set("promo.double", "");
	CHECK_STR(setting("promo.double", v, sizeof v), "(absent)");
	expect_sale(m_promo, "M-4f", 0, 1000, NULL, 0, 10);

	/*
	 * A promotion for vip only, x2: the vip earns 1.5 * 2 = 3 -> 30, the
	 * customer without groups 10, gold and vip 2 * 1.5 * 2 = 6 -> 60.
	 */
	snprintf(promo, sizeof promo, "2 %s %s vip", start, end);
	set("promo.vipday", promo);
	expect_sale(m_vip, "M-5a", 0, 1000, NULL, 0, 30);
	expect_sale(m_promo, "M-5b", 0, 1000, NULL, 0, 10);
	expect_sale(m_both, "M-5c", 0, 1000, NULL, 0, 60);
	set("promo.vipday", "");
	set("promo.old", "");

	/*
	 * The product is kept to 4 decimals, rounded down: 1.01 (tier) * 1.01
	 * (group) * 1.01 (promotion) = 1.030301 -> 1.0303. Rounding up,
	 * 10000.00 then earns exactly 10303; untruncated it would be
	 * 10303.01 -> 10304.
	 */
	set("multiplier.tier.t101", "1.01");
	set("multiplier.group.g101", "1.01");
	snprintf(promo, sizeof promo, "1.01 %s %s g101", start, end);
	set("promo.p101", promo);
	set("earn.rounding", "up");
	{
		uint64_t m6 = enrol("mult-decimals@example.com");
		struct accrue_ref r6 = by_id(m6);
		struct accrue_quote q;
		struct accrue_sale s = sale_of(LOC, NULL, 0, 1000000, NULL, 0);
		CHECK_RC(adm, accrue_tier(adm, NULL, &r6, "t101", NULL, NULL), 0);
		CHECK_RC(adm, accrue_group(adm, NULL, &r6, 1, "g101", NULL), 0);
		memset(&q, 0, sizeof q);
		CHECK_RC(adm, accrue_quote(adm, &r6, &s, &q), 0);
		CHECK_INT(q.multiplier, 10303);
		CHECK_INT(q.earned, 10303);
	}
	set("earn.rounding", "");
	set("promo.p101", "");
	set("multiplier.group.g101", "");
	set("multiplier.tier.t101", "");
	CHECK_STR(setting("multiplier.tier.t101", v, sizeof v), "(absent)");

	/*
	 * The product is what is kept to 4 decimals, not each step of it:
	 * 1.11 (tier) * 1.11 (group) * 1.11 * 10 (two promotions) = 13.67631
	 * -> 13.6763, and 10000.00 earns 136763. (Truncating after every
	 * factor would make it 1.3676 * 10 = 13.676 and 136760.)
	 */
	set("multiplier.tier.t111", "1.11");
	set("multiplier.group.g111", "1.11");
	snprintf(promo, sizeof promo, "1.11 %s %s g111", start, end);
	set("promo.p111", promo);
	snprintf(promo, sizeof promo, "10 %s %s g111", start, end);
	set("promo.p111x", promo);
	{
		uint64_t m7 = enrol("mult-product@example.com");
		struct accrue_ref r7 = by_id(m7);
		struct accrue_quote q;
		struct accrue_sale s = sale_of(LOC, NULL, 0, 1000000, NULL, 0);
		CHECK_RC(adm, accrue_tier(adm, NULL, &r7, "t111", NULL, NULL), 0);
		CHECK_RC(adm, accrue_group(adm, NULL, &r7, 1, "g111", NULL), 0);
		memset(&q, 0, sizeof q);
		CHECK_RC(adm, accrue_quote(adm, &r7, &s, &q), 0);
		CHECK_INT(q.multiplier, 136763);
		CHECK_INT(q.earned, 136763);
	}
	set("promo.p111x", "");
	set("promo.p111", "");
	set("multiplier.group.g111", "");
	set("multiplier.tier.t111", "");

	/* A change between two sales applies to the second only; the first keeps its 10 in history. */
	uint64_t m5 = enrol("mult-change@example.com");
	expect_sale(m5, "M-6a", 0, 1000, NULL, 0, 10);
	set("earn.points", "3");
	expect_sale(m5, "M-6b", 0, 1000, NULL, 0, 30);
	set("earn.points", "");
	{
		const struct accrue_entry *e = entry_for(m5, ACCRUE_ENTRY_ACCRUE, "M-6a");
		CHECK(e != NULL);
		if (e) {
			CHECK_INT(e->points, 10);
			CHECK_INT(e->balance_after, 10);
			CHECK_INT(e->amount, 1000);
		}
		e = entry_for(m5, ACCRUE_ENTRY_ACCRUE, "M-6b");
		CHECK(e != NULL);
		if (e) {
			CHECK_INT(e->points, 30);
			CHECK_INT(e->balance_after, 40);
		}
		CHECK_INT(order_of(LOC, "M-6a")->earned, 10);
		CHECK_INT(lookup(m5).balance, 40);
	}
}

/* ---- 4. quotes ----------------------------------------------------------- */

static void test_quote(void)
{
	struct accrue_line b[3];
	struct accrue_quote q, anon;

	/*
	 * 3 points per 1.00 rounded to nearest, gift cards excluded, a gold
	 * (x2) customer. 4.55 coffee + 20.00 gift card + 12.99 mug: 17.54
	 * qualifies; 17.54 * 3 * 2 = 105.24 -> 105. Lines: coffee
	 * 105 * 455/1754 = 27.24 -> 27, mug 105 * 1299/1754 = 77.76 -> 77, the
	 * point left to the mug: {27, 0, 78}.
	 */
	set("earn.points", "3");
	set("earn.rounding", "nearest");
	set("exclude.categories", "giftcard");
	uint64_t q1 = enrol("quote@example.com");
	struct accrue_ref r = by_id(q1);
	CHECK_RC(adm, accrue_tier(adm, NULL, &r, "gold", NULL, NULL), 0);
	b[0] = line("COF-1", "coffee", 1, 455);
	b[1] = line("GC-20", "giftcard", 1, 2000);
	b[2] = line("MUG", "merch", 1, 1299);
	struct accrue_sale s = sale_of(LOC, "Q-1", 0, 3754, b, 3);

	struct accrue_customer c0 = lookup(q1);
	uint32_t n0 = history_of(q1);
	memset(&q, 0, sizeof q);
	CHECK_RC(adm, accrue_quote(adm, &r, &s, &q), 0);
	CHECK_INT(q.earned, 105);
	CHECK_INT(q.qualifying, 1754);
	CHECK_INT(q.multiplier, 20000);
	CHECK_INT(q.unit, ACCRUE_UNIT_POINTS);
	CHECK_INT(q.nlines, 3);
	CHECK_INT(q.line_earned[0], 27);
	CHECK_INT(q.line_earned[1], 0);
	CHECK_INT(q.line_earned[2], 78);
	/* Nothing recorded: not the balance, not a visit, not a history entry, not the order. */
	struct accrue_customer c1 = lookup(q1);
	CHECK_INT(c1.balance, c0.balance);
	CHECK_INT(c1.visits, c0.visits);
	CHECK_INT(c1.total_spend, c0.total_spend);
	CHECK_INT(history_of(q1), n0);
	{
		static struct accrue_order o;
		CHECK_INT(accrue_order(adm, LOC, "Q-1", &o), ACCRUE_ST_NOT_FOUND);
	}

	/* Then the sale earns exactly the quote, line by line. */
	struct accrue_result res = expect_sale(q1, "Q-1", 0, 3754, b, 3, q.earned);
	CHECK_INT(res.points, 105);
	{
		const struct accrue_order *o = order_of(LOC, "Q-1");
		CHECK_INT(o->earned, q.earned);
		CHECK_INT(o->multiplier, q.multiplier);
		CHECK_INT(o->nlines, q.nlines);
		for (uint32_t i = 0; i < 3 && i < o->nlines; i++)
			CHECK_INT(o->lines[i].earned, q.line_earned[i]);
	}

	/*
	 * Anonymous (no customer): no multiplier. 17.54 * 3 = 52.62 -> 53; coffee
	 * 53 * 455/1754 = 13.75 -> 13, mug 53 * 1299/1754 = 39.25 -> 39, the
	 * point left to the coffee (0.75 > 0.25): {14, 0, 39}.
	 */
	memset(&anon, 0, sizeof anon);
	CHECK_RC(adm, accrue_quote(adm, NULL, &s, &anon), 0);
	CHECK_INT(anon.earned, 53);
	CHECK_INT(anon.multiplier, ACCRUE_MULTIPLIER_ONE);
	CHECK_INT(anon.line_earned[0], 14);
	CHECK_INT(anon.line_earned[1], 0);
	CHECK_INT(anon.line_earned[2], 39);

	/* Any role may quote (accrue.h): a read-only key gets the same answer, and cannot sell. */
	{
		char secret[256];
		struct accrue_key_info info;
		struct accrue_quote ro_q;
		struct accrue_result res2;
		accrue *ro = NULL;
		secret[0] = 0;
		CHECK_RC(adm, accrue_key_create(adm, NULL, ACCRUE_ROLE_READONLY, NULL, &info, secret, sizeof secret, NULL), 0);
		CHECK_RC(NULL, harness_connect_key(&h, secret, &ro), 0);
		if (ro) {
			memset(&ro_q, 0, sizeof ro_q);
			CHECK_RC(ro, accrue_quote(ro, &r, &s, &ro_q), 0);
			CHECK_INT(ro_q.earned, 105);
			CHECK_INT(ro_q.line_earned[2], 78);
			s.order_id = "Q-ro";
			CHECK_RC(ro, accrue_sale(ro, NULL, &r, &s, &res2), ACCRUE_ST_FORBIDDEN);
			s.order_id = "Q-1";
			accrue_close(ro);
		}
		CHECK_INT(lookup(q1).balance, 105);
	}

	/* A customer who does not exist cannot be quoted. */
	{
		struct accrue_ref nobody = by_id(999999);
		CHECK_RC(adm, accrue_quote(adm, &nobody, &s, &anon), ACCRUE_ST_NOT_FOUND);
	}
	set("earn.points", "");
	set("earn.rounding", "");
	/* exclude.categories giftcard stays: the returns use it. */
}

/* ---- 5. returns ------------------------------------------------------------ */

static uint8_t return_key[ACCRUE_KEY_SIZE]; /* replayed after the restarts */
static struct accrue_return_result return_first;

static void test_returns(void)
{
	struct accrue_return_result rr;
	struct accrue_customer c;
	const struct accrue_order *o;

	/* A full return of 25.99 takes back the 25 points, the spend and the visit. */
	uint64_t r1 = enrol("return-full@example.com");
	expect_sale(r1, "R-1", 0, 2599, NULL, 0, 25);
	CHECK_RC(adm, do_return(NULL, "R-1", 2599, NULL, 0, &rr), 0);
	CHECK_INT(rr.points, -25);
	CHECK_INT(rr.shortfall, 0);
	CHECK_INT(rr.refunded, 2599);
	CHECK_INT(rr.replay, 0);
	CHECK_INT(rr.customer.balance, 0);
	c = lookup(r1);
	CHECK_INT(c.balance, 0);
	CHECK_INT(c.visits, 0);
	CHECK_INT(c.total_spend, 0);
	o = order_of(LOC, "R-1");
	CHECK_INT(o->refunded, 2599);
	CHECK_INT(o->taken_back, 25);
	CHECK_INT(o->earned, 25);
	{
		uint32_t n = history_of(r1);
		CHECK(n >= 1);
		if (n >= 1) {
			CHECK_INT(hist[0].type, ACCRUE_ENTRY_RETURN);
			CHECK_INT(hist[0].points, -25);
			CHECK_INT(hist[0].balance_after, 0);
			CHECK_INT(hist[0].amount, 2599);
			CHECK_STR(hist[0].order_id, "R-1");
		}
	}

	/*
	 * Thirds of 10.00 (10 points), cumulatively ceil(10 * refunded / 1000):
	 * 3.33 -> ceil(3.33) = 4; 6.66 -> ceil(6.66) = 7, this one 3; 10.00 ->
	 * 10, this one 3. 4 + 3 + 3 = 10, never more. The visit goes with the
	 * last (the full) return only; a second sale keeps one visit.
	 */
	uint64_t r2 = enrol("return-thirds@example.com");
	expect_sale(r2, "R-2a", 0, 1000, NULL, 0, 10);
	expect_sale(r2, "R-2b", 0, 500, NULL, 0, 5);
	{
		static const int64_t part[] = {333, 333, 334}, take[] = {4, 3, 3}, visits[] = {2, 2, 1};
		int64_t refunded = 0, taken = 0;
		for (int i = 0; i < 3; i++) {
			CHECK_RC(adm, do_return(NULL, "R-2a", part[i], NULL, 0, &rr), 0);
			refunded += part[i];
			taken += take[i];
			CHECK_INT(rr.points, -take[i]);
			CHECK_INT(rr.refunded, part[i]);
			CHECK_INT(rr.customer.balance, 15 - taken);
			CHECK_INT(rr.customer.visits, visits[i]);
			CHECK_INT(rr.customer.total_spend, 1500 - refunded);
			o = order_of(LOC, "R-2a");
			CHECK_INT(o->refunded, refunded);
			CHECK_INT(o->taken_back, taken);
		}
		CHECK_INT(taken, 10);
	}
	/* Nothing is left: 0.01 more is OVER_RETURN. */
	CHECK_RC(adm, do_return(NULL, "R-2a", 1, NULL, 0, &rr), ACCRUE_ST_OVER_RETURN);
	CHECK_INT(lookup(r2).balance, 5);

	/* Sevenths, checked against the formula: 6 x 1.42 then 1.48; each return takes the cumulative ceiling's step. */
	expect_sale(r2, "R-2c", 0, 1000, NULL, 0, 10);
	{
		static const int64_t part[] = {142, 142, 142, 142, 142, 142, 148};
		int64_t refunded = 0, taken = 0;
		for (int i = 0; i < 7; i++) {
			int64_t after = ceil_share(10, refunded + part[i], 1000);
			CHECK_RC(adm, do_return(NULL, "R-2c", part[i], NULL, 0, &rr), 0);
			CHECK_INT(-rr.points, after - taken);
			refunded += part[i];
			taken = after;
			o = order_of(LOC, "R-2c");
			CHECK_INT(o->taken_back, taken);
			CHECK(o->taken_back <= o->earned);
		}
		CHECK_INT(taken, 10);
		CHECK_INT(lookup(r2).balance, 5);
	}

	/* Over the remaining amount: refused, and nothing changes. 10.00, 6.00 back (6 points), then 5.00 is too much. */
	uint64_t r3 = enrol("return-over@example.com");
	expect_sale(r3, "R-3", 0, 1000, NULL, 0, 10);
	CHECK_RC(adm, do_return(NULL, "R-3", 600, NULL, 0, &rr), 0);
	CHECK_INT(rr.points, -6);
	{
		uint32_t n0 = history_of(r3);
		CHECK_RC(adm, do_return(NULL, "R-3", 500, NULL, 0, &rr), ACCRUE_ST_OVER_RETURN);
		c = lookup(r3);
		CHECK_INT(c.balance, 4);
		CHECK_INT(c.visits, 1);
		CHECK_INT(c.total_spend, 400);
		o = order_of(LOC, "R-3");
		CHECK_INT(o->refunded, 600);
		CHECK_INT(o->taken_back, 6);
		CHECK_INT(history_of(r3), n0);
	}
	CHECK_RC(adm, do_return(NULL, "R-3", 400, NULL, 0, &rr), 0);
	CHECK_INT(rr.points, -4);
	CHECK_INT(rr.customer.balance, 0);
	CHECK_INT(rr.customer.visits, 0);

	/* An order that was never sold. */
	CHECK_RC(adm, do_return(NULL, "R-nope", 100, NULL, 0, &rr), ACCRUE_ST_NOT_FOUND);

	/*
	 * Points already spent, returns.below_zero allow (the default): 20
	 * earned, 15 used, the full return takes 20: the balance is -15 and
	 * the history entry says it went below zero.
	 */
	uint64_t r4 = enrol("return-allow@example.com");
	expect_sale(r4, "R-4", 0, 2000, NULL, 0, 20);
	{
		struct accrue_result ar;
		struct accrue_ref r = by_id(r4);
		CHECK_RC(adm, accrue_adjust(adm, NULL, &r, -15, "redeemed a coffee", NULL, &ar), 0);
	}
	CHECK_RC(adm, do_return(NULL, "R-4", 2000, NULL, 0, &rr), 0);
	CHECK_INT(rr.points, -20);
	CHECK_INT(rr.shortfall, 0);
	CHECK_INT(rr.customer.balance, -15);
	CHECK_INT(lookup(r4).balance, -15);
	{
		const struct accrue_entry *e = entry_for(r4, ACCRUE_ENTRY_RETURN, "R-4");
		CHECK(e != NULL);
		if (e) {
			CHECK_INT(e->points, -20);
			CHECK_INT(e->balance_after, -15);
			CHECK(strstr(e->comment, "below zero") != NULL);
			if (!strstr(e->comment, "below zero"))
				fprintf(stderr, "    comment was \"%s\"\n", e->comment);
		}
	}

	/*
	 * The same with stop: 20 earned, 15 used, 5 left. Returning half takes
	 * 10; only 5 can go, the balance stops at 0 and 5 is the shortfall.
	 * The other half takes 10: nothing can go, shortfall 10. The order has
	 * still had all 20 taken back.
	 */
	set("returns.below_zero", "stop");
	uint64_t r5 = enrol("return-stop@example.com");
	expect_sale(r5, "R-5", 0, 2000, NULL, 0, 20);
	{
		struct accrue_result ar;
		struct accrue_ref r = by_id(r5);
		CHECK_RC(adm, accrue_adjust(adm, NULL, &r, -15, "redeemed a coffee", NULL, &ar), 0);
	}
	CHECK_RC(adm, do_return(NULL, "R-5", 1000, NULL, 0, &rr), 0);
	CHECK_INT(rr.points, -5);
	CHECK_INT(rr.shortfall, 5);
	CHECK_INT(rr.customer.balance, 0);
	{
		uint32_t n = history_of(r5);
		CHECK(n >= 1);
		if (n >= 1) {
			CHECK_INT(hist[0].type, ACCRUE_ENTRY_RETURN);
			CHECK_INT(hist[0].points, -5);
			CHECK_INT(hist[0].balance_after, 0);
			CHECK(strstr(hist[0].comment, "shortfall") != NULL);
		}
	}
	CHECK_RC(adm, do_return(NULL, "R-5", 1000, NULL, 0, &rr), 0);
	CHECK_INT(rr.points, 0);
	CHECK_INT(rr.shortfall, 10);
	CHECK_INT(lookup(r5).balance, 0);
	o = order_of(LOC, "R-5");
	CHECK_INT(o->taken_back, 20);
	CHECK_INT(o->refunded, 2000);
	set("returns.below_zero", "");

	/* A return replayed with its request key is the same return, applied once. 10.00, 5.00 back -> 5. */
	uint64_t r6 = enrol("return-replay@example.com");
	expect_sale(r6, "R-6", 0, 1000, NULL, 0, 10);
	new_key(return_key);
	CHECK_RC(adm, do_return(return_key, "R-6", 500, NULL, 0, &return_first), 0);
	CHECK_INT(return_first.points, -5);
	CHECK_INT(return_first.replay, 0);
	CHECK_RC(adm, do_return(return_key, "R-6", 500, NULL, 0, &rr), 0);
	CHECK_INT(rr.replay, 1);
	CHECK_INT(rr.seq, return_first.seq);
	CHECK_INT(rr.points, -5);
	CHECK_INT(rr.refunded, 500);
	CHECK_INT(lookup(r6).balance, 5);
	o = order_of(LOC, "R-6");
	CHECK_INT(o->refunded, 500);
	CHECK_INT(o->taken_back, 5);
	/* The same key for another return is refused and applies nothing. */
	CHECK_RC(adm, do_return(return_key, "R-6", 400, NULL, 0, &rr), ACCRUE_ST_KEY_REUSED);
	CHECK_INT(lookup(r6).balance, 5);
	CHECK_INT(order_of(LOC, "R-6")->refunded, 500);

	/*
	 * By lines. 2 coffees for 9.50, a mug for 15.75, a gift card for 20.00
	 * (excluded): 25.25 qualifies -> 25 points; coffee 25 * 950/2525 =
	 * 9.41 -> 9, mug 25 * 1575/2525 = 15.59 -> 15, the point left to the
	 * mug: {9, 16, 0}. Returning the mug takes its 16; one coffee (4.75)
	 * ceil(9 * 475/950) = ceil(4.5) = 5, the other 9 - 5 = 4; the gift
	 * card 0, and being the last, the visit.
	 */
	uint64_t r7 = enrol("return-lines@example.com");
	{
		struct accrue_line b[3], back[1];
		b[0] = line("COF", "coffee", 2, 950);
		b[1] = line("MUG", "merch", 1, 1575);
		b[2] = line("GC-20", "giftcard", 1, 2000);
		expect_sale(r7, "R-7", 0, 4525, b, 3, 25);
		static const int64_t want[] = {9, 16, 0};
		CHECK_INT(order_lines_are(LOC, "R-7", want, 3), 25);

		back[0] = line("MUG", "", 1, 1575);
		CHECK_RC(adm, do_return(NULL, "R-7", 1575, back, 1, &rr), 0);
		CHECK_INT(rr.points, -16);
		CHECK_INT(rr.refunded, 1575);
		o = order_of(LOC, "R-7");
		CHECK_INT(o->taken_back, 16);
		CHECK_INT(o->refunded, 1575);
		CHECK_INT(o->lines[1].refunded_qty, 1);
		CHECK_INT(o->lines[1].refunded, 1575);
		CHECK_INT(o->lines[0].refunded_qty, 0);

		/* More than the line cost, or lines that do not add up to the amount: refused. */
		back[0] = line("COF", "", 1, 951);
		CHECK_RC(adm, do_return(NULL, "R-7", 951, back, 1, &rr), ACCRUE_ST_OVER_RETURN);
		back[0] = line("COF", "", 1, 475);
		CHECK_RC(adm, do_return(NULL, "R-7", 500, back, 1, &rr), ACCRUE_ST_BAD_REQUEST);
		o = order_of(LOC, "R-7");
		CHECK_INT(o->refunded, 1575);
		CHECK_INT(o->lines[0].refunded_qty, 0);
		CHECK_INT(lookup(r7).balance, 25 - 16);
		/* The mug again: none left. */
		back[0] = line("MUG", "", 1, 1575);
		CHECK_RC(adm, do_return(NULL, "R-7", 1575, back, 1, &rr), ACCRUE_ST_OVER_RETURN);
		/* A SKU the order does not have (accrue.h: BAD_REQUEST). */
		back[0] = line("NOPE", "", 1, 100);
		CHECK_RC(adm, do_return(NULL, "R-7", 100, back, 1, &rr), ACCRUE_ST_BAD_REQUEST);

		back[0] = line("COF", "", 1, 475);
		CHECK_RC(adm, do_return(NULL, "R-7", 475, back, 1, &rr), 0);
		CHECK_INT(rr.points, -5);
		/* Amount 0 with lines: the server adds them up. */
		CHECK_RC(adm, do_return(NULL, "R-7", 0, back, 1, &rr), 0);
		CHECK_INT(rr.points, -4);
		CHECK_INT(rr.refunded, 475);
		CHECK_INT(rr.customer.visits, 1);
		back[0] = line("GC-20", "", 1, 2000);
		CHECK_RC(adm, do_return(NULL, "R-7", 2000, back, 1, &rr), 0);
		CHECK_INT(rr.points, 0);
		c = lookup(r7);
		CHECK_INT(c.balance, 0);
		CHECK_INT(c.visits, 0);
		CHECK_INT(c.total_spend, 0);
		o = order_of(LOC, "R-7");
		CHECK_INT(o->taken_back, 25);
		CHECK_INT(o->refunded, 4525);
		CHECK_INT(o->lines[0].refunded_qty, 2);
		CHECK_INT(o->lines[0].refunded, 950);
		CHECK_INT(o->lines[2].refunded, 2000);
	}
}

/* ---- 6. guests ------------------------------------------------------------- */

#define GUEST_PHONE "+15550001111"
#define GUEST_EMAIL "walk-in@example.com"

static uint64_t guest_id, guest2_id;

static void test_guests(void)
{
	struct accrue_result res;
	struct accrue_customer c;
	struct accrue_ref phone = by_text(ACCRUE_REF_PHONE, GUEST_PHONE);
	struct accrue_ref email = by_text(ACCRUE_REF_EMAIL, GUEST_EMAIL);
	char v[512];

	/* Refused by default: nothing is recorded, no customer appears. */
	CHECK_RC(adm, sell_ref(&phone, "G-0", 0, 2500, NULL, 0, &res), ACCRUE_ST_NOT_FOUND);
	CHECK_RC(adm, accrue_lookup(adm, &phone, &c), ACCRUE_ST_NOT_FOUND);
	{
		static struct accrue_order o;
		CHECK_INT(accrue_order(adm, LOC, "G-0", &o), ACCRUE_ST_NOT_FOUND);
	}

	/* Recorded: a guest (member 0) with the visit and the spend but no points. */
	set("guests", "record");
	CHECK_STR(setting("guests", v, sizeof v), "record");
	CHECK_RC(adm, sell_ref(&phone, "G-1", 0, 2500, NULL, 0, &res), 0);
	CHECK_INT(res.points, 0);
	CHECK_INT(res.customer.member, 0);
	CHECK_INT(res.customer.visits, 1);
	CHECK_INT(res.customer.total_spend, 2500);
	CHECK_INT(res.customer.balance, 0);
	CHECK_STR(res.customer.phone, GUEST_PHONE);
	guest_id = res.customer.id;
	REQUIRE(guest_id != 0);
	remember_customer(guest_id);
	CHECK_RC(adm, sell_ref(&phone, "G-2", 0, 1000, NULL, 0, &res), 0);
	CHECK_INT(res.points, 0);
	CHECK_INT(res.customer.id, guest_id);
	CHECK_INT(res.customer.visits, 2);
	c = lookup(guest_id);
	CHECK_INT(c.member, 0);
	CHECK_INT(c.visits, 2);
	CHECK_INT(c.total_spend, 3500);
	CHECK_INT(c.balance, 0);
	CHECK_INT(order_of(LOC, "G-1")->customer_id, guest_id);

	/* A second guest, by email. */
	CHECK_RC(adm, sell_ref(&email, "G-3", 0, 700, NULL, 0, &res), 0);
	CHECK_INT(res.customer.member, 0);
	CHECK_INT(res.points, 0);
	guest2_id = res.customer.id;
	CHECK(guest2_id != guest_id);
	remember_customer(guest2_id);

	/* Enrolling the phone makes the guest a member: the same customer, its visits kept. */
	memset(&c, 0, sizeof c);
	CHECK_RC(adm, accrue_enrol(adm, NULL, "joined@example.com", GUEST_PHONE, "Wanda", "Walkin", &c, NULL), 0);
	CHECK_INT(c.id, guest_id);
	CHECK_INT(c.member, 1);
	CHECK_INT(c.visits, 2);
	CHECK_INT(c.total_spend, 3500);
	CHECK_STR(c.email, "joined@example.com");
	CHECK_STR(c.first_name, "Wanda");
	{
		uint32_t n = history_of(guest_id);
		CHECK(n >= 1);
		if (n >= 1)
			CHECK_INT(hist[0].type, ACCRUE_ENTRY_JOIN);
	}
	/* Enrolling it again is a conflict, as for any member. */
	CHECK_RC(adm, accrue_enrol(adm, NULL, NULL, GUEST_PHONE, NULL, NULL, &c, NULL), ACCRUE_ST_CONFLICT);
	/* And now it earns. */
	expect_sale(guest_id, "G-4", 0, 1000, NULL, 0, 10);
	c = lookup(guest_id);
	CHECK_INT(c.member, 1);
	CHECK_INT(c.visits, 3);

	/*
	 * Back to refusing guests: a sale for the guest that is still a guest
	 * is NOT_MEMBER (accrue.h) and records nothing.
	 */
	set("guests", "");
	CHECK_RC(adm, sell_ref(&email, "G-5", 0, 700, NULL, 0, &res), ACCRUE_ST_NOT_MEMBER);
	c = lookup(guest2_id);
	CHECK_INT(c.visits, 1);
	CHECK_INT(c.total_spend, 700);
}

/* ---- 7. batched accrual ------------------------------------------------------- */

static uint64_t batch_ids[BATCH_CUSTOMERS];
static uint8_t batch_keys[BATCH_N][ACCRUE_KEY_SIZE];
static struct accrue_ref batch_refs[BATCH_N];
static struct accrue_sale batch_sales[BATCH_N];
static struct accrue_batch_result batch_res[BATCH_N], batch_again[BATCH_N];
static char batch_order_ids[BATCH_N][16];
static struct accrue_line batch_bad_lines[2];
static int batch_want_status[BATCH_N];
static int64_t batch_balance[BATCH_CUSTOMERS]; /* expected, after the batch */
static uint64_t batch_visits[BATCH_CUSTOMERS];
static int64_t batch_spend[BATCH_CUSTOMERS];
static uint64_t pre_seq;

#define B_DUP 50      /* repeats item 10's order id */
#define B_REPLAY 100  /* repeats the key and body of a sale committed before */
#define B_UNKNOWN 150 /* a customer that does not exist */
#define B_NEGATIVE 200
#define B_BADLINES 250 /* lines that do not add up to the amount */

/* Every item against what it should be; again: the second sending, where the good ones replay. */
static void check_batch_results(const struct accrue_batch_result *res, int again, const uint64_t *first_seq)
{
	int64_t running[BATCH_CUSTOMERS];
	uint64_t last_seq = pre_seq;
	int before = check_failures;

	for (int k = 0; k < BATCH_CUSTOMERS; k++)
		running[k] = lookup(batch_ids[k]).balance; /* after: the replies of a replay carry the balance now */
	for (int i = 0; i < BATCH_N; i++) {
		int k = i % BATCH_CUSTOMERS, item_before = check_failures;
		CHECK_INT(res[i].status, batch_want_status[i]);
		if (batch_want_status[i] != 0) {
			/* A refusal says why and carries no seq or points. */
			CHECK(res[i].message[0] != 0);
			CHECK_INT(res[i].seq, 0);
			CHECK_INT(res[i].points, 0);
		}
		if (batch_want_status[i] != 0 || res[i].status != 0) {
			if (item_before != check_failures)
				fprintf(stderr, "    (batch item %d: %s)\n", i, res[i].message);
			continue;
		}
		if (i == B_REPLAY) {
			CHECK_INT(res[i].replay, 1);
			CHECK_INT(res[i].seq, pre_seq);
			CHECK_INT(res[i].points, 10);
			CHECK_INT(res[i].customer_id, batch_ids[0]);
			continue;
		}
		CHECK_INT(res[i].replay, again);
		CHECK_INT(res[i].customer_id, batch_ids[k]);
		CHECK_INT(res[i].points, batch_sales[i].amount / 100);
		if (again) {
			CHECK_INT(res[i].seq, first_seq[i]);
		} else {
			/* Applied in the order sent, each its own journal entry. */
			CHECK(res[i].seq > last_seq);
			last_seq = res[i].seq;
		}
		if (item_before != check_failures)
			fprintf(stderr, "    (batch item %d)\n", i);
	}
	/* The balance each item reports is the balance after it: replay them in order on the first sending. */
	if (!again) {
		int64_t bal[BATCH_CUSTOMERS];
		for (int k = 0; k < BATCH_CUSTOMERS; k++)
			bal[k] = k == 0 ? 10 : 0;
		for (int i = 0; i < BATCH_N; i++) {
			int k = i % BATCH_CUSTOMERS;
			if (batch_want_status[i] != 0 || i == B_REPLAY)
				continue;
			bal[k] += batch_sales[i].amount / 100;
			CHECK_INT(res[i].balance, bal[k]);
		}
		for (int k = 0; k < BATCH_CUSTOMERS; k++)
			CHECK_INT(bal[k], running[k]);
	}
	if (check_failures != before)
		fprintf(stderr, "    (batch sent %s)\n", again ? "again" : "the first time");
}

static void check_batch_balances(const char *when)
{
	int before = check_failures;
	for (int k = 0; k < BATCH_CUSTOMERS; k++) {
		struct accrue_customer c = lookup(batch_ids[k]);
		CHECK_INT(c.balance, batch_balance[k]);
		CHECK_INT(c.visits, batch_visits[k]);
		CHECK_INT(c.total_spend, batch_spend[k]);
	}
	if (check_failures != before)
		fprintf(stderr, "    (batch balances %s)\n", when);
}

static uint64_t batch_first_seq[BATCH_N];

static void test_batch(void)
{
	char email[64];
	uint8_t pre_key[ACCRUE_KEY_SIZE];
	struct accrue_result res;

	for (int k = 0; k < BATCH_CUSTOMERS; k++) {
		snprintf(email, sizeof email, "batch-%d@example.com", k);
		batch_ids[k] = enrol(email);
	}
	/* A sale committed before the batch, whose key and body item B_REPLAY repeats: 10.00 -> 10. */
	new_key(pre_key);
	{
		struct accrue_sale s = sale_of(GW, "B-pre", 0, 1000, NULL, 0);
		struct accrue_ref r = by_id(batch_ids[0]);
		memset(&res, 0, sizeof res);
		CHECK_RC(adm, accrue_sale(adm, pre_key, &r, &s, &res), 0);
		CHECK_INT(res.points, 10);
		pre_seq = res.seq;
		remember_order(GW, "B-pre");
	}
	batch_balance[0] = 10;
	batch_visits[0] = 1;
	batch_spend[0] = 1000;

	/* Item i: customer i % 10, order B-iii, 1.00 + 0.37 i -> floor(1 + 0.37 i) points. */
	for (int i = 0; i < BATCH_N; i++) {
		int k = i % BATCH_CUSTOMERS;
		new_key(batch_keys[i]);
		snprintf(batch_order_ids[i], sizeof batch_order_ids[i], "B-%03d", i);
		batch_refs[i] = by_id(batch_ids[k]);
		batch_sales[i] = sale_of(GW, batch_order_ids[i], 0, 100 + 37 * i, NULL, 0);
		batch_want_status[i] = 0;
	}
	batch_sales[B_DUP].order_id = batch_order_ids[10];
	batch_want_status[B_DUP] = ACCRUE_ST_DUPLICATE_ORDER;
	memcpy(batch_keys[B_REPLAY], pre_key, ACCRUE_KEY_SIZE);
	batch_refs[B_REPLAY] = by_id(batch_ids[0]);
	batch_sales[B_REPLAY] = sale_of(GW, "B-pre", 0, 1000, NULL, 0);
	batch_refs[B_UNKNOWN] = by_id(987654321);
	batch_want_status[B_UNKNOWN] = ACCRUE_ST_NOT_FOUND;
	batch_sales[B_NEGATIVE].amount = -500;
	batch_want_status[B_NEGATIVE] = ACCRUE_ST_RANGE;
	batch_bad_lines[0] = line("X", "food", 1, 100);
	batch_bad_lines[1] = line("Y", "food", 1, 200);
	batch_sales[B_BADLINES].amount = 400; /* the lines make 3.00 */
	batch_sales[B_BADLINES].nlines = 2;
	batch_sales[B_BADLINES].lines = batch_bad_lines;
	batch_want_status[B_BADLINES] = ACCRUE_ST_BAD_REQUEST;

	for (int i = 0; i < BATCH_N; i++) {
		int k = i % BATCH_CUSTOMERS;
		if (batch_want_status[i] != 0 || i == B_REPLAY)
			continue;
		batch_balance[k] += batch_sales[i].amount / 100;
		batch_visits[k]++;
		batch_spend[k] += batch_sales[i].amount;
		remember_order(GW, batch_order_ids[i]);
	}

	long long t0 = harness_now_ms();
	CHECK_RC(adm, accrue_batch(adm, BATCH_N, (const uint8_t (*)[ACCRUE_KEY_SIZE])batch_keys, batch_refs, batch_sales,
				   batch_res),
		 0);
	fprintf(stderr, "it_checkout: batch of %d in %lld ms\n", BATCH_N, harness_now_ms() - t0);
	check_batch_results(batch_res, 0, NULL);
	for (int i = 0; i < BATCH_N; i++)
		batch_first_seq[i] = batch_res[i].seq;
	check_batch_balances("after the batch");

	/* The refused items left no trace. */
	{
		static struct accrue_order o;
		CHECK_INT(accrue_order(adm, GW, batch_order_ids[B_DUP], &o), ACCRUE_ST_NOT_FOUND);
		CHECK_INT(accrue_order(adm, GW, batch_order_ids[B_UNKNOWN], &o), ACCRUE_ST_NOT_FOUND);
		CHECK_INT(accrue_order(adm, GW, batch_order_ids[B_NEGATIVE], &o), ACCRUE_ST_NOT_FOUND);
		CHECK_INT(accrue_order(adm, GW, batch_order_ids[B_BADLINES], &o), ACCRUE_ST_NOT_FOUND);
		/* Item 10's order is item 10's sale, not item 50's. */
		CHECK_INT(accrue_order(adm, GW, batch_order_ids[10], &o), 0);
		CHECK_INT(o.amount, batch_sales[10].amount);
		CHECK_INT(o.seq, batch_res[10].seq);
	}
	/* Each good sale is in its customer's history exactly once. */
	for (int k = 0; k < BATCH_CUSTOMERS; k++) {
		uint32_t n = history_of(batch_ids[k]);
		int sales = 0;
		for (uint32_t j = 0; j < n; j++)
			if (hist[j].type == ACCRUE_ENTRY_ACCRUE)
				sales++;
		CHECK_INT(sales, batch_visits[k]);
		CHECK_INT(n, 1 + batch_visits[k]); /* the enrolment and the sales */
		for (int i = k; i < BATCH_N; i += BATCH_CUSTOMERS) {
			int seen = 0;
			for (uint32_t j = 0; j < n; j++)
				if (strcmp(hist[j].order_id, batch_order_ids[i]) == 0) {
					seen++;
					CHECK_INT(hist[j].points, batch_sales[i].amount / 100);
					CHECK_INT(hist[j].amount, batch_sales[i].amount);
				}
			CHECK_INT(seen, batch_want_status[i] == 0 && i != B_REPLAY ? 1 : 0);
		}
	}

	/* The same batch again, the same keys: every good item replays, nothing moves. */
	CHECK_RC(adm, accrue_batch(adm, BATCH_N, (const uint8_t (*)[ACCRUE_KEY_SIZE])batch_keys, batch_refs, batch_sales,
				   batch_again),
		 0);
	check_batch_results(batch_again, 1, batch_first_seq);
	check_batch_balances("after the batch was sent again");
}

/* ---- 8. durability --------------------------------------------------------------- */

struct entry_digest {
	uint64_t seq;
	int type;
	int64_t time_us, points, balance_after, amount;
	char order_id[72];
	char comment[504];
};

struct order_digest {
	int rc;
	uint64_t customer_id, seq;
	int64_t time_us, amount, earned, refunded, taken_back;
	uint32_t multiplier, nlines;
	struct accrue_order_line line[DIGEST_LINES];
};

struct snapshot {
	struct accrue_customer c[MAX_IDS];
	uint32_t nentries[MAX_IDS];
	struct entry_digest e[MAX_IDS][64];
	struct order_digest o[MAX_ORDERS];
	struct accrue_setting *settings;
	uint32_t nsettings;
};

static void take_snapshot(struct snapshot *s)
{
	for (int i = 0; i < nids; i++) {
		s->c[i] = lookup(all_ids[i]);
		uint32_t n = history_of(all_ids[i]);
		CHECK(n <= 64);
		s->nentries[i] = n;
		for (uint32_t j = 0; j < n && j < 64; j++) {
			struct entry_digest *d = &s->e[i][j];
			d->seq = hist[j].seq;
			d->type = hist[j].type;
			d->time_us = hist[j].time_us;
			d->points = hist[j].points;
			d->balance_after = hist[j].balance_after;
			d->amount = hist[j].amount;
			snprintf(d->order_id, sizeof d->order_id, "%s", hist[j].order_id);
			snprintf(d->comment, sizeof d->comment, "%s", hist[j].comment);
		}
	}
	for (int i = 0; i < norders; i++) {
		struct order_digest *d = &s->o[i];
		memset(&order_buf, 0, sizeof order_buf);
		d->rc = accrue_order(adm, all_orders[i].loc, all_orders[i].id, &order_buf);
		CHECK_INT(d->rc, 0);
		d->customer_id = order_buf.customer_id;
		d->seq = order_buf.seq;
		d->time_us = order_buf.time_us;
		d->amount = order_buf.amount;
		d->earned = order_buf.earned;
		d->refunded = order_buf.refunded;
		d->taken_back = order_buf.taken_back;
		d->multiplier = order_buf.multiplier;
		d->nlines = order_buf.nlines;
		CHECK(order_buf.nlines <= DIGEST_LINES);
		for (uint32_t j = 0; j < order_buf.nlines && j < DIGEST_LINES; j++)
			d->line[j] = order_buf.lines[j];
	}
	s->settings = NULL;
	s->nsettings = 0;
	CHECK_RC(adm, accrue_program_get(adm, &s->settings, &s->nsettings), 0);
}

static void compare_snapshots(const char *what, const struct snapshot *x, const struct snapshot *y)
{
	int before = check_failures;

	for (int i = 0; i < nids; i++) {
		const struct accrue_customer *a = &x->c[i], *b = &y->c[i];
		int cb = check_failures;
		CHECK_INT(a->id, b->id);
		CHECK_STR(a->email, b->email);
		CHECK_STR(a->phone, b->phone);
		CHECK_STR(a->first_name, b->first_name);
		CHECK_INT(a->balance, b->balance);
		CHECK_INT(a->lifetime_points, b->lifetime_points);
		CHECK_INT(a->visits, b->visits);
		CHECK_INT(a->total_spend, b->total_spend);
		CHECK_INT(a->created_us, b->created_us);
		CHECK_INT(a->last_visit_us, b->last_visit_us);
		CHECK_INT(a->member, b->member);
		CHECK_STR(a->tier, b->tier);
		CHECK_INT(a->ngroups, b->ngroups);
		for (int g = 0; g < a->ngroups && g < b->ngroups && g < ACCRUE_MAX_GROUPS; g++)
			CHECK_STR(a->groups[g], b->groups[g]);
		CHECK_INT(x->nentries[i], y->nentries[i]);
		for (uint32_t j = 0; j < x->nentries[i] && j < y->nentries[i] && j < 64; j++) {
			const struct entry_digest *d = &x->e[i][j], *e = &y->e[i][j];
			CHECK_INT(d->seq, e->seq);
			CHECK_INT(d->type, e->type);
			CHECK_INT(d->time_us, e->time_us);
			CHECK_INT(d->points, e->points);
			CHECK_INT(d->balance_after, e->balance_after);
			CHECK_INT(d->amount, e->amount);
			CHECK_STR(d->order_id, e->order_id);
			CHECK_STR(d->comment, e->comment);
		}
		if (cb != check_failures)
			fprintf(stderr, "    (customer #%llu differs %s)\n", (unsigned long long)a->id, what);
	}
	for (int i = 0; i < norders; i++) {
		const struct order_digest *a = &x->o[i], *b = &y->o[i];
		int ob = check_failures;
		CHECK_INT(a->rc, b->rc);
		CHECK_INT(a->customer_id, b->customer_id);
		CHECK_INT(a->seq, b->seq);
		CHECK_INT(a->time_us, b->time_us);
		CHECK_INT(a->amount, b->amount);
		CHECK_INT(a->earned, b->earned);
		CHECK_INT(a->refunded, b->refunded);
		CHECK_INT(a->taken_back, b->taken_back);
		CHECK_INT(a->multiplier, b->multiplier);
		CHECK_INT(a->nlines, b->nlines);
		for (uint32_t j = 0; j < a->nlines && j < b->nlines && j < DIGEST_LINES; j++) {
			CHECK_STR(a->line[j].sku, b->line[j].sku);
			CHECK_STR(a->line[j].category, b->line[j].category);
			CHECK_INT(a->line[j].qty, b->line[j].qty);
			CHECK_INT(a->line[j].amount, b->line[j].amount);
			CHECK_INT(a->line[j].earned, b->line[j].earned);
			CHECK_INT(a->line[j].refunded_qty, b->line[j].refunded_qty);
			CHECK_INT(a->line[j].refunded, b->line[j].refunded);
		}
		if (ob != check_failures)
			fprintf(stderr, "    (order %s at %s differs %s)\n", all_orders[i].id, all_orders[i].loc, what);
	}
	CHECK_INT(x->nsettings, y->nsettings);
	for (uint32_t i = 0; i < x->nsettings && i < y->nsettings; i++) {
		CHECK_STR(x->settings[i].name, y->settings[i].name);
		CHECK_STR(x->settings[i].value, y->settings[i].value);
	}
	if (check_failures != before)
		fprintf(stderr, "    (state differs %s)\n", what);
}

static void reconnect(void)
{
	accrue_close(adm);
	adm = NULL;
	int rc = harness_connect(&h, &adm);
	CHECK_INT(rc, 0);
	if (rc != 0)
		fprintf(stderr, "    cannot connect after restart: %s\n", accrue_strerror(rc));
	REQUIRE(adm != NULL);
}

/* Request keys outlive the daemon: the return and the batch replay, applying nothing. */
static void check_keys_replay(const char *when)
{
	struct accrue_return_result rr;
	int before = check_failures;

	CHECK_RC(adm, do_return(return_key, "R-6", 500, NULL, 0, &rr), 0);
	CHECK_INT(rr.replay, 1);
	CHECK_INT(rr.seq, return_first.seq);
	CHECK_INT(rr.points, -5);
	CHECK_RC(adm, accrue_batch(adm, BATCH_N, (const uint8_t (*)[ACCRUE_KEY_SIZE])batch_keys, batch_refs, batch_sales,
				   batch_again),
		 0);
	check_batch_results(batch_again, 1, batch_first_seq);
	check_batch_balances(when);
	if (check_failures != before)
		fprintf(stderr, "    (request keys %s)\n", when);
}

static struct snapshot snap_before, snap_after;

static void test_durability(void)
{
	char v[512], promo[160], start[32], end[32];
	int64_t now_s = wall_us() / 1000000;

	/* Leave a program worth comparing: a future promotion beside the multipliers and exclusions set above. */
	iso_time(now_s + DAY_S, start, sizeof start);
	iso_time(now_s + 2 * DAY_S, end, sizeof end);
	snprintf(promo, sizeof promo, "2 %s %s vip,staff", start, end);
	set("promo.next", promo);
	set("earn.min_spend", "0.50");
	set("returns.below_zero", "stop");

	take_snapshot(&snap_before);
	CHECK_INT(harness_stop(&h), 0);
	REQUIRE(harness_restart(&h) == 0);
	reconnect();
	take_snapshot(&snap_after);
	compare_snapshots("after SIGTERM and restart", &snap_before, &snap_after);
	free(snap_after.settings);
	CHECK_STR(setting("multiplier.group.vip", v, sizeof v), "1.5");
	CHECK_STR(setting("exclude.categories", v, sizeof v), "giftcard");
	CHECK_STR(setting("earn.min_spend", v, sizeof v), "0.50");
	CHECK_STR(setting("returns.below_zero", v, sizeof v), "stop");
	CHECK_STR(setting("promo.next", v, sizeof v), promo);
	CHECK_INT(lookup(guest2_id).member, 0);
	CHECK_INT(lookup(guest_id).member, 1);
	{
		struct accrue_customer c = lookup(m_both);
		CHECK_STR(c.tier, "gold");
		CHECK_INT(c.ngroups, 2);
	}
	check_keys_replay("after SIGTERM and restart");

	/* One more sale just before the crash: acknowledged means durable. 10.00 x2 (gold) -> 20. */
	expect_sale(m_gold, "K-1", 0, 1000, NULL, 0, 20);
	free(snap_before.settings);
	take_snapshot(&snap_before);
	harness_kill(&h);
	REQUIRE(harness_restart(&h) == 0);
	reconnect();
	take_snapshot(&snap_after);
	compare_snapshots("after SIGKILL and restart", &snap_before, &snap_after);
	CHECK_INT(order_of(LOC, "K-1")->earned, 20);
	check_keys_replay("after SIGKILL and restart");
	free(snap_after.settings);
	free(snap_before.settings);
}

/*
 * The largest batch the protocol allows, in one frame on a default server:
 * every one of 8,190 sales applied. (A reply-size check that added the OK
 * and refusal layouts together once refused anything over 7,767.)
 */
static void test_full_batch(void)
{
	enum { FULL = 8190 };
	static struct accrue_ref refs[FULL];
	static struct accrue_sale sales[FULL];
	static struct accrue_batch_result res[FULL];
	static char orders[FULL][24];
	uint64_t id = enrol("full-batch@example.com");
	struct accrue_customer c;
	int ok = 0;

	for (int i = 0; i < FULL; i++) {
		refs[i] = by_id(id);
		snprintf(orders[i], sizeof orders[i], "FB-%d", i);
		sales[i] = sale_of(LOC, orders[i], 0, 100, NULL, 0);
	}
	CHECK_RC(adm, accrue_batch(adm, FULL, NULL, refs, sales, res), 0);
	for (int i = 0; i < FULL; i++)
		ok += res[i].status == 0 && res[i].points == 1;
	CHECK_INT(ok, FULL);
	c = lookup(id);
	CHECK_INT(c.balance, FULL);
	CHECK_INT(c.visits, FULL);
}

int main(void)
{
	long long t0 = harness_now_ms();
	REQUIRE(harness_start(&h, "it_checkout") == 0);
	int rc = harness_connect(&h, &adm);
	if (rc != 0)
		fprintf(stderr, "cannot connect as admin to %s: %s\n", h.addr, accrue_strerror(rc));
	REQUIRE(rc == 0 && adm != NULL);

	test_earning();
	test_stamps();
	test_multipliers();
	test_quote();
	test_returns();
	test_guests();
	test_batch();
	test_durability();
	/* Last: its customer has 8,191 entries, more than the durability snapshot digests. */
	test_full_batch();

	accrue_close(adm);
	CHECK_INT(harness_stop(&h), 0);
	harness_finish(&h, check_failures);
	fprintf(stderr, "it_checkout: %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);
	return check_done("it_checkout");
}
