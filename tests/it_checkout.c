/*
 * it_checkout.c - checkout as a store manager sees it: what sales, returns,
 * quotes and batches do to balances, driven through libaccrue against the
 * real accrued (harness.c) with real LMDB.
 *
 * server/rules.h is the specification; every expected number is worked
 * out by hand from it in a comment beside the check. The sections live in
 * it_checkout/ (earning.c, returns.c; checkout.h says what they share); this
 * file runs them in order and then the durability section, which compares
 * everything they left across restarts. The program's
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
#include "checkout.h"

/* How many lines of each order the durability snapshot keeps. */
#define DIGEST_LINES 8

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
