/*
 * it_crash.c - kill -9 the daemon under load, again and again, and prove after
 * every restart that nothing acknowledged is lost, nothing is counted twice
 * and nothing is half applied.
 *
 * Set-up: a real accrued on a loopback port with real LMDB (harness.c),
 * checkpointing every second and, chosen at random for each start, every 5
 * or every 40 journal records: at 5 about half of the commits under load
 * carry a checkpoint, so many kills land while one is on its way to disk; at
 * 40 recovery replays longer tails. 20 customers. Four client threads, each
 * with its own libaccrue handle, send back to back a mix of:
 *
 *   sales         ACCRUE with a unique order id, a random location of three
 *                 and a random amount (1 point per whole 1.00);
 *   batches       ACCRUE_BATCH of 2-8 such sales, one request key per sale;
 *   returns       RETURN of the whole or a part of one of the thread's own
 *                 acknowledged sales, at most one return per sale, so what it
 *                 takes back is known exactly: ceil(earned * refunded / amount);
 *   adjustments   ADJUST by -30..+30 points, tagged with a unique reason; a
 *                 negative one may be refused with INSUFFICIENT, and then
 *                 nothing is applied.
 *
 * Every request has its own random request key and every outcome is kept:
 * ACKNOWLEDGED (0: the daemon said it is durable), UNACKNOWLEDGED (a local
 * error: the connection died and the call gave up), STOPPED (SHUTTING_DOWN),
 * DECLINED (INSUFFICIENT for a negative adjustment) or REFUSED (anything
 * else; none is expected). Two retry policies run side by side:
 *
 *   riders (threads 0, 1)     a high retry count: the library reconnects and
 *                             re-sends the identical request with the same
 *                             key until the daemon is back, so a request
 *                             committed just before a kill, whose reply was
 *                             lost, comes back as a replay;
 *   droppers (threads 2, 3)   no retries: a call in the kill window fails and
 *                             stays UNACKNOWLEDGED, like a POS that crashed
 *                             itself; the thread reconnects and moves on.
 *
 * The main thread runs CYCLES cycles. Each lets the load run for a random
 * 20-400 ms, then stops the daemon: SIGKILL, except every TERM_EVERY-th
 * cycle, which is a SIGTERM under load that must exit 0, must not commit a
 * request without answering it and must apply nothing it refuses with
 * SHUTTING_DOWN. In one cycle of START_KILL_EVERY (on average) the daemon is
 * then also started on the same directory and SIGKILLed again 0-40 ms later,
 * before or during recovery and listening. accrue-check ($ACCRUE_CHECK_BIN)
 * (--json) reads the directory each time the daemon is down and must find
 * it clean. Then the daemon is restarted and, with the clients paused (each
 * finishes the call it is in), everything sent so far is checked against
 * the daemon:
 *
 *   (a) accrue-check on the data directory of the running daemon is clean;
 *   (b) exactly once: every acknowledged request is in its customer's
 *       history once, at the seq it was acknowledged with and with the
 *       amounts sent; nothing is there that nobody sent; and each customer's
 *       balance, lifetime points, visits, total and average spend equal what
 *       the client-side ledger of the requests present adds up to. The
 *       history is read incrementally: only entries newer than the last
 *       check, which must chain onto the entry the last check ended at;
 *   (c) nothing unacknowledged is half applied: each unacknowledged request
 *       whose outcome can no longer change (the daemon it was sent to is
 *       dead, or it failed on a broken connection) is present or absent in
 *       the history, the order index (ORDER) and the customer's figures
 *       alike, and a batch's sales are all present or all absent;
 *   (d) a sample of the acknowledged (and of the unacknowledged but
 *       committed) requests, most of them sent to the daemon just killed, is
 *       re-sent with the same key and body: each is a replay with the
 *       original seq and points, and no customer changes;
 *   and from the daemon's log, whose "recovered ... journal seq S, R records
 *   replayed" line says recovery started from the checkpoint at S - R:
 *   recovery began from exactly the checkpoint and journal end accrue-check
 *   had just found on disk; it never goes back (checkpoint and journal seq
 *   only grow, and it has every seq a "checkpoint written" line called
 *   durable); the start after a clean stop replays nothing; and every seq
 *   acknowledged before the stop is in the recovered journal.
 *
 * After the last cycle the clients stop, the daemon is stopped cleanly and
 * restarted, and the whole history is checked again from its first entry;
 * then every acknowledged key is re-sent (a replay, nothing changes), every
 * unacknowledged or stopped one too (a replay if it had been committed,
 * applied now if not), and afterwards every sale and return sent is in the
 * history exactly once. A last clean restart must keep every balance.
 *
 * The figures printed at the end say how often the kills met a checkpoint:
 * how many restarts found the checkpoint moved since the previous start
 * (one was written under load), and what share of the commits carried a
 * checkpoint at each cadence, counted in the clean stops' logs ("checkpoint
 * written" lines against the commits "stopped cleanly" reports), applied to
 * the kills at that cadence: an estimate. The proof comes from the log: the
 * daemon logs "checkpoint begun at journal seq X" when it copies one into a
 * batch and "checkpoint written" once that batch is committed; a stop after
 * a "begun" with no "written", followed by a recovery from a checkpoint
 * below X, cut that checkpoint's transaction short. The test counts those
 * and requires at least one.
 *
 * The seed is printed; ACCRUE_CRASH_SEED=N repeats the kill timings.
 * Budget: about 40 s on 2 cores, under 2 minutes with ASan and UBSan.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"

#define CUSTOMERS 20
#define THREADS 4
#define RIDERS 2
/* 56 SIGKILLs and 8 SIGTERMs under load, plus the kills at start-up. */
#define CYCLES 64
#define TERM_EVERY 8
#define START_KILL_EVERY 4
#define RUN_MIN_MS 20
#define RUN_MAX_MS 400
#define START_KILL_MAX_MS 40
/* Each start checkpoints after one of these many records (and every
 * second): with 5 about half of the commits under load carry a checkpoint,
 * with 40 recovery replays longer tails. */
#define CHECKPOINT_RECORDS_OFTEN "5"
#define CHECKPOINT_RECORDS_SELDOM "40"
#define LOCATIONS 3
#define MAX_BATCH 8
#define MAX_OPS_PER_THREAD 200000
#define MAX_EPOCHS (CYCLES * 2 + 8)
#define MAX_STARTS 512
#define PAGE 1000
/* How long the clients may take to finish their calls when asked to pause. */
#define PAUSE_TIMEOUT_MS 60000
/* Print at most this many examples of one kind of failure. */
#define MAX_REPORTS 10

enum op_kind {
	KIND_SALE = 1,   /* ACCRUE, or one sale of an ACCRUE_BATCH */
	KIND_RETURN = 2, /* RETURN by amount of one of the thread's sales */
	KIND_ADJUST = 3, /* ADJUST, reason = the op's name */
};

enum op_state {
	OP_ACKED = 1,    /* returned 0 */
	OP_UNACKED = 2,  /* a local error: outcome unknown to the client */
	OP_STOPPED = 3,  /* SHUTTING_DOWN: by contract nothing applied */
	OP_DECLINED = 4, /* INSUFFICIENT for a negative adjustment: nothing applied */
	OP_REFUSED = 5,  /* any other refusal: not expected in this test */
};

/* Whether the op's change is in the ledger, as far as the checks know. */
enum op_presence {
	PRESENCE_UNKNOWN = 0, /* unacknowledged, not resolved yet */
	PRESENT = 1,
	ABSENT = 2,
};

struct op {
	uint8_t key[ACCRUE_KEY_SIZE];
	uint8_t kind;     /* enum op_kind */
	uint8_t state;    /* enum op_state */
	uint8_t presence; /* enum op_presence */
	uint8_t batch_n;  /* a sale of a batch: how many sales it had (0: a single sale) */
	int16_t customer; /* index into customer_ids (a return: its sale's) */
	int16_t location; /* index into locations (a return: its sale's) */
	int rc;           /* the call's return value (a batch sale: its item's status) */
	int epoch;        /* the daemon incarnation when the call began */
	int done_epoch;   /* ... and when it returned */
	int seen;         /* occurrences in the history, counted by the checks */
	uint32_t link;    /* a sale: 1 + index of its return, 0 if none; a return: index of its sale */
	uint32_t batch_first; /* a sale of a batch: index of the batch's first sale */
	int64_t amount;   /* a sale: its amount; a return: the amount refunded; an adjustment: its points */
	int64_t points;   /* as acknowledged */
	uint64_t seq;     /* as acknowledged */
	uint64_t seen_seq; /* the seq of its history entry */
};

struct worker {
	int index;
	int retries;
	uint64_t rng;
	struct op *ops;
	size_t n, cap;
	size_t return_cursor; /* sales before this one have been considered for a return */
	atomic_size_t acked;  /* read by the main thread while the worker runs */
	size_t unacked, stopped, declined, refused, replayed;
	size_t sent[4]; /* by kind */
	pthread_t thread;
};

/* What the daemon's log says about one start (one "==== ... start" marker). */
enum stop_kind {
	STOP_NONE = 0,
	STOP_KILL,       /* SIGKILL under load */
	STOP_TERM,       /* SIGTERM under load */
	STOP_START_KILL, /* SIGKILL a few ms after exec */
	STOP_FINAL,      /* SIGTERM without load, at the end */
};

struct start_log {
	int stop; /* enum stop_kind, set by the test when it stopped this start */
	int often; /* it ran with --checkpoint-records CHECKPOINT_RECORDS_OFTEN */
	int recovered, listening, stopped_cleanly;
	uint64_t journal_seq, replayed; /* from "recovered": the checkpoint is journal_seq - replayed */
	uint64_t checkpoints;           /* "checkpoint written" lines */
	uint64_t last_durable;          /* the seq the last of them called durable */
	uint64_t stopped_seq, commits;  /* from "stopped cleanly" */
};

static struct harness h;
/* The clients connect with copies: harness_restart rewrites h's (with the same address and key). */
static char daemon_addr[sizeof h.addr], admin_key[sizeof h.admin_key];
static uint64_t customer_ids[CUSTOMERS];
static const char *const locations[LOCATIONS] = { "store-1", "store-2", "store-3" };
static struct worker workers[THREADS];
static atomic_int stop_flag;
/* Incremented by the main thread after each daemon it stopped is reaped;
 * sigterm_epoch[e] says whether incarnation e ended with SIGTERM. */
static atomic_int epoch;
static int sigterm_epoch[MAX_EPOCHS];
static const char *check_bin;

/* Pausing the clients: each parks at the top of its loop, between calls. */
static pthread_mutex_t pause_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cv = PTHREAD_COND_INITIALIZER;
static int pause_asked, parked, exited;

/* Per customer: where the last check's reading of the history ended. */
static uint64_t mark_seq[CUSTOMERS];
static int64_t mark_balance[CUSTOMERS];

static struct start_log starts[MAX_STARTS];
static int nstarts;
/* What accrue-check saw in the directory just before start k, the daemon down. */
static struct {
	int seen;
	uint64_t checkpoint_seq, last_seq;
} disk_before[MAX_STARTS];
static int ckpt_often; /* the daemon running now checkpoints often */
static off_t log_offset;
static char log_carry[8192];
static size_t log_carry_len;

/* Figures for the summary. */
static size_t check_runs, check_runs_down, start_kills, start_kills_before_listening, term_stops;
static size_t kills, resolved_present, resolved_absent, sample_retries, pending_skips, unanswered_on_sigterm;
static size_t disk_agrees;
/* Failures of re-sent requests printed in the current phase. */
static size_t resend_reports;

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

static int rng_range(uint64_t *s, int lo, int hi)
{
	return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* Every op has a name: a sale's order id, an adjustment's reason. */
static void op_name(char *buf, size_t cap, int thread, size_t n)
{
	snprintf(buf, cap, "T%d-%zu", thread, n);
}

/* The op a name made by op_name stands for; NULL if it is not one of ours. */
static struct op *op_by_name(const char *name, int *thread, size_t *index)
{
	int t;
	size_t n;
	char tail;
	if (sscanf(name, "T%d-%zu%c", &t, &n, &tail) != 2)
		return NULL;
	if (t < 0 || t >= THREADS || n >= workers[t].n)
		return NULL;
	if (thread)
		*thread = t;
	if (index)
		*index = n;
	return &workers[t].ops[n];
}

static const char *state_name(int state)
{
	switch (state) {
	case OP_ACKED:
		return "acknowledged";
	case OP_UNACKED:
		return "unacknowledged";
	case OP_STOPPED:
		return "refused with SHUTTING_DOWN";
	case OP_DECLINED:
		return "declined with INSUFFICIENT";
	default:
		return "refused";
	}
}

static const char *kind_name(int kind)
{
	return kind == KIND_SALE ? "sale" : kind == KIND_RETURN ? "return" : "adjustment";
}

/* What a sale earns under the default program: 1 point per whole 1.00. */
static int64_t sale_points(int64_t amount)
{
	return amount / 100;
}

/* What the one return of a sale takes back (rules_take_back with nothing returned before). */
static int64_t return_taken(const struct op *sale, const struct op *ret)
{
	int64_t earned = sale_points(sale->amount);
	if (ret->amount == sale->amount)
		return earned;
	return (earned * ret->amount + sale->amount - 1) / sale->amount;
}

/* The points an op changes the balance by when it is applied. */
static int64_t op_points(int t, const struct op *op)
{
	if (op->kind == KIND_SALE)
		return sale_points(op->amount);
	if (op->kind == KIND_RETURN)
		return -return_taken(&workers[t].ops[op->link], op);
	return op->amount;
}

/* ---- the clients ------------------------------------------------------------ */

static int connect_handle(struct worker *w, accrue **out)
{
	accrue *a = NULL;
	int rc = accrue_connect(daemon_addr, admin_key, &a);
	if (rc != 0)
		return rc;
	accrue_set_retries(a, w->retries);
	/* Long enough for a commit on a slow disk under ASan, short enough that
	 * a hung reply would be noticed within the test. */
	accrue_set_timeout(a, 5000);
	*out = a;
	return 0;
}

static void park_if_asked(void)
{
	pthread_mutex_lock(&pause_mu);
	if (pause_asked) {
		parked++;
		pthread_cond_broadcast(&pause_cv);
		while (pause_asked)
			pthread_cond_wait(&pause_cv, &pause_mu);
		parked--;
	}
	pthread_mutex_unlock(&pause_mu);
}

/*
 * Ask every client to stop between two calls and wait until all have (or
 * have exited). Returns 0, or -1 if one is still in a call after
 * PAUSE_TIMEOUT_MS.
 */
static int pause_clients(void)
{
	long long deadline = harness_now_ms() + PAUSE_TIMEOUT_MS;
	int ok = 1;
	pthread_mutex_lock(&pause_mu);
	pause_asked = 1;
	while (parked + exited < THREADS && ok) {
		pthread_mutex_unlock(&pause_mu);
		harness_sleep_ms(2);
		pthread_mutex_lock(&pause_mu);
		ok = harness_now_ms() < deadline;
	}
	pthread_mutex_unlock(&pause_mu);
	return ok ? 0 : -1;
}

static void resume_clients(void)
{
	pthread_mutex_lock(&pause_mu);
	pause_asked = 0;
	pthread_cond_broadcast(&pause_cv);
	pthread_mutex_unlock(&pause_mu);
}

/* Make room for n more ops. Returns 0 or -1. */
static int ops_reserve(struct worker *w, size_t n)
{
	if (w->n + n <= w->cap)
		return 0;
	size_t cap = w->cap ? w->cap * 2 : 1024;
	struct op *ops = realloc(w->ops, cap * sizeof *ops);
	if (!ops)
		return -1;
	w->ops = ops;
	w->cap = cap;
	return 0;
}

static struct op *op_new(struct worker *w, int kind)
{
	struct op *op = &w->ops[w->n++];
	memset(op, 0, sizeof *op);
	op->kind = (uint8_t)kind;
	REQUIRE(accrue_key_random(op->key) == 0);
	op->epoch = atomic_load(&epoch);
	w->sent[kind]++;
	return op;
}

/* Keep the outcome of one call for op: rc is what it returned or, for a sale of a batch, the sale's own status. */
static void op_outcome(struct worker *w, struct op *op, int rc, int replay, uint64_t seq, int64_t points,
		       const char *message)
{
	op->done_epoch = atomic_load(&epoch);
	op->rc = rc;
	if (rc == 0) {
		op->state = OP_ACKED;
		op->presence = PRESENT;
		op->seq = seq;
		op->points = points;
		atomic_fetch_add(&w->acked, 1);
		if (replay)
			w->replayed++;
	} else if (rc < 0) {
		op->state = OP_UNACKED;
		w->unacked++;
	} else if (rc == ACCRUE_ST_SHUTTING_DOWN) {
		op->state = OP_STOPPED;
		/* Refused by a daemon that is stopping: nothing applied, unless an
		 * earlier attempt reached an earlier daemon (a rider), which the
		 * checks then resolve like an unacknowledged request. */
		op->presence = op->epoch == op->done_epoch ? ABSENT : PRESENCE_UNKNOWN;
		w->stopped++;
	} else if (rc == ACCRUE_ST_INSUFFICIENT && op->kind == KIND_ADJUST && op->amount < 0) {
		op->state = OP_DECLINED;
		op->presence = ABSENT;
		w->declined++;
	} else {
		op->state = OP_REFUSED;
		op->presence = ABSENT;
		w->refused++;
		if (w->refused <= MAX_REPORTS)
			fprintf(stderr, "it_crash: thread %d: %s %zu refused: %s: %s\n", w->index, kind_name(op->kind),
				(size_t)(op - w->ops), accrue_strerror(rc), message ? message : "");
	}
}

static int send_sale(struct worker *w, accrue *a)
{
	size_t i = w->n;
	struct op *op = op_new(w, KIND_SALE);
	op->customer = (int16_t)(rng_next(&w->rng) % CUSTOMERS);
	op->location = (int16_t)(rng_next(&w->rng) % LOCATIONS);
	op->amount = 1 + (int64_t)(rng_next(&w->rng) % 50000);
	char name[32];
	op_name(name, sizeof name, w->index, i);
	struct accrue_ref ref = by_id(customer_ids[op->customer]);
	struct accrue_result res;
	memset(&res, 0, sizeof res);
	int rc = accrue_accrue(a, op->key, &ref, locations[op->location], name, op->amount, &res);
	op_outcome(w, op, rc, res.replay, res.seq, res.points, rc > 0 ? accrue_message(a) : NULL);
	return rc;
}

/* The arguments of a batch made of ops first..first+n-1, for sending and re-sending. */
struct batch_args {
	uint8_t keys[MAX_BATCH][ACCRUE_KEY_SIZE];
	struct accrue_ref refs[MAX_BATCH];
	struct accrue_sale sales[MAX_BATCH];
	char names[MAX_BATCH][32];
	struct accrue_batch_result results[MAX_BATCH];
};

static void batch_args_fill(struct batch_args *b, int t, size_t first, uint32_t n)
{
	memset(b, 0, sizeof *b);
	for (uint32_t k = 0; k < n; k++) {
		const struct op *op = &workers[t].ops[first + k];
		memcpy(b->keys[k], op->key, ACCRUE_KEY_SIZE);
		b->refs[k] = by_id(customer_ids[op->customer]);
		op_name(b->names[k], sizeof b->names[k], t, first + k);
		b->sales[k].location = locations[op->location];
		b->sales[k].order_id = b->names[k];
		b->sales[k].amount = op->amount;
	}
}

static int send_batch(struct worker *w, accrue *a)
{
	struct batch_args b;
	uint32_t n = (uint32_t)rng_range(&w->rng, 2, MAX_BATCH);
	size_t first = w->n;
	for (uint32_t k = 0; k < n; k++) {
		struct op *op = op_new(w, KIND_SALE);
		op->batch_n = (uint8_t)n;
		op->batch_first = (uint32_t)first;
		op->customer = (int16_t)(rng_next(&w->rng) % CUSTOMERS);
		op->location = (int16_t)(rng_next(&w->rng) % LOCATIONS);
		op->amount = 1 + (int64_t)(rng_next(&w->rng) % 50000);
	}
	batch_args_fill(&b, w->index, first, n);
	int rc = accrue_batch(a, n, (const uint8_t(*)[ACCRUE_KEY_SIZE])b.keys, b.refs, b.sales, b.results);
	for (uint32_t k = 0; k < n; k++) {
		struct op *op = &w->ops[first + k];
		if (rc != 0)
			op_outcome(w, op, rc, 0, 0, 0, rc > 0 ? accrue_message(a) : NULL);
		else
			op_outcome(w, op, b.results[k].status, b.results[k].replay, b.results[k].seq, b.results[k].points,
				   b.results[k].message);
	}
	return rc;
}

/* A return of one of the thread's acknowledged sales without one; a sale if there is none. */
static int send_return(struct worker *w, accrue *a)
{
	size_t sale_index = w->n;
	for (int tries = 0; tries < 64 && w->return_cursor < w->n; tries++, w->return_cursor++) {
		const struct op *s = &w->ops[w->return_cursor];
		if (s->kind == KIND_SALE && s->state == OP_ACKED && s->link == 0) {
			sale_index = w->return_cursor++;
			break;
		}
	}
	if (sale_index == w->n)
		return send_sale(w, a);
	size_t i = w->n;
	struct op *op = op_new(w, KIND_RETURN);
	struct op *sale = &w->ops[sale_index];
	sale->link = (uint32_t)i + 1;
	op->link = (uint32_t)sale_index;
	op->customer = sale->customer;
	op->location = sale->location;
	/* One in four returns the whole sale, which also takes back its visit. */
	if (sale->amount == 1 || rng_next(&w->rng) % 4 == 0)
		op->amount = sale->amount;
	else
		op->amount = 1 + (int64_t)(rng_next(&w->rng) % (uint64_t)(sale->amount - 1));
	char order[32];
	op_name(order, sizeof order, w->index, sale_index);
	struct accrue_return_result res;
	memset(&res, 0, sizeof res);
	int rc = accrue_return(a, op->key, locations[op->location], order, 0, op->amount, NULL, 0, &res);
	op_outcome(w, op, rc, res.replay, res.seq, res.points, rc > 0 ? accrue_message(a) : NULL);
	return rc;
}

static int send_adjust(struct worker *w, accrue *a)
{
	size_t i = w->n;
	struct op *op = op_new(w, KIND_ADJUST);
	op->customer = (int16_t)(rng_next(&w->rng) % CUSTOMERS);
	op->amount = rng_range(&w->rng, -30, 29);
	if (op->amount >= 0)
		op->amount++;
	char reason[32];
	op_name(reason, sizeof reason, w->index, i);
	struct accrue_ref ref = by_id(customer_ids[op->customer]);
	struct accrue_result res;
	memset(&res, 0, sizeof res);
	int rc = accrue_adjust(a, op->key, &ref, op->amount, reason, NULL, &res);
	op_outcome(w, op, rc, res.replay, res.seq, res.points, rc > 0 ? accrue_message(a) : NULL);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	accrue *a = NULL;
	while (!atomic_load(&stop_flag)) {
		park_if_asked();
		if (atomic_load(&stop_flag) || w->n + MAX_BATCH > MAX_OPS_PER_THREAD)
			break;
		if (!a && connect_handle(w, &a) != 0) {
			harness_sleep_ms(10);
			continue;
		}
		if (ops_reserve(w, MAX_BATCH) != 0)
			break;
		int pick = (int)(rng_next(&w->rng) % 100), rc;
		if (pick < 15)
			rc = send_batch(w, a);
		else if (pick < 30)
			rc = send_return(w, a);
		else if (pick < 42)
			rc = send_adjust(w, a);
		else
			rc = send_sale(w, a);
		if (rc < 0 || rc == ACCRUE_ST_SHUTTING_DOWN) {
			accrue_close(a);
			a = NULL;
		}
	}
	accrue_close(a);
	pthread_mutex_lock(&pause_mu);
	exited++;
	pthread_mutex_unlock(&pause_mu);
	return NULL;
}

static size_t total_acked(void)
{
	size_t n = 0;
	for (int t = 0; t < THREADS; t++)
		n += atomic_load(&workers[t].acked);
	return n;
}

/* ---- the daemon: its log, and kills at start-up ------------------------------- */

/* How harness.c's line before each start of the daemon begins. */
#define HARNESS_START_MARKER "==== harness: start #"
/* The daemon's line once it listens. It comes just after accrued.addr
 * (server/main.c), which is all harness_restart waits for. */
#define LISTENING_LINE " accrued: listening on "
/* How long that line may take to follow the address file: one write away,
 * but a loaded machine under ASan can leave the daemon unscheduled for a
 * while between the two. */
#define LISTENING_LOG_WAIT_MS 30000
/* Restarts whose listening line was not in the log yet when
 * harness_restart returned, and the longest wait for one. */
static size_t listening_late;
static long long listening_wait_max_ms;
/* Daemon log lines a kill cut short, that the next start marker ended. */
static size_t torn_log_lines;

/*
 * Kills while a checkpoint was on its way to disk, proven from the log: a
 * daemon logged "checkpoint begun at journal seq X" and no "checkpoint
 * written" after it, was stopped, and the next recovery started from a
 * checkpoint below X (so the transaction carrying it never landed).
 */
static uint64_t ckpt_pending;   /* the begun seq not yet written, in the running daemon's log */
static uint64_t ckpt_cut;       /* a begun seq the stop cut short, until a recovery settles it */
static size_t kills_mid_ckpt;

static void log_line_seen(const char *line)
{
	const char *p;
	unsigned long long a, b;
	/*
	 * harness.c appends its "==== harness: start #N" line in one write
	 * before each fork, and the daemon writes each of its lines in one
	 * write too (log_line in server/main.c). Should a daemon's last line
	 * still lack its newline when it is killed (a write cut short), the
	 * next start's marker would end that line instead of beginning its own:
	 * the torn part then belongs to the daemon that died, and the marker
	 * still starts the next one. (Not counting that start would pin its
	 * recovery on the start before it.)
	 */
	if ((p = strstr(line, HARNESS_START_MARKER)) != NULL && p != line) {
		char torn[sizeof log_carry];
		size_t n = (size_t)(p - line);
		memcpy(torn, line, n);
		torn[n] = '\0';
		torn_log_lines++;
		log_line_seen(torn);
		line = p;
	}
	if (strncmp(line, HARNESS_START_MARKER, strlen(HARNESS_START_MARKER)) == 0) {
		if (ckpt_pending)
			ckpt_cut = ckpt_pending;
		ckpt_pending = 0;
		if (nstarts < MAX_STARTS)
			memset(&starts[nstarts], 0, sizeof starts[nstarts]);
		nstarts++;
		return;
	}
	if (nstarts == 0 || nstarts > MAX_STARTS)
		return;
	struct start_log *s = &starts[nstarts - 1];
	if (strstr(line, " accrued: recovered ") && (p = strstr(line, "journal seq ")) &&
	    sscanf(p, "journal seq %llu, %llu records replayed", &a, &b) == 2) {
		s->recovered = 1;
		s->journal_seq = a;
		s->replayed = b;
		if (ckpt_cut && a - b < ckpt_cut)
			kills_mid_ckpt++;
		ckpt_cut = 0;
	} else if ((p = strstr(line, " accrued: checkpoint begun at journal seq ")) &&
		   sscanf(p, " accrued: checkpoint begun at journal seq %llu", &a) == 1) {
		ckpt_pending = a;
	} else if ((p = strstr(line, " accrued: checkpoint written (journal durable to seq ")) &&
		   sscanf(p, " accrued: checkpoint written (journal durable to seq %llu", &a) == 1) {
		s->checkpoints++;
		s->last_durable = a;
		ckpt_pending = 0;
	} else if ((p = strstr(line, " accrued: stopped cleanly at journal seq ")) &&
		   sscanf(p, " accrued: stopped cleanly at journal seq %llu (%llu commits", &a, &b) == 2) {
		s->stopped_cleanly = 1;
		s->stopped_seq = a;
		s->commits = b;
	} else if (strstr(line, LISTENING_LINE)) {
		s->listening = 1;
	}
}

/* Read what the daemon logged since the last call, line by line. */
static void read_log(void)
{
	int fd = open(h.log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (lseek(fd, log_offset, SEEK_SET) == log_offset) {
		char buf[16384];
		ssize_t got;
		while ((got = read(fd, buf, sizeof buf)) > 0) {
			log_offset += got;
			for (ssize_t i = 0; i < got; i++) {
				if (buf[i] == '\n') {
					log_carry[log_carry_len] = '\0';
					log_line_seen(log_carry);
					log_carry_len = 0;
				} else if (log_carry_len + 1 < sizeof log_carry) {
					log_carry[log_carry_len++] = buf[i];
				}
			}
		}
	}
	close(fd);
}

/* Note how the start that was running ended, now that its process is reaped. */
static void note_stop(int how)
{
	read_log();
	if (nstarts > 0 && nstarts <= MAX_STARTS) {
		starts[nstarts - 1].stop = how;
		starts[nstarts - 1].often = ckpt_often;
	}
}

/*
 * Start accrued on the harness's directory and port as harness.c does, but
 * without waiting for it, and SIGKILL it after delay_ms: a crash during
 * exec, recovery, or the first requests. Returns -1 if it was still
 * running when killed, else the status it had exited with by itself (it
 * could not take the port yet, or it refused to recover, which the restart
 * that follows will show).
 */
static int start_and_kill(int delay_ms)
{
	int status;
	pid_t pid;

	REQUIRE(harness_start_nowait(&h) == 0);
	pid = h.pid;
	harness_sleep_ms(delay_ms);
	if (waitpid(pid, &status, WNOHANG) == pid) {
		h.pid = 0;
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	harness_kill(&h);
	return -1;
}

/* ---- accrue-check --------------------------------------------------------------- */

/* The number after "key": in accrue-check's JSON; 0 if it is not there (null: no checkpoint). */
static uint64_t json_u64(const char *json, const char *key)
{
	const char *p = strstr(json, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/*
 * Run accrue-check on the data directory. With the daemon down, what it
 * reports as the checkpoint and the journal's end is kept, for the next
 * start's recovery to be compared with.
 */
static void run_accrue_check(const char *when, int daemon_down)
{
	static char out[65536], err[16384];
	char *argv[] = { (char *)check_bin, "--json", h.data, NULL };
	out[0] = err[0] = '\0';
	int code = harness_run(argv, out, sizeof out, err, sizeof err, 120000);
	check_runs++;
	check_runs_down += daemon_down ? 1 : 0;
	if (daemon_down && code == 0 && nstarts < MAX_STARTS && strstr(out, "\"last_seq\":")) {
		disk_before[nstarts].seen = 1;
		disk_before[nstarts].checkpoint_seq = json_u64(out, "\"checkpoint_seq\":");
		disk_before[nstarts].last_seq = json_u64(out, "\"last_seq\":");
	}
	CHECK_INT(code, 0);
	if (code != 0)
		fprintf(stderr,
			"    accrue-check %s (%s) exited %d (1: problems found, 2: cannot read):\n"
			"---- stdout ----\n%.6000s\n---- stderr ----\n%.3000s\n----\n",
			h.data, when, code, out, err);
}

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

static void lookup_all(accrue *a, struct accrue_customer *cust)
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
static void check_exactly_once(const char *phase, int now_epoch)
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
static void check_ledger(const char *phase, const struct accrue_customer *cust, int allow_pending)
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
static size_t resend(accrue **a, int t, size_t i, int want_replay, const char *phase)
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
static int replayable(const struct worker *w, const struct op *op)
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

static void check_unchanged(const char *phase, const struct accrue_customer *before,
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
static void verify(const char *phase, uint64_t *rng, struct accrue_entry *page, struct accrue_order *ord,
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
 * The last start (starts[nstarts - 1]) against those before it: it
 * recovered (and listens, if it was not one killed at start-up), its
 * checkpoint and journal never go back, it has everything a "checkpoint
 * written" line called durable, and after a clean stop it replays nothing.
 * Returns 1 if its checkpoint moved.
 */
static int check_recovery(const char *phase, int killed_at_start)
{
	read_log();
	if (!killed_at_start && nstarts > 0 && nstarts <= MAX_STARTS && !starts[nstarts - 1].listening) {
		/* harness_restart returned on accrued.addr, which the daemon
		 * writes just before it logs that it listens: wait for the line
		 * instead of judging a log it has not finished. */
		long long w0 = harness_now_ms();
		listening_late++;
		if (harness_wait_log(&h, LISTENING_LINE, LISTENING_LOG_WAIT_MS) == 0)
			read_log();
		long long waited = harness_now_ms() - w0;
		if (waited > listening_wait_max_ms)
			listening_wait_max_ms = waited;
	}
	/* Each start's marker is in the log before it is forked: a start
	 * counted wrong would pin the recoveries on the wrong starts (said
	 * once; the difference stays). */
	static int starts_miscounted;
	if (!starts_miscounted) {
		CHECK_INT(nstarts, h.starts);
		if (nstarts != h.starts) {
			starts_miscounted = 1;
			fprintf(stderr, "    %s: the daemon's log shows %d starts, but the harness made %d\n", phase,
				nstarts, h.starts);
		}
	}
	if (nstarts < 2 || nstarts > MAX_STARTS) {
		CHECK(nstarts >= 2 && nstarts <= MAX_STARTS);
		return 0;
	}
	const struct start_log *s = &starts[nstarts - 1];
	if (!killed_at_start)
		CHECK(s->recovered && s->listening);
	if (!s->recovered)
		return 0;
	uint64_t ckpt = s->journal_seq - s->replayed, durable = 0;
	const struct start_log *prev = NULL;
	for (int k = 0; k < nstarts - 1; k++) {
		if (starts[k].last_durable > durable)
			durable = starts[k].last_durable;
		if (starts[k].recovered)
			prev = &starts[k];
	}
	int moved = 0;
	if (prev) {
		uint64_t prev_ckpt = prev->journal_seq - prev->replayed;
		moved = ckpt > prev_ckpt;
		CHECK(ckpt >= prev_ckpt && s->journal_seq >= prev->journal_seq);
		if (ckpt < prev_ckpt || s->journal_seq < prev->journal_seq)
			fprintf(stderr,
				"    %s: recovery went back: checkpoint %llu and journal seq %llu after checkpoint %llu and "
				"journal seq %llu\n",
				phase, (unsigned long long)ckpt, (unsigned long long)s->journal_seq,
				(unsigned long long)prev_ckpt, (unsigned long long)prev->journal_seq);
	}
	/* Recovery starts from the checkpoint accrue-check found on disk and
	 * replays the journal to the end it found. */
	if (disk_before[nstarts - 1].seen) {
		int agree = disk_before[nstarts - 1].checkpoint_seq == ckpt &&
			    disk_before[nstarts - 1].last_seq == s->journal_seq;
		CHECK(agree);
		disk_agrees += agree;
		if (!agree)
			fprintf(stderr,
				"    %s: accrue-check found checkpoint %llu and the journal ending at %llu; recovery then "
				"logged checkpoint %llu and journal seq %llu\n",
				phase, (unsigned long long)disk_before[nstarts - 1].checkpoint_seq,
				(unsigned long long)disk_before[nstarts - 1].last_seq, (unsigned long long)ckpt,
				(unsigned long long)s->journal_seq);
	}
	CHECK(s->journal_seq >= durable);
	if (s->journal_seq < durable)
		fprintf(stderr, "    %s: the log called seq %llu durable, but recovery found the journal ending at %llu\n",
			phase, (unsigned long long)durable, (unsigned long long)s->journal_seq);
	const struct start_log *last = &starts[nstarts - 2];
	if ((last->stop == STOP_TERM || last->stop == STOP_FINAL) && last->stopped_cleanly) {
		/* A clean stop ends with a checkpoint of everything. */
		CHECK_INT(s->replayed, 0);
		CHECK_INT(s->journal_seq, last->stopped_seq);
	}
	return moved;
}

/*
 * The whole history again from its first entry: recount every op, and check
 * each customer's figures against their own history alone.
 */
static void full_history_check(accrue *a, const char *phase, struct accrue_entry *page)
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

/* Stop the clients for good (they may be paused). */
static void stop_clients(void)
{
	atomic_store(&stop_flag, 1);
	resume_clients();
	for (int t = 0; t < THREADS; t++)
		pthread_join(workers[t].thread, NULL);
}

static void print_summary(long long t0)
{
	size_t moved = 0, restarts = 0, ckpt_written = 0, ckpt_killed = 0, kills_often = 0;
	uint64_t replay_min = UINT64_MAX, replay_max = 0, replay_sum = 0;
	uint64_t commits[2] = { 0 }, ckpts[2] = { 0 }; /* by clean stops under load, [often] */
	for (int k = 0; k < nstarts && k < MAX_STARTS; k++) {
		const struct start_log *s = &starts[k];
		ckpt_written += s->checkpoints;
		if (s->stop == STOP_KILL) {
			ckpt_killed += s->checkpoints;
			kills_often += s->often;
		}
		if (s->stop == STOP_TERM && s->stopped_cleanly) {
			commits[s->often] += s->commits;
			ckpts[s->often] += s->checkpoints;
		}
		if (k == 0 || !s->recovered)
			continue;
		const struct start_log *prev = NULL;
		for (int j = k - 1; j >= 0 && !prev; j--)
			if (starts[j].recovered)
				prev = &starts[j];
		restarts++;
		if (prev && s->journal_seq - s->replayed > prev->journal_seq - prev->replayed)
			moved++;
		replay_min = s->replayed < replay_min ? s->replayed : replay_min;
		replay_max = s->replayed > replay_max ? s->replayed : replay_max;
		replay_sum += s->replayed;
	}
	double share_often = commits[1] ? (double)ckpts[1] / (double)commits[1] : 0.0;
	double share_seldom = commits[0] ? (double)ckpts[0] / (double)commits[0] : 0.0;
	fprintf(stderr,
		"it_crash: checkpoints: %zu written (%zu by daemons later SIGKILLed); the clean stops under load show "
		"a checkpoint in %llu of %llu commits at --checkpoint-records " CHECKPOINT_RECORDS_OFTEN
		" and %llu of %llu at " CHECKPOINT_RECORDS_SELDOM "; %zu of the %zu SIGKILLs under load hit a daemon "
		"checkpointing every " CHECKPOINT_RECORDS_OFTEN " records (about %.0f expected to meet a checkpoint "
		"from those shares); %zu stops proven to have cut a checkpoint short (begun, never written, and the "
		"next recovery started below it)\n",
		ckpt_written, ckpt_killed, (unsigned long long)ckpts[1], (unsigned long long)commits[1],
		(unsigned long long)ckpts[0], (unsigned long long)commits[0], kills_often, kills,
		(double)kills_often * share_often + (double)(kills - kills_often) * share_seldom, kills_mid_ckpt);
	/* With dozens of kills and a checkpoint in a good share of commits, none
	 * landing mid-checkpoint would mean the test no longer tries it. */
	CHECK(kills_mid_ckpt >= 1);
	fprintf(stderr,
		"it_crash: recovery: the checkpoint had moved since the previous start at %zu of %zu restarts; %zu "
		"restarts began from the checkpoint and journal end accrue-check had just found on disk; records "
		"replayed per restart: min %llu, mean %.1f, max %llu; %zu log lines cut short by a kill; %zu restarts "
		"had not logged that they listen when accrued.addr appeared (waited up to %lld ms for the line)\n",
		moved, restarts, disk_agrees, (unsigned long long)(restarts ? replay_min : 0),
		restarts ? (double)replay_sum / (double)restarts : 0.0, (unsigned long long)replay_max, torn_log_lines,
		listening_late, listening_wait_max_ms);

	size_t sent[4] = { 0 }, acked = 0, unacked = 0, stopped = 0, declined = 0, refused = 0, replayed = 0;
	for (int t = 0; t < THREADS; t++) {
		const struct worker *w = &workers[t];
		for (int k = 1; k < 4; k++)
			sent[k] += w->sent[k];
		acked += atomic_load(&w->acked);
		unacked += w->unacked;
		stopped += w->stopped;
		declined += w->declined;
		refused += w->refused;
		replayed += w->replayed;
	}
	fprintf(stderr,
		"it_crash: %zu SIGKILLs under load, %zu SIGKILLs at start-up (%zu before the daemon listened), %zu "
		"SIGTERMs under load; %zu sales, %zu returns, %zu adjustments sent: %zu acknowledged (%zu as replays of "
		"a re-sent request), %zu unacknowledged (%zu committed, %zu not), %zu refused as shutting down, %zu "
		"declined, %zu refused otherwise; %zu acknowledged requests re-sent as samples; %zu customer checks deferred for a "
		"timed-out call; accrue-check ran %zu times (%zu with the daemon down); %.1f s\n",
		kills, start_kills, start_kills_before_listening, term_stops, sent[KIND_SALE], sent[KIND_RETURN],
		sent[KIND_ADJUST], acked, replayed, unacked, resolved_present, resolved_absent, stopped, declined,
		refused, sample_retries, pending_skips, check_runs, check_runs_down,
		(double)(harness_now_ms() - t0) / 1000.0);
}

int main(void)
{
	long long t0 = harness_now_ms();
	check_bin = getenv("ACCRUE_CHECK_BIN");
	if (!check_bin || !*check_bin) {
		fprintf(stderr, "it_crash: FAILED: ACCRUE_CHECK_BIN is not set. This test runs accrue-check "
				"(tools/accrue_check.c, target accrue_check) after every restart; build it and run the "
				"test through ctest, which sets ACCRUE_CHECK_BIN when the target exists.\n");
		return 1;
	}
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	const char *env = getenv("ACCRUE_CRASH_SEED");
	if (env && *env)
		seed = strtoull(env, NULL, 10);
	if (seed == 0)
		seed = 1;
	fprintf(stderr, "it_crash: seed %llu\n", (unsigned long long)seed);
	uint64_t rng = seed;

	/* Checkpoint after a few records and every second, so that kills land
	 * before, during and after checkpoints and recovery starts from one
	 * written under load. */
	static const char *const daemon_args[] = { "--checkpoint-records", CHECKPOINT_RECORDS_SELDOM,
						    "--checkpoint-seconds", "1", NULL };
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
	memcpy(daemon_addr, h.addr, sizeof daemon_addr);
	memcpy(admin_key, h.admin_key, sizeof admin_key);
	struct accrue_entry *page = calloc(PAGE, sizeof *page);
	struct accrue_order *ord = malloc(sizeof *ord);
	REQUIRE(page != NULL && ord != NULL);

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
		char phase[64];
		snprintf(phase, sizeof phase, "cycle %d", cycle + 1);
		int run_ms = rng_range(&rng, RUN_MIN_MS, RUN_MAX_MS);
		harness_sleep_ms(run_ms);
		size_t acked = total_acked();
		int e = atomic_load(&epoch);
		char what[160];
		if (cycle % TERM_EVERY == TERM_EVERY - 1) {
			/* A clean stop under load: in-flight requests are finished
			 * and committed, and it exits 0. */
			sigterm_epoch[e] = 1;
			int code = harness_stop_signal(&h, SIGTERM, 20000);
			CHECK_INT(code, 0);
			note_stop(STOP_TERM);
			term_stops++;
			snprintf(what, sizeof what, "SIGTERM after %d ms (exit %d)", run_ms, code);
		} else {
			harness_kill(&h);
			note_stop(STOP_KILL);
			kills++;
			snprintf(what, sizeof what, "SIGKILL after %d ms", run_ms);
		}
		atomic_fetch_add(&epoch, 1);
		run_accrue_check(phase, 1);
		/* The next daemon's checkpoint cadence (harness.c passes h.extra again on every start). */
		ckpt_often = (int)(rng_next(&rng) % 2);
		h.extra[1] = ckpt_often ? CHECKPOINT_RECORDS_OFTEN : CHECKPOINT_RECORDS_SELDOM;
		if (rng_next(&rng) % START_KILL_EVERY == 0) {
			/* And a crash while starting up or recovering. */
			int delay = rng_range(&rng, 0, START_KILL_MAX_MS);
			int exited_with = start_and_kill(delay);
			note_stop(STOP_START_KILL);
			check_recovery(phase, 1);
			atomic_fetch_add(&epoch, 1);
			size_t n = strlen(what);
			if (exited_with < 0) {
				start_kills++;
				start_kills_before_listening += nstarts > 0 && nstarts <= MAX_STARTS &&
								!starts[nstarts - 1].listening;
				snprintf(what + n, sizeof what - n, ", start killed after %d ms", delay);
			} else {
				snprintf(what + n, sizeof what - n, ", start %d ms before had exited with status %d", delay,
					 exited_with);
			}
			run_accrue_check(phase, 1);
		}
		long long r0 = harness_now_ms();
		if (harness_restart(&h) != 0) {
			fprintf(stderr, "it_crash: %s: the daemon did not come back after %s\n", phase, what);
			stop_clients();
			harness_finish(&h, 1);
			int restarted = 0;
			CHECK(restarted);
			return check_done("it_crash");
		}
		long long restart_ms = harness_now_ms() - r0;
		int moved = check_recovery(phase, 0);
		long long v0 = harness_now_ms();
		if (pause_clients() != 0) {
			fprintf(stderr, "it_crash: %s: a client did not finish its call within %d ms\n", phase,
				PAUSE_TIMEOUT_MS);
			harness_finish(&h, 1);
			REQUIRE(0);
		}
		verify(phase, &rng, page, ord, 1);
		resume_clients();
		const struct start_log *s = &starts[nstarts - 1 < MAX_STARTS ? nstarts - 1 : MAX_STARTS - 1];
		fprintf(stderr,
			"it_crash: %s: %s, %zu acknowledged so far; restarted in %lld ms (checkpoint every %s records) at "
			"journal seq %llu from checkpoint %llu%s (%llu replayed); checked in %lld ms\n",
			phase, what, acked, restart_ms, h.extra[1], (unsigned long long)s->journal_seq,
			(unsigned long long)(s->journal_seq - s->replayed), moved ? ", moved" : "",
			(unsigned long long)s->replayed, harness_now_ms() - v0);
		acked_before_last = total_acked();
	}
	/* Some load on the last incarnation too, so it is shown to serve. */
	harness_sleep_ms(500);
	stop_clients();

	for (int t = 0; t < THREADS; t++) {
		const struct worker *w = &workers[t];
		fprintf(stderr,
			"it_crash: thread %d (%s): %zu sent, %zu acknowledged (%zu of them as replays of a re-sent "
			"request), %zu unacknowledged, %zu refused as shutting down, %zu declined, %zu refused otherwise\n",
			t, t < RIDERS ? "rider" : "dropper", w->n, atomic_load(&w->acked), w->replayed, w->unacked,
			w->stopped, w->declined, w->refused);
		/* Every thread got work through: a client that never recovers
		 * from a restart is a failure a user would notice. */
		CHECK(atomic_load(&w->acked) > 0);
		CHECK_INT(w->refused, 0);
	}
	CHECK(total_acked() > acked_before_last);
	fprintf(stderr, "it_crash: load phase done at %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);

	/* A clean stop and start settles every outcome still open. */
	CHECK_INT(harness_stop(&h), 0);
	note_stop(STOP_FINAL);
	atomic_fetch_add(&epoch, 1);
	REQUIRE(harness_restart(&h) == 0);
	check_recovery("after the last restart", 0);
	verify("after the last restart", &rng, page, ord, 0);

	rc = harness_connect(&h, &a);
	CHECK_INT(rc, 0);
	REQUIRE(a != NULL);
	accrue_set_timeout(a, 30000);
	full_history_check(a, "the whole history", page);
	check_exactly_once("the whole history", atomic_load(&epoch));

	/* Every acknowledged (or committed) key replays and changes nothing. */
	static struct accrue_customer before[CUSTOMERS], after[CUSTOMERS];
	size_t failures = 0, resent_present = 0, resent_absent = 0;
	lookup_all(a, before);
	resend_reports = 0;
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			if (op->kind == KIND_SALE && op->batch_n && op->batch_first != i)
				continue; /* the batch was re-sent whole with its first sale */
			if (replayable(&workers[t], op)) {
				failures += resend(&a, t, i, 1, "re-sending what is present");
				resent_present++;
			}
		}
	CHECK_INT(failures, 0);
	lookup_all(a, after);
	check_unchanged("re-sending what is present", before, after);

	/* Every unacknowledged or stopped key that was not committed is applied now. */
	failures = 0;
	resend_reports = 0;
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			if (op->kind == KIND_SALE && op->batch_n && op->batch_first != i)
				continue;
			if (op->presence == ABSENT && (op->state == OP_UNACKED || op->state == OP_STOPPED)) {
				failures += resend(&a, t, i, 0, "re-sending what is absent");
				resent_absent++;
			}
		}
	CHECK_INT(failures, 0);
	full_history_check(a, "after re-sending what is absent", page);
	check_exactly_once("after re-sending what is absent", atomic_load(&epoch));
	lookup_all(a, after);
	check_ledger("after re-sending what is absent", after, 0);
	/* Now every sale and return sent is in the history exactly once. */
	size_t not_once = 0;
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			if (op->kind != KIND_ADJUST && op->seen != 1)
				not_once++;
		}
	CHECK_INT(not_once, 0);
	fprintf(stderr, "it_crash: re-sent %zu requests present (all replays) and %zu absent (applied now)\n",
		resent_present, resent_absent);

	/* And it all survives a clean restart. */
	accrue_close(a);
	a = NULL;
	CHECK_INT(harness_stop(&h), 0);
	note_stop(STOP_FINAL);
	run_accrue_check("after the final clean stop", 1);
	REQUIRE(harness_restart(&h) == 0);
	check_recovery("the final restart", 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	lookup_all(a, before);
	check_unchanged("the final restart", after, before);
	accrue_close(a);
	CHECK_INT(harness_stop(&h), 0);

	CHECK_INT(unanswered_on_sigterm, 0);
	CHECK(kills >= 50);
	print_summary(t0);
	free(page);
	free(ord);
	for (int t = 0; t < THREADS; t++)
		free(workers[t].ops);
	harness_finish(&h, check_failures);
	return check_done("it_crash");
}
