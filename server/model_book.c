/*
 * model_book.c - the customer book's part of the model: loyalty cards (found
 * through the by_card index), the marketing opt-out, and a change of a
 * customer's contact details (see model.h and model_int.h).
 *
 * Cards and the opt-out live in one allocation per customer that has any
 * (struct model_book), replaced whole by the record that changes them, as
 * the tags are. A card's index entry is (hash of the card, the customer's
 * slot); a look-up settles a candidate by comparing the card with each of
 * that customer's cards, so one customer may hold several.
 */
#include "model.h"
#include "model_int.h"

#include <stdlib.h>
#include <string.h>

static int str_eq(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int model_card_normalise(struct proto_str in, char buf[PROTO_MAX_CARD + 1], struct proto_str *out)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < in.len; i++) {
		char ch = in.ptr[i];

		if (ch == ' ' || ch == '-')
			continue;
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) || n >= PROTO_MAX_CARD)
			return -1;
		buf[n++] = ch;
	}
	buf[n] = 0;
	out->ptr = buf;
	out->len = n;
	return n ? 0 : -1;
}

struct model_book *model__book_make(uint8_t opted_out, int64_t optout_us, struct proto_str source, uint8_t ncards,
				    const struct proto_str *cards, int *rc)
{
	struct model_book *b;
	size_t len = source.len;
	char *p;

	*rc = 0;
	if (opted_out > 1 || source.len > PROTO_MAX_OPTOUT_SOURCE || ncards > PROTO_MAX_CARDS) {
		*rc = MODEL_E_CORRUPT;
		return NULL;
	}
	for (uint8_t i = 0; i < ncards; i++) {
		if (!cards[i].len || cards[i].len > PROTO_MAX_CARD) {
			*rc = MODEL_E_CORRUPT;
			return NULL;
		}
		len += cards[i].len;
	}
	/* One who opted in again keeps no time or source of the old opt-out. */
	if (!opted_out && (optout_us || source.len)) {
		*rc = MODEL_E_CORRUPT;
		return NULL;
	}
	if (!opted_out && !ncards)
		return NULL;
	b = malloc(sizeof *b + len);
	if (!b) {
		*rc = MODEL_E_NOMEM;
		return NULL;
	}
	b->merged_into = 0;
	b->optout_us = optout_us;
	b->opted_out = opted_out;
	b->source_len = (uint8_t)source.len;
	b->ncards = ncards;
	p = b->text;
	memcpy(p, source.ptr, source.len);
	p += source.len;
	for (uint8_t i = 0; i < ncards; i++) {
		b->card_len[i] = (uint8_t)cards[i].len;
		memcpy(p, cards[i].ptr, cards[i].len);
		p += cards[i].len;
	}
	return b;
}

void model__book_view(const struct model_customer *c, struct proto_customer *out)
{
	const struct model_book *b = c->book;
	const char *p;

	out->opted_out = 0;
	out->optout_us = 0;
	out->optout_source.ptr = "";
	out->optout_source.len = 0;
	out->ncards = 0;
	out->merged_into = 0;
	if (!b)
		return;
	out->merged_into = b->merged_into;
	out->opted_out = b->opted_out;
	out->optout_us = b->optout_us;
	out->optout_source.ptr = b->text;
	out->optout_source.len = b->source_len;
	p = b->text + b->source_len;
	out->ncards = b->ncards;
	for (uint8_t i = 0; i < b->ncards; i++) {
		out->cards[i].ptr = p;
		out->cards[i].len = b->card_len[i];
		p += b->card_len[i];
	}
}

int model_customer_has_card(const struct model_customer *c, struct proto_str card)
{
	struct proto_customer v;

	model__book_view(c, &v);
	for (uint8_t i = 0; i < v.ncards; i++)
		if (str_eq(v.cards[i], card))
			return 1;
	return 0;
}

struct card_match {
	const struct model *m;
	struct proto_str card;
};

static int match_card(const void *ctx, uint32_t slot)
{
	const struct card_match *cm = ctx;
	return model_customer_has_card(&cm->m->customers[slot], cm->card);
}

struct model_customer *model_customer_by_card(const struct model *m, struct proto_str card)
{
	struct card_match cm = {m, card};
	uint32_t slot;

	if (!card.len)
		return NULL;
	slot = hidx_find(&m->by_card, model__hash_bytes(card.ptr, card.len), match_card, &cm);
	return slot == HIDX_NONE ? NULL : &m->customers[slot];
}

void model__cards_unindex(struct model *m, uint32_t slot)
{
	struct proto_customer v;

	model__book_view(&m->customers[slot], &v);
	for (uint8_t i = 0; i < v.ncards; i++)
		hidx_remove(&m->by_card, model__hash_bytes(v.cards[i].ptr, v.cards[i].len), slot);
}

int model__cards_index(struct model *m, uint32_t slot)
{
	struct proto_customer v;

	model__book_view(&m->customers[slot], &v);
	for (uint8_t i = 0; i < v.ncards; i++) {
		struct card_match cm = {m, v.cards[i]};
		uint64_t h = model__hash_bytes(v.cards[i].ptr, v.cards[i].len);
		uint32_t was = hidx_insert_unique(&m->by_card, h, slot, match_card, &cm);

		if (was != HIDX_NONE) {
			/* A card twice in one list, or another customer's: undo. */
			for (uint8_t j = 0; j < i; j++)
				hidx_remove(&m->by_card, model__hash_bytes(v.cards[j].ptr, v.cards[j].len), slot);
			return was == HIDX_NOMEM ? MODEL_E_NOMEM : MODEL_E_CORRUPT;
		}
	}
	return 0;
}

int model__customer_set_contact(struct model *m, struct model_customer *c, struct proto_str email,
				struct proto_str phone, struct proto_str first, struct proto_str last)
{
	uint32_t slot = (uint32_t)(c - m->customers);
	struct model_customer *other;
	struct proto_str old_email = model_customer_email(c), old_phone = model_customer_phone(c);
	/* Hashed now: the old text is freed when the new one is set. */
	uint64_t old_email_hash = old_email.len ? model__hash_bytes(old_email.ptr, old_email.len) : 0;
	uint64_t old_phone_hash = old_phone.len ? model__hash_bytes(old_phone.ptr, old_phone.len) : 0;
	int had_email = old_email.len != 0, had_phone = old_phone.len != 0;
	/* The new values may be views into the old text (the fields an edit
	 * keeps): hashed now too, before set_text frees it. */
	uint64_t email_hash = email.len ? model__hash_bytes(email.ptr, email.len) : 0;
	uint64_t phone_hash = phone.len ? model__hash_bytes(phone.ptr, phone.len) : 0;

	if (email.len > 255 || phone.len > 255 || first.len > 255 || last.len > 255)
		return MODEL_E_CORRUPT;
	if (((other = model_customer_by_email(m, email)) && other != c) ||
	    ((other = model_customer_by_phone(m, phone)) && other != c))
		return MODEL_E_CORRUPT;
	if (model__customer_set_text(c, email, phone, first, last))
		return MODEL_E_NOMEM;
	if (had_email)
		hidx_remove(&m->by_email, old_email_hash, slot);
	if (had_phone)
		hidx_remove(&m->by_phone, old_phone_hash, slot);
	/* As a JOIN's rename: removal left room, and a half-indexed customer
	 * is worse than stopping, so a failure here is out of memory. */
	if ((email.len && hidx_insert(&m->by_email, email_hash, slot)) ||
	    (phone.len && hidx_insert(&m->by_phone, phone_hash, slot)))
		return MODEL_E_NOMEM;
	return 0;
}

uint64_t model_customer_merged_into(const struct model_customer *c)
{
	return c->book ? c->book->merged_into : 0;
}

struct model_customer *model_customer_owner(const struct model *m, uint64_t id)
{
	struct model_customer *c = model_customer_by_id(m, id);

	/* Each merge moves to a customer who is not archived, so a chain is at
	 * most as long as there are customers; the bound only guards a cycle
	 * no record can make. */
	for (uint32_t n = 0; c && c->archived && model_customer_merged_into(c) && n <= m->ncustomers; n++)
		c = model_customer_by_id(m, model_customer_merged_into(c));
	return c;
}

int model__customer_archive(struct model *m, struct model_customer *c, uint64_t merged_into)
{
	uint32_t slot = (uint32_t)(c - m->customers);
	struct proto_str email = model_customer_email(c), phone = model_customer_phone(c);
	uint64_t he = email.len ? model__hash_bytes(email.ptr, email.len) : 0;
	uint64_t hp = phone.len ? model__hash_bytes(phone.ptr, phone.len) : 0;
	struct model_book *nb = NULL;
	struct proto_customer v;
	char *text = malloc(1); /* the empty text, as model__customer_set_text makes it */

	if (!text)
		return MODEL_E_NOMEM;
	if (merged_into) {
		if (!(nb = calloc(1, sizeof *nb))) {
			free(text);
			return MODEL_E_NOMEM;
		}
		nb->merged_into = merged_into;
	}
	model_customer_view(c, &v);
	for (uint8_t i = 0; i < v.ngroups; i++)
		places_group_count(&m->places, v.groups[i], -1);
	model__cards_unindex(m, slot);
	if (email.len)
		hidx_remove(&m->by_email, he, slot);
	if (phone.len)
		hidx_remove(&m->by_phone, hp, slot);
	/* Freed memory keeps its bytes until it is reused: overwritten first. */
	explicit_bzero(c->text, (size_t)c->email_len + c->phone_len + c->first_len + c->last_len);
	free(c->text);
	c->text = text;
	c->email_len = c->phone_len = c->first_len = c->last_len = 0;
	if (c->book) {
		size_t len = sizeof *c->book + c->book->source_len;
		for (uint8_t i = 0; i < c->book->ncards; i++)
			len += c->book->card_len[i];
		explicit_bzero(c->book, len);
		free(c->book);
	}
	c->book = nb;
	free(c->tags);
	c->tags = NULL;
	c->archived = 1;
	return 0;
}
