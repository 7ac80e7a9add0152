/*
 * ctl_places.c - accruectl's groups and locations: `groups` (each group
 * with its member count) and `locations` (each location seen, with its
 * sales, points, last sale and the terminal keys bound to it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"

const char ctl_help_groups[] =
	"Usage: accruectl groups [--json]\n"
	"\n"
	"Each group with at least one customer in it, and how many customers are\n"
	"in it, in byte order of the names. The daemon keeps the counts as groups\n"
	"change, so this is quick on any number of customers. Admin and read-only\n"
	"keys; a terminal key may not list the customer base.\n"
	"\n"
	"  --json   {\"groups\":[{\"name\":...,\"members\":N},...]}\n";

const char ctl_help_locations[] =
	"Usage: accruectl locations [--json]\n"
	"\n"
	"Each location seen: every location a sale was booked at, every one an\n"
	"active terminal key is bound to and every one the program setting\n"
	"locations lists, in byte order of the names. For each: its sales (orders\n"
	"accrued there), what they sold for and earned, what returns refunded and\n"
	"took back, the time of the sale booked last (as the till dated it) and the\n"
	"ids of the terminal keys bound to it. Locations are trimmed and lower-cased\n"
	"(A-Z) as sales name them. Admin and read-only keys.\n"
	"\n"
	"  --json   {\"locations\":[{\"name\":...,\"sales\":N,\"amount\":MINOR,\"points\":N,\n"
	"           \"refunded\":MINOR,\"points_taken_back\":N,\"last_sale\":TIME|null,\n"
	"           \"last_sale_seq\":SEQ,\"keys\":[ID,...],\"keys_total\":N},...]}\n"
	"           (amounts in minor units; keys lists at most 64 ids)\n";

int ctl_cmd_groups(struct ctl *c, int argc, char **argv)
{
	struct accrue_group_info *groups = NULL;
	uint32_t n = 0;
	int rc;

	if ((rc = ctl_args_parse(c, argc, argv, NULL, NULL, NULL, 0, 0)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	if ((rc = accrue_groups(c->a, &groups, &n)) != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		fputs("{\"groups\":[", stdout);
		for (uint32_t i = 0; i < n; i++) {
			fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
			out_json_str(groups[i].name);
			printf(",\"members\":%" PRIu64 "}", groups[i].members);
		}
		fputs("]}\n", stdout);
	} else {
		struct out_table t = {.ncols = 2, .heads = {"GROUP", "MEMBERS"}, .right = {0, 1}};

		for (uint32_t i = 0; i < n; i++) {
			char members[24];
			const char *row[2] = {groups[i].name, members};

			snprintf(members, sizeof members, "%" PRIu64, groups[i].members);
			out_table_row(&t, row);
		}
		rc = ctl_table_finish(&t, "no groups");
	}
	free(groups);
	return rc;
}

/* The key ids of l, comma-separated, "-" for none, "..." when not all are listed. */
static void key_ids(char *buf, size_t cap, const struct accrue_location_info *l)
{
	size_t at = 0;

	buf[0] = '\0';
	for (uint32_t k = 0; k < l->nkeys && at < cap; k++)
		at += (size_t)snprintf(buf + at, cap - at, "%s%" PRIu64, k ? "," : "", l->keys[k]);
	if (l->nkeys < l->nkeys_total && at < cap)
		snprintf(buf + at, cap - at, ",... (%u)", (unsigned)l->nkeys_total);
	if (!buf[0])
		snprintf(buf, cap, "-");
}

int ctl_cmd_locations(struct ctl *c, int argc, char **argv)
{
	struct accrue_location_info *locs = NULL;
	uint32_t n = 0;
	int rc;

	if ((rc = ctl_args_parse(c, argc, argv, NULL, NULL, NULL, 0, 0)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	if ((rc = accrue_locations(c->a, &locs, &n)) != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		fputs("{\"locations\":[", stdout);
		for (uint32_t i = 0; i < n; i++) {
			const struct accrue_location_info *l = &locs[i];

			fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
			out_json_str(l->name);
			printf(",\"sales\":%" PRIu64 ",\"amount\":%" PRId64 ",\"points\":%" PRId64 ",\"refunded\":%" PRId64
			       ",\"points_taken_back\":%" PRId64 ",\"last_sale\":",
			       l->sales, l->amount, l->points, l->refunded, l->taken_back);
			out_json_time(l->last_us);
			printf(",\"last_sale_seq\":%" PRIu64 ",\"keys\":[", l->last_seq);
			for (uint32_t k = 0; k < l->nkeys; k++)
				printf("%s%" PRIu64, k ? "," : "", l->keys[k]);
			printf("],\"keys_total\":%u}", (unsigned)l->nkeys_total);
		}
		fputs("]}\n", stdout);
	} else {
		struct out_table t = {
			.ncols = 8,
			.heads = {"LOCATION", "SALES", "AMOUNT", "POINTS", "REFUNDED", "TAKEN BACK", "LAST SALE", "KEYS"},
			.right = {0, 1, 1, 1, 1, 1, 0, 0},
		};

		for (uint32_t i = 0; i < n; i++) {
			const struct accrue_location_info *l = &locs[i];
			char sales[24], amount[32], points[24], refunded[32], taken[24], last[64], keys[256];
			const char *row[8] = {l->name, sales, amount, points, refunded, taken, last, keys};

			snprintf(sales, sizeof sales, "%" PRIu64, l->sales);
			out_money_format(amount, sizeof amount, l->amount);
			snprintf(points, sizeof points, "%" PRId64, l->points);
			out_money_format(refunded, sizeof refunded, l->refunded);
			snprintf(taken, sizeof taken, "%" PRId64, l->taken_back);
			if (l->last_us)
				out_time_format(last, sizeof last, l->last_us);
			else
				snprintf(last, sizeof last, "-");
			key_ids(keys, sizeof keys, l);
			out_table_row(&t, row);
		}
		rc = ctl_table_finish(&t, "no locations");
	}
	free(locs);
	return rc;
}

const char ctl_help_group_rename[] =
	"Usage: accruectl group rename OLD NEW [--json]\n"
	"\n"
	"Move every customer in group OLD to group NEW, in one journal record\n"
	"(admin keys only). If NEW has customers already the groups merge: a\n"
	"customer in both is in NEW once. Refused while a program setting names\n"
	"OLD (multiplier.group.OLD, or a promotion's group list): change that\n"
	"setting first with `program set`. The rename belongs to no customer, so\n"
	"a member's history does not show it. Names as `group add` takes them:\n"
	"printable, no spaces or commas, at most 64 bytes.\n"
	"\n"
	"  --json   {\"from\":OLD,\"to\":NEW,\"moved\":N,\"members\":N}\n";

int ctl_cmd_group_rename(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"OLD", "NEW"};
	const char *pos[2];
	uint64_t moved = 0, members = 0;
	int rc;

	if ((rc = ctl_args_parse(c, argc, argv, NULL, pos, names, 2, 2)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	if ((rc = accrue_group_rename(c->a, NULL, pos[0], pos[1], &moved, &members, NULL)) != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		fputs("{\"from\":", stdout);
		out_json_str(pos[0]);
		fputs(",\"to\":", stdout);
		out_json_str(pos[1]);
		printf(",\"moved\":%" PRIu64 ",\"members\":%" PRIu64 "}\n", moved, members);
	} else {
		printf("renamed group %s to %s: %" PRIu64 " customer%s moved, %" PRIu64 " in %s now\n", pos[0], pos[1],
		       moved, moved == 1 ? "" : "s", members, pos[1]);
	}
	return 0;
}
