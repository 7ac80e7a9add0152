/*
 * accruectl - the store manager's command line for accrued.
 *
 * An ordinary client of libaccrue: each command parses its arguments,
 * reads the API key from the key file, connects, makes one or a few calls
 * and prints the result, as aligned text for people or as exactly one JSON
 * document (--json) for scripts. The command files include proto.h only
 * for the stable names of statuses, roles and journal entry types.
 *
 * This file is main: the global options before the command, finding the
 * command's row in the table (ctl_commands.def) and running it, and the
 * help that reads the table. ctl.h lists the other files and their jobs.
 *
 * Exit status: 0 done, 1 refused by the server, 2 usage error, 3 cannot
 * connect or I/O failure (a missing or unreadable key file included).
 */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ACCRUE_VERSION
#define ACCRUE_VERSION "unknown"
#endif

#define DEFAULT_SERVER "127.0.0.1:7400"
#define DEFAULT_KEY_FILE "./data/admin.key"

/* ---- help ------------------------------------------------------------------ */

/* The usage text: this, a line or two per command from the table, then usage_tail. */
static const char usage_head[] =
	"Usage: accruectl [--server HOST:PORT] [--key-file FILE] [--json] COMMAND [ARGS]\n"
	"\n"
	"Manage an accrue loyalty ledger through the accrued daemon.\n"
	"\n"
	"Commands:\n";

static const char usage_tail[] =
	"\n"
	"REF names a customer: an email (ana@example.com), a phone number\n"
	"(+15550100), #ID (#42; quote it in a shell, '#42', or # starts a comment)\n"
	"or a loyalty card, card:NUMBER (card:4000123412341234).\n"
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

/*
 * Width of the synopsis column in the usage text. A synopsis whose last
 * line leaves no two spaces before the column puts its summary on a line
 * of its own.
 */
#define SYNOPSIS_WIDTH 32

static int usage_print(void)
{
	fputs(usage_head, stdout);
	for (size_t i = 0; i < ctl_ncommands; i++) {
		const struct ctl_command *cmd = &ctl_commands[i];
		const char *line = cmd->synopsis, *nl;

		if (!line)
			continue;
		while ((nl = strchr(line, '\n'))) {
			printf("  %.*s\n", (int)(nl - line), line);
			line = nl + 1;
		}
		if (strlen(line) + 2 <= SYNOPSIS_WIDTH)
			printf("  %-*s%s\n", SYNOPSIS_WIDTH, line, cmd->summary);
		else
			printf("  %s\n  %*s%s\n", line, SYNOPSIS_WIDTH, "", cmd->summary);
	}
	fputs(usage_tail, stdout);
	return CTL_EXIT_DONE;
}

static int help_show(const char *text)
{
	fputs(text, stdout);
	return CTL_EXIT_DONE;
}

const char ctl_help_help[] = "Usage: accruectl help [COMMAND]\n\nShow help for accruectl or for one command.\n";

int ctl_cmd_help(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"COMMAND"};
	const char *pos[1] = {NULL};
	const struct ctl_command *cmd;
	int rc;

	rc = ctl_args_parse(c, argc, argv, NULL, pos, names, 0, 1);
	if (rc != 0)
		return rc;
	if (!pos[0])
		return usage_print();
	cmd = ctl_command_find(pos[0]);
	if (!cmd)
		return ctl_usage_error(c, "unknown command '%s'", pos[0]);
	return help_show(cmd->help);
}

/* ---- running a command ------------------------------------------------------ */

/* Run one row's handler; a handler asked for --help leaves the page to its row. */
static int command_run(struct ctl *c, const struct ctl_command *cmd, int argc, char **argv)
{
	int rc = cmd->run(c, argc, argv);

	return rc == CTL_ARGS_HELP ? help_show(cmd->help) : rc;
}

/* "create" if cmd is "key create" and word is "key"; NULL if cmd is not a subcommand of word. */
static const char *subcommand_word(const struct ctl_command *cmd, const char *word)
{
	size_t n = strlen(word);

	return strncmp(cmd->name, word, n) == 0 && cmd->name[n] == ' ' ? cmd->name + n + 1 : NULL;
}

/* The subcommands of word, in the table's order, as "create, list or revoke". */
static const char *subcommand_names(const char *word, char *buf, size_t cap)
{
	size_t len = 0, n = 0, total = 0;
	const char *sub;

	for (size_t i = 0; i < ctl_ncommands; i++)
		total += subcommand_word(&ctl_commands[i], word) != NULL;
	buf[0] = '\0';
	for (size_t i = 0; i < ctl_ncommands && len < cap; i++) {
		if (!(sub = subcommand_word(&ctl_commands[i], word)))
			continue;
		n++;
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", n == 1 ? "" : n == total ? " or " : ", ", sub);
	}
	return buf;
}

/*
 * A command with subcommands ("key create"), whose first row is first:
 * which subcommand, then run its row with the rest.
 */
static int subcommand_run(struct ctl *c, const struct ctl_command *first, int argc, char **argv)
{
	char names[256];
	const char *sub;
	int i = 0, rc;

	/* Global options may come between the command and the subcommand too. */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return help_show(first->help);
		rc = ctl_global_option_parse(c, argc, argv, &i);
		if (rc == 0)
			return ctl_usage_error(c, "unknown option '%s'", argv[i]);
		if (rc != 1)
			return rc;
		i++;
	}
	subcommand_names(c->cmd_name, names, sizeof names);
	if (i == argc)
		return ctl_usage_error(c, "%s needs a subcommand: %s", c->cmd_name, names);
	for (size_t s = 0; s < ctl_ncommands; s++) {
		if ((sub = subcommand_word(&ctl_commands[s], c->cmd_name)) && strcmp(sub, argv[i]) == 0) {
			c->cmd_name = ctl_commands[s].name;
			return command_run(c, &ctl_commands[s], argc - i - 1, argv + i + 1);
		}
	}
	return ctl_usage_error(c, "unknown %s subcommand '%s': use %s", c->cmd_name, argv[i], names);
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
	const struct ctl_command *cmd;
	int i = 1, rc;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage_print();
		if (strcmp(argv[i], "--version") == 0) {
			puts("accruectl " ACCRUE_VERSION);
			return CTL_EXIT_DONE;
		}
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		rc = ctl_global_option_parse(&c, argc, argv, &i);
		if (rc == 0)
			return ctl_usage_error(&c, "unknown option '%s'", argv[i]);
		if (rc != 1)
			return rc;
		i++;
	}
	if (i == argc)
		return ctl_usage_error(&c, "no command given");
	cmd = ctl_command_find(argv[i]);
	if (!cmd)
		return ctl_usage_error(&c, "unknown command '%s'", argv[i]);
	c.cmd_name = argv[i];
	if (strchr(cmd->name, ' '))
		rc = subcommand_run(&c, cmd, argc - i - 1, argv + i + 1);
	else
		rc = command_run(&c, cmd, argc - i - 1, argv + i + 1);
	accrue_close(c.a);
	/* Output that never reached its file is a failure a script must see. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "accruectl: cannot write output: %s\n", strerror(errno));
		if (rc == CTL_EXIT_DONE)
			rc = CTL_EXIT_IO;
	}
	return rc;
}
