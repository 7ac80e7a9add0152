/*
 * proto_samples.c - the samples, the spec writer and the field checks the
 * codec tests unit_proto_*.c share (see proto_samples.h).
 */
#include "proto_samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- helpers --------------------------------------------------------- */

int str_is(struct proto_str s, const char *want)
{
	size_t n = strlen(want);
	return s.len == n && (n == 0 || memcmp(s.ptr, want, n) == 0);
}

int str_same(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

uint8_t *dup_exact(const uint8_t *b, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	REQUIRE(p != NULL);
	if (n)
		memcpy(p, b, n);
	return p;
}

uint64_t le_read(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void spec_le(struct spec *s, uint64_t v, int size)
{
	REQUIRE(s->n + (size_t)size <= sizeof s->b);
	for (int i = 0; i < size; i++)
		s->b[s->n++] = (uint8_t)(v >> (8 * i));
}

void spec_bytes(struct spec *s, const void *p, size_t n)
{
	REQUIRE(s->n + n <= sizeof s->b);
	if (n)
		memcpy(s->b + s->n, p, n);
	s->n += n;
}

void spec_str(struct spec *s, struct proto_str v)
{
	spec_le(s, v.len, 2);
	spec_bytes(s, v.ptr, v.len);
}

void spec_fill(struct spec *s, size_t n, char c)
{
	spec_le(s, n, 2);
	REQUIRE(s->n + n <= sizeof s->b);
	memset(s->b + s->n, c, n);
	s->n += n;
}

void spec_ref(struct spec *s, const struct proto_ref *ref)
{
	spec_le(s, ref->kind, 1);
	if (ref->kind == PROTO_REF_ID)
		spec_le(s, ref->id, 8);
	else
		spec_str(s, ref->text);
}

void spec_line(struct spec *s, const struct proto_line *l)
{
	spec_str(s, l->sku);
	spec_str(s, l->category);
	spec_le(s, (uint64_t)l->qty, 8);
	spec_le(s, (uint64_t)l->amount, 8);
}

void spec_sale(struct spec *s, const struct proto_sale *sale)
{
	spec_str(s, sale->location);
	spec_str(s, sale->order_id);
	spec_le(s, (uint64_t)sale->time_us, 8);
	spec_le(s, (uint64_t)sale->amount, 8);
	spec_le(s, sale->nlines, 2);
	for (uint16_t i = 0; i < sale->nlines; i++)
		spec_line(s, &sale->lines[i]);
}

int bytes_equal(const struct proto_wbuf *w, const struct spec *s)
{
	return w->len == s->n && memcmp(w->p, s->b, s->n) == 0;
}

/* ---- samples: one value of every message ---------------------------- */

const uint8_t sample_key[PROTO_KEY_SIZE] = {0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78,
						   0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0};

const struct proto_hello_req s_hello_req = {PROTO_VERSION, LIT("ak_live_0123456789abcdef")};
const struct proto_hello_rep s_hello_rep = {PROTO_ROLE_TERMINAL, 0x0102030405060708ull, LIT("store-12"),
						   PROTO_MAX_BODY_DEFAULT, 128, 1700000000123456ll};
const struct proto_customer s_customer = {
	.id = 0x00000000deadbeefull,
	.email = LIT("ann@example.com"),
	.phone = LIT("+15551234567"),
	.first_name = LIT("Ann"),
	.last_name = LIT("Lee-Ng"),
	.balance = -5,
	.lifetime_points = 1ll << 40,
	.visits = 3,
	.total_spend = 98765,
	.created_us = 1700000000000001ll,
	.last_visit_us = 1700000100000002ll,
	.member = 1,
	.tier = LIT("gold"),
	.ngroups = 2,
	.groups = {LIT("staff"), LIT("vip")},
	.opted_out = 1,
	.optout_us = 1700000200000003ll,
	.optout_source = LIT("sms STOP"),
	.ncards = 2,
	.cards = {LIT("4000123412341234"), LIT("A7")},
};
const struct proto_customer s_guest = {
	.id = 77,
	.email = LIT(""),
	.phone = LIT("+15550000000"),
	.first_name = LIT(""),
	.last_name = LIT(""),
	.visits = 1,
	.total_spend = 500,
	.created_us = 1700000000000009ll,
	.last_visit_us = 1700000000000009ll,
	.member = 0,
	.tier = LIT(""),
	.ngroups = 0,
	.optout_source = LIT(""),
	.ncards = 0,
};
const struct proto_entry s_entries[2] = {
	{.seq = 1001, .type = PROTO_ENTRY_ACCRUE, .time_us = 1700000000000123ll, .points = 123,
	 .balance_after = 456, .amount = 12345, .location = LIT("store-12"), .order_id = LIT("ORD-0001"),
	 .reason = LIT(""), .comment = LIT(""), .detail = LIT("")},
	{.seq = 999, .type = PROTO_ENTRY_ADJUST, .time_us = 1699999999999999ll, .points = -77,
	 .balance_after = 333, .amount = 0, .location = LIT(""), .order_id = LIT(""),
	 .reason = LIT("goodwill"), .comment = LIT("Manual adjustments"), .detail = LIT("tier gold")},
};
const struct proto_key_info s_keys[2] = {
	{.id = 1, .role = PROTO_ROLE_ADMIN, .revoked = 0, .created_us = 1600000000000000ll, .location = LIT("")},
	{.id = 2, .role = PROTO_ROLE_TERMINAL, .revoked = 1, .created_us = 1600000000000042ll,
	 .location = LIT("store-12")},
};

void sample_refs(struct proto_ref refs[3])
{
	refs[0] = (struct proto_ref){PROTO_REF_ID, 0xfedcba9876543210ull, LIT("")};
	refs[1] = (struct proto_ref){PROTO_REF_EMAIL, 0, LIT("ann@example.com")};
	refs[2] = (struct proto_ref){PROTO_REF_PHONE, 0, LIT("+15551234567")};
}

void check_ref(const struct proto_ref *got, const struct proto_ref *want)
{
	CHECK_INT(got->kind, want->kind);
	if (want->kind == PROTO_REF_ID) {
		CHECK(got->id == want->id);
		CHECK_INT(got->text.len, 0);
	} else {
		CHECK(got->id == 0);
		CHECK(str_same(got->text, want->text));
	}
}

void check_customer(const struct proto_customer *got, const struct proto_customer *want)
{
	CHECK(got->id == want->id);
	CHECK(str_same(got->email, want->email));
	CHECK(str_same(got->phone, want->phone));
	CHECK(str_same(got->first_name, want->first_name));
	CHECK(str_same(got->last_name, want->last_name));
	CHECK(got->balance == want->balance);
	CHECK(got->lifetime_points == want->lifetime_points);
	CHECK(got->visits == want->visits);
	CHECK(got->total_spend == want->total_spend);
	CHECK(got->created_us == want->created_us);
	CHECK(got->last_visit_us == want->last_visit_us);
	CHECK_INT(got->member, want->member);
	CHECK(str_same(got->tier, want->tier));
	CHECK_INT(got->ngroups, want->ngroups);
	for (uint8_t i = 0; i < got->ngroups && i < want->ngroups; i++)
		CHECK(str_same(got->groups[i], want->groups[i]));
	CHECK_INT(got->opted_out, want->opted_out);
	CHECK(got->optout_us == want->optout_us);
	CHECK(str_same(got->optout_source, want->optout_source));
	CHECK_INT(got->ncards, want->ncards);
	for (uint8_t i = 0; i < got->ncards && i < want->ncards; i++)
		CHECK(str_same(got->cards[i], want->cards[i]));
	CHECK_INT(got->archived, want->archived);
	CHECK(got->merged_into == want->merged_into);
}

void spec_customer(struct spec *s, const struct proto_customer *c)
{
	spec_le(s, c->id, 8);
	spec_str(s, c->email);
	spec_str(s, c->phone);
	spec_str(s, c->first_name);
	spec_str(s, c->last_name);
	spec_le(s, (uint64_t)c->balance, 8);
	spec_le(s, (uint64_t)c->lifetime_points, 8);
	spec_le(s, c->visits, 8);
	spec_le(s, (uint64_t)c->total_spend, 8);
	spec_le(s, (uint64_t)c->created_us, 8);
	spec_le(s, (uint64_t)c->last_visit_us, 8);
	spec_le(s, c->member, 1);
	spec_str(s, c->tier);
	spec_le(s, c->ngroups, 1);
	for (uint8_t i = 0; i < c->ngroups; i++)
		spec_str(s, c->groups[i]);
	spec_le(s, c->opted_out, 1);
	spec_le(s, (uint64_t)c->optout_us, 8);
	spec_str(s, c->optout_source);
	spec_le(s, c->ncards, 1);
	for (uint8_t i = 0; i < c->ncards; i++)
		spec_str(s, c->cards[i]);
	spec_le(s, c->archived, 1);
	spec_le(s, c->merged_into, 8);
}

/* The strings of sample_lines' lines. */
static char line_text[PROTO_MAX_LINES][2][PROTO_MAX_SKU > PROTO_MAX_CATEGORY ? PROTO_MAX_SKU : PROTO_MAX_CATEGORY];

void sample_lines(struct proto_line *lines, uint16_t n, int at_limits)
{
	REQUIRE(n <= PROTO_MAX_LINES);
	for (uint16_t i = 0; i < n; i++) {
		char tmp[32];
		int k = snprintf(tmp, sizeof tmp, "sku-%u", (unsigned)i);
		REQUIRE(k > 0 && (size_t)k < sizeof tmp);
		memset(line_text[i][0], 'S', PROTO_MAX_SKU);
		memcpy(line_text[i][0], tmp, (size_t)k);
		memset(line_text[i][1], 'C', PROTO_MAX_CATEGORY);
		memcpy(line_text[i][1], "cat-", 4);
		memcpy(line_text[i][1] + 4, tmp + 4, (size_t)k - 4);
		lines[i].sku = (struct proto_str){line_text[i][0], at_limits ? PROTO_MAX_SKU : (uint32_t)k};
		lines[i].category = (struct proto_str){line_text[i][1], at_limits ? PROTO_MAX_CATEGORY : (uint32_t)k};
		lines[i].qty = i + 1;
		lines[i].amount = 100 * (int64_t)(i + 1) + i;
	}
	if (n) {
		lines[0].amount = -1;
		lines[n - 1].qty = INT64_MAX;
	}
}

void check_line(const struct proto_line *got, const struct proto_line *want)
{
	CHECK(str_same(got->sku, want->sku));
	CHECK(str_same(got->category, want->category));
	CHECK(got->qty == want->qty);
	CHECK(got->amount == want->amount);
}

void check_sale(const struct proto_sale *got, const struct proto_sale *want)
{
	CHECK(str_same(got->location, want->location));
	CHECK(str_same(got->order_id, want->order_id));
	CHECK(got->time_us == want->time_us);
	CHECK(got->amount == want->amount);
	CHECK_INT(got->nlines, want->nlines);
	for (uint16_t i = 0; i < got->nlines && i < want->nlines; i++)
		check_line(&got->lines[i], &want->lines[i]);
}
