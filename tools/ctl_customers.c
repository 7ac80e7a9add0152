/*
 * ctl_customers.c - accruectl's customer commands (enrol, show, history,
 * group, tier) and how a customer prints, as "label value" lines or as
 * one JSON object, for every command that shows one.
 */
#include "ctl.h"
#include "proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a customer, as text and JSON ----------------------------------------- */

void ctl_customer_print_json(const struct accrue_customer *cu)
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
	fputs("],\"cards\":[", stdout);
	for (int i = 0; i < cu->ncards; i++) {
		if (i)
			putchar(',');
		out_json_str(cu->cards[i]);
	}
	printf("],\"opted_out\":%s,\"optout_time\":", cu->opted_out ? "true" : "false");
	out_json_time(cu->opted_out ? cu->optout_us : 0);
	fputs(",\"optout_source\":", stdout);
	if (cu->opted_out && cu->optout_source[0])
		out_json_str(cu->optout_source);
	else
		fputs("null", stdout);
	printf(",\"archived\":%s,\"merged_into\":", cu->archived ? "true" : "false");
	if (cu->merged_into)
		printf("%" PRIu64, cu->merged_into);
	else
		fputs("null", stdout);
	putchar('}');
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

void ctl_customer_print(const char *unit, const struct accrue_customer *cu)
{
	char buf[64], label[32];

	snprintf(buf, sizeof buf, "#%" PRIu64, cu->id);
	out_field_print("customer", buf);
	if (cu->archived) {
		if (cu->merged_into)
			snprintf(buf, sizeof buf, "merged into #%" PRIu64 "; personal data erased", cu->merged_into);
		else
			snprintf(buf, sizeof buf, "yes; personal data erased");
		out_field_print("archived", buf);
	}
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
	{
		/* The cards as "1234, 5678"; the marketing opt-out with its time and source. */
		char cards[ACCRUE_MAX_CARDS * 42 + 1], when[64], mk[64 + 72 + 32];
		size_t len = 0;

		cards[0] = '\0';
		for (int i = 0; i < cu->ncards && len < sizeof cards; i++)
			len += (size_t)snprintf(cards + len, sizeof cards - len, "%s%s", i ? ", " : "", cu->cards[i]);
		out_field_print("cards", cards);
		if (cu->opted_out) {
			out_time_format(when, sizeof when, cu->optout_us);
			snprintf(mk, sizeof mk, "opted out %s%s%s%s", when, cu->optout_source[0] ? " (" : "", cu->optout_source,
				 cu->optout_source[0] ? ")" : "");
			out_field_print("marketing", mk);
		} else {
			out_field_print("marketing", "opted in");
		}
	}
}

void ctl_change_print(struct ctl *c, const struct accrue_result *res, const char *what)
{
	if (c->json) {
		printf("{\"seq\":%" PRIu64 ",\"points\":%" PRId64 ",\"replay\":%s,\"customer\":", res->seq, res->points,
		       res->replay ? "true" : "false");
		ctl_customer_print_json(&res->customer);
		fputs("}\n", stdout);
		return;
	}
	printf("%s (journal seq %" PRIu64 ")\n", what, res->seq);
	if (res->replay)
		puts("note: this repeats an earlier request with the same key; nothing was applied again");
	ctl_customer_print(ctl_unit_name(c), &res->customer);
}

/* ---- commands ------------------------------------------------------------ */

const char ctl_help_enrol[] =
	"Usage: accruectl enrol [--email E] [--phone P] [--first F] [--last L]\n"
	"\n"
	"Enrol a new customer. At least one of --email and --phone is required;\n"
	"the server lower-cases the email (beyond ASCII: \"ÄNNA@x.com\" is\n"
	"\"änna@x.com\") and stores the phone as '+' and digits. A phone written\n"
	"without + is read in the program's phone.country (\"(555) 010-0002\" is\n"
	"+15550100002 with phone.country 1) and refused while none is set. Names\n"
	"are trimmed, and must be UTF-8 without control characters.\n";

int ctl_cmd_enrol(struct ctl *c, int argc, char **argv)
{
	const char *email = NULL, *phone = NULL, *first = NULL, *last = NULL;
	const struct ctl_option opts[] = {
		{"email", &email}, {"phone", &phone}, {"first", &first}, {"last", &last}, {NULL, NULL},
	};
	struct accrue_customer cu;
	int rc;

	rc = ctl_args_parse(c, argc, argv, opts, NULL, NULL, 0, 0);
	if (rc != 0)
		return rc;
	if ((!email || !*email) && (!phone || !*phone))
		return ctl_usage_error(c, "enrol needs --email or --phone");
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_enrol(c->a, NULL, email, phone, first, last, &cu, NULL);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		ctl_customer_print_json(&cu);
		putchar('\n');
	} else {
		printf("enrolled customer #%" PRIu64 "\n", cu.id);
		ctl_customer_print(ctl_unit_name(c), &cu);
	}
	return CTL_EXIT_DONE;
}

const char ctl_help_show[] =
	"Usage: accruectl show REF\n"
	"\n"
	"Show a customer: contact details, balance, lifetime points, visits and spend,\n"
	"whether a member or a guest (recorded by a sale, earns nothing), tier and\n"
	"groups, loyalty cards, and the marketing opt-out with its time and source.\n"
	"REF is an email, a phone number, #ID ('#42' in a shell) or card:NUMBER. The\n"
	"email and phone are looked up as enrol stores them (\"555 010 0001\" is\n"
	"+15550100001 with phone.country 1); \"no customer\" names the form that was\n"
	"searched.\n";

int ctl_cmd_show(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1];
	struct accrue_ref ref;
	struct accrue_customer cu;
	int rc;

	rc = ctl_args_parse(c, argc, argv, NULL, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_lookup(c->a, &ref, &cu);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		ctl_customer_print_json(&cu);
		putchar('\n');
	} else {
		ctl_customer_print(ctl_unit_name(c), &cu);
	}
	return CTL_EXIT_DONE;
}

const char ctl_help_history[] =
	"Usage: accruectl history REF [--limit N]\n"
	"\n"
	"A customer's point history, newest first: enrolment, sales (accrue),\n"
	"returns, adjustments, group and tier changes, joining as a member, edits\n"
	"(naming the fields changed, not their values), cards linked and unlinked,\n"
	"marketing opt-outs and opt-ins, with the balance after each. Shows at\n"
	"most N entries (default 20).\n"
	"\n"
	"Columns: DETAIL says what happened, for staff (\"added to group vip\",\n"
	"\"tier gold\", \"email, phone changed\", \"card 1234 linked\", \"opted out\n"
	"(sms STOP)\"); NOTE is the internal note someone wrote (an adjustment's\n"
	"reason, a tier change's note); COMMENT is what the customer sees (an\n"
	"adjustment's comment) and is empty on every other entry. --json gives\n"
	"them as detail, reason and comment.\n";

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
		fputs(",\"detail\":", stdout);
		out_json_str(e[i].detail);
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
		.ncols = 11,
		.heads = {"SEQ", "TIME", "TYPE", "POINTS", "BALANCE", "AMOUNT", "LOCATION", "ORDER", "DETAIL", "NOTE",
			  "COMMENT"},
		.right = {1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0},
	};

	for (uint32_t i = 0; i < n; i++) {
		char seq[24], when[64], points[24], balance[24], amount[32];
		const char *row[11];

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
		row[8] = e[i].detail;
		row[9] = e[i].reason;
		row[10] = e[i].comment;
		out_table_row(&t, row);
	}
	return ctl_table_finish(&t, "no history");
}

int ctl_cmd_history(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *limit_text = NULL;
	const struct ctl_option opts[] = {
		{"limit", &limit_text}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_entry *entries = NULL;
	uint64_t limit = CTL_HISTORY_DEFAULT_LIMIT, before = 0;
	uint32_t have = 0;
	int rc;

	rc = ctl_args_parse(c, argc, argv, opts, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (limit_text && ctl_uint_parse(limit_text, UINT32_MAX, &limit) != 0)
		return ctl_usage_error(c, "--limit '%s' is not a positive whole number", limit_text);
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	/* Pages of at most 1000 entries, each continuing where the last stopped. */
	while (have < limit) {
		uint32_t page = limit - have > 1000 ? 1000 : (uint32_t)(limit - have);
		struct accrue_entry *p = realloc(entries, ((size_t)have + page) * sizeof *entries);
		uint32_t n;
		uint64_t next;

		if (!p) {
			rc = ctl_nomem();
			goto done;
		}
		entries = p;
		rc = accrue_history(c->a, &ref, before, entries + have, page, &n, &next);
		if (rc != 0) {
			rc = ctl_call_failed(c, rc);
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

const char ctl_help_group[] =
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

	rc = ctl_args_parse(c, argc, argv, NULL, pos, names, 2, 2);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (!*pos[1])
		return ctl_usage_error(c, "the group NAME is empty");
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_group(c->a, NULL, &ref, add, pos[1], &cu);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		fputs("{\"group\":", stdout);
		out_json_str(pos[1]);
		printf(",\"added\":%s,\"customer\":", add ? "true" : "false");
		ctl_customer_print_json(&cu);
		fputs("}\n", stdout);
	} else {
		char *clean = out_text_clean(pos[1]);

		printf("%s customer #%" PRIu64 " %s group %s\n", add ? "added" : "removed", cu.id, add ? "to" : "from",
		       clean ? clean : "?");
		free(clean);
		ctl_customer_print(ctl_unit_name(c), &cu);
	}
	return CTL_EXIT_DONE;
}

int ctl_cmd_group_add(struct ctl *c, int argc, char **argv)
{
	return group_run(c, argc, argv, 1);
}

int ctl_cmd_group_remove(struct ctl *c, int argc, char **argv)
{
	return group_run(c, argc, argv, 0);
}

const char ctl_help_tier[] =
	"Usage: accruectl tier set REF TIER [--note N]\n"
	"\n"
	"Put a customer in a tier (admin keys only); TIER \"\" takes them out of any.\n"
	"A tier earns the multiplier multiplier.tier.TIER if the program sets one.\n"
	"--note is internal and kept in the journal. A tier name has at most 64\n"
	"bytes.\n";

int ctl_cmd_tier_set(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF", "TIER"};
	const char *pos[2], *note = NULL;
	const struct ctl_option opts[] = {
		{"note", &note}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_customer cu;
	int rc;

	rc = ctl_args_parse(c, argc, argv, opts, pos, names, 2, 2);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_tier(c->a, NULL, &ref, pos[1], note, &cu);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		fputs("{\"tier\":", stdout);
		if (cu.tier[0])
			out_json_str(cu.tier);
		else
			fputs("null", stdout);
		fputs(",\"customer\":", stdout);
		ctl_customer_print_json(&cu);
		fputs("}\n", stdout);
	} else {
		if (cu.tier[0]) {
			char *clean = out_text_clean(cu.tier);

			printf("customer #%" PRIu64 " is in tier %s\n", cu.id, clean ? clean : "?");
			free(clean);
		} else {
			printf("customer #%" PRIu64 " is in no tier\n", cu.id);
		}
		ctl_customer_print(ctl_unit_name(c), &cu);
	}
	return CTL_EXIT_DONE;
}
