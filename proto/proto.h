/*
 * proto.h - the accrue wire codec.
 *
 * Bytes in, structs out, and back. The codec does no I/O and allocates
 * nothing: decoded strings are views into the caller's buffer and stay valid
 * only as long as that buffer does. Byte order is converted here and nowhere
 * else. PROTOCOL.md beside this file is the contract this header implements.
 *
 * Every decode function returns 0 on success or a negative PROTO_E_* code;
 * proto_errstr() names it. Encoders write into a struct proto_wbuf; a write
 * past its capacity sets wbuf->overflow and the encoder returns PROTO_E_SPACE,
 * so a caller checks once at the end.
 */
#ifndef ACCRUE_PROTO_H
#define ACCRUE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* "ACRU" read as a little-endian u32. */
#define PROTO_MAGIC 0x55524341u
#define PROTO_VERSION 1
#define PROTO_HEADER_SIZE 24
/* Default and hard ceiling for a frame body; a server may announce less. */
#define PROTO_MAX_BODY_DEFAULT (1u << 20)
#define PROTO_MAX_BODY_HARD (16u << 20)
#define PROTO_KEY_SIZE 16

/* Field limits, checked by the decoders (bytes, not characters). */
#define PROTO_MAX_EMAIL 254
#define PROTO_MAX_PHONE 32
#define PROTO_MAX_NAME 100
#define PROTO_MAX_LOCATION 64
#define PROTO_MAX_ORDER 64
#define PROTO_MAX_REASON 500
#define PROTO_MAX_APIKEY 128
#define PROTO_MAX_MESSAGE 1000
#define PROTO_MAX_HISTORY 1000
#define PROTO_MAX_SKU 64
#define PROTO_MAX_CATEGORY 64
#define PROTO_MAX_LINES 256
#define PROTO_MAX_GROUP 64
#define PROTO_MAX_GROUPS 16  /* groups one customer is in */
#define PROTO_MAX_TIER 64
#define PROTO_MAX_SETTING_KEY 100
#define PROTO_MAX_SETTING_VALUE 2500 /* a promotion with its group list */
#define PROTO_MAX_SETTINGS 512
#define PROTO_MAX_BATCH 8190 /* sales in one ACCRUE_BATCH */
#define PROTO_MAX_PAGE 1000  /* customers in one CUSTOMERS reply */
#define PROTO_MAX_SEARCH 100 /* CUSTOMERS search text */
#define PROTO_MAX_CURSOR 600 /* a CUSTOMERS page cursor */
#define PROTO_MAX_CARD 32          /* a loyalty card number: letters and digits, upper-cased */
#define PROTO_MAX_CARDS 8          /* cards one customer holds */
#define PROTO_MAX_OPTOUT_SOURCE 64 /* where a marketing opt-out came from ("sms STOP") */
#define PROTO_MAX_DETAIL 200       /* a HISTORY entry's detail ("added to group vip") */

/*
 * The opcodes, one row each: X(NAME, code). The enum and proto_opcode_name()
 * are made from this list; the server's dispatch table has one row per
 * opcode too (who may send it, whether it changes the ledger, its handler).
 */
#define PROTO_OPCODES(X)          \
	X(HELLO, 0x01)            \
	X(PING, 0x02)             \
	X(ENROL, 0x10)            \
	X(LOOKUP, 0x11)           \
	X(ACCRUE, 0x12)           \
	X(ADJUST, 0x13)           \
	X(HISTORY, 0x14)          \
	X(RETURN, 0x15)           \
	X(QUOTE, 0x16)            \
	X(ACCRUE_BATCH, 0x17)     \
	X(ORDER, 0x18)            \
	X(GROUP, 0x19)            \
	X(TIER, 0x1A)             \
	X(KEY_CREATE, 0x20)       \
	X(KEY_LIST, 0x21)         \
	X(KEY_REVOKE, 0x22)       \
	X(PROGRAM_GET, 0x30)      \
	X(PROGRAM_SET, 0x31)      \
	X(STATS, 0x40)            \
	X(CUSTOMERS, 0x50)        \
	X(GROUPS, 0x51)           \
	X(GROUP_RENAME, 0x52)     \
	X(LOCATIONS, 0x53)        \
	X(ADJUST_BATCH, 0x54)     \
	X(EDIT, 0x55)             \
	X(CARD, 0x56)             \
	X(OPTOUT, 0x57)           \
	X(ARCHIVE, 0x58)          \
	X(MERGE, 0x59)

enum proto_opcode {
#define PROTO_OPCODE_ENUM(name, code) PROTO_OP_##name = code,
	PROTO_OPCODES(PROTO_OPCODE_ENUM)
#undef PROTO_OPCODE_ENUM
};

enum proto_flag {
	PROTO_FLAG_REPLY = 0x0001,  /* set on every frame the server sends */
	PROTO_FLAG_REPLAY = 0x0002, /* reply repeats the outcome of an earlier request with this key */
};

/*
 * Reply status codes, one row each: X(NAME, code, "what it means in a few
 * words"). Stable: a number is never reused for another meaning. PROTO_OK
 * (0) is success; the enum, the names (proto_status_name), libaccrue's
 * accrue_strerror and its check of its copies come from the list.
 */
#define PROTO_STATUSES(X)                                                                           \
	X(PROTOCOL, 1, "protocol error") /* malformed frame; the server closes the connection */    \
	X(UNSUPPORTED, 2, "unsupported operation") /* unknown opcode; the connection stays */       \
	X(BAD_REQUEST, 3, "bad request") /* body malformed or a field invalid */                    \
	X(AUTH, 4, "authentication failed") /* HELLO with an unknown, revoked or wrong key */       \
	X(FORBIDDEN, 5, "forbidden") /* the key's role or location does not allow this */           \
	X(NOT_FOUND, 6, "not found") /* no such customer (or key) */                                \
	X(CONFLICT, 7, "conflict") /* email or phone already belongs to another customer */         \
	X(DUPLICATE_ORDER, 8, "duplicate order") /* this order id was already accrued at this location */ \
	X(INSUFFICIENT, 9, "insufficient points") /* not enough points */                           \
	X(KEY_REUSED, 10, "request key reused") /* request key seen before with a different request */ \
	X(STORAGE, 11, "storage error") /* the change could not be made durable; nothing applied */ \
	X(BUSY, 12, "busy") /* a limit was reached; retry later */                                  \
	X(RANGE, 13, "out of range") /* a number is out of range or the result would overflow */    \
	X(HELLO_REQUIRED, 14, "hello required") /* the first frame on a connection must be HELLO */ \
	X(SHUTTING_DOWN, 15, "shutting down") /* the server is stopping */                          \
	X(INTERNAL, 16, "internal server error")                                                    \
	X(VERSION, 17, "unsupported protocol version") /* protocol version not supported */         \
	X(OVER_RETURN, 18, "over return") /* a return for more than the order has left to return */ \
	X(NOT_MEMBER, 19, "not a member") /* the customer is not a member, and the program refuses guests */

enum proto_status {
	PROTO_OK = 0,
#define PROTO_STATUS_ENUM(name, code, text) PROTO_ST_##name = code,
	PROTO_STATUSES(PROTO_STATUS_ENUM)
#undef PROTO_STATUS_ENUM
};

enum proto_role {
	PROTO_ROLE_ADMIN = 1,
	PROTO_ROLE_TERMINAL = 2,
	PROTO_ROLE_READONLY = 3,
};

/* How a request names a customer. */
enum proto_ref_kind {
	PROTO_REF_ID = 1,
	PROTO_REF_EMAIL = 2,
	PROTO_REF_PHONE = 3,
	PROTO_REF_CARD = 4, /* text: a loyalty card number */
};

/*
 * Journal entry kinds, as history reports them and the journal stores them:
 * the one list of record kinds. One row each:
 *
 *   X(TYPE, kind, code, "name", payload, OPCODE, of_customer)
 *
 * TYPE makes PROTO_ENTRY_TYPE = code; "name" is what history and the tools
 * print; payload is the member of record.h's struct record union that holds
 * the kind's fields (two kinds may share one); OPCODE is the request that
 * writes it (replays of that request are matched against it); of_customer
 * is 1 for a kind that belongs to one customer's chain (customer_id and
 * prev_seq set) and 0 for one that belongs to none. Every part of
 * accrue that treats kinds differently builds a table from this list with
 * one function per kind, named after `kind`: record.c's payload codec
 * (by payload), model_apply, HISTORY's view of an entry, accrue-check. A new
 * kind is one row here; the compiler then names each function still missing.
 */
#define PROTO_ENTRIES(X)                                                     \
	X(ENROL, enrol, 1, "enrol", enrol, ENROL, 1)                         \
	X(ACCRUE, accrue, 2, "accrue", accrue, ACCRUE, 1)                    \
	X(ADJUST, adjust, 3, "adjust", adjust, ADJUST, 1)                    \
	X(KEY_CREATE, key_create, 4, "key-create", key_create, KEY_CREATE, 0) \
	X(KEY_REVOKE, key_revoke, 5, "key-revoke", key_revoke, KEY_REVOKE, 0) \
	X(RETURN, return, 6, "return", ret, RETURN, 1)                       \
	X(PROGRAM, program, 7, "program", program, PROGRAM_SET, 0)           \
	X(GROUP, group, 8, "group", group, GROUP, 1)                         \
	X(TIER, tier, 9, "tier", tier, TIER, 1)                              \
	X(JOIN, join, 10, "join", enrol, ENROL, 1) /* a guest became a member */ \
	X(EDIT, edit, 11, "edit", edit, EDIT, 1)     /* names and contact changed */ \
	X(CARD, card, 12, "card", card, CARD, 1)     /* a loyalty card linked or unlinked */ \
	X(OPTOUT, optout, 13, "optout", optout, OPTOUT, 1) /* marketing opt-out or opt-in */ \
	X(GROUP_RENAME, group_rename, 14, "group-rename", group_rename, GROUP_RENAME, 0) /* every member of a group moved to another */ \
	X(ARCHIVE, archive, 15, "archive", archive, ARCHIVE, 1) /* erased; or merged into another customer */ \
	X(MERGE, merge, 16, "merge", merge, MERGE, 1)           /* another customer's points, cards and groups moved in */

enum proto_entry_type {
#define PROTO_ENTRY_ENUM(TYPE, kind, code, name, payload, op, of_customer) PROTO_ENTRY_##TYPE = code,
	PROTO_ENTRIES(PROTO_ENTRY_ENUM)
#undef PROTO_ENTRY_ENUM
	PROTO_ENTRY_TYPE_MAX = 16 /* the highest code above; tables indexed by type have this + 1 rows */
};

/* Which unit a program counts in (PROGRAM_GET's "unit" setting names it). */
enum proto_unit {
	PROTO_UNIT_POINTS = 0,
	PROTO_UNIT_STAMPS = 1,
};

/* Codec errors (negative). */
enum proto_error {
	PROTO_E_MAGIC = -1,     /* header does not start with PROTO_MAGIC */
	PROTO_E_VERSION = -2,   /* header version is not PROTO_VERSION */
	PROTO_E_TOO_LARGE = -3, /* body length over the limit */
	PROTO_E_CHECKSUM = -4,  /* XXH3-64 checksum does not match */
	PROTO_E_FLAGS = -5,     /* unknown flag bits */
	PROTO_E_BODY = -6,      /* body truncated, too long, or trailing bytes */
	PROTO_E_FIELD = -7,     /* a field is out of its range or over its length limit */
	PROTO_E_SPACE = -8,     /* encoder ran out of buffer */
};

/* A string view: not NUL-terminated, may point into a frame buffer. */
struct proto_str {
	const char *ptr;
	uint32_t len;
};

struct proto_header {
	uint32_t magic;
	uint8_t version;
	uint8_t opcode;
	uint16_t flags;
	uint32_t request_id;
	uint32_t body_len;
	uint64_t checksum;
};

/* ---- frames ---------------------------------------------------------- */

/*
 * Look for one frame at the start of buf[0..len).
 * Returns 1 and fills *h, *body (a pointer into buf) and *frame_len when a
 * whole valid frame is there; 0 when more bytes are needed (nothing filled);
 * or a negative PROTO_E_* when the bytes can never become a valid frame.
 * On PROTO_E_TOO_LARGE, PROTO_E_FLAGS and PROTO_E_CHECKSUM the header was
 * read whole and *h holds it (so a reply can carry its request id); on
 * PROTO_E_MAGIC and PROTO_E_VERSION *h is left as it was.
 * The body length is checked against max_body before anything else is
 * looked at past the header, so a caller can size buffers from it safely.
 */
int proto_frame_decode(const uint8_t *buf, size_t len, uint32_t max_body, struct proto_header *h,
		       const uint8_t **body, size_t *frame_len);

/*
 * Fill the 24-byte header for a frame whose body is body[0..body_len), with
 * its checksum. out and body may be parts of one buffer (header first).
 */
void proto_header_encode(uint8_t out[PROTO_HEADER_SIZE], uint8_t opcode, uint16_t flags, uint32_t request_id,
			 const uint8_t *body, uint32_t body_len);

/* The frame checksum: XXH3-64 of body seeded with XXH3-64 of header bytes 0..15. */
uint64_t proto_checksum(const uint8_t header16[16], const uint8_t *body, size_t body_len);

/* Text for a PROTO_E_* codec error ("checksum mismatch"); never NULL. */
const char *proto_errstr(int err);
/* Stable upper-case name of a status ("NOT_FOUND"), or "UNKNOWN". */
const char *proto_status_name(int status);
/* Upper-case name of an opcode ("ACCRUE_BATCH"), or "UNKNOWN". */
const char *proto_opcode_name(int opcode);
/* Lower-case name of a role ("terminal"), or "unknown". */
const char *proto_role_name(int role);
/* Role from "admin", "terminal", "readonly"; 0 if none. */
int proto_role_parse(const char *name);
/* An entry type's name as history shows it ("key-create"), or "unknown". */
const char *proto_entry_type_name(int type);
/* The opcode whose requests write entries of this type, or 0 for an unknown type. */
uint8_t proto_entry_opcode(int type);
/* 1 if entries of this type belong to a customer's chain, 0 if to none or the type is unknown. */
int proto_entry_of_customer(int type);

/* ---- primitive readers and writers ---------------------------------- */

struct proto_wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	int overflow;
};

struct proto_rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	int error; /* sticky: set on the first short read */
};

static inline void proto_wbuf_init(struct proto_wbuf *w, uint8_t *p, size_t cap)
{
	w->p = p;
	w->len = 0;
	w->cap = cap;
	w->overflow = 0;
}

static inline void proto_rbuf_init(struct proto_rbuf *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->error = 0;
}

/*
 * Writers append little-endian values; one that does not fit sets
 * w->overflow and writes nothing (so later writes fail too): check overflow
 * once at the end. Readers return the value read; a read past the end
 * returns 0 (an empty string, zeroed bytes) and sets r->error to
 * PROTO_E_BODY, and every later read fails the same way.
 */
void proto_put_u8(struct proto_wbuf *w, uint8_t v);
void proto_put_u16(struct proto_wbuf *w, uint16_t v);
void proto_put_u32(struct proto_wbuf *w, uint32_t v);
void proto_put_u64(struct proto_wbuf *w, uint64_t v);
void proto_put_i64(struct proto_wbuf *w, int64_t v);
void proto_put_bytes(struct proto_wbuf *w, const void *p, size_t n);
/* u16 length then bytes. */
void proto_put_str(struct proto_wbuf *w, struct proto_str s);

uint8_t proto_get_u8(struct proto_rbuf *r);
uint16_t proto_get_u16(struct proto_rbuf *r);
uint32_t proto_get_u32(struct proto_rbuf *r);
uint64_t proto_get_u64(struct proto_rbuf *r);
int64_t proto_get_i64(struct proto_rbuf *r);
void proto_get_bytes(struct proto_rbuf *r, void *out, size_t n);
/* A string of at most max bytes; a longer one sets r->error to PROTO_E_FIELD. */
struct proto_str proto_get_str(struct proto_rbuf *r, uint32_t max);
/* 0 if r was read without error and exactly to its end, else PROTO_E_BODY/PROTO_E_FIELD. */
int proto_rbuf_finish(const struct proto_rbuf *r);

/* A view of a NUL-terminated string (NULL reads as empty). */
static inline struct proto_str proto_str_c(const char *s)
{
	struct proto_str v;
	v.ptr = s ? s : "";
	v.len = s ? (uint32_t)strlen(s) : 0;
	return v;
}

/* ---- messages -------------------------------------------------------- */

/*
 * Each request and reply body has a struct, an encoder that appends it to a
 * wbuf (returning 0 or PROTO_E_SPACE) and a decoder that reads a whole body
 * (returning 0, PROTO_E_BODY or PROTO_E_FIELD). Decoders check string
 * limits and enum ranges; semantic checks (a valid email, a known customer)
 * belong to the server.
 */

struct proto_hello_req {
	uint16_t version;
	struct proto_str api_key;
};

struct proto_hello_rep {
	uint8_t role;
	uint64_t key_id;
	struct proto_str location;
	uint32_t max_body;
	uint32_t max_inflight;
	int64_t server_time_us;
};

struct proto_ref {
	uint8_t kind;          /* enum proto_ref_kind */
	uint64_t id;           /* for PROTO_REF_ID */
	struct proto_str text; /* for EMAIL and PHONE */
};

/* One line of a sale or a return. */
struct proto_line {
	struct proto_str sku;
	struct proto_str category;
	int64_t qty;    /* >= 1 */
	int64_t amount; /* minor units paid for the line after discounts (refunded, in a return) */
};

/*
 * A sale as a terminal sends it. With lines, amount must equal the sum of
 * their amounts and points come from the lines; without, from the amount.
 */
struct proto_sale {
	struct proto_str location; /* empty: the key's location */
	struct proto_str order_id;
	int64_t time_us; /* when the sale happened; 0: now */
	int64_t amount;  /* total paid, minor units */
	uint16_t nlines;
	struct proto_line lines[PROTO_MAX_LINES];
};

struct proto_enrol_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_str email, phone, first_name, last_name;
};

struct proto_lookup_req {
	struct proto_ref ref;
};

struct proto_accrue_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref ref;
	struct proto_sale sale; /* amount > 0 */
};

/* A return: names the original sale and what is refunded (an amount, or lines by SKU). */
struct proto_return_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_str location; /* of the original sale; empty: the key's location */
	struct proto_str order_id;
	int64_t time_us; /* 0: now */
	int64_t amount;  /* refunded, minor units; with lines, their sum */
	uint16_t nlines;
	struct proto_line lines[PROTO_MAX_LINES]; /* category is not used */
};

/* What a basket would earn, recording nothing. ref kind 0: an anonymous member. */
struct proto_quote_req {
	struct proto_ref ref;
	struct proto_sale sale;
};

struct proto_order_req {
	struct proto_str location; /* empty: the key's location */
	struct proto_str order_id;
};

struct proto_group_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref ref;
	uint8_t add; /* 1: add to the group; 0: remove */
	struct proto_str group;
};

struct proto_tier_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref ref;
	struct proto_str tier; /* empty: no tier */
	struct proto_str note; /* internal */
};

/* EDIT: which fields change (PROTO_EDIT_* bits); the others are sent empty. */
enum proto_edit_field {
	PROTO_EDIT_EMAIL = 1,
	PROTO_EDIT_PHONE = 2,
	PROTO_EDIT_FIRST = 4,
	PROTO_EDIT_LAST = 8,
};
#define PROTO_EDIT_ALL 15

struct proto_edit_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref ref;
	uint8_t fields; /* PROTO_EDIT_* bits, 1..PROTO_EDIT_ALL; an empty email or phone removes it */
	struct proto_str email, phone, first_name, last_name;
};

struct proto_card_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref ref;
	uint8_t link; /* 1: link the card to the customer; 0: unlink it */
	struct proto_str card;
};

struct proto_optout_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref ref;
	uint8_t opted_out; /* 1: opt out of marketing; 0: opt in again */
	struct proto_str source; /* where the opt-out came from; empty with opted_out 0 */
};

/* ARCHIVE: erase a customer's personal data for good. */
struct proto_archive_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref ref;
};

/* MERGE: drop's points, visits, spend, orders, groups and cards move to keep; drop is archived. */
struct proto_merge_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref keep, drop;
};

struct proto_program_set_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_str name;  /* setting name, e.g. "earn.points" */
	struct proto_str value; /* empty: back to the default */
};

struct proto_adjust_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_ref ref;
	int64_t points; /* signed, != 0 */
	struct proto_str reason;  /* internal */
	struct proto_str comment; /* customer-facing; empty: "Manual adjustments" */
};

struct proto_history_req {
	struct proto_ref ref;
	uint64_t before_seq; /* 0: start at the newest entry */
	uint32_t limit;      /* 1..PROTO_MAX_HISTORY */
};

struct proto_key_create_req {
	uint8_t key[PROTO_KEY_SIZE];
	uint8_t role;
	struct proto_str location;
};

struct proto_key_revoke_req {
	uint8_t key[PROTO_KEY_SIZE];
	uint64_t key_id;
};

/* The customer as replies carry it. Average spend is derived: total_spend / visits. */
struct proto_customer {
	uint64_t id;
	struct proto_str email, phone, first_name, last_name;
	int64_t balance;         /* in the program's unit: points or stamps */
	int64_t lifetime_points; /* everything earned or added, less what returns took back */
	uint64_t visits;
	int64_t total_spend;
	int64_t created_us;
	int64_t last_visit_us; /* 0: never */
	uint8_t member;        /* 1: a member; 0: a guest (collects visits and spend, no points) */
	struct proto_str tier; /* empty: none */
	uint8_t ngroups;
	struct proto_str groups[PROTO_MAX_GROUPS];
	/* Marketing opt-out: when (0: never, or opted in again) and where from. */
	uint8_t opted_out;
	int64_t optout_us;
	struct proto_str optout_source;
	uint8_t ncards; /* loyalty card numbers, in the order they were linked */
	struct proto_str cards[PROTO_MAX_CARDS];
	/* Archived: personal data erased, amounts kept under the id; merged_into
	 * names the customer an archive by MERGE moved everything to (0: none). */
	uint8_t archived;
	uint64_t merged_into;
};

/* Reply to ACCRUE and ADJUST. */
struct proto_change_rep {
	uint64_t seq;   /* journal sequence number of the change */
	int64_t points; /* points added (negative: removed) */
	struct proto_customer customer;
};

/* Reply to RETURN. */
struct proto_return_rep {
	uint64_t seq;
	int64_t points;    /* taken from the balance (<= 0) */
	int64_t shortfall; /* taken back but not removed because the balance stops at zero (>= 0) */
	int64_t refunded;  /* this return's amount */
	struct proto_customer customer;
};

/* Reply to QUOTE. */
struct proto_quote_rep {
	int64_t earned;
	int64_t qualifying; /* qualifying amount, minor units */
	int64_t qualifying_items;
	uint32_t multiplier; /* 10000 = 1.00 */
	uint8_t unit;        /* enum proto_unit */
	uint16_t nlines;
	int64_t line_earned[PROTO_MAX_LINES];
};

/* One line of an order as ORDER reports it. */
struct proto_order_line {
	struct proto_str sku, category;
	int64_t qty, amount, earned;
	int64_t refunded_qty, refunded; /* by returns naming this line */
};

/* Reply to ORDER. */
struct proto_order_rep {
	uint64_t customer_id;
	uint64_t seq; /* the sale's journal entry */
	int64_t time_us;
	struct proto_str location, order_id;
	int64_t amount, earned;
	int64_t refunded, taken_back; /* by all its returns */
	uint32_t multiplier;
	uint16_t nlines;
	struct proto_order_line lines[PROTO_MAX_LINES];
};

/* One item of an ACCRUE_BATCH reply. */
struct proto_batch_item {
	uint16_t status;
	uint8_t replay;
	uint64_t seq;          /* OK only */
	int64_t points;        /* OK only */
	uint64_t customer_id;  /* OK only */
	int64_t balance;       /* OK only */
	struct proto_str message; /* refusals only */
};

/* One journal entry as HISTORY reports it. */
struct proto_entry {
	uint64_t seq;
	uint8_t type;           /* enum proto_entry_type */
	int64_t time_us;
	int64_t points;         /* change to the balance, 0 if none */
	int64_t balance_after;  /* balance after this entry */
	int64_t amount;         /* sale amount in minor units, 0 if none */
	struct proto_str location, order_id;
	struct proto_str reason;  /* the internal note: an ADJUST's reason, a TIER change's note */
	struct proto_str comment; /* what the customer sees: an ADJUST's comment */
	struct proto_str detail;  /* what happened, for staff ("tier gold", "card 1234 linked") */
};

struct proto_key_info {
	uint64_t id;
	uint8_t role;
	uint8_t revoked;
	int64_t created_us;
	struct proto_str location;
};

struct proto_key_create_rep {
	uint64_t key_id;
	uint8_t role;
	struct proto_str location;
	struct proto_str secret; /* the whole API key; empty in a replay: it is shown once */
};

int proto_hello_req_encode(struct proto_wbuf *w, const struct proto_hello_req *m);
int proto_hello_req_decode(const uint8_t *b, size_t n, struct proto_hello_req *m);
int proto_hello_rep_encode(struct proto_wbuf *w, const struct proto_hello_rep *m);
int proto_hello_rep_decode(const uint8_t *b, size_t n, struct proto_hello_rep *m);

void proto_ref_put(struct proto_wbuf *w, const struct proto_ref *ref);
void proto_ref_get(struct proto_rbuf *r, struct proto_ref *ref);

int proto_enrol_req_encode(struct proto_wbuf *w, const struct proto_enrol_req *m);
int proto_enrol_req_decode(const uint8_t *b, size_t n, struct proto_enrol_req *m);
int proto_lookup_req_encode(struct proto_wbuf *w, const struct proto_lookup_req *m);
int proto_lookup_req_decode(const uint8_t *b, size_t n, struct proto_lookup_req *m);
int proto_accrue_req_encode(struct proto_wbuf *w, const struct proto_accrue_req *m);
int proto_accrue_req_decode(const uint8_t *b, size_t n, struct proto_accrue_req *m);
/* A sale as ACCRUE and QUOTE carry it; errors as the primitives (overflow, r->error). */
void proto_sale_put(struct proto_wbuf *w, const struct proto_sale *s);
void proto_sale_get(struct proto_rbuf *r, struct proto_sale *s);
int proto_return_req_encode(struct proto_wbuf *w, const struct proto_return_req *m);
int proto_return_req_decode(const uint8_t *b, size_t n, struct proto_return_req *m);
int proto_quote_req_encode(struct proto_wbuf *w, const struct proto_quote_req *m);
int proto_quote_req_decode(const uint8_t *b, size_t n, struct proto_quote_req *m);
int proto_order_req_encode(struct proto_wbuf *w, const struct proto_order_req *m);
int proto_order_req_decode(const uint8_t *b, size_t n, struct proto_order_req *m);
int proto_group_req_encode(struct proto_wbuf *w, const struct proto_group_req *m);
int proto_group_req_decode(const uint8_t *b, size_t n, struct proto_group_req *m);
int proto_tier_req_encode(struct proto_wbuf *w, const struct proto_tier_req *m);
int proto_tier_req_decode(const uint8_t *b, size_t n, struct proto_tier_req *m);
int proto_edit_req_encode(struct proto_wbuf *w, const struct proto_edit_req *m);
int proto_edit_req_decode(const uint8_t *b, size_t n, struct proto_edit_req *m);
int proto_card_req_encode(struct proto_wbuf *w, const struct proto_card_req *m);
int proto_card_req_decode(const uint8_t *b, size_t n, struct proto_card_req *m);
int proto_optout_req_encode(struct proto_wbuf *w, const struct proto_optout_req *m);
int proto_optout_req_decode(const uint8_t *b, size_t n, struct proto_optout_req *m);
int proto_archive_req_encode(struct proto_wbuf *w, const struct proto_archive_req *m);
int proto_archive_req_decode(const uint8_t *b, size_t n, struct proto_archive_req *m);
int proto_merge_req_encode(struct proto_wbuf *w, const struct proto_merge_req *m);
int proto_merge_req_decode(const uint8_t *b, size_t n, struct proto_merge_req *m);
int proto_program_set_req_encode(struct proto_wbuf *w, const struct proto_program_set_req *m);
int proto_program_set_req_decode(const uint8_t *b, size_t n, struct proto_program_set_req *m);

/*
 * ACCRUE_BATCH request: u16 count (1..PROTO_MAX_BATCH), then count items,
 * each a u32 length and an ACCRUE request body of that length (each item
 * keeps its own request key). Encode: the header, then one item at a time.
 * Decode: _begin reads the count; _next gives one item's body bytes (to
 * hash, and to decode with proto_accrue_req_decode).
 * put_item returns 0 or PROTO_E_SPACE; _begin returns 0, PROTO_E_BODY, or
 * PROTO_E_FIELD for a count outside 1..PROTO_MAX_BATCH; _next returns 0 or
 * PROTO_E_BODY (the item is cut short; *item is NULL then).
 */
void proto_batch_req_put_header(struct proto_wbuf *w, uint16_t count);
int proto_batch_req_put_item(struct proto_wbuf *w, const struct proto_accrue_req *m);
int proto_batch_req_begin(struct proto_rbuf *r, uint16_t *count);
int proto_batch_req_next(struct proto_rbuf *r, const uint8_t **item, size_t *item_len);
/*
 * ADJUST_BATCH request: the same frame as ACCRUE_BATCH (read it with
 * proto_batch_req_begin and _next), each item an ADJUST request body. Its
 * reply is ACCRUE_BATCH's too (proto_batch_rep_*, proto_batch_item_*).
 */
int proto_adjust_batch_req_put_item(struct proto_wbuf *w, const struct proto_adjust_req *m);
int proto_adjust_req_encode(struct proto_wbuf *w, const struct proto_adjust_req *m);
int proto_adjust_req_decode(const uint8_t *b, size_t n, struct proto_adjust_req *m);
int proto_history_req_encode(struct proto_wbuf *w, const struct proto_history_req *m);
int proto_history_req_decode(const uint8_t *b, size_t n, struct proto_history_req *m);
int proto_key_create_req_encode(struct proto_wbuf *w, const struct proto_key_create_req *m);
int proto_key_create_req_decode(const uint8_t *b, size_t n, struct proto_key_create_req *m);
int proto_key_revoke_req_encode(struct proto_wbuf *w, const struct proto_key_revoke_req *m);
int proto_key_revoke_req_decode(const uint8_t *b, size_t n, struct proto_key_revoke_req *m);

/* A customer as replies carry it; errors as the primitives (overflow, r->error). */
void proto_customer_put(struct proto_wbuf *w, const struct proto_customer *c);
void proto_customer_get(struct proto_rbuf *r, struct proto_customer *c);
/*
 * The customer as it was before the opt-out and the cards were added to it
 * (up to its groups): what format-1 customer snapshots hold. The opt-out
 * and card fields are set to none. _v2: up to the cards, what format-2
 * snapshots hold (before archive). Both set archived and merged_into to 0.
 */
void proto_customer_get_v1(struct proto_rbuf *r, struct proto_customer *c);
void proto_customer_get_v2(struct proto_rbuf *r, struct proto_customer *c);

/* ENROL and LOOKUP replies: one customer. */
int proto_customer_rep_encode(struct proto_wbuf *w, const struct proto_customer *c);
int proto_customer_rep_decode(const uint8_t *b, size_t n, struct proto_customer *c);
int proto_change_rep_encode(struct proto_wbuf *w, const struct proto_change_rep *m);
int proto_change_rep_decode(const uint8_t *b, size_t n, struct proto_change_rep *m);
int proto_return_rep_encode(struct proto_wbuf *w, const struct proto_return_rep *m);
int proto_return_rep_decode(const uint8_t *b, size_t n, struct proto_return_rep *m);
int proto_quote_rep_encode(struct proto_wbuf *w, const struct proto_quote_rep *m);
int proto_quote_rep_decode(const uint8_t *b, size_t n, struct proto_quote_rep *m);
int proto_order_rep_encode(struct proto_wbuf *w, const struct proto_order_rep *m);
int proto_order_rep_decode(const uint8_t *b, size_t n, struct proto_order_rep *m);

/* ACCRUE_BATCH reply: u16 count, then count items (same order as the request). */
void proto_batch_rep_put_header(struct proto_wbuf *w, uint16_t count);
void proto_batch_item_put(struct proto_wbuf *w, const struct proto_batch_item *it);
int proto_batch_rep_begin(struct proto_rbuf *r, uint16_t *count);
int proto_batch_item_next(struct proto_rbuf *r, struct proto_batch_item *it);

/* PROGRAM_GET reply: u16 count, then count (name, value) string pairs. */
void proto_program_rep_put_header(struct proto_wbuf *w, uint16_t count);
void proto_setting_put(struct proto_wbuf *w, struct proto_str name, struct proto_str value);
int proto_program_rep_begin(struct proto_rbuf *r, uint16_t *count);
int proto_setting_next(struct proto_rbuf *r, struct proto_str *name, struct proto_str *value);
int proto_key_create_rep_encode(struct proto_wbuf *w, const struct proto_key_create_rep *m);
int proto_key_create_rep_decode(const uint8_t *b, size_t n, struct proto_key_create_rep *m);

/*
 * Lists (HISTORY and KEY_LIST replies) are a header then count items.
 * Encode: put the header, then each item. Decode: *_begin reads the header
 * and leaves r at the first item; *_next reads one item (0 or an error).
 */
void proto_history_rep_put_header(struct proto_wbuf *w, uint64_t next_before, uint32_t count);
void proto_entry_put(struct proto_wbuf *w, const struct proto_entry *e);
int proto_history_rep_begin(struct proto_rbuf *r, uint64_t *next_before, uint32_t *count);
int proto_entry_next(struct proto_rbuf *r, struct proto_entry *e);

void proto_key_list_rep_put_header(struct proto_wbuf *w, uint32_t count);
void proto_key_info_put(struct proto_wbuf *w, const struct proto_key_info *k);
int proto_key_list_rep_begin(struct proto_rbuf *r, uint32_t *count);
int proto_key_info_next(struct proto_rbuf *r, struct proto_key_info *k);

/* ---- the customer book (proto_list.c) ---------------------------------- */

/* What CUSTOMERS sorts by; each sort is (field, id), so no two rows tie. */
enum proto_sort {
	PROTO_SORT_ID = 1,
	PROTO_SORT_CREATED = 2,
	PROTO_SORT_LAST_VISIT = 3,
	PROTO_SORT_BALANCE = 4,
	PROTO_SORT_LIFETIME = 5,
	PROTO_SORT_VISITS = 6,
	PROTO_SORT_SPEND = 7,
	PROTO_SORT_AVERAGE_SPEND = 8,
	PROTO_SORT_NAME = 9, /* last name, then first name, case-insensitively */
	PROTO_SORT_EMAIL = 10,
	PROTO_SORT_MAX = 10
};

enum proto_list_flag {
	PROTO_LIST_TOTAL = 0x01,      /* count every match (the reply's total) */
	PROTO_LIST_MIN_POINTS = 0x02, /* min_points applies */
	PROTO_LIST_MAX_POINTS = 0x04, /* max_points applies */
	PROTO_LIST_FLAGS = 0x07
};

enum proto_list_member { PROTO_LIST_ANYONE = 0, PROTO_LIST_MEMBERS = 1, PROTO_LIST_GUESTS = 2 };
enum proto_list_optout { PROTO_LIST_OPTOUT_ANY = 0, PROTO_LIST_OPTED_OUT = 1, PROTO_LIST_OPTED_IN = 2 };

/* CUSTOMERS request: one page of the customers that match, in sort order. */
struct proto_customers_req {
	uint8_t sort;  /* enum proto_sort */
	uint8_t desc;  /* 1: descending */
	uint8_t flags; /* enum proto_list_flag */
	uint8_t member; /* enum proto_list_member */
	uint8_t optout; /* enum proto_list_optout */
	uint32_t limit; /* 1..PROTO_MAX_PAGE */
	int64_t min_points, max_points; /* balance bounds, inclusive, where flagged */
	struct proto_str search; /* empty: no search */
	struct proto_str group;  /* empty: any */
	struct proto_str tier;   /* empty: any */
	struct proto_str after;  /* empty: the first page; else a reply's next cursor */
};

/* CUSTOMERS reply header; count customers (proto_customer_put) follow. */
#define PROTO_TOTAL_UNKNOWN UINT64_MAX /* total when PROTO_LIST_TOTAL was not asked */
int proto_customers_req_encode(struct proto_wbuf *w, const struct proto_customers_req *m);
int proto_customers_req_decode(const uint8_t *b, size_t n, struct proto_customers_req *m);
void proto_customers_rep_put_header(struct proto_wbuf *w, uint64_t total, struct proto_str next, uint32_t count);
int proto_customers_rep_begin(struct proto_rbuf *r, uint64_t *total, struct proto_str *next, uint32_t *count);
/* The name of a sort field as people write it ("last-visit"), or NULL. */
const char *proto_sort_name(int sort);
/* The sort field a name means, or 0. */
int proto_sort_parse(const char *name);

/* ---- groups and locations (proto_list.c) ------------------------------ */

#define PROTO_MAX_PLACES 500    /* groups or locations in one GROUPS or LOCATIONS reply */
#define PROTO_MAX_PLACE_KEYS 64 /* terminal key ids one LOCATIONS row lists */

/* GROUPS and LOCATIONS requests: one page of names after after (byte order; empty: the first page). */
struct proto_places_req {
	struct proto_str after;
};

struct proto_group_info {
	struct proto_str name;
	uint64_t members;
};

struct proto_location_info {
	struct proto_str name;
	uint64_t sales;
	int64_t amount, points;       /* sold and earned */
	int64_t refunded, taken_back; /* of those, by returns */
	uint64_t last_seq;            /* the sale booked last; 0: no sale */
	int64_t last_us;              /* its time */
	uint32_t nkeys_total;         /* active terminal keys bound here */
	uint16_t nkeys;               /* of those listed, at most PROTO_MAX_PLACE_KEYS */
	uint64_t keys[PROTO_MAX_PLACE_KEYS];
};

/* GROUPS's after is at most PROTO_MAX_GROUP bytes, LOCATIONS's PROTO_MAX_LOCATION. */
int proto_places_req_encode(struct proto_wbuf *w, const struct proto_places_req *m);
int proto_groups_req_decode(const uint8_t *b, size_t n, struct proto_places_req *m);
int proto_locations_req_decode(const uint8_t *b, size_t n, struct proto_places_req *m);
/* GROUP_RENAME request: every member of group from becomes a member of group to (a merge when to has members). */
struct proto_group_rename_req {
	uint8_t key[PROTO_KEY_SIZE];
	struct proto_str from, to; /* 1..PROTO_MAX_GROUP bytes each */
};
/* GROUP_RENAME reply: u64 moved (members of from not in to already), u64 members (of to, after). */
struct proto_group_rename_rep {
	uint64_t moved, members;
};
int proto_group_rename_req_encode(struct proto_wbuf *w, const struct proto_group_rename_req *m);
int proto_group_rename_req_decode(const uint8_t *b, size_t n, struct proto_group_rename_req *m);
int proto_group_rename_rep_encode(struct proto_wbuf *w, const struct proto_group_rename_rep *m);
int proto_group_rename_rep_decode(const uint8_t *b, size_t n, struct proto_group_rename_rep *m);

/* Both replies: u8 more (1: ask again after the last name), u32 count (at most PROTO_MAX_PLACES), then the rows. */
void proto_places_rep_put_header(struct proto_wbuf *w, uint8_t more, uint32_t count);
int proto_places_rep_begin(struct proto_rbuf *r, uint8_t *more, uint32_t *count);
void proto_group_info_put(struct proto_wbuf *w, const struct proto_group_info *g);
int proto_group_info_next(struct proto_rbuf *r, struct proto_group_info *g);
void proto_location_info_put(struct proto_wbuf *w, const struct proto_location_info *l);
int proto_location_info_next(struct proto_rbuf *r, struct proto_location_info *l);

/*
 * Reply bodies start with a u16 status. For PROTO_OK the message's body
 * follows; otherwise a message string (at most PROTO_MAX_MESSAGE bytes).
 * proto_reply_status reads the status and leaves r at what follows; the
 * *_rep_decode functions above take the bytes after the status.
 * proto_reply_error_encode cuts a message over PROTO_MAX_MESSAGE and
 * returns 0 or PROTO_E_SPACE; proto_reply_status returns 0 or PROTO_E_BODY;
 * proto_reply_error_decode returns 0, PROTO_E_BODY or PROTO_E_FIELD.
 */
void proto_reply_put_status(struct proto_wbuf *w, uint16_t status);
int proto_reply_error_encode(struct proto_wbuf *w, uint16_t status, struct proto_str message);
int proto_reply_status(struct proto_rbuf *r, uint16_t *status);
int proto_reply_error_decode(struct proto_rbuf *r, struct proto_str *message);

#endif
