/*
 * ctl_book.c - accruectl's commands of the customer book: edit (names and
 * contact), card link and card unlink (loyalty cards), optout and optin
 * (the marketing opt-out), archive (erasure) and merge.
 */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The customer after a change: one JSON object, or a line saying what was done and the customer. */
static int customer_after(struct ctl *c, const struct accrue_customer *cu, const char *done)
{
	if (c->json) {
		ctl_customer_print_json(cu);
		putchar('\n');
	} else {
		printf("%s\n", done);
		ctl_customer_print(ctl_unit_name(c), cu);
	}
	return CTL_EXIT_DONE;
}

const char ctl_help_edit[] =
	"Usage: accruectl edit REF [--first F] [--last L] [--email E] [--phone P]\n"
	"                          [--no-email] [--no-phone]\n"
	"\n"
	"Change a customer's names and contact details (admin keys only). Only the\n"
	"fields given change; --no-email and --no-phone remove the email or phone\n"
	"number, and --first \"\" empties a name. The email is lower-cased and the\n"
	"phone reduced to '+' and digits, as enrol does. An email or phone number\n"
	"that belongs to another customer is refused with a conflict that names\n"
	"the field and the customer (\"email a@b.c is already customer #12\"). A\n"
	"customer keeps at least one of an email, a phone number and a loyalty\n"
	"card. History shows an edit entry naming the fields changed, not their\n"
	"values.\n"
	"REF is an email, a phone number, #ID ('#42' in a shell) or card:NUMBER.\n";

int ctl_cmd_edit(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *email = NULL, *phone = NULL, *first = NULL, *last = NULL;
	const struct ctl_option opts[] = {
		{"email", &email}, {"phone", &phone}, {"first", &first}, {"last", &last}, {NULL, NULL},
	};
	struct accrue_edit edit;
	struct accrue_ref ref;
	struct accrue_customer cu;
	char done[64], **args;
	int rc, n = 0, no_email = 0, no_phone = 0;

	/* --no-email and --no-phone take no value: taken out before the
	 * option parser, which knows only options with values. */
	args = malloc(((size_t)argc + 1) * sizeof *args);
	if (!args)
		return ctl_nomem();
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--no-email") == 0)
			no_email = 1;
		else if (strcmp(argv[i], "--no-phone") == 0)
			no_phone = 1;
		else
			args[n++] = argv[i];
	}
	args[n] = NULL;
	rc = ctl_args_parse(c, n, args, opts, pos, names, 1, 1);
	free(args);
	if (rc != 0)
		return rc;
	if ((no_email && email) || (no_phone && phone))
		return ctl_usage_error(c, "--no-%s and --%s contradict each other", no_email && email ? "email" : "phone",
				       no_email && email ? "email" : "phone");
	if (!email && !phone && !first && !last && !no_email && !no_phone)
		return ctl_usage_error(c, "edit needs at least one of --first, --last, --email, --phone, --no-email, --no-phone");
	if ((email && !*email) || (phone && !*phone))
		return ctl_usage_error(c, "an empty --%s: use --no-%s to remove it", email && !*email ? "email" : "phone",
				       email && !*email ? "email" : "phone");
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	edit.email = no_email ? "" : email;
	edit.phone = no_phone ? "" : phone;
	edit.first_name = first;
	edit.last_name = last;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_edit(c->a, NULL, &ref, &edit, &cu);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	snprintf(done, sizeof done, "edited customer #%" PRIu64, cu.id);
	return customer_after(c, &cu, done);
}

const char ctl_help_card[] =
	"Usage: accruectl card link REF CARD\n"
	"       accruectl card unlink REF CARD\n"
	"\n"
	"Link a loyalty card to a customer, or unlink it (admin keys only). A card\n"
	"number is 1 to 32 letters and digits; spaces and dashes are dropped and\n"
	"letters upper-cased. A card belongs to one customer at a time (linking\n"
	"another's is a conflict naming them); a customer, member or guest, holds\n"
	"up to 8. Once linked, card:NUMBER names the customer wherever a REF is\n"
	"taken, so a till can scan a card to look up, accrue and spend:\n"
	"    accruectl accrue card:4000123412341234 --order A-7 --amount 9.99\n"
	"A customer without email or phone keeps their last card.\n";

static int card_run(struct ctl *c, int argc, char **argv, int link)
{
	static const char *const names[] = {"REF", "CARD"};
	const char *pos[2];
	struct accrue_ref ref;
	struct accrue_customer cu;
	char done[128];
	int rc;

	rc = ctl_args_parse(c, argc, argv, NULL, pos, names, 2, 2);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (!*pos[1])
		return ctl_usage_error(c, "the CARD is empty");
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_card(c->a, NULL, &ref, link, pos[1], &cu);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	if (c->json) {
		fputs("{\"card\":", stdout);
		out_json_str(pos[1]);
		printf(",\"linked\":%s,\"customer\":", link ? "true" : "false");
		ctl_customer_print_json(&cu);
		fputs("}\n", stdout);
		return CTL_EXIT_DONE;
	}
	{
		/* The card as the server keeps it (the server accepted it: letters,
		 * digits, spaces and dashes, at most 32 bytes). */
		char card[40];
		size_t n = 0;

		for (const char *p = pos[1]; *p && n < sizeof card - 1; p++)
			if (*p != ' ' && *p != '-')
				card[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		card[n] = '\0';
		snprintf(done, sizeof done, "%s card %s %s customer #%" PRIu64, link ? "linked" : "unlinked", card,
			 link ? "to" : "from", cu.id);
	}
	return customer_after(c, &cu, done);
}

int ctl_cmd_card_link(struct ctl *c, int argc, char **argv)
{
	return card_run(c, argc, argv, 1);
}

int ctl_cmd_card_unlink(struct ctl *c, int argc, char **argv)
{
	return card_run(c, argc, argv, 0);
}

const char ctl_help_optout[] =
	"Usage: accruectl optout REF [--source TEXT]\n"
	"       accruectl optin REF\n"
	"\n"
	"Opt a customer out of marketing, recording when and, with --source, where\n"
	"it came from (at most 64 bytes: \"sms STOP\", \"till 4\"), or opt them in\n"
	"again, which clears the opt-out's time and source (history keeps them).\n"
	"Admin and terminal keys may: a STOP reply may reach a till or an SMS\n"
	"gateway. Opting out one who is opted out already changes nothing: the\n"
	"first time and source stay. show prints the opt-out as 'marketing'.\n";

static int optout_run(struct ctl *c, int argc, char **argv, int out)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *source = NULL;
	const struct ctl_option opts[] = {
		{"source", &source}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_customer cu;
	char done[96];
	int rc;

	rc = ctl_args_parse(c, argc, argv, out ? opts : NULL, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_optout(c->a, NULL, &ref, out, source, &cu);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	snprintf(done, sizeof done, "customer #%" PRIu64 " is opted %s marketing", cu.id, out ? "out of" : "in to");
	return customer_after(c, &cu, done);
}

int ctl_cmd_optout(struct ctl *c, int argc, char **argv)
{
	return optout_run(c, argc, argv, 1);
}

int ctl_cmd_optin(struct ctl *c, int argc, char **argv)
{
	return optout_run(c, argc, argv, 0);
}

const char ctl_help_archive[] =
	"Usage: accruectl archive REF --yes\n"
	"\n"
	"Archive a customer (admin keys only). This cannot be undone: their email,\n"
	"phone, names, loyalty cards, opt-out, tier, groups and every note written\n"
	"about them are erased for good, from the daemon's memory, from every\n"
	"journal record and snapshot, and from every byte of the data file, before\n"
	"the reply comes. What stays, under the customer's number, is the ledger:\n"
	"balance, lifetime points, visits and spend, and a history of amounts, so\n"
	"every total still adds up. 'show #ID' shows them as archived; the email\n"
	"and phone number may enrol again as a new customer. --yes is required.\n"
	"REF is an email, a phone number, #ID ('#42' in a shell) or card:NUMBER.\n";

int ctl_cmd_archive(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1];
	int yes = 0, rc;
	const struct ctl_flag flags[] = {{"yes", &yes}, {NULL, NULL}};
	struct accrue_ref ref;
	struct accrue_customer cu;
	char done[96];

	rc = ctl_args_parse_all(c, argc, argv, NULL, NULL, flags, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (!yes)
		return ctl_usage_error(c, "archive erases %s's personal data for good and cannot be undone: add --yes", pos[0]);
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_archive(c->a, NULL, &ref, &cu);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	snprintf(done, sizeof done, "archived customer #%" PRIu64 ": personal data erased", cu.id);
	return customer_after(c, &cu, done);
}

const char ctl_help_merge[] =
	"Usage: accruectl merge KEEP DROP --yes\n"
	"\n"
	"Merge two records of one person (admin keys only). DROP's balance,\n"
	"lifetime points, visits, spend, groups and loyalty cards move to KEEP;\n"
	"returns of DROP's orders go to KEEP; then DROP is archived as by\n"
	"'accruectl archive' (erased for good). Both histories show the merge.\n"
	"Done exactly once: a retry after a lost connection is answered, not done\n"
	"again. KEEP may not end with more than 8 groups or 8 cards. --yes is\n"
	"required. KEEP and DROP are each an email, a phone number, #ID or\n"
	"card:NUMBER.\n";

int ctl_cmd_merge(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"KEEP", "DROP"};
	const char *pos[2];
	int yes = 0, rc;
	const struct ctl_flag flags[] = {{"yes", &yes}, {NULL, NULL}};
	struct accrue_ref keep, drop;
	struct accrue_customer cu;
	char done[128];

	rc = ctl_args_parse_all(c, argc, argv, NULL, NULL, flags, pos, names, 2, 2);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &keep)) != 0 || (rc = ctl_ref_parse(c, pos[1], &drop)) != 0)
		return rc;
	if (!yes)
		return ctl_usage_error(c, "merge archives %s for good and cannot be undone: add --yes", pos[1]);
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_merge(c->a, NULL, &keep, &drop, &cu);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	snprintf(done, sizeof done, "merged %s into customer #%" PRIu64 " and archived it", pos[1], cu.id);
	return customer_after(c, &cu, done);
}
