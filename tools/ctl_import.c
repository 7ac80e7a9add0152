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
	"are kept, lines end in LF or CRLF, a UTF-8 byte order mark is allowed.\n"
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
	"                import did not create is refused (conflict).\n"
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
	"the connection is lost (run the same file again).\n";

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
	}
	return 0;
}

/* ---- sending ------------------------------------------------------------- */

/* Per data line of a customers import: what happened to it. */
enum line_state {
	LINE_NEW = 1,     /* some part of it was applied by this run */
	LINE_REFUSED = 2, /* some part of it was refused */
};

/*
 * Adjustments waiting to be sent, with their keys and lines; the reason and
 * comment texts live in arena, which is emptied with the queue.
 */
#define QUEUE_MAX ACCRUE_MAX_BATCH
#define ARENA_CAP ((size_t)QUEUE_MAX * 2 * (PROTO_MAX_REASON + 1))

struct import_run {
	struct ctl *c;
	const char *path;
	const uint8_t *file_hash;
	enum import_kind kind;
	int progress; /* stderr is a terminal */
	uint32_t total, done;
	uint64_t applied, replayed, refused;
	uint8_t *state;  /* customers: enum line_state per data line */
	uint32_t ordinal; /* records seen by the sending pass, the header included */
	int fatal;        /* exit status of a call that failed as a whole */
	uint32_t fatal_line;
	/* the queue */
	struct accrue_adjustment *items;
	uint8_t (*keys)[ACCRUE_KEY_SIZE];
	uint32_t *lines, *ordinals;
	struct accrue_batch_result *results;
	uint32_t n;
	char *arena;
	size_t arena_len;
};

static void progress_show(struct import_run *r, int last)
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
static void refusal_print(const struct import_run *r, uint32_t line, int status, const char *message)
{
	char name[32];

	if (r->progress)
		fputc('\n', stderr);
	fprintf(stderr, "%s:%" PRIu32 ": %s: %s\n", r->path, line, ctl_status_name(status, name, sizeof name), message);
}

static char *arena_keep(struct import_run *r, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = r->arena + r->arena_len;

	memcpy(p, s, n);
	r->arena_len += n;
	return p;
}

/* Send what is queued; each item's outcome is counted (or marked on its line). Returns 0 or sets r->fatal. */
static int queue_flush(struct import_run *r)
{
	uint32_t at = 0;

	while (at < r->n) {
		uint32_t sent = 0;
		int rc = accrue_adjust_batch(r->c->a, r->n - at, (const uint8_t(*)[ACCRUE_KEY_SIZE])(r->keys + at),
					     r->items + at, r->results + at, &sent);

		if (rc != 0) {
			if (r->progress)
				fputc('\n', stderr);
			r->fatal = ctl_call_failed(r->c, rc);
			r->fatal_line = r->lines[at];
			return -1;
		}
		for (uint32_t i = at; i < at + sent; i++) {
			const struct accrue_batch_result *res = &r->results[i];
			if (r->kind == IMPORT_ADJUSTMENTS) {
				if (res->status)
					r->refused++;
				else if (res->replay)
					r->replayed++;
				else
					r->applied++;
				r->done++;
			} else if (res->status) {
				r->state[r->ordinals[i]] |= LINE_REFUSED;
			} else if (!res->replay) {
				r->state[r->ordinals[i]] |= LINE_NEW;
			}
			if (res->status)
				refusal_print(r, r->lines[i], res->status, res->message);
		}
		at += sent;
		progress_show(r, 0);
	}
	r->n = 0;
	r->arena_len = 0;
	return 0;
}

/* Queue one adjustment; the queue is sent when full. 0, or -1 with r->fatal set. */
static int queue_add(struct import_run *r, const struct accrue_ref *ref, int64_t points, const char *reason,
		     const char *comment, const uint8_t key[ACCRUE_KEY_SIZE], uint32_t line, uint32_t ordinal)
{
	struct accrue_adjustment *it;

	if (r->n == QUEUE_MAX && queue_flush(r))
		return -1;
	it = &r->items[r->n];
	it->ref = *ref;
	it->points = points;
	it->reason = arena_keep(r, reason);
	it->comment = arena_keep(r, comment);
	memcpy(r->keys[r->n], key, ACCRUE_KEY_SIZE);
	r->lines[r->n] = line;
	r->ordinals[r->n] = ordinal;
	r->n++;
	return 0;
}

/* The sending pass of an adjustments file: one record. */
static int send_adjustment(void *ctx, const struct ctl_csv_record *rec)
{
	struct import_run *r = ctx;
	struct import_check quiet = {.path = r->path};
	struct import_line l;
	uint8_t key[ACCRUE_KEY_SIZE];

	if (r->ordinal++ == 0)
		return 0; /* the header */
	/* Checked before, from the same bytes: it cannot fail now, but if it did, stop. */
	if (adjust_line_check(&quiet, rec, &l) != 0)
		return 2;
	line_key(DOMAIN_ADJUST, r->file_hash, rec->line, 0, key);
	return queue_add(r, &l.ref, l.points, rec->fields[2], rec->fields[3], key, rec->line, 0) ? 1 : 0;
}

/* The sending pass of a customers file: one record, enrolled and put in its groups; its points are queued. */
static int send_customer(void *ctx, const struct ctl_csv_record *rec)
{
	struct import_run *r = ctx;
	struct import_check quiet = {.path = r->path};
	struct import_line l;
	struct accrue_customer cust;
	struct accrue_ref ref;
	uint8_t key[ACCRUE_KEY_SIZE];
	uint32_t ord;
	int replay = 0, rc;

	if (r->ordinal++ == 0)
		return 0; /* the header */
	ord = r->ordinal - 2;
	if (customer_line_check(&quiet, rec, &l) != 0)
		return 2;
	line_key(DOMAIN_ENROL, r->file_hash, rec->line, 0, key);
	rc = accrue_enrol(r->c->a, key, rec->fields[0], rec->fields[1], rec->fields[2], rec->fields[3], &cust, &replay);
	if (rc > 0) {
		refusal_print(r, rec->line, rc, accrue_message(r->c->a));
		r->state[ord] |= LINE_REFUSED;
		return 0;
	}
	if (rc < 0) {
		r->fatal = ctl_call_failed(r->c, rc);
		r->fatal_line = rec->line;
		return 1;
	}
	if (!replay)
		r->state[ord] |= LINE_NEW;
	memset(&ref, 0, sizeof ref);
	ref.kind = ACCRUE_REF_ID;
	ref.id = cust.id;
	for (int g = 0; g < l.ngroups; g++) {
		line_key(DOMAIN_GROUP, r->file_hash, rec->line, (uint32_t)g, key);
		rc = accrue_group(r->c->a, key, &ref, 1, l.groups[g], NULL);
		if (rc > 0) {
			refusal_print(r, rec->line, rc, accrue_message(r->c->a));
			r->state[ord] |= LINE_REFUSED;
		} else if (rc < 0) {
			r->fatal = ctl_call_failed(r->c, rc);
			r->fatal_line = rec->line;
			return 1;
		}
	}
	if (l.points > 0) {
		line_key(DOMAIN_POINTS, r->file_hash, rec->line, 0, key);
		if (queue_add(r, &ref, l.points, "import", "Opening balance", key, rec->line, ord))
			return 1;
	}
	r->done++;
	if (r->progress && r->done % 64 == 0)
		progress_show(r, 0);
	return 0;
}

static int run_alloc(struct import_run *r)
{
	r->items = calloc(QUEUE_MAX, sizeof *r->items);
	r->keys = calloc(QUEUE_MAX, sizeof *r->keys);
	r->lines = calloc(QUEUE_MAX, sizeof *r->lines);
	r->ordinals = calloc(QUEUE_MAX, sizeof *r->ordinals);
	r->results = calloc(QUEUE_MAX, sizeof *r->results);
	r->arena = malloc(ARENA_CAP);
	r->state = calloc(r->total ? r->total : 1, 1);
	return r->items && r->keys && r->lines && r->ordinals && r->results && r->arena && r->state ? 0 : -1;
}

static void run_free(struct import_run *r)
{
	free(r->items);
	free(r->keys);
	free(r->lines);
	free(r->ordinals);
	free(r->results);
	free(r->arena);
	free(r->state);
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
	char **args = calloc((size_t)argc + 1, sizeof *args);
	char why[600];
	int nargs = 0, dry_run = 0, rc;
	uint32_t line = 0;
	struct ctl_csv_file f = {0};
	struct import_check k = {0};
	struct import_run r = {0};

	if (!args)
		return ctl_nomem();
	/* --dry-run takes no value, which ctl_args_parse does not know: take it out first. */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				args[nargs++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--dry-run") == 0)
			dry_run = 1;
		else
			args[nargs++] = argv[i];
	}
	rc = ctl_args_parse(c, nargs, args, NULL, pos, names, 1, 1);
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
	if (run_alloc(&r) != 0) {
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
	rc = ctl_csv_each(f.data, f.len, kind == IMPORT_ADJUSTMENTS ? send_adjustment : send_customer, &r, &line, why,
			  sizeof why);
	if (rc == 0 && queue_flush(&r) == 0)
		progress_show(&r, 1);
	if (rc == 2) {
		fprintf(stderr, "accruectl: %s: a line read differently the second time; nothing more was sent\n", r.path);
		r.fatal = CTL_EXIT_IO;
	}
	if (kind == IMPORT_CUSTOMERS) {
		for (uint32_t i = 0; i < r.total && i + 1 < r.ordinal; i++) {
			if (r.state[i] & LINE_REFUSED)
				r.refused++;
			else if (r.state[i] & LINE_NEW)
				r.applied++;
			else
				r.replayed++;
		}
	}
	summary_print(c, &r, 0, &k);
	if (r.fatal) {
		fprintf(stderr, "accruectl: %s: stopped at line %" PRIu32 "; run the same file again to send the rest\n",
			r.path, r.fatal_line);
		rc = r.fatal;
	} else {
		rc = r.refused ? CTL_EXIT_REFUSED : CTL_EXIT_DONE;
	}
done:
	run_free(&r);
	ctl_csv_file_free(&f);
	free(args);
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
