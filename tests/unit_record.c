/*
 * unit_record.c - the on-disk codec: journal records and checkpoint snapshots.
 *
 * Recovery trusts these bytes to rebuild every balance, so the tests check
 * that each record type survives a round trip field for field, that any
 * single damaged byte or a record filed under the wrong sequence number is
 * caught by the checksum, and that a record whose checksum is right but
 * whose contents are short, long or of an unknown kind is still refused.
 * Buffers are heap copies of exactly the length under test, for ASan.
 */
#include "check.h"
#include "record.h"

#include <xxhash.h>

#define LIT(s) { (s), (uint32_t)(sizeof(s) - 1) }

/* Offsets of the common record header (PROTOCOL.md, "On-disk formats"). */
enum {
	OFF_TYPE = 0,
	OFF_FORMAT = 1,
	OFF_TIME = 2,
	OFF_CUSTOMER = 10,
	OFF_PREV = 18,
	OFF_KEY = 26,
	OFF_BODY_HASH = 42,
	OFF_PAYLOAD = 50,
	CHECKSUM_SIZE = 8,
};

static const uint64_t test_seq = 0x0000000100000203ull;

static const uint8_t sample_key[PROTO_KEY_SIZE] = {0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
						   0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};

static int str_same(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static uint8_t *dup_exact(const uint8_t *b, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	REQUIRE(p != NULL);
	if (n)
		memcpy(p, b, n);
	return p;
}

static uint64_t le_read(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int decode_exact(const uint8_t *b, size_t n, uint64_t seq, struct record *rec)
{
	uint8_t *copy = dup_exact(b, n);
	int rc = record_decode(copy, n, seq, rec);
	free(copy);
	return rc;
}

/* Replace the last 8 bytes of buf[0..n) with the right checksum for seq. */
static void reseal(uint8_t *buf, size_t n, uint64_t seq)
{
	REQUIRE(n >= CHECKSUM_SIZE);
	uint64_t sum = XXH3_64bits_withSeed(buf, n - CHECKSUM_SIZE, seq);
	for (int i = 0; i < 8; i++)
		buf[n - CHECKSUM_SIZE + (size_t)i] = (uint8_t)(sum >> (8 * i));
}

static const uint8_t all_types[] = {PROTO_ENTRY_ENROL, PROTO_ENTRY_ACCRUE, PROTO_ENTRY_ADJUST,
				    PROTO_ENTRY_KEY_CREATE, PROTO_ENTRY_KEY_REVOKE};

static struct record sample_record(uint8_t type)
{
	struct record rec;

	memset(&rec, 0, sizeof rec);
	rec.type = type;
	rec.time_us = 1700000000000000ll + type;
	rec.customer_id = type >= PROTO_ENTRY_KEY_CREATE ? 0 : 0x0102030405060708ull;
	rec.prev_seq = type == PROTO_ENTRY_ENROL ? 0 : 0x00000001000001ffull;
	memcpy(rec.request_key, sample_key, PROTO_KEY_SIZE);
	rec.body_hash = 0xfeedfacecafebeefull;
	switch (type) {
	case PROTO_ENTRY_ENROL:
		rec.u.enrol.email = (struct proto_str)LIT("ann@example.com");
		rec.u.enrol.phone = (struct proto_str)LIT("+15551234567");
		rec.u.enrol.first_name = (struct proto_str)LIT("Ann");
		rec.u.enrol.last_name = (struct proto_str)LIT("");
		break;
	case PROTO_ENTRY_ACCRUE:
		rec.u.accrue.location = (struct proto_str)LIT("store-12");
		rec.u.accrue.order_id = (struct proto_str)LIT("ORD-0001");
		rec.u.accrue.amount = 12345;
		rec.u.accrue.points = 123;
		rec.u.accrue.balance_after = 1ll << 40;
		break;
	case PROTO_ENTRY_ADJUST:
		rec.u.adjust.points = -250;
		rec.u.adjust.balance_after = -1;
		rec.u.adjust.reason = (struct proto_str)LIT("goodwill");
		rec.u.adjust.comment = (struct proto_str)LIT("Manual adjustments");
		break;
	case PROTO_ENTRY_KEY_CREATE:
		rec.u.key_create.key_id = 0x8000000000000007ull;
		rec.u.key_create.role = PROTO_ROLE_TERMINAL;
		rec.u.key_create.location = (struct proto_str)LIT("store-12");
		for (int i = 0; i < RECORD_HASH_SIZE; i++)
			rec.u.key_create.hash[i] = (uint8_t)(0xa0 + i);
		break;
	case PROTO_ENTRY_KEY_REVOKE:
		rec.u.key_revoke.key_id = 7;
		break;
	}
	return rec;
}

/* The payload's size by PROTOCOL.md, from the record's strings. */
static size_t payload_size(const struct record *rec)
{
	switch (rec->type) {
	case PROTO_ENTRY_ENROL:
		return 8 + rec->u.enrol.email.len + rec->u.enrol.phone.len + rec->u.enrol.first_name.len +
		       rec->u.enrol.last_name.len;
	case PROTO_ENTRY_ACCRUE:
		return 2 + rec->u.accrue.location.len + 2 + rec->u.accrue.order_id.len + 24;
	case PROTO_ENTRY_ADJUST:
		return 16 + 2 + rec->u.adjust.reason.len + 2 + rec->u.adjust.comment.len;
	case PROTO_ENTRY_KEY_CREATE:
		return 8 + 1 + 2 + rec->u.key_create.location.len + RECORD_HASH_SIZE;
	case PROTO_ENTRY_KEY_REVOKE:
		return 8;
	}
	REQUIRE(!"unknown record type");
	return 0;
}

static void check_record(const struct record *got, const struct record *want)
{
	CHECK_INT(got->type, want->type);
	CHECK(got->time_us == want->time_us);
	CHECK(got->customer_id == want->customer_id);
	CHECK(got->prev_seq == want->prev_seq);
	CHECK(memcmp(got->request_key, want->request_key, PROTO_KEY_SIZE) == 0);
	CHECK(got->body_hash == want->body_hash);
	switch (want->type) {
	case PROTO_ENTRY_ENROL:
		CHECK(str_same(got->u.enrol.email, want->u.enrol.email));
		CHECK(str_same(got->u.enrol.phone, want->u.enrol.phone));
		CHECK(str_same(got->u.enrol.first_name, want->u.enrol.first_name));
		CHECK(str_same(got->u.enrol.last_name, want->u.enrol.last_name));
		break;
	case PROTO_ENTRY_ACCRUE:
		CHECK(str_same(got->u.accrue.location, want->u.accrue.location));
		CHECK(str_same(got->u.accrue.order_id, want->u.accrue.order_id));
		CHECK(got->u.accrue.amount == want->u.accrue.amount);
		CHECK(got->u.accrue.points == want->u.accrue.points);
		CHECK(got->u.accrue.balance_after == want->u.accrue.balance_after);
		break;
	case PROTO_ENTRY_ADJUST:
		CHECK(got->u.adjust.points == want->u.adjust.points);
		CHECK(got->u.adjust.balance_after == want->u.adjust.balance_after);
		CHECK(str_same(got->u.adjust.reason, want->u.adjust.reason));
		CHECK(str_same(got->u.adjust.comment, want->u.adjust.comment));
		break;
	case PROTO_ENTRY_KEY_CREATE:
		CHECK(got->u.key_create.key_id == want->u.key_create.key_id);
		CHECK_INT(got->u.key_create.role, want->u.key_create.role);
		CHECK(str_same(got->u.key_create.location, want->u.key_create.location));
		CHECK(memcmp(got->u.key_create.hash, want->u.key_create.hash, RECORD_HASH_SIZE) == 0);
		break;
	case PROTO_ENTRY_KEY_REVOKE:
		CHECK(got->u.key_revoke.key_id == want->u.key_revoke.key_id);
		break;
	}
}

/* ---- journal records ------------------------------------------------- */

static void test_record_round_trip(void)
{
	for (size_t t = 0; t < sizeof all_types; t++) {
		struct record rec = sample_record(all_types[t]), got;
		uint8_t buf[RECORD_MAX_SIZE];
		size_t len = record_encode(buf, sizeof buf, test_seq, &rec);

		CHECK_INT(len, OFF_PAYLOAD + payload_size(&rec) + CHECKSUM_SIZE);
		/* The common header sits where the format says. */
		CHECK_INT(buf[OFF_TYPE], rec.type);
		CHECK_INT(buf[OFF_FORMAT], RECORD_FORMAT);
		CHECK(le_read(buf + OFF_TIME, 8) == (uint64_t)rec.time_us);
		CHECK(le_read(buf + OFF_CUSTOMER, 8) == rec.customer_id);
		CHECK(le_read(buf + OFF_PREV, 8) == rec.prev_seq);
		CHECK(memcmp(buf + OFF_KEY, sample_key, PROTO_KEY_SIZE) == 0);
		CHECK(le_read(buf + OFF_BODY_HASH, 8) == rec.body_hash);
		/* The checksum is XXH3-64 of what precedes it, seeded with seq. */
		CHECK(le_read(buf + len - 8, 8) == XXH3_64bits_withSeed(buf, len - 8, test_seq));

		/* Decoded strings point into the bytes: keep them until compared. */
		uint8_t *copy = dup_exact(buf, len);
		memset(&got, 0xa5, sizeof got);
		CHECK_INT(record_decode(copy, len, test_seq, &got), 0);
		check_record(&got, &rec);
		free(copy);
	}

	/* Payload layouts, byte for byte, for the two money-bearing kinds. */
	struct record acc = sample_record(PROTO_ENTRY_ACCRUE);
	uint8_t buf[RECORD_MAX_SIZE];
	size_t len = record_encode(buf, sizeof buf, test_seq, &acc);
	const uint8_t *p = buf + OFF_PAYLOAD;
	REQUIRE(len > OFF_PAYLOAD);
	CHECK_INT(le_read(p, 2), 8);
	CHECK(memcmp(p + 2, "store-12", 8) == 0);
	CHECK_INT(le_read(p + 10, 2), 8);
	CHECK(memcmp(p + 12, "ORD-0001", 8) == 0);
	CHECK_INT(le_read(p + 20, 8), 12345);
	CHECK_INT(le_read(p + 28, 8), 123);
	CHECK(le_read(p + 36, 8) == (uint64_t)1 << 40);

	struct record adj = sample_record(PROTO_ENTRY_ADJUST);
	len = record_encode(buf, sizeof buf, test_seq, &adj);
	REQUIRE(len > OFF_PAYLOAD);
	CHECK(le_read(p, 8) == (uint64_t)-250);
	CHECK(le_read(p + 8, 8) == (uint64_t)-1);
	CHECK_INT(le_read(p + 16, 2), 8);
	CHECK(memcmp(p + 18, "goodwill", 8) == 0);
}

static void test_record_max_size(void)
{
	static char fill[PROTO_MAX_REASON];
	uint8_t buf[RECORD_MAX_SIZE];
	struct record got;

	memset(fill, 'z', sizeof fill);
	for (size_t t = 0; t < sizeof all_types; t++) {
		struct record rec = sample_record(all_types[t]);
		switch (rec.type) {
		case PROTO_ENTRY_ENROL:
			rec.u.enrol.email = (struct proto_str){fill, PROTO_MAX_EMAIL};
			rec.u.enrol.phone = (struct proto_str){fill, PROTO_MAX_PHONE};
			rec.u.enrol.first_name = (struct proto_str){fill, PROTO_MAX_NAME};
			rec.u.enrol.last_name = (struct proto_str){fill, PROTO_MAX_NAME};
			break;
		case PROTO_ENTRY_ACCRUE:
			rec.u.accrue.location = (struct proto_str){fill, PROTO_MAX_LOCATION};
			rec.u.accrue.order_id = (struct proto_str){fill, PROTO_MAX_ORDER};
			break;
		case PROTO_ENTRY_ADJUST:
			rec.u.adjust.reason = (struct proto_str){fill, PROTO_MAX_REASON};
			rec.u.adjust.comment = (struct proto_str){fill, PROTO_MAX_REASON};
			break;
		case PROTO_ENTRY_KEY_CREATE:
			rec.u.key_create.location = (struct proto_str){fill, PROTO_MAX_LOCATION};
			break;
		}
		/* Every field at its limit still fits RECORD_MAX_SIZE and decodes. */
		size_t len = record_encode(buf, sizeof buf, 1, &rec);
		CHECK(len > 0 && len <= RECORD_MAX_SIZE);
		CHECK_INT(len, OFF_PAYLOAD + payload_size(&rec) + CHECKSUM_SIZE);
		uint8_t *copy = dup_exact(buf, len);
		CHECK_INT(record_decode(copy, len, 1, &got), 0);
		check_record(&got, &rec);
		free(copy);
	}
}

static void test_record_encode_space(void)
{
	for (size_t t = 0; t < sizeof all_types; t++) {
		struct record rec = sample_record(all_types[t]);
		uint8_t big[RECORD_MAX_SIZE];
		size_t need = record_encode(big, sizeof big, test_seq, &rec);
		REQUIRE(need > 0);
		for (size_t cap = 0; cap <= need; cap++) {
			uint8_t *out = malloc(cap ? cap : 1);
			REQUIRE(out != NULL);
			size_t len = record_encode(out, cap, test_seq, &rec);
			CHECK_INT(len, cap < need ? 0 : need);
			if (len)
				CHECK(memcmp(out, big, need) == 0);
			free(out);
		}
	}
	/* A record of no known type is not written at all. */
	uint8_t buf[RECORD_MAX_SIZE];
	struct record rec = sample_record(PROTO_ENTRY_KEY_REVOKE);
	rec.type = 0;
	CHECK_INT(record_encode(buf, sizeof buf, test_seq, &rec), 0);
	rec.type = PROTO_ENTRY_KEY_REVOKE + 1;
	CHECK_INT(record_encode(buf, sizeof buf, test_seq, &rec), 0);
	rec.type = 0xff;
	CHECK_INT(record_encode(buf, sizeof buf, test_seq, &rec), 0);
}

static void test_record_damage(void)
{
	static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};

	for (size_t t = 0; t < sizeof all_types; t++) {
		struct record rec = sample_record(all_types[t]), got;
		uint8_t buf[RECORD_MAX_SIZE];
		size_t len = record_encode(buf, sizeof buf, test_seq, &rec);
		REQUIRE(len > 0);
		uint8_t *copy = dup_exact(buf, len);

		/* Any damaged byte, including the checksum's own. */
		for (size_t i = 0; i < len; i++) {
			for (size_t m = 0; m < sizeof masks; m++) {
				copy[i] ^= masks[m];
				int rc = record_decode(copy, len, test_seq, &got);
				if (rc != RECORD_E_CHECKSUM)
					fprintf(stderr, "type %d: flip byte %zu ^ 0x%02x gave %d\n", rec.type, i,
						masks[m], rc);
				CHECK_INT(rc, RECORD_E_CHECKSUM);
				copy[i] ^= masks[m];
			}
		}
		CHECK_INT(record_decode(copy, len, test_seq, &got), 0);
		free(copy);

		/* The right bytes under the wrong sequence number. */
		const uint64_t wrong[] = {test_seq + 1, test_seq - 1, 0, test_seq ^ (1ull << 63), UINT64_MAX};
		for (size_t w = 0; w < sizeof wrong / sizeof wrong[0]; w++)
			CHECK_INT(decode_exact(buf, len, wrong[w], &got), RECORD_E_CHECKSUM);

		/* Cut short anywhere: too short for a checksum, or the wrong one. */
		for (size_t cut = 0; cut < len; cut++) {
			int rc = decode_exact(buf, cut, test_seq, &got);
			CHECK_INT(rc, cut < 10 ? RECORD_E_SHORT : RECORD_E_CHECKSUM);
		}
	}
}

/*
 * Records whose checksum is right but whose contents are not: what a bug in
 * a writer, or a future format, would leave. They must still be refused.
 */
static void test_record_sealed_but_wrong(void)
{
	for (size_t t = 0; t < sizeof all_types; t++) {
		struct record rec = sample_record(all_types[t]), got;
		uint8_t buf[RECORD_MAX_SIZE + 16];
		size_t len = record_encode(buf, RECORD_MAX_SIZE, test_seq, &rec);
		size_t content = len - CHECKSUM_SIZE;
		REQUIRE(len > 0);

		/* Truncated contents, correctly sealed. */
		for (size_t k = 0; k < content; k++) {
			uint8_t tmp[RECORD_MAX_SIZE + 16];
			memcpy(tmp, buf, k);
			memset(tmp + k, 0, CHECKSUM_SIZE);
			reseal(tmp, k + CHECKSUM_SIZE, test_seq);
			int rc = decode_exact(tmp, k + CHECKSUM_SIZE, test_seq, &got);
			if (rc != RECORD_E_SHORT)
				fprintf(stderr, "type %d: sealed cut at %zu gave %d\n", rec.type, k, rc);
			CHECK_INT(rc, RECORD_E_SHORT);
		}

		/* A trailing byte before the checksum. */
		uint8_t tmp[RECORD_MAX_SIZE + 16];
		memcpy(tmp, buf, content);
		tmp[content] = 0;
		reseal(tmp, content + 1 + CHECKSUM_SIZE, test_seq);
		CHECK_INT(decode_exact(tmp, content + 1 + CHECKSUM_SIZE, test_seq, &got), RECORD_E_FORMAT);

		/* An unknown type or format version. */
		static const uint8_t bad_types[] = {0, PROTO_ENTRY_KEY_REVOKE + 1, 0x80, 0xff};
		for (size_t b = 0; b < sizeof bad_types; b++) {
			memcpy(tmp, buf, len);
			tmp[OFF_TYPE] = bad_types[b];
			reseal(tmp, len, test_seq);
			CHECK_INT(decode_exact(tmp, len, test_seq, &got), RECORD_E_FORMAT);
		}
		static const uint8_t bad_formats[] = {0, RECORD_FORMAT + 1, 0xff};
		for (size_t b = 0; b < sizeof bad_formats; b++) {
			memcpy(tmp, buf, len);
			tmp[OFF_FORMAT] = bad_formats[b];
			reseal(tmp, len, test_seq);
			CHECK_INT(decode_exact(tmp, len, test_seq, &got), RECORD_E_FORMAT);
		}
		/* An unknown type with no payload at all (nothing trailing to give
		 * it away) is refused for its type alone. */
		for (size_t b = 0; b < sizeof bad_types; b++) {
			memcpy(tmp, buf, OFF_PAYLOAD);
			tmp[OFF_TYPE] = bad_types[b];
			reseal(tmp, OFF_PAYLOAD + CHECKSUM_SIZE, test_seq);
			CHECK_INT(decode_exact(tmp, OFF_PAYLOAD + CHECKSUM_SIZE, test_seq, &got), RECORD_E_FORMAT);
		}
		/* Resealing the unchanged bytes changes nothing. */
		memcpy(tmp, buf, len);
		reseal(tmp, len, test_seq);
		CHECK_INT(decode_exact(tmp, len, test_seq, &got), 0);
	}

	/* A string over its limit, built by hand since the reader must refuse it
	 * whoever wrote it: an accrual whose location is 65 bytes. */
	uint8_t tmp[256];
	struct record got;
	size_t n = 0;
	tmp[n++] = PROTO_ENTRY_ACCRUE;
	tmp[n++] = RECORD_FORMAT;
	memset(tmp + n, 0, 8 + 8 + 8 + PROTO_KEY_SIZE + 8);
	n += 8 + 8 + 8 + PROTO_KEY_SIZE + 8;
	CHECK_INT(n, OFF_PAYLOAD);
	for (int over = 0; over <= 1; over++) {
		size_t m = n, loc = PROTO_MAX_LOCATION + (size_t)over;
		tmp[m++] = (uint8_t)loc;
		tmp[m++] = 0;
		memset(tmp + m, 'L', loc);
		m += loc;
		tmp[m++] = 1;
		tmp[m++] = 0;
		tmp[m++] = 'o';
		memset(tmp + m, 0, 24);
		m += 24 + CHECKSUM_SIZE;
		reseal(tmp, m, 5);
		CHECK_INT(decode_exact(tmp, m, 5, &got), over ? RECORD_E_FORMAT : 0);
	}
}

/* ---- snapshots ------------------------------------------------------- */

static const struct proto_customer snap_customer = {
	.id = 0x00000000deadbeefull,
	.email = LIT("ann@example.com"),
	.phone = LIT("+15551234567"),
	.first_name = LIT("Ann"),
	.last_name = LIT("Lee"),
	.balance = 4321,
	.lifetime_points = 1ll << 35,
	.visits = 17,
	.total_spend = 987654,
	.created_us = 1700000000000001ll,
	.last_visit_us = 0,
};

static void test_snapshot_customer(void)
{
	uint8_t buf[1024];
	struct proto_wbuf w;
	struct record_customer s = {snap_customer, 0x0000000200000001ull}, got;

	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &s), 0);
	CHECK_INT(buf[0], RECORD_FORMAT);
	CHECK_INT(w.len, 1 + 8 + (2 + 15) + (2 + 12) + (2 + 3) + (2 + 3) + 6 * 8 + 8);
	CHECK(le_read(buf + 1, 8) == snap_customer.id);
	CHECK(le_read(buf + w.len - 8, 8) == s.last_seq);

	memset(&got, 0xa5, sizeof got);
	CHECK_INT(record_customer_decode(buf, w.len, &got), 0);
	CHECK(got.c.id == snap_customer.id);
	CHECK(str_same(got.c.email, snap_customer.email));
	CHECK(str_same(got.c.phone, snap_customer.phone));
	CHECK(str_same(got.c.first_name, snap_customer.first_name));
	CHECK(str_same(got.c.last_name, snap_customer.last_name));
	CHECK(got.c.balance == snap_customer.balance);
	CHECK(got.c.lifetime_points == snap_customer.lifetime_points);
	CHECK(got.c.visits == snap_customer.visits);
	CHECK(got.c.total_spend == snap_customer.total_spend);
	CHECK(got.c.created_us == snap_customer.created_us);
	CHECK(got.c.last_visit_us == snap_customer.last_visit_us);
	CHECK(got.last_seq == s.last_seq);

	for (size_t cut = 0; cut < w.len; cut++) {
		uint8_t *copy = dup_exact(buf, cut);
		int rc = record_customer_decode(copy, cut, &got);
		/* With not even the format byte there is nothing to call a version. */
		CHECK_INT(rc, cut == 0 ? RECORD_E_FORMAT : PROTO_E_BODY);
		free(copy);
	}
	buf[w.len] = 0;
	CHECK_INT(record_customer_decode(buf, w.len + 1, &got), PROTO_E_BODY);
	buf[0] = RECORD_FORMAT + 1;
	CHECK_INT(record_customer_decode(buf, w.len, &got), RECORD_E_FORMAT);
	buf[0] = 0;
	CHECK_INT(record_customer_decode(buf, w.len, &got), RECORD_E_FORMAT);

	for (size_t cap = 0; cap < 1 + 8 + 2; cap++) {
		uint8_t *out = malloc(cap ? cap : 1);
		REQUIRE(out != NULL);
		proto_wbuf_init(&w, out, cap);
		CHECK_INT(record_customer_encode(&w, &s), PROTO_E_SPACE);
		free(out);
	}
}

static void test_snapshot_order(void)
{
	uint8_t buf[64];
	struct proto_wbuf w;
	struct record_order s = {0x0102030405060708ull, 0x1112131415161718ull, 12345, -77}, got;

	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_order_encode(&w, &s), 0);
	CHECK_INT(w.len, 32);
	CHECK(le_read(buf, 8) == s.customer_id);
	CHECK(le_read(buf + 8, 8) == s.seq);
	CHECK(le_read(buf + 16, 8) == (uint64_t)s.amount);
	CHECK(le_read(buf + 24, 8) == (uint64_t)s.points);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(record_order_decode(buf, w.len, &got), 0);
	CHECK(got.customer_id == s.customer_id);
	CHECK(got.seq == s.seq);
	CHECK(got.amount == s.amount);
	CHECK(got.points == s.points);
	for (size_t cut = 0; cut < w.len; cut++) {
		uint8_t *copy = dup_exact(buf, cut);
		CHECK_INT(record_order_decode(copy, cut, &got), PROTO_E_BODY);
		free(copy);
	}
	CHECK_INT(record_order_decode(buf, w.len + 1, &got), PROTO_E_BODY);
	uint8_t small[31];
	proto_wbuf_init(&w, small, sizeof small);
	CHECK_INT(record_order_encode(&w, &s), PROTO_E_SPACE);
}

static void test_snapshot_request(void)
{
	uint8_t buf[64];
	struct proto_wbuf w;
	struct record_request s = {PROTO_OP_ACCRUE, 0xfeedfacecafebeefull, 1001, 42, -250}, got;

	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_request_encode(&w, &s), 0);
	CHECK_INT(w.len, 33);
	CHECK_INT(buf[0], PROTO_OP_ACCRUE);
	CHECK(le_read(buf + 1, 8) == s.body_hash);
	CHECK(le_read(buf + 9, 8) == s.seq);
	CHECK(le_read(buf + 17, 8) == s.object_id);
	CHECK(le_read(buf + 25, 8) == (uint64_t)s.value);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(record_request_decode(buf, w.len, &got), 0);
	CHECK_INT(got.opcode, s.opcode);
	CHECK(got.body_hash == s.body_hash);
	CHECK(got.seq == s.seq);
	CHECK(got.object_id == s.object_id);
	CHECK(got.value == s.value);
	for (size_t cut = 0; cut < w.len; cut++) {
		uint8_t *copy = dup_exact(buf, cut);
		CHECK_INT(record_request_decode(copy, cut, &got), PROTO_E_BODY);
		free(copy);
	}
	CHECK_INT(record_request_decode(buf, w.len + 1, &got), PROTO_E_BODY);
	uint8_t small[32];
	proto_wbuf_init(&w, small, sizeof small);
	CHECK_INT(record_request_encode(&w, &s), PROTO_E_SPACE);
}

static void test_snapshot_apikey(void)
{
	uint8_t buf[256];
	struct proto_wbuf w;
	struct record_apikey s = {PROTO_ROLE_TERMINAL, 1, 1600000000000042ll, LIT("store-12"), {0}}, got;

	for (int i = 0; i < RECORD_HASH_SIZE; i++)
		s.hash[i] = (uint8_t)(i * 5 + 1);
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_apikey_encode(&w, &s), 0);
	CHECK_INT(w.len, 1 + 1 + 8 + 2 + 8 + RECORD_HASH_SIZE);
	CHECK_INT(buf[0], PROTO_ROLE_TERMINAL);
	CHECK_INT(buf[1], 1);
	CHECK(memcmp(buf + w.len - RECORD_HASH_SIZE, s.hash, RECORD_HASH_SIZE) == 0);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(record_apikey_decode(buf, w.len, &got), 0);
	CHECK_INT(got.role, s.role);
	CHECK_INT(got.revoked, s.revoked);
	CHECK(got.created_us == s.created_us);
	CHECK(str_same(got.location, s.location));
	CHECK(memcmp(got.hash, s.hash, RECORD_HASH_SIZE) == 0);
	for (size_t cut = 0; cut < w.len; cut++) {
		uint8_t *copy = dup_exact(buf, cut);
		CHECK_INT(record_apikey_decode(copy, cut, &got), PROTO_E_BODY);
		free(copy);
	}
	buf[w.len] = 0;
	CHECK_INT(record_apikey_decode(buf, w.len + 1, &got), PROTO_E_BODY);

	/* Location limit. */
	static char loc[PROTO_MAX_LOCATION + 1];
	memset(loc, 'L', sizeof loc);
	s.location = (struct proto_str){loc, PROTO_MAX_LOCATION};
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_apikey_encode(&w, &s), 0);
	CHECK_INT(record_apikey_decode(buf, w.len, &got), 0);
	CHECK_INT(got.location.len, PROTO_MAX_LOCATION);
	/* Over the limit: the encoder refuses what the decoder would refuse,
	 * writing nothing, so no snapshot is ever unreadable. */
	s.location.len = PROTO_MAX_LOCATION + 1;
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_apikey_encode(&w, &s), PROTO_E_FIELD);
	CHECK_INT(w.len, 0);

	s.location.len = PROTO_MAX_LOCATION;
	uint8_t small[1 + 1 + 8 + 2 + PROTO_MAX_LOCATION];
	proto_wbuf_init(&w, small, sizeof small);
	CHECK_INT(record_apikey_encode(&w, &s), PROTO_E_SPACE);
}

/* ---- keys and names ------------------------------------------------- */

static int sign(long long v)
{
	return (v > 0) - (v < 0);
}

static void test_keys(void)
{
	uint8_t k[8];
	static const uint8_t want[8] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

	record_key_u64(k, 0x0102030405060708ull);
	CHECK(memcmp(k, want, 8) == 0);
	CHECK(record_key_u64_read(want) == 0x0102030405060708ull);

	/* LMDB compares keys with memcmp: that order must be numeric order. */
	static const uint64_t values[] = {0,          1,           2,          255,        256,
					  257,        65535,       65536,      0xffffffffull, 1ull << 32,
					  (1ull << 56) - 1, 1ull << 56, UINT64_MAX - 1, UINT64_MAX};
	const size_t n = sizeof values / sizeof values[0];
	for (size_t i = 0; i < n; i++) {
		uint8_t a[8];
		record_key_u64(a, values[i]);
		CHECK(record_key_u64_read(a) == values[i]);
		for (size_t j = 0; j < n; j++) {
			uint8_t b[8];
			record_key_u64(b, values[j]);
			int want_sign = (values[i] > values[j]) - (values[i] < values[j]);
			CHECK_INT(sign(memcmp(a, b, 8)), want_sign);
		}
	}

	CHECK_STR(record_errstr(0), "ok");
	CHECK(strcmp(record_errstr(RECORD_E_SHORT), record_errstr(RECORD_E_CHECKSUM)) != 0);
	CHECK(strcmp(record_errstr(RECORD_E_CHECKSUM), record_errstr(RECORD_E_FORMAT)) != 0);
	CHECK(strcmp(record_errstr(RECORD_E_SHORT), record_errstr(RECORD_E_FORMAT)) != 0);
	CHECK(strcmp(record_errstr(RECORD_E_SHORT), "unknown codec error") != 0);
	/* Snapshot decoders also return PROTO_E_* codes; those are named too. */
	CHECK_STR(record_errstr(PROTO_E_BODY), proto_errstr(PROTO_E_BODY));
	CHECK_STR(record_errstr(PROTO_E_FIELD), proto_errstr(PROTO_E_FIELD));
}

/*
 * The encoders refuse any string its decoder would refuse, so a record or
 * snapshot that recovery cannot read is never written in the first place.
 */
static void test_encode_refuses_over_limit(void)
{
	static char big[PROTO_MAX_REASON + 2];
	uint8_t buf[RECORD_MAX_SIZE * 2];
	struct proto_str over_phone = {big, PROTO_MAX_PHONE + 1};
	struct proto_str over_loc = {big, PROTO_MAX_LOCATION + 1};
	struct proto_str over_reason = {big, PROTO_MAX_REASON + 1};
	struct record rec;
	struct record_customer cs;
	struct proto_wbuf w;

	memset(big, 'x', sizeof big);

	memset(&rec, 0, sizeof rec);
	rec.type = PROTO_ENTRY_ENROL;
	rec.u.enrol.email = rec.u.enrol.first_name = rec.u.enrol.last_name = proto_str_c("");
	rec.u.enrol.phone = over_phone;
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
	rec.u.enrol.phone.len = PROTO_MAX_PHONE;
	CHECK(record_encode(buf, sizeof buf, 1, &rec) > 0);

	memset(&rec, 0, sizeof rec);
	rec.type = PROTO_ENTRY_ACCRUE;
	rec.u.accrue.order_id = proto_str_c("o1");
	rec.u.accrue.location = over_loc;
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);

	memset(&rec, 0, sizeof rec);
	rec.type = PROTO_ENTRY_ADJUST;
	rec.u.adjust.reason = proto_str_c("r");
	rec.u.adjust.comment = over_reason;
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);

	memset(&rec, 0, sizeof rec);
	rec.type = PROTO_ENTRY_KEY_CREATE;
	rec.u.key_create.role = PROTO_ROLE_TERMINAL;
	rec.u.key_create.location = over_loc;
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);

	memset(&cs, 0, sizeof cs);
	cs.c.id = 1;
	cs.c.email = cs.c.first_name = cs.c.last_name = proto_str_c("");
	cs.c.phone = over_phone;
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &cs), PROTO_E_FIELD);
	CHECK_INT(w.len, 0);
}

int main(void)
{
	test_record_round_trip();
	test_record_max_size();
	test_record_encode_space();
	test_record_damage();
	test_record_sealed_but_wrong();
	test_snapshot_customer();
	test_snapshot_order();
	test_snapshot_request();
	test_snapshot_apikey();
	test_keys();
	test_encode_refuses_over_limit();
	return check_done("unit_record");
}
