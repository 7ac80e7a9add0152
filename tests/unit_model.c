/*
 * unit_model.c - identity normalisation, model_apply, checkpoints, and the
 * store's recovery: what a restart rebuilds equals what was there, and a
 * damaged journal is refused with its seq named.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model.h"
#include "store.h"

static struct proto_str S(const char *s)
{
	return proto_str_c(s);
}

static void check_email(const char *in, int rc, const char *want)
{
	char buf[PROTO_MAX_EMAIL + 1];
	struct proto_str out;
	int got = model_email_normalise(S(in), buf, &out);

	CHECK_INT(got, rc);
	if (got == 0 && rc == 0 && strcmp(buf, want) != 0) {
		fprintf(stderr, "email \"%s\" normalised to \"%s\", want \"%s\"\n", in, buf, want);
		CHECK(0);
	}
}

static void check_phone(const char *in, int64_t country, int rc, const char *want)
{
	char buf[PROTO_MAX_PHONE + 1];
	struct proto_str out;
	int got = model_phone_normalise(S(in), country, buf, &out);

	if (got != rc)
		fprintf(stderr, "phone \"%s\" in country %lld: %d, want %d\n", in, (long long)country, got, rc);
	CHECK_INT(got, rc);
	if (got == 0 && rc == 0 && (out.len != strlen(want) || memcmp(out.ptr, want, out.len) != 0)) {
		fprintf(stderr, "phone \"%s\" in country %lld normalised to \"%.*s\", want \"%s\"\n", in,
			(long long)country, (int)out.len, out.ptr, want);
		CHECK(0);
	}
}

static uint64_t seq_counter;

static struct record enrol(uint64_t id, const char *email, const char *phone)
{
	struct record r;
	memset(&r, 0, sizeof r);
	r.type = PROTO_ENTRY_ENROL;
	r.time_us = 1000;
	r.customer_id = id;
	r.request_key[0] = (uint8_t)++seq_counter;
	r.request_key[1] = 0xE;
	r.u.enrol.email = S(email);
	r.u.enrol.phone = S(phone);
	r.u.enrol.first_name = S("Ann");
	r.u.enrol.last_name = S("Lee");
	return r;
}

static struct record accrue(uint64_t id, uint64_t prev, const char *order, int64_t amount, int64_t points,
			    int64_t after)
{
	struct record r;
	memset(&r, 0, sizeof r);
	r.type = PROTO_ENTRY_ACCRUE;
	r.time_us = 2000;
	r.customer_id = id;
	r.prev_seq = prev;
	r.request_key[0] = (uint8_t)++seq_counter;
	r.request_key[1] = 0xA;
	r.u.accrue.location = S("store-1");
	r.u.accrue.order_id = S(order);
	r.u.accrue.amount = amount;
	r.u.accrue.points = points;
	r.u.accrue.balance_after = after;
	return r;
}

static int count_put(void *ctx, enum record_db db, const void *k, size_t kl, const void *v, size_t vl)
{
	int *counts = ctx;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	counts[db]++;
	return 0;
}

static void test_model(void)
{
	struct model m;
	struct record r;
	struct model_customer *c;
	int counts[4] = {0};

	REQUIRE(model_init(&m) == 0);
	r = enrol(1, "ann@example.com", "+15550102000");
	CHECK_INT(model_apply(&m, 1, &r), 0);
	c = model_customer_by_id(&m, 1);
	REQUIRE(c != NULL);
	CHECK(model_customer_by_email(&m, S("ann@example.com")) == c);
	CHECK(model_customer_by_phone(&m, S("+15550102000")) == c);
	CHECK(model_customer_by_email(&m, S("bob@example.com")) == NULL);
	CHECK_INT(m.next_customer_id, 2);

	/* A record naming a taken email contradicts the state. */
	r = enrol(2, "ann@example.com", "");
	CHECK_INT(model_apply(&m, 2, &r), MODEL_E_CORRUPT);
	/* Ids are dense: an enrolment naming a taken id or skipping one contradicts it too. */
	r = enrol(1, "bob@example.com", "");
	CHECK_INT(model_apply(&m, 2, &r), MODEL_E_CORRUPT);
	r = enrol(3, "bob@example.com", "");
	CHECK_INT(model_apply(&m, 2, &r), MODEL_E_CORRUPT);
	CHECK(model_customer_by_id(&m, 0) == NULL);
	CHECK(model_customer_by_id(&m, 2) == NULL);
	CHECK(model_customer_by_email(&m, S("bob@example.com")) == NULL);

	r = accrue(1, 1, "o1", 1299, 12, 12);
	CHECK_INT(model_apply(&m, 2, &r), 0);
	c = model_customer_by_id(&m, 1);
	CHECK_INT(c->balance, 12);
	CHECK_INT(c->lifetime_points, 12);
	CHECK_INT(c->visits, 1);
	CHECK_INT(c->total_spend, 1299);
	CHECK_INT(c->last_seq, 2);
	CHECK(model_order_find(&m, S("store-1"), S("o1")) != NULL);
	CHECK(model_order_find(&m, S("store-2"), S("o1")) == NULL);

	/* Wrong chain link, wrong balance_after, a seq not after the last: all refused. */
	r = accrue(1, 1, "o2", 100, 1, 13);
	CHECK_INT(model_apply(&m, 3, &r), MODEL_E_CORRUPT);
	r = accrue(1, 2, "o2", 100, 1, 99);
	CHECK_INT(model_apply(&m, 3, &r), MODEL_E_CORRUPT);
	r = accrue(1, 2, "o2", 100, 1, 13);
	CHECK_INT(model_apply(&m, 2, &r), MODEL_E_CORRUPT);
	CHECK_INT(model_customer_by_id(&m, 1)->balance, 12);

	CHECK_INT(model_checkpoint(&m, count_put, counts, NULL), 0);
	CHECK_INT(counts[RECORD_DB_CUSTOMERS], 1);
	CHECK_INT(counts[RECORD_DB_ORDERS], 1);
	CHECK_INT(counts[RECORD_DB_REQUESTS], 2);
	/* Nothing changed since: the next checkpoint writes nothing. */
	memset(counts, 0, sizeof counts);
	CHECK_INT(model_checkpoint(&m, count_put, counts, NULL), 0);
	CHECK_INT(counts[0] + counts[1] + counts[2] + counts[3], 0);
	model_free(&m);
}

/* The snapshots model_save_new hands over, kept to load into another model. */
struct saved {
	int n;
	enum record_db db[8];
	uint8_t val[8][256];
	size_t len[8];
};

static int save_put(void *ctx, enum record_db db, const void *k, size_t kl, const void *v, size_t vl)
{
	struct saved *sv = ctx;
	(void)k;
	(void)kl;
	if (sv->n == 8 || vl > sizeof sv->val[0])
		return -1;
	sv->db[sv->n] = db;
	memcpy(sv->val[sv->n], v, vl);
	sv->len[sv->n++] = vl;
	return 0;
}

/* Load what save_put kept into m; with bump, each order and request key claims another seq. */
static int load_saved(struct model *m, const struct saved *sv, int bump)
{
	for (int i = 0; i < sv->n; i++) {
		int rc;
		if (sv->db[i] == RECORD_DB_ORDERS) {
			struct record_order o;
			REQUIRE(record_order_decode(sv->val[i], sv->len[i], &o) == 0);
			o.seq += (uint64_t)bump;
			rc = model_load_order(m, o.key.ptr, o.key.len, &o);
		} else {
			struct record_request q;
			REQUIRE(record_request_decode(sv->val[i], sv->len[i], &q) == 0);
			q.seq += (uint64_t)bump;
			rc = model_load_request(m, q.key, &q);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Orders and request keys saved with the records that made them: replaying
 * such a record finds them loaded already and keeps them, once; one that
 * claims another seq contradicts the record.
 */
static void test_saved_with_record(void)
{
	struct model m, m2;
	struct saved sv;
	struct record e = enrol(1, "sam@example.com", ""), a = accrue(1, 1, "o9", 700, 7, 7);

	REQUIRE(model_init(&m) == 0);
	REQUIRE(model_apply(&m, 1, &e) == 0);
	REQUIRE(model_apply(&m, 2, &a) == 0);
	memset(&sv, 0, sizeof sv);
	CHECK_INT(model_save_new(&m, save_put, &sv), 0);
	/* Two request keys (enrol, sale) and one order, in seq order. */
	CHECK_INT(sv.n, 3);
	/* Saved once: a second call has nothing new. */
	{
		struct saved again;
		memset(&again, 0, sizeof again);
		CHECK_INT(model_save_new(&m, save_put, &again), 0);
		CHECK_INT(again.n, 0);
	}
	model_free(&m);

	/* Recovery: the saved order and keys are loaded, then both records replayed. */
	REQUIRE(model_init(&m2) == 0);
	CHECK_INT(load_saved(&m2, &sv, 0), 0);
	CHECK_INT(model_apply(&m2, 1, &e), 0);
	CHECK_INT(model_apply(&m2, 2, &a), 0);
	CHECK_INT(m2.norders, 1);
	CHECK_INT(m2.nrequests, 2);
	CHECK_INT(model_customer_by_id(&m2, 1)->balance, 7);
	CHECK_INT(model_customer_by_id(&m2, 1)->visits, 1);
	model_free(&m2);

	/* The same order and key under other seqs are not this record's. */
	REQUIRE(model_init(&m2) == 0);
	CHECK_INT(load_saved(&m2, &sv, 100), 0);
	CHECK_INT(model_apply(&m2, 1, &e), MODEL_E_CORRUPT);
	model_free(&m2);
}

/* Flip one byte of journal record seq in dir's LMDB, behind the daemon's back. */
static void flip_journal_byte(const char *dir, uint64_t seq)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t kbuf[8], copy[RECORD_MAX_SIZE];
	MDB_val k = {8, kbuf}, v;

	record_key_u64(kbuf, seq);
	REQUIRE(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
	REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	REQUIRE(mdb_dbi_open(txn, "journal", 0, &dbi) == 0);
	REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size / 2] ^= 0x40;
	v.mv_data = copy;
	REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
	REQUIRE(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
}

static void test_store(void)
{
	char dir[] = "/tmp/accrue-unit-XXXXXX", err[512], cmd[600];
	struct store *s, *s2;
	struct model m, m2;
	struct record r;
	uint64_t replayed = 0;

	REQUIRE(mkdtemp(dir) != NULL);
	REQUIRE(store_open(&s, dir, err, sizeof err) == 0);
	CHECK_INT(store_open(&s2, dir, err, sizeof err), -1);
	CHECK(strstr(err, "in use") != NULL);
	REQUIRE(model_init(&m) == 0);
	REQUIRE(store_recover(s, &m, &replayed, err, sizeof err) == 0);
	CHECK_INT(replayed, 0);

	r = enrol(1, "ann@example.com", "");
	REQUIRE(store_append(s, &r) == 1);
	REQUIRE(model_apply(&m, 1, &r) == 0);
	r = accrue(1, 1, "o1", 500, 5, 5);
	REQUIRE(store_append(s, &r) == 2);
	REQUIRE(model_apply(&m, 2, &r) == 0);
	REQUIRE(store_commit_now(s, err, sizeof err) == 0);
	CHECK_INT(store_durable_seq(s), 2);
	/* Checkpoint at 2, then one more record after it. */
	REQUIRE(store_checkpoint(s, &m) == 0);
	r = accrue(1, 2, "o2", 1000, 10, 15);
	REQUIRE(store_append(s, &r) == 3);
	REQUIRE(model_apply(&m, 3, &r) == 0);
	REQUIRE(store_commit_now(s, err, sizeof err) == 0);
	store_close(s);
	model_free(&m);

	/* Restart: the snapshot at 2 plus a replay of record 3. */
	REQUIRE(store_open(&s, dir, err, sizeof err) == 0);
	REQUIRE(model_init(&m2) == 0);
	CHECK_INT(store_recover(s, &m2, &replayed, err, sizeof err), 0);
	CHECK_INT(replayed, 1);
	REQUIRE(model_customer_by_id(&m2, 1) != NULL);
	CHECK_INT(model_customer_by_id(&m2, 1)->balance, 15);
	CHECK_INT(model_customer_by_id(&m2, 1)->visits, 2);
	CHECK_INT(model_customer_by_id(&m2, 1)->last_seq, 3);
	CHECK(model_order_find(&m2, S("store-1"), S("o1")) != NULL);
	CHECK(model_order_find(&m2, S("store-1"), S("o2")) != NULL);
	CHECK(model_request_find(&m2, r.request_key) != NULL);
	store_close(s);
	model_free(&m2);

	/* A flipped byte in the replayed tail is refused, naming the record. */
	flip_journal_byte(dir, 3);
	REQUIRE(store_open(&s, dir, err, sizeof err) == 0);
	REQUIRE(model_init(&m2) == 0);
	CHECK_INT(store_recover(s, &m2, &replayed, err, sizeof err), -1);
	CHECK(strstr(err, "record 3") != NULL);
	CHECK(strstr(err, "checksum") != NULL);
	store_close(s);
	model_free(&m2);

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
}

/* What people type (issue 11): phones by country, emails beyond ASCII, names, locations. */
static void test_text(void)
{
	char buf[PROTO_MAX_LOCATION + 1];
	struct proto_str out;

	/* The issue's numbers: one customer however they are typed. */
	check_phone("(555) 010-0002", 1, 0, "+15550100002");
	check_phone("555 010 0009", 1, 0, "+15550100009");
	check_phone("+1 555 010 0009", 1, 0, "+15550100009");
	check_phone("+1 555 010 0009", 0, 0, "+15550100009");
	check_phone("555 010 0001", 0, MODEL_PHONE_NO_COUNTRY, NULL);
	/* North America's trunk 1 before ten digits; no trunk otherwise. */
	check_phone("1 555 010 0009", 1, 0, "+15550100009");
	check_phone("1-800-555-0199", 1, 0, "+18005550199");
	/* A trunk 0 is dropped where the country dials one, Italy's kept. */
	check_phone("020 7946 0000", 44, 0, "+442079460000");
	check_phone("030 901820", 49, 0, "+4930901820");
	check_phone("01 23 45 67 89", 33, 0, "+33123456789");
	check_phone("(02) 9374 4000", 61, 0, "+61293744000");
	check_phone("06 6988 4857", 39, 0, "+390669884857");
	check_phone("8 912 345 67 89", 7, 0, "+79123456789");
	/* An international number typed with 00 is not national; + never starts 0. */
	check_phone("0044 20 7946 0000", 44, -1, NULL);
	check_phone("+044 20 7946 0000", 44, -1, NULL);
	check_phone("+44 (0)20", 0, -1, NULL);
	check_phone("+44 (0)20 7946 0000", 0, 0, "+442079460000");
	check_phone("+49 (0) 30 901820", 49, 0, "+4930901820");
	check_phone("(0)20 7946 0000", 44, 0, "+442079460000");
	check_phone("12", 1, -1, NULL);
	check_phone("1234567890123456", 44, -1, NULL);

	/* Case beyond ASCII, and NFC: precomposed and decomposed a-umlaut are one. */
	check_email("\xc3\x84NNA@ex\xc3\xa4mple.com", 0, "\xc3\xa4nna@ex\xc3\xa4mple.com");
	check_email("\xc3\xa4nna@ex\xc3\xa4mple.com", 0, "\xc3\xa4nna@ex\xc3\xa4mple.com");
	check_email("a\xcc\x88nna@ex\xc3\xa4mple.com", 0, "\xc3\xa4nna@ex\xc3\xa4mple.com");
	check_email("STRA\xc3\x9f" "E@example.com", 0, "stra\xc3\x9f" "e@example.com");
	check_email("ann\xff@example.com", -1, NULL);          /* not UTF-8 */
	check_email("ann\xe2\x80\xae@example.com", -1, NULL); /* RIGHT-TO-LEFT OVERRIDE */

	CHECK_INT(model_name_normalise(S("  Ana "), &out), 0);
	CHECK(out.len == 3 && memcmp(out.ptr, "Ana", 3) == 0);
	CHECK_INT(model_name_normalise(S("J\xc3\xbcrgen"), &out), 0);
	CHECK_INT(model_name_normalise(S("Ana\xc3"), &out), -1);                 /* cut UTF-8 */
	CHECK_INT(model_name_normalise(S("\xe2\x80\xae" "anA"), &out), -1);         /* U+202E */
	CHECK_INT(model_name_normalise(S("An\xe2\x81\xa6" "a"), &out), -1);         /* U+2066 */
	CHECK_INT(model_name_normalise(S("An\xe2\x80\x8f" "a"), &out), -1);         /* U+200F */
	CHECK_INT(model_name_normalise(S("An\xd8\x9c" "a"), &out), -1);          /* U+061C */
	CHECK_INT(model_name_normalise(S("An\xc2\x85" "a"), &out), -1);          /* U+0085, C1 */
	CHECK_INT(model_name_normalise(S("An\ta"), &out), -1);

	CHECK_INT(model_location_normalise(S(" STORE-1 "), buf, &out), 0);
	CHECK(out.len == 7 && memcmp(out.ptr, "store-1", 7) == 0);
	CHECK_INT(model_location_normalise(S("store\x01"), buf, &out), -1);
}

/* Last visit is the latest sale: a sale dated back, live or replayed, leaves it. */
static void test_last_visit(void)
{
	struct model m;
	struct record r;
	struct model_customer *c;

	REQUIRE(model_init(&m) == 0);
	r = enrol(1, "lv@example.com", "");
	CHECK_INT(model_apply(&m, 1, &r), 0);
	r = accrue(1, 1, "today", 500, 5, 5);
	r.time_us = 1764900000000000LL; /* 2025-12-05 */
	CHECK_INT(model_apply(&m, 2, &r), 0);
	r = accrue(1, 2, "1970", 500, 5, 10);
	r.time_us = 86400000000LL; /* 1970-01-02 */
	CHECK_INT(model_apply(&m, 3, &r), 0);
	c = model_customer_by_id(&m, 1);
	REQUIRE(c != NULL);
	CHECK_INT(c->visits, 2);
	CHECK_INT(c->last_visit_us, 1764900000000000LL);
	r = accrue(1, 3, "later", 500, 5, 15);
	r.time_us = 1764900000000001LL;
	CHECK_INT(model_apply(&m, 4, &r), 0);
	CHECK_INT(model_customer_by_id(&m, 1)->last_visit_us, 1764900000000001LL);
	model_free(&m);
}

int main(void)
{
	check_email("", 0, "");
	check_email("  Ann.Lee@Example.COM ", 0, "ann.lee@example.com");
	check_email("ann@", -1, NULL);
	check_email("@example.com", -1, NULL);
	check_email("ann@@example.com", -1, NULL);
	check_email("ann lee@example.com", -1, NULL);
	check_email("annexample.com", -1, NULL);

	check_phone("", 0, 0, "");
	check_phone("+1 (555) 010-2000", 0, 0, "+15550102000");
	/* Without '+' a number is national: read in phone.country, or refused without one. */
	check_phone("555.010.2000", 0, MODEL_PHONE_NO_COUNTRY, NULL);
	check_phone("555.010.2000", 1, 0, "+15550102000");
	check_phone("+12345", 0, -1, NULL);
	check_phone("+1234567890123456", 0, -1, NULL);
	check_phone("555-CALL-NOW", 0, -1, NULL);
	check_phone("1+5550102000", 0, -1, NULL);
	check_phone("--", 0, -1, NULL);

	test_text();
	test_last_visit();
	test_model();
	test_saved_with_record();
	test_store();
	return check_done("unit_model");
}
