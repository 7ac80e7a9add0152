/*
 * raw.c - a client of the wire protocol on a bare socket (see raw.h).
 */
#include "raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "client_check.h"

/* ---- request bodies ---------------------------------------------------- */

static struct proto_wbuf body_start(struct raw_body *bd)
{
	struct proto_wbuf w;
	proto_wbuf_init(&w, bd->b, sizeof bd->b);
	return w;
}

static void body_end(struct raw_body *bd, const struct proto_wbuf *w, int rc)
{
	REQUIRE(rc == 0 && !w->overflow);
	bd->n = (uint32_t)w->len;
}

static struct proto_ref ref_id(uint64_t id)
{
	struct proto_ref r;
	memset(&r, 0, sizeof r);
	r.kind = PROTO_REF_ID;
	r.id = id;
	return r;
}

void raw_body_hello(struct raw_body *bd, uint16_t version, const char *api_key)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_hello_req m = { version, proto_str_c(api_key) };
	body_end(bd, &w, proto_hello_req_encode(&w, &m));
}

void raw_body_lookup(struct raw_body *bd, uint64_t id)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_lookup_req m;
	m.ref = ref_id(id);
	body_end(bd, &w, proto_lookup_req_encode(&w, &m));
}

void raw_body_enrol(struct raw_body *bd, const char *email)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_enrol_req m;
	memset(&m, 0, sizeof m);
	new_key(m.key);
	m.email = proto_str_c(email);
	m.first_name = proto_str_c("Raw");
	body_end(bd, &w, proto_enrol_req_encode(&w, &m));
}

/* The sale part of ACCRUE and QUOTE bodies: large (lines), so kept static. */
static struct proto_accrue_req accrue_scratch;
static struct proto_quote_req quote_scratch;
static struct proto_return_req return_scratch;

static void fill_sale(struct proto_sale *s, const char *location, const char *order, int64_t amount)
{
	memset(s, 0, offsetof(struct proto_sale, lines));
	s->location = proto_str_c(location);
	s->order_id = proto_str_c(order);
	s->amount = amount;
}

void raw_body_accrue(struct raw_body *bd, uint64_t id, const char *location, const char *order, int64_t amount)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_accrue_req *m = &accrue_scratch;
	new_key(m->key);
	m->ref = ref_id(id);
	fill_sale(&m->sale, location, order, amount);
	body_end(bd, &w, proto_accrue_req_encode(&w, m));
}

void raw_body_batch(struct raw_body *bd, int n, uint64_t id, const char *const *locations, const char *const *orders,
		       int64_t amount)
{
	struct proto_wbuf w = body_start(bd);
	int rc = 0;
	proto_batch_req_put_header(&w, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		struct proto_accrue_req *m = &accrue_scratch;
		new_key(m->key);
		m->ref = ref_id(id);
		fill_sale(&m->sale, locations[i], orders[i], amount);
		rc |= proto_batch_req_put_item(&w, m);
	}
	body_end(bd, &w, rc);
}

void raw_body_adjust(struct raw_body *bd, uint64_t id, int64_t points)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_adjust_req m;
	memset(&m, 0, sizeof m);
	new_key(m.key);
	m.ref = ref_id(id);
	m.points = points;
	m.reason = proto_str_c("abuse test");
	body_end(bd, &w, proto_adjust_req_encode(&w, &m));
}

void raw_body_return(struct raw_body *bd, const char *location, const char *order, int64_t amount)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_return_req *m = &return_scratch;
	memset(m, 0, offsetof(struct proto_return_req, lines));
	new_key(m->key);
	m->location = proto_str_c(location);
	m->order_id = proto_str_c(order);
	m->amount = amount;
	body_end(bd, &w, proto_return_req_encode(&w, m));
}

void raw_body_quote(struct raw_body *bd, uint64_t id, int64_t amount)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_quote_req *m = &quote_scratch;
	memset(&m->ref, 0, sizeof m->ref);
	if (id)
		m->ref = ref_id(id);
	fill_sale(&m->sale, "", "", amount);
	body_end(bd, &w, proto_quote_req_encode(&w, m));
}

void raw_body_history(struct raw_body *bd, uint64_t id, uint32_t limit)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_history_req m = { ref_id(id), 0, limit };
	body_end(bd, &w, proto_history_req_encode(&w, &m));
}

void raw_body_order(struct raw_body *bd, const char *location, const char *order)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_order_req m = { proto_str_c(location), proto_str_c(order) };
	body_end(bd, &w, proto_order_req_encode(&w, &m));
}

void raw_body_group(struct raw_body *bd, uint64_t id, const char *group)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_group_req m;
	memset(&m, 0, sizeof m);
	new_key(m.key);
	m.ref = ref_id(id);
	m.add = 1;
	m.group = proto_str_c(group);
	body_end(bd, &w, proto_group_req_encode(&w, &m));
}

void raw_body_tier(struct raw_body *bd, uint64_t id, const char *tier)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_tier_req m;
	memset(&m, 0, sizeof m);
	new_key(m.key);
	m.ref = ref_id(id);
	m.tier = proto_str_c(tier);
	body_end(bd, &w, proto_tier_req_encode(&w, &m));
}

void raw_body_key_create(struct raw_body *bd, const uint8_t *key, uint8_t role, const char *location)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_key_create_req m;
	memset(&m, 0, sizeof m);
	if (key)
		memcpy(m.key, key, PROTO_KEY_SIZE);
	else
		new_key(m.key);
	m.role = role;
	m.location = proto_str_c(location);
	body_end(bd, &w, proto_key_create_req_encode(&w, &m));
}

void raw_body_key_revoke(struct raw_body *bd, uint64_t key_id)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_key_revoke_req m;
	new_key(m.key);
	m.key_id = key_id;
	body_end(bd, &w, proto_key_revoke_req_encode(&w, &m));
}

void raw_body_program_set(struct raw_body *bd, const char *name, const char *value)
{
	struct proto_wbuf w = body_start(bd);
	struct proto_program_set_req m;
	new_key(m.key);
	m.name = proto_str_c(name);
	m.value = proto_str_c(value);
	body_end(bd, &w, proto_program_set_req_encode(&w, &m));
}

/* ---- frames and connections -------------------------------------------- */

size_t raw_frame(uint8_t *out, size_t cap, uint8_t op, uint16_t flags, uint32_t rid, const uint8_t *body,
		 uint32_t n)
{
	REQUIRE(PROTO_HEADER_SIZE + (size_t)n <= cap);
	if (n > 0)
		memmove(out + PROTO_HEADER_SIZE, body, n);
	proto_header_encode(out, op, flags, rid, out + PROTO_HEADER_SIZE, n);
	return PROTO_HEADER_SIZE + n;
}

struct raw *raw_new(void)
{
	struct raw *r = calloc(1, sizeof *r);
	REQUIRE(r != NULL);
	r->fd = -1;
	return r;
}

int raw_connect(const struct harness *hh, int nonblock)
{
	const char *colon = strrchr(hh->addr, ':');
	REQUIRE(colon != NULL);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* CLOEXEC: a daemon started later must not inherit the test's sockets. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && !(nonblock && errno == EINPROGRESS)) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

int raw_open(struct raw *r, const struct harness *hh)
{
	r->len = 0;
	r->frame_len = 0;
	r->fd = raw_connect(hh, 0);
	if (r->fd < 0)
		fprintf(stderr, "    cannot connect to %s: %s\n", hh->addr, strerror(errno));
	return r->fd < 0 ? -1 : 0;
}

void raw_close(struct raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

void raw_free(struct raw *r)
{
	raw_close(r);
	free(r);
}

int raw_write(struct raw *r, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(r->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int raw_send_flags(struct raw *r, uint8_t op, uint16_t flags, uint32_t rid, const uint8_t *body, uint32_t n)
{
	static uint8_t frame[PROTO_HEADER_SIZE + sizeof(((struct raw_body *)0)->b)];
	size_t len = raw_frame(frame, sizeof frame, op, flags, rid, body, n);
	return raw_write(r, frame, len);
}

int raw_send(struct raw *r, uint8_t op, uint32_t rid, const struct raw_body *bd)
{
	return raw_send_flags(r, op, 0, rid, bd ? bd->b : NULL, bd ? bd->n : 0);
}

int raw_reply(struct raw *r, struct raw_reply *rep, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	memset(rep, 0, sizeof *rep);
	/* Not 0 (OK): a test that checks the status without first checking
	 * that a reply came must still fail. */
	rep->status = RAW_NO_STATUS;
	for (;;) {
		const uint8_t *body;
		size_t flen;
		int d = proto_frame_decode(r->buf, r->len, PROTO_MAX_BODY_HARD, &rep->hdr, &body, &flen);
		if (d < 0)
			return -2;
		if (d == 1) {
			struct proto_rbuf rb;
			memcpy(r->frame, r->buf, flen);
			r->frame_len = flen;
			memmove(r->buf, r->buf + flen, r->len - flen);
			r->len -= flen;
			proto_rbuf_init(&rb, r->frame + PROTO_HEADER_SIZE, rep->hdr.body_len);
			if (proto_reply_status(&rb, &rep->status) != 0)
				return -2;
			if (rep->status == PROTO_OK) {
				rep->ok = r->frame + PROTO_HEADER_SIZE + 2;
				rep->ok_len = rep->hdr.body_len - 2;
			} else {
				struct proto_str m;
				if (proto_reply_error_decode(&rb, &m) != 0 || proto_rbuf_finish(&rb) != 0)
					return -2;
				snprintf(rep->msg, sizeof rep->msg, "%.*s", (int)m.len, m.ptr);
			}
			return 1;
		}
		if (r->len == sizeof r->buf)
			return -2; /* a reply larger than any test expects */
		long long left = deadline - harness_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd pfd = { r->fd, POLLIN, 0 };
		int p = poll(&pfd, 1, (int)left);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return -1;
		ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return 0;
		if (n < 0)
			return -2;
		r->len += (size_t)n;
	}
}

int raw_wait_eof(struct raw *r, int timeout_ms, size_t *extra)
{
	long long deadline = harness_now_ms() + timeout_ms;
	size_t ignored;
	if (!extra)
		extra = &ignored;
	*extra = r->len;
	r->len = 0;
	for (;;) {
		long long left = deadline - harness_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = { r->fd, POLLIN, 0 };
		int p = poll(&pfd, 1, (int)left);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return 0;
		uint8_t scratch[65536];
		ssize_t n = recv(r->fd, scratch, sizeof scratch, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return 1;
		*extra += (size_t)n;
	}
}

const char *raw_got_name(int got)
{
	return got == 1 ? "a reply" : got == 0 ? "EOF" : got == -1 ? "nothing in time" : "bytes that are not a reply";
}

/* ---- HELLO -------------------------------------------------------------- */

int raw_hello(struct raw *r, const char *api_key, struct proto_hello_rep *hello)
{
	struct raw_body bd;
	struct raw_reply rep;
	raw_body_hello(&bd, PROTO_VERSION, api_key);
	if (raw_send(r, PROTO_OP_HELLO, 1, &bd) != 0)
		return -1;
	int got = raw_reply(r, &rep, RAW_REPLY_WAIT_MS);
	if (got != 1) {
		fprintf(stderr, "    HELLO: got %s\n", raw_got_name(got));
		return -1;
	}
	if (rep.status == PROTO_OK && hello) {
		struct proto_hello_rep m;
		CHECK_INT(proto_hello_rep_decode(rep.ok, rep.ok_len, &m), 0);
		*hello = m;
	}
	return rep.status;
}

void raw_login(struct raw *r, const struct harness *hh, const char *api_key)
{
	REQUIRE(raw_open(r, hh) == 0);
	int st = raw_hello(r, api_key, NULL);
	if (st != PROTO_OK)
		fprintf(stderr, "    HELLO to %s was refused: %d\n", hh->addr, st);
	REQUIRE(st == PROTO_OK);
}
