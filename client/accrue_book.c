/*
 * accrue_book.c - libaccrue's calls of the customer book: edit (names and
 * contact), card (loyalty cards linked and unlinked) and optout (the
 * marketing opt-out). See accrue.h. Like accrue_ledger.c, each checks its
 * arguments here, encodes its request once and leaves sending, retrying
 * and matching the reply to accrue__call.
 */
#include "accrue_int.h"

#include <string.h>

int accrue_edit(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref,
		const struct accrue_edit *edit, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_edit_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if ((rc = accrue__ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (!edit || (!edit->email && !edit->phone && !edit->first_name && !edit->last_name))
		return accrue__arg_invalid(a, "nothing to change (every field of the edit is NULL)");
	if (accrue__text_too_long(a, "email", edit->email, PROTO_MAX_EMAIL) ||
	    accrue__text_too_long(a, "phone", edit->phone, PROTO_MAX_PHONE) ||
	    accrue__text_too_long(a, "first name", edit->first_name, PROTO_MAX_NAME) ||
	    accrue__text_too_long(a, "last name", edit->last_name, PROTO_MAX_NAME))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.fields = (uint8_t)((edit->email ? PROTO_EDIT_EMAIL : 0) | (edit->phone ? PROTO_EDIT_PHONE : 0) |
			     (edit->first_name ? PROTO_EDIT_FIRST : 0) | (edit->last_name ? PROTO_EDIT_LAST : 0));
	m.email = proto_str_c(edit->email);
	m.phone = proto_str_c(edit->phone);
	m.first_name = proto_str_c(edit->first_name);
	m.last_name = proto_str_c(edit->last_name);
	accrue__request_init(&rq, PROTO_OP_EDIT);
	proto_edit_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	return accrue__customer_reply(a, &rep, "EDIT", out);
}

int accrue_card(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int link,
		const char *card, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_card_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if ((rc = accrue__ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (!card || !*card)
		return accrue__arg_invalid(a, "no card given");
	if (accrue__text_too_long(a, "card", card, PROTO_MAX_CARD))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.link = link ? 1 : 0;
	m.card = proto_str_c(card);
	accrue__request_init(&rq, PROTO_OP_CARD);
	proto_card_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	return accrue__customer_reply(a, &rep, "CARD", out);
}

int accrue_optout(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int opted_out,
		  const char *source, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_optout_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if ((rc = accrue__ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (accrue__text_too_long(a, "source", source, PROTO_MAX_OPTOUT_SOURCE))
		return ACCRUE_E_INVALID;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	m.opted_out = opted_out ? 1 : 0;
	m.source = proto_str_c(source);
	accrue__request_init(&rq, PROTO_OP_OPTOUT);
	proto_optout_req_encode(&rq.body, &m);
	rc = accrue__call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	return accrue__customer_reply(a, &rep, "OPTOUT", out);
}

int accrue_archive(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref,
		   struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_archive_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if ((rc = accrue__ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	accrue__request_init(&rq, PROTO_OP_ARCHIVE);
	proto_archive_req_encode(&rq.body, &m);
	if ((rc = accrue__call(a, &rq, &rep)) != 0)
		return rc;
	return accrue__customer_reply(a, &rep, "ARCHIVE", out);
}

int accrue_merge(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *keep,
		 const struct accrue_ref *drop, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_merge_req m;
	int rc;

	if ((rc = accrue__call_begin(a)) != 0)
		return rc;
	if ((rc = accrue__ref_to_proto(a, keep, &m.keep)) != 0 || (rc = accrue__ref_to_proto(a, drop, &m.drop)) != 0)
		return rc;
	if ((rc = accrue__key_fill(a, m.key, key)) != 0)
		return rc;
	accrue__request_init(&rq, PROTO_OP_MERGE);
	proto_merge_req_encode(&rq.body, &m);
	if ((rc = accrue__call(a, &rq, &rep)) != 0)
		return rc;
	return accrue__customer_reply(a, &rep, "MERGE", out);
}
