/*
 * clients.c - it_crash's four client threads (see it_crash.c): what each
 * op is, how the threads send them back to back and keep every outcome,
 * and how the main thread pauses them for the checks.
 */
#include <pthread.h>
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

/* The clients connect with copies: harness_restart rewrites h's (with the same address and key). */
char daemon_addr[sizeof h.addr], admin_key[sizeof h.admin_key];
uint64_t customer_ids[CUSTOMERS];
const char *const locations[LOCATIONS] = { "store-1", "store-2", "store-3" };
struct worker workers[THREADS];
atomic_int stop_flag;
atomic_int epoch;
int sigterm_epoch[MAX_EPOCHS];

/* Pausing the clients: each parks at the top of its loop, between calls. */
static pthread_mutex_t pause_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cv = PTHREAD_COND_INITIALIZER;
static int pause_asked, parked, exited;

uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: plenty for choosing amounts and delays. */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

int rng_range(uint64_t *s, int lo, int hi)
{
	return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* Every op has a name: a sale's order id, an adjustment's reason. */
void op_name(char *buf, size_t cap, int thread, size_t n)
{
	snprintf(buf, cap, "T%d-%zu", thread, n);
}

/* The op a name made by op_name stands for; NULL if it is not one of ours. */
struct op *op_by_name(const char *name, int *thread, size_t *index)
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

const char *state_name(int state)
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

const char *kind_name(int kind)
{
	return kind == KIND_SALE ? "sale" : kind == KIND_RETURN ? "return" : "adjustment";
}

/* What a sale earns under the default program: 1 point per whole 1.00. */
int64_t sale_points(int64_t amount)
{
	return amount / 100;
}

/* What the one return of a sale takes back (rules_take_back with nothing returned before). */
int64_t return_taken(const struct op *sale, const struct op *ret)
{
	int64_t earned = sale_points(sale->amount);
	if (ret->amount == sale->amount)
		return earned;
	return (earned * ret->amount + sale->amount - 1) / sale->amount;
}

/* The points an op changes the balance by when it is applied. */
int64_t op_points(int t, const struct op *op)
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
int pause_clients(void)
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

void resume_clients(void)
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

void batch_args_fill(struct batch_args *b, int t, size_t first, uint32_t n)
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

void *worker_main(void *arg)
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

size_t total_acked(void)
{
	size_t n = 0;
	for (int t = 0; t < THREADS; t++)
		n += atomic_load(&workers[t].acked);
	return n;
}

/* Stop the clients for good (they may be paused). */
void stop_clients(void)
{
	atomic_store(&stop_flag, 1);
	resume_clients();
	for (int t = 0; t < THREADS; t++)
		pthread_join(workers[t].thread, NULL);
}
