/*
 * accrue_int.h - what libaccrue's own files share; not for its users.
 *
 * accrue.h is the one public header. Behind it the library is split along
 * its seams:
 *   accrue_conn.c    the handle, the connection, framing, reconnect and retry;
 *   accrue_ledger.c  the operations on customers, sales and points;
 *   accrue_admin.c   the operations on API keys and the loyalty program;
 *   accrue_util.c    the public helpers and the argument checks the
 *                    operations share;
 *   accrue_book.c    the customer book: pages of customers;
 *   accrue_codes.c   accrue_strerror, and the build-time proof that
 *                    accrue.h's copies of proto.h's codes agree with it.
 *
 * An operation checks its arguments, encodes its request body once into a
 * struct request, and hands it to accrue__call, which owns everything about
 * getting it answered. POS software links this library statically into its
 * own program, so every name shared between these files carries the
 * accrue__ prefix and cannot clash with one of the application's.
 */
#ifndef ACCRUE_INT_H
#define ACCRUE_INT_H

#include "accrue.h"

#include "addr.h"
#include "proto.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Room for a request body kept inside struct request. An ADJUST with every
 * text at its limit is about 1.3 KiB; the argument checks of the operations
 * keep every such body within this, so running out of space here is a bug,
 * not a user error. Requests that carry a sale or a batch are larger and get
 * a heap buffer sized for them (accrue__request_init_sized).
 */
#define REQUEST_MAX 4096

/* A port as getaddrinfo takes it: up to five digits. */
#define PORT_TEXT_MAX 8

struct accrue {
	int fd; /* -1 while disconnected; the next call reconnects */
	char host[ADDR_HOST_MAX + 1];
	char port[PORT_TEXT_MAX];
	char address[ADDR_TEXT_MAX + 1]; /* "host:port" or "[v6]:port", for messages */
	char api_key[PROTO_MAX_APIKEY + 1];
	int timeout_ms;
	int retries;
	uint32_t next_request_id;

	/* What the last HELLO granted. */
	int role;
	uint64_t key_id;
	char location[PROTO_MAX_LOCATION + 1];
	uint32_t max_body; /* 0 until HELLO has answered */

	/*
	 * Received bytes. The first `consumed` bytes are the last reply frame:
	 * the caller is still decoding its body, so they are dropped only when
	 * the next receive starts.
	 */
	uint8_t *rbuf;
	size_t rlen;
	size_t rcap;
	size_t consumed;

	char message[PROTO_MAX_MESSAGE + 1];
};

/*
 * One request: its opcode and a buffer holding the header slot and the
 * body: the small one inside the struct, or `heap` (freed by
 * accrue__request_free).
 */
struct request {
	uint8_t opcode;
	struct proto_wbuf body;
	uint8_t *frame;
	uint8_t *heap;
	uint8_t small[PROTO_HEADER_SIZE + REQUEST_MAX];
};

/* A successful reply: its flags and the bytes after the status, inside a->rbuf. */
struct reply {
	uint16_t flags;
	const uint8_t *body;
	size_t len;
};

/* ---- accrue_conn.c --------------------------------------------------- */

/* A customer of a reply, copied into the caller's struct (accrue_ledger.c). */
struct proto_customer;
void accrue__customer_copy(struct accrue_customer *dst, const struct proto_customer *c);

/* Set the handle's message (accrue_message), printf-style. */
__attribute__((format(printf, 2, 3))) void accrue__message_set(accrue *a, const char *fmt, ...);

/* Say the server's reply was malformed: sets the message and returns ACCRUE_E_PROTOCOL. */
int accrue__reply_invalid(accrue *a, const char *why);

/* A request with the small buffer inside rq (REQUEST_MAX bytes of body). */
void accrue__request_init(struct request *rq, uint8_t opcode);

/* A request whose body may need body_max bytes; 0, or ACCRUE_E_NOMEM if they cannot be had. */
int accrue__request_init_sized(accrue *a, struct request *rq, uint8_t opcode, size_t body_max);

/* Free what accrue__request_init_sized allocated; safe after accrue__request_init alone. */
void accrue__request_free(struct request *rq);

/*
 * Run one request to its end: reconnect when needed, and after a lost
 * connection re-send the identical body (same request key) up to the retry
 * limit. Returns 0 with *rep pointing into the handle's receive buffer
 * (valid until the next call on the handle), a server status, or a local
 * error. With rq NULL this only makes sure the session is open.
 */
int accrue__call(accrue *a, struct request *rq, struct reply *rep);

/* Start a public call: ACCRUE_E_INVALID for a NULL handle, else 0 with the last call's message forgotten. */
int accrue__call_begin(accrue *a);

/* ---- accrue_util.c --------------------------------------------------- */

/* Copy a string view into a fixed field, truncating, always NUL-terminated. */
void accrue__str_copy(char *dst, size_t cap, struct proto_str s);

/* Copy src (NULL reads as "") into dst[0..cap), truncating; does nothing if dst is NULL or cap 0. */
void accrue__text_copy(char *dst, size_t cap, const char *src);

/* Refuse an argument: sets the message to what and returns ACCRUE_E_INVALID. */
int accrue__arg_invalid(accrue *a, const char *what);

/* 1 (and the message set) if s is longer than max bytes; NULL counts as empty. */
int accrue__text_too_long(accrue *a, const char *field, const char *s, size_t max);

/* The caller's request key, or a random one drawn once for this call; 0 or ACCRUE_E_IO. */
int accrue__key_fill(accrue *a, uint8_t dst[PROTO_KEY_SIZE], const uint8_t *key);

/* From accrue_ledger.c, for accrue_book.c: a caller's reference into the
 * codec's (0 or ACCRUE_E_INVALID with a message), and a reply of one
 * customer into out (may be NULL; 0 or ACCRUE_E_PROTOCOL). */
int accrue__ref_to_proto(accrue *a, const struct accrue_ref *ref, struct proto_ref *out);
int accrue__customer_reply(accrue *a, const struct reply *rep, const char *what, struct accrue_customer *out);

#endif
