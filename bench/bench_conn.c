/*
 * bench_conn.c - one accrue-bench connection: connect, say HELLO, write
 * the frames bench_load.c encoded, read the replies and match each to its
 * request by id, and close.
 *
 * Reads land in one buffer shared by every connection, because a read
 * nearly always ends on a frame boundary; only the tail of a partial frame
 * is copied into the connection's own buffer to wait for the rest.
 */
#include "bench_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- connection life ------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (c->b->conns[c->index] == c)
		c->b->conns[c->index] = NULL;
	free(c->slots);
	free(c->free_slots);
	free(c->wbuf);
	free(c->rbuf);
	free(c->hist);
	free(c);
}

void conn_close(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	c->b->nlive--;
	if (c->hist)
		hist_merge(c->b->hist, c->hist);
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* Take a slot off the stack and give it a fresh request id. */
struct slot *slot_take(struct conn *c)
{
	uint32_t n = c->free_slots[--c->nfree];
	struct slot *s = &c->slots[n];
	uint32_t generations = UINT32_MAX / c->depth;

	s->request_id = (c->uses++ % generations) * c->depth + n;
	return s;
}

void slot_release(struct conn *c, struct slot *s)
{
	s->kind = KIND_NONE;
	c->free_slots[c->nfree++] = (uint32_t)(s - c->slots);
}

/* The connection broke: everything it had in flight is lost. */
static void conn_lost(struct conn *c, const char *why)
{
	struct bench *b = c->b;

	if (c->state == CONN_CLOSED)
		return;
	if (b->phase != PHASE_DONE && !b->failed) {
		if (c->state != CONN_READY)
			bench_fail(b, EXIT_CONNECT, "connection to %s failed: %s", b->opt.server, why);
		else if (c->enrol)
			bench_fail(b, EXIT_NOTHING, "an enrolment connection failed: %s", why);
		else
			fprintf(stderr, "accrue-bench: connection %u lost: %s\n", c->index, why);
	}
	for (uint32_t i = 0; i < c->depth; i++) {
		struct slot *s = &c->slots[i];
		if (s->kind == KIND_NONE)
			continue;
		if (s->measured) {
			b->errors[ERR_CONNECTION_LOST]++;
			b->done_measured++;
		}
		slot_release(c, s);
	}
	conn_close(c);
	bench_check_progress(b);
}

int buf_reserve(uint8_t **buf, size_t *cap, size_t used, size_t need)
{
	size_t ncap;
	uint8_t *p;

	if (*cap - used >= need)
		return 0;
	ncap = *cap ? *cap : 4096;
	while (ncap - used < need)
		ncap *= 2;
	p = realloc(*buf, ncap);
	if (!p)
		return -1;
	*buf = p;
	*cap = ncap;
	return 0;
}

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->writing = 0;
	if (c->state == CONN_CLOSED)
		return;
	if (status < 0) {
		conn_lost(c, uv_strerror(status));
		return;
	}
	if (c->refill_wanted)
		conn_refill(c);
}

/*
 * Send what was encoded into the write buffer: written at once where the
 * socket takes it all (nearly always), else the rest by uv_write. A
 * uv_write that completes still costs an epoll_ctl when it is retired, one
 * syscall per request taken from the daemon on a shared machine.
 */
void conn_flush(struct conn *c)
{
	uv_buf_t buf;
	int rc, n;

	if (c->wlen == 0)
		return;
	buf = uv_buf_init((char *)c->wbuf, (unsigned)c->wlen);
	n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	if (n == (int)c->wlen)
		return;
	if (n < 0 && n != UV_EAGAIN) {
		conn_lost(c, uv_strerror(n));
		return;
	}
	if (n > 0)
		buf = uv_buf_init((char *)c->wbuf + n, (unsigned)(c->wlen - (size_t)n));
	rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
	if (rc) {
		conn_lost(c, uv_strerror(rc));
		return;
	}
	c->writing = 1;
}

/* ---- replies --------------------------------------------------------- */

static void on_hello_reply(struct conn *c, const struct proto_header *h, const uint8_t *body)
{
	struct bench *b = c->b;
	struct proto_rbuf r;
	struct proto_hello_rep rep;
	uint16_t status;

	proto_rbuf_init(&r, body, h->body_len);
	if (proto_reply_status(&r, &status)) {
		conn_lost(c, "undecodable HELLO reply");
		return;
	}
	if (status != PROTO_OK) {
		struct proto_str msg = {"", 0};
		proto_reply_error_decode(&r, &msg);
		bench_fail(b, EXIT_CONNECT, "HELLO refused: %s: %.*s", proto_status_name(status), (int)msg.len,
			   msg.ptr);
		return;
	}
	if (proto_hello_rep_decode(body + 2, h->body_len - 2, &rep)) {
		conn_lost(c, "undecodable HELLO reply");
		return;
	}
	b->max_body = rep.max_body;
	b->max_inflight = rep.max_inflight;
	c->state = CONN_READY;
	b->nready++;
}

static void on_enrol_reply(struct conn *c, struct slot *s, uint16_t status, struct proto_rbuf *r, const uint8_t *body,
			   size_t len)
{
	struct bench *b = c->b;
	struct proto_customer cust;

	if (status != PROTO_OK) {
		struct proto_str msg = {"", 0};
		proto_reply_error_decode(r, &msg);
		bench_fail(b, EXIT_NOTHING, "enrolment %" PRIu32 " refused: %s: %.*s", s->tag, proto_status_name(status),
			   (int)msg.len, msg.ptr);
		return;
	}
	if (proto_customer_rep_decode(body + 2, len - 2, &cust)) {
		bench_fail(b, EXIT_NOTHING, "enrolment %" PRIu32 ": undecodable reply", s->tag);
		return;
	}
	b->customer_ids[s->tag] = cust.id;
	b->enrolled++;
}

/* Count an ACCRUE_BATCH reply's items: OK ones as sales, the others by status. */
static void on_batch_items(struct bench *b, const struct slot *s, struct proto_rbuf *r)
{
	struct proto_batch_item it;
	uint16_t count;

	if (proto_batch_rep_begin(r, &count) || count != s->tag) {
		count_error(b, s->measured, ERR_BAD_REPLY, 1, proto_str_c("undecodable ACCRUE_BATCH reply"));
		return;
	}
	for (uint16_t i = 0; i < count; i++) {
		if (proto_batch_item_next(r, &it)) {
			count_error(b, s->measured, ERR_BAD_REPLY, 1, proto_str_c("undecodable ACCRUE_BATCH item"));
			return;
		}
		if (it.status == PROTO_OK) {
			b->sales_ok_total++;
			if (s->measured)
				b->sales_ok++;
		} else {
			count_error(b, s->measured, err_slot(it.status), 1, it.message);
		}
	}
}

/* One reply frame. Returns 0, or -1 if the connection was closed. */
static int on_reply(struct conn *c, const struct proto_header *h, const uint8_t *body, uint64_t now)
{
	struct bench *b = c->b;
	struct proto_rbuf r;
	struct slot *s;
	uint16_t status;

	if (!(h->flags & PROTO_FLAG_REPLY)) {
		conn_lost(c, "a frame without the REPLY flag");
		return -1;
	}
	if (c->state == CONN_GREETING) {
		on_hello_reply(c, h, body);
		return c->state == CONN_READY ? 0 : -1;
	}
	s = &c->slots[h->request_id % c->depth];
	if (s->kind == KIND_NONE || s->request_id != h->request_id) {
		/* A refusal of a whole frame (PROTOCOL) may come with id 0. */
		proto_rbuf_init(&r, body, h->body_len);
		if (proto_reply_status(&r, &status) == 0 && status != PROTO_OK) {
			struct proto_str msg = {"", 0};
			proto_reply_error_decode(&r, &msg);
			fprintf(stderr, "accrue-bench: connection %u: %s: %.*s\n", c->index, proto_status_name(status),
				(int)msg.len, msg.ptr);
		}
		b->errors[ERR_BAD_REPLY]++;
		conn_lost(c, "a reply to no request in flight");
		return -1;
	}
	proto_rbuf_init(&r, body, h->body_len);
	if (proto_reply_status(&r, &status)) {
		count_error(b, s->measured, ERR_BAD_REPLY, 1, proto_str_c("reply without a status"));
		status = UINT16_MAX;
	} else if (s->kind == KIND_ENROL) {
		on_enrol_reply(c, s, status, &r, body, h->body_len);
	} else if (status != PROTO_OK) {
		struct proto_str msg = {"", 0};
		proto_reply_error_decode(&r, &msg);
		count_error(b, s->measured, err_slot(status), 1, msg);
	} else if (s->kind == KIND_ACCRUE) {
		b->sales_ok_total++;
		if (s->measured)
			b->sales_ok++;
	} else if (s->kind == KIND_BATCH) {
		on_batch_items(b, s, &r);
	} else if (s->kind == KIND_LOOKUP) {
		if (s->measured)
			b->lookups_ok++;
	}
	if (s->measured) {
		b->ops++;
		b->done_measured++;
		hist_record(c->hist, now - s->sent_ns);
		if (b->opt.requests && b->done_measured == b->opt.requests)
			b->run_end_ns = now;
	}
	slot_release(c, s);
	return c->state == CONN_CLOSED ? -1 : 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	if (c->rlen == 0) {
		*buf = uv_buf_init((char *)c->b->rshared, (unsigned)READ_SHARED_SIZE);
		return;
	}
	/* A partial frame is waiting: read the rest in behind it. */
	if (buf_reserve(&c->rbuf, &c->rcap, c->rlen, READ_GROW)) {
		*buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
		return;
	}
	*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	struct bench *b = c->b;
	const uint8_t *data;
	size_t len, off = 0;
	int shared;
	uint64_t now;

	if (nread == 0 || c->state == CONN_CLOSED)
		return;
	if (nread < 0) {
		conn_lost(c, nread == UV_EOF ? "closed by the server" : uv_strerror((int)nread));
		return;
	}
	now = uv_hrtime();
	shared = buf->base == (char *)b->rshared;
	data = shared ? b->rshared : c->rbuf;
	len = shared ? (size_t)nread : c->rlen + (size_t)nread;
	for (;;) {
		struct proto_header h;
		const uint8_t *body;
		size_t flen;
		int rc = proto_frame_decode(data + off, len - off, PROTO_MAX_BODY_HARD, &h, &body, &flen);

		if (rc == 0)
			break;
		if (rc < 0) {
			b->errors[ERR_BAD_REPLY]++;
			conn_lost(c, proto_errstr(rc));
			return;
		}
		off += flen;
		if (on_reply(c, &h, body, now))
			break;
	}
	if (c->state != CONN_CLOSED) {
		size_t rest = len - off;
		if (shared) {
			if (rest && buf_reserve(&c->rbuf, &c->rcap, 0, rest)) {
				bench_fail(b, EXIT_NOTHING, "out of memory for a read buffer");
				return;
			}
			if (rest)
				memcpy(c->rbuf, data + off, rest);
		} else if (off) {
			memmove(c->rbuf, c->rbuf + off, rest);
		}
		c->rlen = rest;
	}
	bench_check_progress(b);
	if (c->state == CONN_READY)
		conn_refill(c);
}

/* ---- opening --------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct bench *b = c->b;
	struct proto_hello_req hello;
	struct proto_wbuf w;
	int rc;

	if (c->state == CONN_CLOSED)
		return;
	if (status < 0) {
		conn_lost(c, uv_strerror(status));
		return;
	}
	rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc) {
		conn_lost(c, uv_strerror(rc));
		return;
	}
	c->state = CONN_GREETING;
	if (buf_reserve(&c->wbuf, &c->wcap, 0, PROTO_HEADER_SIZE + 4 + PROTO_MAX_APIKEY)) {
		bench_fail(b, EXIT_NOTHING, "out of memory");
		return;
	}
	hello.version = PROTO_VERSION;
	hello.api_key = proto_str_c(b->api_key);
	proto_wbuf_init(&w, c->wbuf + PROTO_HEADER_SIZE, c->wcap - PROTO_HEADER_SIZE);
	proto_hello_req_encode(&w, &hello);
	proto_header_encode(c->wbuf, PROTO_OP_HELLO, 0, 0, c->wbuf + PROTO_HEADER_SIZE, (uint32_t)w.len);
	c->wlen = PROTO_HEADER_SIZE + w.len;
	conn_flush(c);
}

struct conn *conn_open(struct bench *b, uint32_t index, uint32_t depth, int enrol)
{
	struct conn *c = calloc(1, sizeof *c);
	int rc;

	if (!c)
		return NULL;
	c->b = b;
	c->index = index;
	c->enrol = enrol;
	c->depth = depth;
	c->slots = calloc(depth, sizeof *c->slots);
	c->free_slots = malloc(depth * sizeof *c->free_slots);
	c->hist = enrol ? NULL : calloc(1, sizeof *c->hist);
	if (!c->slots || !c->free_slots || (!enrol && !c->hist)) {
		free(c->slots);
		free(c->free_slots);
		free(c->hist);
		free(c);
		return NULL;
	}
	/* Pushed in reverse so that slot 0 goes out first. */
	for (uint32_t i = 0; i < depth; i++)
		c->free_slots[i] = depth - 1 - i;
	c->nfree = depth;
	c->uses = 1; /* request id 0 is the HELLO's */
	c->tcp.data = c;
	c->connect_req.data = c;
	c->write_req.data = c;
	uv_tcp_init(b->loop, &c->tcp);
	b->conns[index] = c;
	b->nlive++;
	c->state = CONN_CONNECTING;
	uv_tcp_nodelay(&c->tcp, 1);
	rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&b->addr, on_connect);
	if (rc) {
		conn_lost(c, uv_strerror(rc));
		return NULL;
	}
	return c;
}
