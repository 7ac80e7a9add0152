/*
 * accrue.h - libaccrue, the client library for the accrue loyalty ledger.
 *
 * A POS integration, the accruectl manager tool and the load benchmark all
 * talk to accrued through this header. One handle is one TCP connection to
 * one daemon; each operation is one blocking call that sends a request and
 * waits for its reply. A handle is not thread-safe: use one per thread.
 *
 * Return values. Every fallible call returns an int:
 *   0                  success;
 *   > 0                the server refused the request: the value is one of
 *                      the ACCRUE_ST_* status codes (the same numbers as
 *                      PROTOCOL.md) and accrue_message() holds the server's
 *                      explanation until the next call on the handle;
 *   < 0                a local failure, one of ACCRUE_E_*.
 * accrue_strerror() names any of them.
 *
 * Exactly-once mutations. Every call that changes the ledger takes a 16-byte
 * request key. Pass NULL and the library draws a random one. If the
 * connection is lost before the reply arrives, the call reconnects (with
 * HELLO again) and re-sends the identical request with the same key, up to
 * the handle's retry limit; the server applies a key at most once, so a sale
 * is never counted twice. A caller that wants to retry across a crash of its
 * own stores the key it passed and passes it again: the reply is then marked
 * as a replay (`replay` set to 1) and nothing is applied a second time.
 *
 * Memory. Structs filled by the library hold copies (fixed-size, NUL-
 * terminated strings); nothing points into library buffers. The allocating
 * calls, accrue_key_list and accrue_program_get, say so. Some result structs
 * are large (struct accrue_order is about 48 KiB, struct accrue_quote 2 KiB):
 * a POS thread with a small stack should allocate them. The library itself
 * keeps big requests and replies on the heap, so a call never needs more
 * than a few KiB of the caller's stack.
 *
 * Money is an integer count of minor units (cents); points are signed 64-bit
 * integers in the program's unit (points or stamps); times are UTC
 * microseconds.
 */
#ifndef ACCRUE_H
#define ACCRUE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque connection handle. */
typedef struct accrue accrue;

/* Local errors (negative). */
enum accrue_error {
	ACCRUE_E_CONNECT = -1,  /* cannot connect (after all retries) */
	ACCRUE_E_IO = -2,       /* connection lost and retries exhausted */
	ACCRUE_E_PROTOCOL = -3, /* the server sent bytes that are not a valid reply */
	ACCRUE_E_NOMEM = -4,
	ACCRUE_E_INVALID = -5,  /* a bad argument (NULL handle, string too long, ...) */
	ACCRUE_E_TIMEOUT = -6,  /* no reply within the handle's timeout */
};

/* Server statuses (positive); identical to PROTOCOL.md's status table. */
enum accrue_status {
	ACCRUE_ST_PROTOCOL = 1,
	ACCRUE_ST_UNSUPPORTED = 2,
	ACCRUE_ST_BAD_REQUEST = 3,
	ACCRUE_ST_AUTH = 4,
	ACCRUE_ST_FORBIDDEN = 5,
	ACCRUE_ST_NOT_FOUND = 6,
	ACCRUE_ST_CONFLICT = 7,
	ACCRUE_ST_DUPLICATE_ORDER = 8,
	ACCRUE_ST_INSUFFICIENT = 9,
	ACCRUE_ST_KEY_REUSED = 10,
	ACCRUE_ST_STORAGE = 11,
	ACCRUE_ST_BUSY = 12,
	ACCRUE_ST_RANGE = 13,
	ACCRUE_ST_HELLO_REQUIRED = 14,
	ACCRUE_ST_SHUTTING_DOWN = 15,
	ACCRUE_ST_INTERNAL = 16,
	ACCRUE_ST_VERSION = 17,
	ACCRUE_ST_OVER_RETURN = 18, /* a return for more than the order has left to return */
	ACCRUE_ST_NOT_MEMBER = 19,  /* the customer is a guest and the program refuses guests */
};

enum accrue_role {
	ACCRUE_ROLE_ADMIN = 1,
	ACCRUE_ROLE_TERMINAL = 2,
	ACCRUE_ROLE_READONLY = 3,
};

enum accrue_ref_kind {
	ACCRUE_REF_ID = 1,
	ACCRUE_REF_EMAIL = 2,
	ACCRUE_REF_PHONE = 3,
};

/* Journal entry kinds in history. */
enum accrue_entry_type {
	ACCRUE_ENTRY_ENROL = 1,
	ACCRUE_ENTRY_ACCRUE = 2,
	ACCRUE_ENTRY_ADJUST = 3,
	ACCRUE_ENTRY_KEY_CREATE = 4,
	ACCRUE_ENTRY_KEY_REVOKE = 5,
	ACCRUE_ENTRY_RETURN = 6,
	ACCRUE_ENTRY_PROGRAM = 7,
	ACCRUE_ENTRY_GROUP = 8,
	ACCRUE_ENTRY_TIER = 9,
	ACCRUE_ENTRY_JOIN = 10, /* a guest became a member */
};

/* The unit a program counts in (the "unit" setting). */
enum accrue_unit {
	ACCRUE_UNIT_POINTS = 0,
	ACCRUE_UNIT_STAMPS = 1,
};

#define ACCRUE_KEY_SIZE 16
#define ACCRUE_MAX_LINES 256     /* lines in one sale or return */
#define ACCRUE_MAX_GROUPS 16     /* groups one customer is in */
#define ACCRUE_MAX_BATCH 8190    /* sales in one accrue_batch */
#define ACCRUE_MULTIPLIER_ONE 10000 /* multipliers are in units of 1/10000: 15000 is 1.5 */

/* How a request names a customer. */
struct accrue_ref {
	int kind;       /* enum accrue_ref_kind */
	uint64_t id;    /* ACCRUE_REF_ID */
	char text[256]; /* ACCRUE_REF_EMAIL or ACCRUE_REF_PHONE */
};

struct accrue_customer {
	uint64_t id;
	char email[256];
	char phone[40];
	char first_name[104];
	char last_name[104];
	int64_t balance;
	int64_t lifetime_points;
	uint64_t visits;
	int64_t total_spend;   /* minor units */
	int64_t average_spend; /* total_spend / visits, rounded down; 0 with no visits */
	int64_t created_us;    /* UTC microseconds */
	int64_t last_visit_us; /* 0: never */
	int member;            /* 1: a member; 0: a guest (a sale recorded for an unknown email or phone) */
	char tier[72];         /* "": none */
	int ngroups;
	char groups[ACCRUE_MAX_GROUPS][72];
};

/*
 * One line of a basket: what was bought and what was paid for it. sku and
 * category are at most 64 bytes ("" allowed); qty >= 1; amount is what the
 * whole line cost after discounts, in minor units (>= 0). In a return the
 * line names a sold SKU and amount is what is refunded for it; category is
 * not used.
 */
struct accrue_line {
	char sku[72];
	char category[72];
	int64_t qty;
	int64_t amount;
};

/*
 * A sale as a terminal reports it. location NULL or "": the key's location
 * ("default" for a key without one); order_id is required for a sale and
 * ignored by accrue_quote; time_us 0: now. amount is the total paid, > 0;
 * with lines it must equal the sum of their amounts (the server refuses it
 * otherwise) and the earning rules look at each line (excluded SKUs and
 * categories, stamps per item); nlines 0 and lines NULL: a sale without
 * lines, earning on its whole amount.
 */
struct accrue_sale {
	const char *location;
	const char *order_id;
	int64_t time_us;
	int64_t amount;
	uint32_t nlines; /* 0..ACCRUE_MAX_LINES */
	const struct accrue_line *lines;
};

/* Outcome of an accrual or adjustment. */
struct accrue_result {
	uint64_t seq;   /* journal sequence number of the change */
	int64_t points; /* points added; negative when points were used */
	int replay;     /* 1 if this repeats the outcome of an earlier request with the same key */
	struct accrue_customer customer; /* the customer as of this reply */
};

/* Outcome of a return. */
struct accrue_return_result {
	uint64_t seq;      /* journal sequence number of the return */
	int64_t points;    /* change to the balance (<= 0) */
	int64_t shortfall; /* taken back but not removed, because the program stops the balance at zero (>= 0) */
	int64_t refunded;  /* this return's amount, minor units */
	int replay;        /* 1 if this repeats an earlier request with the same key */
	struct accrue_customer customer; /* the customer as of this reply */
};

/* What a basket would earn (accrue_quote). */
struct accrue_quote {
	int64_t earned;           /* points or stamps (see unit) */
	int64_t qualifying;       /* qualifying amount: minor units not excluded */
	int64_t qualifying_items; /* quantity that counts for stamps per item */
	uint32_t multiplier;      /* ACCRUE_MULTIPLIER_ONE = 1.00 */
	int unit;                 /* enum accrue_unit */
	uint32_t nlines;          /* as many as the sale had */
	int64_t line_earned[ACCRUE_MAX_LINES]; /* each line's share of earned, in input order */
};

/* One line of a recorded sale. */
struct accrue_order_line {
	char sku[72];
	char category[72];
	int64_t qty;
	int64_t amount;       /* paid for the line, minor units */
	int64_t earned;       /* the line's share of what the sale earned */
	int64_t refunded_qty; /* by returns naming this line */
	int64_t refunded;     /* minor units, by returns naming this line */
};

/* A recorded sale and what its returns took back (accrue_order). */
struct accrue_order {
	uint64_t customer_id;
	uint64_t seq; /* the sale's journal entry */
	int64_t time_us;
	char location[72];
	char order_id[72];
	int64_t amount;     /* paid, minor units */
	int64_t earned;     /* points or stamps the sale earned */
	int64_t refunded;   /* minor units, by all its returns */
	int64_t taken_back; /* points or stamps, by all its returns */
	uint32_t multiplier; /* the multiplier the sale earned with; ACCRUE_MULTIPLIER_ONE = 1.00 */
	uint32_t nlines;     /* 0: a sale without lines */
	struct accrue_order_line lines[ACCRUE_MAX_LINES];
};

/*
 * The outcome of one sale of an accrue_batch. status is 0 or an
 * ACCRUE_ST_* refusal of this item alone (message says why, truncated to
 * fit); seq, points, customer_id and balance are set for status 0 only.
 */
struct accrue_batch_result {
	int status;
	int replay; /* 1 if this item repeats an earlier request with the same key */
	uint64_t seq;
	int64_t points;
	uint64_t customer_id;
	int64_t balance; /* the customer's balance after this item */
	char message[256];
};

/* One setting of the loyalty program (accrue_program_get). */
struct accrue_setting {
	char name[104];  /* e.g. "earn.points" */
	char value[504]; /* canonical text, e.g. "1", "1.00", "down" */
};

struct accrue_entry {
	uint64_t seq;
	int type; /* enum accrue_entry_type */
	int64_t time_us;
	int64_t points;
	int64_t balance_after;
	int64_t amount; /* sale amount in minor units; 0 if not a sale */
	char location[72];
	char order_id[72];
	char reason[504];
	char comment[504];
};

struct accrue_key_info {
	uint64_t id;
	int role; /* enum accrue_role */
	int revoked;
	int64_t created_us;
	char location[72];
};

/* ---- connection ------------------------------------------------------ */

/*
 * Connect to "HOST:PORT" and authenticate with api_key (HELLO).
 * On success *out is a new handle (close it with accrue_close).
 * Returns 0, ACCRUE_E_CONNECT, ACCRUE_E_IO, ACCRUE_E_TIMEOUT,
 * ACCRUE_E_PROTOCOL, ACCRUE_E_INVALID (malformed address), ACCRUE_E_NOMEM,
 * or a server status: ACCRUE_ST_AUTH (unknown or revoked key),
 * ACCRUE_ST_VERSION, ACCRUE_ST_BUSY (connection limit). On failure *out is
 * NULL and the message is lost with it: use accrue_connect_message.
 */
int accrue_connect(const char *host_port, const char *api_key, accrue **out);

/* Like accrue_connect, but on failure copies an explanation into msg. */
int accrue_connect_message(const char *host_port, const char *api_key, accrue **out, char *msg, size_t msg_cap);

/* Close the connection and free the handle. NULL is accepted. */
void accrue_close(accrue *a);

/*
 * Per-call timeout in milliseconds (default 10000): how long one attempt
 * waits to connect, and how long it waits from sending a request to having
 * its whole reply (a reply that is late is ACCRUE_E_TIMEOUT and is not
 * retried; the connection is closed and the next call reconnects). And how
 * many times a call reconnects and re-sends after a lost connection or a
 * failed connect (default 5, with a growing pause of 50 ms, 100 ms, ...
 * up to 1 s between attempts).
 */
void accrue_set_timeout(accrue *a, int timeout_ms);
void accrue_set_retries(accrue *a, int retries);

/* Role and location granted to this handle's key by HELLO. */
int accrue_role(const accrue *a);
const char *accrue_location(const accrue *a);

/*
 * The explanation of the last failed call on this handle: the server's
 * message for a refusal, or a local description. Valid until the next call.
 */
const char *accrue_message(const accrue *a);

/* A short lower-case description of any return value of this library ("not found", "connection lost"). */
const char *accrue_strerror(int err);

/* ---- helpers --------------------------------------------------------- */

/* Fill key with 16 random bytes. Returns 0 or ACCRUE_E_IO. */
int accrue_key_random(uint8_t key[ACCRUE_KEY_SIZE]);

/*
 * Read an API key from a key file such as the daemon's DATA/admin.key: the
 * first line, without the white space around it, into key[0..cap).
 * Returns 0; ACCRUE_E_IO when the file cannot be opened or read, is empty,
 * or its first line holds no key; ACCRUE_E_INVALID for a NULL argument or a
 * key of cap bytes or more. On failure msg (when not NULL) receives a
 * sentence naming the file and what is wrong with it.
 */
int accrue_key_file_read(const char *path, char *key, size_t cap, char *msg, size_t msg_cap);

/*
 * Parse how a person names a customer: "#123" is an id, text with '@' an
 * email, anything else a phone number. Returns 0 or ACCRUE_E_INVALID.
 */
int accrue_ref_parse(const char *text, struct accrue_ref *ref);

/* ---- operations ------------------------------------------------------ */

/*
 * Enrol a customer. At least one of email and phone is required; NULL or ""
 * means absent. The server lower-cases the email and reduces the phone to
 * '+' and digits. Fills *out with the new customer (or, on a replay, the
 * customer the first request created) and sets *replay if not NULL.
 * Refusals: BAD_REQUEST (neither given, or malformed), CONFLICT (email or
 * phone taken; the message names the field), FORBIDDEN, KEY_REUSED, STORAGE.
 */
int accrue_enrol(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *email, const char *phone,
		 const char *first_name, const char *last_name, struct accrue_customer *out, int *replay);

/* Look a customer up. Refusals: NOT_FOUND, BAD_REQUEST. */
int accrue_lookup(accrue *a, const struct accrue_ref *ref, struct accrue_customer *out);

/*
 * Accrue points on a sale of amount minor units (> 0) with order_id at
 * location (NULL or "": the key's location, or "default" for a key without
 * one), happening now and without lines: accrue_sale with nlines 0 and
 * time_us 0. Refusals: as accrue_sale.
 */
int accrue_accrue(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *location,
		  const char *order_id, int64_t amount, struct accrue_result *out);

/*
 * Accrue what a sale earns under the program (see struct accrue_sale).
 * out->points is what it earned (0 for a guest or below the minimum spend);
 * out->customer is the customer after it. For an email or phone that names
 * nobody, a program with guests=record records the sale for a new guest
 * (out->customer.member 0) and one with guests=refuse refuses it.
 * Refusals: NOT_FOUND (no such customer: an id, or an email or phone when
 * the program refuses guests), NOT_MEMBER (the customer is a guest and the
 * program now refuses guests; nothing is recorded), DUPLICATE_ORDER (this
 * order id was already accrued at this location), BAD_REQUEST (no order
 * id, lines that do not add up to amount, a line without a SKU, control
 * characters, a guest's malformed email or phone), RANGE (amount <= 0, a
 * line with qty < 1 or a negative amount, a time before 1970 or more than
 * 5 minutes ahead of the server's clock, totals that would overflow),
 * FORBIDDEN (a terminal key naming another location), KEY_REUSED, STORAGE.
 * Local: ACCRUE_E_INVALID for a NULL sale, a text over its limit, more
 * than ACCRUE_MAX_LINES lines, or lines NULL with nlines > 0.
 */
int accrue_sale(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref,
		const struct accrue_sale *sale, struct accrue_result *out);

/*
 * Return (part of) the sale order_id at location (NULL or "": the key's
 * location), taking back what the refunded part earned. Either by amount:
 * nlines 0, lines NULL, amount > 0 refunded; or by lines: each names a SKU
 * of the sale with the quantity and amount refunded for it, and amount is
 * their sum (or 0: the server adds them up). Returns are cumulative: after
 * each, the sale (or line) has given back ceil(earned * refunded / amount),
 * and all returns of a sale together never take back more than it earned.
 * time_us 0: now. out->points is the change to the balance (<= 0);
 * out->shortfall what could not be taken because the program stops the
 * balance at zero (returns.below_zero = stop).
 * Refusals: NOT_FOUND (no such order at that location), OVER_RETURN (more
 * than the order has left to refund, a SKU of the order returned more times
 * than it was sold, a line refund over what is left of it), BAD_REQUEST (a
 * SKU the order does not have, lines that do not add up to a non-zero
 * amount), RANGE (amount <= 0 without
 * lines, a line with qty < 1 or a negative amount, a bad time), FORBIDDEN
 * (a terminal key naming another location), KEY_REUSED, STORAGE.
 * Local: ACCRUE_E_INVALID for texts over their limits, more than
 * ACCRUE_MAX_LINES lines, or lines NULL with nlines > 0.
 */
int accrue_return(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *location, const char *order_id,
		  int64_t time_us, int64_t amount, const struct accrue_line *lines, uint32_t nlines,
		  struct accrue_return_result *out);

/*
 * What sale would earn for the customer ref (NULL: an anonymous member with
 * no tier and no groups), recording nothing; sale->order_id may be NULL.
 * Any role may quote. sale->time_us picks the promotions in force (0: now).
 * Refusals: NOT_FOUND, BAD_REQUEST (lines that do not add up, a line
 * without a SKU), RANGE (as accrue_sale). Local: as accrue_sale.
 */
int accrue_quote(accrue *a, const struct accrue_ref *ref, const struct accrue_sale *sale, struct accrue_quote *out);

/*
 * Accrue n sales (1..ACCRUE_MAX_BATCH) in one request frame, for gateways
 * that aggregate many terminals: sale i for customer refs[i] with request
 * key keys[i] (keys NULL: the library draws one random key per sale).
 * results[i] gets the outcome of sale i; one sale's refusal does not stop
 * the others. If the connection is lost the whole frame is re-sent with the
 * same per-sale keys, so each sale is applied at most once.
 * Returns 0 when the server answered for every item (look at each
 * results[i].status), or a refusal of the whole frame (FORBIDDEN,
 * BAD_REQUEST, BUSY, ...) or a local error, and then results say nothing.
 * ACCRUE_E_INVALID also when the encoded frame is larger than the server's
 * frame limit (from HELLO; 1 MiB by default), with a message giving the
 * size and how many of the first sales fit: split the batch and call
 * again. A sale without lines takes about 50 bytes plus its texts (an
 * email or phone reference, the order id and the location), so 8190 of
 * them fit in 1 MiB while those texts average under 75 bytes. The handle's
 * timeout covers the whole frame: raise it for large batches on a busy
 * server.
 */
int accrue_batch(accrue *a, uint32_t n, const uint8_t (*keys)[ACCRUE_KEY_SIZE], const struct accrue_ref *refs,
		 const struct accrue_sale *sales, struct accrue_batch_result *results);

/*
 * The sale order_id at location (NULL or "": the key's location), with its
 * lines and what returns took back. Any role. Refusals: NOT_FOUND (no such
 * order), BAD_REQUEST, FORBIDDEN (a terminal key naming another location),
 * STORAGE.
 */
int accrue_order(accrue *a, const char *location, const char *order_id, struct accrue_order *out);

/*
 * Add the customer to group (add 1) or remove them from it (add 0); group
 * is 1..64 printable bytes without spaces or commas. A customer is in at
 * most ACCRUE_MAX_GROUPS groups. Adding a group the customer is already in
 * changes nothing and succeeds. out (may be NULL) gets the customer after
 * the change. Admin keys only. Refusals: NOT_FOUND (no such customer, or
 * removing a group they are not in), BAD_REQUEST (an empty or malformed
 * name), RANGE (already in ACCRUE_MAX_GROUPS groups), FORBIDDEN,
 * KEY_REUSED, STORAGE. Local: ACCRUE_E_INVALID for an empty or long name.
 */
int accrue_group(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int add,
		 const char *group, struct accrue_customer *out);

/*
 * Put the customer in tier (at most 64 printable bytes without spaces or
 * commas; NULL or "": no tier), with an internal note kept in the journal
 * (at most 500 bytes; NULL or "": none). Setting the tier the customer is
 * already in changes nothing and succeeds. out (may be NULL) gets the
 * customer after the change. Admin keys only. Refusals: NOT_FOUND,
 * BAD_REQUEST (a malformed name, control characters in the note),
 * FORBIDDEN, KEY_REUSED, STORAGE.
 */
int accrue_tier(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *tier,
		const char *note, struct accrue_customer *out);

/*
 * Every setting of the loyalty program in force, defaults included, in the
 * server's stable order. *settings is a new array of *count entries that
 * the caller frees with free() (NULL with *count 0 on failure).
 */
int accrue_program_get(accrue *a, struct accrue_setting **settings, uint32_t *count);

/*
 * Change one program setting: name (at most 100 bytes, e.g. "earn.points",
 * "multiplier.group.vip") to value (at most 500 bytes; NULL or "": back to
 * the default, or remove a multiplier or promotion). Admin keys only; the
 * change is journalled and applies to sales from then on. Refusals:
 * BAD_REQUEST (an unknown setting, or a value that does not parse or is out
 * of range; the message says which), RANGE (too many multipliers or
 * promotions), FORBIDDEN, KEY_REUSED, STORAGE.
 */
int accrue_program_set(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *name, const char *value);

/*
 * Add (points > 0) or use (points < 0) points by hand. reason is internal;
 * comment is shown to the customer (NULL or "": "Manual adjustments").
 * Admin keys only. Refusals: INSUFFICIENT (the message gives the balance),
 * NOT_FOUND, FORBIDDEN, RANGE, KEY_REUSED, STORAGE.
 */
int accrue_adjust(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int64_t points,
		  const char *reason, const char *comment, struct accrue_result *out);

/*
 * A customer's journal, newest first: at most max entries older than
 * before_seq (0: from the newest) into entries[0..*count). *next_before is
 * the before_seq for the next page, 0 when there is none. max is capped at
 * 1000. A page may hold fewer than max entries while older ones remain (the
 * server keeps a reply within its size limit): page until *next_before is 0.
 * Refusals: NOT_FOUND, BAD_REQUEST.
 */
int accrue_history(accrue *a, const struct accrue_ref *ref, uint64_t before_seq, struct accrue_entry *entries,
		   uint32_t max, uint32_t *count, uint64_t *next_before);

/*
 * Create an API key (admin only). role is an enum accrue_role; a terminal
 * key needs a location. The whole key is copied into secret (at least 129
 * bytes); it is shown this once and the server keeps only its hash. On a
 * replay the key is not shown again: secret is set to "" and *replay to 1.
 * info (may be NULL) gets the id, role and location; the reply carries no
 * creation time, so created_us is 0.
 */
int accrue_key_create(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], int role, const char *location,
		      struct accrue_key_info *info, char *secret, size_t secret_cap, int *replay);

/*
 * List API keys (admin only). *keys is a new array of *count entries that the
 * caller frees with free().
 */
int accrue_key_list(accrue *a, struct accrue_key_info **keys, uint32_t *count);

/* Revoke an API key (admin only). Refusals: NOT_FOUND, FORBIDDEN. */
int accrue_key_revoke(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], uint64_t key_id);

#ifdef __cplusplus
}
#endif

#endif
