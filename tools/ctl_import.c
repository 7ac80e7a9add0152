/*
 * ctl_import.c - import adjustments and import customers: a CSV file (read
 * with ctl_csv) checked whole before anything is sent, then sent with
 * request keys derived from the file's content and each line's number, so
 * that the same file run again, after a crash or Ctrl-C half-way, applies
 * only what is missing.
 *
 * Adjustments travel in ADJUST_BATCH frames (accrue_adjust_batch), as many
 * as fit one frame, each journalled by one commit. Customers are enrolled
 * one at a time (ENROL has no batch), their groups added one at a time, and
 * their opening balances batched like adjustments.
 */
#include "ctl.h"
#include "ctl_csv.h"
#include "proto.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unistr.h>
#include <xxhash.h>

const char ctl_help_import[] =
	"Usage: accruectl import adjustments FILE [--dry-run]\n"
	"       accruectl import customers FILE [--dry-run]\n"
	"\n"
	"Import a CSV file (admin keys only; '-': standard input). The first line\n"
	"is the header, exactly as below; fields may be quoted (\"a, \"\"b\"\"\"), spaces\n"
	"are kept, lines end in LF, CRLF or CR, a UTF-8 byte order mark is allowed.\n"
	"\n"
	"  adjustments   customer,points,reason,comment\n"
	"                customer is a REF (email, phone number or #ID); points a\n"
	"                non-zero signed integer (-5 uses points); reason is\n"
	"                internal, comment shown to the customer (empty: \"Manual\n"
	"                adjustments\"); each at most 500 bytes.\n"
	"  customers     email,phone,first_name,last_name,groups,points\n"
	"                an email or a phone (or both); groups separated by ';';\n"
	"                points (empty or >= 0) an opening balance, journalled as\n"
	"                an adjustment with reason \"import\" and comment \"Opening\n"
	"                balance\". An email or phone that belongs to a customer this\n"
	"                import did not create is refused (conflict); one that two\n"
	"                lines of the file name is a bad line. Lines are sent over 8\n"
	"                connections at once.\n"
	"\n"
	"The whole file is checked first: each bad line is printed as FILE:LINE: why,\n"
	"and if there is any, nothing is sent (exit 2). Text must be UTF-8 without\n"
	"control characters (line breaks included). --dry-run checks the file and\n"
	"says what would be sent; it sends nothing and needs no server.\n"
	"\n"
	"Exactly once: each request's key is XXH3-128 of a domain string (\"accrue\n"
	"import adjustments v1\"; for customers \"accrue import customers v1\" with\n"
	"\" enrol\", \" points\" or \" group\"), a 0 byte, the XXH3-128 of the whole\n"
	"file's bytes, the line's number (u64, little-endian) and the group's index\n"
	"on the line (u32, little-endian; 0 otherwise). Running the same file again,\n"
	"after a crash or Ctrl-C half-way, applies only what is missing and reports\n"
	"the rest as already applied; an edited file is a new import.\n"
	"\n"
	"A progress bar goes to stderr when it is a terminal. Each line the server\n"
	"refuses is printed as FILE:LINE: status: message, then a summary: N applied,\n"
	"M already applied, K refused. Exit status 0 when every line is applied or\n"
	"already applied, 1 when the server refused any, 2 for a bad file, 3 when\n"
	"the connection is lost (run the same file again). Ctrl-C or SIGTERM stops\n"
	"it after the requests in flight are answered, with the summary so far and\n"
	"exit status 130; a second one stops it at once.\n";

#define ADJUST_HEADER "customer,points,reason,comment"
#define CUSTOMER_HEADER "email,phone,first_name,last_name,groups,points"

/* The domain strings of the request keys; a new meaning gets a new version. */
#define DOMAIN_ADJUST "accrue import adjustments v1"
#define DOMAIN_ENROL "accrue import customers v1 enrol"
#define DOMAIN_POINTS "accrue import customers v1 points"
#define DOMAIN_GROUP "accrue import customers v1 group"

/* Bad lines printed before the rest are only counted. */
#define BAD_LINES_SHOWN 50

enum import_kind { IMPORT_ADJUSTMENTS, IMPORT_CUSTOMERS };

/* The exit status after Ctrl-C, as a shell reports a command SIGINT ended (128 + 2). */
#define CTL_EXIT_INTERRUPTED 130

/* A line's request key: see the help page above. */
static void line_key(const char *domain, const uint8_t file_hash[16], uint32_t line, uint32_t part,
		     uint8_t key[ACCRUE_KEY_SIZE])
{
	uint8_t buf[128];
	size_t n = strlen(domain) + 1;
	XXH128_canonical_t canon;

	memcpy(buf, domain, n);
	memcpy(buf + n, file_hash, 16);
	n += 16;
	for (int i = 0; i < 8; i++)
		buf[n++] = (uint8_t)((uint64_t)line >> (8 * i));
	for (int i = 0; i < 4; i++)
		buf[n++] = (uint8_t)(part >> (8 * i));
	XXH128_canonicalFromHash(&canon, XXH3_128bits(buf, n));
	memcpy(key, canon.digest, ACCRUE_KEY_SIZE);
}

/* ---- checking ------------------------------------------------------------- */

/* NULL if the field may be kept as a text of at most max bytes; else why not. */
static const char *text_problem(const char *s, size_t len, size_t max, char *buf, size_t cap)
{
	if (len > max) {
		snprintf(buf, cap, "is %zu bytes, over the limit of %zu", len, max);
		return buf;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "holds a control character (a line break, a tab...), which the ledger does not keep";
	if (u8_check((const uint8_t *)s, len))
		return "is not valid UTF-8";
	return NULL;
}

/* A signed decimal integer, all of s: 0, or -1 (not a number, or out of range). */
static int points_parse(const char *s, int64_t *out)
{
	const char *p = s;
	int neg = 0;
	uint64_t v = 0;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!*p)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* A group name as the server takes it: 1..64 printable bytes, no space or comma. */
static int group_ok(const char *s, size_t len)
{
	if (len == 0 || len > PROTO_MAX_GROUP)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == ',')
			return 0;
	return 1;
}

/* The groups field split at ';' into at most ACCRUE_MAX_GROUPS names in buf. Returns how many, or -1. */
static int groups_split(const char *s, char names[ACCRUE_MAX_GROUPS][PROTO_MAX_GROUP + 1])
{
	int n = 0;

	if (!*s)
		return 0;
	for (;;) {
		const char *end = strchr(s, ';');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		if (n == ACCRUE_MAX_GROUPS || !group_ok(s, len))
			return -1;
		memcpy(names[n], s, len);
		names[n++][len] = '\0';
		if (!end)
			return n;
		s = end + 1;
	}
}

/* One data line, checked. */
struct import_line {
	struct accrue_ref ref; /* adjustments */
	int64_t points;        /* adjustments: != 0; customers: >= 0 */
	int ngroups;           /* customers */
	char groups[ACCRUE_MAX_GROUPS][PROTO_MAX_GROUP + 1];
};

/* What the checking pass found. */
struct import_check {
	const char *path;
	enum import_kind kind;
	int header_seen;
	uint32_t last_line; /* of the record before */
	uint32_t lines;     /* data lines */
	uint32_t bad;
	int64_t added, used; /* points, for the dry run (saturating) */
	uint64_t group_adds;
	/* customers: each line's email and phone, roughly normalised, hashed */
	struct ident *ids;
	size_t nids, ids_cap;
	int nomem;
};

/* An email or phone of a customers line: XXH3-64 of it lower-cased (email) or of its digits (phone). */
struct ident {
	uint64_t hash;
	uint32_t line;
	uint8_t phone; /* 0: an email */
};

static void bad_line(struct import_check *k, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad_line(struct import_check *k, uint32_t line, const char *fmt, ...)
{
	va_list ap;

	if (k->bad++ >= BAD_LINES_SHOWN)
		return;
	fprintf(stderr, "%s:%" PRIu32 ": ", k->path, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Whether field i holds a NUL byte (a C string would end early). */
static int has_nul(const struct ctl_csv_record *rec, uint32_t i)
{
	return strlen(rec->fields[i]) != rec->lens[i];
}

/*
 * Check one data line of an adjustments file into *out. Returns 0, or -1
 * after reporting it as bad (the caller counts it).
 */
static int adjust_line_check(struct import_check *k, const struct ctl_csv_record *rec, struct import_line *out)
{
	static const char *const names[] = {"customer", "points", "reason", "comment"};
	char buf[96];
	const char *why;

	if (rec->nfields != 4) {
		bad_line(k, rec->line, "%" PRIu32 " fields; expected 4 (%s)", rec->nfields, ADJUST_HEADER);
		return -1;
	}
	for (uint32_t i = 0; i < 4; i++)
		if (has_nul(rec, i)) {
			bad_line(k, rec->line, "%s holds a NUL byte", names[i]);
			return -1;
		}
	if (accrue_ref_parse(rec->fields[0], &out->ref) != 0) {
		bad_line(k, rec->line, "customer '%.80s' is not an email, a phone number or #ID", rec->fields[0]);
		return -1;
	}
	if (points_parse(rec->fields[1], &out->points) != 0 || out->points == 0) {
		bad_line(k, rec->line, "points '%.40s' is not a non-zero whole number (e.g. 25 or -10)", rec->fields[1]);
		return -1;
	}
	for (uint32_t i = 2; i < 4; i++)
		if ((why = text_problem(rec->fields[i], rec->lens[i], PROTO_MAX_REASON, buf, sizeof buf))) {
			bad_line(k, rec->line, "%s %s", names[i], why);
			return -1;
		}
	return 0;
}

/* Check one data line of a customers file into *out: 0, or -1 after reporting it. */
static int customer_line_check(struct import_check *k, const struct ctl_csv_record *rec, struct import_line *out)
{
	static const char *const names[] = {"email", "phone", "first_name", "last_name", "groups", "points"};
	static const size_t max[] = {PROTO_MAX_EMAIL, PROTO_MAX_PHONE, PROTO_MAX_NAME, PROTO_MAX_NAME, 2000, 32};
	char buf[96];
	const char *why;

	if (rec->nfields != 6) {
		bad_line(k, rec->line, "%" PRIu32 " fields; expected 6 (%s)", rec->nfields, CUSTOMER_HEADER);
		return -1;
	}
	for (uint32_t i = 0; i < 6; i++) {
		if (has_nul(rec, i)) {
			bad_line(k, rec->line, "%s holds a NUL byte", names[i]);
			return -1;
		}
		if ((why = text_problem(rec->fields[i], rec->lens[i], max[i], buf, sizeof buf))) {
			bad_line(k, rec->line, "%s %s", names[i], why);
			return -1;
		}
	}
	if (!rec->lens[0] && !rec->lens[1]) {
		bad_line(k, rec->line, "an email or a phone number is required");
		return -1;
	}
	if ((out->ngroups = groups_split(rec->fields[4], out->groups)) < 0) {
		bad_line(k, rec->line,
			 "groups '%.80s' is not up to %d names separated by ';' (each 1 to %d bytes, no spaces or commas)",
			 rec->fields[4], ACCRUE_MAX_GROUPS, PROTO_MAX_GROUP);
		return -1;
	}
	out->points = 0;
	if (rec->lens[5] && (points_parse(rec->fields[5], &out->points) != 0 || out->points < 0)) {
		bad_line(k, rec->line, "points '%.40s' is not an opening balance (a whole number, 0 or more)",
			 rec->fields[5]);
		return -1;
	}
	return 0;
}

/* Whether rec is exactly the header (comma separated names). */
static int header_is(const struct ctl_csv_record *rec, const char *header)
{
	const char *p = header;

	for (uint32_t i = 0; i < rec->nfields; i++) {
		size_t n;

		if (i > 0 && *p++ != ',')
			return 0;
		n = strcspn(p, ",");
		if (rec->lens[i] != n || memcmp(rec->fields[i], p, n) != 0)
			return 0;
		p += n;
	}
	return *p == '\0';
}

static void saturating_add(int64_t *sum, int64_t v)
{
	if (__builtin_add_overflow(*sum, v, sum))
		*sum = v > 0 ? INT64_MAX : INT64_MIN;
}

/* Remember a line's email (phone 0) or phone for idents_check; empty ones are not kept. */
static void ident_add(struct import_check *k, const char *text, uint32_t line, int phone)
{
	char norm[PROTO_MAX_EMAIL + 1];
	size_t n = 0;
	struct ident *id;

	for (const char *p = text; *p && n < sizeof norm; p++) {
		if (phone && (*p < '0' || *p > '9'))
			continue;
		norm[n++] = (char)(!phone && *p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	}
	if (n == 0)
		return;
	if (k->nids == k->ids_cap) {
		size_t cap = k->ids_cap ? k->ids_cap * 2 : 1024;
		struct ident *more = realloc(k->ids, cap * sizeof *more);
		if (!more) {
			k->nomem = 1;
			return;
		}
		k->ids = more;
		k->ids_cap = cap;
	}
	id = &k->ids[k->nids++];
	id->hash = XXH3_64bits(norm, n);
	id->line = line;
	id->phone = (uint8_t)phone;
}

/* The checking pass: one record. Bad lines are counted; reading goes on to report them all. */
static int check_record(void *ctx, const struct ctl_csv_record *rec)
{
	struct import_check *k = ctx;
	struct import_line l;
	const char *header = k->kind == IMPORT_ADJUSTMENTS ? ADJUST_HEADER : CUSTOMER_HEADER;

	/* Keys are made from line numbers: two records must never share one. */
	if (rec->line <= k->last_line) {
		bad_line(k, rec->line, "a second record on this line");
		return 1;
	}
	k->last_line = rec->line;
	if (!k->header_seen) {
		k->header_seen = 1;
		if (!header_is(rec, header)) {
			bad_line(k, rec->line, "the header must be exactly: %s", header);
			return 1; /* the rest cannot be read without it */
		}
		return 0;
	}
	k->lines++;
	if (k->kind == IMPORT_ADJUSTMENTS) {
		if (adjust_line_check(k, rec, &l) == 0)
			saturating_add(l.points > 0 ? &k->added : &k->used, l.points > 0 ? l.points : -l.points);
	} else if (customer_line_check(k, rec, &l) == 0) {
		saturating_add(&k->added, l.points);
		k->group_adds += (uint64_t)l.ngroups;
		ident_add(k, rec->fields[0], rec->line, 0);
		ident_add(k, rec->fields[1], rec->line, 1);
	}
	return 0;
}

static int ident_order(const void *pa, const void *pb)
{
	const struct ident *a = pa, *b = pb;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

/*
 * A customers file names each email and phone once: lines are sent over
 * several connections at once, and two lines racing for one email would
 * make which of them enrols a matter of chance. The later line is bad.
 */
static void idents_check(struct import_check *k)
{
	if (k->nomem) {
		bad_line(k, 1, "out of memory for the check of repeated emails and phones");
		return;
	}
	if (k->nids < 2)
		return; /* (qsort may not be given the NULL of an empty list) */
	qsort(k->ids, k->nids, sizeof *k->ids, ident_order);
	for (size_t i = 1; i < k->nids; i++)
		if (k->ids[i].hash == k->ids[i - 1].hash && k->ids[i].phone == k->ids[i - 1].phone)
			bad_line(k, k->ids[i].line, "the same %s as line %" PRIu32 " (a customer once per file)",
				 k->ids[i].phone ? "phone" : "email", k->ids[i - 1].line);
}

/* ---- sending ------------------------------------------------------------- */

/* Adjustments sent in one go (accrue_adjust_batch sends as many as fit a frame). */
#define QUEUE_MAX ACCRUE_MAX_BATCH

/*
 * Ctrl-C (SIGINT) or SIGTERM while sending: the requests in flight are
 * answered, nothing more is sent, and the summary says how far it got. A
 * second signal ends the program at once (the handler puts the default
 * back). Either way the same file run again sends what is missing.
 */
static volatile sig_atomic_t import_interrupted;

static void on_interrupt(int sig)
{
	struct sigaction dfl;

	import_interrupted = 1;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
}

/* Catch SIGINT and SIGTERM, except where they were ignored (a background job keeps them so). */
static void interrupt_catch(void)
{
	static const int sigs[] = {SIGINT, SIGTERM};

	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction old, sa;

		if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
			continue;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_interrupt;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

/* Per data line of a customers import: what happened to it. */
enum line_state {
	LINE_NEW = 1,     /* some part of it was applied by this run */
	LINE_REFUSED = 2, /* some part of it was refused */
	LINE_UNSENT = 4,  /* the run stopped before all of it was answered */
};

/*
 * Adjustments waiting to be sent on one connection, with their keys, lines
 * and the data lines they belong to; the reason and comment texts live in
 * arena, which is emptied with the queue.
 */
struct adjust_queue {
	accrue *a;
	uint32_t cap, n;
	struct accrue_adjustment *items;
	uint8_t (*keys)[ACCRUE_KEY_SIZE];
	uint32_t *lines, *ordinals;
	struct accrue_batch_result *results;
	char *arena;
	size_t arena_len, arena_cap;
};

/* One customers line, parsed and kept for the workers (texts in the run's arena). */
struct customer_line {
	uint32_t line;
	const char *email, *phone, *first, *last, *groups;
	int64_t points;
};

/* What one run shares between its connections. */
struct import_run {
	struct ctl *c;
	const char *path;
	const uint8_t *file_hash;
	enum import_kind kind;
	int progress; /* stderr is a terminal */
	uint32_t total;
	uint64_t applied, replayed, refused;
	uint32_t ordinal; /* adjustments: records seen by the sending pass, the header included */
	struct adjust_queue q; /* adjustments: the one queue */
	/* customers */
	uint8_t *state; /* enum line_state per data line */
	struct customer_line *cust;
	uint32_t ncust;
	char *text;
	size_t text_len, text_cap;
	pthread_mutex_t lock;    /* guards what follows, and stderr's lines */
	uint32_t next, done;     /* next line to take; lines finished */
	int fatal;               /* exit status of a call that failed as a whole; stops the workers */
	uint32_t fatal_line;
};

static void progress_show_locked(struct import_run *r, int last)
{
	if (!r->progress || !r->total)
		return;
	unsigned pct = (unsigned)((uint64_t)r->done * 100 / r->total);
	int width = 30, fill = (int)((uint64_t)r->done * (uint64_t)width / r->total);

	fprintf(stderr, "\r[%.*s%*s] %3u%% %" PRIu32 "/%" PRIu32 " lines", fill, "##############################",
		width - fill, "", pct, r->done, r->total);
	if (last)
		fputc('\n', stderr);
	fflush(stderr);
}

/* Say a refused line the way the summary counts it. */
static void refusal_print(struct import_run *r, uint32_t line, int status, const char *message)
{
	char name[32];

	pthread_mutex_lock(&r->lock);
	if (r->progress)
		fputc('\n', stderr);
	fprintf(stderr, "%s:%" PRIu32 ": %s: %s\n", r->path, line, ctl_status_name(status, name, sizeof name), message);
	pthread_mutex_unlock(&r->lock);
}

/* A call on connection a failed as a whole at line: the first such failure is said and stops the run. */
static void call_failed(struct import_run *r, accrue *a, int rc, uint32_t line)
{
	pthread_mutex_lock(&r->lock);
	if (!r->fatal) {
		struct ctl on = *r->c;

		on.a = a;
		if (r->progress)
			fputc('\n', stderr);
		r->fatal = ctl_call_failed(&on, rc);
		r->fatal_line = line;
	}
	pthread_mutex_unlock(&r->lock);
}

static int run_stopped(struct import_run *r)
{
	int stop;

	pthread_mutex_lock(&r->lock);
	stop = r->fatal != 0;
	pthread_mutex_unlock(&r->lock);
	return stop;
}

static int queue_init(struct adjust_queue *q, accrue *a, uint32_t cap)
{
	memset(q, 0, sizeof *q);
	q->a = a;
	q->cap = cap;
	q->arena_cap = (size_t)cap * 2 * (PROTO_MAX_REASON + 1);
	q->items = calloc(cap, sizeof *q->items);
	q->keys = calloc(cap, sizeof *q->keys);
	q->lines = calloc(cap, sizeof *q->lines);
	q->ordinals = calloc(cap, sizeof *q->ordinals);
	q->results = calloc(cap, sizeof *q->results);
	q->arena = malloc(q->arena_cap);
	return q->items && q->keys && q->lines && q->ordinals && q->results && q->arena ? 0 : -1;
}

static void queue_free(struct adjust_queue *q)
{
	free(q->items);
	free(q->keys);
	free(q->lines);
	free(q->ordinals);
	free(q->results);
	free(q->arena);
	memset(q, 0, sizeof *q);
}

static char *arena_keep(struct adjust_queue *q, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = q->arena + q->arena_len;

	memcpy(p, s, n);
	q->arena_len += n;
	return p;
}

/* Send what is queued; each item's outcome is counted (or marked on its line). 0, or -1 when the run stops. */
static int queue_flush(struct import_run *r, struct adjust_queue *q)
{
	uint32_t at = 0;

	while (at < q->n) {
		uint32_t sent = 0;
		int rc;

		if (import_interrupted) {
			if (r->kind == IMPORT_CUSTOMERS)
				for (uint32_t i = at; i < q->n; i++)
					r->state[q->ordinals[i]] |= LINE_UNSENT;
			q->n = 0;
			q->arena_len = 0;
			return -1;
		}
		rc = accrue_adjust_batch(q->a, q->n - at, (const uint8_t(*)[ACCRUE_KEY_SIZE])(q->keys + at),
					     q->items + at, q->results + at, &sent);

		if (rc != 0) {
			call_failed(r, q->a, rc, q->lines[at]);
			if (r->kind == IMPORT_CUSTOMERS)
				for (uint32_t i = at; i < q->n; i++)
					r->state[q->ordinals[i]] |= LINE_UNSENT;
			q->n = 0; /* marked: nothing is left for the caller to mark */
			q->arena_len = 0;
			return -1;
		}
		for (uint32_t i = at; i < at + sent; i++) {
			const struct accrue_batch_result *res = &q->results[i];
			if (res->status)
				refusal_print(r, q->lines[i], res->status, res->message);
			if (r->kind == IMPORT_CUSTOMERS) {
				/* Each worker marks only the lines it took. */
				if (res->status)
					r->state[q->ordinals[i]] |= LINE_REFUSED;
				else if (!res->replay)
					r->state[q->ordinals[i]] |= LINE_NEW;
				continue;
			}
			if (res->status)
				r->refused++;
			else if (res->replay)
				r->replayed++;
			else
				r->applied++;
		}
		at += sent;
		if (r->kind == IMPORT_ADJUSTMENTS) {
			pthread_mutex_lock(&r->lock);
			r->done += sent;
			progress_show_locked(r, 0);
			pthread_mutex_unlock(&r->lock);
		}
	}
	q->n = 0;
	q->arena_len = 0;
	return 0;
}

/* Queue one adjustment; the queue is sent when full. 0, or -1 when the run stops. */
static int queue_add(struct import_run *r, struct adjust_queue *q, const struct accrue_ref *ref, int64_t points,
		     const char *reason, const char *comment, const uint8_t key[ACCRUE_KEY_SIZE], uint32_t line,
		     uint32_t ordinal)
{
	struct accrue_adjustment *it;

	if (q->n == q->cap && queue_flush(r, q))
		return -1;
	it = &q->items[q->n];
	it->ref = *ref;
	it->points = points;
	it->reason = arena_keep(q, reason);
	it->comment = arena_keep(q, comment);
	memcpy(q->keys[q->n], key, ACCRUE_KEY_SIZE);
	q->lines[q->n] = line;
	q->ordinals[q->n] = ordinal;
	q->n++;
	return 0;
}

/* The sending pass of an adjustments file: one record. */
static int send_adjustment(void *ctx, const struct ctl_csv_record *rec)
{
	struct import_run *r = ctx;
	struct import_check quiet = {.path = r->path};
	struct import_line l;
	uint8_t key[ACCRUE_KEY_SIZE];

	if (import_interrupted)
		return 3;
	if (r->ordinal++ == 0)
		return 0; /* the header */
	/* Checked before, from the same bytes: it cannot fail now, but if it did, stop. */
	if (adjust_line_check(&quiet, rec, &l) != 0)
		return 2;
	line_key(DOMAIN_ADJUST, r->file_hash, rec->line, 0, key);
	return queue_add(r, &r->q, &l.ref, l.points, rec->fields[2], rec->fields[3], key, rec->line, 0) ? 1 : 0;
}

/* ---- customers: several connections ------------------------------------------ */

/*
 * ENROL and GROUP have no batch, and each waits for its commit: lines are
 * sent over CUSTOMER_CONNECTIONS connections at once, so that the daemon's
 * group commit carries many in one fsync. Each worker takes the next line
 * and does all of it (enrol, groups, opening balance) on its connection.
 * Lines never compete for one email or phone: the check refuses a file
 * that names one twice, so which worker gets there first does not matter.
 */
#define CUSTOMER_CONNECTIONS 8
#define CUSTOMER_QUEUE 1024

/* Keep a copy of the record's texts in the run's arena (sized for the whole file). */
static const char *text_keep(struct import_run *r, const char *s, size_t len)
{
	char *p = r->text + r->text_len;

	memcpy(p, s, len);
	p[len] = '\0';
	r->text_len += len + 1;
	return p;
}

/* The sending pass over a customers file: each line kept for the workers. */
static int customer_collect(void *ctx, const struct ctl_csv_record *rec)
{
	struct import_run *r = ctx;
	struct import_check quiet = {.path = r->path};
	struct import_line l;
	struct customer_line *cl;

	if (r->ordinal++ == 0)
		return 0; /* the header */
	if (r->ncust == r->total || customer_line_check(&quiet, rec, &l) != 0)
		return 2;
	cl = &r->cust[r->ncust++];
	cl->line = rec->line;
	cl->email = text_keep(r, rec->fields[0], rec->lens[0]);
	cl->phone = text_keep(r, rec->fields[1], rec->lens[1]);
	cl->first = text_keep(r, rec->fields[2], rec->lens[2]);
	cl->last = text_keep(r, rec->fields[3], rec->lens[3]);
	cl->groups = text_keep(r, rec->fields[4], rec->lens[4]);
	cl->points = l.points;
	return 0;
}

/* One customers line on connection q->a. 0, or -1 when the run stops. */
static int customer_send(struct import_run *r, struct adjust_queue *q, const struct customer_line *cl, uint32_t ord)
{
	char groups[ACCRUE_MAX_GROUPS][PROTO_MAX_GROUP + 1];
	struct accrue_customer cust;
	struct accrue_ref ref;
	uint8_t key[ACCRUE_KEY_SIZE];
	int replay = 0, ngroups = groups_split(cl->groups, groups), rc;

	line_key(DOMAIN_ENROL, r->file_hash, cl->line, 0, key);
	rc = accrue_enrol(q->a, key, cl->email, cl->phone, cl->first, cl->last, &cust, &replay);
	if (rc > 0) {
		refusal_print(r, cl->line, rc, accrue_message(q->a));
		r->state[ord] |= LINE_REFUSED;
		return 0;
	}
	if (rc < 0) {
		call_failed(r, q->a, rc, cl->line);
		r->state[ord] |= LINE_UNSENT;
		return -1;
	}
	if (!replay)
		r->state[ord] |= LINE_NEW;
	memset(&ref, 0, sizeof ref);
	ref.kind = ACCRUE_REF_ID;
	ref.id = cust.id;
	for (int g = 0; g < ngroups; g++) {
		line_key(DOMAIN_GROUP, r->file_hash, cl->line, (uint32_t)g, key);
		rc = accrue_group(q->a, key, &ref, 1, groups[g], NULL);
		if (rc > 0) {
			refusal_print(r, cl->line, rc, accrue_message(q->a));
			r->state[ord] |= LINE_REFUSED;
		} else if (rc < 0) {
			call_failed(r, q->a, rc, cl->line);
			r->state[ord] |= LINE_UNSENT;
			return -1;
		}
	}
	if (cl->points > 0) {
		line_key(DOMAIN_POINTS, r->file_hash, cl->line, 0, key);
		if (queue_add(r, q, &ref, cl->points, "import", "Opening balance", key, cl->line, ord))
			return -1;
	}
	return 0;
}

struct customer_worker {
	struct import_run *run;
	struct adjust_queue q;
	pthread_t thread;
	int started;
};

static void *customer_work(void *arg)
{
	struct customer_worker *w = arg;
	struct import_run *r = w->run;

	for (;;) {
		uint32_t i;

		pthread_mutex_lock(&r->lock);
		i = r->fatal || import_interrupted ? r->ncust : r->next++;
		pthread_mutex_unlock(&r->lock);
		if (i >= r->ncust || customer_send(r, &w->q, &r->cust[i], i))
			break;
		pthread_mutex_lock(&r->lock);
		r->done++;
		if (r->done % 64 == 0)
			progress_show_locked(r, 0);
		pthread_mutex_unlock(&r->lock);
	}
	if (!run_stopped(r) && !import_interrupted)
		queue_flush(r, &w->q);
	else
		for (uint32_t i = 0; i < w->q.n; i++)
			r->state[w->q.ordinals[i]] |= LINE_UNSENT;
	return NULL;
}

/* Send every line of a customers file, CUSTOMER_CONNECTIONS at a time. Returns 0, or 2 for a line read differently. */
static int customers_send(struct import_run *r, const struct ctl_csv_file *f)
{
	struct customer_worker w[CUSTOMER_CONNECTIONS];
	char key[PROTO_MAX_APIKEY + 1], msg[PROTO_MAX_MESSAGE + 64], why[600];
	uint32_t bad = 0, nw = r->total < CUSTOMER_CONNECTIONS ? r->total : CUSTOMER_CONNECTIONS;
	int rc;

	memset(w, 0, sizeof w);
	r->cust = calloc(r->total ? r->total : 1, sizeof *r->cust);
	r->text_cap = f->len + 6 * ((size_t)r->total + 1);
	r->text = malloc(r->text_cap);
	if (!r->cust || !r->text) {
		r->fatal = ctl_nomem();
		return 0;
	}
	rc = ctl_csv_each(f->data, f->len, customer_collect, r, &bad, why, sizeof why);
	if (rc != 0)
		return 2;
	if (accrue_key_file_read(r->c->key_file, key, sizeof key, msg, sizeof msg) != 0) {
		fprintf(stderr, "accruectl: %s\n", msg);
		r->fatal = CTL_EXIT_IO;
		return 0;
	}
	for (uint32_t i = 0; i < nw && !r->fatal; i++) {
		accrue *a = r->c->a;

		w[i].run = r;
		/* The first worker uses the session's connection; each other opens its own. */
		if (i > 0 && (rc = accrue_connect_message(r->c->server, key, &a, msg, sizeof msg)) != 0) {
			fprintf(stderr, "accruectl: %s\n", *msg ? msg : accrue_strerror(rc));
			r->fatal = rc > 0 ? CTL_EXIT_REFUSED : CTL_EXIT_IO;
			break;
		}
		if (queue_init(&w[i].q, a, CUSTOMER_QUEUE) != 0) {
			if (i > 0)
				accrue_close(a);
			r->fatal = ctl_nomem();
			break;
		}
	}
	memset(key, 0, sizeof key);
	for (uint32_t i = 0; i < nw && !r->fatal; i++)
		w[i].started = pthread_create(&w[i].thread, NULL, customer_work, &w[i]) == 0;
	for (uint32_t i = 0; i < nw; i++) {
		if (w[i].started)
			pthread_join(w[i].thread, NULL);
		if (i > 0 && w[i].q.a)
			accrue_close(w[i].q.a);
		queue_free(&w[i].q);
	}
	/* A worker that could not start leaves lines unsent: do them here, on the session's connection. */
	if (!r->fatal && !import_interrupted && r->next < r->ncust) {
		struct customer_worker last = {.run = r};
		if (queue_init(&last.q, r->c->a, CUSTOMER_QUEUE) != 0) {
			r->fatal = ctl_nomem();
			return 0;
		}
		customer_work(&last);
		queue_free(&last.q);
	}
	return 0;
}

static void run_free(struct import_run *r)
{
	queue_free(&r->q);
	free(r->state);
	free(r->cust);
	free(r->text);
}

/* ---- the commands --------------------------------------------------------- */

static void summary_print(const struct ctl *c, const struct import_run *r, int dry_run, const struct import_check *k)
{
	if (c->json) {
		printf("{\"file\":");
		out_json_str(r->path);
		printf(",\"lines\":%" PRIu32 ",\"dry_run\":%s,\"applied\":%" PRIu64 ",\"already_applied\":%" PRIu64
		       ",\"refused\":%" PRIu64 ",\"not_sent\":%" PRIu32 "}\n",
		       k->lines, dry_run ? "true" : "false", r->applied, r->replayed, r->refused,
		       k->lines - (uint32_t)(r->applied + r->replayed + r->refused));
		return;
	}
	if (dry_run) {
		if (r->kind == IMPORT_ADJUSTMENTS)
			printf("%s: %" PRIu32 " adjustments checked: would add %" PRId64 " points and use %" PRId64
			       " points; dry run, nothing sent\n",
			       r->path, k->lines, k->added, k->used);
		else
			printf("%s: %" PRIu32 " customers checked: would enrol %" PRIu32
			       ", with opening balances of %" PRId64 " points and %" PRIu64
			       " group memberships in all; dry run, nothing sent\n",
			       r->path, k->lines, k->lines, k->added, k->group_adds);
		return;
	}
	printf("%" PRIu64 " applied, %" PRIu64 " already applied, %" PRIu64 " refused\n", r->applied, r->replayed,
	       r->refused);
}

static int import_run(struct ctl *c, int argc, char **argv, enum import_kind kind)
{
	static const char *const names[] = {"FILE"};
	const char *pos[1];
	char why[600];
	int dry_run = 0, rc;
	uint32_t line = 0;
	struct ctl_csv_file f = {0};
	struct import_check k = {0};
	struct import_run r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	const struct ctl_flag flags[] = {{"dry-run", &dry_run}, {NULL, NULL}};

	rc = ctl_args_parse_all(c, argc, argv, NULL, NULL, flags, pos, names, 1, 1);
	if (rc != 0)
		goto done;
	if (ctl_csv_file_read(pos[0], &f, why, sizeof why) != 0) {
		fprintf(stderr, "accruectl: %s\n", why);
		rc = CTL_EXIT_IO;
		goto done;
	}
	k.path = pos[0];
	k.kind = kind;
	rc = ctl_csv_each(f.data, f.len, check_record, &k, &line, why, sizeof why);
	if (rc < 0)
		bad_line(&k, line, "%s", why);
	if (kind == IMPORT_CUSTOMERS && rc == 0)
		idents_check(&k);
	if (!k.header_seen && !k.bad)
		bad_line(&k, 1, "the file is empty; its first line must be the header: %s",
			 kind == IMPORT_ADJUSTMENTS ? ADJUST_HEADER : CUSTOMER_HEADER);
	if (k.bad) {
		if (k.bad > BAD_LINES_SHOWN)
			fprintf(stderr, "%s: ... and %" PRIu32 " more bad lines\n", k.path, k.bad - BAD_LINES_SHOWN);
		fprintf(stderr, "accruectl: %s: %" PRIu32 " bad line%s; nothing was sent\n", k.path, k.bad,
			k.bad == 1 ? "" : "s");
		rc = CTL_EXIT_USAGE;
		goto done;
	}
	r.c = c;
	r.path = pos[0];
	r.file_hash = f.hash;
	r.kind = kind;
	r.total = k.lines;
	if (dry_run) {
		summary_print(c, &r, 1, &k);
		rc = CTL_EXIT_DONE;
		goto done;
	}
	r.state = calloc(r.total ? r.total : 1, 1);
	if (!r.state) {
		rc = ctl_nomem();
		goto done;
	}
	r.progress = isatty(STDERR_FILENO);
	if ((rc = ctl_session_open(c)) != 0)
		goto done;
	/* The server refuses ADJUST_BATCH and GROUP to other keys, but a
	 * terminal key may ENROL: say no before anything is sent. */
	if (accrue_role(c->a) != ACCRUE_ROLE_ADMIN) {
		fprintf(stderr, "accruectl: forbidden: import needs an admin key; nothing was sent\n");
		rc = CTL_EXIT_REFUSED;
		goto done;
	}
	interrupt_catch();
	if (kind == IMPORT_ADJUSTMENTS) {
		if (queue_init(&r.q, c->a, QUEUE_MAX) != 0) {
			rc = ctl_nomem();
			goto done;
		}
		rc = ctl_csv_each(f.data, f.len, send_adjustment, &r, &line, why, sizeof why);
		if (rc == 0 || rc == 3)
			queue_flush(&r, &r.q);
	} else {
		rc = customers_send(&r, &f);
		for (uint32_t i = 0; i < r.ncust && i < r.next; i++) {
			if (r.state[i] & LINE_UNSENT)
				continue; /* not_sent */
			if (r.state[i] & LINE_REFUSED)
				r.refused++;
			else if (r.state[i] & LINE_NEW)
				r.applied++;
			else
				r.replayed++;
		}
	}
	if (rc == 2) {
		fprintf(stderr, "accruectl: %s: a line read differently the second time; nothing more was sent\n", r.path);
		r.fatal = CTL_EXIT_IO;
	}
	if (!r.fatal && !import_interrupted)
		progress_show_locked(&r, 1);
	else if (r.progress)
		fputc('\n', stderr);
	summary_print(c, &r, 0, &k);
	if (r.fatal) {
		fprintf(stderr, "accruectl: %s: stopped at line %" PRIu32 "; run the same file again to send the rest\n",
			r.path, r.fatal_line);
		rc = r.fatal;
	} else if (import_interrupted) {
		fprintf(stderr, "accruectl: %s: interrupted; run the same file again to send the rest\n", r.path);
		rc = CTL_EXIT_INTERRUPTED;
	} else {
		rc = r.refused ? CTL_EXIT_REFUSED : CTL_EXIT_DONE;
	}
done:
	run_free(&r);
	free(k.ids);
	ctl_csv_file_free(&f);
	return rc;
}

int ctl_cmd_import_adjustments(struct ctl *c, int argc, char **argv)
{
	return import_run(c, argc, argv, IMPORT_ADJUSTMENTS);
}

int ctl_cmd_import_customers(struct ctl *c, int argc, char **argv)
{
	return import_run(c, argc, argv, IMPORT_CUSTOMERS);
}
