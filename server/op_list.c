/*
 * op_list.c - CUSTOMERS: one page of the customer book, filtered, searched
 * and sorted, a slice of the scan per loop turn.
 *
 * How: every customer that existed when the request came is looked at once
 * (slots 0..end; customers are never moved, so a slot index survives the
 * turns in between). Each that matches is counted and, if it sorts after
 * the cursor, offered to a bounded heap that keeps the page's limit + 1
 * best rows (the extra one tells whether another page follows). Each turn
 * does at most LIST_SLICE_US of that work and then lets the loop serve
 * everyone else, so a list of a million customers never holds a checkout
 * up by more than a slice. Sorted by id (the slot order) without a total,
 * the walk starts at the cursor and stops once the page is full, which is
 * what makes an export of every customer linear.
 *
 * A sort key is taken when its customer is looked at; the rows of the reply
 * are read when the scan ends. The cursor is the sort key and id of the
 * last row, so a walk over pages sorted by id or by creation time sees every
 * customer who existed throughout exactly once; sorted by a value that sales
 * change (balance, visits, spend, last visit), a customer whose value moves
 * across the cursor between two pages can be seen twice or not at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unicase.h>

#include "dispatch_ops.h"

#define LIST_SLICE_US 500   /* work per loop turn */
#define LIST_CHECK_EVERY 512 /* customers between two looks at the clock */
#define LIST_SKEY_MAX 256   /* bytes of a text sort key compared (an email is at most 254) */

struct list_key {
	int64_t v;
	uint64_t id;
	uint16_t slen;
	char s[LIST_SKEY_MAX];
};

struct list_scan {
	struct dispatch_cont k;
	uint8_t sort, desc, flags, member, optout;
	uint32_t limit;
	int64_t min_points, max_points;
	char needle[4 * PROTO_MAX_SEARCH + 1]; /* the search, lower-cased (it may grow) */
	uint32_t needle_len;
	char digits[PROTO_MAX_SEARCH + 1]; /* the search's digits, when it reads as a phone */
	uint32_t ndigits;
	char group[PROTO_MAX_GROUP], tier[PROTO_MAX_TIER];
	uint32_t group_len, tier_len;
	int has_after;
	struct list_key after;
	int64_t pos, end; /* the next slot to look at; the scan's bound (see next_slot) */
	uint64_t matched;
	uint32_t nheap, cap;
	uint32_t *heap;        /* indices into keys, the row that comes last at the top */
	struct list_key *keys; /* cap entries: the rows kept so far */
	struct list_key cand;
};

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int is_string_sort(uint8_t sort)
{
	return sort == PROTO_SORT_NAME || sort == PROTO_SORT_EMAIL;
}

/* a before b in ascending order of (value, id). */
static int key_cmp(uint8_t sort, const struct list_key *a, const struct list_key *b)
{
	if (is_string_sort(sort)) {
		uint16_t n = a->slen < b->slen ? a->slen : b->slen;
		int r = memcmp(a->s, b->s, n);

		if (r)
			return r;
		if (a->slen != b->slen)
			return a->slen < b->slen ? -1 : 1;
	} else if (a->v != b->v) {
		return a->v < b->v ? -1 : 1;
	}
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Negative: a comes first on the page. */
static int key_order(const struct list_scan *ls, const struct list_key *a, const struct list_key *b)
{
	int r = key_cmp(ls->sort, a, b);
	return ls->desc ? -r : r;
}

static char ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static uint16_t lower_into(char *dst, uint16_t at, const char *src, uint32_t len)
{
	for (uint32_t i = 0; i < len && at < LIST_SKEY_MAX; i++)
		dst[at++] = ascii_lower(src[i]);
	return at;
}

static void key_of(const struct list_scan *ls, const struct model_customer *c, struct list_key *k)
{
	struct proto_customer v;

	k->id = c->id;
	k->slen = 0;
	switch (ls->sort) {
	case PROTO_SORT_ID:
		k->v = (int64_t)c->id;
		break;
	case PROTO_SORT_CREATED:
		k->v = c->created_us;
		break;
	case PROTO_SORT_LAST_VISIT:
		k->v = c->last_visit_us;
		break;
	case PROTO_SORT_BALANCE:
		k->v = c->balance;
		break;
	case PROTO_SORT_LIFETIME:
		k->v = c->lifetime_points;
		break;
	case PROTO_SORT_VISITS:
		k->v = c->visits > INT64_MAX ? INT64_MAX : (int64_t)c->visits;
		break;
	case PROTO_SORT_SPEND:
		k->v = c->total_spend;
		break;
	case PROTO_SORT_AVERAGE_SPEND:
		k->v = c->visits ? c->total_spend / (int64_t)c->visits : 0;
		break;
	case PROTO_SORT_NAME:
		model_customer_view(c, &v);
		k->v = 0;
		k->slen = lower_into(k->s, 0, v.last_name.ptr, v.last_name.len);
		if (k->slen < LIST_SKEY_MAX)
			k->s[k->slen++] = '\0';
		k->slen = lower_into(k->s, k->slen, v.first_name.ptr, v.first_name.len);
		break;
	case PROTO_SORT_EMAIL:
		k->v = 0;
		k->slen = c->email_len; /* at most PROTO_MAX_EMAIL < LIST_SKEY_MAX */
		memcpy(k->s, c->text, k->slen);
		break;
	}
}

/* Whether needle[0..n) (lower-case) is in hay[0..len), ASCII letters compared without case. */
static int ci_contains(const char *hay, uint32_t len, const char *needle, uint32_t n)
{
	char first = needle[0];

	if (n > len)
		return 0;
	for (uint32_t i = 0; i + n <= len; i++) {
		uint32_t j = 1;

		if (ascii_lower(hay[i]) != first)
			continue;
		while (j < n && ascii_lower(hay[i + j]) == needle[j])
			j++;
		if (j == n)
			return 1;
	}
	return 0;
}

/* Whether needle[0..n) is in hay[0..len), byte for byte. glibc's memmem
 * prepares the needle on every call, which costs more than these short
 * texts do: look for the first byte, then compare. */
static int contains(const char *hay, uint32_t len, const char *needle, uint32_t n)
{
	const char *p = hay, *end = hay + len;

	if (n == 0 || n > len)
		return n == 0;
	while ((p = memchr(p, needle[0], (size_t)(end - p) - n + 1)) != NULL) {
		if (memcmp(p + 1, needle + 1, n - 1) == 0)
			return 1;
		p++;
		if ((size_t)(end - p) < n)
			return 0;
	}
	return 0;
}

/*
 * The customer's text is email, phone, first and last name back to back
 * (model.h); read it in place, without a view: this runs for every customer
 * of a search, and a million of them must take milliseconds, not tens.
 */
static int search_matches(const struct list_scan *ls, const struct model_customer *c)
{
	const char *t = c->text;
	const char *phone = t + c->email_len, *first = phone + c->phone_len, *last = first + c->first_len;

	/* Emails are stored lower-cased (model_email_normalise); so is the needle. */
	if (contains(t, c->email_len, ls->needle, ls->needle_len) ||
	    ci_contains(first, c->first_len, ls->needle, ls->needle_len) ||
	    ci_contains(last, c->last_len, ls->needle, ls->needle_len))
		return 1;
	if (ls->ndigits && c->phone_len > 1) {
		/* The phone is '+' and digits; a number typed nationally may
		 * carry a trunk 0 that the stored form does not. */
		const char *d = ls->digits;
		uint32_t n = ls->ndigits;

		if (contains(phone + 1, c->phone_len - 1u, d, n))
			return 1;
		while (n > 3 && *d == '0') {
			d++;
			n--;
		}
		if (n != ls->ndigits && contains(phone + 1, c->phone_len - 1u, d, n))
			return 1;
	}
	return 0;
}

static int matches(const struct list_scan *ls, const struct model_customer *c)
{
	/* An archived customer is a ledger entry, no longer a person in the book. */
	if (c->archived)
		return 0;
	if (ls->member == PROTO_LIST_MEMBERS && !c->member)
		return 0;
	if (ls->member == PROTO_LIST_GUESTS && c->member)
		return 0;
	if (ls->optout != PROTO_LIST_OPTOUT_ANY &&
	    (ls->optout == PROTO_LIST_OPTED_OUT) != (c->book != NULL && c->book->opted_out))
		return 0;
	if ((ls->flags & PROTO_LIST_MIN_POINTS) && c->balance < ls->min_points)
		return 0;
	if ((ls->flags & PROTO_LIST_MAX_POINTS) && c->balance > ls->max_points)
		return 0;
	if (ls->tier_len || ls->group_len) {
		struct proto_customer v;

		if (!c->tags)
			return 0;
		model_customer_view(c, &v);
		if (ls->tier_len && (v.tier.len != ls->tier_len || memcmp(v.tier.ptr, ls->tier, ls->tier_len) != 0))
			return 0;
		if (ls->group_len) {
			struct proto_str g = {ls->group, ls->group_len};
			if (!model_customer_in_group(c, g))
				return 0;
		}
	}
	if (ls->needle_len && !search_matches(ls, c))
		return 0;
	return 1;
}

#define HEAP_KEY(ls, i) (&(ls)->keys[(ls)->heap[i]])

static void heap_swap(uint32_t *a, uint32_t *b)
{
	uint32_t t = *a;
	*a = *b;
	*b = t;
}

/* Restore the heap below i, in its first n entries. */
static void heap_down(struct list_scan *ls, uint32_t i, uint32_t n)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && key_order(ls, HEAP_KEY(ls, l), HEAP_KEY(ls, m)) > 0)
			m = l;
		if (r < n && key_order(ls, HEAP_KEY(ls, r), HEAP_KEY(ls, m)) > 0)
			m = r;
		if (m == i)
			return;
		heap_swap(&ls->heap[i], &ls->heap[m]);
		i = m;
	}
}

static void key_copy(struct list_key *dst, const struct list_key *src)
{
	dst->v = src->v;
	dst->id = src->id;
	dst->slen = src->slen;
	memcpy(dst->s, src->s, src->slen);
}

/* Keep k if it is among the best cap rows so far. */
static void heap_offer(struct list_scan *ls, const struct list_key *k)
{
	uint32_t i;

	if (ls->nheap < ls->cap) {
		i = ls->nheap++;
		ls->heap[i] = i;
		key_copy(&ls->keys[i], k);
		while (i && key_order(ls, HEAP_KEY(ls, (i - 1) / 2), HEAP_KEY(ls, i)) < 0) {
			heap_swap(&ls->heap[(i - 1) / 2], &ls->heap[i]);
			i = (i - 1) / 2;
		}
		return;
	}
	if (key_order(ls, k, HEAP_KEY(ls, 0)) >= 0)
		return;
	key_copy(HEAP_KEY(ls, 0), k);
	heap_down(ls, 0, ls->nheap);
}

/* Sort the heap into page order, in place (the last row is its top). */
static void heap_sort(struct list_scan *ls)
{
	for (uint32_t n = ls->nheap; n > 1; n--) {
		heap_swap(&ls->heap[0], &ls->heap[n - 1]);
		heap_down(ls, 0, n - 1);
	}
}

/*
 * The walk goes backwards (newest slot first) for a descending sort and
 * forwards for an ascending one: ids, and mostly creation times, follow the
 * slots, and ties are broken by id in the sort's direction, so the rows
 * that belong on the page tend to come first and the rest are turned away
 * by one comparison with the heap's top. Sorted by id, the walk starts at
 * the cursor. Returns the next slot, or -1 when the walk is over.
 */
static int64_t next_slot(struct list_scan *ls)
{
	if (ls->desc)
		return ls->pos >= 0 ? ls->pos-- : -1;
	return ls->pos < ls->end ? ls->pos++ : -1;
}

/* Whether the page is settled before the walk ends: in id order without a total. */
static int page_full(const struct list_scan *ls)
{
	return ls->sort == PROTO_SORT_ID && !(ls->flags & PROTO_LIST_TOTAL) && ls->nheap == ls->cap;
}

static const char *dir_name(uint8_t desc)
{
	return desc ? "desc" : "asc";
}

static void cursor_text(const struct list_scan *ls, const struct list_key *k, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s:%s:", proto_sort_name(ls->sort), dir_name(ls->desc));

	if (is_string_sort(ls->sort)) {
		for (uint16_t i = 0; i < k->slen && (size_t)n + 3 < cap; i++)
			n += snprintf(buf + n, cap - (size_t)n, "%02x", (unsigned char)k->s[i]);
	} else {
		n += snprintf(buf + n, cap - (size_t)n, "%lld", (long long)k->v);
	}
	snprintf(buf + n, cap - (size_t)n, ":%llu", (unsigned long long)k->id);
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Read a cursor made by cursor_text for this sort and direction. 0 or -1 (why in msg). */
static int cursor_parse(struct list_scan *ls, struct proto_str in, char *msg, size_t cap)
{
	char buf[PROTO_MAX_CURSOR + 1], head[64], *value, *id, *end;
	unsigned long long u;

	memcpy(buf, in.ptr, in.len);
	buf[in.len] = '\0';
	snprintf(head, sizeof head, "%s:%s:", proto_sort_name(ls->sort), dir_name(ls->desc));
	if (strncmp(buf, head, strlen(head)) != 0) {
		snprintf(msg, cap, "the cursor is not one of a page sorted by %s:%s", proto_sort_name(ls->sort),
			 dir_name(ls->desc));
		return -1;
	}
	value = buf + strlen(head);
	id = strrchr(value, ':');
	if (!id)
		goto bad;
	*id++ = '\0';
	if (!*id || *id == '-')
		goto bad;
	u = strtoull(id, &end, 10);
	if (*end || u == 0)
		goto bad;
	ls->after.id = u;
	ls->after.v = 0;
	ls->after.slen = 0;
	if (is_string_sort(ls->sort)) {
		size_t n = strlen(value);

		if (n % 2 || n / 2 > LIST_SKEY_MAX)
			goto bad;
		for (size_t i = 0; i < n; i += 2) {
			int hi = hex_digit(value[i]), lo = hex_digit(value[i + 1]);
			if (hi < 0 || lo < 0)
				goto bad;
			ls->after.s[ls->after.slen++] = (char)(hi << 4 | lo);
		}
	} else {
		long long v;

		if (!*value)
			goto bad;
		v = strtoll(value, &end, 10);
		if (*end)
			goto bad;
		ls->after.v = v;
	}
	ls->has_after = 1;
	return 0;
bad:
	snprintf(msg, cap, "the cursor is damaged: pass --after the next cursor a page gave, unchanged");
	return -1;
}

static void list_free(struct dispatch_cont *k)
{
	struct list_scan *ls = (struct list_scan *)k;

	free(ls->heap);
	free(ls->keys);
	free(ls);
}

/* Room for the largest reply header: the total, a cursor, the count. */
#define LIST_HEADER_MAX (8 + 2 + PROTO_MAX_CURSOR + 4)

/* The scan is over: sort what the heap kept and write the page. */
static enum dispatch_action list_reply(struct dispatch *d, struct list_scan *ls, struct dispatch_out *out)
{
	char next[PROTO_MAX_CURSOR + 1] = "";
	uint8_t head[LIST_HEADER_MAX];
	struct proto_wbuf w, h;
	size_t header_at, rows_at, fit;
	uint32_t n = 0, last = 0;

	heap_sort(ls);
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	header_at = w.len;
	if (w.cap < header_at + LIST_HEADER_MAX) {
		dispatch_error(out, PROTO_ST_INTERNAL, "a customers page does not fit a reply");
		return DISPATCH_REPLY;
	}
	/* The rows go after room for the header, which is written last. */
	rows_at = fit = w.len = header_at + LIST_HEADER_MAX;
	for (uint32_t i = 0; i < ls->nheap && n < ls->limit; i++) {
		const struct model_customer *c = model_customer_by_id(d->model, HEAP_KEY(ls, i)->id);
		struct proto_customer v;

		if (!c)
			continue;
		model_customer_view(c, &v);
		proto_customer_put(&w, &v);
		if (w.overflow)
			break; /* the page ends early; the cursor resumes after the last row sent */
		fit = w.len;
		last = i;
		n++;
	}
	/* A row after the last one sent: another page follows. */
	if (n && last + 1 < ls->nheap)
		cursor_text(ls, HEAP_KEY(ls, last), next, sizeof next);
	proto_wbuf_init(&h, head, sizeof head);
	proto_customers_rep_put_header(&h, (ls->flags & PROTO_LIST_TOTAL) ? ls->matched : PROTO_TOTAL_UNKNOWN,
				       proto_str_c(next), n);
	memmove(out->body + header_at + h.len, out->body + rows_at, fit - rows_at);
	memcpy(out->body + header_at, head, h.len);
	out->len = header_at + h.len + (fit - rows_at);
	/* Nothing not yet durable is shown. */
	dispatch_depend(out, d->model->applied_seq);
	return DISPATCH_REPLY;
}

static enum dispatch_action list_step(struct dispatch *d, struct dispatch_cont *k, struct dispatch_out *out)
{
	struct list_scan *ls = (struct list_scan *)k;
	int64_t deadline = mono_us() + LIST_SLICE_US;
	uint32_t since = 0;
	int64_t slot;

	while (!page_full(ls) && (slot = next_slot(ls)) >= 0) {
		const struct model_customer *c = &d->model->customers[slot];
		int64_t ahead = ls->desc ? slot - 8 : slot + 8;

		/* The text of a customer a few slots on: its cache miss overlaps this one's work. */
		if (ls->needle_len && ahead >= 0 && ahead < ls->end)
			__builtin_prefetch(d->model->customers[ahead].text);

		if (matches(ls, c)) {
			ls->matched++;
			key_of(ls, c, &ls->cand);
			if (!ls->has_after || key_order(ls, &ls->cand, &ls->after) > 0)
				heap_offer(ls, &ls->cand);
		}
		if (++since == LIST_CHECK_EVERY) {
			since = 0;
			if (mono_us() >= deadline)
				return DISPATCH_CONTINUE;
		}
	}
	return list_reply(d, ls, out);
}

static void copy_str(char *dst, uint32_t *len, struct proto_str s)
{
	memcpy(dst, s.ptr, s.len);
	*len = s.len;
}

/* The search as a needle: trimmed and lower-cased (Unicode, as emails are
 * stored); its digits too when it reads as a phone. */
static void search_set(struct list_scan *ls, struct proto_str s)
{
	uint32_t a = 0, b = s.len, digits = 0, other = 0;

	while (a < b && (s.ptr[a] == ' ' || s.ptr[a] == '\t'))
		a++;
	while (b > a && (s.ptr[b - 1] == ' ' || s.ptr[b - 1] == '\t'))
		b--;
	{
		size_t n = sizeof ls->needle - 1;
		uint8_t *low = u8_tolower((const uint8_t *)s.ptr + a, b - a, NULL, NULL, (uint8_t *)ls->needle, &n);

		if (low && n < sizeof ls->needle) {
			if (low != (uint8_t *)ls->needle)
				memcpy(ls->needle, low, n);
			ls->needle_len = (uint32_t)n;
		} else {
			/* Not UTF-8 (or absurdly long once lowered): ASCII letters only. */
			for (uint32_t i = a; i < b; i++)
				ls->needle[ls->needle_len++] = ascii_lower(s.ptr[i]);
		}
		if (low != (uint8_t *)ls->needle)
			free(low);
	}
	for (uint32_t i = a; i < b; i++) {
		char ch = s.ptr[i];

		if (ch >= '0' && ch <= '9')
			ls->digits[digits++] = ch;
		else if (!strchr(" ()-.+/", ch))
			other++;
	}
	/* "555 010", "(555) 010-0002": a phone typed any way; three digits at least. */
	ls->ndigits = !other && digits >= 3 ? digits : 0;
}

enum dispatch_action op_customers(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
				  struct dispatch_out *out)
{
	struct proto_customers_req q;
	struct list_scan *ls;
	char msg[200];

	if (proto_customers_req_decode(body, len, &q) != 0) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST,
			       "malformed CUSTOMERS request (sort 1..%d, limit 1..%d, search at most %d bytes)",
			       PROTO_SORT_MAX, PROTO_MAX_PAGE, PROTO_MAX_SEARCH);
		return DISPATCH_REPLY;
	}
	if (dispatch_has_control(q.search) || dispatch_has_control(q.group) || dispatch_has_control(q.tier)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "a search or filter holds a control character");
		return DISPATCH_REPLY;
	}
	if ((q.flags & PROTO_LIST_MIN_POINTS) && (q.flags & PROTO_LIST_MAX_POINTS) && q.min_points > q.max_points) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "the least balance asked for is above the most");
		return DISPATCH_REPLY;
	}
	ls = calloc(1, sizeof *ls);
	if (ls) {
		ls->heap = malloc(sizeof *ls->heap * (q.limit + 1));
		ls->keys = malloc(sizeof *ls->keys * (q.limit + 1));
	}
	if (!ls || !ls->heap || !ls->keys) {
		if (ls) {
			free(ls->heap);
			free(ls->keys);
			free(ls);
		}
		dispatch_error(out, PROTO_ST_BUSY, "out of memory for a customers page; retry later");
		return DISPATCH_REPLY;
	}
	ls->k.step = list_step;
	ls->k.free = list_free;
	ls->sort = q.sort;
	ls->desc = q.desc;
	ls->flags = q.flags;
	ls->member = q.member;
	ls->optout = q.optout;
	ls->limit = q.limit;
	ls->cap = q.limit + 1;
	ls->min_points = q.min_points;
	ls->max_points = q.max_points;
	search_set(ls, q.search);
	copy_str(ls->group, &ls->group_len, q.group);
	copy_str(ls->tier, &ls->tier_len, q.tier);
	if (q.after.len && cursor_parse(ls, q.after, msg, sizeof msg) != 0) {
		list_free(&ls->k);
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "%s", msg);
		return DISPATCH_REPLY;
	}
	ls->end = d->model->ncustomers;
	ls->pos = ls->desc ? ls->end - 1 : 0;
	if (ls->sort == PROTO_SORT_ID && !(ls->flags & PROTO_LIST_TOTAL) && ls->has_after) {
		/* Start at the cursor: ids are slots + 1. */
		uint64_t a = ls->after.id;

		if (ls->desc)
			ls->pos = a > (uint64_t)ls->end ? ls->end - 1 : (int64_t)a - 2;
		else
			ls->pos = a < (uint64_t)ls->end ? (int64_t)a : ls->end;
	}
	out->cont = &ls->k;
	return list_step(d, &ls->k, out) == DISPATCH_CONTINUE ? DISPATCH_CONTINUE : (list_free(&ls->k), DISPATCH_REPLY);
}
