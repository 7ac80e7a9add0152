/*
 * ledger.c - the data directory every damage case starts from, built once
 * through the real daemon, and what it is remembered to hold.
 *
 * Every record kind of PROTO_ENTRIES is written twice: once before the
 * checkpoint (its effect then lives in the snapshots, and the daemon does
 * not read the record at start) and once in the journal tail after it
 * (replayed at every start). Every snapshot database gets entries: the
 * customers (members, a guest who joined, a tier, groups and a group
 * renamed, cards, an edit,
 * opt-outs), the orders and
 * request keys of some 3,000 sales (enough that the journal, orders and
 * requests trees have branch pages), the API keys (one created and one
 * revoked on each side of the checkpoint) and the program (three settings
 * changed). One sale has 150 lines, so its journal record is larger than a
 * page and lies on LMDB overflow pages. The daemon is stopped with SIGTERM
 * (it checkpoints), started again for the tail, whose commits free pages
 * into the free-page tree, and then killed with SIGKILL: the file is as a
 * crash leaves it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "damage.h"

#define MEMBERS 10
#define BULK_SALES 3000
#define BULK_BATCH 1000
#define BIG_LINES 150

static accrue *a;

static void remember_order(struct dmg_ledger *l, const char *location, const char *order_id, uint64_t customer,
			   uint64_t seq)
{
	struct dmg_order *o;

	REQUIRE(l->norders < DMG_MAX_ORDERS);
	o = &l->orders[l->norders++];
	snprintf(o->location, sizeof o->location, "%s", location);
	snprintf(o->order_id, sizeof o->order_id, "%s", order_id);
	o->customer_id = customer;
	o->seq = seq;
}

const struct dmg_order *dmg_ledger_order(const struct dmg_ledger *l, const char *order_id)
{
	for (int i = 0; i < l->norders; i++)
		if (strcmp(l->orders[i].order_id, order_id) == 0)
			return &l->orders[i];
	return NULL;
}

static uint64_t enrol(const char *email, const char *phone, const char *first, const char *last)
{
	struct accrue_customer c;
	int rc = accrue_enrol(a, NULL, email, phone, first, last, &c, NULL);

	CHECK_RC(a, rc, 0);
	REQUIRE(rc == 0);
	return c.id;
}

/* A sale; remembered (by its order id) when remember is set. Returns the customer. */
static uint64_t sale(struct dmg_ledger *l, struct accrue_ref ref, const char *location, const char *order_id,
		     int64_t amount, const struct accrue_line *lines, uint32_t nlines, int remember)
{
	struct accrue_sale s;
	struct accrue_result r;
	int rc;

	memset(&s, 0, sizeof s);
	s.location = location;
	s.order_id = order_id;
	s.amount = amount;
	s.lines = lines;
	s.nlines = nlines;
	rc = accrue_sale(a, NULL, &ref, &s, &r);
	CHECK_RC(a, rc, 0);
	REQUIRE(rc == 0);
	l->sales++;
	if (remember)
		remember_order(l, location, order_id, r.customer.id, r.seq);
	return r.customer.id;
}

static void return_amount(struct dmg_ledger *l, const char *order_id, int64_t amount, const struct accrue_line *lines,
			  uint32_t nlines)
{
	struct dmg_order *o = (struct dmg_order *)dmg_ledger_order(l, order_id);
	struct accrue_return_result r;
	int rc;

	REQUIRE(o != NULL && o->nreturns < 4);
	rc = accrue_return(a, NULL, o->location, order_id, 0, amount, lines, nlines, &r);
	CHECK_RC(a, rc, 0);
	REQUIRE(rc == 0);
	o->return_seqs[o->nreturns++] = r.seq;
}

static void adjust(uint64_t id, int64_t points, const char *reason)
{
	struct accrue_result r;
	struct accrue_ref ref = by_id(id);

	CHECK_RC(a, accrue_adjust(a, NULL, &ref, points, reason, "damage corpus", &r), 0);
}

static void group(uint64_t id, int add, const char *name)
{
	struct accrue_ref ref = by_id(id);

	CHECK_RC(a, accrue_group(a, NULL, &ref, add, name, NULL), 0);
}

/* GROUP_RENAME: a record of no customer that changes every member's groups. */
static void group_rename(const char *from, const char *to)
{
	CHECK_RC(a, accrue_group_rename(a, NULL, from, to, NULL, NULL, NULL), 0);
}

static void tier(uint64_t id, const char *name)
{
	struct accrue_ref ref = by_id(id);

	CHECK_RC(a, accrue_tier(a, NULL, &ref, name, "set by the damage corpus", NULL), 0);
}

/* The customer book: a card linked, an edit and an opt-out (EDIT, CARD, OPTOUT records). */
static void book(uint64_t id, const char *card, const char *last_name, const char *source)
{
	struct accrue_ref ref = by_id(id);
	struct accrue_edit e = {NULL, NULL, NULL, last_name};

	CHECK_RC(a, accrue_card(a, NULL, &ref, 1, card, NULL), 0);
	CHECK_RC(a, accrue_edit(a, NULL, &ref, &e, NULL), 0);
	CHECK_RC(a, accrue_optout(a, NULL, &ref, 1, source, NULL), 0);
}

/* ARCHIVE and MERGE: one customer archived, another merged into a third (two ARCHIVE records, one MERGE). */
static void archive_and_merge(const char *tag)
{
	char email[64];
	struct accrue_ref gone, keep, drop;

	snprintf(email, sizeof email, "archived-%s@damage.example", tag);
	gone = by_id(enrol(email, NULL, "Archived", tag));
	adjust(gone.id, 30, "damage corpus: before archive");
	CHECK_RC(a, accrue_archive(a, NULL, &gone, NULL), 0);
	snprintf(email, sizeof email, "keep-%s@damage.example", tag);
	keep = by_id(enrol(email, NULL, "Keep", tag));
	snprintf(email, sizeof email, "drop-%s@damage.example", tag);
	drop = by_id(enrol(email, NULL, "Drop", tag));
	adjust(drop.id, 40, "damage corpus: before merge");
	CHECK_RC(a, accrue_merge(a, NULL, &keep, &drop, NULL), 0);
}

static uint64_t key_create(int role, const char *location)
{
	struct accrue_key_info info;
	char secret[256];

	CHECK_RC(a, accrue_key_create(a, NULL, role, location, &info, secret, sizeof secret, NULL), 0);
	return info.id;
}

static void program_set(const char *name, const char *value)
{
	CHECK_RC(a, accrue_program_set(a, NULL, name, value), 0);
}

/* A guest recorded by a sale to an unknown email, who then enrols: ENROL (a guest) and JOIN. */
static void guest_joins(struct dmg_ledger *l, const char *email, const char *order_id)
{
	uint64_t guest = sale(l, by_text(ACCRUE_REF_EMAIL, email), "default", order_id, 1234, NULL, 0, 0);
	uint64_t member = enrol(email, NULL, "Guest", "Joined");

	CHECK_INT(member, guest);
}

/* Some 3,000 sales without lines in batches, spread over the members. */
static void bulk(struct dmg_ledger *l, const uint64_t *members)
{
	static struct accrue_ref refs[BULK_BATCH];
	static struct accrue_sale sales[BULK_BATCH];
	static struct accrue_batch_result res[BULK_BATCH];
	static char orders[BULK_BATCH][32];

	for (int b = 0; b < BULK_SALES / BULK_BATCH; b++) {
		for (int i = 0; i < BULK_BATCH; i++) {
			int n = b * BULK_BATCH + i;
			snprintf(orders[i], sizeof orders[i], "bulk-%05d", n);
			refs[i] = by_id(members[n % MEMBERS]);
			memset(&sales[i], 0, sizeof sales[i]);
			sales[i].order_id = orders[i];
			sales[i].location = n % 3 ? "store-1" : "store-2";
			sales[i].amount = 1000 + n % 700;
		}
		CHECK_RC(a, accrue_batch(a, BULK_BATCH, NULL, refs, sales, res), 0);
		for (int i = 0; i < BULK_BATCH; i++) {
			CHECK_INT(res[i].status, 0);
			l->sales++;
		}
	}
}

/* Everything the daemon holds that a damaged copy must still show. */
static void remember_state(struct dmg_ledger *l)
{
	static struct accrue_entry page[1000];
	static struct accrue_order ord;
	struct accrue_key_info *keys = NULL;
	uint32_t nkeys = 0;

	l->ncustomers = 0;
	for (uint64_t id = 1;; id++) {
		struct accrue_ref ref = by_id(id);
		struct dmg_customer *c;
		uint64_t before = 0, next;
		uint32_t n;
		int rc;

		REQUIRE(l->ncustomers < DMG_MAX_CUSTOMERS);
		c = &l->customers[l->ncustomers];
		rc = accrue_lookup(a, &ref, &c->c);
		if (rc == ACCRUE_ST_NOT_FOUND)
			break;
		CHECK_RC(a, rc, 0);
		REQUIRE(rc == 0);
		c->history = 0;
		do {
			rc = accrue_history(a, &ref, before, page, 1000, &n, &next);
			CHECK_RC(a, rc, 0);
			REQUIRE(rc == 0);
			c->history += n;
			before = next;
		} while (before);
		l->ncustomers++;
	}
	for (int i = 0; i < l->norders; i++) {
		struct dmg_order *o = &l->orders[i];
		CHECK_RC(a, accrue_order(a, o->location, o->order_id, &ord), 0);
		o->amount = ord.amount;
		o->earned = ord.earned;
		o->refunded = ord.refunded;
	}
	CHECK_RC(a, accrue_key_list(a, &keys, &nkeys), 0);
	REQUIRE(nkeys <= DMG_MAX_KEYS);
	memcpy(l->keys, keys, nkeys * sizeof *keys);
	l->nkeys = (int)nkeys;
	free(keys);
	CHECK_RC(a, accrue_program_get(a, &l->settings, &l->nsettings), 0);
	REQUIRE(l->settings != NULL);
}

static void read_clean_files(struct dmg_ledger *l)
{
	char path[HARNESS_PATH_MAX + 16];
	struct stat st;
	int fd;

	snprintf(path, sizeof path, "%s/data.mdb", l->h.data);
	fd = open(path, O_RDONLY);
	REQUIRE(fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0);
	l->mdb_size = (size_t)st.st_size;
	l->mdb = malloc(l->mdb_size);
	REQUIRE(l->mdb && pread(fd, l->mdb, l->mdb_size, 0) == (ssize_t)l->mdb_size);
	close(fd);
	l->admin_key_len = (size_t)harness_read_file(l->h.key_file, l->admin_key, sizeof l->admin_key);
	REQUIRE(l->admin_key_len > 0 && l->admin_key_len < sizeof l->admin_key - 1);
}

void dmg_ledger_build(struct dmg_ledger *l)
{
	/* No checkpoint but the one at the SIGTERM, and no zeros written ahead:
	 * the file is what LMDB wrote, and the damage lands in it. */
	static const char *const args[] = {"--preallocate", "0", "--checkpoint-seconds", "100000",
					   "--checkpoint-records", "1000000", NULL};
	static struct accrue_line lines[BIG_LINES];
	uint64_t members[MEMBERS + 1], terminal, readonly;
	int64_t total = 0;
	char email[64], phone[32], first[32];

	REQUIRE(harness_start_args(&l->h, "it_damage", args) == 0);
	REQUIRE(harness_connect(&l->h, &a) == 0);
	accrue_set_timeout(a, 60000);

	/* Before the checkpoint: every record kind. */
	program_set("guests", "record");
	program_set("exclude.skus", "GIFTCARD");
	for (int i = 0; i < MEMBERS; i++) {
		snprintf(email, sizeof email, "member-%02d@damage.example", i + 1);
		snprintf(phone, sizeof phone, "+1555010%04d", i + 1);
		snprintf(first, sizeof first, "Member%02d", i + 1);
		members[i] = enrol(email, phone, first, "Damage");
	}
	for (int i = 0; i < MEMBERS; i++) {
		char order[32];
		snprintf(order, sizeof order, "plain-%02d", i + 1);
		sale(l, by_id(members[i]), "store-1", order, 2500 + 100 * i, NULL, 0, i == 2);
	}
	snprintf(lines[0].sku, sizeof lines[0].sku, "L-A");
	snprintf(lines[0].category, sizeof lines[0].category, "food");
	lines[0].qty = 2;
	lines[0].amount = 1800;
	snprintf(lines[1].sku, sizeof lines[1].sku, "L-B");
	lines[1].qty = 1;
	lines[1].amount = 950;
	snprintf(lines[2].sku, sizeof lines[2].sku, "GIFTCARD");
	lines[2].qty = 1;
	lines[2].amount = 2000;
	sale(l, by_id(members[0]), "store-1", "lines-01", 4750, lines, 3, 1);
	for (int i = 0; i < BIG_LINES; i++) {
		snprintf(lines[i].sku, sizeof lines[i].sku, "BIG-SKU-%03d", i);
		snprintf(lines[i].category, sizeof lines[i].category, "category-%d", i % 7);
		lines[i].qty = 1 + i % 3;
		lines[i].amount = 100 + i;
		total += lines[i].amount;
	}
	sale(l, by_id(members[1]), "store-2", "big-01", total, lines, BIG_LINES, 1);
	{
		struct accrue_line back = {.sku = "L-A", .qty = 1, .amount = 900};
		return_amount(l, "lines-01", 900, &back, 1);
	}
	return_amount(l, "plain-03", 500, NULL, 0);
	adjust(members[3], 50, "damage corpus: goodwill");
	adjust(members[3], -10, "damage corpus: correction");
	group(members[4], 1, "vip");
	group(members[4], 1, "staff");
	group(members[4], 0, "staff");
	group_rename("vip", "vip-club");
	tier(members[5], "gold");
	book(members[6], "DMG-0006", "Damage-Edited", "sms STOP");
	archive_and_merge("01");
	terminal = key_create(ACCRUE_ROLE_TERMINAL, "store-1");
	readonly = key_create(ACCRUE_ROLE_READONLY, NULL);
	CHECK_RC(a, accrue_key_revoke(a, NULL, readonly), 0);
	guest_joins(l, "guest-01@damage.example", "guest-sale-01");
	bulk(l, members);
	accrue_close(a);
	a = NULL;
	CHECK_INT(harness_stop(&l->h), 0);
	REQUIRE(harness_restart(&l->h) == 0);
	REQUIRE(harness_connect(&l->h, &a) == 0);
	accrue_set_timeout(a, 60000);

	/* The journal tail after the checkpoint: every record kind again but
	 * ARCHIVE, which is checkpointed in its own transaction (store_erase):
	 * so first, and the tail starts after it (a MERGE's own record comes
	 * after its ARCHIVE's checkpoint, in the tail). */
	archive_and_merge("02");
	program_set("earn.rounding", "nearest");
	members[MEMBERS] = enrol("member-11@damage.example", "+15550100011", "Member11", "Tail");
	guest_joins(l, "guest-02@damage.example", "guest-sale-02");
	sale(l, by_id(members[6]), "store-1", "tail-plain-07", 3300, NULL, 0, 1);
	lines[0] = (struct accrue_line){.sku = "T-A", .category = "food", .qty = 3, .amount = 1500};
	lines[1] = (struct accrue_line){.sku = "T-B", .category = "toys", .qty = 1, .amount = 2600};
	sale(l, by_id(members[7]), "store-2", "tail-lines-08", 4100, lines, 2, 1);
	return_amount(l, "tail-plain-07", 1100, NULL, 0);
	{
		struct accrue_line back = {.sku = "T-B", .qty = 1, .amount = 2600};
		return_amount(l, "tail-lines-08", 2600, &back, 1);
	}
	adjust(members[8], 25, "damage corpus: tail goodwill");
	group(members[8], 1, "tailgroup");
	group_rename("tailgroup", "tail-club");
	tier(members[8], "silver");
	book(members[9], "DMG-0010", "Tail-Edited", "till 4");
	key_create(ACCRUE_ROLE_READONLY, NULL);
	CHECK_RC(a, accrue_key_revoke(a, NULL, terminal), 0);

	remember_state(l);
	accrue_close(a);
	a = NULL;
	/* The crash: the tail stays a tail. */
	harness_kill(&l->h);
	read_clean_files(l);
}
