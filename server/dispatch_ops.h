/*
 * dispatch_ops.h - what dispatch.c shares with the opcode handlers.
 *
 * dispatch.c holds the opcode table (one row per opcode: who may send it,
 * whether it changes the ledger, its handler and how a replay is answered)
 * and the helpers every handler uses: replies, the request-key check,
 * appending a record and applying it. The handlers live in files by domain:
 *
 *   op_customers.c  ENROL, LOOKUP, ADJUST, HISTORY, ADJUST_BATCH
 *   op_sales.c      ACCRUE, ACCRUE_BATCH, RETURN, QUOTE, ORDER
 *   op_program.c    GROUP, TIER, PROGRAM_GET, PROGRAM_SET
 *   op_keys.c       HELLO, KEY_CREATE, KEY_LIST, KEY_REVOKE
 *   op_list.c       CUSTOMERS (the customer book's list, a slice per loop turn)
 *   op_book.c       EDIT, CARD, OPTOUT
 *   op_places.c     GROUPS, GROUP_RENAME, LOCATIONS (groups and locations, places.h)
 *
 * A new opcode is one row in dispatch.c's table plus its handler in the file
 * of its domain, declared here.
 * Only the server's dispatch files include this header.
 */
#ifndef ACCRUE_DISPATCH_OPS_H
#define ACCRUE_DISPATCH_OPS_H

#include "dispatch.h"
#include "orders.h"
#include "record.h"

/* A handler: one decoded frame of its opcode, after the table's checks
 * (authenticated, role allowed, body empty where it must be, room in the
 * open batch for a mutation). It writes the whole reply into out. */
typedef enum dispatch_action op_handler(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body,
					size_t len, struct dispatch_out *out);

op_handler op_hello, op_enrol, op_lookup, op_adjust, op_history, op_accrue, op_accrue_batch, op_return, op_quote,
	op_order, op_group, op_tier, op_program_get, op_program_set, op_key_create, op_key_list, op_key_revoke, op_stats, op_customers;
op_handler op_adjust_batch;
op_handler op_edit, op_card, op_optout, op_archive, op_merge; /* op_book.c */
op_handler op_groups, op_group_rename, op_locations; /* op_places.c */

/*
 * The large working structures of the handlers, in one place instead of
 * function-local statics. One per struct dispatch (dispatch_init allocates
 * it); only the loop thread uses it. Lifetime: a handler may use any field
 * from its start until it returns; nothing in here survives from one
 * request to the next, and no reply points into it (replies are copied into
 * dispatch_out.body before the handler returns).
 */
struct dispatch_scratch {
	struct record rec;       /* the record a handler appends */
	struct record guest_rec; /* a guest's ENROL, made ahead of the sale's record */
	struct record merge_rec; /* MERGE's second record, built before the first erases its source */
	char merge_text[PROTO_MAX_GROUPS * PROTO_MAX_GROUP + PROTO_MAX_CARDS * PROTO_MAX_CARD];
	struct proto_accrue_req accrue_req;
	struct proto_accrue_req ahead_req; /* a batch item decoded ahead, for prefetching */
	struct proto_return_req return_req;
	struct proto_quote_req quote_req;
	struct proto_quote_rep quote_rep;
	struct proto_order_req order_req;
	struct proto_order_rep order_rep;
	struct orders_view order; /* an order read back from the journal */
	struct rules_line lines[PROTO_MAX_LINES];
	struct rules_earning earning;
	int64_t line_take[PROTO_MAX_LINES]; /* a return's take-back per line */
	struct rules trial;                 /* PROGRAM_SET tries a setting on a copy */
};

/* ---- replies ------------------------------------------------------------- */

/* Make a reply depend on seq being durable too. */
void dispatch_depend(struct dispatch_out *out, uint64_t seq);

/* OK with the customer; depends on the customer's last record. */
void dispatch_reply_customer(struct dispatch_out *out, const struct model_customer *c);

/* OK with the change record seq made (points) and the customer after it. */
void dispatch_reply_change(struct dispatch_out *out, const struct model_customer *c, uint64_t seq, int64_t points);

/* OK with no body. */
void dispatch_reply_empty(struct dispatch_out *out);

/* OK with (name, value) text pairs (PROGRAM_GET, STATS): begin, put each, end. */
struct dispatch_pairs {
	struct proto_wbuf w;
	size_t count_at; /* where the u16 count goes */
	uint16_t n;
};
void dispatch_pairs_begin(struct dispatch_pairs *p, struct dispatch_out *out);
void dispatch_pairs_put(struct dispatch_pairs *p, const char *name, const char *value);
/* Finish the reply; an INTERNAL refusal naming what when the pairs overflow it. */
void dispatch_pairs_end(struct dispatch_pairs *p, struct dispatch_out *out, const char *what);

/* Batch replies keep refusal messages short so PROTO_MAX_BATCH of them fit one frame. */
#define DISPATCH_BATCH_MESSAGE_MAX 96

/*
 * The checks a batch frame (ACCRUE_BATCH, ADJUST_BATCH) passes before any
 * item is applied: r is at the item count, which is read into *count; every
 * item must be framed, nothing may follow the last, and the worst-case
 * reply must fit out. Returns 0 (r is left at the first item), or -1 after
 * writing the refusal into out, naming the opcode.
 */
int dispatch_batch_begin(struct proto_rbuf *r, uint16_t *count, const char *opname, struct dispatch_out *out);

/* ---- checks and texts ------------------------------------------------------ */

/* Whether s holds a byte below 0x20 or 0x7f. */
int dispatch_has_control(struct proto_str s);

/* Minor units as people write money (12.34, -0.05), into buf. Returns buf. */
const char *dispatch_money_text(int64_t minor, char *buf, size_t cap);

/* A time as 2026-11-23T12:19:41Z (UTC), into buf. Returns buf. */
const char *dispatch_time_text(int64_t us, char *buf, size_t cap);

/* How a request named a customer (#12, an email, a phone), into buf. Returns buf. */
const char *dispatch_ref_text(const struct proto_ref *ref, char *buf, size_t cap);

/*
 * The customer ref names, or NULL after writing into out BAD_REQUEST (an
 * email or phone that is not valid, or a phone without '+' and no
 * phone.country) or NOT_FOUND (naming the normalised form searched).
 */
struct model_customer *dispatch_find_customer(struct dispatch *d, const struct proto_ref *ref, struct dispatch_out *out);
/* The same, but an archived customer (found by id only) is found too, for
 * LOOKUP and HISTORY; dispatch_find_customer refuses one with NOT_FOUND
 * through dispatch_archived ("customer #12 was archived"). */
struct model_customer *dispatch_find_any_customer(struct dispatch *d, const struct proto_ref *ref,
						  struct dispatch_out *out);
void dispatch_archived(struct dispatch_out *out, const struct model_customer *c);
/*
 * ref's email or phone normalised (model_ref_normalise) into buf and *norm:
 * 0, or -1 with a sentence for BAD_REQUEST in msg. An id ref gives 0.
 */
int dispatch_ref_check(const struct dispatch *d, const struct proto_ref *ref, char buf[PROTO_MAX_EMAIL + 1],
		       struct proto_str *norm, char *msg, size_t cap);
/* The refusal of a phone written without '+' while the program has no phone.country. */
void dispatch_phone_no_country(struct proto_str phone, char *msg, size_t cap);

/* ---- request keys and records ---------------------------------------------- */

/*
 * Look a mutation's request key up. Returns 0 with *q NULL for a new
 * request, 0 with *q set for a replay of the same request, or a refusal
 * (BAD_REQUEST: an all-zero key; KEY_REUSED: the key was used for another
 * request, *q set) with its message in msg.
 */
uint16_t dispatch_request_key_lookup(const struct dispatch *d, uint8_t opcode, const uint8_t key[PROTO_KEY_SIZE],
				     uint64_t body_hash, const struct model_request **q, char *msg, size_t cap);

/*
 * The request-key check a mutation starts with. Returns 1 if the request
 * was answered here (a refusal, or a replay answered by the opcode's replay
 * function from the table), 0 if it is new and must be applied.
 */
int dispatch_check_request_key(struct dispatch *d, uint8_t opcode, const uint8_t key[PROTO_KEY_SIZE],
			       uint64_t body_hash, struct dispatch_out *out);

/* Set rec's header for a new record of type made now by the request key; the
 * payload is the caller's to fill (each kind sets every field of its own). */
void dispatch_record_init(struct record *rec, uint8_t type, const uint8_t key[PROTO_KEY_SIZE], uint64_t body_hash);

/*
 * Append rec to the open batch and apply it to the model. Returns its seq,
 * or 0 after writing INTERNAL into out (when out is not NULL) if it could
 * not be encoded. A record the model refuses after it was appended means
 * memory and disk disagree: the daemon aborts and recovery rebuilds.
 */
uint64_t dispatch_commit_record(struct dispatch *d, struct record *rec, struct dispatch_out *out);

#endif
