/*
 * ctl_program.c - accruectl's program commands: program show and program
 * set, the loyalty program's settings and how sales earn; the unit
 * ("points" or "stamps") other commands name beside a balance; and stats,
 * the daemon's figures, printed as settings are.
 */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ctl_unit_name(struct ctl *c)
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

const char ctl_help_program[] =
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
	"  sale.max_amount     the most one sale may be, up to 1000000000.00; a sale\n"
	"                      over it is refused [1000000.00]\n"
	"  phone.country       the country calling code (44 or +44) in which a phone\n"
	"                      number written without + is read: its trunk prefix\n"
	"                      dropped (a leading 0 in most countries, e.g. 44, 49,\n"
	"                      33, 61; Italy, 39, keeps it; 1 before ten digits in\n"
	"                      1; 8 before ten digits in 7), the code put in front.\n"
	"                      Empty: such numbers are refused; write the + [\"\"]\n"
	"  locations           comma list of the program's locations (at most 32):\n"
	"                      once set, a sale or a new terminal key at another\n"
	"                      location is refused; empty: any location [\"\"]\n"
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
	"  accruectl program set phone.country 1\n"
	"  accruectl program set earn.points \"\"      (back to the default, 1)\n";

/* Print (name, value) pairs: a JSON object under key, or a two-column table. */
static int print_pairs(struct ctl *c, struct accrue_setting *settings, uint32_t n, const char *key, const char *head,
		       const char *none)
{
	int rc = 0;

	if (c->json) {
		printf("{\"%s\":{", key);
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
			.heads = {head, "VALUE"},
			.right = {0, 0},
		};

		for (uint32_t i = 0; i < n; i++) {
			const char *row[2] = {settings[i].name, settings[i].value};

			out_table_row(&t, row);
		}
		rc = ctl_table_finish(&t, none);
	}
	free(settings);
	return rc;
}

/* A command without arguments that prints what get returns as pairs. */
static int show_pairs(struct ctl *c, int argc, char **argv,
		      int (*get)(accrue *, struct accrue_setting **, uint32_t *), const char *key, const char *head,
		      const char *none)
{
	struct accrue_setting *pairs = NULL;
	uint32_t n = 0;
	int rc;

	rc = ctl_args_parse(c, argc, argv, NULL, NULL, NULL, 0, 0);
	if (rc != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = get(c->a, &pairs, &n);
	if (rc != 0)
		return ctl_call_failed(c, rc);
	return print_pairs(c, pairs, n, key, head, none);
}

int ctl_cmd_program_show(struct ctl *c, int argc, char **argv)
{
	return show_pairs(c, argc, argv, accrue_program_get, "settings", "SETTING", "no settings");
}

const char ctl_help_stats[] =
	"Usage: accruectl stats\n"
	"\n"
	"How the daemon is doing, one figure a line (any key role):\n"
	"  journal.seq           the last journal record made durable\n"
	"  checkpoint.seq        the record the last checkpoint is at\n"
	"  customers             customers in memory\n"
	"  store.commits         commits since the daemon started\n"
	"  store.map_bytes       the size of LMDB's map of the data file\n"
	"  scrub.running         1 while the background scrub runs (--scrub-rate)\n"
	"  scrub.passes          full passes over the journal and snapshots so far\n"
	"  scrub.last_end_us     when the last pass ended (UTC microseconds; 0: none)\n"
	"  scrub.last_ms         how long it took\n"
	"  scrub.last_records    journal records it read and verified\n"
	"  scrub.last_snapshots  snapshots it read and verified\n"
	"  scrub.last_damaged    of those, how many failed their checksum (the log\n"
	"                        names each; run accrue-check on the directory)\n"
	"--json prints them as one object, {\"stats\":{NAME:VALUE,...}}, values as\n"
	"strings; a later daemon may add names.\n";

int ctl_cmd_stats(struct ctl *c, int argc, char **argv)
{
	return show_pairs(c, argc, argv, accrue_stats, "stats", "FIGURE", "no figures");
}

int ctl_cmd_program_set(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"NAME", "VALUE"};
	const char *pos[2];
	struct accrue_setting *settings = NULL;
	const char *value;
	uint32_t n = 0;
	int rc;

	rc = ctl_args_parse(c, argc, argv, NULL, pos, names, 2, 2);
	if (rc != 0)
		return rc;
	if (!*pos[0])
		return ctl_usage_error(c, "the setting NAME is empty");
	if ((rc = ctl_session_open(c)) != 0)
		return rc;
	rc = accrue_program_set(c->a, NULL, pos[0], pos[1]);
	if (rc != 0)
		return ctl_call_failed(c, rc);
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
	return CTL_EXIT_DONE;
}
