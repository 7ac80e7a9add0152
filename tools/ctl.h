/*
 * ctl.h - what accruectl's files share; nothing outside tools/ includes it.
 *
 * accruectl is an ordinary client of libaccrue. Its files, by job:
 *   accruectl.c       main: global options, finding and running a command,
 *                     'accruectl --help' and 'help'
 *   ctl_commands.def  the command table: one row per command
 *   ctl_args.c        the command line: the table's rows as an array, a
 *                     command's options and positionals, value parsers
 *   ctl_session.c     the connection to accrued, and the messages and exit
 *                     statuses of what fails
 *   ctl_customers.c   enrol, show, history, group, tier; how a customer prints
 *   ctl_sales.c       accrue, return, quote, orders, order, batch
 *   ctl_points.c      add, use
 *   ctl_program.c     program show, program set
 *   ctl_keys.c        key create, key list, key revoke
 *   ctl_list.c        customers, export customers: the customer book's pages
 *   ctl_import.c      import adjustments, import customers
 *   ctl_csv.c         CSV files read whole and parsed with libcsv (ctl_csv.h)
 * Printing goes through output.h (accrue_output), shared with accrue-check.
 *
 * To add a command: one row in ctl_commands.def, and its handler and help
 * page in its group's file. Nothing else lists commands.
 */
#ifndef ACCRUE_CTL_H
#define ACCRUE_CTL_H

#include "accrue.h"
#include "output.h"

#include <stddef.h>
#include <stdint.h>

/* accruectl's exit statuses, which scripts rely on. */
enum ctl_exit {
	CTL_EXIT_DONE = 0,
	CTL_EXIT_REFUSED = 1, /* the server refused the request */
	CTL_EXIT_USAGE = 2,   /* bad command line */
	CTL_EXIT_IO = 3,      /* cannot connect, connection lost, key file unreadable */
};

/*
 * What ctl_args_parse returns when the command's --help was asked for. A
 * handler returns it as it is, and the dispatcher prints the help page of
 * the handler's row, so a page is named in one place only.
 */
#define CTL_ARGS_HELP (-1)

/* How many entries history and orders show without --limit. */
#define CTL_HISTORY_DEFAULT_LIMIT 20

/* One run of accruectl: the global options and the connection. */
struct ctl {
	const char *server;
	const char *key_file;
	int json;
	const char *cmd_name; /* "show", "key create": for usage hints; NULL before the command */
	accrue *a;            /* NULL until ctl_session_open */
};

/* ---- the command table (ctl_commands.def) ------------------------------ */

/*
 * The least API key role a command's requests need, as accrued's opcode
 * table (server/dispatch.c) decides. accruectl does not check it: the
 * server refuses, with a message of its own. It is declared in the row so
 * that what a command needs is said beside it; nothing prints it yet.
 */
enum ctl_role {
	CTL_ROLE_NONE,   /* needs no key: it does not connect */
	CTL_ROLE_ANY,    /* any key, read-only included */
	CTL_ROLE_SELLER, /* admin or terminal */
	CTL_ROLE_ADMIN,
};

/* A command, one row of ctl_commands.def. */
struct ctl_command {
	const char *name; /* "show"; a subcommand is "key create" */
	/* Runs it with the arguments after its name: an exit status, or CTL_ARGS_HELP. */
	int (*run)(struct ctl *c, int argc, char **argv);
	const char *help; /* the page 'accruectl NAME --help' and 'accruectl help NAME' print */
	enum ctl_role role;
	const char *synopsis; /* its line(s) in 'accruectl --help'; NULL: the row before covers it */
	const char *summary;  /* what it does, in a few words, beside the synopsis */
};

/* Every command's handler (ctl_cmd_HANDLER) and help page (ctl_help_HELP). */
#define CTL_COMMAND(name, handler, help, role, synopsis, summary)       \
	int ctl_cmd_##handler(struct ctl *c, int argc, char **argv); \
	extern const char ctl_help_##help[];
#include "ctl_commands.def"
#undef CTL_COMMAND

/* The rows of ctl_commands.def, in its order (the order of --help). */
extern const struct ctl_command ctl_commands[];
extern const size_t ctl_ncommands;

/*
 * The first row whose command word is word: the command itself, or the
 * first subcommand of a command that has them ("key" finds "key create").
 * NULL if there is none.
 */
const struct ctl_command *ctl_command_find(const char *word);

/* ---- the command line (ctl_args.c) ------------------------------------- */

/* A command option that takes a value: "--name VALUE" or "--name=VALUE". */
struct ctl_option {
	const char *name;
	const char **value;
};

/* An option that may be repeated (--line): every value, in order, pointing into argv. */
struct ctl_option_list {
	const char *name;
	int max;            /* values allowed; one more is a usage error */
	int n;
	const char **items; /* room for max */
};

/* Say what is wrong with the command line and how to get help; returns CTL_EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int ctl_usage_error(const struct ctl *c, const char *fmt, ...);

/*
 * The global options (--json, --server, --key-file), wherever they appear.
 * Returns 1 if argv[*i] was one (consumed, with its value), 0 if not, or
 * CTL_EXIT_USAGE after saying why.
 */
int ctl_global_option_parse(struct ctl *c, int argc, char **argv, int *i);

/*
 * Parse a command's arguments: its options (each takes a value; a repeated
 * one keeps the last), its repeatable options (lists, may be NULL), the
 * global options, and between pos_min and pos_max positionals named by
 * pos_names. A word that looks like a negative number is a positional, so
 * that "use REF -5" gets a message about the number rather than about an
 * unknown option. Returns 0, CTL_EXIT_USAGE after saying why, or
 * CTL_ARGS_HELP.
 */
int ctl_args_parse_lists(struct ctl *c, int argc, char **argv, const struct ctl_option *opts,
			 struct ctl_option_list *lists, const char **pos, const char *const *pos_names, int pos_min,
			 int pos_max);

/* An option that takes no value (--all): *set becomes 1 when it is given. */
struct ctl_flag {
	const char *name;
	int *set;
};

/* ctl_args_parse_lists with flags too (may be NULL). */
int ctl_args_parse_all(struct ctl *c, int argc, char **argv, const struct ctl_option *opts,
		       struct ctl_option_list *lists, const struct ctl_flag *flags, const char **pos,
		       const char *const *pos_names, int pos_min, int pos_max);

/* ctl_args_parse_lists without repeatable options. */
int ctl_args_parse(struct ctl *c, int argc, char **argv, const struct ctl_option *opts, const char **pos,
		   const char *const *pos_names, int pos_min, int pos_max);

/* Digits only, 1..max. Returns 0 or -1. */
int ctl_uint_parse(const char *s, uint64_t max, uint64_t *out);

/* A signed whole number ("-5", "+12", "0") within int64_t. Returns 0 or -1. */
int ctl_int_parse(const char *s, int64_t *out);

/*
 * "12.34" -> 1234 minor units; "12" -> 1200; "12.3" -> 1230. No sign, at
 * most two decimals, digits on both sides of the point. Returns 0 or -1.
 * out_money_format is its inverse.
 */
int ctl_amount_parse(const char *s, int64_t *out);

/*
 * An ISO-8601 time: 2026-11-23T12:19:41Z, optionally with a fraction of a
 * second (up to 6 digits) and with an offset (+01:00) instead of Z. Into
 * UTC microseconds; 0 or -1. Times up to 1970-01-01T00:00:00Z are refused:
 * on the wire 0 means "now".
 */
int ctl_time_parse(const char *s, int64_t *us);

/* REF (an email, a phone number, #ID or card:NUMBER) into ref: 0, or CTL_EXIT_USAGE after saying why. */
int ctl_ref_parse(const struct ctl *c, const char *text, struct accrue_ref *ref);

/* ---- the session and failures (ctl_session.c) -------------------------- */

/* Read the key file and connect: 0, or an exit status after saying why. */
int ctl_session_open(struct ctl *c);

/* Report a failed library call and pick the exit status for it. */
int ctl_call_failed(const struct ctl *c, int rc);

/* The status's stable name in lower case ("not_found") in buf. */
const char *ctl_status_name(int status, char *buf, size_t cap);

/* Say accruectl ran out of memory; returns CTL_EXIT_IO. */
int ctl_nomem(void);

/* out_table_finish, saying so when out of memory: CTL_EXIT_DONE or CTL_EXIT_IO. */
int ctl_table_finish(struct out_table *t, const char *none);

/* ---- what several commands print (ctl_customers.c, ctl_program.c) ------ */

/* A customer as one JSON object (no newline). */
void ctl_customer_print_json(const struct accrue_customer *cu);

/* A customer as "label value" lines; unit ("points" or "stamps") is named beside the balance. */
void ctl_customer_print(const char *unit, const struct accrue_customer *cu);

/* A change to a balance (a sale, an adjustment): what in text, with the customer after it. */
void ctl_change_print(struct ctl *c, const struct accrue_result *res, const char *what);

/* The program's unit for text output: one PROGRAM_GET, "points" if it cannot be had. */
const char *ctl_unit_name(struct ctl *c);

#endif
