/*
 * op_book.c - the handlers of the customer book: EDIT (names and contact),
 * CARD (loyalty cards linked and unlinked) and OPTOUT (the marketing
 * opt-out). See dispatch_ops.h.
 *
 * Each checks what it can against the state in memory, then appends one
 * record whose effect model_apply makes (and a restart replays). Asking for
 * what already is (the same card linked again, an opt-out of one opted out,
 * an edit to the values a customer has) changes nothing: the reply is the
 * customer as they are, and no record is written. A customer always keeps
 * at least one of an email, a phone number and a card, so they can be found.
 */
#include <stdio.h>
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
