/*
 * fuzz_codec.c - the checks the fuzz targets run on message bodies.
 *
 * For every body the codec can decode, proto.h promises:
 *   - the decoder returns 0, PROTO_E_BODY or PROTO_E_FIELD, nothing else;
 *   - what it decoded is within the field limits and enum ranges it checks,
 *     and every string it hands back is a view into the caller's buffer;
 *   - bodies are strict, so no shorter prefix of a body that decodes
 *     decodes as well;
 *   - the encoding has no choices in it (PROTOCOL.md, request keys), so
 *     encoding the decoded struct gives back exactly the bytes decoded.
 * A check here tests all of that on one body; AddressSanitizer, on top,
 * catches any read past the body. Lists (ACCRUE_BATCH, HISTORY, KEY_LIST,
 * PROGRAM_GET) are decoded item by item the way the server and libaccrue
 * read them, and re-encoded as they go.
 *
 * The decoded structs hold up to PROTO_MAX_LINES lines (up to 18 KB), so
 * they are static: a fuzz target runs one input at a time on one thread.
 */
#include "fuzz.h"

#include <string.h>

int fuzz_str_ok(struct proto_str s, uint32_t max, const uint8_t *b, size_t n)
{
	uintptr_t p = (uintptr_t)s.ptr, lo = (uintptr_t)b;

	if (s.ptr == NULL || s.len > max)
		return 0;
	if (s.len == 0)
		return 1;
	return p >= lo && p - lo <= n && s.len <= n - (p - lo);
}

uint64_t fuzz_load_le(const uint8_t *p, int nbytes)
{
	uint64_t v = 0;
	for (int i = 0; i < nbytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void assert_decode_code(int rc)
{
	FUZZ_ASSERT(rc == 0 || rc == PROTO_E_BODY || rc == PROTO_E_FIELD);
}

/* ---- re-encoding ----------------------------------------------------- */

/*
 * Encoders write into a heap buffer of exactly the decoded length: a longer
 * encoding overflows the wbuf (and ASan would catch a write past it).
 */
struct reencode {
	struct proto_wbuf w;
	uint8_t *mem;
};

static void reencode_begin(struct reencode *re, size_t n)
{
	re->mem = malloc(n ? n : 1);
	FUZZ_ASSERT(re->mem != NULL);
	proto_wbuf_init(&re->w, re->mem, n);
}

/* The bytes written must be exactly b[0..n). */
static void reencode_same(struct reencode *re, const uint8_t *b, size_t n)
{
	FUZZ_ASSERT(!re->w.overflow);
	FUZZ_ASSERT(re->w.len == n);
	FUZZ_ASSERT(n == 0 || memcmp(re->mem, b, n) == 0);
}

static void reencode_end(struct reencode *re)
{
	free(re->mem);
	re->mem = NULL;
}

/* ---- one-struct messages --------------------------------------------- */

union fuzz_msg {
	struct proto_hello_req hello;
	struct proto_enrol_req enrol;
	struct proto_lookup_req lookup;
	struct proto_accrue_req accrue;
	struct proto_return_req ret;
	struct proto_quote_req quote;
	struct proto_order_req order;
	struct proto_group_req group;
	struct proto_tier_req tier;
	struct proto_program_set_req program_set;
	struct proto_adjust_req adjust;
	struct proto_history_req history;
	struct proto_key_create_req key_create;
	struct proto_key_revoke_req key_revoke;
	struct proto_customers_req customers;
	struct proto_edit_req edit;
	struct proto_card_req card;
	struct proto_optout_req optout;
	struct proto_archive_req archive;
	struct proto_merge_req merge;
	struct proto_places_req places; /* GROUPS and LOCATIONS */
	struct proto_group_rename_req group_rename;
	struct proto_group_rename_rep group_rename_rep;
	struct proto_hello_rep hello_rep;
	struct proto_customer customer;
	struct proto_change_rep change_rep;
	struct proto_return_rep return_rep;
	struct proto_quote_rep quote_rep;
	struct proto_order_rep order_rep;
	struct proto_key_create_rep key_create_rep;
};

/* The body under test decodes into msg; its prefixes into scratch. */
static union fuzz_msg msg, scratch;

/* A decoder, the encoder that mirrors it, and what the decoded struct promises. */
struct codec {
	int (*decode)(const uint8_t *b, size_t n, union fuzz_msg *m);
	int (*encode)(struct proto_wbuf *w, const union fuzz_msg *m);
	void (*promises)(const union fuzz_msg *m, const uint8_t *b, size_t n);
};

/*
 * Decode b[0..n) with c and check it; returns the decoder's code. On 0, msg
 * holds the decoded struct (callers re-encode list items from it).
 */
static int check_codec(const struct codec *c, const uint8_t *b, size_t n)
{
	struct reencode re;
	int rc = c->decode(b, n, &msg);

	assert_decode_code(rc);
	if (rc != 0)
		return rc;
	c->promises(&msg, b, n);
	/* Strict bodies: the longest proper prefix and half the body are refused. */
	if (n > 0) {
		FUZZ_ASSERT(c->decode(b, n - 1, &scratch) != 0);
		FUZZ_ASSERT(c->decode(b, n / 2, &scratch) != 0);
	}
	reencode_begin(&re, n);
	FUZZ_ASSERT(c->encode(&re.w, &msg) == 0);
	reencode_same(&re, b, n);
	reencode_end(&re);
	return 0;
}

/* Wrappers with one signature for every decoder and encoder of a struct. */
#define CODEC_WRAPPERS(fn, member)                                                              \
	static int fn##_dec(const uint8_t *b, size_t n, union fuzz_msg *m)                      \
	{                                                                                       \
		return proto_##fn##_decode(b, n, &m->member);                                   \
	}                                                                                       \
	static int fn##_enc(struct proto_wbuf *w, const union fuzz_msg *m)                      \
	{                                                                                       \
		return proto_##fn##_encode(w, &m->member);                                      \
	}

#define STR_OK(s, max) FUZZ_ASSERT(fuzz_str_ok((s), (max), b, n))

static void ref_promises(const struct proto_ref *ref, int anonymous_ok, const uint8_t *b, size_t n)
{
	switch (ref->kind) {
	case 0: /* QUOTE alone: nobody in particular */
		FUZZ_ASSERT(anonymous_ok);
		FUZZ_ASSERT(ref->id == 0 && ref->text.len == 0 && ref->text.ptr != NULL);
		break;
	case PROTO_REF_ID:
		FUZZ_ASSERT(ref->text.len == 0 && ref->text.ptr != NULL);
		break;
	case PROTO_REF_EMAIL:
		FUZZ_ASSERT(ref->id == 0);
		STR_OK(ref->text, PROTO_MAX_EMAIL);
		break;
	case PROTO_REF_PHONE:
		FUZZ_ASSERT(ref->id == 0);
		STR_OK(ref->text, PROTO_MAX_PHONE);
		break;
	case PROTO_REF_CARD:
		FUZZ_ASSERT(ref->id == 0);
		STR_OK(ref->text, PROTO_MAX_CARD);
		break;
	default:
		FUZZ_ASSERT(!"ref kind out of range");
	}
}

static void lines_promises(uint16_t nlines, const struct proto_line *lines, const uint8_t *b, size_t n)
{
	FUZZ_ASSERT(nlines <= PROTO_MAX_LINES);
	for (uint16_t i = 0; i < nlines; i++) {
		STR_OK(lines[i].sku, PROTO_MAX_SKU);
		STR_OK(lines[i].category, PROTO_MAX_CATEGORY);
	}
}

static void sale_promises(const struct proto_sale *s, const uint8_t *b, size_t n)
{
	STR_OK(s->location, PROTO_MAX_LOCATION);
	STR_OK(s->order_id, PROTO_MAX_ORDER);
	lines_promises(s->nlines, s->lines, b, n);
}

static void hello_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	STR_OK(m->hello.api_key, PROTO_MAX_APIKEY);
}

static void enrol_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	STR_OK(m->enrol.email, PROTO_MAX_EMAIL);
	STR_OK(m->enrol.phone, PROTO_MAX_PHONE);
	STR_OK(m->enrol.first_name, PROTO_MAX_NAME);
	STR_OK(m->enrol.last_name, PROTO_MAX_NAME);
}

static void lookup_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->lookup.ref, 0, b, n);
}

static void accrue_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->accrue.ref, 0, b, n);
	sale_promises(&m->accrue.sale, b, n);
}

static void return_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	STR_OK(m->ret.location, PROTO_MAX_LOCATION);
	STR_OK(m->ret.order_id, PROTO_MAX_ORDER);
	lines_promises(m->ret.nlines, m->ret.lines, b, n);
}

static void quote_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->quote.ref, 1, b, n);
	sale_promises(&m->quote.sale, b, n);
}

static void order_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	STR_OK(m->order.location, PROTO_MAX_LOCATION);
	STR_OK(m->order.order_id, PROTO_MAX_ORDER);
}

static void group_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->group.ref, 0, b, n);
	FUZZ_ASSERT(m->group.add <= 1);
	STR_OK(m->group.group, PROTO_MAX_GROUP);
}

static void tier_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->tier.ref, 0, b, n);
	STR_OK(m->tier.tier, PROTO_MAX_TIER);
	STR_OK(m->tier.note, PROTO_MAX_REASON);
}

static void program_set_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	STR_OK(m->program_set.name, PROTO_MAX_SETTING_KEY);
	STR_OK(m->program_set.value, PROTO_MAX_SETTING_VALUE);
}

static void adjust_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->adjust.ref, 0, b, n);
	STR_OK(m->adjust.reason, PROTO_MAX_REASON);
	STR_OK(m->adjust.comment, PROTO_MAX_REASON);
}

static void history_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->history.ref, 0, b, n);
	FUZZ_ASSERT(m->history.limit >= 1 && m->history.limit <= PROTO_MAX_HISTORY);
}

static void customers_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	const struct proto_customers_req *q = &m->customers;

	FUZZ_ASSERT(q->sort >= 1 && q->sort <= PROTO_SORT_MAX && q->desc <= 1);
	FUZZ_ASSERT(!(q->flags & ~PROTO_LIST_FLAGS) && q->member <= PROTO_LIST_GUESTS && q->optout <= PROTO_LIST_OPTED_IN);
	FUZZ_ASSERT(q->limit >= 1 && q->limit <= PROTO_MAX_PAGE);
	STR_OK(q->search, PROTO_MAX_SEARCH);
	STR_OK(q->group, PROTO_MAX_GROUP);
	STR_OK(q->tier, PROTO_MAX_TIER);
	STR_OK(q->after, PROTO_MAX_CURSOR);
}

static void key_create_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	FUZZ_ASSERT(m->key_create.role >= PROTO_ROLE_ADMIN && m->key_create.role <= PROTO_ROLE_READONLY);
	STR_OK(m->key_create.location, PROTO_MAX_LOCATION);
}

static void key_revoke_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	(void)m;
}

static void edit_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->edit.ref, 0, b, n);
	FUZZ_ASSERT(m->edit.fields >= 1 && m->edit.fields <= PROTO_EDIT_ALL);
	STR_OK(m->edit.email, PROTO_MAX_EMAIL);
	STR_OK(m->edit.phone, PROTO_MAX_PHONE);
	STR_OK(m->edit.first_name, PROTO_MAX_NAME);
	STR_OK(m->edit.last_name, PROTO_MAX_NAME);
}

static void card_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->card.ref, 0, b, n);
	FUZZ_ASSERT(m->card.link <= 1);
	STR_OK(m->card.card, PROTO_MAX_CARD);
}

static void groups_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	STR_OK(m->places.after, PROTO_MAX_GROUP);
}

static void locations_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	STR_OK(m->places.after, PROTO_MAX_LOCATION);
}

static void group_rename_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	STR_OK(m->group_rename.from, PROTO_MAX_GROUP);
	STR_OK(m->group_rename.to, PROTO_MAX_GROUP);
}

static void group_rename_rep_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	FUZZ_ASSERT(m->group_rename_rep.moved <= m->group_rename_rep.members);
}

static void optout_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->optout.ref, 0, b, n);
	FUZZ_ASSERT(m->optout.opted_out <= 1);
	STR_OK(m->optout.source, PROTO_MAX_OPTOUT_SOURCE);
}

static void archive_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->archive.ref, 0, b, n);
}

static void merge_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	ref_promises(&m->merge.keep, 0, b, n);
	ref_promises(&m->merge.drop, 0, b, n);
}

static void customer_promises(const struct proto_customer *c, const uint8_t *b, size_t n)
{
	STR_OK(c->email, PROTO_MAX_EMAIL);
	STR_OK(c->phone, PROTO_MAX_PHONE);
	STR_OK(c->first_name, PROTO_MAX_NAME);
	STR_OK(c->last_name, PROTO_MAX_NAME);
	FUZZ_ASSERT(c->member <= 1);
	STR_OK(c->tier, PROTO_MAX_TIER);
	FUZZ_ASSERT(c->ngroups <= PROTO_MAX_GROUPS);
	for (uint8_t i = 0; i < c->ngroups; i++)
		STR_OK(c->groups[i], PROTO_MAX_GROUP);
	FUZZ_ASSERT(c->opted_out <= 1);
	STR_OK(c->optout_source, PROTO_MAX_OPTOUT_SOURCE);
	FUZZ_ASSERT(c->ncards <= PROTO_MAX_CARDS);
	for (uint8_t i = 0; i < c->ncards; i++)
		STR_OK(c->cards[i], PROTO_MAX_CARD);
	FUZZ_ASSERT(c->archived <= 1 && (c->archived || !c->merged_into));
}

static void hello_rep_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	FUZZ_ASSERT(m->hello_rep.role >= PROTO_ROLE_ADMIN && m->hello_rep.role <= PROTO_ROLE_READONLY);
	STR_OK(m->hello_rep.location, PROTO_MAX_LOCATION);
}

static void customer_rep_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	customer_promises(&m->customer, b, n);
}

static void change_rep_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	customer_promises(&m->change_rep.customer, b, n);
}

static void return_rep_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	customer_promises(&m->return_rep.customer, b, n);
}

static void quote_rep_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	FUZZ_ASSERT(m->quote_rep.unit <= PROTO_UNIT_STAMPS);
	FUZZ_ASSERT(m->quote_rep.nlines <= PROTO_MAX_LINES);
}

static void order_rep_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	const struct proto_order_rep *o = &m->order_rep;

	STR_OK(o->location, PROTO_MAX_LOCATION);
	STR_OK(o->order_id, PROTO_MAX_ORDER);
	FUZZ_ASSERT(o->nlines <= PROTO_MAX_LINES);
	for (uint16_t i = 0; i < o->nlines; i++) {
		STR_OK(o->lines[i].sku, PROTO_MAX_SKU);
		STR_OK(o->lines[i].category, PROTO_MAX_CATEGORY);
	}
}

static void key_create_rep_promises(const union fuzz_msg *m, const uint8_t *b, size_t n)
{
	FUZZ_ASSERT(m->key_create_rep.role >= PROTO_ROLE_ADMIN && m->key_create_rep.role <= PROTO_ROLE_READONLY);
	STR_OK(m->key_create_rep.location, PROTO_MAX_LOCATION);
	STR_OK(m->key_create_rep.secret, PROTO_MAX_APIKEY);
}

CODEC_WRAPPERS(hello_req, hello)
CODEC_WRAPPERS(enrol_req, enrol)
CODEC_WRAPPERS(lookup_req, lookup)
CODEC_WRAPPERS(accrue_req, accrue)
CODEC_WRAPPERS(return_req, ret)
CODEC_WRAPPERS(quote_req, quote)
CODEC_WRAPPERS(order_req, order)
CODEC_WRAPPERS(group_req, group)
CODEC_WRAPPERS(tier_req, tier)
CODEC_WRAPPERS(program_set_req, program_set)
CODEC_WRAPPERS(adjust_req, adjust)
CODEC_WRAPPERS(history_req, history)
CODEC_WRAPPERS(key_create_req, key_create)
CODEC_WRAPPERS(key_revoke_req, key_revoke)
CODEC_WRAPPERS(customers_req, customers)
CODEC_WRAPPERS(edit_req, edit)
CODEC_WRAPPERS(card_req, card)
CODEC_WRAPPERS(optout_req, optout)
CODEC_WRAPPERS(archive_req, archive)
CODEC_WRAPPERS(merge_req, merge)
CODEC_WRAPPERS(group_rename_req, group_rename)
CODEC_WRAPPERS(group_rename_rep, group_rename_rep)
/* GROUPS and LOCATIONS share one encoder and differ in the cursor's limit. */
static int groups_req_dec(const uint8_t *b, size_t n, union fuzz_msg *m)
{
	return proto_groups_req_decode(b, n, &m->places);
}
static int locations_req_dec(const uint8_t *b, size_t n, union fuzz_msg *m)
{
	return proto_locations_req_decode(b, n, &m->places);
}
static int groups_req_enc(struct proto_wbuf *w, const union fuzz_msg *m)
{
	return proto_places_req_encode(w, &m->places);
}
#define locations_req_enc groups_req_enc
CODEC_WRAPPERS(hello_rep, hello_rep)
CODEC_WRAPPERS(customer_rep, customer)
CODEC_WRAPPERS(change_rep, change_rep)
CODEC_WRAPPERS(return_rep, return_rep)
CODEC_WRAPPERS(quote_rep, quote_rep)
CODEC_WRAPPERS(order_rep, order_rep)
CODEC_WRAPPERS(key_create_rep, key_create_rep)

#define CODEC(fn, promises) {fn##_dec, fn##_enc, promises}

static const struct codec hello_req = CODEC(hello_req, hello_promises);
static const struct codec enrol_req = CODEC(enrol_req, enrol_promises);
static const struct codec lookup_req = CODEC(lookup_req, lookup_promises);
static const struct codec accrue_req = CODEC(accrue_req, accrue_promises);
static const struct codec return_req = CODEC(return_req, return_promises);
static const struct codec quote_req = CODEC(quote_req, quote_promises);
static const struct codec order_req = CODEC(order_req, order_promises);
static const struct codec group_req = CODEC(group_req, group_promises);
static const struct codec tier_req = CODEC(tier_req, tier_promises);
static const struct codec program_set_req = CODEC(program_set_req, program_set_promises);
static const struct codec adjust_req = CODEC(adjust_req, adjust_promises);
static const struct codec history_req = CODEC(history_req, history_promises);
static const struct codec key_create_req = CODEC(key_create_req, key_create_promises);
static const struct codec key_revoke_req = CODEC(key_revoke_req, key_revoke_promises);
static const struct codec customers_req = CODEC(customers_req, customers_promises);
static const struct codec edit_req = CODEC(edit_req, edit_promises);
static const struct codec card_req = CODEC(card_req, card_promises);
static const struct codec optout_req = CODEC(optout_req, optout_promises);
static const struct codec archive_req = CODEC(archive_req, archive_promises);
static const struct codec merge_req = CODEC(merge_req, merge_promises);
static const struct codec groups_req = CODEC(groups_req, groups_promises);
static const struct codec locations_req = CODEC(locations_req, locations_promises);
static const struct codec group_rename_req = CODEC(group_rename_req, group_rename_promises);
static const struct codec group_rename_rep = CODEC(group_rename_rep, group_rename_rep_promises);
static const struct codec hello_rep = CODEC(hello_rep, hello_rep_promises);
static const struct codec customer_rep = CODEC(customer_rep, customer_rep_promises);
static const struct codec change_rep = CODEC(change_rep, change_rep_promises);
static const struct codec return_rep = CODEC(return_rep, return_rep_promises);
static const struct codec quote_rep = CODEC(quote_rep, quote_rep_promises);
static const struct codec order_rep = CODEC(order_rep, order_rep_promises);
static const struct codec key_create_rep = CODEC(key_create_rep, key_create_rep_promises);

/* ---- ACCRUE_BATCH request -------------------------------------------- */

/*
 * As the server reads it (op_sales.c, op_accrue_batch): the count, every
 * item framed and nothing after the last, then each item decoded as an
 * ACCRUE on its own. A batch whose framing is whole re-encodes to the same
 * bytes, items that decode through proto_batch_req_put_item and the others
 * as the raw bytes they were.
 */
static void check_batch_req(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct reencode re;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_batch_req_begin(&r, &count);
	assert_decode_code(rc);
	if (rc != 0)
		return;
	FUZZ_ASSERT(count >= 1 && count <= PROTO_MAX_BATCH);
	reencode_begin(&re, n);
	proto_batch_req_put_header(&re.w, count);
	for (uint16_t i = 0; i < count; i++) {
		const uint8_t *item;
		size_t item_len;

		rc = proto_batch_req_next(&r, &item, &item_len);
		FUZZ_ASSERT(rc == 0 || rc == PROTO_E_BODY);
		if (rc != 0)
			break;
		FUZZ_ASSERT(item != NULL && item_len <= n);
		FUZZ_ASSERT((uintptr_t)item >= (uintptr_t)b && (uintptr_t)item - (uintptr_t)b <= n - item_len);
		if (check_codec(&accrue_req, item, item_len) == 0) {
			FUZZ_ASSERT(proto_batch_req_put_item(&re.w, &msg.accrue) == 0);
		} else {
			proto_put_u32(&re.w, (uint32_t)item_len);
			proto_put_bytes(&re.w, item, item_len);
		}
	}
	if (rc == 0 && proto_rbuf_finish(&r) == 0)
		reencode_same(&re, b, n);
	reencode_end(&re);
}

/* ---- list replies ---------------------------------------------------- */

/* A list's items were all read: if nothing follows, the re-encoding must match. */
static void list_end(struct reencode *re, int rc, const struct proto_rbuf *r, const uint8_t *b, size_t n)
{
	if (rc == 0) {
		rc = proto_rbuf_finish(r);
		assert_decode_code(rc);
		if (rc == 0)
			reencode_same(re, b, n);
	}
	reencode_end(re);
}

static void check_batch_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct reencode re;
	struct proto_batch_item it;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_batch_rep_begin(&r, &count);
	assert_decode_code(rc);
	if (rc != 0)
		return;
	FUZZ_ASSERT(count <= PROTO_MAX_BATCH);
	reencode_begin(&re, n);
	proto_batch_rep_put_header(&re.w, count);
	for (uint16_t i = 0; i < count && rc == 0; i++) {
		rc = proto_batch_item_next(&r, &it);
		assert_decode_code(rc);
		if (rc != 0)
			break;
		FUZZ_ASSERT(it.replay <= 1);
		if (it.status == PROTO_OK)
			FUZZ_ASSERT(it.message.len == 0);
		else
			STR_OK(it.message, PROTO_MAX_MESSAGE);
		proto_batch_item_put(&re.w, &it);
	}
	list_end(&re, rc, &r, b, n);
}

static void check_history_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct reencode re;
	struct proto_entry e;
	uint64_t next_before;
	uint32_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_history_rep_begin(&r, &next_before, &count);
	assert_decode_code(rc);
	if (rc != 0)
		return;
	FUZZ_ASSERT(count <= PROTO_MAX_HISTORY);
	reencode_begin(&re, n);
	proto_history_rep_put_header(&re.w, next_before, count);
	for (uint32_t i = 0; i < count; i++) {
		rc = proto_entry_next(&r, &e);
		assert_decode_code(rc);
		if (rc != 0)
			break;
		STR_OK(e.location, PROTO_MAX_LOCATION);
		STR_OK(e.order_id, PROTO_MAX_ORDER);
		STR_OK(e.reason, PROTO_MAX_REASON);
		STR_OK(e.comment, PROTO_MAX_REASON);
		STR_OK(e.detail, PROTO_MAX_DETAIL);
		proto_entry_put(&re.w, &e);
	}
	list_end(&re, rc, &r, b, n);
}

static void check_customers_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct reencode re;
	struct proto_customer c;
	struct proto_str next;
	uint64_t total;
	uint32_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_customers_rep_begin(&r, &total, &next, &count);
	assert_decode_code(rc);
	if (rc != 0)
		return;
	FUZZ_ASSERT(count <= PROTO_MAX_PAGE);
	STR_OK(next, PROTO_MAX_CURSOR);
	reencode_begin(&re, n);
	proto_customers_rep_put_header(&re.w, total, next, count);
	for (uint32_t i = 0; i < count; i++) {
		proto_customer_get(&r, &c);
		rc = r.error;
		assert_decode_code(rc);
		if (rc != 0)
			break;
		proto_customer_put(&re.w, &c);
	}
	list_end(&re, rc, &r, b, n);
}

static void check_key_list_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct reencode re;
	struct proto_key_info k;
	uint32_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_key_list_rep_begin(&r, &count);
	assert_decode_code(rc);
	if (rc != 0)
		return;
	/* The promise that lets a client size an array from the count. */
	FUZZ_ASSERT(count <= (n - r.off) / 20);
	reencode_begin(&re, n);
	proto_key_list_rep_put_header(&re.w, count);
	for (uint32_t i = 0; i < count; i++) {
		rc = proto_key_info_next(&r, &k);
		assert_decode_code(rc);
		if (rc != 0)
			break;
		STR_OK(k.location, PROTO_MAX_LOCATION);
		proto_key_info_put(&re.w, &k);
	}
	list_end(&re, rc, &r, b, n);
}

/* GROUPS and LOCATIONS: a page header, then rows; locations == 1 for LOCATIONS. */
static void check_places_rep(const uint8_t *b, size_t n, int locations)
{
	struct proto_rbuf r;
	struct reencode re;
	struct proto_group_info g;
	static struct proto_location_info l;
	uint32_t count;
	uint8_t more;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_places_rep_begin(&r, &more, &count);
	assert_decode_code(rc);
	if (rc != 0)
		return;
	FUZZ_ASSERT(more <= 1 && count <= PROTO_MAX_PLACES);
	reencode_begin(&re, n);
	proto_places_rep_put_header(&re.w, more, count);
	for (uint32_t i = 0; i < count; i++) {
		if (locations) {
			rc = proto_location_info_next(&r, &l);
			assert_decode_code(rc);
			if (rc != 0)
				break;
			STR_OK(l.name, PROTO_MAX_LOCATION);
			FUZZ_ASSERT(l.nkeys <= PROTO_MAX_PLACE_KEYS && l.nkeys <= l.nkeys_total);
			proto_location_info_put(&re.w, &l);
		} else {
			rc = proto_group_info_next(&r, &g);
			assert_decode_code(rc);
			if (rc != 0)
				break;
			STR_OK(g.name, PROTO_MAX_GROUP);
			FUZZ_ASSERT(g.name.len > 0);
			proto_group_info_put(&re.w, &g);
		}
	}
	list_end(&re, rc, &r, b, n);
}

static void check_program_rep(const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct reencode re;
	struct proto_str name, value;
	uint16_t count;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_program_rep_begin(&r, &count);
	assert_decode_code(rc);
	if (rc != 0)
		return;
	FUZZ_ASSERT(count <= PROTO_MAX_SETTINGS);
	reencode_begin(&re, n);
	proto_program_rep_put_header(&re.w, count);
	for (uint16_t i = 0; i < count; i++) {
		rc = proto_setting_next(&r, &name, &value);
		assert_decode_code(rc);
		if (rc != 0)
			break;
		STR_OK(name, PROTO_MAX_SETTING_KEY);
		STR_OK(value, PROTO_MAX_SETTING_VALUE);
		proto_setting_put(&re.w, name, value);
	}
	list_end(&re, rc, &r, b, n);
}

/* ---- replies --------------------------------------------------------- */

void fuzz_check_reply(uint8_t opcode, const uint8_t *b, size_t n)
{
	struct proto_rbuf r;
	struct reencode re;
	struct proto_str message;
	uint16_t status;
	int rc;

	proto_rbuf_init(&r, b, n);
	rc = proto_reply_status(&r, &status);
	FUZZ_ASSERT(rc == 0 || rc == PROTO_E_BODY);
	if (rc != 0)
		return;
	if (status != PROTO_OK) {
		rc = proto_reply_error_decode(&r, &message);
		assert_decode_code(rc);
		if (rc != 0)
			return;
		STR_OK(message, PROTO_MAX_MESSAGE);
		reencode_begin(&re, n);
		FUZZ_ASSERT(proto_reply_error_encode(&re.w, status, message) == 0);
		reencode_same(&re, b, n);
		reencode_end(&re);
		return;
	}
	b += r.off;
	n -= r.off;
	switch (opcode) {
	case PROTO_OP_HELLO: check_codec(&hello_rep, b, n); break;
	case PROTO_OP_ENROL:
	case PROTO_OP_LOOKUP:
	case PROTO_OP_GROUP:
	case PROTO_OP_TIER:
	case PROTO_OP_EDIT:
	case PROTO_OP_CARD:
	case PROTO_OP_OPTOUT:
	case PROTO_OP_ARCHIVE:
	case PROTO_OP_MERGE: check_codec(&customer_rep, b, n); break;
	case PROTO_OP_ACCRUE:
	case PROTO_OP_ADJUST: check_codec(&change_rep, b, n); break;
	case PROTO_OP_RETURN: check_codec(&return_rep, b, n); break;
	case PROTO_OP_QUOTE: check_codec(&quote_rep, b, n); break;
	case PROTO_OP_ORDER: check_codec(&order_rep, b, n); break;
	case PROTO_OP_KEY_CREATE: check_codec(&key_create_rep, b, n); break;
	case PROTO_OP_ACCRUE_BATCH: check_batch_rep(b, n); break;
	case PROTO_OP_HISTORY: check_history_rep(b, n); break;
	case PROTO_OP_KEY_LIST: check_key_list_rep(b, n); break;
	case PROTO_OP_PROGRAM_GET: check_program_rep(b, n); break;
	case PROTO_OP_CUSTOMERS: check_customers_rep(b, n); break;
	case PROTO_OP_GROUPS: check_places_rep(b, n, 0); break;
	case PROTO_OP_LOCATIONS: check_places_rep(b, n, 1); break;
	case PROTO_OP_GROUP_RENAME: check_codec(&group_rename_rep, b, n); break;
	default: break; /* PING, KEY_REVOKE, PROGRAM_SET: an empty reply, no decoder */
	}
}

/* ---- the request table ----------------------------------------------- */

#define REQUEST_CHECK(fn)                                  \
	static void check_##fn(const uint8_t *b, size_t n) \
	{                                                  \
		check_codec(&fn, b, n);                    \
	}

REQUEST_CHECK(hello_req)
REQUEST_CHECK(enrol_req)
REQUEST_CHECK(lookup_req)
REQUEST_CHECK(accrue_req)
REQUEST_CHECK(return_req)
REQUEST_CHECK(quote_req)
REQUEST_CHECK(order_req)
REQUEST_CHECK(group_req)
REQUEST_CHECK(tier_req)
REQUEST_CHECK(program_set_req)
REQUEST_CHECK(adjust_req)
REQUEST_CHECK(history_req)
REQUEST_CHECK(key_create_req)
REQUEST_CHECK(key_revoke_req)
REQUEST_CHECK(customers_req)
REQUEST_CHECK(edit_req)
REQUEST_CHECK(card_req)
REQUEST_CHECK(optout_req)
REQUEST_CHECK(archive_req)
REQUEST_CHECK(merge_req)
REQUEST_CHECK(groups_req)
REQUEST_CHECK(locations_req)
REQUEST_CHECK(group_rename_req)

/* Names are the fuzz targets' (body_<name>); tests/fuzz/CMakeLists.txt lists the same. */
const struct fuzz_body fuzz_requests[] = {
	{"hello", PROTO_OP_HELLO, check_hello_req},
	{"enrol", PROTO_OP_ENROL, check_enrol_req},
	{"lookup", PROTO_OP_LOOKUP, check_lookup_req},
	{"accrue", PROTO_OP_ACCRUE, check_accrue_req},
	{"return", PROTO_OP_RETURN, check_return_req},
	{"quote", PROTO_OP_QUOTE, check_quote_req},
	{"order", PROTO_OP_ORDER, check_order_req},
	{"group", PROTO_OP_GROUP, check_group_req},
	{"tier", PROTO_OP_TIER, check_tier_req},
	{"program_set", PROTO_OP_PROGRAM_SET, check_program_set_req},
	{"adjust", PROTO_OP_ADJUST, check_adjust_req},
	{"history", PROTO_OP_HISTORY, check_history_req},
	{"key_create", PROTO_OP_KEY_CREATE, check_key_create_req},
	{"key_revoke", PROTO_OP_KEY_REVOKE, check_key_revoke_req},
	{"batch", PROTO_OP_ACCRUE_BATCH, check_batch_req},
	{"customers", PROTO_OP_CUSTOMERS, check_customers_req},
	{"edit", PROTO_OP_EDIT, check_edit_req},
	{"card", PROTO_OP_CARD, check_card_req},
	{"optout", PROTO_OP_OPTOUT, check_optout_req},
	{"archive", PROTO_OP_ARCHIVE, check_archive_req},
	{"merge", PROTO_OP_MERGE, check_merge_req},
	{"groups", PROTO_OP_GROUPS, check_groups_req},
	{"locations", PROTO_OP_LOCATIONS, check_locations_req},
	{"group_rename", PROTO_OP_GROUP_RENAME, check_group_rename_req},
};
const size_t fuzz_nrequests = sizeof fuzz_requests / sizeof fuzz_requests[0];

const struct fuzz_body *fuzz_request_by_name(const char *name)
{
	for (size_t i = 0; i < fuzz_nrequests; i++)
		if (strcmp(fuzz_requests[i].name, name) == 0)
			return &fuzz_requests[i];
	return NULL;
}

const struct fuzz_body *fuzz_request_by_opcode(uint8_t opcode)
{
	for (size_t i = 0; i < fuzz_nrequests; i++)
		if (fuzz_requests[i].opcode == opcode)
			return &fuzz_requests[i];
	return NULL;
}
