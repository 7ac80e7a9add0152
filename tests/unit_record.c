/*
 * unit_record.c - the on-disk codec: journal records and checkpoint snapshots.
 *
 * Recovery trusts these bytes to rebuild every balance, so the tests check
 * that each record type survives a round trip field for field, that any
 * single damaged byte or a record filed under the wrong sequence number is
 * caught by the checksum, and that a record whose checksum is right but
 * whose contents are short, long or of an unknown kind is still refused.
 * Buffers are heap copies of exactly the length under test, for ASan.
 *
 * A struct record holds up to PROTO_MAX_LINES lines (about 14 KB) and a
 * record up to RECORD_MAX_SIZE bytes, so both live in static or heap
 * storage here, never many on the stack.
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

static const uint8_t all_types[] = {PROTO_ENTRY_ENROL,  PROTO_ENTRY_ACCRUE,  PROTO_ENTRY_ADJUST,
				    PROTO_ENTRY_KEY_CREATE, PROTO_ENTRY_KEY_REVOKE, PROTO_ENTRY_RETURN,
				    PROTO_ENTRY_PROGRAM, PROTO_ENTRY_GROUP,   PROTO_ENTRY_TIER,
				    PROTO_ENTRY_JOIN,   PROTO_ENTRY_EDIT,    PROTO_ENTRY_CARD,
				    PROTO_ENTRY_OPTOUT, PROTO_ENTRY_GROUP_RENAME};
/* One past the last type: the first number no record has. */
#define FIRST_UNKNOWN_TYPE (PROTO_ENTRY_TYPE_MAX + 1)

/* Three lines of a sale (or a return), each with its own values. */
static const struct record_line sample_lines[3] = {
	{LIT("SKU-1"), LIT("coffee"), 2, 700, 7},
	{LIT("SKU-22"), LIT(""), 1, 0, 0},
	{LIT("SKU-333"), LIT("bakery"), INT64_MAX, 5645, -1},
};

/*
 * Lines at every limit: 256 of them, SKU and category at 64 bytes, each
 * starting with its own number so no two are alike.
 */
static char max_line_text[PROTO_MAX_LINES][2][64];

static void max_lines(struct record_line *lines)
{
	for (int i = 0; i < PROTO_MAX_LINES; i++) {
		char tmp[16];
		int k = snprintf(tmp, sizeof tmp, "%d-", i);
		memset(max_line_text[i][0], 'S', PROTO_MAX_SKU);
		memset(max_line_text[i][1], 'C', PROTO_MAX_CATEGORY);
		memcpy(max_line_text[i][0], tmp, (size_t)k);
		memcpy(max_line_text[i][1], tmp, (size_t)k);
		lines[i].sku = (struct proto_str){max_line_text[i][0], PROTO_MAX_SKU};
		lines[i].category = (struct proto_str){max_line_text[i][1], PROTO_MAX_CATEGORY};
		lines[i].qty = i + 1;
		lines[i].amount = 1000 + i;
		lines[i].earned = i;
	}
}

static void sample_record(uint8_t type, struct record *rec)
{
	memset(rec, 0, sizeof *rec);
	rec->type = type;
	rec->time_us = 1700000000000000ll + type;
	rec->customer_id =
		type == PROTO_ENTRY_KEY_CREATE || type == PROTO_ENTRY_KEY_REVOKE || type == PROTO_ENTRY_PROGRAM
			? 0
			: 0x0102030405060708ull;
	rec->prev_seq = type == PROTO_ENTRY_ENROL ? 0 : 0x00000001000001ffull;
	memcpy(rec->request_key, sample_key, PROTO_KEY_SIZE);
	rec->body_hash = 0xfeedfacecafebeefull;
	switch (type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN:
		rec->u.enrol.email = (struct proto_str)LIT("ann@example.com");
		rec->u.enrol.phone = (struct proto_str)LIT("+15551234567");
		rec->u.enrol.first_name = (struct proto_str)LIT("Ann");
		rec->u.enrol.last_name = (struct proto_str)LIT("");
		rec->u.enrol.member = 1;
		break;
	case PROTO_ENTRY_ACCRUE:
		rec->u.accrue.location = (struct proto_str)LIT("store-12");
		rec->u.accrue.order_id = (struct proto_str)LIT("ORD-0001");
		rec->u.accrue.amount = 12345;
		rec->u.accrue.points = 123;
		rec->u.accrue.balance_after = 1ll << 40;
		rec->u.accrue.multiplier = 15000;
		rec->u.accrue.nlines = 3;
		memcpy(rec->u.accrue.lines, sample_lines, sizeof sample_lines);
		break;
	case PROTO_ENTRY_RETURN:
		rec->u.ret.location = (struct proto_str)LIT("store-12");
		rec->u.ret.order_id = (struct proto_str)LIT("ORD-0001");
		rec->u.ret.sale_seq = 0x0000000100000100ull;
		rec->u.ret.prev_return_seq = 0x0000000100000180ull;
		rec->u.ret.refunded = 700;
		rec->u.ret.taken = 11;
		rec->u.ret.applied = 4;
		rec->u.ret.balance_after = 0;
		rec->u.ret.full = 1;
		rec->u.ret.nlines = 2;
		memcpy(rec->u.ret.lines, sample_lines, 2 * sizeof sample_lines[0]);
		rec->u.ret.lines[0].category = (struct proto_str)LIT("");
		break;
	case PROTO_ENTRY_PROGRAM:
		rec->u.program.name = (struct proto_str)LIT("promo.xmas");
		rec->u.program.value = (struct proto_str)LIT("2 2026-12-01T00:00:00Z 2027-01-01T00:00:00Z vip");
		break;
	case PROTO_ENTRY_GROUP:
		rec->u.group.add = 1;
		rec->u.group.group = (struct proto_str)LIT("vip");
		break;
	case PROTO_ENTRY_TIER:
		rec->u.tier.tier = (struct proto_str)LIT("gold");
		rec->u.tier.note = (struct proto_str)LIT("spent 1000 in 2025");
		break;
	case PROTO_ENTRY_ADJUST:
		rec->u.adjust.points = -250;
		rec->u.adjust.balance_after = -1;
		rec->u.adjust.reason = (struct proto_str)LIT("goodwill");
		rec->u.adjust.comment = (struct proto_str)LIT("Manual adjustments");
		break;
	case PROTO_ENTRY_KEY_CREATE:
		rec->u.key_create.key_id = 0x8000000000000007ull;
		rec->u.key_create.role = PROTO_ROLE_TERMINAL;
		rec->u.key_create.location = (struct proto_str)LIT("store-12");
		for (int i = 0; i < RECORD_HASH_SIZE; i++)
			rec->u.key_create.hash[i] = (uint8_t)(0xa0 + i);
		break;
	case PROTO_ENTRY_KEY_REVOKE:
		rec->u.key_revoke.key_id = 7;
		break;
	case PROTO_ENTRY_EDIT:
		rec->u.edit.fields = PROTO_EDIT_EMAIL | PROTO_EDIT_LAST;
		rec->u.edit.email = (struct proto_str)LIT("ann.lee@example.com");
		rec->u.edit.phone = (struct proto_str)LIT("");
		rec->u.edit.first_name = (struct proto_str)LIT("");
		rec->u.edit.last_name = (struct proto_str)LIT("Lee");
		break;
	case PROTO_ENTRY_CARD:
		rec->u.card.link = 1;
		rec->u.card.card = (struct proto_str)LIT("4000123412341234");
		break;
	case PROTO_ENTRY_OPTOUT:
		rec->u.optout.opted_out = 1;
		rec->u.optout.source = (struct proto_str)LIT("sms STOP");
		break;
	case PROTO_ENTRY_GROUP_RENAME:
		rec->u.group_rename.from = (struct proto_str)LIT("vip");
		rec->u.group_rename.to = (struct proto_str)LIT("gold-club");
		break;
	}
}

/* Lines take 2 + 20 + 8 bytes each plus their SKU and category. */
static size_t lines_size(uint16_t n, const struct record_line *lines)
{
	size_t size = 2;
	for (uint16_t i = 0; i < n; i++)
		size += 2 + lines[i].sku.len + 2 + lines[i].category.len + 24;
	return size;
}

/* The payload's size by PROTOCOL.md, from the record's strings. */
static size_t payload_size(const struct record *rec)
{
	switch (rec->type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN:
		return 8 + rec->u.enrol.email.len + rec->u.enrol.phone.len + rec->u.enrol.first_name.len +
		       rec->u.enrol.last_name.len + 1;
	case PROTO_ENTRY_ACCRUE:
		return 2 + rec->u.accrue.location.len + 2 + rec->u.accrue.order_id.len + 24 + 4 +
		       lines_size(rec->u.accrue.nlines, rec->u.accrue.lines);
	case PROTO_ENTRY_RETURN:
		return 2 + rec->u.ret.location.len + 2 + rec->u.ret.order_id.len + 6 * 8 + 1 +
		       lines_size(rec->u.ret.nlines, rec->u.ret.lines);
	case PROTO_ENTRY_PROGRAM:
		return 2 + rec->u.program.name.len + 2 + rec->u.program.value.len;
	case PROTO_ENTRY_GROUP:
		return 1 + 2 + rec->u.group.group.len;
	case PROTO_ENTRY_TIER:
		return 2 + rec->u.tier.tier.len + 2 + rec->u.tier.note.len;
	case PROTO_ENTRY_ADJUST:
		return 16 + 2 + rec->u.adjust.reason.len + 2 + rec->u.adjust.comment.len;
	case PROTO_ENTRY_KEY_CREATE:
		return 8 + 1 + 2 + rec->u.key_create.location.len + RECORD_HASH_SIZE;
	case PROTO_ENTRY_KEY_REVOKE:
		return 8;
	case PROTO_ENTRY_EDIT:
		return 1 + 8 + rec->u.edit.email.len + rec->u.edit.phone.len + rec->u.edit.first_name.len +
		       rec->u.edit.last_name.len;
	case PROTO_ENTRY_CARD:
		return 1 + 2 + rec->u.card.card.len;
	case PROTO_ENTRY_OPTOUT:
		return 1 + 2 + rec->u.optout.source.len;
	case PROTO_ENTRY_GROUP_RENAME:
		return 2 + rec->u.group_rename.from.len + 2 + rec->u.group_rename.to.len;
	}
	REQUIRE(!"unknown record type");
	return 0;
}

static void check_lines(uint16_t n, const struct record_line *got, const struct record_line *want)
{
	for (uint16_t i = 0; i < n; i++) {
		CHECK(str_same(got[i].sku, want[i].sku));
		CHECK(str_same(got[i].category, want[i].category));
		CHECK(got[i].qty == want[i].qty);
		CHECK(got[i].amount == want[i].amount);
		CHECK(got[i].earned == want[i].earned);
	}
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
	case PROTO_ENTRY_JOIN:
		CHECK(str_same(got->u.enrol.email, want->u.enrol.email));
		CHECK(str_same(got->u.enrol.phone, want->u.enrol.phone));
		CHECK(str_same(got->u.enrol.first_name, want->u.enrol.first_name));
		CHECK(str_same(got->u.enrol.last_name, want->u.enrol.last_name));
		CHECK_INT(got->u.enrol.member, want->u.enrol.member);
		break;
	case PROTO_ENTRY_ACCRUE:
		CHECK(str_same(got->u.accrue.location, want->u.accrue.location));
		CHECK(str_same(got->u.accrue.order_id, want->u.accrue.order_id));
		CHECK(got->u.accrue.amount == want->u.accrue.amount);
		CHECK(got->u.accrue.points == want->u.accrue.points);
		CHECK(got->u.accrue.balance_after == want->u.accrue.balance_after);
		CHECK_INT(got->u.accrue.multiplier, want->u.accrue.multiplier);
		CHECK_INT(got->u.accrue.nlines, want->u.accrue.nlines);
		if (got->u.accrue.nlines == want->u.accrue.nlines)
			check_lines(want->u.accrue.nlines, got->u.accrue.lines, want->u.accrue.lines);
		break;
	case PROTO_ENTRY_RETURN:
		CHECK(str_same(got->u.ret.location, want->u.ret.location));
		CHECK(str_same(got->u.ret.order_id, want->u.ret.order_id));
		CHECK(got->u.ret.sale_seq == want->u.ret.sale_seq);
		CHECK(got->u.ret.prev_return_seq == want->u.ret.prev_return_seq);
		CHECK(got->u.ret.refunded == want->u.ret.refunded);
		CHECK(got->u.ret.taken == want->u.ret.taken);
		CHECK(got->u.ret.applied == want->u.ret.applied);
		CHECK(got->u.ret.balance_after == want->u.ret.balance_after);
		CHECK_INT(got->u.ret.full, want->u.ret.full);
		CHECK_INT(got->u.ret.nlines, want->u.ret.nlines);
		if (got->u.ret.nlines == want->u.ret.nlines)
			check_lines(want->u.ret.nlines, got->u.ret.lines, want->u.ret.lines);
		break;
	case PROTO_ENTRY_PROGRAM:
		CHECK(str_same(got->u.program.name, want->u.program.name));
		CHECK(str_same(got->u.program.value, want->u.program.value));
		break;
	case PROTO_ENTRY_GROUP:
		CHECK_INT(got->u.group.add, want->u.group.add);
		CHECK(str_same(got->u.group.group, want->u.group.group));
		break;
	case PROTO_ENTRY_TIER:
		CHECK(str_same(got->u.tier.tier, want->u.tier.tier));
		CHECK(str_same(got->u.tier.note, want->u.tier.note));
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
	case PROTO_ENTRY_EDIT:
		CHECK_INT(got->u.edit.fields, want->u.edit.fields);
		CHECK(str_same(got->u.edit.email, want->u.edit.email));
		CHECK(str_same(got->u.edit.phone, want->u.edit.phone));
		CHECK(str_same(got->u.edit.first_name, want->u.edit.first_name));
		CHECK(str_same(got->u.edit.last_name, want->u.edit.last_name));
		break;
	case PROTO_ENTRY_CARD:
		CHECK_INT(got->u.card.link, want->u.card.link);
		CHECK(str_same(got->u.card.card, want->u.card.card));
		break;
	case PROTO_ENTRY_OPTOUT:
		CHECK_INT(got->u.optout.opted_out, want->u.optout.opted_out);
		CHECK(str_same(got->u.optout.source, want->u.optout.source));
		break;
	case PROTO_ENTRY_GROUP_RENAME:
		CHECK(str_same(got->u.group_rename.from, want->u.group_rename.from));
		CHECK(str_same(got->u.group_rename.to, want->u.group_rename.to));
		break;
	}
}

/* ---- journal records ------------------------------------------------- */

static void test_record_round_trip(void)
{
	static struct record rec, got;
	static uint8_t buf[RECORD_MAX_SIZE];

	for (size_t t = 0; t < sizeof all_types; t++) {
		sample_record(all_types[t], &rec);
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

	/* Payload layouts, byte for byte, for the kinds that move money. */
	size_t len;
	const uint8_t *p = buf + OFF_PAYLOAD;

	sample_record(PROTO_ENTRY_ACCRUE, &rec);
	len = record_encode(buf, sizeof buf, test_seq, &rec);
	REQUIRE(len > OFF_PAYLOAD);
	CHECK_INT(le_read(p, 2), 8);
	CHECK(memcmp(p + 2, "store-12", 8) == 0);
	CHECK_INT(le_read(p + 10, 2), 8);
	CHECK(memcmp(p + 12, "ORD-0001", 8) == 0);
	CHECK_INT(le_read(p + 20, 8), 12345);
	CHECK_INT(le_read(p + 28, 8), 123);
	CHECK(le_read(p + 36, 8) == (uint64_t)1 << 40);
	CHECK_INT(le_read(p + 44, 4), 15000); /* multiplier */
	CHECK_INT(le_read(p + 48, 2), 3);     /* nlines */
	/* The first line: sku, category, qty, amount, earned. */
	CHECK_INT(le_read(p + 50, 2), 5);
	CHECK(memcmp(p + 52, "SKU-1", 5) == 0);
	CHECK_INT(le_read(p + 57, 2), 6);
	CHECK(memcmp(p + 59, "coffee", 6) == 0);
	CHECK_INT(le_read(p + 65, 8), 2);
	CHECK_INT(le_read(p + 73, 8), 700);
	CHECK_INT(le_read(p + 81, 8), 7);
	CHECK_INT(le_read(p + 89, 2), 6); /* the second line starts */

	sample_record(PROTO_ENTRY_RETURN, &rec);
	len = record_encode(buf, sizeof buf, test_seq, &rec);
	REQUIRE(len > OFF_PAYLOAD);
	CHECK_INT(le_read(p, 2), 8);
	CHECK_INT(le_read(p + 10, 2), 8);
	CHECK(le_read(p + 20, 8) == rec.u.ret.sale_seq);
	CHECK(le_read(p + 28, 8) == rec.u.ret.prev_return_seq);
	CHECK_INT(le_read(p + 36, 8), 700); /* refunded */
	CHECK_INT(le_read(p + 44, 8), 11);  /* taken */
	CHECK_INT(le_read(p + 52, 8), 4);   /* applied */
	CHECK_INT(le_read(p + 60, 8), 0);   /* balance_after */
	CHECK_INT(p[68], 1);                /* full */
	CHECK_INT(le_read(p + 69, 2), 2);   /* nlines */
	CHECK_INT(le_read(p + 71, 2), 5);
	CHECK(memcmp(p + 73, "SKU-1", 5) == 0);
	CHECK_INT(le_read(p + 78, 2), 0); /* a returned line's category is not kept */

	sample_record(PROTO_ENTRY_ADJUST, &rec);
	len = record_encode(buf, sizeof buf, test_seq, &rec);
	REQUIRE(len > OFF_PAYLOAD);
	CHECK(le_read(p, 8) == (uint64_t)-250);
	CHECK(le_read(p + 8, 8) == (uint64_t)-1);
	CHECK_INT(le_read(p + 16, 2), 8);
	CHECK(memcmp(p + 18, "goodwill", 8) == 0);

	/* The member byte ends an enrolment (0: a guest a sale recorded), and
	 * GROUP's add byte starts its payload. */
	sample_record(PROTO_ENTRY_ENROL, &rec);
	rec.u.enrol.member = 0;
	len = record_encode(buf, sizeof buf, test_seq, &rec);
	REQUIRE(len > OFF_PAYLOAD);
	CHECK_INT(buf[len - CHECKSUM_SIZE - 1], 0);
	sample_record(PROTO_ENTRY_JOIN, &rec);
	len = record_encode(buf, sizeof buf, test_seq, &rec);
	REQUIRE(len > OFF_PAYLOAD);
	CHECK_INT(buf[OFF_TYPE], PROTO_ENTRY_JOIN);
	CHECK_INT(buf[len - CHECKSUM_SIZE - 1], 1);
	sample_record(PROTO_ENTRY_GROUP, &rec);
	rec.u.group.add = 0;
	len = record_encode(buf, sizeof buf, test_seq, &rec);
	REQUIRE(len > OFF_PAYLOAD);
	CHECK_INT(p[0], 0);
	CHECK_INT(le_read(p + 1, 2), 3);
	CHECK(memcmp(p + 3, "vip", 3) == 0);
}

/* A record with every field at its limit: the largest a writer can make. */
static void max_record(uint8_t type, struct record *rec)
{
	static char fill[PROTO_MAX_SETTING_VALUE];

	memset(fill, 'z', sizeof fill);
	sample_record(type, rec);
	switch (type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN:
		rec->u.enrol.email = (struct proto_str){fill, PROTO_MAX_EMAIL};
		rec->u.enrol.phone = (struct proto_str){fill, PROTO_MAX_PHONE};
		rec->u.enrol.first_name = (struct proto_str){fill, PROTO_MAX_NAME};
		rec->u.enrol.last_name = (struct proto_str){fill, PROTO_MAX_NAME};
		break;
	case PROTO_ENTRY_ACCRUE:
		rec->u.accrue.location = (struct proto_str){fill, PROTO_MAX_LOCATION};
		rec->u.accrue.order_id = (struct proto_str){fill, PROTO_MAX_ORDER};
		rec->u.accrue.nlines = PROTO_MAX_LINES;
		max_lines(rec->u.accrue.lines);
		break;
	case PROTO_ENTRY_RETURN:
		rec->u.ret.location = (struct proto_str){fill, PROTO_MAX_LOCATION};
		rec->u.ret.order_id = (struct proto_str){fill, PROTO_MAX_ORDER};
		rec->u.ret.nlines = PROTO_MAX_LINES;
		max_lines(rec->u.ret.lines);
		break;
	case PROTO_ENTRY_PROGRAM:
		rec->u.program.name = (struct proto_str){fill, PROTO_MAX_SETTING_KEY};
		rec->u.program.value = (struct proto_str){fill, PROTO_MAX_SETTING_VALUE};
		break;
	case PROTO_ENTRY_GROUP:
		rec->u.group.group = (struct proto_str){fill, PROTO_MAX_GROUP};
		break;
	case PROTO_ENTRY_TIER:
		rec->u.tier.tier = (struct proto_str){fill, PROTO_MAX_TIER};
		rec->u.tier.note = (struct proto_str){fill, PROTO_MAX_REASON};
		break;
	case PROTO_ENTRY_ADJUST:
		rec->u.adjust.reason = (struct proto_str){fill, PROTO_MAX_REASON};
		rec->u.adjust.comment = (struct proto_str){fill, PROTO_MAX_REASON};
		break;
	case PROTO_ENTRY_KEY_CREATE:
		rec->u.key_create.location = (struct proto_str){fill, PROTO_MAX_LOCATION};
		break;
	case PROTO_ENTRY_EDIT:
		rec->u.edit.fields = PROTO_EDIT_ALL;
		rec->u.edit.email = (struct proto_str){fill, PROTO_MAX_EMAIL};
		rec->u.edit.phone = (struct proto_str){fill, PROTO_MAX_PHONE};
		rec->u.edit.first_name = (struct proto_str){fill, PROTO_MAX_NAME};
		rec->u.edit.last_name = (struct proto_str){fill, PROTO_MAX_NAME};
		break;
	case PROTO_ENTRY_CARD:
		rec->u.card.card = (struct proto_str){fill, PROTO_MAX_CARD};
		break;
	case PROTO_ENTRY_OPTOUT:
		rec->u.optout.source = (struct proto_str){fill, PROTO_MAX_OPTOUT_SOURCE};
		break;
	case PROTO_ENTRY_GROUP_RENAME:
		rec->u.group_rename.from = (struct proto_str){fill, PROTO_MAX_GROUP};
		rec->u.group_rename.to = (struct proto_str){fill, PROTO_MAX_GROUP};
		break;
	}
}

static void test_record_max_size(void)
{
	static uint8_t buf[RECORD_MAX_SIZE];
	static struct record rec, got;
	size_t largest = 0;

	for (size_t t = 0; t < sizeof all_types; t++) {
		max_record(all_types[t], &rec);
		/* Every field at its limit still fits RECORD_MAX_SIZE and decodes. */
		size_t len = record_encode(buf, sizeof buf, 1, &rec);
		CHECK(len > 0 && len <= RECORD_MAX_SIZE);
		CHECK_INT(len, OFF_PAYLOAD + payload_size(&rec) + CHECKSUM_SIZE);
		if (len > largest)
			largest = len;
		uint8_t *copy = dup_exact(buf, len);
		CHECK_INT(record_decode(copy, len, 1, &got), 0);
		check_record(&got, &rec);
		free(copy);
	}
	/* The largest record there is, as PROTOCOL.md states it: a return of
	 * 256 lines with every string at its limit. */
	CHECK_INT(largest, 40177);
	max_record(PROTO_ENTRY_ACCRUE, &rec);
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 40156);
}

static void test_record_encode_space(void)
{
	static struct record rec;
	static uint8_t big[RECORD_MAX_SIZE];

	for (size_t t = 0; t < sizeof all_types; t++) {
		sample_record(all_types[t], &rec);
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
	/* The largest records: a byte short is refused, never overrun. */
	static const uint8_t with_lines[] = {PROTO_ENTRY_ACCRUE, PROTO_ENTRY_RETURN};
	for (size_t t = 0; t < sizeof with_lines; t++) {
		max_record(with_lines[t], &rec);
		size_t need = record_encode(big, sizeof big, test_seq, &rec);
		REQUIRE(need > 0);
		uint8_t *out = malloc(need);
		REQUIRE(out != NULL);
		CHECK_INT(record_encode(out, need - 1, test_seq, &rec), 0);
		CHECK_INT(record_encode(out, need, test_seq, &rec), need);
		CHECK(memcmp(out, big, need) == 0);
		free(out);
	}
	/* A record of no known type is not written at all. */
	sample_record(PROTO_ENTRY_KEY_REVOKE, &rec);
	rec.type = 0;
	CHECK_INT(record_encode(big, sizeof big, test_seq, &rec), 0);
	rec.type = FIRST_UNKNOWN_TYPE;
	CHECK_INT(record_encode(big, sizeof big, test_seq, &rec), 0);
	rec.type = 0xff;
	CHECK_INT(record_encode(big, sizeof big, test_seq, &rec), 0);
}

/* Flip every byte of rec's encoding with each mask: the checksum catches it. */
static void check_flips(const struct record *rec, const uint8_t *masks, size_t nmasks)
{
	static uint8_t buf[RECORD_MAX_SIZE];
	static struct record got;
	size_t len = record_encode(buf, sizeof buf, test_seq, rec);
	REQUIRE(len > 0);
	uint8_t *copy = dup_exact(buf, len);
	int failures = 0;

	/* Any damaged byte, including the checksum's own. */
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < nmasks; m++) {
			copy[i] ^= masks[m];
			int rc = record_decode(copy, len, test_seq, &got);
			if (rc != RECORD_E_CHECKSUM) {
				fprintf(stderr, "type %d: flip byte %zu ^ 0x%02x gave %d\n", rec->type, i, masks[m], rc);
				failures++;
			}
			copy[i] ^= masks[m];
		}
	}
	/* One check per record, so a 40 KB record does not add 40,000. */
	CHECK_INT(failures, 0);
	CHECK_INT(record_decode(copy, len, test_seq, &got), 0);
	free(copy);
}

static void test_record_damage(void)
{
	static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
	static const uint8_t one_mask[] = {0x01};
	static struct record rec, got;
	static uint8_t buf[RECORD_MAX_SIZE];

	for (size_t t = 0; t < sizeof all_types; t++) {
		sample_record(all_types[t], &rec);
		size_t len = record_encode(buf, sizeof buf, test_seq, &rec);
		REQUIRE(len > 0);

		check_flips(&rec, masks, sizeof masks);

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
	/* The largest records too, one bit in every byte. */
	max_record(PROTO_ENTRY_ACCRUE, &rec);
	check_flips(&rec, one_mask, 1);
	max_record(PROTO_ENTRY_RETURN, &rec);
	check_flips(&rec, one_mask, 1);
}

/* Seal content[0..n) as a record for seq into out; returns its length. */
static size_t seal(uint8_t *out, const uint8_t *content, size_t n, uint64_t seq)
{
	memmove(out, content, n);
	memset(out + n, 0, CHECKSUM_SIZE);
	reseal(out, n + CHECKSUM_SIZE, seq);
	return n + CHECKSUM_SIZE;
}

/*
 * Records whose checksum is right but whose contents are not: what a bug in
 * a writer, or a future format, would leave. They must still be refused.
 */
static void test_record_sealed_but_wrong(void)
{
	static uint8_t buf[RECORD_MAX_SIZE + 16], tmp[RECORD_MAX_SIZE + 16];
	static struct record rec, got;

	for (size_t t = 0; t < sizeof all_types; t++) {
		sample_record(all_types[t], &rec);
		size_t len = record_encode(buf, RECORD_MAX_SIZE, test_seq, &rec);
		size_t content = len - CHECKSUM_SIZE;
		REQUIRE(len > 0);

		/* Truncated contents, correctly sealed. */
		for (size_t k = 0; k < content; k++) {
			size_t n = seal(tmp, buf, k, test_seq);
			int rc = decode_exact(tmp, n, test_seq, &got);
			if (rc != RECORD_E_SHORT)
				fprintf(stderr, "type %d: sealed cut at %zu gave %d\n", rec.type, k, rc);
			CHECK_INT(rc, RECORD_E_SHORT);
		}

		/* A trailing byte before the checksum. */
		memcpy(tmp, buf, content);
		tmp[content] = 0;
		reseal(tmp, content + 1 + CHECKSUM_SIZE, test_seq);
		CHECK_INT(decode_exact(tmp, content + 1 + CHECKSUM_SIZE, test_seq, &got), RECORD_E_FORMAT);

		/* An unknown type or format version. */
		static const uint8_t bad_types[] = {0, FIRST_UNKNOWN_TYPE, 0x80, 0xff};
		for (size_t b = 0; b < sizeof bad_types; b++) {
			memcpy(tmp, buf, len);
			tmp[OFF_TYPE] = bad_types[b];
			reseal(tmp, len, test_seq);
			CHECK_INT(decode_exact(tmp, len, test_seq, &got), RECORD_E_FORMAT);
		}
		static const uint8_t bad_formats[] = {0, RECORD_FORMAT_ERASED + 1, 0xff};
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
		memset(tmp + m, 0, 24 + 4 + 2); /* amount, points, balance; multiplier; no lines */
		m += 24 + 4 + 2 + CHECKSUM_SIZE;
		reseal(tmp, m, 5);
		CHECK_INT(decode_exact(tmp, m, 5, &got), over ? RECORD_E_FORMAT : 0);
	}

	/*
	 * Lines over their limits, in an accrual and a return: a count over
	 * 256 (refused from the count alone) and a SKU or category of 65
	 * bytes. The encoder cannot write them, so they are made by patching
	 * a written record and sealing it again.
	 */
	static const uint8_t with_lines[] = {PROTO_ENTRY_ACCRUE, PROTO_ENTRY_RETURN};
	for (size_t t = 0; t < sizeof with_lines; t++) {
		sample_record(with_lines[t], &rec);
		if (rec.type == PROTO_ENTRY_ACCRUE)
			rec.u.accrue.nlines = 0;
		else
			rec.u.ret.nlines = 0;
		size_t len = record_encode(buf, RECORD_MAX_SIZE, test_seq, &rec);
		size_t content = len - CHECKSUM_SIZE, at = content - 2; /* the line count */
		REQUIRE(len > 0 && le_read(buf + at, 2) == 0);

		static const uint16_t counts[] = {PROTO_MAX_LINES + 1, UINT16_MAX};
		for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
			memcpy(tmp, buf, content);
			tmp[at] = (uint8_t)counts[c];
			tmp[at + 1] = (uint8_t)(counts[c] >> 8);
			size_t m = seal(tmp, tmp, content, test_seq);
			CHECK_INT(decode_exact(tmp, m, test_seq, &got), RECORD_E_FORMAT);
		}
		/* One line: a SKU (then a category) at its limit, and one past it. */
		for (int field = 0; field < 2; field++) {
			for (int over = 0; over <= 1; over++) {
				size_t m = at, slen = 64 + (size_t)over;
				memcpy(tmp, buf, at);
				tmp[m++] = 1;
				tmp[m++] = 0;
				tmp[m++] = (uint8_t)(field == 0 ? slen : 1);
				tmp[m++] = 0;
				memset(tmp + m, 'S', field == 0 ? slen : 1);
				m += field == 0 ? slen : 1;
				tmp[m++] = (uint8_t)(field == 1 ? slen : 0);
				tmp[m++] = 0;
				memset(tmp + m, 'C', field == 1 ? slen : 0);
				m += field == 1 ? slen : 0;
				memset(tmp + m, 0, 24);
				m += 24;
				m = seal(tmp, tmp, m, test_seq);
				int rc = decode_exact(tmp, m, test_seq, &got);
				CHECK_INT(rc, over ? RECORD_E_FORMAT : 0);
			}
		}
	}
}

/*
 * Decoding sets every field of the record's own type, so one struct can be
 * reused record after record (as recovery does): a record with fewer lines,
 * or none, never shows the lines of the one decoded before it.
 */
static void test_record_reuse(void)
{
	static uint8_t buf[RECORD_MAX_SIZE];
	static struct record rec, got;
	static const uint8_t order[] = {PROTO_ENTRY_ACCRUE, PROTO_ENTRY_RETURN, PROTO_ENTRY_ENROL, PROTO_ENTRY_ACCRUE,
					PROTO_ENTRY_RETURN, PROTO_ENTRY_KEY_REVOKE, PROTO_ENTRY_ACCRUE};
	uint8_t *copies[sizeof order];

	memset(&got, 0xa5, sizeof got);
	for (size_t i = 0; i < sizeof order; i++) {
		if (i < 2)
			max_record(order[i], &rec);
		else
			sample_record(order[i], &rec);
		if (i >= 3 && order[i] == PROTO_ENTRY_ACCRUE)
			rec.u.accrue.nlines = (uint16_t)(i == 3 ? 0 : 1);
		if (order[i] == PROTO_ENTRY_RETURN && i > 1) {
			rec.u.ret.nlines = 0;
			rec.u.ret.full = 0; /* a part return */
		}
		size_t len = record_encode(buf, sizeof buf, test_seq + i, &rec);
		REQUIRE(len > 0);
		copies[i] = dup_exact(buf, len);
		CHECK_INT(record_decode(copies[i], len, test_seq + i, &got), 0);
		check_record(&got, &rec);
	}
	for (size_t i = 0; i < sizeof order; i++)
		free(copies[i]);
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
	.member = 1,
	.tier = LIT("gold"),
	.ngroups = 2,
	.groups = {LIT("staff"), LIT("vip")},
};

static void test_snapshot_customer(void)
{
	uint8_t buf[1024];
	struct proto_wbuf w;
	struct record_customer s = {snap_customer, 0x0000000200000001ull}, got;

	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &s), 0);
	CHECK_INT(buf[0], RECORD_CUSTOMER_FORMAT);
	/* ... + opted out, its time, an empty source, no cards, not archived, then last_seq. */
	CHECK_INT(w.len, 1 + 8 + (2 + 15) + (2 + 12) + (2 + 3) + (2 + 3) + 6 * 8 + 1 + (2 + 4) + 1 + (2 + 5) + (2 + 3) + 1 + 8 +
				 2 + 1 + 1 + 8 + 8);
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
	CHECK_INT(got.c.member, snap_customer.member);
	CHECK(str_same(got.c.tier, snap_customer.tier));
	CHECK_INT(got.c.ngroups, snap_customer.ngroups);
	for (uint8_t i = 0; i < got.c.ngroups && i < snap_customer.ngroups; i++)
		CHECK(str_same(got.c.groups[i], snap_customer.groups[i]));
	CHECK(got.last_seq == s.last_seq);

	/* The customer part is the wire encoding, byte for byte. */
	{
		uint8_t wire[1024];
		struct proto_wbuf ww;
		proto_wbuf_init(&ww, wire, sizeof wire);
		CHECK_INT(proto_customer_rep_encode(&ww, &snap_customer), 0);
		CHECK_INT(ww.len, w.len - 1 - 8);
		CHECK(memcmp(wire, buf + 1, ww.len) == 0);
	}

	/* A guest with 16 groups at their limit, and a tier at its limit. */
	{
		static char text[PROTO_MAX_GROUPS][PROTO_MAX_GROUP];
		uint8_t big[2048];
		struct record_customer g = {snap_customer, 9}, g_in;
		g.c.member = 0;
		g.c.tier = (struct proto_str){text[0], PROTO_MAX_TIER};
		g.c.ngroups = PROTO_MAX_GROUPS;
		for (int i = 0; i < PROTO_MAX_GROUPS; i++) {
			memset(text[i], 'a' + i, sizeof text[i]);
			g.c.groups[i] = (struct proto_str){text[i], PROTO_MAX_GROUP};
		}
		proto_wbuf_init(&w, big, sizeof big);
		CHECK_INT(record_customer_encode(&w, &g), 0);
		memset(&g_in, 0xa5, sizeof g_in);
		CHECK_INT(record_customer_decode(big, w.len, &g_in), 0);
		CHECK_INT(g_in.c.member, 0);
		CHECK(str_same(g_in.c.tier, g.c.tier));
		CHECK_INT(g_in.c.ngroups, PROTO_MAX_GROUPS);
		for (int i = 0; i < PROTO_MAX_GROUPS && i < g_in.c.ngroups; i++)
			CHECK(str_same(g_in.c.groups[i], g.c.groups[i]));
		CHECK(g_in.last_seq == 9);
	}
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &s), 0);

	for (size_t cut = 0; cut < w.len; cut++) {
		uint8_t *copy = dup_exact(buf, cut);
		int rc = record_customer_decode(copy, cut, &got);
		/* With not even the format byte there is nothing to call a version. */
		CHECK_INT(rc, cut == 0 ? RECORD_E_FORMAT : PROTO_E_BODY);
		free(copy);
	}
	buf[w.len] = 0;
	CHECK_INT(record_customer_decode(buf, w.len + 1, &got), PROTO_E_BODY);
	buf[0] = RECORD_CUSTOMER_FORMAT + 1;
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
	static const char okey[] = "store-1\0A-1001";
	static char long_key[PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER + 1];
	uint8_t buf[256];
	struct proto_wbuf w;
	struct record_order s = {0x0102030405060708ull, 0x1112131415161718ull, 12345, -77, 2500, 15,
				 0x2122232425262728ull, {okey, sizeof okey - 1}},
			    got;

	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_order_encode(&w, &s), 0);
	/* 56 bytes of figures, then the order's own key (the LMDB key is the sale's seq). */
	CHECK_INT(w.len, 56 + 2 + 14);
	CHECK(le_read(buf + 56, 2) == 14);
	CHECK(memcmp(buf + 58, okey, 14) == 0);
	CHECK(le_read(buf, 8) == s.customer_id);
	CHECK(le_read(buf + 8, 8) == s.seq);
	CHECK(le_read(buf + 16, 8) == (uint64_t)s.amount);
	CHECK(le_read(buf + 24, 8) == (uint64_t)s.points);
	CHECK(le_read(buf + 32, 8) == (uint64_t)s.refunded);
	CHECK(le_read(buf + 40, 8) == (uint64_t)s.taken_back);
	CHECK(le_read(buf + 48, 8) == s.last_return_seq);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(record_order_decode(buf, w.len, &got), 0);
	CHECK(got.customer_id == s.customer_id);
	CHECK(got.seq == s.seq);
	CHECK(got.amount == s.amount);
	CHECK(got.points == s.points);
	CHECK(got.refunded == s.refunded);
	CHECK(got.taken_back == s.taken_back);
	CHECK(got.last_return_seq == s.last_return_seq);
	CHECK(got.key.len == 14 && memcmp(got.key.ptr, okey, 14) == 0);
	for (size_t cut = 0; cut < w.len; cut++) {
		uint8_t *copy = dup_exact(buf, cut);
		CHECK_INT(record_order_decode(copy, cut, &got), PROTO_E_BODY);
		free(copy);
	}
	CHECK_INT(record_order_decode(buf, w.len + 1, &got), PROTO_E_BODY);
	/* An order snapshot of the old 32-byte layout is not taken for a new one. */
	CHECK_INT(record_order_decode(buf, 32, &got), PROTO_E_BODY);
	uint8_t small[71];
	proto_wbuf_init(&w, small, sizeof small);
	CHECK_INT(record_order_encode(&w, &s), PROTO_E_SPACE);
	/* A key longer than a location, NUL and an order id can be is refused, not written. */
	memset(long_key, 'k', sizeof long_key);
	s.key.ptr = long_key;
	s.key.len = sizeof long_key;
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_order_encode(&w, &s), PROTO_E_FIELD);
}

static void test_snapshot_request(void)
{
	uint8_t buf[64];
	struct proto_wbuf w;
	struct record_request s = {PROTO_OP_ACCRUE, 0xfeedfacecafebeefull, 1001, 42, -250,
				   {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
			      got;

	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_request_encode(&w, &s), 0);
	/* 33 bytes of figures, then the request key itself (the LMDB key is the record's seq). */
	CHECK_INT(w.len, 33 + 16);
	CHECK(memcmp(buf + 33, s.key, 16) == 0);
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
	CHECK(memcmp(got.key, s.key, 16) == 0);
	for (size_t cut = 0; cut < w.len; cut++) {
		uint8_t *copy = dup_exact(buf, cut);
		CHECK_INT(record_request_decode(copy, cut, &got), PROTO_E_BODY);
		free(copy);
	}
	CHECK_INT(record_request_decode(buf, w.len + 1, &got), PROTO_E_BODY);
	uint8_t small[48];
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
	static uint8_t buf[RECORD_MAX_SIZE * 2];
	struct proto_str over_phone = {big, PROTO_MAX_PHONE + 1};
	struct proto_str over_loc = {big, PROTO_MAX_LOCATION + 1};
	struct proto_str over_reason = {big, PROTO_MAX_REASON + 1};
	static struct record rec;
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

	/* The customer's tier and groups: each string, and the count. */
	cs.c.phone = proto_str_c("+15551234567");
	cs.c.tier = (struct proto_str){big, PROTO_MAX_TIER + 1};
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &cs), PROTO_E_FIELD);
	CHECK_INT(w.len, 0);
	cs.c.tier = (struct proto_str){big, PROTO_MAX_TIER};
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &cs), 0);
	cs.c.ngroups = 2;
	cs.c.groups[0] = proto_str_c("vip");
	cs.c.groups[1] = (struct proto_str){big, PROTO_MAX_GROUP + 1};
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &cs), PROTO_E_FIELD);
	CHECK_INT(w.len, 0);
	cs.c.groups[1].len = PROTO_MAX_GROUP;
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &cs), 0);
	cs.c.ngroups = PROTO_MAX_GROUPS + 1;
	for (int i = 0; i < PROTO_MAX_GROUPS + 1; i++)
		cs.c.groups[i % PROTO_MAX_GROUPS] = proto_str_c("g");
	proto_wbuf_init(&w, buf, sizeof buf);
	CHECK_INT(record_customer_encode(&w, &cs), PROTO_E_FIELD);
	CHECK_INT(w.len, 0);
}

/* The same for the record types that came with checkout. */
static void test_encode_refuses_over_limit_checkout(void)
{
	static char big[PROTO_MAX_SETTING_VALUE + 2];
	static uint8_t buf[RECORD_MAX_SIZE * 2];
	static struct record rec;
	struct proto_str over_group = {big, PROTO_MAX_GROUP + 1};

	memset(big, 'x', sizeof big);

	/* JOIN is checked as ENROL is. */
	sample_record(PROTO_ENTRY_JOIN, &rec);
	rec.u.enrol.email = (struct proto_str){big, PROTO_MAX_EMAIL + 1};
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
	rec.u.enrol.email.len = PROTO_MAX_EMAIL;
	CHECK(record_encode(buf, sizeof buf, 1, &rec) > 0);

	/* Lines of a sale and of a return: SKU, category, and how many. */
	static const uint8_t with_lines[] = {PROTO_ENTRY_ACCRUE, PROTO_ENTRY_RETURN};
	for (size_t t = 0; t < sizeof with_lines; t++) {
		struct record_line *lines;
		uint16_t *nlines;

		sample_record(with_lines[t], &rec);
		lines = rec.type == PROTO_ENTRY_ACCRUE ? rec.u.accrue.lines : rec.u.ret.lines;
		nlines = rec.type == PROTO_ENTRY_ACCRUE ? &rec.u.accrue.nlines : &rec.u.ret.nlines;
		lines[1].sku = (struct proto_str){big, PROTO_MAX_SKU + 1};
		CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
		lines[1].sku.len = PROTO_MAX_SKU;
		CHECK(record_encode(buf, sizeof buf, 1, &rec) > 0);
		lines[0].category = (struct proto_str){big, PROTO_MAX_CATEGORY + 1};
		CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
		lines[0].category.len = PROTO_MAX_CATEGORY;
		CHECK(record_encode(buf, sizeof buf, 1, &rec) > 0);
		/* A location over its limit, as before checkout. */
		if (rec.type == PROTO_ENTRY_RETURN) {
			rec.u.ret.order_id = (struct proto_str){big, PROTO_MAX_ORDER + 1};
			CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
			rec.u.ret.order_id.len = PROTO_MAX_ORDER;
		}
		max_record(with_lines[t], &rec);
		nlines = rec.type == PROTO_ENTRY_ACCRUE ? &rec.u.accrue.nlines : &rec.u.ret.nlines;
		CHECK(record_encode(buf, sizeof buf, 1, &rec) > 0);
		/* Refused from the count, before any line past the array is looked at. */
		*nlines = PROTO_MAX_LINES + 1;
		CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
		*nlines = UINT16_MAX;
		CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
	}

	sample_record(PROTO_ENTRY_PROGRAM, &rec);
	rec.u.program.name = (struct proto_str){big, PROTO_MAX_SETTING_KEY + 1};
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
	rec.u.program.name.len = PROTO_MAX_SETTING_KEY;
	rec.u.program.value = (struct proto_str){big, PROTO_MAX_SETTING_VALUE + 1};
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
	rec.u.program.value.len = PROTO_MAX_SETTING_VALUE;
	CHECK(record_encode(buf, sizeof buf, 1, &rec) > 0);

	sample_record(PROTO_ENTRY_GROUP, &rec);
	rec.u.group.group = over_group;
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);

	sample_record(PROTO_ENTRY_TIER, &rec);
	rec.u.tier.tier = (struct proto_str){big, PROTO_MAX_TIER + 1};
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
	rec.u.tier.tier.len = PROTO_MAX_TIER;
	rec.u.tier.note = (struct proto_str){big, PROTO_MAX_REASON + 1};
	CHECK_INT(record_encode(buf, sizeof buf, 1, &rec), 0);
	rec.u.tier.note.len = PROTO_MAX_REASON;
	CHECK(record_encode(buf, sizeof buf, 1, &rec) > 0);
}

/*
 * Stored snapshots: the checksum after the value catches a flipped bit, a
 * value cut short, and a value read under another key or database; a
 * length past any snapshot's is refused before anything is read.
 */
static void test_snapshot_sum(void)
{
	static uint8_t stored[256];
	const uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 42}, other_key[8] = {0, 0, 0, 0, 0, 0, 0, 43};
	const char *value = "a snapshot's encoded bytes";
	size_t n = strlen(value), len = 0;
	uint64_t sum = record_snapshot_sum(RECORD_DB_CUSTOMERS, key, 8, value, n);

	memcpy(stored, value, n);
	for (int i = 0; i < 8; i++)
		stored[n + i] = (uint8_t)(sum >> (8 * i));
	CHECK_INT(record_snapshot_check(RECORD_DB_CUSTOMERS, key, 8, stored, n + 8, &len), 0);
	CHECK_INT(len, n);
	CHECK_INT(record_snapshot_check(RECORD_DB_CUSTOMERS, other_key, 8, stored, n + 8, &len), RECORD_E_CHECKSUM);
	CHECK_INT(record_snapshot_check(RECORD_DB_ORDERS, key, 8, stored, n + 8, &len), RECORD_E_CHECKSUM);
	for (size_t byte = 0; byte < n + 8; byte++)
		for (int bit = 0; bit < 8; bit++) {
			stored[byte] ^= (uint8_t)(1u << bit);
			CHECK_INT(record_snapshot_check(RECORD_DB_CUSTOMERS, key, 8, stored, n + 8, &len), RECORD_E_CHECKSUM);
			stored[byte] ^= (uint8_t)(1u << bit);
		}
	for (size_t cut = 0; cut < n + 8; cut++)
		CHECK_INT(record_snapshot_check(RECORD_DB_CUSTOMERS, key, 8, stored, cut, &len),
			  cut < 8 ? RECORD_E_SHORT : RECORD_E_CHECKSUM);
	/* A length no snapshot has: refused without reading (stored is far shorter). */
	CHECK_INT(record_snapshot_check(RECORD_DB_CUSTOMERS, key, 8, stored, RECORD_SNAPSHOT_MAX_SIZE + 1, &len),
		  RECORD_E_LENGTH);
	/* A journal record's length is bounded the same way. */
	{
		static struct record got;
		CHECK_INT(record_decode(stored, (size_t)RECORD_MAX_SIZE + 1, test_seq, &got), RECORD_E_LENGTH);
		CHECK_INT(record_decode(stored, (size_t)0x4B001234, test_seq, &got), RECORD_E_LENGTH);
	}
}

int main(void)
{
	test_record_round_trip();
	test_record_max_size();
	test_record_encode_space();
	test_record_damage();
	test_record_sealed_but_wrong();
	test_record_reuse();
	test_snapshot_customer();
	test_snapshot_order();
	test_snapshot_request();
	test_snapshot_apikey();
	test_snapshot_sum();
	test_keys();
	test_encode_refuses_over_limit();
	test_encode_refuses_over_limit_checkout();
	return check_done("unit_record");
}
