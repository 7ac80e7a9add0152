/*
 * verify.c - one rebuilt data directory checked through a real accrued
 * (powerloss.h).
 *
 * For a power cut between event cut-1 and event cut of the log:
 *   - accrued must start on the directory (recover and listen);
 *   - every customer whose enrolment was acknowledged before the cut is
 *     there, and every sale acknowledged before the cut is in its
 *     customer's history exactly once, with its amount and points;
 *   - nothing is half there: each customer's balance, lifetime points,
 *     visits and total spend are what the sales in the history add up to,
 *     and no sale is there that was first sent after the cut;
 *   - accrue-check finds the directory clean;
 *   - sales in doubt at the cut (sent, not yet acknowledged) sent again
 *     with their request keys are replays exactly when they were there,
 *     and one acknowledged sale sent again is a replay with its seq.
 */
#include "powerloss.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"

#define HISTORY_PAGE 1000
/* Lines of one kind printed per run; the count of the rest follows. */
#define PRINT_MAX 8

static void fail(struct pl_outcome *out, int intrinsic, int64_t cut, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void fail(struct pl_outcome *out, int intrinsic, int64_t cut, const char *label, const char *fmt, ...)
{
	va_list ap;

	out->failures++;
	out->intrinsic += intrinsic;
	check_failures++;
	if (out->failures > PRINT_MAX) {
		if (out->failures == PRINT_MAX + 1)
			fprintf(stderr, "powerloss: FAIL cut %lld (%s): ... (more failures of this run not shown)\n",
				(long long)cut, label);
		return;
	}
	fprintf(stderr, "powerloss: FAIL cut %lld (%s): ", (long long)cut, label);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static struct accrue_ref ref_email(const char *email)
{
	struct accrue_ref r;

	memset(&r, 0, sizeof r);
	r.kind = ACCRUE_REF_EMAIL;
	snprintf(r.text, sizeof r.text, "%s", email);
	return r;
}

/* "PL-000123" -> 123, or -1. */
static int sale_index(const struct pl_workload *w, const char *order_id)
{
	char *end;
	long i;

	if (strncmp(order_id, "PL-", 3) != 0)
		return -1;
	i = strtol(order_id + 3, &end, 10);
	if (*end || i < 0 || i >= w->nsales)
		return -1;
	return (int)i;
}

/* What the cut decides: acknowledged sales present, no sale from after it. */
static void check_against_cut(struct pl_verify *v, int64_t cut, const char *label, struct pl_outcome *out)
{
	const struct pl_workload *w = v->w;

	for (int c = 0; c < w->ncustomers; c++) {
		const struct pl_customer *pc = &w->customers[c];
		if (pc->ack_at < cut && !(out->customers & (1ull << c))) {
			out->lost++;
			fail(out, 0, cut, label,
			     "customer %s (enrolment acknowledged at event %lld) is missing: an acknowledged enrolment "
			     "was lost",
			     pc->email, (long long)pc->ack_at);
		}
	}
	for (int i = 0; i < w->nsales; i++) {
		const struct pl_sale *s = &w->sales[i];
		if (s->ack_at < cut && out->present[i] == 0) {
			out->lost++;
			fail(out, 0, cut, label,
			     "acknowledged sale %s (journal seq %llu, acknowledged at event %lld) is missing: an "
			     "acknowledged sale was lost",
			     s->order_id, (unsigned long long)s->seq, (long long)s->ack_at);
		}
		if (out->present[i] && s->send_at >= cut)
			fail(out, 0, cut, label,
			     "sale %s is there but was first sent at event %lld, after the cut: the log misses a write",
			     s->order_id, (long long)s->send_at);
	}
}

/* One customer's history and figures. Returns 0 if the customer is there. */
static int check_customer(struct pl_verify *v, accrue *a, int c, int64_t cut, const char *label,
			  struct pl_outcome *out)
{
	const struct pl_workload *w = v->w;
	const struct pl_customer *pc = &w->customers[c];
	struct accrue_ref ref = ref_email(pc->email);
	struct accrue_customer cust;
	struct accrue_entry *entries = calloc(HISTORY_PAGE, sizeof *entries);
	int64_t points = 0, spend = 0;
	uint64_t visits = 0, before = 0;
	int rc = accrue_lookup(a, &ref, &cust);

	if (!entries) {
		fail(out, 1, cut, label, "out of memory");
		return -1;
	}
	if (rc == ACCRUE_ST_NOT_FOUND) {
		free(entries);
		return -1;
	}
	if (rc != 0) {
		fail(out, 1, cut, label, "lookup %s: %s: %s", pc->email, accrue_strerror(rc), accrue_message(a));
		free(entries);
		return -1;
	}
	out->customers |= 1ull << c;
	do {
		uint32_t n = 0;
		uint64_t next = 0;
		rc = accrue_history(a, &ref, before, entries, HISTORY_PAGE, &n, &next);
		if (rc != 0) {
			fail(out, 1, cut, label, "history of %s: %s: %s", pc->email, accrue_strerror(rc),
			     accrue_message(a));
			free(entries);
			return 0;
		}
		for (uint32_t k = 0; k < n; k++) {
			const struct accrue_entry *e = &entries[k];
			int i;
			if (e->type == ACCRUE_ENTRY_ENROL)
				continue;
			i = e->type == ACCRUE_ENTRY_ACCRUE ? sale_index(w, e->order_id) : -1;
			if (i < 0) {
				fail(out, 1, cut, label, "%s has journal entry %llu of type %d (order \"%s\"), which nobody sent",
				     pc->email, (unsigned long long)e->seq, e->type, e->order_id);
				continue;
			}
			if (w->sales[i].customer != c || e->amount != w->sales[i].amount ||
			    e->points != w->sales[i].amount / 100)
				fail(out, 1, cut, label, "sale %s is in %s's history with amount %lld and %lld points; it was "
				     "sent for %s with amount %lld",
				     e->order_id, pc->email, (long long)e->amount, (long long)e->points,
				     w->customers[w->sales[i].customer].email, (long long)w->sales[i].amount);
			if (++out->present[i] == 2)
				fail(out, 1, cut, label, "sale %s is in the history twice", e->order_id);
			points += e->points;
			spend += e->amount;
			visits++;
		}
		before = next;
	} while (before != 0);
	free(entries);
	if (cust.balance != points || cust.lifetime_points != points || cust.visits != visits ||
	    cust.total_spend != spend)
		fail(out, 1, cut, label,
		     "%s: balance %lld, lifetime %lld, visits %llu, spend %lld; the history adds up to %lld points, "
		     "%llu visits, spend %lld: half applied",
		     pc->email, (long long)cust.balance, (long long)cust.lifetime_points,
		     (unsigned long long)cust.visits, (long long)cust.total_spend, (long long)points,
		     (unsigned long long)visits, (long long)spend);
	return 0;
}

static void run_check(struct pl_verify *v, int64_t cut, const char *label, struct pl_outcome *out)
{
	char *argv[] = { (char *)v->check_bin, v->h->data, NULL };
	char so[4096], se[4096];
	int rc = harness_run(argv, so, sizeof so, se, sizeof se, 60000);

	if (rc != 0)
		fail(out, 1, cut, label, "accrue-check exited %d:\n%s%s", rc, so, se);
}

/* Send one sale again with its key: a replay exactly when it was there. */
static void resend(struct pl_verify *v, accrue *a, int i, int64_t cut, const char *label, struct pl_outcome *out)
{
	const struct pl_workload *w = v->w;
	const struct pl_sale *s = &w->sales[i];
	struct accrue_ref ref = ref_email(w->customers[s->customer].email);
	struct accrue_result res;
	int rc = accrue_accrue(a, s->key, &ref, "store-1", s->order_id, s->amount, &res);

	v->resent++;
	if (rc != 0) {
		fail(out, 1, cut, label, "sale %s sent again: %s: %s", s->order_id, accrue_strerror(rc),
		     accrue_message(a));
		return;
	}
	v->replays += res.replay;
	if (res.replay != (out->present[i] > 0))
		fail(out, 1, cut, label, "sale %s sent again with its key %s a replay, but it %s there", s->order_id,
		     res.replay ? "is" : "is not", out->present[i] ? "was" : "was not");
	if (res.replay && s->acked && res.seq != s->seq)
		fail(out, 1, cut, label, "sale %s sent again is a replay of seq %llu; it was acknowledged as seq %llu",
		     s->order_id, (unsigned long long)res.seq, (unsigned long long)s->seq);
	if (res.points != s->amount / 100)
		fail(out, 1, cut, label, "sale %s sent again earned %lld points, not %lld", s->order_id,
		     (long long)res.points, (long long)(s->amount / 100));
}

/* The sales in doubt at the cut, and one acknowledged before it, sent again. */
static void resend_some(struct pl_verify *v, accrue *a, int64_t cut, const char *label, struct pl_outcome *out)
{
	const struct pl_workload *w = v->w;
	int sent = 0, acked_one = 0;

	for (int i = 0; i < w->nsales && sent < v->resend; i++) {
		const struct pl_sale *s = &w->sales[i];
		if (s->send_at < cut && s->ack_at >= cut) {
			resend(v, a, i, cut, label, out);
			sent++;
		}
	}
	for (int i = w->nsales; i-- > 0 && !acked_one;) {
		if (w->sales[i].ack_at < cut) {
			resend(v, a, i, cut, label, out);
			acked_one = 1;
		}
	}
}

/* The daemon's log since its last start marker, at most cap-1 bytes from its end. */
static void start_log(const struct harness *h, char *buf, size_t cap)
{
	FILE *fp = fopen(h->log, "r");
	long end;
	size_t n;

	buf[0] = '\0';
	if (!fp)
		return;
	fseek(fp, 0, SEEK_END);
	end = ftell(fp);
	if (end - (long)h->start_offset > (long)cap - 1)
		fseek(fp, end - (long)cap + 1, SEEK_SET);
	else
		fseek(fp, (long)h->start_offset, SEEK_SET);
	n = fread(buf, 1, cap - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/*
 * Start accrued on the directory and wait until it listens (it writes
 * accrued.addr), then read admin.key. Returns 0; or -1 with its log since
 * the start in why (it exited: it refused to start) or a reason.
 */
static int start_daemon(struct pl_verify *v, char *why, size_t cap)
{
	struct harness *h = v->h;

	for (int attempt = 0; attempt < 3; attempt++) {
		long long deadline;
		if (harness_start_nowait(h) != 0) {
			snprintf(why, cap, "cannot start accrued");
			return -1;
		}
		deadline = harness_now_ms() + 20000;
		for (;;) {
			char buf[512];
			int status;
			long n;
			if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
				h->pid = 0;
				start_log(h, why, cap);
				/* The port of the run before may not be free yet. */
				if (strstr(why, "cannot listen") && attempt < 2)
					break;
				return -1;
			}
			n = harness_read_file(h->addr_file, buf, sizeof buf);
			if (n > 0 && buf[n - 1] == '\n') {
				n = harness_read_file(h->key_file, buf, sizeof buf);
				/* No key file at all: the caller says whether that is a finding. */
				if (n < 0) {
					h->admin_key[0] = '\0';
					return 0;
				}
				while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
					buf[--n] = '\0';
				if (n <= 0 || (size_t)n >= sizeof h->admin_key) {
					snprintf(why, cap, "accrued listens but %s holds no key", h->key_file);
					return -1;
				}
				memcpy(h->admin_key, buf, (size_t)n + 1);
				return 0;
			}
			if (harness_now_ms() > deadline) {
				harness_kill(h);
				snprintf(why, cap, "accrued did not listen within 20 s");
				return -1;
			}
			harness_sleep_ms(3);
		}
		harness_sleep_ms(200);
	}
	return -1;
}

/*
 * Whether the state lacks a usable admin.key (1) or has ours (0). Nothing
 * is put in its place before the start: accrued refuses a key file beside a
 * ledger that has no key (a cut before the key's commit), as it must, and
 * makes its own where the ledger has none.
 */
static int install_admin_key(struct pl_verify *v, const struct pl_state *s, struct pl_outcome *out, int64_t cut,
			     const char *label)
{
	const struct pl_file *f = state_file(s, "admin.key");
	size_t len = strlen(v->admin_key_text);

	(void)out;
	(void)cut;
	(void)label;
	return !(f && f->size == len && memcmp(f->buf, v->admin_key_text, len) == 0);
}

/*
 * The state had no admin.key (ours was put there) and the daemon made no
 * new one: it found the key in the journal, and the power cut had taken
 * the file away, so the operator would be locked out. Which of two gaps
 * let that happen depends on where the cut is.
 */
static void admin_key_finding(struct pl_verify *v, int64_t cut, const char *label, struct pl_outcome *out)
{
	if (cut <= v->admin_key_rename) {
		if (v->admin_key_unrenamed++ == 0 || v->strict)
			fprintf(stderr,
				"powerloss: FINDING cut %lld (%s): the admin key is committed but admin.key is not "
				"there: the cut falls between make_admin_key's commit and its rename of "
				".admin.key.tmp (a SIGKILL there does the same); the next start finds the key in the "
				"journal, makes no new one, and no one has the admin key\n",
				(long long)cut, label);
	} else {
		if (v->admin_key_undone++ == 0 || v->strict)
			fprintf(stderr,
				"powerloss: FINDING cut %lld (%s): the admin key is committed and was renamed into "
				"admin.key, but the rename did not survive the cut: accrued never fsyncs the data "
				"directory after it; the next start makes no new key and no one has the admin key\n",
				(long long)cut, label);
	}
	if (v->strict)
		fail(out, 1, cut, label, "admin.key lost (a finding; POWERLOSS_STRICT=1)");
}

void verify_state(struct pl_verify *v, const struct pl_state *s, int64_t cut, const char *label,
		  struct pl_outcome *out)
{
	const struct pl_workload *w = v->w;
	char why[4096];
	int key_absent;
	accrue *a = NULL;
	int rc;

	v->runs++;
	check_count++;
	if (state_write_dir(s, v->h->data) != 0) {
		fail(out, 1, cut, label, "cannot write the rebuilt directory");
		goto done;
	}
	key_absent = install_admin_key(v, s, out, cut, label);
	if (start_daemon(v, why, sizeof why) != 0) {
		/* Also during the first start: a cut there must leave either no
		 * data.mdb (a first start again) or a whole one. */
		fail(out, 1, cut, label, "accrued refused to start on the directory a power cut left; it said:\n%s", why);
		goto done;
	}
	out->started = 1;
	if (key_absent && !v->h->admin_key[0]) {
		/* The ledger has the key (no new one was made) and the file is gone:
		 * the operator would be locked out. Go on with our copy to check the rest. */
		char path[HARNESS_PATH_MAX * 2];
		FILE *fp;
		out->admin_key_lost = 1;
		admin_key_finding(v, cut, label, out);
		snprintf(v->h->admin_key, sizeof v->h->admin_key, "%s", v->admin_key_text);
		while (v->h->admin_key[0] && strchr("\n ", v->h->admin_key[strlen(v->h->admin_key) - 1]))
			v->h->admin_key[strlen(v->h->admin_key) - 1] = '\0';
		snprintf(path, sizeof path, "%s/admin.key", v->h->data);
		fp = fopen(path, "w");
		if (!fp || fputs(v->admin_key_text, fp) < 0 || fclose(fp) != 0)
			fail(out, 1, cut, label, "cannot write %s", path);
	}
	if ((rc = harness_connect(v->h, &a)) != 0) {
		fail(out, 1, cut, label, "cannot connect with the admin key: %s", accrue_strerror(rc));
		goto done;
	}
	for (int c = 0; c < w->ncustomers; c++)
		check_customer(v, a, c, cut, label, out);
	check_against_cut(v, cut, label, out);
	run_check(v, cut, label, out);
	resend_some(v, a, cut, label, out);
done:
	accrue_close(a);
	harness_kill(v->h);
	if (out->failures)
		v->failed_runs++;
}

void verify_cached(struct pl_verify *v, const struct pl_outcome *earlier, int64_t cut, const char *label,
		   struct pl_outcome *out)
{
	check_count++;
	out->started = earlier->started;
	out->customers = earlier->customers;
	memcpy(out->present, earlier->present, (size_t)v->w->nsales * sizeof *out->present);
	if (!earlier->started) {
		fail(out, 1, cut, label, "accrued refused to start (the same files as an earlier state)");
	} else {
		if (earlier->intrinsic)
			fail(out, earlier->intrinsic, cut, label, "the same files as an earlier state, which failed");
		out->admin_key_lost = earlier->admin_key_lost;
		if (out->admin_key_lost)
			admin_key_finding(v, cut, label, out);
		check_against_cut(v, cut, label, out);
	}
	if (out->failures)
		v->failed_runs++;
}
