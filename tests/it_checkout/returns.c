/*
 * returns.c - the sections of it_checkout on what follows a sale (see
 * it_checkout.c): returns, guests and batched accrual, and the replay of
 * their request keys that the durability section asks for.
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

#define BATCH_N 300
#define BATCH_CUSTOMERS 10

/* ---- 5. returns ------------------------------------------------------------ */

static uint8_t return_key[ACCRUE_KEY_SIZE]; /* replayed after the restarts */
static struct accrue_return_result return_first;

void test_returns(void)
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
			/* The program's rule explains it to staff; the customer's column stays empty. */
			CHECK(strstr(e->detail, "below zero") != NULL);
			if (!strstr(e->detail, "below zero"))
				fprintf(stderr, "    detail was \"%s\"\n", e->detail);
			CHECK_STR(e->comment, "");
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
			CHECK(strstr(hist[0].detail, "shortfall 5") != NULL);
			CHECK_STR(hist[0].comment, "");
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

uint64_t guest_id, guest2_id;

void test_guests(void)
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

void test_batch(void)
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

/* Request keys outlive the daemon: the return and the batch replay, applying nothing. */
void check_keys_replay(const char *when)
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
