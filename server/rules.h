/*
 * rules.h - the loyalty program: its settings and what a sale earns.
 *
 * A program is a set of named settings (KEY = VALUE text), changed by an
 * admin one at a time and journalled like every other change. rules parses
 * them into struct rules and answers, exactly and without floating point:
 * what a sale earns (points or stamps, and which lines earned what), and
 * what a return takes back. It is pure: no I/O, no clock, no allocation; the
 * caller passes the time and the customer's tier and groups.
 *
 * Settings (every value is text, blanks around it ignored; an empty value
 * restores the default):
 *   unit                 points | stamps                     (points)
 *   earn.points          whole points per earn.per, 0..1000000  (1)
 *   earn.per             money, > 0, e.g. 1.00                (1.00)
 *   earn.rounding        down | nearest | up                  (down)
 *   earn.min_spend       money; a sale whose qualifying amount is below it
 *                        earns nothing                        (0.00)
 *   exclude.categories   comma list of categories that earn nothing ("")
 *   exclude.skus         comma list of SKUs that earn nothing  ("")
 *   stamps.per_visit     stamps per qualifying sale, 0..1000  (1)
 *   stamps.per_item      stamps per qualifying item unit, 0..1000 (0)
 *   stamps.categories    comma list: only items in these categories count
 *                        for stamps.per_item; empty = every non-excluded item
 *   multiplier.group.G   decimal multiplier for members of group G, 0.01..100
 *   multiplier.tier.T    decimal multiplier for customers in tier T
 *   promo.NAME           "MULT START END [GROUP,GROUP...]": a multiplier in
 *                        force from START (inclusive) to END (exclusive,
 *                        after START), times as 2026-12-01T00:00:00Z, the
 *                        fields separated by blanks; with groups, only
 *                        for customers in at least one of them
 *   returns.below_zero   allow | stop: a return may take the balance below
 *                        zero, or stops at zero and records the shortfall (allow)
 *   locations            comma list of the program's locations (at most 32):
 *                        once set, a sale and a new terminal key must name
 *                        one of them; empty = any location (places.h)
 *   guests               refuse | record: a sale for an unknown email or
 *                        phone is refused, or recorded for a guest (refuse)
 *   sale.max_amount      money, > 0, up to 1000000000.00: the most one
 *                        sale may be; a sale over it is refused (1000000.00)
 *   phone.country        a calling code, 1..999, "44" or "+44", or empty:
 *                        a phone number written without '+' is read as a
 *                        national number of this country (its trunk prefix
 *                        dropped: model_phone_normalise); with none, such
 *                        numbers are refused                  ("")
 *
 * Money is written with up to two decimals ("12", "12.5", "12.34"; not
 * "12.", ".5", "-1" or "1e3") and held in minor units. A multiplier is
 * written the same way and held in 1/10000. A time is exactly
 * YYYY-MM-DDTHH:MM:SSZ, UTC, from 1970 to 9999.
 * A name (category, SKU, group, tier, promotion) is 1..RULES_MAX_NAME bytes
 * of printable ASCII without spaces or commas, compared byte for byte
 * ("VIP" is not "vip"). In a comma list, blanks around entries are trimmed,
 * empty entries ignored and repeats kept once.
 *
 * How a sale earns. The qualifying amount is the sum of the amounts of lines
 * that are not excluded (by SKU or category); a sale without lines qualifies
 * with its whole amount. Below earn.min_spend (or at zero) it earns nothing.
 * The multiplier is the customer's tier multiplier (1 if none) times the
 * largest multiplier among those of the customer's groups that have one (1
 * if none has; a group without one does not count as 1) times every
 * promotion in force for the customer: the exact product, kept to 4
 * decimals once (rounded down: 1.11 * 1.11 * 1.11 * 10 = 13.67631 is
 * 13.6763) and capped at 100 (100 * 3 * 0.5 is 100). In the points unit:
 *     earned = round(qualifying * earn.points / earn.per * multiplier)
 * rounded once, at the end, by earn.rounding. In the stamps unit:
 *     earned = round((stamps.per_visit + stamps.per_item * qualifying items)
 *                    * multiplier)
 * where qualifying items is the quantity of non-excluded lines in
 * stamps.categories (all non-excluded lines if it is empty); a sale without
 * lines has none.
 * Lines: the earned total is shared among the qualifying lines in proportion
 * to their amounts (points) or quantities (stamps), each line rounded down
 * and the remainder given one unit at a time to the lines with the largest
 * remainders, earliest first. In points the line shares add up to the total.
 * In stamps the per-visit stamps go to no line: the lines share the total
 * less round(stamps.per_visit * multiplier) (same rounding; never negative).
 *
 * How a return takes back. Reversals are cumulative so that rounding never
 * lets the customer keep more than the returned part earned, and all returns
 * of a sale together never take back more than it earned:
 *     taken_after = ceil(earned * refunded_after / amount)
 * (earned itself once everything is refunded) and this return takes
 * taken_after - taken_before, or 0 if that is negative. For a return by lines
 * the same rule runs per line on that line's points and amount.
 */
#ifndef ACCRUE_RULES_H
#define ACCRUE_RULES_H

#include <stddef.h>
#include <stdint.h>

#define RULES_OK 0
#define RULES_E_RANGE -1   /* a number out of range, or a result that does not fit */
#define RULES_E_KEY -2     /* unknown setting name */
#define RULES_E_VALUE -3   /* a value that does not parse or is out of range */
#define RULES_E_FULL -4    /* too many lists entries, multipliers or promotions */

#define RULES_MAX_NAME 64     /* a category, SKU, group, tier or promotion name */
#define RULES_MAX_LIST 32     /* entries in one comma list */
#define RULES_MAX_MULT 32     /* group multipliers, and tier multipliers, each */
#define RULES_MAX_PROMOS 16
#define RULES_MAX_GROUPS 16   /* groups one customer may be in */
#define RULES_MAX_LINES 256   /* lines in one sale */
#define RULES_MULT_ONE 10000  /* multipliers are held in units of 1/10000 */
#define RULES_SALE_MAX_DEFAULT 100000000 /* sale.max_amount: 1,000,000.00 */
/* The highest sale.max_amount, 1,000,000,000.00: a customer's total spend
 * then holds some 92 million of the largest sales before it could overflow. */
#define RULES_SALE_MAX_LIMIT 100000000000LL

enum rules_unit { RULES_UNIT_POINTS = 0, RULES_UNIT_STAMPS = 1 };
enum rules_rounding { RULES_ROUND_DOWN = 0, RULES_ROUND_NEAREST = 1, RULES_ROUND_UP = 2 };
enum rules_below_zero { RULES_BELOW_ZERO_ALLOW = 0, RULES_BELOW_ZERO_STOP = 1 };
enum rules_guests { RULES_GUESTS_REFUSE = 0, RULES_GUESTS_RECORD = 1 };

/* A name: not NUL-terminated inside the struct, length-counted. */
struct rules_name {
	uint8_t len;
	char text[RULES_MAX_NAME];
};

struct rules_list {
	uint32_t n;
	struct rules_name item[RULES_MAX_LIST];
};

struct rules_mult {
	struct rules_name name;
	uint32_t mult; /* RULES_MULT_ONE = 1.00 */
};

struct rules_promo {
	struct rules_name name;
	uint32_t mult;
	int64_t start_us, end_us;
	struct rules_list groups; /* empty: everyone */
};

/* The parsed program. */
struct rules {
	uint8_t unit;
	int64_t earn_points;
	int64_t earn_per; /* minor units */
	uint8_t rounding;
	int64_t min_spend;
	struct rules_list exclude_categories, exclude_skus;
	int64_t stamps_per_visit, stamps_per_item;
	struct rules_list stamp_categories;
	struct rules_list locations; /* the stores sales and terminal keys may name; empty: any (places.h) */
	uint32_t ngroup_mults, ntier_mults, npromos;
	struct rules_mult group_mults[RULES_MAX_MULT];
	struct rules_mult tier_mults[RULES_MAX_MULT];
	struct rules_promo promos[RULES_MAX_PROMOS];
	uint8_t below_zero;
	uint8_t guests;
	int64_t sale_max_amount; /* minor units */
	int64_t phone_country;   /* a calling code; 0: none */
};

/* A string view (the same shape as proto_str, so callers pass those through). */
struct rules_str {
	const char *ptr;
	uint32_t len;
};

/* One line of a sale as the terminal sends it. */
struct rules_line {
	struct rules_str sku, category;
	int64_t qty;    /* >= 1 */
	int64_t amount; /* minor units paid for the line after discounts, >= 0 */
};

/* Who is buying: what the multipliers look at. */
struct rules_customer {
	struct rules_str tier; /* empty: none */
	uint32_t ngroups;
	struct rules_str groups[RULES_MAX_GROUPS];
	int member; /* 0: a guest; guests earn nothing */
};

struct rules_earning {
	int64_t earned;        /* points or stamps for the sale */
	int64_t qualifying;    /* qualifying amount, minor units */
	int64_t qualifying_items;
	uint32_t multiplier;   /* RULES_MULT_ONE = 1.00 */
	int64_t line_earned[RULES_MAX_LINES]; /* share of each line, in input order */
};

/* The defaults listed above. */
void rules_init_default(struct rules *r);

/*
 * Set one setting: key[0..key_len) to value[0..value_len) (empty or blank:
 * default, or remove a multiplier or promotion; removing one that is not
 * there is RULES_OK). Returns RULES_OK, RULES_E_KEY (also a multiplier or
 * promotion key whose name is not a valid name), RULES_E_VALUE or
 * RULES_E_FULL (a list over RULES_MAX_LIST, or a new multiplier or
 * promotion over its maximum); on error r is unchanged and, if err is not
 * NULL, err[0..errlen) explains in one sentence (NUL-terminated, cut to fit).
 */
int rules_set(struct rules *r, const char *key, size_t key_len, const char *value, size_t value_len, char *err,
	      size_t errlen);

/*
 * Call fn for every setting in its canonical text form (money as 12.34,
 * multipliers as 1.5, times as 2026-12-01T00:00:00Z), defaults included,
 * in a stable order (the fixed keys, then multipliers and promotions by
 * name). key and value are NUL-terminated and live only during the call;
 * keys are under 100 bytes and values under 2200. Re-applying every pair to
 * rules_init_default gives back r byte for byte. Stops early and returns
 * fn's value if it returns non-zero; otherwise returns 0.
 */
int rules_each(const struct rules *r, int (*fn)(void *ctx, const char *key, const char *value), void *ctx);

/*
 * What a sale earns for customer c at time now_us. lines may be NULL with
 * nlines 0 (the sale is its amount); otherwise amount must equal the sum of
 * the lines' amounts. Returns RULES_OK or RULES_E_RANGE (a negative amount
 * or line amount, a line quantity below 1, amounts that do not add up,
 * more than RULES_MAX_LINES lines or lines NULL with nlines > 0, a customer
 * with more than RULES_MAX_GROUPS groups, r holding a number outside the
 * ranges rules_set allows, or a result - earned or qualifying_items - that
 * does not fit in 64 bits). out is written only on RULES_OK, shares past
 * nlines as 0. A guest (c->member 0) earns 0 on every line; qualifying,
 * qualifying_items and multiplier are still filled, as they are below the
 * minimum spend.
 */
int rules_earn(const struct rules *r, const struct rules_customer *c, int64_t now_us, int64_t amount,
	       const struct rules_line *lines, uint32_t nlines, struct rules_earning *out);

/*
 * What a return takes back, cumulatively: a sale (or line) that earned
 * earned on amount, of which refunded_before was refunded before and
 * taken_before taken back, now refunds refund more. Returns RULES_OK with
 * *take (0 <= *take, taken_before + *take <= earned), or RULES_E_RANGE if
 * any argument is negative, refunded_before + refund > amount or
 * taken_before > earned (*take untouched).
 */
int rules_take_back(int64_t earned, int64_t amount, int64_t refunded_before, int64_t taken_before, int64_t refund,
		    int64_t *take);

/*
 * A return's take-back never exceeds what the sale has left to take back
 * (earned_left), whatever mix of returns came before. If *take is over it,
 * *take becomes earned_left and the lines' shares (line_take[0..n), which
 * add up to the old *take) shrink by the excess, newest line first, so that
 * they still add up. Nothing changes when *take is within the limit.
 */
void rules_return_cap(int64_t *take, int64_t earned_left, int64_t *line_take, uint16_t n);

/*
 * What a return of take points removes from a balance: all of it under
 * returns.below_zero allow; under stop, no more than a positive balance
 * holds (the rest is the shortfall the journal records).
 */
int64_t rules_return_applied(const struct rules *r, int64_t balance, int64_t take);

/* Points for a sale of amount minor units with no lines, no multipliers (kept for simple callers). */
int rules_points_for_sale(const struct rules *r, int64_t amount, int64_t *points);

/* *sum = a + b, or RULES_E_RANGE on signed overflow. */
int rules_add(int64_t a, int64_t b, int64_t *sum);

/* Parse money ("12", "12.3", "12.34") into minor units; 0 or RULES_E_VALUE (*minor untouched). */
int rules_money_parse(const char *s, size_t len, int64_t *minor);

/* Parse "2026-12-01T00:00:00Z" into UTC microseconds; 0 or RULES_E_VALUE (*us untouched). */
int rules_time_parse(const char *s, size_t len, int64_t *us);

#endif
