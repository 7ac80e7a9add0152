/*
 * accruectl - the store manager's command line for accrued.
 *
 * An ordinary client of libaccrue: each command parses its arguments,
 * reads the API key from the key file, connects, makes one or a few calls
 * and prints the result, as aligned text for people or as exactly one JSON
 * document (--json) for scripts. proto.h is included only for the stable
 * names of statuses, roles and journal entry types.
 *
 * Exit status: 0 done, 1 refused by the server, 2 usage error, 3 cannot
 * connect or I/O failure (a missing or unreadable key file included).
 */
#include "accrue.h"
#include "output.h"
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ACCRUE_VERSION
#define ACCRUE_VERSION "unknown"
#endif

#define DEFAULT_SERVER "127.0.0.1:7400"
#define DEFAULT_KEY_FILE "./data/admin.key"
#define HISTORY_DEFAULT_LIMIT 20

enum exit_code {
	EXIT_DONE = 0,
	EXIT_REFUSED = 1, /* the server refused the request */
	EXIT_USAGE = 2,   /* bad command line */
	EXIT_IO = 3,      /* cannot connect, connection lost, key file unreadable */
};

/* args_parse's answer when the command's --help was asked for. */
#define ARGS_HELP (-1)

struct ctl {
	const char *server;
	const char *key_file;
	int json;
	const char *cmd_name; /* "show", "key create": for usage hints; NULL before the command */
	accrue *a;
};

/* A command option that takes a value: "--name VALUE" or "--name=VALUE". */
struct option_spec {
	const char *name;
	const char **value;
};

/* An option that may be repeated (--line): every value, in order, pointing into argv. */
struct option_list {
	const char *name;
	int max;            /* values allowed; one more is a usage error */
	int n;
	const char **items; /* room for max */
};

struct command {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
	const char *help;
};

static const char usage_text[] =
	"Usage: accruectl [--server HOST:PORT] [--key-file FILE] [--json] COMMAND [ARGS]\n"
	"\n"
	"Manage an accrue loyalty ledger through the accrued daemon.\n"
	"\n"
	"Commands:\n"
	"  enrol [--email E] [--phone P] [--first F] [--last L]\n"
	"                                  enrol a new customer\n"
	"  show REF                        show a customer\n"
	"  accrue REF --order ID [--location L] [--time T]\n"
	"         (--amount 12.34 | --line SKU:CATEGORY:QTY:AMOUNT ...)\n"
	"                                  record a sale and accrue what it earns\n"
	"  return --order ID [--location L] [--time T]\n"
	"         (--amount 5.00 | --line SKU:CATEGORY:QTY:AMOUNT ...)\n"
	"                                  return (part of) a sale; take back its points\n"
	"  quote [REF] (--amount 12.34 | --line ...) [--location L]\n"
	"                                  what a sale would earn, recording nothing\n"
	"  orders REF [--limit N]          a customer's sales and returns, newest first\n"
	"  order ID [--location L]         one sale with its lines and returns\n"
	"  batch FILE                      accrue many sales: REF,ORDER,AMOUNT[,LOCATION]\n"
	"  add REF POINTS [--reason R] [--comment C]\n"
	"                                  add points by hand\n"
	"  use REF POINTS [--reason R] [--comment C]\n"
	"                                  use (take away) points by hand\n"
	"  history REF [--limit N]         a customer's point history, newest first\n"
	"  group add|remove REF NAME       put a customer in a group or take them out\n"
	"  tier set REF TIER [--note N]    put a customer in a tier (\"\": none)\n"
	"  program show                    the loyalty program's settings\n"
	"  program set NAME VALUE          change one setting (\"\": its default)\n"
	"  key create --role admin|terminal|readonly [--location L]\n"
	"                                  create an API key (shown once)\n"
	"  key list                        list API keys\n"
	"  key revoke ID                   revoke an API key\n"
	"  help [COMMAND]                  show help\n"
	"\n"
	"REF names a customer: an email (ana@example.com), a phone number\n"
	"(+15550100) or #ID (#42; quote it in a shell, '#42', or # starts a comment).\n"
	"Amounts have at most two decimals (12, 12.3, 12.34). A line is\n"
	"SKU:CATEGORY:QTY:AMOUNT, AMOUNT what the whole line cost (COF-1:coffee:2:7.00).\n"
	"Times are ISO-8601 (2026-11-23T12:19:41Z). 'accruectl program --help' explains\n"
	"how sales earn.\n"
	"\n"
	"Options (before or after the command):\n"
	"  --server HOST:PORT  the daemon (default: $ACCRUE_SERVER, else " DEFAULT_SERVER ")\n"
	"  --key-file FILE     a file whose first line is the API key\n"
	"                      (default: $ACCRUE_KEY_FILE, else " DEFAULT_KEY_FILE ")\n"
	"  --json              print exactly one JSON document instead of text\n"
	"  --help              show this help; 'accruectl COMMAND --help' for one command\n"
	"  --version           show the version\n"
	"\n"
	"Exit status: 0 done, 1 refused by the server, 2 usage error,\n"
	"3 cannot connect or I/O failure (including an unreadable key file).\n";

/* ---- messages and exit codes ---------------------------------------- */

__attribute__((format(printf, 2, 3))) static int usage_error(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fputs("accruectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c->cmd_name)
		fprintf(stderr, "Try 'accruectl %s --help' for more information.\n", c->cmd_name);
	else
		fputs("Try 'accruectl --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

/* The status's stable name in lower case ("not_found"). */
static const char *status_name_lower(int status, char *buf, size_t cap)
{
	const char *name = proto_status_name(status);
	size_t i;

	for (i = 0; name[i] && i + 1 < cap; i++)
		buf[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	buf[i] = '\0';
	return buf;
}

/* Report a failed library call and pick the exit code for it. */
static int call_failed(const struct ctl *c, int rc)
{
	const char *msg = accrue_message(c->a);
	char name[32];

	if (rc > 0) {
		fprintf(stderr, "accruectl: %s: %s\n", status_name_lower(rc, name, sizeof name),
			*msg ? msg : accrue_strerror(rc));
		return EXIT_REFUSED;
	}
	if (rc == ACCRUE_E_INVALID)
		return usage_error(c, "%s", *msg ? msg : accrue_strerror(rc));
	if (*msg)
		fprintf(stderr, "accruectl: %s\n", msg);
	else
		fprintf(stderr, "accruectl: %s: %s\n", c->server, accrue_strerror(rc));
	return EXIT_IO;
}

/* ---- argument parsing ------------------------------------------------ */

static int help_show(const char *text)
{
	fputs(text, stdout);
	return EXIT_DONE;
}

/* Global options, wherever they appear. Returns 1 if argv[*i] was one (consumed), 0 if not, or EXIT_USAGE. */
static int global_option(struct ctl *c, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	const char **dest = NULL;
	const char *eq = strchr(arg, '=');
	size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);

	if (strcmp(arg, "--json") == 0) {
		c->json = 1;
		return 1;
	}
	if (nlen == strlen("--server") && strncmp(arg, "--server", nlen) == 0)
		dest = &c->server;
	else if (nlen == strlen("--key-file") && strncmp(arg, "--key-file", nlen) == 0)
		dest = &c->key_file;
	if (!dest)
		return 0;
	if (eq) {
		*dest = eq + 1;
	} else {
		if (*i + 1 >= argc)
			return usage_error(c, "option '%s' needs a value", arg);
		*dest = argv[++*i];
	}
	if (**dest == '\0')
		return usage_error(c, "option '%.*s' needs a non-empty value", (int)nlen, arg);
	return 1;
}

/*
 * Parse a command's arguments: its options (each takes a value; a repeated
 * one keeps the last), its repeatable options (lists, may be NULL), the
 * global options, and between pos_min and pos_max positionals named by
 * pos_names. A word that looks like a negative number is a positional, so
 * that "use REF -5" gets a message about the number rather than about an
 * unknown option. Returns 0, EXIT_USAGE after saying why, or ARGS_HELP.
 */
static int args_parse_lists(struct ctl *c, int argc, char **argv, const struct option_spec *opts,
			    struct option_list *lists, const char **pos, const char *const *pos_names, int pos_min,
			    int pos_max)
{
	int npos = 0, options_done = 0, rc;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		const char *name, *eq;
		const char **dest = NULL;
		size_t nlen;

		if (options_done || arg[0] != '-' || arg[1] == '\0' || (arg[1] >= '0' && arg[1] <= '9')) {
			if (npos == pos_max)
				return usage_error(c, "unexpected argument '%s'", arg);
			pos[npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = 1;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return ARGS_HELP;
		rc = global_option(c, argc, argv, &i);
		if (rc == 1)
			continue;
		if (rc != 0)
			return rc;
		if (strncmp(arg, "--", 2) != 0)
			return usage_error(c, "unknown option '%s'", arg);
		name = arg + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		for (const struct option_spec *o = opts; o && o->name; o++)
			if (strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0)
				dest = o->value;
		for (struct option_list *l = lists; !dest && l && l->name; l++) {
			if (strlen(l->name) != nlen || strncmp(l->name, name, nlen) != 0)
				continue;
			if (l->n == l->max)
				return usage_error(c, "at most %d --%s options are allowed", l->max, l->name);
			dest = &l->items[l->n++];
		}
		if (!dest)
			return usage_error(c, "unknown option '--%.*s'", (int)nlen, name);
		if (eq) {
			*dest = eq + 1;
		} else {
			if (i + 1 >= argc)
				return usage_error(c, "option '--%s' needs a value", name);
			*dest = argv[++i];
		}
	}
	if (npos < pos_min)
		return usage_error(c, "missing %s", pos_names[npos]);
	return 0;
}

static int args_parse(struct ctl *c, int argc, char **argv, const struct option_spec *opts, const char **pos,
		      const char *const *pos_names, int pos_min, int pos_max)
{
	return args_parse_lists(c, argc, argv, opts, NULL, pos, pos_names, pos_min, pos_max);
}

/* Digits only, 1..max. Returns 0 or -1. */
static int uint_parse(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		uint64_t d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (uint64_t)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v == 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * "12.34" -> 1234 minor units; "12" -> 1200; "12.3" -> 1230. No sign, at
 * most two decimals, digits on both sides of the point. Returns 0 or -1.
 */
static int amount_parse(const char *s, int64_t *out)
{
	int64_t units = 0, cents = 0;
	int decimals = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		int64_t d = *s - '0';

		if (units > (INT64_MAX / 100 - d) / 10)
			return -1;
		units = units * 10 + d;
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (++decimals > 2)
				return -1;
			cents = cents * 10 + (*s - '0');
		}
		if (decimals == 0)
			return -1;
		if (decimals == 1)
			cents *= 10;
	}
	if (*s != '\0' || units > (INT64_MAX - cents) / 100)
		return -1;
	*out = units * 100 + cents;
	return 0;
}

static int ref_parse(const struct ctl *c, const char *text, struct accrue_ref *ref)
{
	if (accrue_ref_parse(text, ref) != 0)
		return usage_error(c, "'%s' does not name a customer: give an email, a phone number or #ID", text);
	return 0;
}

/* Longest SKU and category accepted in a line (the protocol's limits). */
#define LINE_TEXT_MAX 64

/*
 * One --line: SKU:CATEGORY:QTY:AMOUNT, exactly four fields, so neither a
 * SKU nor a category may contain ':'. The SKU is required, the category may
 * be empty, QTY is a whole number >= 1 and AMOUNT what the whole line cost.
 */
static int line_parse(const struct ctl *c, const char *text, struct accrue_line *line)
{
	const char *field[4], *end;
	size_t len[4];
	char number[32];
	uint64_t qty;
	int n = 0;

	for (const char *p = text;; p = end + 1) {
		end = strchr(p, ':');
		if (n == 4 || (n == 3 && end))
			return usage_error(c, "--line '%s' has more than four fields: give SKU:CATEGORY:QTY:AMOUNT", text);
		field[n] = p;
		len[n++] = end ? (size_t)(end - p) : strlen(p);
		if (!end)
			break;
	}
	if (n != 4)
		return usage_error(c, "--line '%s' is not SKU:CATEGORY:QTY:AMOUNT (e.g. COF-1:coffee:2:7.00)", text);
	if (len[0] == 0)
		return usage_error(c, "--line '%s' has no SKU", text);
	if (len[0] > LINE_TEXT_MAX || len[1] > LINE_TEXT_MAX)
		return usage_error(c, "--line '%s': a SKU or category is at most %d bytes", text, LINE_TEXT_MAX);
	memset(line, 0, sizeof *line);
	memcpy(line->sku, field[0], len[0]);
	memcpy(line->category, field[1], len[1]);
	snprintf(number, sizeof number, "%.*s", (int)len[2], field[2]);
	if (len[2] >= sizeof number || uint_parse(number, INT64_MAX, &qty) != 0)
		return usage_error(c, "--line '%s': QTY must be a whole number of at least 1", text);
	line->qty = (int64_t)qty;
	snprintf(number, sizeof number, "%.*s", (int)len[3], field[3]);
	if (len[3] >= sizeof number || amount_parse(number, &line->amount) != 0)
		return usage_error(c, "--line '%s': AMOUNT must be an amount like 7.00 (no sign, at most two decimals)",
				   text);
	return 0;
}

/* What a sale, quote or return is for: an amount, lines, or both agreeing. */
struct basket {
	int64_t amount;
	uint32_t nlines;
	struct accrue_line *lines; /* owned; NULL without lines */
};

/* Fill b from --amount and the --line options. The caller frees b->lines. */
static int basket_parse(const struct ctl *c, const char *amount_text, const struct option_list *lines,
			struct basket *b)
{
	int64_t sum = 0;
	int rc;

	memset(b, 0, sizeof *b);
	if (!amount_text && lines->n == 0)
		return usage_error(c, "%s needs --amount or --line", c->cmd_name);
	if (amount_text) {
		if (amount_parse(amount_text, &b->amount) != 0)
			return usage_error(c, "--amount '%s' is not an amount like 12.34 (no sign, at most two decimals)",
					   amount_text);
		if (b->amount == 0)
			return usage_error(c, "--amount must be more than zero");
	}
	if (lines->n == 0)
		return 0;
	b->lines = calloc((size_t)lines->n, sizeof *b->lines);
	if (!b->lines) {
		fputs("accruectl: out of memory\n", stderr);
		return EXIT_IO;
	}
	b->nlines = (uint32_t)lines->n;
	for (int i = 0; i < lines->n; i++) {
		if ((rc = line_parse(c, lines->items[i], &b->lines[i])) != 0)
			goto fail;
		if (b->lines[i].amount > INT64_MAX - sum) {
			rc = usage_error(c, "the lines add up to more than can be counted");
			goto fail;
		}
		sum += b->lines[i].amount;
	}
	if (amount_text && b->amount != sum) {
		char given[32], total[32];

		out_money_format(given, sizeof given, b->amount);
		out_money_format(total, sizeof total, sum);
		rc = usage_error(c, "--amount %s is not the sum of the lines, %s: give one or make them agree", given,
				 total);
		goto fail;
	}
	b->amount = sum;
	return 0;

fail:
	free(b->lines);
	b->lines = NULL;
	return rc;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* n decimal digits at s into *v; 0 or -1. */
static int digits_parse(const char *s, int n, int64_t *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/*
 * An ISO-8601 time: 2026-11-23T12:19:41Z, optionally with a fraction of a
 * second (up to 6 digits) and with an offset (+01:00) instead of Z. Into
 * UTC microseconds; 0 or -1. Times up to 1970-01-01T00:00:00Z are refused:
 * on the wire 0 means "now".
 */
static int time_parse(const char *s, int64_t *us)
{
	static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t year, month, day, hour, minute, second, fraction = 0, offset = 0;
	int leap;

	if (strlen(s) < 20 || digits_parse(s, 4, &year) || s[4] != '-' || digits_parse(s + 5, 2, &month) ||
	    s[7] != '-' || digits_parse(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
	    digits_parse(s + 11, 2, &hour) || s[13] != ':' || digits_parse(s + 14, 2, &minute) || s[16] != ':' ||
	    digits_parse(s + 17, 2, &second))
		return -1;
	s += 19;
	if (*s == '.') {
		int n = 0;

		for (s++; *s >= '0' && *s <= '9'; s++, n++) {
			if (n == 6)
				return -1;
			fraction = fraction * 10 + (*s - '0');
		}
		if (n == 0)
			return -1;
		for (; n < 6; n++)
			fraction *= 10;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int64_t oh, om;

		if (digits_parse(s + 1, 2, &oh) || s[3] != ':' || digits_parse(s + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		offset = (oh * 60 + om) * 60 * (*s == '+' ? 1 : -1);
		s += 6;
	} else {
		return -1;
	}
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (*s != '\0' || month < 1 || month > 12 || day < 1 || day > month_days[month - 1] ||
	    (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 59)
		return -1;
	*us = ((days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset) * 1000000) +
	      fraction;
	return *us > 0 ? 0 : -1;
}

/* ---- session --------------------------------------------------------- */

/* Read the API key from the key file (accrue_key_file_read). */
static int key_read(const struct ctl *c, char *key, size_t cap)
{
	char msg[600];

	if (accrue_key_file_read(c->key_file, key, cap, msg, sizeof msg)) {
		fprintf(stderr, "accruectl: %s\n", msg);
		return EXIT_IO;
	}
	return 0;
}

static int session_open(struct ctl *c)
{
	char key[PROTO_MAX_APIKEY + 1];
	char msg[PROTO_MAX_MESSAGE + 64];
	char name[32];
	int rc;

	rc = key_read(c, key, sizeof key);
	if (rc != 0)
		return rc;
	rc = accrue_connect_message(c->server, key, &c->a, msg, sizeof msg);
	memset(key, 0, sizeof key);
	if (rc == 0)
		return 0;
	if (rc > 0) {
		fprintf(stderr, "accruectl: %s: %s", status_name_lower(rc, name, sizeof name),
			*msg ? msg : accrue_strerror(rc));
		if (rc == ACCRUE_ST_AUTH)
			fprintf(stderr, " (key from %s)", c->key_file);
		fputc('\n', stderr);
		return EXIT_REFUSED;
	}
	if (rc == ACCRUE_E_INVALID)
		return usage_error(c, "%s", msg);
	fprintf(stderr, "accruectl: %s\n", *msg ? msg : accrue_strerror(rc));
	return EXIT_IO;
}

/* ---- formatting ------------------------------------------------------ */

static void json_customer(const struct accrue_customer *cu)
{
	printf("{\"id\":%" PRIu64 ",\"email\":", cu->id);
	out_json_str(cu->email);
	fputs(",\"phone\":", stdout);
	out_json_str(cu->phone);
	fputs(",\"first_name\":", stdout);
	out_json_str(cu->first_name);
	fputs(",\"last_name\":", stdout);
	out_json_str(cu->last_name);
	printf(",\"balance\":%" PRId64 ",\"lifetime_points\":%" PRId64 ",\"visits\":%" PRIu64
	       ",\"total_spend\":%" PRId64 ",\"average_spend\":%" PRId64 ",\"created\":",
	       cu->balance, cu->lifetime_points, cu->visits, cu->total_spend, cu->average_spend);
	out_json_time(cu->created_us);
	fputs(",\"last_visit\":", stdout);
	out_json_time(cu->last_visit_us);
	printf(",\"member\":%s,\"tier\":", cu->member ? "true" : "false");
	if (cu->tier[0])
		out_json_str(cu->tier);
	else
		fputs("null", stdout);
	fputs(",\"groups\":[", stdout);
	for (int i = 0; i < cu->ngroups; i++) {
		if (i)
			putchar(',');
		out_json_str(cu->groups[i]);
	}
	fputs("]}", stdout);
}

/* The groups as "vip, staff" ("-" for none). */
static void groups_print(const struct accrue_customer *cu)
{
	char buf[ACCRUE_MAX_GROUPS * 74 + 1];
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < cu->ngroups && len < sizeof buf; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? ", " : "", cu->groups[i]);
	out_field_print("groups", buf);
}

static const char *unit_name(struct ctl *c);

/* unit: the program's unit ("points" or "stamps"), named beside the balance. */
static void customer_print(const char *unit, const struct accrue_customer *cu)
{
	char buf[64], label[32];

	snprintf(buf, sizeof buf, "#%" PRIu64, cu->id);
	out_field_print("customer", buf);
	out_field_print("email", cu->email);
	out_field_print("phone", cu->phone);
	out_field_print("first name", cu->first_name);
	out_field_print("last name", cu->last_name);
	snprintf(buf, sizeof buf, "%" PRId64 " %s", cu->balance, unit);
	out_field_print("balance", buf);
	snprintf(buf, sizeof buf, "%" PRId64, cu->lifetime_points);
	snprintf(label, sizeof label, "lifetime %s", unit);
	out_field_print(label, buf);
	snprintf(buf, sizeof buf, "%" PRIu64, cu->visits);
	out_field_print("visits", buf);
	out_money_format(buf, sizeof buf, cu->total_spend);
	out_field_print("total spend", buf);
	out_money_format(buf, sizeof buf, cu->average_spend);
	out_field_print("average spend", buf);
	out_time_format(buf, sizeof buf, cu->created_us);
	out_field_print("created", buf);
	out_time_format(buf, sizeof buf, cu->last_visit_us);
	out_field_print("last visit", buf);
	out_field_print("membership", cu->member ? "member" : "guest");
	out_field_print("tier", cu->tier);
	groups_print(cu);
}

/* ---- commands -------------------------------------------------------- */

static const char enrol_help[] =
	"Usage: accruectl enrol [--email E] [--phone P] [--first F] [--last L]\n"
	"\n"
	"Enrol a new customer. At least one of --email and --phone is required;\n"
	"the server lower-cases the email and keeps only '+' and digits of the phone.\n";

static int cmd_enrol(struct ctl *c, int argc, char **argv)
{
	const char *email = NULL, *phone = NULL, *first = NULL, *last = NULL;
	const struct option_spec opts[] = {
		{"email", &email}, {"phone", &phone}, {"first", &first}, {"last", &last}, {NULL, NULL},
	};
	struct accrue_customer cu;
	int rc;

	rc = args_parse(c, argc, argv, opts, NULL, NULL, 0, 0);
	if (rc == ARGS_HELP)
		return help_show(enrol_help);
	if (rc != 0)
		return rc;
	if ((!email || !*email) && (!phone || !*phone))
		return usage_error(c, "enrol needs --email or --phone");
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_enrol(c->a, NULL, email, phone, first, last, &cu, NULL);
	if (rc != 0)
		return call_failed(c, rc);
	if (c->json) {
		json_customer(&cu);
		putchar('\n');
	} else {
		printf("enrolled customer #%" PRIu64 "\n", cu.id);
		customer_print(unit_name(c), &cu);
	}
	return EXIT_DONE;
}

static const char show_help[] =
	"Usage: accruectl show REF\n"
	"\n"
	"Show a customer: contact details, balance, lifetime points, visits and spend,\n"
	"whether a member or a guest (recorded by a sale, earns nothing), tier and\n"
	"groups.\n"
	"REF is an email, a phone number or #ID ('#42' in a shell).\n";

static int cmd_show(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1];
	struct accrue_ref ref;
	struct accrue_customer cu;
	int rc;

	rc = args_parse(c, argc, argv, NULL, pos, names, 1, 1);
	if (rc == ARGS_HELP)
		return help_show(show_help);
	if (rc != 0)
		return rc;
	if ((rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_lookup(c->a, &ref, &cu);
	if (rc != 0)
		return call_failed(c, rc);
	if (c->json) {
		json_customer(&cu);
		putchar('\n');
	} else {
		customer_print(unit_name(c), &cu);
	}
	return EXIT_DONE;
}

static void change_print(struct ctl *c, const struct accrue_result *res, const char *what)
{
	if (c->json) {
		printf("{\"seq\":%" PRIu64 ",\"points\":%" PRId64 ",\"replay\":%s,\"customer\":", res->seq, res->points,
		       res->replay ? "true" : "false");
		json_customer(&res->customer);
		fputs("}\n", stdout);
		return;
	}
	printf("%s (journal seq %" PRIu64 ")\n", what, res->seq);
	if (res->replay)
		puts("note: this repeats an earlier request with the same key; nothing was applied again");
	customer_print(unit_name(c), &res->customer);
}

/* Print a table (or say "none" when empty) and free it; EXIT_DONE or EXIT_IO when out of memory. */
static int table_finish(struct out_table *t, const char *none)
{
	if (out_table_finish(t, none) != 0) {
		fputs("accruectl: out of memory\n", stderr);
		return EXIT_IO;
	}
	return EXIT_DONE;
}

/* The program's unit for text output: one PROGRAM_GET, "points" if it cannot be had. */
static const char *unit_name(struct ctl *c)
{
	struct accrue_setting *settings = NULL;
	const char *unit = "points";
	uint32_t n = 0;

	if (accrue_program_get(c->a, &settings, &n) == 0)
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(settings[i].name, "unit") == 0 && strcmp(settings[i].value, "stamps") == 0)
				unit = "stamps";
	free(settings);
	return unit;
}

/* A multiplier in units of 1/10000 as a decimal: 15000 -> "1.5", 10000 -> "1". Valid JSON number too. */
static void multiplier_format(char *buf, size_t cap, uint32_t m)
{
	uint32_t frac = m % ACCRUE_MULTIPLIER_ONE;
	int digits = 4;

	if (frac == 0) {
		snprintf(buf, cap, "%u", (unsigned)(m / ACCRUE_MULTIPLIER_ONE));
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, cap, "%u.%0*u", (unsigned)(m / ACCRUE_MULTIPLIER_ONE), digits, (unsigned)frac);
}

static const char accrue_help[] =
	"Usage: accruectl accrue REF --order ID [--location L] [--time ISO8601]\n"
	"                 (--amount 12.34 | --line SKU:CATEGORY:QTY:AMOUNT ...)\n"
	"\n"
	"Record a sale and accrue what it earns under the program ('accruectl program\n"
	"--help' explains the rules). An order id is accrued once per location.\n"
	"Without --location the sale is booked at the key's own location, or at\n"
	"\"default\" for a key that has none. --time says when the sale happened\n"
	"(2026-11-23T12:19:41Z, or with an offset like +01:00); default now.\n"
	"\n"
	"--amount is what was paid, in the currency's major unit with at most two\n"
	"decimals (12, 12.3, 12.34). Or give the basket: --line once per line,\n"
	"SKU:CATEGORY:QTY:AMOUNT with AMOUNT what the whole line cost after\n"
	"discounts (--line COF-1:coffee:2:7.00; the category may be empty:\n"
	"--line GIFT-9::1:3.00). The sale's amount is then the sum of the lines;\n"
	"--amount, if also given, must equal it. With lines, excluded SKUs and\n"
	"categories earn nothing and stamps per item count quantities. At most 256\n"
	"lines; a SKU or category has at most 64 bytes and no ':'.\n"
	"\n"
	"If the program records guests (guests = record), a sale for an email or\n"
	"phone that names nobody is recorded for a new guest, who earns nothing.\n";

static int cmd_accrue(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *order = NULL, *amount_text = NULL, *location = NULL, *time_text = NULL;
	const char *line_items[ACCRUE_MAX_LINES];
	const struct option_spec opts[] = {
		{"order", &order}, {"amount", &amount_text}, {"location", &location}, {"time", &time_text},
		{NULL, NULL},
	};
	struct option_list lists[] = {
		{"line", ACCRUE_MAX_LINES, 0, line_items},
		{NULL, 0, 0, NULL},
	};
	struct accrue_ref ref;
	struct accrue_sale sale;
	struct accrue_result res;
	struct basket b = {0, 0, NULL};
	char what[200] = "", money[32];
	int64_t when = 0;
	int rc;

	rc = args_parse_lists(c, argc, argv, opts, lists, pos, names, 1, 1);
	if (rc == ARGS_HELP)
		return help_show(accrue_help);
	if (rc != 0)
		return rc;
	if ((rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (!order || !*order)
		return usage_error(c, "accrue needs --order ID");
	if (time_text && time_parse(time_text, &when) != 0)
		return usage_error(c, "--time '%s' is not a time like 2026-11-23T12:19:41Z", time_text);
	if ((rc = basket_parse(c, amount_text, &lists[0], &b)) != 0)
		return rc;
	if ((rc = session_open(c)) != 0)
		goto done;
	memset(&sale, 0, sizeof sale);
	sale.location = location;
	sale.order_id = order;
	sale.time_us = when;
	sale.amount = b.amount;
	sale.nlines = b.nlines;
	sale.lines = b.lines;
	rc = accrue_sale(c->a, NULL, &ref, &sale, &res);
	if (rc != 0) {
		rc = call_failed(c, rc);
		goto done;
	}
	out_money_format(money, sizeof money, b.amount);
	if (!c->json)
		snprintf(what, sizeof what, "accrued %" PRId64 " %s on a sale of %s%s", res.points, unit_name(c), money,
			 res.customer.member ? "" : " for a guest (guests earn nothing)");
	change_print(c, &res, what);
	rc = EXIT_DONE;
done:
	free(b.lines);
	return rc;
}

static const char return_help[] =
	"Usage: accruectl return --order ID [--location L] [--time ISO8601]\n"
	"                 (--amount 5.00 | --line SKU:CATEGORY:QTY:AMOUNT ...)\n"
	"\n"
	"Return (part of) a sale and take back what the returned part earned. The\n"
	"sale is the order ID at --location (default: the key's own location, or\n"
	"\"default\"). --amount is the amount refunded; or --line names each SKU of the\n"
	"sale returned, with the quantity and the amount refunded for it (the\n"
	"category is not used and may be empty: --line COF-1::1:3.50); --amount, if\n"
	"also given, must equal the sum of the lines.\n"
	"\n"
	"Returns add up: after each, the sale (or line) has given back what the\n"
	"refunded part earned, rounded up, and all returns of a sale together never\n"
	"take back more than it earned. Refunding more than is left is refused\n"
	"(over_return). If the program stops balances at zero (returns.below_zero =\n"
	"stop), what could not be taken is reported as a shortfall.\n";

static int cmd_return(struct ctl *c, int argc, char **argv)
{
	const char *order = NULL, *amount_text = NULL, *location = NULL, *time_text = NULL;
	const char *line_items[ACCRUE_MAX_LINES];
	const struct option_spec opts[] = {
		{"order", &order}, {"amount", &amount_text}, {"location", &location}, {"time", &time_text},
		{NULL, NULL},
	};
	struct option_list lists[] = {
		{"line", ACCRUE_MAX_LINES, 0, line_items},
		{NULL, 0, 0, NULL},
	};
	struct accrue_return_result res;
	struct basket b = {0, 0, NULL};
	char money[32];
	const char *unit;
	int64_t when = 0;
	int rc;

	rc = args_parse_lists(c, argc, argv, opts, lists, NULL, NULL, 0, 0);
	if (rc == ARGS_HELP)
		return help_show(return_help);
	if (rc != 0)
		return rc;
	if (!order || !*order)
		return usage_error(c, "return needs --order ID");
	if (time_text && time_parse(time_text, &when) != 0)
		return usage_error(c, "--time '%s' is not a time like 2026-11-23T12:19:41Z", time_text);
	if ((rc = basket_parse(c, amount_text, &lists[0], &b)) != 0)
		return rc;
	if ((rc = session_open(c)) != 0)
		goto done;
	rc = accrue_return(c->a, NULL, location, order, when, b.amount, b.lines, b.nlines, &res);
	if (rc != 0) {
		rc = call_failed(c, rc);
		goto done;
	}
	rc = EXIT_DONE;
	if (c->json) {
		printf("{\"seq\":%" PRIu64 ",\"points\":%" PRId64 ",\"shortfall\":%" PRId64 ",\"refunded\":%" PRId64
		       ",\"replay\":%s,\"customer\":",
		       res.seq, res.points, res.shortfall, res.refunded, res.replay ? "true" : "false");
		json_customer(&res.customer);
		fputs("}\n", stdout);
		goto done;
	}
	unit = unit_name(c);
	out_money_format(money, sizeof money, res.refunded);
	printf("returned %s of order %s: took back %" PRId64 " %s (journal seq %" PRIu64 ")\n", money, order,
	       -res.points, unit, res.seq);
	if (res.shortfall > 0)
		printf("shortfall: %" PRId64 " %s more were due back; the balance stops at zero\n", res.shortfall,
		       unit);
	if (res.replay)
		puts("note: this repeats an earlier request with the same key; nothing was applied again");
	customer_print(unit_name(c), &res.customer);
done:
	free(b.lines);
	return rc;
}

static const char quote_help[] =
	"Usage: accruectl quote [REF] (--amount 12.34 | --line SKU:CATEGORY:QTY:AMOUNT ...)\n"
	"                 [--location L]\n"
	"\n"
	"What a sale would earn, recording nothing: the earned points (or stamps),\n"
	"the qualifying amount (what is not excluded), the qualifying items, the\n"
	"multiplier and each line's share. With REF, for that customer's tier and\n"
	"groups; without, for a member with no tier and no groups. --amount and\n"
	"--line are as for 'accruectl accrue'; 'accruectl program --help' explains\n"
	"the rules.\n";

static int cmd_quote(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1] = {NULL}, *amount_text = NULL, *location = NULL;
	const char *line_items[ACCRUE_MAX_LINES];
	const struct option_spec opts[] = {
		{"amount", &amount_text}, {"location", &location}, {NULL, NULL},
	};
	struct option_list lists[] = {
		{"line", ACCRUE_MAX_LINES, 0, line_items},
		{NULL, 0, 0, NULL},
	};
	struct accrue_ref ref;
	struct accrue_sale sale;
	struct accrue_quote *q = NULL;
	struct basket b = {0, 0, NULL};
	char buf[64];
	const char *unit;
	int rc;

	rc = args_parse_lists(c, argc, argv, opts, lists, pos, names, 0, 1);
	if (rc == ARGS_HELP)
		return help_show(quote_help);
	if (rc != 0)
		return rc;
	if (pos[0] && (rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if ((rc = basket_parse(c, amount_text, &lists[0], &b)) != 0)
		return rc;
	q = malloc(sizeof *q);
	if (!q) {
		fputs("accruectl: out of memory\n", stderr);
		rc = EXIT_IO;
		goto done;
	}
	if ((rc = session_open(c)) != 0)
		goto done;
	memset(&sale, 0, sizeof sale);
	sale.location = location;
	sale.amount = b.amount;
	sale.nlines = b.nlines;
	sale.lines = b.lines;
	rc = accrue_quote(c->a, pos[0] ? &ref : NULL, &sale, q);
	if (rc != 0) {
		rc = call_failed(c, rc);
		goto done;
	}
	rc = EXIT_DONE;
	unit = q->unit == ACCRUE_UNIT_STAMPS ? "stamps" : "points";
	multiplier_format(buf, sizeof buf, q->multiplier);
	if (c->json) {
		printf("{\"earned\":%" PRId64 ",\"unit\":\"%s\",\"qualifying\":%" PRId64 ",\"qualifying_items\":%" PRId64
		       ",\"multiplier\":%s,\"lines\":[",
		       q->earned, unit, q->qualifying, q->qualifying_items, buf);
		for (uint32_t i = 0; i < b.nlines; i++) {
			fputs(i ? ",{\"sku\":" : "{\"sku\":", stdout);
			out_json_str(b.lines[i].sku);
			fputs(",\"category\":", stdout);
			out_json_str(b.lines[i].category);
			printf(",\"qty\":%" PRId64 ",\"amount\":%" PRId64 ",\"earned\":%" PRId64 "}", b.lines[i].qty,
			       b.lines[i].amount, i < q->nlines ? q->line_earned[i] : 0);
		}
		fputs("]}\n", stdout);
		goto done;
	}
	snprintf(buf, sizeof buf, "%" PRId64 " %s", q->earned, unit);
	out_field_print("earned", buf);
	out_money_format(buf, sizeof buf, q->qualifying);
	out_field_print("qualifying", buf);
	/* Items matter to stamps per item, and need lines to be counted. */
	if (b.nlines > 0 || q->unit == ACCRUE_UNIT_STAMPS) {
		snprintf(buf, sizeof buf, "%" PRId64, q->qualifying_items);
		out_field_print("qualifying items", buf);
	}
	multiplier_format(buf, sizeof buf, q->multiplier);
	out_field_print("multiplier", buf);
	if (b.nlines > 0) {
		struct out_table t = {
			.ncols = 5,
			.heads = {"SKU", "CATEGORY", "QTY", "AMOUNT", "EARNED"},
			.right = {0, 0, 1, 1, 1},
		};

		for (uint32_t i = 0; i < b.nlines; i++) {
			char qty[24], amount[32], earned[24];
			const char *row[5];

			snprintf(qty, sizeof qty, "%" PRId64, b.lines[i].qty);
			out_money_format(amount, sizeof amount, b.lines[i].amount);
			snprintf(earned, sizeof earned, "%" PRId64, i < q->nlines ? q->line_earned[i] : 0);
			row[0] = b.lines[i].sku;
			row[1] = b.lines[i].category;
			row[2] = qty;
			row[3] = amount;
			row[4] = earned;
			out_table_row(&t, row);
		}
		putchar('\n');
		rc = table_finish(&t, NULL);
	}
done:
	free(q);
	free(b.lines);
	return rc;
}

static const char orders_help[] =
	"Usage: accruectl orders REF [--limit N]\n"
	"\n"
	"A customer's sales and returns, newest first, from their history: journal\n"
	"seq, time, type (accrue or return), location, order id, amount and the\n"
	"change to the balance. Shows at most N of them (default 20). 'accruectl\n"
	"order ID' shows one order with its lines.\n";

static int cmd_orders(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *limit_text = NULL;
	const struct option_spec opts[] = {
		{"limit", &limit_text}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_entry *page = NULL, *found = NULL;
	uint64_t limit = HISTORY_DEFAULT_LIMIT, before = 0;
	uint32_t have = 0;
	int rc;

	rc = args_parse(c, argc, argv, opts, pos, names, 1, 1);
	if (rc == ARGS_HELP)
		return help_show(orders_help);
	if (rc != 0)
		return rc;
	if ((rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (limit_text && uint_parse(limit_text, 100000, &limit) != 0)
		return usage_error(c, "--limit '%s' is not a whole number from 1 to 100000", limit_text);
	page = malloc(1000 * sizeof *page);
	found = malloc((size_t)limit * sizeof *found);
	if (!page || !found) {
		fputs("accruectl: out of memory\n", stderr);
		rc = EXIT_IO;
		goto done;
	}
	if ((rc = session_open(c)) != 0)
		goto done;
	/* History holds every kind of entry: page through it keeping sales and returns. */
	while (have < limit) {
		uint32_t n;
		uint64_t next;

		rc = accrue_history(c->a, &ref, before, page, 1000, &n, &next);
		if (rc != 0) {
			rc = call_failed(c, rc);
			goto done;
		}
		for (uint32_t i = 0; i < n && have < limit; i++)
			if (page[i].type == ACCRUE_ENTRY_ACCRUE || page[i].type == ACCRUE_ENTRY_RETURN)
				found[have++] = page[i];
		if (n == 0 || next == 0)
			break;
		before = next;
	}
	rc = EXIT_DONE;
	if (c->json) {
		fputs("{\"orders\":[", stdout);
		for (uint32_t i = 0; i < have; i++) {
			const struct accrue_entry *e = &found[i];

			printf("%s{\"seq\":%" PRIu64 ",\"time\":", i ? "," : "", e->seq);
			out_json_time(e->time_us);
			fputs(",\"type\":", stdout);
			out_json_str(proto_entry_type_name(e->type));
			fputs(",\"location\":", stdout);
			out_json_str(e->location);
			fputs(",\"order_id\":", stdout);
			out_json_str(e->order_id);
			printf(",\"amount\":%" PRId64 ",\"points\":%" PRId64 ",\"balance_after\":%" PRId64 "}", e->amount,
			       e->points, e->balance_after);
		}
		fputs("]}\n", stdout);
	} else {
		struct out_table t = {
			.ncols = 7,
			.heads = {"SEQ", "TIME", "TYPE", "LOCATION", "ORDER", "AMOUNT", "POINTS"},
			.right = {1, 0, 0, 0, 0, 1, 1},
		};

		for (uint32_t i = 0; i < have; i++) {
			const struct accrue_entry *e = &found[i];
			char seq[24], when[64], amount[32], points[24];
			const char *row[7];

			snprintf(seq, sizeof seq, "%" PRIu64, e->seq);
			out_time_format(when, sizeof when, e->time_us);
			out_money_format(amount, sizeof amount, e->amount);
			snprintf(points, sizeof points, e->points > 0 ? "+%" PRId64 : "%" PRId64, e->points);
			row[0] = seq;
			row[1] = when;
			row[2] = proto_entry_type_name(e->type);
			row[3] = e->location;
			row[4] = e->order_id;
			row[5] = amount;
			row[6] = points;
			out_table_row(&t, row);
		}
		rc = table_finish(&t, "no sales or returns");
	}
done:
	free(page);
	free(found);
	return rc;
}

static const char order_help[] =
	"Usage: accruectl order ID [--location L]\n"
	"\n"
	"One sale: its customer, time, amount, what it earned and with which\n"
	"multiplier, and what its returns refunded and took back; then each line\n"
	"with its share of the points and what was returned of it. --location is\n"
	"where the order was accrued (default: the key's own location, or\n"
	"\"default\").\n";

static int cmd_order(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"ID"};
	const char *pos[1], *location = NULL;
	const struct option_spec opts[] = {
		{"location", &location}, {NULL, NULL},
	};
	struct accrue_order *o;
	char buf[64];
	int rc;

	rc = args_parse(c, argc, argv, opts, pos, names, 1, 1);
	if (rc == ARGS_HELP)
		return help_show(order_help);
	if (rc != 0)
		return rc;
	if (!*pos[0])
		return usage_error(c, "the order ID is empty");
	o = malloc(sizeof *o);
	if (!o) {
		fputs("accruectl: out of memory\n", stderr);
		return EXIT_IO;
	}
	if ((rc = session_open(c)) != 0)
		goto done;
	rc = accrue_order(c->a, location, pos[0], o);
	if (rc != 0) {
		rc = call_failed(c, rc);
		goto done;
	}
	rc = EXIT_DONE;
	multiplier_format(buf, sizeof buf, o->multiplier);
	if (c->json) {
		printf("{\"order_id\":");
		out_json_str(o->order_id);
		fputs(",\"location\":", stdout);
		out_json_str(o->location);
		printf(",\"customer_id\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"time\":", o->customer_id, o->seq);
		out_json_time(o->time_us);
		printf(",\"amount\":%" PRId64 ",\"earned\":%" PRId64 ",\"multiplier\":%s,\"refunded\":%" PRId64
		       ",\"taken_back\":%" PRId64 ",\"lines\":[",
		       o->amount, o->earned, buf, o->refunded, o->taken_back);
		for (uint32_t i = 0; i < o->nlines; i++) {
			const struct accrue_order_line *l = &o->lines[i];

			fputs(i ? ",{\"sku\":" : "{\"sku\":", stdout);
			out_json_str(l->sku);
			fputs(",\"category\":", stdout);
			out_json_str(l->category);
			printf(",\"qty\":%" PRId64 ",\"amount\":%" PRId64 ",\"earned\":%" PRId64
			       ",\"refunded_qty\":%" PRId64 ",\"refunded\":%" PRId64 "}",
			       l->qty, l->amount, l->earned, l->refunded_qty, l->refunded);
		}
		fputs("]}\n", stdout);
		goto done;
	}
	out_field_print("order", o->order_id);
	out_field_print("location", o->location);
	snprintf(buf, sizeof buf, "#%" PRIu64, o->customer_id);
	out_field_print("customer", buf);
	out_time_format(buf, sizeof buf, o->time_us);
	out_field_print("time", buf);
	snprintf(buf, sizeof buf, "%" PRIu64, o->seq);
	out_field_print("journal seq", buf);
	out_money_format(buf, sizeof buf, o->amount);
	out_field_print("amount", buf);
	snprintf(buf, sizeof buf, "%" PRId64, o->earned);
	out_field_print("earned", buf);
	multiplier_format(buf, sizeof buf, o->multiplier);
	out_field_print("multiplier", buf);
	out_money_format(buf, sizeof buf, o->refunded);
	out_field_print("refunded", buf);
	snprintf(buf, sizeof buf, "%" PRId64, o->taken_back);
	out_field_print("taken back", buf);
	if (o->nlines > 0) {
		struct out_table t = {
			.ncols = 7,
			.heads = {"SKU", "CATEGORY", "QTY", "AMOUNT", "EARNED", "RETURNED", "REFUNDED"},
			.right = {0, 0, 1, 1, 1, 1, 1},
		};

		for (uint32_t i = 0; i < o->nlines; i++) {
			const struct accrue_order_line *l = &o->lines[i];
			char qty[24], amount[32], earned[24], rqty[24], refunded[32];
			const char *row[7];

			snprintf(qty, sizeof qty, "%" PRId64, l->qty);
			out_money_format(amount, sizeof amount, l->amount);
			snprintf(earned, sizeof earned, "%" PRId64, l->earned);
			snprintf(rqty, sizeof rqty, "%" PRId64, l->refunded_qty);
			out_money_format(refunded, sizeof refunded, l->refunded);
			row[0] = l->sku;
			row[1] = l->category;
			row[2] = qty;
			row[3] = amount;
			row[4] = earned;
			row[5] = rqty;
			row[6] = refunded;
			out_table_row(&t, row);
		}
		putchar('\n');
		rc = table_finish(&t, NULL);
	}
done:
	free(o);
	return rc;
}

/* A command with subcommands ("key create"): which one, then run it with the rest. */
struct subcommand {
	const char *name;
	const char *full_name;
	int (*run)(struct ctl *c, int argc, char **argv);
};

static int subcommand_run(struct ctl *c, int argc, char **argv, const struct subcommand *subs, size_t nsubs,
			  const char *help, const char *names)
{
	int i = 0, rc;

	/* Global options may come between the command and the subcommand too. */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return help_show(help);
		rc = global_option(c, argc, argv, &i);
		if (rc == 0)
			return usage_error(c, "unknown option '%s'", argv[i]);
		if (rc != 1)
			return rc;
		i++;
	}
	if (i == argc)
		return usage_error(c, "%s needs a subcommand: %s", c->cmd_name, names);
	for (size_t s = 0; s < nsubs; s++) {
		if (strcmp(argv[i], subs[s].name) == 0) {
			c->cmd_name = subs[s].full_name;
			return subs[s].run(c, argc - i - 1, argv + i + 1);
		}
	}
	return usage_error(c, "unknown %s subcommand '%s': use %s", c->cmd_name, argv[i], names);
}

static const char program_help[] =
	"Usage: accruectl program show\n"
	"       accruectl program set NAME VALUE\n"
	"\n"
	"The loyalty program: how sales earn. 'program show' lists every setting\n"
	"with its value, defaults included. 'program set' changes one (admin keys\n"
	"only); it is journalled and applies to sales from then on. VALUE \"\"\n"
	"restores the default, or removes a multiplier or promotion.\n"
	"\n"
	"Settings [default]:\n"
	"  unit                points or stamps [points]\n"
	"  earn.points         whole points per earn.per of qualifying amount,\n"
	"                      0 to 1000000 [1]\n"
	"  earn.per            an amount, more than 0 [1.00]\n"
	"  earn.rounding       down, nearest or up [down]\n"
	"  earn.min_spend      a sale whose qualifying amount is below this earns\n"
	"                      nothing [0.00]\n"
	"  exclude.categories  comma list of categories that earn nothing [\"\"]\n"
	"  exclude.skus        comma list of SKUs that earn nothing [\"\"]\n"
	"  stamps.per_visit    stamps per qualifying sale, 0 to 1000 [1]\n"
	"  stamps.per_item     stamps per qualifying item, 0 to 1000 [0]\n"
	"  stamps.categories   comma list: only items in these categories count for\n"
	"                      stamps.per_item; empty: every item not excluded [\"\"]\n"
	"  multiplier.group.G  multiplier for customers in group G, 0.01 to 100\n"
	"  multiplier.tier.T   multiplier for customers in tier T, 0.01 to 100\n"
	"  promo.NAME          \"MULT START END [GROUP,GROUP...]\": multiplier MULT from\n"
	"                      START (inclusive) to END (exclusive), times written\n"
	"                      2026-12-01T00:00:00Z; with groups, only for customers\n"
	"                      in at least one of them\n"
	"  returns.below_zero  allow: a return may take the balance below zero;\n"
	"                      stop: it stops at zero and records the shortfall [allow]\n"
	"  guests              refuse: a sale for an email or phone that names nobody\n"
	"                      is refused; record: it is recorded for a new guest,\n"
	"                      who earns nothing [refuse]\n"
	"Amounts and multipliers have at most two decimals (12, 12.5, 1.25).\n"
	"\n"
	"How a sale earns. The qualifying amount is the sum of the lines not\n"
	"excluded by SKU or category; a sale without lines qualifies with its whole\n"
	"amount. Below earn.min_spend, or at zero, it earns nothing. Guests earn\n"
	"nothing. The multiplier is the tier's multiplier (1 without one) times the\n"
	"largest multiplier among the customer's groups (1 without one) times every\n"
	"promotion in force for the customer, kept to 4 decimals (rounded down) and\n"
	"at most 100. Then, in points:\n"
	"    qualifying amount / earn.per * earn.points * multiplier\n"
	"rounded once, at the end, by earn.rounding; in stamps:\n"
	"    (stamps.per_visit + stamps.per_item * qualifying items) * multiplier\n"
	"rounded the same way, where qualifying items is the quantity on the lines\n"
	"not excluded (and in stamps.categories, if that is set). The points of a\n"
	"sale are shared among its qualifying lines in proportion to their amounts\n"
	"(stamps per item: their quantities); the shares always add up to the total.\n"
	"\n"
	"How a return takes back. After each return a sale has given back what the\n"
	"refunded part of it earned, rounded up: earned * refunded / amount. All\n"
	"returns of a sale together never take back more than it earned. A return\n"
	"by lines does the same per line.\n"
	"\n"
	"Examples:\n"
	"  accruectl program set earn.points 5\n"
	"  accruectl program set multiplier.group.vip 1.5\n"
	"  accruectl program set promo.xmas \"2 2026-12-01T00:00:00Z 2026-12-27T00:00:00Z\"\n"
	"  accruectl program set exclude.categories tobacco,gift-cards\n"
	"  accruectl program set earn.points \"\"      (back to the default, 1)\n";

static int program_show(struct ctl *c, int argc, char **argv)
{
	struct accrue_setting *settings = NULL;
	uint32_t n = 0;
	int rc;

	rc = args_parse(c, argc, argv, NULL, NULL, NULL, 0, 0);
	if (rc == ARGS_HELP)
		return help_show(program_help);
	if (rc != 0)
		return rc;
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_program_get(c->a, &settings, &n);
	if (rc != 0)
		return call_failed(c, rc);
	if (c->json) {
		fputs("{\"settings\":{", stdout);
		for (uint32_t i = 0; i < n; i++) {
			if (i)
				putchar(',');
			out_json_str(settings[i].name);
			putchar(':');
			out_json_str(settings[i].value);
		}
		fputs("}}\n", stdout);
	} else {
		struct out_table t = {
			.ncols = 2,
			.heads = {"SETTING", "VALUE"},
			.right = {0, 0},
		};

		for (uint32_t i = 0; i < n; i++) {
			const char *row[2] = {settings[i].name, settings[i].value};

			out_table_row(&t, row);
		}
		rc = table_finish(&t, "no settings");
	}
	free(settings);
	return rc;
}

static int program_set(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"NAME", "VALUE"};
	const char *pos[2];
	struct accrue_setting *settings = NULL;
	const char *value;
	uint32_t n = 0;
	int rc;

	rc = args_parse(c, argc, argv, NULL, pos, names, 2, 2);
	if (rc == ARGS_HELP)
		return help_show(program_help);
	if (rc != 0)
		return rc;
	if (!*pos[0])
		return usage_error(c, "the setting NAME is empty");
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_program_set(c->a, NULL, pos[0], pos[1]);
	if (rc != 0)
		return call_failed(c, rc);
	/* Show the value as the program now holds it: the canonical form, or the default. */
	value = pos[1];
	if (accrue_program_get(c->a, &settings, &n) == 0) {
		value = NULL;
		for (uint32_t i = 0; i < n && !value; i++)
			if (strcmp(settings[i].name, pos[0]) == 0)
				value = settings[i].value;
	}
	if (c->json) {
		fputs("{\"name\":", stdout);
		out_json_str(pos[0]);
		fputs(",\"value\":", stdout);
		if (value)
			out_json_str(value);
		else
			fputs("null", stdout);
		fputs("}\n", stdout);
	} else if (value) {
		char *clean = out_text_clean(value);

		printf("%s = %s%s\n", pos[0], clean ? clean : "?", *pos[1] ? "" : " (the default)");
		free(clean);
	} else {
		printf("%s removed\n", pos[0]);
	}
	free(settings);
	return EXIT_DONE;
}

static int cmd_program(struct ctl *c, int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{"show", "program show", program_show},
		{"set", "program set", program_set},
	};

	return subcommand_run(c, argc, argv, subs, sizeof subs / sizeof subs[0], program_help, "show or set");
}

static const char group_help[] =
	"Usage: accruectl group add REF NAME\n"
	"       accruectl group remove REF NAME\n"
	"\n"
	"Put a customer in a group, or take them out of it (admin keys only). A\n"
	"group is a segment: it earns the multiplier multiplier.group.NAME if the\n"
	"program sets one (the largest of a customer's groups counts), and\n"
	"promotions may be limited to groups. A customer is in at most 16 groups;\n"
	"a group name has at most 64 bytes.\n";

static int group_run(struct ctl *c, int argc, char **argv, int add)
{
	static const char *const names[] = {"REF", "NAME"};
	const char *pos[2];
	struct accrue_ref ref;
	struct accrue_customer cu;
	int rc;

	rc = args_parse(c, argc, argv, NULL, pos, names, 2, 2);
	if (rc == ARGS_HELP)
		return help_show(group_help);
	if (rc != 0)
		return rc;
	if ((rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (!*pos[1])
		return usage_error(c, "the group NAME is empty");
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_group(c->a, NULL, &ref, add, pos[1], &cu);
	if (rc != 0)
		return call_failed(c, rc);
	if (c->json) {
		fputs("{\"group\":", stdout);
		out_json_str(pos[1]);
		printf(",\"added\":%s,\"customer\":", add ? "true" : "false");
		json_customer(&cu);
		fputs("}\n", stdout);
	} else {
		char *clean = out_text_clean(pos[1]);

		printf("%s customer #%" PRIu64 " %s group %s\n", add ? "added" : "removed", cu.id, add ? "to" : "from",
		       clean ? clean : "?");
		free(clean);
		customer_print(unit_name(c), &cu);
	}
	return EXIT_DONE;
}

static int group_add(struct ctl *c, int argc, char **argv)
{
	return group_run(c, argc, argv, 1);
}

static int group_remove(struct ctl *c, int argc, char **argv)
{
	return group_run(c, argc, argv, 0);
}

static int cmd_group(struct ctl *c, int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{"add", "group add", group_add},
		{"remove", "group remove", group_remove},
	};

	return subcommand_run(c, argc, argv, subs, sizeof subs / sizeof subs[0], group_help, "add or remove");
}

static const char tier_help[] =
	"Usage: accruectl tier set REF TIER [--note N]\n"
	"\n"
	"Put a customer in a tier (admin keys only); TIER \"\" takes them out of any.\n"
	"A tier earns the multiplier multiplier.tier.TIER if the program sets one.\n"
	"--note is internal and kept in the journal. A tier name has at most 64\n"
	"bytes.\n";

static int tier_set(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF", "TIER"};
	const char *pos[2], *note = NULL;
	const struct option_spec opts[] = {
		{"note", &note}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_customer cu;
	int rc;

	rc = args_parse(c, argc, argv, opts, pos, names, 2, 2);
	if (rc == ARGS_HELP)
		return help_show(tier_help);
	if (rc != 0)
		return rc;
	if ((rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_tier(c->a, NULL, &ref, pos[1], note, &cu);
	if (rc != 0)
		return call_failed(c, rc);
	if (c->json) {
		fputs("{\"tier\":", stdout);
		if (cu.tier[0])
			out_json_str(cu.tier);
		else
			fputs("null", stdout);
		fputs(",\"customer\":", stdout);
		json_customer(&cu);
		fputs("}\n", stdout);
	} else {
		if (cu.tier[0]) {
			char *clean = out_text_clean(cu.tier);

			printf("customer #%" PRIu64 " is in tier %s\n", cu.id, clean ? clean : "?");
			free(clean);
		} else {
			printf("customer #%" PRIu64 " is in no tier\n", cu.id);
		}
		customer_print(unit_name(c), &cu);
	}
	return EXIT_DONE;
}

static int cmd_tier(struct ctl *c, int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{"set", "tier set", tier_set},
	};

	return subcommand_run(c, argc, argv, subs, sizeof subs / sizeof subs[0], tier_help, "set");
}

/* Sales per ACCRUE_BATCH frame: even at every text's limit 1,000 sales take under half of a 1 MiB frame. */
#define BATCH_CHUNK 1000
#define BATCH_LINE_MAX 1024

static const char batch_help[] =
	"Usage: accruectl batch FILE\n"
	"\n"
	"Accrue many sales without lines, sent 1,000 to a request. FILE ('-': standard\n"
	"input) has one sale per line:\n"
	"    REF,ORDER,AMOUNT[,LOCATION]\n"
	"e.g. ana@example.com,A-1001,42.50,store-1 or #42,A-1002,9.99. Blank lines\n"
	"and lines starting with '#' but not '#ID' are skipped. Each sale succeeds\n"
	"or is refused on its own; the output gives each one's outcome. Running the\n"
	"same file again is safe: its orders are refused as duplicates. Exit status\n"
	"1 if any sale was refused.\n";

struct batch_sale {
	int line; /* in FILE */
	char ref_text[256];
	char order[PROTO_MAX_ORDER + 1];
	char location[PROTO_MAX_LOCATION + 1];
	int64_t amount;
};

/* One line of FILE: REF,ORDER,AMOUNT[,LOCATION]. 0, or EXIT_USAGE after saying why. */
static int batch_line_parse(const struct ctl *c, const char *file, int n, char *text, struct batch_sale *bs)
{
	char *field[4];
	int nf = 0;

	memset(bs, 0, sizeof *bs);
	bs->line = n;
	for (char *p = text;; p++) {
		char *comma = strchr(p, ',');

		if (nf == 4)
			return usage_error(c, "%s:%d: more than four fields: give REF,ORDER,AMOUNT[,LOCATION]", file, n);
		field[nf++] = p;
		if (!comma)
			break;
		*comma = '\0';
		p = comma;
	}
	if (nf < 3)
		return usage_error(c, "%s:%d: give REF,ORDER,AMOUNT[,LOCATION]", file, n);
	if (strlen(field[0]) >= sizeof bs->ref_text) {
		return usage_error(c, "%s:%d: '%s' does not name a customer", file, n, field[0]);
	}
	snprintf(bs->ref_text, sizeof bs->ref_text, "%s", field[0]);
	if (!*field[1] || strlen(field[1]) > PROTO_MAX_ORDER)
		return usage_error(c, "%s:%d: ORDER must have 1 to %d bytes", file, n, PROTO_MAX_ORDER);
	snprintf(bs->order, sizeof bs->order, "%s", field[1]);
	if (amount_parse(field[2], &bs->amount) != 0 || bs->amount == 0)
		return usage_error(c, "%s:%d: AMOUNT '%s' is not an amount like 12.34, more than zero", file, n,
				   field[2]);
	if (nf == 4) {
		if (strlen(field[3]) > PROTO_MAX_LOCATION)
			return usage_error(c, "%s:%d: LOCATION has more than %d bytes", file, n, PROTO_MAX_LOCATION);
		snprintf(bs->location, sizeof bs->location, "%s", field[3]);
	}
	return 0;
}

/* Read every sale of FILE into *out (caller frees). */
static int batch_read(const struct ctl *c, const char *file, struct batch_sale **out, uint32_t *count)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	struct batch_sale *list = NULL;
	uint32_t n = 0, cap = 0;
	char text[BATCH_LINE_MAX + 2];
	int line = 0, rc = 0;

	if (!f) {
		fprintf(stderr, "accruectl: cannot read %s: %s\n", file, strerror(errno));
		return EXIT_IO;
	}
	while (fgets(text, sizeof text, f)) {
		size_t len = strlen(text);
		char *p = text;

		line++;
		if (len == sizeof text - 1 && text[len - 1] != '\n') {
			rc = usage_error(c, "%s:%d: line longer than %d bytes", file, line, BATCH_LINE_MAX);
			goto done;
		}
		while (len > 0 && strchr(" \t\r\n", text[len - 1]))
			text[--len] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		/* A comment starts with '#', but "#42," names customer 42. */
		if (*p == '\0' || (*p == '#' && !(p[1] >= '0' && p[1] <= '9')))
			continue;
		if (n == cap) {
			struct batch_sale *grown;

			cap = cap ? cap * 2 : 256;
			grown = realloc(list, (size_t)cap * sizeof *list);
			if (!grown) {
				fputs("accruectl: out of memory\n", stderr);
				rc = EXIT_IO;
				goto done;
			}
			list = grown;
		}
		if ((rc = batch_line_parse(c, file, line, p, &list[n])) != 0)
			goto done;
		n++;
	}
	if (ferror(f)) {
		fprintf(stderr, "accruectl: cannot read %s: %s\n", file, strerror(errno));
		rc = EXIT_IO;
	} else if (n == 0) {
		rc = usage_error(c, "%s has no sales", file);
	}
done:
	if (f != stdin)
		fclose(f);
	if (rc != 0) {
		free(list);
		return rc;
	}
	*out = list;
	*count = n;
	return 0;
}

static int cmd_batch(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"FILE"};
	const char *pos[1];
	struct batch_sale *list = NULL;
	struct accrue_ref *refs = NULL;
	struct accrue_sale *sales = NULL;
	struct accrue_batch_result *results = NULL;
	struct out_table t = {
		.ncols = 7,
		.heads = {"LINE", "CUSTOMER", "ORDER", "RESULT", "POINTS", "BALANCE", "MESSAGE"},
		.right = {1, 0, 0, 0, 1, 1, 0},
	};
	uint32_t n = 0, refused = 0;
	int rc;

	rc = args_parse(c, argc, argv, NULL, pos, names, 1, 1);
	if (rc == ARGS_HELP)
		return help_show(batch_help);
	if (rc != 0)
		return rc;
	if ((rc = batch_read(c, pos[0], &list, &n)) != 0)
		return rc;
	refs = calloc(n, sizeof *refs);
	sales = calloc(n, sizeof *sales);
	results = calloc(n, sizeof *results);
	if (!refs || !sales || !results) {
		fputs("accruectl: out of memory\n", stderr);
		rc = EXIT_IO;
		goto done;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (accrue_ref_parse(list[i].ref_text, &refs[i]) != 0) {
			rc = usage_error(c, "%s:%d: '%s' does not name a customer: give an email, a phone number or #ID",
					 pos[0], list[i].line, list[i].ref_text);
			goto done;
		}
		sales[i].location = list[i].location;
		sales[i].order_id = list[i].order;
		sales[i].amount = list[i].amount;
	}
	if ((rc = session_open(c)) != 0)
		goto done;
	for (uint32_t at = 0; at < n; at += BATCH_CHUNK) {
		uint32_t k = n - at < BATCH_CHUNK ? n - at : BATCH_CHUNK;

		rc = accrue_batch(c->a, k, NULL, refs + at, sales + at, results + at);
		if (rc != 0) {
			/* Earlier frames were applied; say how far this run got. */
			if (at > 0)
				fprintf(stderr, "accruectl: the sales before line %d were sent; this and later ones were not\n",
					list[at].line);
			rc = call_failed(c, rc);
			goto done;
		}
	}
	for (uint32_t i = 0; i < n; i++)
		refused += results[i].status != 0;
	rc = refused ? EXIT_REFUSED : EXIT_DONE;
	if (c->json) {
		fputs("{\"results\":[", stdout);
		for (uint32_t i = 0; i < n; i++) {
			const struct accrue_batch_result *r = &results[i];
			char name[32];

			printf("%s{\"line\":%d,\"customer\":", i ? "," : "", list[i].line);
			out_json_str(list[i].ref_text);
			fputs(",\"order_id\":", stdout);
			out_json_str(list[i].order);
			if (r->status == 0) {
				printf(",\"status\":\"ok\",\"replay\":%s,\"seq\":%" PRIu64 ",\"points\":%" PRId64
				       ",\"customer_id\":%" PRIu64 ",\"balance\":%" PRId64 "}",
				       r->replay ? "true" : "false", r->seq, r->points, r->customer_id, r->balance);
			} else {
				printf(",\"status\":\"%s\",\"message\":", status_name_lower(r->status, name, sizeof name));
				out_json_str(r->message);
				putchar('}');
			}
		}
		printf("],\"sales\":%u,\"refused\":%u}\n", (unsigned)n, (unsigned)refused);
		goto done;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct accrue_batch_result *r = &results[i];
		char line[16], points[24] = "", balance[24] = "", name[32];
		const char *row[7];

		snprintf(line, sizeof line, "%d", list[i].line);
		if (r->status == 0) {
			snprintf(points, sizeof points, "%" PRId64, r->points);
			snprintf(balance, sizeof balance, "%" PRId64, r->balance);
		}
		row[0] = line;
		row[1] = list[i].ref_text;
		row[2] = list[i].order;
		row[3] = r->status == 0 ? "ok" : status_name_lower(r->status, name, sizeof name);
		row[4] = points;
		row[5] = balance;
		row[6] = r->message;
		out_table_row(&t, row);
	}
	if (table_finish(&t, NULL) != EXIT_DONE)
		rc = EXIT_IO;
	else
		printf("%u sales: %u accrued, %u refused\n", (unsigned)n, (unsigned)(n - refused), (unsigned)refused);
done:
	out_table_free(&t);
	free(list);
	free(refs);
	free(sales);
	free(results);
	return rc;
}

static const char add_help[] =
	"Usage: accruectl add REF POINTS [--reason R] [--comment C]\n"
	"\n"
	"Add points by hand (admin keys only). --reason is internal; --comment is\n"
	"shown to the customer (default \"Manual adjustments\").\n";

static const char use_help[] =
	"Usage: accruectl use REF POINTS [--reason R] [--comment C]\n"
	"\n"
	"Use (take away) points by hand (admin keys only); refused if the balance\n"
	"is too low. --reason is internal; --comment is shown to the customer\n"
	"(default \"Manual adjustments\").\n";

/* add and use: one adjustment, positive or negative. */
static int adjust_run(struct ctl *c, int argc, char **argv, int sign, const char *help)
{
	static const char *const names[] = {"REF", "POINTS"};
	const char *pos[2], *reason = NULL, *comment = NULL;
	const struct option_spec opts[] = {
		{"reason", &reason}, {"comment", &comment}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_result res;
	uint64_t points;
	char what[96];
	int rc;

	rc = args_parse(c, argc, argv, opts, pos, names, 2, 2);
	if (rc == ARGS_HELP)
		return help_show(help);
	if (rc != 0)
		return rc;
	if ((rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (uint_parse(pos[1], INT64_MAX, &points) != 0)
		return usage_error(c, "POINTS '%s' is not a positive whole number", pos[1]);
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_adjust(c->a, NULL, &ref, sign * (int64_t)points, reason, comment, &res);
	if (rc != 0)
		return call_failed(c, rc);
	if (sign > 0)
		snprintf(what, sizeof what, "added %" PRId64 " points", res.points);
	else
		snprintf(what, sizeof what, "used %" PRId64 " points", -res.points);
	change_print(c, &res, what);
	return EXIT_DONE;
}

static int cmd_add(struct ctl *c, int argc, char **argv)
{
	return adjust_run(c, argc, argv, 1, add_help);
}

static int cmd_use(struct ctl *c, int argc, char **argv)
{
	return adjust_run(c, argc, argv, -1, use_help);
}

static const char history_help[] =
	"Usage: accruectl history REF [--limit N]\n"
	"\n"
	"A customer's point history, newest first: enrolment, sales (accrue),\n"
	"returns, adjustments, group and tier changes, joining as a member, with\n"
	"the balance after each. Shows at most N entries (default 20).\n";

static void history_print_json(const struct accrue_entry *e, uint32_t n)
{
	fputs("{\"entries\":[", stdout);
	for (uint32_t i = 0; i < n; i++) {
		printf("%s{\"seq\":%" PRIu64 ",\"type\":", i ? "," : "", e[i].seq);
		out_json_str(proto_entry_type_name(e[i].type));
		fputs(",\"time\":", stdout);
		out_json_time(e[i].time_us);
		printf(",\"points\":%" PRId64 ",\"balance_after\":%" PRId64 ",\"amount\":%" PRId64 ",\"location\":",
		       e[i].points, e[i].balance_after, e[i].amount);
		out_json_str(e[i].location);
		fputs(",\"order_id\":", stdout);
		out_json_str(e[i].order_id);
		fputs(",\"reason\":", stdout);
		out_json_str(e[i].reason);
		fputs(",\"comment\":", stdout);
		out_json_str(e[i].comment);
		putchar('}');
	}
	fputs("]}\n", stdout);
}

static int history_print_text(const struct accrue_entry *e, uint32_t n)
{
	struct out_table t = {
		.ncols = 10,
		.heads = {"SEQ", "TIME", "TYPE", "POINTS", "BALANCE", "AMOUNT", "LOCATION", "ORDER", "REASON",
			  "COMMENT"},
		.right = {1, 0, 0, 1, 1, 1, 0, 0, 0, 0},
	};
	int rc = EXIT_DONE;

	for (uint32_t i = 0; i < n; i++) {
		char seq[24], when[64], points[24], balance[24], amount[32];
		const char *row[10];

		snprintf(seq, sizeof seq, "%" PRIu64, e[i].seq);
		out_time_format(when, sizeof when, e[i].time_us);
		snprintf(points, sizeof points, e[i].points > 0 ? "+%" PRId64 : "%" PRId64, e[i].points);
		snprintf(balance, sizeof balance, "%" PRId64, e[i].balance_after);
		if (e[i].amount)
			out_money_format(amount, sizeof amount, e[i].amount);
		else
			amount[0] = '\0';
		row[0] = seq;
		row[1] = when;
		row[2] = proto_entry_type_name(e[i].type);
		row[3] = points;
		row[4] = balance;
		row[5] = amount;
		row[6] = e[i].location;
		row[7] = e[i].order_id;
		row[8] = e[i].reason;
		row[9] = e[i].comment;
		out_table_row(&t, row);
	}
	if (t.nomem) {
		fputs("accruectl: out of memory\n", stderr);
		rc = EXIT_IO;
	} else if (n == 0) {
		puts("no history");
	} else {
		out_table_print(&t);
	}
	out_table_free(&t);
	return rc;
}

static int cmd_history(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *limit_text = NULL;
	const struct option_spec opts[] = {
		{"limit", &limit_text}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_entry *entries = NULL;
	uint64_t limit = HISTORY_DEFAULT_LIMIT, before = 0;
	uint32_t have = 0;
	int rc;

	rc = args_parse(c, argc, argv, opts, pos, names, 1, 1);
	if (rc == ARGS_HELP)
		return help_show(history_help);
	if (rc != 0)
		return rc;
	if ((rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (limit_text && uint_parse(limit_text, UINT32_MAX, &limit) != 0)
		return usage_error(c, "--limit '%s' is not a positive whole number", limit_text);
	if ((rc = session_open(c)) != 0)
		return rc;
	/* Pages of at most 1000 entries, each continuing where the last stopped. */
	while (have < limit) {
		uint32_t page = limit - have > 1000 ? 1000 : (uint32_t)(limit - have);
		struct accrue_entry *p = realloc(entries, ((size_t)have + page) * sizeof *entries);
		uint32_t n;
		uint64_t next;

		if (!p) {
			fputs("accruectl: out of memory\n", stderr);
			rc = EXIT_IO;
			goto done;
		}
		entries = p;
		rc = accrue_history(c->a, &ref, before, entries + have, page, &n, &next);
		if (rc != 0) {
			rc = call_failed(c, rc);
			goto done;
		}
		have += n;
		if (n == 0 || next == 0)
			break;
		before = next;
	}
	if (c->json)
		history_print_json(entries, have);
	else
		rc = history_print_text(entries, have);
done:
	free(entries);
	return rc;
}

static const char key_help[] =
	"Usage: accruectl key create --role admin|terminal|readonly [--location L]\n"
	"       accruectl key list\n"
	"       accruectl key revoke ID\n"
	"\n"
	"Manage API keys (admin keys only). A new key is shown once: the server\n"
	"keeps only its hash. A terminal key is bound to a location, which it needs.\n";

static int key_create(struct ctl *c, int argc, char **argv)
{
	const char *role_text = NULL, *location = NULL;
	const struct option_spec opts[] = {
		{"role", &role_text}, {"location", &location}, {NULL, NULL},
	};
	struct accrue_key_info info;
	char secret[PROTO_MAX_APIKEY + 1];
	int rc, role, replay = 0;

	rc = args_parse(c, argc, argv, opts, NULL, NULL, 0, 0);
	if (rc == ARGS_HELP)
		return help_show(key_help);
	if (rc != 0)
		return rc;
	if (!role_text)
		return usage_error(c, "key create needs --role admin|terminal|readonly");
	role = proto_role_parse(role_text);
	if (role == 0)
		return usage_error(c, "unknown role '%s': use admin, terminal or readonly", role_text);
	if (role == ACCRUE_ROLE_TERMINAL && (!location || !*location))
		return usage_error(c, "a terminal key needs --location");
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_key_create(c->a, NULL, role, location, &info, secret, sizeof secret, &replay);
	if (rc != 0)
		return call_failed(c, rc);
	if (c->json) {
		printf("{\"id\":%" PRIu64 ",\"role\":", info.id);
		out_json_str(proto_role_name(info.role));
		fputs(",\"location\":", stdout);
		out_json_str(info.location);
		fputs(",\"key\":", stdout);
		if (secret[0])
			out_json_str(secret);
		else
			fputs("null", stdout);
		fputs("}\n", stdout);
		return EXIT_DONE;
	}
	printf("created %s key %" PRIu64, proto_role_name(info.role), info.id);
	if (info.location[0])
		printf(" for location %s", info.location);
	putchar('\n');
	if (secret[0]) {
		printf("key: %s\n", secret);
		puts("This key is shown once: store it now. The server keeps only its hash.");
	} else {
		puts("This repeats an earlier request: the key was shown then and cannot be shown again.");
	}
	return EXIT_DONE;
}

static int key_list(struct ctl *c, int argc, char **argv)
{
	struct accrue_key_info *keys = NULL;
	uint32_t n = 0;
	int rc;

	rc = args_parse(c, argc, argv, NULL, NULL, NULL, 0, 0);
	if (rc == ARGS_HELP)
		return help_show(key_help);
	if (rc != 0)
		return rc;
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_key_list(c->a, &keys, &n);
	if (rc != 0)
		return call_failed(c, rc);
	if (c->json) {
		fputs("{\"keys\":[", stdout);
		for (uint32_t i = 0; i < n; i++) {
			printf("%s{\"id\":%" PRIu64 ",\"role\":", i ? "," : "", keys[i].id);
			out_json_str(proto_role_name(keys[i].role));
			fputs(",\"location\":", stdout);
			out_json_str(keys[i].location);
			fputs(",\"created\":", stdout);
			out_json_time(keys[i].created_us);
			printf(",\"revoked\":%s}", keys[i].revoked ? "true" : "false");
		}
		fputs("]}\n", stdout);
	} else {
		struct out_table t = {
			.ncols = 5,
			.heads = {"ID", "ROLE", "LOCATION", "CREATED", "STATUS"},
			.right = {1, 0, 0, 0, 0},
		};

		for (uint32_t i = 0; i < n; i++) {
			char id[24], created[64];
			const char *row[5];

			snprintf(id, sizeof id, "%" PRIu64, keys[i].id);
			out_time_format(created, sizeof created, keys[i].created_us);
			row[0] = id;
			row[1] = proto_role_name(keys[i].role);
			row[2] = keys[i].location;
			row[3] = created;
			row[4] = keys[i].revoked ? "revoked" : "active";
			out_table_row(&t, row);
		}
		if (t.nomem) {
			fputs("accruectl: out of memory\n", stderr);
			rc = EXIT_IO;
		} else {
			out_table_print(&t);
		}
		out_table_free(&t);
	}
	free(keys);
	return rc;
}

static int key_revoke(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"ID"};
	const char *pos[1];
	uint64_t id;
	int rc;

	rc = args_parse(c, argc, argv, NULL, pos, names, 1, 1);
	if (rc == ARGS_HELP)
		return help_show(key_help);
	if (rc != 0)
		return rc;
	if (uint_parse(pos[0], UINT64_MAX, &id) != 0)
		return usage_error(c, "key ID '%s' is not a positive whole number", pos[0]);
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_key_revoke(c->a, NULL, id);
	if (rc != 0)
		return call_failed(c, rc);
	if (c->json)
		printf("{\"id\":%" PRIu64 ",\"revoked\":true}\n", id);
	else
		printf("revoked key %" PRIu64 "\n", id);
	return EXIT_DONE;
}

static int cmd_key(struct ctl *c, int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{"create", "key create", key_create},
		{"list", "key list", key_list},
		{"revoke", "key revoke", key_revoke},
	};

	return subcommand_run(c, argc, argv, subs, sizeof subs / sizeof subs[0], key_help, "create, list or revoke");
}

static int cmd_help(struct ctl *c, int argc, char **argv);

static const char help_help[] = "Usage: accruectl help [COMMAND]\n\nShow help for accruectl or for one command.\n";

static const struct command commands[] = {
	{"enrol", cmd_enrol, enrol_help},
	{"show", cmd_show, show_help},
	{"accrue", cmd_accrue, accrue_help},
	{"return", cmd_return, return_help},
	{"quote", cmd_quote, quote_help},
	{"orders", cmd_orders, orders_help},
	{"order", cmd_order, order_help},
	{"batch", cmd_batch, batch_help},
	{"add", cmd_add, add_help},
	{"use", cmd_use, use_help},
	{"history", cmd_history, history_help},
	{"group", cmd_group, group_help},
	{"tier", cmd_tier, tier_help},
	{"program", cmd_program, program_help},
	{"key", cmd_key, key_help},
	{"help", cmd_help, help_help},
};

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int cmd_help(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"COMMAND"};
	const char *pos[1] = {NULL};
	const struct command *cmd;
	int rc;

	rc = args_parse(c, argc, argv, NULL, pos, names, 0, 1);
	if (rc == ARGS_HELP)
		return help_show(help_help);
	if (rc != 0)
		return rc;
	if (!pos[0])
		return help_show(usage_text);
	cmd = command_find(pos[0]);
	if (!cmd)
		return usage_error(c, "unknown command '%s'", pos[0]);
	fputs(cmd->help, stdout);
	return EXIT_DONE;
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

int main(int argc, char **argv)
{
	struct ctl c = {
		.server = env_or("ACCRUE_SERVER", DEFAULT_SERVER),
		.key_file = env_or("ACCRUE_KEY_FILE", DEFAULT_KEY_FILE),
	};
	const struct command *cmd;
	int i = 1, rc;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return help_show(usage_text);
		if (strcmp(argv[i], "--version") == 0) {
			puts("accruectl " ACCRUE_VERSION);
			return EXIT_DONE;
		}
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		rc = global_option(&c, argc, argv, &i);
		if (rc == 0)
			return usage_error(&c, "unknown option '%s'", argv[i]);
		if (rc != 1)
			return rc;
		i++;
	}
	if (i == argc)
		return usage_error(&c, "no command given");
	cmd = command_find(argv[i]);
	if (!cmd)
		return usage_error(&c, "unknown command '%s'", argv[i]);
	c.cmd_name = cmd->name;
	rc = cmd->run(&c, argc - i - 1, argv + i + 1);
	accrue_close(c.a);
	/* Output that never reached its file is a failure a script must see. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "accruectl: cannot write output: %s\n", strerror(errno));
		if (rc == EXIT_DONE)
			rc = EXIT_IO;
	}
	return rc;
}
