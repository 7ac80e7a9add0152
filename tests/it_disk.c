/*
 * it_disk.c - a data directory that has lost its ledger, and a full disk
 * with a checkpoint due, against the real daemon.
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
 *
 * Full disk: a ledger of NCUST customers is made with no checkpoint, and
 * the daemon killed, so the next one starts with all of them to
 * checkpoint; it is restarted with a checkpoint due a second after start,
 * on a disk that cannot take it. Twice: the data file at a file-size limit
 * (RLIMIT_FSIZE, inherited from this process: works anywhere), and, where
 * this runs as root and may loop-mount, data.mdb on a 32 MiB ext4 image
 * filled but for a little room that the preallocation takes. While the
 * checkpoint fails, idle: the daemon's CPU (utime + stime from /proc) stays
 * low over a window, log lines are few, LOOKUPs answer promptly, and the
 * log names the cause (no space left on device, not an input/output
 * error). SIGTERM stops it within a few seconds. It starts again on the
 * full disk; given room for sales but not for the checkpoint, it takes a
 * batch of 1,100 sales while the failed checkpoint's snapshots wait in
 * memory, and after a SIGKILL and restart every order made before the
 * checkpoint and in the batch is still known (a duplicate, or a replay
 * under its own key). When space returns (the limit lifted, the filler
 * deleted) sales are taken and the checkpoint is written without a
 * restart, and after a restart everything is there.
 */
#define _GNU_SOURCE
#include <dirent.h>
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

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, one line each, into out. */
static void list_dir(const char *dir, char *out, size_t cap)
{
	char *names[64];
	size_t n = 0, len = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	out[0] = '\0';
	if (!d) {
		snprintf(out, cap, "(cannot list %s)", dir);
		return;
	}
	while ((e = readdir(d)) && n < sizeof names / sizeof names[0])
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (len < cap)
			len += (size_t)snprintf(out + len, cap - len, "%s\n", names[i]);
		free(names[i]);
	}
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

/* ---- full disk ------------------------------------------------------------------ */

/* Customers the daemon has to checkpoint: a few MiB of snapshots. */
#define NCUST 20000
/* The window over which the daemon, idle and failing, is watched. */
#define WINDOW_MS 3000
/* Free space the ext4 image keeps after filling: the preallocation takes it. */
#define EXT4_ROOM (360 << 10)

struct full_disk {
	const char *name;
	const char *cause;           /* what the log must call it */
	const char *const *args;     /* the daemon's arguments while full */
	int (*prepare)(void);        /* the ledger is made and its daemon killed: make the disk full */
	int (*start_full)(void);     /* start the daemon on it */
	int (*some_space)(void);     /* while it runs: room for sales, not for the checkpoint */
	int (*space_returns)(void);  /* while it runs */
};

/* Sales in one batch while a failed checkpoint's snapshots wait in memory:
 * more than the store's STORE_SAVE_MIN, so that the batch would save its
 * orders and request keys, were it not for those. */
#define KEPT_SALES 1100

/* Enrol n customers over one connection, 500 requests in flight at a time. */
static void enrol_many(int n)
{
	struct raw *r = raw_new();
	struct raw_body bd;
	struct raw_reply rep;
	char email[64];

	raw_login(r, &h, h.admin_key);
	for (int done = 0; done < n;) {
		int chunk = n - done < 500 ? n - done : 500;
		for (int i = 0; i < chunk; i++) {
			snprintf(email, sizeof email, "disk-%d@example.com", done + i);
			raw_body_enrol(&bd, email);
			REQUIRE(raw_send(r, PROTO_OP_ENROL, (uint32_t)(done + i + 1), &bd) == 0);
		}
		for (int i = 0; i < chunk; i++) {
			REQUIRE(raw_reply(r, &rep, 30000) == 1);
			CHECK_INT(rep.status, PROTO_OK);
		}
		done += chunk;
	}
	raw_free(r);
}

/* utime + stime of pid, in clock ticks; -1 if unreadable. */
static long long cpu_ticks(pid_t pid)
{
	char path[64], buf[2048], *p;
	long long utime, stime;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (harness_read_file(path, buf, sizeof buf) <= 0 || !(p = strrchr(buf, ')')))
		return -1;
	/* After the name: state (field 3) ... utime (14), stime (15). */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &utime, &stime) != 2)
		return -1;
	return utime + stime;
}

static long log_lines(void)
{
	char *buf;
	long n = slurp(h.log, &buf), lines = 0;

	for (long i = 0; i < n; i++)
		lines += buf[i] == '\n';
	free(buf);
	return lines;
}

static int log_has(const char *needle)
{
	char *buf;
	long n = slurp(h.log, &buf);
	int has = n > 0 && strstr(buf, needle) != NULL;

	free(buf);
	return has;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static int64_t sale(accrue *a, uint64_t id, const char *order, int want)
{
	struct accrue_result r;
	uint8_t key[ACCRUE_KEY_SIZE];

	new_key(key);
	CHECK_RC(a, accrue_accrue(a, key, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, NULL, order, 1000, &r),
		 want);
	return r.points;
}

static uint8_t kept_keys[KEPT_SALES][ACCRUE_KEY_SIZE];

/*
 * KEPT_SALES sales to customer 1 in one batch, sent again with the same
 * keys while it is refused with STORAGE (nothing applied then): a
 * checkpoint retried meanwhile may share its commit. Returns the points.
 */
static int64_t kept_sales(accrue *a)
{
	static struct accrue_ref refs[KEPT_SALES];
	static struct accrue_sale sales[KEPT_SALES];
	static struct accrue_batch_result res[KEPT_SALES];
	static char orders[KEPT_SALES][32];
	int64_t points = 0;
	int rc = -1, tries = 0;

	for (int i = 0; i < KEPT_SALES; i++) {
		snprintf(orders[i], sizeof orders[i], "kept-%d", i);
		refs[i] = by_id(1);
		memset(&sales[i], 0, sizeof sales[i]);
		sales[i].order_id = orders[i];
		sales[i].amount = 1000;
		new_key(kept_keys[i]);
	}
	while (tries++ < 20) {
		rc = accrue_batch(a, KEPT_SALES, (const uint8_t (*)[ACCRUE_KEY_SIZE])kept_keys, refs, sales, res);
		if (rc == 0 && res[0].status != ACCRUE_ST_STORAGE)
			break;
		if (rc != 0 && rc != ACCRUE_ST_STORAGE)
			break;
	}
	CHECK_RC(a, rc, 0);
	for (int i = 0; i < KEPT_SALES; i++) {
		CHECK_INT(res[i].status, 0);
		points += res[i].points;
	}
	return points;
}

/* Orders made before the failed checkpoint and with the batch after it are known. */
static void check_orders(accrue *a)
{
	struct accrue_result r;

	sale(a, 1, "before", ACCRUE_ST_DUPLICATE_ORDER);
	sale(a, 1, "kept-5", ACCRUE_ST_DUPLICATE_ORDER);
	CHECK_RC(a, accrue_accrue(a, kept_keys[7], &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = 1}, NULL, "kept-7", 1000, &r),
		 0);
	CHECK_INT(r.replay, 1);
}

static void full_disk(const struct full_disk *fd)
{
	const char *args[] = {"--preallocate", "0", "--checkpoint-seconds", "100000", NULL};
	long long lat[1024], t0, ticks0, ticks1, clk = sysconf(_SC_CLK_TCK);
	long lines0, lines1;
	size_t nlat = 0;
	accrue *a = NULL;
	int64_t points;
	char label[64];
	int rc;

	/* A ledger of NCUST customers, none of them in a checkpoint yet. */
	snprintf(label, sizeof label, "it_disk.%s", fd->name);
	REQUIRE(harness_start_args(&h, label, args) == 0);
	enrol_many(NCUST);
	REQUIRE(harness_connect(&h, &a) == 0);
	points = sale(a, 1, "before", 0);
	accrue_close(a);
	harness_kill(&h);
	if (fd->prepare()) {
		harness_finish(&h, 0);
		return;
	}

	/* Started on the full disk, a checkpoint of all of them due at once. */
	memset(h.extra, 0, sizeof h.extra);
	for (int i = 0; i < 7 && fd->args[i]; i++)
		h.extra[i] = fd->args[i];
	REQUIRE(fd->start_full() == 0);
	/* Any failure line; what it must say is checked next. */
	REQUIRE(harness_wait_log(&h, "failed: ", 20000) == 0);
	{
		char want[128];
		snprintf(want, sizeof want, "checkpoint failed: %s", fd->cause);
		CHECK(log_has(want));
		if (!log_has(want))
			fprintf(stderr, "    the log does not say \"%s\"\n", want);
	}
	CHECK(!log_has("nput/output error"));

	/* Idle and failing: little CPU, few lines, prompt LOOKUPs. */
	REQUIRE(harness_connect(&h, &a) == 0);
	ticks0 = cpu_ticks(h.pid);
	lines0 = log_lines();
	t0 = harness_now_ms();
	while (harness_now_ms() - t0 < WINDOW_MS && nlat < sizeof lat / sizeof lat[0]) {
		struct accrue_customer c;
		uint64_t id = 1 + (uint64_t)(nlat * 7919) % NCUST;
		long long t = harness_now_ms();
		CHECK_RC(a, accrue_lookup(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = id}, &c), 0);
		lat[nlat++] = harness_now_ms() - t;
		CHECK_INT(c.id, id);
		harness_sleep_ms(20); /* pacing the LOOKUPs, not waiting for anything */
	}
	ticks1 = cpu_ticks(h.pid);
	lines1 = log_lines();
	{
		long long ms = harness_now_ms() - t0, cpu_pct = ticks1 >= ticks0 && ticks0 >= 0 ? (ticks1 - ticks0) * 1000 / clk * 100 / ms : -1;
		qsort(lat, nlat, sizeof lat[0], cmp_ll);
		printf("  %s, idle with a checkpoint failing: %lld%% CPU, %ld log lines in %lld ms; %zu LOOKUPs, p50 %lld ms, "
		       "max %lld ms\n",
		       fd->name, cpu_pct, lines1 - lines0, ms, nlat, lat[nlat / 2], lat[nlat - 1]);
		CHECK(cpu_pct >= 0 && cpu_pct < 30);
		CHECK(lines1 - lines0 <= 8);
		CHECK(lat[nlat / 2] < 10);
		CHECK(lat[nlat - 1] < 1000);
	}
	accrue_close(a);

	/* SIGTERM: out within seconds, without the checkpoint it cannot write. */
	t0 = harness_now_ms();
	rc = harness_stop_signal(&h, SIGTERM, 5000);
	CHECK_INT(rc, 0);
	CHECK(log_has("no final checkpoint: the last commit failed"));
	printf("  %s: SIGTERM while failing: exit %d after %lld ms\n", fd->name, rc, harness_now_ms() - t0);

	/* It starts again on the full disk. With room for sales but not for
	 * the checkpoint, a batch of sales is taken while the checkpoint's
	 * snapshots wait in memory; then the crash. */
	REQUIRE(fd->start_full() == 0);
	REQUIRE(harness_wait_log(&h, "failed: ", 20000) == 0);
	REQUIRE(fd->some_space() == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	points += kept_sales(a);
	accrue_close(a);
	harness_kill(&h);

	/* Again on the full disk: the orders made before the failed checkpoint
	 * and with the batch are all known; space returns while it runs. */
	REQUIRE(fd->start_full() == 0);
	REQUIRE(harness_wait_log(&h, "failed: ", 20000) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	check_orders(a);
	REQUIRE(fd->space_returns() == 0);
	points += sale(a, 1, "after", 0);
	accrue_close(a);
	CHECK_INT(harness_wait_log(&h, "checkpoint written", 40000), 0);
	CHECK_INT(harness_stop(&h), 0);

	/* Everything is there after a restart. */
	REQUIRE(harness_restart(&h) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	{
		struct accrue_customer c;
		CHECK_RC(a, accrue_lookup(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = 1}, &c), 0);
		CHECK_INT(c.balance, points);
		CHECK_RC(a, accrue_lookup(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = NCUST}, &c), 0);
	}
	check_orders(a);
	accrue_close(a);
	/* And the checkpoint written from kept snapshots agrees with the journal. */
	if (getenv("ACCRUE_CHECK_BIN")) {
		static char out[65536];
		char *argv[] = {getenv("ACCRUE_CHECK_BIN"), h.data, NULL};
		CHECK_INT(harness_run(argv, out, sizeof out, NULL, 0, 60000), 0);
		if (check_failures)
			fprintf(stderr, "    accrue-check said: %s\n", out);
	}
	printf("  %s: a batch of %d sales taken and kept across a crash while the checkpoint waited; space "
	       "returned: a sale taken and the checkpoint written without a restart, all kept\n",
	       fd->name, KEPT_SALES);
	harness_kill(&h);
}

/* -- a file-size limit ---------------------------------------------------------- */

static int fsize_prepare(void)
{
	return 0;
}

/* The limit is this process's, inherited by the daemon it forks: in place
 * before the daemon writes anything. */
static int fsize_start_full(void)
{
	char data_mdb[HARNESS_PATH_MAX + 16];
	struct rlimit old, lim;
	int rc;

	snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", h.data);
	REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = (rlim_t)file_size(data_mdb);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	rc = harness_restart(&h);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
	return rc;
}

static int fsize_some_space(void)
{
	char data_mdb[HARNESS_PATH_MAX + 16];
	struct rlimit rl;

	snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", h.data);
	if (prlimit(h.pid, RLIMIT_FSIZE, NULL, &rl) != 0)
		return -1;
	rl.rlim_cur = (rlim_t)file_size(data_mdb) + (1 << 20);
	return prlimit(h.pid, RLIMIT_FSIZE, &rl, NULL);
}

static int fsize_space_returns(void)
{
	struct rlimit rl;

	if (prlimit(h.pid, RLIMIT_FSIZE, NULL, &rl) != 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	return prlimit(h.pid, RLIMIT_FSIZE, &rl, NULL);
}

/* -- a small ext4 file system, filled ----------------------------------------------- */

static char mnt[HARNESS_PATH_MAX + 16], filler[HARNESS_PATH_MAX + 32];
static int mounted;

static const char *find_tool(const char *name)
{
	static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin", NULL};
	static char path[8][64];
	static int next;
	char *p = path[next++ % 8];

	for (int i = 0; dirs[i]; i++) {
		snprintf(p, 64, "%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			return p;
	}
	return NULL;
}

static void unmount(int lazy)
{
	const char *umount = find_tool("umount");
	char *argv[] = {(char *)umount, lazy ? "-l" : mnt, lazy ? mnt : NULL, NULL};

	if (mounted && umount && harness_run(argv, NULL, 0, NULL, 0, 20000) == 0)
		mounted = 0;
}

static void unmount_at_exit(void)
{
	unmount(1);
}

/*
 * data.mdb moves onto a 32 MiB ext4 image (a symbolic link stands in its
 * place: the log, the key and the address file stay where there is room),
 * and a file fills the image but for EXT4_ROOM bytes. Skipped (1) where
 * this is not root or cannot make and mount the image.
 */
static int ext4_prepare(void)
{
	const char *mkfs = find_tool("mkfs.ext4"), *mount = find_tool("mount");
	char img[HARNESS_PATH_MAX + 16], from[HARNESS_PATH_MAX + 16], to[HARNESS_PATH_MAX + 32], *buf;
	static char chunk[1 << 20];
	long n;
	int fd;

	if (geteuid() != 0 || !mkfs || !mount) {
		printf("  ext4: skipped (needs root, mkfs.ext4 and mount)\n");
		return 1;
	}
	snprintf(img, sizeof img, "%s/disk.img", h.root);
	snprintf(mnt, sizeof mnt, "%s/mnt", h.root);
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0 && ftruncate(fd, 32 << 20) == 0);
	close(fd);
	REQUIRE(mkdir(mnt, 0700) == 0);
	{
		char *mk[] = {(char *)mkfs, "-q", "-F", img, NULL};
		char *mo[] = {(char *)mount, "-o", "loop", img, mnt, NULL};
		char err[1024];
		if (harness_run(mk, NULL, 0, err, sizeof err, 60000) != 0 ||
		    harness_run(mo, NULL, 0, err, sizeof err, 60000) != 0) {
			printf("  ext4: skipped (cannot make or loop-mount an image here: %s)\n", err);
			return 1;
		}
	}
	mounted = 1;
	atexit(unmount_at_exit);

	snprintf(from, sizeof from, "%s/data.mdb", h.data);
	snprintf(to, sizeof to, "%s/data.mdb", mnt);
	REQUIRE((n = slurp(from, &buf)) > 0);
	REQUIRE(write_file(to, buf, (size_t)n) == 0);
	free(buf);
	REQUIRE(unlink(from) == 0 && symlink(to, from) == 0);

	snprintf(filler, sizeof filler, "%s/filler", mnt);
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	for (;;) {
		ssize_t w = write(fd, chunk, sizeof chunk);
		if (w < (ssize_t)sizeof chunk)
			break;
	}
	for (;;) {
		ssize_t w = write(fd, chunk, 4096);
		if (w < 4096)
			break;
	}
	REQUIRE(fsync(fd) == 0 || errno == ENOSPC);
	{
		off_t size = lseek(fd, 0, SEEK_END);
		REQUIRE(size > EXT4_ROOM && ftruncate(fd, size - EXT4_ROOM) == 0);
	}
	fsync(fd);
	close(fd);
	return 0;
}

static int ext4_start_full(void)
{
	return harness_restart(&h);
}

static int ext4_some_space(void)
{
	off_t size = file_size(filler);

	return size > (1 << 20) ? truncate(filler, size - (1 << 20)) : -1;
}

static int ext4_space_returns(void)
{
	return unlink(filler);
}

static void test_full_disk(void)
{
	static const char *const fsize_args[] = {"--preallocate", "0", "--checkpoint-seconds", "1", NULL};
	static const char *const ext4_args[] = {"--checkpoint-seconds", "1", NULL};
	static const struct full_disk disks[] = {
		{"fsize", "file too large", fsize_args, fsize_prepare, fsize_start_full, fsize_some_space,
		 fsize_space_returns},
		{"ext4", "no space left on device", ext4_args, ext4_prepare, ext4_start_full, ext4_some_space,
		 ext4_space_returns},
	};

	for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++) {
		full_disk(&disks[i]);
		unmount(0);
		harness_finish(&h, check_failures);
	}
}

int main(void)
{
	test_lost_ledger();
	test_full_disk();
	return check_done("it_disk");
}
