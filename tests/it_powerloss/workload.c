/*
 * workload.c - the sales sent to the daemon under the shim (powerloss.h).
 *
 * Every sale has its own order id, customer, amount and request key, fixed
 * before it is first sent. A thread logs PL_SEND before it first sends a
 * sale and PL_ACK once the daemon has acknowledged it, in the shim's log,
 * so the log says which acknowledgements every cut point must keep. A call
 * that fails (the daemon was killed or is stopping) is sent again with the
 * same key until it is acknowledged: the daemon applies a key once, so a
 * sale committed before a kill comes back as a replay.
 */
#include "powerloss.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* How long a sale may go unacknowledged through restarts before the test gives up on it. */
#define SALE_DEADLINE_MS 60000
/* How long the main thread waits for the clients to reach a kill point. */
#define PHASE_DEADLINE_MS 120000

static atomic_int acked_count;

int workload_init(struct pl_workload *w, int nsales, int ncustomers, int nthreads, uint64_t seed)
{
	uint64_t x = seed | 1;

	memset(w, 0, sizeof *w);
	w->nsales = nsales;
	w->ncustomers = ncustomers;
	w->nthreads = nthreads;
	w->seed = seed;
	w->log_fd = -1;
	w->sales = calloc((size_t)nsales, sizeof *w->sales);
	w->customers = calloc((size_t)ncustomers, sizeof *w->customers);
	if (!w->sales || !w->customers)
		return -1;
	for (int c = 0; c < ncustomers; c++) {
		snprintf(w->customers[c].email, sizeof w->customers[c].email, "pl%d@example.com", c);
		w->customers[c].ack_at = PL_NEVER;
	}
	for (int i = 0; i < nsales; i++) {
		struct pl_sale *s = &w->sales[i];
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		snprintf(s->order_id, sizeof s->order_id, "PL-%06d", i);
		s->customer = i % ncustomers;
		/* Whole currency units: a sale earns exactly amount / 100 points. */
		s->amount = (int64_t)(1 + x % 90) * 100;
		if (accrue_key_random(s->key) != 0)
			return -1;
		s->send_at = s->ack_at = PL_NEVER;
	}
	return 0;
}

void workload_free(struct pl_workload *w)
{
	free(w->sales);
	free(w->customers);
	w->sales = NULL;
	w->customers = NULL;
}

void workload_log(struct pl_workload *w, int op, int flags, uint64_t arg, uint64_t off, const char *name)
{
	struct pl_record r;

	memset(&r, 0, sizeof r);
	r.magic = PL_MAGIC;
	r.op = (uint16_t)op;
	r.flags = (uint16_t)flags;
	r.pid = (uint32_t)getpid();
	r.arg = arg;
	r.off = off;
	if (name)
		snprintf(r.name, sizeof r.name, "%s", name);
	/* One write of a whole record to an O_APPEND file: never torn, never interleaved with the shim's. */
	if (write(w->log_fd, &r, sizeof r) != (ssize_t)sizeof r) {
		fprintf(stderr, "powerloss: cannot append to the log: %s\n", strerror(errno));
		exit(1);
	}
}

void workload_kill(struct pl_workload *w, struct harness *h)
{
	/* Stopped, every thread is out of the kernel or parked; the word says
	 * whether one of them is between a watched call and its record. The
	 * daemon holds it across fdatasync, so it is often 1: let it run a
	 * moment and look again. */
	for (int attempt = 0; h->pid && w->busy && attempt < 100000; attempt++) {
		int status;
		if (kill(h->pid, SIGSTOP) != 0)
			break;
		if (waitpid(h->pid, &status, WUNTRACED) != h->pid)
			break;
		if (!WIFSTOPPED(status)) {
			h->pid = 0; /* it exited on its own: nothing left to kill */
			return;
		}
		if (__atomic_load_n(w->busy, __ATOMIC_SEQ_CST) == 0)
			break;
		w->kill_retries++;
		kill(h->pid, SIGCONT);
		usleep(100 + (useconds_t)(attempt % 7) * 150);
	}
	harness_kill(h);
}

struct client {
	struct pl_workload *w;
	int thread;
	char addr[64];
	char key[256];
};

static struct accrue_ref ref_email(const char *email)
{
	struct accrue_ref r;

	memset(&r, 0, sizeof r);
	r.kind = ACCRUE_REF_EMAIL;
	snprintf(r.text, sizeof r.text, "%s", email);
	return r;
}

/* Send sale i until it is acknowledged. Returns 0, or -1 after printing why. */
static int send_sale(struct client *cl, accrue **a, int i)
{
	struct pl_workload *w = cl->w;
	struct pl_sale *s = &w->sales[i];
	struct accrue_ref ref = ref_email(w->customers[s->customer].email);
	struct accrue_result res;
	long long deadline = harness_now_ms() + SALE_DEADLINE_MS;
	int rc = 0;

	workload_log(w, PL_SEND, 0, (uint64_t)i, 0, NULL);
	for (;;) {
		if (!*a)
			rc = accrue_connect(cl->addr, cl->key, a);
		if (*a) {
			rc = accrue_accrue(*a, s->key, &ref, "store-1", s->order_id, s->amount, &res);
			if (rc == 0)
				break;
		}
		/* Killed, stopping or restarting: the same key again in a moment. */
		if (rc != ACCRUE_ST_SHUTTING_DOWN && rc >= 0 && rc != ACCRUE_ST_BUSY) {
			fprintf(stderr, "powerloss: sale %s refused: %s: %s\n", s->order_id, accrue_strerror(rc),
				*a ? accrue_message(*a) : "");
			return -1;
		}
		if (rc < 0 && *a) {
			accrue_close(*a);
			*a = NULL;
		}
		if (harness_now_ms() > deadline) {
			fprintf(stderr, "powerloss: sale %s not acknowledged within %d ms: %s\n", s->order_id,
				SALE_DEADLINE_MS, accrue_strerror(rc));
			return -1;
		}
		harness_sleep_ms(20);
	}
	if (res.points != s->amount / 100) {
		fprintf(stderr, "powerloss: sale %s of %lld earned %lld points, not %lld\n", s->order_id,
			(long long)s->amount, (long long)res.points, (long long)(s->amount / 100));
		return -1;
	}
	s->seq = res.seq;
	s->acked = 1;
	workload_log(w, PL_ACK, 0, (uint64_t)i, res.seq, NULL);
	atomic_fetch_add(&acked_count, 1);
	return 0;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	accrue *a = NULL;

	for (int i = cl->thread; i < cl->w->nsales && !cl->w->failed; i += cl->w->nthreads)
		if (send_sale(cl, &a, i) != 0) {
			cl->w->failed = 1;
			break;
		}
	accrue_close(a);
	return NULL;
}

static int enrol_all(struct pl_workload *w, struct harness *h)
{
	accrue *a = NULL;
	int rc = harness_connect(h, &a);

	if (rc != 0) {
		fprintf(stderr, "powerloss: cannot connect: %s\n", accrue_strerror(rc));
		return -1;
	}
	for (int c = 0; c < w->ncustomers; c++) {
		struct accrue_customer cust;
		uint8_t key[ACCRUE_KEY_SIZE];
		int replay = 0;

		workload_log(w, PL_SEND, PL_F_ENROL, (uint64_t)c, 0, NULL);
		if (accrue_key_random(key) != 0 ||
		    (rc = accrue_enrol(a, key, w->customers[c].email, NULL, "Power", "Loss", &cust, &replay)) != 0) {
			fprintf(stderr, "powerloss: enrol %s: %s: %s\n", w->customers[c].email, accrue_strerror(rc),
				accrue_message(a));
			accrue_close(a);
			return -1;
		}
		w->customers[c].id = cust.id;
		workload_log(w, PL_ACK, PL_F_ENROL, (uint64_t)c, 0, NULL);
	}
	accrue_close(a);
	return 0;
}

/* Wait until at least n sales are acknowledged. Returns 0, or -1 if the clients failed or it took too long. */
static int wait_acked(struct pl_workload *w, int n)
{
	long long deadline = harness_now_ms() + PHASE_DEADLINE_MS;

	while (atomic_load(&acked_count) < n) {
		if (w->failed)
			return -1;
		if (harness_now_ms() > deadline) {
			fprintf(stderr, "powerloss: only %d of %d sales acknowledged within %d ms\n",
				atomic_load(&acked_count), n, PHASE_DEADLINE_MS);
			return -1;
		}
		harness_sleep_ms(2);
	}
	return 0;
}

int workload_run(struct pl_workload *w, struct harness *h)
{
	struct client *clients = calloc((size_t)w->nthreads, sizeof *clients);
	pthread_t *threads = calloc((size_t)w->nthreads, sizeof *threads);
	int started = 0, rc = -1;

	w->h = h;
	atomic_store(&acked_count, 0);
	if (!clients || !threads || enrol_all(w, h) != 0)
		goto out;
	for (int t = 0; t < w->nthreads; t++) {
		clients[t].w = w;
		clients[t].thread = t;
		/* Copies: the harness rewrites its own on every restart. */
		snprintf(clients[t].addr, sizeof clients[t].addr, "%s", h->addr);
		snprintf(clients[t].key, sizeof clients[t].key, "%s", h->admin_key);
		if (pthread_create(&threads[t], NULL, client_main, &clients[t]) != 0) {
			w->failed = 1;
			break;
		}
		started++;
	}
	if (w->failed)
		goto join;

	/* A third of the way: the crash that SIGKILL can show, under load. */
	if (wait_acked(w, w->nsales / 3) != 0)
		goto join;
	workload_log(w, PL_MARK, 0, 0, 0, "SIGKILL");
	workload_kill(w, h);
	workload_log(w, PL_MARK, 0, 0, 0, "restart");
	if (harness_restart(h) != 0) {
		w->failed = 1;
		goto join;
	}
	/* Two thirds: a clean stop (it checkpoints) under load. */
	if (wait_acked(w, 2 * w->nsales / 3) != 0)
		goto join;
	workload_log(w, PL_MARK, 0, 0, 0, "SIGTERM");
	if (harness_stop(h) != 0) {
		fprintf(stderr, "powerloss: the daemon did not stop cleanly on SIGTERM\n");
		w->failed = 1;
		goto join;
	}
	workload_log(w, PL_MARK, 0, 0, 0, "restart");
	if (harness_restart(h) != 0) {
		w->failed = 1;
		goto join;
	}
	rc = 0;
join:
	for (int t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	if (w->failed)
		rc = -1;
	workload_log(w, PL_MARK, 0, 0, 0, "SIGKILL");
	workload_kill(w, h);
out:
	free(clients);
	free(threads);
	return rc;
}

int workload_index(struct pl_workload *w, const struct pl_model *m)
{
	int bad = 0;

	for (size_t i = 0; i < m->nev; i++) {
		const struct pl_record *r = &m->ev[i].r;
		int enrol = (r->flags & PL_F_ENROL) != 0;
		int64_t *send_at, *ack_at;

		if (r->op != PL_SEND && r->op != PL_ACK)
			continue;
		if (enrol ? r->arg >= (uint64_t)w->ncustomers : r->arg >= (uint64_t)w->nsales) {
			fprintf(stderr, "powerloss: event %zu names %s %llu, which was never made\n", i,
				enrol ? "customer" : "sale", (unsigned long long)r->arg);
			return -1;
		}
		if (enrol) {
			send_at = NULL;
			ack_at = &w->customers[r->arg].ack_at;
		} else {
			send_at = &w->sales[r->arg].send_at;
			ack_at = &w->sales[r->arg].ack_at;
		}
		if (r->op == PL_SEND && send_at && *send_at == PL_NEVER)
			*send_at = (int64_t)i;
		if (r->op == PL_ACK)
			*ack_at = (int64_t)i;
	}
	for (int i = 0; i < w->nsales; i++) {
		const struct pl_sale *s = &w->sales[i];
		if (s->acked != (s->ack_at != PL_NEVER) || (s->acked && s->send_at > s->ack_at)) {
			fprintf(stderr, "powerloss: sale %s: the log and the client disagree about its acknowledgement\n",
				s->order_id);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}
