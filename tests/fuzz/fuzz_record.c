/*
 * fuzz_record.c - the journal record decoder, as recovery meets it.
 *
 * Input: 8 bytes, the seq the record is stored under (little-endian), then
 * the record as LMDB holds it, its checksum last.
 *
 * The record is decoded as it is, and then once more from a copy whose
 * checksum was made right for that seq, so that mutated payloads get past
 * the checksum. record.h promises:
 *   - record_decode returns 0, RECORD_E_SHORT, RECORD_E_CHECKSUM or
 *     RECORD_E_FORMAT, and RECORD_E_CHECKSUM never for a right checksum;
 *   - a record that decodes has a known type, strings within their limits
 *     and inside the buffer, at most PROTO_MAX_LINES lines and flags of 0
 *     or 1;
 *   - it is refused under any other seq (the checksum is seeded with it);
 *   - record_encode of it under the same seq gives back the same bytes (the
 *     encoder refuses only what the decoder would refuse, and the format has
 *     no choices in it), within RECORD_MAX_SIZE.
 */
#include "fuzz.h"
#include "record.h"

#include <string.h>
#include <xxhash.h>

#define STR_OK(s, max) FUZZ_ASSERT(fuzz_str_ok((s), (max), b, n))

static struct record rec;
static uint8_t encoded[RECORD_MAX_SIZE];

static void rlines_promises(uint16_t nlines, const struct record_line *lines, const uint8_t *b, size_t n)
{
	FUZZ_ASSERT(nlines <= PROTO_MAX_LINES);
	for (uint16_t i = 0; i < nlines; i++) {
		STR_OK(lines[i].sku, PROTO_MAX_SKU);
		STR_OK(lines[i].category, PROTO_MAX_CATEGORY);
	}
}

static void record_promises(const struct record *r, const uint8_t *b, size_t n)
{
	switch (r->type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN:
		STR_OK(r->u.enrol.email, PROTO_MAX_EMAIL);
		STR_OK(r->u.enrol.phone, PROTO_MAX_PHONE);
		STR_OK(r->u.enrol.first_name, PROTO_MAX_NAME);
		STR_OK(r->u.enrol.last_name, PROTO_MAX_NAME);
		FUZZ_ASSERT(r->u.enrol.member <= 1);
		break;
	case PROTO_ENTRY_ACCRUE:
		STR_OK(r->u.accrue.location, PROTO_MAX_LOCATION);
		STR_OK(r->u.accrue.order_id, PROTO_MAX_ORDER);
		rlines_promises(r->u.accrue.nlines, r->u.accrue.lines, b, n);
		break;
	case PROTO_ENTRY_RETURN:
		STR_OK(r->u.ret.location, PROTO_MAX_LOCATION);
		STR_OK(r->u.ret.order_id, PROTO_MAX_ORDER);
		FUZZ_ASSERT(r->u.ret.full <= 1);
		rlines_promises(r->u.ret.nlines, r->u.ret.lines, b, n);
		break;
	case PROTO_ENTRY_PROGRAM:
		STR_OK(r->u.program.name, PROTO_MAX_SETTING_KEY);
		STR_OK(r->u.program.value, PROTO_MAX_SETTING_VALUE);
		break;
	case PROTO_ENTRY_GROUP:
		FUZZ_ASSERT(r->u.group.add <= 1);
		STR_OK(r->u.group.group, PROTO_MAX_GROUP);
		break;
	case PROTO_ENTRY_TIER:
		STR_OK(r->u.tier.tier, PROTO_MAX_TIER);
		STR_OK(r->u.tier.note, PROTO_MAX_REASON);
		break;
	case PROTO_ENTRY_ADJUST:
		STR_OK(r->u.adjust.reason, PROTO_MAX_REASON);
		STR_OK(r->u.adjust.comment, PROTO_MAX_REASON);
		break;
	case PROTO_ENTRY_KEY_CREATE:
		STR_OK(r->u.key_create.location, PROTO_MAX_LOCATION);
		break;
	case PROTO_ENTRY_KEY_REVOKE:
		break;
	case PROTO_ENTRY_EDIT:
		FUZZ_ASSERT(r->u.edit.fields >= 1 && r->u.edit.fields <= PROTO_EDIT_ALL);
		STR_OK(r->u.edit.email, PROTO_MAX_EMAIL);
		STR_OK(r->u.edit.phone, PROTO_MAX_PHONE);
		STR_OK(r->u.edit.first_name, PROTO_MAX_NAME);
		STR_OK(r->u.edit.last_name, PROTO_MAX_NAME);
		break;
	case PROTO_ENTRY_CARD:
		FUZZ_ASSERT(r->u.card.link <= 1);
		STR_OK(r->u.card.card, PROTO_MAX_CARD);
		break;
	case PROTO_ENTRY_OPTOUT:
		FUZZ_ASSERT(r->u.optout.opted_out <= 1);
		STR_OK(r->u.optout.source, PROTO_MAX_OPTOUT_SOURCE);
		break;
	case PROTO_ENTRY_GROUP_RENAME:
		STR_OK(r->u.group_rename.from, PROTO_MAX_GROUP);
		STR_OK(r->u.group_rename.to, PROTO_MAX_GROUP);
		break;
	case PROTO_ENTRY_ARCHIVE:
		break;
	case PROTO_ENTRY_MERGE:
		FUZZ_ASSERT(r->u.merge.ngroups <= PROTO_MAX_GROUPS && r->u.merge.ncards <= PROTO_MAX_CARDS);
		for (uint8_t i = 0; i < r->u.merge.ngroups; i++)
			STR_OK(r->u.merge.groups[i], PROTO_MAX_GROUP);
		for (uint8_t i = 0; i < r->u.merge.ncards; i++)
			STR_OK(r->u.merge.cards[i], PROTO_MAX_CARD);
		break;
	default:
		FUZZ_ASSERT(!"a record of unknown type decoded");
	}
}

/* Decode b[0..n) under seq and check what record.h promises; returns the code. */
static int check_record(const uint8_t *b, size_t n, uint64_t seq)
{
	int rc = record_decode(b, n, seq, &rec);
	size_t len;

	FUZZ_ASSERT(rc == 0 || rc == RECORD_E_SHORT || rc == RECORD_E_CHECKSUM || rc == RECORD_E_FORMAT);
	if (rc != 0)
		return rc;
	FUZZ_ASSERT(n <= RECORD_MAX_SIZE);
	record_promises(&rec, b, n);
	len = record_encode(encoded, sizeof encoded, seq, &rec);
	FUZZ_ASSERT(len == n);
	FUZZ_ASSERT(memcmp(encoded, b, n) == 0);
	/* rec is overwritten below: everything about it was checked above. */
	FUZZ_ASSERT(record_decode(b, n, seq + 1, &rec) == RECORD_E_CHECKSUM);
	FUZZ_ASSERT(record_decode(b, n, seq ^ (1ull << 63), &rec) == RECORD_E_CHECKSUM);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seq, sum;
	uint8_t *copy;
	size_t n;

	if (size < 8)
		return 0;
	seq = fuzz_load_le(data, 8);
	data += 8;
	n = size - 8;
	check_record(data, n, seq);

	/* The same bytes with the checksum this seq needs. */
	if (n < 8)
		return 0;
	copy = malloc(n);
	FUZZ_ASSERT(copy != NULL);
	memcpy(copy, data, n);
	sum = XXH3_64bits_withSeed(copy, n - 8, seq);
	for (int i = 0; i < 8; i++)
		copy[n - 8 + i] = (uint8_t)(sum >> (8 * i));
	FUZZ_ASSERT(check_record(copy, n, seq) != RECORD_E_CHECKSUM);
	free(copy);
	return 0;
}
