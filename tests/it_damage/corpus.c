/*
 * corpus.c - the named damage cases of `make test`, each with what
 * accrue-check and the daemon must do (see it_damage.c for the list and
 * why each outcome is the right one).
 *
 * A case finds its place in the clean file through the map of its pages
 * (lmdbmap.c): the n-th branch page of the journal, the leaf that holds
 * the customers, the overflow pages of the 150-line sale, the record of
 * each kind before and after the checkpoint, found by decoding the journal
 * entries with the record codec. Nothing is found by guessing offsets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "record.h"
#include "damage.h"

#define PAGE_HDR 16
#define NODE_HDR 8
#define META_DBS 24
#define DB_SIZE 48
#define DB_ROOT 40
#define META_LAST_PG 120
#define META_TXNID 128

static const struct dmg_map *map;
static int failures, cases;

static struct dmg_case *new_case(int check, int daemon, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static struct dmg_case *new_case(int check, int daemon, const char *fmt, ...)
{
	static struct dmg_case c;
	char name[sizeof c.name];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	dmg_case_init(&c, name);
	c.check = check;
	c.daemon = daemon;
	return &c;
}

static void needles(struct dmg_case *c, const char *check_needle, const char *log_needle)
{
	snprintf(c->check_needle, sizeof c->check_needle, "%s", check_needle);
	snprintf(c->log_needle, sizeof c->log_needle, "%s", log_needle);
}

static void run(const struct dmg_case *c)
{
	struct dmg_outcome o;
	int ok = dmg_trial(c, &o, 0);

	cases++;
	failures += !ok;
	CHECK(ok);
}

static size_t page_off(uint64_t pgno)
{
	return (size_t)(pgno * map->psize);
}

/* The offset of node i of page pgno, from the start of the file. */
static size_t node_off(uint64_t pgno, unsigned i)
{
	return page_off(pgno) + dmg_get16(map->file + page_off(pgno) + PAGE_HDR + 2 * i);
}

/* ---- truncations ------------------------------------------------------------------- */

static void truncations(void)
{
	size_t used = (size_t)((map->last_pg + 1) * map->psize);
	static const struct {
		const char *what;
		int percent;
	} parts[] = {{"25 %", 25}, {"50 %", 50}, {"90 %", 90}};
	struct dmg_case *c;

	/* A data.mdb of 0 bytes is what LMDB makes of a new directory; beside
	 * an admin.key it can only be a ledger lost, never a first start. */
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "truncated to 0 bytes, admin.key still there");
	needles(c, "data.mdb", "data.mdb");
	c->truncate = 0;
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "truncated to 4096 bytes (meta page 0 only)");
	needles(c, "meta page 1", "meta page 1");
	c->truncate = 4096;
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "truncated to 8192 bytes (the meta pages only)");
	needles(c, "cut short", "cut short");
	c->truncate = 8192;
	run(c);
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "truncated to %s of the %zu bytes used", parts[i].what, used);
		needles(c, "cut short", "cut short");
		c->truncate = used / 100 * (size_t)parts[i].percent;
		run(c);
	}
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "truncated by one page");
	needles(c, "cut short", "cut short");
	c->truncate = used - map->psize;
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "truncated by one byte");
	needles(c, "cut short", "cut short");
	c->truncate = used - 1;
	run(c);
}

/* ---- meta pages ---------------------------------------------------------------------- */

static void meta_pages(void)
{
	size_t newer = page_off((uint64_t)map->newer) + PAGE_HDR, older = page_off((uint64_t)!map->newer) + PAGE_HDR;
	struct dmg_case *c;

	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta page 0: header flags (not a meta page)");
	needles(c, "meta page 0", "meta page 0");
	dmg_case_flip(c, 10, 0x08);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta page 1: magic");
	needles(c, "meta page 1", "meta page 1");
	dmg_case_flip(c, page_off(1) + PAGE_HDR + 1, 0x40);
	run(c);
	/* LMDB does not read a meta page's own number: nothing is wrong that anyone reads. */
	c = new_case(DMG_CHECK_CLEAN, DMG_SERVE, "meta page 1: header page number");
	dmg_case_flip(c, page_off(1) + 0, 0x01);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "newer meta page (%d): main tree's root page number", map->newer);
	needles(c, "main tree", "main tree");
	dmg_case_flip(c, newer + META_DBS + DB_SIZE + DB_ROOT, 0x01);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "newer meta page (%d): free-page tree's root page number", map->newer);
	needles(c, "free-page tree", "free-page tree");
	dmg_case_flip(c, newer + META_DBS + DB_ROOT, 0x01);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "newer meta page (%d): main tree's entry count", map->newer);
	needles(c, "main tree", "main tree");
	dmg_case_flip(c, newer + META_DBS + DB_SIZE + 32, 0x04);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "newer meta page (%d): last page number raised", map->newer);
	needles(c, "cut short", "cut short");
	dmg_case_flip(c, newer + META_LAST_PG + 1, 0x10);
	run(c);
	/* LMDB reads the meta page of the later transaction only. */
	c = new_case(DMG_CHECK_CLEAN, DMG_SERVE, "older meta page (%d): main tree's root page number", !map->newer);
	dmg_case_flip(c, older + META_DBS + DB_SIZE + DB_ROOT, 0x01);
	run(c);
	/* LMDB would take the older meta page for the newer and open the state
	 * before the last commit, which acknowledged changes. The two meta
	 * pages always hold consecutive transactions; these do not. */
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE_OR_REPORT, "older meta page (%d): its txnid raised past the newer's",
		     !map->newer);
	dmg_case_flip(c, older + META_TXNID + 4, 0x01);
	run(c);
}

/* ---- branch, leaf, overflow and free-list pages ------------------------------------------------ */

static void branch_pages(void)
{
	uint64_t journal = dmg_map_page(map, DMG_PAGE_BRANCH, RECORD_DB_JOURNAL, 0);
	uint64_t orders = dmg_map_page(map, DMG_PAGE_BRANCH, RECORD_DB_ORDERS, 0);
	struct dmg_case *c;

	REQUIRE(journal != 0 && orders != 0);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "branch page %llu (journal): header flags", (unsigned long long)journal);
	needles(c, "page ", "page ");
	dmg_case_flip(c, page_off(journal) + 10, 0x03);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "branch page %llu (journal): header upper bound", (unsigned long long)journal);
	needles(c, "page ", "page ");
	dmg_case_flip(c, page_off(journal) + 15, 0x20);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "branch page %llu (orders): node 1's child page number", (unsigned long long)orders);
	needles(c, "page ", "page ");
	dmg_case_flip(c, node_off(orders, 1), 0x01);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "branch page %llu (journal): node 0's offset", (unsigned long long)journal);
	needles(c, "page ", "page ");
	dmg_case_flip(c, page_off(journal) + PAGE_HDR, 0x02);
	run(c);
	/* A separator key that no longer separates: a search for a seq near
	 * it goes down the wrong child. Whether the daemon meets it at start
	 * or on a read, it must not answer with something else. */
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE_OR_REPORT, "branch page %llu (journal): node 1's key (a seq)", (unsigned long long)journal);
	dmg_case_flip(c, node_off(journal, 1) + NODE_HDR + 6, 0x01);
	run(c);
}

/* The first leaf of tree whose free space (between lower and upper) is at least min bytes. */
static uint64_t leaf_with_room(int tree, unsigned min)
{
	for (int n = 0;; n++) {
		uint64_t p = dmg_map_page(map, DMG_PAGE_LEAF, tree, n);
		const uint8_t *h;
		if (!p)
			return 0;
		h = map->file + page_off(p);
		if ((unsigned)(dmg_get16(h + 14) - dmg_get16(h + 12)) >= min)
			return p;
	}
}

static void leaf_pages(void)
{
	uint64_t customers = dmg_map_page(map, DMG_PAGE_LEAF, RECORD_DB_CUSTOMERS, 0);
	uint64_t orders = dmg_map_page(map, DMG_PAGE_LEAF, RECORD_DB_ORDERS, 2);
	uint64_t roomy = leaf_with_room(RECORD_DB_JOURNAL, 64);
	struct dmg_case *c;

	REQUIRE(customers != 0 && orders != 0 && roomy != 0);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "leaf page %llu (customers): header flags", (unsigned long long)customers);
	needles(c, "page ", "page ");
	dmg_case_flip(c, page_off(customers) + 10, 0x03);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "leaf page %llu (orders): header page number", (unsigned long long)orders);
	needles(c, "page ", "page ");
	dmg_case_flip(c, page_off(orders) + 1, 0x01);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "leaf page %llu (orders): header lower bound", (unsigned long long)orders);
	needles(c, "page ", "page ");
	dmg_case_flip(c, page_off(orders) + 12, 0x02);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "leaf page %llu (customers): node 0's value size", (unsigned long long)customers);
	needles(c, "customers", "customers");
	dmg_case_flip(c, node_off(customers, 0), 0x01);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "leaf page %llu (customers): node 1's value size, past the page", (unsigned long long)customers);
	needles(c, "page ", "page ");
	dmg_case_flip(c, node_off(customers, 1) + 1, 0x40);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "leaf page %llu (customers): node 2's key size", (unsigned long long)customers);
	needles(c, "customers", "customers");
	dmg_case_flip(c, node_off(customers, 2) + 6, 0x01);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "leaf page %llu (customers): node 3's flags", (unsigned long long)customers);
	needles(c, "page ", "page ");
	dmg_case_flip(c, node_off(customers, 3) + 4, 0x04);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "leaf page %llu (customers): node 4's key (the id)", (unsigned long long)customers);
	needles(c, "customers", "customers");
	dmg_case_flip(c, node_off(customers, 4) + NODE_HDR + 7, 0x01);
	run(c);
	c = new_case(DMG_CHECK_CLEAN, DMG_SERVE, "leaf page %llu (journal): its free space between the nodes", (unsigned long long)roomy);
	{
		const uint8_t *h = map->file + page_off(roomy);
		dmg_case_flip(c, page_off(roomy) + (dmg_get16(h + 12) + dmg_get16(h + 14)) / 2, 0x5a);
	}
	run(c);
}

static void overflow_pages(const struct dmg_ledger *l)
{
	const struct dmg_order *big = dmg_ledger_order(l, "big-01");
	const struct dmg_entry *e = big ? dmg_map_record(map, big->seq) : NULL;
	struct dmg_case *c;

	REQUIRE(e != NULL && e->ovpg != 0 && e->ovpages >= 2);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "overflow page %llu (the 150-line sale): header flags", (unsigned long long)e->ovpg);
	needles(c, "overflow", "overflow");
	dmg_case_flip(c, page_off(e->ovpg) + 10, 0x04);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "overflow page %llu (the 150-line sale): header page count", (unsigned long long)e->ovpg);
	needles(c, "overflow", "overflow");
	dmg_case_flip(c, page_off(e->ovpg) + 12, 0x08);
	run(c);
	/* Its record is before the checkpoint: read by HISTORY and ORDER only. */
	c = new_case(DMG_CHECK_FINDS, DMG_SERVE_REPORT, "overflow page %llu (the 150-line sale, seq %llu): body", (unsigned long long)e->ovpg,
		     (unsigned long long)big->seq);
	snprintf(c->check_needle, sizeof c->check_needle, "seq %llu", (unsigned long long)big->seq);
	c->bad_seq = big->seq;
	c->bad_customer = big->customer_id;
	dmg_case_flip(c, e->val_off + 1000, 0x10);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_SERVE_REPORT, "overflow page %llu (the 150-line sale, seq %llu): body", (unsigned long long)e->ovpg + 1,
		     (unsigned long long)big->seq);
	snprintf(c->check_needle, sizeof c->check_needle, "seq %llu", (unsigned long long)big->seq);
	c->bad_seq = big->seq;
	c->bad_customer = big->customer_id;
	dmg_case_flip(c, page_off(e->ovpg + 1) + 77, 0x01);
	run(c);
}

static void free_pages(void)
{
	uint64_t leaf = dmg_map_page(map, DMG_PAGE_LEAF, DMG_TREE_FREE, 0);
	uint64_t live = dmg_map_page(map, DMG_PAGE_LEAF, RECORD_DB_JOURNAL, 0);
	uint64_t unused = dmg_map_page(map, DMG_PAGE_UNUSED, DMG_TREE_NONE, 0);
	const struct dmg_entry *list = NULL;
	struct dmg_case *c;

	for (size_t i = 0; i < map->nentries && !list; i++)
		if (map->entries[i].tree == DMG_TREE_FREE && map->entries[i].val_len >= 16)
			list = &map->entries[i];
	REQUIRE(leaf != 0 && live != 0 && unused != 0 && list != NULL);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "free-list page %llu: header flags", (unsigned long long)leaf);
	needles(c, "free-page tree", "free-page tree");
	dmg_case_flip(c, page_off(leaf) + 10, 0x03);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "free-list page %llu: a list's page count", (unsigned long long)list->pgno);
	needles(c, "free-page tree", "free-page tree");
	dmg_case_flip(c, list->val_off, 0x01);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "free-list page %llu: a free page number past the file", (unsigned long long)list->pgno);
	needles(c, "free-page tree", "free-page tree");
	dmg_case_flip(c, list->val_off + 8 + 5, 0x01);
	run(c);
	/* LMDB would hand that page out for new data while the journal still
	 * uses it: the next commits would overwrite acknowledged records. */
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "free-list page %llu: a free page number changed to page %llu, a journal leaf in use",
		     (unsigned long long)list->pgno, (unsigned long long)live);
	dmg_case_xor64(c, list->val_off + 8, dmg_get64(map->file + list->val_off + 8) ^ live);
	run(c);
	/* A page no tree reaches (free, or an old copy LMDB replaced): nothing reads it. */
	c = new_case(DMG_CHECK_CLEAN, DMG_SERVE, "page %llu, reached from no tree: its header", (unsigned long long)unused);
	dmg_case_flip(c, page_off(unused) + 10, 0x07);
	run(c);
	c = new_case(DMG_CHECK_CLEAN, DMG_SERVE, "page %llu, reached from no tree: its body", (unsigned long long)unused);
	dmg_case_flip(c, page_off(unused) + 2000, 0xff);
	run(c);
}

/* ---- snapshots and the meta database ------------------------------------------------------ */

static const struct dmg_entry *first_entry(int tree, size_t min_len)
{
	for (size_t i = 0; i < map->nentries; i++)
		if (map->entries[i].tree == tree && map->entries[i].val_len >= min_len)
			return &map->entries[i];
	return NULL;
}

static void snapshots(void)
{
	for (int db = RECORD_DB_CUSTOMERS; db <= RECORD_DB_LAST_SNAPSHOT; db++) {
		const struct dmg_entry *e = first_entry(db, 2);
		char needle[80];
		struct dmg_case *c;

		REQUIRE(e != NULL);
		c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "snapshot in %s: a value's byte", record_db_name(db));
		snprintf(needle, sizeof needle, "damaged snapshot in %s", record_db_name(db));
		needles(c, record_db_name(db), needle);
		dmg_case_flip(c, e->val_off + e->val_len / 2, 0x08);
		run(c);
		c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "snapshot in %s: a value's checksum", record_db_name(db));
		needles(c, record_db_name(db), needle);
		dmg_case_flip(c, e->val_off + e->val_len - 1, 0x80);
		run(c);
	}
}

/* A u64 of the meta database: its entry, and its value (sealed, as the daemon writes it). */
static const struct dmg_entry *meta_value(const char *name, uint64_t *v)
{
	const struct dmg_entry *e = dmg_map_entry(map, RECORD_DB_META, name, strlen(name));

	REQUIRE(e != NULL && e->val_len == RECORD_META_SIZE);
	REQUIRE(record_meta_open(name, map->file + e->val_off, e->val_len, v) == 0);
	return e;
}

/* Make the big-endian u64 at e's value hold to instead of from. */
static void set_u64(struct dmg_case *c, const struct dmg_entry *e, uint64_t from, uint64_t to)
{
	uint8_t a[8], b[8];
	uint64_t x;

	record_key_u64(a, from);
	record_key_u64(b, to);
	for (int i = 0; i < 8; i++)
		a[i] ^= b[i];
	memcpy(&x, a, 8);
	dmg_case_xor64(c, e->val_off, x);
}

/* The main tree's leaf holds each named database's record under its name. */
static void database_names(void)
{
	for (int db = 0; db < RECORD_DB_COUNT; db++) {
		const char *name = record_db_name(db);
		const struct dmg_entry *e = dmg_map_entry(map, DMG_TREE_MAIN, name, strlen(name));
		struct dmg_case *c;

		REQUIRE(e != NULL);
		/* The database is then missing: a data directory that has a
		 * ledger lacks it, and making it anew, empty, would lose what it
		 * held (settings, request keys, customers...). */
		c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "main tree: the name of database \"%s\" (its last letter)", name);
		dmg_case_flip(c, e->key_off + e->key_len - 1, 0x01);
		run(c);
	}
}

static void meta_database(const struct dmg_ledger *l)
{
	uint64_t ckpt, saved, format, low_set, low_clear;
	const struct dmg_entry *e;
	struct dmg_case *c;

	/* meta's values are sealed with a checksum as snapshots are: any
	 * changed bit is refused and named, never a record skipped, repeated
	 * or left without its order. */
	e = meta_value("checkpoint_seq", &ckpt);
	low_set = ckpt & -ckpt;
	low_clear = ~ckpt & (ckpt + 1);
	/* Lower: records the snapshots already hold would be applied again. */
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta database: checkpoint_seq %llu lowered to %llu (a bit flipped)",
		     (unsigned long long)ckpt, (unsigned long long)(ckpt ^ low_set));
	needles(c, "checkpoint_seq", "checkpoint_seq");
	set_u64(c, e, ckpt, ckpt ^ low_set);
	run(c);
	/* Higher: the tail's first record would be skipped. */
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta database: checkpoint_seq %llu raised to %llu, skipping record %llu",
		     (unsigned long long)ckpt, (unsigned long long)(ckpt + 1), (unsigned long long)(ckpt + 1));
	needles(c, "checkpoint_seq", "checkpoint_seq");
	set_u64(c, e, ckpt, ckpt + 1);
	run(c);
	if ((ckpt ^ low_clear) > l->last_seq) {
		c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta database: checkpoint_seq %llu raised to %llu, past the journal's end (a bit flipped)",
			     (unsigned long long)ckpt, (unsigned long long)(ckpt ^ low_clear));
		needles(c, "checkpoint_seq", "checkpoint_seq");
		set_u64(c, e, ckpt, ckpt ^ low_clear);
		run(c);
	}
	/* Its checksum alone. */
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta database: checkpoint_seq's checksum");
	needles(c, "checkpoint_seq", "checkpoint_seq");
	dmg_case_flip(c, e->val_off + e->val_len - 1, 0x80);
	run(c);
	e = meta_value("saved_seq", &saved);
	low_set = saved & -saved;
	low_clear = ~saved & (saved + 1);
	/* Lower: the tail's orders and request keys would be made again
	 * (harmless); higher: not at all (a resent sale would count twice, a
	 * return find no order). Either is a changed bit, and refused. */
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta database: saved_seq %llu lowered to %llu (a bit flipped)",
		     (unsigned long long)saved, (unsigned long long)(saved ^ low_set));
	needles(c, "saved_seq", "saved_seq");
	set_u64(c, e, saved, saved ^ low_set);
	run(c);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta database: saved_seq %llu raised to %llu, past the tail (a bit flipped)",
		     (unsigned long long)saved, (unsigned long long)(saved ^ low_clear));
	needles(c, "saved_seq", "saved_seq");
	set_u64(c, e, saved, saved ^ low_clear);
	run(c);
	e = meta_value("format", &format);
	c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "meta database: format %llu changed to %llu (a bit flipped)",
		     (unsigned long long)format, (unsigned long long)(format ^ 1));
	needles(c, "format", "format");
	set_u64(c, e, format, format ^ 1);
	run(c);
}

/* ---- journal records ------------------------------------------------------------------------ */

struct found {
	const struct dmg_entry *e;
	uint64_t seq, customer;
};

/* A byte of record f's value flipped; before the checkpoint, or in the tail (replayed at start). */
static void record_case(const struct found *f, int type, int in_tail, const char *where)
{
	struct dmg_case *c;
	char seq_needle[64];

	REQUIRE(f->e != NULL);
	if (in_tail) {
		c = new_case(DMG_CHECK_FINDS, DMG_REFUSE, "journal record %llu (%s, %s): a byte of its value",
			     (unsigned long long)f->seq, proto_entry_type_name(type), where);
		snprintf(c->log_needle, sizeof c->log_needle, "journal record %llu", (unsigned long long)f->seq);
	} else {
		/* Its effect is in the snapshots; only HISTORY (and ORDER, for a
		 * sale or return of a remembered order) reads it. */
		c = new_case(DMG_CHECK_FINDS, proto_entry_of_customer(type) ? DMG_SERVE_REPORT : DMG_SERVE,
			     "journal record %llu (%s, %s): a byte of its value", (unsigned long long)f->seq,
			     proto_entry_type_name(type), where);
		c->bad_seq = f->seq;
		c->bad_customer = f->customer;
	}
	snprintf(seq_needle, sizeof seq_needle, "seq %llu", (unsigned long long)f->seq);
	snprintf(c->check_needle, sizeof c->check_needle, "%s", seq_needle);
	dmg_case_flip(c, f->e->val_off + f->e->val_len / 2, 0x02);
	run(c);
}

static void journal_records(const struct dmg_ledger *l)
{
	/* Every kind of PROTO_ENTRIES, from the one list. */
#define ENTRY_TYPE(TYPE, kind, code, name, payload, op, of_customer) PROTO_ENTRY_##TYPE,
	static const int types[] = {PROTO_ENTRIES(ENTRY_TYPE)};
#undef ENTRY_TYPE
	static struct record rec;
	struct found before[PROTO_ENTRY_TYPE_MAX + 1], after[PROTO_ENTRY_TYPE_MAX + 1], ckpt;

	memset(before, 0, sizeof before);
	memset(after, 0, sizeof after);
	memset(&ckpt, 0, sizeof ckpt);
	for (size_t i = 0; i < map->nentries; i++) {
		const struct dmg_entry *e = &map->entries[i];
		uint64_t seq;
		struct found *f = NULL;

		if (e->tree != RECORD_DB_JOURNAL || e->key_len != 8)
			continue;
		seq = record_key_u64_read(map->file + e->key_off);
		REQUIRE(record_decode(map->file + e->val_off, e->val_len, seq, &rec) == 0);
		REQUIRE(rec.type <= PROTO_ENTRY_TYPE_MAX);
		/* The last of each kind before the checkpoint, the first after it. */
		if (seq == l->ckpt_seq)
			f = &ckpt;
		else if (seq < l->ckpt_seq)
			f = &before[rec.type];
		else if (!after[rec.type].e)
			f = &after[rec.type];
		if (f)
			*f = (struct found){e, seq, rec.customer_id};
	}
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		record_case(&before[types[i]], types[i], 0, "before the checkpoint");
		/* An archive is checkpointed in its own transaction: never in a tail. */
		if (types[i] != PROTO_ENTRY_ARCHIVE)
			record_case(&after[types[i]], types[i], 1, "in the tail");
	}
	/* The record the checkpoint names is verified at start (RELIABILITY.md). */
	REQUIRE(ckpt.e != NULL);
	REQUIRE(record_decode(map->file + ckpt.e->val_off, ckpt.e->val_len, ckpt.seq, &rec) == 0);
	record_case(&ckpt, rec.type, 1, "the checkpointed one");
}

int dmg_corpus_run(const struct dmg_map *m)
{
	map = m;
	truncations();
	meta_pages();
	branch_pages();
	leaf_pages();
	overflow_pages(&ledger);
	free_pages();
	snapshots();
	database_names();
	meta_database(&ledger);
	journal_records(&ledger);
	printf("  %d cases, %d as expected, %d not\n", cases, cases - failures, failures);
	return failures;
}
