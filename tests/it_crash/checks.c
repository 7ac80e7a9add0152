/*
 * checks.c - it_crash's checks of what the daemon holds against what the
 * clients were told (see it_crash.c): the history read incrementally and
 * counted into the ops, unacknowledged requests resolved, exactly once,
 * the customers' figures, and re-sent requests that must replay.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "crash.h"

/* Per customer: where the last check's reading of the history ended. */
static uint64_t mark_seq[CUSTOMERS];
static int64_t mark_balance[CUSTOMERS];

size_t resolved_present, resolved_absent, sample_retries, pending_skips, unanswered_on_sigterm;
size_t resend_reports;

/* ---- the checks ----------------------------------------------------------------- */

struct scan {
	const char *phase;
	size_t bad_chain, bad_entry, reports;
};

static void scan_report(struct scan *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void scan_report(struct scan *sc, const char *fmt, ...)
{
	if (sc->reports++ >= MAX_REPORTS)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "    %s: ", sc->phase);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Count one history entry of customer c into the op it stands for, and check it against what was sent. */
static void count_entry(struct scan *sc, int c, const struct accrue_entry *e)
{
	int t = 0;
	size_t i = 0;
	unsigned long long who = (unsigned long long)customer_ids[c];
	if (e->type == ACCRUE_ENTRY_ENROL) {
		if (mark_seq[c] != 0) {
			sc->bad_entry++;
			scan_report(sc, "customer #%llu: an enrol entry at seq %llu after their first", who,
				    (unsigned long long)e->seq);
		}
		return;
	}
	const char *name = e->type == ACCRUE_ENTRY_ADJUST ? e->reason : e->order_id;
	struct op *op = op_by_name(name, &t, &i);
	if (op && e->type == ACCRUE_ENTRY_RETURN)
		op = op->kind == KIND_SALE && op->link ? &workers[t].ops[op->link - 1] : NULL;
	int want_kind = e->type == ACCRUE_ENTRY_ACCRUE ? KIND_SALE : e->type == ACCRUE_ENTRY_RETURN ? KIND_RETURN
					: e->type == ACCRUE_ENTRY_ADJUST ? KIND_ADJUST : 0;
	if (!op || op->kind != want_kind) {
		sc->bad_entry++;
		scan_report(sc, "customer #%llu: entry %llu (type %d, order \"%s\", reason \"%s\") is nothing anybody sent",
			    who, (unsigned long long)e->seq, e->type, e->order_id, e->reason);
		return;
	}
	op->seen++;
	op->seen_seq = e->seq;
	int ok = op->customer == c && e->points == op_points(t, op);
	if (op->kind != KIND_ADJUST)
		ok = ok && e->amount == op->amount && strcmp(e->location, locations[op->location]) == 0;
	if (!ok) {
		sc->bad_entry++;
		scan_report(sc,
			    "customer #%llu: entry %llu, %s %s at \"%s\" of %lld for %lld points; sent for customer #%llu "
			    "at %s of %lld for %lld points",
			    who, (unsigned long long)e->seq, kind_name(op->kind), name, e->location, (long long)e->amount,
			    (long long)e->points, (unsigned long long)customer_ids[op->customer], locations[op->location],
			    (long long)op->amount, (long long)op_points(t, op));
	}
}

/*
 * Read customer c's history entries newer than mark_seq[c], newest first,
 * counting each into its op: the newest must show the balance cust shows,
 * each must chain onto the one below it, and the oldest new one onto the
 * entry the last reading ended at, which must still be there as it was.
 */
static void scan_customer(accrue *a, struct scan *sc, int c, const struct accrue_customer *cust,
			  struct accrue_entry *page)
{
	struct accrue_ref ref = by_id(customer_ids[c]);
	unsigned long long who = (unsigned long long)customer_ids[c];
	uint64_t before = 0, top_seq = 0;
	int64_t top_balance = 0;
	struct accrue_entry newer; /* the entry above the current one */
	int have_newer = 0, reached_mark = 0;
	memset(&newer, 0, sizeof newer);
	for (int pages = 0; pages < 100000 && !reached_mark; pages++) {
		uint32_t got = 0;
		uint64_t next = 0;
		int rc = accrue_history(a, &ref, before, page, PAGE, &got, &next);
		CHECK_INT(rc, 0);
		if (rc != 0)
			return;
		for (uint32_t k = 0; k < got && !reached_mark; k++) {
			const struct accrue_entry *e = &page[k];
			if (e->seq <= mark_seq[c]) {
				reached_mark = 1;
				if (e->seq != mark_seq[c] || e->balance_after != mark_balance[c]) {
					sc->bad_chain++;
					scan_report(sc,
						    "customer #%llu: the entry the last check ended at was seq %llu with balance "
						    "%lld; now the next below is seq %llu with balance %lld",
						    who, (unsigned long long)mark_seq[c], (long long)mark_balance[c],
						    (unsigned long long)e->seq, (long long)e->balance_after);
				}
				break;
			}
			if (!have_newer) {
				top_seq = e->seq;
				top_balance = e->balance_after;
				if (e->balance_after != cust->balance) {
					sc->bad_chain++;
					scan_report(sc, "customer #%llu: balance %lld, but their newest entry %llu says %lld", who,
						    (long long)cust->balance, (unsigned long long)e->seq,
						    (long long)e->balance_after);
				}
			} else if (newer.seq <= e->seq || newer.balance_after != e->balance_after + newer.points) {
				sc->bad_chain++;
				scan_report(sc,
					    "customer #%llu: seq %llu (balance after %lld) then seq %llu (balance after %lld, "
					    "points %lld) do not chain",
					    who, (unsigned long long)e->seq, (long long)e->balance_after,
					    (unsigned long long)newer.seq, (long long)newer.balance_after,
					    (long long)newer.points);
			}
			count_entry(sc, c, e);
			newer = *e;
			have_newer = 1;
		}
		if (next == 0 || got == 0)
			break;
		before = next;
	}
	if (mark_seq[c] && !reached_mark) {
		sc->bad_chain++;
		scan_report(sc, "customer #%llu: the entry the last check ended at, seq %llu, is gone", who,
			    (unsigned long long)mark_seq[c]);
	}
	if (!have_newer) {
		if (cust->balance != mark_balance[c]) {
			sc->bad_chain++;
			scan_report(sc, "customer #%llu: balance %lld with no new entry since seq %llu (balance %lld)", who,
				    (long long)cust->balance, (unsigned long long)mark_seq[c], (long long)mark_balance[c]);
		}
		return;
	}
	/* newer is now the oldest new entry: it must start from the old mark's balance. */
	if (newer.balance_after - newer.points != mark_balance[c]) {
		sc->bad_chain++;
		scan_report(sc, "customer #%llu: entry %llu (balance after %lld, points %lld) does not follow balance %lld",
			    who, (unsigned long long)newer.seq, (long long)newer.balance_after, (long long)newer.points,
			    (long long)mark_balance[c]);
	}
	mark_seq[c] = top_seq;
	mark_balance[c] = top_balance;
}

void lookup_all(accrue *a, struct accrue_customer *cust)
{
	for (int c = 0; c < CUSTOMERS; c++) {
		struct accrue_ref ref = by_id(customer_ids[c]);
		int rc = accrue_lookup(a, &ref, &cust[c]);
		CHECK_INT(rc, 0);
		if (rc != 0)
			memset(&cust[c], 0, sizeof cust[c]);
	}
}

/* Whether op's outcome may still change: a call that timed out against the daemon still running. */
static int op_pending(const struct op *op, int now_epoch)
{
	return op->presence == PRESENCE_UNKNOWN && op->rc == ACCRUE_E_TIMEOUT && op->done_epoch == now_epoch;
}

/*
 * (c): decide each unacknowledged request whose outcome is fixed from what
 * the history showed, and check that the order index agrees.
 */
static void resolve_unacked(accrue *a, const char *phase, int now_epoch, struct accrue_order *ord)
{
	size_t disagree = 0, reports = 0;
	for (int t = 0; t < THREADS; t++) {
		struct worker *w = &workers[t];
		for (size_t i = 0; i < w->n; i++) {
			struct op *op = &w->ops[i];
			if (op->presence != PRESENCE_UNKNOWN || op_pending(op, now_epoch))
				continue;
			op->presence = op->seen ? PRESENT : ABSENT;
			if (op->seen)
				resolved_present++;
			else
				resolved_absent++;
			/* A clean stop finishes what is in flight: a request it
			 * committed must also have been answered. */
			if (op->seen && op->state == OP_UNACKED && op->epoch == op->done_epoch &&
			    sigterm_epoch[op->epoch]) {
				unanswered_on_sigterm++;
				fprintf(stderr,
					"    %s: %s T%d-%zu was committed by the daemon stopped with SIGTERM, but the client "
					"got no reply (%s)\n",
					phase, kind_name(op->kind), t, i, accrue_strerror(op->rc));
			}
			if (op->kind == KIND_ADJUST)
				continue;
			/* The order index must say the same as the journal. */
			const struct op *sale = op->kind == KIND_SALE ? op : &w->ops[op->link];
			char order[32];
			op_name(order, sizeof order, t, op->kind == KIND_SALE ? i : op->link);
			memset(ord, 0, sizeof *ord);
			int rc = accrue_order(a, locations[sale->location], order, ord);
			int ok;
			if (op->kind == KIND_SALE)
				ok = op->seen ? rc == 0 && ord->customer_id == customer_ids[op->customer] &&
							ord->amount == op->amount && ord->earned == sale_points(op->amount) &&
							ord->seq == op->seen_seq
					      : rc == ACCRUE_ST_NOT_FOUND;
			else
				ok = rc == 0 && ord->refunded == (op->seen ? op->amount : 0) &&
				     ord->taken_back == (op->seen ? return_taken(sale, op) : 0);
			if (!ok) {
				disagree++;
				if (reports++ < MAX_REPORTS)
					fprintf(stderr,
						"    %s: unacknowledged %s T%d-%zu is %s the history, but ORDER %s at %s says "
						"%s (seq %llu, amount %lld, refunded %lld, taken back %lld)\n",
						phase, kind_name(op->kind), t, i, op->seen ? "in" : "not in", order,
						locations[sale->location], rc ? accrue_strerror(rc) : "found",
						(unsigned long long)ord->seq, (long long)ord->amount, (long long)ord->refunded,
						(long long)ord->taken_back);
			}
		}
	}
	CHECK_INT(disagree, 0);
}

/*
 * (b) and (c): every op present is in the history exactly once, at the seq it
 * was acknowledged with; every op absent is not; a pending one at most once;
 * and a batch is all or nothing.
 */
void check_exactly_once(const char *phase, int now_epoch)
{
	size_t missing = 0, doubled = 0, unwanted = 0, wrong_reply = 0, torn_batches = 0, reports = 0;
	for (int t = 0; t < THREADS; t++) {
		const struct worker *w = &workers[t];
		for (size_t i = 0; i < w->n; i++) {
			const struct op *op = &w->ops[i];
			int bad = 1;
			if (op->seen > 1)
				doubled++;
			else if (op->presence == PRESENT && op->seen != 1)
				missing++;
			else if (op->presence == ABSENT && op->seen != 0)
				unwanted++;
			else if (op->state == OP_ACKED && (op->seq != op->seen_seq || op->points != op_points(t, op)))
				wrong_reply++;
			else
				bad = 0;
			if (bad && reports++ < MAX_REPORTS)
				fprintf(stderr,
					"    %s: %s T%d-%zu (%s, rc %d, %s) appears %d times in the history (acknowledged "
					"seq %llu and %lld points, history seq %llu)\n",
					phase, kind_name(op->kind), t, i, state_name(op->state), op->rc,
					op->presence == PRESENT  ? "present"
					: op->presence == ABSENT ? "absent"
								 : op_pending(op, now_epoch) ? "pending" : "unresolved",
					op->seen, (unsigned long long)op->seq, (long long)op->points,
					(unsigned long long)op->seen_seq);
			if (op->kind == KIND_SALE && op->batch_n && op->batch_first == i) {
				int mixed = 0;
				for (size_t k = i + 1; k < i + op->batch_n; k++)
					mixed |= (w->ops[k].seen != 0) != (op->seen != 0);
				if (mixed) {
					torn_batches++;
					if (reports++ < MAX_REPORTS)
						fprintf(stderr, "    %s: batch T%d-%zu..%zu (%s) is in the history in part\n",
							phase, t, i, i + op->batch_n - 1, state_name(op->state));
				}
			}
		}
	}
	CHECK_INT(missing, 0);
	CHECK_INT(doubled, 0);
	CHECK_INT(unwanted, 0);
	CHECK_INT(wrong_reply, 0);
	CHECK_INT(torn_batches, 0);
}

struct figures {
	int64_t balance, lifetime, spend, visits;
	int pending;
};

/* What the client-side ledger says each customer should show. */
static void ledger(struct figures *f)
{
	memset(f, 0, CUSTOMERS * sizeof *f);
	for (int t = 0; t < THREADS; t++) {
		const struct worker *w = &workers[t];
		for (size_t i = 0; i < w->n; i++) {
			const struct op *op = &w->ops[i];
			struct figures *c = &f[op->customer];
			if (op->presence == PRESENCE_UNKNOWN)
				c->pending = 1;
			if (op->presence != PRESENT)
				continue;
			if (op->kind == KIND_SALE) {
				int64_t p = sale_points(op->amount);
				c->balance += p;
				c->lifetime += p;
				c->spend += op->amount;
				c->visits++;
			} else if (op->kind == KIND_RETURN) {
				const struct op *sale = &w->ops[op->link];
				int64_t taken = return_taken(sale, op);
				c->balance -= taken;
				c->lifetime -= taken;
				c->spend -= op->amount;
				if (op->amount == sale->amount)
					c->visits--;
			} else {
				c->balance += op->amount;
				if (op->amount > 0)
					c->lifetime += op->amount;
			}
		}
	}
}

/* (b): each customer's figures are what the requests present add up to. */
void check_ledger(const char *phase, const struct accrue_customer *cust, int allow_pending)
{
	struct figures f[CUSTOMERS];
	size_t wrong = 0, reports = 0;
	ledger(f);
	for (int c = 0; c < CUSTOMERS; c++) {
		if (f[c].pending) {
			/* A timed-out call the live daemon may still commit: this
			 * customer is checked once that daemon is gone. */
			pending_skips++;
			CHECK(allow_pending);
			continue;
		}
		int64_t avg = f[c].visits > 0 ? f[c].spend / f[c].visits : 0;
		if (cust[c].balance == f[c].balance && cust[c].lifetime_points == f[c].lifetime &&
		    (int64_t)cust[c].visits == f[c].visits && cust[c].total_spend == f[c].spend &&
		    cust[c].average_spend == avg)
			continue;
		wrong++;
		if (reports++ < MAX_REPORTS)
			fprintf(stderr,
				"    %s: customer #%llu shows balance %lld, lifetime %lld, visits %llu, spend %lld, average "
				"%lld; the requests present add up to %lld, %lld, %lld, %lld, %lld\n",
				phase, (unsigned long long)customer_ids[c], (long long)cust[c].balance,
				(long long)cust[c].lifetime_points, (unsigned long long)cust[c].visits,
				(long long)cust[c].total_spend, (long long)cust[c].average_spend, (long long)f[c].balance,
				(long long)f[c].lifetime, (long long)f[c].visits, (long long)f[c].spend, (long long)avg);
	}
	CHECK_INT(wrong, 0);
}

/*
 * Send op (a batch sale: its whole batch) again with the same key and body.
 * want_replay 1: it must be a replay of the committed request, with the seq
 * the history shows and the same points. 0: it was absent and must be
 * applied now (a negative adjustment may be declined instead). Returns the
 * number of failures; a local error also closes *a and reconnects.
 */
size_t resend(accrue **a, int t, size_t i, int want_replay, const char *phase)
{
	static struct batch_args b;
	struct worker *w = &workers[t];
	struct op *op = &w->ops[i];
	size_t first = i, n = 1, failures = 0;
	int rc;
	char name[32];
	op_name(name, sizeof name, t, i);
	if (op->kind == KIND_SALE && op->batch_n) {
		first = op->batch_first;
		n = op->batch_n;
		batch_args_fill(&b, t, first, (uint32_t)n);
		rc = accrue_batch(*a, (uint32_t)n, (const uint8_t(*)[ACCRUE_KEY_SIZE])b.keys, b.refs, b.sales, b.results);
	} else {
		struct accrue_ref ref = by_id(customer_ids[op->customer]);
		struct accrue_result res;
		struct accrue_return_result rr;
		memset(&res, 0, sizeof res);
		memset(&rr, 0, sizeof rr);
		if (op->kind == KIND_SALE) {
			rc = accrue_accrue(*a, op->key, &ref, locations[op->location], name, op->amount, &res);
		} else if (op->kind == KIND_RETURN) {
			char order[32];
			op_name(order, sizeof order, t, op->link);
			rc = accrue_return(*a, op->key, locations[op->location], order, 0, op->amount, NULL, 0, &rr);
			res.seq = rr.seq;
			res.points = rr.points;
			res.replay = rr.replay;
		} else {
			rc = accrue_adjust(*a, op->key, &ref, op->amount, name, NULL, &res);
		}
		memset(&b.results[0], 0, sizeof b.results[0]);
		b.results[0].status = rc;
		b.results[0].replay = res.replay;
		b.results[0].seq = res.seq;
		b.results[0].points = res.points;
	}
	for (size_t k = 0; k < n; k++) {
		struct op *o = &w->ops[first + k];
		const struct accrue_batch_result *r = &b.results[k];
		int status = rc ? rc : r->status;
		int ok;
		if (want_replay) {
			ok = status == 0 && r->replay == 1 && r->seq == o->seen_seq && r->points == op_points(t, o);
		} else if (status == ACCRUE_ST_INSUFFICIENT && o->kind == KIND_ADJUST && o->amount < 0) {
			ok = 1; /* declined now, so still absent */
		} else {
			ok = status == 0 && r->replay == 0 && r->points == op_points(t, o);
			if (ok)
				o->presence = PRESENT;
		}
		if (!ok && resend_reports++ < MAX_REPORTS) {
			fprintf(stderr,
				"    %s: re-sending %s %s T%d-%zu (in the history %d times, at seq %llu): %s (%s), replay %d, "
				"seq %llu, points %lld (expected %lld)\n",
				phase, state_name(o->state), kind_name(o->kind), t, first + k, o->seen,
				(unsigned long long)o->seen_seq, status ? accrue_strerror(status) : "ok",
				rc ? accrue_message(*a) : r->message, r->replay, (unsigned long long)r->seq,
				(long long)r->points, (long long)op_points(t, o));
		}
		failures += !ok;
	}
	if (rc < 0) {
		accrue_close(*a);
		*a = NULL;
		REQUIRE(harness_connect(&h, a) == 0);
	}
	return failures;
}

/* Whether op can be re-sent expecting a replay: it is present, and so is the rest of its batch. */
int replayable(const struct worker *w, const struct op *op)
{
	if (op->presence != PRESENT || op->seen != 1)
		return 0;
	if (op->kind != KIND_SALE || !op->batch_n)
		return 1;
	for (size_t k = op->batch_first; k < op->batch_first + op->batch_n; k++)
		if (w->ops[k].presence != PRESENT || w->ops[k].seen != 1)
			return 0;
	return 1;
}

/*
 * (d): re-send a sample of what is present: per client the last few
 * requests sent to an earlier daemon (the ones a kill may have torn), the
 * last few sent, and a few at random. None may change anything.
 */
static void retry_sample(accrue **a, const char *phase, int now_epoch, uint64_t *rng)
{
	size_t failures = 0;
	resend_reports = 0;
	for (int t = 0; t < THREADS; t++) {
		const struct worker *w = &workers[t];
		size_t picked = 0;
		for (size_t i = w->n; i-- > 0 && picked < 3;)
			if (w->ops[i].epoch < now_epoch && replayable(w, &w->ops[i])) {
				failures += resend(a, t, i, 1, phase);
				picked++;
			}
		sample_retries += picked;
		picked = 0;
		for (size_t i = w->n; i-- > 0 && picked < 2;)
			if (replayable(w, &w->ops[i])) {
				failures += resend(a, t, i, 1, phase);
				picked++;
			}
		sample_retries += picked;
		for (int k = 0; k < 3 && w->n > 0; k++) {
			size_t i = (size_t)(rng_next(rng) % w->n);
			if (replayable(w, &w->ops[i])) {
				failures += resend(a, t, i, 1, phase);
				sample_retries++;
			}
		}
	}
	CHECK_INT(failures, 0);
}

void check_unchanged(const char *phase, const struct accrue_customer *before,
			    const struct accrue_customer *after)
{
	for (int c = 0; c < CUSTOMERS; c++) {
		int same = after[c].balance == before[c].balance && after[c].lifetime_points == before[c].lifetime_points &&
			   after[c].visits == before[c].visits && after[c].total_spend == before[c].total_spend;
		CHECK(same);
		if (!same)
			fprintf(stderr,
				"    %s: customer #%llu changed from balance %lld, visits %llu to balance %lld, visits %llu "
				"when requests were re-sent\n",
				phase, (unsigned long long)customer_ids[c], (long long)before[c].balance,
				(unsigned long long)before[c].visits, (long long)after[c].balance,
				(unsigned long long)after[c].visits);
	}
}

/* The recovered journal holds every seq acknowledged before the daemon that recovered it started. */
static void check_acked_recovered(const char *phase, int now_epoch, uint64_t recovered_seq)
{
	uint64_t highest = 0;
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			if (op->state == OP_ACKED && op->done_epoch < now_epoch && op->seq > highest)
				highest = op->seq;
		}
	CHECK(recovered_seq >= highest);
	if (recovered_seq < highest)
		fprintf(stderr, "    %s: seq %llu was acknowledged, but recovery found the journal ending at %llu\n", phase,
			(unsigned long long)highest, (unsigned long long)recovered_seq);
}

/*
 * Everything checked after a restart, with the clients paused: (a) to (d)
 * in the header. allow_pending 0: every outcome must be settled by now.
 */
void verify(const char *phase, uint64_t *rng, struct accrue_entry *page, struct accrue_order *ord,
		   int allow_pending)
{
	int now_epoch = atomic_load(&epoch);
	accrue *a = NULL;
	int rc = harness_connect(&h, &a);
	CHECK_INT(rc, 0);
	REQUIRE(a != NULL);
	accrue_set_timeout(a, 30000);
	static struct accrue_customer before[CUSTOMERS], after[CUSTOMERS];
	lookup_all(a, before);
	struct scan sc = { phase, 0, 0, 0 };
	for (int c = 0; c < CUSTOMERS; c++)
		scan_customer(a, &sc, c, &before[c], page);
	CHECK_INT(sc.bad_chain, 0);
	CHECK_INT(sc.bad_entry, 0);
	resolve_unacked(a, phase, now_epoch, ord);
	check_exactly_once(phase, now_epoch);
	check_ledger(phase, before, allow_pending);
	if (nstarts > 0 && nstarts <= MAX_STARTS)
		check_acked_recovered(phase, now_epoch, starts[nstarts - 1].journal_seq);
	retry_sample(&a, phase, now_epoch, rng);
	lookup_all(a, after);
	check_unchanged(phase, before, after);
	accrue_close(a);
	run_accrue_check(phase, 0);
}

/*
 * The whole history again from its first entry: recount every op, and check
 * each customer's figures against their own history alone.
 */
void full_history_check(accrue *a, const char *phase, struct accrue_entry *page)
{
	static struct accrue_customer cust[CUSTOMERS];
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++)
			workers[t].ops[i].seen = 0;
	memset(mark_seq, 0, sizeof mark_seq);
	memset(mark_balance, 0, sizeof mark_balance);
	lookup_all(a, cust);
	struct scan sc = { phase, 0, 0, 0 };
	for (int c = 0; c < CUSTOMERS; c++)
		scan_customer(a, &sc, c, &cust[c], page);
	CHECK_INT(sc.bad_chain, 0);
	CHECK_INT(sc.bad_entry, 0);

	/* Each customer's figures from their history alone (the ledger check
	 * compares them with what the clients sent). */
	int64_t balance[CUSTOMERS] = { 0 }, lifetime[CUSTOMERS] = { 0 }, spend[CUSTOMERS] = { 0 },
		visits[CUSTOMERS] = { 0 };
	for (int t = 0; t < THREADS; t++) {
		const struct worker *w = &workers[t];
		for (size_t i = 0; i < w->n; i++) {
			const struct op *op = &w->ops[i];
			if (op->seen != 1)
				continue;
			int c = op->customer;
			int64_t p = op_points(t, op);
			balance[c] += p;
			if (op->kind == KIND_SALE) {
				lifetime[c] += p;
				spend[c] += op->amount;
				visits[c]++;
			} else if (op->kind == KIND_RETURN) {
				lifetime[c] += p;
				spend[c] -= op->amount;
				visits[c] -= op->amount == w->ops[op->link].amount;
			} else if (p > 0) {
				lifetime[c] += p;
			}
		}
	}
	for (int c = 0; c < CUSTOMERS; c++) {
		CHECK_INT(cust[c].balance, balance[c]);
		CHECK_INT(cust[c].lifetime_points, lifetime[c]);
		CHECK_INT(cust[c].visits, visits[c]);
		CHECK_INT(cust[c].total_spend, spend[c]);
		CHECK_INT(cust[c].average_spend, visits[c] ? spend[c] / visits[c] : 0);
	}
}
