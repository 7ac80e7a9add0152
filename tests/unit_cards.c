/*
 * unit_cards.c - the customer book in the model: card numbers normalised,
 * cards found through their index and unique across customers, edits that
 * keep or replace contact details (and their index entries), the opt-out,
 * records that could not have been written refused as MODEL_E_CORRUPT, and
 * a checkpoint's snapshots loading back into the same state (cards indexed,
 * a card held twice refused); customer snapshots of format 2 with the book
 * and of format 1 without it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"

static struct proto_str S(const char *s)
{
	return proto_str_c(s);
}

static void check_card(const char *in, int rc, const char *want)
{
	char buf[PROTO_MAX_CARD + 1];
	struct proto_str out;
	int got = model_card_normalise(S(in), buf, &out);

	CHECK_INT(got, rc);
	if (got == 0 && rc == 0 && (out.len != strlen(want) || memcmp(out.ptr, want, out.len) != 0)) {
		fprintf(stderr, "card \"%s\" normalised to \"%.*s\", want \"%s\"\n", in, (int)out.len, out.ptr, want);
		CHECK(0);
	}
}

static uint8_t key_counter;

static struct record base(uint8_t type, uint64_t id, uint64_t prev)
{
	struct record r;
	memset(&r, 0, sizeof r);
	r.type = type;
	r.time_us = 5000 + key_counter;
	r.customer_id = id;
	r.prev_seq = prev;
	r.request_key[0] = ++key_counter;
	r.request_key[1] = 0xB0;
	return r;
}

static struct record enrol(uint64_t id, const char *email, const char *phone)
{
	struct record r = base(PROTO_ENTRY_ENROL, id, 0);
	r.u.enrol.email = S(email);
	r.u.enrol.phone = S(phone);
	r.u.enrol.first_name = S("Ann");
	r.u.enrol.last_name = S("Lee");
	r.u.enrol.member = 1;
	return r;
}

static struct record card(uint64_t id, uint64_t prev, int link, const char *number)
{
	struct record r = base(PROTO_ENTRY_CARD, id, prev);
	r.u.card.link = (uint8_t)link;
	r.u.card.card = S(number);
	return r;
}

static struct record edit(uint64_t id, uint64_t prev, uint8_t fields, const char *email, const char *phone,
			  const char *first, const char *last)
{
	struct record r = base(PROTO_ENTRY_EDIT, id, prev);
	r.u.edit.fields = fields;
	r.u.edit.email = S(email);
	r.u.edit.phone = S(phone);
	r.u.edit.first_name = S(first);
	r.u.edit.last_name = S(last);
	return r;
}

static struct record optout(uint64_t id, uint64_t prev, int out, const char *source)
{
	struct record r = base(PROTO_ENTRY_OPTOUT, id, prev);
	r.u.optout.opted_out = (uint8_t)out;
	r.u.optout.source = S(source);
	return r;
}

static uint64_t id_by_card(const struct model *m, const char *number)
{
	const struct model_customer *c = model_customer_by_card(m, S(number));
	return c ? c->id : 0;
}

static uint64_t id_by_phone(const struct model *m, const char *phone)
{
	const struct model_customer *c = model_customer_by_phone(m, S(phone));
	return c ? c->id : 0;
}

static uint64_t id_by_email(const struct model *m, const char *email)
{
	const struct model_customer *c = model_customer_by_email(m, S(email));
	return c ? c->id : 0;
}

/* The customer snapshots a checkpoint hands over, to load into another model. */
struct snaps {
	int n;
	uint8_t val[8][1024];
	size_t len[8];
};

static int snap_put(void *ctx, enum record_db db, const void *k, size_t kl, const void *v, size_t vl)
{
	struct snaps *sv = ctx;
	(void)k;
	(void)kl;
	if (db != RECORD_DB_CUSTOMERS)
		return 0;
	if (sv->n == 8 || vl > sizeof sv->val[0])
		return -1;
	memcpy(sv->val[sv->n], v, vl);
	sv->len[sv->n++] = vl;
	return 0;
}

#define LIT(s) { (s), (uint32_t)(sizeof(s) - 1) }

static int str_same(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* A customer snapshot's customer: a member with a tier and two groups. */
static const struct proto_customer book_customer = {
	.id = 0x00000000deadbeefull,
	.email = LIT("ann@example.com"),
	.phone = LIT("+15551234567"),
	.first_name = LIT("Ann"),
	.last_name = LIT("Lee"),
	.balance = 12,
	.lifetime_points = 34,
	.visits = 17,
	.total_spend = 987654,
	.created_us = 1700000000000001ll,
	.member = 1,
	.tier = LIT("gold"),
	.ngroups = 2,
	.groups = {LIT("staff"), LIT("vip")},
	.optout_source = LIT(""),
};

/*
 * A customer with cards and an opt-out round-trips; a format-1 snapshot
 * (written before they existed: the customer up to its groups, then
 * last_seq) still loads, as a customer with no cards who has not opted out.
 */
static void test_snapshot_customer_book(void)
{
	uint8_t buf[2048], old[1024];
	struct proto_wbuf w;
	struct record_customer s = {book_customer, 77}, got;
	static char cards[PROTO_MAX_CARDS][PROTO_MAX_CARD];

	s.c.opted_out = 1;
	s.c.optout_us = 1700000000123456ll;
	s.c.optout_source = (struct proto_str)LIT("sms STOP");
	s.c.ncards = PROTO_MAX_CARDS;
	for (int i = 0; i < PROTO_MAX_CARDS; i++) {
		memset(cards[i], '0' + i, sizeof cards[i]);
		s.c.cards[i] = (struct proto_str){cards[i], PROTO_MAX_CARD};
	}
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &s), 0);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(record_customer_decode(buf, w.len, &got), 0);
	CHECK_INT(got.c.opted_out, 1);
	CHECK(got.c.optout_us == s.c.optout_us);
	CHECK(str_same(got.c.optout_source, s.c.optout_source));
	CHECK_INT(got.c.ncards, PROTO_MAX_CARDS);
	for (int i = 0; i < PROTO_MAX_CARDS && i < got.c.ncards; i++)
		CHECK(str_same(got.c.cards[i], s.c.cards[i]));
	CHECK(got.last_seq == 77);

	/* Over the limits: not written. */
	s.c.ncards = PROTO_MAX_CARDS + 1;
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &s), PROTO_E_FIELD);
	s.c.ncards = 1;
	s.c.cards[0] = (struct proto_str){cards[0], PROTO_MAX_CARD + 1};
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &s), PROTO_E_FIELD);

	/* Format 1, built by hand as the daemon wrote it before. */
	{
		struct proto_wbuf ow;
		size_t v2len;

		proto_wbuf_init(&ow, old, sizeof old);
		proto_put_u8(&ow, 1);
		proto_customer_put(&ow, &book_customer);
		/* The customer without its last 21 bytes (no source, no cards, not archived). */
		v2len = ow.len;
		ow.len = v2len - (1 + 8 + 2 + 1 + 1 + 8);
		proto_put_u64(&ow, 42);
		REQUIRE(!ow.overflow);
		memset(&got, 0xa5, sizeof got);
		CHECK_INT(record_customer_decode(old, ow.len, &got), 0);
		CHECK(got.c.id == book_customer.id);
		CHECK(str_same(got.c.email, book_customer.email));
		CHECK_INT(got.c.ngroups, book_customer.ngroups);
		CHECK_INT(got.c.opted_out, 0);
		CHECK(got.c.optout_us == 0);
		CHECK_INT(got.c.optout_source.len, 0);
		CHECK_INT(got.c.ncards, 0);
		CHECK(got.last_seq == 42);
		/* Cut short or with a byte more, it is refused like any snapshot. */
		CHECK_INT(record_customer_decode(old, ow.len - 1, &got), PROTO_E_BODY);
		old[ow.len] = 0;
		CHECK_INT(record_customer_decode(old, ow.len + 1, &got), PROTO_E_BODY);
	}
}

static void test_book(void)
{
	struct model m, back;
	struct record r;
	struct proto_customer v;
	static struct snaps sv;
	uint64_t seq = 0;

	REQUIRE(model_init(&m) == 0);
	r = enrol(1, "ann@example.com", "+15550100001");
	CHECK_INT(model_apply(&m, ++seq, &r), 0); /* 1 */
	r = enrol(2, "", "+15550100002");
	CHECK_INT(model_apply(&m, ++seq, &r), 0); /* 2 */

	/* Link two cards to Ann, one to Bob; a card is one customer's. */
	r = card(1, 1, 1, "4000123412341234");
	CHECK_INT(model_apply(&m, ++seq, &r), 0); /* 3 */
	r = card(1, 3, 1, "A7");
	CHECK_INT(model_apply(&m, ++seq, &r), 0); /* 4 */
	r = card(2, 2, 1, "A7");
	CHECK_INT(model_apply(&m, ++seq, &r), MODEL_E_CORRUPT);
	r = card(2, 2, 1, "B9");
	CHECK_INT(model_apply(&m, seq = 5, &r), 0); /* 5 */
	CHECK_INT(id_by_card(&m, "4000123412341234"), 1);
	CHECK_INT(id_by_card(&m, "A7"), 1);
	CHECK_INT(id_by_card(&m, "B9"), 2);
	CHECK_INT(id_by_card(&m, "C1"), 0);
	{
		struct proto_ref ref = {PROTO_REF_CARD, 0, S("b-9")};
		CHECK(model_customer_find(&m, &ref) == model_customer_by_id(&m, 2));
	}
	/* The same card again, or unlinking one not held: not records a daemon writes. */
	r = card(1, 4, 1, "A7");
	CHECK_INT(model_apply(&m, 6, &r), MODEL_E_CORRUPT);
	r = card(1, 4, 0, "B9");
	CHECK_INT(model_apply(&m, 6, &r), MODEL_E_CORRUPT);

	/* Unlink: the other card stays found. */
	r = card(1, 4, 0, "4000123412341234");
	CHECK_INT(model_apply(&m, seq = 6, &r), 0); /* 6 */
	CHECK_INT(id_by_card(&m, "4000123412341234"), 0);
	CHECK_INT(id_by_card(&m, "A7"), 1);

	/* Bob's last card, with a phone: it may go; then his phone may not. */
	r = edit(2, 5, PROTO_EDIT_PHONE, "", "", "", "");
	CHECK_INT(model_apply(&m, 7, &r), 0); /* 7: Bob keeps card B9 only */
	seq = 7;
	CHECK_INT(id_by_phone(&m, "+15550100002"), 0);
	r = card(2, 7, 0, "B9");
	CHECK_INT(model_apply(&m, 8, &r), MODEL_E_CORRUPT);

	/* An edit that keeps the phone re-indexes it correctly (the old text is freed). */
	r = edit(1, 6, PROTO_EDIT_EMAIL | PROTO_EDIT_FIRST, "ann.lee@example.com", "", "Anna", "");
	CHECK_INT(model_apply(&m, seq = 8, &r), 0); /* 8 */
	CHECK_INT(id_by_email(&m, "ann.lee@example.com"), 1);
	CHECK_INT(id_by_email(&m, "ann@example.com"), 0);
	CHECK_INT(id_by_phone(&m, "+15550100001"), 1);
	model_customer_view(model_customer_by_id(&m, 1), &v);
	CHECK(v.first_name.len == 4 && memcmp(v.first_name.ptr, "Anna", 4) == 0);
	CHECK(v.last_name.len == 3 && memcmp(v.last_name.ptr, "Lee", 3) == 0);
	/* Another's phone, a value for a field not changed, no field at all: refused. */
	r = edit(2, 7, PROTO_EDIT_PHONE, "", "+15550100001", "", "");
	CHECK_INT(model_apply(&m, 9, &r), MODEL_E_CORRUPT);
	r = edit(2, 7, PROTO_EDIT_EMAIL, "", "+15550100009", "", "");
	CHECK_INT(model_apply(&m, 9, &r), MODEL_E_CORRUPT);
	r = edit(2, 7, 0, "", "", "", "");
	CHECK_INT(model_apply(&m, 9, &r), MODEL_E_CORRUPT);

	/* Opt-out with its time and source; twice, or an opt-in with a source, refused. */
	r = optout(2, 7, 1, "sms STOP");
	r.time_us = 777;
	CHECK_INT(model_apply(&m, seq = 9, &r), 0); /* 9 */
	model_customer_view(model_customer_by_id(&m, 2), &v);
	CHECK_INT(v.opted_out, 1);
	CHECK_INT(v.optout_us, 777);
	CHECK(v.optout_source.len == 8 && memcmp(v.optout_source.ptr, "sms STOP", 8) == 0);
	CHECK_INT(v.ncards, 1);
	CHECK_INT(id_by_card(&m, "B9"), 2);
	r = optout(2, 9, 1, "");
	CHECK_INT(model_apply(&m, 10, &r), MODEL_E_CORRUPT);
	r = optout(2, 9, 0, "x");
	CHECK_INT(model_apply(&m, 10, &r), MODEL_E_CORRUPT);

	/* A checkpoint loads back into the same state, cards indexed. */
	CHECK_INT(model_checkpoint(&m, snap_put, &sv, NULL), 0);
	CHECK_INT(sv.n, 2);
	REQUIRE(model_init(&back) == 0);
	for (int i = 0; i < sv.n; i++) {
		struct record_customer s;
		CHECK_INT(record_customer_decode(sv.val[i], sv.len[i], &s), 0);
		CHECK_INT(model_load_customer(&back, &s), 0);
	}
	CHECK_INT(id_by_card(&back, "A7"), 1);
	CHECK_INT(id_by_card(&back, "B9"), 2);
	CHECK_INT(id_by_phone(&back, "+15550100001"), 1);
	model_customer_view(model_customer_by_id(&back, 2), &v);
	CHECK_INT(v.opted_out, 1);
	CHECK_INT(v.optout_us, 777);
	/* A snapshot whose card another customer holds does not load, and
	 * leaves nothing of itself indexed. */
	{
		struct record_customer s;
		CHECK_INT(record_customer_decode(sv.val[1], sv.len[1], &s), 0);
		s.c.id = 3;
		s.c.phone = S("+15550100003");
		s.c.cards[0] = S("A7");
		CHECK_INT(model_load_customer(&back, &s), MODEL_E_CORRUPT);
		CHECK_INT(id_by_phone(&back, "+15550100003"), 0);
		CHECK_INT(id_by_card(&back, "A7"), 1);
		CHECK(model_customer_by_id(&back, 3) == NULL);
	}
	model_free(&back);
	model_free(&m);
}

int main(void)
{
	check_card("4000 1234-1234 1234", 0, "4000123412341234");
	check_card("ab-c9", 0, "ABC9");
	check_card("", -1, NULL);
	check_card(" - ", -1, NULL);
	check_card("12#4", -1, NULL);
	check_card("12.4", -1, NULL);
	check_card("123456789012345678901234567890123", -1, NULL); /* 33 */
	check_card("1234567890 1234567890 1234567890 12", 0, "12345678901234567890123456789012");
	test_book();
	test_snapshot_customer_book();
	return check_done("unit_cards");
}
