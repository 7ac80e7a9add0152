/*
 * bench_stats.c - accrue-bench's figures: the latency histogram each
 * connection records into, and the table of refusals by kind.
 */
#include "bench_int.h"

#include <math.h>
#include <stdio.h>

/* ---- latency histogram ----------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
	unsigned e, shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e >= HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	shift = e - HIST_SUB_BITS;
	return 2 * HIST_SUB + (e - HIST_SUB_BITS - 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The highest value that falls into bucket i. */
static uint64_t hist_bucket_top(unsigned i)
{
	unsigned range, sub, shift;

	if (i < 2 * HIST_SUB)
		return i;
	range = (i - 2 * HIST_SUB) / HIST_SUB;
	sub = (i - 2 * HIST_SUB) % HIST_SUB;
	shift = range + 1;
	return (((uint64_t)HIST_SUB + sub) << shift) + ((uint64_t)1 << shift) - 1;
}

void hist_record(struct histogram *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct histogram *into, const struct histogram *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	if (from->max > into->max)
		into->max = from->max;
}

/* The value at quantile q (0..1): the top of the bucket that holds it, at most the maximum. */
uint64_t hist_quantile(const struct histogram *h, double q)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->count);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= want) {
			uint64_t top = hist_bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}

/* ---- refusals -------------------------------------------------------- */

const char *err_name(unsigned i)
{
	switch (i) {
	case ERR_UNKNOWN_STATUS: return "UNKNOWN";
	case ERR_CONNECTION_LOST: return "CONNECTION_LOST";
	case ERR_NO_REPLY: return "NO_REPLY";
	case ERR_BAD_REPLY: return "BAD_REPLY";
	}
	return proto_status_name((int)i);
}

unsigned err_slot(uint16_t status)
{
	return status < ERR_STATUSES ? status : ERR_UNKNOWN_STATUS;
}

/* Count n refusals; the first message of each kind is kept for the report. */
void count_error(struct bench *b, int measured, unsigned slot, uint64_t n, struct proto_str msg)
{
	if (measured)
		b->errors[slot] += n;
	else
		b->warmup_errors += n;
	if (!b->error_message[slot][0] && msg.len)
		snprintf(b->error_message[slot], sizeof b->error_message[slot], "%.*s", (int)msg.len, msg.ptr);
}
