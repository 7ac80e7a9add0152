/*
 * record.h - the on-disk formats: journal records and checkpoint snapshots.
 *
 * Like proto.h this is a pure codec: no I/O, no allocation, decoded strings
 * point into the caller's buffer. The daemon writes these into LMDB; the
 * offline checker reads them back without linking the server.
 *
 * A journal record is a fact, not a request: it carries the effect (points
 * earned, balance after) so that replaying it never re-runs the rules. Each
 * record ends with an XXH3-64 checksum of everything before it, seeded with
 * the record's own sequence number, so a record copied under another key is
 * caught as surely as a flipped bit.
 */
#ifndef ACCRUE_RECORD_H
#define ACCRUE_RECORD_H

#include "proto.h"

#define RECORD_FORMAT 1
/*
 * A record whose personal fields were erased (ARCHIVE rewrote it in place
 * under its seq, with a new checksum): names, email, phone, cards, the
 * opt-out's source and free-text notes are empty; amounts, orders and
 * chains are as they were. record_decode sets rec->erased.
 */
#define RECORD_FORMAT_ERASED 2
/*
 * Customer snapshots have a format of their own since they grew the
 * opt-out and the cards (2), and archive (3): 3 is written; 1 and 2 are
 * still read, so a data directory checkpointed before keeps starting.
 */
#define RECORD_CUSTOMER_FORMAT 3 /* 3: with archived and merged_into */
#define RECORD_HASH_SIZE 32
/* Upper bound of one encoded record (all strings at their limits). */
#define RECORD_MAX_SIZE 65536

enum record_error {
	RECORD_E_SHORT = -20,    /* truncated */
	RECORD_E_CHECKSUM = -21, /* checksum does not match */
	RECORD_E_FORMAT = -22,   /* unknown type or format version, or trailing bytes */
	RECORD_E_LENGTH = -23,   /* longer than any record or snapshot can be */
};

/* A line of a sale as the journal keeps it: what it was and what it earned. */
struct record_line {
	struct proto_str sku, category;
	int64_t qty, amount;
	int64_t earned; /* in a return: taken back for this line */
};

struct record {
	uint8_t type; /* enum proto_entry_type */
	int64_t time_us;
	uint64_t customer_id; /* 0 for records that belong to no customer */
	uint64_t prev_seq;    /* this customer's previous record, 0 if none */
	uint8_t request_key[PROTO_KEY_SIZE];
	uint64_t body_hash; /* XXH3-64 of the request body, for replays */
	uint8_t erased;     /* written as RECORD_FORMAT_ERASED: see record_erase */
	union {
		struct {
			struct proto_str email, phone, first_name, last_name;
			uint8_t member; /* 0: a guest, recorded by a sale */
		} enrol;            /* also JOIN: a guest becomes a member with these details */
		struct {
			struct proto_str location, order_id;
			int64_t amount, points, balance_after;
			uint32_t multiplier;
			uint16_t nlines;
			struct record_line lines[PROTO_MAX_LINES];
		} accrue;
		struct {
			struct proto_str location, order_id;
			uint64_t sale_seq;        /* the sale returned */
			uint64_t prev_return_seq; /* this order's previous return, 0 if none */
			int64_t refunded;         /* amount refunded by this return */
			int64_t taken;            /* points taken back (>= 0) */
			int64_t applied;          /* of those, removed from the balance */
			int64_t balance_after;
			uint8_t full;             /* the order is now refunded in full: its visit is undone */
			uint16_t nlines;
			struct record_line lines[PROTO_MAX_LINES]; /* category unused */
		} ret;
		struct {
			struct proto_str name, value;
		} program;
		struct {
			uint8_t add;
			struct proto_str group;
		} group;
		struct {
			struct proto_str tier, note;
		} tier;
		struct {
			int64_t points, balance_after;
			struct proto_str reason, comment;
		} adjust;
		struct {
			uint64_t key_id;
			uint8_t role;
			struct proto_str location;
			uint8_t hash[RECORD_HASH_SIZE];
		} key_create;
		struct {
			uint64_t key_id;
		} key_revoke;
		struct {
			/* PROTO_EDIT_* bits of the fields changed; the others are empty.
			 * email and phone are normalised; an empty one is removed. */
			uint8_t fields;
			struct proto_str email, phone, first_name, last_name;
		} edit;
		struct {
			uint8_t link; /* 1: linked; 0: unlinked */
			struct proto_str card; /* normalised: upper-case letters and digits */
		} card;
		struct {
			uint8_t opted_out; /* 1: opted out of marketing; 0: opted in again */
			struct proto_str source;
		} optout;
		struct {
			struct proto_str from, to; /* every member of from is moved to to (a record of no customer) */
		} group_rename;
		struct {
			/* 0: archived, the amounts stay under the id. Otherwise archived
			 * by a MERGE into that customer: these amounts moved there and
			 * this customer is left with none. */
			uint64_t merged_into;
			int64_t points, lifetime, spend;
			uint64_t visits;
		} archive;
		struct {
			/* Moved in from customer `from` (whose ARCHIVE record comes just
			 * before): its balance, lifetime points, spend, visits, latest
			 * visit, groups and cards. */
			uint64_t from;
			int64_t points, lifetime, spend;
			uint64_t visits;
			int64_t last_visit_us;
			int64_t balance_after; /* this customer's, with the points added */
			uint8_t ngroups, ncards;
			struct proto_str groups[PROTO_MAX_GROUPS];
			struct proto_str cards[PROTO_MAX_CARDS];
		} merge;
	} u;
};

/*
 * Encode rec as journal record number seq into out[0..cap).
 * Returns the encoded length, or 0 if cap is too small or a string is over
 * the limit its decoder enforces (so nothing unreadable is ever written).
 */
size_t record_encode(uint8_t *out, size_t cap, uint64_t seq, const struct record *rec);

/*
 * Decode and verify the record stored under seq. Returns 0, RECORD_E_SHORT,
 * RECORD_E_LENGTH (len over RECORD_MAX_SIZE: nothing of buf is read),
 * RECORD_E_CHECKSUM or RECORD_E_FORMAT.
 */
int record_decode(const uint8_t *buf, size_t len, uint64_t seq, struct record *rec);

const char *record_errstr(int err);

/*
 * Empty rec's personal fields in place and set rec->erased: names, email
 * and phone (ENROL, JOIN, EDIT), the card (CARD, MERGE's cards), the
 * opt-out's source, and the free text people write about a customer
 * (ADJUST's reason and comment, TIER's note). Returns 1 if the record
 * carried any of them (it must be written again), 0 if not.
 */
int record_erase(struct record *rec);

/* Journal and snapshot keys are big-endian u64 so LMDB's order is numeric. */
void record_key_u64(uint8_t out[8], uint64_t v);
uint64_t record_key_u64_read(const uint8_t in[8]);

/* ---- the databases of a data directory -------------------------------- */

/*
 * The LMDB databases of a data directory, one row each: X(NAME, "name").
 * The snapshot databases that checkpoints write come first; the daemon,
 * accrue-check and the tests all read this list.
 */
#define RECORD_DBS(X)                \
	X(CUSTOMERS, "customers")    \
	X(ORDERS, "orders")          \
	X(REQUESTS, "requests")      \
	X(KEYS, "keys")              \
	X(PROGRAM, "program")        \
	X(JOURNAL, "journal")        \
	X(META, "meta")

enum record_db {
#define RECORD_DB_ENUM(NAME, name) RECORD_DB_##NAME,
	RECORD_DBS(RECORD_DB_ENUM)
#undef RECORD_DB_ENUM
	RECORD_DB_COUNT
};

/* The snapshot databases are RECORD_DB_CUSTOMERS up to this one. */
#define RECORD_DB_LAST_SNAPSHOT RECORD_DB_PROGRAM

/* The program database's one key: a PROGRAM_GET-shaped list of every setting. */
#define RECORD_PROGRAM_KEY "settings"

/* The database's name in the LMDB environment ("customers"), or NULL. */
const char *record_db_name(int db);

/* ---- snapshots written by checkpoints ------------------------------- */

/*
 * A stored snapshot value is the encoded snapshot followed by an XXH3-64
 * (8 bytes, little-endian) of it, seeded with its database and key: a
 * flipped byte, a value cut short, or a value moved under another key or
 * into another database fails the check. No snapshot is loaded before it.
 */
#define RECORD_SNAPSHOT_SUM_SIZE 8
/* Upper bound of one stored snapshot value (the program with every setting at its limit). */
#define RECORD_SNAPSHOT_MAX_SIZE ((size_t)4 << 20)

/* The checksum a snapshot value val[0..len) stored under (db, key) carries. */
uint64_t record_snapshot_sum(int db, const void *key, size_t key_len, const void *val, size_t len);

/*
 * Check a stored snapshot value (stored[0..stored_len), checksum included)
 * read under (db, key). Returns 0 with *len the length of the encoded
 * snapshot before the checksum; RECORD_E_LENGTH for a value over
 * RECORD_SNAPSHOT_MAX_SIZE (nothing is read); RECORD_E_SHORT for one
 * shorter than a checksum; RECORD_E_CHECKSUM when the sum does not match.
 */
int record_snapshot_check(int db, const void *key, size_t key_len, const void *stored, size_t stored_len, size_t *len);

/*
 * A value of the meta database (checkpoint_seq, saved_seq, format) is the
 * u64 big-endian followed by its checksum, sealed as a snapshot is (seeded
 * with RECORD_DB_META and its name): a flipped bit in the checkpoint's seq
 * would otherwise skip or repeat journal records without a trace.
 */
#define RECORD_META_SIZE 16
void record_meta_seal(uint8_t out[RECORD_META_SIZE], const char *name, uint64_t v);
/* 0 with *v; RECORD_E_SHORT when len is not RECORD_META_SIZE; RECORD_E_CHECKSUM. */
int record_meta_open(const char *name, const void *stored, size_t len, uint64_t *v);

/*
 * Each snapshot has an encoder, which returns 0, PROTO_E_SPACE, or
 * PROTO_E_FIELD for a field over the limit its decoder enforces (nothing
 * unreadable is written), and a decoder of a whole value, which returns 0,
 * PROTO_E_BODY (cut short or trailing bytes) or PROTO_E_FIELD (a field out
 * of range, or another format version). Decoded strings point into b.
 */

/* customers: key = id (record_key_u64); RECORD_CUSTOMER_FORMAT, then the
 * customer as replies carry it, then last_seq. */
struct record_customer {
	struct proto_customer c; /* format 3 carries its archived and merged_into */
	uint64_t last_seq; /* head of the customer's journal chain */
};
int record_customer_encode(struct proto_wbuf *w, const struct record_customer *s);
int record_customer_decode(const uint8_t *b, size_t n, struct record_customer *s);

/*
 * orders: key = the sale's seq (record_key_u64), so a checkpoint appends new
 * orders instead of inserting at random places; the order's own key is in
 * the value.
 */
struct record_order {
	uint64_t customer_id;
	uint64_t seq; /* the sale */
	int64_t amount;
	int64_t points;
	int64_t refunded;   /* by its returns so far */
	int64_t taken_back; /* by its returns so far */
	uint64_t last_return_seq;
	struct proto_str key; /* location bytes, 0x00, order id bytes */
};
int record_order_encode(struct proto_wbuf *w, const struct record_order *s);
int record_order_decode(const uint8_t *b, size_t n, struct record_order *s);

/* requests: key = the seq of the record it made (record_key_u64), appended in order; the request key is in the value. */
struct record_request {
	uint8_t opcode;
	uint64_t body_hash;
	uint64_t seq;
	uint64_t object_id; /* customer id, or key id for key operations */
	int64_t value;      /* points changed, where the operation has any */
	uint8_t key[PROTO_KEY_SIZE];
};
int record_request_encode(struct proto_wbuf *w, const struct record_request *s);
int record_request_decode(const uint8_t *b, size_t n, struct record_request *s);

/* program: one entry, key RECORD_PROGRAM_KEY. */

/* keys: key = key id (record_key_u64). */
struct record_apikey {
	uint8_t role;
	uint8_t revoked;
	int64_t created_us;
	struct proto_str location;
	uint8_t hash[RECORD_HASH_SIZE];
};
int record_apikey_encode(struct proto_wbuf *w, const struct record_apikey *s);
int record_apikey_decode(const uint8_t *b, size_t n, struct record_apikey *s);

#endif
