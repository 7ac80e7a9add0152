/*
 * model_apply.c - one journal record applied to the state in memory.
 *
 * model_apply() is the only way the ledger's state changes, live and in
 * recovery alike: dispatch applies each record it appends, and start-up
 * replays the journal tail through the same function, so a restart rebuilds
 * exactly the state the daemon had. A record is a fact (it carries balances
 * after, points earned), so applying it checks that it fits the state and
 * never re-runs the rules; a record that does not fit is MODEL_E_CORRUPT.
 *
 * Each record kind has one apply_<kind> function, and the table below is
 * built from proto.h's PROTO_ENTRIES list, so a new kind cannot be
 * forgotten here: the build fails until its function exists.
 */
#include "model.h"
#include "model_int.h"

#include <stdlib.h>
#include <string.h>

/* What a kind's apply function is handed, and what it may set. */
struct apply {
	struct model *m;
	uint64_t seq;
	const struct record *rec;
	/* The record's customer, checked against prev_seq; NULL for a record of
	 * no customer. ENROL sets it to the customer it adds. */
	struct model_customer *c;
	/* The request key's entry: the points it changed (value) and, for key
	 * operations, the key's id (object_id); saved when the record has a key. */
	struct record_request *req;
};

/* Apply a balance change that the record says ends at balance_after. */
static int apply_points(struct model_customer *c, int64_t points, int64_t balance_after)
{
	int64_t bal;

	if (__builtin_add_overflow(c->balance, points, &bal) || bal != balance_after)
		return MODEL_E_CORRUPT;
	c->balance = bal;
	if (points > 0 && __builtin_add_overflow(c->lifetime_points, points, &c->lifetime_points))
		return MODEL_E_CORRUPT;
	return 0;
}

/* JOIN: a guest takes the member's details; email and phone are re-indexed. */
static int customer_rename(struct model *m, struct model_customer *c, const __typeof__(((struct record *)0)->u.enrol) *e)
{
	uint32_t slot = (uint32_t)(c - m->customers);
	struct model_customer *other;
	struct proto_str old_email = model_customer_email(c), old_phone = model_customer_phone(c);
	/* Hashed now: the old text is freed when the new one is set. */
	uint64_t old_email_hash = old_email.len ? model__hash_bytes(old_email.ptr, old_email.len) : 0;
	uint64_t old_phone_hash = old_phone.len ? model__hash_bytes(old_phone.ptr, old_phone.len) : 0;
	int had_email = old_email.len != 0, had_phone = old_phone.len != 0;

	if (e->email.len > 255 || e->phone.len > 255 || e->first_name.len > 255 || e->last_name.len > 255)
		return MODEL_E_CORRUPT;
	if (((other = model_customer_by_email(m, e->email)) && other != c) ||
	    ((other = model_customer_by_phone(m, e->phone)) && other != c))
		return MODEL_E_CORRUPT;
	if (model__customer_set_text(c, e->email, e->phone, e->first_name, e->last_name))
		return MODEL_E_NOMEM;
	if (had_email)
		hidx_remove(&m->by_email, old_email_hash, slot);
	if (had_phone)
		hidx_remove(&m->by_phone, old_phone_hash, slot);
	/* Removal left room, so these inserts do not fail for want of memory
	 * except while growing, and a half-indexed customer is worse than an
	 * exit: report it as out of memory and let the caller stop. */
	if ((e->email.len && hidx_insert(&m->by_email, model__hash_bytes(e->email.ptr, e->email.len), slot)) ||
	    (e->phone.len && hidx_insert(&m->by_phone, model__hash_bytes(e->phone.ptr, e->phone.len), slot)))
		return MODEL_E_NOMEM;
	return 0;
}

/* A return: the order and the customer give back what the record says. */
static int return_apply(struct model *m, struct model_customer *c, uint64_t seq, const struct record *rec)
{
	char key[PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER];
	uint32_t slot;
	struct model_order *o;
	int64_t bal;

	if (rec->u.ret.location.len > PROTO_MAX_LOCATION || rec->u.ret.order_id.len > PROTO_MAX_ORDER)
		return MODEL_E_CORRUPT;
	slot = model__order_find_key(m, key, model__order_key(key, rec->u.ret.location, rec->u.ret.order_id));
	if (slot == HIDX_NONE)
		return MODEL_E_CORRUPT;
	o = &m->orders[slot];
	/* An order of a customer merged into c is c's. */
	if (model_customer_owner(m, o->customer_id) != c || o->seq != rec->u.ret.sale_seq || o->last_return_seq != rec->u.ret.prev_return_seq ||
	    rec->u.ret.refunded < 0 || rec->u.ret.taken < 0 || rec->u.ret.applied < 0 ||
	    rec->u.ret.applied > rec->u.ret.taken || o->refunded + rec->u.ret.refunded > o->amount ||
	    o->taken_back + rec->u.ret.taken > o->points)
		return MODEL_E_CORRUPT;
	if (__builtin_sub_overflow(c->balance, rec->u.ret.applied, &bal) || bal != rec->u.ret.balance_after)
		return MODEL_E_CORRUPT;
	c->balance = bal;
	c->lifetime_points -= rec->u.ret.taken;
	c->total_spend -= rec->u.ret.refunded;
	if (rec->u.ret.full) {
		if (o->refunded + rec->u.ret.refunded != o->amount || c->visits == 0)
			return MODEL_E_CORRUPT;
		c->visits--;
	}
	o->refunded += rec->u.ret.refunded;
	o->taken_back += rec->u.ret.taken;
	if (places_return(&m->places, rec->u.ret.location, rec->u.ret.refunded, rec->u.ret.taken))
		return MODEL_E_CORRUPT;
	o->last_return_seq = seq;
	model__order_mark_dirty(m, slot);
	return 0;
}

/* GROUP and TIER: rebuild the customer's tags (and a GROUP the group's count). */
static int tags_apply(struct model *m, struct model_customer *c, const struct record *rec)
{
	struct proto_customer v;
	struct proto_str groups[PROTO_MAX_GROUPS];
	struct model_tags *t;
	uint8_t n = 0;
	int rc;

	model_customer_view(c, &v);
	for (uint8_t i = 0; i < v.ngroups; i++)
		if (rec->type != PROTO_ENTRY_GROUP || v.groups[i].len != rec->u.group.group.len ||
		    memcmp(v.groups[i].ptr, rec->u.group.group.ptr, v.groups[i].len) != 0)
			groups[n++] = v.groups[i];
	if (rec->type == PROTO_ENTRY_GROUP) {
		/* Adding a group already held, or removing one not held, is a record that could not have been made. */
		if (rec->u.group.add ? n != v.ngroups : n == v.ngroups)
			return MODEL_E_CORRUPT;
		if (rec->u.group.add) {
			if (n >= PROTO_MAX_GROUPS || !rec->u.group.group.len)
				return MODEL_E_CORRUPT;
			groups[n++] = rec->u.group.group;
		}
	} else {
		v.tier = rec->u.tier.tier;
	}
	t = model__tags_make(v.tier, n, groups, &rc);
	if (rc)
		return rc;
	if (rec->type == PROTO_ENTRY_GROUP &&
	    (rc = places_group_count(&m->places, rec->u.group.group, rec->u.group.add ? 1 : -1))) {
		free(t);
		return rc == -1 ? MODEL_E_NOMEM : MODEL_E_CORRUPT;
	}
	free(c->tags);
	c->tags = t;
	return 0;
}

/* ---- one function per record kind (PROTO_ENTRIES) ---------------------- */

static int apply_enrol(struct apply *a)
{
	const struct record *rec = a->rec;
	struct proto_customer v;
	int rc;

	memset(&v, 0, sizeof v);
	v.id = rec->customer_id;
	v.email = rec->u.enrol.email;
	v.phone = rec->u.enrol.phone;
	v.first_name = rec->u.enrol.first_name;
	v.last_name = rec->u.enrol.last_name;
	v.created_us = rec->time_us;
	v.member = rec->u.enrol.member;
	v.tier.ptr = "";
	if (rec->prev_seq != 0)
		return MODEL_E_CORRUPT;
	if ((rc = model__customer_add(a->m, &v, a->seq)))
		return rc;
	a->c = model_customer_by_id(a->m, rec->customer_id);
	return 0;
}

static int apply_accrue(struct apply *a)
{
	const struct record *rec = a->rec;
	struct model_customer *c = a->c;
	char key[PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER];
	struct record_order o = {rec->customer_id, a->seq, rec->u.accrue.amount, rec->u.accrue.points, 0, 0, 0, {"", 0}};
	size_t klen;
	int rc;

	if (!c || rec->u.accrue.location.len > PROTO_MAX_LOCATION || rec->u.accrue.order_id.len > PROTO_MAX_ORDER)
		return MODEL_E_CORRUPT;
	klen = model__order_key(key, rec->u.accrue.location, rec->u.accrue.order_id);
	rc = apply_points(c, rec->u.accrue.points, rec->u.accrue.balance_after);
	if (rc == 0 && __builtin_add_overflow(c->total_spend, rec->u.accrue.amount, &c->total_spend))
		rc = MODEL_E_CORRUPT;
	if (rc == 0 && a->seq > a->m->saved_seq)
		rc = model__order_add(a->m, key, klen, &o);
	if (rc && rc != MODEL_EXISTED)
		return rc;
	/* A new order counts at its location; one loaded with its snapshot was
	 * counted then, and only learns its time here. */
	if (rc == 0 && a->seq > a->m->saved_seq) {
		if (places_sale(&a->m->places, rec->u.accrue.location, rec->u.accrue.amount, rec->u.accrue.points, 0, 0,
				a->seq, rec->time_us))
			return MODEL_E_NOMEM;
	} else {
		places_sale_time(&a->m->places, rec->u.accrue.location, a->seq, rec->time_us);
	}
	c->visits++;
	/* The latest sale, not the last one booked: a sale dated back (a till
	 * that was offline) never moves the last visit earlier. */
	if (rec->time_us > c->last_visit_us)
		c->last_visit_us = rec->time_us;
	a->req->value = rec->u.accrue.points;
	return 0;
}

static int apply_join(struct apply *a)
{
	int rc;

	if (!a->c || a->c->member)
		return MODEL_E_CORRUPT;
	/* Erased by a later archive: the details are gone, the membership stays. */
	if (!a->rec->erased && (rc = customer_rename(a->m, a->c, &a->rec->u.enrol)))
		return rc;
	a->c->member = 1;
	return 0;
}

static int apply_return(struct apply *a)
{
	int rc;

	if (!a->c)
		return MODEL_E_CORRUPT;
	if ((rc = return_apply(a->m, a->c, a->seq, a->rec)))
		return rc;
	a->req->value = -a->rec->u.ret.applied;
	return 0;
}

static int apply_program(struct apply *a)
{
	const struct record *rec = a->rec;

	if (rec->customer_id || rules_set(&a->m->rules, rec->u.program.name.ptr, rec->u.program.name.len,
					  rec->u.program.value.ptr, rec->u.program.value.len, NULL, 0) != RULES_OK)
		return MODEL_E_CORRUPT;
	a->m->program_dirty = 1;
	a->m->program_seq = a->seq;
	return 0;
}

static int apply_group(struct apply *a)
{
	return a->c ? tags_apply(a->m, a->c, a->rec) : MODEL_E_CORRUPT;
}

static int apply_tier(struct apply *a)
{
	return a->c ? tags_apply(a->m, a->c, a->rec) : MODEL_E_CORRUPT;
}

static int apply_adjust(struct apply *a)
{
	int rc;

	if (!a->c)
		return MODEL_E_CORRUPT;
	if ((rc = apply_points(a->c, a->rec->u.adjust.points, a->rec->u.adjust.balance_after)))
		return rc;
	a->req->value = a->rec->u.adjust.points;
	return 0;
}

static int apply_key_create(struct apply *a)
{
	const struct record *rec = a->rec;
	struct record_apikey k;
	int rc;

	k.role = rec->u.key_create.role;
	k.revoked = 0;
	k.created_us = rec->time_us;
	k.location = rec->u.key_create.location;
	memcpy(k.hash, rec->u.key_create.hash, RECORD_HASH_SIZE);
	if ((rc = model_load_apikey(a->m, rec->u.key_create.key_id, &k)))
		return rc;
	a->m->keys_dirty = 1;
	a->req->object_id = rec->u.key_create.key_id;
	return 0;
}

static int apply_key_revoke(struct apply *a)
{
	struct model_apikey *k = (struct model_apikey *)model_apikey_find(a->m, a->rec->u.key_revoke.key_id);

	if (!k)
		return MODEL_E_CORRUPT;
	k->revoked = 1;
	a->m->keys_dirty = 1;
	a->req->object_id = a->rec->u.key_revoke.key_id;
	return 0;
}

/* EDIT: the fields it names take its values; the customer keeps an email, a phone or a card. */
static int apply_edit(struct apply *a)
{
	const __typeof__(a->rec->u.edit) *e = &a->rec->u.edit;
	struct proto_customer v;
	struct proto_str empty = {"", 0};

	if (!a->c || !e->fields || e->fields > PROTO_EDIT_ALL)
		return MODEL_E_CORRUPT;
	/* Erased by a later archive: what it changed is gone with the rest. */
	if (a->rec->erased)
		return 0;
	/* A field it does not change is sent empty: anything else is a record no daemon wrote. */
	if ((!(e->fields & PROTO_EDIT_EMAIL) && e->email.len) || (!(e->fields & PROTO_EDIT_PHONE) && e->phone.len) ||
	    (!(e->fields & PROTO_EDIT_FIRST) && e->first_name.len) || (!(e->fields & PROTO_EDIT_LAST) && e->last_name.len))
		return MODEL_E_CORRUPT;
	model_customer_view(a->c, &v);
	if (e->fields & PROTO_EDIT_EMAIL)
		v.email = e->email.len ? e->email : empty;
	if (e->fields & PROTO_EDIT_PHONE)
		v.phone = e->phone.len ? e->phone : empty;
	if (e->fields & PROTO_EDIT_FIRST)
		v.first_name = e->first_name;
	if (e->fields & PROTO_EDIT_LAST)
		v.last_name = e->last_name;
	if (!v.email.len && !v.phone.len && !v.ncards)
		return MODEL_E_CORRUPT;
	return model__customer_set_contact(a->m, a->c, v.email, v.phone, v.first_name, v.last_name);
}

/* CARD: a card linked (no one holds it yet) or unlinked (the customer holds it). */
static int apply_card(struct apply *a)
{
	const __typeof__(a->rec->u.card) *k = &a->rec->u.card;
	struct model *m = a->m;
	struct model_customer *c = a->c;
	struct proto_customer v;
	struct proto_str cards[PROTO_MAX_CARDS];
	struct model_book *b;
	uint32_t slot;
	uint8_t n = 0;
	int rc;

	if (c && a->rec->erased)
		return 0; /* erased by a later archive, as an EDIT is */
	if (!c || !k->card.len || k->card.len > PROTO_MAX_CARD)
		return MODEL_E_CORRUPT;
	slot = (uint32_t)(c - m->customers);
	model_customer_view(c, &v);
	for (uint8_t i = 0; i < v.ncards; i++)
		if (v.cards[i].len != k->card.len || memcmp(v.cards[i].ptr, k->card.ptr, k->card.len) != 0)
			cards[n++] = v.cards[i];
	if (k->link) {
		if (model_customer_by_card(m, k->card) || n >= PROTO_MAX_CARDS)
			return MODEL_E_CORRUPT;
		cards[n++] = k->card;
	} else {
		if (n == v.ncards)
			return MODEL_E_CORRUPT;
		/* The last way to reach a customer cannot go. */
		if (!v.email.len && !v.phone.len && !n)
			return MODEL_E_CORRUPT;
	}
	b = model__book_make(v.opted_out, v.optout_us, v.optout_source, n, cards, &rc);
	if (rc)
		return rc;
	model__cards_unindex(m, slot);
	free(c->book);
	c->book = b;
	/* The entries just removed left room: only growing can fail, and then
	 * the caller stops (as a JOIN's re-index does). */
	return model__cards_index(m, slot) == 0 ? 0 : MODEL_E_NOMEM;
}

/* OPTOUT: out with its time and source, or in again (which forgets both). */
static int apply_optout(struct apply *a)
{
	const __typeof__(a->rec->u.optout) *o = &a->rec->u.optout;
	struct model_customer *c = a->c;
	struct proto_customer v;
	struct model_book *b;
	int rc;

	if (!c)
		return MODEL_E_CORRUPT;
	model_customer_view(c, &v);
	if (o->opted_out == v.opted_out || (!o->opted_out && o->source.len))
		return MODEL_E_CORRUPT;
	b = model__book_make(o->opted_out, o->opted_out ? a->rec->time_us : 0, o->source, v.ncards, v.cards, &rc);
	if (rc)
		return rc;
	/* The cards stay as they are: their index entries name the slot, not the book. */
	free(c->book);
	c->book = b;
	return 0;
}

/*
 * GROUP_RENAME: every member of from is in to instead (once, if they were
 * in both). A record of no customer: it joins no chain and leaves every
 * last_seq as it is, but each member's snapshot is marked for the next
 * checkpoint. It walks every customer, so with a million it is one long
 * apply on the loop thread: a rare admin act (README, "Groups").
 */
static int apply_group_rename(struct apply *a)
{
	const __typeof__(a->rec->u.group_rename) *r = &a->rec->u.group_rename;
	struct model *m = a->m;
	const struct places_group *g = places_group_find(&m->places, r->from);
	uint64_t found = 0, moved = 0;

	if (a->rec->customer_id || !r->from.len || !r->to.len || r->from.len > PROTO_MAX_GROUP ||
	    r->to.len > PROTO_MAX_GROUP || (r->from.len == r->to.len && memcmp(r->from.ptr, r->to.ptr, r->to.len) == 0) ||
	    !g || !g->members)
		return MODEL_E_CORRUPT;
	for (uint32_t slot = 0; slot < m->ncustomers; slot++) {
		struct model_customer *c = &m->customers[slot];
		struct proto_customer v;
		struct proto_str groups[PROTO_MAX_GROUPS];
		struct model_tags *t;
		uint8_t n = 0;
		int in_from = 0, in_to = 0, rc;

		if (!c->tags || !c->tags->ngroups)
			continue;
		model_customer_view(c, &v);
		for (uint8_t i = 0; i < v.ngroups; i++) {
			if (v.groups[i].len == r->from.len && memcmp(v.groups[i].ptr, r->from.ptr, r->from.len) == 0) {
				in_from = 1;
				continue;
			}
			if (v.groups[i].len == r->to.len && memcmp(v.groups[i].ptr, r->to.ptr, r->to.len) == 0)
				in_to = 1;
			groups[n++] = v.groups[i];
		}
		if (!in_from)
			continue;
		if (!in_to)
			groups[n++] = r->to; /* in place of from: never more groups than before */
		t = model__tags_make(v.tier, n, groups, &rc);
		if (rc)
			return rc;
		free(c->tags);
		c->tags = t;
		model__mark_dirty(m, slot);
		found++;
		moved += !in_to;
	}
	if (places_group_count(&m->places, r->from, -(int64_t)found) ||
	    (moved && places_group_count(&m->places, r->to, (int64_t)moved)))
		return MODEL_E_NOMEM;
	a->req->value = (int64_t)moved;
	return 0;
}

/*
 * ARCHIVE: the customer's personal data leaves memory (and, by
 * store_erase, the disk); the amounts stay under the id. Archived by a
 * MERGE, the record carries what moves to merged_into, which must be all
 * the customer has: they are left with none, and the MERGE record that
 * follows on merged_into's chain adds the same figures there.
 */
static int apply_archive(struct apply *a)
{
	const __typeof__(a->rec->u.archive) *r = &a->rec->u.archive;
	struct model_customer *c = a->c, *into;

	if (!c)
		return MODEL_E_CORRUPT;
	if (r->merged_into) {
		into = model_customer_by_id(a->m, r->merged_into);
		if (!into || into == c || into->archived || r->points != c->balance || r->lifetime != c->lifetime_points ||
		    r->spend != c->total_spend || r->visits != c->visits)
			return MODEL_E_CORRUPT;
		c->balance = c->lifetime_points = c->total_spend = 0;
		c->visits = 0;
	} else if (r->points || r->lifetime || r->spend || r->visits) {
		return MODEL_E_CORRUPT;
	}
	a->req->value = -r->points;
	return model__customer_archive(a->m, c, r->merged_into);
}

/* Whether group is among the n in list. */
static int str_in(struct proto_str group, const struct proto_str *list, uint8_t n)
{
	for (uint8_t i = 0; i < n; i++)
		if (list[i].len == group.len && memcmp(list[i].ptr, group.ptr, group.len) == 0)
			return 1;
	return 0;
}

/*
 * MERGE: what the ARCHIVE just before took from customer `from` comes to
 * this one: balance, lifetime points, spend, visits, the later last visit,
 * the groups this one is not in yet, and the cards (none in a record
 * erased by this customer's own archive later).
 */
static int apply_merge(struct apply *a)
{
	const __typeof__(a->rec->u.merge) *r = &a->rec->u.merge;
	struct model *m = a->m;
	struct model_customer *c = a->c, *from = model_customer_by_id(m, r->from);
	struct proto_customer v;
	struct proto_str groups[PROTO_MAX_GROUPS], cards[PROTO_MAX_CARDS];
	uint8_t ng, nc;
	uint32_t slot;
	struct model_tags *t;
	struct model_book *b;
	int64_t bal, life, spend;
	int rc;

	if (!c || !from || from == c || !from->archived || model_customer_merged_into(from) != c->id ||
	    __builtin_add_overflow(c->balance, r->points, &bal) || bal != r->balance_after ||
	    __builtin_add_overflow(c->lifetime_points, r->lifetime, &life) ||
	    __builtin_add_overflow(c->total_spend, r->spend, &spend) || c->visits + r->visits < c->visits)
		return MODEL_E_CORRUPT;
	slot = (uint32_t)(c - m->customers);
	model_customer_view(c, &v);
	ng = v.ngroups;
	memcpy(groups, v.groups, sizeof groups[0] * ng);
	for (uint8_t i = 0; i < r->ngroups; i++) {
		if (!r->groups[i].len || str_in(r->groups[i], groups, ng) || ng >= PROTO_MAX_GROUPS)
			return MODEL_E_CORRUPT;
		groups[ng++] = r->groups[i];
	}
	nc = v.ncards;
	memcpy(cards, v.cards, sizeof cards[0] * nc);
	for (uint8_t i = 0; i < r->ncards; i++) {
		if (model_customer_by_card(m, r->cards[i]) || str_in(r->cards[i], cards, nc) || nc >= PROTO_MAX_CARDS)
			return MODEL_E_CORRUPT;
		cards[nc++] = r->cards[i];
	}
	if (!(t = model__tags_make(v.tier, ng, groups, &rc)) && rc)
		return rc;
	if (!(b = model__book_make(v.opted_out, v.optout_us, v.optout_source, nc, cards, &rc)) && rc) {
		free(t);
		return rc;
	}
	for (uint8_t i = v.ngroups; i < ng; i++)
		if (places_group_count(&m->places, groups[i], 1)) {
			/* Undo the counts made, as a failed GROUP leaves none. */
			for (uint8_t j = v.ngroups; j < i; j++)
				places_group_count(&m->places, groups[j], -1);
			free(t);
			free(b);
			return MODEL_E_NOMEM;
		}
	model__cards_unindex(m, slot);
	free(c->tags);
	c->tags = t;
	free(c->book);
	c->book = b;
	c->balance = bal;
	c->lifetime_points = life;
	c->total_spend = spend;
	c->visits += r->visits;
	if (r->last_visit_us > c->last_visit_us)
		c->last_visit_us = r->last_visit_us;
	a->req->value = r->points;
	return model__cards_index(m, slot) == 0 ? 0 : MODEL_E_NOMEM;
}

typedef int apply_fn(struct apply *a);

static apply_fn *const apply_of_type[PROTO_ENTRY_TYPE_MAX + 1] = {
#define APPLY_ROW(TYPE, kind, code, name, payload, op, of_customer) [PROTO_ENTRY_##TYPE] = apply_##kind,
	PROTO_ENTRIES(APPLY_ROW)
#undef APPLY_ROW
};

int model_apply(struct model *m, uint64_t seq, const struct record *rec)
{
	struct record_request req = {proto_entry_opcode(rec->type), rec->body_hash, seq, rec->customer_id, 0, {0}};
	struct apply a = {m, seq, rec, NULL, &req};
	apply_fn *fn = rec->type <= PROTO_ENTRY_TYPE_MAX ? apply_of_type[rec->type] : NULL;
	int rc;

	if (seq <= m->applied_seq || !fn)
		return MODEL_E_CORRUPT;
	if (rec->type != PROTO_ENTRY_ENROL && rec->customer_id) {
		a.c = model_customer_by_id(m, rec->customer_id);
		/* Nothing happens to an archived customer any more. */
		if (!a.c || a.c->last_seq != rec->prev_seq || a.c->archived)
			return MODEL_E_CORRUPT;
	}
	if ((rc = fn(&a)))
		return rc;
	if (a.c) {
		a.c->last_seq = seq;
		model__mark_dirty(m, (uint32_t)(a.c - m->customers));
	}
	/* Records written at first start (the admin key) carry no request key. */
	if (!model_key_is_zero(rec->request_key) && seq > m->saved_seq) {
		rc = model__request_add(m, rec->request_key, &req);
		if (rc && rc != MODEL_EXISTED)
			return rc;
	}
	m->applied_seq = seq;
	return 0;
}
