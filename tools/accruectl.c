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
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	"  accrue REF --order ID --amount 12.34 [--location L]\n"
	"                                  accrue points on a sale\n"
	"  add REF POINTS [--reason R] [--comment C]\n"
	"                                  add points by hand\n"
	"  use REF POINTS [--reason R] [--comment C]\n"
	"                                  use (take away) points by hand\n"
	"  history REF [--limit N]         a customer's point history, newest first\n"
	"  key create --role admin|terminal|readonly [--location L]\n"
	"                                  create an API key (shown once)\n"
	"  key list                        list API keys\n"
	"  key revoke ID                   revoke an API key\n"
	"  help [COMMAND]                  show help\n"
	"\n"
	"REF names a customer: an email (ana@example.com), a phone number\n"
	"(+15550100) or #ID (#42; quote it in a shell, '#42', or # starts a comment).\n"
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
 * Parse a command's arguments: its options (each takes a value), the
 * global options, and between pos_min and pos_max positionals named by
 * pos_names. A word that looks like a negative number is a positional, so
 * that "use REF -5" gets a message about the number rather than about an
 * unknown option. Returns 0, EXIT_USAGE after saying why, or ARGS_HELP.
 */
static int args_parse(struct ctl *c, int argc, char **argv, const struct option_spec *opts, const char **pos,
		      const char *const *pos_names, int pos_min, int pos_max)
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

/* ---- session --------------------------------------------------------- */

/* Read the API key: the key file's first line without surrounding whitespace. */
static int key_read(const struct ctl *c, char *key, size_t cap)
{
	char line[512];
	FILE *f;
	size_t start = 0, end;

	f = fopen(c->key_file, "r");
	if (!f) {
		fprintf(stderr, "accruectl: cannot read key file %s: %s\n", c->key_file, strerror(errno));
		return EXIT_IO;
	}
	if (!fgets(line, sizeof line, f)) {
		if (ferror(f))
			fprintf(stderr, "accruectl: cannot read key file %s: %s\n", c->key_file, strerror(errno));
		else
			fprintf(stderr, "accruectl: key file %s is empty\n", c->key_file);
		fclose(f);
		return EXIT_IO;
	}
	fclose(f);
	end = strlen(line);
	while (end > 0 && strchr(" \t\r\n\v\f", line[end - 1]))
		end--;
	while (start < end && strchr(" \t\r\n\v\f", line[start]))
		start++;
	if (start == end) {
		fprintf(stderr, "accruectl: key file %s has no key on its first line\n", c->key_file);
		return EXIT_IO;
	}
	if (end - start >= cap) {
		fprintf(stderr, "accruectl: key file %s: the key is longer than %zu bytes\n", c->key_file, cap - 1);
		return EXIT_IO;
	}
	memcpy(key, line + start, end - start);
	key[end - start] = '\0';
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

static void money_format(char *buf, size_t cap, int64_t minor)
{
	uint64_t m = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;

	snprintf(buf, cap, "%s%" PRIu64 ".%02" PRIu64, minor < 0 ? "-" : "", m / 100, m % 100);
}

/* ISO-8601 UTC to the second; "" for 0, which means never. */
static void time_format(char *buf, size_t cap, int64_t us)
{
	int64_t s = us / 1000000;
	struct tm tm;
	time_t t;

	buf[0] = '\0';
	if (us == 0)
		return;
	if (us % 1000000 < 0)
		s--;
	t = (time_t)s;
	if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "@%" PRId64, us);
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0; /* overlong, or a UTF-16 surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/*
 * A JSON string. The server's texts should be UTF-8, but a document that a
 * parser rejects is worse than a replaced character, so invalid bytes
 * become U+FFFD.
 */
static void json_str(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putchar('"');
	while (*s) {
		size_t n = utf8_sequence(s);

		if (n == 0) {
			fputs("\\ufffd", stdout);
			s++;
			continue;
		}
		switch (*s) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\b': fputs("\\b", stdout); break;
		case '\f': fputs("\\f", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			if (*s < 0x20)
				printf("\\u%04x", *s);
			else
				fwrite(s, 1, n, stdout);
		}
		s += n;
	}
	putchar('"');
}

static void json_time(int64_t us)
{
	char buf[64];

	time_format(buf, sizeof buf, us);
	if (buf[0])
		json_str(buf);
	else
		fputs("null", stdout);
}

static void json_customer(const struct accrue_customer *cu)
{
	printf("{\"id\":%" PRIu64 ",\"email\":", cu->id);
	json_str(cu->email);
	fputs(",\"phone\":", stdout);
	json_str(cu->phone);
	fputs(",\"first_name\":", stdout);
	json_str(cu->first_name);
	fputs(",\"last_name\":", stdout);
	json_str(cu->last_name);
	printf(",\"balance\":%" PRId64 ",\"lifetime_points\":%" PRId64 ",\"visits\":%" PRIu64
	       ",\"total_spend\":%" PRId64 ",\"average_spend\":%" PRId64 ",\"created\":",
	       cu->balance, cu->lifetime_points, cu->visits, cu->total_spend, cu->average_spend);
	json_time(cu->created_us);
	fputs(",\"last_visit\":", stdout);
	json_time(cu->last_visit_us);
	putchar('}');
}

/*
 * Text for a terminal: control characters from the server would move the
 * cursor or worse, so they are shown as '?'. Empty text is shown as "-".
 */
static char *text_clean(const char *s)
{
	char *out;

	if (!*s)
		s = "-";
	out = strdup(s);
	if (!out)
		return NULL;
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

/* Columns a string takes on a terminal, counting a UTF-8 sequence as one. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void field_print(const char *label, const char *value)
{
	char *clean = text_clean(value);

	printf("%-16s %s\n", label, clean ? clean : "?");
	free(clean);
}

static void customer_print(const struct accrue_customer *cu)
{
	char buf[64];

	snprintf(buf, sizeof buf, "#%" PRIu64, cu->id);
	field_print("customer", buf);
	field_print("email", cu->email);
	field_print("phone", cu->phone);
	field_print("first name", cu->first_name);
	field_print("last name", cu->last_name);
	snprintf(buf, sizeof buf, "%" PRId64, cu->balance);
	field_print("balance", buf);
	snprintf(buf, sizeof buf, "%" PRId64, cu->lifetime_points);
	field_print("lifetime points", buf);
	snprintf(buf, sizeof buf, "%" PRIu64, cu->visits);
	field_print("visits", buf);
	money_format(buf, sizeof buf, cu->total_spend);
	field_print("total spend", buf);
	money_format(buf, sizeof buf, cu->average_spend);
	field_print("average spend", buf);
	time_format(buf, sizeof buf, cu->created_us);
	field_print("created", buf);
	time_format(buf, sizeof buf, cu->last_visit_us);
	field_print("last visit", buf);
}

/* ---- tables ---------------------------------------------------------- */

#define TABLE_MAX_COLS 10

/* A text table whose columns are as wide as their widest cell. */
struct table {
	int ncols;
	const char *heads[TABLE_MAX_COLS];
	int right[TABLE_MAX_COLS]; /* 1: right-aligned (numbers) */
	char **cells;              /* nrows * ncols, owned */
	size_t nrows;
	size_t cap;
	int nomem;
};

static void table_row(struct table *t, const char *const *values)
{
	if (t->nomem)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		char **p = realloc(t->cells, cap * (size_t)t->ncols * sizeof *p);

		if (!p) {
			t->nomem = 1;
			return;
		}
		t->cells = p;
		t->cap = cap;
	}
	for (int i = 0; i < t->ncols; i++) {
		char *cell = text_clean(values[i]);

		if (!cell)
			t->nomem = 1;
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = cell;
	}
	t->nrows++;
}

static void cell_print(const char *s, size_t width, int right, int last)
{
	size_t pad = width - text_width(s);

	if (right)
		printf("%*s%s", (int)pad, "", s);
	else if (last)
		fputs(s, stdout);
	else
		printf("%s%*s", s, (int)pad, "");
}

static void table_print(const struct table *t)
{
	size_t width[TABLE_MAX_COLS];

	for (int i = 0; i < t->ncols; i++) {
		width[i] = text_width(t->heads[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *cell = t->cells[r * (size_t)t->ncols + (size_t)i];
			size_t w = text_width(cell ? cell : "?");

			if (w > width[i])
				width[i] = w;
		}
	}
	for (int i = 0; i < t->ncols; i++) {
		cell_print(t->heads[i], width[i], t->right[i], i == t->ncols - 1);
		fputs(i == t->ncols - 1 ? "\n" : "  ", stdout);
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			const char *cell = t->cells[r * (size_t)t->ncols + (size_t)i];

			cell_print(cell ? cell : "?", width[i], t->right[i], i == t->ncols - 1);
			fputs(i == t->ncols - 1 ? "\n" : "  ", stdout);
		}
	}
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
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
		customer_print(&cu);
	}
	return EXIT_DONE;
}

static const char show_help[] =
	"Usage: accruectl show REF\n"
	"\n"
	"Show a customer: contact details, balance, lifetime points, visits and spend.\n"
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
		customer_print(&cu);
	}
	return EXIT_DONE;
}

static void change_print(const struct ctl *c, const struct accrue_result *res, const char *what)
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
	customer_print(&res->customer);
}

static const char accrue_help[] =
	"Usage: accruectl accrue REF --order ID --amount 12.34 [--location L]\n"
	"\n"
	"Accrue points on a sale. --amount is in the currency's major unit with at\n"
	"most two decimals (12, 12.3, 12.34). An order id is accrued once per\n"
	"location. Without --location the sale is booked at the key's own location,\n"
	"or at \"default\" for a key that has none.\n";

static int cmd_accrue(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *order = NULL, *amount_text = NULL, *location = NULL;
	const struct option_spec opts[] = {
		{"order", &order}, {"amount", &amount_text}, {"location", &location}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_result res;
	int64_t amount;
	char what[160], money[32];
	int rc;

	rc = args_parse(c, argc, argv, opts, pos, names, 1, 1);
	if (rc == ARGS_HELP)
		return help_show(accrue_help);
	if (rc != 0)
		return rc;
	if ((rc = ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (!order || !*order)
		return usage_error(c, "accrue needs --order ID");
	if (!amount_text)
		return usage_error(c, "accrue needs --amount");
	if (amount_parse(amount_text, &amount) != 0)
		return usage_error(c, "--amount '%s' is not an amount like 12.34 (no sign, at most two decimals)",
				   amount_text);
	if (amount == 0)
		return usage_error(c, "--amount must be more than zero");
	if ((rc = session_open(c)) != 0)
		return rc;
	rc = accrue_accrue(c->a, NULL, &ref, location, order, amount, &res);
	if (rc != 0)
		return call_failed(c, rc);
	money_format(money, sizeof money, amount);
	snprintf(what, sizeof what, "accrued %" PRId64 " points on a sale of %s", res.points, money);
	change_print(c, &res, what);
	return EXIT_DONE;
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
	"A customer's point history, newest first: enrolment, sales, adjustments,\n"
	"with the balance after each. Shows at most N entries (default 20).\n";

static void history_print_json(const struct accrue_entry *e, uint32_t n)
{
	fputs("{\"entries\":[", stdout);
	for (uint32_t i = 0; i < n; i++) {
		printf("%s{\"seq\":%" PRIu64 ",\"type\":", i ? "," : "", e[i].seq);
		json_str(proto_entry_type_name(e[i].type));
		fputs(",\"time\":", stdout);
		json_time(e[i].time_us);
		printf(",\"points\":%" PRId64 ",\"balance_after\":%" PRId64 ",\"amount\":%" PRId64 ",\"location\":",
		       e[i].points, e[i].balance_after, e[i].amount);
		json_str(e[i].location);
		fputs(",\"order_id\":", stdout);
		json_str(e[i].order_id);
		fputs(",\"reason\":", stdout);
		json_str(e[i].reason);
		fputs(",\"comment\":", stdout);
		json_str(e[i].comment);
		putchar('}');
	}
	fputs("]}\n", stdout);
}

static int history_print_text(const struct accrue_entry *e, uint32_t n)
{
	struct table t = {
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
		time_format(when, sizeof when, e[i].time_us);
		snprintf(points, sizeof points, e[i].points > 0 ? "+%" PRId64 : "%" PRId64, e[i].points);
		snprintf(balance, sizeof balance, "%" PRId64, e[i].balance_after);
		if (e[i].amount)
			money_format(amount, sizeof amount, e[i].amount);
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
		table_row(&t, row);
	}
	if (t.nomem) {
		fputs("accruectl: out of memory\n", stderr);
		rc = EXIT_IO;
	} else if (n == 0) {
		puts("no history");
	} else {
		table_print(&t);
	}
	table_free(&t);
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
		json_str(proto_role_name(info.role));
		fputs(",\"location\":", stdout);
		json_str(info.location);
		fputs(",\"key\":", stdout);
		if (secret[0])
			json_str(secret);
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
			json_str(proto_role_name(keys[i].role));
			fputs(",\"location\":", stdout);
			json_str(keys[i].location);
			fputs(",\"created\":", stdout);
			json_time(keys[i].created_us);
			printf(",\"revoked\":%s}", keys[i].revoked ? "true" : "false");
		}
		fputs("]}\n", stdout);
	} else {
		struct table t = {
			.ncols = 5,
			.heads = {"ID", "ROLE", "LOCATION", "CREATED", "STATUS"},
			.right = {1, 0, 0, 0, 0},
		};

		for (uint32_t i = 0; i < n; i++) {
			char id[24], created[64];
			const char *row[5];

			snprintf(id, sizeof id, "%" PRIu64, keys[i].id);
			time_format(created, sizeof created, keys[i].created_us);
			row[0] = id;
			row[1] = proto_role_name(keys[i].role);
			row[2] = keys[i].location;
			row[3] = created;
			row[4] = keys[i].revoked ? "revoked" : "active";
			table_row(&t, row);
		}
		if (t.nomem) {
			fputs("accruectl: out of memory\n", stderr);
			rc = EXIT_IO;
		} else {
			table_print(&t);
		}
		table_free(&t);
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
	static const struct {
		const char *name;
		const char *full_name;
		int (*run)(struct ctl *c, int argc, char **argv);
	} subs[] = {
		{"create", "key create", key_create},
		{"list", "key list", key_list},
		{"revoke", "key revoke", key_revoke},
	};
	int i = 0, rc;

	/* Global options may come between "key" and the subcommand too. */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return help_show(key_help);
		rc = global_option(c, argc, argv, &i);
		if (rc == 0)
			return usage_error(c, "unknown option '%s'", argv[i]);
		if (rc != 1)
			return rc;
		i++;
	}
	if (i == argc)
		return usage_error(c, "key needs a subcommand: create, list or revoke");
	for (size_t s = 0; s < sizeof subs / sizeof subs[0]; s++) {
		if (strcmp(argv[i], subs[s].name) == 0) {
			c->cmd_name = subs[s].full_name;
			return subs[s].run(c, argc - i - 1, argv + i + 1);
		}
	}
	return usage_error(c, "unknown key subcommand '%s': use create, list or revoke", argv[i]);
}

static int cmd_help(struct ctl *c, int argc, char **argv);

static const char help_help[] = "Usage: accruectl help [COMMAND]\n\nShow help for accruectl or for one command.\n";

static const struct command commands[] = {
	{"enrol", cmd_enrol, enrol_help},
	{"show", cmd_show, show_help},
	{"accrue", cmd_accrue, accrue_help},
	{"add", cmd_add, add_help},
	{"use", cmd_use, use_help},
	{"history", cmd_history, history_help},
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
