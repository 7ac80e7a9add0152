/*
 * it_abuse_roles.c - keys of every role trying what their role does not
 * allow, against the real daemon (see it_abuse/abuse.h for what the
 * it_abuse_*.c tests share). In order:
 *
 *   B  roles       a terminal key (store-1) and a read-only key may make
 *                  exactly the requests PROTOCOL.md's role table allows;
 *                  every refusal is FORBIDDEN, comes before the body is read,
 *                  and changes nothing (customers, history, keys, program,
 *                  orders).
 *   C  keys        a secret is shown once: never in KEY_LIST, a replayed
 *                  KEY_CREATE, the daemon's log or its data files; a revoked
 *                  key gets AUTH.
 *   D  revocation  revoking a key closes its open connections.
 *
 * and then the well-behaved client's ledger.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "proto.h"
#include "raw.h"
#include "abuse.h"

static struct harness h;

/* ---- B: roles ---------------------------------------------------------------- */

static uint64_t roles_id;  /* the customer the role checks work on */
static uint64_t walkin_id; /* enrolled by the terminal */
static char term_secret[256], ro_secret[256];
static uint64_t term_id, ro_id;

/* Everything a refused request could have changed. */
struct state {
	struct accrue_customer c[3];
	uint32_t nhist[3];
	uint32_t nkeys, nrevoked;
	uint32_t nsettings;
	uint64_t settings_hash;
	int64_t refunded, taken_back; /* of order b-2 at store-2 */
};

/* FNV-1a over a string, to compare the program's settings in one number. */
static uint64_t fnv(uint64_t hash, const char *s)
{
	for (; *s; s++)
		hash = (hash ^ (uint8_t)*s) * 1099511628211ull;
	return hash;
}

static void state_take(struct state *s)
{
	static struct accrue_order o;
	uint64_t ids[3] = { roles_id, walkin_id, ledger.id };
	memset(s, 0, sizeof *s);
	for (int i = 0; i < 3; i++) {
		struct accrue_ref ref = by_id(ids[i]);
		CHECK_RC(serve, accrue_lookup(serve, &ref, &s->c[i]), 0);
		s->nhist[i] = history_length(serve, ids[i]);
	}
	struct accrue_key_info *keys = NULL;
	CHECK_RC(serve, accrue_key_list(serve, &keys, &s->nkeys), 0);
	for (uint32_t i = 0; keys && i < s->nkeys; i++)
		s->nrevoked += keys[i].revoked ? 1u : 0u;
	free(keys);
	struct accrue_setting *set = NULL;
	CHECK_RC(serve, accrue_program_get(serve, &set, &s->nsettings), 0);
	s->settings_hash = 1469598103934665603ull;
	for (uint32_t i = 0; set && i < s->nsettings; i++) {
		s->settings_hash = fnv(s->settings_hash, set[i].name);
		s->settings_hash = fnv(s->settings_hash, "=");
		s->settings_hash = fnv(s->settings_hash, set[i].value);
	}
	free(set);
	CHECK_RC(serve, accrue_order(serve, "store-2", "b-2", &o), 0);
	s->refunded = o.refunded;
	s->taken_back = o.taken_back;
}

static void state_same(const char *what, const struct state *x, const struct state *y)
{
	int before = check_failures;
	for (int i = 0; i < 3; i++) {
		CHECK_INT(x->c[i].balance, y->c[i].balance);
		CHECK_INT(x->c[i].lifetime_points, y->c[i].lifetime_points);
		CHECK_INT(x->c[i].visits, y->c[i].visits);
		CHECK_INT(x->c[i].total_spend, y->c[i].total_spend);
		CHECK_INT(x->c[i].last_visit_us, y->c[i].last_visit_us);
		CHECK_STR(x->c[i].email, y->c[i].email);
		CHECK_STR(x->c[i].tier, y->c[i].tier);
		CHECK_INT(x->c[i].ngroups, y->c[i].ngroups);
		CHECK_INT(x->nhist[i], y->nhist[i]);
	}
	CHECK_INT(x->nkeys, y->nkeys);
	CHECK_INT(x->nrevoked, y->nrevoked);
	CHECK_INT(x->nsettings, y->nsettings);
	CHECK(x->settings_hash == y->settings_hash);
	CHECK_INT(x->refunded, y->refunded);
	CHECK_INT(x->taken_back, y->taken_back);
	if (check_failures != before)
		fprintf(stderr, "    (something changed: %s)\n", what);
}

static void roles_setup(void)
{
	struct accrue_customer c;
	struct accrue_result res;
	struct accrue_key_info info;
	int replay = 0;

	CHECK_RC(serve, accrue_enrol(serve, NULL, "roles@example.com", NULL, "Role", "Play", &c, NULL), 0);
	roles_id = c.id;
	struct accrue_ref ref = by_id(roles_id);
	CHECK_RC(serve, accrue_accrue(serve, NULL, &ref, "store-2", "b-2", 5000, &res), 0);
	CHECK_RC(serve, accrue_accrue(serve, NULL, &ref, "store-1", "b-1", 3000, &res), 0);
	CHECK_RC(serve, accrue_key_create(serve, NULL, ACCRUE_ROLE_TERMINAL, "store-1", &info, term_secret,
					  sizeof term_secret, &replay), 0);
	term_id = info.id;
	CHECK_RC(serve, accrue_key_create(serve, NULL, ACCRUE_ROLE_READONLY, NULL, &info, ro_secret, sizeof ro_secret,
					  &replay), 0);
	ro_id = info.id;
	REQUIRE(term_id && ro_id && term_secret[0] && ro_secret[0]);
}

/*
 * Every request a role may not make, with a well-formed body and then with
 * a body that does not decode: FORBIDDEN either way (the role is checked
 * before the body is read), with the request's opcode and id.
 */
struct forbidden {
	uint8_t op;
	struct raw_body bd;
};

static void check_forbidden(struct raw *r, const char *role, const struct forbidden *f, int n, uint32_t *rid)
{
	static const uint8_t junk[] = { 0xff, 0xfe, 0xfd };
	for (int i = 0; i < n; i++) {
		char what[96];
		snprintf(what, sizeof what, "%s %s", role, proto_opcode_name(f[i].op));
		call(r, what, f[i].op, (*rid)++, &f[i].bd, PROTO_ST_FORBIDDEN, NULL);
		snprintf(what, sizeof what, "%s %s with a body that does not decode", role, proto_opcode_name(f[i].op));
		CHECK_INT(raw_send_flags(r, f[i].op, 0, *rid, junk, sizeof junk), 0);
		expect(r, what, PROTO_ST_FORBIDDEN, f[i].op, (*rid)++, NULL);
	}
}

static void test_terminal(struct raw *r)
{
	case_begin();
	struct proto_hello_rep hello;
	struct raw_body bd;
	struct raw_reply rep;
	struct state before, after;
	uint32_t rid = 200;

	REQUIRE(raw_open(r, &h) == 0);
	memset(&hello, 0, sizeof hello);
	CHECK_INT(raw_hello(r, term_secret, &hello), PROTO_OK);
	CHECK_INT(hello.role, PROTO_ROLE_TERMINAL);
	CHECK(hello.location.len == 7 && memcmp(hello.location.ptr, "store-1", 7) == 0);
	CHECK_INT(hello.key_id, term_id);

	/* What a till does, at its own store (or naming no store). */
	call(r, "terminal PING", PROTO_OP_PING, rid++, NULL, PROTO_OK, NULL);
	raw_body_enrol(&bd, "walkin-b@example.com");
	if (call(r, "terminal ENROL", PROTO_OP_ENROL, rid++, &bd, PROTO_OK, &rep) == PROTO_OK) {
		struct proto_customer c;
		CHECK_INT(proto_customer_rep_decode(rep.ok, rep.ok_len, &c), 0);
		walkin_id = c.id;
	}
	CHECK(walkin_id != 0);
	raw_body_lookup(&bd, roles_id);
	call(r, "terminal LOOKUP", PROTO_OP_LOOKUP, rid++, &bd, PROTO_OK, NULL);
	raw_body_accrue(&bd, roles_id, "store-1", "t-1", 2500);
	call(r, "terminal ACCRUE at store-1", PROTO_OP_ACCRUE, rid++, &bd, PROTO_OK, NULL);
	raw_body_accrue(&bd, roles_id, "", "t-2", 1200);
	call(r, "terminal ACCRUE at its own location", PROTO_OP_ACCRUE, rid++, &bd, PROTO_OK, NULL);
	raw_body_order(&bd, "store-1", "t-2");
	call(r, "terminal ORDER t-2 (booked at store-1)", PROTO_OP_ORDER, rid++, &bd, PROTO_OK, NULL);
	raw_body_order(&bd, "", "t-1");
	call(r, "terminal ORDER at its own location", PROTO_OP_ORDER, rid++, &bd, PROTO_OK, NULL);
	raw_body_return(&bd, "store-1", "t-1", 1000);
	call(r, "terminal RETURN at store-1", PROTO_OP_RETURN, rid++, &bd, PROTO_OK, NULL);
	raw_body_return(&bd, "", "t-2", 200);
	call(r, "terminal RETURN at its own location", PROTO_OP_RETURN, rid++, &bd, PROTO_OK, NULL);
	raw_body_quote(&bd, roles_id, 1000);
	call(r, "terminal QUOTE", PROTO_OP_QUOTE, rid++, &bd, PROTO_OK, NULL);
	raw_body_quote(&bd, 0, 1000);
	call(r, "terminal QUOTE for nobody", PROTO_OP_QUOTE, rid++, &bd, PROTO_OK, NULL);
	raw_body_history(&bd, roles_id, 10);
	call(r, "terminal HISTORY", PROTO_OP_HISTORY, rid++, &bd, PROTO_OK, NULL);
	call(r, "terminal PROGRAM_GET", PROTO_OP_PROGRAM_GET, rid++, NULL, PROTO_OK, NULL);

	/* A batch with a sale at another store: that item alone is FORBIDDEN. */
	static const char *const locs[] = { "store-2", "store-1", "" };
	static const char *const orders[] = { "t-y", "t-3", "t-4" };
	raw_body_batch(&bd, 3, roles_id, locs, orders, 700);
	if (call(r, "terminal ACCRUE_BATCH", PROTO_OP_ACCRUE_BATCH, rid++, &bd, PROTO_OK, &rep) == PROTO_OK) {
		struct proto_rbuf rb;
		struct proto_batch_item it;
		uint16_t count = 0;
		proto_rbuf_init(&rb, rep.ok, rep.ok_len);
		CHECK_INT(proto_batch_rep_begin(&rb, &count), 0);
		CHECK_INT(count, 3);
		static const int want[] = { PROTO_ST_FORBIDDEN, PROTO_OK, PROTO_OK };
		for (int i = 0; i < 3 && i < count; i++) {
			CHECK_INT(proto_batch_item_next(&rb, &it), 0);
			CHECK_INT(it.status, want[i]);
		}
		CHECK_INT(proto_rbuf_finish(&rb), 0);
	}
	check_no_order("store-2", "t-y");

	/* What it may not do: nothing of it may change anything. */
	state_take(&before);
	struct forbidden *f = calloc(12, sizeof *f);
	REQUIRE(f != NULL);
	int n = 0;
	f[n].op = PROTO_OP_ACCRUE;
	raw_body_accrue(&f[n++].bd, roles_id, "store-2", "t-x", 9900);
	f[n].op = PROTO_OP_RETURN;
	raw_body_return(&f[n++].bd, "store-2", "b-2", 1000);
	f[n].op = PROTO_OP_ORDER;
	raw_body_order(&f[n++].bd, "store-2", "b-2");
	f[n].op = PROTO_OP_ADJUST;
	raw_body_adjust(&f[n++].bd, roles_id, 500);
	f[n].op = PROTO_OP_ADJUST;
	raw_body_adjust(&f[n++].bd, roles_id, -5);
	f[n].op = PROTO_OP_GROUP;
	raw_body_group(&f[n++].bd, roles_id, "vip");
	f[n].op = PROTO_OP_TIER;
	raw_body_tier(&f[n++].bd, roles_id, "gold");
	f[n].op = PROTO_OP_KEY_CREATE;
	raw_body_key_create(&f[n++].bd, NULL, PROTO_ROLE_ADMIN, "");
	f[n].op = PROTO_OP_KEY_LIST;
	f[n++].bd.n = 0;
	f[n].op = PROTO_OP_KEY_REVOKE;
	raw_body_key_revoke(&f[n++].bd, ro_id);
	f[n].op = PROTO_OP_PROGRAM_SET;
	raw_body_program_set(&f[n++].bd, "earn.points", "100");
	/* Location is judged before the body: ACCRUE, RETURN and ORDER at
	 * another store must give FORBIDDEN there, but an undecodable body
	 * cannot name a store, so those three are checked well-formed only. */
	for (int i = 0; i < 3; i++) {
		char what[64];
		snprintf(what, sizeof what, "terminal %s at store-2", proto_opcode_name(f[i].op));
		call(r, what, f[i].op, rid++, &f[i].bd, PROTO_ST_FORBIDDEN, NULL);
	}
	check_forbidden(r, "terminal", f + 3, n - 3, &rid);
	free(f);
	expect_open(r, "terminal after its refusals");
	raw_close(r);
	state_take(&after);
	state_same("a terminal's refused requests", &before, &after);
	check_no_order("store-2", "t-x");

	/* The read-only key it tried to revoke still works. */
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_hello(r, ro_secret, NULL), PROTO_OK);
	raw_close(r);
	case_end("B terminal (store-1): PING, ENROL, LOOKUP, ACCRUE, RETURN, ORDER, QUOTE, HISTORY, PROGRAM_GET and a "
		 "batch at its own store work; ACCRUE/RETURN/ORDER/batch item at store-2, ADJUST, GROUP, TIER, "
		 "KEY_CREATE/LIST/REVOKE and PROGRAM_SET are FORBIDDEN (before the body is read) and change nothing");
}

static void test_readonly(struct raw *r)
{
	case_begin();
	struct proto_hello_rep hello;
	struct raw_body bd;
	struct raw_reply rep;
	struct state before, after;
	uint32_t rid = 300;

	state_take(&before);
	REQUIRE(raw_open(r, &h) == 0);
	memset(&hello, 0, sizeof hello);
	CHECK_INT(raw_hello(r, ro_secret, &hello), PROTO_OK);
	CHECK_INT(hello.role, PROTO_ROLE_READONLY);
	CHECK_INT(hello.location.len, 0);

	call(r, "read-only PING", PROTO_OP_PING, rid++, NULL, PROTO_OK, NULL);
	raw_body_lookup(&bd, roles_id);
	call(r, "read-only LOOKUP", PROTO_OP_LOOKUP, rid++, &bd, PROTO_OK, NULL);
	raw_body_history(&bd, roles_id, 100);
	if (call(r, "read-only HISTORY", PROTO_OP_HISTORY, rid++, &bd, PROTO_OK, &rep) == PROTO_OK) {
		struct proto_rbuf rb;
		uint64_t next = 1;
		uint32_t count = 0;
		proto_rbuf_init(&rb, rep.ok, rep.ok_len);
		CHECK_INT(proto_history_rep_begin(&rb, &next, &count), 0);
		CHECK_INT(count, before.nhist[0]);
	}
	/* ORDER at any store: the location rule binds terminals only. */
	raw_body_order(&bd, "store-1", "b-1");
	call(r, "read-only ORDER at store-1", PROTO_OP_ORDER, rid++, &bd, PROTO_OK, NULL);
	raw_body_order(&bd, "store-2", "b-2");
	if (call(r, "read-only ORDER at store-2", PROTO_OP_ORDER, rid++, &bd, PROTO_OK, &rep) == PROTO_OK) {
		static struct proto_order_rep o;
		CHECK_INT(proto_order_rep_decode(rep.ok, rep.ok_len, &o), 0);
		CHECK_INT(o.customer_id, roles_id);
	}
	raw_body_quote(&bd, roles_id, 1234);
	call(r, "read-only QUOTE", PROTO_OP_QUOTE, rid++, &bd, PROTO_OK, NULL);
	raw_body_quote(&bd, 0, 1234);
	call(r, "read-only QUOTE for nobody", PROTO_OP_QUOTE, rid++, &bd, PROTO_OK, NULL);
	call(r, "read-only PROGRAM_GET", PROTO_OP_PROGRAM_GET, rid++, NULL, PROTO_OK, NULL);

	/* Every mutating opcode, and KEY_LIST. */
	struct forbidden *f = calloc(12, sizeof *f);
	REQUIRE(f != NULL);
	int n = 0;
	f[n].op = PROTO_OP_ENROL;
	raw_body_enrol(&f[n++].bd, "ro-enrol@example.com");
	f[n].op = PROTO_OP_ACCRUE;
	raw_body_accrue(&f[n++].bd, roles_id, "store-1", "ro-1", 9900);
	f[n].op = PROTO_OP_ADJUST;
	raw_body_adjust(&f[n++].bd, roles_id, 500);
	f[n].op = PROTO_OP_RETURN;
	raw_body_return(&f[n++].bd, "store-2", "b-2", 1000);
	static const char *const locs[] = { "store-1" };
	static const char *const orders[] = { "ro-2" };
	f[n].op = PROTO_OP_ACCRUE_BATCH;
	raw_body_batch(&f[n++].bd, 1, roles_id, locs, orders, 700);
	f[n].op = PROTO_OP_GROUP;
	raw_body_group(&f[n++].bd, roles_id, "vip");
	f[n].op = PROTO_OP_TIER;
	raw_body_tier(&f[n++].bd, roles_id, "gold");
	f[n].op = PROTO_OP_KEY_CREATE;
	raw_body_key_create(&f[n++].bd, NULL, PROTO_ROLE_ADMIN, "");
	f[n].op = PROTO_OP_KEY_REVOKE;
	raw_body_key_revoke(&f[n++].bd, term_id);
	f[n].op = PROTO_OP_PROGRAM_SET;
	raw_body_program_set(&f[n++].bd, "earn.points", "100");
	f[n].op = PROTO_OP_KEY_LIST;
	f[n++].bd.n = 0;
	check_forbidden(r, "read-only", f, n, &rid);
	free(f);
	expect_open(r, "read-only after its refusals");
	raw_close(r);

	state_take(&after);
	state_same("a read-only key's requests", &before, &after);
	struct accrue_customer c;
	struct accrue_ref ref = by_text(ACCRUE_REF_EMAIL, "ro-enrol@example.com");
	CHECK_RC(serve, accrue_lookup(serve, &ref, &c), ACCRUE_ST_NOT_FOUND);
	check_no_order("store-1", "ro-1");
	check_no_order("store-1", "ro-2");
	REQUIRE(raw_open(r, &h) == 0);
	CHECK_INT(raw_hello(r, term_secret, NULL), PROTO_OK);
	raw_close(r);
	serve_sale("role checks");
	case_end("B read-only: PING, LOOKUP, HISTORY, ORDER (any store), QUOTE and PROGRAM_GET work; ENROL, ACCRUE, "
		 "ADJUST, RETURN, ACCRUE_BATCH, GROUP, TIER, KEY_CREATE, KEY_REVOKE, PROGRAM_SET and KEY_LIST are "
		 "FORBIDDEN with and without a decodable body, and balances, history, keys, program and orders are "
		 "unchanged");
}

/* ---- C: keys ----------------------------------------------------------------- */

static const uint8_t *find_bytes(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	if (m == 0 || m > n)
		return NULL;
	for (size_t i = 0; i + m <= n; i++)
		if (hay[i] == *(const uint8_t *)needle && memcmp(hay + i, needle, m) == 0)
			return hay + i;
	return NULL;
}

/* 1 if the file holds needle, 0 if not, -1 if it cannot be read. */
static int file_holds(const char *path, const char *needle)
{
	static uint8_t buf[(1 << 20) + 256];
	size_t m = strlen(needle), keep = 0;
	int found = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	for (;;) {
		size_t n = fread(buf + keep, 1, sizeof buf - keep, f);
		if (n == 0)
			break;
		n += keep;
		if (find_bytes(buf, n, needle, m)) {
			found = 1;
			break;
		}
		/* Keep the last m-1 bytes: the needle may straddle two reads. */
		keep = m - 1 < n ? m - 1 : n;
		memmove(buf, buf + n - keep, keep);
	}
	fclose(f);
	return found;
}

/* How many files in dir (not recursing, not admin.key) hold needle; *scanned counts those read. */
static int dir_holds(const char *dir, const char *needle, int *scanned)
{
	int found = 0;
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[HARNESS_PATH_MAX * 2];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (strcmp(e->d_name, "admin.key") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (file_holds(path, needle) == 1) {
			fprintf(stderr, "    %s holds a key's secret\n", path);
			found++;
		}
		(*scanned)++;
	}
	closedir(d);
	return found;
}

static void test_keys_shown_once(struct raw *r)
{
	case_begin();
	struct raw_body bd;
	struct raw_reply rep;
	struct proto_key_create_rep k;
	uint8_t request_key[PROTO_KEY_SIZE];
	char secret[256] = "";
	uint64_t id = 0;

	raw_login(r, &h, h.admin_key);
	new_key(request_key);
	raw_body_key_create(&bd, request_key, PROTO_ROLE_READONLY, "");
	if (call(r, "KEY_CREATE", PROTO_OP_KEY_CREATE, 400, &bd, PROTO_OK, &rep) == PROTO_OK) {
		CHECK_INT(proto_key_create_rep_decode(rep.ok, rep.ok_len, &k), 0);
		snprintf(secret, sizeof secret, "%.*s", (int)k.secret.len, k.secret.ptr);
		id = k.key_id;
		CHECK_INT(k.role, PROTO_ROLE_READONLY);
		CHECK(!(rep.hdr.flags & PROTO_FLAG_REPLAY));
	}
	REQUIRE(strlen(secret) >= 22 && id != 0);
	/* The random part: the whole secret, less any "ak_<id>_" in front. */
	const char *random_part = strrchr(secret, '_') ? strrchr(secret, '_') + 1 : secret;
	CHECK(strlen(random_part) >= 16);
	/* Twelve characters of it: enough to be found nowhere by chance. */
	char piece[13];
	memcpy(piece, random_part, sizeof piece - 1);
	piece[sizeof piece - 1] = '\0';

	/* The same request again is a replay, and the secret is not shown. */
	if (call(r, "KEY_CREATE replayed", PROTO_OP_KEY_CREATE, 401, &bd, PROTO_OK, &rep) == PROTO_OK) {
		CHECK(rep.hdr.flags & PROTO_FLAG_REPLAY);
		CHECK_INT(proto_key_create_rep_decode(rep.ok, rep.ok_len, &k), 0);
		CHECK_INT(k.secret.len, 0);
		CHECK_INT(k.key_id, id);
		CHECK(find_bytes(r->frame, r->frame_len, piece, strlen(piece)) == NULL);
	}

	/* KEY_LIST lists it, and no part of the secret is anywhere in its bytes. */
	if (call(r, "KEY_LIST", PROTO_OP_KEY_LIST, 402, NULL, PROTO_OK, &rep) == PROTO_OK) {
		CHECK(find_bytes(r->frame, r->frame_len, secret, strlen(secret)) == NULL);
		CHECK(find_bytes(r->frame, r->frame_len, piece, strlen(piece)) == NULL);
		struct proto_rbuf rb;
		struct proto_key_info info;
		uint32_t count = 0;
		int listed = 0;
		proto_rbuf_init(&rb, rep.ok, rep.ok_len);
		CHECK_INT(proto_key_list_rep_begin(&rb, &count), 0);
		for (uint32_t i = 0; i < count; i++) {
			if (proto_key_info_next(&rb, &info) != 0)
				break;
			if (info.id == id) {
				listed++;
				CHECK_INT(info.role, PROTO_ROLE_READONLY);
				CHECK_INT(info.revoked, 0);
			}
		}
		/* Read exactly to the end: a key info has no room for a secret or a hash. */
		CHECK_INT(proto_rbuf_finish(&rb), 0);
		CHECK_INT(listed, 1);
	}

	/* Nor in the daemon's log or its data files: it keeps only a hash. */
	int scanned = 0;
	CHECK_INT(file_holds(h.log, piece), 0);
	CHECK_INT(dir_holds(h.data, piece, &scanned), 0);
	CHECK(scanned >= 1);

	/* The key works until revoked; then HELLO gets AUTH and is closed. */
	struct raw *x = raw_new();
	REQUIRE(raw_open(x, &h) == 0);
	CHECK_INT(raw_hello(x, secret, NULL), PROTO_OK);
	raw_close(x);
	raw_body_key_revoke(&bd, id);
	call(r, "KEY_REVOKE", PROTO_OP_KEY_REVOKE, 403, &bd, PROTO_OK, NULL);
	REQUIRE(raw_open(x, &h) == 0);
	raw_body_hello(&bd, PROTO_VERSION, secret);
	CHECK_INT(raw_send(x, PROTO_OP_HELLO, 404, &bd), 0);
	expect(x, "HELLO with a revoked key", PROTO_ST_AUTH, PROTO_OP_HELLO, 404, NULL);
	expect_closed(x, "after HELLO with a revoked key");
	raw_free(x);
	if (call(r, "KEY_LIST after the revocation", PROTO_OP_KEY_LIST, 405, NULL, PROTO_OK, &rep) == PROTO_OK) {
		struct proto_rbuf rb;
		struct proto_key_info info;
		uint32_t count = 0;
		int revoked = -1;
		proto_rbuf_init(&rb, rep.ok, rep.ok_len);
		CHECK_INT(proto_key_list_rep_begin(&rb, &count), 0);
		for (uint32_t i = 0; i < count && proto_key_info_next(&rb, &info) == 0; i++)
			if (info.id == id)
				revoked = info.revoked;
		CHECK_INT(revoked, 1);
	}
	raw_close(r);
	serve_sale("key checks");
	case_end("C keys: a secret is in KEY_CREATE's reply only; not in its replay (REPLAY, empty secret), not in "
		 "KEY_LIST's bytes (which decode exactly, without it), the log or %d data files; after KEY_REVOKE "
		 "its HELLO is AUTH and closed",
		 scanned);
}

/* ---- D: revocation ------------------------------------------------------------ */

static void test_revoke_closes(struct raw *r1, struct raw *r2)
{
	case_begin();
	char secret[256];
	struct accrue_key_info info;
	struct accrue_result res;
	struct raw_body bd;
	int replay = 0;

	CHECK_RC(serve, accrue_key_create(serve, NULL, ACCRUE_ROLE_TERMINAL, "store-3", &info, secret, sizeof secret,
					  &replay), 0);
	REQUIRE(secret[0]);
	raw_login(r1, &h, secret);
	raw_login(r2, &h, secret);
	raw_body_accrue(&bd, roles_id, "store-3", "rv-0", 1500);
	call(r1, "ACCRUE with a key about to be revoked", PROTO_OP_ACCRUE, 500, &bd, PROTO_OK, NULL);
	accrue *t = NULL;
	CHECK_INT(harness_connect_key(&h, secret, &t), 0);
	REQUIRE(t != NULL);
	struct accrue_ref ref = by_id(roles_id);
	CHECK_RC(t, accrue_accrue(t, NULL, &ref, NULL, "rv-1", 1500, &res), 0);

	long long t0 = harness_now_ms();
	CHECK_RC(serve, accrue_key_revoke(serve, NULL, info.id), 0);
	size_t extra1 = 0, extra2 = 0;
	int closed1 = raw_wait_eof(r1, CLOSE_WAIT_MS, &extra1);
	long long t1 = harness_now_ms() - t0;
	int closed2 = raw_wait_eof(r2, t1 < CLOSE_WAIT_MS ? CLOSE_WAIT_MS - (int)t1 : 1, &extra2);
	long long t2 = harness_now_ms() - t0;
	CHECK_INT(closed1, 1);
	CHECK_INT(closed2, 1);
	if (!closed1 || !closed2)
		fprintf(stderr, "    connections of a revoked key still open %d ms after KEY_REVOKE: %s%s\n", CLOSE_WAIT_MS,
			closed1 ? "" : "first ", closed2 ? "" : "second");
	if (extra1 || extra2)
		printf("    (before closing, the server sent %zu and %zu bytes)\n", extra1, extra2);
	raw_close(r1);
	raw_close(r2);

	/* The till's library handle: its next sale reconnects, gets AUTH, and is not applied. */
	CHECK_RC(t, accrue_accrue(t, NULL, &ref, NULL, "rv-2", 1500, &res), ACCRUE_ST_AUTH);
	accrue_close(t);
	check_no_order("store-3", "rv-2");
	serve_sale("a revocation");
	case_end("D revocation: both open connections of a revoked terminal key see EOF (%lld ms and %lld ms after "
		 "KEY_REVOKE), its library handle then gets AUTH and its sale is not applied, the admin goes on",
		 closed1 ? t1 : -1, closed2 ? t2 : -1);
}

/* ---- main ----------------------------------------------------------------------- */

int main(void)
{
	long long t0 = harness_now_ms();
	signal(SIGPIPE, SIG_IGN);
	abuse_start(&h, "it_abuse_roles");
	struct raw *r = raw_new(), *r2 = raw_new();
	roles_setup();
	test_terminal(r);
	test_readonly(r);
	test_keys_shown_once(r);
	test_revoke_closes(r, r2);
	raw_free(r);
	raw_free(r2);
	abuse_finish(&h);
	fprintf(stderr, "it_abuse_roles: %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);
	return check_done("it_abuse_roles");
}
