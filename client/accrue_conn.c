/*
 * accrue_conn.c - libaccrue's handle and connection: connect, HELLO,
 * framing, reconnect and retry (see accrue.h and accrue_int.h).
 *
 * One handle owns one TCP socket. The socket is kept non-blocking so that
 * every wait is a poll() with a deadline and a slow or dead server can never
 * hang a terminal at the till. A call encodes its request body once, then
 * runs attempts: make sure the connection is up (connect, then HELLO), send
 * the frame with a fresh request id, and read until the reply carrying that
 * id. When the connection is lost the socket is closed and, after a growing
 * pause, the next attempt reconnects and sends the very same body. The body
 * holds the request key, so the server applies it at most once however many
 * times it arrives.
 *
 * All byte order work is done by the codec in proto/; this file only moves
 * whole frames.
 */
#include "accrue_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

/* Linux suppresses SIGPIPE per send(); BSDs and macOS per socket (SO_NOSIGPIPE). */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_RETRIES 5
#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 1000

#define RBUF_INITIAL 16384
#define RBUF_MAX ((size_t)PROTO_HEADER_SIZE + PROTO_MAX_BODY_HARD)

/* ---- small helpers --------------------------------------------------- */

void accrue__message_set(accrue *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->message, sizeof a->message, fmt, ap);
	va_end(ap);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline: 1 ready, 0 timed out, -1 error (errno set). */
static int fd_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p;

	p.fd = fd;
	p.events = events;
	for (;;) {
		int64_t left = deadline - now_ms();
		int rc;

		if (left <= 0)
			return 0;
		p.revents = 0;
		rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc > 0)
			return 1;
		/* poll may wake a millisecond early; the loop re-checks the clock. */
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

static void backoff_sleep(int attempt)
{
	long ms = BACKOFF_FIRST_MS;
	struct timespec ts;

	for (int i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- connection ------------------------------------------------------ */

static void conn_close(accrue *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	a->rlen = 0;
	a->consumed = 0;
	a->max_body = 0;
}

/* Connect one resolved address within timeout_ms. Returns the fd, or -1 with *err set. */
static int socket_connect(const struct addrinfo *ai, int timeout_ms, int *err)
{
	int fd, flags, one = 1, soerr = 0;
	socklen_t len = sizeof soerr;

	fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	/* Descriptors must not leak into programs a POS application runs. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		goto fail;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		int rc;

		if (errno != EINPROGRESS && errno != EINTR)
			goto fail;
		rc = fd_wait(fd, POLLOUT, now_ms() + timeout_ms);
		if (rc == 0)
			errno = ETIMEDOUT;
		if (rc <= 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
			goto fail;
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	/* Requests are single small frames: send each at once, not after 40 ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef SO_NOSIGPIPE
	setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
	return fd;

fail:
	*err = errno;
	close(fd);
	return -1;
}

/*
 * Open the TCP connection. *retryable tells the caller whether trying again
 * later can help: a refused or timed-out connect can (the daemon may be
 * restarting), an unknown host name cannot.
 */
static int conn_open(accrue *a, int *retryable)
{
	struct addrinfo hints, *res = NULL;
	int rc, fd = -1, err = ECONNREFUSED;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(a->host, a->port, &hints, &res);
	if (rc != 0) {
		*retryable = rc == EAI_AGAIN;
		accrue__message_set(a, "cannot connect to %s: cannot resolve %s: %s", a->address, a->host,
			    gai_strerror(rc));
		return ACCRUE_E_CONNECT;
	}
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket_connect(ai, a->timeout_ms, &err);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		*retryable = 1;
		accrue__message_set(a, "cannot connect to %s: %s", a->address,
			    err == ETIMEDOUT ? "timed out" : strerror(err));
		return ACCRUE_E_CONNECT;
	}
	a->fd = fd;
	a->rlen = 0;
	a->consumed = 0;
	return 0;
}

static int send_all(accrue *a, const uint8_t *p, size_t n, int64_t deadline)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(a->fd, p + off, n - off, MSG_NOSIGNAL);
		int rc;

		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			goto lost;
		rc = fd_wait(a->fd, POLLOUT, deadline);
		if (rc == 0) {
			accrue__message_set(a, "no reply from %s within %d ms (request not sent)", a->address,
				    a->timeout_ms);
			return ACCRUE_E_TIMEOUT;
		}
		if (rc < 0)
			goto lost;
	}
	return 0;

lost:
	accrue__message_set(a, "connection to %s lost: %s", a->address, strerror(errno));
	return ACCRUE_E_IO;
}

int accrue__reply_invalid(accrue *a, const char *why)
{
	accrue__message_set(a, "invalid reply from %s: %s", a->address, why);
	return ACCRUE_E_PROTOCOL;
}

/*
 * Look at one whole frame. Returns 0 (a success reply for us, *rep filled),
 * a positive status (a refusal, message copied), a negative error, or 1 when
 * the frame is not ours and the caller should read on.
 */
static int frame_accept(accrue *a, const struct proto_header *h, const uint8_t *body, uint32_t request_id,
			struct reply *rep)
{
	struct proto_rbuf r;
	struct proto_str msg;
	uint16_t status;

	if (!(h->flags & PROTO_FLAG_REPLY))
		return accrue__reply_invalid(a, "a frame without the reply flag");
	proto_rbuf_init(&r, body, h->body_len);
	if (proto_reply_status(&r, &status) != 0)
		return accrue__reply_invalid(a, "a reply without a status");
	if (h->request_id != request_id) {
		/*
		 * Nothing else is in flight: a call that times out closes its
		 * connection, so no late reply can arrive here. A frame with
		 * another id is a notice about the connection: PROTOCOL.md sends
		 * a rejected frame's PROTOCOL or VERSION reply with request id 0,
		 * and a connection refused as it is accepted (over the connection
		 * limit, or the server stopping) gets BUSY or SHUTTING_DOWN with
		 * request id 0 before anything was read. The server is hanging
		 * up, so report it; skip anything else.
		 */
		if (status != PROTO_ST_PROTOCOL && status != PROTO_ST_VERSION &&
		    !(h->request_id == 0 && (status == PROTO_ST_BUSY || status == PROTO_ST_SHUTTING_DOWN)))
			return 1;
	}
	if (status != PROTO_OK) {
		if (proto_reply_error_decode(&r, &msg) != 0)
			return accrue__reply_invalid(a, "a malformed error message");
		accrue__str_copy(a->message, sizeof a->message, msg);
		return status;
	}
	rep->flags = h->flags;
	rep->body = body + r.off;
	rep->len = h->body_len - r.off;
	return 0;
}

/* Read until the reply to request_id is whole (see frame_accept for results). */
static int reply_receive(accrue *a, uint32_t request_id, int64_t deadline, struct reply *rep)
{
	for (;;) {
		struct proto_header h;
		const uint8_t *body;
		size_t frame_len;
		ssize_t n;
		int rc;

		if (a->consumed) {
			memmove(a->rbuf, a->rbuf + a->consumed, a->rlen - a->consumed);
			a->rlen -= a->consumed;
			a->consumed = 0;
		}
		rc = proto_frame_decode(a->rbuf, a->rlen, PROTO_MAX_BODY_HARD, &h, &body, &frame_len);
		if (rc < 0)
			return accrue__reply_invalid(a, proto_errstr(rc));
		if (rc == 1) {
			a->consumed = frame_len;
			rc = frame_accept(a, &h, body, request_id, rep);
			if (rc == 1)
				continue;
			return rc;
		}
		if (a->rlen == a->rcap) {
			/*
			 * The decoder has checked the body length against the hard
			 * limit once the header is in, so a full buffer of RBUF_MAX
			 * would already have held a whole frame.
			 */
			size_t cap = a->rcap * 2 > RBUF_MAX ? RBUF_MAX : a->rcap * 2;
			uint8_t *p;

			if (cap <= a->rcap)
				return accrue__reply_invalid(a, "a frame over the size limit");
			p = realloc(a->rbuf, cap);
			if (!p) {
				accrue__message_set(a, "out of memory reading a reply of more than %zu bytes", a->rcap);
				return ACCRUE_E_NOMEM;
			}
			a->rbuf = p;
			a->rcap = cap;
		}
		n = recv(a->fd, a->rbuf + a->rlen, a->rcap - a->rlen, 0);
		if (n > 0) {
			a->rlen += (size_t)n;
			continue;
		}
		if (n == 0) {
			accrue__message_set(a, "connection to %s closed by the server", a->address);
			return ACCRUE_E_IO;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			rc = fd_wait(a->fd, POLLIN, deadline);
			if (rc > 0)
				continue;
			if (rc == 0) {
				accrue__message_set(a, "no reply from %s within %d ms", a->address, a->timeout_ms);
				return ACCRUE_E_TIMEOUT;
			}
		}
		accrue__message_set(a, "connection to %s lost: %s", a->address, strerror(errno));
		return ACCRUE_E_IO;
	}
}

void accrue__request_init(struct request *rq, uint8_t opcode)
{
	rq->opcode = opcode;
	rq->heap = NULL;
	rq->frame = rq->small;
	proto_wbuf_init(&rq->body, rq->frame + PROTO_HEADER_SIZE, REQUEST_MAX);
}

/* A request whose body may need body_max bytes; ACCRUE_E_NOMEM if they cannot be had. */
int accrue__request_init_sized(accrue *a, struct request *rq, uint8_t opcode, size_t body_max)
{
	accrue__request_init(rq, opcode);
	if (body_max <= REQUEST_MAX)
		return 0;
	rq->heap = malloc(PROTO_HEADER_SIZE + body_max);
	if (!rq->heap) {
		accrue__message_set(a, "out of memory for a request of %zu bytes", body_max);
		return ACCRUE_E_NOMEM;
	}
	rq->frame = rq->heap;
	proto_wbuf_init(&rq->body, rq->frame + PROTO_HEADER_SIZE, body_max);
	return 0;
}

void accrue__request_free(struct request *rq)
{
	free(rq->heap);
	rq->heap = NULL;
}

/* Send one request on the open connection and wait for its reply. */
static int exchange(accrue *a, struct request *rq, struct reply *rep)
{
	uint32_t id = a->next_request_id++;
	size_t len = rq->body.len;
	int64_t deadline = now_ms() + a->timeout_ms;
	int rc;

	/* Request id 0 is left to the server for notices about the connection. */
	if (a->next_request_id == 0)
		a->next_request_id = 1;
	if (rq->body.overflow) {
		accrue__message_set(a, "request does not fit the encode buffer");
		return ACCRUE_E_INVALID;
	}
	if (a->max_body && len > a->max_body) {
		accrue__message_set(a, "request of %zu bytes is over the server's limit of %u", len, (unsigned)a->max_body);
		return ACCRUE_E_INVALID;
	}
	proto_header_encode(rq->frame, rq->opcode, 0, id, rq->frame + PROTO_HEADER_SIZE, (uint32_t)len);
	rc = send_all(a, rq->frame, PROTO_HEADER_SIZE + len, deadline);
	if (rc != 0)
		return rc;
	return reply_receive(a, id, deadline, rep);
}

static int hello(accrue *a)
{
	struct request rq;
	struct reply rep;
	struct proto_hello_req m;
	struct proto_hello_rep h;
	int rc;

	m.version = PROTO_VERSION;
	m.api_key = proto_str_c(a->api_key);
	accrue__request_init(&rq, PROTO_OP_HELLO);
	proto_hello_req_encode(&rq.body, &m);
	rc = exchange(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_hello_rep_decode(rep.body, rep.len, &h) != 0)
		return accrue__reply_invalid(a, "a malformed HELLO reply");
	a->role = h.role;
	a->key_id = h.key_id;
	accrue__str_copy(a->location, sizeof a->location, h.location);
	a->max_body = h.max_body;
	return 0;
}

/* Connect and authenticate; see conn_open for *retryable. */
static int session_open(accrue *a, int *retryable)
{
	int rc;

	*retryable = 0;
	rc = conn_open(a, retryable);
	if (rc != 0)
		return rc;
	rc = hello(a);
	if (rc != 0) {
		*retryable = rc == ACCRUE_E_IO;
		conn_close(a);
	}
	return rc;
}

/*
 * Run one request to its end: reconnect when needed, and after a lost
 * connection re-send the identical body (same request key) up to the retry
 * limit. A refusal by the server, a timeout waiting for a reply and a
 * malformed reply are final. With rq NULL this only makes sure the session
 * is open (accrue_connect).
 */
int accrue__call(accrue *a, struct request *rq, struct reply *rep)
{
	int rc, retryable;

	for (int attempt = 0;; attempt++) {
		if (attempt > 0)
			backoff_sleep(attempt);
		if (a->fd < 0) {
			rc = session_open(a, &retryable);
			if (rc != 0) {
				if (retryable && attempt < a->retries)
					continue;
				goto give_up;
			}
		}
		if (!rq) {
			a->message[0] = '\0';
			return 0;
		}
		rc = exchange(a, rq, rep);
		if (rc == 0) {
			/* A lost connection that a retry got past is no failure to report. */
			a->message[0] = '\0';
			return 0;
		}
		if (rc > 0) {
			/* The server hangs up after these; follow it. */
			if (rc == PROTO_ST_PROTOCOL || rc == PROTO_ST_VERSION || rc == PROTO_ST_HELLO_REQUIRED)
				conn_close(a);
			return rc;
		}
		/* A request refused before sending leaves the stream as it was. */
		if (rc == ACCRUE_E_INVALID)
			return rc;
		/* A frame may be half sent or half read: the stream is unusable. */
		conn_close(a);
		if (rc == ACCRUE_E_IO && attempt < a->retries)
			continue;
give_up:
		if (rc < 0 && attempt > 0) {
			size_t n = strlen(a->message);

			snprintf(a->message + n, sizeof a->message - n, " (after %d attempts)", attempt + 1);
		}
		return rc;
	}
}

/* Start a public call: a valid handle, and last call's message forgotten. */
int accrue__call_begin(accrue *a)
{
	if (!a)
		return ACCRUE_E_INVALID;
	a->message[0] = '\0';
	return 0;
}

/*
 * Take the server's address apart once (addr_parse: the rules the daemon
 * and accrue-bench follow too); every reconnect resolves the host again.
 * Port 0 is refused: it names no server to connect to.
 */
static int address_set(accrue *a, const char *host_port)
{
	struct addr_host_port hp;
	char why[160];

	if (addr_parse(host_port, 0, &hp, why, sizeof why) != 0) {
		accrue__message_set(a, "malformed server address \"%.300s\": %s", host_port, why);
		return ACCRUE_E_INVALID;
	}
	accrue__text_copy(a->host, sizeof a->host, hp.host);
	snprintf(a->port, sizeof a->port, "%u", (unsigned)hp.port);
	addr_format(&hp, a->address, sizeof a->address);
	return 0;
}

/* ---- connection API -------------------------------------------------- */

int accrue_connect_message(const char *host_port, const char *api_key, accrue **out, char *msg, size_t msg_cap)
{
	accrue *a;
	int rc;

	accrue__text_copy(msg, msg_cap, "");
	if (!out) {
		accrue__text_copy(msg, msg_cap, "no place for the handle (out is NULL)");
		return ACCRUE_E_INVALID;
	}
	*out = NULL;
	if (!host_port || !api_key) {
		accrue__text_copy(msg, msg_cap, "no server address or API key given");
		return ACCRUE_E_INVALID;
	}
	if (strnlen(api_key, PROTO_MAX_APIKEY + 1) > PROTO_MAX_APIKEY) {
		accrue__text_copy(msg, msg_cap, "API key is longer than 128 bytes");
		return ACCRUE_E_INVALID;
	}
	a = calloc(1, sizeof *a);
	if (!a) {
		accrue__text_copy(msg, msg_cap, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	a->fd = -1;
	a->timeout_ms = DEFAULT_TIMEOUT_MS;
	a->retries = DEFAULT_RETRIES;
	a->next_request_id = 1;
	accrue__text_copy(a->api_key, sizeof a->api_key, api_key);
	rc = address_set(a, host_port);
	if (rc != 0)
		goto fail;
	a->rbuf = malloc(RBUF_INITIAL);
	if (!a->rbuf) {
		accrue__message_set(a, "out of memory");
		rc = ACCRUE_E_NOMEM;
		goto fail;
	}
	a->rcap = RBUF_INITIAL;
	rc = accrue__call(a, NULL, NULL);
	if (rc != 0)
		goto fail;
	*out = a;
	return 0;

fail:
	accrue__text_copy(msg, msg_cap, a->message[0] ? a->message : accrue_strerror(rc));
	accrue_close(a);
	return rc;
}

int accrue_connect(const char *host_port, const char *api_key, accrue **out)
{
	return accrue_connect_message(host_port, api_key, out, NULL, 0);
}

void accrue_close(accrue *a)
{
	if (!a)
		return;
	conn_close(a);
	free(a->rbuf);
	/* The handle held a credential; do not leave it in freed memory. */
	sodium_memzero(a->api_key, sizeof a->api_key);
	free(a);
}

void accrue_set_timeout(accrue *a, int timeout_ms)
{
	if (a)
		a->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
}

void accrue_set_retries(accrue *a, int retries)
{
	if (a)
		a->retries = retries > 0 ? retries : 0;
}

int accrue_role(const accrue *a)
{
	return a ? a->role : 0;
}

const char *accrue_location(const accrue *a)
{
	return a ? a->location : "";
}

const char *accrue_message(const accrue *a)
{
	return a ? a->message : "no handle";
}
