/*
 * it_powerloss.c - prove that a power cut at any moment loses nothing
 * accrued acknowledged and leaves nothing half applied.
 *
 * SIGKILL (it_crash) cannot show this: the page cache survives the process,
 * so a write that was never flushed, or flushed in the wrong order, is
 * still read back after the restart. A power cut keeps only what was
 * flushed. So the daemon runs under an LD_PRELOAD shim
 * (tests/powerloss/shim.c) that logs every write, truncate, fsync,
 * fdatasync, O_DSYNC write, create and rename in its data directory, with
 * the bytes written; the clients log each sale when they send it and when
 * it is acknowledged into the same log. Then, for many cut points in that
 * log, the data directory is rebuilt as a power cut there would leave it
 * (it_powerloss/model.c: everything flushed before the cut, plus none, all,
 * or a random part, by write call or by 4 KiB page, of what was written but
 * not flushed), and a fresh accrued is started on it and checked
 * (it_powerloss/verify.c): it must start, every sale acknowledged before
 * the cut must be there exactly once and whole, and accrue-check must find
 * the directory clean.
 *
 * The workload (it_powerloss/workload.c): CUSTOMERS customers enrolled,
 * then SALES sales with distinct order ids from THREADS threads, the daemon
 * SIGKILLed and restarted after a third of them and stopped with SIGTERM
 * (a checkpoint) and restarted after two thirds, all under the shim and
 * checkpointing every 40 records, so the log holds first start, recovery
 * from a crash and from a clean stop, checkpoints and the preallocation's
 * zeros.
 *
 * Settings (environment): POWERLOSS_SALES (300), POWERLOSS_CUSTOMERS (8),
 * POWERLOSS_THREADS (4), POWERLOSS_CUTS (50 cut points, 24 under ASan), POWERLOSS_SUBSETS
 * (random subsets per cut point besides none and all: 2, alternately by
 * call and by page), POWERLOSS_PREALLOC_MIB (1), POWERLOSS_RESEND (sales in
 * doubt sent again per state: 4), POWERLOSS_MAX_FAILURES (failed states
 * before giving up: 3), POWERLOSS_SEED (printed; repeats the cut points
 * and subsets, not the daemon's timing), POWERLOSS_VERBOSE=1 (a line per
 * cut point). POWERLOSS_LIE=sync or all makes the shim drop durability
 * (powerloss_log.h): the test must then fail; ctest's it_powerloss_lie_*
 * entries hold it to that. POWERLOSS_STRICT=1 fails the findings too:
 * the admin key's weak spots that lose no acknowledged sale
 * (it_powerloss/verify.c prints them as FINDING). A refusal to start is
 * always a failure, during the first start too.
 *
 * Under AddressSanitizer the shim (built without it) is preloaded ahead of
 * the sanitizer's runtime, with ASAN_OPTIONS=verify_asan_link_order=0.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "powerloss.h"

/*
 * Under AddressSanitizer the daemon and accrue-check start several times
 * slower: fewer cut points keep make test's sanitizer pass near the
 * optimised build's time.
 */
#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_CUTS 24
#else
#define DEFAULT_CUTS 50
#endif

struct config {
	int sales, customers, threads, cuts, subsets, prealloc_mib, resend, max_failures, verbose, strict;
	uint64_t seed;
	const char *lie;
};

/* The ledger's data file, or a first start's new one before it is placed. */
static int is_data_file(const char *name)
{
	return strcmp(name, "data.mdb") == 0 || strcmp(name, ".data.mdb.new") == 0;
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, &end, 10);
	if (*end || v < min || v > max) {
		fprintf(stderr, "it_powerloss: %s=%s is not a number from %ld to %ld\n", name, s, min, max);
		exit(2);
	}
	return v;
}

static void read_config(struct config *c)
{
	const char *seed = getenv("POWERLOSS_SEED");

	c->sales = (int)env_long("POWERLOSS_SALES", 300, 3, 1000000);
	c->customers = (int)env_long("POWERLOSS_CUSTOMERS", 8, 1, PL_MAX_CUSTOMERS);
	c->threads = (int)env_long("POWERLOSS_THREADS", 4, 1, 64);
	c->cuts = (int)env_long("POWERLOSS_CUTS", DEFAULT_CUTS, 1, 1000000);
	c->subsets = (int)env_long("POWERLOSS_SUBSETS", 2, 0, 100);
	c->prealloc_mib = (int)env_long("POWERLOSS_PREALLOC_MIB", 1, 0, 1024);
	c->resend = (int)env_long("POWERLOSS_RESEND", 4, 0, 1000);
	c->max_failures = (int)env_long("POWERLOSS_MAX_FAILURES", 3, 1, INT_MAX);
	c->verbose = (int)env_long("POWERLOSS_VERBOSE", 0, 0, 1);
	c->strict = (int)env_long("POWERLOSS_STRICT", 0, 0, 1);
	c->lie = getenv("POWERLOSS_LIE");
	if (c->lie && !*c->lie)
		c->lie = NULL;
	if (c->lie && strcmp(c->lie, "sync") != 0 && strcmp(c->lie, "all") != 0) {
		fprintf(stderr, "it_powerloss: POWERLOSS_LIE=%s: use sync or all\n", c->lie);
		exit(2);
	}
	c->seed = seed && *seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
}

/* Remove the files of a directory and the directory. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[HARNESS_PATH_MAX * 2];

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* ---- the daemon under the shim ------------------------------------------------------ */

static void shim_env(const struct config *c, const char *shim, const char *log, const char *data, const char *dir,
		     const char *busy)
{
	const char *asan = getenv("ASAN_OPTIONS");
	char buf[4096];

	setenv("LD_PRELOAD", shim, 1);
	setenv(PL_ENV_LOG, log, 1);
	setenv(PL_ENV_DATA, data, 1);
	setenv(PL_ENV_DIR, dir, 1);
	setenv(PL_ENV_BUSY, busy, 1);
	if (c->lie)
		setenv(PL_ENV_LIE, c->lie, 1);
	/* The shim comes before the sanitizer's runtime in the list of libraries. */
	snprintf(buf, sizeof buf, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", buf, 1);
}

static void shim_env_clear(const char *asan_before)
{
	unsetenv("LD_PRELOAD");
	unsetenv(PL_ENV_LOG);
	unsetenv(PL_ENV_DATA);
	unsetenv(PL_ENV_DIR);
	unsetenv(PL_ENV_LIE);
	unsetenv(PL_ENV_BUSY);
	if (asan_before)
		setenv("ASAN_OPTIONS", asan_before, 1);
	else
		unsetenv("ASAN_OPTIONS");
}

/* The shim's busy word (PL_ENV_BUSY): a page of zeros, mapped shared. */
static uint32_t *map_busy_word(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	void *p;

	REQUIRE(fd >= 0 && ftruncate(fd, 4096) == 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	close(fd);
	return p;
}

/* ---- cut points ------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

enum { CUT_BEFORE_SYNC, CUT_BEFORE_DSYNC, CUT_AFTER_DSYNC, CUT_AFTER_ACK, CUT_AROUND_DIR_OP, CUT_ANYWHERE, CUT_KINDS };

static int add_cut(int64_t *cuts, size_t *n, size_t max, int64_t c)
{
	for (size_t j = 0; j < *n; j++)
		if (cuts[j] == c)
			return 0;
	if (*n >= max)
		return 0;
	cuts[(*n)++] = c;
	return 1;
}

/*
 * Up to k distinct cut points, sorted. Always: the end of the log, every
 * point of the first start from the new data file's creation (as
 * .data.mdb.new) to its placement as data.mdb, and the points just before and just after the rename
 * that puts admin.key in place (v says where those are). The rest mostly where a power cut hurts
 * most: just before an fsync (everything of a commit written, nothing
 * flushed), just before and after an O_DSYNC meta page write, just after an
 * acknowledgement, around a create or rename; the others anywhere.
 */
static size_t choose_cuts(const struct pl_model *m, const struct pl_verify *v, int k, uint64_t seed, int64_t *cuts)
{
	int64_t *cand[CUT_KINDS];
	size_t ncand[CUT_KINDS] = { 0 }, n = 0;
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 7;

	for (int t = 0; t < CUT_KINDS; t++)
		cand[t] = calloc(m->nev + 1, sizeof *cand[t]);
	for (size_t i = 0; i < m->nev; i++) {
		const struct pl_record *r = &m->ev[i].r;
		if (!cand[CUT_KINDS - 1])
			break;
		if (r->op == PL_SYNC)
			cand[CUT_BEFORE_SYNC][ncand[CUT_BEFORE_SYNC]++] = (int64_t)i;
		if (r->op == PL_WRITE && (r->flags & (PL_F_DSYNC | PL_F_LIED))) {
			cand[CUT_BEFORE_DSYNC][ncand[CUT_BEFORE_DSYNC]++] = (int64_t)i;
			cand[CUT_AFTER_DSYNC][ncand[CUT_AFTER_DSYNC]++] = (int64_t)i + 1;
		}
		if (r->op == PL_ACK)
			cand[CUT_AFTER_ACK][ncand[CUT_AFTER_ACK]++] = (int64_t)i + 1;
		if (r->op == PL_CREATE || r->op == PL_RENAME || r->op == PL_UNLINK) {
			cand[CUT_AROUND_DIR_OP][ncand[CUT_AROUND_DIR_OP]++] = (int64_t)i;
			cand[CUT_AROUND_DIR_OP][ncand[CUT_AROUND_DIR_OP]++] = (int64_t)i + 1;
		}
	}
	add_cut(cuts, &n, (size_t)k, (int64_t)m->nev);
	if (v->admin_key_rename != PL_NEVER) {
		add_cut(cuts, &n, (size_t)k, v->admin_key_rename);
		add_cut(cuts, &n, (size_t)k, v->admin_key_rename + 1);
	}
	/* Every cut of the first start, from the new data file's creation to
	 * its first sync (under its staging name, then placed as data.mdb). */
	for (size_t i = 0; i < m->nev && v->first_data_sync != PL_NEVER; i++)
		if (m->ev[i].r.op == PL_CREATE && is_data_file(m->ev[i].r.name)) {
			for (int64_t c = (int64_t)i + 1; c <= v->first_data_sync; c++)
				add_cut(cuts, &n, (size_t)k, c);
			break;
		}
	for (int attempt = 0; n < (size_t)k && attempt < k * 20; attempt++) {
		int t = attempt % CUT_KINDS;
		int64_t c;
		if (t == CUT_ANYWHERE || !ncand[t] || !cand[t])
			c = (int64_t)(rng_next(&rng) % (m->nev + 1));
		else
			c = cand[t][rng_next(&rng) % ncand[t]];
		add_cut(cuts, &n, (size_t)k, c);
	}
	for (int t = 0; t < CUT_KINDS; t++)
		free(cand[t]);
	qsort(cuts, n, sizeof *cuts, cmp_i64);
	return n;
}

/* ---- the runs ------------------------------------------------------------------------------ */

struct seen {
	uint64_t hash;
	struct pl_outcome out;
};

struct tally {
	int states[4];      /* by subset: states built */
	int runs[4];        /* by subset: accrued started on them */
	size_t pending_max; /* the most units in doubt at one cut */
	size_t pending_sum;
	int cuts_with_pending;
};

int main(void)
{
	const char *shim = getenv("POWERLOSS_SHIM"), *check_bin = getenv("ACCRUE_CHECK_BIN");
	const char *asan_env = getenv("ASAN_OPTIONS");
	char *asan_before = asan_env ? strdup(asan_env) : NULL;
	char root[PATH_MAX], watch[PATH_MAX + 8], log_path[PATH_MAX + 32], data_path[PATH_MAX + 32];
	char busy_path[PATH_MAX + 32];
	char prealloc[16], admin_key[512];
	const char *work_args[] = { "--preallocate", prealloc, "--checkpoint-records", "40", NULL };
	const char *verify_args[] = { "--preallocate", "1", NULL };
	static struct harness hw, hv;
	struct config cfg;
	struct pl_workload w;
	struct pl_model m;
	struct pl_verify v;
	struct tally tally;
	struct seen *seen = NULL;
	size_t nseen = 0, ncuts;
	int64_t *cuts;
	int dumped = 0, acked = 0, stop = 0, done_cuts = 0;
	long long t0 = harness_now_ms(), t_verify;

	if (!shim || !*shim || !check_bin || !*check_bin) {
		printf("it_powerloss: SKIP: POWERLOSS_SHIM and ACCRUE_CHECK_BIN must name the shim and accrue-check "
		       "(ctest sets both)\n");
		return 77;
	}
	read_config(&cfg);
	snprintf(prealloc, sizeof prealloc, "%d", cfg.prealloc_mib);
	fprintf(stderr,
		"it_powerloss: seed %llu (POWERLOSS_SEED=%llu repeats the cut points and subsets); %d sales, %d "
		"customers, %d threads, %d cut points, %d random subsets each%s%s\n",
		(unsigned long long)cfg.seed, (unsigned long long)cfg.seed, cfg.sales, cfg.customers, cfg.threads,
		cfg.cuts, cfg.subsets, cfg.lie ? ", POWERLOSS_LIE=" : "", cfg.lie ? cfg.lie : "");

	/* The harness makes the directory and starts a daemon at once; the one
	 * under the shim starts afresh on the same path, so the log has
	 * everything from the first byte of data.mdb on. */
	REQUIRE(harness_start_args(&hw, "it_powerloss", work_args) == 0);
	harness_kill(&hw);
	remove_dir(hw.data);
	REQUIRE(realpath(hw.root, root) != NULL);
	snprintf(watch, sizeof watch, "%s/data", root);
	snprintf(log_path, sizeof log_path, "%s/powerloss.log", root);
	snprintf(data_path, sizeof data_path, "%s/powerloss.bytes", root);
	snprintf(busy_path, sizeof busy_path, "%s/powerloss.busy", root);

	REQUIRE(workload_init(&w, cfg.sales, cfg.customers, cfg.threads, cfg.seed) == 0);
	w.log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	REQUIRE(w.log_fd >= 0);
	w.busy = map_busy_word(busy_path);
	shim_env(&cfg, shim, log_path, data_path, watch, busy_path);
	workload_log(&w, PL_MARK, 0, 0, 0, "first start");
	if (harness_restart(&hw) != 0) {
		shim_env_clear(asan_before);
		fprintf(stderr, "it_powerloss: accrued does not start under the shim (%s)\n", shim);
		harness_finish(&hw, 1);
		return 1;
	}
	{
		int rc = workload_run(&w, &hw);
		shim_env_clear(asan_before);
		CHECK(rc == 0);
		if (rc != 0) {
			harness_finish(&hw, 1);
			return check_done("it_powerloss");
		}
	}
	REQUIRE(harness_read_file(hw.key_file, admin_key, sizeof admin_key) > 0);
	REQUIRE(model_load(&m, log_path, data_path) == 0);
	REQUIRE(workload_index(&w, &m) == 0);
	for (int i = 0; i < w.nsales; i++)
		acked += w.sales[i].acked;
	fprintf(stderr,
		"it_powerloss: workload: %d of %d sales acknowledged in %.1f s (the kills waited %d times for the "
		"daemon to leave a watched call); the log: %zu events, %zu writes (%zu through O_DSYNC, %zu of zeros, "
		"%.1f MiB), %zu syncs%s, %zu creates, renames and unlinks\n",
		acked, w.nsales, (double)(harness_now_ms() - t0) / 1000.0, w.kill_retries, m.nev, m.writes, m.dsync_writes,
		m.zero_writes, (double)m.bytes_written / 1048576.0, m.syncs, m.lied ? " (and some that lied)" : "",
		m.dir_ops);
	CHECK(acked == w.nsales);
	if (!cfg.lie) {
		/* LMDB's two durable paths: fdatasync after the data pages, the meta page through O_DSYNC. */
		CHECK(m.syncs > 0);
		CHECK(m.dsync_writes > 0);
	}

	REQUIRE(harness_start_args(&hv, "it_powerloss-verify", verify_args) == 0);
	harness_kill(&hv);
	memset(&v, 0, sizeof v);
	v.w = &w;
	v.h = &hv;
	v.admin_key_text = admin_key;
	v.check_bin = check_bin;
	v.resend = cfg.resend;
	v.strict = cfg.strict;
	v.first_data_sync = v.admin_key_rename = PL_NEVER;
	for (size_t i = 0; i < m.nev; i++) {
		const struct pl_record *r = &m.ev[i].r;
		if (r->op == PL_RENAME && strcmp(r->name2, "data.mdb") == 0)
			v.first_data_sync = (int64_t)i + 1; /* the cuts run past its placement */
		else if (r->op == PL_SYNC && is_data_file(r->name) && v.first_data_sync == PL_NEVER)
			v.first_data_sync = (int64_t)i;
		if (r->op == PL_RENAME && strcmp(r->name2, "admin.key") == 0 && v.admin_key_rename == PL_NEVER)
			v.admin_key_rename = (int64_t)i;
	}
	memset(&tally, 0, sizeof tally);

	cuts = calloc((size_t)cfg.cuts + 1, sizeof *cuts);
	seen = calloc(((size_t)cfg.cuts + 1) * (size_t)(2 + cfg.subsets), sizeof *seen);
	REQUIRE(cuts && seen);
	ncuts = choose_cuts(&m, &v, cfg.cuts, cfg.seed, cuts);
	t_verify = harness_now_ms();

	for (size_t k = 0; k < ncuts && !stop; k++) {
		int64_t cut = cuts[k];
		size_t pending = 0;

		for (int j = 0; j < 2 + cfg.subsets && !stop; j++) {
			int subset = j == 0 ? PL_SUBSET_NONE : j == 1 ? PL_SUBSET_ALL :
					      (j % 2 == 0 ? PL_SUBSET_CALLS : PL_SUBSET_PAGES);
			struct pl_state st;
			struct pl_outcome out;
			struct seen *earlier = NULL;
			char label[64];

			if (model_state(&m, (size_t)cut, subset, cfg.seed + (uint64_t)j, &st) != 0) {
				CHECK(!"out of memory building a state");
				stop = 1;
				break;
			}
			snprintf(label, sizeof label, "%s, %zu of %zu in doubt", pl_subset_name(subset), st.applied,
				 st.pending);
			if (subset == PL_SUBSET_NONE || st.pending > pending)
				pending = st.pending;
			/* With nothing in doubt every subset is the same state. */
			if (j > 0 && st.pending == 0) {
				state_free(&st);
				break;
			}
			tally.states[subset]++;
			for (size_t s = 0; s < nseen && !earlier; s++)
				if (seen[s].hash == st.hash)
					earlier = &seen[s];
			memset(&out, 0, sizeof out);
			out.present = calloc((size_t)w.nsales, sizeof *out.present);
			REQUIRE(out.present);
			if (earlier) {
				verify_cached(&v, &earlier->out, cut, label, &out);
			} else {
				tally.runs[subset]++;
				verify_state(&v, &st, cut, label, &out);
			}
			if (cfg.verbose)
				fprintf(stderr, "it_powerloss: cut %lld (%s): %s%s\n", (long long)cut, label,
					out.failures ? "FAILED" : "ok", earlier ? " (same files as before)" : "");
			if (out.failures && !dumped) {
				dumped = 1;
				fprintf(stderr, "it_powerloss: the log around cut %lld (the cut falls before #%lld):\n",
					(long long)cut, (long long)cut);
				model_dump(&m, cut > 16 ? (size_t)cut - 16 : 0, (size_t)cut + 4);
			}
			if (!earlier) {
				seen[nseen].hash = st.hash;
				seen[nseen++].out = out;
			} else {
				free(out.present);
			}
			state_free(&st);
			if (v.failed_runs >= cfg.max_failures)
				stop = 1;
		}
		tally.pending_sum += pending;
		tally.cuts_with_pending += pending > 0;
		if (pending > tally.pending_max)
			tally.pending_max = pending;
		done_cuts++;
		if (!cfg.verbose && ncuts >= 20 && (k + 1) % (ncuts / 10) == 0)
			fprintf(stderr, "it_powerloss: %zu of %zu cut points, %d states run on accrued, %.1f s\n", k + 1,
				ncuts, v.runs, (double)(harness_now_ms() - t_verify) / 1000.0);
	}

	fprintf(stderr,
		"it_powerloss: %d cut points of %zu events checked (%d with writes in doubt: at most %zu, mean %.1f "
		"units); states: none %d, all %d, by call %d, by page %d; accrued started on %d of them (the rest "
		"were the same files as an earlier state): none %d, all %d, by call %d, by page %d; %d sales in doubt "
		"or acknowledged sent again, %d of them replays; %.1f s\n",
		done_cuts, m.nev, tally.cuts_with_pending, tally.pending_max,
		tally.cuts_with_pending ? (double)tally.pending_sum / tally.cuts_with_pending : 0.0,
		tally.states[PL_SUBSET_NONE], tally.states[PL_SUBSET_ALL], tally.states[PL_SUBSET_CALLS],
		tally.states[PL_SUBSET_PAGES], v.runs, tally.runs[PL_SUBSET_NONE], tally.runs[PL_SUBSET_ALL],
		tally.runs[PL_SUBSET_CALLS], tally.runs[PL_SUBSET_PAGES], v.resent, v.replays,
		(double)(harness_now_ms() - t0) / 1000.0);
	if (v.admin_key_unrenamed || v.admin_key_undone)
		fprintf(stderr,
			"it_powerloss: FINDINGS (reported, not failed; POWERLOSS_STRICT=1 fails them): %d states had "
			"the admin key committed but were cut before admin.key was renamed into place, and %d had the "
			"rename undone by the cut: each time no one has the admin key\n",
			v.admin_key_unrenamed, v.admin_key_undone);
	if (v.failed_runs)
		fprintf(stderr, "it_powerloss: FAILED: %d states failed%s\n", v.failed_runs,
			stop ? " (stopped there: POWERLOSS_MAX_FAILURES)" : "");
	else
		fprintf(stderr, "it_powerloss: PASS: every one of %d cut points kept every acknowledged sale\n",
			done_cuts);

	for (size_t s = 0; s < nseen; s++)
		free(seen[s].out.present);
	free(seen);
	free(cuts);
	model_free(&m);
	close(w.log_fd);
	workload_free(&w);
	free(asan_before);
	harness_finish(&hv, check_failures != 0);
	harness_finish(&hw, check_failures != 0);
	return check_done("it_powerloss");
}
