/*
 * op_customers.c - the handlers of a customer's own requests: ENROL, LOOKUP,
 * ADJUST (points added or used by hand), HISTORY (the journal chain of
 * one customer, newest first) and ADJUST_BATCH (many adjustments in one
 * frame, for imports). See dispatch_ops.h.
 */
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "dispatch_ops.h"

/* The comment a customer sees on an adjustment that names none. */
#define DEFAULT_COMMENT "Manual adjustments"

enum dispatch_action op_enrol(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			       struct dispatch_out *out)
{
	struct proto_enrol_req req;
	char email[PROTO_MAX_EMAIL + 1], phone[PROTO_MAX_PHONE + 1];
	struct proto_str ne, np, first, last;
	struct model_customer *c, *ce, *cp, *guest;
	struct record *rec = &d->scratch->rec;
	uint64_t seq;
	int rc;

	if (proto_enrol_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ENROL body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_ENROL, req.key, XXH3_64bits(body, len), out))
		return DISPATCH_REPLY;
	if (model_email_normalise(req.email, email, &ne)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "email \"%.*s\" is not a valid address", (int)req.email.len,
			       req.email.ptr);
		return DISPATCH_REPLY;
	}
	rc = model_phone_normalise(req.phone, d->model->rules.phone_country, phone, &np);
	if (rc == MODEL_PHONE_NO_COUNTRY) {
		char msg[PROTO_MAX_MESSAGE + 1];
		dispatch_phone_no_country(req.phone, msg, sizeof msg);
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "%s", msg);
		return DISPATCH_REPLY;
	}
	if (rc) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST,
			       "phone \"%.*s\" is not a valid number (6 to 15 digits with the country code, optional "
			       "leading +)",
			       (int)req.phone.len, req.phone.ptr);
		return DISPATCH_REPLY;
	}
	if (!ne.len && !np.len) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "an email or a phone number is required");
		return DISPATCH_REPLY;
	}
	if (model_name_normalise(req.first_name, &first) || model_name_normalise(req.last_name, &last)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST,
			       "%s name must be UTF-8 text without control or bidirectional control characters",
			       model_name_normalise(req.first_name, &first) ? "first" : "last");
		return DISPATCH_REPLY;
	}
	/* A guest that a sale recorded joins: same customer, now a member. */
	ce = model_customer_by_email(d->model, ne);
	cp = model_customer_by_phone(d->model, np);
	if ((ce && ce->member) || (cp && cp->member) || (ce && cp && ce != cp)) {
		int by_email = ce && (ce->member || !cp || !cp->member);
		c = by_email ? ce : cp;
		dispatch_depend(out, c->last_seq);
		dispatch_error(out, PROTO_ST_CONFLICT, "%s %s already belongs to %s #%llu", by_email ? "email" : "phone",
			       by_email ? email : phone, c->member ? "customer" : "guest", (unsigned long long)c->id);
		return DISPATCH_REPLY;
	}
	guest = ce ? ce : cp;
	dispatch_record_init(rec, guest ? PROTO_ENTRY_JOIN : PROTO_ENTRY_ENROL, req.key, XXH3_64bits(body, len));
	rec->customer_id = guest ? guest->id : d->model->next_customer_id;
	rec->prev_seq = guest ? guest->last_seq : 0;
	rec->u.enrol.email = ne.len || !guest ? ne : model_customer_email(guest);
	rec->u.enrol.phone = np.len || !guest ? np : model_customer_phone(guest);
	rec->u.enrol.first_name = first;
	rec->u.enrol.last_name = last;
	rec->u.enrol.member = 1;
	if (!(seq = dispatch_commit_record(d, rec, out)))
		return DISPATCH_REPLY;
	dispatch_reply_customer(out, model_customer_by_id(d->model, rec->customer_id));
	return DISPATCH_REPLY;
}

enum dispatch_action op_lookup(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			       struct dispatch_out *out)
{
	struct proto_lookup_req req;
	struct model_customer *c;

	if (proto_lookup_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed LOOKUP body");
		return DISPATCH_REPLY;
	}
	if ((c = dispatch_find_any_customer(d, &req.ref, out)))
		dispatch_reply_customer(out, c);
	return DISPATCH_REPLY;
}

enum dispatch_action op_adjust(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			       struct dispatch_out *out)
{
	struct proto_adjust_req req;
	struct model_customer *c;
	struct record *rec = &d->scratch->rec;
		int64_t balance, lifetime;
	uint64_t seq, hash = XXH3_64bits(body, len);

	if (proto_adjust_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed ADJUST body");
		return DISPATCH_REPLY;
	}
	if (dispatch_check_request_key(d, PROTO_OP_ADJUST, req.key, hash, out))
		return DISPATCH_REPLY;
	if (req.points == 0 || req.points == INT64_MIN) {
		dispatch_error(out, PROTO_ST_RANGE, "points must be a non-zero amount");
		return DISPATCH_REPLY;
	}
	if (dispatch_has_control(req.reason) || dispatch_has_control(req.comment)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "reason and comment must not contain control characters");
		return DISPATCH_REPLY;
	}
	if (!(c = dispatch_find_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	dispatch_depend(out, c->last_seq);
	if (rules_add(c->balance, req.points, &balance) ||
	    (req.points > 0 && rules_add(c->lifetime_points, req.points, &lifetime))) {
		dispatch_error(out, PROTO_ST_RANGE, "adjustment of %lld points is out of range", (long long)req.points);
		return DISPATCH_REPLY;
	}
	if (balance < 0) {
		dispatch_error(out, PROTO_ST_INSUFFICIENT, "customer #%llu has %lld points; cannot use %lld",
			       (unsigned long long)c->id, (long long)c->balance, (long long)-req.points);
		return DISPATCH_REPLY;
	}
	dispatch_record_init(rec, PROTO_ENTRY_ADJUST, req.key, hash);
	rec->customer_id = c->id;
	rec->prev_seq = c->last_seq;
	rec->u.adjust.points = req.points;
	rec->u.adjust.balance_after = balance;
	rec->u.adjust.reason = req.reason;
	rec->u.adjust.comment = req.comment.len ? req.comment : proto_str_c(DEFAULT_COMMENT);
	if (!(seq = dispatch_commit_record(d, rec, out)))
		return DISPATCH_REPLY;
	dispatch_reply_change(out, c, seq, req.points);
	return DISPATCH_REPLY;
}

/*
 * ADJUST_BATCH: each item is answered exactly as the same ADJUST alone
 * would be (op_adjust itself makes it, request key and replay included),
 * and its reply is folded into the item of the batch reply. Every record
 * lands in the open batch of the store, so the whole frame is made durable
 * by one commit.
 */
enum dispatch_action op_adjust_batch(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body,
				     size_t len, struct dispatch_out *out)
{
	/* An ADJUST reply is a customer (under 2 KiB) or a message (1 KiB). */
	uint8_t one_body[4096];
	struct proto_rbuf r;
	struct proto_wbuf w;
	uint16_t count;

	proto_rbuf_init(&r, body, len);
	if (dispatch_batch_begin(&r, &count, "ADJUST_BATCH", out))
		return DISPATCH_REPLY;
	if (!store_has_room_for(d->store, count))
		return DISPATCH_BLOCKED;
	proto_wbuf_init(&w, out->body, out->cap);
	proto_reply_put_status(&w, PROTO_OK);
	proto_batch_rep_put_header(&w, count);
	for (uint16_t i = 0; i < count; i++) {
		struct dispatch_out one = {.body = one_body, .cap = sizeof one_body};
		struct proto_batch_item it;
		struct proto_change_rep rep;
		struct proto_rbuf rr;
		const uint8_t *item;
		size_t item_len;
		uint16_t status;

		memset(&it, 0, sizeof it);
		if (proto_batch_req_next(&r, &item, &item_len)) {
			/* dispatch_batch_begin makes this impossible; refuse rather than guess. */
			it.status = PROTO_ST_BAD_REQUEST;
			it.message = proto_str_c("batch item is truncated");
			proto_batch_item_put(&w, &it);
			continue;
		}
		op_adjust(d, sess, item, item_len, &one);
		dispatch_depend(out, one.wait_seq);
		proto_rbuf_init(&rr, one.body, one.len);
		if (proto_reply_status(&rr, &status)) {
			it.status = PROTO_ST_INTERNAL;
			it.message = proto_str_c("no reply for this item");
		} else if (status != PROTO_OK) {
			it.status = status;
			if (proto_reply_error_decode(&rr, &it.message))
				it.message = proto_str_c("");
			if (it.message.len > DISPATCH_BATCH_MESSAGE_MAX)
				it.message.len = DISPATCH_BATCH_MESSAGE_MAX;
		} else if (proto_change_rep_decode(one.body + rr.off, one.len - rr.off, &rep)) {
			it.status = PROTO_ST_INTERNAL;
			it.message = proto_str_c("the reply for this item does not decode");
		} else {
			it.replay = (one.flags & PROTO_FLAG_REPLAY) != 0;
			it.seq = rep.seq;
			it.points = rep.points;
			it.customer_id = rep.customer.id;
			it.balance = rep.customer.balance;
		}
		proto_batch_item_put(&w, &it);
	}
	if (w.overflow) {
		/* Cannot happen within dispatch_batch_begin's limit; say so rather than send half a reply. */
		dispatch_error(out, PROTO_ST_INTERNAL, "batch reply does not fit a frame");
		return DISPATCH_REPLY;
	}
	out->len = w.len;
	out->flags = 0;
	return DISPATCH_REPLY;
}

struct history_walk {
	struct proto_wbuf w;
	size_t count_at; /* offset of the count field */
	uint32_t count, limit;
	uint64_t before;
	uint64_t next_before;
	int64_t balance;                    /* the balance after the entry being visited (newest first) */
	char detail[PROTO_MAX_DETAIL + 1];  /* an entry's detail made up for it */
};

/*
 * One function per record kind (PROTO_ENTRIES) fills what HISTORY shows of
 * an entry: e arrives zeroed with empty texts and the seq, type and time
 * set. A kind that changes the balance sets points and balance_after and
 * returns 1; one that does not returns 0 and shows the balance it left
 * standing. Each text field means one thing (PROTOCOL.md, HISTORY): detail
 * says what happened, for staff; reason is the internal note someone wrote
 * (an adjustment's reason, a tier change's note); comment is only what the
 * customer is meant to see (an adjustment's comment). det is room for a
 * detail the function writes; snprintf cuts it at PROTO_MAX_DETAIL.
 */
typedef int history_fn(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap);

static int history_enrol(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	e->detail = proto_str_c(rec->u.enrol.member ? "enrolled as a member" : "recorded as a guest by a sale");
	return 0;
}

static int history_join(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	e->detail = proto_str_c("joined as a member");
	return 0;
}

static int history_accrue(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	e->points = rec->u.accrue.points;
	e->balance_after = rec->u.accrue.balance_after;
	e->amount = rec->u.accrue.amount;
	e->location = rec->u.accrue.location;
	e->order_id = rec->u.accrue.order_id;
	return 1;
}

static int history_adjust(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	e->points = rec->u.adjust.points;
	e->balance_after = rec->u.adjust.balance_after;
	e->reason = rec->u.adjust.reason;
	e->comment = rec->u.adjust.comment;
	return 1;
}

/* Why a return removed less than it took, or left the balance below zero,
 * is the program's rule at work: staff explain it, so it is detail. */
static int history_return(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	e->points = -rec->u.ret.applied;
	e->balance_after = rec->u.ret.balance_after;
	e->amount = rec->u.ret.refunded;
	e->location = rec->u.ret.location;
	e->order_id = rec->u.ret.order_id;
	if (rec->u.ret.taken > rec->u.ret.applied) {
		snprintf(det, det_cap, "shortfall %lld: the balance stops at zero",
			 (long long)(rec->u.ret.taken - rec->u.ret.applied));
		e->detail = proto_str_c(det);
	} else if (rec->u.ret.balance_after < 0) {
		e->detail = proto_str_c("balance below zero after a return of spent points");
	}
	return 1;
}

static int history_group(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	snprintf(det, det_cap, "%s group %.*s", rec->u.group.add ? "added to" : "removed from",
		 (int)rec->u.group.group.len, (const char *)rec->u.group.group.ptr);
	e->detail = proto_str_c(det);
	return 0;
}

static int history_tier(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	if (rec->u.tier.tier.len)
		snprintf(det, det_cap, "tier %.*s", (int)rec->u.tier.tier.len, (const char *)rec->u.tier.tier.ptr);
	else
		snprintf(det, det_cap, "tier removed");
	e->detail = proto_str_c(det);
	e->reason = rec->u.tier.note;
	return 0;
}

/* Append a then b to det[0..used), cut at det_cap; returns the new length. */
static size_t detail_append(char *det, size_t det_cap, size_t used, const char *a, const char *b)
{
	int n = snprintf(det + used, det_cap - used, "%s%s", a, b);

	if (n < 0)
		return used;
	return used + (size_t)n < det_cap ? used + (size_t)n : det_cap - 1;
}

/* The book's entries say which fields changed, never the old or new
 * personal data: "email, last name changed", "phone removed". */
static int history_edit(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} fields[] = {{PROTO_EDIT_EMAIL, "email"},
		      {PROTO_EDIT_PHONE, "phone"},
		      {PROTO_EDIT_FIRST, "first name"},
		      {PROTO_EDIT_LAST, "last name"}};
	const struct proto_str *value[] = {&rec->u.edit.email, &rec->u.edit.phone, &rec->u.edit.first_name,
					   &rec->u.edit.last_name};
	size_t used = 0;

	det[0] = '\0';
	if (rec->erased) {
		snprintf(det, det_cap, "details changed (erased)");
		e->detail = proto_str_c(det);
		return 0;
	}
	/* Two passes: the fields given a value, then those removed (empty). */
	for (int removed = 0; removed < 2; removed++) {
		int listed = 0;

		for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
			if (!(rec->u.edit.fields & fields[i].bit) || (value[i]->len == 0) != removed)
				continue;
			used = detail_append(det, det_cap, used, listed ? ", " : used ? "; " : "", fields[i].name);
			listed = 1;
		}
		if (listed)
			used = detail_append(det, det_cap, used, " ", removed ? "removed" : "changed");
	}
	e->detail = proto_str_c(det);
	return 0;
}

static int history_card(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	if (rec->erased) {
		snprintf(det, det_cap, "a card %s (erased)", rec->u.card.link ? "linked" : "unlinked");
		e->detail = proto_str_c(det);
		return 0;
	}
	snprintf(det, det_cap, "card %.*s %s", (int)rec->u.card.card.len, (const char *)rec->u.card.card.ptr,
		 rec->u.card.link ? "linked" : "unlinked");
	e->detail = proto_str_c(det);
	return 0;
}

static int history_optout(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	if (rec->u.optout.source.len)
		snprintf(det, det_cap, "%s (%.*s)", rec->u.optout.opted_out ? "opted out" : "opted in",
			 (int)rec->u.optout.source.len, (const char *)rec->u.optout.source.ptr);
	else
		snprintf(det, det_cap, "%s", rec->u.optout.opted_out ? "opted out" : "opted in");
	e->detail = proto_str_c(det);
	return 0;
}

/* Records of no customer are never on a customer's chain; shown bare if they were. */
static int history_program(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	return 0;
}

static int history_key_create(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	return 0;
}

static int history_key_revoke(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	return 0;
}

/* GROUP_RENAME belongs to no customer's chain, so no history walks to it. */
static int history_group_rename(const struct record *rec, struct proto_entry *e, char *note, size_t note_cap)
{
	return 0;
}

/* Archived: the amounts stay; merged, they went to another customer. */
static int history_archive(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	if (!rec->u.archive.merged_into) {
		snprintf(det, det_cap, "archived: personal data erased");
		e->detail = proto_str_c(det);
		return 0;
	}
	snprintf(det, det_cap, "merged into #%llu and archived", (unsigned long long)rec->u.archive.merged_into);
	e->detail = proto_str_c(det);
	e->points = -rec->u.archive.points;
	e->balance_after = 0;
	return 1;
}

static int history_merge(const struct record *rec, struct proto_entry *e, char *det, size_t det_cap)
{
	snprintf(det, det_cap, "merged #%llu in: %llu visits, %u groups, %u cards", (unsigned long long)rec->u.merge.from,
		 (unsigned long long)rec->u.merge.visits, rec->u.merge.ngroups, rec->u.merge.ncards);
	e->detail = proto_str_c(det);
	e->points = rec->u.merge.points;
	e->amount = rec->u.merge.spend;
	e->balance_after = rec->u.merge.balance_after;
	return 1;
}

static history_fn *const history_of_type[PROTO_ENTRY_TYPE_MAX + 1] = {
#define HISTORY_ROW(TYPE, kind, code, name, payload, op, of_customer) [PROTO_ENTRY_##TYPE] = history_##kind,
	PROTO_ENTRIES(HISTORY_ROW)
#undef HISTORY_ROW
};

static int history_entry(void *ctx, uint64_t seq, const struct record *rec)
{
	struct history_walk *hw = ctx;
	history_fn *fn = rec->type <= PROTO_ENTRY_TYPE_MAX ? history_of_type[rec->type] : NULL;
	struct proto_entry e;
	size_t mark = hw->w.len;
	int changes;

	memset(&e, 0, sizeof e);
	e.seq = seq;
	e.type = rec->type;
	e.time_us = rec->time_us;
	e.location = e.order_id = e.reason = e.comment = e.detail = proto_str_c("");
	changes = fn ? fn(rec, &e, hw->detail, sizeof hw->detail) : 0;
	/* Entries that change no balance show the balance they left standing;
	 * walking newest first, that is the balance before the next newer change. */
	if (changes)
		hw->balance = e.balance_after - e.points;
	else
		e.balance_after = hw->balance;
	if (hw->before && seq >= hw->before)
		return 0;
	if (hw->count == hw->limit) {
		hw->next_before = seq + 1;
		return 1;
	}
	proto_entry_put(&hw->w, &e);
	if (hw->w.overflow) {
		/* The reply is full: end the page before this entry. */
		hw->w.overflow = 0;
		hw->w.len = mark;
		hw->next_before = seq + 1;
		return 1;
	}
	hw->count++;
	return 0;
}

enum dispatch_action op_history(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			       struct dispatch_out *out)
{
	struct proto_history_req req;
	struct model_customer *c;
	struct history_walk hw;
	uint8_t *p;

	if (proto_history_req_decode(body, len, &req)) {
		dispatch_error(out, PROTO_ST_BAD_REQUEST, "malformed HISTORY body (limit must be 1 to %d)", PROTO_MAX_HISTORY);
		return DISPATCH_REPLY;
	}
	if (!(c = dispatch_find_any_customer(d, &req.ref, out)))
		return DISPATCH_REPLY;
	/* History is read from LMDB, so the chain must be committed first. */
	if (c->last_seq > store_durable_seq(d->store)) {
		out->wait_seq = c->last_seq;
		return DISPATCH_DEFER;
	}
	memset(&hw, 0, sizeof hw);
	proto_wbuf_init(&hw.w, out->body, out->cap);
	proto_reply_put_status(&hw.w, PROTO_OK);
	hw.count_at = hw.w.len;
	proto_history_rep_put_header(&hw.w, 0, 0);
	hw.limit = req.limit;
	hw.before = req.before_seq;
	hw.balance = c->balance;
	if (store_walk_chain(d->store, c->last_seq, history_entry, &hw)) {
		dispatch_error(out, PROTO_ST_STORAGE,
			       "cannot read the journal of customer #%llu: record %llu is missing or damaged (accrue-check names every problem)",
			       (unsigned long long)c->id, (unsigned long long)store_walk_bad_seq(d->store));
		return DISPATCH_REPLY;
	}
	/* Rewrite the header now that the page is known. */
	p = out->body + hw.count_at;
	{
		struct proto_wbuf hdr;
		proto_wbuf_init(&hdr, p, 12);
		proto_history_rep_put_header(&hdr, hw.next_before, hw.count);
	}
	out->len = hw.w.len;
	return DISPATCH_REPLY;
}
