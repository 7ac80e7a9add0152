/*
 * bench_list.c - the customer book under load: list and search queries
 * (CUSTOMERS) beside the checkout load, and the latency of list queries
 * alone.
 *
 * --list-load Q runs Q threads, each with its own libaccrue connection,
 * that send list queries back to back from the start of the warmup until
 * the measured window closes; the sales' figures then show what listing
 * costs a checkout (compare with the same run without it). --list-queries N
 * sends N different queries one after another once the customers are
 * enrolled, and reports their latency. libaccrue is blocking, which is what
 * a manager's console does too: one query in flight per connection.
 *
 * The queries are a fixed rotation of 100: every sort field in both
 * directions, with no filter, a search that matches a few, a search that
 * matches every customer (the costliest: each one's text is read), a
 * balance bound, and a search that matches none; each asks for the total,
 * as a console's first page does.
 */
#include "bench_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accrue.h"

#define LIST_ROTATION 100

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Query i of the rotation, its search text in buf. */
static void list_query(const struct bench *b, uint32_t i, struct accrue_customer_query *q, char *buf, size_t cap)
{
	memset(q, 0, sizeof *q);
	q->sort = (int)(1 + i % 10);
	q->descending = (int)((i / 10) % 2);
	q->limit = 50;
	q->want_total = 1;
	switch ((i / 20) % 5) {
	case 0:
		break;
	case 1: /* a few: one index's digits within this run's emails */
		snprintf(buf, cap, "%s-%" PRIu32 "@", b->run_id, (i * 7919u) % (b->opt.customers ? b->opt.customers : 1));
		q->search = buf;
		break;
	case 2:
		q->has_min_points = 1;
		q->min_points = 1;
		break;
	case 3: /* every customer of the run, each one's text read */
		snprintf(buf, cap, "bench.invalid");
		q->search = buf;
		break;
	case 4: /* none: the whole book looked at for nothing */
		snprintf(buf, cap, "no-such-customer-%" PRIu32, i);
		q->search = buf;
		break;
	}
}

struct list_thread {
	struct bench *b;
	pthread_t tid;
	uint32_t index;
	struct histogram hist;
	uint64_t done, failed;
	char error[256];
};

static _Atomic int list_go, list_stop;

static void *list_thread_main(void *arg)
{
	struct list_thread *t = arg;
	struct accrue_customer *rows = calloc(50, sizeof *rows);
	struct accrue_customer_page page;
	accrue *a = NULL;
	char msg[160], search[96];
	uint32_t i = t->index * 37;

	if (!rows || accrue_connect_message(t->b->opt.server, t->b->api_key, &a, msg, sizeof msg) != 0) {
		snprintf(t->error, sizeof t->error, "%s", rows ? msg : "out of memory");
		free(rows);
		return NULL;
	}
	while (!atomic_load(&list_go) && !atomic_load(&list_stop)) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	while (!atomic_load(&list_stop)) {
		struct accrue_customer_query q;
		uint64_t t0;

		list_query(t->b, i++ % LIST_ROTATION, &q, search, sizeof search);
		t0 = mono_ns();
		if (accrue_customers(a, &q, rows, 50, &page) != 0) {
			if (!t->failed++)
				snprintf(t->error, sizeof t->error, "%s", accrue_message(a));
			continue;
		}
		hist_record(&t->hist, mono_ns() - t0);
		t->done++;
	}
	accrue_close(a);
	free(rows);
	return NULL;
}

static struct list_thread *threads;

int list_load_start(struct bench *b)
{
	if (!b->opt.list_load)
		return 0;
	threads = calloc(b->opt.list_load, sizeof *threads);
	if (!threads)
		return -1;
	for (uint32_t i = 0; i < b->opt.list_load; i++) {
		threads[i].b = b;
		threads[i].index = i;
		if (pthread_create(&threads[i].tid, NULL, list_thread_main, &threads[i]) != 0)
			return -1;
	}
	return 0;
}

void list_load_go(void)
{
	atomic_store(&list_go, 1);
}

void list_load_stop(struct bench *b)
{
	if (!threads)
		return;
	atomic_store(&list_stop, 1);
	for (uint32_t i = 0; i < b->opt.list_load; i++) {
		pthread_join(threads[i].tid, NULL);
		hist_merge(&b->list_hist, &threads[i].hist);
		b->list_done += threads[i].done;
		b->list_failed += threads[i].failed;
		if (threads[i].error[0] && !b->list_error[0])
			snprintf(b->list_error, sizeof b->list_error, "%s", threads[i].error);
	}
	free(threads);
	threads = NULL;
}

int list_queries_run(struct bench *b)
{
	struct accrue_customer *rows = calloc(50, sizeof *rows);
	struct accrue_customer_page page;
	accrue *a = NULL;
	char msg[200], search[96];

	if (!rows || accrue_connect_message(b->opt.server, b->api_key, &a, msg, sizeof msg) != 0) {
		fprintf(stderr, "accrue-bench: %s\n", rows ? msg : "out of memory");
		free(rows);
		return EXIT_CONNECT;
	}
	for (uint32_t i = 0; i < b->opt.list_queries; i++) {
		struct accrue_customer_query q;
		uint64_t t0;

		list_query(b, i % LIST_ROTATION, &q, search, sizeof search);
		t0 = mono_ns();
		if (accrue_customers(a, &q, rows, 50, &page) != 0) {
			b->list_failed++;
			if (!b->list_error[0])
				snprintf(b->list_error, sizeof b->list_error, "%s", accrue_message(a));
			continue;
		}
		hist_record(&b->list_hist, mono_ns() - t0);
		b->list_done++;
	}
	accrue_close(a);
	free(rows);
	return b->list_done ? EXIT_RUN_OK : EXIT_NOTHING;
}
