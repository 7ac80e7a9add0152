/*
 * check_derive.c - accrue-check's re-derivation of every balance: the
 * journal (and the checkpoint's snapshots plus the journal after them)
 * replayed through model_apply(), the daemon's own rules, into models;
 * which customers and records a replay had to leave out; and the
 * comparisons of what the replays end with against pass 1's totals and
 * against each other.
 */
#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- skipped seqs and tainted customers ---------------------------------------------------------- */

static int seq_listed(const uint64_t *seqs, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (seqs[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && seqs[lo] == seq;
}

void check_replay_skip(struct check_replay *r, uint64_t seq)
{
	check_grow((void **)&r->skipped, &r->skipped_cap, r->nskipped + 1, sizeof *r->skipped);
	r->skipped[r->nskipped++] = seq;
}

int check_replay_skipped(const struct check_replay *r, uint64_t seq)
{
	return seq_listed(r->skipped, r->nskipped, seq);
}

struct check_taint *check_taint_of(struct check_replay *r, uint64_t id, int create)
{
	if (id == 0)
		return NULL;
	if (id > r->ntaint) {
		size_t old = r->ntaint, cap = r->ntaint;
		/* Only ids the model has, or the next: a bogus id cannot make us allocate. */
		if (!create || id > (uint64_t)r->m.ncustomers + 1)
			return NULL;
		check_grow((void **)&r->taint, &cap, (size_t)id, sizeof *r->taint);
		memset(r->taint + old, 0, (cap - old) * sizeof *r->taint);
		r->ntaint = cap;
	}
	return &r->taint[id - 1];
}

static int tainted(const struct check_replay *r, uint64_t id)
{
	return id && id <= r->ntaint && r->taint[id - 1].on;
}

static void taint_set(struct check_replay *r, uint64_t id, uint64_t cause)
{
	struct check_taint *t = check_taint_of(r, id, 1);

	if (t && !t->on) {
		t->on = 1;
		t->cause_seq = cause;
	}
}

void check_taint_count(struct check_replay *r, uint64_t id, uint64_t seq)
{
	struct check_taint *t = check_taint_of(r, id, 0);

	if (!t || !t->on)
		return;
	if (!t->nskipped++)
		t->first_skipped = seq;
	t->last_skipped = seq;
}

/* ---- replaying into a model ------------------------------------------------------------ */

void check_replay_init(struct check_replay *r)
{
	memset(r, 0, sizeof *r);
	if (model_init(&r->m))
		check_die_nomem();
}

void check_replay_free(struct check_replay *r)
{
	model_free(&r->m);
	free(r->taint);
	free(r->skipped);
}

/*
 * Customer ids are dense (the model finds a customer at slot id - 1): when
 * an enrolment was lost or refused, an empty stand-in keeps the ids after
 * it where they belong. Stand-ins are tainted: nothing is replayed into them.
 */
static void add_placeholders(struct check_replay *r, uint64_t upto, uint64_t cause)
{
	while ((uint64_t)r->m.ncustomers + 1 <= upto) {
		struct record_customer s;
		uint64_t id = (uint64_t)r->m.ncustomers + 1;
		struct check_taint *t;

		memset(&s, 0, sizeof s);
		s.c.id = id;
		s.c.email = s.c.phone = s.c.first_name = s.c.last_name = s.c.tier = proto_str_c("");
		if (model_load_customer(&r->m, &s))
			check_die_nomem();
		r->placeholders++;
		taint_set(r, id, cause);
		t = check_taint_of(r, id, 0);
		if (t)
			t->placeholder = 1;
	}
}

int check_replay_record(struct check_replay *r, uint64_t seq, const struct record *rec, char *why, size_t whylen)
{
	uint64_t cid = rec->customer_id;
	struct model_customer pre, *c;
	int rc;

	why[0] = 0;
	if (tainted(r, cid)) {
		check_taint_count(r, cid, seq);
		check_replay_skip(r, seq);
		return 0;
	}
	/* An enrolment past a lost one: fill the gap so ids stay dense. Ids
	 * are handed out one per record at most, so this is bounded by seq. */
	if (rec->type == PROTO_ENTRY_ENROL && cid > (uint64_t)r->m.ncustomers + 1 && cid <= seq)
		add_placeholders(r, cid - 1, seq);
	c = cid ? model_customer_by_id(&r->m, cid) : NULL;
	if (c)
		pre = *c;
	rc = model_apply(&r->m, seq, rec);
	if (rc == 0)
		return 1;
	if (rc == MODEL_E_NOMEM)
		check_die_nomem();
	check_record_diagnose(&r->m, rec, c ? &pre : NULL, why, whylen);
	check_replay_skip(r, seq);
	if (cid) {
		/* A refused enrolment still holds its id: a stand-in takes it. */
		if (rec->type == PROTO_ENTRY_ENROL && cid == (uint64_t)r->m.ncustomers + 1)
			add_placeholders(r, cid, seq);
		taint_set(r, cid, seq);
	}
	return 0;
}

void check_taints_report(struct check *ck, struct check_replay *r, const struct check_replay *also)
{
	for (size_t i = 0; i < r->ntaint; i++) {
		struct check_taint *t = &r->taint[i];
		uint64_t n = t->nskipped;

		if (!t->on || !n)
			continue;
		/* The checkpoint's replay skips what the journal's skipped too: only report what is its own. */
		if (also && check_replay_skipped(also, t->first_skipped) && check_replay_skipped(also, t->last_skipped))
			continue;
		if (t->placeholder)
			check_problem_add(ck, t->first_skipped, (uint64_t)i + 1,
					  "%s%" PRIu64 " record%s of this customer (seq %" PRIu64 "..%" PRIu64
					  ") not checked against the daemon's rules: its enrolment is lost or was refused",
					  also ? "checkpoint: " : "", n, n == 1 ? "" : "s", t->first_skipped, t->last_skipped);
		else
			check_problem_add(ck, t->first_skipped, (uint64_t)i + 1,
					  "%s%" PRIu64 " record%s of this customer (seq %" PRIu64 "..%" PRIu64
					  ") not checked against the daemon's rules because of the problem at seq %" PRIu64,
					  also ? "checkpoint: " : "", n, n == 1 ? "" : "s", t->first_skipped, t->last_skipped, t->cause_seq);
	}
}

/* ---- comparisons ---------------------------------------------------------------------------------- */

static int str_eq(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static const char *groups_text(const struct proto_customer *v, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = 0;
	for (uint8_t i = 0; i < v->ngroups && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", check_qstr(v->groups[i]));
	/* (snprintf stops at cap: n past it only ends the loop) */
	if (!v->ngroups)
		snprintf(buf, cap, "(none)");
	return buf;
}

static void p1_differs(struct check *ck, const struct check_p1_customer *pc, uint64_t id, const char *what, int64_t journal,
		       int64_t model)
{
	if (journal != model)
		check_problem_add(ck, pc->last_seq, id, "%s: the journal's records add up to %" PRId64 ", the daemon's rules give %" PRId64,
				  what, journal, model);
}

void check_pass1_compare(struct check *ck)
{
	for (size_t i = 0; i < ck->np1; i++) {
		const struct check_p1_customer *pc = &ck->p1[i];
		uint64_t id = (uint64_t)i + 1;
		const struct model_customer *c;
		struct proto_customer v;

		if (!pc->known || pc->flagged || pc->member > 1 || tainted(&ck->journal, id))
			continue;
		c = model_customer_by_id(&ck->journal.m, id);
		if (!c) {
			check_problem_add(ck, pc->last_seq, id, "customer is in the journal but missing from the replayed model");
			continue;
		}
		model_customer_view(c, &v);
		p1_differs(ck, pc, id, "balance", pc->balance, v.balance);
		p1_differs(ck, pc, id, "lifetime points", pc->lifetime, v.lifetime_points);
		p1_differs(ck, pc, id, "visits", (int64_t)pc->visits, (int64_t)v.visits);
		p1_differs(ck, pc, id, "total spend", pc->spend, v.total_spend);
		p1_differs(ck, pc, id, "last seq", (int64_t)pc->last_seq, (int64_t)c->last_seq);
		p1_differs(ck, pc, id, "member", pc->member, v.member);
	}
}

struct contact {
	const char *text;
	uint32_t len;
	uint64_t id, seq;
};

static int contact_cmp(const void *a, const void *b)
{
	const struct contact *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->text, y->text, x->len);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void check_contacts_unique(struct check *ck, int phone)
{
	struct contact *all = check_xrealloc(NULL, (ck->np1 ? ck->np1 : 1) * sizeof *all);
	size_t n = 0;

	for (size_t i = 0; i < ck->np1; i++) {
		const struct check_p1_customer *pc = &ck->p1[i];
		uint32_t len = phone ? pc->phone_len : pc->email_len;
		if (!pc->known || !len)
			continue;
		all[n].text = phone ? pc->phone : pc->email;
		all[n].len = len;
		all[n].id = (uint64_t)i + 1;
		all[n].seq = pc->contact_seq;
		n++;
	}
	qsort(all, n, sizeof *all, contact_cmp);
	for (size_t i = 1; i < n; i++) {
		const struct contact *a = &all[i - 1], *b = &all[i];
		if (a->len != b->len || memcmp(a->text, b->text, a->len))
			continue;
		/* A record the daemon's rules refused has said so already. */
		if (check_replay_skipped(&ck->journal, b->seq))
			continue;
		check_problem_add(ck, b->seq, b->id, "%s %s is also customer %" PRIu64 "'s (since seq %" PRIu64 ")",
				  phone ? "phone" : "email", check_quote(b->text, b->len), a->id, a->seq);
	}
	free(all);
}

static void differs_num(struct check *ck, uint64_t seq, uint64_t id, const char *what, int64_t journal, int64_t checkpoint)
{
	if (journal != checkpoint)
		check_problem_add(ck, seq, id,
				  "checkpoint differs from the journal: %s: %" PRId64 " in the checkpoint, %" PRId64 " by the journal", what,
				  checkpoint, journal);
}

static void differs_str(struct check *ck, uint64_t seq, uint64_t id, const char *what, struct proto_str journal,
			struct proto_str checkpoint)
{
	if (!str_eq(journal, checkpoint))
		check_problem_add(ck, seq, id, "checkpoint differs from the journal: %s: %s in the checkpoint, %s by the journal", what,
				  check_qstr(checkpoint), check_qstr(journal));
}

/* Every field of one customer: the journal model (j) against the checkpoint model (c). */
static void compare_customer(struct check *ck, const struct model_customer *j, const struct model_customer *c)
{
	struct proto_customer a, b;
	char ga[2 * (4 * PROTO_MAX_GROUP + 3) * PROTO_MAX_GROUPS], gb[sizeof ga];
	uint64_t id = j->id, seq = j->last_seq;

	model_customer_view(j, &a);
	model_customer_view(c, &b);
	differs_num(ck, seq, id, "balance", a.balance, b.balance);
	differs_num(ck, seq, id, "lifetime points", a.lifetime_points, b.lifetime_points);
	differs_num(ck, seq, id, "visits", (int64_t)a.visits, (int64_t)b.visits);
	differs_num(ck, seq, id, "total spend", a.total_spend, b.total_spend);
	differs_num(ck, seq, id, "last seq", (int64_t)j->last_seq, (int64_t)c->last_seq);
	differs_num(ck, seq, id, "created", a.created_us, b.created_us);
	differs_num(ck, seq, id, "last visit", a.last_visit_us, b.last_visit_us);
	differs_num(ck, seq, id, "member", a.member, b.member);
	differs_str(ck, seq, id, "email", a.email, b.email);
	differs_str(ck, seq, id, "phone", a.phone, b.phone);
	differs_str(ck, seq, id, "first name", a.first_name, b.first_name);
	differs_str(ck, seq, id, "last name", a.last_name, b.last_name);
	differs_str(ck, seq, id, "tier", a.tier, b.tier);
	differs_num(ck, seq, id, "opted out", a.opted_out, b.opted_out);
	differs_num(ck, seq, id, "opt-out time", a.optout_us, b.optout_us);
	differs_str(ck, seq, id, "opt-out source", a.optout_source, b.optout_source);
	differs_num(ck, seq, id, "cards", a.ncards, b.ncards);
	for (uint8_t i = 0; i < a.ncards && i < b.ncards; i++)
		differs_str(ck, seq, id, "card", a.cards[i], b.cards[i]);
	groups_text(&a, ga, sizeof ga);
	groups_text(&b, gb, sizeof gb);
	if (strcmp(ga, gb) != 0)
		check_problem_add(ck, seq, id, "checkpoint differs from the journal: groups: %s in the checkpoint, %s by the journal", gb,
				  ga);
}

static void compare_order(struct check *ck, const struct model_order *j, const struct model_order *c)
{
	const struct {
		const char *field;
		int64_t j, c;
	} f[] = {
		{"customer", (int64_t)j->customer_id, (int64_t)c->customer_id},
		{"sale seq", (int64_t)j->seq, (int64_t)c->seq},
		{"amount", j->amount, c->amount},
		{"points", j->points, c->points},
		{"refunded", j->refunded, c->refunded},
		{"taken back", j->taken_back, c->taken_back},
		{"last return seq", (int64_t)j->last_return_seq, (int64_t)c->last_return_seq},
	};
	char what[700];

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (f[i].j == f[i].c)
			continue;
		snprintf(what, sizeof what, "%s of %s", f[i].field, check_order_name(j->key, j->key_len));
		differs_num(ck, j->seq, j->customer_id, what, f[i].j, f[i].c);
	}
}

/* The customer a remembered request acted on: the one whose chain the
 * record it wrote belongs to (PROTO_ENTRIES); key and program requests have none. */
static uint64_t request_customer(const struct model_request *q)
{
#define REQUEST_CUSTOMER(TYPE, kind, code, name, payload, op, of_customer) \
	if (q->opcode == PROTO_OP_##op)                                    \
		return of_customer ? q->object_id : 0;
	PROTO_ENTRIES(REQUEST_CUSTOMER)
#undef REQUEST_CUSTOMER
	return 0;
}

static void compare_request(struct check *ck, const struct model_request *j, const struct model_request *c)
{
	const struct {
		const char *field;
		int64_t j, c;
	} f[] = {
		{"opcode", j->opcode, c->opcode},
		{"seq", (int64_t)j->seq, (int64_t)c->seq},
		{"object id", (int64_t)j->object_id, (int64_t)c->object_id},
		{"value", j->value, c->value},
		{"body hash", (int64_t)j->body_hash, (int64_t)c->body_hash},
	};
	char what[200];

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (f[i].j == f[i].c)
			continue;
		snprintf(what, sizeof what, "%s of request key %s", f[i].field, check_key_hex(j->key));
		differs_num(ck, j->seq, request_customer(j), what, f[i].j, f[i].c);
	}
}

struct setting_list {
	char **items; /* "name=value" */
	size_t n, cap;
};

static int setting_collect(void *ctx, const char *key, const char *value)
{
	struct setting_list *l = ctx;
	size_t len = strlen(key) + strlen(value) + 2;

	check_grow((void **)&l->items, &l->cap, l->n + 1, sizeof *l->items);
	l->items[l->n] = check_xrealloc(NULL, len);
	snprintf(l->items[l->n], len, "%s=%s", key, value);
	l->n++;
	return 0;
}

static void compare_program(struct check *ck)
{
	struct setting_list a = {NULL, 0, 0}, b = {NULL, 0, 0};

	rules_each(&ck->journal.m.rules, setting_collect, &a);
	rules_each(&ck->checkpoint.m.rules, setting_collect, &b);
	for (size_t i = 0; i < a.n; i++) {
		int found = 0;
		for (size_t j = 0; j < b.n && !found; j++)
			found = strcmp(a.items[i], b.items[j]) == 0;
		if (!found)
			check_problem_add(ck, ck->journal.m.program_seq, 0,
					  "checkpoint differs from the journal: the program has %s by the journal, not in the checkpoint",
					  check_quote(a.items[i], strlen(a.items[i])));
	}
	for (size_t j = 0; j < b.n; j++) {
		int found = 0;
		for (size_t i = 0; i < a.n && !found; i++)
			found = strcmp(a.items[i], b.items[j]) == 0;
		if (!found)
			check_problem_add(ck, ck->journal.m.program_seq, 0,
					  "checkpoint differs from the journal: the program has %s in the checkpoint, not by the journal",
					  check_quote(b.items[j], strlen(b.items[j])));
	}
	for (size_t i = 0; i < a.n; i++)
		free(a.items[i]);
	for (size_t j = 0; j < b.n; j++)
		free(b.items[j]);
	free(a.items);
	free(b.items);
}

/* Left out of comparisons: a customer either replay gave up on. */
static int customer_troubled(const struct check *ck, uint64_t id)
{
	return tainted(&ck->journal, id) || tainted(&ck->checkpoint, id);
}

static int seq_troubled(const struct check *ck, uint64_t seq)
{
	return check_replay_skipped(&ck->journal, seq) || check_replay_skipped(&ck->checkpoint, seq) || check_lost_find(ck, seq);
}

void check_checkpoint_compare(struct check *ck)
{
	const struct model *j = &ck->journal.m, *c = &ck->checkpoint.m;
	uint32_t n = j->ncustomers > c->ncustomers ? j->ncustomers : c->ncustomers;
	int clean_replays = !ck->journal.nskipped && !ck->checkpoint.nskipped && !ck->nlost;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t id = (uint64_t)i + 1;
		if (customer_troubled(ck, id))
			continue;
		if (i >= c->ncustomers)
			check_problem_add(ck, j->customers[i].last_seq, id, "checkpoint differs from the journal: the customer is missing from the checkpoint");
		else if (i >= j->ncustomers)
			check_problem_add(ck, c->customers[i].last_seq, id, "checkpoint differs from the journal: the customer is in the checkpoint but was never enrolled in the journal");
		else
			compare_customer(ck, &j->customers[i], &c->customers[i]);
	}
	for (uint32_t i = 0; i < j->norders; i++) {
		const struct model_order *o = &j->orders[i], *other;
		if (customer_troubled(ck, o->customer_id) || seq_troubled(ck, o->seq))
			continue;
		other = model_order_by_key(c, o->key, o->key_len);
		if (!other)
			check_problem_add(ck, o->seq, o->customer_id, "checkpoint differs from the journal: %s is missing from the checkpoint",
					  check_order_name(o->key, o->key_len));
		else
			compare_order(ck, o, other);
	}
	for (uint32_t i = 0; i < c->norders; i++) {
		const struct model_order *o = &c->orders[i];
		/* Orders are saved with the record of their sale: one whose record
		 * is lost is reported as that record. */
		if (!customer_troubled(ck, o->customer_id) && !seq_troubled(ck, o->seq) &&
		    !model_order_by_key(j, o->key, o->key_len))
			check_problem_add(ck, o->seq, o->customer_id, "checkpoint differs from the journal: %s is in the checkpoint, but the journal has no such sale",
					  check_order_name(o->key, o->key_len));
	}
	for (uint32_t i = 0; i < j->nrequests; i++) {
		const struct model_request *q = &j->requests[i], *other;
		if (seq_troubled(ck, q->seq))
			continue;
		other = model_request_find(c, q->key);
		if (!other)
			check_problem_add(ck, q->seq, request_customer(q), "checkpoint differs from the journal: request key %s (seq %" PRIu64 ") is missing from the checkpoint",
					  check_key_hex(q->key), q->seq);
		else
			compare_request(ck, q, other);
	}
	for (uint32_t i = 0; i < c->nrequests; i++) {
		const struct model_request *q = &c->requests[i];
		if (!seq_troubled(ck, q->seq) && !model_request_find(j, q->key))
			check_problem_add(ck, q->seq, request_customer(q), "checkpoint differs from the journal: request key %s (seq %" PRIu64 ") is in the checkpoint, not in the journal",
					  check_key_hex(q->key), q->seq);
	}
	for (uint32_t i = 0; i < j->nkeys; i++) {
		const struct model_apikey *a = &j->keys[i], *b = model_apikey_find(c, a->id);
		if (!b)
			check_problem_add(ck, 0, 0, "checkpoint differs from the journal: API key %" PRIu64 " is missing from the checkpoint", a->id);
		else if (a->role != b->role || a->revoked != b->revoked || a->created_us != b->created_us ||
			 strcmp(a->location, b->location) != 0 || memcmp(a->hash, b->hash, RECORD_HASH_SIZE) != 0)
			check_problem_add(ck, 0, 0,
					  "checkpoint differs from the journal: API key %" PRIu64 " is %s%s at %s in the checkpoint, %s%s at %s by the journal%s",
					  a->id, proto_role_name(b->role), b->revoked ? " revoked" : "", check_quote(b->location, strlen(b->location)),
					  proto_role_name(a->role), a->revoked ? " revoked" : "", check_quote(a->location, strlen(a->location)),
					  memcmp(a->hash, b->hash, RECORD_HASH_SIZE) ? " (another hash)" : "");
	}
	for (uint32_t i = 0; i < c->nkeys; i++)
		if (!model_apikey_find(j, c->keys[i].id))
			check_problem_add(ck, 0, 0, "checkpoint differs from the journal: API key %" PRIu64 " is in the checkpoint, not in the journal",
					  c->keys[i].id);
	compare_program(ck);
	/* The counts say the same as the lines above in one figure, but only
	 * mean something when both replays took every record. */
	if (clean_replays) {
		if (j->ncustomers != c->ncustomers)
			check_problem_add(ck, 0, 0, "checkpoint has %u customers, the journal %u", c->ncustomers, j->ncustomers);
		if (j->norders != c->norders)
			check_problem_add(ck, 0, 0, "checkpoint has %u orders, the journal %u", c->norders, j->norders);
		if (j->nrequests != c->nrequests)
			check_problem_add(ck, 0, 0, "checkpoint has %u request keys, the journal %u", c->nrequests, j->nrequests);
		if (j->nkeys != c->nkeys)
			check_problem_add(ck, 0, 0, "checkpoint has %u API keys, the journal %u", c->nkeys, j->nkeys);
	}
}
