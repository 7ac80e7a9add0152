/*
 * ctl_points.c - accruectl's manual point changes: add and use, one
 * adjustment each, positive or negative.
 */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>

const char ctl_help_add[] =
	"Usage: accruectl add REF POINTS [--reason R] [--comment C]\n"
	"\n"
	"Add points by hand (admin keys only). --reason is internal; --comment is\n"
	"shown to the customer (default \"Manual adjustments\").\n";

const char ctl_help_use[] =
	"Usage: accruectl use REF POINTS [--reason R] [--comment C]\n"
	"\n"
	"Use (take away) points by hand (admin keys only); refused if the balance\n"
	"is too low. --reason is internal; --comment is shown to the customer\n"
	"(default \"Manual adjustments\").\n";

/* add and use: one adjustment, positive or negative. */
static int adjust_run(struct ctl *c, int argc, char **argv, int sign)
{
	static const char *const names[] = {"REF", "POINTS"};
	const char *pos[2], *reason = NULL, *comment = NULL;
	const struct ctl_option opts[] = {
		{"reason", &reason}, {"comment", &comment}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_result res;
	uint64_t points;
	char what[96];
	int rc;

	rc = ctl_args_parse(c, argc, argv, opts, pos, names, 2, 2);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (ctl_uint_parse(pos[1], INT64_MAX, &points) != 0)
		return ctl_usage_error(c, "POINTS '%s' is not a positive whole number", pos[1]);
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_adjust(c->a, NULL, &ref, sign * (int64_t)points, reason, comment, &res);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (sign > 0)
		snprintf(what, sizeof what, "added %" PRId64 " points", res.points);
	else
		snprintf(what, sizeof what, "used %" PRId64 " points", -res.points);
	ctl_change_print(c, &res, what);
	return CTL_EXIT_DONE;
}

int ctl_cmd_add(struct ctl *c, int argc, char **argv)
{
	return adjust_run(c, argc, argv, 1);
}

int ctl_cmd_use(struct ctl *c, int argc, char **argv)
{
	return adjust_run(c, argc, argv, -1);
}
