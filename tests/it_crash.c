/*
 * it_crash.c - kill -9 the daemon under load, again and again, and prove that
 * nothing acknowledged is lost and nothing is counted twice.
 *
 * Set-up: a real accrued on a loopback port with real LMDB (harness.c); 20
 * customers. Four client threads, each with its own libaccrue handle, accrue
 * sales back to back: every sale has a unique order id, a random location
 * of three, a random amount and its own random request key. Every call is
 * recorded: ACKNOWLEDGED (returned 0: the daemon said it is durable),
 * UNACKNOWLEDGED (a local error: the connection died and the call gave up),
 * STOPPED (SHUTTING_DOWN) or REFUSED (any other status; none is expected).
 *
 * The main thread stops the daemon after a random 200-800 ms and restarts it
 * on the same directory and port, CYCLES times, while the clients keep
 * going. Two stops in three are SIGKILL (the crash); every third is SIGTERM
 * under load, which must exit 0, must not commit a request without
 * answering it, and must apply nothing it refuses with SHUTTING_DOWN.
 * Two retry policies run side by side, because each proves something
 * different:
 *
 *   riders (threads 0, 1)     a high retry count: the library itself
 *                             reconnects and re-sends the identical request
 *                             with the same key until the daemon is back. A
 *                             sale committed just before the kill, whose
 *                             reply was lost, is re-sent after the restart
 *                             and must come back as a replay, not be applied
 *                             a second time.
 *   droppers (threads 2, 3)   no retries: a call in the kill window fails and
 *                             is left UNACKNOWLEDGED, like a POS that crashed
 *                             itself; the thread reconnects and moves on.
 *                             The final phase retries each with its stored
 *                             key, as such a POS would on its own restart.
 *
 * After the last restart, with the clients stopped:
 *   (a) every acknowledged sale is in its customer's history exactly once
 *       (matched by order id), with the amount, location and points sent;
 *       no history entry is a sale nobody sent; no order appears twice;
 *   (b) each customer's balance is the sum of their history's points, and
 *       lifetime points, visits, total and average spend agree with it;
 *   (c) every acknowledged key retried with the same body is a replay with
 *       the original seq and points, and changes no balance;
 *   (d) every unacknowledged key retried with the same body either replays
 *       (it had been committed: its order was already in the history) or is
 *       applied now (it had not: its order was absent); a SHUTTING_DOWN one
 *       was absent and is applied now; afterwards every order sent is in the
 *       history exactly once.
 *
 * The seed is printed; ACCRUE_CRASH_SEED=N repeats the kill timings.
 * Budget: well under 60 s on 2 cores.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"

#define CUSTOMERS 20
#define THREADS 4
#define RIDERS 2
#define CYCLES 8
#define LOCATIONS 3
#define MAX_OPS_PER_THREAD 200000
#define PAGE 1000
/* Print at most this many examples of one kind of failure. */
#define MAX_REPORTS 10

enum op_state {
	OP_ACKED = 1,   /* returned 0 */
	OP_UNACKED = 2, /* a local error: outcome unknown */
	OP_STOPPED = 3, /* SHUTTING_DOWN during a SIGTERM cycle: by contract nothing applied */
	OP_REFUSED = 4, /* any other refusal: not expected in this test */
};

struct op {
	uint8_t key[ACCRUE_KEY_SIZE];
	int customer; /* index into customer_ids */
	int location; /* index into locations */
	int64_t amount;
	int state;
	int rc;          /* the call's return value */
	int64_t points;  /* as acknowledged */
	uint64_t seq;    /* as acknowledged */
	int epoch;       /* which daemon incarnation it was sent to (stops before it) */
	int seen;        /* occurrences in the history, counted by the checks */
	int seen_before_retry;
};

struct worker {
	int index;
	int retries;
	uint64_t rng;
	struct op *ops;
	size_t n, cap;
	atomic_size_t acked; /* read by the main thread while the worker runs */
	size_t unacked, stopped, refused;
	size_t replayed; /* acknowledged as a replay: the library re-sent a committed request */
	pthread_t thread;
};

static struct harness h;
static uint64_t customer_ids[CUSTOMERS];
static const char *const locations[LOCATIONS] = { "store-1", "store-2", "store-3" };
static struct worker workers[THREADS];
static atomic_int stop_flag;
/* Incremented by the main thread after each stop; sigterm_epoch[e] says
 * whether incarnation e ended with SIGTERM (1) or SIGKILL (0). */
static atomic_int epoch;
static int sigterm_epoch[CYCLES + 1];

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: plenty for choosing amounts and delays. */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void order_name(char *buf, size_t cap, int thread, size_t n)
{
	snprintf(buf, cap, "T%d-%zu", thread, n);
}

/* Parse an order id made by order_name; NULL if it is not one of ours. */
static struct op *order_lookup(const char *order)
{
	int t;
	size_t n;
	char tail;
	if (sscanf(order, "T%d-%zu%c", &t, &n, &tail) != 2)
		return NULL;
	if (t < 0 || t >= THREADS || n >= workers[t].n)
		return NULL;
	return &workers[t].ops[n];
}

static int connect_handle(struct worker *w, accrue **out)
{
	accrue *a = NULL;
	int rc = harness_connect(&h, &a);
	if (rc != 0)
		return rc;
	accrue_set_retries(a, w->retries);
	/* Long enough for a commit on a slow disk, short enough that a reply
	 * lost in the kill is noticed well within a cycle. */
	accrue_set_timeout(a, 3000);
	*out = a;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	accrue *a = NULL;
	while (!atomic_load(&stop_flag) && w->n < MAX_OPS_PER_THREAD) {
		if (!a && connect_handle(w, &a) != 0) {
			harness_sleep_ms(10);
			continue;
		}
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 1024;
			struct op *ops = realloc(w->ops, cap * sizeof *ops);
			if (!ops)
				break;
			w->ops = ops;
			w->cap = cap;
		}
		struct op *op = &w->ops[w->n];
		memset(op, 0, sizeof *op);
		if (accrue_key_random(op->key) != 0)
			break;
		op->customer = (int)(rng_next(&w->rng) % CUSTOMERS);
		op->location = (int)(rng_next(&w->rng) % LOCATIONS);
		op->amount = 1 + (int64_t)(rng_next(&w->rng) % 50000);
		char order[32];
		order_name(order, sizeof order, w->index, w->n);
		w->n++;

		struct accrue_ref ref = by_id(customer_ids[op->customer]);
		struct accrue_result res;
		op->epoch = atomic_load(&epoch);
		int rc = accrue_accrue(a, op->key, &ref, locations[op->location], order, op->amount, &res);
		op->rc = rc;
		if (rc == 0) {
			op->state = OP_ACKED;
			op->points = res.points;
			op->seq = res.seq;
			atomic_fetch_add(&w->acked, 1);
			if (res.replay)
				w->replayed++;
		} else if (rc < 0) {
			op->state = OP_UNACKED;
			w->unacked++;
			accrue_close(a);
			a = NULL;
		} else if (rc == ACCRUE_ST_SHUTTING_DOWN) {
			op->state = OP_STOPPED;
			w->stopped++;
			accrue_close(a);
			a = NULL;
		} else {
			op->state = OP_REFUSED;
			w->refused++;
			if (w->refused <= MAX_REPORTS)
				fprintf(stderr, "it_crash: thread %d: %s refused: %s: %s\n", w->index, order,
					accrue_strerror(rc), accrue_message(a));
		}
	}
	accrue_close(a);
	return NULL;
}

static size_t total_acked(void)
{
	size_t n = 0;
	for (int t = 0; t < THREADS; t++)
		n += atomic_load(&workers[t].acked);
	return n;
}

/*
 * Count the orders in every customer's history into op->seen, and check
 * each customer's figures against their own history (b). Pages are checked
 * as they arrive, so memory stays at one page whatever the history's size.
 */
static void count_history(accrue *a, struct accrue_entry *page, const char *phase)
{
	size_t bad_chain = 0, bad_sale = 0, bad_order = 0, reports = 0;
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++)
			workers[t].ops[i].seen = 0;

	for (int c = 0; c < CUSTOMERS; c++) {
		struct accrue_ref ref = by_id(customer_ids[c]);
		struct accrue_customer cust;
		int rc = accrue_lookup(a, &ref, &cust);
		CHECK_INT(rc, 0);
		if (rc != 0)
			continue;

		int64_t balance = 0, lifetime = 0, spend = 0;
		uint64_t visits = 0, entries = 0;
		struct accrue_entry newer; /* the entry above the current one */
		struct accrue_entry oldest;
		memset(&newer, 0, sizeof newer);
		memset(&oldest, 0, sizeof oldest);
		uint64_t before = 0;
		for (int pages = 0; pages < 100000; pages++) {
			uint32_t got = 0;
			uint64_t next = 0;
			rc = accrue_history(a, &ref, before, page, PAGE, &got, &next);
			CHECK_INT(rc, 0);
			if (rc != 0)
				break;
			for (uint32_t i = 0; i < got; i++) {
				const struct accrue_entry *e = &page[i];
				if (entries == 0)
					CHECK_INT(e->balance_after, cust.balance);
				/* Newest first: the entry above adds its points to this one's balance. */
				if (entries > 0 && (newer.seq <= e->seq ||
						    newer.balance_after != e->balance_after + newer.points)) {
					bad_chain++;
					if (reports++ < MAX_REPORTS)
						fprintf(stderr,
							"    %s: customer #%llu: seq %llu (balance after %lld) then seq "
							"%llu (balance after %lld, points %lld) do not chain\n",
							phase, (unsigned long long)customer_ids[c],
							(unsigned long long)e->seq, (long long)e->balance_after,
							(unsigned long long)newer.seq, (long long)newer.balance_after,
							(long long)newer.points);
				}
				newer = *e;
				oldest = *e;
				entries++;
				balance += e->points;
				if (e->points > 0)
					lifetime += e->points;
				if (e->type != ACCRUE_ENTRY_ACCRUE)
					continue;
				visits++;
				spend += e->amount;
				struct op *op = order_lookup(e->order_id);
				if (!op) {
					bad_order++;
					if (reports++ < MAX_REPORTS)
						fprintf(stderr, "    %s: customer #%llu has a sale %s nobody sent\n", phase,
							(unsigned long long)customer_ids[c], e->order_id);
					continue;
				}
				op->seen++;
				if (op->customer != c || op->amount != e->amount ||
				    strcmp(locations[op->location], e->location) != 0 || e->points != e->amount / 100) {
					bad_sale++;
					if (reports++ < MAX_REPORTS)
						fprintf(stderr,
							"    %s: customer #%llu: sale %s at %s of %lld for %lld points; "
							"sent for customer #%llu at %s of %lld\n",
							phase, (unsigned long long)customer_ids[c], e->order_id, e->location,
							(long long)e->amount, (long long)e->points,
							(unsigned long long)customer_ids[op->customer],
							locations[op->location], (long long)op->amount);
				}
			}
			if (next == 0 || got == 0)
				break;
			before = next;
		}
		CHECK(entries > 0);
		CHECK_INT(oldest.type, ACCRUE_ENTRY_ENROL);
		CHECK_INT(oldest.balance_after, oldest.points);
		CHECK_INT(cust.balance, balance);
		CHECK_INT(cust.lifetime_points, lifetime);
		CHECK_INT(cust.visits, visits);
		CHECK_INT(cust.total_spend, spend);
		CHECK_INT(cust.average_spend, visits ? spend / (int64_t)visits : 0);
	}
	CHECK_INT(bad_chain, 0);
	CHECK_INT(bad_order, 0);
	CHECK_INT(bad_sale, 0);
}

struct retry_job {
	struct worker *w;
	int acked_only; /* 1: retry OP_ACKED (c); 0: retry OP_UNACKED and OP_STOPPED (d) */
	size_t failures, done;
};

static void *retry_main(void *arg)
{
	struct retry_job *job = arg;
	struct worker *w = job->w;
	accrue *a = NULL;
	int rc = harness_connect(&h, &a);
	if (rc != 0) {
		fprintf(stderr, "    retry thread: cannot connect: %s\n", accrue_strerror(rc));
		job->failures++;
		return NULL;
	}
	for (size_t i = 0; i < w->n; i++) {
		struct op *op = &w->ops[i];
		if (job->acked_only ? op->state != OP_ACKED : op->state != OP_UNACKED && op->state != OP_STOPPED)
			continue;
		char order[32];
		order_name(order, sizeof order, w->index, i);
		struct accrue_ref ref = by_id(customer_ids[op->customer]);
		struct accrue_result res;
		memset(&res, 0, sizeof res);
		rc = accrue_accrue(a, op->key, &ref, locations[op->location], order, op->amount, &res);
		job->done++;
		int ok;
		if (job->acked_only)
			ok = rc == 0 && res.replay == 1 && res.seq == op->seq && res.points == op->points;
		else
			/* Committed before the kill: a replay. Not committed: applied now. */
			ok = rc == 0 && res.replay == (op->seen_before_retry ? 1 : 0) &&
			     res.points == op->amount / 100;
		if (!ok) {
			if (job->failures < MAX_REPORTS)
				fprintf(stderr,
					"    retry of %s sale %s (in the history before: %d): rc %s (%s), "
					"replay %d, seq %llu (acknowledged %llu), points %lld (acknowledged %lld)\n",
					job->acked_only ? "an acknowledged" : "an unacknowledged", order, op->seen_before_retry,
					accrue_strerror(rc), rc ? accrue_message(a) : "", res.replay,
					(unsigned long long)res.seq, (unsigned long long)op->seq, (long long)res.points,
					(long long)op->points);
			job->failures++;
		}
		if (rc < 0) {
			accrue_close(a);
			a = NULL;
			if (harness_connect(&h, &a) != 0)
				break;
		}
	}
	accrue_close(a);
	return NULL;
}

static size_t retry_all(int acked_only)
{
	struct retry_job jobs[THREADS];
	pthread_t th[THREADS];
	size_t failures = 0;
	for (int t = 0; t < THREADS; t++) {
		jobs[t].w = &workers[t];
		jobs[t].acked_only = acked_only;
		jobs[t].failures = jobs[t].done = 0;
		REQUIRE(pthread_create(&th[t], NULL, retry_main, &jobs[t]) == 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		failures += jobs[t].failures;
	}
	return failures;
}

static void snapshot_balances(accrue *a, int64_t *balances)
{
	for (int c = 0; c < CUSTOMERS; c++) {
		struct accrue_ref ref = by_id(customer_ids[c]);
		struct accrue_customer cust;
		int rc = accrue_lookup(a, &ref, &cust);
		CHECK_INT(rc, 0);
		balances[c] = rc == 0 ? cust.balance : -1;
	}
}

/* (a): acknowledged orders exactly once, unacknowledged at most once. */
static void check_seen(const char *phase, int all_exactly_once)
{
	size_t missing = 0, doubled = 0, reports = 0;
	for (int t = 0; t < THREADS; t++) {
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			int want_once = op->state == OP_ACKED ||
					(all_exactly_once && (op->state == OP_UNACKED || op->state == OP_STOPPED));
			int want_none = op->state == OP_REFUSED || (!all_exactly_once && op->state == OP_STOPPED);
			int bad = op->seen > 1 || (want_once && op->seen != 1) || (want_none && op->seen != 0);
			if (!bad)
				continue;
			if (op->seen > 1)
				doubled++;
			else
				missing++;
			if (reports++ < MAX_REPORTS)
				fprintf(stderr, "    %s: order T%d-%zu (%s, rc %d) appears %d times in the history\n",
					phase, t, i,
					op->state == OP_ACKED     ? "acknowledged"
					: op->state == OP_UNACKED ? "unacknowledged"
					: op->state == OP_STOPPED ? "refused with SHUTTING_DOWN"
								  : "refused",
					op->rc, op->seen);
		}
	}
	CHECK_INT(missing, 0);
	CHECK_INT(doubled, 0);
}

int main(void)
{
	long long t0 = harness_now_ms();
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	const char *env = getenv("ACCRUE_CRASH_SEED");
	if (env && *env)
		seed = strtoull(env, NULL, 10);
	if (seed == 0)
		seed = 1;
	fprintf(stderr, "it_crash: seed %llu\n", (unsigned long long)seed);
	uint64_t rng = seed;

	/* Checkpoint every 300 records, so kills land before, during and after
	 * checkpoints and recovery starts from one written under load. */
	static const char *const daemon_args[] = {"--checkpoint-records", "300", NULL};
	REQUIRE(harness_start_args(&h, "it_crash", daemon_args) == 0);
	accrue *a = NULL;
	int rc = harness_connect(&h, &a);
	if (rc != 0)
		fprintf(stderr, "it_crash: cannot connect to %s: %s\n", h.addr, accrue_strerror(rc));
	REQUIRE(rc == 0);
	for (int c = 0; c < CUSTOMERS; c++) {
		char email[64];
		snprintf(email, sizeof email, "crash%d@example.com", c);
		struct accrue_customer cust;
		rc = accrue_enrol(a, NULL, email, NULL, "Crash", "Test", &cust, NULL);
		if (rc != 0)
			fprintf(stderr, "it_crash: enrol %s: %s: %s\n", email, accrue_strerror(rc), accrue_message(a));
		REQUIRE(rc == 0);
		customer_ids[c] = cust.id;
	}
	accrue_close(a);
	a = NULL;

	for (int t = 0; t < THREADS; t++) {
		workers[t].index = t;
		/* Riders: enough attempts, with the library's growing pauses, to
		 * outlast a restart; droppers: none. */
		workers[t].retries = t < RIDERS ? 50 : 0;
		workers[t].rng = rng_next(&rng) | 1;
		REQUIRE(pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) == 0);
	}

	size_t acked_before_last = 0;
	for (int cycle = 0; cycle < CYCLES; cycle++) {
		int run_ms = 200 + (int)(rng_next(&rng) % 601);
		harness_sleep_ms(run_ms);
		size_t acked = total_acked();
		if (cycle % 3 == 2) {
			/* Every third stop is a clean one under load: in-flight
			 * requests are finished and committed, and it exits 0. */
			sigterm_epoch[cycle] = 1;
			int code = harness_stop_signal(&h, SIGTERM, 20000);
			CHECK_INT(code, 0);
			fprintf(stderr, "it_crash: cycle %d: SIGTERM after %d ms, exit %d, %zu acknowledged so far\n",
				cycle + 1, run_ms, code, acked);
		} else {
			harness_kill(&h);
			fprintf(stderr, "it_crash: cycle %d: SIGKILL after %d ms, %zu acknowledged so far\n", cycle + 1,
				run_ms, acked);
		}
		atomic_fetch_add(&epoch, 1);
		/* Leave the daemon down a moment so calls really meet a dead port. */
		harness_sleep_ms((int)(rng_next(&rng) % 100));
		long long r0 = harness_now_ms();
		if (harness_restart(&h) != 0) {
			fprintf(stderr, "it_crash: the daemon did not come back after kill %d\n", cycle + 1);
			atomic_store(&stop_flag, 1);
			for (int t = 0; t < THREADS; t++)
				pthread_join(workers[t].thread, NULL);
			harness_finish(&h, 1);
			int restarted = 0;
			CHECK(restarted);
			return check_done("it_crash");
		}
		fprintf(stderr, "it_crash: cycle %d: restarted in %lld ms\n", cycle + 1, harness_now_ms() - r0);
		acked_before_last = total_acked();
	}
	/* Some load on the last incarnation too, so it is shown to serve. */
	harness_sleep_ms(500);
	atomic_store(&stop_flag, 1);
	for (int t = 0; t < THREADS; t++)
		pthread_join(workers[t].thread, NULL);

	size_t acked = 0, unacked = 0, stopped = 0, refused = 0, sent = 0;
	for (int t = 0; t < THREADS; t++) {
		acked += atomic_load(&workers[t].acked);
		unacked += workers[t].unacked;
		stopped += workers[t].stopped;
		refused += workers[t].refused;
		sent += workers[t].n;
		fprintf(stderr,
			"it_crash: thread %d (%s): %zu sent, %zu acknowledged (%zu of them as replays of a re-sent "
			"request), %zu unacknowledged, %zu refused as shutting down, %zu refused otherwise\n",
			t, t < RIDERS ? "rider" : "dropper", workers[t].n, atomic_load(&workers[t].acked),
			workers[t].replayed, workers[t].unacked, workers[t].stopped, workers[t].refused);
		/* Every thread got work through: a client that never recovers
		 * from a restart is a failure a user would notice. */
		CHECK(atomic_load(&workers[t].acked) > 0);
	}
	CHECK_INT(refused, 0);
	CHECK(acked > acked_before_last);
	fprintf(stderr, "it_crash: load phase done at %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);

	rc = harness_connect(&h, &a);
	CHECK_INT(rc, 0);
	REQUIRE(a != NULL);
	struct accrue_entry *entries = calloc(PAGE, sizeof *entries);
	REQUIRE(entries != NULL);

	/* (a) and (b). */
	count_history(a, entries, "after the last restart");
	check_seen("after the last restart", 0);
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++)
			workers[t].ops[i].seen_before_retry = workers[t].ops[i].seen;
	size_t committed_unacked = 0, unanswered_on_sigterm = 0;
	for (int t = 0; t < THREADS; t++) {
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			if (op->state != OP_UNACKED || !op->seen)
				continue;
			committed_unacked++;
			/* A clean stop finishes what is in flight: a request it
			 * committed must also have been answered. */
			if (sigterm_epoch[op->epoch]) {
				unanswered_on_sigterm++;
				fprintf(stderr,
					"    order T%d-%zu was committed by the daemon stopped with SIGTERM, but the "
					"client got no reply (%s)\n",
					t, i, accrue_strerror(op->rc));
			}
		}
	}
	CHECK_INT(unanswered_on_sigterm, 0);
	fprintf(stderr, "it_crash: %zu of %zu unacknowledged sales had been committed; %zu refused as shutting down\n",
		committed_unacked, unacked, stopped);

	/* (c): acknowledged keys replay and change nothing. */
	int64_t before[CUSTOMERS], after[CUSTOMERS];
	snapshot_balances(a, before);
	CHECK_INT(retry_all(1), 0);
	snapshot_balances(a, after);
	for (int c = 0; c < CUSTOMERS; c++)
		CHECK_INT(after[c], before[c]);

	/* (d): unacknowledged keys replay or apply, never double. */
	CHECK_INT(retry_all(0), 0);
	count_history(a, entries, "after retrying the unacknowledged");
	check_seen("after retrying the unacknowledged", 1);

	/* And it all survives a clean restart. */
	snapshot_balances(a, before);
	accrue_close(a);
	a = NULL;
	CHECK_INT(harness_stop(&h), 0);
	REQUIRE(harness_restart(&h) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	snapshot_balances(a, after);
	for (int c = 0; c < CUSTOMERS; c++)
		CHECK_INT(after[c], before[c]);
	accrue_close(a);
	CHECK_INT(harness_stop(&h), 0);

	free(entries);
	for (int t = 0; t < THREADS; t++)
		free(workers[t].ops);
	fprintf(stderr, "it_crash: %zu sales sent, %zu acknowledged, %zu unacknowledged, %.1f s\n", sent, acked,
		unacked, (double)(harness_now_ms() - t0) / 1000.0);
	harness_finish(&h, check_failures);
	return check_done("it_crash");
}
