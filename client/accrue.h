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
 *   < 0                a local failure, one of ACCRUE_E_*, and
 *                      accrue_message() says what went wrong.
 * accrue_strerror() names any of them. A call that fails may have written
 * to its output arguments; they mean something only after it returned 0,
 * unless its description says otherwise.
 *
 * Local failures that any call on a handle can return (each call lists its
 * own causes of ACCRUE_E_INVALID and whether it allocates):
 *   ACCRUE_E_INVALID   a NULL handle or argument, a text over its limit (the
 *                      message names it), or a request larger than the
 *                      frame limit the server announced; nothing was sent;
 *   ACCRUE_E_CONNECT   the connection had to be (re)opened and could not be
 *                      within the handle's retries (an unknown host name is
 *                      not retried);
 *   ACCRUE_E_IO        the connection was lost and the retries ran out, or a
 *                      mutation given no key could not draw a random one;
 *   ACCRUE_E_TIMEOUT   no whole reply within the handle's timeout; this is
 *                      not retried, so a mutation may or may not have been
 *                      applied: call again with the same key to find out;
 *   ACCRUE_E_PROTOCOL  the server sent bytes that are not a valid reply; the
 *                      connection is closed and the next call reconnects;
 *   ACCRUE_E_NOMEM     out of memory (a large request or reply, or a list).
 *
 * Server refusals that any request can get, besides those its call lists:
 *   UNSUPPORTED        the server does not know the operation (it is older
 *                      than this library);
 *   BAD_REQUEST        the server could not decode the request body (this
 *                      library only sends well-formed ones, so the server
 *                      and the library disagree on the protocol);
 *   STORAGE            the reply depended on a change that the server had
 *                      not yet made durable, and committing it failed;
 *   INTERNAL           the server failed in a way it did not expect;
 *   PROTOCOL           the server rejected a frame and closed the connection;
 *   AUTH, VERSION, BUSY, SHUTTING_DOWN
 *                      the call had to reconnect (after a lost connection,
 *                      or because the server closed the connection of a
 *                      revoked key) and the new HELLO was refused, as
 *                      accrue_connect describes.
 * FORBIDDEN comes from the key's role: each operation names the roles that
 * may call it, and any other gets FORBIDDEN. HELLO_REQUIRED is never
 * returned, because the library says HELLO before anything else.
 *
 * A mutation (a call that takes a request key) can also get:
 *   BAD_REQUEST        the request key is all zero bytes;
 *   KEY_REUSED         the key was used before for a different request;
 *   SHUTTING_DOWN      the server is stopping and takes no more changes;
 *   STORAGE            the change could not be made durable; nothing was
 *                      applied;
 *   INTERNAL           the server could not journal the change (out of
 *                      memory).
 * Each operation below lists the refusals of its own beyond these.
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
 * terminated strings); nothing points into library buffers, and the caller
 * owns them. The two calls that return lists, accrue_key_list and
 * accrue_program_get, allocate them with malloc and the caller frees them
 * with free(). The strings the library returns itself are its own: the
 * caller must not free or change them (accrue_message and accrue_location
 * say for how long each stays valid; accrue_strerror's never change).
 * Some result structs are large (struct accrue_order is about 48 KiB,
 * struct accrue_quote 2 KiB): a POS thread with a small stack should
 * allocate them. The library itself keeps big requests and replies on the
 * heap, so a call never needs more than a few KiB of the caller's stack.
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
	ACCRUE_REF_CARD = 4, /* text: a loyalty card number ("card:NUMBER" to accrue_ref_parse) */
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
	ACCRUE_ENTRY_EDIT = 11,   /* names or contact changed (detail: which fields) */
	ACCRUE_ENTRY_CARD = 12,   /* a card linked or unlinked (detail: the card) */
	ACCRUE_ENTRY_OPTOUT = 13, /* opted out of marketing or in again (detail: the source) */
	ACCRUE_ENTRY_GROUP_RENAME = 14, /* a group renamed (a record of no customer: never in a history) */
	ACCRUE_ENTRY_ARCHIVE = 15, /* archived: personal data erased (merged: points moved out, detail names where) */
	ACCRUE_ENTRY_MERGE = 16,   /* another customer merged in: their points, visits, spend, groups, cards */
};

/* The unit a program counts in (the "unit" setting). */
enum accrue_unit {
	ACCRUE_UNIT_POINTS = 0,
	ACCRUE_UNIT_STAMPS = 1,
};

#define ACCRUE_KEY_SIZE 16
#define ACCRUE_MAX_LINES 256     /* lines in one sale or return */
#define ACCRUE_MAX_GROUPS 16     /* groups one customer is in */
#define ACCRUE_MAX_CARDS 8       /* loyalty cards one customer holds */
#define ACCRUE_MAX_CARD 32       /* bytes of one card number, as the server keeps it */
#define ACCRUE_MAX_BATCH 8190    /* sales in one accrue_batch */
#define ACCRUE_MULTIPLIER_ONE 10000 /* multipliers are in units of 1/10000: 15000 is 1.5 */

/* How a request names a customer. */
struct accrue_ref {
	int kind;       /* enum accrue_ref_kind */
	uint64_t id;    /* ACCRUE_REF_ID */
	char text[256]; /* ACCRUE_REF_EMAIL, ACCRUE_REF_PHONE or ACCRUE_REF_CARD */
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
	int opted_out;          /* 1: opted out of marketing */
	int64_t optout_us;      /* when (UTC microseconds); 0 when not opted out */
	char optout_source[72]; /* where the opt-out came from ("" for none given) */
	int ncards;
	char cards[ACCRUE_MAX_CARDS][40]; /* loyalty card numbers, upper-case, in the order linked */
	int archived;          /* 1: archived: names, email, phone and cards erased; only the amounts are left */
	uint64_t merged_into;  /* archived by a merge into this customer (0: none) */
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
 * ("default" for a key without one); the server trims it and lower-cases
 * A-Z ("STORE-1 " is store-1). order_id is required for a sale (trimmed of
 * blanks) and ignored by accrue_quote; time_us 0: now. amount is the total paid, > 0;
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

/*
 * One setting of the loyalty program (accrue_program_get). value holds 503
 * bytes, less than the 2500 a setting may have (a promotion with a long
 * group list): a longer value is cut short here. The size stays as it is
 * because programs built against this header allocate the struct.
 */
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
	char reason[504];  /* the internal note: an adjustment's reason, a tier change's note */
	char comment[504]; /* what the customer sees: an adjustment's comment; empty otherwise */
	char detail[208];  /* what happened, for staff: "added to group vip", "card 1234 linked" */
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
 * Connect to host_port ("HOST:PORT", or "[IPV6]:PORT" for an IPv6 literal;
 * port 1..65535) and authenticate with api_key (HELLO). A refused or timed
 * out connect is retried as the handle's defaults say (accrue_set_retries).
 * Returns 0 with *out a new handle, which the caller owns and closes with
 * accrue_close. Otherwise *out is NULL and the return value is:
 *   ACCRUE_E_INVALID   out, host_port or api_key is NULL, the API key is
 *                      longer than 128 bytes, or the address breaks a rule
 *                      (the message says which);
 *   ACCRUE_E_NOMEM, ACCRUE_E_CONNECT, ACCRUE_E_IO, ACCRUE_E_TIMEOUT,
 *   ACCRUE_E_PROTOCOL  as at the top of this file;
 *   ACCRUE_ST_AUTH     an unknown or revoked key (after repeated failures
 *                      from one address the server delays this answer, which
 *                      can then arrive as ACCRUE_E_TIMEOUT);
 *   ACCRUE_ST_VERSION  the server speaks another protocol version;
 *   ACCRUE_ST_BUSY     the server is at its connection limit;
 *   ACCRUE_ST_SHUTTING_DOWN  the server is stopping;
 *   ACCRUE_ST_PROTOCOL the server rejected the HELLO frame.
 * The explanation is lost with the handle: use accrue_connect_message.
 */
int accrue_connect(const char *host_port, const char *api_key, accrue **out);

/*
 * Like accrue_connect, and msg (msg_cap bytes, when not NULL) receives ""
 * on success or a sentence explaining the failure, truncated to fit.
 */
int accrue_connect_message(const char *host_port, const char *api_key, accrue **out, char *msg, size_t msg_cap);

/*
 * Close the connection and free the handle, wiping the API key it held.
 * NULL is accepted. The strings the handle returned (accrue_message,
 * accrue_location) are freed with it.
 */
void accrue_close(accrue *a);

/*
 * Per-call timeout in milliseconds (default 10000; values below 1 mean 1):
 * how long one attempt waits to connect, and how long it waits from
 * sending a request to having its whole reply (a reply that is late is
 * ACCRUE_E_TIMEOUT and is not retried; the connection is closed and the
 * next call reconnects). And how many times a call reconnects and re-sends
 * after a lost connection or a failed connect (default 5; values below 0
 * mean 0), with a growing pause of 50 ms, 100 ms, ... up to 1 s between
 * attempts. Both ignore a NULL handle.
 */
void accrue_set_timeout(accrue *a, int timeout_ms);
void accrue_set_retries(accrue *a, int retries);

/*
 * Role (an enum accrue_role) and location granted to this handle's key by
 * HELLO; 0 and "" for a NULL handle. The location is "" for a key bound to
 * none. The string belongs to the handle and stays valid until
 * accrue_close; a reconnect writes it again (with the same text, as long
 * as the key's location is the same).
 */
int accrue_role(const accrue *a);
const char *accrue_location(const accrue *a);

/*
 * The explanation of the last failed call on this handle: the server's
 * message for a refusal, or a local description; "" after a call that
 * succeeded, and "no handle" for NULL. The string belongs to the handle
 * and is valid until the next call on it or accrue_close.
 */
const char *accrue_message(const accrue *a);

/*
 * A short lower-case description of any return value of this library
 * ("not found", "connection lost"); "unknown server status" or "unknown
 * error" for a value it does not know. The string is static: never freed,
 * never changed.
 */
const char *accrue_strerror(int err);

/* ---- helpers --------------------------------------------------------- */

/*
 * Fill key with 16 random bytes, for a caller that wants to keep the key
 * of a mutation it may have to send again. Returns 0, or ACCRUE_E_IO when
 * key is NULL or libsodium cannot be initialised.
 */
int accrue_key_random(uint8_t key[ACCRUE_KEY_SIZE]);

/*
 * Read an API key from a key file such as the daemon's DATA/admin.key: the
 * first line, without the white space around it, into key[0..cap).
 * Returns 0; ACCRUE_E_IO when the file cannot be opened or read, is empty,
 * or its first line holds no key; ACCRUE_E_INVALID for a NULL path or key,
 * a cap of 0, or a key of cap bytes or more. On failure msg (when not NULL)
 * receives a sentence naming the file and what is wrong with it ("" for
 * a NULL argument), truncated to msg_cap bytes.
 */
int accrue_key_file_read(const char *path, char *key, size_t cap, char *msg, size_t msg_cap);

/*
 * Parse how a person names a customer: "#123" is an id, "card:NUMBER" a
 * loyalty card, text with '@' an email, anything else a phone number.
 * Returns 0 with *ref filled, or ACCRUE_E_INVALID for a NULL argument, "#"
 * not followed by a decimal id of 1 up to 2^64 - 1, "card:" with nothing
 * after it or more than 32 bytes, an email over 254 bytes, or a phone
 * number without a digit or over 32 bytes. The server checks the email,
 * phone or card itself and normalises it as ENROL does (a phone without '+'
 * is read in the program's phone.country, and refused while it has none).
 */
int accrue_ref_parse(const char *text, struct accrue_ref *ref);

/* ---- operations ------------------------------------------------------ */

/*
 * Every operation below returns 0 on success, a local error or a server
 * refusal from the top of this file, or one of the refusals it lists. Its
 * ACCRUE_E_INVALID causes are the ones it lists and a NULL handle.
 */

/*
 * Enrol a customer. At least one of email and phone is required; NULL or ""
 * means absent. The server lower-cases the email (beyond ASCII: Unicode
 * case mapping and NFC) and reduces the phone to E.164, '+' and digits; a
 * phone without '+' is a national number of the program's phone.country
 * (its trunk prefix dropped, the calling code put in front). Names are
 * trimmed of blanks. An email or phone that belongs to a guest (recorded by a
 * sale) makes that guest a member: the same customer, not a new one.
 * Fills *out with the customer (or, on a replay, the customer the first
 * request enrolled) and sets *replay if not NULL. Admin and terminal keys.
 * Refusals: BAD_REQUEST (neither given, an email or phone that is not
 * valid, a phone without '+' while the program has no phone.country, a
 * name that is not UTF-8 or holds control or bidirectional control
 * characters; the message names the field), CONFLICT (the email or phone
 * belongs to another member, or to two different guests; the message names
 * the field and the customer), NOT_FOUND (a replay whose customer no
 * longer exists), FORBIDDEN (a read-only key).
 * Local: ACCRUE_E_INVALID for a NULL out, an email over 254 bytes, a phone
 * over 32 or a name over 100.
 */
int accrue_enrol(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *email, const char *phone,
		 const char *first_name, const char *last_name, struct accrue_customer *out, int *replay);

/*
 * Look a customer up into *out. Any role. Refusals: NOT_FOUND (nobody by
 * that reference; the message names the normalised email, phone or card
 * searched), BAD_REQUEST (an email, phone or card that is not valid, a phone
 * without '+' while the program has no phone.country). Local:
 * ACCRUE_E_INVALID for a NULL ref or out, an unknown reference kind, id 0,
 * or an empty or over-long email, phone or card.
 */
int accrue_lookup(accrue *a, const struct accrue_ref *ref, struct accrue_customer *out);

/*
 * Accrue points on a sale of amount minor units (> 0) with order_id at
 * location (NULL or "": the key's location, or "default" for a key without
 * one), happening now and without lines: accrue_sale with nlines 0 and
 * time_us 0. Returns and refusals: as accrue_sale.
 */
int accrue_accrue(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *location,
		  const char *order_id, int64_t amount, struct accrue_result *out);

/*
 * Accrue what a sale earns under the program (see struct accrue_sale).
 * out->points is what it earned (0 for a guest or below the minimum spend);
 * out->customer is the customer after it; out->replay is set on a replay.
 * For an email or phone that names nobody, a program with guests=record
 * records the sale for a new guest (out->customer.member 0) and one with
 * guests=refuse refuses it. Admin and terminal keys.
 * Refusals: NOT_FOUND (no such customer: an id, or an email or phone when
 * the program refuses guests; or a replay whose customer no longer
 * exists), NOT_MEMBER (the customer is a guest and the program now refuses
 * guests; nothing is recorded), DUPLICATE_ORDER (this order id was already
 * accrued at this location), BAD_REQUEST (no order id, lines that do not
 * add up to amount, a line without a SKU, control characters in the order
 * id, location, SKU or category, an email or phone that is not valid or
 * a phone without '+' while the program has no phone.country),
 * RANGE (amount <= 0 or over the program's sale.max_amount, a line with
 * qty < 1 or a negative amount, a time before 1970 or more than 5 minutes
 * ahead of the server's clock, totals that would overflow), FORBIDDEN (a read-only key, or a terminal key
 * naming another location). INTERNAL also when a new guest could not be
 * journalled.
 * Local: ACCRUE_E_INVALID for a NULL ref, sale or out, a bad reference (as
 * accrue_lookup), a location or order id over 64 bytes, a SKU or category
 * over 64, more than ACCRUE_MAX_LINES lines, or lines NULL with nlines > 0.
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
 * time_us 0: now (never before the sale). out->points is the change to the balance (<= 0);
 * out->shortfall what could not be taken because the program stops the
 * balance at zero (returns.below_zero = stop). Admin and terminal keys.
 * Refusals: NOT_FOUND (no such order at that location, the order's
 * customer no longer exists, or a replay whose customer no longer exists),
 * OVER_RETURN (more than the order has left to refund, a SKU of the order
 * returned more times than it was sold, a line refund over what is left of
 * it), BAD_REQUEST (a SKU the order does not have, lines that do not add
 * up to a non-zero amount, control characters in the location), RANGE
 * (amount <= 0 without lines, a line with qty < 1 or a negative amount, a
 * time before 1970, before the sale's or more than 5 minutes ahead, a
 * refund out of range),
 * FORBIDDEN (a read-only key, or a terminal key naming another location),
 * STORAGE (the sale's lines, or the original return for a replay, could
 * not be read back from the journal).
 * Local: ACCRUE_E_INVALID for a NULL out, a location or order id over 64
 * bytes, a SKU or category over 64, more than ACCRUE_MAX_LINES lines, or
 * lines NULL with nlines > 0.
 */
int accrue_return(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *location, const char *order_id,
		  int64_t time_us, int64_t amount, const struct accrue_line *lines, uint32_t nlines,
		  struct accrue_return_result *out);

/*
 * What sale would earn for the customer ref (NULL: an anonymous member with
 * no tier and no groups), recording nothing; sale->order_id may be NULL.
 * Any role may quote. sale->time_us picks
 * the promotions in force (0: now).
 * Refusals: NOT_FOUND (no such customer), BAD_REQUEST (lines that do not
 * add up, a line without a SKU, control characters in a SKU or category),
 * RANGE (as accrue_sale).
 * Local: ACCRUE_E_INVALID for a NULL sale or out, and as accrue_sale for
 * ref (when not NULL), texts and lines.
 */
int accrue_quote(accrue *a, const struct accrue_ref *ref, const struct accrue_sale *sale, struct accrue_quote *out);

/*
 * Accrue n sales (1..ACCRUE_MAX_BATCH) in one request frame, for gateways
 * that aggregate many terminals: sale i for customer refs[i] with request
 * key keys[i] (keys NULL: the library draws one random key per sale).
 * results[i] gets the outcome of sale i; one sale's refusal does not stop
 * the others. If the connection is lost the whole frame is re-sent with the
 * same per-sale keys, so each sale is applied at most once. Admin and
 * terminal keys.
 * Returns 0 when the server answered for every item: look at each
 * results[i].status, which is 0 or one of the refusals of that sale alone:
 * BAD_REQUEST (as accrue_sale; also an all-zero key, or an item the server
 * could not decode), KEY_REUSED, FORBIDDEN (a terminal key naming another
 * location), NOT_FOUND, NOT_MEMBER, DUPLICATE_ORDER, RANGE (as accrue_sale)
 * and INTERNAL (the sale could not be journalled).
 * Otherwise the whole frame was refused and results say nothing. Whole-
 * frame refusals: FORBIDDEN (a read-only key), BAD_REQUEST (the items could
 * not be framed), RANGE (the replies to this many sales might not fit the
 * server's frame limit: send fewer), SHUTTING_DOWN, STORAGE (the sales
 * could not be made durable; none was applied), INTERNAL (the reply did not fit a frame), and every request's
 * (top of this file); KEY_REUSED and an all-zero key are items' refusals.
 * Local: ACCRUE_E_INVALID for n 0 or over ACCRUE_MAX_BATCH, NULL refs,
 * sales or results, a sale that accrue_sale would refuse locally (the
 * message names it: "sale 3 of the batch: ..."), or an encoded frame
 * larger than the server's frame limit (from HELLO; 1 MiB by default),
 * with a message giving the size and how many of the first sales fit:
 * split the batch and call again; ACCRUE_E_NOMEM. A sale without lines
 * takes about 50 bytes plus its texts (an email or phone reference, the
 * order id and the location), so 8190 of them fit in 1 MiB while those
 * texts average under 75 bytes. The handle's timeout covers the whole
 * frame: raise it for large batches on a busy server.
 */
int accrue_batch(accrue *a, uint32_t n, const uint8_t (*keys)[ACCRUE_KEY_SIZE], const struct accrue_ref *refs,
		 const struct accrue_sale *sales, struct accrue_batch_result *results);

/*
 * The sale order_id at location (NULL or "": the key's location), with its
 * lines and what returns took back, into *out. Any role.
 * Refusals: NOT_FOUND (no such order at that location), FORBIDDEN (a
 * terminal key naming another location), BAD_REQUEST (control characters
 * in the location), STORAGE (the order could not be read back from the
 * journal).
 * Local: ACCRUE_E_INVALID for a NULL out, or a location or order id over
 * 64 bytes; ACCRUE_E_NOMEM.
 */
int accrue_order(accrue *a, const char *location, const char *order_id, struct accrue_order *out);

/*
 * Add the customer to group (add 1) or remove them from it (add 0); group
 * is 1..64 printable bytes without spaces or commas. A customer is in at
 * most ACCRUE_MAX_GROUPS groups. Adding a group the customer is already in
 * changes nothing and succeeds. out (may be NULL) gets the customer after
 * the change. Admin keys only.
 * Refusals: NOT_FOUND (no such customer, removing a group they are not in,
 * or a replay whose customer no longer exists), BAD_REQUEST (a malformed
 * name), RANGE (already in ACCRUE_MAX_GROUPS groups), FORBIDDEN (not an
 * admin key).
 * Local: ACCRUE_E_INVALID for a bad reference (as accrue_lookup), or an
 * empty, NULL or over-long name.
 */
int accrue_group(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int add,
		 const char *group, struct accrue_customer *out);

/*
 * Put the customer in tier (at most 64 printable bytes without spaces or
 * commas; NULL or "": no tier), with an internal note kept in the journal
 * (at most 500 bytes; NULL or "": none). Setting the tier the customer is
 * already in changes nothing and succeeds. out (may be NULL) gets the
 * customer after the change. Admin keys only.
 * Refusals: NOT_FOUND (no such customer, or a replay whose customer no
 * longer exists), BAD_REQUEST (a malformed name, control characters in the
 * note), FORBIDDEN (not an admin key).
 * Local: ACCRUE_E_INVALID for a bad reference (as accrue_lookup), a tier
 * over 64 bytes or a note over 500.
 */
int accrue_tier(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *tier,
		const char *note, struct accrue_customer *out);

/* ---- the customer book: contact, cards, marketing opt-out ------------ */

/*
 * What accrue_edit changes: a field left NULL stays as it is; "" removes an
 * email or phone number, or empties a name. The server normalises email
 * and phone as accrue_enrol does.
 */
struct accrue_edit {
	const char *email;
	const char *phone;
	const char *first_name;
	const char *last_name;
};

/*
 * Change a customer's names and contact. Fields that already hold the value
 * given change nothing; an edit that changes nothing writes nothing and
 * succeeds. A customer keeps at least one of an email, a phone number and
 * a card. out (may be NULL) gets the customer after the change. Admin keys
 * only. History shows the change as an "edit" entry naming the fields
 * changed, without their values.
 * Refusals: NOT_FOUND (no such customer, or a replay whose customer no
 * longer exists), BAD_REQUEST (an email or phone that is not valid,
 * control characters in a name, or an edit that leaves the customer
 * without email, phone and card), CONFLICT (the email or phone belongs to
 * another customer; the message names the field and the customer:
 * "email a@b.c is already customer #12"), FORBIDDEN (not an admin key).
 * Local: ACCRUE_E_INVALID for a bad reference (as accrue_lookup), a NULL
 * edit or one with every field NULL, an email over 254 bytes, a phone
 * over 32 or a name over 100.
 */
int accrue_edit(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref,
		const struct accrue_edit *edit, struct accrue_customer *out);

/*
 * Link a loyalty card to the customer (link 1) or unlink it (link 0). The
 * server drops spaces and dashes and upper-cases letters; what is left is
 * 1 to ACCRUE_MAX_CARD letters and digits. A card belongs to one customer
 * at a time; a customer (member or guest) holds up to ACCRUE_MAX_CARDS.
 * Once linked, the card names the customer wherever a reference is taken
 * (ACCRUE_REF_CARD). Linking a card the customer holds changes nothing
 * and succeeds. out (may be NULL) gets the customer after the change.
 * Admin keys only.
 * Refusals: NOT_FOUND (no such customer, unlinking a card they do not hold,
 * or a replay whose customer no longer exists), CONFLICT (another customer
 * holds the card; the message names them), RANGE (they hold
 * ACCRUE_MAX_CARDS already), BAD_REQUEST (not a card number, or unlinking
 * the only card of a customer with neither email nor phone), FORBIDDEN
 * (not an admin key).
 * Local: ACCRUE_E_INVALID for a bad reference (as accrue_lookup), or an
 * empty, NULL or over-long (over 32 bytes) card.
 */
int accrue_card(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int link,
		const char *card, struct accrue_customer *out);

/*
 * Opt the customer out of marketing (opted_out 1), recording when and
 * source (where it came from, e.g. "sms STOP"; NULL or "": none; at most 64
 * bytes), or opt them in again (opted_out 0, source NULL or ""), which
 * forgets the old opt-out's time and source (history keeps them). Opting
 * out one who is opted out changes nothing (the first time and source
 * stay) and succeeds. out (may be NULL) gets the customer after the change.
 * Admin and terminal keys (a STOP reply reaches a till or an SMS gateway).
 * Refusals: NOT_FOUND (no such customer, or a replay whose customer no
 * longer exists), BAD_REQUEST (control characters in the source, or a
 * source with an opt-in), FORBIDDEN (a read-only key).
 * Local: ACCRUE_E_INVALID for a bad reference (as accrue_lookup), or a
 * source over 64 bytes.
 */
int accrue_optout(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int opted_out,
		  const char *source, struct accrue_customer *out);

/*
 * Archive a customer: their email, phone, names, cards, opt-out, tier,
 * groups and every note written about them are erased for good, from
 * memory, from every journal record and snapshot, and from the data file's
 * free pages, before the reply comes. The amounts stay under the id
 * (accrue_lookup by id and accrue_history still show them); the email and
 * phone may enrol again as a new customer. Cannot be undone. out (may be
 * NULL) gets the archived customer. Admin only.
 * Refusals: NOT_FOUND (no such customer, or one archived already: the
 * message says so), FORBIDDEN (not an admin key).
 * Local: ACCRUE_E_INVALID for a bad reference (as accrue_lookup).
 */
int accrue_archive(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref,
		   struct accrue_customer *out);

/*
 * Merge customer drop into keep: drop's balance, lifetime points, visits,
 * spend, groups and cards move to keep, returns of drop's orders go to
 * keep, and drop is then archived as by accrue_archive (their history ends
 * with "merged into #keep"; keep's shows the merge). Exactly once by the
 * request key. out (may be NULL) gets keep after the merge. Admin only.
 * Refusals: NOT_FOUND (either is unknown or archived), BAD_REQUEST (both
 * name the same customer), RANGE (keep would hold more than
 * ACCRUE_MAX_GROUPS groups or ACCRUE_MAX_CARDS cards, or totals would
 * overflow), FORBIDDEN (not an admin key).
 * Local: ACCRUE_E_INVALID for a bad reference.
 */
int accrue_merge(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *keep,
		 const struct accrue_ref *drop, struct accrue_customer *out);

/*
 * Every setting of the loyalty program in force, defaults included, in the
 * server's stable order. Any role. On success *settings is a new array of
 * *count entries that the caller owns and frees with free(); after any
 * failure but a NULL argument it is NULL with *count 0. A value longer than struct accrue_setting holds
 * (a promotion with a long group list can reach 2500 bytes) is cut short.
 * Refusals: INTERNAL (the program does not fit one reply).
 * Local: ACCRUE_E_INVALID for a NULL settings or count; ACCRUE_E_NOMEM.
 */
int accrue_program_get(accrue *a, struct accrue_setting **settings, uint32_t *count);

/*
 * How the daemon is doing: (name, value) pairs in struct accrue_setting,
 * each value a decimal number as text. Any role. Names today:
 * journal.seq, checkpoint.seq, customers, store.commits, store.map_bytes,
 * scrub.running (1 or 0), scrub.passes (full passes of the background
 * scrub), scrub.last_end_us (when the last one ended, UTC microseconds;
 * 0: none yet), scrub.last_ms, scrub.last_records, scrub.last_snapshots,
 * scrub.last_damaged. Later versions add names: look a figure up by name,
 * and ignore the ones you do not know. The array is the caller's to free().
 * Local: ACCRUE_E_INVALID for a NULL stats or count; ACCRUE_E_NOMEM.
 */
int accrue_stats(accrue *a, struct accrue_setting **stats, uint32_t *count);

/*
 * Change one program setting: name (at most 100 bytes, e.g. "earn.points",
 * "multiplier.group.vip") to value (at most 2500 bytes; NULL or "": back to
 * the default, or remove a multiplier or promotion). Admin keys only; the
 * change is journalled and applies to sales from then on.
 * Refusals: BAD_REQUEST (an unknown setting, or a value that does not parse
 * or is out of range; the message says which), RANGE (too many multipliers
 * or promotions), FORBIDDEN (not an admin key).
 * Local: ACCRUE_E_INVALID for an empty or NULL name, or a name or value
 * over its limit.
 */
int accrue_program_set(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *name, const char *value);

/*
 * Add (points > 0) or use (points < 0) points by hand. reason is internal;
 * comment is shown to the customer (NULL or "": "Manual adjustments").
 * out gets the change and the customer after it. Admin keys only.
 * Refusals: INSUFFICIENT (the balance would go below zero; the message
 * gives the balance), NOT_FOUND (no such customer, or a replay whose
 * customer no longer exists), RANGE (points 0 or INT64_MIN, or a balance
 * or lifetime total that would overflow), BAD_REQUEST (control characters
 * in the reason or comment), FORBIDDEN (not an admin key).
 * Local: ACCRUE_E_INVALID for a NULL out, a bad reference (as
 * accrue_lookup), or a reason or comment over 500 bytes.
 */
int accrue_adjust(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int64_t points,
		  const char *reason, const char *comment, struct accrue_result *out);

/* One adjustment of an accrue_adjust_batch: as accrue_adjust's arguments. */
struct accrue_adjustment {
	struct accrue_ref ref;
	int64_t points;      /* > 0 adds, < 0 uses */
	const char *reason;  /* internal; NULL: "" */
	const char *comment; /* shown to the customer; NULL or "": "Manual adjustments" */
};

/*
 * Adjust many customers' points in one request frame (ADJUST_BATCH), for
 * imports: items[i] with request key keys[i] (keys NULL: one random key
 * each, drawn once). The call sends the longest prefix of items[0..n)
 * (n 1..ACCRUE_MAX_BATCH) whose request, and the largest reply it could
 * get, fit the server's frame limit, at least one item, and sets *sent to
 * its length; results[0..*sent) get the outcomes
 * and the caller sends the rest with another call. Each item is applied
 * exactly as accrue_adjust would apply it, with its refusals (INSUFFICIENT,
 * NOT_FOUND, RANGE, BAD_REQUEST, KEY_REUSED) in results[i].status alone;
 * an item whose key was applied before has status 0 and replay 1 and
 * applies nothing again. The server journals the items of one frame in
 * one commit. If the connection is lost the frame is re-sent with the same
 * keys, so each item is applied at most once. Admin keys only.
 * Returns 0 when the server answered every sent item; otherwise *sent is 0
 * and results say nothing. Whole-frame refusals: FORBIDDEN (not an admin
 * key), BAD_REQUEST, RANGE, SHUTTING_DOWN, STORAGE (nothing of the frame
 * was applied), and every request's (top of this file).
 * Local: ACCRUE_E_INVALID for n 0 or over ACCRUE_MAX_BATCH, NULL items,
 * results or sent, an item accrue_adjust would refuse locally (the message
 * names it: "adjustment 3 of the batch: ..."), or a first item larger
 * than the frame limit; ACCRUE_E_NOMEM.
 */
int accrue_adjust_batch(accrue *a, uint32_t n, const uint8_t (*keys)[ACCRUE_KEY_SIZE],
			const struct accrue_adjustment *items, struct accrue_batch_result *results, uint32_t *sent);

/*
 * A customer's journal, newest first: at most max entries older than
 * before_seq (0: from the newest) into the caller's entries[0..*count).
 * *next_before (when not NULL) is the before_seq for the next page, 0 when
 * there is none. max is capped at 1000. A page may hold fewer than max
 * entries while older ones remain (the server keeps a reply within its
 * size limit): page until *next_before is 0. Any role. Each text means
 * one thing: detail what happened (for staff), reason the internal note,
 * comment what the customer sees (PROTOCOL.md, HISTORY, lists what each
 * kind of entry fills).
 * Refusals: NOT_FOUND (no such customer), STORAGE (a record of the
 * customer's journal is missing or damaged; accrue-check names it).
 * Local: ACCRUE_E_INVALID for a NULL entries or count, max 0, or a bad
 * reference (as accrue_lookup).
 */
int accrue_history(accrue *a, const struct accrue_ref *ref, uint64_t before_seq, struct accrue_entry *entries,
		   uint32_t max, uint32_t *count, uint64_t *next_before);

/* ---- the customer book ---------------------------------------------------- */

/* What accrue_customers sorts by (enum proto_sort's numbers). */
enum accrue_sort {
	ACCRUE_SORT_ID = 1,
	ACCRUE_SORT_CREATED = 2,
	ACCRUE_SORT_LAST_VISIT = 3,
	ACCRUE_SORT_BALANCE = 4,
	ACCRUE_SORT_LIFETIME = 5,
	ACCRUE_SORT_VISITS = 6,
	ACCRUE_SORT_SPEND = 7,
	ACCRUE_SORT_AVERAGE_SPEND = 8,
	ACCRUE_SORT_NAME = 9, /* last name, then first name, ASCII letters without case */
	ACCRUE_SORT_EMAIL = 10,
};

/* A sort field's name as people write it ("last-visit"), or NULL; and back (0: none). */
const char *accrue_sort_name(int sort);
int accrue_sort_parse(const char *name);

#define ACCRUE_MAX_PAGE 1000   /* customers in one page */
#define ACCRUE_MAX_CURSOR 600  /* bytes of a page cursor */
#define ACCRUE_TOTAL_UNKNOWN UINT64_MAX

/*
 * Which customers, in what order. Zeroed, it means every customer, newest
 * first is NOT implied: sort 0 means ACCRUE_SORT_CREATED, and descending is
 * what the caller sets. Strings may be NULL (no filter).
 */
struct accrue_customer_query {
	const char *search; /* any part of first name, last name or email, without case; or a phone's digits */
	const char *group;  /* in this group */
	const char *tier;   /* in this tier */
	int members;        /* 0: anyone; 1: members only; 2: guests only */
	int opted_out;      /* 0: anyone; 1: opted out of marketing; 2: opted in */
	int has_min_points, has_max_points;
	int64_t min_points, max_points; /* balance bounds, inclusive */
	int sort;           /* enum accrue_sort; 0: created */
	int descending;
	uint32_t limit;     /* rows wanted, 1..ACCRUE_MAX_PAGE */
	const char *after;  /* NULL or "": the first page; else a page's next cursor */
	int want_total;     /* 1: count every match (a full scan) */
};

struct accrue_customer_page {
	uint64_t total; /* customers matching in all; ACCRUE_TOTAL_UNKNOWN unless want_total */
	char next[ACCRUE_MAX_CURSOR + 1]; /* the cursor of the next page; "" when this is the last */
	uint32_t count; /* rows written */
};

/*
 * One page of the customer book: at most min(q->limit, cap) customers that
 * match q, in its order, after q->after, into rows[0..page->count). A page
 * may hold fewer rows than asked while more follow (the server keeps a
 * reply within its size limit): page until page->next is "". Walking pages
 * sorted by id or creation time sees every customer who existed throughout
 * exactly once; sorted by a value sales change (balance, visits, spend, last
 * visit), a customer whose value moves across the cursor between two pages
 * may be seen twice or missed. Admin and read-only keys (not terminals).
 * Refusals: BAD_REQUEST (a cursor of another sort or a damaged one, a
 * control character in a filter, min above max), FORBIDDEN (a terminal key),
 * BUSY (no memory for the page now).
 * Local: ACCRUE_E_INVALID for NULL arguments, cap or limit 0, limit over
 * ACCRUE_MAX_PAGE, an unknown sort, filters over their limits (search 100
 * bytes, group and tier 64, cursor 600).
 */
int accrue_customers(accrue *a, const struct accrue_customer_query *q, struct accrue_customer *rows, uint32_t cap,
		     struct accrue_customer_page *page);

/* ---- groups and locations --------------------------------------------- */

struct accrue_group_info {
	char name[72];
	uint64_t members; /* customers in the group now (never 0: an empty group is not listed) */
};

#define ACCRUE_MAX_LOCATION_KEYS 64 /* terminal key ids one location lists */

struct accrue_location_info {
	char name[72];
	uint64_t sales;       /* orders accrued here */
	int64_t amount;       /* what they sold for, minor units */
	int64_t points;       /* points they earned */
	int64_t refunded;     /* of amount, refunded by returns */
	int64_t taken_back;   /* of points, taken back by returns */
	uint64_t last_seq;    /* journal seq of the sale booked last; 0: no sale yet */
	int64_t last_us;      /* its time (the sale's own, as the till gave it); 0: no sale, or it could not be read */
	uint32_t nkeys_total; /* active terminal keys bound to the location */
	uint32_t nkeys;       /* of those, the ids in keys (at most ACCRUE_MAX_LOCATION_KEYS) */
	uint64_t keys[ACCRUE_MAX_LOCATION_KEYS];
};

/*
 * Every group with at least one customer in it and how many are, in byte
 * order of the names. The server keeps the counts, so this costs
 * O(groups), not a scan of the customers. Admin and read-only keys (not
 * terminals). On success *groups is a new array of *count entries that the
 * caller owns and frees with free(); after any failure but a NULL argument
 * it is NULL with *count 0. The library asks for as many pages as there are.
 * Refusals: FORBIDDEN (a terminal key), BUSY (no memory for the list now).
 * Local: ACCRUE_E_INVALID for a NULL groups or count; ACCRUE_E_NOMEM.
 */
int accrue_groups(accrue *a, struct accrue_group_info **groups, uint32_t *count);

/*
 * Rename group from to to: every customer in from is in to instead, in
 * one journal record (GROUP_RENAME). If to has members already the two
 * merge: a customer who was in both is in to once. key is the request key
 * (NULL: the library makes one; a retry after a lost connection re-sends
 * it, so the rename happens once); a replay answers as the first time did,
 * with *replay (when not NULL) set to 1. *moved (when not NULL) gets how
 * many customers joined to, *members how many are in to now. The record
 * belongs to no customer: a member's history does not show it. Admin keys
 * only. With a million members the daemon spends a moment applying it.
 * Refusals: BAD_REQUEST (a name empty, with a blank, comma or control, or
 * from and to the same), NOT_FOUND (no customer is in from), CONFLICT (a
 * program setting, multiplier.group.FROM or a promotion's group list,
 * names from: change it first), FORBIDDEN (not an admin key), KEY_REUSED.
 * Local: ACCRUE_E_INVALID for a NULL or empty name or one over 64 bytes.
 */
int accrue_group_rename(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *from, const char *to,
			uint64_t *moved, uint64_t *members, int *replay);

/*
 * Every location seen, in byte order of the names: each one a sale was
 * booked at, each one an active terminal key is bound to and each one the
 * program setting "locations" lists (with no sales yet: zero figures), with what was sold there, the last sale and the
 * terminal keys bound to it. Locations are stored normalised (trimmed,
 * A-Z lower-cased). Admin and read-only keys. Memory and errors as
 * accrue_groups.
 */
int accrue_locations(accrue *a, struct accrue_location_info **locations, uint32_t *count);

/*
 * Create an API key. role is an enum accrue_role; a terminal key needs a
 * location (at most 64 bytes). The whole key is copied into the caller's
 * secret (at least 129 bytes); it is shown this once and the server keeps
 * only its hash. On a replay the key is not shown again: secret is set to
 * "" and *replay (when not NULL) to 1. info (may be NULL) gets the id, role
 * and location; the reply carries no creation time, so created_us is 0.
 * Admin keys only.
 * Refusals: BAD_REQUEST (a terminal key without a location, control
 * characters in the location), NOT_FOUND (a replay whose key no longer
 * exists), FORBIDDEN (not an admin key).
 * Local: ACCRUE_E_INVALID for a NULL secret or one under 129 bytes, an
 * unknown role, or a location over 64 bytes. After any failure but a NULL
 * handle or a refused secret buffer, secret holds "".
 */
int accrue_key_create(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], int role, const char *location,
		      struct accrue_key_info *info, char *secret, size_t secret_cap, int *replay);

/*
 * List the API keys, revoked ones included. Admin keys only. On success
 * *keys is a new array of *count entries that the caller owns and frees
 * with free(); after any failure but a NULL argument it is NULL with
 * *count 0.
 * Refusals: FORBIDDEN (not an admin key).
 * Local: ACCRUE_E_INVALID for a NULL keys or count; ACCRUE_E_NOMEM.
 */
int accrue_key_list(accrue *a, struct accrue_key_info **keys, uint32_t *count);

/*
 * Revoke the API key key_id. Admin keys only. The server then closes every
 * connection of that key; if it is this handle's own, the next call
 * reconnects and gets AUTH.
 * Refusals: NOT_FOUND (no key with that id), FORBIDDEN (not an admin key).
 */
int accrue_key_revoke(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], uint64_t key_id);

#ifdef __cplusplus
}
#endif

#endif
