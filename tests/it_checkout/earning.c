/*
 * earning.c - the sections of it_checkout on earning (see it_checkout.c):
 * the earning rules, stamps, multipliers and quotes.
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

/* ---- 1. earning rules ---------------------------------------------------- */

void test_earning(void)
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

void test_stamps(void)
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

uint64_t m_gold, m_both;
static uint64_t m_vip, m_promo;

void test_multipliers(void)
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

void test_quote(void)
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

