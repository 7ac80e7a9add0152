/*
 * dispatch.h - one request in, one reply out.
 *
 * dispatch knows what each opcode means: it checks the session's role,
 * decodes and validates the body, looks the customer up, checks the request
 * key and the order id, asks rules for the points, appends one journal
 * record to the store's open batch and applies it to the model. It does no
 * I/O: it writes the reply body into the caller's buffer and says when that
 * reply may be sent (wait_seq: the journal record the reply depends on must
 * be durable first). net owns the sockets and the waiting.
 */
#ifndef ACCRUE_DISPATCH_H
#define ACCRUE_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "proto.h"
#include "rules.h"
#include "store.h"

struct dispatch_scratch;
struct scrub;

struct dispatch {
	struct model *model;
	struct store *store;
	struct scrub *scrub;   /* the scrubber, for STATS; NULL when it does not run */
	uint32_t max_body;     /* largest request body accepted, and reply built */
	uint32_t max_inflight; /* announced in HELLO: requests a client may pipeline */
	int shutting_down;
	struct dispatch_scratch *scratch; /* the handlers' working space (dispatch_ops.h) */
};

/* What a connection has proved about itself. */
struct dispatch_session {
	int authed;
	uint8_t role;
	uint64_t key_id;
	char location[PROTO_MAX_LOCATION + 1];
};

enum dispatch_action {
	DISPATCH_REPLY,       /* send the reply (after wait_seq is durable) */
	DISPATCH_REPLY_CLOSE, /* send the reply, then close the connection */
	DISPATCH_BLOCKED,     /* the open batch is full: keep the frame, retry after a commit */
	DISPATCH_DEFER,       /* the request must read durable state: run it again once wait_seq is */
	DISPATCH_CONTINUE,    /* part done: call dispatch_continue(out->cont) on a later loop turn */
};

struct dispatch_out {
	uint8_t *body;     /* in: where the reply body goes */
	size_t cap;        /* in: its size (at least max_body) */
	size_t len;        /* out: reply body length */
	uint16_t flags;    /* out: PROTO_FLAG_REPLAY or 0 (REPLY is added by net) */
	uint64_t wait_seq; /* out: 0, or the seq that must be durable before sending */
	struct dispatch_cont *cont; /* out: DISPATCH_CONTINUE's work in progress */
};

/*
 * Work too long for one loop turn (a scan of every customer) is done a
 * slice per turn, so that no checkout waits behind it: the handler returns
 * DISPATCH_CONTINUE with out->cont, and the caller calls dispatch_continue
 * on later turns (other connections' requests run in between) until it
 * returns a reply, or dispatch_cont_free if the connection goes first.
 * The continuation holds ids and copies, never pointers into the model.
 */
struct dispatch_cont {
	enum dispatch_action (*step)(struct dispatch *d, struct dispatch_cont *k, struct dispatch_out *out);
	void (*free)(struct dispatch_cont *k);
};

/* One more slice of k's work: DISPATCH_CONTINUE (k lives on) or a reply (k is freed). */
enum dispatch_action dispatch_continue(struct dispatch *d, struct dispatch_cont *k, struct dispatch_out *out);
/* Drop k unfinished. */
void dispatch_cont_free(struct dispatch_cont *k);

/*
 * Set d up over a model and a store (both stay the caller's), with the
 * default body and in-flight limits; the caller may change max_body and
 * max_inflight afterwards. Returns 0, or -1 if memory for the handlers'
 * working space cannot be had. Undo with dispatch_free.
 */
int dispatch_init(struct dispatch *d, struct model *m, struct store *s, uint32_t max_inflight);

/* Free what dispatch_init allocated. Safe on a zeroed or freed struct. */
void dispatch_free(struct dispatch *d);

/* Handle one decoded frame on a session. */
enum dispatch_action dispatch_request(struct dispatch *d, struct dispatch_session *sess, const struct proto_header *h,
				      const uint8_t *body, struct dispatch_out *out);

/* Whether an authenticated session's key is still valid (not revoked since its HELLO). */
int dispatch_session_valid(const struct dispatch *d, const struct dispatch_session *sess);

/* The reply to bytes that are not a frame (codec error err); the connection closes after it. */
void dispatch_frame_error(int err, struct dispatch_out *out);

/* An error reply body with a formatted message. */
void dispatch_error(struct dispatch_out *out, uint16_t status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* UTC microseconds. */
int64_t dispatch_now_us(void);

#endif
