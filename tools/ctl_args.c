/*
 * ctl_args.c - accruectl's command line: the command table as an array,
 * global options wherever they appear, a command's options and
 * positionals, and the parsers of the values they carry (amounts, times,
 * customer references). Each parser says what is wrong in the words of the
 * command line, so a manager can fix what they typed.
 */
#include "ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- the command table ------------------------------------------------- */

const struct ctl_command ctl_commands[] = {
#define CTL_COMMAND(name, handler, help, role, synopsis, summary) \
	{name, ctl_cmd_##handler, ctl_help_##help, role, synopsis, summary},
#include "ctl_commands.def"
#undef CTL_COMMAND
};

const size_t ctl_ncommands = sizeof ctl_commands / sizeof ctl_commands[0];

const struct ctl_command *ctl_command_find(const char *word)
{
	size_t n = strlen(word);

	/* "key create" is two words on the command line, never one. */
	if (strchr(word, ' '))
		return NULL;
	for (size_t i = 0; i < ctl_ncommands; i++) {
		const char *name = ctl_commands[i].name;

		if (strncmp(name, word, n) == 0 && (name[n] == '\0' || name[n] == ' '))
			return &ctl_commands[i];
	}
	return NULL;
}

/* ---- options and positionals ------------------------------------------- */

int ctl_usage_error(const struct ctl *c, const char *fmt, ...)
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
	return CTL_EXIT_USAGE;
}

int ctl_global_option_parse(struct ctl *c, int argc, char **argv, int *i)
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
			return ctl_usage_error(c, "option '%s' needs a value", arg);
		*dest = argv[++*i];
	}
	if (**dest == '\0')
		return ctl_usage_error(c, "option '%.*s' needs a non-empty value", (int)nlen, arg);
	return 1;
}

int ctl_args_parse_lists(struct ctl *c, int argc, char **argv, const struct ctl_option *opts,
			 struct ctl_option_list *lists, const char **pos, const char *const *pos_names, int pos_min,
			 int pos_max)
{
	return ctl_args_parse_all(c, argc, argv, opts, lists, NULL, pos, pos_names, pos_min, pos_max);
}

int ctl_args_parse_all(struct ctl *c, int argc, char **argv, const struct ctl_option *opts,
		       struct ctl_option_list *lists, const struct ctl_flag *flags, const char **pos,
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
				return ctl_usage_error(c, "unexpected argument '%s'", arg);
			pos[npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = 1;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return CTL_ARGS_HELP;
		rc = ctl_global_option_parse(c, argc, argv, &i);
		if (rc == 1)
			continue;
		if (rc != 0)
			return rc;
		if (strncmp(arg, "--", 2) != 0)
			return ctl_usage_error(c, "unknown option '%s'", arg);
		name = arg + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		{
			const struct ctl_flag *f = flags;

			while (f && f->name && !(strlen(f->name) == nlen && strncmp(f->name, name, nlen) == 0))
				f++;
			if (f && f->name) {
				if (eq)
					return ctl_usage_error(c, "option '--%s' takes no value", f->name);
				*f->set = 1;
				continue;
			}
		}
		for (const struct ctl_option *o = opts; o && o->name; o++)
			if (strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0)
				dest = o->value;
		for (struct ctl_option_list *l = lists; !dest && l && l->name; l++) {
			if (strlen(l->name) != nlen || strncmp(l->name, name, nlen) != 0)
				continue;
			if (l->n == l->max)
				return ctl_usage_error(c, "at most %d --%s options are allowed", l->max, l->name);
			dest = &l->items[l->n++];
		}
		if (!dest)
			return ctl_usage_error(c, "unknown option '--%.*s'", (int)nlen, name);
		if (eq) {
			*dest = eq + 1;
		} else {
			if (i + 1 >= argc)
				return ctl_usage_error(c, "option '--%s' needs a value", name);
			*dest = argv[++i];
		}
	}
	if (npos < pos_min)
		return ctl_usage_error(c, "missing %s", pos_names[npos]);
	return 0;
}

int ctl_args_parse(struct ctl *c, int argc, char **argv, const struct ctl_option *opts, const char **pos,
		   const char *const *pos_names, int pos_min, int pos_max)
{
	return ctl_args_parse_lists(c, argc, argv, opts, NULL, pos, pos_names, pos_min, pos_max);
}

/* ---- values --------------------------------------------------------------- */

int ctl_uint_parse(const char *s, uint64_t max, uint64_t *out)
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

int ctl_int_parse(const char *s, int64_t *out)
{
	uint64_t mag = 0;
	int neg = *s == '-';

	if (*s == '-' || *s == '+')
		s++;
	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || mag > (UINT64_MAX - 9) / 10)
			return -1;
		mag = mag * 10 + (uint64_t)(*s - '0');
	}
	if (mag > (uint64_t)INT64_MAX + (uint64_t)neg)
		return -1;
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return 0;
}

int ctl_amount_parse(const char *s, int64_t *out)
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

int ctl_ref_parse(const struct ctl *c, const char *text, struct accrue_ref *ref)
{
	if (accrue_ref_parse(text, ref) != 0)
		return ctl_usage_error(c, "'%s' does not name a customer: give an email, a phone number, #ID or card:NUMBER", text);
	return 0;
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

int ctl_time_parse(const char *s, int64_t *us)
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
