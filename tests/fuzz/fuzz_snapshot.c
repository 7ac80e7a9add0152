/*
 * fuzz_snapshot.c - the checkpoint snapshot decoders of record.h.
 *
 * Input: one byte that picks the snapshot (its value modulo 4: 0 customer,
 * 1 order, 2 request, 3 API key), then the value as LMDB holds it. Each
 * decoder must return 0 or an error code, keep its strings within their
 * limits and inside the buffer, refuse the longest proper prefix of what it
 * accepts (values are strict), and the matching encoder must give back the
 * same bytes. The program snapshot is laid out as a PROGRAM_GET reply and
 * is fuzzed by the reply target.
 */
#include "fuzz.h"
#include "record.h"

#include <string.h>

#define STR_OK(s, max) FUZZ_ASSERT(fuzz_str_ok((s), (max), b, n))

enum snapshot_kind { SNAP_CUSTOMER, SNAP_ORDER, SNAP_REQUEST, SNAP_APIKEY, SNAP_KINDS };

static union {
	struct record_customer customer;
	struct record_order order;
	struct record_request request;
	struct record_apikey apikey;
} snap;

static int decode(enum snapshot_kind kind, const uint8_t *b, size_t n)
{
	int rc = 0;

	switch (kind) {
	case SNAP_CUSTOMER:
		rc = record_customer_decode(b, n, &snap.customer);
		if (rc == 0) {
			const struct proto_customer *c = &snap.customer.c;
			STR_OK(c->email, PROTO_MAX_EMAIL);
			STR_OK(c->phone, PROTO_MAX_PHONE);
			STR_OK(c->first_name, PROTO_MAX_NAME);
			STR_OK(c->last_name, PROTO_MAX_NAME);
			STR_OK(c->tier, PROTO_MAX_TIER);
			FUZZ_ASSERT(c->member <= 1 && c->ngroups <= PROTO_MAX_GROUPS);
			for (uint8_t i = 0; i < c->ngroups; i++)
				STR_OK(c->groups[i], PROTO_MAX_GROUP);
			STR_OK(c->optout_source, PROTO_MAX_OPTOUT_SOURCE);
			FUZZ_ASSERT(c->opted_out <= 1 && c->ncards <= PROTO_MAX_CARDS);
			for (uint8_t i = 0; i < c->ncards; i++)
				STR_OK(c->cards[i], PROTO_MAX_CARD);
		}
		break;
	case SNAP_ORDER:
		rc = record_order_decode(b, n, &snap.order);
		if (rc == 0)
			STR_OK(snap.order.key, PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER);
		break;
	case SNAP_REQUEST:
		rc = record_request_decode(b, n, &snap.request);
		break;
	case SNAP_APIKEY:
		rc = record_apikey_decode(b, n, &snap.apikey);
		if (rc == 0)
			STR_OK(snap.apikey.location, PROTO_MAX_LOCATION);
		break;
	case SNAP_KINDS:
		break;
	}
	FUZZ_ASSERT(rc == 0 || rc == PROTO_E_BODY || rc == PROTO_E_FIELD || rc == RECORD_E_FORMAT);
	return rc;
}

static int encode(enum snapshot_kind kind, struct proto_wbuf *w)
{
	switch (kind) {
	case SNAP_CUSTOMER: return record_customer_encode(w, &snap.customer);
	case SNAP_ORDER: return record_order_encode(w, &snap.order);
	case SNAP_REQUEST: return record_request_encode(w, &snap.request);
	case SNAP_APIKEY: return record_apikey_encode(w, &snap.apikey);
	case SNAP_KINDS: break;
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum snapshot_kind kind;
	struct proto_wbuf w;
	const uint8_t *b;
	uint8_t *out;
	size_t n;

	if (size < 1)
		return 0;
	kind = (enum snapshot_kind)(data[0] % SNAP_KINDS);
	b = data + 1;
	n = size - 1;
	if (decode(kind, b, n) != 0)
		return 0;
	if (kind == SNAP_CUSTOMER && (b[0] == 1 || b[0] == 2)) {
		/* A format-1 customer (before the opt-out and the cards) or a
		 * format-2 one (before archive) is read, never written: it
		 * re-encodes as format 3, longer by 12 (not opted out, no source,
		 * no cards) and 9 (not archived, merged into no one), or by 9,
		 * which decodes in turn. */
		size_t more = b[0] == 1 ? 12 + 9 : 9;

		out = malloc(n + more);
		FUZZ_ASSERT(out != NULL);
		proto_wbuf_init(&w, out, n + more);
		FUZZ_ASSERT(encode(kind, &w) == 0);
		FUZZ_ASSERT(w.len == n + more && out[0] == RECORD_CUSTOMER_FORMAT);
		FUZZ_ASSERT(decode(kind, out, w.len) == 0);
		free(out);
		return 0;
	}
	out = malloc(n ? n : 1);
	FUZZ_ASSERT(out != NULL);
	proto_wbuf_init(&w, out, n);
	FUZZ_ASSERT(encode(kind, &w) == 0);
	FUZZ_ASSERT(w.len == n && (n == 0 || memcmp(out, b, n) == 0));
	free(out);
	/* Values are strict: the longest proper prefix is refused (this overwrites snap). */
	if (n > 0)
		FUZZ_ASSERT(decode(kind, b, n - 1) != 0);
	return 0;
}
