/*
 * unit_proto_requests.c - every request body of the wire codec encoded,
 * compared with PROTOCOL.md's layout (the spec writer) and decoded back:
 * HELLO, the requests without a sale, those with one (ACCRUE, RETURN,
 * QUOTE) and ACCRUE_BATCH. What the unit_proto_*.c tests share, and why
 * they work as they do: unit_proto/proto_samples.h.
 */
#include "check.h"
#include "proto.h"
#include "proto_samples.h"

/* ---- message round trips: requests ------------------------------------ */

static void test_hello_round_trip(void)
{
	uint8_t buf[512];
	struct proto_wbuf w;
	static struct spec s;
	struct proto_hello_req req;
	struct proto_hello_rep rep;

	s.n = 0;

	WBUF(w, buf);
	CHECK_INT(proto_hello_req_encode(&w, &s_hello_req), 0);
	spec_le(&s, PROTO_VERSION, 2);
	spec_str(&s, s_hello_req.api_key);
	CHECK(bytes_equal(&w, &s));
	memset(&req, 0xa5, sizeof req);
	CHECK_INT(proto_hello_req_decode(buf, w.len, &req), 0);
	CHECK_INT(req.version, s_hello_req.version);
	CHECK(str_same(req.api_key, s_hello_req.api_key));

	WBUF(w, buf);
	s.n = 0;
	CHECK_INT(proto_hello_rep_encode(&w, &s_hello_rep), 0);
	spec_le(&s, s_hello_rep.role, 1);
	spec_le(&s, s_hello_rep.key_id, 8);
	spec_str(&s, s_hello_rep.location);
	spec_le(&s, s_hello_rep.max_body, 4);
	spec_le(&s, s_hello_rep.max_inflight, 4);
	spec_le(&s, (uint64_t)s_hello_rep.server_time_us, 8);
	CHECK(bytes_equal(&w, &s));
	memset(&rep, 0xa5, sizeof rep);
	CHECK_INT(proto_hello_rep_decode(buf, w.len, &rep), 0);
	CHECK_INT(rep.role, s_hello_rep.role);
	CHECK(rep.key_id == s_hello_rep.key_id);
	CHECK(str_same(rep.location, s_hello_rep.location));
	CHECK_INT(rep.max_body, s_hello_rep.max_body);
	CHECK_INT(rep.max_inflight, s_hello_rep.max_inflight);
	CHECK(rep.server_time_us == s_hello_rep.server_time_us);
}

static void test_request_round_trips(void)
{
	uint8_t buf[2048];
	struct proto_wbuf w;
	static struct spec s;
	struct proto_ref refs[3];

	sample_refs(refs);

	/* ENROL */
	struct proto_enrol_req enrol = {.email = LIT("ann@example.com"), .phone = LIT("+15551234567"),
					.first_name = LIT("Ann"), .last_name = LIT("")};
	struct proto_enrol_req enrol_in;
	memcpy(enrol.key, sample_key, PROTO_KEY_SIZE);
	WBUF(w, buf);
	CHECK_INT(proto_enrol_req_encode(&w, &enrol), 0);
	s.n = 0;
	spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
	spec_str(&s, enrol.email);
	spec_str(&s, enrol.phone);
	spec_str(&s, enrol.first_name);
	spec_str(&s, enrol.last_name);
	CHECK(bytes_equal(&w, &s));
	memset(&enrol_in, 0xa5, sizeof enrol_in);
	CHECK_INT(proto_enrol_req_decode(buf, w.len, &enrol_in), 0);
	CHECK(memcmp(enrol_in.key, sample_key, PROTO_KEY_SIZE) == 0);
	CHECK(str_same(enrol_in.email, enrol.email));
	CHECK(str_same(enrol_in.phone, enrol.phone));
	CHECK(str_same(enrol_in.first_name, enrol.first_name));
	CHECK(str_same(enrol_in.last_name, enrol.last_name));

	for (int k = 0; k < 3; k++) {
		/* LOOKUP */
		struct proto_lookup_req lookup = {refs[k]}, lookup_in;
		WBUF(w, buf);
		CHECK_INT(proto_lookup_req_encode(&w, &lookup), 0);
		s.n = 0;
		spec_ref(&s, &refs[k]);
		CHECK(bytes_equal(&w, &s));
		CHECK_INT(w.len, k == 0 ? 9 : 3 + refs[k].text.len);
		memset(&lookup_in, 0xa5, sizeof lookup_in);
		CHECK_INT(proto_lookup_req_decode(buf, w.len, &lookup_in), 0);
		check_ref(&lookup_in.ref, &refs[k]);

		/* ACCRUE, a sale without lines (more in test_sale_round_trips) */
		static struct proto_accrue_req accrue, accrue_in;
		memset(&accrue, 0, sizeof accrue);
		accrue.ref = refs[k];
		accrue.sale.location = proto_str_c("store-12");
		accrue.sale.order_id = proto_str_c("ORD-0001");
		accrue.sale.time_us = 1700000000000777ll;
		accrue.sale.amount = 12345;
		memcpy(accrue.key, sample_key, PROTO_KEY_SIZE);
		WBUF(w, buf);
		CHECK_INT(proto_accrue_req_encode(&w, &accrue), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_ref(&s, &refs[k]);
		spec_str(&s, accrue.sale.location);
		spec_str(&s, accrue.sale.order_id);
		spec_le(&s, (uint64_t)accrue.sale.time_us, 8);
		spec_le(&s, (uint64_t)accrue.sale.amount, 8);
		spec_le(&s, 0, 2);
		CHECK(bytes_equal(&w, &s));
		memset(&accrue_in, 0xa5, sizeof accrue_in);
		CHECK_INT(proto_accrue_req_decode(buf, w.len, &accrue_in), 0);
		CHECK(memcmp(accrue_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		check_ref(&accrue_in.ref, &refs[k]);
		check_sale(&accrue_in.sale, &accrue.sale);

		/* ADJUST */
		struct proto_adjust_req adjust = {.ref = refs[k], .points = -250, .reason = LIT("goodwill"),
						  .comment = LIT("Sorry for the wait")};
		struct proto_adjust_req adjust_in;
		memcpy(adjust.key, sample_key, PROTO_KEY_SIZE);
		adjust.key[15] = (uint8_t)k;
		WBUF(w, buf);
		CHECK_INT(proto_adjust_req_encode(&w, &adjust), 0);
		s.n = 0;
		spec_bytes(&s, adjust.key, PROTO_KEY_SIZE);
		spec_ref(&s, &refs[k]);
		spec_le(&s, (uint64_t)adjust.points, 8);
		spec_str(&s, adjust.reason);
		spec_str(&s, adjust.comment);
		CHECK(bytes_equal(&w, &s));
		memset(&adjust_in, 0xa5, sizeof adjust_in);
		CHECK_INT(proto_adjust_req_decode(buf, w.len, &adjust_in), 0);
		CHECK(memcmp(adjust_in.key, adjust.key, PROTO_KEY_SIZE) == 0);
		check_ref(&adjust_in.ref, &refs[k]);
		CHECK(adjust_in.points == adjust.points);
		CHECK(str_same(adjust_in.reason, adjust.reason));
		CHECK(str_same(adjust_in.comment, adjust.comment));

		/* HISTORY */
		struct proto_history_req hist = {.ref = refs[k], .before_seq = 0x0badc0ffee000001ull,
						 .limit = PROTO_MAX_HISTORY};
		struct proto_history_req hist_in;
		WBUF(w, buf);
		CHECK_INT(proto_history_req_encode(&w, &hist), 0);
		s.n = 0;
		spec_ref(&s, &refs[k]);
		spec_le(&s, hist.before_seq, 8);
		spec_le(&s, hist.limit, 4);
		CHECK(bytes_equal(&w, &s));
		memset(&hist_in, 0xa5, sizeof hist_in);
		CHECK_INT(proto_history_req_decode(buf, w.len, &hist_in), 0);
		check_ref(&hist_in.ref, &refs[k]);
		CHECK(hist_in.before_seq == hist.before_seq);
		CHECK_INT(hist_in.limit, hist.limit);

		/* GROUP, adding and removing */
		for (uint8_t add = 0; add <= 1; add++) {
			struct proto_group_req group = {.ref = refs[k], .add = add, .group = LIT("staff")}, group_in;
			memcpy(group.key, sample_key, PROTO_KEY_SIZE);
			group.key[0] = add;
			WBUF(w, buf);
			CHECK_INT(proto_group_req_encode(&w, &group), 0);
			s.n = 0;
			spec_bytes(&s, group.key, PROTO_KEY_SIZE);
			spec_ref(&s, &refs[k]);
			spec_le(&s, add, 1);
			spec_str(&s, group.group);
			CHECK(bytes_equal(&w, &s));
			memset(&group_in, 0xa5, sizeof group_in);
			CHECK_INT(proto_group_req_decode(buf, w.len, &group_in), 0);
			CHECK(memcmp(group_in.key, group.key, PROTO_KEY_SIZE) == 0);
			check_ref(&group_in.ref, &refs[k]);
			CHECK_INT(group_in.add, add);
			CHECK(str_same(group_in.group, group.group));
		}

		/* TIER, to a tier and to none */
		static const struct proto_str tiers[2] = {LIT("gold"), LIT("")};
		for (int t = 0; t < 2; t++) {
			struct proto_tier_req tier = {.ref = refs[k], .tier = tiers[t], .note = LIT("spent 1000 in 2025")};
			struct proto_tier_req tier_in;
			memcpy(tier.key, sample_key, PROTO_KEY_SIZE);
			WBUF(w, buf);
			CHECK_INT(proto_tier_req_encode(&w, &tier), 0);
			s.n = 0;
			spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
			spec_ref(&s, &refs[k]);
			spec_str(&s, tier.tier);
			spec_str(&s, tier.note);
			CHECK(bytes_equal(&w, &s));
			memset(&tier_in, 0xa5, sizeof tier_in);
			CHECK_INT(proto_tier_req_decode(buf, w.len, &tier_in), 0);
			CHECK(memcmp(tier_in.key, sample_key, PROTO_KEY_SIZE) == 0);
			check_ref(&tier_in.ref, &refs[k]);
			CHECK(str_same(tier_in.tier, tier.tier));
			CHECK(str_same(tier_in.note, tier.note));
		}
	}

	/* KEY_CREATE, for each role */
	for (uint8_t role = PROTO_ROLE_ADMIN; role <= PROTO_ROLE_READONLY; role++) {
		struct proto_key_create_req kc = {.role = role, .location = LIT("store-12")}, kc_in;
		memcpy(kc.key, sample_key, PROTO_KEY_SIZE);
		WBUF(w, buf);
		CHECK_INT(proto_key_create_req_encode(&w, &kc), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_le(&s, role, 1);
		spec_str(&s, kc.location);
		CHECK(bytes_equal(&w, &s));
		memset(&kc_in, 0xa5, sizeof kc_in);
		CHECK_INT(proto_key_create_req_decode(buf, w.len, &kc_in), 0);
		CHECK(memcmp(kc_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		CHECK_INT(kc_in.role, role);
		CHECK(str_same(kc_in.location, kc.location));
	}

	/* KEY_REVOKE */
	struct proto_key_revoke_req kr = {.key_id = 0x8000000000000001ull}, kr_in;
	memcpy(kr.key, sample_key, PROTO_KEY_SIZE);
	WBUF(w, buf);
	CHECK_INT(proto_key_revoke_req_encode(&w, &kr), 0);
	s.n = 0;
	spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
	spec_le(&s, kr.key_id, 8);
	CHECK(bytes_equal(&w, &s));
	memset(&kr_in, 0xa5, sizeof kr_in);
	CHECK_INT(proto_key_revoke_req_decode(buf, w.len, &kr_in), 0);
	CHECK(memcmp(kr_in.key, sample_key, PROTO_KEY_SIZE) == 0);
	CHECK(kr_in.key_id == kr.key_id);

	/* ORDER, at a named location and at the key's own (empty) */
	static const struct proto_order_req orders[2] = {{LIT("store-12"), LIT("ORD-0001")}, {LIT(""), LIT("ORD-0002")}};
	for (int i = 0; i < 2; i++) {
		struct proto_order_req order_in;
		WBUF(w, buf);
		CHECK_INT(proto_order_req_encode(&w, &orders[i]), 0);
		s.n = 0;
		spec_str(&s, orders[i].location);
		spec_str(&s, orders[i].order_id);
		CHECK(bytes_equal(&w, &s));
		memset(&order_in, 0xa5, sizeof order_in);
		CHECK_INT(proto_order_req_decode(buf, w.len, &order_in), 0);
		CHECK(str_same(order_in.location, orders[i].location));
		CHECK(str_same(order_in.order_id, orders[i].order_id));
	}

	/* PROGRAM_SET, a value and back to the default (empty) */
	static const struct proto_str values[2] = {LIT("1.5 2026-12-01T00:00:00Z 2027-01-01T00:00:00Z vip,staff"),
						   LIT("")};
	for (int i = 0; i < 2; i++) {
		struct proto_program_set_req ps = {.name = LIT("promo.xmas"), .value = values[i]}, ps_in;
		memcpy(ps.key, sample_key, PROTO_KEY_SIZE);
		WBUF(w, buf);
		CHECK_INT(proto_program_set_req_encode(&w, &ps), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_str(&s, ps.name);
		spec_str(&s, ps.value);
		CHECK(bytes_equal(&w, &s));
		memset(&ps_in, 0xa5, sizeof ps_in);
		CHECK_INT(proto_program_set_req_decode(buf, w.len, &ps_in), 0);
		CHECK(memcmp(ps_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		CHECK(str_same(ps_in.name, ps.name));
		CHECK(str_same(ps_in.value, ps.value));
	}
}

/*
 * The messages that carry a sale or lines: ACCRUE, QUOTE and RETURN, with
 * no lines, a few, and PROTO_MAX_LINES of them with every string at its
 * limit; one line more is refused by the encoder.
 */
static void test_sale_round_trips(void)
{
	static uint8_t buf[1 << 16];
	static struct spec s;
	static struct proto_accrue_req acc, acc_in;
	static struct proto_quote_req quote, quote_in;
	static struct proto_return_req ret, ret_in;
	static const uint16_t counts[] = {0, 1, 3, PROTO_MAX_LINES};
	static char loc_max[PROTO_MAX_LOCATION], order_max[PROTO_MAX_ORDER], email_max[PROTO_MAX_EMAIL];
	struct proto_ref refs[4];
	struct proto_wbuf w;

	memset(loc_max, 'L', sizeof loc_max);
	memset(order_max, 'O', sizeof order_max);
	memset(email_max, 'e', sizeof email_max);
	sample_refs(refs);
	refs[3] = (struct proto_ref){PROTO_REF_EMAIL, 0, {email_max, PROTO_MAX_EMAIL}};

	for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
		uint16_t n = counts[c];
		int at_limits = n == PROTO_MAX_LINES;
		size_t want_len;

		/* ACCRUE */
		memset(&acc, 0, sizeof acc);
		memcpy(acc.key, sample_key, PROTO_KEY_SIZE);
		acc.ref = refs[at_limits ? 3 : c % 3];
		acc.sale.location = at_limits ? (struct proto_str){loc_max, PROTO_MAX_LOCATION} : proto_str_c("");
		acc.sale.order_id = at_limits ? (struct proto_str){order_max, PROTO_MAX_ORDER} : proto_str_c("ORD-7");
		acc.sale.time_us = -1;
		acc.sale.amount = INT64_MAX;
		acc.sale.nlines = n;
		sample_lines(acc.sale.lines, n, at_limits);
		WBUF(w, buf);
		CHECK_INT(proto_accrue_req_encode(&w, &acc), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_ref(&s, &acc.ref);
		spec_sale(&s, &acc.sale);
		CHECK(bytes_equal(&w, &s));
		/* A line is 20 bytes plus its SKU and category. */
		want_len = PROTO_KEY_SIZE + (acc.ref.kind == PROTO_REF_ID ? 9 : 3 + acc.ref.text.len) + 2 +
			   acc.sale.location.len + 2 + acc.sale.order_id.len + 8 + 8 + 2;
		for (uint16_t i = 0; i < n; i++)
			want_len += 20 + acc.sale.lines[i].sku.len + acc.sale.lines[i].category.len;
		CHECK_INT(w.len, want_len);
		memset(&acc_in, 0xa5, sizeof acc_in);
		CHECK_INT(proto_accrue_req_decode(buf, w.len, &acc_in), 0);
		CHECK(memcmp(acc_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		check_ref(&acc_in.ref, &acc.ref);
		check_sale(&acc_in.sale, &acc.sale);
		/* The largest ACCRUE body, as PROTOCOL.md states it; a byte less
		 * of buffer fails without writing past it. */
		if (at_limits) {
			struct proto_wbuf small;
			uint8_t *out = malloc(w.len - 1);
			REQUIRE(out != NULL);
			CHECK_INT(w.len, 38311);
			proto_wbuf_init(&small, out, w.len - 1);
			CHECK_INT(proto_accrue_req_encode(&small, &acc), PROTO_E_SPACE);
			CHECK(small.len <= w.len - 1);
			free(out);
		}

		/* QUOTE of the same sale: for each ref, and for nobody (kind 0). */
		for (int k = 0; k < 5; k++) {
			memset(&quote.ref, 0, sizeof quote.ref);
			quote.ref.text = proto_str_c("");
			if (k < 4)
				quote.ref = refs[k];
			quote.sale = acc.sale;
			WBUF(w, buf);
			CHECK_INT(proto_quote_req_encode(&w, &quote), 0);
			s.n = 0;
			if (k < 4)
				spec_ref(&s, &quote.ref);
			else
				spec_le(&s, 0, 1);
			spec_sale(&s, &quote.sale);
			CHECK(bytes_equal(&w, &s));
			memset(&quote_in, 0xa5, sizeof quote_in);
			CHECK_INT(proto_quote_req_decode(buf, w.len, &quote_in), 0);
			if (k < 4) {
				check_ref(&quote_in.ref, &quote.ref);
			} else {
				CHECK_INT(quote_in.ref.kind, 0);
				CHECK(quote_in.ref.id == 0);
				CHECK_INT(quote_in.ref.text.len, 0);
			}
			check_sale(&quote_in.sale, &quote.sale);
		}

		/* RETURN by the same lines (or, with none, by amount). */
		memset(&ret, 0, sizeof ret);
		memcpy(ret.key, sample_key, PROTO_KEY_SIZE);
		ret.location = acc.sale.location;
		ret.order_id = acc.sale.order_id;
		ret.time_us = 1700000000000001ll;
		ret.amount = n ? 0 : 250;
		ret.nlines = n;
		sample_lines(ret.lines, n, at_limits);
		WBUF(w, buf);
		CHECK_INT(proto_return_req_encode(&w, &ret), 0);
		s.n = 0;
		spec_bytes(&s, sample_key, PROTO_KEY_SIZE);
		spec_str(&s, ret.location);
		spec_str(&s, ret.order_id);
		spec_le(&s, (uint64_t)ret.time_us, 8);
		spec_le(&s, (uint64_t)ret.amount, 8);
		spec_le(&s, n, 2);
		for (uint16_t i = 0; i < n; i++)
			spec_line(&s, &ret.lines[i]);
		CHECK(bytes_equal(&w, &s));
		memset(&ret_in, 0xa5, sizeof ret_in);
		CHECK_INT(proto_return_req_decode(buf, w.len, &ret_in), 0);
		CHECK(memcmp(ret_in.key, sample_key, PROTO_KEY_SIZE) == 0);
		CHECK(str_same(ret_in.location, ret.location));
		CHECK(str_same(ret_in.order_id, ret.order_id));
		CHECK(ret_in.time_us == ret.time_us);
		CHECK(ret_in.amount == ret.amount);
		CHECK_INT(ret_in.nlines, n);
		for (uint16_t i = 0; i < n && i < ret_in.nlines; i++)
			check_line(&ret_in.lines[i], &ret.lines[i]);
	}

	/* One line over PROTO_MAX_LINES cannot be encoded: what a decoder would
	 * refuse is never sent. */
	acc.sale.nlines = PROTO_MAX_LINES + 1;
	WBUF(w, buf);
	CHECK_INT(proto_accrue_req_encode(&w, &acc), PROTO_E_SPACE);
	quote.sale.nlines = PROTO_MAX_LINES + 1;
	WBUF(w, buf);
	CHECK_INT(proto_quote_req_encode(&w, &quote), PROTO_E_SPACE);
	ret.nlines = UINT16_MAX;
	WBUF(w, buf);
	CHECK_INT(proto_return_req_encode(&w, &ret), PROTO_E_SPACE);

	/* A decode that fails reports no lines, so nobody walks stale ones. */
	acc.sale.nlines = 3;
	sample_lines(acc.sale.lines, 3, 0);
	WBUF(w, buf);
	CHECK_INT(proto_accrue_req_encode(&w, &acc), 0);
	memset(&acc_in, 0xa5, sizeof acc_in);
	CHECK_INT(proto_accrue_req_decode(buf, w.len - 1, &acc_in), PROTO_E_BODY);
	CHECK_INT(acc_in.sale.nlines, 0);
}

/*
 * ACCRUE_BATCH: a count, then each item a u32 length and a whole ACCRUE
 * body with its own key. Items are read back one at a time, and each
 * decodes on its own.
 */
static void test_batch_request(void)
{
	static uint8_t buf[1 << 16];
	static struct spec s, one;
	static struct proto_accrue_req items[4], got;
	struct proto_ref refs[3];
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint16_t count = 0;
	const uint8_t *item;
	size_t item_len;

	sample_refs(refs);
	for (int i = 0; i < 4; i++) {
		memset(&items[i], 0, sizeof items[i]);
		memcpy(items[i].key, sample_key, PROTO_KEY_SIZE);
		items[i].key[15] = (uint8_t)(0x40 + i);
		items[i].ref = refs[i % 3];
		items[i].sale.location = proto_str_c(i == 2 ? "" : "store-12");
		items[i].sale.order_id = proto_str_c(i == 1 ? "ORD-2" : "ORD-1");
		items[i].sale.time_us = 1700000000000000ll + i;
		items[i].sale.amount = 1000 * (i + 1);
	}
	/* One item with every line there may be. */
	items[3].sale.nlines = PROTO_MAX_LINES;
	sample_lines(items[3].sale.lines, PROTO_MAX_LINES, 0);

	WBUF(w, buf);
	proto_batch_req_put_header(&w, 4);
	for (int i = 0; i < 4; i++)
		CHECK_INT(proto_batch_req_put_item(&w, &items[i]), 0);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, 4, 2);
	for (int i = 0; i < 4; i++) {
		one.n = 0;
		spec_bytes(&one, items[i].key, PROTO_KEY_SIZE);
		spec_ref(&one, &items[i].ref);
		spec_sale(&one, &items[i].sale);
		spec_le(&s, one.n, 4);
		spec_bytes(&s, one.b, one.n);
	}
	CHECK(bytes_equal(&w, &s));

	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_batch_req_begin(&r, &count), 0);
	CHECK_INT(count, 4);
	for (int i = 0; i < 4 && i < count; i++) {
		CHECK_INT(proto_batch_req_next(&r, &item, &item_len), 0);
		/* The item is the ACCRUE body itself: the bytes its request key's
		 * replay check hashes, the same as a lone ACCRUE would send. */
		one.n = 0;
		spec_bytes(&one, items[i].key, PROTO_KEY_SIZE);
		spec_ref(&one, &items[i].ref);
		spec_sale(&one, &items[i].sale);
		CHECK_INT(item_len, one.n);
		CHECK(item_len == one.n && memcmp(item, one.b, one.n) == 0);
		memset(&got, 0xa5, sizeof got);
		CHECK_INT(proto_accrue_req_decode(item, item_len, &got), 0);
		CHECK(memcmp(got.key, items[i].key, PROTO_KEY_SIZE) == 0);
		check_ref(&got.ref, &items[i].ref);
		check_sale(&got.sale, &items[i].sale);
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* An item that does not decode does not spoil the others: its length
	 * still says where the next one starts. */
	s.n = 0;
	spec_le(&s, 3, 2);
	one.n = 0;
	spec_bytes(&one, items[0].key, PROTO_KEY_SIZE);
	spec_ref(&one, &items[0].ref);
	spec_sale(&one, &items[0].sale);
	spec_le(&s, one.n, 4);
	spec_bytes(&s, one.b, one.n);
	spec_le(&s, 5, 4);
	spec_bytes(&s, "\x01\x02\x03\x04\x05", 5);
	spec_le(&s, one.n, 4);
	spec_bytes(&s, one.b, one.n);
	proto_rbuf_init(&r, s.b, s.n);
	CHECK_INT(proto_batch_req_begin(&r, &count), 0);
	CHECK_INT(count, 3);
	CHECK_INT(proto_batch_req_next(&r, &item, &item_len), 0);
	CHECK_INT(proto_accrue_req_decode(item, item_len, &got), 0);
	CHECK_INT(proto_batch_req_next(&r, &item, &item_len), 0);
	CHECK_INT(item_len, 5);
	CHECK_INT(proto_accrue_req_decode(item, item_len, &got), PROTO_E_BODY);
	CHECK_INT(proto_batch_req_next(&r, &item, &item_len), 0);
	CHECK_INT(proto_accrue_req_decode(item, item_len, &got), 0);
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* Count: 1..PROTO_MAX_BATCH. */
	static const struct {
		uint16_t count;
		int rc;
	} counts[] = {{0, PROTO_E_FIELD}, {1, 0}, {PROTO_MAX_BATCH, 0}, {PROTO_MAX_BATCH + 1, PROTO_E_FIELD},
		      {UINT16_MAX, PROTO_E_FIELD}};
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		uint8_t hdr[2];
		WBUF(w, hdr);
		proto_batch_req_put_header(&w, counts[i].count);
		proto_rbuf_init(&r, hdr, sizeof hdr);
		CHECK_INT(proto_batch_req_begin(&r, &count), counts[i].rc);
		CHECK_INT(count, counts[i].count);
	}

	/* An item longer than what is left is truncation, judged from its
	 * length alone (nothing past the buffer is read), and sticks. */
	static const uint32_t long_lens[] = {1, 100, UINT32_MAX};
	for (size_t i = 0; i < sizeof long_lens / sizeof long_lens[0]; i++) {
		uint8_t *copy;
		s.n = 0;
		spec_le(&s, 2, 2);
		spec_le(&s, long_lens[i], 4);
		copy = dup_exact(s.b, s.n);
		proto_rbuf_init(&r, copy, s.n);
		CHECK_INT(proto_batch_req_begin(&r, &count), 0);
		item = buf;
		item_len = 99;
		CHECK_INT(proto_batch_req_next(&r, &item, &item_len), PROTO_E_BODY);
		CHECK(item == NULL);
		CHECK_INT(item_len, 0);
		CHECK_INT(proto_batch_req_next(&r, &item, &item_len), PROTO_E_BODY);
		free(copy);
	}
}

int main(void)
{
	test_hello_round_trip();
	test_request_round_trips();
	test_sale_round_trips();
	test_batch_request();
	return check_done("unit_proto_requests");
}
