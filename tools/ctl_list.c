/*
 * ctl_list.c - accruectl's customer book: customers (a page, or every page,
 * as a table, JSON or CSV) and export customers (every matching customer
 * to a CSV file, page by page in constant memory).
 */
#include "ctl.h"
#include "proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIST_DEFAULT_LIMIT 50
#define EXPORT_PAGE 1000

/* The filters and order both commands take, as typed. */
struct list_args {
	const char *search, *group, *tier, *min, *max, *sort, *limit, *after, *output;
	int members, guests, opted_out, opted_in, all, csv;
};

/* Check the typed filters and fill q. Returns 0 or CTL_EXIT_USAGE after saying why. */
static int query_make(struct ctl *c, const struct list_args *la, int default_sort, int default_desc,
		      struct accrue_customer_query *q)
{
	memset(q, 0, sizeof *q);
	q->search = la->search;
	q->group = la->group;
	q->tier = la->tier;
	if (la->members && la->guests)
		return ctl_usage_error(c, "--members and --guests exclude each other");
	q->members = la->members ? 1 : la->guests ? 2 : 0;
	if (la->opted_out && la->opted_in)
		return ctl_usage_error(c, "--opted-out and --opted-in exclude each other");
	q->opted_out = la->opted_out ? 1 : la->opted_in ? 2 : 0;
	if (la->min) {
		if (ctl_int_parse(la->min, &q->min_points) != 0)
			return ctl_usage_error(c, "--min-points must be a whole number of points, not '%s'", la->min);
		q->has_min_points = 1;
	}
	if (la->max) {
		if (ctl_int_parse(la->max, &q->max_points) != 0)
			return ctl_usage_error(c, "--max-points must be a whole number of points, not '%s'", la->max);
		q->has_max_points = 1;
	}
	if (q->has_min_points && q->has_max_points && q->min_points > q->max_points)
		return ctl_usage_error(c, "--min-points %s is above --max-points %s", la->min, la->max);
	q->sort = default_sort;
	q->descending = default_desc;
	if (la->sort) {
		char field[32];
		const char *colon = strchr(la->sort, ':');
		size_t n = colon ? (size_t)(colon - la->sort) : strlen(la->sort);

		if (n >= sizeof field)
			n = sizeof field - 1;
		memcpy(field, la->sort, n);
		field[n] = '\0';
		q->sort = accrue_sort_parse(field);
		if (!q->sort)
			return ctl_usage_error(c,
					       "unknown sort field '%s': id, created, last-visit, balance, lifetime, "
					       "visits, spend, average-spend, name or email",
					       field);
		/* Without a direction: names and emails A to Z, numbers and times largest first. */
		q->descending = q->sort != ACCRUE_SORT_NAME && q->sort != ACCRUE_SORT_EMAIL;
		if (colon && strcmp(colon, ":asc") == 0)
			q->descending = 0;
		else if (colon && strcmp(colon, ":desc") == 0)
			q->descending = 1;
		else if (colon)
			return ctl_usage_error(c, "a sort direction is :asc or :desc, not '%s'", colon);
	}
	q->limit = LIST_DEFAULT_LIMIT;
	if (la->limit) {
		uint64_t v;

		if (ctl_uint_parse(la->limit, ACCRUE_MAX_PAGE, &v) != 0)
			return ctl_usage_error(c, "--limit must be 1 to %d", ACCRUE_MAX_PAGE);
		q->limit = (uint32_t)v;
	}
	q->after = la->after;
	return 0;
}

/* ---- one customer as a row ------------------------------------------------------ */

static void groups_join(const struct accrue_customer *cu, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < cu->ngroups && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ";" : "", cu->groups[i]);
}

static void name_join(const struct accrue_customer *cu, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%s", cu->first_name, cu->first_name[0] && cu->last_name[0] ? " " : "",
		 cu->last_name);
}

/* The CSV columns, the header row and each customer's row (export and customers --csv). */
static const char *const csv_heads[] = {"id",	   "email",	     "phone",  "first_name",
					"last_name", "member",	     "groups", "tier",
					"balance",   "lifetime_points", "visits", "total_spend",
					"average_spend", "created",	     "last_visit", "opted_out", "cards"};

static void csv_header(FILE *f)
{
	for (size_t i = 0; i < sizeof csv_heads / sizeof *csv_heads; i++)
		out_csv_plain(f, csv_heads[i], i == 0);
	out_csv_end(f);
}

static void csv_row(FILE *f, const struct accrue_customer *cu)
{
	char buf[ACCRUE_MAX_GROUPS * 74 + 1];

	snprintf(buf, sizeof buf, "%" PRIu64, cu->id);
	out_csv_plain(f, buf, 1);
	out_csv_text(f, cu->email, 0);
	out_csv_plain(f, cu->phone, 0); /* '+' and digits: no formula, and it must stay importable */
	out_csv_text(f, cu->first_name, 0);
	out_csv_text(f, cu->last_name, 0);
	out_csv_plain(f, cu->member ? "1" : "0", 0);
	groups_join(cu, buf, sizeof buf);
	out_csv_text(f, buf, 0);
	out_csv_text(f, cu->tier, 0);
	snprintf(buf, sizeof buf, "%" PRId64, cu->balance);
	out_csv_plain(f, buf, 0);
	snprintf(buf, sizeof buf, "%" PRId64, cu->lifetime_points);
	out_csv_plain(f, buf, 0);
	snprintf(buf, sizeof buf, "%" PRIu64, cu->visits);
	out_csv_plain(f, buf, 0);
	out_money_format(buf, sizeof buf, cu->total_spend);
	out_csv_plain(f, buf, 0);
	out_money_format(buf, sizeof buf, cu->average_spend);
	out_csv_plain(f, buf, 0);
	out_time_format(buf, sizeof buf, cu->created_us);
	out_csv_plain(f, buf, 0);
	out_time_format(buf, sizeof buf, cu->last_visit_us);
	out_csv_plain(f, buf, 0);
	out_csv_plain(f, cu->opted_out ? "1" : "0", 0);
	{
		size_t len = 0;

		buf[0] = '\0';
		for (int i = 0; i < cu->ncards && len < sizeof buf; i++)
			len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? ";" : "", cu->cards[i]);
		out_csv_text(f, buf, 0);
	}
	out_csv_end(f);
}

static void table_row(struct out_table *t, const struct accrue_customer *cu)
{
	char id[24], name[210], balance[24], visits[24], spend[32], last[32];
	const char *cells[8];

	snprintf(id, sizeof id, "#%" PRIu64, cu->id);
	name_join(cu, name, sizeof name);
	snprintf(balance, sizeof balance, "%" PRId64, cu->balance);
	snprintf(visits, sizeof visits, "%" PRIu64, cu->visits);
	out_money_format(spend, sizeof spend, cu->total_spend);
	out_time_format(last, sizeof last, cu->last_visit_us);
	cells[0] = id;
	cells[1] = name;
	cells[2] = cu->email;
	cells[3] = cu->phone;
	cells[4] = balance;
	cells[5] = visits;
	cells[6] = spend;
	cells[7] = last;
	out_table_row(t, cells);
}

/* ---- customers ------------------------------------------------------------------ */

const char ctl_help_customers[] =
	"Usage: accruectl customers [--search TEXT] [--group G] [--tier T] [--members|--guests]\n"
	"                           [--opted-out|--opted-in] [--min-points N] [--max-points N]\n"
	"                           [--sort FIELD[:asc|:desc]] [--limit N] [--after CURSOR] [--all]\n"
	"                           [--json|--csv]\n"
	"\n"
	"List the customers, guests and those with 0 points included: by default\n"
	"the newest first, 50 to a page, with how many match in all.\n"
	"\n"
	"  --search TEXT    any part of the first name, last name or email, without\n"
	"                   regard to case (ASCII letters); or, when TEXT is a phone\n"
	"                   number typed any way (\"555 010\", \"(555) 010-0002\"), its digits\n"
	"  --group G        in group G          --tier T    in tier T\n"
	"  --members        members only        --guests    guests only\n"
	"  --opted-out      opted out of marketing; --opted-in: not opted out\n"
	"  --min-points N, --max-points N       balance at least / at most N\n"
	"  --sort FIELD     id, created, last-visit, balance, lifetime, visits, spend,\n"
	"                   average-spend, name (last, then first) or email; :asc or\n"
	"                   :desc after it (default: name and email A to Z, the rest\n"
	"                   largest first; without --sort, created:desc)\n"
	"  --limit N        rows in a page, 1 to 1000 (default 50)\n"
	"  --after CURSOR   the page after the one that printed this cursor\n"
	"  --all            every page, one after another\n"
	"  --csv            CSV (as export customers writes it) instead of a table\n"
	"\n"
	"A page ends with the cursor of the next one. Walking the pages sorted by\n"
	"id or created shows every customer who existed throughout exactly once,\n"
	"whatever sales and enrolments happen meanwhile; sorted by a value that\n"
	"sales change (balance, visits, spend, last visit), a customer whose value\n"
	"moves across the cursor between two pages can show twice or not at all.\n"
	"\n"
	"Admin and read-only keys; a terminal key may not list the customer base.\n";

static int list_run(struct ctl *c, const struct list_args *la, struct accrue_customer_query *q)
{
	struct accrue_customer *rows = calloc(q->limit, sizeof *rows);
	struct accrue_customer_page page;
	struct out_table t = {
		.ncols = 8,
		.heads = {"ID", "NAME", "EMAIL", "PHONE", "BALANCE", "VISITS", "SPEND", "LAST VISIT"},
		.right = {0, 0, 0, 0, 1, 1, 1, 0},
	};
	char after[ACCRUE_MAX_CURSOR + 1] = "";
	uint64_t total = ACCRUE_TOTAL_UNKNOWN, shown = 0;
	int rc = 0, first = 1;

	if (!rows)
		return ctl_nomem();
	for (;;) {
		q->want_total = first;
		rc = accrue_customers(c->a, q, rows, q->limit, &page);
		if (rc != 0)
			break;
		if (first)
			total = page.total;
		/* Only once a page came: a refusal prints its own document, or nothing on stdout. */
		if (first && la->csv)
			csv_header(stdout);
		else if (first && c->json)
			fputs("{\"customers\":[", stdout);
		for (uint32_t i = 0; i < page.count; i++) {
			if (la->csv)
				csv_row(stdout, &rows[i]);
			else if (c->json) {
				if (shown + i)
					putchar(',');
				ctl_customer_print_json(&rows[i]);
			} else {
				table_row(&t, &rows[i]);
			}
		}
		shown += page.count;
		first = 0;
		if (!la->all || !page.next[0])
			break;
		snprintf(after, sizeof after, "%s", page.next);
		q->after = after;
	}
	free(rows);
	if (rc != 0) {
		out_table_free(&t);
		if (c->json && !first)
			fputs("]}\n", stdout); /* close what the pages before printed */
		return ctl_call_failed(c, rc);
	}
	if (la->csv)
		return 0;
	if (c->json) {
		printf("],\"total\":%" PRIu64 ",\"next\":", total);
		if (page.next[0] && !la->all)
			out_json_str(page.next);
		else
			fputs("null", stdout);
		fputs("}\n", stdout);
		return 0;
	}
	if ((rc = ctl_table_finish(&t, "no customers match")) != 0)
		return rc;
	printf("%" PRIu64 " of %" PRIu64 " customer%s\n", shown, total, total == 1 ? "" : "s");
	if (page.next[0] && !la->all)
		printf("next page: --after %s\n", page.next);
	return 0;
}

#define LIST_OPTIONS(la)                                                                                   \
	{"search", &(la).search}, {"group", &(la).group}, {"tier", &(la).tier}, {"min-points", &(la).min}, \
		{"max-points", &(la).max}, {"sort", &(la).sort}

#define LIST_FLAGS(la)                                                                                       \
	{"members", &(la).members}, {"guests", &(la).guests}, {"opted-out", &(la).opted_out},               \
		{"opted-in", &(la).opted_in}

int ctl_cmd_customers(struct ctl *c, int argc, char **argv)
{
	struct list_args la = {0};
	const struct ctl_option opts[] = {LIST_OPTIONS(la), {"limit", &la.limit}, {"after", &la.after}, {NULL, NULL}};
	const struct ctl_flag flags[] = {LIST_FLAGS(la), {"all", &la.all}, {"csv", &la.csv}, {NULL, NULL}};
	struct accrue_customer_query q;
	int rc;

	rc = ctl_args_parse_all(c, argc, argv, opts, NULL, flags, NULL, NULL, 0, 0);
	if (rc != 0)
		return rc;
	if (la.csv && c->json)
		return ctl_usage_error(c, "--csv and --json exclude each other");
	if ((rc = query_make(c, &la, ACCRUE_SORT_CREATED, 1, &q)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	return list_run(c, &la, &q);
}

/* ---- export customers ----------------------------------------------------------- */

static FILE *output_open(const char *path, char *part, size_t cap)
{
	FILE *f;

	if (!path)
		return stdout;
	snprintf(part, cap, "%s.part", path);
	f = fopen(part, "w");
	if (!f)
		fprintf(stderr, "accruectl: cannot write %s: %m\n", part);
	return f;
}

/* Make the file whole (written, synced, renamed over path), or remove it. Returns 0 or CTL_EXIT_IO. */
static int output_close(FILE *f, const char *path, const char *part, int ok)
{
	if (f == stdout)
		return 0;
	if (ok && (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f))) {
		fprintf(stderr, "accruectl: cannot write %s: %m\n", part);
		ok = 0;
	}
	fclose(f);
	if (ok && rename(part, path) != 0) {
		fprintf(stderr, "accruectl: cannot rename %s to %s: %m\n", part, path);
		ok = 0;
	}
	if (!ok) {
		unlink(part);
		return CTL_EXIT_IO;
	}
	return 0;
}

const char ctl_help_export[] =
	"Usage: accruectl export customers [the filters of customers] [--sort FIELD[:asc|:desc]]\n"
	"                                  [--output FILE]\n"
	"       accruectl export customer REF [--output FILE]\n"
	"\n"
	"Write every customer that matches the filters (all of them without any)\n"
	"as RFC 4180 CSV with a header row:\n"
	"  id, email, phone, first_name, last_name, member, groups (separated by ;),\n"
	"  tier, balance, lifetime_points, visits, total_spend, average_spend,\n"
	"  created, last_visit, opted_out (1: opted out of marketing), cards\n"
	"  (loyalty card numbers, separated by ;)\n"
	"in id order unless --sort says otherwise, to FILE (written whole to\n"
	"FILE.part, then renamed) or to standard output. Pages of 1000 are fetched\n"
	"one after another, so memory stays constant whatever the size of the\n"
	"book; a progress bar shows on standard error when it is a terminal.\n"
	"A text that a spreadsheet would run as a formula (starting with =, +, -,\n"
	"@) is written with a ' before it. Admin and read-only keys.\n"
	"\n"
	"export customer writes one person's data, for a data access request: the\n"
	"header and row above for that customer, an empty line, then their whole\n"
	"point history, newest first, under the header\n"
	"  seq, type, time, points, balance_after, amount, location, order_id,\n"
	"  detail (what happened: \"tier gold\", \"card 1234 linked\"),\n"
	"  reason (the internal note), comment (what the customer sees)\n";

static void progress(uint64_t done, uint64_t total, int final)
{
	int width = 40, fill;

	if (total == ACCRUE_TOTAL_UNKNOWN || total == 0)
		return;
	fill = (int)(done * (uint64_t)width / total);
	fprintf(stderr, "\r[%.*s%*s] %" PRIu64 "/%" PRIu64 "%s", fill, "########################################",
		width - fill, "", done, total, final ? "\n" : "");
	fflush(stderr);
}

int ctl_cmd_export_customers(struct ctl *c, int argc, char **argv)
{
	struct list_args la = {0};
	const struct ctl_option opts[] = {LIST_OPTIONS(la), {"output", &la.output}, {NULL, NULL}};
	const struct ctl_flag flags[] = {LIST_FLAGS(la), {NULL, NULL}};
	struct accrue_customer_query q;
	struct accrue_customer_page page;
	struct accrue_customer *rows = NULL;
	char after[ACCRUE_MAX_CURSOR + 1] = "", part[4096] = "";
	uint64_t total = 0, done = 0;
	int rc, bar = isatty(2);
	FILE *f;

	rc = ctl_args_parse_all(c, argc, argv, opts, NULL, flags, NULL, NULL, 0, 0);
	if (rc != 0)
		return rc;
	if ((rc = query_make(c, &la, ACCRUE_SORT_ID, 0, &q)) != 0)
		return rc;
	if (!la.sort)
		q.descending = 0;
	q.limit = EXPORT_PAGE;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rows = calloc(EXPORT_PAGE, sizeof *rows);
	if (!rows)
		return ctl_nomem();
	f = output_open(la.output, part, sizeof part);
	if (!f) {
		free(rows);
		return CTL_EXIT_IO;
	}
	for (int first = 1;; first = 0) {
		q.want_total = first && bar;
		rc = accrue_customers(c->a, &q, rows, EXPORT_PAGE, &page);
		if (rc != 0)
			break;
		if (first) {
			/* Only once the server has answered: a refusal writes no CSV at all. */
			csv_header(f);
			total = page.total;
		}
		for (uint32_t i = 0; i < page.count; i++)
			csv_row(f, &rows[i]);
		done += page.count;
		if (bar)
			progress(done, total, !page.next[0]);
		if (!page.next[0])
			break;
		snprintf(after, sizeof after, "%s", page.next);
		q.after = after;
	}
	free(rows);
	if (rc != 0) {
		output_close(f, la.output, part, 0);
		return ctl_call_failed(c, rc);
	}
	if ((rc = output_close(f, la.output, part, 1)) != 0)
		return rc;
	if (la.output)
		fprintf(stderr, "accruectl: %" PRIu64 " customer%s written to %s\n", done, done == 1 ? "" : "s",
			la.output);
	return 0;
}

/* ---- export customer: one person's data ------------------------------------------------ */

static void entry_row(FILE *f, const struct accrue_entry *e)
{
	char buf[48];

	snprintf(buf, sizeof buf, "%" PRIu64, e->seq);
	out_csv_plain(f, buf, 1);
	out_csv_text(f, proto_entry_type_name(e->type), 0);
	out_time_format(buf, sizeof buf, e->time_us);
	out_csv_plain(f, buf, 0);
	snprintf(buf, sizeof buf, "%" PRId64, e->points);
	out_csv_plain(f, buf, 0);
	snprintf(buf, sizeof buf, "%" PRId64, e->balance_after);
	out_csv_plain(f, buf, 0);
	out_money_format(buf, sizeof buf, e->amount);
	out_csv_plain(f, buf, 0);
	out_csv_text(f, e->location, 0);
	out_csv_text(f, e->order_id, 0);
	out_csv_text(f, e->detail, 0);
	out_csv_text(f, e->reason, 0);
	out_csv_text(f, e->comment, 0);
	out_csv_end(f);
}

int ctl_cmd_export_customer(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	static const char *const heads[] = {"seq",    "type",     "time",     "points", "balance_after", "amount",
					    "location", "order_id", "detail", "reason", "comment"};
	const char *pos[1], *output = NULL;
	const struct ctl_option opts[] = {{"output", &output}, {NULL, NULL}};
	struct accrue_customer cu;
	struct accrue_entry *entries = NULL;
	struct accrue_ref ref;
	char part[4096];
	uint64_t before = 0, n_entries = 0;
	int rc;
	FILE *f;

	rc = ctl_args_parse(c, argc, argv, opts, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	if ((rc = accrue_lookup(c->a, &ref, &cu)) != 0)
		return ctl_call_failed(c, rc);
	entries = calloc(1000, sizeof *entries);
	if (!entries)
		return ctl_nomem();
	f = output_open(output, part, sizeof part);
	if (!f) {
		free(entries);
		return CTL_EXIT_IO;
	}
	csv_header(f);
	csv_row(f, &cu);
	out_csv_end(f);
	for (size_t i = 0; i < sizeof heads / sizeof *heads; i++)
		out_csv_plain(f, heads[i], i == 0);
	out_csv_end(f);
	/* By id from here on: the email or phone typed might change meanwhile. */
	ref.kind = ACCRUE_REF_ID;
	ref.id = cu.id;
	do {
		uint32_t n = 0;

		rc = accrue_history(c->a, &ref, before, entries, 1000, &n, &before);
		if (rc != 0)
			break;
		for (uint32_t i = 0; i < n; i++)
			entry_row(f, &entries[i]);
		n_entries += n;
	} while (before);
	free(entries);
	if (rc != 0) {
		output_close(f, output, part, 0);
		return ctl_call_failed(c, rc);
	}
	if ((rc = output_close(f, output, part, 1)) != 0)
		return rc;
	if (output)
		fprintf(stderr, "accruectl: customer #%" PRIu64 " and %" PRIu64 " history entr%s written to %s\n", cu.id,
			n_entries, n_entries == 1 ? "y" : "ies", output);
	return 0;
}
