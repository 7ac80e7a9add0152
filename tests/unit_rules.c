/*
 * unit_rules.c - the earning engine at its edges: settings text in and out,
 * rounding, exclusions, minimum spend, stamps, multipliers and promotions,
 * line shares, overflow, and what returns take back.
 *
 * Expected values are worked out by hand in the comments; money is in minor
 * units (1234 = 12.34) and multipliers in 1/10000 (15000 = 1.5).
 */
#include <stdint.h>

#include "check.h"
#include "rules.h"

__extension__ typedef unsigned __int128 u128;

/* 2026-12-01T00:00:00Z: 946684800 (2000-01-01) + (26 * 365 + 7 leap days
 * + 334 days of Jan..Nov) * 86400 = 946684800 + 9831 * 86400. */
#define DEC_1 (1796083200LL * 1000000)
/* 24 days later. */
#define DEC_25 (DEC_1 + 24LL * 86400 * 1000000)
#define NOW DEC_1 /* a time inside the promotions set below */

static struct rules_str S(const char *s)
{
	struct rules_str v = {s, (uint32_t)strlen(s)};
	return v;
}

static char last_err[256];

static int set(struct rules *r, const char *key, const char *value)
{
	last_err[0] = '\0';
	return rules_set(r, key, strlen(key), value, strlen(value), last_err, sizeof last_err);
}

/* For setting up a case: a failure here makes everything after it meaningless. */
static void must_set(struct rules *r, const char *key, const char *value)
{
	int rc = set(r, key, value);
	if (rc != RULES_OK)
		fprintf(stderr, "set %s=\"%s\": %d %s\n", key, value, rc, last_err);
	REQUIRE(rc == RULES_OK);
}

static struct rules_customer member(const char *tier)
{
	struct rules_customer c;

	memset(&c, 0, sizeof c);
	c.tier = S(tier);
	c.member = 1;
	return c;
}

static void add_group(struct rules_customer *c, const char *group)
{
	REQUIRE(c->ngroups < RULES_MAX_GROUPS);
	c->groups[c->ngroups++] = S(group);
}

static struct rules_line line(const char *sku, const char *category, int64_t qty, int64_t amount)
{
	struct rules_line l = {S(sku), S(category), qty, amount};
	return l;
}

static struct rules_earning out; /* 2 KB: kept off the stack */

/* Points or stamps for a sale without lines; -1 if it was refused. */
static int64_t earn(const struct rules *r, const struct rules_customer *c, int64_t now, int64_t amount)
{
	if (rules_earn(r, c, now, amount, NULL, 0, &out) != RULES_OK)
		return -1;
	return out.earned;
}

/* The same with lines, whose amounts make up the sale. */
static int earn_lines(const struct rules *r, const struct rules_customer *c, const struct rules_line *lines,
		      uint32_t n)
{
	int64_t amount = 0;

	for (uint32_t i = 0; i < n; i++)
		amount += lines[i].amount;
	return rules_earn(r, c, NOW, amount, lines, n, &out);
}

/* ---- money and time text ---- */

static int64_t money(const char *s)
{
	int64_t v = -7;
	return rules_money_parse(s, strlen(s), &v) == RULES_OK ? v : -1;
}

static void test_money_parse(void)
{
	int64_t v = 5;

	CHECK_INT(money("12"), 1200);
	CHECK_INT(money("12.3"), 1230);
	CHECK_INT(money("12.34"), 1234);
	CHECK_INT(money("0"), 0);
	CHECK_INT(money("0.05"), 5);
	CHECK_INT(money("007.5"), 750); /* leading zeros are harmless; the canonical form drops them */
	/* Decided: a digit must come first, and a point needs one or two digits after it. */
	CHECK_INT(money("12.345"), -1);
	CHECK_INT(money("12."), -1);
	CHECK_INT(money(".5"), -1);
	CHECK_INT(money("-1"), -1);
	CHECK_INT(money("+1"), -1);
	CHECK_INT(money(""), -1);
	CHECK_INT(money("1e3"), -1);
	CHECK_INT(money(" 1"), -1);
	CHECK_INT(money("1 "), -1);
	CHECK_INT(money("1,50"), -1);
	CHECK_INT(money("1.5x"), -1);
	/* INT64_MAX is 9223372036854775807 minor units: 92233720368547758.07. */
	CHECK_INT(money("92233720368547758.07"), INT64_MAX);
	CHECK_INT(money("92233720368547758.08"), -1);
	CHECK_INT(money("92233720368547759"), -1);
	CHECK_INT(money("99999999999999999999999"), -1); /* the whole part alone overflows */
	/* Length-counted: only the first len bytes are read. */
	CHECK_INT(rules_money_parse("12.34xyz", 5, &v), RULES_OK);
	CHECK_INT(v, 1234);
	v = 5;
	CHECK_INT(rules_money_parse("12.345", 6, &v), RULES_E_VALUE);
	CHECK_INT(v, 5); /* untouched on error */
}

static int64_t utc(const char *s)
{
	int64_t v = -7;
	return rules_time_parse(s, strlen(s), &v) == RULES_OK ? v : -1;
}

static void test_time_parse(void)
{
	CHECK_INT(utc("2026-12-01T00:00:00Z"), DEC_1);
	CHECK_INT(utc("2026-12-25T00:00:00Z"), DEC_25);
	CHECK_INT(utc("1970-01-01T00:00:00Z"), 0);
	CHECK_INT(utc("1970-01-01T00:00:01Z"), 1000000);
	/* 2000-01-01 is 946684800; March 1st is 31 + 29 days on (2000 is a leap year). */
	CHECK_INT(utc("2000-03-01T00:00:00Z"), (946684800LL + 60 * 86400) * 1000000);
	CHECK_INT(utc("2000-02-29T00:00:00Z"), (946684800LL + 59 * 86400) * 1000000);
	/* 2028-01-01 is 946684800 + (28 * 365 + 7) days; Feb 29 is 59 days on:
	 * 10286 days = 888710400 s after 2000-01-01. */
	CHECK_INT(utc("2028-02-29T00:00:00Z"), 1835395200LL * 1000000);
	CHECK_INT(utc("2028-02-29T23:59:59Z"), (1835395200LL + 86399) * 1000000);
	CHECK_INT(utc("9999-12-31T23:59:59Z"), 253402300799LL * 1000000);

	CHECK_INT(utc("2027-02-29T00:00:00Z"), -1); /* not a leap year */
	CHECK_INT(utc("2100-02-29T00:00:00Z"), -1); /* a century, not divisible by 400 */
	CHECK_INT(utc("2026-04-31T00:00:00Z"), -1);
	CHECK_INT(utc("2026-13-01T00:00:00Z"), -1);
	CHECK_INT(utc("2026-00-01T00:00:00Z"), -1);
	CHECK_INT(utc("2026-12-00T00:00:00Z"), -1);
	CHECK_INT(utc("2026-12-32T00:00:00Z"), -1);
	CHECK_INT(utc("2026-12-01T24:00:00Z"), -1);
	CHECK_INT(utc("2026-12-01T00:60:00Z"), -1);
	CHECK_INT(utc("2026-12-01T00:00:60Z"), -1); /* no leap seconds */
	CHECK_INT(utc("1969-12-31T23:59:59Z"), -1); /* decided: times start at 1970 */
	CHECK_INT(utc("2026-12-01T00:00:00"), -1);  /* missing Z */
	CHECK_INT(utc("2026-12-01T00:00:00z"), -1);
	CHECK_INT(utc("2026-12-01 00:00:00Z"), -1);
	CHECK_INT(utc("2026-12-01T00:00:00+00:00"), -1);
	CHECK_INT(utc("2026-12-01T00:00:00.0Z"), -1);
	CHECK_INT(utc("2026-12-1T00:00:00Z"), -1);
	CHECK_INT(utc("2026-12-01T00:00:00Z "), -1);
	CHECK_INT(utc(""), -1);
}

/* ---- points: rates and rounding ---- */

static void test_rounding(void)
{
	static struct rules r;
	struct rules_customer c = member("");

	rules_init_default(&r); /* 1 point per 1.00, rounded down */
	CHECK_INT(earn(&r, &c, NOW, 1249), 12);
	CHECK_INT(earn(&r, &c, NOW, 1250), 12);
	CHECK_INT(earn(&r, &c, NOW, 1200), 12);
	CHECK_INT(earn(&r, &c, NOW, 1), 0);
	must_set(&r, "earn.rounding", "nearest");
	CHECK_INT(earn(&r, &c, NOW, 1249), 12);
	CHECK_INT(earn(&r, &c, NOW, 1250), 13); /* half goes up */
	CHECK_INT(earn(&r, &c, NOW, 50), 1);
	CHECK_INT(earn(&r, &c, NOW, 49), 0);
	must_set(&r, "earn.rounding", "up");
	CHECK_INT(earn(&r, &c, NOW, 1249), 13);
	CHECK_INT(earn(&r, &c, NOW, 1200), 12); /* an exact result is not bumped */
	CHECK_INT(earn(&r, &c, NOW, 1), 1);

	/* 5 points per 1.00: 19.99 is 99.95 points. */
	rules_init_default(&r);
	must_set(&r, "earn.points", "5");
	CHECK_INT(earn(&r, &c, NOW, 1999), 99);
	must_set(&r, "earn.rounding", "nearest");
	CHECK_INT(earn(&r, &c, NOW, 1999), 100);
	CHECK_INT(earn(&r, &c, NOW, 1990), 100); /* 99.5 */
	CHECK_INT(earn(&r, &c, NOW, 1989), 99);  /* 99.45 */

	/* 1 point per 10.00: 99.99 is 9.999 points, 95.00 is 9.5, 94.99 is 9.499. */
	rules_init_default(&r);
	must_set(&r, "earn.per", "10");
	CHECK_INT(earn(&r, &c, NOW, 9999), 9);
	CHECK_INT(earn(&r, &c, NOW, 10000), 10);
	must_set(&r, "earn.rounding", "nearest");
	CHECK_INT(earn(&r, &c, NOW, 9999), 10);
	CHECK_INT(earn(&r, &c, NOW, 9500), 10);
	CHECK_INT(earn(&r, &c, NOW, 9499), 9);
	must_set(&r, "earn.rounding", "up");
	CHECK_INT(earn(&r, &c, NOW, 9001), 10);

	/* An awkward rate: 3 points per 0.07; 1.00 is 300/7 = 42.857 points. */
	rules_init_default(&r);
	must_set(&r, "earn.points", "3");
	must_set(&r, "earn.per", "0.07");
	CHECK_INT(earn(&r, &c, NOW, 100), 42);
	must_set(&r, "earn.rounding", "nearest");
	CHECK_INT(earn(&r, &c, NOW, 100), 43);

	/* 0 points per anything: nothing, whatever the multiplier. */
	must_set(&r, "earn.points", "0");
	must_set(&r, "earn.rounding", "up");
	CHECK_INT(earn(&r, &c, NOW, 100000), 0);

	/* A zero sale earns nothing, even rounding up. */
	rules_init_default(&r);
	must_set(&r, "earn.rounding", "up");
	CHECK_INT(earn(&r, &c, NOW, 0), 0);
}

/* ---- lines: exclusions, validation, minimum spend ---- */

static void test_lines(void)
{
	static struct rules r;
	static struct rules_line many[RULES_MAX_LINES + 1];
	struct rules_customer c = member("");
	struct rules_line l[4];

	rules_init_default(&r);
	must_set(&r, "exclude.categories", "tobacco");
	must_set(&r, "exclude.skus", "GIFT-1");
	l[0] = line("BREAD", "food", 1, 1000);
	l[1] = line("CIGS", "tobacco", 1, 500);
	l[2] = line("GIFT-1", "misc", 1, 2000);
	l[3] = line("JAM", "food", 2, 350);
	/* Qualifying: 10.00 + 3.50 = 13.50 of 38.50, so 13 points. */
	CHECK_INT(earn_lines(&r, &c, l, 4), RULES_OK);
	CHECK_INT(out.qualifying, 1350);
	CHECK_INT(out.earned, 13);
	/* Shares of 13 by 1000:350 of 1350: 9.63 and 3.37, floors 9 + 3, the
	 * one left over to the larger remainder (BREAD). Excluded lines get 0. */
	CHECK_INT(out.line_earned[0], 10);
	CHECK_INT(out.line_earned[1], 0);
	CHECK_INT(out.line_earned[2], 0);
	CHECK_INT(out.line_earned[3], 3);

	/* Only excluded lines: nothing, and a qualifying amount of 0. */
	CHECK_INT(earn_lines(&r, &c, l + 1, 2), RULES_OK);
	CHECK_INT(out.qualifying, 0);
	CHECK_INT(out.earned, 0);
	CHECK_INT(out.line_earned[0] + out.line_earned[1], 0);

	/* Names match exactly: "Tobacco" and "gift-1" are not excluded. */
	l[1] = line("cigs", "Tobacco", 1, 500);
	l[2] = line("gift-1", "misc", 1, 2000);
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.earned, 35);

	/* A sale without lines qualifies with its whole amount. */
	CHECK_INT(earn(&r, &c, NOW, 3850), 38);
	CHECK_INT(out.qualifying, 3850);

	/* Refused: amounts that do not add up, quantity below 1, negative amounts. */
	l[0] = line("BREAD", "food", 1, 1000);
	l[1] = line("JAM", "food", 1, 500);
	out.earned = 4242;
	CHECK_INT(rules_earn(&r, &c, NOW, 1501, l, 2, &out), RULES_E_RANGE);
	CHECK_INT(rules_earn(&r, &c, NOW, 1499, l, 2, &out), RULES_E_RANGE);
	CHECK_INT(out.earned, 4242); /* out is left alone on error */
	CHECK_INT(rules_earn(&r, &c, NOW, 1500, l, 2, &out), RULES_OK);
	l[1].qty = 0;
	CHECK_INT(rules_earn(&r, &c, NOW, 1500, l, 2, &out), RULES_E_RANGE);
	l[1].qty = -1;
	CHECK_INT(rules_earn(&r, &c, NOW, 1500, l, 2, &out), RULES_E_RANGE);
	l[1].qty = 1;
	l[1].amount = -500;
	l[0].amount = 2000; /* adds up to 1500, but a line is negative */
	CHECK_INT(rules_earn(&r, &c, NOW, 1500, l, 2, &out), RULES_E_RANGE);
	CHECK_INT(rules_earn(&r, &c, NOW, -1, NULL, 0, &out), RULES_E_RANGE);
	CHECK_INT(rules_earn(&r, &c, NOW, 100, NULL, 1, &out), RULES_E_RANGE);
	/* Line amounts whose sum overflows. */
	l[0] = line("A", "food", 1, INT64_MAX);
	l[1] = line("B", "food", 1, 1);
	CHECK_INT(rules_earn(&r, &c, NOW, INT64_MIN, l, 2, &out), RULES_E_RANGE);

	/* RULES_MAX_LINES lines are fine, one more is not. */
	for (uint32_t i = 0; i <= RULES_MAX_LINES; i++)
		many[i] = line("X", "food", 1, 100);
	CHECK_INT(rules_earn(&r, &c, NOW, RULES_MAX_LINES * 100, many, RULES_MAX_LINES, &out), RULES_OK);
	CHECK_INT(out.earned, RULES_MAX_LINES);
	CHECK_INT(out.line_earned[RULES_MAX_LINES - 1], 1);
	CHECK_INT(rules_earn(&r, &c, NOW, (RULES_MAX_LINES + 1) * 100, many, RULES_MAX_LINES + 1, &out),
		  RULES_E_RANGE);

	/* Minimum spend 10.00, on the qualifying amount. */
	rules_init_default(&r);
	must_set(&r, "earn.min_spend", "10");
	must_set(&r, "exclude.categories", "tobacco");
	CHECK_INT(earn(&r, &c, NOW, 999), 0);
	CHECK_INT(earn(&r, &c, NOW, 1000), 10);
	l[0] = line("BREAD", "food", 1, 900);
	l[1] = line("CIGS", "tobacco", 1, 600);
	CHECK_INT(earn_lines(&r, &c, l, 2), RULES_OK); /* 15.00 spent, 9.00 qualifies */
	CHECK_INT(out.earned, 0);
	CHECK_INT(out.line_earned[0], 0);
	l[0].amount = 1000;
	CHECK_INT(earn_lines(&r, &c, l, 2), RULES_OK);
	CHECK_INT(out.earned, 10);
	CHECK_INT(out.line_earned[0], 10);
}

/* ---- stamps ---- */

static void test_stamps(void)
{
	static struct rules r;
	struct rules_customer c = member("");
	struct rules_line l[3];

	rules_init_default(&r);
	must_set(&r, "unit", "stamps"); /* 1 per visit, 0 per item */
	CHECK_INT(earn(&r, &c, NOW, 1), 1);
	CHECK_INT(earn(&r, &c, NOW, 100000), 1);
	CHECK_INT(earn(&r, &c, NOW, 0), 0); /* a zero sale is not a qualifying visit */
	CHECK_INT(out.qualifying_items, 0);

	must_set(&r, "stamps.per_item", "2");
	must_set(&r, "exclude.categories", "tobacco");
	l[0] = line("LATTE", "coffee", 3, 900);
	l[1] = line("MUFFIN", "cake", 2, 500);
	l[2] = line("CIGS", "tobacco", 5, 1000);
	/* 5 qualifying items: 1 + 2 * 5 = 11; the 10 item stamps go 3:2. */
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.qualifying_items, 5);
	CHECK_INT(out.earned, 11);
	CHECK_INT(out.line_earned[0], 6);
	CHECK_INT(out.line_earned[1], 4);
	CHECK_INT(out.line_earned[2], 0);
	/* Without lines there are no items: the visit only. */
	CHECK_INT(earn(&r, &c, NOW, 2400), 1);

	/* Only coffee counts per item: 1 + 2 * 3 = 7, all 6 item stamps on the latte. */
	must_set(&r, "stamps.categories", "coffee");
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.qualifying_items, 3);
	CHECK_INT(out.earned, 7);
	CHECK_INT(out.line_earned[0], 6);
	CHECK_INT(out.line_earned[1], 0);
	/* stamps.categories does not undo an exclusion. */
	must_set(&r, "stamps.categories", "coffee,tobacco");
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.earned, 7);
	CHECK_INT(out.line_earned[2], 0);
	must_set(&r, "stamps.categories", "");

	/* Minimum spend applies to stamps: 14.00 qualifies (tobacco does not count). */
	must_set(&r, "earn.min_spend", "14.01");
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.earned, 0);
	CHECK_INT(out.line_earned[0], 0);
	must_set(&r, "earn.min_spend", "14");
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.earned, 11);

	/* With a 1.5 multiplier: 11 * 1.5 = 16.5. Down: 16, of which the visit's
	 * 1.5 rounds down to 1; 15 item stamps go 3:2 = 9 and 6. */
	must_set(&r, "multiplier.tier.gold", "1.5");
	c = member("gold");
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.earned, 16);
	CHECK_INT(out.line_earned[0], 9);
	CHECK_INT(out.line_earned[1], 6);
	/* Nearest: 17, the visit's 1.5 rounds to 2, the items keep 15 again. */
	must_set(&r, "earn.rounding", "nearest");
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.earned, 17);
	CHECK_INT(out.line_earned[0] + out.line_earned[1], 15);
	/* No per-visit stamps: the lines hold the whole total. */
	must_set(&r, "stamps.per_visit", "0");
	must_set(&r, "earn.rounding", "");
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK); /* 10 * 1.5 = 15 */
	CHECK_INT(out.earned, 15);
	CHECK_INT(out.line_earned[0], 9);
	CHECK_INT(out.line_earned[1], 6);
}

/* ---- multipliers and promotions ---- */

static void test_multipliers(void)
{
	static struct rules r;
	struct rules_customer c;

	rules_init_default(&r);
	must_set(&r, "multiplier.tier.gold", "1.5");
	must_set(&r, "multiplier.tier.platinum", "100");
	must_set(&r, "multiplier.group.vip", "2");
	must_set(&r, "multiplier.group.staff", "3");
	must_set(&r, "multiplier.group.half", "0.5");

	c = member("");
	CHECK_INT(earn(&r, &c, NOW, 1000), 10);
	CHECK_INT(out.multiplier, RULES_MULT_ONE);
	c = member("gold");
	CHECK_INT(earn(&r, &c, NOW, 1000), 15);
	CHECK_INT(out.multiplier, 15000);
	c = member("Gold"); /* names are case-sensitive */
	CHECK_INT(earn(&r, &c, NOW, 1000), 10);
	c = member("silver"); /* a tier without a multiplier */
	CHECK_INT(earn(&r, &c, NOW, 1000), 10);

	c = member("");
	add_group(&c, "vip");
	CHECK_INT(earn(&r, &c, NOW, 1000), 20);
	add_group(&c, "staff"); /* the largest group multiplier wins, they do not multiply */
	CHECK_INT(earn(&r, &c, NOW, 1000), 30);
	CHECK_INT(out.multiplier, 30000);
	c = member("");
	add_group(&c, "staff");
	add_group(&c, "vip");
	CHECK_INT(earn(&r, &c, NOW, 1000), 30); /* order does not matter */
	c = member("");
	add_group(&c, "half");
	CHECK_INT(earn(&r, &c, NOW, 1000), 5);
	/* Decided: a group without a multiplier does not count as 1 against 0.5. */
	add_group(&c, "bakers");
	CHECK_INT(earn(&r, &c, NOW, 1000), 5);
	add_group(&c, "vip");
	CHECK_INT(earn(&r, &c, NOW, 1000), 20);

	/* Tier times group: 1.5 * 3 = 4.5. */
	c = member("gold");
	add_group(&c, "staff");
	CHECK_INT(earn(&r, &c, NOW, 1000), 45);
	CHECK_INT(out.multiplier, 45000);

	/* Capped at 100: 100 * 3 = 300 -> 100. */
	c = member("platinum");
	add_group(&c, "staff");
	CHECK_INT(earn(&r, &c, NOW, 1000), 1000);
	CHECK_INT(out.multiplier, 100 * RULES_MULT_ONE);
	/* The cap is on the whole product: 100 * 3 * 0.5 = 150 -> 100, not 50. */
	must_set(&r, "promo.slow", "0.5 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
	CHECK_INT(earn(&r, &c, NOW, 1000), 1000);
	CHECK_INT(out.multiplier, 100 * RULES_MULT_ONE);
	must_set(&r, "promo.slow", "");

	/* A promotion in force from START, inclusive, to END, exclusive. */
	must_set(&r, "promo.xmas", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	c = member("");
	CHECK_INT(earn(&r, &c, DEC_1 - 1, 1000), 10);
	CHECK_INT(earn(&r, &c, DEC_1, 1000), 20);
	CHECK_INT(out.multiplier, 20000);
	CHECK_INT(earn(&r, &c, DEC_25 - 1, 1000), 20);
	CHECK_INT(earn(&r, &c, DEC_25, 1000), 10);
	/* With the tier: 1.5 * 2 = 3. */
	c = member("gold");
	CHECK_INT(earn(&r, &c, DEC_1, 1000), 30);

	/* A promotion for some groups only. */
	must_set(&r, "promo.xmas", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z bakers,staff");
	c = member("");
	CHECK_INT(earn(&r, &c, NOW, 1000), 10);
	add_group(&c, "vip");
	CHECK_INT(earn(&r, &c, NOW, 1000), 20); /* vip's 2; the promotion is not for vip */
	add_group(&c, "bakers");
	CHECK_INT(earn(&r, &c, NOW, 1000), 40); /* vip's 2 times the promotion's 2 */

	/* Several promotions multiply: 2 * 1.5 = 3. */
	must_set(&r, "promo.xmas", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	must_set(&r, "promo.weekend", "1.5 2026-11-28T00:00:00Z 2026-12-02T00:00:00Z");
	c = member("");
	CHECK_INT(earn(&r, &c, NOW, 1000), 30);
	CHECK_INT(earn(&r, &c, DEC_1 + 86400LL * 1000000, 1000), 20); /* weekend over */
	CHECK_INT(earn(&r, &c, DEC_1 - 1, 1000), 15);                  /* xmas not begun */

	/* The exact product, kept to four decimals once (rounded down): 1.5^3 =
	 * 3.375 exactly, and 1.33 * 1.33 * 1.33 = 2.352637 -> 2.3526. On
	 * 1,000,000.00 the truncation shows: 2352600 points, not 2352637. */
	rules_init_default(&r);
	must_set(&r, "multiplier.tier.t", "1.5");
	must_set(&r, "multiplier.group.g", "1.5");
	must_set(&r, "promo.p", "1.5 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
	c = member("t");
	add_group(&c, "g");
	CHECK_INT(earn(&r, &c, NOW, 100000), 3375);
	CHECK_INT(out.multiplier, 33750);
	must_set(&r, "multiplier.tier.t", "1.33");
	must_set(&r, "multiplier.group.g", "1.33");
	must_set(&r, "promo.p", "1.33 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
	CHECK_INT(earn(&r, &c, NOW, 100000000), 2352600);
	CHECK_INT(out.multiplier, 23526);
	/* Once, not at every factor: 1.11^3 = 1.367631, * 10 = 13.67631 -> 13.6763.
	 * Truncating each step would give 1.3676 * 10 = 13.676. */
	must_set(&r, "multiplier.tier.t", "1.11");
	must_set(&r, "multiplier.group.g", "1.11");
	must_set(&r, "promo.p", "1.11 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
	must_set(&r, "promo.q", "10 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
	CHECK_INT(earn(&r, &c, NOW, 1000000), 136763);
	CHECK_INT(out.multiplier, 136763);
	must_set(&r, "promo.q", "");
	/* 0.01^3 = 0.000001 -> 0.0000: nothing at all. */
	must_set(&r, "multiplier.tier.t", "0.01");
	must_set(&r, "multiplier.group.g", "0.01");
	must_set(&r, "promo.p", "0.01 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
	CHECK_INT(earn(&r, &c, NOW, 100000000), 0);
	CHECK_INT(out.multiplier, 0);

	/* Every factor there can be (tier, group, RULES_MAX_PROMOS promotions):
	 * 100 * 100 * 0.5^16 = 10000 / 65536 = 0.152587890625 -> 0.1525, whose
	 * exact numerator needs far more than 128 bits. With the promotions at
	 * 0.99, 10000 * 0.99^16 = 8514.6 -> the cap. */
	{
		char key[32];
		must_set(&r, "promo.p", "");
		for (int i = 0; i < RULES_MAX_PROMOS; i++) {
			snprintf(key, sizeof key, "promo.p%02d", i);
			must_set(&r, key, "0.5 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
		}
		must_set(&r, "multiplier.tier.t", "100");
		must_set(&r, "multiplier.group.g", "100");
		CHECK_INT(earn(&r, &c, NOW, 10000), 15); /* 100.00 * 0.1525 */
		CHECK_INT(out.multiplier, 1525);
		for (int i = 0; i < RULES_MAX_PROMOS; i++) {
			snprintf(key, sizeof key, "promo.p%02d", i);
			must_set(&r, key, "0.99 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
		}
		CHECK_INT(earn(&r, &c, NOW, 10000), 10000);
		CHECK_INT(out.multiplier, 100 * RULES_MULT_ONE);
		for (int i = 0; i < RULES_MAX_PROMOS; i++) {
			snprintf(key, sizeof key, "promo.p%02d", i);
			must_set(&r, key, "100 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z");
		}
		CHECK_INT(earn(&r, &c, NOW, 10000), 10000); /* 100^18 */
		CHECK_INT(out.multiplier, 100 * RULES_MULT_ONE);
		/* A factor above 100 can only come from a struct rules_set did not build. */
		r.promos[0].mult = 100 * RULES_MULT_ONE + 1;
		CHECK_INT(earn(&r, &c, NOW, 10000), -1);
	}

	/* More groups than a customer can have is refused. */
	c = member("");
	c.ngroups = RULES_MAX_GROUPS + 1;
	CHECK_INT(rules_earn(&r, &c, NOW, 100, NULL, 0, &out), RULES_E_RANGE);
}

/* ---- line shares ---- */

static void test_shares(void)
{
	static struct rules r;
	struct rules_customer c = member("");
	struct rules_line l[3];

	/* 3.00 at 1 point per 1.50 = 2 points over three equal lines: 2/3 each,
	 * floors 0, equal remainders: the earliest two get one. */
	rules_init_default(&r);
	must_set(&r, "earn.per", "1.50");
	l[0] = line("A", "a", 1, 100);
	l[1] = line("B", "a", 1, 100);
	l[2] = line("C", "a", 1, 100);
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.earned, 2);
	CHECK_INT(out.line_earned[0], 1);
	CHECK_INT(out.line_earned[1], 1);
	CHECK_INT(out.line_earned[2], 0);

	/* 1.00 + 2.00 at 1 per 1.00 times 1.5 = 4.5 -> 4: exact shares 1.33 and
	 * 2.67, floors 1 + 2, the one left to the larger remainder (the second). */
	rules_init_default(&r);
	must_set(&r, "multiplier.tier.t", "1.5");
	c = member("t");
	l[0] = line("A", "a", 1, 100);
	l[1] = line("B", "a", 1, 200);
	CHECK_INT(earn_lines(&r, &c, l, 2), RULES_OK);
	CHECK_INT(out.earned, 4);
	CHECK_INT(out.line_earned[0], 1);
	CHECK_INT(out.line_earned[1], 3);
	/* Rounded up, 5: shares 1.67 and 3.33 -> 1 + 3, the one left to the first. */
	must_set(&r, "earn.rounding", "up");
	CHECK_INT(earn_lines(&r, &c, l, 2), RULES_OK);
	CHECK_INT(out.earned, 5);
	CHECK_INT(out.line_earned[0], 2);
	CHECK_INT(out.line_earned[1], 3);
	/* A zero-amount line gets nothing. */
	l[2] = line("FREE", "a", 1, 0);
	CHECK_INT(earn_lines(&r, &c, l, 3), RULES_OK);
	CHECK_INT(out.line_earned[2], 0);
}

/* xorshift64: a fixed seed, so a failure repeats. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

/* The property test's program: category x and SKU S3 excluded. */
static int prop_excluded(const struct rules_line *l)
{
	return strcmp(l->category.ptr, "x") == 0 || strcmp(l->sku.ptr, "S3") == 0;
}

/* With stamps.categories set, it is "a". */
static int prop_for_stamps(const struct rules *r, const struct rules_line *l)
{
	return !prop_excluded(l) && (!r->stamp_categories.n || strcmp(l->category.ptr, "a") == 0);
}

/* What a line's share is proportional to: its quantity (stamps) or amount (points). */
static int64_t prop_weight(const struct rules *r, const struct rules_line *l)
{
	if (r->unit == RULES_UNIT_STAMPS)
		return prop_for_stamps(r, l) ? l->qty : 0;
	return prop_excluded(l) ? 0 : l->amount;
}

static void test_shares_property(void)
{
	static const char *const categories[] = {"a", "b", "x", ""};
	static const char *const rounding[] = {"down", "nearest", "up"};
	static struct rules r;
	static struct rules_line l[RULES_MAX_LINES];
	struct rules_customer c;
	int bad_sum = 0, bad_excluded = 0, bad_negative = 0, bad_fair = 0, bad_total = 0, refused = 0;

	for (int iter = 0; iter < 3000; iter++) {
		uint32_t n = (uint32_t)(iter % 10 == 0 ? rnd(RULES_MAX_LINES + 1) : rnd(12));
		int stamps = rnd(3) == 0;
		int64_t amount = 0, lines_total = 0, qualifying = 0, items = 0, sum_w = 0;
		char per[32];

		rules_init_default(&r);
		must_set(&r, "unit", stamps ? "stamps" : "points");
		must_set(&r, "earn.rounding", rounding[rnd(3)]);
		snprintf(per, sizeof per, "%d.%02d", (int)rnd(20), 1 + (int)rnd(99));
		must_set(&r, "earn.per", per);
		snprintf(per, sizeof per, "%d", (int)rnd(1000));
		must_set(&r, "earn.points", per);
		must_set(&r, "exclude.categories", "x");
		must_set(&r, "exclude.skus", "S3");
		snprintf(per, sizeof per, "%d", (int)rnd(5));
		must_set(&r, "stamps.per_visit", per);
		snprintf(per, sizeof per, "%d", (int)rnd(5));
		must_set(&r, "stamps.per_item", per);
		if (rnd(2))
			must_set(&r, "stamps.categories", "a");
		must_set(&r, "multiplier.tier.t", "1.37");
		must_set(&r, "multiplier.group.g", "0.73");
		c = member(rnd(2) ? "t" : "");
		if (rnd(2))
			add_group(&c, "g");

		for (uint32_t i = 0; i < n; i++) {
			static const char *const skus[] = {"S0", "S1", "S2", "S3"};
			/* Mostly small amounts, now and then a huge one. */
			int64_t a = rnd(50) ? (int64_t)rnd(100000) : (int64_t)rnd(1000000000000ULL);
			l[i] = line(skus[rnd(4)], categories[rnd(4)], 1 + (int64_t)rnd(5), a);
			amount += a;
		}
		if (rules_earn(&r, &c, NOW, amount, l, n, &out) != RULES_OK) {
			refused++;
			continue;
		}
		for (uint32_t i = 0; i < n; i++) {
			if (out.line_earned[i] < 0)
				bad_negative++;
			if (prop_excluded(&l[i]) && out.line_earned[i] != 0)
				bad_excluded++;
			if (!prop_excluded(&l[i]))
				qualifying += l[i].amount;
			if (prop_for_stamps(&r, &l[i]))
				items += l[i].qty;
			lines_total += out.line_earned[i];
			sum_w += prop_weight(&r, &l[i]);
		}
		/* Every share is its exact share rounded down or up: |share * W - T * w| < W. */
		for (uint32_t i = 0; i < n && sum_w; i++) {
			__int128 diff = (__int128)out.line_earned[i] * sum_w - (__int128)lines_total * prop_weight(&r, &l[i]);
			if (diff <= -(__int128)sum_w || diff >= sum_w)
				bad_fair++;
		}
		/* Points: the lines hold the whole total. Stamps: the whole total less
		 * the per-visit stamps, which with this program's multiplier are
		 * per_visit * m rounded the same way. */
		if (n && out.qualifying > 0) {
			int64_t expect = out.earned;
			if (stamps && out.earned) {
				u128 v = (u128)r.stamps_per_visit * out.multiplier;
				u128 d = RULES_MULT_ONE;
				u128 visit = r.rounding == RULES_ROUND_UP	   ? (v + d - 1) / d
					     : r.rounding == RULES_ROUND_NEAREST ? (2 * v + d) / (2 * d)
										 : v / d;
				expect -= (int64_t)visit;
			}
			if (lines_total != expect) {
				if (!bad_sum)
					fprintf(stderr, "shares: iteration %d: lines %lld, expected %lld\n", iter,
						(long long)lines_total, (long long)expect);
				bad_sum++;
			}
		}
		if (out.qualifying != qualifying || out.qualifying_items != items)
			bad_total++;
	}
	CHECK_INT(bad_sum, 0);
	CHECK_INT(bad_excluded, 0);
	CHECK_INT(bad_negative, 0);
	CHECK_INT(bad_fair, 0);
	CHECK_INT(bad_total, 0);
	CHECK_INT(refused, 0);
}

/* ---- guests and overflow ---- */

static void test_guests(void)
{
	static struct rules r;
	struct rules_customer c = member("gold");
	struct rules_line l[2];

	rules_init_default(&r);
	must_set(&r, "multiplier.tier.gold", "2");
	c.member = 0;
	CHECK_INT(earn(&r, &c, NOW, 5000), 0);
	CHECK_INT(out.qualifying, 5000); /* the sale is still described */
	l[0] = line("A", "a", 1, 300);
	l[1] = line("B", "a", 1, 200);
	CHECK_INT(earn_lines(&r, &c, l, 2), RULES_OK);
	CHECK_INT(out.earned, 0);
	CHECK_INT(out.line_earned[0], 0);
	CHECK_INT(out.line_earned[1], 0);
	must_set(&r, "unit", "stamps");
	CHECK_INT(earn(&r, &c, NOW, 5000), 0);
	/* Still checked: a guest's sale that does not add up is refused. */
	CHECK_INT(rules_earn(&r, &c, NOW, 501, l, 2, &out), RULES_E_RANGE);
}

static void test_overflow(void)
{
	static struct rules r;
	struct rules_customer c = member("");
	struct rules_line l[2];

	rules_init_default(&r);
	CHECK_INT(earn(&r, &c, NOW, INT64_MAX), INT64_MAX / 100);
	must_set(&r, "earn.rounding", "up");
	CHECK_INT(earn(&r, &c, NOW, INT64_MAX), INT64_MAX / 100 + 1);

	/* 1,000,000 points per 0.01: refused, not wrapped. */
	must_set(&r, "earn.points", "1000000");
	must_set(&r, "earn.per", "0.01");
	out.earned = 4242;
	CHECK_INT(rules_earn(&r, &c, NOW, INT64_MAX, NULL, 0, &out), RULES_E_RANGE);
	CHECK_INT(out.earned, 4242);
	/* Per 1.00 that is 10000 points a minor unit: 922337203685477 minor units
	 * give 9223372036854770000 (fits), one more gives 9223372036854780000 (does not). */
	must_set(&r, "earn.per", "1");
	must_set(&r, "earn.rounding", "");
	CHECK_INT(earn(&r, &c, NOW, 922337203685477), 9223372036854770000);
	CHECK_INT(earn(&r, &c, NOW, 922337203685478), -1);
	/* The multiplier can push a fitting result over: 2 * 9.2e18. */
	must_set(&r, "multiplier.tier.t", "2");
	c = member("t");
	CHECK_INT(earn(&r, &c, NOW, 922337203685477), -1);
	CHECK_INT(earn(&r, &c, NOW, 461168601842738), 9223372036854760000);

	/* Stamps: 1 + 1000 * 9223372036854775 = 9223372036854775001 fits; one item more does not. */
	rules_init_default(&r);
	must_set(&r, "unit", "stamps");
	must_set(&r, "stamps.per_item", "1000");
	c = member("");
	l[0] = line("A", "a", INT64_MAX / 1000, 100);
	CHECK_INT(earn_lines(&r, &c, l, 1), RULES_OK);
	CHECK_INT(out.earned, 9223372036854775001);
	l[0].qty++;
	CHECK_INT(earn_lines(&r, &c, l, 1), RULES_E_RANGE);
	/* Quantities whose count overflows. */
	l[0] = line("A", "a", INT64_MAX, 100);
	l[1] = line("B", "a", 1, 100);
	CHECK_INT(earn_lines(&r, &c, l, 2), RULES_E_RANGE);
	/* Even in points, where only qualifying_items would not fit: refused, not wrapped. */
	rules_init_default(&r);
	CHECK_INT(earn_lines(&r, &c, l, 2), RULES_E_RANGE);
	l[1].qty = 1;
	l[0].qty = INT64_MAX - 1;
	CHECK_INT(earn_lines(&r, &c, l, 2), RULES_OK);
	CHECK_INT(out.qualifying_items, INT64_MAX);
	CHECK_INT(out.earned, 2);
}

/* ---- returns ---- */

static int64_t take(int64_t earned, int64_t amount, int64_t refunded_before, int64_t taken_before, int64_t refund)
{
	int64_t t = -7;
	return rules_take_back(earned, amount, refunded_before, taken_before, refund, &t) == RULES_OK ? t : -1;
}

static void test_take_back(void)
{
	int64_t t = 99;
	int bad_ceil = 0, bad_total = 0, bad_negative = 0;

	CHECK_INT(take(37, 1000, 0, 0, 1000), 37); /* a full return takes all */
	CHECK_INT(take(0, 1000, 0, 0, 1000), 0);
	CHECK_INT(take(0, 1000, 0, 0, 10), 0);
	CHECK_INT(take(37, 1000, 0, 0, 0), 0);
	/* 10 points on 3.00, returned a third at a time: ceil(3.33) = 4, then
	 * ceil(6.67) = 7 so 3 more, then everything so 3 more: 10 in all. */
	CHECK_INT(take(10, 300, 0, 0, 100), 4);
	CHECK_INT(take(10, 300, 100, 4, 100), 3);
	CHECK_INT(take(10, 300, 200, 7, 100), 3);
	/* 1 point on 100.00: returning 0.01 takes the point; the rest takes nothing more. */
	CHECK_INT(take(1, 10000, 0, 0, 1), 1);
	CHECK_INT(take(1, 10000, 1, 1, 9999), 0);
	/* Refunds over the amount, and negatives, are refused. */
	CHECK_INT(take(10, 100, 60, 6, 40), 4);
	CHECK_INT(take(10, 100, 60, 6, 41), -1);
	CHECK_INT(take(10, 100, 101, 0, 0), -1);
	CHECK_INT(take(10, 100, 0, 0, -1), -1);
	CHECK_INT(take(-1, 100, 0, 0, 1), -1);
	CHECK_INT(take(10, -100, 0, 0, 0), -1);
	CHECK_INT(take(10, 100, -1, 0, 1), -1);
	CHECK_INT(take(10, 100, 0, -1, 1), -1);
	CHECK_INT(take(10, 100, 0, 11, 1), -1); /* more taken than was earned */
	CHECK_INT(take(10, 100, INT64_MAX, 0, INT64_MAX), -1);
	CHECK_INT(rules_take_back(10, 100, 0, 0, 101, &t), RULES_E_RANGE);
	CHECK_INT(t, 99); /* untouched on error */
	/* Taken more before than the rule asks (the caller's business): nothing now, never negative. */
	CHECK_INT(take(10, 100, 0, 5, 10), 0);
	/* A zero-amount sale: refunding its nothing is its full return. */
	CHECK_INT(take(0, 0, 0, 0, 0), 0);
	CHECK_INT(take(3, 0, 0, 0, 0), 3);
	/* Huge: ceil(M * (M - 1) / M) = M - 1, without overflow. */
	CHECK_INT(take(INT64_MAX, INT64_MAX, 0, 0, INT64_MAX - 1), INT64_MAX - 1);
	CHECK_INT(take(INT64_MAX, INT64_MAX, INT64_MAX - 1, INT64_MAX - 1, 1), 1);

	/* Property: partial returns in random pieces. Each takes no less than the
	 * proportional share so far, and together they take exactly what was earned. */
	for (int iter = 0; iter < 2000; iter++) {
		int64_t amount = 1 + (int64_t)rnd(iter % 4 ? 10000 : 1000000000000000ULL);
		int64_t earned = (int64_t)rnd(iter % 3 ? 1000 : 1000000000000ULL);
		int64_t refunded = 0, taken = 0;
		while (refunded < amount) {
			int64_t refund = 1 + (int64_t)rnd((uint64_t)(amount - refunded));
			int64_t got;
			if (rules_take_back(earned, amount, refunded, taken, refund, &got) != RULES_OK || got < 0) {
				bad_negative++;
				break;
			}
			refunded += refund;
			taken += got;
			if ((u128)taken * (u128)amount < (u128)earned * (u128)refunded || taken > earned)
				bad_ceil++;
		}
		if (taken != earned)
			bad_total++;
	}
	CHECK_INT(bad_ceil, 0);
	CHECK_INT(bad_total, 0);
	CHECK_INT(bad_negative, 0);
}

/* ---- rules_set ---- */

/* Set and expect rc; on error, also expect r unchanged and an explanation. */
static void set_expect(struct rules *r, const char *key, const char *value, int rc, int line_no)
{
	static struct rules before;
	int got;

	memcpy(&before, r, sizeof before);
	got = set(r, key, value);
	if (got != rc)
		fprintf(stderr, "line %d: set %s=\"%s\": %d (%s), expected %d\n", line_no, key, value, got, last_err, rc);
	CHECK_INT(got, rc);
	if (rc != RULES_OK) {
		CHECK(memcmp(&before, r, sizeof before) == 0);
		CHECK(strlen(last_err) > 10);
	}
}

#define SET_OK(r, k, v) set_expect((r), (k), (v), RULES_OK, __LINE__)
#define SET_KEY(r, k, v) set_expect((r), (k), (v), RULES_E_KEY, __LINE__)
#define SET_VALUE(r, k, v) set_expect((r), (k), (v), RULES_E_VALUE, __LINE__)
#define SET_FULL(r, k, v) set_expect((r), (k), (v), RULES_E_FULL, __LINE__)

/* A name of n bytes, "n0000..." so names of one length sort by their number. */
static const char *name_of(char *buf, int len, int number)
{
	memset(buf, 'n', (size_t)len);
	buf[len] = '\0';
	for (int i = len - 1; i >= 1 && number; i--, number /= 10)
		buf[i] = (char)('0' + number % 10);
	return buf;
}

static void test_set_fixed(void)
{
	static struct rules r, def;

	rules_init_default(&def);
	rules_init_default(&r);

	SET_OK(&r, "unit", "stamps");
	CHECK_INT(r.unit, RULES_UNIT_STAMPS);
	SET_OK(&r, "unit", "points");
	CHECK_INT(r.unit, RULES_UNIT_POINTS);
	SET_OK(&r, "unit", " stamps\t"); /* surrounding blanks are ignored */
	CHECK_INT(r.unit, RULES_UNIT_STAMPS);
	SET_VALUE(&r, "unit", "Stamps");
	SET_VALUE(&r, "unit", "stamp");
	SET_OK(&r, "unit", "");
	CHECK_INT(r.unit, RULES_UNIT_POINTS);

	SET_OK(&r, "earn.points", "0");
	CHECK_INT(r.earn_points, 0);
	SET_OK(&r, "earn.points", "1000000");
	CHECK_INT(r.earn_points, 1000000);
	SET_OK(&r, "earn.points", "007");
	CHECK_INT(r.earn_points, 7);
	SET_VALUE(&r, "earn.points", "1000001");
	SET_VALUE(&r, "earn.points", "99999999999999999999999");
	SET_VALUE(&r, "earn.points", "-1");
	SET_VALUE(&r, "earn.points", "1.5");
	SET_VALUE(&r, "earn.points", "five");
	SET_VALUE(&r, "earn.points", "1 0");
	SET_OK(&r, "earn.points", "");
	CHECK_INT(r.earn_points, 1);

	SET_OK(&r, "earn.per", "0.01");
	CHECK_INT(r.earn_per, 1);
	SET_OK(&r, "earn.per", "10");
	CHECK_INT(r.earn_per, 1000);
	SET_VALUE(&r, "earn.per", "0");
	SET_VALUE(&r, "earn.per", "0.00");
	SET_VALUE(&r, "earn.per", "1.234");
	SET_VALUE(&r, "earn.per", "-1");
	SET_OK(&r, "earn.per", "");
	CHECK_INT(r.earn_per, 100);

	SET_OK(&r, "earn.rounding", "nearest");
	CHECK_INT(r.rounding, RULES_ROUND_NEAREST);
	SET_OK(&r, "earn.rounding", "up");
	CHECK_INT(r.rounding, RULES_ROUND_UP);
	SET_OK(&r, "earn.rounding", "down");
	CHECK_INT(r.rounding, RULES_ROUND_DOWN);
	SET_VALUE(&r, "earn.rounding", "round");
	SET_OK(&r, "earn.rounding", "up");
	SET_OK(&r, "earn.rounding", "");
	CHECK_INT(r.rounding, RULES_ROUND_DOWN);

	SET_OK(&r, "earn.min_spend", "10.5");
	CHECK_INT(r.min_spend, 1050);
	SET_OK(&r, "earn.min_spend", "0");
	CHECK_INT(r.min_spend, 0);
	SET_VALUE(&r, "earn.min_spend", "-0.01");
	SET_VALUE(&r, "earn.min_spend", "ten");
	SET_OK(&r, "earn.min_spend", "3");
	SET_OK(&r, "earn.min_spend", "");
	CHECK_INT(r.min_spend, 0);

	SET_OK(&r, "stamps.per_visit", "0");
	CHECK_INT(r.stamps_per_visit, 0);
	SET_OK(&r, "stamps.per_visit", "1000");
	CHECK_INT(r.stamps_per_visit, 1000);
	SET_VALUE(&r, "stamps.per_visit", "1001");
	SET_OK(&r, "stamps.per_visit", "");
	CHECK_INT(r.stamps_per_visit, 1);
	SET_OK(&r, "stamps.per_item", "1000");
	CHECK_INT(r.stamps_per_item, 1000);
	SET_VALUE(&r, "stamps.per_item", "1001");
	SET_VALUE(&r, "stamps.per_item", "-1");
	SET_OK(&r, "stamps.per_item", "");
	CHECK_INT(r.stamps_per_item, 0);

	SET_OK(&r, "returns.below_zero", "stop");
	CHECK_INT(r.below_zero, RULES_BELOW_ZERO_STOP);
	SET_VALUE(&r, "returns.below_zero", "never");
	SET_OK(&r, "returns.below_zero", "");
	CHECK_INT(r.below_zero, RULES_BELOW_ZERO_ALLOW);
	SET_OK(&r, "returns.below_zero", "allow");
	CHECK_INT(r.below_zero, RULES_BELOW_ZERO_ALLOW);

	SET_OK(&r, "guests", "record");
	CHECK_INT(r.guests, RULES_GUESTS_RECORD);
	SET_VALUE(&r, "guests", "yes");
	SET_OK(&r, "guests", "");
	CHECK_INT(r.guests, RULES_GUESTS_REFUSE);
	SET_OK(&r, "guests", "refuse");

	/* Every fixed key back at "" is rules_init_default, byte for byte. */
	CHECK(memcmp(&r, &def, sizeof r) == 0);

	/* Unknown keys: RULES_E_KEY, naming the key. */
	SET_KEY(&r, "earn.pointz", "1");
	CHECK(strstr(last_err, "earn.pointz") != NULL);
	SET_KEY(&r, "", "1");
	SET_KEY(&r, "Unit", "points");
	SET_KEY(&r, "unit ", "points");
	SET_KEY(&r, "multiplier.colour.red", "2");
	SET_KEY(&r, "multiplier.group.", "2");
	SET_KEY(&r, "multiplier.group.a b", "2");
	SET_KEY(&r, "multiplier.group.a,b", "2");
	SET_KEY(&r, "multiplier.tier.", "2");
	SET_KEY(&r, "promo.", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	SET_KEY(&r, "promo.x\001", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	/* A key is length-counted: "units" cut to 4 bytes is "unit". */
	CHECK_INT(rules_set(&r, "units", 4, "stamps", 6, NULL, 0), RULES_OK);
	CHECK_INT(r.unit, RULES_UNIT_STAMPS);
	/* No err buffer, or a small one: still the right code, and a terminated message. */
	CHECK_INT(rules_set(&r, "nope", 4, "", 0, NULL, 0), RULES_E_KEY);
	{
		char small[8] = "xxxxxxx";
		CHECK_INT(rules_set(&r, "nope", 4, "", 0, small, sizeof small), RULES_E_KEY);
		CHECK_INT(strlen(small), 7);
	}
}

static void test_set_lists(void)
{
	static struct rules r;
	char buf[RULES_MAX_LIST * 70 + 80], name[80];

	rules_init_default(&r);
	/* "gift cards" has a space: refused, and the list stays as it was. */
	SET_VALUE(&r, "exclude.categories", " tobacco , gift cards");
	CHECK_INT(r.exclude_categories.n, 0);
	SET_OK(&r, "exclude.categories", " tobacco ,, gifts ,tobacco,");
	CHECK_INT(r.exclude_categories.n, 2); /* blanks trimmed, empties ignored, repeats once */
	CHECK_INT(r.exclude_categories.item[0].len, 7);
	CHECK(memcmp(r.exclude_categories.item[0].text, "tobacco", 7) == 0);
	CHECK(memcmp(r.exclude_categories.item[1].text, "gifts", 5) == 0);
	SET_OK(&r, "exclude.categories", " , ,");
	CHECK_INT(r.exclude_categories.n, 0);
	SET_OK(&r, "exclude.skus", "A-1,B/2,c.3");
	CHECK_INT(r.exclude_skus.n, 3);
	SET_VALUE(&r, "exclude.skus", "A-1,\x7f");
	SET_VALUE(&r, "exclude.skus", "caf\xc3\xa9"); /* printable ASCII only */
	SET_OK(&r, "exclude.skus", "");
	CHECK_INT(r.exclude_skus.n, 0);

	/* RULES_MAX_NAME bytes is a name, one more is not. */
	SET_OK(&r, "stamps.categories", name_of(name, RULES_MAX_NAME, 1));
	CHECK_INT(r.stamp_categories.item[0].len, RULES_MAX_NAME);
	SET_VALUE(&r, "stamps.categories", name_of(name, RULES_MAX_NAME + 1, 1));

	/* RULES_MAX_LIST entries, then one more. */
	buf[0] = '\0';
	for (int i = 0; i < RULES_MAX_LIST; i++) {
		strcat(buf, name_of(name, RULES_MAX_NAME, i));
		strcat(buf, ",");
	}
	SET_OK(&r, "exclude.categories", buf);
	CHECK_INT(r.exclude_categories.n, RULES_MAX_LIST);
	strcat(buf, "one-more");
	SET_FULL(&r, "exclude.categories", buf);
	CHECK_INT(r.exclude_categories.n, RULES_MAX_LIST);
	/* A repeat does not count against the limit. */
	buf[strlen(buf) - strlen("one-more")] = '\0';
	strcat(buf, name_of(name, RULES_MAX_NAME, 0));
	SET_OK(&r, "exclude.categories", buf);
}

static void test_set_mults(void)
{
	static struct rules r;
	char key[120], name[80];

	rules_init_default(&r);
	SET_OK(&r, "multiplier.group.vip", "1.5");
	CHECK_INT(r.ngroup_mults, 1);
	CHECK_INT(r.group_mults[0].mult, 15000);
	SET_OK(&r, "multiplier.group.vip", "2");
	CHECK_INT(r.ngroup_mults, 1); /* replaced, not added */
	CHECK_INT(r.group_mults[0].mult, 20000);
	SET_OK(&r, "multiplier.group.vip", "0.75");
	CHECK_INT(r.group_mults[0].mult, 7500);
	SET_OK(&r, "multiplier.group.vip", "0.01");
	CHECK_INT(r.group_mults[0].mult, 100);
	SET_OK(&r, "multiplier.group.vip", "100");
	CHECK_INT(r.group_mults[0].mult, 1000000);
	SET_OK(&r, "multiplier.group.vip", "1");
	CHECK_INT(r.group_mults[0].mult, 10000);
	SET_VALUE(&r, "multiplier.group.vip", "0");
	SET_VALUE(&r, "multiplier.group.vip", "0.001");
	SET_VALUE(&r, "multiplier.group.vip", "100.01");
	SET_VALUE(&r, "multiplier.group.vip", "-2");
	SET_VALUE(&r, "multiplier.group.vip", "1.5x");
	SET_VALUE(&r, "multiplier.tier.gold", "x2");
	CHECK_INT(r.ntier_mults, 0);
	SET_OK(&r, "multiplier.group.vip", "");
	CHECK_INT(r.ngroup_mults, 0);
	SET_OK(&r, "multiplier.group.vip", ""); /* removing what is not there is fine */
	CHECK_INT(r.ngroup_mults, 0);

	/* Kept in name order, whatever the order they came in. */
	SET_OK(&r, "multiplier.tier.silver", "1.25");
	SET_OK(&r, "multiplier.tier.gold", "1.5");
	SET_OK(&r, "multiplier.tier.platinum", "2");
	CHECK_INT(r.ntier_mults, 3);
	CHECK(memcmp(r.tier_mults[0].name.text, "gold", 4) == 0);
	CHECK(memcmp(r.tier_mults[1].name.text, "platinum", 8) == 0);
	CHECK(memcmp(r.tier_mults[2].name.text, "silver", 6) == 0);
	CHECK_INT(r.tier_mults[2].mult, 12500);
	/* Groups and tiers are apart: a group named gold is another thing. */
	SET_OK(&r, "multiplier.group.gold", "3");
	CHECK_INT(r.ntier_mults, 3);
	CHECK_INT(r.ngroup_mults, 1);

	/* A name at the limit, and one over. */
	snprintf(key, sizeof key, "multiplier.group.%s", name_of(name, RULES_MAX_NAME, 9));
	SET_OK(&r, key, "2");
	snprintf(key, sizeof key, "multiplier.group.%s", name_of(name, RULES_MAX_NAME + 1, 9));
	SET_KEY(&r, key, "2");

	/* RULES_MAX_MULT of them, then full; replacing or removing still works at full. */
	rules_init_default(&r);
	for (int i = 0; i < RULES_MAX_MULT; i++) {
		snprintf(key, sizeof key, "multiplier.group.g%02d", i);
		SET_OK(&r, key, "2");
	}
	CHECK_INT(r.ngroup_mults, RULES_MAX_MULT);
	SET_FULL(&r, "multiplier.group.one-more", "2");
	SET_OK(&r, "multiplier.group.g07", "3");
	SET_OK(&r, "multiplier.group.g00", "");
	CHECK_INT(r.ngroup_mults, RULES_MAX_MULT - 1);
	SET_OK(&r, "multiplier.group.one-more", "2");
	CHECK_INT(r.ngroup_mults, RULES_MAX_MULT);
	/* Tiers have their own RULES_MAX_MULT. */
	SET_OK(&r, "multiplier.tier.gold", "2");
}

static void test_set_promos(void)
{
	static struct rules r;
	char key[120], value[RULES_MAX_LIST * 8 + 80];

	rules_init_default(&r);
	SET_OK(&r, "promo.xmas", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z vip,staff");
	REQUIRE(r.npromos == 1);
	CHECK_INT(r.promos[0].mult, 20000);
	CHECK_INT(r.promos[0].start_us, DEC_1);
	CHECK_INT(r.promos[0].end_us, DEC_25);
	CHECK_INT(r.promos[0].groups.n, 2);
	CHECK(memcmp(r.promos[0].groups.item[1].text, "staff", 5) == 0);
	/* Blanks between the fields, and in the group list, are free. */
	SET_OK(&r, "promo.xmas", "  1.5\t2026-12-01T00:00:00Z   2026-12-25T00:00:00Z  vip , staff  ");
	CHECK_INT(r.npromos, 1);
	CHECK_INT(r.promos[0].mult, 15000);
	CHECK_INT(r.promos[0].groups.n, 2);
	SET_OK(&r, "promo.xmas", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	CHECK_INT(r.promos[0].groups.n, 0); /* for everyone */

	/* The end must be after the start: one second after is enough. */
	SET_OK(&r, "promo.flash", "3 2026-12-01T00:00:00Z 2026-12-01T00:00:01Z");
	SET_VALUE(&r, "promo.flash", "3 2026-12-01T00:00:00Z 2026-12-01T00:00:00Z");
	SET_VALUE(&r, "promo.flash", "3 2026-12-25T00:00:00Z 2026-12-01T00:00:00Z");
	SET_VALUE(&r, "promo.flash", "3 2026-12-01T00:00:00Z");
	SET_VALUE(&r, "promo.flash", "3");
	SET_VALUE(&r, "promo.flash", "2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	SET_VALUE(&r, "promo.flash", "0 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	SET_VALUE(&r, "promo.flash", "101 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	SET_VALUE(&r, "promo.flash", "2 2026-12-01 2026-12-25");
	SET_VALUE(&r, "promo.flash", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00");
	SET_VALUE(&r, "promo.flash", "2 2026-12-01T00:00:00Z 2026-12-32T00:00:00Z");
	SET_VALUE(&r, "promo.flash", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z vip staff");
	SET_VALUE(&r, "promo.flash", "2,2026-12-01T00:00:00Z,2026-12-25T00:00:00Z");
	CHECK_INT(r.npromos, 2);
	CHECK_INT(r.promos[0].mult, 30000); /* flash, first by name, still as set */
	/* Names sort: flash < xmas. */
	CHECK(memcmp(r.promos[0].name.text, "flash", 5) == 0);
	CHECK(memcmp(r.promos[1].name.text, "xmas", 4) == 0);

	/* A promotion's group list holds RULES_MAX_LIST groups. */
	strcpy(value, "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z ");
	for (int i = 0; i < RULES_MAX_LIST; i++) {
		snprintf(key, sizeof key, "g%d,", i);
		strcat(value, key);
	}
	SET_OK(&r, "promo.xmas", value);
	CHECK_INT(r.promos[1].groups.n, RULES_MAX_LIST);
	strcat(value, "extra");
	SET_FULL(&r, "promo.xmas", value);

	/* "" removes; removing what is not there is fine. */
	SET_OK(&r, "promo.flash", "");
	CHECK_INT(r.npromos, 1);
	CHECK(memcmp(r.promos[0].name.text, "xmas", 4) == 0);
	SET_OK(&r, "promo.flash", "");
	CHECK_INT(r.npromos, 1);

	/* RULES_MAX_PROMOS, then full. */
	rules_init_default(&r);
	for (int i = 0; i < RULES_MAX_PROMOS; i++) {
		snprintf(key, sizeof key, "promo.p%02d", i);
		SET_OK(&r, key, "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	}
	SET_FULL(&r, "promo.more", "2 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	SET_OK(&r, "promo.p03", "3 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z");
	SET_OK(&r, "promo.more", ""); /* removing an absent one at full is not an error */
	CHECK_INT(r.npromos, RULES_MAX_PROMOS);
}

/* ---- rules_each ---- */

#define MAX_PAIRS 200

struct pairs {
	int n, stop_at;
	char key[MAX_PAIRS][128];
	char value[MAX_PAIRS][2600];
};

static int collect(void *ctx, const char *key, const char *value)
{
	struct pairs *p = ctx;

	REQUIRE(p->n < MAX_PAIRS && strlen(key) < sizeof p->key[0] && strlen(value) < sizeof p->value[0]);
	strcpy(p->key[p->n], key);
	strcpy(p->value[p->n], value);
	p->n++;
	return p->n == p->stop_at ? 7 : 0;
}

static const char *value_of(const struct pairs *p, const char *key)
{
	for (int i = 0; i < p->n; i++)
		if (strcmp(p->key[i], key) == 0)
			return p->value[i];
	return "(missing)";
}

/* Every pair rules_each gave, applied to fresh defaults, rebuilds r exactly. */
static void check_round_trip(const struct rules *r, struct pairs *p, int line_no)
{
	static struct rules again;
	int failures = 0;

	memset(p, 0, sizeof *p);
	CHECK_INT(rules_each(r, collect, p), 0);
	rules_init_default(&again);
	for (int i = 0; i < p->n; i++) {
		if (set(&again, p->key[i], p->value[i]) != RULES_OK) {
			fprintf(stderr, "line %d: re-applying %s=\"%s\": %s\n", line_no, p->key[i], p->value[i], last_err);
			failures++;
		}
	}
	CHECK_INT(failures, 0);
	if (memcmp(&again, r, sizeof again) != 0)
		fprintf(stderr, "line %d: the canonical settings do not rebuild the program\n", line_no);
	CHECK(memcmp(&again, r, sizeof again) == 0);
}

static void test_each(void)
{
	static const char *const defaults[][2] = {
		{"unit", "points"},
		{"earn.points", "1"},
		{"earn.per", "1.00"},
		{"earn.rounding", "down"},
		{"earn.min_spend", "0.00"},
		{"exclude.categories", ""},
		{"exclude.skus", ""},
		{"stamps.per_visit", "1"},
		{"stamps.per_item", "0"},
		{"stamps.categories", ""},
		{"returns.below_zero", "allow"},
		{"guests", "refuse"},
		{"sale.max_amount", "1000000.00"},
		{"phone.country", ""},
		{"locations", ""},
	};
	static struct rules r;
	static struct pairs p;
	char key[120], value[2600], name[80];
	size_t ndefaults = sizeof defaults / sizeof defaults[0];
	int longest_key = 0, longest_value = 0;

	rules_init_default(&r);
	memset(&p, 0, sizeof p);
	CHECK_INT(rules_each(&r, collect, &p), 0);
	CHECK_INT(p.n, ndefaults);
	for (size_t i = 0; i < ndefaults && i < (size_t)p.n; i++) {
		CHECK_STR(p.key[i], defaults[i][0]);
		CHECK_STR(p.value[i], defaults[i][1]);
	}
	check_round_trip(&r, &p, __LINE__);

	/* fn's non-zero value stops the walk and is returned. */
	memset(&p, 0, sizeof p);
	p.stop_at = 3;
	CHECK_INT(rules_each(&r, collect, &p), 7);
	CHECK_INT(p.n, 3);

	/* Canonical forms. */
	must_set(&r, "unit", " stamps ");
	must_set(&r, "earn.points", "007");
	must_set(&r, "earn.per", "12.3");
	must_set(&r, "earn.rounding", "nearest");
	must_set(&r, "earn.min_spend", "5");
	must_set(&r, "exclude.categories", " tobacco , gifts,,tobacco ");
	must_set(&r, "exclude.skus", "A-1");
	must_set(&r, "stamps.per_visit", "0");
	must_set(&r, "stamps.per_item", "2");
	must_set(&r, "stamps.categories", "coffee");
	must_set(&r, "returns.below_zero", "stop");
	must_set(&r, "guests", "record");
	must_set(&r, "multiplier.group.vip", "2.00");
	must_set(&r, "multiplier.group.half", "0.50");
	must_set(&r, "multiplier.tier.gold", "1.50");
	must_set(&r, "multiplier.tier.silver", "1.05");
	must_set(&r, "promo.xmas", "  2.5  2026-12-01T00:00:00Z 2026-12-25T00:00:00Z vip , staff ");
	must_set(&r, "promo.leap", "1.1 2028-02-29T00:00:00Z 2028-03-01T00:00:00Z");
	memset(&p, 0, sizeof p);
	CHECK_INT(rules_each(&r, collect, &p), 0);
	CHECK_INT(p.n, (int)ndefaults + 6);
	CHECK_STR(value_of(&p, "unit"), "stamps");
	CHECK_STR(value_of(&p, "earn.points"), "7");
	CHECK_STR(value_of(&p, "earn.per"), "12.30");
	CHECK_STR(value_of(&p, "earn.rounding"), "nearest");
	CHECK_STR(value_of(&p, "earn.min_spend"), "5.00");
	CHECK_STR(value_of(&p, "exclude.categories"), "tobacco,gifts");
	CHECK_STR(value_of(&p, "stamps.categories"), "coffee");
	CHECK_STR(value_of(&p, "returns.below_zero"), "stop");
	CHECK_STR(value_of(&p, "guests"), "record");
	CHECK_STR(value_of(&p, "multiplier.group.vip"), "2");
	CHECK_STR(value_of(&p, "multiplier.group.half"), "0.5");
	CHECK_STR(value_of(&p, "multiplier.tier.gold"), "1.5");
	CHECK_STR(value_of(&p, "multiplier.tier.silver"), "1.05");
	CHECK_STR(value_of(&p, "promo.xmas"), "2.5 2026-12-01T00:00:00Z 2026-12-25T00:00:00Z vip,staff");
	CHECK_STR(value_of(&p, "promo.leap"), "1.1 2028-02-29T00:00:00Z 2028-03-01T00:00:00Z");
	/* The fixed keys, then groups, tiers and promotions, each by name. */
	CHECK_STR(p.key[ndefaults + 0], "multiplier.group.half");
	CHECK_STR(p.key[ndefaults + 1], "multiplier.group.vip");
	CHECK_STR(p.key[ndefaults + 2], "multiplier.tier.gold");
	CHECK_STR(p.key[ndefaults + 3], "multiplier.tier.silver");
	CHECK_STR(p.key[ndefaults + 4], "promo.leap");
	CHECK_STR(p.key[ndefaults + 5], "promo.xmas");
	check_round_trip(&r, &p, __LINE__);

	/* Removing brings back what was there before it was added. */
	must_set(&r, "promo.leap", "");
	must_set(&r, "multiplier.group.half", "");
	check_round_trip(&r, &p, __LINE__);
	CHECK_INT(p.n, (int)ndefaults + 4);

	/* Everything at its limits, in a scrambled order of arrival: still
	 * round-trips, and every setting fits the journal's limits
	 * (PROTO_MAX_SETTING_KEY 100, PROTO_MAX_SETTING_VALUE 2500). */
	rules_init_default(&r);
	value[0] = '\0';
	for (int i = 0; i < RULES_MAX_LIST; i++) {
		strcat(value, name_of(name, RULES_MAX_NAME, (i * 7) % RULES_MAX_LIST));
		strcat(value, ",");
	}
	must_set(&r, "exclude.categories", value);
	must_set(&r, "exclude.skus", value);
	must_set(&r, "stamps.categories", value);
	for (int i = 0; i < RULES_MAX_MULT; i++) {
		int k = (i * 13) % RULES_MAX_MULT;
		snprintf(key, sizeof key, "multiplier.group.%s", name_of(name, RULES_MAX_NAME, k));
		must_set(&r, key, k % 2 ? "99.99" : "0.01");
		snprintf(key, sizeof key, "multiplier.tier.%s", name_of(name, RULES_MAX_NAME, k));
		must_set(&r, key, "1.01");
	}
	{
		char promo[2700];
		strcpy(promo, "99.99 2026-12-01T23:59:59Z 9999-12-31T23:59:59Z ");
		strcat(promo, value);
		for (int i = 0; i < RULES_MAX_PROMOS; i++) {
			snprintf(key, sizeof key, "promo.%s", name_of(name, RULES_MAX_NAME, (i * 5) % RULES_MAX_PROMOS));
			must_set(&r, key, promo);
		}
	}
	check_round_trip(&r, &p, __LINE__);
	CHECK_INT(p.n, (int)ndefaults + 2 * RULES_MAX_MULT + RULES_MAX_PROMOS);
	for (int i = 0; i < p.n; i++) {
		if ((int)strlen(p.key[i]) > longest_key)
			longest_key = (int)strlen(p.key[i]);
		if ((int)strlen(p.value[i]) > longest_value)
			longest_value = (int)strlen(p.value[i]);
	}
	CHECK(longest_key <= 100);
	CHECK(longest_value <= 2500);
	/* The longest is a promotion: "99.99 " + 2 times + 2 spaces + 32 names of 64 and 31 commas. */
	CHECK_INT(longest_value, 6 + 20 + 1 + 20 + 1 + RULES_MAX_LIST * RULES_MAX_NAME + RULES_MAX_LIST - 1);
}

/* ---- the simple callers ---- */

static void test_points_for_sale(void)
{
	static struct rules r;
	int64_t p = -1, s;

	rules_init_default(&r);
	CHECK_INT(rules_points_for_sale(&r, 0, &p), RULES_OK);
	CHECK_INT(p, 0);
	CHECK_INT(rules_points_for_sale(&r, 99, &p), RULES_OK);
	CHECK_INT(p, 0);
	CHECK_INT(rules_points_for_sale(&r, 100, &p), RULES_OK);
	CHECK_INT(p, 1);
	CHECK_INT(rules_points_for_sale(&r, 1299, &p), RULES_OK);
	CHECK_INT(p, 12);
	CHECK_INT(rules_points_for_sale(&r, INT64_MAX, &p), RULES_OK);
	CHECK_INT(p, INT64_MAX / 100);
	p = 77;
	CHECK_INT(rules_points_for_sale(&r, -1, &p), RULES_E_RANGE);
	CHECK_INT(p, 77);

	/* 5 points per 1.00: the product would overflow 64 bits before the division. */
	r.earn_points = 5;
	r.earn_per = 100;
	CHECK_INT(rules_points_for_sale(&r, INT64_MAX, &p), RULES_OK);
	CHECK_INT(p, (int64_t)(((u128)INT64_MAX * 5) / 100));
	CHECK_INT(rules_points_for_sale(&r, 1999, &p), RULES_OK);
	CHECK_INT(p, 99);

	/* A rate that would give more than INT64_MAX points is refused, not wrapped. */
	r.earn_points = 1000;
	r.earn_per = 1;
	CHECK_INT(rules_points_for_sale(&r, INT64_MAX / 10, &p), RULES_E_RANGE);
	r.earn_per = 0;
	CHECK_INT(rules_points_for_sale(&r, 5, &p), RULES_E_RANGE);
	/* rules_earn refuses a struct with an impossible rate rather than divide by zero. */
	{
		struct rules_customer c = member("");
		CHECK_INT(rules_earn(&r, &c, NOW, 100, NULL, 0, &out), RULES_E_RANGE);
	}

	CHECK_INT(rules_add(INT64_MAX - 1, 1, &s), RULES_OK);
	CHECK_INT(s, INT64_MAX);
	CHECK_INT(rules_add(INT64_MAX, 1, &s), RULES_E_RANGE);
	CHECK_INT(rules_add(INT64_MIN, -1, &s), RULES_E_RANGE);
	CHECK_INT(rules_add(-5, 3, &s), RULES_OK);
	CHECK_INT(s, -2);
}

/* Issue 11: the cap on one sale and the country of phone numbers without '+'. */
static void test_set_sale_and_phone(void)
{
	static struct rules r;
	static struct pairs p;

	rules_init_default(&r);
	CHECK_INT(r.sale_max_amount, 100000000);
	CHECK_INT(r.phone_country, 0);
	SET_OK(&r, "sale.max_amount", "250.50");
	CHECK_INT(r.sale_max_amount, 25050);
	SET_VALUE(&r, "sale.max_amount", "0");
	SET_VALUE(&r, "sale.max_amount", "-5");
	SET_VALUE(&r, "sale.max_amount", "1e6");
	SET_VALUE(&r, "sale.max_amount", "92233720368547758.07");
	SET_VALUE(&r, "sale.max_amount", "1000000000.01");
	CHECK_INT(r.sale_max_amount, 25050);
	SET_OK(&r, "sale.max_amount", "1000000000.00");
	CHECK_INT(r.sale_max_amount, 100000000000LL);
	SET_OK(&r, "sale.max_amount", "");
	CHECK_INT(r.sale_max_amount, 100000000);

	SET_OK(&r, "phone.country", "44");
	CHECK_INT(r.phone_country, 44);
	SET_OK(&r, "phone.country", " +1 ");
	CHECK_INT(r.phone_country, 1);
	SET_VALUE(&r, "phone.country", "0");
	SET_VALUE(&r, "phone.country", "044");
	SET_VALUE(&r, "phone.country", "1000");
	SET_VALUE(&r, "phone.country", "+");
	SET_VALUE(&r, "phone.country", "UK");
	CHECK_INT(r.phone_country, 1);
	/* Listed as written back: "1", and "" once it is unset again. */
	memset(&p, 0, sizeof p);
	CHECK_INT(rules_each(&r, collect, &p), 0);
	for (int i = 0; i < p.n; i++)
		if (strcmp(p.key[i], "phone.country") == 0)
			CHECK_STR(p.value[i], "1");
	SET_OK(&r, "phone.country", "");
	CHECK_INT(r.phone_country, 0);
}

int main(void)
{
	test_money_parse();
	test_time_parse();
	test_rounding();
	test_lines();
	test_stamps();
	test_multipliers();
	test_shares();
	test_shares_property();
	test_guests();
	test_overflow();
	test_take_back();
	test_set_fixed();
	test_set_lists();
	test_set_mults();
	test_set_promos();
	test_each();
	test_points_for_sale();
	test_set_sale_and_phone();
	return check_done("unit_rules");
}
