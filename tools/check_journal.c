/*
 * check_journal.c - accrue-check's walk of the journal and everything it
 * knows about record kinds: each record's checksum and seq, the chain of
 * each customer's records, the journal's own arithmetic (pass 1), and why
 * the daemon's rules refuse a record. What differs by record kind is one
 * function per kind in two tables built from proto.h's PROTO_ENTRIES
 * (pass1_<kind>, diagnose_<kind>), so a new kind fails to build until
 * accrue-check knows it.
 */
#include "check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct record rec_buf; /* 14 KiB of line arrays: not on the stack */

/* ---- lost records --------------------------------------------------------------------- */

struct check_lost *check_lost_find(const struct check *ck, uint64_t seq)
{
	size_t lo = 0, hi = ck->nlost;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ck->lost[mid].to < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ck->nlost && ck->lost[lo].from <= seq ? &ck->lost[lo] : NULL;
}

static struct check_lost *lost_add(struct check *ck, uint64_t from, uint64_t to, int err)
{
	struct check_lost *l;

	check_grow((void **)&ck->lost, &ck->lost_cap, ck->nlost + 1, sizeof *ck->lost);
	l = &ck->lost[ck->nlost++];
	memset(l, 0, sizeof *l);
	l->from = from;
	l->to = to;
	l->err = err;
	l->problem = SIZE_MAX;
	ck->lost_since_enrol += to - from + 1;
	return l;
}

/* ---- record kinds, and why the model refuses a record ---------------------------------------- */

/*
 * Why model_apply refused a record, one function per record kind
 * (PROTO_ENTRIES): each says which of the kind's conditions the record
 * broke, from the state before it (pre: the customer as it was, or NULL),
 * and returns 1, or 0 when none of its own conditions is broken.
 */
typedef int diagnose_fn(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			size_t cap);

/* ENROL and JOIN: the contact details must be free, and the chain start right. */
static int diagnose_contact(const struct model *m, const struct record *rec, const struct model_customer *pre,
			    char *out, size_t cap)
{
	const __typeof__(rec->u.enrol) *e = &rec->u.enrol;
	const struct model_customer *other;
	uint64_t cid = rec->customer_id;

	if (rec->type == PROTO_ENTRY_ENROL && rec->prev_seq) {
		snprintf(out, cap, "an enrolment with prev_seq %" PRIu64, rec->prev_seq);
		return 1;
	}
	if (rec->type == PROTO_ENTRY_ENROL && cid != (uint64_t)m->ncustomers + 1) {
		snprintf(out, cap, "customer id %" PRIu64 " is not the next id (%" PRIu64 ")", cid, (uint64_t)m->ncustomers + 1);
		return 1;
	}
	if (rec->type == PROTO_ENTRY_JOIN && pre->member) {
		snprintf(out, cap, "a join, but customer %" PRIu64 " is a member already", cid);
		return 1;
	}
	if ((other = model_customer_by_email(m, e->email)) && other->id != cid) {
		snprintf(out, cap, "email %s already belongs to customer %" PRIu64, check_qstr(e->email), other->id);
		return 1;
	}
	if ((other = model_customer_by_phone(m, e->phone)) && other->id != cid) {
		snprintf(out, cap, "phone %s already belongs to customer %" PRIu64, check_qstr(e->phone), other->id);
		return 1;
	}
	return 0;
}

static int diagnose_enrol(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			  size_t cap)
{
	return diagnose_contact(m, rec, pre, out, cap);
}

static int diagnose_join(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			 size_t cap)
{
	return diagnose_contact(m, rec, pre, out, cap);
}

/* A change of balance must end where the record says. */
static int diagnose_balance(const struct model_customer *pre, int64_t points, int64_t balance_after, char *out,
			    size_t cap)
{
	int64_t sum;

	if (__builtin_add_overflow(pre->balance, points, &sum) || sum != balance_after) {
		snprintf(out, cap, "balance %" PRId64 " and %" PRId64 " points make %" PRId64 ", but the record says %" PRId64,
			 pre->balance, points, sum, balance_after);
		return 1;
	}
	return 0;
}

static int diagnose_accrue(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			   size_t cap)
{
	const struct model_order *o = model_order_find(m, rec->u.accrue.location, rec->u.accrue.order_id);
	int64_t sum;

	if (diagnose_balance(pre, rec->u.accrue.points, rec->u.accrue.balance_after, out, cap))
		return 1;
	if (o) {
		snprintf(out, cap, "order %s at %s was accrued already (seq %" PRIu64 ")", check_qstr(rec->u.accrue.order_id),
			 check_qstr(rec->u.accrue.location), o->seq);
		return 1;
	}
	if (__builtin_add_overflow(pre->total_spend, rec->u.accrue.amount, &sum) ||
	    (rec->u.accrue.points > 0 && __builtin_add_overflow(pre->lifetime_points, rec->u.accrue.points, &sum))) {
		snprintf(out, cap, "the customer's totals would overflow");
		return 1;
	}
	return 0;
}

static int diagnose_adjust(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			   size_t cap)
{
	return diagnose_balance(pre, rec->u.adjust.points, rec->u.adjust.balance_after, out, cap);
}

static int diagnose_return(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			   size_t cap)
{
	const struct model_order *o = model_order_find(m, rec->u.ret.location, rec->u.ret.order_id);
	const char *name = check_qstr(rec->u.ret.order_id), *loc = check_qstr(rec->u.ret.location);
	int64_t sum;

	if (!o) {
		snprintf(out, cap, "it returns order %s at %s, which was never accrued", name, loc);
	} else if (!model_customer_owner(m, o->customer_id) || model_customer_owner(m, o->customer_id)->id != rec->customer_id) {
		snprintf(out, cap, "order %s at %s belongs to customer %" PRIu64, name, loc, o->customer_id);
	} else if (o->seq != rec->u.ret.sale_seq) {
		snprintf(out, cap, "it names sale seq %" PRIu64 ", but order %s at %s was sold at seq %" PRIu64,
			 rec->u.ret.sale_seq, name, loc, o->seq);
	} else if (o->last_return_seq != rec->u.ret.prev_return_seq) {
		snprintf(out, cap, "it follows return seq %" PRIu64 ", but the order's last return is seq %" PRIu64,
			 rec->u.ret.prev_return_seq, o->last_return_seq);
	} else if (rec->u.ret.refunded < 0 || rec->u.ret.taken < 0 || rec->u.ret.applied < 0 ||
		   rec->u.ret.applied > rec->u.ret.taken) {
		snprintf(out, cap, "refunded %" PRId64 ", taken %" PRId64 ", applied %" PRId64 " are not possible",
			 rec->u.ret.refunded, rec->u.ret.taken, rec->u.ret.applied);
	} else if (o->refunded + rec->u.ret.refunded > o->amount) {
		snprintf(out, cap, "it refunds %" PRId64 ", but the order has %" PRId64 " of %" PRId64 " left", rec->u.ret.refunded,
			 o->amount - o->refunded, o->amount);
	} else if (o->taken_back + rec->u.ret.taken > o->points) {
		snprintf(out, cap, "it takes back %" PRId64 " points, but the order has %" PRId64 " of %" PRId64 " left",
			 rec->u.ret.taken, o->points - o->taken_back, o->points);
	} else if (__builtin_sub_overflow(pre->balance, rec->u.ret.applied, &sum) || sum != rec->u.ret.balance_after) {
		snprintf(out, cap, "balance %" PRId64 " less %" PRId64 " points makes %" PRId64 ", but the record says %" PRId64,
			 pre->balance, rec->u.ret.applied, sum, rec->u.ret.balance_after);
	} else if (rec->u.ret.full && o->refunded + rec->u.ret.refunded != o->amount) {
		snprintf(out, cap, "it marks the order refunded in full, but only %" PRId64 " of %" PRId64 " is",
			 o->refunded + rec->u.ret.refunded, o->amount);
	} else if (rec->u.ret.full && pre->visits == 0) {
		snprintf(out, cap, "it undoes a visit, but the customer has none");
	} else {
		return 0;
	}
	return 1;
}

static int diagnose_program(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			    size_t cap)
{
	/* rules_set on a copy: the model's program must not change here. A
	 * struct rules is large; this runs once, for the record that stopped
	 * the replay, so the heap is fine. */
	struct rules *copy;
	char err[300];

	if (rec->customer_id) {
		snprintf(out, cap, "a program record names customer %" PRIu64, rec->customer_id);
		return 1;
	}
	if (!(copy = malloc(sizeof *copy)))
		check_die_nomem();
	*copy = m->rules;
	if (rules_set(copy, rec->u.program.name.ptr, rec->u.program.name.len, rec->u.program.value.ptr,
		      rec->u.program.value.len, err, sizeof err) != RULES_OK) {
		snprintf(out, cap, "setting %s = %s: %s", check_qstr(rec->u.program.name), check_qstr(rec->u.program.value),
			 err);
		free(copy);
		return 1;
	}
	free(copy);
	return 0;
}

static int diagnose_group(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			  size_t cap)
{
	int held = model_customer_in_group(pre, rec->u.group.group);
	struct proto_customer v;

	model_customer_view(pre, &v);
	if (rec->u.group.add && held) {
		snprintf(out, cap, "it adds group %s, which the customer is in already", check_qstr(rec->u.group.group));
		return 1;
	}
	if (!rec->u.group.add && !held) {
		snprintf(out, cap, "it removes group %s, which the customer is not in", check_qstr(rec->u.group.group));
		return 1;
	}
	if (rec->u.group.add && (v.ngroups >= PROTO_MAX_GROUPS || !rec->u.group.group.len)) {
		snprintf(out, cap, "it adds %s group", v.ngroups >= PROTO_MAX_GROUPS ? "a 17th" : "an unnamed");
		return 1;
	}
	return 0;
}

static int diagnose_group_rename(const struct model *m, const struct record *rec, const struct model_customer *pre,
				 char *out, size_t cap)
{
	const __typeof__(rec->u.group_rename) *r = &rec->u.group_rename;
	const struct places_group *g = places_group_find(&m->places, r->from);

	if (!r->from.len || !r->to.len) {
		snprintf(out, cap, "a group rename without a %s name", r->from.len ? "new" : "old");
		return 1;
	}
	if (r->from.len == r->to.len && memcmp(r->from.ptr, r->to.ptr, r->to.len) == 0) {
		snprintf(out, cap, "it renames group %s to itself", check_qstr(r->from));
		return 1;
	}
	if (!g || !g->members) {
		snprintf(out, cap, "it renames group %s, which no customer is in", check_qstr(r->from));
		return 1;
	}
	return 0;
}

static int diagnose_tier(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			 size_t cap)
{
	return 0; /* any tier may follow any other */
}

static int diagnose_key_create(const struct model *m, const struct record *rec, const struct model_customer *pre,
			       char *out, size_t cap)
{
	if (rec->u.key_create.key_id == 0 || model_apikey_find(m, rec->u.key_create.key_id)) {
		snprintf(out, cap, "API key id %" PRIu64 " is %s", rec->u.key_create.key_id,
			 rec->u.key_create.key_id ? "taken" : "not an id");
		return 1;
	}
	return 0;
}

static int diagnose_key_revoke(const struct model *m, const struct record *rec, const struct model_customer *pre,
			       char *out, size_t cap)
{
	if (!model_apikey_find(m, rec->u.key_revoke.key_id)) {
		snprintf(out, cap, "it revokes API key %" PRIu64 ", which does not exist", rec->u.key_revoke.key_id);
		return 1;
	}
	return 0;
}

/* EDIT: what it leaves must be free and still reach the customer. */
static int diagnose_edit(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			 size_t cap)
{
	const __typeof__(rec->u.edit) *e = &rec->u.edit;
	const struct model_customer *other;
	struct proto_customer v;

	if (!e->fields || e->fields > PROTO_EDIT_ALL) {
		snprintf(out, cap, "an edit of fields %u", e->fields);
		return 1;
	}
	if ((!(e->fields & PROTO_EDIT_EMAIL) && e->email.len) || (!(e->fields & PROTO_EDIT_PHONE) && e->phone.len) ||
	    (!(e->fields & PROTO_EDIT_FIRST) && e->first_name.len) || (!(e->fields & PROTO_EDIT_LAST) && e->last_name.len)) {
		snprintf(out, cap, "an edit carries a value for a field it does not change");
		return 1;
	}
	if ((e->fields & PROTO_EDIT_EMAIL) && (other = model_customer_by_email(m, e->email)) && other->id != rec->customer_id) {
		snprintf(out, cap, "email %s already belongs to customer %" PRIu64, check_qstr(e->email), other->id);
		return 1;
	}
	if ((e->fields & PROTO_EDIT_PHONE) && (other = model_customer_by_phone(m, e->phone)) && other->id != rec->customer_id) {
		snprintf(out, cap, "phone %s already belongs to customer %" PRIu64, check_qstr(e->phone), other->id);
		return 1;
	}
	model_customer_view(pre, &v);
	if ((e->fields & PROTO_EDIT_EMAIL ? !e->email.len : !v.email.len) &&
	    (e->fields & PROTO_EDIT_PHONE ? !e->phone.len : !v.phone.len) && !v.ncards) {
		snprintf(out, cap, "it leaves the customer without an email, a phone or a card");
		return 1;
	}
	return 0;
}

/* CARD: a card is one customer's at a time. */
static int diagnose_card(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			 size_t cap)
{
	const struct model_customer *holder = model_customer_by_card(m, rec->u.card.card);
	struct proto_customer v;

	model_customer_view(pre, &v);
	if (rec->u.card.link && holder) {
		snprintf(out, cap, "card %s already belongs to customer %" PRIu64, check_qstr(rec->u.card.card), holder->id);
		return 1;
	}
	if (rec->u.card.link && v.ncards >= PROTO_MAX_CARDS) {
		snprintf(out, cap, "it links a card to a customer who holds %d already", PROTO_MAX_CARDS);
		return 1;
	}
	if (!rec->u.card.link && (!holder || holder->id != rec->customer_id)) {
		snprintf(out, cap, "it unlinks card %s, which the customer does not hold", check_qstr(rec->u.card.card));
		return 1;
	}
	if (!rec->u.card.link && !v.email.len && !v.phone.len && v.ncards == 1) {
		snprintf(out, cap, "it unlinks the last card of a customer with neither email nor phone");
		return 1;
	}
	return 0;
}

static int diagnose_archive(const struct model *m, const struct record *rec, const struct model_customer *pre,
			    char *out, size_t cap)
{
	const __typeof__(rec->u.archive) *r = &rec->u.archive;
	const struct model_customer *into = r->merged_into ? model_customer_by_id(m, r->merged_into) : NULL;

	if (!r->merged_into) {
		if (r->points || r->lifetime || r->spend || r->visits) {
			snprintf(out, cap, "an archive that is no merge moves amounts away");
			return 1;
		}
		return 0;
	}
	if (!into || into == pre || into->archived) {
		snprintf(out, cap, "it merges into customer %" PRIu64 ", who is %s", r->merged_into,
			 !into ? "unknown" : into == pre ? "the same customer" : "archived");
		return 1;
	}
	if (r->points != pre->balance || r->lifetime != pre->lifetime_points || r->spend != pre->total_spend ||
	    r->visits != pre->visits) {
		snprintf(out, cap, "it moves %" PRId64 " points, %" PRId64 " lifetime, %" PRId64 " spend, %" PRIu64
				   " visits; the customer had %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRIu64,
			 r->points, r->lifetime, r->spend, r->visits, pre->balance, pre->lifetime_points, pre->total_spend,
			 pre->visits);
		return 1;
	}
	return 0;
}

static int diagnose_merge(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			  size_t cap)
{
	const __typeof__(rec->u.merge) *r = &rec->u.merge;
	const struct model_customer *from = model_customer_by_id(m, r->from);

	if (!from || from == pre || !from->archived || model_customer_merged_into(from) != rec->customer_id) {
		snprintf(out, cap, "it merges customer %" PRIu64 " in, who was not archived into this one just before", r->from);
		return 1;
	}
	for (uint8_t i = 0; i < r->ncards; i++) {
		const struct model_customer *holder = model_customer_by_card(m, r->cards[i]);
		if (holder) {
			snprintf(out, cap, "card %s already belongs to customer %" PRIu64, check_qstr(r->cards[i]), holder->id);
			return 1;
		}
	}
	return diagnose_balance(pre, r->points, r->balance_after, out, cap);
}

static int diagnose_optout(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			   size_t cap)
{
	struct proto_customer v;

	model_customer_view(pre, &v);
	if (rec->u.optout.opted_out == v.opted_out) {
		snprintf(out, cap, "the customer is opted %s already", v.opted_out ? "out" : "in");
		return 1;
	}
	if (!rec->u.optout.opted_out && rec->u.optout.source.len) {
		snprintf(out, cap, "an opt-in with a source");
		return 1;
	}
	return 0;
}

static diagnose_fn *const diagnose_of_type[PROTO_ENTRY_TYPE_MAX + 1] = {
#define DIAGNOSE_ROW(TYPE, kind, code, name, payload, op, of_customer) [PROTO_ENTRY_##TYPE] = diagnose_##kind,
	PROTO_ENTRIES(DIAGNOSE_ROW)
#undef DIAGNOSE_ROW
};

void check_record_diagnose(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
			   size_t cap)
{
	diagnose_fn *fn = rec->type <= PROTO_ENTRY_TYPE_MAX ? diagnose_of_type[rec->type] : NULL;
	uint64_t cid = rec->customer_id;

	if (!fn) {
		snprintf(out, cap, "unknown record type %d", rec->type);
		return;
	}
	if (proto_entry_of_customer(rec->type) && !cid) {
		snprintf(out, cap, "a %s record names no customer", proto_entry_type_name(rec->type));
		return;
	}
	if (rec->type != PROTO_ENTRY_ENROL && cid) {
		if (!pre) {
			snprintf(out, cap, "customer %" PRIu64 " does not exist", cid);
			return;
		}
		if (pre->last_seq != rec->prev_seq) {
			snprintf(out, cap, "it follows seq %" PRIu64 " in the customer's chain, but the customer's last record is seq %" PRIu64,
				 rec->prev_seq, pre->last_seq);
			return;
		}
	}
	if (fn(m, rec, pre, out, cap))
		return;
	if (!model_key_is_zero(rec->request_key)) {
		const struct model_request *q = model_request_find(m, rec->request_key);
		if (q) {
			snprintf(out, cap, "its request key %s was used already, by seq %" PRIu64, check_key_hex(rec->request_key),
				 q->seq);
			return;
		}
	}
	snprintf(out, cap, "it contradicts the state before it");
}

/* ---- pass 1: the journal's own arithmetic -------------------------------------------------- */

static struct check_p1_customer *p1_get(struct check *ck, uint64_t id, int create)
{
	if (id == 0)
		return NULL;
	if (id > ck->np1) {
		size_t old = ck->np1, cap = ck->np1;
		if (!create)
			return NULL;
		check_grow((void **)&ck->p1, &cap, (size_t)id, sizeof *ck->p1);
		memset(ck->p1 + old, 0, (cap - old) * sizeof *ck->p1);
		ck->np1 = cap;
	}
	return &ck->p1[id - 1];
}

static void p1_problem(struct check *ck, struct check_p1_customer *pc, uint64_t seq, uint64_t cid, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void p1_problem(struct check *ck, struct check_p1_customer *pc, uint64_t seq, uint64_t cid, const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	check_problem_add(ck, seq, cid, "%s", text);
	ck->current_flagged = 1;
	if (pc)
		pc->flagged = 1;
}

static void set_text(char **dst, uint32_t *len, struct proto_str s)
{
	free(*dst);
	*dst = check_xrealloc(NULL, s.len);
	if (s.len)
		memcpy(*dst, s.ptr, s.len);
	*len = s.len;
}

/*
 * An email as an earlier version stored it: only ASCII was lower-cased, so
 * "Änna@x" was kept as typed. Journals written then keep their meaning;
 * such an address is well-formed, not damage.
 */
static int email_legacy_ok(struct proto_str e)
{
	uint32_t ats = 0, at = 0;

	for (uint32_t i = 0; i < e.len; i++) {
		unsigned char ch = (unsigned char)e.ptr[i];
		if (ch <= ' ' || ch == 0x7f || (ch >= 'A' && ch <= 'Z'))
			return 0;
		if (ch == '@') {
			ats++;
			at = i;
		}
	}
	return ats == 1 && at > 0 && at < e.len - 1;
}

/*
 * A phone as every version stored it: E.164 shape, '+' and 6 to 15 digits.
 * It is not re-normalised: that depends on the program's phone.country at
 * the time, and an earlier version turned "020 7946 0000" into
 * "+02079460000", which this one would refuse to make but must not call
 * damage.
 */
static int phone_stored_ok(struct proto_str ph)
{
	if (ph.len < 7 || ph.len > 16 || ph.ptr[0] != '+')
		return 0;
	for (uint32_t i = 1; i < ph.len; i++)
		if (ph.ptr[i] < '0' || ph.ptr[i] > '9')
			return 0;
	return 1;
}

/* Emails and phones are stored as the daemon normalises them. */
static void p1_check_contact(struct check *ck, struct check_p1_customer *pc, uint64_t seq, uint64_t cid, const struct record *rec)
{
	char buf[PROTO_MAX_EMAIL + 1];
	struct proto_str norm, e = rec->u.enrol.email, ph = rec->u.enrol.phone;

	if (e.len && (model_email_normalise(e, buf, &norm) || norm.len != e.len || memcmp(norm.ptr, e.ptr, norm.len)) &&
	    !email_legacy_ok(e))
		p1_problem(ck, pc, seq, cid, "email %s is not a normalised email address", check_qstr(e));
	if (ph.len && !phone_stored_ok(ph))
		p1_problem(ck, pc, seq, cid, "phone %s is not a normalised phone number", check_qstr(ph));
	if (rec->erased) {
		if (e.len || ph.len || rec->u.enrol.first_name.len || rec->u.enrol.last_name.len)
			p1_problem(ck, pc, seq, cid, "an erased %s still carries personal data", proto_entry_type_name(rec->type));
		return;
	}
	if (!e.len && !ph.len)
		p1_problem(ck, pc, seq, cid, "an %s with neither email nor phone", proto_entry_type_name(rec->type));
}

/* The balance a record leaves must be the one before it plus its change. */
static void p1_balance(struct check *ck, struct check_p1_customer *pc, uint64_t seq, uint64_t cid, int64_t change,
		       int64_t balance_after)
{
	int64_t expect;

	if (pc->balance_known) {
		if (__builtin_add_overflow(pc->balance, change, &expect)) {
			p1_problem(ck, pc, seq, cid, "balance %" PRId64 " and a change of %" PRId64 " overflow", pc->balance, change);
		} else if (expect != balance_after) {
			p1_problem(ck, pc, seq, cid,
				   "balance_after is %" PRId64 ", but the customer's records add up to %" PRId64
				   " (%" PRId64 " before, change %" PRId64 ")",
				   balance_after, expect, pc->balance, change);
			/* Which of the two is wrong, the next record tells: it
			 * starts again from its own balance_after, so one bad
			 * record is one problem. */
			pc->balance_known = 0;
			return;
		}
	}
	pc->balance = balance_after;
	pc->balance_known = 1;
}

/*
 * What pass 1 adds up from each record kind (PROTO_ENTRIES), once the
 * record's place in its customer's chain has been checked: pc is the
 * customer as pass 1 knows them (NULL for ENROL, which starts a chain and
 * makes the customer, and for kinds that belong to no customer).
 */
typedef void pass1_fn(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec);

static void pass1_enrol(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	uint64_t cid = rec->customer_id;

	if (cid > seq) {
		p1_problem(ck, NULL, seq, cid, "customer id %" PRIu64 " cannot be enrolled at seq %" PRIu64
					       ": ids are handed out one at a time from 1",
			   cid, seq);
		return;
	}
	pc = p1_get(ck, cid, 1);
	if (pc->known) {
		p1_problem(ck, pc, seq, cid, "customer %" PRIu64 " is enrolled again (first at seq %" PRIu64 ")", cid,
			   pc->enrol_seq);
		return;
	}
	if (rec->prev_seq)
		p1_problem(ck, pc, seq, cid, "an enrolment with prev_seq %" PRIu64 ": it must start the customer's chain",
			   rec->prev_seq);
	if (cid <= ck->p1_max_id)
		p1_problem(ck, pc, seq, cid, "customer id %" PRIu64 " is enrolled after id %" PRIu64 ": ids only go up", cid,
			   ck->p1_max_id);
	else if (cid > ck->p1_max_id + 1 + ck->lost_since_enrol)
		p1_problem(ck, pc, seq, cid, "customer ids %" PRIu64 "..%" PRIu64 " were never enrolled", ck->p1_max_id + 1,
			   cid - 1);
	pc->known = 1;
	pc->enrol_seq = pc->last_seq = pc->contact_seq = seq;
	pc->member = rec->u.enrol.member;
	pc->balance_known = 1;
	set_text(&pc->email, &pc->email_len, rec->u.enrol.email);
	set_text(&pc->phone, &pc->phone_len, rec->u.enrol.phone);
	p1_check_contact(ck, pc, seq, cid, rec);
	if (cid > ck->p1_max_id)
		ck->p1_max_id = cid;
	ck->lost_since_enrol = 0;
}

static void pass1_accrue(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	uint64_t cid = rec->customer_id;
	int64_t lines = 0;
	int overflow = 0;

	if (pc->member == 0 && rec->u.accrue.points != 0)
		p1_problem(ck, pc, seq, cid, "a guest's sale earned %" PRId64 " points; guests earn nothing", rec->u.accrue.points);
	for (uint16_t i = 0; i < rec->u.accrue.nlines; i++)
		overflow |= __builtin_add_overflow(lines, rec->u.accrue.lines[i].amount, &lines);
	if (rec->u.accrue.nlines && (overflow || lines != rec->u.accrue.amount))
		p1_problem(ck, pc, seq, cid, "the sale's lines add up to %" PRId64 ", but its amount is %" PRId64, lines,
			   rec->u.accrue.amount);
	p1_balance(ck, pc, seq, cid, rec->u.accrue.points, rec->u.accrue.balance_after);
	if (rec->u.accrue.points > 0)
		pc->lifetime += rec->u.accrue.points;
	pc->spend += rec->u.accrue.amount;
	pc->visits++;
}

static void pass1_adjust(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	p1_balance(ck, pc, seq, rec->customer_id, rec->u.adjust.points, rec->u.adjust.balance_after);
	if (rec->u.adjust.points > 0)
		pc->lifetime += rec->u.adjust.points;
}

static void pass1_return(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	uint64_t cid = rec->customer_id;

	if (rec->u.ret.refunded < 0 || rec->u.ret.taken < 0 || rec->u.ret.applied < 0 || rec->u.ret.applied > rec->u.ret.taken)
		p1_problem(ck, pc, seq, cid,
			   "a return that refunds %" PRId64 ", takes back %" PRId64 " and removes %" PRId64
			   " points is not possible",
			   rec->u.ret.refunded, rec->u.ret.taken, rec->u.ret.applied);
	if (rec->u.ret.sale_seq >= seq || rec->u.ret.prev_return_seq >= seq)
		p1_problem(ck, pc, seq, cid, "a return that names a later record (sale seq %" PRIu64 ", previous return seq %" PRIu64 ")",
			   rec->u.ret.sale_seq, rec->u.ret.prev_return_seq);
	p1_balance(ck, pc, seq, cid, -rec->u.ret.applied, rec->u.ret.balance_after);
	pc->lifetime -= rec->u.ret.taken;
	pc->spend -= rec->u.ret.refunded;
	if (rec->u.ret.full) {
		if (pc->visits == 0 && !pc->flagged)
			p1_problem(ck, pc, seq, cid, "a full refund undoes a visit, but the customer has none");
		else if (pc->visits)
			pc->visits--;
	}
}

static void pass1_join(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	uint64_t cid = rec->customer_id;

	if (pc->member == 1)
		p1_problem(ck, pc, seq, cid, "customer %" PRIu64 " joins, but is a member already", cid);
	if (rec->u.enrol.member != 1)
		p1_problem(ck, pc, seq, cid, "a join that leaves the customer a guest");
	pc->member = 1;
	pc->contact_seq = seq;
	set_text(&pc->email, &pc->email_len, rec->u.enrol.email);
	set_text(&pc->phone, &pc->phone_len, rec->u.enrol.phone);
	p1_check_contact(ck, pc, seq, cid, rec);
}

/* EDIT: the new email and phone are normalised, and counted for uniqueness from here. */
static void pass1_edit(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	uint64_t cid = rec->customer_id;
	char buf[PROTO_MAX_EMAIL + 1];
	struct proto_str norm;
	const __typeof__(rec->u.edit) *e = &rec->u.edit;

	if (e->email.len && (model_email_normalise(e->email, buf, &norm) || norm.len != e->email.len ||
			     memcmp(norm.ptr, e->email.ptr, norm.len)))
		p1_problem(ck, pc, seq, cid, "email %s is not a normalised email address", check_qstr(e->email));
	/* A stored phone starts with '+', which no country changes. */
	if (e->phone.len && (model_phone_normalise(e->phone, 0, buf, &norm) || norm.len != e->phone.len ||
			     memcmp(norm.ptr, e->phone.ptr, norm.len)))
		p1_problem(ck, pc, seq, cid, "phone %s is not a normalised phone number", check_qstr(e->phone));
	if (e->fields & PROTO_EDIT_EMAIL) {
		set_text(&pc->email, &pc->email_len, e->email);
		pc->contact_seq = seq;
	}
	if (e->fields & PROTO_EDIT_PHONE) {
		set_text(&pc->phone, &pc->phone_len, e->phone);
		pc->contact_seq = seq;
	}
}

/* CARD: the card is a normalised card number. Who holds it is the replay's to check. */
static void pass1_card(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	char buf[PROTO_MAX_CARD + 1];
	struct proto_str norm;

	if (rec->erased) {
		if (rec->u.card.card.len)
			p1_problem(ck, pc, seq, rec->customer_id, "an erased card record still carries its card");
		return;
	}
	if (model_card_normalise(rec->u.card.card, buf, &norm) || norm.len != rec->u.card.card.len ||
	    memcmp(norm.ptr, rec->u.card.card.ptr, norm.len))
		p1_problem(ck, pc, seq, rec->customer_id, "card %s is not a normalised card number", check_qstr(rec->u.card.card));
}

/* ARCHIVE: the contact is gone; merged, every amount left for another customer. */
static void pass1_archive(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	const __typeof__(rec->u.archive) *r = &rec->u.archive;
	uint64_t cid = rec->customer_id;

	set_text(&pc->email, &pc->email_len, (struct proto_str){"", 0});
	set_text(&pc->phone, &pc->phone_len, (struct proto_str){"", 0});
	pc->contact_seq = seq;
	if (!r->merged_into) {
		if (r->points || r->lifetime || r->spend || r->visits)
			p1_problem(ck, pc, seq, cid, "an archive that is no merge moves amounts away");
		return;
	}
	if (r->merged_into == cid)
		p1_problem(ck, pc, seq, cid, "customer %" PRIu64 " is merged into themselves", cid);
	p1_balance(ck, pc, seq, cid, -r->points, 0);
	if (!pc->flagged && (r->lifetime != pc->lifetime || r->spend != pc->spend || r->visits != pc->visits))
		p1_problem(ck, pc, seq, cid,
			   "the merge moves %" PRId64 " lifetime points, %" PRId64 " spend and %" PRIu64
			   " visits, but the customer's records add up to %" PRId64 ", %" PRId64 " and %" PRIu64,
			   r->lifetime, r->spend, r->visits, pc->lifetime, pc->spend, pc->visits);
	pc->lifetime = pc->spend = 0;
	pc->visits = 0;
}

/* MERGE: what the other customer's ARCHIVE moved arrives here. */
static void pass1_merge(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
	const __typeof__(rec->u.merge) *r = &rec->u.merge;

	if (!r->from || r->from == rec->customer_id)
		p1_problem(ck, pc, seq, rec->customer_id, "a merge from customer %" PRIu64, r->from);
	p1_balance(ck, pc, seq, rec->customer_id, r->points, r->balance_after);
	pc->lifetime += r->lifetime;
	pc->spend += r->spend;
	pc->visits += r->visits;
}

/* Kinds that change nothing pass 1 adds up. */
static void pass1_nothing(struct check *ck, struct check_p1_customer *pc, uint64_t seq, const struct record *rec)
{
}

#define pass1_group pass1_nothing
#define pass1_tier pass1_nothing
#define pass1_program pass1_nothing
#define pass1_key_create pass1_nothing
#define pass1_key_revoke pass1_nothing
#define pass1_optout pass1_nothing
#define pass1_group_rename pass1_nothing /* a record of no customer: the replay checks it */

static pass1_fn *const pass1_of_type[PROTO_ENTRY_TYPE_MAX + 1] = {
#define PASS1_ROW(TYPE, kind, code, name, payload, op, of_customer) [PROTO_ENTRY_##TYPE] = pass1_##kind,
	PROTO_ENTRIES(PASS1_ROW)
#undef PASS1_ROW
};

static void pass1_record(struct check *ck, uint64_t seq, const struct record *rec)
{
	pass1_fn *fn = rec->type <= PROTO_ENTRY_TYPE_MAX ? pass1_of_type[rec->type] : NULL;
	uint64_t cid = rec->customer_id;
	struct check_p1_customer *pc;
	const char *type = proto_entry_type_name(rec->type);

	if (!proto_entry_of_customer(rec->type)) {
		if (cid || rec->prev_seq)
			p1_problem(ck, NULL, seq, 0, "a %s record names customer %" PRIu64 " (prev_seq %" PRIu64 "); it belongs to none",
				   type, cid, rec->prev_seq);
		else if (fn)
			fn(ck, NULL, seq, rec);
		return;
	}
	if (!cid) {
		p1_problem(ck, NULL, seq, 0, "a %s record names no customer", type);
		return;
	}
	/* An enrolment starts a chain: it has no place in one to check. */
	if (rec->type == PROTO_ENTRY_ENROL) {
		fn(ck, NULL, seq, rec);
		return;
	}

	pc = p1_get(ck, cid, 0);
	if (!pc || !pc->known) {
		struct check_lost *l = rec->prev_seq ? check_lost_find(ck, rec->prev_seq) : NULL;
		if (!l || cid > seq) {
			p1_problem(ck, NULL, seq, cid, "a %s record for customer %" PRIu64 ", who was never enrolled", type, cid);
			return;
		}
		/* Its chain runs into a lost record: the enrolment may be among
		 * them. Go on from here, knowing nothing of what came before. */
		pc = p1_get(ck, cid, 1);
		pc->known = 1;
		pc->member = 2;
		pc->flagged = 1;
		pc->last_seq = rec->prev_seq;
	}
	if (rec->prev_seq != pc->last_seq) {
		struct check_lost *l = rec->prev_seq > pc->last_seq ? check_lost_find(ck, rec->prev_seq) : NULL;
		if (l) {
			/* The record before this one is lost: what it did to the balance is unknown. */
			pc->balance_known = 0;
			pc->flagged = 1;
		} else {
			p1_problem(ck, pc, seq, cid,
				   "prev_seq is %" PRIu64 ", but the customer's previous record is seq %" PRIu64
				   ": the history chain is broken",
				   rec->prev_seq, pc->last_seq);
		}
	}
	if (rec->prev_seq) {
		struct check_lost *l = check_lost_find(ck, rec->prev_seq);
		/* A later record of the customer linking to it settles whose it was. */
		if (l && l->from == l->to)
			l->customer = cid;
	}
	pc->last_seq = seq;

	fn(ck, pc, seq, rec);
}

/* ---- the journal walk --------------------------------------------------------------------------- */

static const char *damage_name(int err)
{
	switch (err) {
	case RECORD_E_CHECKSUM: return "checksum mismatch";
	case RECORD_E_SHORT: return "truncated";
	case RECORD_E_FORMAT: return "unknown type or format, a field out of range, or trailing bytes";
	}
	return record_errstr(err);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void record_damaged(struct check *ck, uint64_t seq, const MDB_val *v, int err)
{
	struct check_lost *l = lost_add(ck, seq, seq, err);

	/* The header's customer cannot be trusted on its own; it is believed
	 * when its prev_seq agrees with that customer's chain, or later when a
	 * record of the customer links to this one. */
	if (v->mv_size >= 26) {
		const uint8_t *p = v->mv_data;
		uint64_t cid = le64(p + 10), prev = le64(p + 18);
		struct check_p1_customer *pc = p1_get(ck, cid, 0);
		if (pc && pc->known && pc->last_seq == prev)
			l->customer = cid;
	}
	l->problem = ck->nproblems;
	check_problem_add(ck, seq, l->customer, "damaged record: %s", damage_name(err));
}

void check_journal_walk(struct check *ck)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t expect = 1;
	int rc = mdb_cursor_open(ck->txn, ck->dbi[RECORD_DB_JOURNAL], &cur);
	char why[1024];

	if (rc) {
		fprintf(stderr, "accrue-check: cannot read the journal in %s: %s\n", ck->dir, mdb_strerror(rc));
		exit(CHECK_CANNOT);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct record *rec = &rec_buf;
		uint64_t seq;
		int drc, in_tail;

		if (k.mv_size != 8) {
			check_problem_add(ck, 0, 0, "the journal has a key of %zu bytes, which is not a seq", k.mv_size);
			continue;
		}
		seq = record_key_u64_read(k.mv_data);
		if (seq == 0) {
			check_problem_add(ck, 0, 0, "the journal has a record 0; seqs start at 1");
			continue;
		}
		if (seq != expect) {
			lost_add(ck, expect, seq - 1, 0)->problem = ck->nproblems;
			if (seq - 1 == expect)
				check_problem_add(ck, expect, 0, "journal record %" PRIu64 " is missing", expect);
			else
				check_problem_add(ck, expect, 0, "journal records %" PRIu64 "..%" PRIu64 " are missing", expect, seq - 1);
		}
		expect = seq + 1;
		if (!ck->nrecords++)
			ck->first_seq = seq;
		ck->last_seq = seq;
		if (seq == ck->ckpt_seq)
			ck->ckpt_seen = 1;
		in_tail = ck->checkpoint_loaded && seq > ck->ckpt_seq;

		drc = record_decode(v.mv_data, v.mv_size, seq, rec);
		if (drc) {
			record_damaged(ck, seq, &v, drc);
			check_replay_skip(&ck->journal, seq);
			if (in_tail)
				check_replay_skip(&ck->checkpoint, seq);
			continue;
		}
		ck->current_flagged = 0;
		pass1_record(ck, seq, rec);

		if (!check_replay_record(&ck->journal, seq, rec, why, sizeof why) && why[0]) {
			/* Said once: when pass 1 or a lost record before it explains
			 * the refusal, it only counts among what was left out. */
			const struct check_lost *l = rec->prev_seq ? check_lost_find(ck, rec->prev_seq) : NULL;
			if (!ck->current_flagged && !l) {
				check_problem_add(ck, seq, rec->customer_id, "%s record refused by the daemon's rules: %s",
						  proto_entry_type_name(rec->type), why);
			} else {
				struct check_taint *t = check_taint_of(&ck->journal, rec->customer_id, 0);
				if (t && l)
					t->cause_seq = l->from;
				check_taint_count(&ck->journal, rec->customer_id, seq);
			}
		}
		if (in_tail && !check_replay_record(&ck->checkpoint, seq, rec, why, sizeof why) && why[0]) {
			if (!check_replay_skipped(&ck->journal, seq))
				check_problem_add(ck, seq, rec->customer_id,
						  "checkpoint: replaying the journal after the checkpoint, the %s record is refused: %s "
						  "(the full journal accepts it)",
						  proto_entry_type_name(rec->type), why);
			else
				check_taint_count(&ck->checkpoint, rec->customer_id, seq);
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		fprintf(stderr, "accrue-check: cannot read the journal in %s: %s\n", ck->dir, mdb_strerror(rc));
		exit(CHECK_CANNOT);
	}
	/* Damaged records whose owner became known only later. */
	for (size_t i = 0; i < ck->nlost; i++)
		if (ck->lost[i].customer && ck->lost[i].problem < ck->nproblems)
			ck->problems[ck->lost[i].problem].customer = ck->lost[i].customer;
}
