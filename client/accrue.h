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
 * terminated strings); nothing points into library buffers. The one
 * allocating call, accrue_key_list, says so.
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
};

#define ACCRUE_KEY_SIZE 16

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
};

/* Outcome of an accrual or adjustment. */
struct accrue_result {
	uint64_t seq;   /* journal sequence number of the change */
	int64_t points; /* points added; negative when points were used */
	int replay;     /* 1 if this repeats the outcome of an earlier request with the same key */
	struct accrue_customer customer; /* the customer as of this reply */
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
 * one). Refusals: NOT_FOUND,
 * DUPLICATE_ORDER (this order id was already accrued at this location),
 * FORBIDDEN (a terminal key naming another location), RANGE, KEY_REUSED,
 * STORAGE.
 */
int accrue_accrue(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *location,
		  const char *order_id, int64_t amount, struct accrue_result *out);

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
