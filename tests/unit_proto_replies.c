/*
 * unit_proto_replies.c - every reply body of the wire codec encoded,
 * compared with PROTOCOL.md's layout (the spec writer) and decoded back:
 * the replies, the customer at its extremes, and the checkout replies.
 * What the unit_proto_*.c tests share, and why they work as they do:
 * unit_proto/proto_samples.h.
 */
#include "check.h"
#include "proto.h"
#include "proto_samples.h"

/* ---- message round trips: replies ------------------------------------- */

static void test_reply_round_trips(void)
{
	uint8_t buf[4096];
	struct proto_wbuf w;
	struct proto_rbuf r;
	static struct spec s;
	uint16_t status;

	/* ENROL / LOOKUP reply: status OK then the customer. */
	struct proto_customer c_in;
	WBUF(w, buf);
	proto_reply_put_status(&w, PROTO_OK);
	CHECK_INT(proto_customer_rep_encode(&w, &s_customer), 0);
	s.n = 0;
	spec_le(&s, PROTO_OK, 2);
	spec_customer(&s, &s_customer);
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	status = 0xffff;
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_OK);
	CHECK_INT(r.off, 2);
	memset(&c_in, 0xa5, sizeof c_in);
	CHECK_INT(proto_customer_rep_decode(buf + r.off, w.len - r.off, &c_in), 0);
	check_customer(&c_in, &s_customer);

	/* ACCRUE / ADJUST reply. */
	struct proto_change_rep ch = {.seq = 0x0102030405060708ull, .points = -123, .customer = s_customer};
	struct proto_change_rep ch_in;
	WBUF(w, buf);
	CHECK_INT(proto_change_rep_encode(&w, &ch), 0);
	s.n = 0;
	spec_le(&s, ch.seq, 8);
	spec_le(&s, (uint64_t)ch.points, 8);
	spec_customer(&s, &s_customer);
	CHECK(bytes_equal(&w, &s));
	memset(&ch_in, 0xa5, sizeof ch_in);
	CHECK_INT(proto_change_rep_decode(buf, w.len, &ch_in), 0);
	CHECK(ch_in.seq == ch.seq);
	CHECK(ch_in.points == ch.points);
	check_customer(&ch_in.customer, &s_customer);

	/* KEY_CREATE reply, first time (with the secret) and as a replay. */
	static const struct proto_key_create_rep kcs[2] = {
		{9, PROTO_ROLE_TERMINAL, LIT("store-12"), LIT("acr_9_0123456789abcdef0123456789abcdef")},
		{9, PROTO_ROLE_TERMINAL, LIT("store-12"), LIT("")},
	};
	for (int i = 0; i < 2; i++) {
		struct proto_key_create_rep kc_in;
		WBUF(w, buf);
		CHECK_INT(proto_key_create_rep_encode(&w, &kcs[i]), 0);
		s.n = 0;
		spec_le(&s, kcs[i].key_id, 8);
		spec_le(&s, kcs[i].role, 1);
		spec_str(&s, kcs[i].location);
		spec_str(&s, kcs[i].secret);
		CHECK(bytes_equal(&w, &s));
		memset(&kc_in, 0xa5, sizeof kc_in);
		CHECK_INT(proto_key_create_rep_decode(buf, w.len, &kc_in), 0);
		CHECK(kc_in.key_id == kcs[i].key_id);
		CHECK_INT(kc_in.role, kcs[i].role);
		CHECK(str_same(kc_in.location, kcs[i].location));
		CHECK(str_same(kc_in.secret, kcs[i].secret));
	}

	/* HISTORY reply: header then items. */
	uint64_t next_before = 0;
	uint32_t count = 0;
	WBUF(w, buf);
	proto_history_rep_put_header(&w, 998, 2);
	proto_entry_put(&w, &s_entries[0]);
	proto_entry_put(&w, &s_entries[1]);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, 998, 8);
	spec_le(&s, 2, 4);
	for (int i = 0; i < 2; i++) {
		const struct proto_entry *e = &s_entries[i];
		spec_le(&s, e->seq, 8);
		spec_le(&s, e->type, 1);
		spec_le(&s, (uint64_t)e->time_us, 8);
		spec_le(&s, (uint64_t)e->points, 8);
		spec_le(&s, (uint64_t)e->balance_after, 8);
		spec_le(&s, (uint64_t)e->amount, 8);
		spec_str(&s, e->location);
		spec_str(&s, e->order_id);
		spec_str(&s, e->reason);
		spec_str(&s, e->comment);
		spec_str(&s, e->detail);
	}
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_history_rep_begin(&r, &next_before, &count), 0);
	CHECK(next_before == 998);
	CHECK_INT(count, 2);
	for (uint32_t i = 0; i < count && i < 2; i++) {
		struct proto_entry e;
		memset(&e, 0xa5, sizeof e);
		CHECK_INT(proto_entry_next(&r, &e), 0);
		CHECK(e.seq == s_entries[i].seq);
		CHECK_INT(e.type, s_entries[i].type);
		CHECK(e.time_us == s_entries[i].time_us);
		CHECK(e.points == s_entries[i].points);
		CHECK(e.balance_after == s_entries[i].balance_after);
		CHECK(e.amount == s_entries[i].amount);
		CHECK(str_same(e.location, s_entries[i].location));
		CHECK(str_same(e.order_id, s_entries[i].order_id));
		CHECK(str_same(e.reason, s_entries[i].reason));
		CHECK(str_same(e.comment, s_entries[i].comment));
		CHECK(str_same(e.detail, s_entries[i].detail));
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* An empty page. */
	WBUF(w, buf);
	proto_history_rep_put_header(&w, 0, 0);
	CHECK_INT(w.len, 12);
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_history_rep_begin(&r, &next_before, &count), 0);
	CHECK(next_before == 0);
	CHECK_INT(count, 0);
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* KEY_LIST reply. */
	WBUF(w, buf);
	proto_key_list_rep_put_header(&w, 2);
	proto_key_info_put(&w, &s_keys[0]);
	proto_key_info_put(&w, &s_keys[1]);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, 2, 4);
	for (int i = 0; i < 2; i++) {
		spec_le(&s, s_keys[i].id, 8);
		spec_le(&s, s_keys[i].role, 1);
		spec_le(&s, s_keys[i].revoked, 1);
		spec_le(&s, (uint64_t)s_keys[i].created_us, 8);
		spec_str(&s, s_keys[i].location);
	}
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_key_list_rep_begin(&r, &count), 0);
	CHECK_INT(count, 2);
	for (uint32_t i = 0; i < count && i < 2; i++) {
		struct proto_key_info k;
		memset(&k, 0xa5, sizeof k);
		CHECK_INT(proto_key_info_next(&r, &k), 0);
		CHECK(k.id == s_keys[i].id);
		CHECK_INT(k.role, s_keys[i].role);
		CHECK_INT(k.revoked, s_keys[i].revoked);
		CHECK(k.created_us == s_keys[i].created_us);
		CHECK(str_same(k.location, s_keys[i].location));
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* An error reply: status then message. */
	struct proto_str msg;
	WBUF(w, buf);
	CHECK_INT(proto_reply_error_encode(&w, PROTO_ST_NOT_FOUND, proto_str_c("no such customer")), 0);
	s.n = 0;
	spec_le(&s, PROTO_ST_NOT_FOUND, 2);
	spec_str(&s, proto_str_c("no such customer"));
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_ST_NOT_FOUND);
	CHECK_INT(proto_reply_error_decode(&r, &msg), 0);
	CHECK(str_is(msg, "no such customer"));

	/* A message over the limit is cut to PROTO_MAX_MESSAGE, so the reply
	 * still decodes. */
	static char long_msg[PROTO_MAX_MESSAGE + 500];
	memset(long_msg, 'm', sizeof long_msg);
	WBUF(w, buf);
	CHECK_INT(proto_reply_error_encode(&w, PROTO_ST_INTERNAL, (struct proto_str){long_msg, sizeof long_msg}),
		  0);
	CHECK_INT(w.len, 2 + 2 + PROTO_MAX_MESSAGE);
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_ST_INTERNAL);
	CHECK_INT(proto_reply_error_decode(&r, &msg), 0);
	CHECK_INT(msg.len, PROTO_MAX_MESSAGE);
	CHECK(msg.ptr == (const char *)buf + 4);

	/* A status with nothing after it cannot be an error reply. */
	proto_rbuf_init(&r, buf, 2);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(proto_reply_error_decode(&r, &msg), PROTO_E_BODY);
	proto_rbuf_init(&r, buf, 1);
	CHECK_INT(proto_reply_status(&r, &status), PROTO_E_BODY);
}

/* The customer at its extremes: a guest, and every field at its limit. */
static void test_customer_round_trips(void)
{
	static uint8_t buf[4096];
	static struct spec s;
	static char text[PROTO_MAX_GROUPS][PROTO_MAX_EMAIL];
	static struct proto_customer big, got;
	struct proto_wbuf w;

	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &s_guest), 0);
	s.n = 0;
	spec_customer(&s, &s_guest);
	CHECK(bytes_equal(&w, &s));
	/* 68 bytes, the strings' bytes, and 2 per group; then 12 for not
	 * opted out (flag, time, empty source) and no cards; 9 for not archived. */
	CHECK_INT(w.len, 68 + 12 + 12 + 9);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(proto_customer_rep_decode(buf, w.len, &got), 0);
	check_customer(&got, &s_guest);

	for (int i = 0; i < PROTO_MAX_GROUPS; i++)
		memset(text[i], 'a' + i, sizeof text[i]);
	memset(&big, 0, sizeof big);
	big.id = UINT64_MAX;
	big.email = (struct proto_str){text[0], PROTO_MAX_EMAIL};
	big.phone = (struct proto_str){text[1], PROTO_MAX_PHONE};
	big.first_name = (struct proto_str){text[2], PROTO_MAX_NAME};
	big.last_name = (struct proto_str){text[3], PROTO_MAX_NAME};
	big.balance = INT64_MIN;
	big.lifetime_points = INT64_MAX;
	big.visits = UINT64_MAX;
	big.total_spend = -1;
	big.created_us = INT64_MAX;
	big.last_visit_us = INT64_MIN;
	big.member = 1;
	big.tier = (struct proto_str){text[4], PROTO_MAX_TIER};
	big.ngroups = PROTO_MAX_GROUPS;
	for (int i = 0; i < PROTO_MAX_GROUPS; i++)
		big.groups[i] = (struct proto_str){text[i], PROTO_MAX_GROUP};
	big.opted_out = 1;
	big.optout_us = INT64_MAX;
	big.optout_source = (struct proto_str){text[5], PROTO_MAX_OPTOUT_SOURCE};
	big.ncards = PROTO_MAX_CARDS;
	for (int i = 0; i < PROTO_MAX_CARDS; i++)
		big.cards[i] = (struct proto_str){text[i], PROTO_MAX_CARD};
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), 0);
	s.n = 0;
	spec_customer(&s, &big);
	CHECK(bytes_equal(&w, &s));
	/* The largest customer, as PROTOCOL.md states it: 1674 bytes up to its
	 * groups, 76 for the opt-out, 1 + 8 * 34 for the cards, 9 for archived. */
	CHECK_INT(w.len, 2031);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(proto_customer_rep_decode(buf, w.len, &got), 0);
	check_customer(&got, &big);

	/* More groups than a customer may hold cannot be encoded. */
	big.ngroups = PROTO_MAX_GROUPS + 1;
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), PROTO_E_SPACE);
	big.ngroups = UINT8_MAX;
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), PROTO_E_SPACE);
	/* Likewise more cards. */
	big.ngroups = 3;
	big.ncards = PROTO_MAX_CARDS + 1;
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), PROTO_E_SPACE);
	big.ncards = 2;

	/* A customer that fails to decode reports no groups. */
	big.ngroups = 3;
	WBUF(w, buf);
	CHECK_INT(proto_customer_rep_encode(&w, &big), 0);
	memset(&got, 0xa5, sizeof got);
	CHECK_INT(proto_customer_rep_decode(buf, w.len - 1, &got), PROTO_E_BODY);
	CHECK_INT(got.ngroups, 0);
}

/* Replies of RETURN, QUOTE, ORDER, ACCRUE_BATCH and PROGRAM_GET. */
static void test_checkout_reply_round_trips(void)
{
	static uint8_t buf[1 << 17];
	static struct spec s;
	static struct proto_quote_rep quote, quote_in;
	static struct proto_order_rep order, order_in;
	static struct proto_line lines[PROTO_MAX_LINES];
	static char loc_max[PROTO_MAX_LOCATION], order_max[PROTO_MAX_ORDER];
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint16_t status, count;

	memset(loc_max, 'L', sizeof loc_max);
	memset(order_max, 'O', sizeof order_max);

	/* RETURN reply: seq, points, shortfall, refunded, customer. */
	struct proto_return_rep ret = {.seq = 0x0102030405060708ull, .points = -40, .shortfall = 7,
				       .refunded = 2500, .customer = s_customer};
	struct proto_return_rep ret_in;
	WBUF(w, buf);
	proto_reply_put_status(&w, PROTO_OK);
	CHECK_INT(proto_return_rep_encode(&w, &ret), 0);
	s.n = 0;
	spec_le(&s, PROTO_OK, 2);
	spec_le(&s, ret.seq, 8);
	spec_le(&s, (uint64_t)ret.points, 8);
	spec_le(&s, (uint64_t)ret.shortfall, 8);
	spec_le(&s, (uint64_t)ret.refunded, 8);
	spec_customer(&s, &s_customer);
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(status, PROTO_OK);
	memset(&ret_in, 0xa5, sizeof ret_in);
	CHECK_INT(proto_return_rep_decode(buf + r.off, w.len - r.off, &ret_in), 0);
	CHECK(ret_in.seq == ret.seq);
	CHECK(ret_in.points == ret.points);
	CHECK(ret_in.shortfall == ret.shortfall);
	CHECK(ret_in.refunded == ret.refunded);
	check_customer(&ret_in.customer, &s_customer);

	/* QUOTE reply, in either unit, with no lines, a few, and all of them. */
	static const uint16_t quote_lines[] = {0, 3, PROTO_MAX_LINES};
	for (size_t q = 0; q < sizeof quote_lines / sizeof quote_lines[0]; q++) {
		memset(&quote, 0, sizeof quote);
		quote.earned = 185;
		quote.qualifying = 12345;
		quote.qualifying_items = 4;
		quote.multiplier = 15000;
		quote.unit = q == 1 ? PROTO_UNIT_STAMPS : PROTO_UNIT_POINTS;
		quote.nlines = quote_lines[q];
		for (uint16_t i = 0; i < quote.nlines; i++)
			quote.line_earned[i] = i % 2 ? -(int64_t)i : (int64_t)i * 1000;
		WBUF(w, buf);
		CHECK_INT(proto_quote_rep_encode(&w, &quote), 0);
		s.n = 0;
		spec_le(&s, (uint64_t)quote.earned, 8);
		spec_le(&s, (uint64_t)quote.qualifying, 8);
		spec_le(&s, (uint64_t)quote.qualifying_items, 8);
		spec_le(&s, quote.multiplier, 4);
		spec_le(&s, quote.unit, 1);
		spec_le(&s, quote.nlines, 2);
		for (uint16_t i = 0; i < quote.nlines; i++)
			spec_le(&s, (uint64_t)quote.line_earned[i], 8);
		CHECK(bytes_equal(&w, &s));
		CHECK_INT(w.len, 31 + 8 * (size_t)quote.nlines);
		memset(&quote_in, 0xa5, sizeof quote_in);
		CHECK_INT(proto_quote_rep_decode(buf, w.len, &quote_in), 0);
		CHECK(quote_in.earned == quote.earned);
		CHECK(quote_in.qualifying == quote.qualifying);
		CHECK(quote_in.qualifying_items == quote.qualifying_items);
		CHECK_INT(quote_in.multiplier, quote.multiplier);
		CHECK_INT(quote_in.unit, quote.unit);
		CHECK_INT(quote_in.nlines, quote.nlines);
		for (uint16_t i = 0; i < quote.nlines && i < quote_in.nlines; i++)
			CHECK(quote_in.line_earned[i] == quote.line_earned[i]);
	}
	quote.nlines = PROTO_MAX_LINES + 1;
	WBUF(w, buf);
	CHECK_INT(proto_quote_rep_encode(&w, &quote), PROTO_E_SPACE);

	/* ORDER reply. */
	static const uint16_t order_lines[] = {0, 2, PROTO_MAX_LINES};
	for (size_t o = 0; o < sizeof order_lines / sizeof order_lines[0]; o++) {
		int at_limits = order_lines[o] == PROTO_MAX_LINES;
		memset(&order, 0, sizeof order);
		order.customer_id = 42;
		order.seq = 1001;
		order.time_us = 1700000000000000ll;
		order.location = at_limits ? (struct proto_str){loc_max, PROTO_MAX_LOCATION} : proto_str_c("store-12");
		order.order_id = at_limits ? (struct proto_str){order_max, PROTO_MAX_ORDER} : proto_str_c("ORD-1");
		order.amount = 12345;
		order.earned = 185;
		order.refunded = 2000;
		order.taken_back = 30;
		order.multiplier = 15000;
		order.nlines = order_lines[o];
		sample_lines(lines, order.nlines, at_limits);
		for (uint16_t i = 0; i < order.nlines; i++) {
			order.lines[i].sku = lines[i].sku;
			order.lines[i].category = lines[i].category;
			order.lines[i].qty = lines[i].qty;
			order.lines[i].amount = lines[i].amount;
			order.lines[i].earned = 10 + i;
			order.lines[i].refunded_qty = i % 3;
			order.lines[i].refunded = 50 * (i % 3);
		}
		WBUF(w, buf);
		proto_reply_put_status(&w, PROTO_OK);
		CHECK_INT(proto_order_rep_encode(&w, &order), 0);
		s.n = 0;
		spec_le(&s, PROTO_OK, 2);
		spec_le(&s, order.customer_id, 8);
		spec_le(&s, order.seq, 8);
		spec_le(&s, (uint64_t)order.time_us, 8);
		spec_str(&s, order.location);
		spec_str(&s, order.order_id);
		spec_le(&s, (uint64_t)order.amount, 8);
		spec_le(&s, (uint64_t)order.earned, 8);
		spec_le(&s, (uint64_t)order.refunded, 8);
		spec_le(&s, (uint64_t)order.taken_back, 8);
		spec_le(&s, order.multiplier, 4);
		spec_le(&s, order.nlines, 2);
		for (uint16_t i = 0; i < order.nlines; i++) {
			const struct proto_order_line *l = &order.lines[i];
			spec_str(&s, l->sku);
			spec_str(&s, l->category);
			spec_le(&s, (uint64_t)l->qty, 8);
			spec_le(&s, (uint64_t)l->amount, 8);
			spec_le(&s, (uint64_t)l->earned, 8);
			spec_le(&s, (uint64_t)l->refunded_qty, 8);
			spec_le(&s, (uint64_t)l->refunded, 8);
		}
		CHECK(bytes_equal(&w, &s));
		/* The largest ORDER reply body (with its status), as PROTOCOL.md states it. */
		if (at_limits) {
			struct proto_wbuf small;
			uint8_t *out = malloc(w.len - 3);
			REQUIRE(out != NULL);
			CHECK_INT(w.len, 44228);
			proto_wbuf_init(&small, out, w.len - 3);
			CHECK_INT(proto_order_rep_encode(&small, &order), PROTO_E_SPACE);
			CHECK(small.len <= w.len - 3);
			free(out);
		}
		memset(&order_in, 0xa5, sizeof order_in);
		CHECK_INT(proto_order_rep_decode(buf + 2, w.len - 2, &order_in), 0);
		CHECK(order_in.customer_id == order.customer_id);
		CHECK(order_in.seq == order.seq);
		CHECK(order_in.time_us == order.time_us);
		CHECK(str_same(order_in.location, order.location));
		CHECK(str_same(order_in.order_id, order.order_id));
		CHECK(order_in.amount == order.amount);
		CHECK(order_in.earned == order.earned);
		CHECK(order_in.refunded == order.refunded);
		CHECK(order_in.taken_back == order.taken_back);
		CHECK_INT(order_in.multiplier, order.multiplier);
		CHECK_INT(order_in.nlines, order.nlines);
		for (uint16_t i = 0; i < order.nlines && i < order_in.nlines; i++) {
			const struct proto_order_line *a = &order_in.lines[i], *b = &order.lines[i];
			CHECK(str_same(a->sku, b->sku));
			CHECK(str_same(a->category, b->category));
			CHECK(a->qty == b->qty);
			CHECK(a->amount == b->amount);
			CHECK(a->earned == b->earned);
			CHECK(a->refunded_qty == b->refunded_qty);
			CHECK(a->refunded == b->refunded);
		}
	}
	order.nlines = PROTO_MAX_LINES + 1;
	WBUF(w, buf);
	CHECK_INT(proto_order_rep_encode(&w, &order), PROTO_E_SPACE);

	/* ACCRUE_BATCH reply: applied, replayed and refused items, in order. */
	static char long_msg[PROTO_MAX_MESSAGE + 200];
	memset(long_msg, 'm', sizeof long_msg);
	const struct proto_batch_item items[4] = {
		{.status = PROTO_OK, .replay = 0, .seq = 1001, .points = 123, .customer_id = 42, .balance = 456},
		{.status = PROTO_ST_DUPLICATE_ORDER, .replay = 0, .message = LIT("order \"ORD-1\" was already accrued")},
		{.status = PROTO_OK, .replay = 1, .seq = 999, .points = -1, .customer_id = UINT64_MAX,
		 .balance = INT64_MIN},
		{.status = PROTO_ST_BAD_REQUEST, .replay = 0, .message = {long_msg, sizeof long_msg}},
	};
	WBUF(w, buf);
	proto_reply_put_status(&w, PROTO_OK);
	proto_batch_rep_put_header(&w, 4);
	for (int i = 0; i < 4; i++)
		proto_batch_item_put(&w, &items[i]);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, PROTO_OK, 2);
	spec_le(&s, 4, 2);
	for (int i = 0; i < 4; i++) {
		spec_le(&s, items[i].status, 2);
		spec_le(&s, items[i].replay, 1);
		if (items[i].status == PROTO_OK) {
			spec_le(&s, items[i].seq, 8);
			spec_le(&s, (uint64_t)items[i].points, 8);
			spec_le(&s, items[i].customer_id, 8);
			spec_le(&s, (uint64_t)items[i].balance, 8);
		} else {
			/* A message over PROTO_MAX_MESSAGE is cut to it. */
			struct proto_str m = items[i].message;
			if (m.len > PROTO_MAX_MESSAGE)
				m.len = PROTO_MAX_MESSAGE;
			spec_str(&s, m);
		}
	}
	CHECK(bytes_equal(&w, &s));
	CHECK_INT(w.len, 2 + 2 + 35 + (5 + items[1].message.len) + 35 + (5 + PROTO_MAX_MESSAGE));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(proto_batch_rep_begin(&r, &count), 0);
	CHECK_INT(count, 4);
	for (int i = 0; i < 4 && i < count; i++) {
		struct proto_batch_item it;
		memset(&it, 0xa5, sizeof it);
		CHECK_INT(proto_batch_item_next(&r, &it), 0);
		CHECK_INT(it.status, items[i].status);
		CHECK_INT(it.replay, items[i].replay);
		if (items[i].status == PROTO_OK) {
			CHECK(it.seq == items[i].seq);
			CHECK(it.points == items[i].points);
			CHECK(it.customer_id == items[i].customer_id);
			CHECK(it.balance == items[i].balance);
			CHECK_INT(it.message.len, 0);
		} else {
			/* A refusal carries a message and zeros for the rest. */
			CHECK(it.seq == 0 && it.points == 0 && it.customer_id == 0 && it.balance == 0);
			CHECK_INT(it.message.len, items[i].message.len > PROTO_MAX_MESSAGE ? PROTO_MAX_MESSAGE
											: items[i].message.len);
			CHECK(memcmp(it.message.ptr, items[i].message.ptr, it.message.len) == 0);
		}
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* PROGRAM_GET reply: a count, then (name, value) pairs. */
	static char value_max[PROTO_MAX_SETTING_VALUE], name_max[PROTO_MAX_SETTING_KEY];
	memset(value_max, 'v', sizeof value_max);
	memset(name_max, 'n', sizeof name_max);
	const struct proto_str settings[4][2] = {
		{LIT("unit"), LIT("points")},
		{LIT("earn.per"), LIT("1.00")},
		{LIT("exclude.skus"), LIT("")},
		{{name_max, PROTO_MAX_SETTING_KEY}, {value_max, PROTO_MAX_SETTING_VALUE}},
	};
	WBUF(w, buf);
	proto_reply_put_status(&w, PROTO_OK);
	proto_program_rep_put_header(&w, 4);
	for (int i = 0; i < 4; i++)
		proto_setting_put(&w, settings[i][0], settings[i][1]);
	CHECK_INT(w.overflow, 0);
	s.n = 0;
	spec_le(&s, PROTO_OK, 2);
	spec_le(&s, 4, 2);
	for (int i = 0; i < 4; i++) {
		spec_str(&s, settings[i][0]);
		spec_str(&s, settings[i][1]);
	}
	CHECK(bytes_equal(&w, &s));
	proto_rbuf_init(&r, buf, w.len);
	CHECK_INT(proto_reply_status(&r, &status), 0);
	CHECK_INT(proto_program_rep_begin(&r, &count), 0);
	CHECK_INT(count, 4);
	for (int i = 0; i < 4 && i < count; i++) {
		struct proto_str name, value;
		CHECK_INT(proto_setting_next(&r, &name, &value), 0);
		CHECK(str_same(name, settings[i][0]));
		CHECK(str_same(value, settings[i][1]));
	}
	CHECK_INT(proto_rbuf_finish(&r), 0);

	/* List headers over their maxima are refused before any item. */
	uint8_t hdr[2];
	WBUF(w, hdr);
	proto_batch_rep_put_header(&w, PROTO_MAX_BATCH + 1);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_batch_rep_begin(&r, &count), PROTO_E_FIELD);
	WBUF(w, hdr);
	proto_batch_rep_put_header(&w, PROTO_MAX_BATCH);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_batch_rep_begin(&r, &count), 0);
	WBUF(w, hdr);
	proto_program_rep_put_header(&w, PROTO_MAX_SETTINGS + 1);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_program_rep_begin(&r, &count), PROTO_E_FIELD);
	WBUF(w, hdr);
	proto_program_rep_put_header(&w, PROTO_MAX_SETTINGS);
	proto_rbuf_init(&r, hdr, sizeof hdr);
	CHECK_INT(proto_program_rep_begin(&r, &count), 0);
	CHECK_INT(count, PROTO_MAX_SETTINGS);
}

int main(void)
{
	test_reply_round_trips();
	test_customer_round_trips();
	test_checkout_reply_round_trips();
	return check_done("unit_proto_replies");
}
