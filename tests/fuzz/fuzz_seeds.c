/*
 * fuzz_seeds.c - write the fuzz targets' seed corpus.
 *
 *   fuzz_seeds DIR
 *
 * writes DIR/<target>/<seed> for every fuzz target: valid bodies, frames,
 * replies, journal records and snapshots made with the codec's own encoders,
 * in several shapes each (typical, empty strings, every string at its
 * limit, many lines, batches), plus a few that are one step over a limit or
 * otherwise refused. The build runs it, so no binary seed is committed;
 * fuzzers start from these, and fuzz_replay_<target> runs them all in every
 * build. Input layouts are described in README.md beside this file.
 */
#include "proto.h"
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

static const char *root;
static unsigned seeds_written;

/* ---- output ---------------------------------------------------------- */

static void die(const char *what, const char *path)
{
	fprintf(stderr, "fuzz_seeds: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		die("cannot create", path);
}

static void write_seed(const char *target, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, target);
	make_dir(path);
	snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f)
		die("cannot write", path);
	if ((n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		die("cannot write", path);
	seeds_written++;
}

/* ---- building blocks ------------------------------------------------- */

/* Bodies are built in body[]; frames and prefixed inputs in out[]. */
static uint8_t body[PROTO_MAX_BODY_DEFAULT];
static uint8_t out[PROTO_HEADER_SIZE + PROTO_MAX_BODY_DEFAULT + 16];
static struct proto_wbuf w;

static void body_begin(void)
{
	proto_wbuf_init(&w, body, sizeof body);
}

static void body_check(const char *what)
{
	if (w.overflow) {
		fprintf(stderr, "fuzz_seeds: %s does not fit\n", what);
		exit(1);
	}
}

/* A string of n bytes, each a letter, so seeds are readable in a hex dump
 * (up to one byte over the longest limit, for the refused seeds). */
static char letters[PROTO_MAX_SETTING_VALUE + 1];

static struct proto_str S(uint32_t n)
{
	struct proto_str s = {letters, n};
	return s;
}

static struct proto_str C(const char *s)
{
	return proto_str_c(s);
}

static const uint8_t request_key[PROTO_KEY_SIZE] = {0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
						    0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};

static uint32_t next_request_id = 1;

/* body[0..w.len) as a frame into out[]; returns the frame's length. */
static size_t frame_of_body(uint8_t opcode, uint16_t flags, uint32_t request_id)
{
	memcpy(out + PROTO_HEADER_SIZE, body, w.len);
	proto_header_encode(out, opcode, flags, request_id, out + PROTO_HEADER_SIZE, (uint32_t)w.len);
	return PROTO_HEADER_SIZE + w.len;
}

/*
 * The request body in body[] as the seed body_<target>/<name>, and, when
 * framed, as a request frame in the frame target's corpus too.
 */
static void emit_request(const char *target, uint8_t opcode, const char *name, int framed)
{
	char t[64], f[128];

	body_check(name);
	snprintf(t, sizeof t, "body_%s", target);
	write_seed(t, name, body, w.len);
	if (framed) {
		size_t n = frame_of_body(opcode, 0, next_request_id++);
		snprintf(f, sizeof f, "request-%s-%s", target, name);
		write_seed("frame", f, out, n);
	}
}

/* The reply body in body[] (status first) as reply/<name>: the opcode byte, then the body. */
static void emit_reply(uint8_t opcode, const char *name, int framed)
{
	char f[128];

	body_check(name);
	out[0] = opcode;
	memcpy(out + 1, body, w.len);
	write_seed("reply", name, out, 1 + w.len);
	if (framed) {
		size_t n = frame_of_body(opcode, PROTO_FLAG_REPLY, next_request_id++);
		snprintf(f, sizeof f, "reply-%s", name);
		write_seed("frame", f, out, n);
	}
}

/* ---- requests -------------------------------------------------------- */

static struct proto_ref ref_id(uint64_t id)
{
	struct proto_ref r = {PROTO_REF_ID, id, {"", 0}};
	return r;
}

static struct proto_ref ref_text(uint8_t kind, struct proto_str text)
{
	struct proto_ref r = {kind, 0, text};
	return r;
}

static void seeds_hello(void)
{
	struct proto_hello_req m = {PROTO_VERSION, C("test")};

	/* PROTOCOL.md's worked example: HELLO, api_key "test", request id 1. */
	body_begin();
	proto_hello_req_encode(&w, &m);
	emit_request("hello", PROTO_OP_HELLO, "typical", 1);
	m.api_key = C("");
	body_begin();
	proto_hello_req_encode(&w, &m);
	emit_request("hello", PROTO_OP_HELLO, "empty-key", 0);
	m.api_key = S(PROTO_MAX_APIKEY);
	body_begin();
	proto_hello_req_encode(&w, &m);
	emit_request("hello", PROTO_OP_HELLO, "max-key", 1);
	m.api_key = S(PROTO_MAX_APIKEY + 1);
	body_begin();
	proto_hello_req_encode(&w, &m);
	emit_request("hello", PROTO_OP_HELLO, "over-key", 0);
}

static void seeds_enrol(void)
{
	struct proto_enrol_req m;

	memcpy(m.key, request_key, sizeof m.key);
	m.email = C("Ana.Lima@Example.com");
	m.phone = C("+1 555 010 0001");
	m.first_name = C("Ana");
	m.last_name = C("Lima");
	body_begin();
	proto_enrol_req_encode(&w, &m);
	emit_request("enrol", PROTO_OP_ENROL, "typical", 1);
	m.email = m.phone = m.first_name = m.last_name = C("");
	body_begin();
	proto_enrol_req_encode(&w, &m);
	emit_request("enrol", PROTO_OP_ENROL, "empty", 0);
	m.email = S(PROTO_MAX_EMAIL);
	m.phone = S(PROTO_MAX_PHONE);
	m.first_name = m.last_name = S(PROTO_MAX_NAME);
	body_begin();
	proto_enrol_req_encode(&w, &m);
	emit_request("enrol", PROTO_OP_ENROL, "max", 1);
	m.phone = S(PROTO_MAX_PHONE + 1);
	body_begin();
	proto_enrol_req_encode(&w, &m);
	emit_request("enrol", PROTO_OP_ENROL, "over-phone", 0);
}

static void seeds_lookup(void)
{
	struct proto_lookup_req m;

	m.ref = ref_text(PROTO_REF_EMAIL, C("ann@example.com"));
	body_begin();
	proto_lookup_req_encode(&w, &m);
	emit_request("lookup", PROTO_OP_LOOKUP, "email", 1);
	m.ref = ref_id(42);
	body_begin();
	proto_lookup_req_encode(&w, &m);
	emit_request("lookup", PROTO_OP_LOOKUP, "id", 1);
	m.ref = ref_text(PROTO_REF_PHONE, C("+15550100001"));
	body_begin();
	proto_lookup_req_encode(&w, &m);
	emit_request("lookup", PROTO_OP_LOOKUP, "phone", 0);
	m.ref = ref_text(PROTO_REF_EMAIL, S(PROTO_MAX_EMAIL));
	body_begin();
	proto_lookup_req_encode(&w, &m);
	emit_request("lookup", PROTO_OP_LOOKUP, "max-email", 0);
	m.ref = ref_text(PROTO_REF_PHONE, S(PROTO_MAX_PHONE));
	body_begin();
	proto_lookup_req_encode(&w, &m);
	emit_request("lookup", PROTO_OP_LOOKUP, "max-phone", 0);
	m.ref = ref_text(PROTO_REF_EMAIL, C(""));
	body_begin();
	proto_lookup_req_encode(&w, &m);
	emit_request("lookup", PROTO_OP_LOOKUP, "empty-email", 0);
	/* A ref kind out of range. */
	body_begin();
	proto_put_u8(&w, 4);
	proto_put_u64(&w, 42);
	emit_request("lookup", PROTO_OP_LOOKUP, "bad-kind", 0);
}

/* n lines, each string at len bytes (at most 64). */
static void fill_lines(struct proto_line *lines, uint16_t n, uint32_t len)
{
	for (uint16_t i = 0; i < n; i++) {
		lines[i].sku = S(len);
		lines[i].category = S(len);
		lines[i].qty = 1 + i % 3;
		lines[i].amount = 100 * (int64_t)(i + 1);
	}
}

static void three_lines(struct proto_line *lines)
{
	lines[0].sku = C("COF-1");
	lines[0].category = C("coffee");
	lines[0].qty = 2;
	lines[0].amount = 700;
	lines[1].sku = C("CAKE-3");
	lines[1].category = C("bakery");
	lines[1].qty = 1;
	lines[1].amount = 450;
	lines[2].sku = C("GIFT-25");
	lines[2].category = C("");
	lines[2].qty = 1;
	lines[2].amount = 2500;
}

static struct proto_accrue_req accrue_m;

/* The accrue seeds, by index, so the batch seeds can reuse them. */
static const char *accrue_shape(int i)
{
	struct proto_accrue_req *m = &accrue_m;

	memcpy(m->key, request_key, sizeof m->key);
	m->key[0] = (uint8_t)i;
	switch (i) {
	case 0:
		m->ref = ref_text(PROTO_REF_EMAIL, C("ana.lima@example.com"));
		m->sale.location = C("store-1");
		m->sale.order_id = C("A-1001");
		m->sale.time_us = 0;
		m->sale.amount = 4250;
		m->sale.nlines = 0;
		return "amount";
	case 1:
		m->ref = ref_id(1);
		m->sale.location = C("store-1");
		m->sale.order_id = C("C-2001");
		m->sale.time_us = 1700000000000000;
		m->sale.amount = 3650;
		m->sale.nlines = 3;
		three_lines(m->sale.lines);
		return "lines";
	case 2:
		m->ref = ref_text(PROTO_REF_PHONE, C(""));
		m->sale.location = m->sale.order_id = C("");
		m->sale.time_us = 0;
		m->sale.amount = 0;
		m->sale.nlines = 0;
		return "empty";
	case 3:
		m->ref = ref_text(PROTO_REF_EMAIL, S(PROTO_MAX_EMAIL));
		m->sale.location = S(PROTO_MAX_LOCATION);
		m->sale.order_id = S(PROTO_MAX_ORDER);
		m->sale.time_us = INT64_MAX;
		m->sale.amount = INT64_MAX;
		m->sale.nlines = PROTO_MAX_LINES;
		fill_lines(m->sale.lines, PROTO_MAX_LINES, PROTO_MAX_SKU);
		return "max";
	case 4:
		m->ref = ref_id(7);
		m->sale.location = C("store-2");
		m->sale.order_id = S(PROTO_MAX_ORDER + 1);
		m->sale.time_us = 0;
		m->sale.amount = 100;
		m->sale.nlines = 0;
		return "over-order";
	}
	return NULL;
}

static void seeds_accrue(void)
{
	const char *name;

	for (int i = 0; (name = accrue_shape(i)) != NULL; i++) {
		body_begin();
		proto_accrue_req_encode(&w, &accrue_m);
		emit_request("accrue", PROTO_OP_ACCRUE, name, i < 2);
	}
	/* Declares 257 lines: refused from the count alone. */
	accrue_shape(0);
	body_begin();
	proto_put_bytes(&w, accrue_m.key, PROTO_KEY_SIZE);
	proto_ref_put(&w, &accrue_m.ref);
	proto_put_str(&w, accrue_m.sale.location);
	proto_put_str(&w, accrue_m.sale.order_id);
	proto_put_i64(&w, 0);
	proto_put_i64(&w, 100);
	proto_put_u16(&w, PROTO_MAX_LINES + 1);
	emit_request("accrue", PROTO_OP_ACCRUE, "over-lines", 0);
}

static struct proto_return_req return_m;

static void seeds_return(void)
{
	struct proto_return_req *m = &return_m;

	memcpy(m->key, request_key, sizeof m->key);
	m->location = C("store-1");
	m->order_id = C("C-2001");
	m->time_us = 0;
	m->amount = 350;
	m->nlines = 0;
	body_begin();
	proto_return_req_encode(&w, m);
	emit_request("return", PROTO_OP_RETURN, "amount", 1);
	m->nlines = 1;
	m->lines[0].sku = C("COF-1");
	m->lines[0].category = C("");
	m->lines[0].qty = 1;
	m->lines[0].amount = 350;
	body_begin();
	proto_return_req_encode(&w, m);
	emit_request("return", PROTO_OP_RETURN, "lines", 1);
	m->location = m->order_id = C("");
	m->nlines = 0;
	body_begin();
	proto_return_req_encode(&w, m);
	emit_request("return", PROTO_OP_RETURN, "empty", 0);
	m->location = S(PROTO_MAX_LOCATION);
	m->order_id = S(PROTO_MAX_ORDER);
	m->nlines = PROTO_MAX_LINES;
	fill_lines(m->lines, PROTO_MAX_LINES, PROTO_MAX_SKU);
	body_begin();
	proto_return_req_encode(&w, m);
	emit_request("return", PROTO_OP_RETURN, "max", 0);
}

static struct proto_quote_req quote_m;

static void seeds_quote(void)
{
	struct proto_quote_req *m = &quote_m;

	/* PROTOCOL.md's worked example: nobody in particular, 123.45, no lines. */
	memset(&m->ref, 0, sizeof m->ref);
	m->ref.text = C("");
	m->sale.location = m->sale.order_id = C("");
	m->sale.time_us = 0;
	m->sale.amount = 12345;
	m->sale.nlines = 0;
	body_begin();
	proto_quote_req_encode(&w, m);
	emit_request("quote", PROTO_OP_QUOTE, "anonymous", 1);
	m->ref = ref_text(PROTO_REF_EMAIL, C("ana.lima@example.com"));
	m->sale.location = C("store-1");
	m->sale.amount = 3650;
	m->sale.nlines = 3;
	three_lines(m->sale.lines);
	body_begin();
	proto_quote_req_encode(&w, m);
	emit_request("quote", PROTO_OP_QUOTE, "lines", 1);
	m->ref = ref_id(UINT64_MAX);
	m->sale.location = S(PROTO_MAX_LOCATION);
	m->sale.order_id = S(PROTO_MAX_ORDER);
	m->sale.nlines = PROTO_MAX_LINES;
	fill_lines(m->sale.lines, PROTO_MAX_LINES, 1);
	body_begin();
	proto_quote_req_encode(&w, m);
	emit_request("quote", PROTO_OP_QUOTE, "many-lines", 0);
}

static void seeds_order(void)
{
	struct proto_order_req m = {C("store-1"), C("C-2001")};

	body_begin();
	proto_order_req_encode(&w, &m);
	emit_request("order", PROTO_OP_ORDER, "typical", 1);
	m.location = m.order_id = C("");
	body_begin();
	proto_order_req_encode(&w, &m);
	emit_request("order", PROTO_OP_ORDER, "empty", 0);
	m.location = S(PROTO_MAX_LOCATION);
	m.order_id = S(PROTO_MAX_ORDER);
	body_begin();
	proto_order_req_encode(&w, &m);
	emit_request("order", PROTO_OP_ORDER, "max", 0);
	m.location = S(PROTO_MAX_LOCATION + 1);
	body_begin();
	proto_order_req_encode(&w, &m);
	emit_request("order", PROTO_OP_ORDER, "over-location", 0);
}

static void seeds_group(void)
{
	struct proto_group_req m;

	memcpy(m.key, request_key, sizeof m.key);
	m.ref = ref_text(PROTO_REF_EMAIL, C("ana.lima@example.com"));
	m.add = 1;
	m.group = C("vip");
	body_begin();
	proto_group_req_encode(&w, &m);
	emit_request("group", PROTO_OP_GROUP, "add", 1);
	m.ref = ref_id(1);
	m.add = 0;
	body_begin();
	proto_group_req_encode(&w, &m);
	emit_request("group", PROTO_OP_GROUP, "remove", 0);
	m.ref = ref_text(PROTO_REF_PHONE, S(PROTO_MAX_PHONE));
	m.group = S(PROTO_MAX_GROUP);
	body_begin();
	proto_group_req_encode(&w, &m);
	emit_request("group", PROTO_OP_GROUP, "max", 0);
	m.add = 2;
	body_begin();
	proto_group_req_encode(&w, &m);
	emit_request("group", PROTO_OP_GROUP, "bad-add", 0);
}

/* The customer book: EDIT, CARD and OPTOUT, typical, at the limits, and one field out of range each. */
static void seeds_book(void)
{
	struct proto_edit_req e;
	struct proto_card_req k;
	struct proto_optout_req o;

	memcpy(e.key, request_key, sizeof e.key);
	e.ref = ref_id(1);
	e.fields = PROTO_EDIT_EMAIL | PROTO_EDIT_LAST;
	e.email = C("ana@lima.example");
	e.phone = e.first_name = C("");
	e.last_name = C("Lima Souza");
	body_begin();
	proto_edit_req_encode(&w, &e);
	emit_request("edit", PROTO_OP_EDIT, "email-last", 1);
	e.ref = ref_text(PROTO_REF_CARD, S(PROTO_MAX_CARD));
	e.fields = PROTO_EDIT_ALL;
	e.email = S(PROTO_MAX_EMAIL);
	e.phone = S(PROTO_MAX_PHONE);
	e.first_name = e.last_name = S(PROTO_MAX_NAME);
	body_begin();
	proto_edit_req_encode(&w, &e);
	emit_request("edit", PROTO_OP_EDIT, "max", 0);
	e.fields = 0;
	body_begin();
	proto_edit_req_encode(&w, &e);
	emit_request("edit", PROTO_OP_EDIT, "no-fields", 0);

	memcpy(k.key, request_key, sizeof k.key);
	k.ref = ref_text(PROTO_REF_EMAIL, C("ana.lima@example.com"));
	k.link = 1;
	k.card = C("4000 1234 5678 9010");
	body_begin();
	proto_card_req_encode(&w, &k);
	emit_request("card", PROTO_OP_CARD, "link", 1);
	k.ref = ref_text(PROTO_REF_CARD, C("4000123456789010"));
	k.link = 0;
	k.card = S(PROTO_MAX_CARD);
	body_begin();
	proto_card_req_encode(&w, &k);
	emit_request("card", PROTO_OP_CARD, "unlink-max", 0);
	k.link = 2;
	body_begin();
	proto_card_req_encode(&w, &k);
	emit_request("card", PROTO_OP_CARD, "bad-link", 0);

	memcpy(o.key, request_key, sizeof o.key);
	o.ref = ref_text(PROTO_REF_PHONE, C("+15550100001"));
	o.opted_out = 1;
	o.source = C("sms STOP");
	body_begin();
	proto_optout_req_encode(&w, &o);
	emit_request("optout", PROTO_OP_OPTOUT, "out", 1);
	o.opted_out = 0;
	o.source = C("");
	body_begin();
	proto_optout_req_encode(&w, &o);
	emit_request("optout", PROTO_OP_OPTOUT, "in", 0);
	o.source = S(PROTO_MAX_OPTOUT_SOURCE + 1);
	body_begin();
	proto_optout_req_encode(&w, &o);
	emit_request("optout", PROTO_OP_OPTOUT, "over-source", 0);

	{
		struct proto_archive_req a;
		struct proto_merge_req m;

		memcpy(a.key, request_key, sizeof a.key);
		a.ref = ref_text(PROTO_REF_EMAIL, C("ana.lima@example.com"));
		body_begin();
		proto_archive_req_encode(&w, &a);
		emit_request("archive", PROTO_OP_ARCHIVE, "email", 1);
		memcpy(m.key, request_key, sizeof m.key);
		m.keep = ref_id(1);
		m.drop = ref_text(PROTO_REF_CARD, S(PROTO_MAX_CARD));
		body_begin();
		proto_merge_req_encode(&w, &m);
		emit_request("merge", PROTO_OP_MERGE, "id-card", 1);
	}
}

/* Groups and locations: GROUPS and LOCATIONS pages, GROUP_RENAME; typical, at the limits, and over them. */
static void seeds_places(void)
{
	struct proto_places_req p;
	struct proto_group_rename_req g;

	p.after = C("");
	body_begin();
	proto_places_req_encode(&w, &p);
	emit_request("groups", PROTO_OP_GROUPS, "first", 1);
	body_begin();
	proto_places_req_encode(&w, &p);
	emit_request("locations", PROTO_OP_LOCATIONS, "first", 1);
	p.after = S(PROTO_MAX_GROUP);
	body_begin();
	proto_places_req_encode(&w, &p);
	emit_request("groups", PROTO_OP_GROUPS, "max", 0);
	p.after = S(PROTO_MAX_LOCATION + 1);
	body_begin();
	proto_places_req_encode(&w, &p);
	emit_request("locations", PROTO_OP_LOCATIONS, "over-after", 0);

	memcpy(g.key, request_key, sizeof g.key);
	g.from = C("vip");
	g.to = C("gold-club");
	body_begin();
	proto_group_rename_req_encode(&w, &g);
	emit_request("group_rename", PROTO_OP_GROUP_RENAME, "typical", 1);
	g.from = g.to = S(PROTO_MAX_GROUP);
	body_begin();
	proto_group_rename_req_encode(&w, &g);
	emit_request("group_rename", PROTO_OP_GROUP_RENAME, "max", 0);
	g.to = S(PROTO_MAX_GROUP + 1);
	body_begin();
	proto_group_rename_req_encode(&w, &g);
	emit_request("group_rename", PROTO_OP_GROUP_RENAME, "over-to", 0);
}

static void seeds_tier(void)
{
	struct proto_tier_req m;

	memcpy(m.key, request_key, sizeof m.key);
	m.ref = ref_text(PROTO_REF_EMAIL, C("ana.lima@example.com"));
	m.tier = C("gold");
	m.note = C("over 500.00 this year");
	body_begin();
	proto_tier_req_encode(&w, &m);
	emit_request("tier", PROTO_OP_TIER, "typical", 1);
	m.ref = ref_id(1);
	m.tier = m.note = C("");
	body_begin();
	proto_tier_req_encode(&w, &m);
	emit_request("tier", PROTO_OP_TIER, "empty", 0);
	m.tier = S(PROTO_MAX_TIER);
	m.note = S(PROTO_MAX_REASON);
	body_begin();
	proto_tier_req_encode(&w, &m);
	emit_request("tier", PROTO_OP_TIER, "max", 0);
}

static void seeds_program_set(void)
{
	struct proto_program_set_req m;

	memcpy(m.key, request_key, sizeof m.key);
	m.name = C("earn.points");
	m.value = C("5");
	body_begin();
	proto_program_set_req_encode(&w, &m);
	emit_request("program_set", PROTO_OP_PROGRAM_SET, "typical", 1);
	m.name = C("multiplier.group.vip");
	m.value = C("");
	body_begin();
	proto_program_set_req_encode(&w, &m);
	emit_request("program_set", PROTO_OP_PROGRAM_SET, "empty-value", 0);
	m.name = S(PROTO_MAX_SETTING_KEY);
	m.value = S(PROTO_MAX_SETTING_VALUE);
	body_begin();
	proto_program_set_req_encode(&w, &m);
	emit_request("program_set", PROTO_OP_PROGRAM_SET, "max", 0);
	m.value = S(PROTO_MAX_SETTING_VALUE + 1);
	body_begin();
	proto_program_set_req_encode(&w, &m);
	emit_request("program_set", PROTO_OP_PROGRAM_SET, "over-value", 0);
}

static void seeds_adjust(void)
{
	struct proto_adjust_req m;

	memcpy(m.key, request_key, sizeof m.key);
	m.ref = ref_id(1);
	m.points = 25;
	m.reason = C("birthday");
	m.comment = C("Happy birthday from the team");
	body_begin();
	proto_adjust_req_encode(&w, &m);
	emit_request("adjust", PROTO_OP_ADJUST, "add", 1);
	m.ref = ref_text(PROTO_REF_PHONE, C("+15550100001"));
	m.points = -30;
	m.reason = m.comment = C("");
	body_begin();
	proto_adjust_req_encode(&w, &m);
	emit_request("adjust", PROTO_OP_ADJUST, "use", 0);
	m.ref = ref_text(PROTO_REF_EMAIL, S(PROTO_MAX_EMAIL));
	m.points = INT64_MIN;
	m.reason = m.comment = S(PROTO_MAX_REASON);
	body_begin();
	proto_adjust_req_encode(&w, &m);
	emit_request("adjust", PROTO_OP_ADJUST, "max", 0);
}

static void seeds_customers(void)
{
	struct proto_customers_req m;

	memset(&m, 0, sizeof m);
	m.sort = PROTO_SORT_CREATED;
	m.desc = 1;
	m.flags = PROTO_LIST_TOTAL;
	m.limit = 50;
	m.search = m.group = m.tier = m.after = C("");
	body_begin();
	proto_customers_req_encode(&w, &m);
	emit_request("customers", PROTO_OP_CUSTOMERS, "typical", 1);
	m.sort = PROTO_SORT_NAME;
	m.desc = 0;
	m.flags = PROTO_LIST_FLAGS;
	m.member = PROTO_LIST_MEMBERS;
	m.min_points = -5;
	m.max_points = INT64_MAX;
	m.limit = PROTO_MAX_PAGE;
	m.search = C("(555) 010-0002");
	m.group = C("vip");
	m.tier = C("gold");
	m.after = C("name:asc:6c696d6100616e61:42");
	body_begin();
	proto_customers_req_encode(&w, &m);
	emit_request("customers", PROTO_OP_CUSTOMERS, "every-filter", 0);
	m.search = S(PROTO_MAX_SEARCH);
	m.after = S(PROTO_MAX_CURSOR);
	body_begin();
	proto_customers_req_encode(&w, &m);
	emit_request("customers", PROTO_OP_CUSTOMERS, "max", 0);
	m.sort = PROTO_SORT_MAX + 1;
	body_begin();
	proto_customers_req_encode(&w, &m);
	emit_request("customers", PROTO_OP_CUSTOMERS, "bad-sort", 0);
	m.sort = PROTO_SORT_ID;
	m.limit = PROTO_MAX_PAGE + 1;
	body_begin();
	proto_customers_req_encode(&w, &m);
	emit_request("customers", PROTO_OP_CUSTOMERS, "over-limit", 0);
}

static void seeds_history(void)
{
	struct proto_history_req m;

	m.ref = ref_id(1);
	m.before_seq = 0;
	m.limit = 20;
	body_begin();
	proto_history_req_encode(&w, &m);
	emit_request("history", PROTO_OP_HISTORY, "typical", 1);
	m.ref = ref_text(PROTO_REF_EMAIL, C("ana.lima@example.com"));
	m.before_seq = 99;
	m.limit = PROTO_MAX_HISTORY;
	body_begin();
	proto_history_req_encode(&w, &m);
	emit_request("history", PROTO_OP_HISTORY, "max-limit", 0);
	m.limit = 1;
	body_begin();
	proto_history_req_encode(&w, &m);
	emit_request("history", PROTO_OP_HISTORY, "limit-1", 0);
	m.limit = 0;
	body_begin();
	proto_history_req_encode(&w, &m);
	emit_request("history", PROTO_OP_HISTORY, "limit-0", 0);
	m.limit = PROTO_MAX_HISTORY + 1;
	body_begin();
	proto_history_req_encode(&w, &m);
	emit_request("history", PROTO_OP_HISTORY, "over-limit", 0);
}

static void seeds_key_create(void)
{
	struct proto_key_create_req m;

	memcpy(m.key, request_key, sizeof m.key);
	m.role = PROTO_ROLE_TERMINAL;
	m.location = C("store-1");
	body_begin();
	proto_key_create_req_encode(&w, &m);
	emit_request("key_create", PROTO_OP_KEY_CREATE, "terminal", 1);
	m.role = PROTO_ROLE_ADMIN;
	m.location = C("");
	body_begin();
	proto_key_create_req_encode(&w, &m);
	emit_request("key_create", PROTO_OP_KEY_CREATE, "admin", 0);
	m.role = PROTO_ROLE_READONLY;
	m.location = S(PROTO_MAX_LOCATION);
	body_begin();
	proto_key_create_req_encode(&w, &m);
	emit_request("key_create", PROTO_OP_KEY_CREATE, "readonly-max", 0);
	m.role = 4;
	body_begin();
	proto_key_create_req_encode(&w, &m);
	emit_request("key_create", PROTO_OP_KEY_CREATE, "bad-role", 0);
}

static void seeds_key_revoke(void)
{
	struct proto_key_revoke_req m;

	memcpy(m.key, request_key, sizeof m.key);
	m.key_id = 2;
	body_begin();
	proto_key_revoke_req_encode(&w, &m);
	emit_request("key_revoke", PROTO_OP_KEY_REVOKE, "typical", 1);
	m.key_id = UINT64_MAX;
	body_begin();
	proto_key_revoke_req_encode(&w, &m);
	emit_request("key_revoke", PROTO_OP_KEY_REVOKE, "max-id", 0);
}

static void seeds_batch(void)
{
	/* One sale. */
	body_begin();
	proto_batch_req_put_header(&w, 1);
	accrue_shape(0);
	proto_batch_req_put_item(&w, &accrue_m);
	emit_request("batch", PROTO_OP_ACCRUE_BATCH, "one", 1);

	/* Three shapes, the last an item that does not decode as an ACCRUE. */
	body_begin();
	proto_batch_req_put_header(&w, 4);
	for (int i = 0; i < 3; i++) {
		accrue_shape(i);
		proto_batch_req_put_item(&w, &accrue_m);
	}
	accrue_shape(4);
	proto_batch_req_put_item(&w, &accrue_m);
	emit_request("batch", PROTO_OP_ACCRUE_BATCH, "mixed", 1);

	/* A hundred sales as accruectl batch sends them. */
	body_begin();
	proto_batch_req_put_header(&w, 100);
	for (int i = 0; i < 100; i++) {
		char order[32];
		accrue_shape(0);
		accrue_m.key[1] = (uint8_t)i;
		snprintf(order, sizeof order, "B-%d", i);
		accrue_m.sale.order_id = C(order);
		proto_batch_req_put_item(&w, &accrue_m);
	}
	emit_request("batch", PROTO_OP_ACCRUE_BATCH, "hundred", 0);

	/* An empty item, a count of zero, and a stray byte after the last item. */
	body_begin();
	proto_batch_req_put_header(&w, 1);
	proto_put_u32(&w, 0);
	emit_request("batch", PROTO_OP_ACCRUE_BATCH, "empty-item", 0);
	body_begin();
	proto_batch_req_put_header(&w, 0);
	emit_request("batch", PROTO_OP_ACCRUE_BATCH, "count-0", 0);
	body_begin();
	proto_batch_req_put_header(&w, 1);
	accrue_shape(0);
	proto_batch_req_put_item(&w, &accrue_m);
	proto_put_u8(&w, 0);
	emit_request("batch", PROTO_OP_ACCRUE_BATCH, "stray-byte", 0);
}

/* ---- replies --------------------------------------------------------- */

static struct proto_customer customer_m;

/* PROTOCOL.md's worked example customer, or every string at its limit. */
static void customer_shape(int max)
{
	struct proto_customer *c = &customer_m;

	memset(c, 0, sizeof *c);
	c->id = 42;
	c->balance = c->lifetime_points = 123;
	c->visits = 1;
	c->total_spend = 12345;
	c->created_us = 1700000000000000;
	c->last_visit_us = 1700000100000000;
	c->member = 1;
	if (!max) {
		c->email = C("ann@example.com");
		c->phone = C("");
		c->first_name = C("Ann");
		c->last_name = C("Lee");
		c->tier = C("gold");
		c->ngroups = 1;
		c->groups[0] = C("staff");
		c->opted_out = 1;
		c->optout_us = 1700000200000000;
		c->optout_source = C("sms STOP");
		c->ncards = 1;
		c->cards[0] = C("4000123456789010");
		return;
	}
	c->email = S(PROTO_MAX_EMAIL);
	c->phone = S(PROTO_MAX_PHONE);
	c->first_name = c->last_name = S(PROTO_MAX_NAME);
	c->tier = S(PROTO_MAX_TIER);
	c->ngroups = PROTO_MAX_GROUPS;
	for (int i = 0; i < PROTO_MAX_GROUPS; i++)
		c->groups[i] = S(PROTO_MAX_GROUP);
	c->opted_out = 1;
	c->optout_source = S(PROTO_MAX_OPTOUT_SOURCE);
	c->ncards = PROTO_MAX_CARDS;
	for (int i = 0; i < PROTO_MAX_CARDS; i++)
		c->cards[i] = S(PROTO_MAX_CARD);
}

static struct proto_quote_rep quote_rep_m;
static struct proto_order_rep order_rep_m;

static void seeds_replies(void)
{
	static const uint8_t empty_ops[] = {PROTO_OP_PING, PROTO_OP_KEY_REVOKE, PROTO_OP_PROGRAM_SET};
	struct proto_hello_rep hello = {PROTO_ROLE_TERMINAL, 2, C("store-1"), PROTO_MAX_BODY_DEFAULT, 64,
					1700000000000000};
	struct proto_change_rep change;
	struct proto_return_rep ret;
	struct proto_key_create_rep key = {2, PROTO_ROLE_TERMINAL, C("store-1"),
					   C("ak_2_bb391ab5fcae723739f08ad45f4021d4804cd7ac76e42c90")};
	struct proto_batch_item item;
	struct proto_entry e;
	struct proto_key_info k;
	char name[64];

	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_hello_rep_encode(&w, &hello);
	emit_reply(PROTO_OP_HELLO, "hello", 1);

	for (int max = 0; max <= 1; max++) {
		static const uint8_t customer_ops[] = {PROTO_OP_ENROL, PROTO_OP_LOOKUP, PROTO_OP_GROUP, PROTO_OP_TIER,
						       PROTO_OP_EDIT,  PROTO_OP_CARD,   PROTO_OP_OPTOUT};
		customer_shape(max);
		for (size_t i = 0; i < sizeof customer_ops; i++) {
			body_begin();
			proto_reply_put_status(&w, PROTO_OK);
			proto_customer_rep_encode(&w, &customer_m);
			snprintf(name, sizeof name, "customer-%s-%s", proto_opcode_name(customer_ops[i]), max ? "max" : "typical");
			emit_reply(customer_ops[i], name, !max && i == 1);
		}
	}

	customer_shape(0);
	change.seq = 3;
	change.points = 42;
	change.customer = customer_m;
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_change_rep_encode(&w, &change);
	emit_reply(PROTO_OP_ACCRUE, "change", 1);
	change.points = -30;
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_change_rep_encode(&w, &change);
	emit_reply(PROTO_OP_ADJUST, "change-adjust", 0);

	ret.seq = 12;
	ret.points = -18;
	ret.shortfall = 0;
	ret.refunded = 350;
	ret.customer = customer_m;
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_return_rep_encode(&w, &ret);
	emit_reply(PROTO_OP_RETURN, "return", 1);

	quote_rep_m.earned = 57;
	quote_rep_m.qualifying = 1150;
	quote_rep_m.qualifying_items = 3;
	quote_rep_m.multiplier = 10000;
	quote_rep_m.unit = PROTO_UNIT_POINTS;
	quote_rep_m.nlines = 3;
	quote_rep_m.line_earned[0] = 35;
	quote_rep_m.line_earned[1] = 22;
	quote_rep_m.line_earned[2] = 0;
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_quote_rep_encode(&w, &quote_rep_m);
	emit_reply(PROTO_OP_QUOTE, "quote", 1);
	quote_rep_m.unit = PROTO_UNIT_STAMPS;
	quote_rep_m.nlines = PROTO_MAX_LINES;
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_quote_rep_encode(&w, &quote_rep_m);
	emit_reply(PROTO_OP_QUOTE, "quote-max", 0);

	order_rep_m.customer_id = 1;
	order_rep_m.seq = 11;
	order_rep_m.time_us = 1700000000000000;
	order_rep_m.location = C("store-1");
	order_rep_m.order_id = C("C-2001");
	order_rep_m.amount = 3650;
	order_rep_m.earned = 57;
	order_rep_m.refunded = 350;
	order_rep_m.taken_back = 18;
	order_rep_m.multiplier = 10000;
	order_rep_m.nlines = 2;
	order_rep_m.lines[0].sku = C("COF-1");
	order_rep_m.lines[0].category = C("coffee");
	order_rep_m.lines[0].qty = 2;
	order_rep_m.lines[0].amount = 700;
	order_rep_m.lines[0].earned = 35;
	order_rep_m.lines[0].refunded_qty = 1;
	order_rep_m.lines[0].refunded = 350;
	order_rep_m.lines[1].sku = C("GIFT-25");
	order_rep_m.lines[1].category = C("");
	order_rep_m.lines[1].qty = 1;
	order_rep_m.lines[1].amount = 2500;
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_order_rep_encode(&w, &order_rep_m);
	emit_reply(PROTO_OP_ORDER, "order", 1);
	order_rep_m.location = S(PROTO_MAX_LOCATION);
	order_rep_m.order_id = S(PROTO_MAX_ORDER);
	order_rep_m.nlines = PROTO_MAX_LINES;
	for (int i = 0; i < PROTO_MAX_LINES; i++) {
		order_rep_m.lines[i].sku = S(PROTO_MAX_SKU);
		order_rep_m.lines[i].category = S(PROTO_MAX_CATEGORY);
	}
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_order_rep_encode(&w, &order_rep_m);
	emit_reply(PROTO_OP_ORDER, "order-max", 0);

	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_key_create_rep_encode(&w, &key);
	emit_reply(PROTO_OP_KEY_CREATE, "key-create", 1);
	key.secret = C(""); /* a replay: the secret is shown once */
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_key_create_rep_encode(&w, &key);
	emit_reply(PROTO_OP_KEY_CREATE, "key-create-replay", 0);

	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_batch_rep_put_header(&w, 2);
	memset(&item, 0, sizeof item);
	item.status = PROTO_OK;
	item.seq = 3;
	item.points = 42;
	item.customer_id = 1;
	item.balance = 42;
	item.message = C("");
	proto_batch_item_put(&w, &item);
	memset(&item, 0, sizeof item);
	item.status = PROTO_ST_DUPLICATE_ORDER;
	item.replay = 1;
	item.message = C("order \"A-1001\" at location \"store-1\" was already accrued (journal entry 3)");
	proto_batch_item_put(&w, &item);
	emit_reply(PROTO_OP_ACCRUE_BATCH, "batch", 1);

	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_history_rep_put_header(&w, 2, 3);
	memset(&e, 0, sizeof e);
	e.location = e.order_id = e.reason = e.comment = e.detail = C("");
	e.seq = 5;
	e.type = PROTO_ENTRY_ADJUST;
	e.time_us = 1700000000000000;
	e.points = -30;
	e.balance_after = 37;
	e.reason = C("free coffee");
	e.comment = C("Manual adjustments");
	proto_entry_put(&w, &e);
	e.seq = 3;
	e.type = PROTO_ENTRY_ACCRUE;
	e.points = 42;
	e.balance_after = 42;
	e.amount = 4250;
	e.location = C("store-1");
	e.order_id = C("A-1001");
	e.reason = e.comment = C("");
	proto_entry_put(&w, &e);
	e.seq = 2;
	e.type = PROTO_ENTRY_ENROL;
	e.points = e.balance_after = e.amount = 0;
	e.location = e.order_id = C("");
	e.detail = C("enrolled as a member");
	proto_entry_put(&w, &e);
	emit_reply(PROTO_OP_HISTORY, "history", 1);
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_history_rep_put_header(&w, 0, 0);
	emit_reply(PROTO_OP_HISTORY, "history-empty", 0);

	{
		struct proto_customer cu;

		memset(&cu, 0, sizeof cu);
		cu.id = 7;
		cu.email = C("ana.lima@example.com");
		cu.phone = C("+15550100002");
		cu.first_name = C("Ana");
		cu.last_name = C("Lima");
		cu.balance = 120;
		cu.member = 1;
		cu.tier = C("");
		body_begin();
		proto_reply_put_status(&w, PROTO_OK);
		proto_customers_rep_put_header(&w, 2, C("created:desc:1700000000000000:7"), 1);
		proto_customer_put(&w, &cu);
		emit_reply(PROTO_OP_CUSTOMERS, "customers", 1);
		body_begin();
		proto_reply_put_status(&w, PROTO_OK);
		proto_customers_rep_put_header(&w, PROTO_TOTAL_UNKNOWN, C(""), 0);
		emit_reply(PROTO_OP_CUSTOMERS, "customers-empty", 0);
	}

	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_key_list_rep_put_header(&w, 2);
	k.id = 1;
	k.role = PROTO_ROLE_ADMIN;
	k.revoked = 0;
	k.created_us = 1700000000000000;
	k.location = C("");
	proto_key_info_put(&w, &k);
	k.id = 2;
	k.role = PROTO_ROLE_TERMINAL;
	k.revoked = 1;
	k.location = S(PROTO_MAX_LOCATION);
	proto_key_info_put(&w, &k);
	emit_reply(PROTO_OP_KEY_LIST, "key-list", 1);

	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_program_rep_put_header(&w, 3);
	proto_setting_put(&w, C("earn.points"), C("5"));
	proto_setting_put(&w, C("exclude.categories"), C("gift-cards"));
	proto_setting_put(&w, S(PROTO_MAX_SETTING_KEY), S(PROTO_MAX_SETTING_VALUE));
	emit_reply(PROTO_OP_PROGRAM_GET, "program", 1);

	{
		struct proto_group_info g = {C("vip"), 3};
		static struct proto_location_info l;
		struct proto_group_rename_rep gr = {2, 4};

		body_begin();
		proto_reply_put_status(&w, PROTO_OK);
		proto_places_rep_put_header(&w, 1, 2);
		proto_group_info_put(&w, &g);
		g.name = S(PROTO_MAX_GROUP);
		proto_group_info_put(&w, &g);
		emit_reply(PROTO_OP_GROUPS, "groups", 1);
		memset(&l, 0, sizeof l);
		l.name = C("store-1");
		l.sales = 12;
		l.amount = 15500;
		l.points = 155;
		l.refunded = 400;
		l.taken_back = 4;
		l.last_seq = 40;
		l.last_us = 1700000000000000;
		l.nkeys_total = 2;
		l.nkeys = 2;
		l.keys[0] = 2;
		l.keys[1] = 5;
		body_begin();
		proto_reply_put_status(&w, PROTO_OK);
		proto_places_rep_put_header(&w, 0, 2);
		proto_location_info_put(&w, &l);
		l.name = S(PROTO_MAX_LOCATION);
		l.nkeys_total = 1000;
		l.nkeys = PROTO_MAX_PLACE_KEYS;
		proto_location_info_put(&w, &l);
		emit_reply(PROTO_OP_LOCATIONS, "locations", 1);
		body_begin();
		proto_reply_put_status(&w, PROTO_OK);
		proto_group_rename_rep_encode(&w, &gr);
		emit_reply(PROTO_OP_GROUP_RENAME, "group-rename", 1);
	}

	for (size_t i = 0; i < sizeof empty_ops; i++) {
		body_begin();
		proto_reply_put_status(&w, PROTO_OK);
		snprintf(name, sizeof name, "empty-%s", proto_opcode_name(empty_ops[i]));
		emit_reply(empty_ops[i], name, i == 0);
	}

	/* PROTOCOL.md's worked example: LOOKUP's NOT_FOUND reply. */
	body_begin();
	proto_reply_error_encode(&w, PROTO_ST_NOT_FOUND, C("no such customer"));
	emit_reply(PROTO_OP_LOOKUP, "error-not-found", 1);
	body_begin();
	proto_reply_error_encode(&w, PROTO_ST_BAD_REQUEST, S(PROTO_MAX_MESSAGE));
	emit_reply(PROTO_OP_ACCRUE, "error-max", 0);
}

/* ---- frames that are not one whole request or reply ------------------ */

static void seeds_frames(void)
{
	static uint8_t stream[1024];
	struct proto_hello_req hello = {PROTO_VERSION, C("test")};
	struct proto_lookup_req lookup = {{PROTO_REF_EMAIL, 0, {"ann@example.com", 15}}};
	size_t n = 0, f;

	/* HELLO, LOOKUP and PING back to back, as one read might bring them. */
	body_begin();
	proto_hello_req_encode(&w, &hello);
	f = frame_of_body(PROTO_OP_HELLO, 0, 1);
	memcpy(stream + n, out, f);
	n += f;
	body_begin();
	proto_lookup_req_encode(&w, &lookup);
	f = frame_of_body(PROTO_OP_LOOKUP, 0, 2);
	memcpy(stream + n, out, f);
	n += f;
	body_begin();
	f = frame_of_body(PROTO_OP_PING, 0, 3);
	memcpy(stream + n, out, f);
	n += f;
	write_seed("frame", "stream-three", stream, n);
	/* The same cut inside the third frame's header, and inside the second's body. */
	write_seed("frame", "stream-cut-header", stream, n - 10);
	write_seed("frame", "stream-cut-body", stream, n - PROTO_HEADER_SIZE - 5);

	/* PROTOCOL.md's worked examples, byte for byte (HELLO is request-hello-typical). */
	body_begin();
	proto_lookup_req_encode(&w, &lookup);
	f = frame_of_body(PROTO_OP_LOOKUP, 0, 2);
	write_seed("frame", "example-lookup", out, f);
	body_begin();
	proto_reply_error_encode(&w, PROTO_ST_NOT_FOUND, C("no such customer"));
	f = frame_of_body(PROTO_OP_LOOKUP, PROTO_FLAG_REPLY, 2);
	write_seed("frame", "example-lookup-not-found", out, f);
	customer_shape(0);
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_customer_rep_encode(&w, &customer_m);
	f = frame_of_body(PROTO_OP_LOOKUP, PROTO_FLAG_REPLY, 2);
	write_seed("frame", "example-lookup-customer", out, f);
	memset(&quote_m.ref, 0, sizeof quote_m.ref);
	quote_m.ref.text = C("");
	quote_m.sale.location = quote_m.sale.order_id = C("");
	quote_m.sale.time_us = 0;
	quote_m.sale.amount = 12345;
	quote_m.sale.nlines = 0;
	body_begin();
	proto_quote_req_encode(&w, &quote_m);
	f = frame_of_body(PROTO_OP_QUOTE, 0, 3);
	write_seed("frame", "example-quote", out, f);

	/* A whole header of a frame whose body has not arrived. */
	body_begin();
	proto_lookup_req_encode(&w, &lookup);
	f = frame_of_body(PROTO_OP_LOOKUP, 0, 4);
	write_seed("frame", "header-only", out, PROTO_HEADER_SIZE);

	/* A replayed reply (REPLY | REPLAY). */
	customer_shape(0);
	body_begin();
	proto_reply_put_status(&w, PROTO_OK);
	proto_customer_rep_encode(&w, &customer_m);
	f = frame_of_body(PROTO_OP_ENROL, PROTO_FLAG_REPLY | PROTO_FLAG_REPLAY, 5);
	write_seed("frame", "reply-replayed", out, f);

	/* Refused headers: too large, unknown flags, wrong checksum, version, magic. */
	body_begin();
	f = frame_of_body(PROTO_OP_PING, 0, 6);
	out[12] = 0x01;
	out[13] = 0x00;
	out[14] = 0x00;
	out[15] = 0x01; /* 16 MiB + 1 */
	write_seed("frame", "too-large", out, f);
	body_begin();
	f = frame_of_body(PROTO_OP_PING, 0x0004, 7);
	write_seed("frame", "bad-flags", out, f);
	body_begin();
	proto_lookup_req_encode(&w, &lookup);
	f = frame_of_body(PROTO_OP_LOOKUP, 0, 8);
	out[f - 1] ^= 0x01;
	write_seed("frame", "bad-checksum", out, f);
	body_begin();
	f = frame_of_body(PROTO_OP_PING, 0, 9);
	out[4] = 2;
	write_seed("frame", "bad-version", out, f);
	write_seed("frame", "http", (const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
}

/* ---- journal records and snapshots ----------------------------------- */

static struct record rec;

static void emit_record(const char *name, uint64_t seq)
{
	size_t n;

	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(seq >> (8 * i));
	n = record_encode(out + 8, RECORD_MAX_SIZE, seq, &rec);
	if (n == 0) {
		fprintf(stderr, "fuzz_seeds: record %s does not encode\n", name);
		exit(1);
	}
	write_seed("record", name, out, 8 + n);
}

static void record_begin(uint8_t type, uint64_t customer_id)
{
	memset(&rec, 0, sizeof rec);
	rec.type = type;
	rec.time_us = 1700000000000000;
	rec.customer_id = customer_id;
	rec.prev_seq = customer_id ? 1 : 0;
	memcpy(rec.request_key, request_key, PROTO_KEY_SIZE);
	rec.body_hash = 0x0123456789abcdefull;
}

static void rlines(struct record_line *lines, uint16_t n, uint32_t len)
{
	for (uint16_t i = 0; i < n; i++) {
		lines[i].sku = S(len);
		lines[i].category = S(len);
		lines[i].qty = 1;
		lines[i].amount = 100;
		lines[i].earned = 1;
	}
}

static void seeds_records(void)
{
	record_begin(PROTO_ENTRY_ENROL, 1);
	rec.u.enrol.email = C("ana.lima@example.com");
	rec.u.enrol.phone = C("+15550100001");
	rec.u.enrol.first_name = C("Ana");
	rec.u.enrol.last_name = C("Lima");
	rec.u.enrol.member = 1;
	emit_record("enrol", 1);
	rec.u.enrol.first_name = rec.u.enrol.last_name = rec.u.enrol.phone = C("");
	rec.u.enrol.member = 0;
	memset(rec.request_key, 0, PROTO_KEY_SIZE);
	rec.body_hash = 0;
	emit_record("enrol-guest", 2);
	record_begin(PROTO_ENTRY_JOIN, 1);
	rec.u.enrol.email = S(PROTO_MAX_EMAIL);
	rec.u.enrol.phone = S(PROTO_MAX_PHONE);
	rec.u.enrol.first_name = rec.u.enrol.last_name = S(PROTO_MAX_NAME);
	rec.u.enrol.member = 1;
	emit_record("join-max", UINT64_MAX);

	record_begin(PROTO_ENTRY_ACCRUE, 1);
	rec.u.accrue.location = C("store-1");
	rec.u.accrue.order_id = C("C-2001");
	rec.u.accrue.amount = 3650;
	rec.u.accrue.points = 57;
	rec.u.accrue.balance_after = 57;
	rec.u.accrue.multiplier = 10000;
	rec.u.accrue.nlines = 3;
	rlines(rec.u.accrue.lines, 3, 5);
	emit_record("accrue", 11);
	rec.u.accrue.nlines = 0;
	emit_record("accrue-no-lines", 12);
	rec.u.accrue.location = S(PROTO_MAX_LOCATION);
	rec.u.accrue.order_id = S(PROTO_MAX_ORDER);
	rec.u.accrue.nlines = PROTO_MAX_LINES;
	rlines(rec.u.accrue.lines, PROTO_MAX_LINES, PROTO_MAX_SKU);
	emit_record("accrue-max", 13);

	record_begin(PROTO_ENTRY_ADJUST, 1);
	rec.u.adjust.points = 25;
	rec.u.adjust.balance_after = 67;
	rec.u.adjust.reason = C("birthday");
	rec.u.adjust.comment = C("");
	emit_record("adjust", 4);

	record_begin(PROTO_ENTRY_KEY_CREATE, 0);
	rec.u.key_create.key_id = 2;
	rec.u.key_create.role = PROTO_ROLE_TERMINAL;
	rec.u.key_create.location = C("store-1");
	memset(rec.u.key_create.hash, 0x5a, RECORD_HASH_SIZE);
	emit_record("key-create", 6);
	record_begin(PROTO_ENTRY_KEY_REVOKE, 0);
	rec.u.key_revoke.key_id = 2;
	emit_record("key-revoke", 7);

	record_begin(PROTO_ENTRY_RETURN, 1);
	rec.u.ret.location = C("store-1");
	rec.u.ret.order_id = C("C-2001");
	rec.u.ret.sale_seq = 11;
	rec.u.ret.prev_return_seq = 0;
	rec.u.ret.refunded = 350;
	rec.u.ret.taken = 18;
	rec.u.ret.applied = 18;
	rec.u.ret.balance_after = 39;
	rec.u.ret.full = 0;
	rec.u.ret.nlines = 1;
	rlines(rec.u.ret.lines, 1, 5);
	rec.u.ret.lines[0].category = C("");
	emit_record("return", 14);
	/* The largest record that can be written (record.h: 40,177 bytes). */
	rec.u.ret.location = S(PROTO_MAX_LOCATION);
	rec.u.ret.order_id = S(PROTO_MAX_ORDER);
	rec.u.ret.full = 1;
	rec.u.ret.nlines = PROTO_MAX_LINES;
	rlines(rec.u.ret.lines, PROTO_MAX_LINES, PROTO_MAX_SKU);
	emit_record("return-max", 15);

	record_begin(PROTO_ENTRY_PROGRAM, 0);
	rec.u.program.name = C("earn.points");
	rec.u.program.value = C("5");
	emit_record("program", 8);
	rec.u.program.name = S(PROTO_MAX_SETTING_KEY);
	rec.u.program.value = S(PROTO_MAX_SETTING_VALUE);
	emit_record("program-max", 9);

	record_begin(PROTO_ENTRY_GROUP, 1);
	rec.u.group.add = 1;
	rec.u.group.group = C("vip");
	emit_record("group", 16);
	record_begin(PROTO_ENTRY_TIER, 1);
	rec.u.tier.tier = C("gold");
	rec.u.tier.note = C("over 500.00 this year");
	emit_record("tier", 17);
	record_begin(PROTO_ENTRY_EDIT, 1);
	rec.u.edit.fields = PROTO_EDIT_EMAIL;
	rec.u.edit.email = C("ana@lima.example");
	rec.u.edit.phone = rec.u.edit.first_name = rec.u.edit.last_name = C("");
	emit_record("edit", 18);
	record_begin(PROTO_ENTRY_CARD, 1);
	rec.u.card.link = 1;
	rec.u.card.card = C("4000123456789010");
	emit_record("card", 19);
	record_begin(PROTO_ENTRY_OPTOUT, 1);
	rec.u.optout.opted_out = 1;
	rec.u.optout.source = C("sms STOP");
	emit_record("optout", 20);
	record_begin(PROTO_ENTRY_GROUP_RENAME, 0);
	rec.u.group_rename.from = C("vip");
	rec.u.group_rename.to = C("gold-club");
	emit_record("group-rename", 21);
	record_begin(PROTO_ENTRY_ARCHIVE, 1);
	memset(&rec.u.archive, 0, sizeof rec.u.archive);
	emit_record("archive", 22);
	rec.u.archive.merged_into = 7;
	rec.u.archive.points = 120;
	rec.u.archive.lifetime = 300;
	rec.u.archive.spend = 4550;
	rec.u.archive.visits = 3;
	emit_record("archive-merged", 23);
	record_begin(PROTO_ENTRY_MERGE, 7);
	rec.u.merge.from = 1;
	rec.u.merge.points = 120;
	rec.u.merge.lifetime = 300;
	rec.u.merge.spend = 4550;
	rec.u.merge.visits = 3;
	rec.u.merge.last_visit_us = 1700000300000000;
	rec.u.merge.balance_after = 500;
	rec.u.merge.ngroups = 1;
	rec.u.merge.groups[0] = C("vip");
	rec.u.merge.ncards = 1;
	rec.u.merge.cards[0] = C("4000123456789010");
	emit_record("merge", 24);
	/* An enrolment erased by an archive: format 2, no personal data. */
	record_begin(PROTO_ENTRY_ENROL, 1);
	rec.u.enrol.email = rec.u.enrol.phone = rec.u.enrol.first_name = rec.u.enrol.last_name = C("");
	rec.u.enrol.member = 1;
	rec.erased = 1;
	emit_record("enrol-erased", 25);
}

/* A snapshot value in body[] as snapshot/<name>, after its selector byte. */
static void emit_snapshot(uint8_t kind, const char *name)
{
	body_check(name);
	out[0] = kind;
	memcpy(out + 1, body, w.len);
	write_seed("snapshot", name, out, 1 + w.len);
}

static void seeds_snapshots(void)
{
	struct record_customer c;
	struct record_order o = {1, 11, 3650, 57, 350, 18, 14, {"store-1\0C-2001", 14}};
	struct record_request r = {PROTO_OP_ACCRUE, 0x0123456789abcdefull, 11, 1, 57, {0}};
	struct record_apikey k = {PROTO_ROLE_TERMINAL, 0, 1700000000000000, {"store-1", 7}, {0}};

	for (int max = 0; max <= 1; max++) {
		customer_shape(max);
		c.c = customer_m;
		c.last_seq = 17;
		body_begin();
		record_customer_encode(&w, &c);
		emit_snapshot(0, max ? "customer-max" : "customer");
	}
	/* A format-1 customer, as checkpoints wrote it before the opt-out and
	 * the cards: the customer up to its groups, then last_seq. */
	customer_shape(0);
	body_begin();
	proto_put_u8(&w, 1);
	proto_customer_put(&w, &customer_m);
	w.len -= 1 + 8 + 2 + 8 + 1 + 2 + 16 + 1 + 8; /* the opt-out ("sms STOP"), one card of 16, archived */
	proto_put_u64(&w, 17);
	emit_snapshot(0, "customer-format-1");
	/* Format 2, before archive: up to the cards, then last_seq. */
	body_begin();
	proto_put_u8(&w, 2);
	proto_customer_put(&w, &customer_m);
	w.len -= 1 + 8; /* archived, merged_into */
	proto_put_u64(&w, 17);
	emit_snapshot(0, "customer-format-2");
	body_begin();
	record_order_encode(&w, &o);
	emit_snapshot(1, "order");
	o.key = S(PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER);
	body_begin();
	record_order_encode(&w, &o);
	emit_snapshot(1, "order-max");
	memcpy(r.key, request_key, PROTO_KEY_SIZE);
	body_begin();
	record_request_encode(&w, &r);
	emit_snapshot(2, "request");
	memset(k.hash, 0x5a, RECORD_HASH_SIZE);
	body_begin();
	record_apikey_encode(&w, &k);
	emit_snapshot(3, "apikey");
	k.revoked = 1;
	k.location = C("");
	body_begin();
	record_apikey_encode(&w, &k);
	emit_snapshot(3, "apikey-revoked");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 2;
	}
	root = argv[1];
	make_dir(root);
	for (size_t i = 0; i < sizeof letters; i++)
		letters[i] = (char)('a' + i % 26);

	seeds_hello();
	seeds_enrol();
	seeds_lookup();
	seeds_accrue();
	seeds_return();
	seeds_quote();
	seeds_order();
	seeds_group();
	seeds_tier();
	seeds_book();
	seeds_places();
	seeds_program_set();
	seeds_adjust();
	seeds_history();
	seeds_customers();
	seeds_key_create();
	seeds_key_revoke();
	seeds_batch();
	seeds_replies();
	seeds_frames();
	seeds_records();
	seeds_snapshots();
	printf("fuzz_seeds: %u seeds in %s\n", seeds_written, root);
	return 0;
}
