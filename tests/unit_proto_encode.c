/*
 * unit_proto_encode.c - every encoder refuses every buffer smaller than its
 * message, writing nothing past it, and fills one of the exact size; the
 * names of statuses, opcodes and codec errors. What the unit_proto_*.c
 * tests share, and why they work as they do: unit_proto/proto_samples.h.
 */
#include "check.h"
#include "proto.h"
#include "proto_samples.h"

/* ---- encoder overflow ------------------------------------------------ */

static int enc_hello_req(struct proto_wbuf *w) { return proto_hello_req_encode(w, &s_hello_req); }
static int enc_hello_rep(struct proto_wbuf *w) { return proto_hello_rep_encode(w, &s_hello_rep); }
static int enc_enrol_req(struct proto_wbuf *w)
{
	struct proto_enrol_req m = {.email = LIT("ann@example.com"), .phone = LIT("+1555"), .first_name = LIT("A"),
				    .last_name = LIT("L")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_enrol_req_encode(w, &m);
}
static int enc_lookup_req(struct proto_wbuf *w)
{
	struct proto_lookup_req m = {{PROTO_REF_EMAIL, 0, LIT("ann@example.com")}};
	return proto_lookup_req_encode(w, &m);
}
/* A sale with two lines, for the encoders of ACCRUE, QUOTE and ACCRUE_BATCH. */
static const struct proto_accrue_req *small_accrue(void)
{
	static struct proto_accrue_req m;
	memset(&m, 0, sizeof m);
	m.ref = (struct proto_ref){PROTO_REF_ID, 42, LIT("")};
	m.sale.location = proto_str_c("s1");
	m.sale.order_id = proto_str_c("o1");
	m.sale.time_us = 5;
	m.sale.amount = 100;
	m.sale.nlines = 2;
	sample_lines(m.sale.lines, 2, 0);
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return &m;
}
static int enc_accrue_req(struct proto_wbuf *w) { return proto_accrue_req_encode(w, small_accrue()); }
static int enc_return_req(struct proto_wbuf *w)
{
	static struct proto_return_req m;
	memset(&m, 0, sizeof m);
	m.location = proto_str_c("s1");
	m.order_id = proto_str_c("o1");
	m.nlines = 2;
	sample_lines(m.lines, 2, 0);
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_return_req_encode(w, &m);
}
static int enc_quote_req(struct proto_wbuf *w)
{
	static struct proto_quote_req m;
	m.ref = (struct proto_ref){PROTO_REF_EMAIL, 0, LIT("ann@example.com")};
	m.sale = small_accrue()->sale;
	return proto_quote_req_encode(w, &m);
}
static int enc_quote_anon_req(struct proto_wbuf *w)
{
	static struct proto_quote_req m;
	memset(&m.ref, 0, sizeof m.ref);
	m.ref.text = proto_str_c("");
	m.sale = small_accrue()->sale;
	return proto_quote_req_encode(w, &m);
}
static int enc_order_req(struct proto_wbuf *w)
{
	struct proto_order_req m = {LIT("s1"), LIT("o1")};
	return proto_order_req_encode(w, &m);
}
static int enc_group_req(struct proto_wbuf *w)
{
	struct proto_group_req m = {.ref = {PROTO_REF_ID, 42, LIT("")}, .add = 1, .group = LIT("vip")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_group_req_encode(w, &m);
}
static int enc_tier_req(struct proto_wbuf *w)
{
	struct proto_tier_req m = {.ref = {PROTO_REF_PHONE, 0, LIT("+1555")}, .tier = LIT("gold"), .note = LIT("n")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_tier_req_encode(w, &m);
}
static int enc_program_set_req(struct proto_wbuf *w)
{
	struct proto_program_set_req m = {.name = LIT("earn.points"), .value = LIT("2")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_program_set_req_encode(w, &m);
}
static int enc_batch_req(struct proto_wbuf *w)
{
	proto_batch_req_put_header(w, 2);
	proto_batch_req_put_item(w, small_accrue());
	return proto_batch_req_put_item(w, small_accrue());
}
static int enc_adjust_req(struct proto_wbuf *w)
{
	struct proto_adjust_req m = {.ref = {PROTO_REF_PHONE, 0, LIT("+1555")}, .points = 5, .reason = LIT("r"),
				     .comment = LIT("c")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_adjust_req_encode(w, &m);
}
static int enc_history_req(struct proto_wbuf *w)
{
	struct proto_history_req m = {.ref = {PROTO_REF_ID, 42, LIT("")}, .before_seq = 9, .limit = 10};
	return proto_history_req_encode(w, &m);
}
static int enc_key_create_req(struct proto_wbuf *w)
{
	struct proto_key_create_req m = {.role = PROTO_ROLE_TERMINAL, .location = LIT("s1")};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_key_create_req_encode(w, &m);
}
static int enc_key_revoke_req(struct proto_wbuf *w)
{
	struct proto_key_revoke_req m = {.key_id = 3};
	memcpy(m.key, sample_key, PROTO_KEY_SIZE);
	return proto_key_revoke_req_encode(w, &m);
}
static int enc_customer_rep(struct proto_wbuf *w) { return proto_customer_rep_encode(w, &s_customer); }
static int enc_change_rep(struct proto_wbuf *w)
{
	struct proto_change_rep m = {.seq = 1, .points = 2, .customer = s_customer};
	return proto_change_rep_encode(w, &m);
}
static int enc_key_create_rep(struct proto_wbuf *w)
{
	struct proto_key_create_rep m = {3, PROTO_ROLE_ADMIN, LIT(""), LIT("acr_secret")};
	return proto_key_create_rep_encode(w, &m);
}
static int enc_return_rep(struct proto_wbuf *w)
{
	struct proto_return_rep m = {.seq = 1, .points = -2, .shortfall = 1, .refunded = 50, .customer = s_customer};
	return proto_return_rep_encode(w, &m);
}
static int enc_quote_rep(struct proto_wbuf *w)
{
	static struct proto_quote_rep m;
	m.earned = 3;
	m.qualifying = 300;
	m.qualifying_items = 2;
	m.multiplier = 10000;
	m.unit = PROTO_UNIT_POINTS;
	m.nlines = 2;
	m.line_earned[0] = 1;
	m.line_earned[1] = 2;
	return proto_quote_rep_encode(w, &m);
}
static int enc_order_rep(struct proto_wbuf *w)
{
	static struct proto_order_rep m;
	memset(&m, 0, sizeof m);
	m.customer_id = 42;
	m.location = proto_str_c("s1");
	m.order_id = proto_str_c("o1");
	m.nlines = 2;
	for (int i = 0; i < 2; i++) {
		m.lines[i].sku = proto_str_c("sku");
		m.lines[i].category = proto_str_c("cat");
		m.lines[i].qty = 1;
	}
	return proto_order_rep_encode(w, &m);
}
static int enc_batch_rep(struct proto_wbuf *w)
{
	const struct proto_batch_item ok = {.status = PROTO_OK, .seq = 1, .points = 2, .customer_id = 3, .balance = 4};
	const struct proto_batch_item no = {.status = PROTO_ST_RANGE, .message = LIT("amount must be positive")};
	proto_batch_rep_put_header(w, 2);
	proto_batch_item_put(w, &ok);
	proto_batch_item_put(w, &no);
	return w->overflow ? PROTO_E_SPACE : 0;
}
static int enc_program_rep(struct proto_wbuf *w)
{
	proto_program_rep_put_header(w, 2);
	proto_setting_put(w, proto_str_c("unit"), proto_str_c("points"));
	proto_setting_put(w, proto_str_c("guests"), proto_str_c("refuse"));
	return w->overflow ? PROTO_E_SPACE : 0;
}
static int enc_error_reply(struct proto_wbuf *w)
{
	return proto_reply_error_encode(w, PROTO_ST_BUSY, proto_str_c("too many requests in flight"));
}
/* The list encoders return nothing: the caller reads w->overflow. */
static int enc_history_rep(struct proto_wbuf *w)
{
	proto_history_rep_put_header(w, 0, 2);
	proto_entry_put(w, &s_entries[0]);
	proto_entry_put(w, &s_entries[1]);
	return w->overflow ? PROTO_E_SPACE : 0;
}
static int enc_key_list_rep(struct proto_wbuf *w)
{
	proto_key_list_rep_put_header(w, 2);
	proto_key_info_put(w, &s_keys[0]);
	proto_key_info_put(w, &s_keys[1]);
	return w->overflow ? PROTO_E_SPACE : 0;
}

static void test_encoder_space(void)
{
	static const struct {
		const char *name;
		int (*encode)(struct proto_wbuf *w);
	} encs[] = {
		{"hello req", enc_hello_req},       {"hello rep", enc_hello_rep},
		{"enrol req", enc_enrol_req},       {"lookup req", enc_lookup_req},
		{"accrue req", enc_accrue_req},     {"adjust req", enc_adjust_req},
		{"history req", enc_history_req},   {"key_create req", enc_key_create_req},
		{"key_revoke req", enc_key_revoke_req}, {"customer rep", enc_customer_rep},
		{"change rep", enc_change_rep},     {"key_create rep", enc_key_create_rep},
		{"error reply", enc_error_reply},   {"history rep", enc_history_rep},
		{"key_list rep", enc_key_list_rep}, {"return req", enc_return_req},
		{"quote req", enc_quote_req},       {"quote req (anonymous)", enc_quote_anon_req},
		{"order req", enc_order_req},       {"group req", enc_group_req},
		{"tier req", enc_tier_req},         {"program_set req", enc_program_set_req},
		{"batch req", enc_batch_req},       {"return rep", enc_return_rep},
		{"quote rep", enc_quote_rep},       {"order rep", enc_order_rep},
		{"batch rep", enc_batch_rep},       {"program rep", enc_program_rep},
	};
	uint8_t big[4096];

	for (size_t e = 0; e < sizeof encs / sizeof encs[0]; e++) {
		struct proto_wbuf w;
		WBUF(w, big);
		CHECK_INT(encs[e].encode(&w), 0);
		size_t need = w.len;
		CHECK(need > 0);
		/* Every capacity short of the need fails, never writing past it. */
		for (size_t cap = 0; cap <= need; cap++) {
			uint8_t *out = malloc(cap ? cap : 1);
			REQUIRE(out != NULL);
			proto_wbuf_init(&w, out, cap);
			int rc = encs[e].encode(&w);
			int want = cap < need ? PROTO_E_SPACE : 0;
			if (rc != want)
				fprintf(stderr, "%s: cap %zu of %zu gave %d\n", encs[e].name, cap, need, rc);
			CHECK_INT(rc, want);
			CHECK(w.len <= cap);
			if (cap == need)
				CHECK(memcmp(out, big, need) == 0);
			free(out);
		}
	}
}

/* ---- names ----------------------------------------------------------- */

static void test_names(void)
{
	static const char *const status_names[] = {
		"OK",           "PROTOCOL",     "UNSUPPORTED", "BAD_REQUEST", "AUTH",           "FORBIDDEN",
		"NOT_FOUND",    "CONFLICT",     "DUPLICATE_ORDER", "INSUFFICIENT", "KEY_REUSED", "STORAGE",
		"BUSY",         "RANGE",        "HELLO_REQUIRED", "SHUTTING_DOWN", "INTERNAL",   "VERSION",
		"OVER_RETURN",  "NOT_MEMBER",
	};
	for (int st = 0; st < (int)(sizeof status_names / sizeof status_names[0]); st++)
		CHECK_STR(proto_status_name(st), status_names[st]);
	CHECK_INT(PROTO_ST_VERSION, 17);
	CHECK_INT(PROTO_ST_KEY_REUSED, 10);
	CHECK_INT(PROTO_ST_OVER_RETURN, 18);
	CHECK_INT(PROTO_ST_NOT_MEMBER, 19);
	CHECK_STR(proto_status_name(20), "UNKNOWN");
	CHECK_STR(proto_status_name(-1), "UNKNOWN");
	CHECK_STR(proto_status_name(0xffff), "UNKNOWN");

	static const struct {
		int op;
		const char *name;
	} ops[] = {
		{0x01, "HELLO"},  {0x02, "PING"},       {0x10, "ENROL"},    {0x11, "LOOKUP"},     {0x12, "ACCRUE"},
		{0x13, "ADJUST"}, {0x14, "HISTORY"},    {0x20, "KEY_CREATE"}, {0x21, "KEY_LIST"}, {0x22, "KEY_REVOKE"},
		{0x15, "RETURN"}, {0x16, "QUOTE"},      {0x17, "ACCRUE_BATCH"}, {0x18, "ORDER"},  {0x19, "GROUP"},
		{0x1a, "TIER"},   {0x30, "PROGRAM_GET"}, {0x31, "PROGRAM_SET"},
	};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		CHECK_STR(proto_opcode_name(ops[i].op), ops[i].name);
	CHECK_INT(PROTO_OP_RETURN, 0x15);
	CHECK_INT(PROTO_OP_QUOTE, 0x16);
	CHECK_INT(PROTO_OP_ACCRUE_BATCH, 0x17);
	CHECK_INT(PROTO_OP_ORDER, 0x18);
	CHECK_INT(PROTO_OP_GROUP, 0x19);
	CHECK_INT(PROTO_OP_TIER, 0x1a);
	CHECK_INT(PROTO_OP_PROGRAM_GET, 0x30);
	CHECK_INT(PROTO_OP_PROGRAM_SET, 0x31);
	static const int not_ops[] = {0, 0x03, 0x0f, 0x1b, 0x1f, 0x23, 0x2f, 0x32, 0xff};
	for (size_t i = 0; i < sizeof not_ops / sizeof not_ops[0]; i++)
		CHECK_STR(proto_opcode_name(not_ops[i]), "UNKNOWN");

	CHECK_STR(proto_role_name(PROTO_ROLE_ADMIN), "admin");
	CHECK_STR(proto_role_name(PROTO_ROLE_TERMINAL), "terminal");
	CHECK_STR(proto_role_name(PROTO_ROLE_READONLY), "readonly");
	CHECK_STR(proto_role_name(0), "unknown");
	CHECK_STR(proto_role_name(4), "unknown");
	CHECK_INT(proto_role_parse("admin"), PROTO_ROLE_ADMIN);
	CHECK_INT(proto_role_parse("terminal"), PROTO_ROLE_TERMINAL);
	CHECK_INT(proto_role_parse("readonly"), PROTO_ROLE_READONLY);
	static const char *const not_roles[] = {"", "Admin", "ADMIN", "admin ", "admi", "adminx", "read-only",
						 "unknown", "root"};
	for (size_t i = 0; i < sizeof not_roles / sizeof not_roles[0]; i++)
		CHECK_INT(proto_role_parse(not_roles[i]), 0);

	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_ENROL), "enrol");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_ACCRUE), "accrue");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_ADJUST), "adjust");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_KEY_CREATE), "key-create");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_KEY_REVOKE), "key-revoke");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_RETURN), "return");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_PROGRAM), "program");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_GROUP), "group");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_TIER), "tier");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_JOIN), "join");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_EDIT), "edit");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_CARD), "card");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_OPTOUT), "optout");
	/* The numbers are stable: history and the journal both store them. */
	static const int entry_numbers[] = {PROTO_ENTRY_ENROL,   PROTO_ENTRY_ACCRUE,  PROTO_ENTRY_ADJUST, PROTO_ENTRY_KEY_CREATE,
					    PROTO_ENTRY_KEY_REVOKE, PROTO_ENTRY_RETURN, PROTO_ENTRY_PROGRAM, PROTO_ENTRY_GROUP,
					    PROTO_ENTRY_TIER,    PROTO_ENTRY_JOIN,   PROTO_ENTRY_EDIT,    PROTO_ENTRY_CARD,
					    PROTO_ENTRY_OPTOUT};
	for (int i = 0; i < 13; i++)
		CHECK_INT(entry_numbers[i], i + 1);
	CHECK_INT(PROTO_UNIT_POINTS, 0);
	CHECK_INT(PROTO_UNIT_STAMPS, 1);
	CHECK_STR(proto_entry_type_name(0), "unknown");
	CHECK_STR(proto_entry_type_name(PROTO_ENTRY_TYPE_MAX + 1), "unknown");

	/* Every codec error has its own text. */
	static const int errs[] = {0,
				   PROTO_E_MAGIC,
				   PROTO_E_VERSION,
				   PROTO_E_TOO_LARGE,
				   PROTO_E_CHECKSUM,
				   PROTO_E_FLAGS,
				   PROTO_E_BODY,
				   PROTO_E_FIELD,
				   PROTO_E_SPACE};
	const size_t nerrs = sizeof errs / sizeof errs[0];
	for (size_t i = 0; i < nerrs; i++) {
		CHECK(strcmp(proto_errstr(errs[i]), "unknown codec error") != 0);
		for (size_t j = i + 1; j < nerrs; j++)
			CHECK(strcmp(proto_errstr(errs[i]), proto_errstr(errs[j])) != 0);
	}
	CHECK_STR(proto_errstr(-9), "unknown codec error");
	CHECK_STR(proto_errstr(1), "unknown codec error");
}

int main(void)
{
	test_encoder_space();
	test_names();
	return check_done("unit_proto_encode");
}
