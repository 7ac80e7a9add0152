/*
 * net.c - connections, framing, parked replies and backpressure (see net.h).
 */
#include "net.h"

#include "addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK 65536
/* Unsent output above which a connection is no longer read: a client that
 * pipelines without reading its replies must not grow our memory. */
#define WBUF_HIGH ((size_t)4 << 20)

/*
 * Connection states, in order. A connection is READING while it may take
 * more frames, PAUSED while backpressure holds it (full batch, too many
 * parked replies, too much unsent output, or shutdown), PENALTY while the
 * AUTH reply to its refused HELLO is held back (it is still read, only to
 * notice the peer leaving: what it sends is dropped), DRAINING when it will
 * close once its output is written, CLOSED once uv_close was called.
 */
enum conn_state { CONN_READING, CONN_PAUSED, CONN_PENALTY, CONN_DRAINING, CONN_CLOSED };

struct conn {
	uv_tcp_t tcp;
	struct net *net;
	enum conn_state state;
	struct dispatch_session sess;
	int refs; /* the socket, plus one per parked reply or deferred request */
	int uv_reading;
	int blocked; /* waiting for room in the open batch */
	uint32_t parked;

	uint8_t *rbuf;
	size_t rlen, rcap;

	uint8_t *wbuf; /* replies waiting for the next write */
	size_t wlen, wcap;
	uint8_t *wfly; /* the buffer uv_write is sending */
	size_t wfly_cap;
	int writing;
	uv_write_t wreq;

	struct conn *prev, *next; /* every connection */
	struct conn *flush_next;  /* connections with output to write */
	int in_flush;
	struct conn *resume_next; /* connections to run again after a commit */
	int in_resume;

	uint64_t accepted_ms;    /* loop time of accept: the HELLO is owed by accepted + frame timeout */
	uint64_t last_rx_ms;     /* last time bytes arrived */
	uint64_t frame_start_ms; /* when the partial frame now in rbuf began; 0: none */
	uint64_t last_tx_ms;     /* last time the client took bytes of our output */
	uint8_t peer[16];        /* client address (4 or 16 bytes), for failed-HELLO accounting */
	uint8_t peer_len;
	struct held *held;       /* its refused HELLO's reply, while held back (CONN_PENALTY) */
};

/* A refused HELLO's reply, held back because its address failed too often. */
struct held {
	struct held *next;
	struct conn *conn;
	struct hello_fail *fail; /* its address, which counts it in held */
	uint64_t due_ms;
	uint32_t len;
	uint8_t frame[];
};

/* Failed HELLOs of one client address. */
struct hello_fail {
	uint8_t peer[16];
	uint8_t peer_len;
	uint32_t count;     /* failures since the first of this run of them */
	uint32_t held;      /* replies to this address held back now; the slot is kept while any are */
	uint64_t last_ms;   /* the latest failure */
};

#define HELLO_FAIL_SLOTS 256
#define HELLO_FAIL_FREE 3           /* failures answered at once */
#define HELLO_FAIL_WINDOW_MS 60000  /* quiet time after which an address starts afresh */
#define HELLO_DELAY_FIRST_MS 250
#define HELLO_DELAY_MAX_MS 4000
/*
 * Replies held back for one address at once. Each holds a connection, so
 * without a bound one address could fill the connection limit with them;
 * past it a wrong HELLO is refused with BUSY at once. Four covers a site
 * of a few tills all retrying with a stale key; at the 4 s step it lets an
 * address have at most four AUTH replies per 4 s.
 */
#define HELLO_HELD_PER_ADDRESS 4
#define SWEEP_MS 100

/* A reply waiting for its journal record to be durable. */
struct parked {
	struct store_waiter w;
	struct conn *conn;
	uint8_t opcode;
	uint32_t request_id;
	uint32_t len;
	uint8_t frame[];
};

/* A request that must run again once the state it reads is durable. */
struct deferred {
	struct store_waiter w;
	struct conn *conn;
	struct proto_header h;
	int status;
	struct deferred *next;
	uint8_t body[];
};

/* A request done a slice per loop turn (DISPATCH_CONTINUE). */
struct continuing {
	struct conn *conn;
	struct proto_header h;
	struct dispatch_cont *cont;
	struct continuing *next;
};

struct net {
	uv_loop_t *loop;
	uv_tcp_t listener;
	int listening;
	struct dispatch *d;
	struct store *store;
	struct net_config cfg;
	uint32_t nconns;
	struct conn *conns;
	struct conn *flush_head;
	struct conn *resume_head;
	struct deferred *ready_head, **ready_tail;
	struct continuing *cont_head, **cont_tail;
	uv_idle_t idle; /* runs the continuing requests, a slice each per turn */
	int idling, idle_open;
	int stopping;
	int closing;
	uint8_t *scratch; /* one reply frame: header + max body */
	size_t scratch_cap;
	uv_timer_t sweep; /* timeouts and held replies, every SWEEP_MS */
	int sweeping;
	uint32_t sweep_turn;
	struct held *held; /* by due time */
	struct hello_fail fails[HELLO_FAIL_SLOTS];
};

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) {
		fprintf(stderr, "accrued: fatal: out of memory (%zu bytes)\n", n);
		abort();
	}
	return q;
}

/* ---- lifetime ------------------------------------------------------------------ */

static void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	free(c->rbuf);
	free(c->wbuf);
	free(c->wfly);
	free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct net *n = c->net;

	if (c->prev)
		c->prev->next = c->next;
	else
		n->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	n->nconns--;
	conn_unref(c);
}

/* Take c's held reply off the list and free it (its peer left, or the server closes). */
static void held_drop(struct conn *c)
{
	struct held *hr = c->held, **pp;

	for (pp = &c->net->held; *pp != hr; pp = &(*pp)->next)
		;
	*pp = hr->next;
	hr->fail->held--;
	c->held = NULL;
	c->parked--;
	free(hr);
	conn_unref(c); /* not the last reference: the socket's is still there */
}

static void conn_close(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	/* A reply held back for a peer that is gone is owed to nobody: the
	 * connection's slot and its address's share of held replies free now,
	 * not when the reply comes due. */
	if (c->held)
		held_drop(c);
	c->state = CONN_CLOSED;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- writing ---------------------------------------------------------------------- */

static void mark_flush(struct conn *c)
{
	if (c->in_flush || c->state == CONN_CLOSED)
		return;
	c->in_flush = 1;
	c->refs++;
	c->flush_next = c->net->flush_head;
	c->net->flush_head = c;
}

static void mark_resume(struct conn *c)
{
	if (c->in_resume || c->state == CONN_CLOSED)
		return;
	c->in_resume = 1;
	c->refs++;
	c->resume_next = c->net->resume_head;
	c->net->resume_head = c;
}

static void out_append(struct conn *c, const uint8_t *p, size_t len)
{
	if (c->wcap - c->wlen < len) {
		size_t cap = c->wcap ? c->wcap : 4096;
		while (cap - c->wlen < len)
			cap *= 2;
		c->wbuf = xrealloc(c->wbuf, cap);
		c->wcap = cap;
	}
	memcpy(c->wbuf + c->wlen, p, len);
	c->wlen += len;
	mark_flush(c);
}

static void conn_flush(struct conn *c);

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->writing = 0;
	c->last_tx_ms = uv_now(c->net->loop);
	if (status < 0) {
		conn_close(c);
	} else if (c->state != CONN_CLOSED) {
		conn_flush(c);
		/* Output fell below the bound: the connection may be read again. */
		if (c->state == CONN_PAUSED && c->wlen < WBUF_HIGH)
			mark_resume(c);
	}
	conn_unref(c);
}

static void conn_flush(struct conn *c)
{
	uv_buf_t buf;
	uint8_t *t;
	size_t tcap;
	int n;

	if (c->state == CONN_CLOSED || c->writing)
		return;
	if (c->wlen) {
		buf = uv_buf_init((char *)c->wbuf, (unsigned int)c->wlen);
		n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
		if (n == UV_EAGAIN)
			n = 0;
		if (n < 0) {
			conn_close(c);
			return;
		}
		if ((size_t)n < c->wlen) {
			/* The write timeout runs from here, or from its progress. */
			c->last_tx_ms = uv_now(c->net->loop);
			/* Hand the rest to uv_write and keep filling the other buffer. */
			t = c->wfly;
			tcap = c->wfly_cap;
			c->wfly = c->wbuf;
			c->wfly_cap = c->wcap;
			c->wbuf = t;
			c->wcap = tcap;
			buf = uv_buf_init((char *)c->wfly + n, (unsigned int)(c->wlen - (size_t)n));
			c->wlen = 0;
			c->writing = 1;
			c->wreq.data = c;
			c->refs++;
			if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
				c->writing = 0;
				conn_unref(c);
				conn_close(c);
			}
			return;
		}
		c->wlen = 0;
		/* All out at once (on_write will not run): a connection paused for
		 * its output may be read again. */
		if (c->state == CONN_PAUSED)
			mark_resume(c);
	}
	if (c->state == CONN_DRAINING && !c->parked)
		conn_close(c);
}

static void run_resumes(struct net *n, int after_commit);

void net_flush(struct net *n)
{
	/* A write can free a paused connection (its unsent output fell under
	 * the bound), and running it can make more output: go on until both
	 * lists are empty. A connection waiting for room in the batch stays
	 * for the next commit. */
	do {
		while (n->flush_head) {
			struct conn *c = n->flush_head;
			n->flush_head = c->flush_next;
			c->in_flush = 0;
			conn_flush(c);
			conn_unref(c);
		}
		run_resumes(n, 0);
	} while (n->flush_head);
}

/* Frame a reply body that dispatch wrote at scratch + PROTO_HEADER_SIZE. */
static size_t frame_reply(struct net *n, uint8_t opcode, uint16_t flags, uint32_t request_id, size_t body_len)
{
	proto_header_encode(n->scratch, opcode, (uint16_t)(flags | PROTO_FLAG_REPLY), request_id,
			    n->scratch + PROTO_HEADER_SIZE, (uint32_t)body_len);
	return PROTO_HEADER_SIZE + body_len;
}

static void send_storage_error(struct conn *c, uint8_t opcode, uint32_t request_id, int status)
{
	struct net *n = c->net;
	struct dispatch_out out = {n->scratch + PROTO_HEADER_SIZE, n->scratch_cap - PROTO_HEADER_SIZE, 0, 0, 0, NULL};

	dispatch_error(&out, PROTO_ST_STORAGE, "the change could not be made durable (%s); nothing was applied",
		       store_strerror(status));
	out_append(c, n->scratch, frame_reply(n, opcode, 0, request_id, out.len));
}

/* ---- waiting for durability ---------------------------------------------------- */

static void parked_done(struct store_waiter *w, int status)
{
	struct parked *p = (struct parked *)w;
	struct conn *c = p->conn;

	c->parked--;
	if (c->state != CONN_CLOSED) {
		if (status == 0)
			out_append(c, p->frame, p->len);
		else
			send_storage_error(c, p->opcode, p->request_id, status);
		if (c->state == CONN_PAUSED || c->state == CONN_DRAINING)
			mark_resume(c);
	}
	free(p);
	conn_unref(c);
}

static void deferred_done(struct store_waiter *w, int status)
{
	struct deferred *q = (struct deferred *)w;
	struct net *n = q->conn->net;

	/* Run it again after the commit is fully handled, not from inside it. */
	q->status = status;
	q->next = NULL;
	*n->ready_tail = q;
	n->ready_tail = &q->next;
}

static void emit(struct conn *c, const struct proto_header *h, const struct dispatch_out *out)
{
	struct net *n = c->net;
	size_t len = frame_reply(n, h->opcode, out->flags, h->request_id, out->len);
	struct parked *p;

	if (out->wait_seq <= store_durable_seq(n->store)) {
		out_append(c, n->scratch, len);
		return;
	}
	p = xrealloc(NULL, sizeof *p + len);
	p->conn = c;
	p->opcode = h->opcode;
	p->request_id = h->request_id;
	p->len = (uint32_t)len;
	p->w.done = parked_done;
	memcpy(p->frame, n->scratch, len);
	c->parked++;
	c->refs++;
	store_wait(n->store, out->wait_seq, &p->w);
}

static void defer(struct conn *c, const struct proto_header *h, const uint8_t *body, uint64_t seq)
{
	struct deferred *q = xrealloc(NULL, sizeof *q + h->body_len);

	q->conn = c;
	q->h = *h;
	q->status = 0;
	q->w.done = deferred_done;
	memcpy(q->body, body, h->body_len);
	c->parked++;
	c->refs++;
	store_wait(c->net->store, seq, &q->w);
}

static void on_idle(uv_idle_t *h);

static void cont_append(struct net *n, struct continuing *k)
{
	k->next = NULL;
	*n->cont_tail = k;
	n->cont_tail = &k->next;
	if (!n->idling) {
		n->idling = 1;
		uv_idle_start(&n->idle, on_idle);
	}
}

static void continue_later(struct conn *c, const struct proto_header *h, struct dispatch_cont *cont)
{
	struct continuing *k = xrealloc(NULL, sizeof *k);

	k->conn = c;
	k->h = *h;
	k->cont = cont;
	c->parked++;
	c->refs++;
	cont_append(c->net, k);
}

/* One slice of each continuing request; those done reply, the rest go round again. */
static void on_idle(uv_idle_t *handle)
{
	struct net *n = handle->data;
	struct continuing *list = n->cont_head, *k;

	n->cont_head = NULL;
	n->cont_tail = &n->cont_head;
	while ((k = list)) {
		struct conn *c = k->conn;

		list = k->next;
		if (c->state != CONN_CLOSED) {
			struct dispatch_out out = {n->scratch + PROTO_HEADER_SIZE, n->scratch_cap - PROTO_HEADER_SIZE,
						   0, 0, 0, NULL};

			if (dispatch_continue(n->d, k->cont, &out) == DISPATCH_CONTINUE) {
				k->cont = out.cont;
				cont_append(n, k);
				continue;
			}
			c->parked--;
			emit(c, &k->h, &out);
			mark_resume(c);
		} else {
			dispatch_cont_free(k->cont);
			c->parked--;
		}
		conn_unref(c);
		free(k);
	}
	if (!n->cont_head && n->idling) {
		n->idling = 0;
		uv_idle_stop(&n->idle);
	}
	/* Send what finished now: with the idle handle stopped, the loop may
	 * next block in poll until a timer, and the flush of the check phase
	 * would wait for it. */
	net_flush(n);
}

/* ---- reading -------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	if (c->rcap - c->rlen < READ_CHUNK) {
		c->rcap = c->rlen + READ_CHUNK;
		c->rbuf = xrealloc(c->rbuf, c->rcap);
	}
	*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned int)(c->rcap - c->rlen));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;

	(void)buf;
	if (nread < 0) {
		/* EOF or error: replies still parked are dropped when they come due. */
		conn_close(c);
		return;
	}
	if (c->state == CONN_PENALTY) {
		/* Read only to see the peer leave; a refused HELLO ends the session. */
		c->rlen = 0;
		return;
	}
	c->rlen += (size_t)nread;
	c->last_rx_ms = uv_now(c->net->loop);
	conn_process(c);
}

static void set_reading(struct conn *c, int on)
{
	if (c->state == CONN_CLOSED || c->uv_reading == on)
		return;
	if (on) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
			conn_close(c);
			return;
		}
	} else {
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
	c->uv_reading = on;
}

/* Whether this connection must not take more frames now. */
static int held_back(const struct conn *c)
{
	return c->net->stopping || c->blocked || c->parked >= c->net->cfg.max_inflight || c->wlen >= WBUF_HIGH;
}

static uint16_t reply_status(const struct dispatch_out *out)
{
	struct proto_rbuf r;
	uint16_t st = PROTO_ST_INTERNAL;

	proto_rbuf_init(&r, out->body, out->len);
	proto_reply_status(&r, &st);
	return st;
}

/* Stop reading and close once drained: for a connection whose key was revoked. */
static void conn_drain(struct conn *c)
{
	if (c->state == CONN_CLOSED || c->state == CONN_DRAINING)
		return;
	c->state = CONN_DRAINING;
	c->rlen = 0;
	set_reading(c, 0);
	mark_flush(c);
}

static void drop_revoked(struct net *n)
{
	for (struct conn *c = n->conns; c; c = c->next)
		if (c->sess.authed && !dispatch_session_valid(n->d, &c->sess))
			conn_drain(c);
}

/*
 * The failure record of c's address, a new one if it has none. A new
 * address takes the slot quiet longest (an empty one first) among those
 * with no reply held back: a held reply counts itself in its slot, so that
 * slot must stay its address's. NULL when every slot has held replies.
 */
static struct hello_fail *fail_slot(struct net *n, const struct conn *c, uint64_t now)
{
	struct hello_fail *f, *oldest = NULL;

	for (f = n->fails; f < n->fails + HELLO_FAIL_SLOTS; f++) {
		if (f->peer_len == c->peer_len && !memcmp(f->peer, c->peer, c->peer_len))
			return f;
		if (!f->held && (!oldest || f->last_ms < oldest->last_ms))
			oldest = f;
	}
	if (!oldest)
		return NULL;
	memset(oldest, 0, sizeof *oldest);
	memcpy(oldest->peer, c->peer, c->peer_len);
	oldest->peer_len = c->peer_len;
	oldest->last_ms = now;
	return oldest;
}

/* Refuse a wrong HELLO with BUSY now, when its AUTH reply may not be held back. */
static void hello_refuse_busy(struct conn *c, const struct proto_header *h, const char *why)
{
	struct net *n = c->net;
	struct dispatch_out out = {n->scratch + PROTO_HEADER_SIZE, n->scratch_cap - PROTO_HEADER_SIZE, 0, 0, 0, NULL};

	dispatch_error(&out, PROTO_ST_BUSY, "%s; try again later", why);
	emit(c, h, &out);
}

/*
 * Answer a refused HELLO, whose AUTH reply dispatch left in out, and count
 * it against its address (PROTOCOL.md, "Failed HELLOs"). The first
 * HELLO_FAIL_FREE failures within the window are answered now. After
 * those the reply is held back, from this HELLO on, and sent by on_sweep;
 * meanwhile the connection is CONN_PENALTY and closes at once if its peer
 * leaves. An address with HELLO_HELD_PER_ADDRESS replies held back already
 * gets BUSY now instead. Either way the connection then closes.
 *
 * Held replies to one address are not queued one after another: a queue
 * made a flood of closed connections into hours of wait for whoever came
 * next from that address, and it did not slow a guesser, who need not wait
 * for a wrong answer when a right one comes at once. The cap per address
 * bounds what parallel connections get instead.
 */
static void hello_refused(struct conn *c, const struct proto_header *h, const struct dispatch_out *out)
{
	struct net *n = c->net;
	uint64_t now = uv_now(n->loop), delay;
	uint32_t over;
	struct hello_fail *f;
	struct held *hr, **pp;
	size_t len;

	c->state = CONN_DRAINING;
	if (!c->peer_len) {
		emit(c, h, out);
		return;
	}
	f = fail_slot(n, c, now);
	if (!f) {
		/* HELLO_FAIL_SLOTS addresses all have replies held back: an
		 * attack from many addresses. Forgetting one to make room would
		 * let it start afresh, so the newcomer is refused instead. */
		hello_refuse_busy(c, h, "too many failed HELLOs at once");
		return;
	}
	if (now - f->last_ms > HELLO_FAIL_WINDOW_MS)
		f->count = 0;
	f->count++;
	f->last_ms = now;
	if (f->count <= HELLO_FAIL_FREE) {
		emit(c, h, out);
		return;
	}
	if (f->held >= HELLO_HELD_PER_ADDRESS) {
		hello_refuse_busy(c, h, "too many failed HELLOs from this address are waiting for their replies");
		return;
	}
	over = f->count - HELLO_FAIL_FREE - 1;
	delay = over >= 5 ? HELLO_DELAY_MAX_MS : (uint64_t)HELLO_DELAY_FIRST_MS << over;
	if (delay > HELLO_DELAY_MAX_MS)
		delay = HELLO_DELAY_MAX_MS;

	len = frame_reply(n, h->opcode, out->flags, h->request_id, out->len);
	hr = xrealloc(NULL, sizeof *hr + len);
	hr->conn = c;
	hr->fail = f;
	hr->due_ms = now + delay;
	hr->len = (uint32_t)len;
	memcpy(hr->frame, n->scratch, len);
	for (pp = &n->held; *pp && (*pp)->due_ms <= hr->due_ms; pp = &(*pp)->next)
		;
	hr->next = *pp;
	*pp = hr;
	f->held++;
	c->held = hr;
	c->parked++;
	c->refs++;
	c->state = CONN_PENALTY;
}

/* Run one frame. Returns 0 if it was consumed, 1 if processing must stop before it. */
static int run_frame(struct conn *c, const struct proto_header *h, const uint8_t *body)
{
	struct net *n = c->net;
	struct dispatch_out out = {n->scratch + PROTO_HEADER_SIZE, n->scratch_cap - PROTO_HEADER_SIZE, 0, 0, 0, NULL};

	switch (dispatch_request(n->d, &c->sess, h, body, &out)) {
	case DISPATCH_BLOCKED:
		c->blocked = 1;
		mark_resume(c);
		return 1;
	case DISPATCH_DEFER:
		defer(c, h, body, out.wait_seq);
		return 0;
	case DISPATCH_CONTINUE:
		continue_later(c, h, out.cont);
		return 0;
	case DISPATCH_REPLY_CLOSE:
		if (h->opcode == PROTO_OP_HELLO && reply_status(&out) == PROTO_ST_AUTH) {
			hello_refused(c, h, &out); /* DRAINING, or PENALTY while its reply is held back */
			return 1;
		}
		emit(c, h, &out);
		c->state = CONN_DRAINING;
		return 1;
	case DISPATCH_REPLY:
		emit(c, h, &out);
		if (h->opcode == PROTO_OP_KEY_REVOKE && reply_status(&out) == PROTO_OK)
			drop_revoked(n);
		return 0;
	}
	return 0;
}

static void conn_process(struct conn *c)
{
	struct net *n = c->net;
	size_t off = 0;

	while (c->state == CONN_READING || c->state == CONN_PAUSED) {
		struct proto_header h;
		const uint8_t *body;
		size_t flen;
		int rc;

		if (held_back(c)) {
			c->state = CONN_PAUSED;
			break;
		}
		c->state = CONN_READING;
		memset(&h, 0, sizeof h);
		rc = proto_frame_decode(c->rbuf + off, c->rlen - off, n->d->max_body, &h, &body, &flen);
		if (rc == 0)
			break;
		if (rc < 0) {
			/* h is the bad header where it could be read, zeros otherwise. */
			struct dispatch_out out = {n->scratch + PROTO_HEADER_SIZE, n->scratch_cap - PROTO_HEADER_SIZE, 0, 0, 0, NULL};
			dispatch_frame_error(rc, &out);
			emit(c, &h, &out);
			c->state = CONN_DRAINING;
			break;
		}
		if (run_frame(c, &h, body))
			break;
		off += flen;
	}
	/* run_frame stops before a blocked frame without consuming it, and
	 * after a closing frame; either way the consumed prefix goes. */
	if (c->state == CONN_DRAINING || c->state == CONN_PENALTY) {
		c->rlen = 0;
	} else if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	/* The frame timeout runs from the first byte of the frame now waiting. */
	if (!c->rlen)
		c->frame_start_ms = 0;
	else if (off || !c->frame_start_ms)
		c->frame_start_ms = uv_now(n->loop);
	if (c->state == CONN_CLOSED)
		return;
	/* A connection in PENALTY is still read, so that its peer's leaving is seen at once. */
	set_reading(c, c->state == CONN_READING || c->state == CONN_PENALTY);
	if (c->state == CONN_DRAINING)
		mark_flush(c);
}

void net_after_commit(struct net *n)
{
	struct conn *c;
	struct deferred *q;

	while ((q = n->ready_head)) {
		n->ready_head = q->next;
		if (!n->ready_head)
			n->ready_tail = &n->ready_head;
		c = q->conn;
		c->parked--;
		if (c->state != CONN_CLOSED) {
			if (q->status)
				send_storage_error(c, q->h.opcode, q->h.request_id, q->status);
			else
				run_frame(c, &q->h, q->body);
			mark_resume(c);
		}
		free(q);
		conn_unref(c);
	}
	run_resumes(n, 1);
}

/*
 * Run the connections marked for resuming. After a commit every one of them
 * (a connection blocked on a full batch retries its frame); otherwise only
 * those not waiting for room in the batch, which stay marked.
 */
static void run_resumes(struct net *n, int after_commit)
{
	struct conn *c = n->resume_head, *keep = NULL;

	n->resume_head = NULL;
	while (c) {
		struct conn *next = c->resume_next;
		if (!after_commit && c->blocked) {
			c->resume_next = keep;
			keep = c;
			c = next;
			continue;
		}
		c->in_resume = 0;
		c->blocked = 0;
		conn_process(c);
		if (c->state == CONN_DRAINING)
			mark_flush(c);
		conn_unref(c);
		c = next;
	}
	/* Put the kept ones back in front of any marked meanwhile. */
	while (keep) {
		struct conn *next = keep->resume_next;
		keep->resume_next = n->resume_head;
		n->resume_head = keep;
		keep = next;
	}
}

/* ---- timeouts and held replies ------------------------------------------------ */

static void timeout_close(struct conn *c, const char *what, uint32_t secs)
{
	struct net *n = c->net;
	struct dispatch_out out = {n->scratch + PROTO_HEADER_SIZE, n->scratch_cap - PROTO_HEADER_SIZE, 0, 0, 0, NULL};
	struct proto_header none = {0};

	dispatch_error(&out, PROTO_ST_PROTOCOL, "%s within %u s (frame timeout): closing", what, secs);
	emit(c, &none, &out);
	conn_drain(c);
}

static void on_sweep(uv_timer_t *t)
{
	struct net *n = t->data;
	uint64_t now = uv_now(n->loop);
	uint64_t frame_ms = (uint64_t)n->cfg.frame_timeout * 1000, idle_ms = (uint64_t)n->cfg.idle_timeout * 1000;

	while (n->held && n->held->due_ms <= now) {
		struct held *hr = n->held;
		struct conn *c = hr->conn;

		/* Still open and in PENALTY: closing it would have dropped hr. */
		n->held = hr->next;
		hr->fail->held--;
		c->held = NULL;
		c->parked--;
		out_append(c, hr->frame, hr->len);
		conn_drain(c);
		free(hr);
		conn_unref(c);
	}
	/* Connections every few turns: a timeout is seconds, not 100 ms. */
	if (++n->sweep_turn % 5)
		return;
	for (struct conn *c = n->conns; c; c = c->next) {
		/* A client that takes none of its replies for the idle timeout is
		 * gone or hostile: whatever it is owed goes with it. */
		if (idle_ms && c->writing && c->state != CONN_CLOSED && now - c->last_tx_ms >= idle_ms) {
			conn_close(c);
			continue;
		}
		if (c->state != CONN_READING)
			continue; /* held back by us, closing, or closed: not the client's fault */
		if (frame_ms && c->frame_start_ms && now - c->frame_start_ms >= frame_ms)
			timeout_close(c, "frame not completed", n->cfg.frame_timeout);
		else if (frame_ms && !c->sess.authed && now - c->accepted_ms >= frame_ms)
			timeout_close(c, "no HELLO", n->cfg.frame_timeout);
		else if (idle_ms && !c->rlen && !c->parked && !c->wlen && !c->writing && now - c->last_rx_ms >= idle_ms)
			conn_close(c);
	}
}

/* ---- accepting ---------------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
	struct net *n = server->data;
	struct conn *c;

	if (status < 0) {
		fprintf(stderr, "accrued: accept failed: %s\n", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->net = n;
	c->refs = 1;
	c->tcp.data = c;
	uv_tcp_init(n->loop, &c->tcp);
	c->next = n->conns;
	if (n->conns)
		n->conns->prev = c;
	n->conns = c;
	n->nconns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->accepted_ms = c->last_rx_ms = c->last_tx_ms = uv_now(n->loop);
	{
		struct sockaddr_storage sa;
		int salen = sizeof sa;
		if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
			if (sa.ss_family == AF_INET) {
				memcpy(c->peer, &((struct sockaddr_in *)&sa)->sin_addr, 4);
				c->peer_len = 4;
			} else if (sa.ss_family == AF_INET6) {
				memcpy(c->peer, &((struct sockaddr_in6 *)&sa)->sin6_addr, 16);
				c->peer_len = 16;
			}
		}
	}
	if (n->stopping || n->nconns > n->cfg.max_connections) {
		struct dispatch_out out = {n->scratch + PROTO_HEADER_SIZE, n->scratch_cap - PROTO_HEADER_SIZE, 0, 0, 0, NULL};
		struct proto_header none = {0};
		if (n->stopping)
			dispatch_error(&out, PROTO_ST_SHUTTING_DOWN, "the server is stopping");
		else
			dispatch_error(&out, PROTO_ST_BUSY, "too many connections (limit %u)", n->cfg.max_connections);
		none.opcode = PROTO_OP_HELLO;
		emit(c, &none, &out);
		c->state = CONN_DRAINING;
		return;
	}
	c->state = CONN_READING;
	set_reading(c, 1);
}

static int parse_listen(const char *spec, struct sockaddr_storage *sa, char *err, size_t errlen)
{
	struct addr_host_port a;
	char why[160];

	/* Port 0 stays valid: the daemon then listens on any free port and reports
	 * the one it bound, which is how the tests start it. */
	if (addr_parse(spec, ADDR_PORT_ZERO, &a, why, sizeof why) != 0) {
		snprintf(err, errlen, "cannot parse listen address \"%s\": %s", spec, why);
		return -1;
	}
	if (uv_ip4_addr(a.host, a.port, (struct sockaddr_in *)sa) == 0 ||
	    uv_ip6_addr(a.host, a.port, (struct sockaddr_in6 *)sa) == 0)
		return 0;
	snprintf(err, errlen, "cannot parse listen address \"%s\" (want HOST:PORT with a numeric host)", spec);
	return -1;
}

static void on_failed_listener_closed(uv_handle_t *h)
{
	struct net *n = h->data;
	free(n->scratch);
	free(n);
}

int net_start(struct net **out, uv_loop_t *loop, struct dispatch *d, struct store *s, const struct net_config *cfg,
	      char *bound, size_t bound_len, char *err, size_t errlen)
{
	struct sockaddr_storage sa, got;
	struct net *n;
	int rc, len = sizeof got;
	char host[64];

	*out = NULL;
	if (parse_listen(cfg->listen, &sa, err, errlen))
		return -1;
	n = calloc(1, sizeof *n);
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n->loop = loop;
	n->d = d;
	n->store = s;
	n->cfg = *cfg;
	n->ready_tail = &n->ready_head;
	n->cont_tail = &n->cont_head;
	n->scratch_cap = PROTO_HEADER_SIZE + (size_t)d->max_body;
	n->scratch = malloc(n->scratch_cap);
	uv_tcp_init(loop, &n->listener);
	n->listener.data = n;
	n->listening = 1;
	if (!n->scratch) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = uv_tcp_bind(&n->listener, (const struct sockaddr *)&sa, 0)) ||
	    (rc = uv_listen((uv_stream_t *)&n->listener, 1024, on_connection))) {
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, uv_strerror(rc));
		goto fail;
	}
	uv_tcp_getsockname(&n->listener, (struct sockaddr *)&got, &len);
	if (got.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&got, host, sizeof host);
		snprintf(bound, bound_len, "[%s]:%d", host, ntohs(((struct sockaddr_in6 *)&got)->sin6_port));
	} else {
		uv_ip4_name((struct sockaddr_in *)&got, host, sizeof host);
		snprintf(bound, bound_len, "%s:%d", host, ntohs(((struct sockaddr_in *)&got)->sin_port));
	}
	uv_timer_init(loop, &n->sweep);
	n->sweep.data = n;
	uv_timer_start(&n->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	n->sweeping = 1;
	uv_idle_init(loop, &n->idle);
	n->idle.data = n;
	n->idle_open = 1;
	*out = n;
	return 0;
fail:
	/* The listener is a live handle: close it, and free n once it is closed
	 * (the caller runs the loop to let that happen). */
	n->listening = 0;
	uv_close((uv_handle_t *)&n->listener, on_failed_listener_closed);
	return -1;
}

void net_stop_reading(struct net *n)
{
	n->stopping = 1;
	if (n->listening) {
		uv_close((uv_handle_t *)&n->listener, NULL);
		n->listening = 0;
	}
	for (struct conn *c = n->conns; c; c = c->next)
		if (c->state == CONN_READING) {
			c->state = CONN_PAUSED;
			set_reading(c, 0);
		}
}

void net_close(struct net *n)
{
	struct conn *c = n->conns;

	while (c) {
		struct conn *next = c->next;
		conn_close(c);
		c = next;
	}
	while (n->flush_head) {
		c = n->flush_head;
		n->flush_head = c->flush_next;
		c->in_flush = 0;
		conn_unref(c);
	}
	while (n->resume_head) {
		c = n->resume_head;
		n->resume_head = c->resume_next;
		c->in_resume = 0;
		conn_unref(c);
	}
	while (n->ready_head) {
		struct deferred *q = n->ready_head;
		n->ready_head = q->next;
		q->conn->parked--;
		conn_unref(q->conn);
		free(q);
	}
	n->ready_tail = &n->ready_head;
	while (n->cont_head) {
		struct continuing *k = n->cont_head;
		n->cont_head = k->next;
		dispatch_cont_free(k->cont);
		k->conn->parked--;
		conn_unref(k->conn);
		free(k);
	}
	n->cont_tail = &n->cont_head;
	n->idling = 0;
	if (n->idle_open) {
		n->idle_open = 0;
		uv_close((uv_handle_t *)&n->idle, NULL);
	}
	/* n->held is empty now: closing each connection dropped its held reply. */
	if (n->sweeping) {
		n->sweeping = 0;
		uv_close((uv_handle_t *)&n->sweep, NULL);
	}
	if (n->listening) {
		n->listening = 0;
		uv_close((uv_handle_t *)&n->listener, NULL);
	}
}

void net_free(struct net *n)
{
	if (!n)
		return;
	free(n->scratch);
	free(n);
}

uint32_t net_connection_count(const struct net *n)
{
	return n->nconns;
}
