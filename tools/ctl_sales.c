/*
 * ctl_sales.c - accruectl's sales commands: accrue, return, quote, orders,
 * order and batch, with what they parse (a basket of --amount and --line
 * options, a batch file) and print (multipliers, order lines).
 */
#include "ctl.h"
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
			return ctl_usage_error(c, "--line '%s' has more than four fields: give SKU:CATEGORY:QTY:AMOUNT", text);
		field[n] = p;
		len[n++] = end ? (size_t)(end - p) : strlen(p);
		if (!end)
			break;
	}
	if (n != 4)
		return ctl_usage_error(c, "--line '%s' is not SKU:CATEGORY:QTY:AMOUNT (e.g. COF-1:coffee:2:7.00)", text);
	if (len[0] == 0)
		return ctl_usage_error(c, "--line '%s' has no SKU", text);
	if (len[0] > LINE_TEXT_MAX || len[1] > LINE_TEXT_MAX)
		return ctl_usage_error(c, "--line '%s': a SKU or category is at most %d bytes", text, LINE_TEXT_MAX);
	memset(line, 0, sizeof *line);
	memcpy(line->sku, field[0], len[0]);
	memcpy(line->category, field[1], len[1]);
	snprintf(number, sizeof number, "%.*s", (int)len[2], field[2]);
	if (len[2] >= sizeof number || ctl_uint_parse(number, INT64_MAX, &qty) != 0)
		return ctl_usage_error(c, "--line '%s': QTY must be a whole number of at least 1", text);
	line->qty = (int64_t)qty;
	snprintf(number, sizeof number, "%.*s", (int)len[3], field[3]);
	if (len[3] >= sizeof number || ctl_amount_parse(number, &line->amount) != 0)
		return ctl_usage_error(c, "--line '%s': AMOUNT must be an amount like 7.00 (no sign, at most two decimals)",
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
static int basket_parse(const struct ctl *c, const char *amount_text, const struct ctl_option_list *lines,
			struct basket *b)
{
	int64_t sum = 0;
	int rc;

	memset(b, 0, sizeof *b);
	if (!amount_text && lines->n == 0)
		return ctl_usage_error(c, "%s needs --amount or --line", c->cmd_name);
	if (amount_text) {
		if (ctl_amount_parse(amount_text, &b->amount) != 0)
			return ctl_usage_error(c, "--amount '%s' is not an amount like 12.34 (no sign, at most two decimals)",
					       amount_text);
		if (b->amount == 0)
			return ctl_usage_error(c, "--amount must be more than zero");
	}
	if (lines->n == 0)
		return 0;
	b->lines = calloc((size_t)lines->n, sizeof *b->lines);
	if (!b->lines) {
		return ctl_nomem();
	}
	b->nlines = (uint32_t)lines->n;
	for (int i = 0; i < lines->n; i++) {
		if ((rc = line_parse(c, lines->items[i], &b->lines[i])) != 0)
			goto fail;
		if (b->lines[i].amount > INT64_MAX - sum) {
			rc = ctl_usage_error(c, "the lines add up to more than can be counted");
			goto fail;
		}
		sum += b->lines[i].amount;
	}
	if (amount_text && b->amount != sum) {
		char given[32], total[32];

		out_money_format(given, sizeof given, b->amount);
		out_money_format(total, sizeof total, sum);
		rc = ctl_usage_error(c, "--amount %s is not the sum of the lines, %s: give one or make them agree", given,
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

const char ctl_help_accrue[] =
	"Usage: accruectl accrue REF --order ID [--location L] [--time ISO8601]\n"
	"                 (--amount 12.34 | --line SKU:CATEGORY:QTY:AMOUNT ...)\n"
	"\n"
	"Record a sale and accrue what it earns under the program ('accruectl program\n"
	"--help' explains the rules). An order id is accrued once per location.\n"
	"Without --location the sale is booked at the key's own location, or at\n"
	"\"default\" for a key that has none. Locations and order ids are trimmed\n"
	"and locations compared without case: O1 at \"STORE-1 \" is O1 at store-1.\n"
	"--time says when the sale happened (2026-11-23T12:19:41Z, or with an\n"
	"offset like +01:00); default now. A sale dated back counts as a visit but\n"
	"never moves the customer's last visit earlier. One sale is at most the\n"
	"program's sale.max_amount (1000000.00 unless set).\n"
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

int ctl_cmd_accrue(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *order = NULL, *amount_text = NULL, *location = NULL, *time_text = NULL;
	const char *line_items[ACCRUE_MAX_LINES];
	const struct ctl_option opts[] = {
		{"order", &order}, {"amount", &amount_text}, {"location", &location}, {"time", &time_text},
		{NULL, NULL},
	};
	struct ctl_option_list lists[] = {
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

	rc = ctl_args_parse_lists(c, argc, argv, opts, lists, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (!order || !*order)
		return ctl_usage_error(c, "accrue needs --order ID");
	if (time_text && ctl_time_parse(time_text, &when) != 0)
		return ctl_usage_error(c, "--time '%s' is not a time like 2026-11-23T12:19:41Z", time_text);
	if ((rc = basket_parse(c, amount_text, &lists[0], &b)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
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
		rc = ctl_call_failed(c, rc);
		goto done;
	}
	out_money_format(money, sizeof money, b.amount);
	if (!c->json)
		snprintf(what, sizeof what, "accrued %" PRId64 " %s on a sale of %s%s", res.points, ctl_unit_name(c), money,
			 res.customer.member ? "" : " for a guest (guests earn nothing)");
	ctl_change_print(c, &res, what);
	rc = CTL_EXIT_DONE;
done:
	free(b.lines);
	return rc;
}

const char ctl_help_return[] =
	"Usage: accruectl return --order ID [--location L] [--time ISO8601]\n"
	"                 (--amount 5.00 | --line SKU:CATEGORY:QTY:AMOUNT ...)\n"
	"\n"
	"Return (part of) a sale and take back what the returned part earned. The\n"
	"sale is the order ID at --location (default: the key's own location, or\n"
	"\"default\"). --amount is the amount refunded; or --line names each SKU of the\n"
	"sale returned, with the quantity and the amount refunded for it (the\n"
	"category is not used and may be empty: --line COF-1::1:3.50); --amount, if\n"
	"also given, must equal the sum of the lines. --time says when the return\n"
	"happened (default now); a return is never dated before its sale.\n"
	"\n"
	"Returns add up: after each, the sale (or line) has given back what the\n"
	"refunded part earned, rounded up, and all returns of a sale together never\n"
	"take back more than it earned. Refunding more than is left is refused\n"
	"(over_return). If the program stops balances at zero (returns.below_zero =\n"
	"stop), what could not be taken is reported as a shortfall.\n";

int ctl_cmd_return(struct ctl *c, int argc, char **argv)
{
	const char *order = NULL, *amount_text = NULL, *location = NULL, *time_text = NULL;
	const char *line_items[ACCRUE_MAX_LINES];
	const struct ctl_option opts[] = {
		{"order", &order}, {"amount", &amount_text}, {"location", &location}, {"time", &time_text},
		{NULL, NULL},
	};
	struct ctl_option_list lists[] = {
		{"line", ACCRUE_MAX_LINES, 0, line_items},
		{NULL, 0, 0, NULL},
	};
	struct accrue_return_result res;
	struct basket b = {0, 0, NULL};
	char money[32];
	const char *unit;
	int64_t when = 0;
	int rc;

	rc = ctl_args_parse_lists(c, argc, argv, opts, lists, NULL, NULL, 0, 0);
	if (rc != 0)
		return rc;
	if (!order || !*order)
		return ctl_usage_error(c, "return needs --order ID");
	if (time_text && ctl_time_parse(time_text, &when) != 0)
		return ctl_usage_error(c, "--time '%s' is not a time like 2026-11-23T12:19:41Z", time_text);
	if ((rc = basket_parse(c, amount_text, &lists[0], &b)) != 0)
		return rc;
	if ((rc = ctl_session_open(c)) != 0)
		goto done;
	rc = accrue_return(c->a, NULL, location, order, when, b.amount, b.lines, b.nlines, &res);
	if (rc != 0) {
		rc = ctl_call_failed(c, rc);
		goto done;
	}
	rc = CTL_EXIT_DONE;
	if (c->json) {
		printf("{\"seq\":%" PRIu64 ",\"points\":%" PRId64 ",\"shortfall\":%" PRId64 ",\"refunded\":%" PRId64
		       ",\"replay\":%s,\"customer\":",
		       res.seq, res.points, res.shortfall, res.refunded, res.replay ? "true" : "false");
		ctl_customer_print_json(&res.customer);
		fputs("}\n", stdout);
		goto done;
	}
	unit = ctl_unit_name(c);
	out_money_format(money, sizeof money, res.refunded);
	printf("returned %s of order %s: took back %" PRId64 " %s (journal seq %" PRIu64 ")\n", money, order,
	       -res.points, unit, res.seq);
	if (res.shortfall > 0)
		printf("shortfall: %" PRId64 " %s more were due back; the balance stops at zero\n", res.shortfall,
		       unit);
	if (res.replay)
		puts("note: this repeats an earlier request with the same key; nothing was applied again");
	ctl_customer_print(ctl_unit_name(c), &res.customer);
done:
	free(b.lines);
	return rc;
}

const char ctl_help_quote[] =
	"Usage: accruectl quote [REF] (--amount 12.34 | --line SKU:CATEGORY:QTY:AMOUNT ...)\n"
	"                 [--location L]\n"
	"\n"
	"What a sale would earn, recording nothing: the earned points (or stamps),\n"
	"the qualifying amount (what is not excluded), the qualifying items, the\n"
	"multiplier and each line's share. With REF, for that customer's tier and\n"
	"groups; without, for a member with no tier and no groups. --amount and\n"
	"--line are as for 'accruectl accrue'; 'accruectl program --help' explains\n"
	"the rules.\n";

int ctl_cmd_quote(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1] = {NULL}, *amount_text = NULL, *location = NULL;
	const char *line_items[ACCRUE_MAX_LINES];
	const struct ctl_option opts[] = {
		{"amount", &amount_text}, {"location", &location}, {NULL, NULL},
	};
	struct ctl_option_list lists[] = {
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

	rc = ctl_args_parse_lists(c, argc, argv, opts, lists, pos, names, 0, 1);
	if (rc != 0)
		return rc;
	if (pos[0] && (rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if ((rc = basket_parse(c, amount_text, &lists[0], &b)) != 0)
		return rc;
	q = malloc(sizeof *q);
	if (!q) {
		rc = ctl_nomem();
		goto done;
	}
	if ((rc = ctl_session_open(c)) != 0)
		goto done;
	memset(&sale, 0, sizeof sale);
	sale.location = location;
	sale.amount = b.amount;
	sale.nlines = b.nlines;
	sale.lines = b.lines;
	rc = accrue_quote(c->a, pos[0] ? &ref : NULL, &sale, q);
	if (rc != 0) {
		rc = ctl_call_failed(c, rc);
		goto done;
	}
	rc = CTL_EXIT_DONE;
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
		rc = ctl_table_finish(&t, NULL);
	}
done:
	free(q);
	free(b.lines);
	return rc;
}

const char ctl_help_orders[] =
	"Usage: accruectl orders REF [--limit N]\n"
	"\n"
	"A customer's sales and returns, newest first, from their history: journal\n"
	"seq, time, type (accrue or return), location, order id, amount and the\n"
	"change to the balance. Shows at most N of them (default 20). 'accruectl\n"
	"order ID' shows one order with its lines.\n";

int ctl_cmd_orders(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"REF"};
	const char *pos[1], *limit_text = NULL;
	const struct ctl_option opts[] = {
		{"limit", &limit_text}, {NULL, NULL},
	};
	struct accrue_ref ref;
	struct accrue_entry *page = NULL, *found = NULL;
	uint64_t limit = CTL_HISTORY_DEFAULT_LIMIT, before = 0;
	uint32_t have = 0;
	int rc;

	rc = ctl_args_parse(c, argc, argv, opts, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if ((rc = ctl_ref_parse(c, pos[0], &ref)) != 0)
		return rc;
	if (limit_text && ctl_uint_parse(limit_text, 100000, &limit) != 0)
		return ctl_usage_error(c, "--limit '%s' is not a whole number from 1 to 100000", limit_text);
	page = malloc(1000 * sizeof *page);
	found = malloc((size_t)limit * sizeof *found);
	if (!page || !found) {
		rc = ctl_nomem();
		goto done;
	}
	if ((rc = ctl_session_open(c)) != 0)
		goto done;
	/* History holds every kind of entry: page through it keeping sales and returns. */
	while (have < limit) {
		uint32_t n;
		uint64_t next;

		rc = accrue_history(c->a, &ref, before, page, 1000, &n, &next);
		if (rc != 0) {
			rc = ctl_call_failed(c, rc);
			goto done;
		}
		for (uint32_t i = 0; i < n && have < limit; i++)
			if (page[i].type == ACCRUE_ENTRY_ACCRUE || page[i].type == ACCRUE_ENTRY_RETURN)
				found[have++] = page[i];
		if (n == 0 || next == 0)
			break;
		before = next;
	}
	rc = CTL_EXIT_DONE;
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
		rc = ctl_table_finish(&t, "no sales or returns");
	}
done:
	free(page);
	free(found);
	return rc;
}

const char ctl_help_order[] =
	"Usage: accruectl order ID [--location L]\n"
	"\n"
	"One sale: its customer, time, amount, what it earned and with which\n"
	"multiplier, and what its returns refunded and took back; then each line\n"
	"with its share of the points and what was returned of it. --location is\n"
	"where the order was accrued (default: the key's own location, or\n"
	"\"default\").\n";

int ctl_cmd_order(struct ctl *c, int argc, char **argv)
{
	static const char *const names[] = {"ID"};
	const char *pos[1], *location = NULL;
	const struct ctl_option opts[] = {
		{"location", &location}, {NULL, NULL},
	};
	struct accrue_order *o;
	char buf[64];
	int rc;

	rc = ctl_args_parse(c, argc, argv, opts, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if (!*pos[0])
		return ctl_usage_error(c, "the order ID is empty");
	o = malloc(sizeof *o);
	if (!o) {
		return ctl_nomem();
	}
	if ((rc = ctl_session_open(c)) != 0)
		goto done;
	rc = accrue_order(c->a, location, pos[0], o);
	if (rc != 0) {
		rc = ctl_call_failed(c, rc);
		goto done;
	}
	rc = CTL_EXIT_DONE;
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
		rc = ctl_table_finish(&t, NULL);
	}
done:
	free(o);
	return rc;
}

/* Sales per ACCRUE_BATCH frame: even at every text's limit 1,000 sales take under half of a 1 MiB frame. */
#define BATCH_CHUNK 1000
#define BATCH_LINE_MAX 1024

const char ctl_help_batch[] =
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

/* One line of FILE: REF,ORDER,AMOUNT[,LOCATION]. 0, or CTL_EXIT_USAGE after saying why. */
static int batch_line_parse(const struct ctl *c, const char *file, int n, char *text, struct batch_sale *bs)
{
	char *field[4];
	int nf = 0;

	memset(bs, 0, sizeof *bs);
	bs->line = n;
	for (char *p = text;; p++) {
		char *comma = strchr(p, ',');

		if (nf == 4)
			return ctl_usage_error(c, "%s:%d: more than four fields: give REF,ORDER,AMOUNT[,LOCATION]", file, n);
		field[nf++] = p;
		if (!comma)
			break;
		*comma = '\0';
		p = comma;
	}
	if (nf < 3)
		return ctl_usage_error(c, "%s:%d: give REF,ORDER,AMOUNT[,LOCATION]", file, n);
	if (strlen(field[0]) >= sizeof bs->ref_text) {
		return ctl_usage_error(c, "%s:%d: '%s' does not name a customer", file, n, field[0]);
	}
	snprintf(bs->ref_text, sizeof bs->ref_text, "%s", field[0]);
	if (!*field[1] || strlen(field[1]) > PROTO_MAX_ORDER)
		return ctl_usage_error(c, "%s:%d: ORDER must have 1 to %d bytes", file, n, PROTO_MAX_ORDER);
	snprintf(bs->order, sizeof bs->order, "%s", field[1]);
	if (ctl_amount_parse(field[2], &bs->amount) != 0 || bs->amount == 0)
		return ctl_usage_error(c, "%s:%d: AMOUNT '%s' is not an amount like 12.34, more than zero", file, n,
				       field[2]);
	if (nf == 4) {
		if (strlen(field[3]) > PROTO_MAX_LOCATION)
			return ctl_usage_error(c, "%s:%d: LOCATION has more than %d bytes", file, n, PROTO_MAX_LOCATION);
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
		return CTL_EXIT_IO;
	}
	while (fgets(text, sizeof text, f)) {
		size_t len = strlen(text);
		char *p = text;

		line++;
		if (len == sizeof text - 1 && text[len - 1] != '\n') {
			rc = ctl_usage_error(c, "%s:%d: line longer than %d bytes", file, line, BATCH_LINE_MAX);
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
				rc = ctl_nomem();
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
		rc = CTL_EXIT_IO;
	} else if (n == 0) {
		rc = ctl_usage_error(c, "%s has no sales", file);
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

int ctl_cmd_batch(struct ctl *c, int argc, char **argv)
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

	rc = ctl_args_parse(c, argc, argv, NULL, pos, names, 1, 1);
	if (rc != 0)
		return rc;
	if ((rc = batch_read(c, pos[0], &list, &n)) != 0)
		return rc;
	refs = calloc(n, sizeof *refs);
	sales = calloc(n, sizeof *sales);
	results = calloc(n, sizeof *results);
	if (!refs || !sales || !results) {
		rc = ctl_nomem();
		goto done;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (accrue_ref_parse(list[i].ref_text, &refs[i]) != 0) {
			rc = ctl_usage_error(c, "%s:%d: '%s' does not name a customer: give an email, a phone number, #ID or card:NUMBER",
					     pos[0], list[i].line, list[i].ref_text);
			goto done;
		}
		sales[i].location = list[i].location;
		sales[i].order_id = list[i].order;
		sales[i].amount = list[i].amount;
	}
	if ((rc = ctl_session_open(c)) != 0)
		goto done;
	for (uint32_t at = 0; at < n; at += BATCH_CHUNK) {
		uint32_t k = n - at < BATCH_CHUNK ? n - at : BATCH_CHUNK;

		rc = accrue_batch(c->a, k, NULL, refs + at, sales + at, results + at);
		if (rc != 0) {
			/* Earlier frames were applied; say how far this run got. */
			if (at > 0)
				fprintf(stderr, "accruectl: the sales before line %d were sent; this and later ones were not\n",
					list[at].line);
			rc = ctl_call_failed(c, rc);
			goto done;
		}
	}
	for (uint32_t i = 0; i < n; i++)
		refused += results[i].status != 0;
	rc = refused ? CTL_EXIT_REFUSED : CTL_EXIT_DONE;
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
				printf(",\"status\":\"%s\",\"message\":", ctl_status_name(r->status, name, sizeof name));
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
		row[3] = r->status == 0 ? "ok" : ctl_status_name(r->status, name, sizeof name);
		row[4] = points;
		row[5] = balance;
		row[6] = r->message;
		out_table_row(&t, row);
	}
	if (ctl_table_finish(&t, NULL) != CTL_EXIT_DONE)
		rc = CTL_EXIT_IO;
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
