/*
 * trial.c - one damage case: the clean directory copied, damaged, checked
 * by accrue-check and started by accrued, and what happened judged against
 * what the case expects (see damage.h).
 *
 * Whatever the case, three things are never allowed: a signal (accrue-check
 * or the daemon dying of SIGSEGV, SIGBUS, SIGABRT...), a silent fresh start
 * (the daemon logging "first start" or writing a new admin.key over a
 * directory that held a ledger) and wrong data served (a started daemon
 * showing a customer, order, setting or key other than remembered, or a
 * history of another length: STORAGE is the only allowed way to fail a
 * read).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "damage.h"

/* Bounded waits, generous for a loaded 2-core machine under ASan. */
#define CHECK_TIMEOUT_MS 120000
#define START_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 60000

void dmg_case_init(struct dmg_case *c, const char *name)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->truncate = SIZE_MAX;
}

void dmg_case_flip(struct dmg_case *c, size_t off, uint8_t mask)
{
	REQUIRE(c->nedits < DMG_MAX_EDITS);
	c->edit[c->nedits].off = off;
	c->edit[c->nedits].x[0] = mask;
	c->edit[c->nedits].len = 1;
	c->nedits++;
}

void dmg_case_xor64(struct dmg_case *c, size_t off, uint64_t x)
{
	REQUIRE(c->nedits < DMG_MAX_EDITS);
	c->edit[c->nedits].off = off;
	memcpy(c->edit[c->nedits].x, &x, 8);
	c->edit[c->nedits].len = 8;
	c->nedits++;
}

/* ---- the damaged copy ------------------------------------------------------------- */

/* Empty the data directory: nothing of the last trial may be seen by the next. */
static void clear_data_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	REQUIRE(d != NULL);
	while ((e = readdir(d)) != NULL) {
		char path[HARNESS_PATH_MAX + 300];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (unlink(path) != 0)
			fprintf(stderr, "it_damage: unlink %s: %s\n", path, strerror(errno));
	}
	closedir(d);
}

static void write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	const uint8_t *p = buf;

	REQUIRE(fd >= 0);
	while (len) {
		ssize_t n = write(fd, p, len);
		REQUIRE(n > 0);
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

/* The damaged data.mdb as written, to tell whether anyone changed it since. */
static uint8_t *copy;
static size_t copy_size;

static void write_damaged_copy(const struct dmg_case *c)
{
	char path[HARNESS_PATH_MAX + 16];

	if (!copy)
		REQUIRE((copy = malloc(ledger.mdb_size)) != NULL);
	copy_size = c->truncate < ledger.mdb_size ? c->truncate : ledger.mdb_size;
	memcpy(copy, ledger.mdb, ledger.mdb_size);
	for (int i = 0; i < c->nedits; i++)
		for (int k = 0; k < c->edit[i].len; k++)
			if (c->edit[i].off + (size_t)k < ledger.mdb_size)
				copy[c->edit[i].off + (size_t)k] ^= c->edit[i].x[k];
	clear_data_dir(ledger.h.data);
	snprintf(path, sizeof path, "%s/data.mdb", ledger.h.data);
	write_file(path, copy, copy_size, 0600);
	write_file(ledger.h.key_file, ledger.admin_key, ledger.admin_key_len, 0600);
}

/* Whether data.mdb is still byte for byte the damaged copy written. */
static int copy_unchanged(void)
{
	static uint8_t *now;
	char path[HARNESS_PATH_MAX + 16];
	struct stat st;
	int fd, same;

	if (!now)
		REQUIRE((now = malloc(ledger.mdb_size + 1)) != NULL);
	snprintf(path, sizeof path, "%s/data.mdb", ledger.h.data);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	same = fstat(fd, &st) == 0 && (size_t)st.st_size == copy_size &&
	       pread(fd, now, copy_size, 0) == (ssize_t)copy_size && memcmp(now, copy, copy_size) == 0;
	close(fd);
	return same;
}

/* ---- accrue-check ----------------------------------------------------------------- */

/* The first line of text that is not empty, into out. */
static void first_line(const char *text, char *out, size_t cap)
{
	const char *end;

	while (*text == '\n')
		text++;
	end = strchr(text, '\n');
	snprintf(out, cap, "%.*s", (int)(end ? end - text : (long)strlen(text)), text);
}

static int run_check(const struct dmg_case *c, struct dmg_outcome *o)
{
	static char out[1 << 16], err[1 << 14];
	char *argv[] = {(char *)check_bin, ledger.h.data, NULL};
	char lock[HARNESS_PATH_MAX + 16];
	const char *problems;

	o->check_rc = harness_run(argv, out, sizeof out, err, sizeof err, CHECK_TIMEOUT_MS);
	/* The summary line first, then one line per problem: show the first problem. */
	problems = strchr(out, '\n');
	if (o->check_rc == 1 && problems && problems[1])
		first_line(problems + 1, o->check_said, sizeof o->check_said);
	else if (err[0])
		first_line(err, o->check_said, sizeof o->check_said);
	else
		first_line(out, o->check_said, sizeof o->check_said);
	/* accrue-check registered as a reader in lock.mdb; the daemon starts afresh. */
	snprintf(lock, sizeof lock, "%s/lock.mdb", ledger.h.data);
	unlink(lock);
	return c->check_needle[0] == '\0' || strstr(out, c->check_needle) || strstr(err, c->check_needle);
}

/* ---- the daemon --------------------------------------------------------------------- */

/* The log of the daemon started last (after its marker line), into buf. */
static void read_start_log(char *buf, size_t cap)
{
	int fd = open(ledger.h.log, O_RDONLY);
	ssize_t n = -1;

	if (fd >= 0) {
		n = pread(fd, buf, cap - 1, (off_t)ledger.h.start_offset);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
}

/* The daemon's first line after the marker that says why it stopped, without the time stamp. */
static void why_refused(const char *log, char *out, size_t cap)
{
	const char *line = strchr(log, '\n');

	out[0] = '\0';
	while (line && line[1]) {
		const char *text = strstr(line + 1, "accrued: ");
		const char *end = strchr(line + 1, '\n');
		if (text && (!end || text < end)) {
			snprintf(out, cap, "%.*s", (int)((end ? end : text + strlen(text)) - text - 9), text + 9);
			return;
		}
		line = end;
	}
}

/*
 * Start the daemon on the damaged copy and wait, bounded, until it listens
 * (returns 1) or exits (returns 0, o->exit_code set). A fresh port each
 * time: nothing waits for the last trial's socket to be let go.
 */
static int start_daemon(struct dmg_outcome *o)
{
	long long deadline;

	ledger.h.port = 0;
	REQUIRE(harness_start_nowait(&ledger.h) == 0);
	deadline = harness_now_ms() + START_TIMEOUT_MS;
	for (;;) {
		char buf[sizeof ledger.h.addr];
		int status;
		long n;
		pid_t r = waitpid(ledger.h.pid, &status, WNOHANG);

		if (r == ledger.h.pid) {
			ledger.h.pid = 0;
			o->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			return 0;
		}
		n = harness_read_file(ledger.h.addr_file, buf, sizeof buf);
		if (n > 0 && buf[n - 1] == '\n') {
			buf[n - 1] = '\0';
			snprintf(ledger.h.addr, sizeof ledger.h.addr, "%s", buf);
			return 1;
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "it_damage: accrued neither listened nor exited within %d ms\n", START_TIMEOUT_MS);
			harness_kill(&ledger.h);
			o->exit_code = -1;
			return 0;
		}
		harness_sleep_ms(5);
	}
}

/* ---- reading the remembered state back ----------------------------------------------- */

static void wrong(struct dmg_outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wrong(struct dmg_outcome *o, const char *fmt, ...)
{
	va_list ap;

	if (!o->wrong && !o->served_said[0]) {
		va_start(ap, fmt);
		vsnprintf(o->served_said, sizeof o->served_said, fmt, ap);
		va_end(ap);
	}
	o->wrong++;
}

/* A read answered rc: OK, STORAGE (expected or not), or wrong. Returns 1 for OK. */
static int read_rc(struct dmg_outcome *o, accrue *a, int rc, int damaged, const char *what)
{
	if (rc == ACCRUE_ST_STORAGE) {
		o->storage_reads++;
		if (!damaged) {
			o->storage_unexpected++;
			if (!o->served_said[0])
				snprintf(o->served_said, sizeof o->served_said, "%s: STORAGE: %s", what, accrue_message(a));
		}
		return 0;
	}
	if (rc != 0) {
		wrong(o, "%s: %s: %s", what, accrue_strerror(rc), accrue_message(a));
		return 0;
	}
	if (damaged) {
		o->storage_missing++;
		if (!o->served_said[0])
			snprintf(o->served_said, sizeof o->served_said, "%s read back without STORAGE", what);
	}
	return 1;
}

static void read_customers(const struct dmg_case *c, struct dmg_outcome *o, accrue *a)
{
	static struct accrue_entry page[1000];

	for (int i = 0; i < ledger.ncustomers; i++) {
		const struct accrue_customer *want = &ledger.customers[i].c;
		struct accrue_customer got;
		struct accrue_ref ref = by_id(want->id);
		uint64_t before = 0, next = 0;
		uint32_t n, count = 0;
		char what[64];
		int rc;

		snprintf(what, sizeof what, "customer %llu", (unsigned long long)want->id);
		rc = accrue_lookup(a, &ref, &got);
		if (rc != 0) {
			wrong(o, "LOOKUP %s: %s: %s", what, accrue_strerror(rc), accrue_message(a));
			continue;
		}
		if (got.balance != want->balance || got.lifetime_points != want->lifetime_points ||
		    got.visits != want->visits || got.total_spend != want->total_spend || got.member != want->member ||
		    strcmp(got.email, want->email) || strcmp(got.phone, want->phone) || strcmp(got.tier, want->tier) ||
		    got.ngroups != want->ngroups)
			wrong(o, "LOOKUP %s: balance %lld, lifetime %lld, visits %llu, email %s; remembered %lld, %lld, %llu, %s",
			      what, (long long)got.balance, (long long)got.lifetime_points, (unsigned long long)got.visits,
			      got.email, (long long)want->balance, (long long)want->lifetime_points,
			      (unsigned long long)want->visits, want->email);
		if (want->email[0]) {
			struct accrue_ref by_email = by_text(ACCRUE_REF_EMAIL, want->email);
			rc = accrue_lookup(a, &by_email, &got);
			if (rc != 0 || got.id != want->id)
				wrong(o, "LOOKUP %s: %s", want->email, rc ? accrue_strerror(rc) : "another customer");
		}
		snprintf(what, sizeof what, "HISTORY of customer %llu", (unsigned long long)want->id);
		do {
			rc = accrue_history(a, &ref, before, page, 1000, &n, &next);
			if (rc)
				break;
			count += n;
			before = next;
		} while (before);
		if (read_rc(o, a, rc, c->bad_customer == want->id, what) && count != ledger.customers[i].history)
			wrong(o, "%s: %u entries, remembered %u", what, count, ledger.customers[i].history);
	}
}

static void read_orders(const struct dmg_case *c, struct dmg_outcome *o, accrue *a)
{
	static struct accrue_order got;

	for (int i = 0; i < ledger.norders; i++) {
		const struct dmg_order *want = &ledger.orders[i];
		int damaged = c->bad_seq && c->bad_seq == want->seq;
		char what[96];

		for (int k = 0; k < want->nreturns; k++)
			damaged |= c->bad_seq && c->bad_seq == want->return_seqs[k];
		snprintf(what, sizeof what, "ORDER %s", want->order_id);
		if (read_rc(o, a, accrue_order(a, want->location, want->order_id, &got), damaged, what) &&
		    (got.amount != want->amount || got.earned != want->earned || got.refunded != want->refunded ||
		     got.seq != want->seq))
			wrong(o, "%s: amount %lld, earned %lld, refunded %lld; remembered %lld, %lld, %lld", what,
			      (long long)got.amount, (long long)got.earned, (long long)got.refunded, (long long)want->amount,
			      (long long)want->earned, (long long)want->refunded);
	}
}

static void read_program_and_keys(struct dmg_outcome *o, accrue *a)
{
	struct accrue_setting *settings = NULL;
	struct accrue_key_info *keys = NULL;
	uint32_t n = 0;
	int rc;

	if ((rc = accrue_program_get(a, &settings, &n)) != 0)
		wrong(o, "PROGRAM_GET: %s: %s", accrue_strerror(rc), accrue_message(a));
	else if (n != ledger.nsettings)
		wrong(o, "PROGRAM_GET: %u settings, remembered %u", n, ledger.nsettings);
	else
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(settings[i].name, ledger.settings[i].name) || strcmp(settings[i].value, ledger.settings[i].value))
				wrong(o, "PROGRAM_GET: %s = %s, remembered %s = %s", settings[i].name, settings[i].value,
				      ledger.settings[i].name, ledger.settings[i].value);
	free(settings);
	if ((rc = accrue_key_list(a, &keys, &n)) != 0)
		wrong(o, "KEY_LIST: %s: %s", accrue_strerror(rc), accrue_message(a));
	else if (n != (uint32_t)ledger.nkeys)
		wrong(o, "KEY_LIST: %u keys, remembered %d", n, ledger.nkeys);
	else
		for (uint32_t i = 0; i < n; i++)
			if (keys[i].id != ledger.keys[i].id || keys[i].role != ledger.keys[i].role ||
			    keys[i].revoked != ledger.keys[i].revoked)
				wrong(o, "KEY_LIST: key %llu role %d revoked %d, remembered key %llu role %d revoked %d",
				      (unsigned long long)keys[i].id, keys[i].role, keys[i].revoked,
				      (unsigned long long)ledger.keys[i].id, ledger.keys[i].role, ledger.keys[i].revoked);
	free(keys);
}

static void read_back(const struct dmg_case *c, struct dmg_outcome *o)
{
	accrue *a = NULL;
	char msg[512];
	int rc = accrue_connect_message(ledger.h.addr, ledger.h.admin_key, &a, msg, sizeof msg);

	if (rc != 0) {
		wrong(o, "connecting with the admin key: %s: %s", accrue_strerror(rc), msg);
		return;
	}
	accrue_set_timeout(a, 60000);
	read_customers(c, o, a);
	read_orders(c, o, a);
	read_program_and_keys(o, a);
	accrue_close(a);
	o->served_ok = !o->wrong && !o->storage_reads;
}

/* ---- one trial ------------------------------------------------------------------------ */

static const char *check_expect_name(int e)
{
	return e == DMG_CHECK_CLEAN ? "check clean" : e == DMG_CHECK_FINDS ? "check finds it" : "check any";
}

static const char *daemon_expect_name(int e)
{
	switch (e) {
	case DMG_REFUSE:
		return "refused";
	case DMG_SERVE:
		return "served";
	case DMG_SERVE_REPORT:
		return "served, STORAGE on read";
	case DMG_REFUSE_OR_REPORT:
		return "refused or STORAGE on read";
	default:
		return "any safe outcome";
	}
}

/* A failure of kind (a short label the random run counts by), said in full in o->why. */
static int fail(struct dmg_outcome *o, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct dmg_outcome *o, const char *kind, const char *fmt, ...)
{
	va_list ap;

	o->failure = kind;
	va_start(ap, fmt);
	vsnprintf(o->why, sizeof o->why, fmt, ap);
	va_end(ap);
	return 0;
}

/* Judge the outcome: 1 when it is what c expects, else 0 with o->failure and o->why set. */
static int judge(const struct dmg_case *c, struct dmg_outcome *o, int check_named)
{
	int refused = !o->started && o->exit_code > 0 && o->exit_code < 128 && o->refusal_line && o->log_said[0];
	int served_safe = o->started && !o->wrong && !o->fresh_start && o->stop_code >= 0 && o->stop_code < 128;

	/* What no damage excuses. */
	if (o->check_rc < 0)
		return fail(o, "accrue-check hung", "accrue-check did not finish");
	if (o->check_rc >= 128)
		return fail(o, "accrue-check died of a signal", "accrue-check died of signal %d", o->check_rc - 128);
	if (o->exit_code < 0)
		return fail(o, "the daemon hung at start", "the daemon neither listened nor exited");
	if (o->exit_code >= 128 || o->stop_code >= 128)
		return fail(o, "the daemon died of a signal", "the daemon died of signal %d",
			    (o->exit_code >= 128 ? o->exit_code : o->stop_code) - 128);
	if (o->fresh_start)
		return fail(o, "a fresh start over the ledger", "the daemon started afresh over the damaged ledger");
	if (o->wrong)
		return fail(o, "wrong data served", "the daemon served wrong data: %s", o->served_said);
	if (o->check_wrote)
		return fail(o, "accrue-check changed data.mdb", "accrue-check, which only reads, changed data.mdb");
	if (o->refusal_wrote)
		return fail(o, "a refusal changed data.mdb", "the daemon refused to start but changed data.mdb");
	/* accrue-check. */
	switch (c->check) {
	case DMG_CHECK_CLEAN:
		if (o->check_rc != 0)
			return fail(o, "accrue-check reported what nothing reads",
				    "accrue-check exited %d where nothing is damaged that it reads", o->check_rc);
		break;
	case DMG_CHECK_FINDS:
		if (o->check_rc != 1 && o->check_rc != 2)
			return fail(o, "accrue-check missed the damage", "accrue-check exited %d: it did not find the damage",
				    o->check_rc);
		if (!check_named)
			return fail(o, "accrue-check did not name the damage", "accrue-check did not say \"%s\"", c->check_needle);
		break;
	default:
		if (o->check_rc != 0 && !o->check_said[0])
			return fail(o, "accrue-check said nothing", "accrue-check exited %d without a word", o->check_rc);
		break;
	}
	/* A refusal says why and that it refuses. */
	if (!o->started && !refused) {
		if (!o->log_said[0])
			return fail(o, "a refusal without a word", "the daemon exited %d without a word", o->exit_code);
		return fail(o, "a refusal without \"refusing to start\"",
			    "the daemon exited %d with its reason, but its log never says \"refusing to start\"", o->exit_code);
	}
	switch (c->daemon) {
	case DMG_REFUSE:
		if (o->started)
			return fail(o, "started over damage it must refuse", "the daemon started%s",
				    o->storage_reads ? " (reads got STORAGE)" : " and served as if nothing were damaged");
		if (c->log_needle[0] && !strstr(o->log_said, c->log_needle))
			return fail(o, "a refusal that does not name the damage", "the refusal did not say \"%s\"", c->log_needle);
		return 1;
	case DMG_SERVE:
		if (!o->started)
			return fail(o, "refused over what nothing reads", "the daemon refused to start over a place nothing reads");
		if (o->storage_reads)
			return fail(o, "STORAGE where nothing is damaged", "%s", o->served_said);
		if (o->stop_code != 0)
			return fail(o, "a stop that failed", "the daemon's stop exited %d", o->stop_code);
		return 1;
	case DMG_SERVE_REPORT:
		if (!o->started)
			return fail(o, "refused over a record start does not need",
				    "the daemon refused to start over a record it does not need at start");
		if (o->storage_missing)
			return fail(o, "a damaged read without STORAGE", "%s", o->served_said);
		if (o->storage_unexpected)
			return fail(o, "STORAGE where nothing is damaged", "%s", o->served_said);
		if (o->stop_code != 0)
			return fail(o, "a stop that failed", "the daemon's stop exited %d", o->stop_code);
		return 1;
	case DMG_REFUSE_OR_REPORT:
		return refused || served_safe ? 1 : fail(o, "a stop that failed", "the daemon's stop exited %d", o->stop_code);
	default:
		/* The random run: the daemon and accrue-check must agree that it is clean. */
		if (o->check_rc == 0 && !o->started)
			return fail(o, "refused what accrue-check calls clean", "the daemon refused what accrue-check calls clean");
		if (o->check_rc == 0 && o->storage_reads)
			return fail(o, "STORAGE where accrue-check calls it clean", "accrue-check called it clean, but %s",
				    o->served_said);
		return refused || served_safe ? 1 : fail(o, "a stop that failed", "the daemon's stop exited %d", o->stop_code);
	}
}

void dmg_report(const struct dmg_case *c, const struct dmg_outcome *o)
{
	char got[300];

	if (o->started)
		snprintf(got, sizeof got, "served%s%s%s", o->storage_reads ? ", STORAGE on read" : "",
			 o->served_said[0] ? ": " : "", o->served_said);
	else
		snprintf(got, sizeof got, "refused (exit %d): %s", o->exit_code, o->log_said);
	printf("  %-4s %s: expected %s, %s; got check %d (%s), daemon %s\n", o->failure ? "FAIL" : "ok", c->name,
	       check_expect_name(c->check), daemon_expect_name(c->daemon), o->check_rc, o->check_said, got);
	if (o->failure) {
		printf("       why: %s\n", o->why);
		/* A refusal said its line above; a daemon that ran, died or hung shows its log. */
		if (o->started || o->exit_code < 0 || o->exit_code >= 128)
			printf("       the daemon's log of this start:\n%s", o->log_tail);
	}
	fflush(stdout);
}

int dmg_trial(const struct dmg_case *c, struct dmg_outcome *o, int quiet)
{
	static char log[1 << 16];
	char key[sizeof ledger.admin_key];
	int check_named, ok;
	long n;

	memset(o, 0, sizeof *o);
	write_damaged_copy(c);
	check_named = run_check(c, o);
	o->check_wrote = !copy_unchanged();
	o->started = start_daemon(o);
	o->refusal_wrote = !o->started && !copy_unchanged();
	if (o->started) {
		read_back(c, o);
		o->stop_code = harness_stop_signal(&ledger.h, SIGTERM, STOP_TIMEOUT_MS);
	}
	read_start_log(log, sizeof log);
	{
		size_t len = strlen(log), keep = len < sizeof o->log_tail ? len : sizeof o->log_tail - 1;
		memcpy(o->log_tail, log + len - keep, keep);
		o->log_tail[keep] = '\0';
	}
	o->refusal_line = strstr(log, "refusing to start") != NULL;
	if (!o->started)
		why_refused(log, o->log_said, sizeof o->log_said);
	n = harness_read_file(ledger.h.key_file, key, sizeof key);
	o->fresh_start = strstr(log, "first start") != NULL || n != (long)ledger.admin_key_len ||
			 memcmp(key, ledger.admin_key, ledger.admin_key_len) != 0;
	ok = judge(c, o, check_named);
	if (!quiet)
		dmg_report(c, o);
	return ok;
}
