/*
 * model_text.c - what people type, made canonical: emails, phone numbers
 * and names as enrol stores them and look-ups find them (see model.h).
 *
 * Every function here is pure: the same input (and, for phones, the same
 * calling code) always gives the same output. The journal carries the
 * output, never the input, so a change of these rules or of the program's
 * phone.country never changes the meaning of a record already written.
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

/*
 * Characters no name or email may hold: C0 and C1 controls and DEL, and
 * the bidirectional controls (marks, embeddings, overrides, isolates),
 * which make a name display as something other than what it is.
 */
static int char_forbidden(ucs4_t ch)
{
	return ch < 0x20 || (ch >= 0x7f && ch <= 0x9f) || ch == 0x061c || ch == 0x200e || ch == 0x200f ||
	       (ch >= 0x202a && ch <= 0x202e) || (ch >= 0x2066 && ch <= 0x2069);
}

/* Valid UTF-8 with no forbidden character. */
static int text_ok(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + len;

	if (u8_check(p, len))
		return 0;
	while (p < end) {
		ucs4_t ch;
		int n = u8_mbtouc_unsafe(&ch, p, (size_t)(end - p));
		if (n <= 0 || char_forbidden(ch))
			return 0;
		p += n;
	}
	return 1;
}

static void trim_blanks(const char **p, const char **end)
{
	while (*p < *end && (**p == ' ' || **p == '\t'))
		(*p)++;
	while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

int model_name_normalise(struct proto_str in, struct proto_str *out)
{
	const char *p = in.ptr, *end = in.ptr + in.len;

	trim_blanks(&p, &end);
	out->ptr = p;
	out->len = (uint32_t)(end - p);
	return text_ok(p, out->len) ? 0 : -1;
}

/*
 * Location codes are short codes a chain gives its stores ("store-1"):
 * ASCII lower-casing is enough to make "STORE-1" and "store-1" one store,
 * and it leaves any other UTF-8 as typed.
 */
int model_location_normalise(struct proto_str in, char buf[PROTO_MAX_LOCATION + 1], struct proto_str *out)
{
	const char *p = in.ptr, *end = in.ptr + in.len;
	uint32_t n = 0;

	buf[0] = 0;
	out->ptr = buf;
	out->len = 0;
	trim_blanks(&p, &end);
	if ((size_t)(end - p) > PROTO_MAX_LOCATION || !text_ok(p, (size_t)(end - p)))
		return -1;
	for (; p < end; p++)
		buf[n++] = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
	buf[n] = 0;
	out->len = n;
	return 0;
}

/*
 * Lower-cased by Unicode's full case mapping (libunistring's u8_tolower,
 * not only A-Z) and put in NFC, so that "ÄNNA@exämple.com", "änna@exämple.com"
 * and the same with a decomposed "a" + U+0308 are one address. Lower-casing
 * rather than case folding keeps the address deliverable as written: folding
 * would also turn "ß" into "ss", which is another mailbox.
 */
int model_email_normalise(struct proto_str in, char buf[PROTO_MAX_EMAIL + 1], struct proto_str *out)
{
	const char *p = in.ptr, *end = in.ptr + in.len;
	uint32_t n, at = 0, ats = 0;
	uint8_t *lower;
	size_t lower_len = 0;

	buf[0] = 0;
	out->ptr = buf;
	out->len = 0;
	trim_blanks(&p, &end);
	if (p == end)
		return 0;
	if ((size_t)(end - p) > PROTO_MAX_EMAIL || !text_ok(p, (size_t)(end - p)))
		return -1;
	lower = u8_tolower((const uint8_t *)p, (size_t)(end - p), NULL, UNINORM_NFC, NULL, &lower_len);
	if (!lower)
		return -1;
	if (lower_len > PROTO_MAX_EMAIL) {
		free(lower);
		return -1;
	}
	for (n = 0; n < lower_len; n++) {
		unsigned char ch = lower[n];
		/* Blanks inside an address, and the controls that lower-casing cannot make. */
		if (ch <= ' ' || ch == 0x7f) {
			free(lower);
			return -1;
		}
		if (ch == '@') {
			ats++;
			at = n;
		}
		buf[n] = (char)ch;
	}
	free(lower);
	buf[n] = 0;
	out->len = n;
	/* One '@', with something on both sides. */
	if (ats != 1 || at == 0 || at == n - 1)
		return -1;
	return 0;
}

/*
 * National (trunk) prefixes: what a number dialled inside the country
 * starts with and its international form drops. For most countries it is
 * a 0 ("020 7946 0000" in the UK is +44 20 7946 0000); for the North
 * American plan (1) a 1 before the ten-digit number; for Russia and
 * Kazakhstan (7) an 8 before the ten digits. Italy (39), San Marino and
 * the Vatican keep their 0 in the international form, and countries
 * without a trunk prefix are not listed: their numbers are taken as typed.
 * len: the length of the national number with its prefix, where only a
 * number of that length has one (0: any length).
 */
struct trunk_rule {
	uint16_t country;
	char digit;
	uint8_t len;
};

static const struct trunk_rule trunk_rules[] = {
	{1, '1', 11},  {7, '8', 11},  {20, '0', 0},  {27, '0', 0},  {31, '0', 0},  {32, '0', 0},  {33, '0', 0},
	{40, '0', 0},  {41, '0', 0},  {43, '0', 0},  {44, '0', 0},  {46, '0', 0},  {49, '0', 0},  {51, '0', 0},
	{53, '0', 0},  {54, '0', 0},  {55, '0', 0},  {58, '0', 0},  {60, '0', 0},  {61, '0', 0},  {62, '0', 0},
	{63, '0', 0},  {64, '0', 0},  {66, '0', 0},  {81, '0', 0},  {82, '0', 0},  {84, '0', 0},  {86, '0', 0},
	{90, '0', 0},  {91, '0', 0},  {92, '0', 0},  {93, '0', 0},  {94, '0', 0},  {95, '0', 0},  {98, '0', 0},
	{212, '0', 0}, {213, '0', 0}, {234, '0', 0}, {254, '0', 0}, {255, '0', 0}, {256, '0', 0}, {353, '0', 0},
	{358, '0', 0}, {359, '0', 0}, {380, '0', 0}, {381, '0', 0}, {385, '0', 0}, {386, '0', 0}, {387, '0', 0},
	{421, '0', 0}, {880, '0', 0}, {886, '0', 0}, {966, '0', 0}, {971, '0', 0}, {972, '0', 0},
};

/* Digits a phone number may have in all, country code included (E.164). */
#define PHONE_DIGITS_MIN 6
#define PHONE_DIGITS_MAX 15

int model_phone_normalise(struct proto_str in, int64_t country, char buf[PROTO_MAX_PHONE + 1], struct proto_str *out)
{
	char digits[PHONE_DIGITS_MAX + 1], cc[4];
	uint32_t ndigits = 0, ncc = 0, n = 0, from = 0;
	int plus = 0, plus_allowed = 1;

	buf[0] = 0;
	out->ptr = buf;
	out->len = 0;
	for (uint32_t i = 0; i < in.len; i++) {
		char ch = in.ptr[i];
		if (ch >= '0' && ch <= '9') {
			/* One spare: a national number may still lose its trunk prefix. */
			if (ndigits > PHONE_DIGITS_MAX)
				return -1;
			digits[ndigits++] = ch;
			plus_allowed = 0;
		} else if (ch == '(' && plus && ndigits && i + 2 < in.len && in.ptr[i + 1] == '0' && in.ptr[i + 2] == ')') {
			/* "+44 (0)20 ...": the trunk 0 in brackets is not dialled from abroad. */
			i += 2;
		} else if (ch == '+' && plus_allowed) {
			plus = 1;
			plus_allowed = 0;
		} else if (ch != ' ' && ch != '\t' && ch != '-' && ch != '.' && ch != '(' && ch != ')') {
			return -1;
		}
	}
	if (ndigits == 0)
		return in.len == 0 ? 0 : -1; /* nothing at all is no phone; only separators is not one */
	if (plus) {
		if (digits[0] == '0') /* no calling code starts with 0 */
			return -1;
	} else {
		if (country <= 0 || country > 999)
			return MODEL_PHONE_NO_COUNTRY;
		/* 00 is how much of the world dials abroad: such a number is not national. */
		if (ndigits >= 2 && digits[0] == '0' && digits[1] == '0')
			return -1;
		for (size_t i = 0; i < sizeof trunk_rules / sizeof trunk_rules[0]; i++) {
			const struct trunk_rule *t = &trunk_rules[i];
			if (t->country == country && digits[0] == t->digit && (!t->len || t->len == ndigits))
				from = 1;
		}
		for (int64_t c = country, div = c >= 100 ? 100 : c >= 10 ? 10 : 1; div; div /= 10)
			cc[ncc++] = (char)('0' + c / div % 10);
	}
	if (ncc + ndigits - from < PHONE_DIGITS_MIN || ncc + ndigits - from > PHONE_DIGITS_MAX)
		return -1;
	buf[n++] = '+';
	memcpy(buf + n, cc, ncc);
	n += ncc;
	memcpy(buf + n, digits + from, ndigits - from);
	n += ndigits - from;
	buf[n] = 0;
	out->len = n;
	return 0;
}

int model_ref_normalise(const struct model *m, const struct proto_ref *ref, char buf[PROTO_MAX_EMAIL + 1],
			struct proto_str *out)
{
	int rc;

	buf[0] = 0;
	out->ptr = buf;
	out->len = 0;
	switch (ref->kind) {
	case PROTO_REF_EMAIL:
		rc = model_email_normalise(ref->text, buf, out);
		return rc ? rc : out->len ? 0 : -1;
	case PROTO_REF_PHONE:
		rc = model_phone_normalise(ref->text, m->rules.phone_country, buf, out);
		return rc ? rc : out->len ? 0 : -1;
	case PROTO_REF_CARD:
		rc = model_card_normalise(ref->text, buf, out);
		return rc ? rc : out->len ? 0 : -1;
	default:
		return 0;
	}
}

struct model_customer *model_customer_find(const struct model *m, const struct proto_ref *ref)
{
	char buf[PROTO_MAX_EMAIL + 1];
	struct proto_str norm;

	switch (ref->kind) {
	case PROTO_REF_ID:
		return model_customer_by_id(m, ref->id);
	case PROTO_REF_EMAIL:
		return model_ref_normalise(m, ref, buf, &norm) ? NULL : model_customer_by_email(m, norm);
	case PROTO_REF_PHONE:
		return model_ref_normalise(m, ref, buf, &norm) ? NULL : model_customer_by_phone(m, norm);
	case PROTO_REF_CARD:
		return model_ref_normalise(m, ref, buf, &norm) ? NULL : model_customer_by_card(m, norm);
	}
	return NULL;
}
