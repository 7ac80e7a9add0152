/*
 * it_disk.c - a data directory that has lost its ledger, against the real
 * daemon.
 *
 * Lost ledger: a ledger is made and stopped cleanly, then copied into a
 * fresh directory for each kind of loss: data.mdb emptied to 0 bytes;
 * data.mdb deleted (admin.key and lock.mdb still there); nothing left but
 * admin.key; a directory of files that are not accrue's; and the newest
 * LMDB meta page's main root damaged three ways (cleared, so that the
 * named databases are gone; pointing past the end of the file; pointing at
 * a meta page, which makes LMDB assert). Each time accrued must exit 1
 * at once, say what is wrong and the way out (restore a backup, or move
 * the directory aside), and leave the directory as it was: admin.key and
 * data.mdb byte for byte, no file added. A directory holding only what a
 * new file system and an interrupted start leave (lost+found, accrued.lock)
 * and one that does not exist yet still get a new ledger.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_check.h"
#include "harness.h"
#include "raw.h"

static struct harness h;

/* ---- small helpers ------------------------------------------------------- */

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* The whole of a file into *buf (malloc'd). Returns its length or -1. */
static long slurp(const char *path, char **buf)
{
	off_t n = file_size(path);
	long got;

	*buf = NULL;
	if (n < 0 || !(*buf = malloc((size_t)n + 1)))
		return -1;
	got = harness_read_file(path, *buf, (size_t)n + 1);
	return got == (long)n ? got : -1;
}

static int same_file(const char *a, const char *b)
{
	char *x, *y;
	long nx = slurp(a, &x), ny = slurp(b, &y);
	int same = nx >= 0 && nx == ny && memcmp(x, y, (size_t)nx) == 0;

	free(x);
	free(y);
	return same;
}

static int write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int ok = fd >= 0 && write(fd, p, n) == (ssize_t)n;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* Copy the files of a stopped ledger that from holds into to (made). */
static int copy_dir(const char *from, const char *to)
{
	static const char *const names[] = {"data.mdb", "lock.mdb", "admin.key", "accrued.lock", NULL};
	char a[HARNESS_PATH_MAX + 32], b[HARNESS_PATH_MAX + 32];

	if (mkdir(to, 0700) != 0)
		return -1;
	for (int i = 0; names[i]; i++) {
		char *buf;
		long n;
		snprintf(a, sizeof a, "%s/%s", from, names[i]);
		snprintf(b, sizeof b, "%s/%s", to, names[i]);
		if (!exists(a))
			continue;
		if ((n = slurp(a, &buf)) < 0 || write_file(b, buf, (size_t)n)) {
			free(buf);
			return -1;
		}
		free(buf);
	}
	return 0;
}

/* Whether dir/name is as the copy in snap/name says (or both are absent). */
static int unchanged(const char *dir, const char *snap, const char *name)
{
	char a[HARNESS_PATH_MAX + 32], b[HARNESS_PATH_MAX + 32];

	snprintf(a, sizeof a, "%s/%s", dir, name);
	snprintf(b, sizeof b, "%s/%s", snap, name);
	if (!exists(b))
		return !exists(a);
	return same_file(a, b);
}

/* The names in dir, sorted, one line each, into out. */
static void list_dir(const char *dir, char *out, size_t cap)
{
	char cmd[HARNESS_PATH_MAX + 32];
	char *argv[] = {"/bin/ls", "-A", cmd, NULL};

	snprintf(cmd, sizeof cmd, "%s", dir);
	if (harness_run(argv, out, cap, NULL, 0, 10000) != 0)
		snprintf(out, cap, "(cannot list %s)", dir);
}

/*
 * Run accrued on dir (waiting at most 10 s: it must refuse at once).
 * Returns its exit status, or -1 if it was still running (it started).
 */
static int run_accrued(const char *dir, char *out, size_t cap)
{
	char *argv[] = {getenv("ACCRUED_BIN"), "--data", (char *)dir, "--listen", "127.0.0.1:0", NULL};

	REQUIRE(argv[0] != NULL);
	return harness_run(argv, NULL, 0, out, cap, 10000);
}

#define CHECK_HAS(text, needle)                                                                  \
	do {                                                                                     \
		CHECK(strstr(text, needle) != NULL);                                             \
		if (!strstr(text, needle))                                                       \
			fprintf(stderr, "    expected \"%s\" in: %s\n", needle, text);            \
	} while (0)

/* ---- LMDB's meta pages ------------------------------------------------------ */

/*
 * liblmdb 0.9's file format (mdb.c, MDB_meta): pages 0 and 1 are meta
 * pages, each a 16-byte page header and then the meta: magic (4), version
 * (4), address (8), map size (8), the free and the main database (MDB_db,
 * 48 bytes each: pad, which in the free one is the page size (4), flags
 * (2), depth (2), branch, leaf and overflow pages, entries and root (8
 * each)), the last page (8) and the txnid (8). LMDB uses the one with the
 * larger txnid.
 */
#define META_AT 16
#define META_PSIZE (META_AT + 24)
#define META_MAIN (META_AT + 72)
#define META_LAST_PG (META_AT + 120)
#define META_TXNID (META_AT + 128)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

enum root_damage { ROOT_CLEARED, ROOT_PAST_END, ROOT_META_PAGE };

/* Damage the main database's root in the newest meta page of path. */
static int damage_main_root(const char *path, enum root_damage how)
{
	uint8_t page0[256], meta[256];
	uint32_t psize;
	off_t at;
	int fd = open(path, O_RDWR), rc = -1;

	if (fd < 0 || pread(fd, page0, sizeof page0, 0) != (ssize_t)sizeof page0)
		goto out;
	memcpy(&psize, page0 + META_PSIZE, 4);
	if (psize < 512 || pread(fd, meta, sizeof meta, psize) != (ssize_t)sizeof meta)
		goto out;
	at = le64(meta + META_TXNID) > le64(page0 + META_TXNID) ? (off_t)psize : 0;
	if (at == 0)
		memcpy(meta, page0, sizeof meta);
	switch (how) {
	case ROOT_CLEARED:
		/* An empty main tree: depth, page counts and entries 0, no root. */
		memset(meta + META_MAIN + 6, 0, 2 + 8 * 4);
		put_le64(meta + META_MAIN + 40, ~(uint64_t)0);
		break;
	case ROOT_PAST_END:
		put_le64(meta + META_MAIN + 40, le64(meta + META_LAST_PG) + 1000);
		break;
	case ROOT_META_PAGE:
		put_le64(meta + META_MAIN + 40, 0);
		break;
	}
	if (pwrite(fd, meta, sizeof meta, at) == (ssize_t)sizeof meta && fsync(fd) == 0)
		rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- lost ledger --------------------------------------------------------------- */

enum loss { LOSS_EMPTY, LOSS_DELETED, LOSS_KEY_ONLY, LOSS_FOREIGN, LOSS_ROOT_CLEARED, LOSS_ROOT_PAST_END, LOSS_ROOT_META };

static const struct {
	enum loss loss;
	const char *name;
	const char *says; /* what the refusal must name */
} losses[] = {
	{LOSS_EMPTY, "data.mdb emptied", "data.mdb is empty (0 bytes)"},
	{LOSS_DELETED, "data.mdb deleted", "data.mdb is missing beside lock.mdb, admin.key"},
	{LOSS_KEY_ONLY, "only admin.key left", "data.mdb is missing beside admin.key"},
	{LOSS_FOREIGN, "a directory of other files", "is not empty and holds no ledger (no data.mdb, but notes.txt"},
	{LOSS_ROOT_CLEARED, "main root cleared", "has lost accrue's databases (there is no \"meta\" database)"},
	{LOSS_ROOT_PAST_END, "main root past the end", "is damaged"},
	{LOSS_ROOT_META, "main root at a meta page", "is damaged"},
};

static void test_lost_ledger(void)
{
	const char *args[] = {"--preallocate", "0", NULL};
	char pristine[HARNESS_PATH_MAX + 32], dir[HARNESS_PATH_MAX + 32], path[HARNESS_PATH_MAX + 64],
		snap[HARNESS_PATH_MAX + 32], old_key[HARNESS_PATH_MAX + 64], before[4096], after[4096];
	static char out[65536];
	accrue *a = NULL;

	REQUIRE(harness_start_args(&h, "it_disk.lost", args) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	{
		struct accrue_customer c;
		uint8_t key[ACCRUE_KEY_SIZE];
		new_key(key);
		CHECK_RC(a, accrue_enrol(a, key, "kept@example.com", NULL, "Kept", "Customer", &c, NULL), 0);
	}
	accrue_close(a);
	REQUIRE(harness_stop(&h) == 0);
	snprintf(pristine, sizeof pristine, "%s/pristine", h.root);
	REQUIRE(copy_dir(h.data, pristine) == 0);

	for (size_t i = 0; i < sizeof losses / sizeof losses[0]; i++) {
		enum loss loss = losses[i].loss;
		int rc, failures = check_failures;

		snprintf(dir, sizeof dir, "%s/case-%zu", h.root, i);
		if (loss == LOSS_FOREIGN) {
			REQUIRE(mkdir(dir, 0700) == 0);
			snprintf(path, sizeof path, "%s/notes.txt", dir);
			REQUIRE(write_file(path, "not a ledger\n", 13) == 0);
			snprintf(path, sizeof path, "%s/photos", dir);
			REQUIRE(mkdir(path, 0700) == 0);
		} else {
			REQUIRE(copy_dir(pristine, dir) == 0);
		}
		snprintf(path, sizeof path, "%s/data.mdb", dir);
		switch (loss) {
		case LOSS_EMPTY:
			REQUIRE(truncate(path, 0) == 0);
			break;
		case LOSS_DELETED:
			REQUIRE(unlink(path) == 0);
			break;
		case LOSS_KEY_ONLY:
			REQUIRE(unlink(path) == 0);
			snprintf(path, sizeof path, "%s/lock.mdb", dir);
			REQUIRE(unlink(path) == 0);
			snprintf(path, sizeof path, "%s/accrued.lock", dir);
			REQUIRE(unlink(path) == 0);
			break;
		case LOSS_FOREIGN:
			break;
		case LOSS_ROOT_CLEARED:
		case LOSS_ROOT_PAST_END:
		case LOSS_ROOT_META:
			REQUIRE(damage_main_root(path, loss == LOSS_ROOT_CLEARED    ? ROOT_CLEARED
						       : loss == LOSS_ROOT_PAST_END ? ROOT_PAST_END
										    : ROOT_META_PAGE) == 0);
			break;
		}
		/* What the directory holds now is what it must hold after. */
		snprintf(snap, sizeof snap, "%s/snap-%zu", h.root, i);
		REQUIRE(copy_dir(dir, snap) == 0);
		list_dir(dir, before, sizeof before);

		rc = run_accrued(dir, out, sizeof out);
		CHECK_INT(rc, 1);
		CHECK_HAS(out, losses[i].says);
		if (loss == LOSS_FOREIGN) {
			CHECK_HAS(out, "give --data an empty or new directory");
		} else {
			CHECK_HAS(out, "restore the directory from a backup");
			CHECK_HAS(out, "move it aside to start a new ledger");
		}
		CHECK(strstr(out, "first start") == NULL);
		list_dir(dir, after, sizeof after);
		CHECK_STR(after, before);
		CHECK(unchanged(dir, snap, "admin.key"));
		CHECK(unchanged(dir, snap, "data.mdb"));
		if (check_failures != failures)
			fprintf(stderr, "    case \"%s\": accrued exited %d and said: %s\n", losses[i].name, rc, out);
		else
			printf("  lost ledger, %s: refused, the directory left as it was\n", losses[i].name);
	}

	/* What a new file system and a start stopped at once leave is no ledger. */
	{
		char *names[] = {"data.mdb", "lock.mdb", "admin.key", "accrued.addr", NULL};
		for (int i = 0; names[i]; i++) {
			snprintf(path, sizeof path, "%s/%s", h.data, names[i]);
			unlink(path);
		}
		snprintf(path, sizeof path, "%s/lost+found", h.data);
		REQUIRE(mkdir(path, 0700) == 0);
		REQUIRE(harness_restart(&h) == 0);
		snprintf(old_key, sizeof old_key, "%s/admin.key", pristine);
		CHECK(file_size(h.key_file) > 0);
		CHECK(!same_file(h.key_file, old_key));
		REQUIRE(harness_connect(&h, &a) == 0);
		{
			struct accrue_customer c;
			CHECK_RC(a, accrue_lookup(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = 1}, &c),
				 ACCRUE_ST_NOT_FOUND);
		}
		accrue_close(a);
		REQUIRE(harness_stop(&h) == 0);
	}
	/* A directory that does not exist yet. */
	REQUIRE(snprintf(h.data, sizeof h.data, "%s/new", h.root) < (int)sizeof h.data);
	REQUIRE(snprintf(h.addr_file, sizeof h.addr_file, "%s/accrued.addr", h.data) < (int)sizeof h.addr_file);
	REQUIRE(snprintf(h.key_file, sizeof h.key_file, "%s/admin.key", h.data) < (int)sizeof h.key_file);
	REQUIRE(harness_restart(&h) == 0);
	CHECK(file_size(h.key_file) > 0);
	REQUIRE(harness_stop(&h) == 0);
	printf("  a directory with only lost+found and accrued.lock, and a new one: new ledgers\n");
	harness_finish(&h, check_failures);
}

int main(void)
{
	test_lost_ledger();
	return check_done("it_disk");
}
