/*
 * raw.h - a client of the wire protocol on a bare socket, for tests that
 * must send what libaccrue never would: bytes before HELLO, damaged or cut
 * frames, unknown opcodes, frames in odd pieces.
 *
 * Frames and request bodies are built with proto.h's encoders, so they are
 * valid until a test cuts or damages them on purpose; replies are read with
 * its decoder. Every wait is bounded by the timeout given. Part of the
 * integration tests' harness library (it_client.c, it_abuse_*.c).
 *
 * The builders and raw_login stop the test (REQUIRE) when what they need
 * cannot be had; raw_hello counts one check when it decodes a HELLO reply.
 * Everything else returns a status for the test to check.
 */
#ifndef ACCRUE_TEST_RAW_H
#define ACCRUE_TEST_RAW_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "proto.h"

/* How long a reply may take before a test calls it lost (raw_hello waits
 * this long). The daemon's delay after failed HELLOs alone can reach 4 s,
 * so this is well above it. */
#define RAW_REPLY_WAIT_MS 10000

/* raw_reply's status when no reply was read: no status the server sends. */
#define RAW_NO_STATUS 0xffffu

/* One connection: the socket and what has arrived on it but was not taken as a frame yet. */
struct raw {
	int fd;
	size_t len;            /* bytes in buf not yet taken as a frame */
	uint8_t buf[1 << 17];
	size_t frame_len;      /* the last reply frame, whole, as it came */
	uint8_t frame[1 << 17];
};

/* A reply as raw_reply read it. */
struct raw_reply {
	struct proto_header hdr;
	uint16_t status;   /* RAW_NO_STATUS until a reply is read */
	char msg[PROTO_MAX_MESSAGE + 1];
	const uint8_t *ok; /* after an OK status: the rest of the body (in the raw's frame copy) */
	size_t ok_len;
};

/* A request body built with proto.h's encoders. */
struct raw_body {
	uint8_t b[8192];
	uint32_t n;
};

/* A closed connection on the heap (it is 256 KiB); free with raw_free. */
struct raw *raw_new(void);

/* Close r if open and free it. */
void raw_free(struct raw *r);

/*
 * A TCP socket to the daemon of hh (127.0.0.1, its port), TCP_NODELAY and
 * close-on-exec, so that a daemon started later does not inherit it.
 * nonblock: the connect may still be in progress when it returns. Returns
 * the descriptor, or -1.
 */
int raw_connect(const struct harness *hh, int nonblock);

/* Connect r (blocking) to the daemon of hh. 0, or -1 after printing why. */
int raw_open(struct raw *r, const struct harness *hh);

/* Close r's socket; raw_open may open it again. */
void raw_close(struct raw *r);

/*
 * Header plus body into out; flags as given (a client normally sends 0).
 * body may lie in out already: it is moved. Returns the frame's length.
 */
size_t raw_frame(uint8_t *out, size_t cap, uint8_t op, uint16_t flags, uint32_t rid, const uint8_t *body,
		 uint32_t n);

/* Write all of p; 0, or -1 when the server has closed or reset the connection. */
int raw_write(struct raw *r, const uint8_t *p, size_t n);

/* One frame with these flags and n body bytes (at most sizeof struct raw_body's). 0 or -1 as raw_write. */
int raw_send_flags(struct raw *r, uint8_t op, uint16_t flags, uint32_t rid, const uint8_t *body, uint32_t n);

/* One request frame; bd NULL: an empty body. 0 or -1 as raw_write. */
int raw_send(struct raw *r, uint8_t op, uint32_t rid, const struct raw_body *bd);

/*
 * Read one reply frame within timeout_ms. Returns 1 with *rep filled; 0 if
 * the server closed the connection first; -1 on timeout; -2 if the bytes
 * are not a valid reply frame.
 */
int raw_reply(struct raw *r, struct raw_reply *rep, int timeout_ms);

/* What raw_reply's return value means, for messages. */
const char *raw_got_name(int got);

/*
 * Wait for the server to close: 1 when it did, 0 on timeout. *extra, if
 * not NULL, gets the bytes that came first, buffered ones included.
 */
int raw_wait_eof(struct raw *r, int timeout_ms, size_t *extra);

/*
 * HELLO on r, waiting RAW_REPLY_WAIT_MS. Returns the status, or -1 with no
 * reply. On OK with hello not NULL, checks that the reply decodes and fills
 * *hello.
 */
int raw_hello(struct raw *r, const char *api_key, struct proto_hello_rep *hello);

/* Open r to hh and say HELLO with api_key; stops the test unless it works. */
void raw_login(struct raw *r, const struct harness *hh, const char *api_key);

/*
 * Request bodies. Each that changes something gets a fresh random request
 * key; customers are named by id. The sales have no lines.
 */
void raw_body_hello(struct raw_body *bd, uint16_t version, const char *api_key);
void raw_body_lookup(struct raw_body *bd, uint64_t id);
/* ENROL with this email and the first name "Raw". */
void raw_body_enrol(struct raw_body *bd, const char *email);
void raw_body_accrue(struct raw_body *bd, uint64_t id, const char *location, const char *order, int64_t amount);
/* ACCRUE_BATCH of n sales (n <= 4) for one customer, each with its own location and order id. */
void raw_body_batch(struct raw_body *bd, int n, uint64_t id, const char *const *locations, const char *const *orders,
		    int64_t amount);
/* ADJUST with the reason "abuse test". */
void raw_body_adjust(struct raw_body *bd, uint64_t id, int64_t points);
void raw_body_return(struct raw_body *bd, const char *location, const char *order, int64_t amount);
/* id 0: nobody in particular (ref kind 0). */
void raw_body_quote(struct raw_body *bd, uint64_t id, int64_t amount);
void raw_body_history(struct raw_body *bd, uint64_t id, uint32_t limit);
void raw_body_order(struct raw_body *bd, const char *location, const char *order);
/* GROUP adding the customer to group. */
void raw_body_group(struct raw_body *bd, uint64_t id, const char *group);
void raw_body_tier(struct raw_body *bd, uint64_t id, const char *tier);
/* key NULL: a fresh request key. */
void raw_body_key_create(struct raw_body *bd, const uint8_t *key, uint8_t role, const char *location);
void raw_body_key_revoke(struct raw_body *bd, uint64_t key_id);
void raw_body_program_set(struct raw_body *bd, const char *name, const char *value);

#endif
