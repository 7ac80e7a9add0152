/*
 * model.h - the ledger's state in memory.
 *
 * Customers, orders, request keys and API keys live in dense arrays, found
 * through XXH3 hash indexes (hidx). Only the loop thread touches a model.
 *
 * The state changes in exactly one way: model_apply() of a journal record.
 * The live path builds a record, appends it to the open batch and applies
 * it; recovery applies the same records read back from LMDB. So what a
 * restart rebuilds is by construction what the daemon had before.
 *
 * Checkpoints: every change marks what it touched; model_checkpoint() hands
 * the changed snapshots to a sink and clears the marks.
 *
 * Orders and request keys are made once and (but for an order's returns)
 * never change, so they need not wait for a checkpoint: model_save_new()
 * hands the ones made since it last ran to the store, which writes them
 * with the batch that holds the last of the records that made them.
 * Recovery then finds some of them already loaded when it replays their
 * records: an order or a request key whose snapshot carries the replayed
 * record's own seq and values is that record's, and is kept as loaded.
 */
#ifndef ACCRUE_MODEL_H
#define ACCRUE_MODEL_H

#include <stdint.h>

#include "hidx.h"
#include "places.h"
#include "record.h"
#include "rules.h"

#define MODEL_E_NOMEM -30
#define MODEL_E_CORRUPT -31 /* a record does not fit the state it is applied to */

/* The snapshot databases a checkpoint writes to are record.h's RECORD_DB_CUSTOMERS..RECORD_DB_LAST_SNAPSHOT. */

/* A customer's tier and groups; most customers have none, so it is apart. */
struct model_tags {
	uint8_t tier_len;
	uint8_t ngroups;
	uint8_t group_len[PROTO_MAX_GROUPS];
	char text[]; /* the tier, then each group, unterminated */
};

/*
 * A customer's loyalty cards and marketing opt-out. Most customers have
 * neither, so like the tags they are apart: one pointer in the customer,
 * NULL for none, and a million customers pay 8 bytes each for it.
 */
struct model_book {
	uint64_t merged_into; /* archived by a MERGE into this customer; 0: not */
	int64_t optout_us; /* when they opted out; 0 when they have not */
	uint8_t opted_out;
	uint8_t source_len;
	uint8_t ncards;
	uint8_t card_len[PROTO_MAX_CARDS];
	char text[]; /* the opt-out's source, then each card, unterminated */
};

/* Where a location is not given and the key has none. */
#define MODEL_DEFAULT_LOCATION "default"

struct model_customer {
	uint64_t id;
	uint64_t last_seq; /* head of this customer's journal chain */
	int64_t balance;
	int64_t lifetime_points;
	int64_t total_spend;
	int64_t created_us;
	int64_t last_visit_us;
	uint64_t visits;
	char *text; /* email, phone, first and last name back to back, unterminated */
	struct model_tags *tags; /* NULL: no tier, no groups */
	struct model_book *book; /* NULL: no cards, not opted out */
	uint8_t email_len, phone_len, first_len, last_len;
	uint8_t member; /* 0: a guest */
	uint8_t dirty;
	uint8_t archived; /* personal data erased (ARCHIVE); only the amounts are left */
};

struct model_order {
	uint64_t customer_id;
	uint64_t seq; /* the sale */
	int64_t amount;
	int64_t points;
	int64_t refunded;   /* by its returns */
	int64_t taken_back; /* by its returns */
	uint64_t last_return_seq;
	char *key; /* location, NUL, order id */
	uint32_t key_len;
	uint8_t dirty;
};

struct model_request {
	uint8_t key[PROTO_KEY_SIZE];
	uint8_t opcode;
	uint64_t body_hash;
	uint64_t seq;
	uint64_t object_id;
	int64_t value;
};

struct model_apikey {
	uint64_t id;
	uint8_t role;
	uint8_t revoked;
	int64_t created_us;
	char location[PROTO_MAX_LOCATION + 1];
	uint8_t hash[RECORD_HASH_SIZE];
};

struct model {
	struct model_customer *customers;
	uint32_t ncustomers, customers_cap;
	struct hidx by_email, by_phone;
	struct hidx by_card; /* one entry per card: (hash of the card, the customer's slot) */
	uint64_t next_customer_id;
	uint32_t *dirty; /* slots of customers changed since the last checkpoint */
	uint32_t ndirty, dirty_cap;

	struct model_order *orders;
	uint32_t norders, orders_cap;
	uint32_t *orders_dirty; /* slots of orders changed (a return) since the last checkpoint */
	uint32_t norders_dirty, orders_dirty_cap;
	uint32_t orders_saved;  /* orders [orders_saved, norders) are in no snapshot yet */
	struct hidx by_order;

	struct model_request *requests;
	uint32_t nrequests, requests_cap, requests_saved;
	struct hidx by_request;

	struct model_apikey *keys;
	uint32_t nkeys, keys_cap;
	int keys_dirty;
	uint64_t next_key_id;

	/* Group member counts and location sales (places.h), kept by the
	 * code below that adds customers and orders and by model_apply. */
	struct places places;

	struct rules rules; /* the program in force */
	int program_dirty;
	uint64_t program_seq; /* the last PROGRAM record applied since start */

	uint64_t applied_seq; /* last journal record applied */
	/* Recovery: every record up to this seq had its order and request key
	 * saved, and they were loaded with the snapshots; model_apply does not
	 * look for them again. 0 (look, and accept only exact copies) unless
	 * the store sets it. */
	uint64_t saved_seq;
};

/* An empty model with the program's defaults. Returns 0 (it allocates nothing yet). */
int model_init(struct model *m);
/* Free everything the model holds; every pointer it handed out dies with it. */
void model_free(struct model *m);

/*
 * ---- look-ups (NULL when absent) ------------------------------------
 *
 * How long a pointer from a look-up lives: customers, orders, request keys
 * and API keys are elements of arrays that are reallocated as they grow.
 * A pointer is valid until the next change of the model: the next
 * model_apply (any record: an ENROL or a sale that adds a guest, an order or
 * a request key may move every element), model_reserve, a model_load_*, or
 * model_free. Keep an id, never a pointer, across a commit or a callback.
 * A customer's text (email, phone, names) and tags are separate
 * allocations that a JOIN, GROUP or TIER record replaces, so views into them
 * (model_customer_view, model_customer_rules) follow the same rule.
 */

struct model_customer *model_customer_by_id(const struct model *m, uint64_t id);
/* email and phone must already be normalised. */
struct model_customer *model_customer_by_email(const struct model *m, struct proto_str email);
struct model_customer *model_customer_by_phone(const struct model *m, struct proto_str phone);
/* card must already be normalised (model_card_normalise). */
struct model_customer *model_customer_by_card(const struct model *m, struct proto_str card);
/* Normalises a ref's email, phone or card (model_ref_normalise) before looking it up; NULL if it is not valid. */
struct model_customer *model_customer_find(const struct model *m, const struct proto_ref *ref);

/*
 * Who holds what belonged to customer id now: the customer, or, when a
 * MERGE archived them, the customer they were merged into (followed to the
 * end). NULL when there is no such customer. Returns go to the order's
 * owner this way.
 */
struct model_customer *model_customer_owner(const struct model *m, uint64_t id);
/* c's merged_into (0: none), see struct model_book. */
uint64_t model_customer_merged_into(const struct model_customer *c);

/* The order of (location, order id), byte for byte; NULL when absent. */
const struct model_order *model_order_find(const struct model *m, struct proto_str location, struct proto_str order_id);
/* A request key of all zero bytes: "no key" (records written at first start carry none). */
int model_key_is_zero(const uint8_t key[PROTO_KEY_SIZE]);
/* What the request key made (its opcode, body hash, seq, object, points); NULL for a new key. */
const struct model_request *model_request_find(const struct model *m, const uint8_t key[PROTO_KEY_SIZE]);
/* An API key by id, revoked ones included; NULL when absent. */
const struct model_apikey *model_apikey_find(const struct model *m, uint64_t id);

/* The order of a sale, writable by the model only; NULL when absent. */
const struct model_order *model_order_by_key(const struct model *m, const char *key, size_t key_len);

/* The tier and groups of c as rules sees them (views into c). */
void model_customer_rules(const struct model_customer *c, struct rules_customer *out);
/* Whether c is in group. */
int model_customer_in_group(const struct model_customer *c, struct proto_str group);

/* c's email and phone (normalised; empty when none), views into c. */
struct proto_str model_customer_email(const struct model_customer *c);
struct proto_str model_customer_phone(const struct model_customer *c);
/* A reply view of c; its strings point into c and live as long as c is unchanged. */
void model_customer_view(const struct model_customer *c, struct proto_customer *out);

/*
 * What people type, made canonical (model_text.c). An empty input gives an
 * empty result and 0.
 *
 * An email: trimmed, valid UTF-8 without controls or bidirectional
 * controls, lower-cased beyond ASCII (Unicode case mapping, then NFC), one
 * '@' with text on both sides, no blanks inside. Returns 0 or -1.
 *
 * A phone: E.164, '+' then 6 to 15 digits. Spaces, tabs, dots, dashes and
 * parentheses are dropped; anything else is refused. Written with a leading
 * '+', the digits are taken as they are (a calling code never starts with
 * 0), but for a trunk 0 in brackets after the calling code ("+44 (0)20"). Written without, it is a national number of country (a calling code,
 * the program's phone.country): its trunk prefix is dropped (the leading 0
 * of most countries, Italy's kept; 1 before a ten-digit North American
 * number; 8 before a ten-digit Russian one; model_text.c lists them) and
 * the calling code put in front; a national number starting 00 is refused.
 * Returns 0, -1, or MODEL_PHONE_NO_COUNTRY for a number without '+' when
 * country is 0 (none set).
 */
#define MODEL_PHONE_NO_COUNTRY -2
int model_email_normalise(struct proto_str in, char buf[PROTO_MAX_EMAIL + 1], struct proto_str *out);
int model_phone_normalise(struct proto_str in, int64_t country, char buf[PROTO_MAX_PHONE + 1], struct proto_str *out);
/*
 * A ref's email or phone normalised as enrol stores it, phones read with
 * m's phone.country: 0 (an id ref: an empty *out), -1 (empty, or not a
 * valid email or phone) or MODEL_PHONE_NO_COUNTRY.
 */
int model_ref_normalise(const struct model *m, const struct proto_ref *ref, char buf[PROTO_MAX_EMAIL + 1],
			struct proto_str *out);
/*
 * A person's name or other free text a person reads: *out is in trimmed of
 * blanks (a view into in). Returns 0, or -1 if it is not valid UTF-8 or holds
 * a control character (C0, DEL, C1) or a bidirectional control (U+061C,
 * U+200E, U+200F, U+202A..U+202E, U+2066..U+2069).
 */
int model_name_normalise(struct proto_str in, struct proto_str *out);
/*
 * A store location: trimmed of blanks, A-Z lower-cased (location codes are
 * compared case-insensitively; ASCII is enough for codes), into buf. An
 * empty input gives an empty result. Returns 0, or -1 if it is longer than
 * PROTO_MAX_LOCATION or not text (model_name_normalise's rules).
 */
int model_location_normalise(struct proto_str in, char buf[PROTO_MAX_LOCATION + 1], struct proto_str *out);

/*
 * Normalise a loyalty card number: spaces and dashes are dropped, letters
 * upper-cased; what is left must be 1 to PROTO_MAX_CARD letters and digits.
 * Into buf (NUL-terminated), *out pointing at it. Return 0, or -1 if the
 * input is not a card number.
 */
int model_card_normalise(struct proto_str in, char buf[PROTO_MAX_CARD + 1], struct proto_str *out);

/* Whether c holds card (normalised). */
int model_customer_has_card(const struct model_customer *c, struct proto_str card);

/* ---- change ----------------------------------------------------------- */

/*
 * Apply journal record seq. Returns 0, MODEL_E_NOMEM, or MODEL_E_CORRUPT
 * when the record contradicts the state (an unknown customer, a balance that
 * does not add up, a taken email): on recovery that means a damaged journal.
 */
int model_apply(struct model *m, uint64_t seq, const struct record *rec);

/*
 * Make room for so many more customers, orders and request keys at once
 * (recovery knows how many it will load and replay), so that no array or
 * index grows and rehashes on the way. Returns 0 or MODEL_E_NOMEM.
 */
int model_reserve(struct model *m, uint64_t customers, uint64_t orders, uint64_t requests);

/* ---- snapshots -------------------------------------------------------- */

/*
 * Load one snapshot read at start-up (the store decodes and verifies it
 * first). Each returns 0, MODEL_E_NOMEM, or MODEL_E_CORRUPT when it
 * contradicts what is loaded already (a second customer with the same id,
 * email or phone; an order or request key twice).
 */
int model_load_customer(struct model *m, const struct record_customer *s);
/* Start fetching the index slots loading s (or a request key) will probe. */
void model_prefetch_customer(const struct model *m, const struct record_customer *s);
void model_prefetch_request(const struct model *m, const uint8_t key[PROTO_KEY_SIZE]);
void model_prefetch_order(const struct model *m, const void *key, size_t key_len);
/* Start fetching what a sale will look up: its request key's and its
 * order's index slots, and (by id) its customer. A batch of sales issues
 * these a few sales ahead, so the cache misses overlap. */
void model_prefetch_sale(const struct model *m, const uint8_t key[PROTO_KEY_SIZE], struct proto_str location,
			 struct proto_str order_id, const struct proto_ref *ref);
int model_load_order(struct model *m, const void *key, size_t key_len, const struct record_order *s);
int model_load_request(struct model *m, const uint8_t key[PROTO_KEY_SIZE], const struct record_request *s);
int model_load_apikey(struct model *m, uint64_t id, const struct record_apikey *s);
/* The program snapshot: a PROGRAM_GET-shaped list of settings. */
int model_load_program(struct model *m, const void *val, size_t len);

/* Receives one snapshot; returns 0 or an error that stops the checkpoint. */
typedef int (*model_put_fn)(void *ctx, enum record_db db, const void *key, size_t key_len, const void *val,
			    size_t val_len);

/*
 * Hand every snapshot changed since the last checkpoint to put, then clear
 * the marks. Returns 0 or the first error put returned. How many were
 * handed over is added to *count if count is not NULL.
 */
int model_checkpoint(struct model *m, model_put_fn put, void *ctx, uint64_t *count);

/*
 * Hand put the orders (as their sale made them) and request keys made
 * since the last model_save_new() or checkpoint, in seq order, then mark
 * them saved. A return to such an order marks it for the next checkpoint,
 * which writes its state then. Returns 0 or the first error put returned
 * (nothing is marked saved then).
 */
int model_save_new(struct model *m, model_put_fn put, void *ctx);

/* How many orders and request keys model_save_new() would hand over now. */
uint64_t model_unsaved(const struct model *m);

#endif
