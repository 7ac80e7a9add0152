/*
 * model_int.h - what model.c shares with model_apply.c, and nothing else.
 *
 * model.c keeps the state and its indexes (customers, orders, request keys,
 * API keys, snapshots); model_apply.c changes that state one journal record
 * at a time. These are model.c's internal helpers that applying a record
 * needs. Names are model__ (double underscore): not part of model.h's API.
 */
#ifndef ACCRUE_MODEL_INT_H
#define ACCRUE_MODEL_INT_H

#include "model.h"

/* model__order_add and model__request_add: the entry is there already, with
 * this seq and these values: a replayed record whose order or request key
 * was saved with it (model.h). Not an error, and never returned by model_apply. */
#define MODEL_EXISTED 1

uint64_t model__hash_bytes(const void *p, size_t n);

/* Put the customer in slot on the dirty list for the next checkpoint. */
void model__mark_dirty(struct model *m, uint32_t slot);

/* Add a customer as v describes, indexed by id, email and phone. Returns 0,
 * MODEL_E_NOMEM, or MODEL_E_CORRUPT (id, email or phone taken). */
int model__customer_add(struct model *m, const struct proto_customer *v, uint64_t last_seq);

/* Set c's text (email, phone, first and last name, in one allocation),
 * freeing the old one. Returns 0, or MODEL_E_NOMEM with c unchanged. */
int model__customer_set_text(struct model_customer *c, struct proto_str email, struct proto_str phone,
			     struct proto_str first, struct proto_str last);

/* A tier and group list as one allocation; NULL with *rc 0 for none. */
struct model_tags *model__tags_make(struct proto_str tier, uint8_t ngroups, const struct proto_str *groups, int *rc);

/* ---- the customer book (model_book.c) ---- */

/* Cards and opt-out as one allocation; NULL with *rc 0 for none (no cards,
 * not opted out). *rc is MODEL_E_CORRUPT for a field over its limit. */
struct model_book *model__book_make(uint8_t opted_out, int64_t optout_us, struct proto_str source, uint8_t ncards,
				    const struct proto_str *cards, int *rc);

/* Fill out's opt-out and cards from c (views into c's book). */
void model__book_view(const struct model_customer *c, struct proto_customer *out);

/* Index the cards of the customer in slot; a card another customer holds
 * undoes what was indexed and returns MODEL_E_CORRUPT (MODEL_E_NOMEM too). */
int model__cards_index(struct model *m, uint32_t slot);
/* Take the cards of the customer in slot out of the index. */
void model__cards_unindex(struct model *m, uint32_t slot);

/* Give c a new email, phone and names, re-indexed. Returns 0, MODEL_E_NOMEM,
 * or MODEL_E_CORRUPT (the email or phone is another customer's; c unchanged). */
int model__customer_set_contact(struct model *m, struct model_customer *c, struct proto_str email,
				struct proto_str phone, struct proto_str first, struct proto_str last);

/*
 * ARCHIVE: c's email, phone, names and cards leave the indexes and memory
 * (overwritten before they are freed), with the tier, groups and opt-out;
 * c is archived, merged into merged_into (0: none). Returns 0 or
 * MODEL_E_NOMEM (c is then unchanged).
 */
int model__customer_archive(struct model *m, struct model_customer *c, uint64_t merged_into);

/* An order's key: location bytes, 0x00, order id bytes, into buf (of at
 * least PROTO_MAX_LOCATION + 1 + PROTO_MAX_ORDER bytes). Returns its length. */
size_t model__order_key(char *buf, struct proto_str location, struct proto_str order_id);

/* The order's slot, or HIDX_NONE. */
uint32_t model__order_find_key(const struct model *m, const char *key, size_t len);

void model__order_mark_dirty(struct model *m, uint32_t slot);

/* Returns 0, MODEL_EXISTED, MODEL_E_NOMEM or MODEL_E_CORRUPT. */
int model__order_add(struct model *m, const char *key, size_t len, const struct record_order *s);

/* Returns 0, MODEL_EXISTED, MODEL_E_NOMEM or MODEL_E_CORRUPT. */
int model__request_add(struct model *m, const uint8_t key[PROTO_KEY_SIZE], const struct record_request *s);

#endif
