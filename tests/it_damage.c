/*
 * it_damage.c - a corpus of damaged data directories: whatever happened to
 * data.mdb, accrue-check and accrued say so, and neither crashes, nor does
 * the daemon start afresh or serve something it does not have.
 *
 * Set-up (it_damage/ledger.c): one rich data directory is built through
 * the real daemon: every journal record kind before the checkpoint and
 * again in the tail after it, every snapshot database filled, some 3,000
 * sales so the journal, orders and requests trees have branch pages, a
 * sale of 150 lines whose record lies on overflow pages, a checkpoint
 * (SIGTERM), a restart and a tail of more records (which leaves pages in
 * LMDB's free-page tree), then SIGKILL. What the daemon showed last is
 * remembered: every customer (balance, lifetime points, visits, spend,
 * email, tier, groups) and the length of its history, some orders, the
 * program, the API keys.
 *
 * Each case copies that directory (data.mdb and admin.key), damages
 * data.mdb, runs accrue-check on it and then starts accrued on it with a
 * bounded wait (it_damage/trial.c). The pages are found by their own LMDB
 * headers, walked from the meta page as LMDB does (it_damage/lmdbmap.c);
 * the records and snapshots by decoding the databases' entries. The cases
 * and what each must do (it_damage/corpus.c):
 *
 *   truncations   to 0 bytes (beside an admin.key: a ledger lost, not a
 *                 new directory), 4096, 8192, 25/50/90 % of the used size,
 *                 one page and one byte short: refused, named as cut short;
 *   meta pages    page 0's flags, page 1's magic, the newer meta's roots,
 *                 entry count and last page: refused; the older meta's
 *                 root and page 1's own page number, which LMDB does not
 *                 read: served, accrue-check clean; the older meta's txnid
 *                 raised past the newer's (LMDB would open the state before
 *                 the last commit): refused, never the older state served;
 *   branch pages  header flags and bounds, a node's offset and child page
 *                 number: refused; a separator key: refused, or served
 *                 with STORAGE on the read that goes astray;
 *   leaf pages    header flags, page number and bounds, a node's value
 *                 size, key size, flags and key: refused (the structure
 *                 check or the snapshot's checksum, which covers its key);
 *                 the free space between a leaf's nodes: served, clean;
 *   overflow      the header's flags and page count: refused; its body
 *                 (a sale before the checkpoint): served, with STORAGE for
 *                 that customer's HISTORY and that ORDER, nothing else;
 *   free list     a free-list page's flags, a list's count, a page number
 *                 past the file, a page number that names a page in use
 *                 (LMDB would write new data over it): refused; a page no
 *                 tree reaches: served, clean;
 *   snapshots     a byte and the checksum of a value in customers, orders,
 *                 requests, keys and program: refused, the database named;
 *   database names each named database's name in the main tree: refused (the
 *                 database is missing; making it anew, empty, loses it);
 *   meta database checkpoint_seq, saved_seq, format (each sealed with a
 *                 checksum): any changed bit refused, the value named;
 *   records       every kind of PROTO_ENTRIES before the checkpoint:
 *                 served, STORAGE for its customer's HISTORY (and orders it
 *                 belongs to), accrue-check naming its seq; the same kinds
 *                 in the tail, and the checkpointed record itself: refused,
 *                 naming the record.
 *
 * Every case, and every trial of the random run: accrue-check never dies
 * of a signal, says something when it does not exit 0 and leaves data.mdb
 * as it was (so does a daemon that refuses to start); the daemon never
 * dies of a signal, never logs "first start" nor writes a new admin.key,
 * refuses with the reason and "refusing to start" in its log, or serves
 * exactly what it had (a read may get STORAGE; nothing else), and a daemon
 * that started stops cleanly on SIGTERM. One line per case says what was
 * expected and what happened.
 *
 * DAMAGE_FLIPS=N (make damage) runs N random trials instead of the corpus
 * (it_damage/random.c), from DAMAGE_SEED (default: the time, printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "harness.h"
#include "record.h"
#include "damage.h"

struct dmg_ledger ledger;
const char *check_bin;

/* A u64 of the meta database (sealed, as the daemon writes it), 0 if absent or damaged. */
static uint64_t meta_u64(const struct dmg_map *m, const char *name)
{
	const struct dmg_entry *e = dmg_map_entry(m, RECORD_DB_META, name, strlen(name));
	uint64_t v = 0;
	return e && record_meta_open(name, m->file + e->val_off, e->val_len, &v) == 0 ? v : 0;
}

static void describe(const struct dmg_map *m)
{
	uint64_t kinds[DMG_PAGE_OVERFLOW + 1] = {0}, entries[RECORD_DB_COUNT] = {0}, free_lists = 0;

	for (uint64_t p = 0; p <= m->last_pg; p++)
		kinds[m->pages[p].kind]++;
	for (size_t i = 0; i < m->nentries; i++) {
		if (m->entries[i].tree >= 0)
			entries[m->entries[i].tree]++;
		free_lists += m->entries[i].tree == DMG_TREE_FREE;
	}
	printf("  ledger: %d customers, %llu sales, journal seq 1..%llu, checkpoint at %llu; data.mdb %zu bytes, "
	       "%llu pages used: %llu branch, %llu leaf, %llu overflow, %llu reached from no tree; %llu free lists\n",
	       ledger.ncustomers, (unsigned long long)ledger.sales, (unsigned long long)ledger.last_seq,
	       (unsigned long long)ledger.ckpt_seq, ledger.mdb_size, (unsigned long long)(m->last_pg + 1),
	       (unsigned long long)kinds[DMG_PAGE_BRANCH], (unsigned long long)kinds[DMG_PAGE_LEAF],
	       (unsigned long long)kinds[DMG_PAGE_OVERFLOW], (unsigned long long)kinds[DMG_PAGE_UNUSED],
	       (unsigned long long)free_lists);
	printf("  entries:");
	for (int db = 0; db < RECORD_DB_COUNT; db++)
		printf(" %s %llu", record_db_name(db), (unsigned long long)entries[db]);
	printf("\n");
}

int main(void)
{
	const char *flips = getenv("DAMAGE_FLIPS"), *seed = getenv("DAMAGE_SEED");
	long long t0 = harness_now_ms();
	struct dmg_map map;

	check_bin = getenv("ACCRUE_CHECK_BIN");
	REQUIRE(check_bin != NULL && *check_bin);
	dmg_ledger_build(&ledger);
	REQUIRE(dmg_map_build(&map, ledger.mdb, ledger.mdb_size) == 0);
	ledger.ckpt_seq = meta_u64(&map, "checkpoint_seq");
	for (size_t i = 0; i < map.nentries; i++)
		if (map.entries[i].tree == RECORD_DB_JOURNAL && map.entries[i].key_len == 8) {
			uint64_t seq = record_key_u64_read(map.file + map.entries[i].key_off);
			ledger.last_seq = seq > ledger.last_seq ? seq : ledger.last_seq;
		}
	REQUIRE(ledger.ckpt_seq > 0 && ledger.ckpt_seq < ledger.last_seq);
	describe(&map);
	printf("  built in %lld ms\n", harness_now_ms() - t0);
	fflush(stdout);

	t0 = harness_now_ms();
	if (flips && *flips) {
		long n = strtol(flips, NULL, 10);
		uint64_t s = seed && *seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
		REQUIRE(n > 0);
		dmg_random_run(&map, n, s);
	} else {
		dmg_corpus_run(&map);
	}
	printf("  damage trials took %lld ms\n", harness_now_ms() - t0);
	dmg_map_free(&map);
	free(ledger.mdb);
	free(ledger.settings);
	/* Each failed case printed its own part of the log: the whole of it would only repeat them. */
	harness_finish(&ledger.h, 0);
	return check_done("it_damage");
}
