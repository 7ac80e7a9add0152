/*
 * op_book.c - the handlers of the customer book: EDIT (names and contact),
 * CARD (loyalty cards linked and unlinked), OPTOUT (the marketing
 * opt-out), ARCHIVE (erasure) and MERGE. See dispatch_ops.h.
 *
 * Each checks what it can against the state in memory, then appends one
 * record whose effect model_apply makes (and a restart replays). Asking for
 * what already is (the same card linked again, an opt-out of one opted out,
 * an edit to the values a customer has) changes nothing: the reply is the
 * customer as they are, and no record is written. A customer always keeps
 * at least one of an email, a phone number and a card, so they can be found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dispatch_ops.h"

static int str_eq(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* CONFLICT naming what is taken and who holds it: "email a@b.c is already customer #12". */
static void conflict(struct dispatch_out *out, const char *field, struct proto_str value, const struct model_customer *holder)
{
	dispatch_depend(out, holder->last_seq);
	dispatch_error(out, PROTO_ST_CONFLICT, "%s %.*s is already %s #%llu", field, (int)value.len, value.ptr,
		       holder->member ? "customer" : "guest", (unsigned long long)holder->id);
}

enum dispatch_action op_edit(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			     struct dispatch_out *out)
{
	struct proto_edit_req req;
	char email[PROTO_MAX_EMAIL + 1], phone[PROTO_MAX_PHONE + 1];
	struct proto_str ne = {"", 0}, np = {"", 0};
	struct proto_customer v;
	struct model_customer *c, *other;
	struct record *rec = &d->scratch->rec;
	uint64_t hash = XXH3_64bits(body, len);
	uint8_t fields = 0;

	if (proto_edit_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed EDIT body (it must change at least one field)");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_EDIT, req.key, hash, out))
		return DISPATCH_REPLY;
	if ((req.fields & PROTO_EDIT_EMAIL) && model_email_normalise(req.email, email, &ne)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "email \"%.*s\" is not a valid address", (int)req.email.len,
			       req.email.ptr);
		return DISPATCH_REPLY;
	}
	if (req.fields & PROTO_EDIT_PHONE) {
		int rc = model_phone_normalise(req.phone, d->model->rules.phone_country, phone, &np);

		if (rc == MODEL_PHONE_NO_COUNTRY) {
			char msg[PROTO_MAX_MESSAGE + 1];
			dispatch_phone_no_country(req.phone, msg, sizeof msg);
			dispatch_error(out, PROTO_ST_BAD_REQUEST, "%s", msg);
			return DISPATCH_REPLY;
		}
		if (rc) {
			dispatch_error(out, PROTO_ST_BAD_REQUEST,
				       "phone \"%.*s\" is not a valid number (6 to 15 digits with the country code, "
				       "optional leading +)",
				       (int)req.phone.len, req.phone.ptr);
			return DISPATCH_REPLY;
		}
	}
	if (model_name_normalise(req.first_name, &req.first_name) || model_name_normalise(req.last_name, &req.last_name)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST,
			       "names must be UTF-8 text without control or bidirectional control characters");
		return DISPATCH_REPLY;
	}
	if (!(c = dispatch_find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	dispatch_depend(out, c->last_seq);
	model_customer_view(c, &v);
	/* Only what really changes goes into the record (and the history). */
	if ((req.fields & PROTO_EDIT_EMAIL) && !str_eq(ne, v.email))
		fields |= PROTO_EDIT_EMAIL, v.email = ne;
	if ((req.fields & PROTO_EDIT_PHONE) && !str_eq(np, v.phone))
		fields |= PROTO_EDIT_PHONE, v.phone = np;
	if ((req.fields & PROTO_EDIT_FIRST) && !str_eq(req.first_name, v.first_name))
		fields |= PROTO_EDIT_FIRST, v.first_name = req.first_name;
	if ((req.fields & PROTO_EDIT_LAST) && !str_eq(req.last_name, v.last_name))
		fields |= PROTO_EDIT_LAST, v.last_name = req.last_name;
	if (!fields) {
		dispatch_reply_customer(out, c);
		return DISPATCH_REPLY;
	}
	if (!v.email.len && !v.phone.len && !v.ncards) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST,
			       "customer #%llu must keep an email, a phone number or a card (link a card first)",
			       (unsigned long long)c->id);
		return DISPATCH_REPLY;
	}
	if ((fields & PROTO_EDIT_EMAIL) && (other = model_customer_by_email(d->model, ne)) && other != c) {
		conflict(out, "email", ne, other);
		return DISPATCH_REPLY;
	}
	if ((fields & PROTO_EDIT_PHONE) && (other = model_customer_by_phone(d->model, np)) && other != c) {
		conflict(out, "phone", np, other);
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_EDIT, req.key, hash);
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.edit.fields = fields;
	rec->u.edit.email = fields & PROTO_EDIT_EMAIL ? ne : proto_str_c("");
	rec->u.edit.phone = fields & PROTO_EDIT_PHONE ? np : proto_str_c("");
	rec->u.edit.first_name = fields & PROTO_EDIT_FIRST ? req.first_name : proto_str_c("");
	rec->u.edit.last_name = fields & PROTO_EDIT_LAST ? req.last_name : proto_str_c("");
	if (!dispatch_commit_record(d, rec, out))
		return DISPATCH_REPLY;
	dispatch_reply_customer(out, model_customer_by_id(d->model, rec->customer_id));
	return DISPATCH_REPLY;
}

enum dispatch_action op_card(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			     struct dispatch_out *out)
{
	struct proto_card_req req;
	char card[PROTO_MAX_CARD + 1];
	struct proto_str nc;
	struct proto_customer v;
	struct model_customer *c, *holder;
	struct record *rec = &d->scratch->rec;
	uint64_t hash = XXH3_64bits(body, len);

	if (proto_card_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed CARD body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_CARD, req.key, hash, out))
		return DISPATCH_REPLY;
	if (model_card_normalise(req.card, card, &nc)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST,
			       "card \"%.*s\" is not a card number (1 to %d letters and digits; spaces and dashes are dropped)",
			       (int)req.card.len, req.card.ptr, PROTO_MAX_CARD);
		return DISPATCH_REPLY;
	}
	if (!(c = dispatch_find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	dispatch_depend(out, c->last_seq);
	model_customer_view(c, &v);
	holder = model_customer_by_card(d->model, nc);
	if (req.link) {
		if (holder == c) {
			dispatch_reply_customer(out, c);
			return DISPATCH_REPLY;
		}
		if (holder) {
			conflict(out, "card", nc, holder);
			return DISPATCH_REPLY;
		}
		if (v.ncards >= PROTO_MAX_CARDS) {
			dispatch_error(out, PROTO_ST_RANGE, "customer #%llu holds %d cards already, the most one may hold",
				       (unsigned long long)c->id, PROTO_MAX_CARDS);
			return DISPATCH_REPLY;
		}
	} else {
		if (holder != c) {
			dispatch_error(out, PROTO_ST_NOT_FOUND, "customer #%llu has no card %s", (unsigned long long)c->id, card);
			return DISPATCH_REPLY;
		}
		if (!v.email.len && !v.phone.len && v.ncards == 1) {
			dispatch_error(out, PROTO_ST_BAD_REQUEST,
				       "card %s is the only way to find customer #%llu: give them an email or a phone number first",
				       card, (unsigned long long)c->id);
			return DISPATCH_REPLY;
		}
	}
	dispatch_record_init(rec, PROTO_ENTRY_CARD, req.key, hash);
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.card.link = req.link;
	rec->u.card.card = nc;
	if (!dispatch_commit_record(d, rec, out))
		return DISPATCH_REPLY;
	dispatch_reply_customer(out, model_customer_by_id(d->model, rec->customer_id));
	return DISPATCH_REPLY;
}

enum dispatch_action op_optout(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			       struct dispatch_out *out)
{
	struct proto_optout_req req;
	struct proto_customer v;
	struct model_customer *c;
	struct record *rec = &d->scratch->rec;
	uint64_t hash = XXH3_64bits(body, len);

	if (proto_optout_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed OPTOUT body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_OPTOUT, req.key, hash, out))
		return DISPATCH_REPLY;
	if (dispatch_has_control(req.source)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "the source must not contain control characters");
		return DISPATCH_REPLY;
	}
	if (!req.opted_out && req.source.len) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "an opt-in has no source");
		return DISPATCH_REPLY;
	}
	if (!(c = dispatch_find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	model_customer_view(c, &v);
	if (v.opted_out == req.opted_out) {
		/* Opted out already: the first opt-out's time and source stay. */
		dispatch_reply_customer(out, c);
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_OPTOUT, req.key, hash);
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.optout.opted_out = req.opted_out;
	rec->u.optout.source = req.source;
	if (!dispatch_commit_record(d, rec, out))
		return DISPATCH_REPLY;
	dispatch_reply_customer(out, model_customer_by_id(d->model, rec->customer_id));
	return DISPATCH_REPLY;
}

/*
 * ARCHIVE: the customer's personal data is erased for good. The record
 * makes the model forget it; store_erase makes the batch rewrite every
 * journal record of the customer's chain without it, replace their
 * snapshot, and zero LMDB's free pages before the reply is sent.
 */
static uint64_t archive_commit(struct dispatch *d, struct record *rec)
{
	uint64_t seq = dispatch_commit_record(d, rec, NULL);

	if (seq && store_erase(d->store, d->model, seq)) {
		/* Journalled and applied but not to be erased from disk: as with a
		 * record memory refuses, nothing of this batch is acknowledged
		 * yet, and a restart rebuilds memory without it. */
		fprintf(stderr, "accrued: fatal: out of memory erasing customer #%llu; exiting\n",
			(unsigned long long)rec->customer_id);
		abort();
	}
	return seq;
}

enum dispatch_action op_archive(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
				struct dispatch_out *out)
{
	struct proto_archive_req req;
	struct model_customer *c;
	struct record *rec = &d->scratch->rec;
	uint64_t hash = XXH3_64bits(body, len);

	if (proto_archive_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ARCHIVE body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_ARCHIVE, req.key, hash, out))
		return DISPATCH_REPLY;
	if (!(c = dispatch_find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	dispatch_record_init(rec, PROTO_ENTRY_ARCHIVE, req.key, hash);
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	memset(&rec->u.archive, 0, sizeof rec->u.archive);
	if (!archive_commit(d, rec)) {
		dispatch_error(out, PROTO_ST_INTERNAL, "cannot journal the change (out of memory)");
		return DISPATCH_REPLY;
	}
	dispatch_reply_customer(out, model_customer_by_id(d->model, rec->customer_id));
	return DISPATCH_REPLY;
}

static int view_has(const struct proto_str *list, uint8_t n, struct proto_str s)
{
	for (uint8_t i = 0; i < n; i++)
		if (str_eq(list[i], s))
			return 1;
	return 0;
}

/*
 * MERGE: drop's balance, lifetime points, visits, spend, groups and cards go
 * to keep; drop's orders follow (model_customer_owner); drop is archived.
 * Two records in one batch: ARCHIVE on drop's chain with what leaves, then
 * MERGE on keep's with what arrives (and the request key, so a replay
 * answers with keep).
 */
enum dispatch_action op_merge(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			      struct dispatch_out *out)
{
	struct proto_merge_req req;
	struct model_customer *keep, *drop;
	struct proto_customer kv, dv;
	struct record *rec = &d->scratch->rec;
	uint64_t hash = XXH3_64bits(body, len), keep_id, drop_id;
	int64_t sum;
	uint8_t ng, nc;

	if (proto_merge_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed MERGE body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_MERGE, req.key, hash, out))
		return DISPATCH_REPLY;
	if (!store_has_room_for(d->store, 2))
		return DISPATCH_BLOCKED;
	if (!(keep = dispatch_find_customer(d, &req.keep, out)) || !(drop = dispatch_find_customer(d, &req.drop, out)))
		return DISPATCH_REPLY;
	if (keep == drop) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "both name customer #%llu: a customer is not merged into themselves",
			       (unsigned long long)keep->id);
		return DISPATCH_REPLY;
	}
	dispatch_depend(out, keep->last_seq);
	dispatch_depend(out, drop->last_seq);
	model_customer_view(keep, &kv);
	model_customer_view(drop, &dv);
	if (__builtin_add_overflow(kv.balance, dv.balance, &sum) ||
	    __builtin_add_overflow(kv.lifetime_points, dv.lifetime_points, &sum) ||
	    __builtin_add_overflow(kv.total_spend, dv.total_spend, &sum)) {
		dispatch_error(out, PROTO_ST_RANGE, "the merged totals of #%llu and #%llu are out of range",
			       (unsigned long long)keep->id, (unsigned long long)drop->id);
		return DISPATCH_REPLY;
	}
	ng = kv.ngroups;
	for (uint8_t i = 0; i < dv.ngroups; i++)
		ng += !view_has(kv.groups, kv.ngroups, dv.groups[i]);
	nc = (uint8_t)(kv.ncards + dv.ncards);
	if (ng > PROTO_MAX_GROUPS || nc > PROTO_MAX_CARDS) {
		dispatch_error(out, PROTO_ST_RANGE, "customer #%llu would hold %u groups and %u cards; at most %d and %d",
			       (unsigned long long)keep->id, ng, nc, PROTO_MAX_GROUPS, PROTO_MAX_CARDS);
		return DISPATCH_REPLY;
	}
	keep_id = keep->id;
	drop_id = drop->id;

	/* What leaves drop. The request key goes on the MERGE record. */
	dispatch_record_init(rec, PROTO_ENTRY_ARCHIVE, (const uint8_t[PROTO_KEY_SIZE]){0}, 0);
	rec->customer_id = drop_id;
	rec->prev_seq = drop->last_seq;
	rec->u.archive.merged_into = keep_id;
	rec->u.archive.points = dv.balance;
	rec->u.archive.lifetime = dv.lifetime_points;
	rec->u.archive.spend = dv.total_spend;
	rec->u.archive.visits = dv.visits;

	/* The MERGE record is built from drop's view before the archive erases
	 * it: its strings are copied into the scratch first. */
	{
		struct record *mrec = &d->scratch->merge_rec;
		char *p = d->scratch->merge_text;

		dispatch_record_init(mrec, PROTO_ENTRY_MERGE, req.key, hash);
		mrec->customer_id = keep_id;
		mrec->prev_seq = keep->last_seq;
		mrec->u.merge.from = drop_id;
		mrec->u.merge.points = dv.balance;
		mrec->u.merge.lifetime = dv.lifetime_points;
		mrec->u.merge.spend = dv.total_spend;
		mrec->u.merge.visits = dv.visits;
		mrec->u.merge.last_visit_us = dv.last_visit_us;
		mrec->u.merge.balance_after = kv.balance + dv.balance; /* checked for overflow above */
		mrec->u.merge.ngroups = 0;
		for (uint8_t i = 0; i < dv.ngroups; i++) {
			if (view_has(kv.groups, kv.ngroups, dv.groups[i]))
				continue;
			memcpy(p, dv.groups[i].ptr, dv.groups[i].len);
			mrec->u.merge.groups[mrec->u.merge.ngroups++] = (struct proto_str){p, dv.groups[i].len};
			p += dv.groups[i].len;
		}
		mrec->u.merge.ncards = dv.ncards;
		for (uint8_t i = 0; i < dv.ncards; i++) {
			memcpy(p, dv.cards[i].ptr, dv.cards[i].len);
			mrec->u.merge.cards[i] = (struct proto_str){p, dv.cards[i].len};
			p += dv.cards[i].len;
		}
		if (!archive_commit(d, rec)) {
			dispatch_error(out, PROTO_ST_INTERNAL, "cannot journal the change (out of memory)");
			return DISPATCH_REPLY;
		}
		/* keep's pointer may have moved with the apply: its chain head is read again. */
		mrec->prev_seq = model_customer_by_id(d->model, keep_id)->last_seq;
		if (!dispatch_commit_record(d, mrec, out))
			return DISPATCH_REPLY;
	}
	dispatch_reply_customer(out, model_customer_by_id(d->model, keep_id));
	return DISPATCH_REPLY;
}
