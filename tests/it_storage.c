/*
 * it_storage.c - storage faults against the real daemon: a full disk, a
 * map that has to grow, and a damaged journal record.
 *
 * Full disk: the daemon's file-size limit (RLIMIT_FSIZE, set on the running
 * daemon with prlimit) is lowered to the size its data file has now, so the
 * next commit that has to grow the file fails with EFBIG exactly as it would
 * with ENOSPC. This daemon runs with --preallocate 0, so the file holds no
 * reserve of zeros ahead of its last page. Every sale sent meanwhile must come back either OK or
 * STORAGE: OK ones are in the history after a SIGKILL and restart, STORAGE
 * ones are not, and nothing is in twice. Reads keep working while writes
 * fail; when the limit is lifted ("space returns") sales are accepted again
 * without a restart.
 *
 * Full disk with a reserve: with preallocation on (the default) the same
 * limit stops the zeros written ahead, which the log says, while sales go
 * on into the reserve already written: all are acknowledged and all are
 * there after a SIGKILL and restart.
 *
 * Map growth: a daemon started with --map-size 1 (1 MiB) takes several
 * thousand sales; the map doubles by itself (the log says so) and nothing
 * is refused.
 *
 * Damaged journal: one byte of a sale's record after the last checkpoint is
 * flipped in data.mdb. The daemon refuses to start, names the record's seq
 * and says how to start anyway; with --discard-journal-from SEQ it starts,
 * keeps the records before SEQ, and has moved SEQ and the rest to a file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_check.h"
#include "harness.h"

static struct harness h;

static int64_t balance_of(accrue *a, uint64_t id)
{
	struct accrue_customer c;
	int rc = accrue_lookup(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, &c);

	CHECK_RC(a, rc, 0);
	return rc ? -1 : c.balance;
}

static uint64_t enrol(accrue *a, const char *email)
{
	struct accrue_customer c;
	uint8_t key[ACCRUE_KEY_SIZE];
	int rc;

	new_key(key);
	rc = accrue_enrol(a, key, email, NULL, "Test", "Customer", &c, NULL);
	CHECK_RC(a, rc, 0);
	return rc ? 0 : c.id;
}

/* How many history entries of customer id carry order_id (0, 1, or a bug). */
static int history_count(accrue *a, uint64_t id, const char *order_id)
{
	static struct accrue_entry e[256];
	uint64_t before = 0, next;
	uint32_t n;
	int found = 0;

	do {
		int rc = accrue_history(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, before, e, 256, &n, &next);
		CHECK_RC(a, rc, 0);
		if (rc)
			return -1;
		for (uint32_t i = 0; i < n; i++)
			found += strcmp(e[i].order_id, order_id) == 0;
		before = next;
	} while (before);
	return found;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static int set_fsize(pid_t pid, rlim_t soft)
{
	struct rlimit rl;

	if (prlimit(pid, RLIMIT_FSIZE, NULL, &rl) != 0)
		return -1;
	rl.rlim_cur = soft;
	return prlimit(pid, RLIMIT_FSIZE, &rl, NULL);
}

static int log_has(const char *needle)
{
	static char buf[1 << 20];
	long n = harness_read_file(h.log, buf, sizeof buf);
	return n > 0 && strstr(buf, needle) != NULL;
}

/* ---- full disk -------------------------------------------------------------- */

#define DISK_SALES 3000

static void test_full_disk(void)
{
	const char *args[] = {"--preallocate", "0", NULL};
	static char outcome[DISK_SALES]; /* 'o' acknowledged, 's' STORAGE */
	char data_mdb[HARNESS_PATH_MAX + 16], order[32];
	accrue *a = NULL;
	uint64_t id;
	int64_t acked_points = 0, before;
	size_t ok = 0, refused = 0, ok_after = 0;
	struct accrue_result r;

	REQUIRE(harness_start_args(&h, "it_storage.disk", args) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	id = enrol(a, "disk@example.com");
	REQUIRE(id != 0);
	snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", h.data);

	/* Some acknowledged sales before the disk fills. */
	for (int i = 0; i < 50; i++) {
		uint8_t key[ACCRUE_KEY_SIZE];
		new_key(key);
		snprintf(order, sizeof order, "pre-%d", i);
		CHECK_RC(a, accrue_accrue(a, key, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, NULL, order, 1000, &r), 0);
		acked_points += r.points;
	}
	before = balance_of(a, id);
	CHECK_INT(before, acked_points);

	/* The disk is full: not one byte more for the data file. */
	REQUIRE(set_fsize(h.pid, (rlim_t)file_size(data_mdb)) == 0);
	for (int i = 0; i < DISK_SALES; i++) {
		uint8_t key[ACCRUE_KEY_SIZE];
		int rc;

		new_key(key);
		snprintf(order, sizeof order, "full-%d", i);
		rc = accrue_accrue(a, key, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, NULL, order, 1000, &r);
		if (rc == 0) {
			outcome[i] = 'o';
			ok++;
			acked_points += r.points;
		} else {
			/* Anything but a clear storage refusal is a failure, and
			 * the end of this test: a daemon that died answers no more. */
			if (rc != ACCRUE_ST_STORAGE)
				fprintf(stderr, "    sale %d: %s: %s\n", i, accrue_strerror(rc), accrue_message(a));
			REQUIRE(rc == ACCRUE_ST_STORAGE);
			if (refused == 0) {
				CHECK_MSG_HAS(a, "could not be made durable");
				CHECK_MSG_HAS(a, "nothing was applied");
			}
			outcome[i] = 's';
			refused++;
		}
		/* Reads work while writes fail. */
		if (i % 500 == 0)
			CHECK_INT(balance_of(a, id), acked_points);
	}
	printf("  full disk: %zu of %d sales refused with STORAGE, %zu acknowledged (free pages reused)\n", refused,
	       DISK_SALES, ok);
	CHECK(refused > 0);
	CHECK_INT(balance_of(a, id), acked_points);
	/* LMDB reports a short write as EIO, a refused one as EFBIG: either way the log says why. */
	CHECK(log_has("commit failed: "));

	/* Space returns: sales are taken again, without a restart. */
	REQUIRE(set_fsize(h.pid, RLIM_INFINITY) == 0);
	for (int i = 0; i < 20; i++) {
		uint8_t key[ACCRUE_KEY_SIZE];
		new_key(key);
		snprintf(order, sizeof order, "after-%d", i);
		CHECK_RC(a, accrue_accrue(a, key, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, NULL, order, 1000, &r), 0);
		if (r.points > 0 || r.seq)
			ok_after++;
		acked_points += r.points;
	}
	CHECK_INT(ok_after, 20);
	CHECK_INT(balance_of(a, id), acked_points);

	/* The crash: every acknowledged sale is there once, no refused one is. */
	harness_kill(&h);
	REQUIRE(harness_restart(&h) == 0);
	accrue_close(a);
	REQUIRE(harness_connect(&h, &a) == 0);
	CHECK_INT(balance_of(a, id), acked_points);
	{
		static struct accrue_entry e[256];
		uint64_t bef = 0, next;
		uint32_t n;
		size_t seen_ok = 0, seen_bad = 0;
		static char seen[DISK_SALES];

		memset(seen, 0, sizeof seen);
		do {
			int rc = accrue_history(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, bef, e, 256, &n, &next);
			CHECK_RC(a, rc, 0);
			if (rc)
				break;
			for (uint32_t i = 0; i < n; i++) {
				int k;
				if (sscanf(e[i].order_id, "full-%d", &k) != 1 || k < 0 || k >= DISK_SALES)
					continue;
				seen[k]++;
			}
			bef = next;
		} while (bef);
		for (int k = 0; k < DISK_SALES; k++) {
			if (outcome[k] == 'o')
				seen_ok += seen[k] == 1;
			else
				seen_bad += seen[k] != 0;
			if ((outcome[k] == 'o' && seen[k] != 1) || (outcome[k] == 's' && seen[k] != 0))
				fprintf(stderr, "    sale full-%d: outcome %c, in history %d times\n", k, outcome[k], seen[k]);
		}
		CHECK_INT(seen_ok, ok);
		CHECK_INT(seen_bad, 0);
	}
	CHECK_INT(history_count(a, id, "after-19"), 1);
	accrue_close(a);
	harness_finish(&h, check_failures);
}

#define RESERVE_SALES 2000

static void test_full_disk_reserve(void)
{
	char data_mdb[HARNESS_PATH_MAX + 16], order[32];
	accrue *a = NULL;
	uint64_t id;
	int64_t acked_points = 0;
	struct accrue_result r;

	REQUIRE(harness_start(&h, "it_storage.reserve") == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	id = enrol(a, "reserve@example.com");
	REQUIRE(id != 0);
	snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", h.data);
	REQUIRE(set_fsize(h.pid, (rlim_t)file_size(data_mdb)) == 0);
	for (int i = 0; i < RESERVE_SALES; i++) {
		uint8_t key[ACCRUE_KEY_SIZE];
		new_key(key);
		snprintf(order, sizeof order, "reserve-%d", i);
		CHECK_RC(a, accrue_accrue(a, key, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, NULL, order, 1000, &r), 0);
		acked_points += r.points;
	}
	CHECK_INT(balance_of(a, id), acked_points);
	CHECK(log_has("preallocating the data file failed"));
	printf("  full disk with a reserve: %d sales acknowledged from the zeros written ahead; the failed preallocation logged\n",
	       RESERVE_SALES);

	harness_kill(&h);
	REQUIRE(harness_restart(&h) == 0);
	accrue_close(a);
	REQUIRE(harness_connect(&h, &a) == 0);
	CHECK_INT(balance_of(a, id), acked_points);
	CHECK_INT(history_count(a, id, "reserve-0"), 1);
	CHECK_INT(history_count(a, id, "reserve-1999"), 1);
	accrue_close(a);
	harness_finish(&h, check_failures);
}

/* ---- map growth -------------------------------------------------------------- */

#define MAP_BATCHES 40
#define MAP_BATCH 500

static void test_map_growth(void)
{
	const char *args[] = {"--map-size", "1", NULL};
	static struct accrue_ref refs[MAP_BATCH];
	static struct accrue_sale sales[MAP_BATCH];
	static struct accrue_batch_result res[MAP_BATCH];
	static char orders[MAP_BATCH][64];
	static uint8_t keys[MAP_BATCH][ACCRUE_KEY_SIZE];
	accrue *a = NULL;
	uint64_t id;
	int64_t points = 0;
	size_t ok = 0;

	REQUIRE(harness_start_args(&h, "it_storage.map", args) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	accrue_set_timeout(a, 60000);
	id = enrol(a, "map@example.com");
	REQUIRE(id != 0);
	/* 20,000 sales: several MiB of journal, orders and request keys. */
	for (int b = 0; b < MAP_BATCHES; b++) {
		for (int i = 0; i < MAP_BATCH; i++) {
			snprintf(orders[i], sizeof orders[i], "map-order-with-a-longish-id-%d-%d", b, i);
			refs[i] = by_id(id);
			memset(&sales[i], 0, sizeof sales[i]);
			sales[i].order_id = orders[i];
			sales[i].amount = 2500;
			new_key(keys[i]);
		}
		CHECK_RC(a, accrue_batch(a, MAP_BATCH, (const uint8_t (*)[ACCRUE_KEY_SIZE])keys, refs, sales, res), 0);
		for (int i = 0; i < MAP_BATCH; i++) {
			CHECK_INT(res[i].status, 0);
			ok += res[i].status == 0;
			points += res[i].status == 0 ? res[i].points : 0;
		}
	}
	CHECK_INT(ok, MAP_BATCHES * MAP_BATCH);
	CHECK(log_has("LMDB map grown to 2 MiB"));
	CHECK(log_has("LMDB map grown to 4 MiB"));
	CHECK_INT(balance_of(a, id), points);
	harness_kill(&h);
	REQUIRE(harness_restart(&h) == 0);
	accrue_close(a);
	REQUIRE(harness_connect(&h, &a) == 0);
	CHECK_INT(balance_of(a, id), points);
	/* Their orders and request keys were saved, and recovery took them from
	 * there instead of making them again: they still hold. The last batch
	 * sent again is 500 replays; one of its orders under a new key is a
	 * duplicate. */
	CHECK_RC(a, accrue_batch(a, MAP_BATCH, (const uint8_t (*)[ACCRUE_KEY_SIZE])keys, refs, sales, res), 0);
	{
		size_t replays = 0;
		for (int i = 0; i < MAP_BATCH; i++)
			replays += res[i].status == 0 && res[i].replay;
		CHECK_INT(replays, MAP_BATCH);
	}
	{
		uint8_t key[ACCRUE_KEY_SIZE];
		struct accrue_result r;
		new_key(key);
		CHECK_RC(a, accrue_accrue(a, key, &refs[0], NULL, orders[7], 2500, &r), ACCRUE_ST_DUPLICATE_ORDER);
	}
	CHECK_INT(balance_of(a, id), points);
	printf("  map growth: %zu sales from a 1 MiB map, grown by itself, all kept\n", ok);
	accrue_close(a);
	harness_finish(&h, check_failures);
}

/* ---- damaged journal ------------------------------------------------------------- */

/* Sales after the damaged one, enough that the daemon writes their orders
 * and request keys (and the damaged sale's) before any checkpoint. */
#define DAMAGE_BULK 1100

static void test_damaged_journal(void)
{
	/* No checkpoint while the test writes: every sale stays in the tail. */
	const char *args[] = {"--checkpoint-records", "1000000", "--checkpoint-seconds", "100000", NULL};
	static struct accrue_ref refs[DAMAGE_BULK];
	static struct accrue_sale sales[DAMAGE_BULK];
	static struct accrue_batch_result res[DAMAGE_BULK];
	static char bulk_orders[DAMAGE_BULK][32];
	char data_mdb[HARNESS_PATH_MAX + 16], path[HARNESS_PATH_MAX + 64], want[160], order[48];
	struct accrue_result r;
	uint64_t id, seqs[10];
	uint8_t keys[10][ACCRUE_KEY_SIZE];
	int64_t points_before = 0;
	accrue *a = NULL;
	int status;

	REQUIRE(harness_start_args(&h, "it_storage.damage", args) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	id = enrol(a, "damage@example.com");
	REQUIRE(id != 0);
	for (int i = 0; i < 10; i++) {
		new_key(keys[i]);
		snprintf(order, sizeof order, "damage-order-%d-x", i);
		CHECK_RC(a, accrue_accrue(a, keys[i], &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, NULL, order, 1000, &r), 0);
		seqs[i] = r.seq;
		if (i < 6)
			points_before += r.points;
	}
	for (int i = 0; i < DAMAGE_BULK; i++) {
		snprintf(bulk_orders[i], sizeof bulk_orders[i], "bulk-%d", i);
		refs[i] = by_id(id);
		memset(&sales[i], 0, sizeof sales[i]);
		sales[i].order_id = bulk_orders[i];
		sales[i].amount = 500;
	}
	CHECK_RC(a, accrue_batch(a, DAMAGE_BULK, NULL, refs, sales, res), 0);
	CHECK_INT(res[DAMAGE_BULK - 1].status, 0);
	accrue_close(a);
	harness_kill(&h);

	/* Sale 6's order id is in its journal record and in the order saved
	 * with it (no checkpoint ran: only that record says what it did). */
	snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", h.data);
	REQUIRE(harness_flip_in_file(data_mdb, "damage-order-6-x") > 0);

	/* Refused, naming what is damaged and the way out. The order saved with
	 * sale 6 is read first (snapshots load before the journal is replayed)
	 * and its checksum fails: it is named, by the seq of the sale it was
	 * saved with. */
	status = harness_restart(&h);
	CHECK(status != 0);
	snprintf(want, sizeof want, "damaged snapshot in orders, entry %llu", (unsigned long long)seqs[6]);
	CHECK(log_has(want));
	snprintf(want, sizeof want, "--discard-journal-from %llu", (unsigned long long)seqs[6]);
	CHECK(log_has(want));
	CHECK(log_has("refusing to start"));
	if (!log_has(want))
		harness_dump_log(&h, 4000);

	/* accrue-check finds it too, by seq. */
	if (getenv("ACCRUE_CHECK_BIN")) {
		static char out[65536];
		char *argv[] = {getenv("ACCRUE_CHECK_BIN"), h.data, NULL};
		int rc = harness_run(argv, out, sizeof out, NULL, 0, 60000);
		CHECK_INT(rc, 1);
		snprintf(want, sizeof want, "seq %llu", (unsigned long long)seqs[6]);
		CHECK(strstr(out, want) != NULL);
	} else {
		CHECK(!"ACCRUE_CHECK_BIN is not set");
	}

	/* Told to: it starts from the records before, and keeps the rest aside. */
	snprintf(want, sizeof want, "%llu", (unsigned long long)seqs[6]);
	h.extra[4] = "--discard-journal-from";
	h.extra[5] = want;
	h.extra[6] = NULL;
	REQUIRE(harness_restart(&h) == 0);
	snprintf(path, sizeof path, "%s/discarded-journal-%llu.bin", h.data, (unsigned long long)seqs[6]);
	CHECK(file_size(path) > 8);
	snprintf(want, sizeof want, "discarded %d journal records", 4 + DAMAGE_BULK);
	CHECK(log_has(want));
	REQUIRE(harness_connect(&h, &a) == 0);
	CHECK_INT(balance_of(a, id), points_before);
	CHECK_INT(history_count(a, id, "damage-order-5-x"), 1);
	CHECK_INT(history_count(a, id, "damage-order-7-x"), 0);
	/* The discarded sales' orders and request keys went with them: sent
	 * again, sale 7 is a new sale, neither a duplicate nor a replay. */
	CHECK_RC(a, accrue_accrue(a, keys[7], &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, NULL, "damage-order-7-x",
				  1000, &r),
		 0);
	CHECK_INT(r.replay, 0);
	points_before += r.points;
	CHECK_INT(history_count(a, id, "damage-order-7-x"), 1);
	{
		uint8_t key[ACCRUE_KEY_SIZE];
		new_key(key);
		CHECK_RC(a, accrue_accrue(a, key, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, NULL, "bulk-1099", 500, &r), 0);
		points_before += r.points;
	}
	accrue_close(a);
	/* Later starts need no flag. */
	harness_kill(&h);
	h.extra[4] = NULL;
	REQUIRE(harness_restart(&h) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	CHECK_INT(balance_of(a, id), points_before);
	accrue_close(a);
	printf("  damaged journal: record %llu refused by seq, started with --discard-journal-from, %d records set aside "
	       "with their saved orders and request keys\n",
	       (unsigned long long)seqs[6], 4 + DAMAGE_BULK);
	harness_finish(&h, check_failures);
}

/* Keys at rest: the data file holds a key's hash, never the key. */
static void test_keys_at_rest(void)
{
	static char buf[8 << 20];
	char data_mdb[HARNESS_PATH_MAX + 16], out[4096], secret[256];
	const char *p;
	long n;
	int fd;

	REQUIRE(harness_start(&h, "it_storage.keys") == 0);
	/* A second key, created through accruectl, shown once on its stdout. */
	CHECK_INT(harness_ctl(&h, out, sizeof out, NULL, 0, "key", "create", "--role", "terminal", "--location", "s1", NULL), 0);
	p = strstr(out, "ak_");
	REQUIRE(p != NULL);
	n = (long)strcspn(p, " \n\t");
	snprintf(secret, sizeof secret, "%.*s", (int)n, p);
	CHECK(n >= 3 + 1 + 1 + 32); /* ak_ID_ and at least 128 bits of hex */
	REQUIRE(harness_stop(&h) == 0);
	snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", h.data);
	fd = open(data_mdb, O_RDONLY);
	REQUIRE(fd >= 0);
	n = (long)read(fd, buf, sizeof buf);
	close(fd);
	REQUIRE(n > 0);
	/* Neither key's text, nor its secret part, is anywhere in the file. */
	CHECK(memmem(buf, (size_t)n, secret, strlen(secret)) == NULL);
	CHECK(memmem(buf, (size_t)n, strrchr(secret, '_') + 1, strlen(strrchr(secret, '_') + 1)) == NULL);
	CHECK(memmem(buf, (size_t)n, strrchr(h.admin_key, '_') + 1, strlen(strrchr(h.admin_key, '_') + 1)) == NULL);
	printf("  keys at rest: neither the admin key nor a created key appears in data.mdb\n");
	harness_finish(&h, check_failures);
}

int main(void)
{
	test_keys_at_rest();
	test_full_disk();
	test_full_disk_reserve();
	test_map_growth();
	test_damaged_journal();
	return check_done("it_storage");
}
