/*
 * unit_archive.c - archive and merge in the record codec and the model.
 *
 * record_erase empties exactly the personal fields of each kind and keeps
 * every amount, and an erased record round-trips as format 2. In the model:
 * ARCHIVE takes a customer out of every index (their email enrols again),
 * keeps the amounts, and refuses any later record for them; MERGE moves
 * balance, lifetime, spend, visits, groups and cards, and a return of the
 * dropped customer's order is the keeper's. Replaying the same journal
 * with the archived customers' records erased (as accrue-check and a
 * recovery from an older checkpoint do) ends in the same state as the live
 * run, and a checkpoint loads back archived and merged_into. Records that
 * could not have been written are MODEL_E_CORRUPT.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"

static struct proto_str S(const char *s)
{
	return proto_str_c(s);
}

static int str_is(struct proto_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static uint8_t key_counter;

static struct record base(uint8_t type, uint64_t id, uint64_t prev)
{
	struct record r;

	memset(&r, 0, sizeof r);
	r.type = type;
	r.time_us = 9000 + key_counter;
	r.customer_id = id;
	r.prev_seq = prev;
	r.request_key[0] = ++key_counter;
	r.request_key[1] = 0xAC;
	return r;
}

/* Encode under seq, decode back into out: what a reader of the journal sees. */
static void round_trip(const struct record *in, uint64_t seq, struct record *out, uint8_t *buf)
{
	size_t n = record_encode(buf, RECORD_MAX_SIZE, seq, in);

	CHECK(n > 0);
	CHECK_INT(record_decode(buf, n, seq, out), 0);
}

static void test_record_erase(void)
{
	static uint8_t buf[RECORD_MAX_SIZE], buf2[RECORD_MAX_SIZE];
	static struct record r, back, again;

	r = base(PROTO_ENTRY_ENROL, 1, 0);
	r.u.enrol.email = S("ann@example.com");
	r.u.enrol.phone = S("+15550100001");
	r.u.enrol.first_name = S("Ann");
	r.u.enrol.last_name = S("Lee");
	r.u.enrol.member = 1;
	round_trip(&r, 1, &back, buf);
	CHECK_INT(back.erased, 0);
	CHECK_INT(record_erase(&back), 1);
	round_trip(&back, 1, &again, buf2);
	CHECK_INT(again.erased, 1);
	CHECK_INT(buf2[1], RECORD_FORMAT_ERASED);
	CHECK(!again.u.enrol.email.len && !again.u.enrol.phone.len && !again.u.enrol.first_name.len &&
	      !again.u.enrol.last_name.len);
	CHECK_INT(again.u.enrol.member, 1);
	CHECK(memcmp(again.request_key, r.request_key, PROTO_KEY_SIZE) == 0);
	CHECK(memmem(buf2, RECORD_MAX_SIZE, "ann@", 4) == NULL);

	r = base(PROTO_ENTRY_ADJUST, 1, 1);
	r.u.adjust.points = 40;
	r.u.adjust.balance_after = 40;
	r.u.adjust.reason = S("goodwill for Ann");
	r.u.adjust.comment = S("thanks Ann");
	CHECK_INT(record_erase(&r), 1);
	CHECK(!r.u.adjust.reason.len && !r.u.adjust.comment.len);
	CHECK_INT(r.u.adjust.points, 40);
	CHECK_INT(r.u.adjust.balance_after, 40);

	r = base(PROTO_ENTRY_CARD, 1, 2);
	r.u.card.link = 1;
	r.u.card.card = S("A7");
	CHECK_INT(record_erase(&r), 1);
	CHECK(!r.u.card.card.len && r.u.card.link == 1 && r.erased);

	r = base(PROTO_ENTRY_EDIT, 1, 3);
	r.u.edit.fields = PROTO_EDIT_PHONE; /* a phone removed: nothing personal, still rewritten */
	r.u.edit.email = r.u.edit.phone = r.u.edit.first_name = r.u.edit.last_name = S("");
	CHECK_INT(record_erase(&r), 1);
	CHECK_INT(r.u.edit.fields, PROTO_EDIT_PHONE);

	r = base(PROTO_ENTRY_OPTOUT, 1, 4);
	r.u.optout.opted_out = 1;
	r.u.optout.source = S("sms STOP");
	CHECK_INT(record_erase(&r), 1);
	CHECK(!r.u.optout.source.len && r.u.optout.opted_out == 1);

	r = base(PROTO_ENTRY_TIER, 1, 5);
	r.u.tier.tier = S("gold");
	r.u.tier.note = S("asked by Ann");
	CHECK_INT(record_erase(&r), 1);
	CHECK(str_is(r.u.tier.tier, "gold") && !r.u.tier.note.len);

	/* A sale carries nothing personal: left as it is. */
	r = base(PROTO_ENTRY_ACCRUE, 1, 6);
	r.u.accrue.location = S("store-1");
	r.u.accrue.order_id = S("A-1");
	r.u.accrue.amount = 1000;
	CHECK_INT(record_erase(&r), 0);
	CHECK_INT(r.erased, 0);
	CHECK(str_is(r.u.accrue.order_id, "A-1"));

	/* A format byte other than 1 and 2 is still refused. */
	r = base(PROTO_ENTRY_ARCHIVE, 1, 7);
	{
		size_t n = record_encode(buf, sizeof buf, 8, &r);
		uint8_t save = buf[1];
		CHECK(n > 0);
		buf[1] = 3;
		CHECK_INT(record_decode(buf, n, 8, &back), RECORD_E_CHECKSUM); /* the sum covers it */
		buf[1] = save;
		CHECK_INT(record_decode(buf, n, 8, &back), 0);
	}
}

/* ---- the model -------------------------------------------------------- */

#define NRECS 32
static struct record journal[NRECS];
static int njournal;

static uint64_t append(struct model *m, const struct record *r)
{
	uint64_t seq = (uint64_t)njournal + 1;

	REQUIRE(njournal < NRECS);
	journal[njournal++] = *r;
	CHECK_INT(model_apply(m, seq, r), 0);
	return seq;
}

static uint64_t last(const struct model *m, uint64_t id)
{
	return model_customer_by_id(m, id)->last_seq;
}

static struct record enrol(uint64_t id, const char *email, const char *phone, const char *first)
{
	struct record r = base(PROTO_ENTRY_ENROL, id, 0);

	r.u.enrol.email = S(email);
	r.u.enrol.phone = S(phone);
	r.u.enrol.first_name = S(first);
	r.u.enrol.last_name = S("Tester");
	r.u.enrol.member = 1;
	return r;
}

static void view_equal(const struct model *a, const struct model *b, uint64_t id)
{
	struct proto_customer x, y;

	model_customer_view(model_customer_by_id(a, id), &x);
	model_customer_view(model_customer_by_id(b, id), &y);
	CHECK_INT(x.balance, y.balance);
	CHECK_INT(x.lifetime_points, y.lifetime_points);
	CHECK_INT(x.total_spend, y.total_spend);
	CHECK_INT(x.visits, y.visits);
	CHECK_INT(x.archived, y.archived);
	CHECK_INT(x.merged_into, y.merged_into);
	CHECK_INT(x.email.len, y.email.len);
	CHECK_INT(x.phone.len, y.phone.len);
	CHECK_INT(x.first_name.len, y.first_name.len);
	CHECK_INT(x.ncards, y.ncards);
	for (uint8_t i = 0; i < x.ncards && i < y.ncards; i++)
		CHECK(x.cards[i].len == y.cards[i].len && memcmp(x.cards[i].ptr, y.cards[i].ptr, x.cards[i].len) == 0);
	CHECK_INT(x.ngroups, y.ngroups);
	CHECK_INT(x.opted_out, y.opted_out);
}

struct snaps {
	uint8_t val[8][4096];
	size_t len[8];
	int n;
};

static int snap_put(void *ctx, enum record_db db, const void *key, size_t key_len, const void *val, size_t len)
{
	struct snaps *sv = ctx;

	if (db != RECORD_DB_CUSTOMERS)
		return 0;
	REQUIRE(sv->n < 8 && len <= sizeof sv->val[0]);
	memcpy(sv->val[sv->n], val, len);
	sv->len[sv->n++] = len;
	return 0;
}

static void test_model(void)
{
	static struct model m, replay, back;
	static struct snaps sv;
	struct record r;
	struct proto_customer v;
	uint64_t seq;

	REQUIRE(model_init(&m) == 0);
	/* 1: Ann, with everything personal the book keeps. */
	r = enrol(1, "ann@example.com", "+15550100001", "Ann");
	append(&m, &r);
	r = base(PROTO_ENTRY_EDIT, 1, last(&m, 1));
	r.u.edit.fields = PROTO_EDIT_EMAIL;
	r.u.edit.email = S("ann.lee@example.com");
	r.u.edit.phone = r.u.edit.first_name = r.u.edit.last_name = S("");
	append(&m, &r);
	r = base(PROTO_ENTRY_CARD, 1, last(&m, 1));
	r.u.card.link = 1;
	r.u.card.card = S("A7");
	append(&m, &r);
	r = base(PROTO_ENTRY_OPTOUT, 1, last(&m, 1));
	r.u.optout.opted_out = 1;
	r.u.optout.source = S("sms STOP");
	append(&m, &r);
	r = base(PROTO_ENTRY_ADJUST, 1, last(&m, 1));
	r.u.adjust.points = 100;
	r.u.adjust.balance_after = 100;
	r.u.adjust.reason = S("welcome Ann");
	append(&m, &r);
	/* 2: Kim keeps; 3: Dan is merged into Kim. */
	r = enrol(2, "kim@example.com", "", "Kim");
	append(&m, &r);
	r = base(PROTO_ENTRY_ADJUST, 2, last(&m, 2));
	r.u.adjust.points = 10;
	r.u.adjust.balance_after = 10;
	append(&m, &r);
	r = enrol(3, "dan@example.com", "+15550100003", "Dan");
	append(&m, &r);
	r = base(PROTO_ENTRY_CARD, 3, last(&m, 3));
	r.u.card.link = 1;
	r.u.card.card = S("D3");
	append(&m, &r);
	r = base(PROTO_ENTRY_GROUP, 3, last(&m, 3));
	r.u.group.add = 1;
	r.u.group.group = S("vip");
	append(&m, &r);
	r = base(PROTO_ENTRY_ACCRUE, 3, last(&m, 3));
	r.u.accrue.location = S("store-1");
	r.u.accrue.order_id = S("D-1");
	r.u.accrue.amount = 3000;
	r.u.accrue.points = 30;
	r.u.accrue.balance_after = 30;
	r.u.accrue.multiplier = 10000;
	append(&m, &r);

	/* An archive that moves amounts without merging, or a merge with no archive before it: never written. */
	r = base(PROTO_ENTRY_ARCHIVE, 1, last(&m, 1));
	r.u.archive.points = 100;
	CHECK_INT(model_apply(&m, (uint64_t)njournal + 1, &r), MODEL_E_CORRUPT);
	r = base(PROTO_ENTRY_MERGE, 2, last(&m, 2));
	r.u.merge.from = 3;
	r.u.merge.points = 30;
	r.u.merge.balance_after = 40;
	CHECK_INT(model_apply(&m, (uint64_t)njournal + 1, &r), MODEL_E_CORRUPT);

	/* Archive Ann: out of every index, amounts kept. */
	r = base(PROTO_ENTRY_ARCHIVE, 1, last(&m, 1));
	append(&m, &r);
	model_customer_view(model_customer_by_id(&m, 1), &v);
	CHECK_INT(v.archived, 1);
	CHECK_INT(v.balance, 100);
	CHECK(!v.email.len && !v.phone.len && !v.first_name.len && !v.ncards && !v.opted_out);
	CHECK(model_customer_by_email(&m, S("ann.lee@example.com")) == NULL);
	CHECK(model_customer_by_phone(&m, S("+15550100001")) == NULL);
	CHECK(model_customer_by_card(&m, S("A7")) == NULL);
	r = base(PROTO_ENTRY_ADJUST, 1, last(&m, 1));
	r.u.adjust.points = 1;
	r.u.adjust.balance_after = 101;
	CHECK_INT(model_apply(&m, (uint64_t)njournal + 1, &r), MODEL_E_CORRUPT);
	r = base(PROTO_ENTRY_ARCHIVE, 1, last(&m, 1));
	CHECK_INT(model_apply(&m, (uint64_t)njournal + 1, &r), MODEL_E_CORRUPT);

	/* Merge Dan into Kim: the archive on Dan's chain, the merge on Kim's. */
	r = base(PROTO_ENTRY_ARCHIVE, 3, last(&m, 3));
	r.u.archive.merged_into = 2;
	r.u.archive.points = 30;
	r.u.archive.lifetime = 30;
	r.u.archive.spend = 3000;
	r.u.archive.visits = 1;
	append(&m, &r);
	r = base(PROTO_ENTRY_MERGE, 2, last(&m, 2));
	r.u.merge.from = 3;
	r.u.merge.points = 30;
	r.u.merge.lifetime = 30;
	r.u.merge.spend = 3000;
	r.u.merge.visits = 1;
	r.u.merge.balance_after = 40;
	r.u.merge.ngroups = 1;
	r.u.merge.groups[0] = S("vip");
	r.u.merge.ncards = 1;
	r.u.merge.cards[0] = S("D3");
	append(&m, &r);
	model_customer_view(model_customer_by_id(&m, 2), &v);
	CHECK_INT(v.balance, 40);
	CHECK_INT(v.visits, 1);
	CHECK_INT(v.total_spend, 3000);
	CHECK_INT(v.ngroups, 1);
	CHECK_INT(v.ncards, 1);
	CHECK(model_customer_by_card(&m, S("D3")) == model_customer_by_id(&m, 2));
	CHECK(model_customer_owner(&m, 3) == model_customer_by_id(&m, 2));
	model_customer_view(model_customer_by_id(&m, 3), &v);
	CHECK(v.archived == 1 && v.merged_into == 2 && v.balance == 0 && v.visits == 0 && !v.ncards && !v.ngroups);

	/* A return of Dan's order is Kim's. */
	r = base(PROTO_ENTRY_RETURN, 2, last(&m, 2));
	r.u.ret.location = S("store-1");
	r.u.ret.order_id = S("D-1");
	r.u.ret.sale_seq = 11;
	r.u.ret.refunded = 3000;
	r.u.ret.taken = 30;
	r.u.ret.applied = 30;
	r.u.ret.balance_after = 10;
	r.u.ret.full = 1;
	seq = append(&m, &r);
	CHECK(seq > 0);
	model_customer_view(model_customer_by_id(&m, 2), &v);
	CHECK_INT(v.balance, 10);
	CHECK_INT(v.visits, 0);

	/* Ann's email enrols again, as someone new. */
	r = enrol(4, "ann.lee@example.com", "+15550100001", "Ann");
	append(&m, &r);

	/* The same journal with Ann's and Dan's records erased replays into the same state. */
	REQUIRE(model_init(&replay) == 0);
	for (int i = 0; i < njournal; i++) {
		struct record e = journal[i];
		/* Kim's merge keeps its cards: Kim is not archived. */
		if (e.customer_id == 1 || e.customer_id == 3)
			record_erase(&e);
		CHECK_INT(model_apply(&replay, (uint64_t)i + 1, &e), 0);
	}
	for (uint64_t id = 1; id <= 4; id++)
		view_equal(&m, &replay, id);

	/* A checkpoint loads back archived and merged into. */
	CHECK_INT(model_checkpoint(&m, snap_put, &sv, NULL), 0);
	REQUIRE(model_init(&back) == 0);
	for (int i = 0; i < sv.n; i++) {
		struct record_customer s;
		CHECK_INT(record_customer_decode(sv.val[i], sv.len[i], &s), 0);
		CHECK_INT(model_load_customer(&back, &s), 0);
	}
	CHECK_INT(sv.n, 4);
	for (uint64_t id = 1; id <= 4 && id <= back.ncustomers; id++)
		view_equal(&m, &back, id);
	CHECK(model_customer_owner(&back, 3) == model_customer_by_id(&back, 2));
	model_free(&back);
	model_free(&replay);
	model_free(&m);
}

int main(void)
{
	test_record_erase();
	test_model();
	return check_done("unit_archive");
}
