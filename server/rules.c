/*
 * rules.c - the loyalty program's settings and earning arithmetic (see rules.h).
 *
 * Everything is integer arithmetic: money in minor units, multipliers in
 * 1/10000, and every product that could pass 64 bits is taken in 128 bits
 * and checked before it is narrowed. Nothing here allocates, reads a clock
 * or does I/O, so the live daemon, journal replay and the tests all get the
 * same answer from the same inputs.
 */
#include "rules.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* GCC and clang both have it; exact products of two int64 need 128 bits. */
__extension__ typedef __int128 wide_int;

#define EARN_POINTS_MAX 1000000
#define STAMPS_MAX 1000
#define MULT_MIN 100                     /* 0.01 */
#define MULT_MAX (100 * RULES_MULT_ONE) /* 100.00, also the cap on the combined multiplier */

/* Longest key: "multiplier.group." and a name. */
#define KEY_MAX (32 + RULES_MAX_NAME)
/*
 * Longest canonical value: a promotion, "MULT START END " and a full group
 * list (a plain list is shorter). MULT is given room for any uint32
 * ("429496.7295"), though rules_set only makes "100" or "99.99". It has to
 * stay under the journal's PROTO_MAX_SETTING_VALUE (2500) too; this is 2135.
 */
#define VALUE_MAX (12 + 2 * 21 + RULES_MAX_LIST * (RULES_MAX_NAME + 1) + 1)

#define TIME_TEXT_LEN 20 /* 2026-12-01T00:00:00Z */
#define TIME_YEAR_MIN 1970
#define US_PER_SECOND 1000000LL

/* Names in messages are cut here so a sentence stays a sentence. */
#define SHOWN(len) ((int)((len) > 80 ? 80 : (len)))

/* Fill err (when there is one) and return rc, so callers can `return fail(...)`. */
__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- names and lists ---- */

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_blank((*s)[0])) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_blank((*s)[*len - 1]))
		(*len)--;
}

/*
 * A name is 1..RULES_MAX_NAME bytes of printable ASCII other than space and
 * comma: commas separate list entries and spaces separate a promotion's
 * fields, so neither could be written back unambiguously. Names compare
 * byte for byte: "VIP" and "vip" are two groups, as they are to the daemon.
 */
static int name_ok(const char *s, size_t len)
{
	if (len < 1 || len > RULES_MAX_NAME)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= ' ' || ch >= 0x7f || ch == ',')
			return 0;
	}
	return 1;
}

/* Zero the whole name first: structs are compared with memcmp. */
static void name_set(struct rules_name *n, const char *s, size_t len)
{
	memset(n, 0, sizeof *n);
	n->len = (uint8_t)len;
	memcpy(n->text, s, len);
}

/* Byte order, a name that is a prefix of another first. */
static int name_cmp(const struct rules_name *n, const char *s, size_t len)
{
	size_t common = n->len < len ? n->len : len;
	int c = common ? memcmp(n->text, s, common) : 0;

	if (c)
		return c;
	return n->len < len ? -1 : n->len > len;
}

/* Stored names are never empty, so an empty (or NULL) string matches none. */
static int name_is(const struct rules_name *n, const char *s, size_t len)
{
	return len && n->len == len && memcmp(n->text, s, len) == 0;
}

static int list_has(const struct rules_list *l, const char *s, size_t len)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (name_is(&l->item[i], s, len))
			return 1;
	return 0;
}

/*
 * A comma list: entries trimmed of blanks, empty entries ignored, repeats
 * kept once, in the order given. key names the setting in messages.
 */
static int list_parse(struct rules_list *out, const char *s, size_t len, const char *key, size_t key_len, char *err,
		      size_t errlen)
{
	size_t i = 0;

	memset(out, 0, sizeof *out);
	while (i < len) {
		size_t j = i;
		const char *entry;
		size_t entry_len;

		while (j < len && s[j] != ',')
			j++;
		entry = s + i;
		entry_len = j - i;
		trim(&entry, &entry_len);
		if (entry_len) {
			if (!name_ok(entry, entry_len))
				return fail(err, errlen, RULES_E_VALUE,
					    "%.*s: \"%.*s\" is not a name (1 to %d printable characters, no spaces or commas)",
					    SHOWN(key_len), key, SHOWN(entry_len), entry, RULES_MAX_NAME);
			if (!list_has(out, entry, entry_len)) {
				if (out->n == RULES_MAX_LIST)
					return fail(err, errlen, RULES_E_FULL, "%.*s: a list holds at most %d entries",
						    SHOWN(key_len), key, RULES_MAX_LIST);
				name_set(&out->item[out->n++], entry, entry_len);
			}
		}
		i = j + 1;
	}
	return RULES_OK;
}

/*
 * Group and tier multipliers and promotions are arrays kept sorted by name,
 * each element starting with its struct rules_name; these work on any of
 * them given the element size. Returns the index of name, or where it would
 * go, with *found set.
 */
static uint32_t sorted_find(const void *base, size_t size, uint32_t n, const char *name, size_t len, int *found)
{
	for (uint32_t i = 0; i < n; i++) {
		int c = name_cmp((const struct rules_name *)(const void *)((const char *)base + i * size), name, len);
		if (c >= 0) {
			*found = c == 0;
			return i;
		}
	}
	*found = 0;
	return n;
}

static void sorted_insert(void *base, size_t size, uint32_t *n, uint32_t at, const void *elem)
{
	char *p = (char *)base + at * size;

	memmove(p + size, p, (*n - at) * size);
	memcpy(p, elem, size);
	(*n)++;
}

/* The freed last slot is zeroed, as rules_init_default left it. */
static void sorted_remove(void *base, size_t size, uint32_t *n, uint32_t at)
{
	char *p = (char *)base + at * size;

	memmove(p, p + size, (*n - at - 1) * size);
	(*n)--;
	memset((char *)base + *n * size, 0, size);
}

/* ---- numbers, money, multipliers and times ---- */

/* Decimal digits only, at most max. */
static int count_parse(const char *s, size_t len, int64_t max, int64_t *v)
{
	int64_t x = 0;

	if (!len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		x = x * 10 + (s[i] - '0');
		if (x > max)
			return -1;
	}
	*v = x;
	return 0;
}

int rules_money_parse(const char *s, size_t len, int64_t *minor)
{
	int64_t whole = 0, cents = 0;
	size_t i = 0;

	while (i < len && is_digit(s[i])) {
		int d = s[i] - '0';
		if (whole > (INT64_MAX - d) / 10)
			return RULES_E_VALUE;
		whole = whole * 10 + d;
		i++;
	}
	if (i == 0)
		return RULES_E_VALUE; /* "", ".5", "-1", " 1": a digit comes first */
	if (i < len) {
		size_t decimals = len - i - 1;
		if (s[i] != '.' || decimals < 1 || decimals > 2)
			return RULES_E_VALUE; /* "12.", "12.345", "1e3" */
		for (size_t k = i + 1; k < len; k++) {
			if (!is_digit(s[k]))
				return RULES_E_VALUE;
			cents = cents * 10 + (s[k] - '0');
		}
		if (decimals == 1)
			cents *= 10;
	}
	if (whole > (INT64_MAX - cents) / 100)
		return RULES_E_VALUE;
	*minor = whole * 100 + cents;
	return RULES_OK;
}

/* A multiplier is money-shaped (up to two decimals), 0.01..100. */
static int mult_parse(const char *s, size_t len, uint32_t *mult)
{
	int64_t hundredths;

	if (rules_money_parse(s, len, &hundredths) || hundredths < MULT_MIN / 100 || hundredths > MULT_MAX / 100)
		return -1;
	*mult = (uint32_t)(hundredths * 100);
	return 0;
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int64_t m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a date from 1970 on (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse, for days >= 0. */
static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

/* The value of n characters already known to be digits. */
static int64_t digits_value(const char *s, size_t n)
{
	int64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int rules_time_parse(const char *s, size_t len, int64_t *us)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	int64_t year, month, day, hour, minute, second;

	if (len != TIME_TEXT_LEN)
		return RULES_E_VALUE;
	for (size_t i = 0; i < TIME_TEXT_LEN; i++)
		if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
			return RULES_E_VALUE;
	year = digits_value(s, 4);
	month = digits_value(s + 5, 2);
	day = digits_value(s + 8, 2);
	hour = digits_value(s + 11, 2);
	minute = digits_value(s + 14, 2);
	second = digits_value(s + 17, 2);
	if (year < TIME_YEAR_MIN || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
	    hour > 23 || minute > 59 || second > 59)
		return RULES_E_VALUE;
	*us = (((days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60 + second) * US_PER_SECOND;
	return RULES_OK;
}

/* ---- canonical text ---- */

/* A NUL-terminated text being built; sized so it cannot fill, but checked. */
struct text {
	char *p;
	size_t len, cap;
};

static void text_init(struct text *t, char *buf, size_t cap)
{
	t->p = buf;
	t->len = 0;
	t->cap = cap;
	buf[0] = '\0';
}

static void text_put(struct text *t, const char *s, size_t len)
{
	if (len > t->cap - 1 - t->len)
		len = t->cap - 1 - t->len;
	memcpy(t->p + t->len, s, len);
	t->len += len;
	t->p[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

/* At least min_digits digits, zero-padded on the left; v >= 0. */
static void text_uint(struct text *t, int64_t v, int min_digits)
{
	char buf[24];
	int n = 0;

	do {
		buf[sizeof buf - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v || n < min_digits);
	text_put(t, buf + sizeof buf - n, (size_t)n);
}

/* 12.34, always two decimals; money settings are never negative. */
static void text_money(struct text *t, int64_t minor)
{
	text_uint(t, minor / 100, 1);
	text_put(t, ".", 1);
	text_uint(t, minor % 100, 2);
}

/* 1.5, 2, 0.75: as few decimals as the value needs. */
static void text_mult(struct text *t, uint32_t mult)
{
	uint32_t frac = mult % RULES_MULT_ONE, digits = 4;

	text_uint(t, mult / RULES_MULT_ONE, 1);
	if (!frac)
		return;
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	text_put(t, ".", 1);
	text_uint(t, frac, (int)digits);
}

static void text_time(struct text *t, int64_t us)
{
	int64_t secs = us / US_PER_SECOND, y, m, d;

	civil_from_days(secs / 86400, &y, &m, &d);
	secs %= 86400;
	text_uint(t, y, 4);
	text_put(t, "-", 1);
	text_uint(t, m, 2);
	text_put(t, "-", 1);
	text_uint(t, d, 2);
	text_put(t, "T", 1);
	text_uint(t, secs / 3600, 2);
	text_put(t, ":", 1);
	text_uint(t, secs / 60 % 60, 2);
	text_put(t, ":", 1);
	text_uint(t, secs % 60, 2);
	text_put(t, "Z", 1);
}

static void text_list(struct text *t, const struct rules_list *l)
{
	for (uint32_t i = 0; i < l->n; i++) {
		if (i)
			text_put(t, ",", 1);
		text_put(t, l->item[i].text, l->item[i].len);
	}
}

/* ---- settings ---- */

enum setting_kind {
	SETTING_CHOICE, /* a uint8_t field: the index of one of choices */
	SETTING_COUNT,  /* an int64_t field: a whole number min..max */
	SETTING_MONEY,  /* an int64_t field: money, min..max minor units */
	SETTING_LIST,   /* a struct rules_list field */
	SETTING_CODE,   /* an int64_t field: a whole number min..max with an optional
			 * leading '+', or empty (def, written as "") */
};

/*
 * The fixed settings, in rules_each's order. Setting, listing and the
 * defaults all read this one table, so a key cannot be settable but not
 * listed; rules_init_default spells the same defaults out (a test holds
 * the two equal).
 */
struct setting {
	const char *key;
	enum setting_kind kind;
	size_t offset; /* of the field in struct rules */
	int64_t min, max, def;
	const char *choices[3];
};

static const struct setting settings[] = {
	{"unit", SETTING_CHOICE, offsetof(struct rules, unit), 0, 1, RULES_UNIT_POINTS, {"points", "stamps", NULL}},
	{"earn.points", SETTING_COUNT, offsetof(struct rules, earn_points), 0, EARN_POINTS_MAX, 1, {NULL}},
	{"earn.per", SETTING_MONEY, offsetof(struct rules, earn_per), 1, INT64_MAX, 100, {NULL}},
	{"earn.rounding", SETTING_CHOICE, offsetof(struct rules, rounding), 0, 2, RULES_ROUND_DOWN,
	 {"down", "nearest", "up"}},
	{"earn.min_spend", SETTING_MONEY, offsetof(struct rules, min_spend), 0, INT64_MAX, 0, {NULL}},
	{"exclude.categories", SETTING_LIST, offsetof(struct rules, exclude_categories), 0, 0, 0, {NULL}},
	{"exclude.skus", SETTING_LIST, offsetof(struct rules, exclude_skus), 0, 0, 0, {NULL}},
	{"stamps.per_visit", SETTING_COUNT, offsetof(struct rules, stamps_per_visit), 0, STAMPS_MAX, 1, {NULL}},
	{"stamps.per_item", SETTING_COUNT, offsetof(struct rules, stamps_per_item), 0, STAMPS_MAX, 0, {NULL}},
	{"stamps.categories", SETTING_LIST, offsetof(struct rules, stamp_categories), 0, 0, 0, {NULL}},
	{"returns.below_zero", SETTING_CHOICE, offsetof(struct rules, below_zero), 0, 1, RULES_BELOW_ZERO_ALLOW,
	 {"allow", "stop", NULL}},
	{"guests", SETTING_CHOICE, offsetof(struct rules, guests), 0, 1, RULES_GUESTS_REFUSE, {"refuse", "record", NULL}},
	{"sale.max_amount", SETTING_MONEY, offsetof(struct rules, sale_max_amount), 1, RULES_SALE_MAX_LIMIT,
	 RULES_SALE_MAX_DEFAULT, {NULL}},
	{"phone.country", SETTING_CODE, offsetof(struct rules, phone_country), 1, 999, 0, {NULL}},
	{"locations", SETTING_LIST, offsetof(struct rules, locations), 0, 0, 0, {NULL}},
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static void *field(struct rules *r, const struct setting *s)
{
	return (char *)r + s->offset;
}

static const void *field_c(const struct rules *r, const struct setting *s)
{
	return (const char *)r + s->offset;
}

static int key_is(const char *key, size_t key_len, const char *name)
{
	return key_len == strlen(name) && memcmp(key, name, key_len) == 0;
}

/* Does key start with prefix? Then *rest is what follows. */
static int key_has_prefix(const char *key, size_t key_len, const char *prefix, const char **rest, size_t *rest_len)
{
	size_t n = strlen(prefix);

	if (key_len < n || memcmp(key, prefix, n) != 0)
		return 0;
	*rest = key + n;
	*rest_len = key_len - n;
	return 1;
}

static int setting_set(struct rules *r, const struct setting *s, const char *v, size_t len, char *err, size_t errlen)
{
	int64_t n;

	switch (s->kind) {
	case SETTING_CHOICE:
		if (!len) {
			*(uint8_t *)field(r, s) = (uint8_t)s->def;
			return RULES_OK;
		}
		for (int64_t i = 0; i <= s->max; i++) {
			if (key_is(v, len, s->choices[i])) {
				*(uint8_t *)field(r, s) = (uint8_t)i;
				return RULES_OK;
			}
		}
		if (s->max == 1)
			return fail(err, errlen, RULES_E_VALUE, "%s must be %s or %s, not \"%.*s\"", s->key, s->choices[0],
				    s->choices[1], SHOWN(len), v);
		return fail(err, errlen, RULES_E_VALUE, "%s must be %s, %s or %s, not \"%.*s\"", s->key, s->choices[0],
			    s->choices[1], s->choices[2], SHOWN(len), v);
	case SETTING_COUNT:
		if (!len)
			n = s->def;
		else if (count_parse(v, len, s->max, &n) || n < s->min)
			return fail(err, errlen, RULES_E_VALUE, "%s must be a whole number from %lld to %lld, not \"%.*s\"",
				    s->key, (long long)s->min, (long long)s->max, SHOWN(len), v);
		memcpy(field(r, s), &n, sizeof n);
		return RULES_OK;
	case SETTING_MONEY:
		if (!len)
			n = s->def;
		else if (rules_money_parse(v, len, &n) || n < s->min || n > s->max)
			return fail(err, errlen, RULES_E_VALUE,
				    "%s must be an amount of money%s%s with up to two decimals (like 12.34), not \"%.*s\"",
				    s->key, s->min > 0 ? " above zero" : "",
				    s->max == RULES_SALE_MAX_LIMIT ? " up to 1000000000.00" : "", SHOWN(len), v);
		memcpy(field(r, s), &n, sizeof n);
		return RULES_OK;
	case SETTING_CODE:
		if (!len) {
			n = s->def;
		} else if (count_parse(v[0] == '+' ? v + 1 : v, v[0] == '+' ? len - 1 : len, s->max, &n) || n < s->min ||
			   (v[0] == '+' ? v[1] : v[0]) == '0') {
			return fail(err, errlen, RULES_E_VALUE,
				    "%s must be a country calling code from %lld to %lld (like 44 or +44), or empty for "
				    "none, not \"%.*s\"",
				    s->key, (long long)s->min, (long long)s->max, SHOWN(len), v);
		}
		memcpy(field(r, s), &n, sizeof n);
		return RULES_OK;
	case SETTING_LIST: {
		struct rules_list list;
		int rc = list_parse(&list, v, len, s->key, strlen(s->key), err, errlen);
		if (rc)
			return rc;
		memcpy(field(r, s), &list, sizeof list);
		return RULES_OK;
	}
	}
	return RULES_E_KEY;
}

static void setting_text(const struct rules *r, const struct setting *s, struct text *t)
{
	int64_t n;

	switch (s->kind) {
	case SETTING_CHOICE: {
		uint8_t i = *(const uint8_t *)field_c(r, s);
		/* Only rules_set writes the field; a stray value still prints as something settable. */
		text_str(t, s->choices[i <= s->max ? i : s->def]);
		break;
	}
	case SETTING_COUNT:
		memcpy(&n, field_c(r, s), sizeof n);
		text_uint(t, n, 1);
		break;
	case SETTING_MONEY:
		memcpy(&n, field_c(r, s), sizeof n);
		text_money(t, n);
		break;
	case SETTING_LIST:
		text_list(t, field_c(r, s));
		break;
	case SETTING_CODE:
		memcpy(&n, field_c(r, s), sizeof n);
		if (n != s->def)
			text_uint(t, n, 1);
		break;
	}
}

/* multiplier.group.NAME and multiplier.tier.NAME. */
static int mult_set(struct rules_mult *mults, uint32_t *n, const char *key, size_t key_len, const char *name,
		    size_t name_len, const char *v, size_t len, char *err, size_t errlen)
{
	struct rules_mult m;
	uint32_t at;
	int found;

	if (!name_ok(name, name_len))
		return fail(err, errlen, RULES_E_KEY,
			    "%.*s: the name after the last dot must be 1 to %d printable characters, no spaces or commas",
			    SHOWN(key_len), key, RULES_MAX_NAME);
	memset(&m, 0, sizeof m);
	name_set(&m.name, name, name_len);
	if (len && mult_parse(v, len, &m.mult))
		return fail(err, errlen, RULES_E_VALUE,
			    "%.*s must be a multiplier from 0.01 to 100 with up to two decimals (like 1.5), not \"%.*s\"",
			    SHOWN(key_len), key, SHOWN(len), v);
	at = sorted_find(mults, sizeof *mults, *n, name, name_len, &found);
	if (!len) {
		if (found)
			sorted_remove(mults, sizeof *mults, n, at);
		return RULES_OK;
	}
	if (found) {
		mults[at].mult = m.mult;
		return RULES_OK;
	}
	if (*n == RULES_MAX_MULT)
		return fail(err, errlen, RULES_E_FULL, "%.*s: there are already %d such multipliers", SHOWN(key_len), key,
			    RULES_MAX_MULT);
	sorted_insert(mults, sizeof *mults, n, at, &m);
	return RULES_OK;
}

/* The next blank-separated word of *s, or 0 when there is none. */
static int next_word(const char **s, size_t *len, const char **word, size_t *word_len)
{
	size_t i = 0;

	while (*len && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (i < *len && !is_blank((*s)[i]))
		i++;
	*word = *s;
	*word_len = i;
	*s += i;
	*len -= i;
	return i > 0;
}

/* promo.NAME = "MULT START END [GROUP,GROUP...]". */
static int promo_set(struct rules *r, const char *key, size_t key_len, const char *name, size_t name_len,
		     const char *v, size_t len, char *err, size_t errlen)
{
	struct rules_promo p;
	const char *word;
	size_t word_len;
	uint32_t at;
	int found, rc;

	if (!name_ok(name, name_len))
		return fail(err, errlen, RULES_E_KEY,
			    "%.*s: a promotion name must be 1 to %d printable characters, no spaces or commas",
			    SHOWN(key_len), key, RULES_MAX_NAME);
	at = sorted_find(r->promos, sizeof r->promos[0], r->npromos, name, name_len, &found);
	if (!len) {
		if (found)
			sorted_remove(r->promos, sizeof r->promos[0], &r->npromos, at);
		return RULES_OK;
	}
	memset(&p, 0, sizeof p);
	name_set(&p.name, name, name_len);
	if (!next_word(&v, &len, &word, &word_len) || mult_parse(word, word_len, &p.mult))
		return fail(err, errlen, RULES_E_VALUE,
			    "%.*s must start with a multiplier from 0.01 to 100 (like \"2 2026-12-01T00:00:00Z "
			    "2026-12-25T00:00:00Z\")",
			    SHOWN(key_len), key);
	if (!next_word(&v, &len, &word, &word_len) || rules_time_parse(word, word_len, &p.start_us))
		return fail(err, errlen, RULES_E_VALUE, "%.*s: the start must be a UTC time like 2026-12-01T00:00:00Z",
			    SHOWN(key_len), key);
	if (!next_word(&v, &len, &word, &word_len) || rules_time_parse(word, word_len, &p.end_us))
		return fail(err, errlen, RULES_E_VALUE, "%.*s: the end must be a UTC time like 2026-12-25T00:00:00Z",
			    SHOWN(key_len), key);
	if (p.end_us <= p.start_us)
		return fail(err, errlen, RULES_E_VALUE, "%.*s: the end must be after the start", SHOWN(key_len), key);
	rc = list_parse(&p.groups, v, len, key, key_len, err, errlen);
	if (rc)
		return rc;
	if (found) {
		memcpy(&r->promos[at], &p, sizeof p);
		return RULES_OK;
	}
	if (r->npromos == RULES_MAX_PROMOS)
		return fail(err, errlen, RULES_E_FULL, "%.*s: there are already %d promotions", SHOWN(key_len), key,
			    RULES_MAX_PROMOS);
	sorted_insert(r->promos, sizeof r->promos[0], &r->npromos, at, &p);
	return RULES_OK;
}

void rules_init_default(struct rules *r)
{
	memset(r, 0, sizeof *r);
	r->unit = RULES_UNIT_POINTS;
	r->earn_points = 1;
	r->earn_per = 100;
	r->rounding = RULES_ROUND_DOWN;
	r->stamps_per_visit = 1;
	r->below_zero = RULES_BELOW_ZERO_ALLOW;
	r->guests = RULES_GUESTS_REFUSE;
	r->sale_max_amount = RULES_SALE_MAX_DEFAULT;
	r->phone_country = 0;
}

/*
 * Every branch validates the whole value before it writes anything to r,
 * which is what keeps r unchanged on error.
 */
int rules_set(struct rules *r, const char *key, size_t key_len, const char *value, size_t value_len, char *err,
	      size_t errlen)
{
	const char *rest;
	size_t rest_len;

	if (!key)
		key = "";
	if (!value) {
		if (value_len)
			return fail(err, errlen, RULES_E_VALUE, "no value was given");
		value = "";
	}
	trim(&value, &value_len);
	for (size_t i = 0; i < NSETTINGS; i++)
		if (key_is(key, key_len, settings[i].key))
			return setting_set(r, &settings[i], value, value_len, err, errlen);
	if (key_has_prefix(key, key_len, "multiplier.group.", &rest, &rest_len))
		return mult_set(r->group_mults, &r->ngroup_mults, key, key_len, rest, rest_len, value, value_len, err,
				errlen);
	if (key_has_prefix(key, key_len, "multiplier.tier.", &rest, &rest_len))
		return mult_set(r->tier_mults, &r->ntier_mults, key, key_len, rest, rest_len, value, value_len, err,
				errlen);
	if (key_has_prefix(key, key_len, "promo.", &rest, &rest_len))
		return promo_set(r, key, key_len, rest, rest_len, value, value_len, err, errlen);
	return fail(err, errlen, RULES_E_KEY, "there is no setting \"%.*s\"", SHOWN(key_len), key);
}

int rules_each(const struct rules *r, int (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
	char key[KEY_MAX], value[VALUE_MAX];
	struct text k, v;
	int rc;

	for (size_t i = 0; i < NSETTINGS; i++) {
		text_init(&v, value, sizeof value);
		setting_text(r, &settings[i], &v);
		if ((rc = fn(ctx, settings[i].key, value)))
			return rc;
	}
	for (uint32_t i = 0; i < r->ngroup_mults && i < RULES_MAX_MULT; i++) {
		text_init(&k, key, sizeof key);
		text_str(&k, "multiplier.group.");
		text_put(&k, r->group_mults[i].name.text, r->group_mults[i].name.len);
		text_init(&v, value, sizeof value);
		text_mult(&v, r->group_mults[i].mult);
		if ((rc = fn(ctx, key, value)))
			return rc;
	}
	for (uint32_t i = 0; i < r->ntier_mults && i < RULES_MAX_MULT; i++) {
		text_init(&k, key, sizeof key);
		text_str(&k, "multiplier.tier.");
		text_put(&k, r->tier_mults[i].name.text, r->tier_mults[i].name.len);
		text_init(&v, value, sizeof value);
		text_mult(&v, r->tier_mults[i].mult);
		if ((rc = fn(ctx, key, value)))
			return rc;
	}
	for (uint32_t i = 0; i < r->npromos && i < RULES_MAX_PROMOS; i++) {
		const struct rules_promo *p = &r->promos[i];
		text_init(&k, key, sizeof key);
		text_str(&k, "promo.");
		text_put(&k, p->name.text, p->name.len);
		text_init(&v, value, sizeof value);
		text_mult(&v, p->mult);
		text_put(&v, " ", 1);
		text_time(&v, p->start_us);
		text_put(&v, " ", 1);
		text_time(&v, p->end_us);
		if (p->groups.n) {
			text_put(&v, " ", 1);
			text_list(&v, &p->groups);
		}
		if ((rc = fn(ctx, key, value)))
			return rc;
	}
	return 0;
}

/* ---- earning ---- */

static int str_in_list(const struct rules_list *l, struct rules_str s)
{
	return list_has(l, s.ptr, s.len);
}

static int customer_in(const struct rules_customer *c, const struct rules_name *group)
{
	for (uint32_t i = 0; i < c->ngroups; i++)
		if (name_is(group, c->groups[i].ptr, c->groups[i].len))
			return 1;
	return 0;
}

/*
 * The exact product of every factor, in units of 1/10000: RULES_MULT_ONE
 * times up to 2 + RULES_MAX_PROMOS factors of at most MULT_MAX (< 2^20)
 * needs 14 + 18 * 20 = 374 bits, held in 32-bit limbs, least significant first.
 */
#define PRODUCT_LIMBS ((14 + (2 + RULES_MAX_PROMOS) * 20 + 31) / 32)

/*
 * The combined multiplier (see rules.h): the exact product of the factors,
 * truncated once to 1/10000 and capped at 100. With k factors that is
 * floor(10000 * f1 * ... * fk / 10000^k); dividing by 10000 k times, each
 * time rounding down, gives the same floor, so a small fixed-size number
 * and a multiply and divide by one limb are all it takes. The order of the
 * factors cannot change the result. Returns -1 for a factor above 100
 * (rules_set never stores one), which the bound above does not allow for.
 */
static int multiplier_for(const struct rules *r, const struct rules_customer *c, int64_t now_us, uint32_t *out)
{
	uint32_t factor[2 + RULES_MAX_PROMOS], nfactors = 0, best_group = 0;
	uint32_t product[PRODUCT_LIMBS] = {RULES_MULT_ONE};

	for (uint32_t i = 0; i < r->ntier_mults && i < RULES_MAX_MULT; i++)
		if (name_is(&r->tier_mults[i].name, c->tier.ptr, c->tier.len))
			factor[nfactors++] = r->tier_mults[i].mult;
	/* Only groups that have a multiplier compete; groups without one are not a 1. */
	for (uint32_t i = 0; i < r->ngroup_mults && i < RULES_MAX_MULT; i++)
		if (r->group_mults[i].mult > best_group && customer_in(c, &r->group_mults[i].name))
			best_group = r->group_mults[i].mult;
	if (best_group)
		factor[nfactors++] = best_group;
	for (uint32_t i = 0; i < r->npromos && i < RULES_MAX_PROMOS; i++) {
		const struct rules_promo *p = &r->promos[i];
		int for_customer = p->groups.n == 0;
		for (uint32_t g = 0; g < p->groups.n && !for_customer; g++)
			for_customer = customer_in(c, &p->groups.item[g]);
		if (for_customer && p->start_us <= now_us && now_us < p->end_us)
			factor[nfactors++] = p->mult;
	}

	for (uint32_t i = 0; i < nfactors; i++) {
		uint64_t carry = 0;
		if (factor[i] > MULT_MAX)
			return -1;
		for (int l = 0; l < PRODUCT_LIMBS; l++) {
			uint64_t x = (uint64_t)product[l] * factor[i] + carry;
			product[l] = (uint32_t)x;
			carry = x >> 32;
		}
	}
	for (uint32_t i = 0; i < nfactors; i++) {
		uint64_t rem = 0;
		for (int l = PRODUCT_LIMBS - 1; l >= 0; l--) {
			uint64_t x = rem << 32 | product[l];
			product[l] = (uint32_t)(x / RULES_MULT_ONE);
			rem = x % RULES_MULT_ONE;
		}
	}
	*out = product[0] > MULT_MAX ? MULT_MAX : product[0];
	for (int l = 1; l < PRODUCT_LIMBS; l++)
		if (product[l])
			*out = MULT_MAX;
	return 0;
}

/* n / d rounded by the program's rule; n >= 0, d > 0; nearest is half up. */
static wide_int divide_rounded(wide_int n, wide_int d, uint8_t rounding)
{
	switch (rounding) {
	case RULES_ROUND_UP:
		return (n + d - 1) / d;
	case RULES_ROUND_NEAREST:
		return (2 * n + d) / (2 * d);
	default:
		return n / d;
	}
}

/*
 * Share total among n lines in proportion to weight: each line gets the
 * floor of its exact share, and the units left over (fewer than n) go one
 * each to the lines with the largest remainders, the earliest on a tie.
 * A line's remainder is total * weight - share * sum; one that got its
 * extra unit goes negative and is not picked again. Weights sum to at most
 * INT64_MAX and total <= INT64_MAX, so every product fits in 128 bits.
 */
static void share_out(int64_t total, const int64_t *weight, uint32_t n, int64_t *share)
{
	wide_int sum = 0;
	int64_t left = total;

	for (uint32_t i = 0; i < n; i++)
		sum += weight[i];
	for (uint32_t i = 0; i < n; i++) {
		share[i] = sum ? (int64_t)((wide_int)total * weight[i] / sum) : 0;
		left -= share[i];
	}
	while (sum && left > 0) {
		wide_int best_rem = 0;
		int64_t best = -1;
		for (uint32_t i = 0; i < n; i++) {
			wide_int rem = (wide_int)total * weight[i] - (wide_int)share[i] * sum;
			if (rem > best_rem) {
				best_rem = rem;
				best = i;
			}
		}
		if (best < 0)
			break; /* cannot happen: the remainders add up to left * sum */
		share[best]++;
		left--;
	}
}

int rules_earn(const struct rules *r, const struct rules_customer *c, int64_t now_us, int64_t amount,
	       const struct rules_line *lines, uint32_t nlines, struct rules_earning *out)
{
	int64_t weight[RULES_MAX_LINES];
	int64_t qualifying = nlines ? 0 : amount, sum = 0, earned = 0, for_lines = 0;
	wide_int items = 0;
	uint32_t mult;

	if (amount < 0 || nlines > RULES_MAX_LINES || (nlines && !lines) || c->ngroups > RULES_MAX_GROUPS)
		return RULES_E_RANGE;
	/* rules_set keeps these in range; a struct filled some other way may not be. */
	if (r->earn_points < 0 || r->earn_points > EARN_POINTS_MAX || r->earn_per <= 0 || r->stamps_per_visit < 0 ||
	    r->stamps_per_visit > STAMPS_MAX || r->stamps_per_item < 0 || r->stamps_per_item > STAMPS_MAX)
		return RULES_E_RANGE;
	for (uint32_t i = 0; i < nlines; i++) {
		const struct rules_line *l = &lines[i];
		int counts = !str_in_list(&r->exclude_skus, l->sku) && !str_in_list(&r->exclude_categories, l->category);
		int stamps = counts && (r->stamp_categories.n == 0 || str_in_list(&r->stamp_categories, l->category));

		if (l->qty < 1 || l->amount < 0 || __builtin_add_overflow(sum, l->amount, &sum))
			return RULES_E_RANGE;
		if (counts)
			qualifying += l->amount; /* no more than sum, so it fits */
		if (stamps)
			items += l->qty;
		if (r->unit == RULES_UNIT_STAMPS)
			weight[i] = stamps ? l->qty : 0;
		else
			weight[i] = counts ? l->amount : 0;
	}
	if ((nlines && sum != amount) || items > INT64_MAX || multiplier_for(r, c, now_us, &mult))
		return RULES_E_RANGE;

	if (c->member && qualifying > 0 && qualifying >= r->min_spend) {
		wide_int e;
		if (r->unit == RULES_UNIT_STAMPS) {
			/* At most (1000 + 1000 * INT64_MAX) * 10^6: about 2^93. */
			e = divide_rounded((r->stamps_per_visit + r->stamps_per_item * items) * mult, RULES_MULT_ONE,
					   r->rounding);
			if (e > INT64_MAX)
				return RULES_E_RANGE;
			earned = (int64_t)e;
			/* The per-visit stamps, rounded alone, belong to no line; the rest
			 * is the items'. Rounding is monotone, so this is never negative. */
			for_lines = earned - (int64_t)divide_rounded((wide_int)r->stamps_per_visit * mult,
								     RULES_MULT_ONE, r->rounding);
		} else {
			/* At most INT64_MAX * 10^6 * 10^6: about 2^103. */
			e = divide_rounded((wide_int)qualifying * r->earn_points * mult,
					   (wide_int)r->earn_per * RULES_MULT_ONE, r->rounding);
			if (e > INT64_MAX)
				return RULES_E_RANGE;
			earned = for_lines = (int64_t)e;
		}
	}

	memset(out, 0, sizeof *out);
	out->earned = earned;
	out->qualifying = qualifying;
	out->qualifying_items = (int64_t)items;
	out->multiplier = mult;
	share_out(for_lines, weight, nlines, out->line_earned);
	return RULES_OK;
}

/* ---- returns ---- */

void rules_return_cap(int64_t *take, int64_t earned_left, int64_t *line_take, uint16_t n)
{
	int64_t excess;

	if (*take <= earned_left)
		return;
	excess = *take - earned_left;
	*take = earned_left;
	for (uint16_t i = n; i-- > 0 && excess > 0;) {
		int64_t cut = line_take[i] < excess ? line_take[i] : excess;
		line_take[i] -= cut;
		excess -= cut;
	}
}

int64_t rules_return_applied(const struct rules *r, int64_t balance, int64_t take)
{
	if (r->below_zero != RULES_BELOW_ZERO_STOP)
		return take;
	return balance <= 0 ? 0 : (take < balance ? take : balance);
}

int rules_take_back(int64_t earned, int64_t amount, int64_t refunded_before, int64_t taken_before, int64_t refund,
		    int64_t *take)
{
	int64_t refunded_after, taken_after;

	if (earned < 0 || amount < 0 || refunded_before < 0 || taken_before < 0 || refund < 0 ||
	    refunded_before > amount || refund > amount - refunded_before || taken_before > earned)
		return RULES_E_RANGE;
	refunded_after = refunded_before + refund;
	if (refunded_after == amount) {
		/* Everything is back (also the only case when amount is 0). */
		taken_after = earned;
	} else {
		/* Both factors below 2^63: the product fits; the ceiling is at most earned. */
		wide_int n = (wide_int)earned * refunded_after;
		taken_after = (int64_t)((n + amount - 1) / amount);
	}
	*take = taken_after > taken_before ? taken_after - taken_before : 0;
	return RULES_OK;
}

/* ---- simple callers ---- */

int rules_points_for_sale(const struct rules *r, int64_t amount, int64_t *points)
{
	wide_int p;

	if (amount < 0 || r->earn_points < 0 || r->earn_per <= 0)
		return RULES_E_RANGE;
	/* Both factors are non-negative, so truncation is the floor. */
	p = (wide_int)amount * r->earn_points / r->earn_per;
	if (p > INT64_MAX)
		return RULES_E_RANGE;
	*points = (int64_t)p;
	return RULES_OK;
}

int rules_add(int64_t a, int64_t b, int64_t *sum)
{
	if (__builtin_add_overflow(a, b, sum))
		return RULES_E_RANGE;
	return RULES_OK;
}
