/*
 * it_client.c - the daemon as a POS integration sees it, through libaccrue.
 *
 * One real accrued on a loopback port with a fresh data directory (harness.c)
 * and real LMDB; nothing is mocked. In order:
 *
 *   auth        a wrong API key gets AUTH; admin.key is private (0600).
 *   enrol       email lower-cased, phone reduced to '+' and digits; a taken
 *               email or phone is CONFLICT naming the field and applies
 *               nothing; neither is BAD_REQUEST; an enrol replays by key.
 *   lookup      by id, email and phone.
 *   accrue      floor(amount / 100) points; visits, total and average spend,
 *               last visit; an order id once per location; bad amounts.
 *   adjust      add and use; using more than the balance is INSUFFICIENT
 *               with the balance in the message, and applies nothing.
 *   history     newest first, balance_after chained, paging.
 *   replay      the same request key twice applies once; another body under
 *               the same key is KEY_REUSED.
 *   keys        terminal and read-only keys can do exactly what their role
 *               allows; key list; a revoked key cannot connect.
 *   raw frames  request before HELLO, unknown opcode, pipelining, bad
 *               checksum, bad magic, oversized length: each gets the
 *               documented answer and the daemon keeps serving others.
 *   lock        a second daemon on the same data directory refuses to start
 *               while the first keeps serving.
 *   durability  after SIGINT + restart and after SIGKILL + restart, every
 *               customer, history entry and key is the same and request keys
 *               are still recognised.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "proto.h"
#include "raw.h"

#define MAX_CUSTOMERS 16
#define MAX_ENTRIES 256

static struct harness h;

/* ---- helpers --------------------------------------------------------- */

static void check_same_customer(const char *what, const struct accrue_customer *x, const struct accrue_customer *y)
{
	int before = check_failures;
	CHECK_INT(x->id, y->id);
	CHECK_STR(x->email, y->email);
	CHECK_STR(x->phone, y->phone);
	CHECK_STR(x->first_name, y->first_name);
	CHECK_STR(x->last_name, y->last_name);
	CHECK_INT(x->balance, y->balance);
	CHECK_INT(x->lifetime_points, y->lifetime_points);
	CHECK_INT(x->visits, y->visits);
	CHECK_INT(x->total_spend, y->total_spend);
	CHECK_INT(x->average_spend, y->average_spend);
	CHECK_INT(x->created_us, y->created_us);
	CHECK_INT(x->last_visit_us, y->last_visit_us);
	if (check_failures != before)
		fprintf(stderr, "    (customer #%llu differs: %s)\n", (unsigned long long)x->id, what);
}

static void check_same_entry(const char *what, const struct accrue_entry *x, const struct accrue_entry *y)
{
	int before = check_failures;
	CHECK_INT(x->seq, y->seq);
	CHECK_INT(x->type, y->type);
	CHECK_INT(x->time_us, y->time_us);
	CHECK_INT(x->points, y->points);
	CHECK_INT(x->balance_after, y->balance_after);
	CHECK_INT(x->amount, y->amount);
	CHECK_STR(x->location, y->location);
	CHECK_STR(x->order_id, y->order_id);
	CHECK_STR(x->reason, y->reason);
	CHECK_STR(x->comment, y->comment);
	CHECK_STR(x->detail, y->detail);
	if (check_failures != before)
		fprintf(stderr, "    (history entry seq %llu differs: %s)\n", (unsigned long long)x->seq, what);
}

/* The whole history of a customer, newest first, paged page entries at a time. */
static int full_history(accrue *a, uint64_t id, uint32_t page, struct accrue_entry *out, uint32_t cap, uint32_t *n)
{
	struct accrue_ref ref = by_id(id);
	uint64_t before = 0;
	*n = 0;
	for (int pages = 0; pages < 1000; pages++) {
		uint32_t got = 0;
		uint64_t next = 0;
		uint32_t want = page < cap - *n ? page : cap - *n;
		if (want == 0)
			return -1;
		int rc = accrue_history(a, &ref, before, out + *n, want, &got, &next);
		if (rc != 0) {
			fprintf(stderr, "    history #%llu: %s: %s\n", (unsigned long long)id, accrue_strerror(rc),
				accrue_message(a));
			return rc;
		}
		*n += got;
		if (next == 0)
			return 0;
		if (got == 0) {
			fprintf(stderr, "    history #%llu: empty page with next_before %llu\n", (unsigned long long)id,
				(unsigned long long)next);
			return -1;
		}
		before = next;
	}
	return -1;
}

/* ---- the sections ---------------------------------------------------- */

/* Customers made by test_enrol and used by everything after it. */
static struct accrue_customer alice, bob, carol, dave, erin;
static uint8_t erin_key[ACCRUE_KEY_SIZE]; /* the request key that enrolled erin */

static void test_auth(void)
{
	struct stat st;
	CHECK(stat(h.key_file, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	/* At least 128 bits, however it is encoded. */
	CHECK(strlen(h.admin_key) >= 22);

	accrue *a = (accrue *)1;
	CHECK_INT(accrue_connect(h.addr, "not-a-real-key", &a), ACCRUE_ST_AUTH);
	CHECK(a == NULL);

	/* The admin key with its last character changed. */
	char wrong[sizeof h.admin_key];
	snprintf(wrong, sizeof wrong, "%s", h.admin_key);
	size_t n = strlen(wrong);
	wrong[n - 1] = wrong[n - 1] == 'A' ? 'B' : 'A';
	char msg[256] = "";
	a = NULL;
	CHECK_INT(accrue_connect_message(h.addr, wrong, &a, msg, sizeof msg), ACCRUE_ST_AUTH);
	CHECK(a == NULL);

	CHECK_INT(harness_connect(&h, &a), 0);
	REQUIRE(a != NULL);
	CHECK_INT(accrue_role(a), ACCRUE_ROLE_ADMIN);
	accrue_close(a);
}

static void test_enrol(accrue *a)
{
	int64_t now = wall_us();
	int replay = -1;

	CHECK_RC(a, accrue_enrol(a, NULL, "Alice.Smith@Example.COM", "+1 (555) 010-2000", "Alice", "Smith", &alice,
				 &replay), 0);
	CHECK_INT(replay, 0);
	CHECK(alice.id != 0);
	CHECK_STR(alice.email, "alice.smith@example.com");
	CHECK_STR(alice.phone, "+15550102000");
	CHECK_STR(alice.first_name, "Alice");
	CHECK_STR(alice.last_name, "Smith");
	CHECK_INT(alice.balance, 0);
	CHECK_INT(alice.lifetime_points, 0);
	CHECK_INT(alice.visits, 0);
	CHECK_INT(alice.total_spend, 0);
	CHECK_INT(alice.average_spend, 0);
	CHECK_INT(alice.last_visit_us, 0);
	CHECK(alice.created_us > now - 300000000LL && alice.created_us < now + 300000000LL);

	/* A phone without '+' is a national number: refused while the program
	 * has no phone.country (issue 11: it used to become "+5550103000"). */
	CHECK_RC(a, accrue_enrol(a, NULL, "bob@example.com", "555 010 3000", "Bob", "Jones", &bob, NULL),
		 ACCRUE_ST_BAD_REQUEST);
	CHECK_MSG_HAS(a, "phone.country");
	CHECK_RC(a, accrue_enrol(a, NULL, "bob@example.com", "+1 555 010 3000", "Bob", "Jones", &bob, NULL), 0);
	CHECK_STR(bob.phone, "+15550103000");
	CHECK_STR(bob.email, "bob@example.com");

	/* Phone only, email only. */
	CHECK_RC(a, accrue_enrol(a, NULL, NULL, "+44 20 7946 0000", "Carol", "", &carol, NULL), 0);
	CHECK_STR(carol.phone, "+442079460000");
	CHECK_STR(carol.email, "");
	CHECK_RC(a, accrue_enrol(a, NULL, "DAVE@example.com", "", "Dave", "", &dave, NULL), 0);
	CHECK_STR(dave.email, "dave@example.com");
	CHECK_STR(dave.phone, "");

	CHECK(alice.id != bob.id && alice.id != carol.id && alice.id != dave.id && bob.id != carol.id &&
	      bob.id != dave.id && carol.id != dave.id);

	/* A taken email, whatever its case: CONFLICT naming the field, and the
	 * new phone must not have been claimed by the refused enrol. */
	struct accrue_customer c;
	CHECK_RC(a, accrue_enrol(a, NULL, "ALICE.smith@example.com", "+1 555 999 0000", "Eve", "X", &c, NULL),
		 ACCRUE_ST_CONFLICT);
	CHECK_MSG_HAS(a, "email");
	struct accrue_ref r = by_text(ACCRUE_REF_PHONE, "+15559990000");
	CHECK_RC(a, accrue_lookup(a, &r, &c), ACCRUE_ST_NOT_FOUND);

	/* A taken phone, written differently. */
	CHECK_RC(a, accrue_enrol(a, NULL, "new@example.com", "+1-555-010-2000", "Eve", "X", &c, NULL),
		 ACCRUE_ST_CONFLICT);
	CHECK_MSG_HAS(a, "phone");
	r = by_text(ACCRUE_REF_EMAIL, "new@example.com");
	CHECK_RC(a, accrue_lookup(a, &r, &c), ACCRUE_ST_NOT_FOUND);

	/* Neither email nor phone. */
	CHECK_RC(a, accrue_enrol(a, NULL, NULL, NULL, "No", "Contact", &c, NULL), ACCRUE_ST_BAD_REQUEST);
	CHECK_RC(a, accrue_enrol(a, NULL, "", "", "No", "Contact", &c, NULL), ACCRUE_ST_BAD_REQUEST);
	/* Malformed: an email without '@', a phone without digits. */
	CHECK_RC(a, accrue_enrol(a, NULL, "not-an-email", NULL, "No", "At", &c, NULL), ACCRUE_ST_BAD_REQUEST);
	CHECK_RC(a, accrue_enrol(a, NULL, NULL, "call me", "No", "Digits", &c, NULL), ACCRUE_ST_BAD_REQUEST);

	/* An enrol retried with its key returns the same customer, no CONFLICT. */
	uint8_t *key = erin_key;
	new_key(key);
	CHECK_RC(a, accrue_enrol(a, key, "erin@example.com", NULL, "Erin", "Ng", &erin, &replay), 0);
	CHECK_INT(replay, 0);
	struct accrue_customer again;
	replay = -1;
	CHECK_RC(a, accrue_enrol(a, key, "erin@example.com", NULL, "Erin", "Ng", &again, &replay), 0);
	CHECK_INT(replay, 1);
	CHECK_INT(again.id, erin.id);
	CHECK_STR(again.email, "erin@example.com");
	CHECK_RC(a, accrue_enrol(a, key, "erin2@example.com", NULL, "Erin", "Ng", &again, &replay),
		 ACCRUE_ST_KEY_REUSED);
	r = by_text(ACCRUE_REF_EMAIL, "erin2@example.com");
	CHECK_RC(a, accrue_lookup(a, &r, &c), ACCRUE_ST_NOT_FOUND);
}

static void test_lookup(accrue *a)
{
	struct accrue_customer c;
	struct accrue_ref r = by_id(alice.id);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	check_same_customer("lookup by id", &c, &alice);

	r = by_text(ACCRUE_REF_EMAIL, "alice.smith@example.com");
	memset(&c, 0, sizeof c);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.id, alice.id);

	r = by_text(ACCRUE_REF_PHONE, "+15550102000");
	memset(&c, 0, sizeof c);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.id, alice.id);

	/* People type references the way they say them: the lookup normalises
	 * like enrol does. */
	r = by_text(ACCRUE_REF_EMAIL, "Alice.Smith@EXAMPLE.com");
	memset(&c, 0, sizeof c);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.id, alice.id);
	r = by_text(ACCRUE_REF_PHONE, "+1 (555) 010-2000");
	memset(&c, 0, sizeof c);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.id, alice.id);

	/* Through the library's reference parser, as accruectl does it. */
	char text[64];
	snprintf(text, sizeof text, "#%llu", (unsigned long long)bob.id);
	CHECK_INT(accrue_ref_parse(text, &r), 0);
	CHECK_INT(r.kind, ACCRUE_REF_ID);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.id, bob.id);
	CHECK_INT(accrue_ref_parse("bob@example.com", &r), 0);
	CHECK_INT(r.kind, ACCRUE_REF_EMAIL);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.id, bob.id);
	CHECK_INT(accrue_ref_parse("+442079460000", &r), 0);
	CHECK_INT(r.kind, ACCRUE_REF_PHONE);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.id, carol.id);

	/* accruectl sees the same customer (harness_ctl runs the real binary). */
	char out[4096], err[1024], ref_text[32];
	snprintf(ref_text, sizeof ref_text, "#%llu", (unsigned long long)alice.id);
	int code = harness_ctl(&h, out, sizeof out, err, sizeof err, "--json", "show", ref_text, NULL);
	CHECK_INT(code, 0);
	CHECK(strstr(out, "\"email\":\"alice.smith@example.com\"") != NULL);
	CHECK(strstr(out, "\"phone\":\"+15550102000\"") != NULL);
	CHECK(strstr(out, "\"balance\":0,") != NULL);
	if (code != 0 || !strstr(out, "alice.smith@example.com"))
		fprintf(stderr, "    accruectl --json show %s: exit %d\n    stdout: %s\n    stderr: %s\n", ref_text, code,
			out, err);
	code = harness_ctl(&h, out, sizeof out, err, sizeof err, "show", "nobody@example.com", NULL);
	CHECK_INT(code, 1);

	r = by_id(999999999);
	CHECK_RC(a, accrue_lookup(a, &r, &c), ACCRUE_ST_NOT_FOUND);
	r = by_text(ACCRUE_REF_EMAIL, "nobody@example.com");
	CHECK_RC(a, accrue_lookup(a, &r, &c), ACCRUE_ST_NOT_FOUND);
	r = by_text(ACCRUE_REF_PHONE, "+19999999999");
	CHECK_RC(a, accrue_lookup(a, &r, &c), ACCRUE_ST_NOT_FOUND);
}

static void test_accrue(accrue *a)
{
	struct accrue_ref r = by_id(alice.id);
	struct accrue_result res;
	int64_t t0 = wall_us();

	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-1", "o-1", 1299, &res), 0);
	CHECK_INT(res.points, 12);
	CHECK_INT(res.replay, 0);
	CHECK(res.seq > 0);
	CHECK_INT(res.customer.id, alice.id);
	CHECK_INT(res.customer.balance, 12);
	CHECK_INT(res.customer.lifetime_points, 12);
	CHECK_INT(res.customer.visits, 1);
	CHECK_INT(res.customer.total_spend, 1299);
	CHECK_INT(res.customer.average_spend, 1299);
	CHECK(res.customer.last_visit_us >= alice.created_us);
	CHECK(res.customer.last_visit_us > t0 - 300000000LL && res.customer.last_visit_us < t0 + 300000000LL);
	uint64_t seq1 = res.seq;

	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-1", "o-2", 99, &res), 0);
	CHECK_INT(res.points, 0);
	CHECK_INT(res.customer.balance, 12);
	CHECK_INT(res.customer.visits, 2);
	CHECK_INT(res.customer.total_spend, 1398);
	CHECK_INT(res.customer.average_spend, 699);
	CHECK(res.seq > seq1);
	uint64_t seq2 = res.seq;

	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-1", "o-3", 100, &res), 0);
	CHECK_INT(res.points, 1);
	CHECK_INT(res.customer.balance, 13);
	CHECK_INT(res.customer.lifetime_points, 13);
	CHECK_INT(res.customer.visits, 3);
	CHECK_INT(res.customer.total_spend, 1498);
	CHECK_INT(res.customer.average_spend, 499);
	CHECK(res.seq > seq2);
	int64_t last_visit = res.customer.last_visit_us;

	struct accrue_customer c;
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 13);
	CHECK_INT(c.lifetime_points, 13);
	CHECK_INT(c.visits, 3);
	CHECK_INT(c.total_spend, 1498);
	CHECK_INT(c.average_spend, 499);
	CHECK_INT(c.last_visit_us, last_visit);

	/* The same receipt again at the same store: refused, nothing changes. */
	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-1", "o-1", 500, &res), ACCRUE_ST_DUPLICATE_ORDER);
	/* ... also when presented for another customer. */
	struct accrue_ref rb = by_id(bob.id);
	CHECK_RC(a, accrue_accrue(a, NULL, &rb, "store-1", "o-1", 500, &res), ACCRUE_ST_DUPLICATE_ORDER);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 13);
	CHECK_INT(c.visits, 3);
	CHECK_INT(c.total_spend, 1498);
	CHECK_RC(a, accrue_lookup(a, &rb, &c), 0);
	CHECK_INT(c.balance, 0);
	CHECK_INT(c.visits, 0);

	/* The same order id at another store is another sale. */
	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-2", "o-1", 500, &res), 0);
	CHECK_INT(res.points, 5);
	CHECK_INT(res.customer.balance, 18);
	CHECK_INT(res.customer.visits, 4);
	CHECK_INT(res.customer.total_spend, 1998);
	CHECK_INT(res.customer.average_spend, 499);

	/* Amounts must be positive; an unknown customer is NOT_FOUND. */
	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-1", "bad-0", 0, &res), ACCRUE_ST_RANGE);
	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-1", "bad-neg", -100, &res), ACCRUE_ST_RANGE);
	/* The admin key has no location of its own: a sale that names none is
	 * booked at the location "default" (PROTOCOL.md, ACCRUE), and an
	 * empty location means the same as none. On a customer of its own, so
	 * the figures checked below stay undisturbed. */
	struct accrue_customer frank;
	struct accrue_entry fe[4];
	uint32_t fn = 0;
	uint64_t fnext = 0;
	CHECK_RC(a, accrue_enrol(a, NULL, "frank@example.com", NULL, "Frank", "Nolocation", &frank, NULL), 0);
	struct accrue_ref rf = by_id(frank.id);
	CHECK_RC(a, accrue_accrue(a, NULL, &rf, NULL, "no-location-1", 1000, &res), 0);
	CHECK_INT(res.points, 10);
	CHECK_RC(a, accrue_accrue(a, NULL, &rf, "", "no-location-1", 1000, &res), ACCRUE_ST_DUPLICATE_ORDER);
	CHECK_RC(a, accrue_accrue(a, NULL, &rf, "default", "no-location-1", 1000, &res), ACCRUE_ST_DUPLICATE_ORDER);
	CHECK_RC(a, accrue_history(a, &rf, 0, fe, 4, &fn, &fnext), 0);
	REQUIRE(fn == 2);
	CHECK_STR(fe[0].location, "default");
	CHECK_STR(fe[0].order_id, "no-location-1");
	CHECK_RC(a, accrue_lookup(a, &rf, &c), 0);
	CHECK_INT(c.balance, 10);
	CHECK_INT(c.visits, 1);
	struct accrue_ref nobody = by_id(999999999);
	CHECK_RC(a, accrue_accrue(a, NULL, &nobody, "store-1", "o-404", 1000, &res), ACCRUE_ST_NOT_FOUND);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 18);
	CHECK_INT(c.visits, 4);
}

static void test_adjust(accrue *a)
{
	struct accrue_ref r = by_id(alice.id);
	struct accrue_result res;
	struct accrue_customer c;

	CHECK_RC(a, accrue_adjust(a, NULL, &r, 50, "goodwill", "Sorry for the wait", &res), 0);
	CHECK_INT(res.points, 50);
	CHECK_INT(res.customer.balance, 68);
	CHECK_INT(res.customer.visits, 4);

	CHECK_RC(a, accrue_adjust(a, NULL, &r, -20, "redeemed coffee", NULL, &res), 0);
	CHECK_INT(res.points, -20);
	CHECK_INT(res.customer.balance, 48);

	/* One point more than there is. */
	CHECK_RC(a, accrue_adjust(a, NULL, &r, -49, "too much", NULL, &res), ACCRUE_ST_INSUFFICIENT);
	CHECK_MSG_HAS(a, "48");
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 48);

	/* Exactly the balance is allowed; give it back afterwards. */
	CHECK_RC(a, accrue_adjust(a, NULL, &r, -48, "all of it", NULL, &res), 0);
	CHECK_INT(res.customer.balance, 0);
	CHECK_RC(a, accrue_adjust(a, NULL, &r, 48, "give back", "Restored", &res), 0);
	CHECK_INT(res.customer.balance, 48);

	CHECK_RC(a, accrue_adjust(a, NULL, &r, 0, "nothing", NULL, &res), ACCRUE_ST_RANGE);
	struct accrue_ref nobody = by_id(999999999);
	CHECK_RC(a, accrue_adjust(a, NULL, &nobody, 5, "x", NULL, &res), ACCRUE_ST_NOT_FOUND);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 48);
}

static void test_history(accrue *a)
{
	static struct accrue_entry all[MAX_ENTRIES];
	uint32_t n = 0;
	uint64_t next = 123;
	struct accrue_ref r = by_id(alice.id);

	CHECK_RC(a, accrue_history(a, &r, 0, all, 1000, &n, &next), 0);
	CHECK_INT(next, 0);
	/* Newest first: +48, -48, -20, +50, o-1@store-2, o-3, o-2, o-1, enrol. */
	REQUIRE(n == 9);
	CHECK_INT(all[0].type, ACCRUE_ENTRY_ADJUST);
	CHECK_INT(all[0].points, 48);
	CHECK_INT(all[0].balance_after, 48);
	CHECK_STR(all[0].reason, "give back");
	CHECK_STR(all[0].comment, "Restored");
	CHECK_INT(all[1].points, -48);
	CHECK_INT(all[1].balance_after, 0);
	CHECK_INT(all[2].type, ACCRUE_ENTRY_ADJUST);
	CHECK_INT(all[2].points, -20);
	CHECK_INT(all[2].balance_after, 48);
	CHECK_STR(all[2].reason, "redeemed coffee");
	CHECK_STR(all[2].comment, "Manual adjustments");
	CHECK_INT(all[3].type, ACCRUE_ENTRY_ADJUST);
	CHECK_INT(all[3].points, 50);
	CHECK_INT(all[3].balance_after, 68);
	CHECK_STR(all[3].reason, "goodwill");
	CHECK_STR(all[3].comment, "Sorry for the wait");
	CHECK_STR(all[3].detail, "");
	CHECK_INT(all[3].amount, 0);

	static const struct {
		const char *order, *location;
		int64_t amount, points, balance_after;
	} sales[4] = {
		{ "o-1", "store-2", 500, 5, 18 },
		{ "o-3", "store-1", 100, 1, 13 },
		{ "o-2", "store-1", 99, 0, 12 },
		{ "o-1", "store-1", 1299, 12, 12 },
	};
	for (int i = 0; i < 4; i++) {
		const struct accrue_entry *e = &all[4 + i];
		CHECK_INT(e->type, ACCRUE_ENTRY_ACCRUE);
		CHECK_STR(e->order_id, sales[i].order);
		CHECK_STR(e->location, sales[i].location);
		CHECK_INT(e->amount, sales[i].amount);
		CHECK_INT(e->points, sales[i].points);
		CHECK_INT(e->balance_after, sales[i].balance_after);
	}
	CHECK_INT(all[8].type, ACCRUE_ENTRY_ENROL);
	CHECK_INT(all[8].balance_after, 0);
	CHECK_INT(all[8].points, 0);
	/* What an enrolment was is staff's detail; nothing lands in the customer's comment. */
	CHECK_STR(all[8].detail, "enrolled as a member");
	CHECK_STR(all[8].reason, "");
	CHECK_STR(all[8].comment, "");

	for (uint32_t i = 0; i + 1 < n; i++) {
		CHECK(all[i].seq > all[i + 1].seq);
		CHECK(all[i].time_us >= all[i + 1].time_us);
		CHECK_INT(all[i].balance_after, all[i + 1].balance_after + all[i].points);
	}

	/* Pages of 2: the same entries, in the same order, then no next page. */
	static struct accrue_entry paged[MAX_ENTRIES];
	uint32_t total = 0;
	CHECK_INT(full_history(a, alice.id, 2, paged, MAX_ENTRIES, &total), 0);
	CHECK_INT(total, n);
	for (uint32_t i = 0; i < n && i < total; i++)
		check_same_entry("paged history", &paged[i], &all[i]);

	/* One page by hand: 4 entries, next_before points past the 4th. */
	uint32_t got = 0;
	CHECK_RC(a, accrue_history(a, &r, 0, paged, 4, &got, &next), 0);
	CHECK_INT(got, 4);
	CHECK(next != 0);
	uint64_t before = next;
	CHECK_RC(a, accrue_history(a, &r, before, paged, 4, &got, &next), 0);
	CHECK_INT(got, 4);
	if (got == 4)
		CHECK_INT(paged[0].seq, all[4].seq);
	CHECK_RC(a, accrue_history(a, &r, next, paged, 4, &got, &next), 0);
	CHECK_INT(got, 1);
	CHECK_INT(next, 0);
	if (got == 1)
		CHECK_INT(paged[0].type, ACCRUE_ENTRY_ENROL);

	struct accrue_ref nobody = by_id(999999999);
	CHECK_RC(a, accrue_history(a, &nobody, 0, paged, 10, &got, &next), ACCRUE_ST_NOT_FOUND);
}

/* Request keys kept for the durability section. */
static uint8_t sale_key[ACCRUE_KEY_SIZE];
static struct accrue_result sale_result;

static void test_replay(accrue *a)
{
	struct accrue_ref r = by_id(bob.id);
	struct accrue_result res, again;
	struct accrue_customer c;

	new_key(sale_key);
	CHECK_RC(a, accrue_accrue(a, sale_key, &r, "store-1", "r-1", 500, &res), 0);
	CHECK_INT(res.replay, 0);
	CHECK_INT(res.points, 5);
	CHECK_INT(res.customer.balance, 5);
	sale_result = res;

	for (int i = 0; i < 2; i++) {
		memset(&again, 0, sizeof again);
		CHECK_RC(a, accrue_accrue(a, sale_key, &r, "store-1", "r-1", 500, &again), 0);
		CHECK_INT(again.replay, 1);
		CHECK_INT(again.points, 5);
		CHECK_INT(again.seq, res.seq);
	}
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 5);
	CHECK_INT(c.visits, 1);
	CHECK_INT(c.total_spend, 500);

	/* The same key with another body, or for another operation. */
	CHECK_RC(a, accrue_accrue(a, sale_key, &r, "store-1", "r-1", 600, &again), ACCRUE_ST_KEY_REUSED);
	CHECK_RC(a, accrue_accrue(a, sale_key, &r, "store-1", "r-2", 500, &again), ACCRUE_ST_KEY_REUSED);
	CHECK_RC(a, accrue_adjust(a, sale_key, &r, 10, "x", NULL, &again), ACCRUE_ST_KEY_REUSED);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 5);
	CHECK_INT(c.visits, 1);

	/* An adjustment replays too. */
	uint8_t key[ACCRUE_KEY_SIZE];
	new_key(key);
	CHECK_RC(a, accrue_adjust(a, key, &r, 10, "welcome", NULL, &res), 0);
	CHECK_INT(res.replay, 0);
	CHECK_INT(res.customer.balance, 15);
	CHECK_RC(a, accrue_adjust(a, key, &r, 10, "welcome", NULL, &again), 0);
	CHECK_INT(again.replay, 1);
	CHECK_INT(again.points, 10);
	CHECK_INT(again.seq, res.seq);
	CHECK_RC(a, accrue_adjust(a, key, &r, 11, "welcome", NULL, &again), ACCRUE_ST_KEY_REUSED);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 15);

	/* History has each change once: enrol, r-1, the adjustment. */
	struct accrue_entry e[8];
	uint32_t n = 0;
	uint64_t next = 0;
	CHECK_RC(a, accrue_history(a, &r, 0, e, 8, &n, &next), 0);
	CHECK_INT(n, 3);

	/* A refused request leaves no trace: the same key and body, tried
	 * again once it can succeed, is applied (not a replay of the refusal). */
	uint8_t use_key[ACCRUE_KEY_SIZE];
	new_key(use_key);
	CHECK_RC(a, accrue_adjust(a, use_key, &r, -20, "voucher", NULL, &res), ACCRUE_ST_INSUFFICIENT);
	CHECK_MSG_HAS(a, "15");
	CHECK_RC(a, accrue_adjust(a, NULL, &r, 10, "top up", NULL, &res), 0);
	CHECK_INT(res.customer.balance, 25);
	memset(&again, 0, sizeof again);
	CHECK_RC(a, accrue_adjust(a, use_key, &r, -20, "voucher", NULL, &again), 0);
	CHECK_INT(again.replay, 0);
	CHECK_INT(again.customer.balance, 5);
	CHECK_RC(a, accrue_adjust(a, use_key, &r, -20, "voucher", NULL, &again), 0);
	CHECK_INT(again.replay, 1);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 5);

	/* An enrol replay shows the customer as they are now. */
	struct accrue_ref re = by_id(erin.id);
	CHECK_RC(a, accrue_accrue(a, NULL, &re, "store-1", "e-1", 1000, &res), 0);
	CHECK_INT(res.customer.balance, 10);
	struct accrue_customer now;
	int replay = -1;
	CHECK_RC(a, accrue_enrol(a, erin_key, "erin@example.com", NULL, "Erin", "Ng", &now, &replay), 0);
	CHECK_INT(replay, 1);
	CHECK_INT(now.id, erin.id);
	CHECK_INT(now.balance, 10);
	CHECK_INT(now.visits, 1);
}

/* Keys made by test_keys. */
static char terminal_secret[256], readonly_secret[256];
static uint64_t terminal_id, readonly_id, replayed_key_id;

static void test_keys(accrue *a)
{
	struct accrue_key_info info;
	int replay = -1;

	CHECK_RC(a, accrue_key_create(a, NULL, ACCRUE_ROLE_TERMINAL, "store-1", &info, terminal_secret,
				      sizeof terminal_secret, &replay), 0);
	CHECK_INT(replay, 0);
	CHECK(strlen(terminal_secret) >= 22);
	CHECK_INT(info.role, ACCRUE_ROLE_TERMINAL);
	CHECK_STR(info.location, "store-1");
	CHECK(info.id != 0);
	terminal_id = info.id;

	CHECK_RC(a, accrue_key_create(a, NULL, ACCRUE_ROLE_READONLY, NULL, &info, readonly_secret,
				      sizeof readonly_secret, &replay), 0);
	CHECK(strlen(readonly_secret) >= 22);
	CHECK_INT(info.role, ACCRUE_ROLE_READONLY);
	CHECK(info.id != 0 && info.id != terminal_id);
	readonly_id = info.id;
	CHECK(strcmp(terminal_secret, readonly_secret) != 0);

	/* A terminal key needs a location. */
	char secret[256];
	CHECK(accrue_key_create(a, NULL, ACCRUE_ROLE_TERMINAL, NULL, &info, secret, sizeof secret, &replay) != 0);

	/* A key creation replayed: same key id, the secret is not shown again. */
	uint8_t rk[ACCRUE_KEY_SIZE];
	new_key(rk);
	CHECK_RC(a, accrue_key_create(a, rk, ACCRUE_ROLE_READONLY, NULL, &info, secret, sizeof secret, &replay), 0);
	CHECK_INT(replay, 0);
	CHECK(strlen(secret) >= 22);
	replayed_key_id = info.id;
	replay = -1;
	CHECK_RC(a, accrue_key_create(a, rk, ACCRUE_ROLE_READONLY, NULL, &info, secret, sizeof secret, &replay), 0);
	CHECK_INT(replay, 1);
	CHECK_STR(secret, "");
	CHECK_INT(info.id, replayed_key_id);

	/* The terminal. */
	accrue *t = NULL;
	CHECK_RC(NULL, harness_connect_key(&h, terminal_secret, &t), 0);
	REQUIRE(t != NULL);
	CHECK_INT(accrue_role(t), ACCRUE_ROLE_TERMINAL);
	CHECK_STR(accrue_location(t), "store-1");

	struct accrue_ref r = by_id(alice.id);
	struct accrue_customer c;
	struct accrue_result res;
	CHECK_RC(t, accrue_lookup(t, &r, &c), 0);
	int64_t balance = c.balance;
	struct accrue_entry e[4];
	uint32_t n;
	uint64_t next;
	CHECK_RC(t, accrue_history(t, &r, 0, e, 4, &n, &next), 0);
	struct accrue_customer fresh;
	CHECK_RC(t, accrue_enrol(t, NULL, "walkin@example.com", NULL, "Walk", "In", &fresh, NULL), 0);

	CHECK_RC(t, accrue_accrue(t, NULL, &r, "store-1", "t-1", 1000, &res), 0);
	CHECK_INT(res.points, 10);
	balance += 10;
	/* No location: the key's own. */
	CHECK_RC(t, accrue_accrue(t, NULL, &r, NULL, "t-2", 200, &res), 0);
	CHECK_INT(res.points, 2);
	balance += 2;
	CHECK_RC(a, accrue_history(a, &r, 0, e, 1, &n, &next), 0);
	CHECK_INT(n, 1);
	CHECK_STR(e[0].order_id, "t-2");
	CHECK_STR(e[0].location, "store-1");
	/* ... so t-2 is now taken at store-1. */
	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-1", "t-2", 200, &res), ACCRUE_ST_DUPLICATE_ORDER);

	CHECK_RC(t, accrue_accrue(t, NULL, &r, "store-2", "t-3", 1000, &res), ACCRUE_ST_FORBIDDEN);
	CHECK_RC(t, accrue_adjust(t, NULL, &r, 5, "x", NULL, &res), ACCRUE_ST_FORBIDDEN);
	CHECK_RC(t, accrue_adjust(t, NULL, &r, -1, "x", NULL, &res), ACCRUE_ST_FORBIDDEN);
	CHECK_RC(t, accrue_key_create(t, NULL, ACCRUE_ROLE_ADMIN, NULL, &info, secret, sizeof secret, &replay),
		 ACCRUE_ST_FORBIDDEN);
	struct accrue_key_info *list = NULL;
	uint32_t count = 0;
	CHECK_RC(t, accrue_key_list(t, &list, &count), ACCRUE_ST_FORBIDDEN);
	free(list);
	list = NULL;
	CHECK_RC(t, accrue_key_revoke(t, NULL, readonly_id), ACCRUE_ST_FORBIDDEN);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, balance);
	/* The forbidden store-2 order was not recorded: the admin can still use it. */
	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-2", "t-3", 100, &res), 0);
	CHECK_INT(res.customer.balance, balance + 1);
	accrue_close(t);

	/* The read-only key. */
	accrue *ro = NULL;
	CHECK_RC(NULL, harness_connect_key(&h, readonly_secret, &ro), 0);
	REQUIRE(ro != NULL);
	CHECK_INT(accrue_role(ro), ACCRUE_ROLE_READONLY);
	CHECK_RC(ro, accrue_lookup(ro, &r, &c), 0);
	CHECK_INT(c.id, alice.id);
	CHECK_RC(ro, accrue_history(ro, &r, 0, e, 4, &n, &next), 0);
	CHECK_INT(n, 4);
	CHECK_RC(ro, accrue_accrue(ro, NULL, &r, "store-1", "ro-1", 1000, &res), ACCRUE_ST_FORBIDDEN);
	CHECK_RC(ro, accrue_enrol(ro, NULL, "ro@example.com", NULL, "R", "O", &fresh, NULL), ACCRUE_ST_FORBIDDEN);
	CHECK_RC(ro, accrue_adjust(ro, NULL, &r, 5, "x", NULL, &res), ACCRUE_ST_FORBIDDEN);
	CHECK_RC(ro, accrue_key_list(ro, &list, &count), ACCRUE_ST_FORBIDDEN);
	free(list);
	list = NULL;
	accrue_close(ro);
	struct accrue_ref rr = by_text(ACCRUE_REF_EMAIL, "ro@example.com");
	CHECK_RC(a, accrue_lookup(a, &rr, &c), ACCRUE_ST_NOT_FOUND);

	/* The list: the admin key, the terminal, both read-only keys. */
	CHECK_RC(a, accrue_key_list(a, &list, &count), 0);
	int seen_admin = 0, seen_terminal = 0, seen_readonly = 0, seen_replayed = 0;
	for (uint32_t i = 0; list && i < count; i++) {
		if (list[i].role == ACCRUE_ROLE_ADMIN && !list[i].revoked)
			seen_admin++;
		if (list[i].id == terminal_id) {
			seen_terminal++;
			CHECK_INT(list[i].role, ACCRUE_ROLE_TERMINAL);
			CHECK_STR(list[i].location, "store-1");
			CHECK_INT(list[i].revoked, 0);
			CHECK(list[i].created_us > 0);
		}
		if (list[i].id == readonly_id) {
			seen_readonly++;
			CHECK_INT(list[i].role, ACCRUE_ROLE_READONLY);
			CHECK_INT(list[i].revoked, 0);
		}
		if (list[i].id == replayed_key_id)
			seen_replayed++;
	}
	free(list);
	list = NULL;
	CHECK_INT(count, 4);
	CHECK_INT(seen_admin, 1);
	CHECK_INT(seen_terminal, 1);
	CHECK_INT(seen_readonly, 1);
	CHECK_INT(seen_replayed, 1);

	/* Revoke the read-only key: it cannot connect any more. The revocation
	 * retried with its request key is a replay, not NOT_FOUND or an error. */
	uint8_t revoke_key[ACCRUE_KEY_SIZE];
	new_key(revoke_key);
	CHECK_RC(a, accrue_key_revoke(a, revoke_key, readonly_id), 0);
	CHECK_RC(a, accrue_key_revoke(a, revoke_key, readonly_id), 0);
	CHECK_RC(a, accrue_key_revoke(a, revoke_key, terminal_id), ACCRUE_ST_KEY_REUSED);
	ro = NULL;
	CHECK_INT(harness_connect_key(&h, readonly_secret, &ro), ACCRUE_ST_AUTH);
	CHECK(ro == NULL);
	accrue_close(ro);
	CHECK_RC(a, accrue_key_list(a, &list, &count), 0);
	int revoked_seen = 0;
	for (uint32_t i = 0; list && i < count; i++)
		if (list[i].id == readonly_id)
			revoked_seen = list[i].revoked;
	free(list);
	CHECK_INT(revoked_seen, 1);
	CHECK_RC(a, accrue_key_revoke(a, NULL, 999999999), ACCRUE_ST_NOT_FOUND);

	/* The terminal still connects. */
	t = NULL;
	CHECK_INT(harness_connect_key(&h, terminal_secret, &t), 0);
	accrue_close(t);
}

/* The admin handle still works: the daemon keeps serving other clients. */
static void check_still_serving(accrue *a, const char *after)
{
	struct accrue_ref r = by_id(alice.id);
	struct accrue_customer c;
	int rc = accrue_lookup(a, &r, &c);
	CHECK_INT(rc, 0);
	if (rc != 0)
		fprintf(stderr, "    the daemon stopped serving other clients after %s: %s\n", after,
			accrue_message(a));
}

static void test_raw_frames(accrue *a)
{
	struct raw *r = raw_new();
	struct raw_reply rep;
	struct raw_body lookup;

	/* A request before HELLO. */
	REQUIRE(raw_open(r, &h) == 0);
	raw_body_lookup(&lookup, alice.id);
	CHECK_INT(raw_send(r, PROTO_OP_LOOKUP, 41, &lookup), 0);
	CHECK_INT(raw_reply(r, &rep, 5000), 1);
	CHECK_INT(rep.status, PROTO_ST_HELLO_REQUIRED);
	CHECK(rep.hdr.flags & PROTO_FLAG_REPLY);
	raw_close(r);
	check_still_serving(a, "a request before HELLO");

	/* A wrong key over the wire. */
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_hello(r, "wrong", NULL), PROTO_ST_AUTH);
	raw_close(r);

	/* An unknown opcode: UNSUPPORTED with the request id, and the
	 * connection still answers a PING; two pipelined PINGs come back. */
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_hello(r, h.admin_key, NULL), PROTO_OK);
	CHECK_INT(raw_send(r, 0x7e, 77, NULL), 0);
	CHECK_INT(raw_reply(r, &rep, 5000), 1);
	CHECK_INT(rep.status, PROTO_ST_UNSUPPORTED);
	CHECK_INT(rep.hdr.request_id, 77);
	CHECK_INT(rep.hdr.opcode, 0x7e);
	CHECK_INT(raw_send(r, PROTO_OP_PING, 78, NULL), 0);
	CHECK_INT(raw_reply(r, &rep, 5000), 1);
	CHECK_INT(rep.status, PROTO_OK);
	CHECK_INT(rep.hdr.request_id, 78);
	CHECK_INT(rep.hdr.opcode, PROTO_OP_PING);
	uint8_t two[2 * PROTO_HEADER_SIZE];
	raw_frame(two, PROTO_HEADER_SIZE, PROTO_OP_PING, 0, 5, NULL, 0);
	raw_frame(two + PROTO_HEADER_SIZE, PROTO_HEADER_SIZE, PROTO_OP_PING, 0, 6, NULL, 0);
	CHECK_INT(raw_write(r, two, sizeof two), 0);
	uint32_t ids = 0;
	for (int i = 0; i < 2; i++) {
		CHECK_INT(raw_reply(r, &rep, 5000), 1);
		CHECK_INT(rep.status, PROTO_OK);
		ids |= 1u << (rep.hdr.request_id & 31);
	}
	CHECK_INT(ids, (1u << 5) | (1u << 6));
	check_still_serving(a, "an unknown opcode");

	/* A body that does not decode: BAD_REQUEST, and the connection stays. */
	CHECK_INT(raw_send_flags(r, PROTO_OP_LOOKUP, 0, 90, lookup.b, lookup.n - 3), 0);
	CHECK_INT(raw_reply(r, &rep, 5000), 1);
	CHECK_INT(rep.status, PROTO_ST_BAD_REQUEST);
	CHECK_INT(rep.hdr.request_id, 90);
	CHECK_INT(raw_send(r, PROTO_OP_PING, 91, NULL), 0);
	CHECK_INT(raw_reply(r, &rep, 5000), 1);
	CHECK_INT(rep.status, PROTO_OK);
	CHECK_INT(rep.hdr.request_id, 91);
	/* And a well-formed LOOKUP on the raw connection finds the customer. */
	CHECK_INT(raw_send(r, PROTO_OP_LOOKUP, 92, &lookup), 0);
	CHECK_INT(raw_reply(r, &rep, 5000), 1);
	CHECK_INT(rep.status, PROTO_OK);
	CHECK_INT(rep.hdr.request_id, 92);
	CHECK_INT(rep.hdr.opcode, PROTO_OP_LOOKUP);

	/* A bad checksum: PROTOCOL, then the server closes the connection. */
	uint8_t frame[PROTO_HEADER_SIZE];
	raw_frame(frame, sizeof frame, PROTO_OP_PING, 0, 79, NULL, 0);
	frame[16] ^= 0x5a;
	CHECK_INT(raw_write(r, frame, sizeof frame), 0);
	int got = raw_reply(r, &rep, 5000);
	CHECK_INT(got, 1);
	CHECK_INT(rep.status, PROTO_ST_PROTOCOL);
	/* The header was readable, so the reply names it. */
	CHECK_INT(rep.hdr.request_id, 79);
	CHECK_INT(rep.hdr.opcode, PROTO_OP_PING);
	CHECK_INT(raw_wait_eof(r, 5000, NULL), 1);
	raw_close(r);
	check_still_serving(a, "a bad checksum");

	/* Bad magic: PROTOCOL (request id 0: no header to echo), then closed. */
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_hello(r, h.admin_key, NULL), PROTO_OK);
	const uint8_t junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK_INT(raw_write(r, junk, sizeof junk - 1), 0);
	got = raw_reply(r, &rep, 5000);
	CHECK_INT(got, 1);
	CHECK_INT(rep.status, PROTO_ST_PROTOCOL);
	CHECK_INT(rep.hdr.request_id, 0);
	CHECK_INT(raw_wait_eof(r, 5000, NULL), 1);
	raw_close(r);
	check_still_serving(a, "bad magic");

	/* A header claiming a 100 MiB body: refused before it is read. */
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_hello(r, h.admin_key, NULL), PROTO_OK);
	raw_frame(frame, sizeof frame, PROTO_OP_PING, 0, 80, NULL, 0);
	uint32_t huge = 100u << 20;
	for (int i = 0; i < 4; i++)
		frame[12 + i] = (uint8_t)(huge >> (8 * i));
	CHECK_INT(raw_write(r, frame, sizeof frame), 0);
	got = raw_reply(r, &rep, 5000);
	CHECK_INT(got, 1);
	CHECK_INT(rep.status, PROTO_ST_PROTOCOL);
	CHECK_INT(rep.hdr.request_id, 80);
	CHECK_INT(raw_wait_eof(r, 5000, NULL), 1);
	raw_close(r);
	check_still_serving(a, "an oversized frame");

	raw_free(r);
}

static void test_second_daemon(accrue *a)
{
	char addr_before[128], addr_after[128];
	CHECK(harness_read_file(h.addr_file, addr_before, sizeof addr_before) > 0);
	const char *bin = getenv("ACCRUED_BIN");
	char *argv[] = { (char *)bin, "--data", h.data, "--listen", "127.0.0.1:0", NULL };
	char err[4096];
	int code = harness_run(argv, NULL, 0, err, sizeof err, 10000);
	CHECK(code > 0 && code < 128);
	if (!(code > 0 && code < 128))
		fprintf(stderr, "    second accrued on the same data directory: exit %d, stderr: %s\n", code, err);
	CHECK(strlen(err) > 0);
	CHECK(harness_read_file(h.addr_file, addr_after, sizeof addr_after) > 0);
	CHECK_STR(addr_after, addr_before);
	check_still_serving(a, "a second daemon tried the same data directory");
	accrue *b = NULL;
	CHECK_INT(harness_connect(&h, &b), 0);
	accrue_close(b);
}

/* ---- durability ------------------------------------------------------ */

struct snapshot {
	int n;
	struct accrue_customer c[MAX_CUSTOMERS];
	struct accrue_entry e[MAX_CUSTOMERS][MAX_ENTRIES];
	uint32_t ne[MAX_CUSTOMERS];
	struct accrue_key_info *keys;
	uint32_t nkeys;
};

static void take_snapshot(accrue *a, const uint64_t *ids, int n, struct snapshot *s)
{
	s->n = n;
	for (int i = 0; i < n; i++) {
		struct accrue_ref r = by_id(ids[i]);
		CHECK_RC(a, accrue_lookup(a, &r, &s->c[i]), 0);
		CHECK_INT(full_history(a, ids[i], 3, s->e[i], MAX_ENTRIES, &s->ne[i]), 0);
	}
	s->keys = NULL;
	s->nkeys = 0;
	CHECK_RC(a, accrue_key_list(a, &s->keys, &s->nkeys), 0);
}

static void compare_snapshots(const char *what, const struct snapshot *x, const struct snapshot *y)
{
	for (int i = 0; i < x->n; i++) {
		check_same_customer(what, &x->c[i], &y->c[i]);
		CHECK_INT(x->ne[i], y->ne[i]);
		for (uint32_t j = 0; j < x->ne[i] && j < y->ne[i]; j++)
			check_same_entry(what, &x->e[i][j], &y->e[i][j]);
	}
	CHECK_INT(x->nkeys, y->nkeys);
	for (uint32_t i = 0; i < x->nkeys && i < y->nkeys; i++) {
		CHECK_INT(x->keys[i].id, y->keys[i].id);
		CHECK_INT(x->keys[i].role, y->keys[i].role);
		CHECK_INT(x->keys[i].revoked, y->keys[i].revoked);
		CHECK_INT(x->keys[i].created_us, y->keys[i].created_us);
		CHECK_STR(x->keys[i].location, y->keys[i].location);
	}
}

static accrue *reconnect(accrue *a)
{
	accrue_close(a);
	a = NULL;
	int rc = harness_connect(&h, &a);
	CHECK_INT(rc, 0);
	if (rc != 0)
		fprintf(stderr, "    cannot connect after restart: %s\n", accrue_strerror(rc));
	REQUIRE(a != NULL);
	return a;
}

static void check_sale_replays(accrue *a, const char *when)
{
	struct accrue_ref r = by_id(bob.id);
	struct accrue_result res;
	memset(&res, 0, sizeof res);
	int rc = accrue_accrue(a, sale_key, &r, "store-1", "r-1", 500, &res);
	CHECK_INT(rc, 0);
	CHECK_INT(res.replay, 1);
	CHECK_INT(res.seq, sale_result.seq);
	CHECK_INT(res.points, 5);
	if (rc != 0 || res.replay != 1)
		fprintf(stderr, "    request key not recognised %s: rc %s (%s), replay %d\n", when,
			accrue_strerror(rc), accrue_message(a), res.replay);
}

static accrue *test_durability(accrue *a)
{
	static struct snapshot before, after;
	uint64_t ids[] = { alice.id, bob.id, carol.id, dave.id, erin.id };
	int n = (int)(sizeof ids / sizeof ids[0]);
	char key_before[sizeof h.admin_key];
	snprintf(key_before, sizeof key_before, "%s", h.admin_key);

	take_snapshot(a, ids, n, &before);

	/* A clean stop with SIGINT, then a start on the same directory. */
	CHECK_INT(harness_stop_signal(&h, SIGINT, 20000), 0);
	REQUIRE(harness_restart(&h) == 0);
	CHECK_STR(h.admin_key, key_before);
	a = reconnect(a);
	take_snapshot(a, ids, n, &after);
	compare_snapshots("after SIGINT and restart", &before, &after);
	free(after.keys);
	after.keys = NULL;
	check_sale_replays(a, "after a clean restart");

	accrue *t = NULL;
	CHECK_INT(harness_connect_key(&h, terminal_secret, &t), 0);
	accrue_close(t);
	t = NULL;
	CHECK_INT(harness_connect_key(&h, readonly_secret, &t), ACCRUE_ST_AUTH);
	accrue_close(t);

	/* Acknowledged, then the daemon is killed: it must all be there. */
	uint8_t key[ACCRUE_KEY_SIZE];
	new_key(key);
	struct accrue_ref r = by_id(dave.id);
	struct accrue_result res, again;
	CHECK_RC(a, accrue_accrue(a, key, &r, "store-1", "k-1", 4200, &res), 0);
	CHECK_INT(res.points, 42);
	struct accrue_key_info info;
	char secret[256];
	int replay = 0;
	CHECK_RC(a, accrue_key_create(a, NULL, ACCRUE_ROLE_TERMINAL, "store-9", &info, secret, sizeof secret, &replay),
		 0);
	free(before.keys);
	before.keys = NULL;
	take_snapshot(a, ids, n, &before);

	harness_kill(&h);
	REQUIRE(harness_restart(&h) == 0);
	CHECK_STR(h.admin_key, key_before);
	a = reconnect(a);
	take_snapshot(a, ids, n, &after);
	compare_snapshots("after SIGKILL and restart", &before, &after);
	free(after.keys);
	after.keys = NULL;

	struct accrue_customer c;
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 42);
	memset(&again, 0, sizeof again);
	CHECK_RC(a, accrue_accrue(a, key, &r, "store-1", "k-1", 4200, &again), 0);
	CHECK_INT(again.replay, 1);
	CHECK_INT(again.seq, res.seq);
	CHECK_RC(a, accrue_accrue(a, NULL, &r, "store-1", "k-1", 4200, &again), ACCRUE_ST_DUPLICATE_ORDER);
	CHECK_RC(a, accrue_lookup(a, &r, &c), 0);
	CHECK_INT(c.balance, 42);
	CHECK_INT(c.visits, 1);
	check_sale_replays(a, "after a SIGKILL restart");
	t = NULL;
	CHECK_INT(harness_connect_key(&h, secret, &t), 0);
	if (t)
		CHECK_STR(accrue_location(t), "store-9");
	accrue_close(t);

	/* And once more through SIGTERM, after the recovery. */
	CHECK_INT(harness_stop(&h), 0);
	REQUIRE(harness_restart(&h) == 0);
	a = reconnect(a);
	take_snapshot(a, ids, n, &after);
	compare_snapshots("after recovery, SIGTERM and restart", &before, &after);
	free(after.keys);
	free(before.keys);
	check_sale_replays(a, "after recovery and a clean restart");
	return a;
}

int main(void)
{
	long long t0 = harness_now_ms();
	REQUIRE(harness_start(&h, "it_client") == 0);
	accrue *a = NULL;
	int rc = harness_connect(&h, &a);
	if (rc != 0)
		fprintf(stderr, "cannot connect as admin to %s: %s\n", h.addr, accrue_strerror(rc));
	REQUIRE(rc == 0 && a != NULL);

	test_auth();
	test_enrol(a);
	test_lookup(a);
	test_accrue(a);
	test_adjust(a);
	test_history(a);
	test_replay(a);
	test_keys(a);
	test_raw_frames(a);
	test_second_daemon(a);
	a = test_durability(a);

	accrue_close(a);
	CHECK_INT(harness_stop(&h), 0);
	harness_finish(&h, check_failures);
	fprintf(stderr, "it_client: %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);
	return check_done("it_client");
}
