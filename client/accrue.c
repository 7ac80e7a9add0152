/*
 * accrue.c - libaccrue, a blocking client for accrued (see accrue.h).
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
#include "accrue.h"

#include "proto.h"

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

/*
 * Room for a request body kept inside struct request. An ADJUST with every
 * text at its limit is about 1.3 KiB; the argument checks below keep every
 * such body within this, so running out of space here is a bug, not a user
 * error. Requests that carry a sale or a batch are larger and get a heap
 * buffer sized for them (request_init_sized).
 */
#define REQUEST_MAX 4096

/*
 * The largest encoding of one line (two strings at their limits, qty and
 * amount) and of a sale around its lines; request bodies that carry a sale
 * are sized from these.
 */
#define LINE_MAX_SIZE (2 + PROTO_MAX_SKU + 2 + PROTO_MAX_CATEGORY + 8 + 8)
#define SALE_MAX_SIZE(nlines) \
	((size_t)(2 + PROTO_MAX_LOCATION + 2 + PROTO_MAX_ORDER + 8 + 8 + 2) + (size_t)(nlines)*LINE_MAX_SIZE)
#define REF_MAX_SIZE (1 + 2 + PROTO_MAX_EMAIL)

#define RBUF_INITIAL 16384
#define RBUF_MAX ((size_t)PROTO_HEADER_SIZE + PROTO_MAX_BODY_HARD)

#define HOST_MAX 256
#define PORT_MAX 8
#define ADDRESS_MAX (HOST_MAX + PORT_MAX + 4)

/* The smallest encoding of one key in a KEY_LIST reply: id, role, revoked, created, empty location. */
#define KEY_INFO_MIN_SIZE (8 + 1 + 1 + 8 + 2)

struct accrue {
	int fd; /* -1 while disconnected; the next call reconnects */
	char host[HOST_MAX];
	char port[PORT_MAX];
	char address[ADDRESS_MAX]; /* "host:port" or "[v6]:port", for messages */
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
 * body: the small one inside the struct, or `heap` (freed by request_free).
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

/* ---- small helpers --------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void message_set(accrue *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->message, sizeof a->message, fmt, ap);
	va_end(ap);
}

/* Copy a string view into a fixed field, truncating, always NUL-terminated. */
static void str_copy(char *dst, size_t cap, struct proto_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	if (n)
		memcpy(dst, s.ptr, n);
	dst[n] = '\0';
}

static void text_copy(char *dst, size_t cap, const char *src)
{
	if (!dst || cap == 0)
		return;
	snprintf(dst, cap, "%s", src ? src : "");
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

/*
 * Split "host:port" or "[v6]:port". A bare IPv6 address without brackets
 * is refused: "::1:7400" cannot be split without guessing.
 */
static int address_parse(const char *text, char host[HOST_MAX], char port[PORT_MAX])
{
	const char *h, *colon, *p;
	size_t hlen;
	unsigned long value = 0;

	if (text[0] == '[') {
		const char *end = strchr(text, ']');

		if (!end || end[1] != ':')
			return -1;
		h = text + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -1;
		h = text;
		hlen = (size_t)(colon - text);
		if (memchr(h, ':', hlen))
			return -1;
	}
	if (hlen == 0 || hlen >= HOST_MAX)
		return -1;
	p = colon + 1;
	if (*p == '\0' || strlen(p) > 5)
		return -1;
	for (const char *c = p; *c; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		value = value * 10 + (unsigned long)(*c - '0');
	}
	if (value == 0 || value > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, PORT_MAX, "%lu", value);
	return 0;
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
		message_set(a, "cannot connect to %s: cannot resolve %s: %s", a->address, a->host,
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
		message_set(a, "cannot connect to %s: %s", a->address,
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
			message_set(a, "no reply from %s within %d ms (request not sent)", a->address,
				    a->timeout_ms);
			return ACCRUE_E_TIMEOUT;
		}
		if (rc < 0)
			goto lost;
	}
	return 0;

lost:
	message_set(a, "connection to %s lost: %s", a->address, strerror(errno));
	return ACCRUE_E_IO;
}

static int reply_invalid(accrue *a, const char *why)
{
	message_set(a, "invalid reply from %s: %s", a->address, why);
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
		return reply_invalid(a, "a frame without the reply flag");
	proto_rbuf_init(&r, body, h->body_len);
	if (proto_reply_status(&r, &status) != 0)
		return reply_invalid(a, "a reply without a status");
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
			return reply_invalid(a, "a malformed error message");
		str_copy(a->message, sizeof a->message, msg);
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
			return reply_invalid(a, proto_errstr(rc));
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
				return reply_invalid(a, "a frame over the size limit");
			p = realloc(a->rbuf, cap);
			if (!p) {
				message_set(a, "out of memory reading a reply of more than %zu bytes", a->rcap);
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
			message_set(a, "connection to %s closed by the server", a->address);
			return ACCRUE_E_IO;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			rc = fd_wait(a->fd, POLLIN, deadline);
			if (rc > 0)
				continue;
			if (rc == 0) {
				message_set(a, "no reply from %s within %d ms", a->address, a->timeout_ms);
				return ACCRUE_E_TIMEOUT;
			}
		}
		message_set(a, "connection to %s lost: %s", a->address, strerror(errno));
		return ACCRUE_E_IO;
	}
}

static void request_init(struct request *rq, uint8_t opcode)
{
	rq->opcode = opcode;
	rq->heap = NULL;
	rq->frame = rq->small;
	proto_wbuf_init(&rq->body, rq->frame + PROTO_HEADER_SIZE, REQUEST_MAX);
}

/* A request whose body may need body_max bytes; ACCRUE_E_NOMEM if they cannot be had. */
static int request_init_sized(accrue *a, struct request *rq, uint8_t opcode, size_t body_max)
{
	request_init(rq, opcode);
	if (body_max <= REQUEST_MAX)
		return 0;
	rq->heap = malloc(PROTO_HEADER_SIZE + body_max);
	if (!rq->heap) {
		message_set(a, "out of memory for a request of %zu bytes", body_max);
		return ACCRUE_E_NOMEM;
	}
	rq->frame = rq->heap;
	proto_wbuf_init(&rq->body, rq->frame + PROTO_HEADER_SIZE, body_max);
	return 0;
}

static void request_free(struct request *rq)
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
		message_set(a, "request does not fit the encode buffer");
		return ACCRUE_E_INVALID;
	}
	if (a->max_body && len > a->max_body) {
		message_set(a, "request of %zu bytes is over the server's limit of %u", len, (unsigned)a->max_body);
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
	request_init(&rq, PROTO_OP_HELLO);
	proto_hello_req_encode(&rq.body, &m);
	rc = exchange(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_hello_rep_decode(rep.body, rep.len, &h) != 0)
		return reply_invalid(a, "a malformed HELLO reply");
	a->role = h.role;
	a->key_id = h.key_id;
	str_copy(a->location, sizeof a->location, h.location);
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
static int call(accrue *a, struct request *rq, struct reply *rep)
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
static int call_begin(accrue *a)
{
	if (!a)
		return ACCRUE_E_INVALID;
	a->message[0] = '\0';
	return 0;
}

static int arg_invalid(accrue *a, const char *what)
{
	message_set(a, "%s", what);
	return ACCRUE_E_INVALID;
}

/* 1 (and the message set) if s is longer than max bytes; NULL counts as empty. */
static int text_too_long(accrue *a, const char *field, const char *s, size_t max)
{
	if (s && strnlen(s, max + 1) > max) {
		message_set(a, "%s is longer than %zu bytes", field, max);
		return 1;
	}
	return 0;
}

/* The caller's request key, or a random one drawn once for this call. */
static int key_fill(accrue *a, uint8_t dst[PROTO_KEY_SIZE], const uint8_t *key)
{
	if (key) {
		memcpy(dst, key, PROTO_KEY_SIZE);
		return 0;
	}
	if (accrue_key_random(dst) != 0) {
		message_set(a, "cannot draw a random request key");
		return ACCRUE_E_IO;
	}
	return 0;
}

static int ref_to_proto(accrue *a, const struct accrue_ref *ref, struct proto_ref *out)
{
	size_t len, max;

	if (!ref)
		return arg_invalid(a, "no customer reference given");
	memset(out, 0, sizeof *out);
	switch (ref->kind) {
	case ACCRUE_REF_ID:
		if (ref->id == 0)
			return arg_invalid(a, "customer id 0 names nobody");
		out->kind = PROTO_REF_ID;
		out->id = ref->id;
		return 0;
	case ACCRUE_REF_EMAIL:
		out->kind = PROTO_REF_EMAIL;
		max = PROTO_MAX_EMAIL;
		break;
	case ACCRUE_REF_PHONE:
		out->kind = PROTO_REF_PHONE;
		max = PROTO_MAX_PHONE;
		break;
	default:
		return arg_invalid(a, "unknown customer reference kind");
	}
	len = strnlen(ref->text, sizeof ref->text);
	if (len == 0)
		return arg_invalid(a, "empty customer reference");
	if (len > max) {
		message_set(a, "customer %s is longer than %zu bytes", out->kind == PROTO_REF_EMAIL ? "email" : "phone",
			    max);
		return ACCRUE_E_INVALID;
	}
	out->text.ptr = ref->text;
	out->text.len = (uint32_t)len;
	return 0;
}

static void customer_copy(struct accrue_customer *dst, const struct proto_customer *c)
{
	memset(dst, 0, sizeof *dst);
	dst->id = c->id;
	str_copy(dst->email, sizeof dst->email, c->email);
	str_copy(dst->phone, sizeof dst->phone, c->phone);
	str_copy(dst->first_name, sizeof dst->first_name, c->first_name);
	str_copy(dst->last_name, sizeof dst->last_name, c->last_name);
	dst->balance = c->balance;
	dst->lifetime_points = c->lifetime_points;
	dst->visits = c->visits;
	dst->total_spend = c->total_spend;
	/* A visit count past INT64_MAX is nonsense; leave the average at 0 then. */
	if (c->visits > 0 && c->visits <= (uint64_t)INT64_MAX)
		dst->average_spend = c->total_spend / (int64_t)c->visits;
	dst->created_us = c->created_us;
	dst->last_visit_us = c->last_visit_us;
	dst->member = c->member != 0;
	str_copy(dst->tier, sizeof dst->tier, c->tier);
	dst->ngroups = c->ngroups <= ACCRUE_MAX_GROUPS ? c->ngroups : ACCRUE_MAX_GROUPS;
	for (int i = 0; i < dst->ngroups; i++)
		str_copy(dst->groups[i], sizeof dst->groups[i], c->groups[i]);
}

static void change_copy(struct accrue_result *dst, const struct proto_change_rep *m, uint16_t flags)
{
	dst->seq = m->seq;
	dst->points = m->points;
	dst->replay = (flags & PROTO_FLAG_REPLAY) != 0;
	customer_copy(&dst->customer, &m->customer);
}

static void key_info_copy(struct accrue_key_info *dst, const struct proto_key_info *k)
{
	memset(dst, 0, sizeof *dst);
	dst->id = k->id;
	dst->role = k->role;
	dst->revoked = k->revoked != 0;
	dst->created_us = k->created_us;
	str_copy(dst->location, sizeof dst->location, k->location);
}

/* ---- connection API -------------------------------------------------- */

int accrue_connect_message(const char *host_port, const char *api_key, accrue **out, char *msg, size_t msg_cap)
{
	accrue *a;
	int rc;

	text_copy(msg, msg_cap, "");
	if (!out) {
		text_copy(msg, msg_cap, "no place for the handle (out is NULL)");
		return ACCRUE_E_INVALID;
	}
	*out = NULL;
	if (!host_port || !api_key) {
		text_copy(msg, msg_cap, "no server address or API key given");
		return ACCRUE_E_INVALID;
	}
	if (strnlen(api_key, PROTO_MAX_APIKEY + 1) > PROTO_MAX_APIKEY) {
		text_copy(msg, msg_cap, "API key is longer than 128 bytes");
		return ACCRUE_E_INVALID;
	}
	a = calloc(1, sizeof *a);
	if (!a) {
		text_copy(msg, msg_cap, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	a->fd = -1;
	a->timeout_ms = DEFAULT_TIMEOUT_MS;
	a->retries = DEFAULT_RETRIES;
	a->next_request_id = 1;
	text_copy(a->api_key, sizeof a->api_key, api_key);
	if (address_parse(host_port, a->host, a->port) != 0) {
		message_set(a, "malformed server address \"%.300s\": expected HOST:PORT or [IPV6]:PORT", host_port);
		rc = ACCRUE_E_INVALID;
		goto fail;
	}
	if (strchr(a->host, ':'))
		snprintf(a->address, sizeof a->address, "[%s]:%s", a->host, a->port);
	else
		snprintf(a->address, sizeof a->address, "%s:%s", a->host, a->port);
	a->rbuf = malloc(RBUF_INITIAL);
	if (!a->rbuf) {
		message_set(a, "out of memory");
		rc = ACCRUE_E_NOMEM;
		goto fail;
	}
	a->rcap = RBUF_INITIAL;
	rc = call(a, NULL, NULL);
	if (rc != 0)
		goto fail;
	*out = a;
	return 0;

fail:
	text_copy(msg, msg_cap, a->message[0] ? a->message : accrue_strerror(rc));
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

const char *accrue_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case ACCRUE_E_CONNECT: return "cannot connect";
	case ACCRUE_E_IO: return "connection lost";
	case ACCRUE_E_PROTOCOL: return "invalid reply from the server";
	case ACCRUE_E_NOMEM: return "out of memory";
	case ACCRUE_E_INVALID: return "invalid argument";
	case ACCRUE_E_TIMEOUT: return "timed out";
	case ACCRUE_ST_PROTOCOL: return "protocol error";
	case ACCRUE_ST_UNSUPPORTED: return "unsupported operation";
	case ACCRUE_ST_BAD_REQUEST: return "bad request";
	case ACCRUE_ST_AUTH: return "authentication failed";
	case ACCRUE_ST_FORBIDDEN: return "forbidden";
	case ACCRUE_ST_NOT_FOUND: return "not found";
	case ACCRUE_ST_CONFLICT: return "conflict";
	case ACCRUE_ST_DUPLICATE_ORDER: return "duplicate order";
	case ACCRUE_ST_INSUFFICIENT: return "insufficient points";
	case ACCRUE_ST_KEY_REUSED: return "request key reused";
	case ACCRUE_ST_STORAGE: return "storage error";
	case ACCRUE_ST_BUSY: return "busy";
	case ACCRUE_ST_RANGE: return "out of range";
	case ACCRUE_ST_HELLO_REQUIRED: return "hello required";
	case ACCRUE_ST_SHUTTING_DOWN: return "shutting down";
	case ACCRUE_ST_INTERNAL: return "internal server error";
	case ACCRUE_ST_VERSION: return "unsupported protocol version";
	case ACCRUE_ST_OVER_RETURN: return "over return";
	case ACCRUE_ST_NOT_MEMBER: return "not a member";
	}
	return err > 0 ? "unknown server status" : "unknown error";
}

/* ---- helpers --------------------------------------------------------- */

int accrue_key_random(uint8_t key[ACCRUE_KEY_SIZE])
{
	if (!key || sodium_init() < 0)
		return ACCRUE_E_IO;
	randombytes_buf(key, ACCRUE_KEY_SIZE);
	return 0;
}

int accrue_key_file_read(const char *path, char *key, size_t cap, char *msg, size_t msg_cap)
{
	char line[512];
	size_t start = 0, end;
	FILE *f;
	int rc = 0;

	if (msg && msg_cap)
		msg[0] = '\0';
	if (!path || !key || !cap)
		return ACCRUE_E_INVALID;
	if (!(f = fopen(path, "r"))) {
		if (msg)
			snprintf(msg, msg_cap, "cannot read key file %s: %s", path, strerror(errno));
		return ACCRUE_E_IO;
	}
	if (!fgets(line, sizeof line, f)) {
		if (msg && ferror(f))
			snprintf(msg, msg_cap, "cannot read key file %s: %s", path, strerror(errno));
		else if (msg)
			snprintf(msg, msg_cap, "key file %s is empty", path);
		fclose(f);
		return ACCRUE_E_IO;
	}
	fclose(f);
	end = strlen(line);
	while (end > 0 && strchr(" \t\r\n\v\f", line[end - 1]))
		end--;
	while (start < end && strchr(" \t\r\n\v\f", line[start]))
		start++;
	if (start == end) {
		if (msg)
			snprintf(msg, msg_cap, "key file %s has no key on its first line", path);
		rc = ACCRUE_E_IO;
	} else if (end - start >= cap) {
		if (msg)
			snprintf(msg, msg_cap, "key file %s: the key is longer than %zu bytes", path, cap - 1);
		rc = ACCRUE_E_INVALID;
	} else {
		memcpy(key, line + start, end - start);
		key[end - start] = '\0';
	}
	return rc;
}

int accrue_ref_parse(const char *text, struct accrue_ref *ref)
{
	size_t len;
	int digits = 0;

	if (!text || !ref)
		return ACCRUE_E_INVALID;
	memset(ref, 0, sizeof *ref);
	if (text[0] == '#') {
		uint64_t id = 0;
		const char *p = text + 1;

		if (*p == '\0')
			return ACCRUE_E_INVALID;
		for (; *p; p++) {
			uint64_t d;

			if (*p < '0' || *p > '9')
				return ACCRUE_E_INVALID;
			d = (uint64_t)(*p - '0');
			if (id > (UINT64_MAX - d) / 10)
				return ACCRUE_E_INVALID;
			id = id * 10 + d;
		}
		if (id == 0)
			return ACCRUE_E_INVALID;
		ref->kind = ACCRUE_REF_ID;
		ref->id = id;
		return 0;
	}
	len = strlen(text);
	if (strchr(text, '@')) {
		if (len > PROTO_MAX_EMAIL)
			return ACCRUE_E_INVALID;
		ref->kind = ACCRUE_REF_EMAIL;
	} else {
		for (const char *p = text; *p; p++)
			digits += *p >= '0' && *p <= '9';
		if (digits == 0 || len > PROTO_MAX_PHONE)
			return ACCRUE_E_INVALID;
		ref->kind = ACCRUE_REF_PHONE;
	}
	memcpy(ref->text, text, len + 1);
	return 0;
}

/* ---- operations ------------------------------------------------------ */

int accrue_enrol(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *email, const char *phone,
		 const char *first_name, const char *last_name, struct accrue_customer *out, int *replay)
{
	struct request rq;
	struct reply rep;
	struct proto_enrol_req m;
	struct proto_customer c;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!out)
		return arg_invalid(a, "no place for the customer (out is NULL)");
	if (text_too_long(a, "email", email, PROTO_MAX_EMAIL) || text_too_long(a, "phone", phone, PROTO_MAX_PHONE) ||
	    text_too_long(a, "first name", first_name, PROTO_MAX_NAME) ||
	    text_too_long(a, "last name", last_name, PROTO_MAX_NAME))
		return ACCRUE_E_INVALID;
	if ((rc = key_fill(a, m.key, key)) != 0)
		return rc;
	m.email = proto_str_c(email);
	m.phone = proto_str_c(phone);
	m.first_name = proto_str_c(first_name);
	m.last_name = proto_str_c(last_name);
	request_init(&rq, PROTO_OP_ENROL);
	proto_enrol_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_customer_rep_decode(rep.body, rep.len, &c) != 0)
		return reply_invalid(a, "a malformed ENROL reply");
	customer_copy(out, &c);
	if (replay)
		*replay = (rep.flags & PROTO_FLAG_REPLAY) != 0;
	return 0;
}

int accrue_lookup(accrue *a, const struct accrue_ref *ref, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_lookup_req m;
	struct proto_customer c;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!out)
		return arg_invalid(a, "no place for the customer (out is NULL)");
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	request_init(&rq, PROTO_OP_LOOKUP);
	proto_lookup_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_customer_rep_decode(rep.body, rep.len, &c) != 0)
		return reply_invalid(a, "a malformed LOOKUP reply");
	customer_copy(out, &c);
	return 0;
}

/*
 * The caller's lines as the codec sees them: views into lines, valid as
 * long as they are. what names the request in messages ("sale", "return").
 */
static int lines_to_proto(accrue *a, const char *what, const struct accrue_line *lines, uint32_t nlines,
			  struct proto_line *out)
{
	if (nlines > PROTO_MAX_LINES) {
		message_set(a, "a %s of %u lines: at most %d are allowed", what, (unsigned)nlines, PROTO_MAX_LINES);
		return ACCRUE_E_INVALID;
	}
	if (nlines > 0 && !lines)
		return arg_invalid(a, "lines is NULL but nlines is not 0");
	for (uint32_t i = 0; i < nlines; i++) {
		size_t sku_len = strnlen(lines[i].sku, sizeof lines[i].sku);
		size_t category_len = strnlen(lines[i].category, sizeof lines[i].category);

		if (sku_len > PROTO_MAX_SKU || category_len > PROTO_MAX_CATEGORY) {
			message_set(a, "line %u of the %s: %s is longer than %d bytes", (unsigned)i + 1, what,
				    sku_len > PROTO_MAX_SKU ? "the SKU" : "the category",
				    sku_len > PROTO_MAX_SKU ? PROTO_MAX_SKU : PROTO_MAX_CATEGORY);
			return ACCRUE_E_INVALID;
		}
		out[i].sku.ptr = lines[i].sku;
		out[i].sku.len = (uint32_t)sku_len;
		out[i].category.ptr = lines[i].category;
		out[i].category.len = (uint32_t)category_len;
		out[i].qty = lines[i].qty;
		out[i].amount = lines[i].amount;
	}
	return 0;
}

/* A caller's sale as the codec sees it (views into sale). */
static int sale_to_proto(accrue *a, const struct accrue_sale *sale, struct proto_sale *out)
{
	int rc;

	if (!sale)
		return arg_invalid(a, "no sale given (sale is NULL)");
	if (text_too_long(a, "location", sale->location, PROTO_MAX_LOCATION) ||
	    text_too_long(a, "order id", sale->order_id, PROTO_MAX_ORDER))
		return ACCRUE_E_INVALID;
	rc = lines_to_proto(a, "sale", sale->lines, sale->nlines, out->lines);
	if (rc != 0)
		return rc;
	out->location = proto_str_c(sale->location);
	out->order_id = proto_str_c(sale->order_id);
	out->time_us = sale->time_us;
	out->amount = sale->amount;
	out->nlines = (uint16_t)sale->nlines;
	return 0;
}

/* Bytes the codec writes for these (kept in step with proto.c; a mismatch shows as an encode overflow). */
static size_t ref_encoded_size(const struct proto_ref *ref)
{
	return ref->kind == PROTO_REF_ID ? 1 + 8 : 1 + 2 + (size_t)ref->text.len;
}

static size_t sale_encoded_size(const struct proto_sale *sale)
{
	size_t n = 2 + (size_t)sale->location.len + 2 + (size_t)sale->order_id.len + 8 + 8 + 2;

	for (uint16_t i = 0; i < sale->nlines; i++)
		n += 2 + (size_t)sale->lines[i].sku.len + 2 + (size_t)sale->lines[i].category.len + 8 + 8;
	return n;
}

/* The largest body a request may have: what HELLO announced, else the protocol's default. */
static size_t body_limit(const accrue *a)
{
	return a->max_body ? a->max_body : PROTO_MAX_BODY_DEFAULT;
}

int accrue_accrue(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *location,
		  const char *order_id, int64_t amount, struct accrue_result *out)
{
	struct accrue_sale sale;

	memset(&sale, 0, sizeof sale);
	sale.location = location;
	sale.order_id = order_id;
	sale.amount = amount;
	return accrue_sale(a, key, ref, &sale, out);
}

int accrue_sale(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref,
		const struct accrue_sale *sale, struct accrue_result *out)
{
	struct request rq;
	struct reply rep;
	struct proto_accrue_req *m;
	struct proto_change_rep c;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!out)
		return arg_invalid(a, "no place for the result (out is NULL)");
	/* Two hundred and fifty-six lines make the request struct 12 KiB: not for a till's stack. */
	m = malloc(sizeof *m);
	if (!m) {
		message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	request_init(&rq, PROTO_OP_ACCRUE);
	if ((rc = ref_to_proto(a, ref, &m->ref)) != 0 || (rc = sale_to_proto(a, sale, &m->sale)) != 0 ||
	    (rc = key_fill(a, m->key, key)) != 0)
		goto done;
	rc = request_init_sized(a, &rq, PROTO_OP_ACCRUE, PROTO_KEY_SIZE + REF_MAX_SIZE + SALE_MAX_SIZE(m->sale.nlines));
	if (rc != 0)
		goto done;
	proto_accrue_req_encode(&rq.body, m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	if (proto_change_rep_decode(rep.body, rep.len, &c) != 0) {
		rc = reply_invalid(a, "a malformed ACCRUE reply");
		goto done;
	}
	change_copy(out, &c, rep.flags);
done:
	request_free(&rq);
	free(m);
	return rc;
}

int accrue_return(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *location, const char *order_id,
		  int64_t time_us, int64_t amount, const struct accrue_line *lines, uint32_t nlines,
		  struct accrue_return_result *out)
{
	struct request rq;
	struct reply rep;
	struct proto_return_req *m;
	struct proto_return_rep r;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!out)
		return arg_invalid(a, "no place for the result (out is NULL)");
	if (text_too_long(a, "location", location, PROTO_MAX_LOCATION) ||
	    text_too_long(a, "order id", order_id, PROTO_MAX_ORDER))
		return ACCRUE_E_INVALID;
	m = malloc(sizeof *m);
	if (!m) {
		message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	request_init(&rq, PROTO_OP_RETURN);
	if ((rc = lines_to_proto(a, "return", lines, nlines, m->lines)) != 0 || (rc = key_fill(a, m->key, key)) != 0)
		goto done;
	m->location = proto_str_c(location);
	m->order_id = proto_str_c(order_id);
	m->time_us = time_us;
	m->amount = amount;
	m->nlines = (uint16_t)nlines;
	rc = request_init_sized(a, &rq, PROTO_OP_RETURN, PROTO_KEY_SIZE + SALE_MAX_SIZE(nlines));
	if (rc != 0)
		goto done;
	proto_return_req_encode(&rq.body, m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	if (proto_return_rep_decode(rep.body, rep.len, &r) != 0) {
		rc = reply_invalid(a, "a malformed RETURN reply");
		goto done;
	}
	memset(out, 0, sizeof *out);
	out->seq = r.seq;
	out->points = r.points;
	out->shortfall = r.shortfall;
	out->refunded = r.refunded;
	out->replay = (rep.flags & PROTO_FLAG_REPLAY) != 0;
	customer_copy(&out->customer, &r.customer);
done:
	request_free(&rq);
	free(m);
	return rc;
}

int accrue_quote(accrue *a, const struct accrue_ref *ref, const struct accrue_sale *sale, struct accrue_quote *out)
{
	struct scratch {
		struct proto_quote_req req;
		struct proto_quote_rep rep;
	} *m;
	struct request rq;
	struct reply rep;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!out)
		return arg_invalid(a, "no place for the quote (out is NULL)");
	m = malloc(sizeof *m);
	if (!m) {
		message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	request_init(&rq, PROTO_OP_QUOTE);
	/* Kind 0 on the wire: nobody in particular, a member with no tier and no groups. */
	memset(&m->req.ref, 0, sizeof m->req.ref);
	m->req.ref.text.ptr = "";
	if ((ref && (rc = ref_to_proto(a, ref, &m->req.ref)) != 0) || (rc = sale_to_proto(a, sale, &m->req.sale)) != 0)
		goto done;
	rc = request_init_sized(a, &rq, PROTO_OP_QUOTE, REF_MAX_SIZE + SALE_MAX_SIZE(m->req.sale.nlines));
	if (rc != 0)
		goto done;
	proto_quote_req_encode(&rq.body, &m->req);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	if (proto_quote_rep_decode(rep.body, rep.len, &m->rep) != 0) {
		rc = reply_invalid(a, "a malformed QUOTE reply");
		goto done;
	}
	memset(out, 0, sizeof *out);
	out->earned = m->rep.earned;
	out->qualifying = m->rep.qualifying;
	out->qualifying_items = m->rep.qualifying_items;
	out->multiplier = m->rep.multiplier;
	out->unit = m->rep.unit;
	out->nlines = m->rep.nlines;
	memcpy(out->line_earned, m->rep.line_earned, (size_t)m->rep.nlines * sizeof out->line_earned[0]);
done:
	request_free(&rq);
	free(m);
	return rc;
}

/* Put "sale N: " before the message of a refused batch argument. */
static int batch_item_invalid(accrue *a, uint32_t i, int rc)
{
	char why[sizeof a->message];

	snprintf(why, sizeof why, "%s", a->message);
	message_set(a, "sale %u of the batch: %s", (unsigned)i + 1, why);
	return rc;
}

int accrue_batch(accrue *a, uint32_t n, const uint8_t (*keys)[ACCRUE_KEY_SIZE], const struct accrue_ref *refs,
		 const struct accrue_sale *sales, struct accrue_batch_result *results)
{
	struct proto_accrue_req *m;
	struct request rq;
	struct reply rep;
	struct proto_rbuf r;
	uint16_t count;
	size_t size = 2, limit, fit = 0;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (n == 0 || n > PROTO_MAX_BATCH) {
		message_set(a, "a batch holds 1 to %d sales, not %u", PROTO_MAX_BATCH, (unsigned)n);
		return ACCRUE_E_INVALID;
	}
	if (!refs || !sales || !results)
		return arg_invalid(a, "a batch needs refs, sales and results");
	/* The frame limit comes with HELLO: make sure a session has announced it. */
	if (a->max_body == 0 && (rc = call(a, NULL, NULL)) != 0)
		return rc;
	limit = body_limit(a);
	m = malloc(sizeof *m);
	if (!m) {
		message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	request_init(&rq, PROTO_OP_ACCRUE_BATCH);
	/* First pass: check every item and size the frame exactly, so nothing is sent that cannot fit. */
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = ref_to_proto(a, &refs[i], &m->ref)) != 0 || (rc = sale_to_proto(a, &sales[i], &m->sale)) != 0) {
			rc = batch_item_invalid(a, i, rc);
			goto done;
		}
		size += 4 + PROTO_KEY_SIZE + ref_encoded_size(&m->ref) + sale_encoded_size(&m->sale);
		if (size <= limit)
			fit = i + 1;
	}
	if (size > limit) {
		message_set(a,
			    "a batch of %u sales takes %zu bytes, over the server's frame limit of %zu; the first %zu "
			    "fit: split the batch",
			    (unsigned)n, size, limit, fit);
		rc = ACCRUE_E_INVALID;
		goto done;
	}
	rc = request_init_sized(a, &rq, PROTO_OP_ACCRUE_BATCH, size);
	if (rc != 0)
		goto done;
	/* Second pass: encode. Random keys are drawn here, once: a retry re-sends these very bytes. */
	proto_batch_req_put_header(&rq.body, (uint16_t)n);
	for (uint32_t i = 0; i < n; i++) {
		ref_to_proto(a, &refs[i], &m->ref);
		sale_to_proto(a, &sales[i], &m->sale);
		if ((rc = key_fill(a, m->key, keys ? keys[i] : NULL)) != 0)
			goto done;
		proto_batch_req_put_item(&rq.body, m);
	}
	rc = call(a, &rq, &rep);
	if (rc != 0)
		goto done;
	proto_rbuf_init(&r, rep.body, rep.len);
	if (proto_batch_rep_begin(&r, &count) != 0 || count != n) {
		rc = reply_invalid(a, "an ACCRUE_BATCH reply with the wrong number of items");
		goto done;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct proto_batch_item it;
		struct accrue_batch_result *d = &results[i];

		if (proto_batch_item_next(&r, &it) != 0) {
			rc = reply_invalid(a, "a malformed ACCRUE_BATCH item");
			goto done;
		}
		memset(d, 0, sizeof *d);
		d->status = it.status;
		d->replay = it.replay != 0;
		d->seq = it.seq;
		d->points = it.points;
		d->customer_id = it.customer_id;
		d->balance = it.balance;
		str_copy(d->message, sizeof d->message, it.message);
	}
	if (proto_rbuf_finish(&r) != 0)
		rc = reply_invalid(a, "trailing bytes after the ACCRUE_BATCH items");
done:
	request_free(&rq);
	free(m);
	return rc;
}

int accrue_order(accrue *a, const char *location, const char *order_id, struct accrue_order *out)
{
	struct request rq;
	struct reply rep;
	struct proto_order_req m;
	struct proto_order_rep *o;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!out)
		return arg_invalid(a, "no place for the order (out is NULL)");
	if (text_too_long(a, "location", location, PROTO_MAX_LOCATION) ||
	    text_too_long(a, "order id", order_id, PROTO_MAX_ORDER))
		return ACCRUE_E_INVALID;
	m.location = proto_str_c(location);
	m.order_id = proto_str_c(order_id);
	request_init(&rq, PROTO_OP_ORDER);
	proto_order_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	o = malloc(sizeof *o);
	if (!o) {
		message_set(a, "out of memory");
		return ACCRUE_E_NOMEM;
	}
	if (proto_order_rep_decode(rep.body, rep.len, o) != 0) {
		rc = reply_invalid(a, "a malformed ORDER reply");
		goto done;
	}
	memset(out, 0, sizeof *out);
	out->customer_id = o->customer_id;
	out->seq = o->seq;
	out->time_us = o->time_us;
	str_copy(out->location, sizeof out->location, o->location);
	str_copy(out->order_id, sizeof out->order_id, o->order_id);
	out->amount = o->amount;
	out->earned = o->earned;
	out->refunded = o->refunded;
	out->taken_back = o->taken_back;
	out->multiplier = o->multiplier;
	out->nlines = o->nlines;
	for (uint16_t i = 0; i < o->nlines; i++) {
		struct accrue_order_line *d = &out->lines[i];
		const struct proto_order_line *l = &o->lines[i];

		str_copy(d->sku, sizeof d->sku, l->sku);
		str_copy(d->category, sizeof d->category, l->category);
		d->qty = l->qty;
		d->amount = l->amount;
		d->earned = l->earned;
		d->refunded_qty = l->refunded_qty;
		d->refunded = l->refunded;
	}
done:
	free(o);
	return rc;
}

/* GROUP and TIER answer with the customer after the change. */
static int customer_reply(accrue *a, const struct reply *rep, const char *what, struct accrue_customer *out)
{
	struct proto_customer c;

	if (proto_customer_rep_decode(rep->body, rep->len, &c) != 0) {
		message_set(a, "invalid reply from %s: a malformed %s reply", a->address, what);
		return ACCRUE_E_PROTOCOL;
	}
	if (out)
		customer_copy(out, &c);
	return 0;
}

int accrue_group(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int add,
		 const char *group, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_group_req m;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (!group || !*group)
		return arg_invalid(a, "no group named");
	if (text_too_long(a, "group", group, PROTO_MAX_GROUP))
		return ACCRUE_E_INVALID;
	if ((rc = key_fill(a, m.key, key)) != 0)
		return rc;
	m.add = add ? 1 : 0;
	m.group = proto_str_c(group);
	request_init(&rq, PROTO_OP_GROUP);
	proto_group_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	return customer_reply(a, &rep, "GROUP", out);
}

int accrue_tier(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, const char *tier,
		const char *note, struct accrue_customer *out)
{
	struct request rq;
	struct reply rep;
	struct proto_tier_req m;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (text_too_long(a, "tier", tier, PROTO_MAX_TIER) || text_too_long(a, "note", note, PROTO_MAX_REASON))
		return ACCRUE_E_INVALID;
	if ((rc = key_fill(a, m.key, key)) != 0)
		return rc;
	m.tier = proto_str_c(tier);
	m.note = proto_str_c(note);
	request_init(&rq, PROTO_OP_TIER);
	proto_tier_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	return customer_reply(a, &rep, "TIER", out);
}

int accrue_program_get(accrue *a, struct accrue_setting **settings, uint32_t *count)
{
	struct request rq;
	struct reply rep;
	struct proto_rbuf r;
	struct accrue_setting *list;
	uint16_t n;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!settings || !count)
		return arg_invalid(a, "no place for the settings");
	*settings = NULL;
	*count = 0;
	request_init(&rq, PROTO_OP_PROGRAM_GET);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	proto_rbuf_init(&r, rep.body, rep.len);
	if (proto_program_rep_begin(&r, &n) != 0)
		return reply_invalid(a, "a malformed PROGRAM_GET reply");
	/* Each setting takes at least two length prefixes: a count beyond that is a bad reply. */
	if (n > (rep.len - r.off) / 4)
		return reply_invalid(a, "a setting count larger than the reply");
	list = calloc(n ? n : 1, sizeof *list);
	if (!list) {
		message_set(a, "out of memory for %u settings", (unsigned)n);
		return ACCRUE_E_NOMEM;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct proto_str name, value;

		if (proto_setting_next(&r, &name, &value) != 0) {
			rc = reply_invalid(a, "a malformed setting in PROGRAM_GET");
			goto fail;
		}
		str_copy(list[i].name, sizeof list[i].name, name);
		str_copy(list[i].value, sizeof list[i].value, value);
	}
	if (proto_rbuf_finish(&r) != 0) {
		rc = reply_invalid(a, "trailing bytes after the settings");
		goto fail;
	}
	*settings = list;
	*count = n;
	return 0;

fail:
	free(list);
	return rc;
}

int accrue_program_set(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const char *name, const char *value)
{
	struct request rq;
	struct reply rep;
	struct proto_program_set_req m;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!name || !*name)
		return arg_invalid(a, "no setting named");
	if (text_too_long(a, "setting name", name, PROTO_MAX_SETTING_KEY) ||
	    text_too_long(a, "setting value", value, PROTO_MAX_SETTING_VALUE))
		return ACCRUE_E_INVALID;
	if ((rc = key_fill(a, m.key, key)) != 0)
		return rc;
	m.name = proto_str_c(name);
	m.value = proto_str_c(value);
	request_init(&rq, PROTO_OP_PROGRAM_SET);
	proto_program_set_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (rep.len != 0)
		return reply_invalid(a, "trailing bytes after a PROGRAM_SET reply");
	return 0;
}

int accrue_adjust(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], const struct accrue_ref *ref, int64_t points,
		  const char *reason, const char *comment, struct accrue_result *out)
{
	struct request rq;
	struct reply rep;
	struct proto_adjust_req m;
	struct proto_change_rep c;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!out)
		return arg_invalid(a, "no place for the result (out is NULL)");
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	if (text_too_long(a, "reason", reason, PROTO_MAX_REASON) ||
	    text_too_long(a, "comment", comment, PROTO_MAX_REASON))
		return ACCRUE_E_INVALID;
	if ((rc = key_fill(a, m.key, key)) != 0)
		return rc;
	m.points = points;
	m.reason = proto_str_c(reason);
	m.comment = proto_str_c(comment);
	request_init(&rq, PROTO_OP_ADJUST);
	proto_adjust_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_change_rep_decode(rep.body, rep.len, &c) != 0)
		return reply_invalid(a, "a malformed ADJUST reply");
	change_copy(out, &c, rep.flags);
	return 0;
}

int accrue_history(accrue *a, const struct accrue_ref *ref, uint64_t before_seq, struct accrue_entry *entries,
		   uint32_t max, uint32_t *count, uint64_t *next_before)
{
	struct request rq;
	struct reply rep;
	struct proto_history_req m;
	struct proto_rbuf r;
	uint64_t next;
	uint32_t n;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!entries || !count || max == 0)
		return arg_invalid(a, "history needs room for at least one entry");
	*count = 0;
	if (next_before)
		*next_before = 0;
	if ((rc = ref_to_proto(a, ref, &m.ref)) != 0)
		return rc;
	m.before_seq = before_seq;
	m.limit = max < PROTO_MAX_HISTORY ? max : PROTO_MAX_HISTORY;
	request_init(&rq, PROTO_OP_HISTORY);
	proto_history_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	proto_rbuf_init(&r, rep.body, rep.len);
	if (proto_history_rep_begin(&r, &next, &n) != 0)
		return reply_invalid(a, "a malformed HISTORY reply");
	if (n > m.limit)
		return reply_invalid(a, "more history entries than asked for");
	for (uint32_t i = 0; i < n; i++) {
		struct proto_entry e;
		struct accrue_entry *d = &entries[i];

		if (proto_entry_next(&r, &e) != 0)
			return reply_invalid(a, "a malformed history entry");
		memset(d, 0, sizeof *d);
		d->seq = e.seq;
		d->type = e.type;
		d->time_us = e.time_us;
		d->points = e.points;
		d->balance_after = e.balance_after;
		d->amount = e.amount;
		str_copy(d->location, sizeof d->location, e.location);
		str_copy(d->order_id, sizeof d->order_id, e.order_id);
		str_copy(d->reason, sizeof d->reason, e.reason);
		str_copy(d->comment, sizeof d->comment, e.comment);
	}
	if (proto_rbuf_finish(&r) != 0)
		return reply_invalid(a, "trailing bytes after the history entries");
	*count = n;
	if (next_before)
		*next_before = next;
	return 0;
}

int accrue_key_create(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], int role, const char *location,
		      struct accrue_key_info *info, char *secret, size_t secret_cap, int *replay)
{
	struct request rq;
	struct reply rep;
	struct proto_key_create_req m;
	struct proto_key_create_rep k;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!secret || secret_cap < PROTO_MAX_APIKEY + 1)
		return arg_invalid(a, "the secret buffer must hold at least 129 bytes");
	secret[0] = '\0';
	if (role < ACCRUE_ROLE_ADMIN || role > ACCRUE_ROLE_READONLY)
		return arg_invalid(a, "unknown role");
	if (text_too_long(a, "location", location, PROTO_MAX_LOCATION))
		return ACCRUE_E_INVALID;
	if ((rc = key_fill(a, m.key, key)) != 0)
		return rc;
	m.role = (uint8_t)role;
	m.location = proto_str_c(location);
	request_init(&rq, PROTO_OP_KEY_CREATE);
	proto_key_create_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (proto_key_create_rep_decode(rep.body, rep.len, &k) != 0)
		return reply_invalid(a, "a malformed KEY_CREATE reply");
	if (info) {
		memset(info, 0, sizeof *info);
		info->id = k.key_id;
		info->role = k.role;
		str_copy(info->location, sizeof info->location, k.location);
	}
	str_copy(secret, secret_cap, k.secret);
	if (replay)
		*replay = (rep.flags & PROTO_FLAG_REPLAY) != 0;
	return 0;
}

int accrue_key_list(accrue *a, struct accrue_key_info **keys, uint32_t *count)
{
	struct request rq;
	struct reply rep;
	struct proto_rbuf r;
	struct accrue_key_info *list;
	uint32_t n;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if (!keys || !count)
		return arg_invalid(a, "no place for the key list");
	*keys = NULL;
	*count = 0;
	request_init(&rq, PROTO_OP_KEY_LIST);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	proto_rbuf_init(&r, rep.body, rep.len);
	if (proto_key_list_rep_begin(&r, &n) != 0)
		return reply_invalid(a, "a malformed KEY_LIST reply");
	/* A count the body cannot hold is a bad reply and must not drive a huge allocation. */
	if (n > (rep.len - r.off) / KEY_INFO_MIN_SIZE)
		return reply_invalid(a, "a key count larger than the reply");
	list = calloc(n ? n : 1, sizeof *list);
	if (!list) {
		message_set(a, "out of memory for %u keys", (unsigned)n);
		return ACCRUE_E_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct proto_key_info k;

		if (proto_key_info_next(&r, &k) != 0) {
			rc = reply_invalid(a, "a malformed key in KEY_LIST");
			goto fail;
		}
		key_info_copy(&list[i], &k);
	}
	if (proto_rbuf_finish(&r) != 0) {
		rc = reply_invalid(a, "trailing bytes after the key list");
		goto fail;
	}
	*keys = list;
	*count = n;
	return 0;

fail:
	free(list);
	return rc;
}

int accrue_key_revoke(accrue *a, const uint8_t key[ACCRUE_KEY_SIZE], uint64_t key_id)
{
	struct request rq;
	struct reply rep;
	struct proto_key_revoke_req m;
	int rc;

	if ((rc = call_begin(a)) != 0)
		return rc;
	if ((rc = key_fill(a, m.key, key)) != 0)
		return rc;
	m.key_id = key_id;
	request_init(&rq, PROTO_OP_KEY_REVOKE);
	proto_key_revoke_req_encode(&rq.body, &m);
	rc = call(a, &rq, &rep);
	if (rc != 0)
		return rc;
	if (rep.len != 0)
		return reply_invalid(a, "trailing bytes after a KEY_REVOKE reply");
	return 0;
}
