/*
 * check_report.c - what accrue-check says: problems collected while
 * checking, the quoting that makes a directory's bytes safe to put in a
 * message, and the report printed at the end (text, or one JSON object).
 */
#include "check.h"
#include "output.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- problems and the text in them ----------------------------------------------- */

const char *check_quote(const char *p, size_t n)
{
	static char ring[6][4 * (PROTO_MAX_SETTING_KEY + 1 + PROTO_MAX_SETTING_VALUE) + 3];
	static int next;
	char *out = ring[next], *o = out;

	next = (next + 1) % 6;
	if (n > (sizeof ring[0] - 3) / 4)
		n = (sizeof ring[0] - 3) / 4;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			o += sprintf(o, "\\x%02x", ch);
		else
			*o++ = (char)ch;
	}
	*o++ = '"';
	*o = 0;
	return out;
}

const char *check_qstr(struct proto_str s)
{
	return check_quote(s.ptr, s.len);
}

const char *check_order_name(const char *key, size_t len)
{
	static char buf[2][2 * (4 * (PROTO_MAX_LOCATION + PROTO_MAX_ORDER) + 8) + 16];
	static int next;
	const char *nul = memchr(key, 0, len);
	size_t loc = nul ? (size_t)(nul - key) : len;
	char *out = buf[next];
	char loc_q[4 * PROTO_MAX_LOCATION + 8];

	next = !next;
	snprintf(loc_q, sizeof loc_q, "%s", check_quote(key, loc));
	snprintf(out, sizeof buf[0], "order %s at %s", check_quote(key + loc + (nul ? 1 : 0), len - loc - (nul ? 1 : 0)), loc_q);
	return out;
}

const char *check_key_hex(const uint8_t key[PROTO_KEY_SIZE])
{
	static char buf[2][2 * PROTO_KEY_SIZE + 1];
	static int next;
	char *out = buf[next];

	next = !next;
	for (int i = 0; i < PROTO_KEY_SIZE; i++)
		sprintf(out + 2 * i, "%02x", key[i]);
	return out;
}

void check_problem_add(struct check *ck, uint64_t seq, uint64_t customer, const char *fmt, ...)
{
	va_list ap;
	int n;
	struct check_problem *p;

	check_grow((void **)&ck->problems, &ck->problems_cap, ck->nproblems + 1, sizeof *ck->problems);
	p = &ck->problems[ck->nproblems];
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	p->text = check_xrealloc(NULL, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p->text, (size_t)n + 1, fmt, ap);
	va_end(ap);
	p->seq = seq;
	p->customer = customer;
	p->order = ck->nproblems++;
}

/* ---- the report ---------------------------------------------------------------- */

static int problem_cmp(const void *a, const void *b)
{
	const struct check_problem *x = a, *y = b;
	/* By seq, those without one last; discovery order among equals. */
	uint64_t sx = x->seq ? x->seq : UINT64_MAX, sy = y->seq ? y->seq : UINT64_MAX;

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void json_u64_or_null(uint64_t v)
{
	if (v)
		printf("%" PRIu64, v);
	else
		fputs("null", stdout);
}

void check_report_print(struct check *ck)
{
	uint64_t customers = ck->journal.m.ncustomers - ck->journal.placeholders;

	if (ck->nproblems) /* qsort may not be given the NULL of an empty list */
		qsort(ck->problems, ck->nproblems, sizeof *ck->problems, problem_cmp);
	if (ck->quiet)
		return;
	if (ck->json) {
		fputs("{\"dir\":", stdout);
		out_json_str(ck->dir);
		printf(",\"records\":%" PRIu64 ",\"first_seq\":", ck->nrecords);
		json_u64_or_null(ck->first_seq);
		fputs(",\"last_seq\":", stdout);
		json_u64_or_null(ck->last_seq);
		printf(",\"customers\":%" PRIu64 ",\"checkpoint_seq\":", customers);
		json_u64_or_null(ck->ckpt_seq);
		printf(",\"clean\":%s,\"problems\":[", ck->nproblems ? "false" : "true");
		for (size_t i = 0; i < ck->nproblems; i++) {
			const struct check_problem *p = &ck->problems[i];
			fputs(i ? ",{\"seq\":" : "{\"seq\":", stdout);
			json_u64_or_null(p->seq);
			fputs(",\"customer\":", stdout);
			json_u64_or_null(p->customer);
			fputs(",\"problem\":", stdout);
			out_json_str(p->text);
			putchar('}');
		}
		fputs("]}\n", stdout);
		return;
	}
	printf("accrue-check %s: %" PRIu64 " journal record%s", ck->dir, ck->nrecords, ck->nrecords == 1 ? "" : "s");
	if (ck->nrecords)
		printf(" (seq %" PRIu64 "..%" PRIu64 ")", ck->first_seq, ck->last_seq);
	printf(", %" PRIu64 " customer%s, ", customers, customers == 1 ? "" : "s");
	if (ck->has_ckpt)
		printf("checkpoint at seq %" PRIu64, ck->ckpt_seq);
	else
		fputs("no checkpoint yet", stdout);
	if (ck->nproblems)
		printf(": %zu problem%s\n", ck->nproblems, ck->nproblems == 1 ? "" : "s");
	else
		fputs(": clean\n", stdout);
	for (size_t i = 0; i < ck->nproblems; i++) {
		const struct check_problem *p = &ck->problems[i];
		if (p->seq)
			printf("seq %" PRIu64 "%s", p->seq, p->customer ? " " : ": ");
		if (p->customer)
			printf("customer %" PRIu64 ": ", p->customer);
		printf("%s\n", p->text);
	}
}
