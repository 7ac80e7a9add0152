/*
 * accrue_bench.c - accrue-bench: the load generator for accrued.
 *
 * It enrols a set of customers (not timed as part of the run), opens N
 * connections, warms up, then keeps up to P requests in flight on every
 * connection for a fixed time or a fixed number of requests, and reports
 * operations and sales per second, a latency distribution and the refusals.
 *
 * The daemon usually runs on the same machine, so the client has to be
 * cheap: one thread, one libuv loop, frames encoded straight into one write
 * buffer per connection with the codec in proto/ (libaccrue is blocking and
 * does one request at a time, which is no use here), one write per
 * refill, and one clock reading per refill and per read.
 *
 * Accounting: a request counts in the figures if it was sent during the
 * measured window. When the window closes nothing more is sent and the
 * requests still in flight are waited for, so every measured request has
 * its whole latency; the requests in flight when the window opened (sent
 * during the warmup) are left out, which balances them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "accrue.h"
#include "proto.h"

#ifndef ACCRUE_VERSION
#define ACCRUE_VERSION "dev"
#endif

enum exit_code {
	EXIT_RUN_OK = 0,     /* the run completed, possibly with some refusals */
	EXIT_NOTHING = 1,    /* nothing succeeded, or the run broke off */
	EXIT_USAGE = 2,      /* bad command line */
	EXIT_CONNECT = 3,    /* cannot connect, or HELLO refused */
};

/* Enrolment is a set-up step: a few connections, each with a deep pipeline. */
#define ENROL_CONNECTIONS 4
#define ENROL_PIPELINE 64

/* Reads land in one shared buffer; only a partial frame is copied out. */
#define READ_SHARED_SIZE ((size_t)256 << 10)
#define READ_GROW ((size_t)64 << 10)

/* Our order ids: the run id (8 hex digits), '-', a counter in hex (<= 16). */
#define ORDER_ID_MAX 25
/* An ACCRUE body as we send it: key 16, id ref 9, location "" 2, order id
 * 2 + ORDER_ID_MAX, time_us 8, amount 8, nlines 2. */
#define ACCRUE_BODY_MAX (16 + 9 + 2 + 2 + ORDER_ID_MAX + 8 + 8 + 2)
/* "bench-" run "-" index "@bench.invalid", with the key and empty phone and names. */
#define ENROL_BODY_MAX (16 + 2 + 64 + 2 + 2 + 2)

#define CONNECT_TIMEOUT_MS 15000
#define DRAIN_TIMEOUT_MS 15000

#define NS_PER_S 1000000000.0

/* ---- options --------------------------------------------------------- */

struct options {
	const char *server;
	const char *key_file;
	uint32_t connections;
	uint32_t pipeline;
	uint32_t batch;
	double duration_s;   /* 0: run by --requests */
	uint64_t requests;   /* 0: run by --duration */
	uint32_t customers;
	double zipf;         /* 0: uniform */
	uint32_t mix_accrue; /* relative weights */
	uint32_t mix_lookup;
	double warmup_s;
	uint64_t rate;       /* requests per second over all connections; 0: as fast as replies allow */
	int json;
	int enrol_only;
	int connections_set, pipeline_set;
};

/* ---- latency histogram ------------------------------------------------- */

/*
 * Log-linear, in nanoseconds, as HdrHistogram lays it out: values below
 * 128 have a bucket each; above, every range [2^e, 2^(e+1)) is split into
 * 64 equal sub-buckets, so a bucket is never wider than 1/64 of its values
 * (1.6% error). Values of 2^40 ns (18 minutes) and more share the last one.
 */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP 40
#define HIST_BUCKETS (2 * HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS - 1) * HIST_SUB)

struct histogram {
	uint64_t count;
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
	unsigned e, shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e >= HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	shift = e - HIST_SUB_BITS;
	return 2 * HIST_SUB + (e - HIST_SUB_BITS - 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The highest value that falls into bucket i. */
static uint64_t hist_bucket_top(unsigned i)
{
	unsigned range, sub, shift;

	if (i < 2 * HIST_SUB)
		return i;
	range = (i - 2 * HIST_SUB) / HIST_SUB;
	sub = (i - 2 * HIST_SUB) % HIST_SUB;
	shift = range + 1;
	return (((uint64_t)HIST_SUB + sub) << shift) + ((uint64_t)1 << shift) - 1;
}

static void hist_record(struct histogram *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

static void hist_merge(struct histogram *into, const struct histogram *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	if (from->max > into->max)
		into->max = from->max;
}

/* The value at quantile q (0..1): the top of the bucket that holds it, at most the maximum. */
static uint64_t hist_quantile(const struct histogram *h, double q)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->count);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= want) {
			uint64_t top = hist_bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}

/* ---- random numbers ----------------------------------------------------- */

/* xoshiro256**: fast, and good enough for keys that only need to be distinct. */
struct rng {
	uint64_t s[4];
};

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t result = rotl64(r->s[1] * 5, 7) * 9;
	uint64_t t = r->s[1] << 17;

	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl64(r->s[3], 45);
	return result;
}

/* A uniform double in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* A uniform integer in [0, n), n > 0 (the bias of a 64-bit modulo is negligible here). */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

/* Seed from the kernel; a clock and the pid if /dev/urandom cannot be read. */
static void rng_seed(struct rng *r)
{
	FILE *f = fopen("/dev/urandom", "rb");
	int ok = f && fread(r->s, sizeof r->s, 1, f) == 1;

	if (f)
		fclose(f);
	if (!ok) {
		uint64_t x = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
		for (int i = 0; i < 4; i++) {
			/* splitmix64 */
			uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
			r->s[i] = z ^ (z >> 31);
		}
	}
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
}

/* ---- connections and the run ------------------------------------------- */

/* What a request in flight is. */
enum req_kind {
	KIND_NONE = 0, /* a free slot */
	KIND_ENROL,
	KIND_ACCRUE,
	KIND_BATCH,
	KIND_LOOKUP,
};

/* One request in flight: the ring entry for request id modulo the depth. */
struct slot {
	uint64_t sent_ns;
	uint32_t request_id;
	uint32_t tag; /* ENROL: the customer's index; BATCH: sales in it */
	uint8_t kind; /* enum req_kind */
	uint8_t measured;
};

/*
 * Connection states, in order. CONNECTING until the TCP handshake is done;
 * GREETING while its HELLO is out; READY while it carries requests; CLOSED
 * once uv_close was called (the struct is freed by the close callback).
 */
enum conn_state { CONN_CONNECTING, CONN_GREETING, CONN_READY, CONN_CLOSED };

struct bench;

struct conn {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_write_t write_req;
	struct bench *b;
	uint32_t index; /* in b->conns */
	enum conn_state state;
	int enrol; /* an enrolment connection */

	/* Requests in flight. A request id is a use count times depth plus a
	 * free slot, so the reply's id modulo depth finds its slot even when
	 * replies come back out of order. */
	uint32_t depth;
	struct slot *slots;
	uint32_t *free_slots; /* a stack of free slot numbers */
	uint32_t nfree;
	uint32_t uses;

	uint8_t *wbuf; /* the frames of one refill; owned by uv_write while writing */
	size_t wlen, wcap;
	int writing;
	int refill_wanted; /* replies freed slots while a write was out */

	uint8_t *rbuf; /* a partial frame carried over between reads */
	size_t rlen, rcap;

	struct histogram *hist;
};

enum phase {
	PHASE_ENROL,   /* enrolment connections open and enrol the customers */
	PHASE_CONNECT, /* the measured connections connect and say HELLO */
	PHASE_WARMUP,  /* load runs, nothing is counted */
	PHASE_RUN,     /* the measured window */
	PHASE_DRAIN,   /* the window closed; waiting for its last replies */
	PHASE_DONE,    /* closing everything */
};

/* Error table: one entry per status number, then our own kinds. */
#define ERR_STATUSES 32
enum err_local {
	ERR_UNKNOWN_STATUS = ERR_STATUSES, /* a status number we have no name for */
	ERR_CONNECTION_LOST,               /* the connection closed with the request in flight */
	ERR_NO_REPLY,                      /* no reply within the drain timeout */
	ERR_BAD_REPLY,                     /* a reply we could not decode or match */
	ERR_SLOTS,
};

struct bench {
	struct options opt;
	uv_loop_t *loop;
	struct sockaddr_storage addr;
	char api_key[PROTO_MAX_APIKEY + 1];
	char run_id[9];
	struct rng rng;
	enum phase phase;
	int exit_code;
	int failed;
	int broke_off; /* every connection was lost before the window closed */

	struct conn **conns;
	uint32_t nconns;
	uint32_t nready; /* connections that finished HELLO */
	uint32_t nlive;  /* connections not closed */
	uint32_t enrol_depth;
	uv_timer_t timer;
	uv_timer_t pace; /* --rate: tops the connections up every millisecond */
	double tokens;   /* --rate: requests that may be sent now */
	uint64_t pace_ns;
	uv_signal_t sigint;

	uint32_t max_body; /* from HELLO */
	uint32_t max_inflight;

	uint64_t *customer_ids;
	uint32_t enrol_next, enrolled;
	double *zipf_cdf;
	uint64_t order_counter;
	char order_id[ORDER_ID_MAX + 1];
	char email[96];
	struct proto_accrue_req areq; /* reused: big because of its lines array */
	size_t frame_max;             /* the largest frame one request can take */

	uint64_t enrol_start_ns, enrol_end_ns;
	uint64_t run_start_ns, run_end_ns;

	/* The measured window. */
	uint64_t sent_measured;
	uint64_t done_measured; /* replied to, or given up on */
	uint64_t ops;           /* replied to */
	uint64_t sales_ok;
	uint64_t lookups_ok;
	uint64_t errors[ERR_SLOTS];
	char error_message[ERR_SLOTS][128]; /* the first message seen for each */

	/* Everything, warmup included, for comparing with the daemon's journal. */
	uint64_t sales_ok_total;
	uint64_t warmup_errors;

	uint8_t *rshared;
	struct histogram *hist; /* the connections' histograms, merged as they close */
};

static void bench_finish(struct bench *b);
static void conn_refill(struct conn *c);
static void conn_lost(struct conn *c, const char *why);
static void bench_check_progress(struct bench *b);

static void bench_fail(struct bench *b, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bench_fail(struct bench *b, int code, const char *fmt, ...)
{
	va_list ap;

	if (b->failed)
		return;
	fputs("accrue-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	b->failed = 1;
	b->exit_code = code;
	bench_finish(b);
}

static const char *err_name(unsigned i)
{
	switch (i) {
	case ERR_UNKNOWN_STATUS: return "UNKNOWN";
	case ERR_CONNECTION_LOST: return "CONNECTION_LOST";
	case ERR_NO_REPLY: return "NO_REPLY";
	case ERR_BAD_REPLY: return "BAD_REPLY";
	}
	return proto_status_name((int)i);
}

static unsigned err_slot(uint16_t status)
{
	return status < ERR_STATUSES ? status : ERR_UNKNOWN_STATUS;
}

/* Count n refusals; the first message of each kind is kept for the report. */
static void count_error(struct bench *b, int measured, unsigned slot, uint64_t n, struct proto_str msg)
{
	if (measured)
		b->errors[slot] += n;
	else
		b->warmup_errors += n;
	if (!b->error_message[slot][0] && msg.len)
		snprintf(b->error_message[slot], sizeof b->error_message[slot], "%.*s", (int)msg.len, msg.ptr);
}

/* ---- connection life ----------------------------------------------------- */

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

static void conn_close(struct conn *c)
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
static struct slot *slot_take(struct conn *c)
{
	uint32_t n = c->free_slots[--c->nfree];
	struct slot *s = &c->slots[n];
	uint32_t generations = UINT32_MAX / c->depth;

	s->request_id = (c->uses++ % generations) * c->depth + n;
	return s;
}

static void slot_release(struct conn *c, struct slot *s)
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

static int buf_reserve(uint8_t **buf, size_t *cap, size_t used, size_t need)
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
static void conn_flush(struct conn *c)
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

/* ---- encoding requests ---------------------------------------------------- */

static void put_hex(char *out, size_t *n, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	int k = 0;

	do {
		tmp[k++] = digits[v & 15];
		v >>= 4;
	} while (v);
	while (k > 0)
		out[(*n)++] = tmp[--k];
}

static void random_key(struct bench *b, uint8_t key[PROTO_KEY_SIZE])
{
	uint64_t a = rng_next(&b->rng), c = rng_next(&b->rng);

	memcpy(key, &a, 8);
	memcpy(key + 8, &c, 8);
}

static uint32_t pick_customer(struct bench *b)
{
	uint32_t lo = 0, hi;
	double u;

	if (!b->zipf_cdf)
		return (uint32_t)rng_below(&b->rng, b->opt.customers);
	/* The first rank whose cumulative probability reaches u. */
	u = rng_unit(&b->rng);
	hi = b->opt.customers - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (b->zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Fill b->areq with a new sale: fresh key, customer, order id and amount. */
static void next_sale(struct bench *b)
{
	struct proto_accrue_req *m = &b->areq;
	size_t n = 0;

	random_key(b, m->key);
	m->ref.kind = PROTO_REF_ID;
	m->ref.id = b->customer_ids[pick_customer(b)];
	memcpy(b->order_id, b->run_id, 8);
	n = 8;
	b->order_id[n++] = '-';
	put_hex(b->order_id, &n, b->order_counter++);
	m->sale.order_id.ptr = b->order_id;
	m->sale.order_id.len = (uint32_t)n;
	m->sale.amount = 1 + (int64_t)rng_below(&b->rng, 10000); /* 0.01 .. 100.00 */
}

/* Which request a measured connection sends next, or KIND_NONE. */
static enum req_kind next_kind(struct bench *b, const struct conn *c)
{
	if (c->enrol) /* once every enrolment connection is ready, so the timing is fair */
		return b->phase == PHASE_ENROL && b->enrol_start_ns && b->enrol_next < b->opt.customers ? KIND_ENROL
													   : KIND_NONE;
	if (b->phase != PHASE_WARMUP && b->phase != PHASE_RUN)
		return KIND_NONE;
	if (b->phase == PHASE_RUN && b->opt.requests && b->sent_measured >= b->opt.requests)
		return KIND_NONE;
	if (b->opt.mix_lookup &&
	    rng_below(&b->rng, (uint64_t)b->opt.mix_accrue + b->opt.mix_lookup) >= b->opt.mix_accrue)
		return KIND_LOOKUP;
	return b->opt.batch > 1 ? KIND_BATCH : KIND_ACCRUE;
}

/* Encode one request into c's write buffer. Returns 0, or -1 after failing the run. */
static int encode_request(struct conn *c, enum req_kind kind, uint64_t now)
{
	struct bench *b = c->b;
	struct proto_wbuf w;
	struct slot *s;
	uint8_t *frame, opcode = 0;
	int rc = 0;

	if (buf_reserve(&c->wbuf, &c->wcap, c->wlen, b->frame_max)) {
		bench_fail(b, EXIT_NOTHING, "out of memory for a write buffer");
		return -1;
	}
	frame = c->wbuf + c->wlen;
	proto_wbuf_init(&w, frame + PROTO_HEADER_SIZE, c->wcap - c->wlen - PROTO_HEADER_SIZE);
	s = slot_take(c);
	s->tag = 0;
	switch (kind) {
	case KIND_ENROL: {
		struct proto_enrol_req m;
		int len;

		memset(&m, 0, sizeof m);
		random_key(b, m.key);
		len = snprintf(b->email, sizeof b->email, "bench-%s-%" PRIu32 "@bench.invalid", b->run_id,
			       b->enrol_next);
		m.email.ptr = b->email;
		m.email.len = (uint32_t)len;
		s->tag = b->enrol_next++;
		opcode = PROTO_OP_ENROL;
		rc = proto_enrol_req_encode(&w, &m);
		break;
	}
	case KIND_ACCRUE:
		next_sale(b);
		opcode = PROTO_OP_ACCRUE;
		rc = proto_accrue_req_encode(&w, &b->areq);
		break;
	case KIND_BATCH:
		proto_batch_req_put_header(&w, (uint16_t)b->opt.batch);
		for (uint32_t i = 0; i < b->opt.batch && rc == 0; i++) {
			next_sale(b);
			rc = proto_batch_req_put_item(&w, &b->areq);
		}
		s->tag = b->opt.batch;
		opcode = PROTO_OP_ACCRUE_BATCH;
		break;
	case KIND_LOOKUP: {
		struct proto_lookup_req m;

		memset(&m, 0, sizeof m);
		m.ref.kind = PROTO_REF_ID;
		m.ref.id = b->customer_ids[pick_customer(b)];
		opcode = PROTO_OP_LOOKUP;
		rc = proto_lookup_req_encode(&w, &m);
		break;
	}
	case KIND_NONE:
		break;
	}
	if (rc || w.overflow) {
		slot_release(c, s);
		bench_fail(b, EXIT_NOTHING, "internal error: a %s request did not fit its buffer",
			   proto_opcode_name(opcode));
		return -1;
	}
	if (w.len > b->max_body) {
		slot_release(c, s);
		bench_fail(b, EXIT_USAGE, "a %s body of %zu bytes is over the server's max_body of %" PRIu32,
			   proto_opcode_name(opcode), w.len, b->max_body);
		return -1;
	}
	proto_header_encode(frame, opcode, 0, s->request_id, frame + PROTO_HEADER_SIZE, (uint32_t)w.len);
	c->wlen += PROTO_HEADER_SIZE + w.len;
	s->kind = (uint8_t)kind;
	s->sent_ns = now;
	s->measured = b->phase == PHASE_RUN && !c->enrol;
	if (s->measured)
		b->sent_measured++;
	return 0;
}

/* Fill every free slot with a new request and send them in one write. */
static void conn_refill(struct conn *c)
{
	struct bench *b = c->b;
	uint64_t now;

	if (c->state != CONN_READY || b->phase == PHASE_DONE)
		return;
	if (c->writing) {
		c->refill_wanted = 1;
		return;
	}
	c->refill_wanted = 0;
	c->wlen = 0;
	now = uv_hrtime();
	while (c->nfree > 0) {
		enum req_kind kind;
		/* A paced run sends only what the rate has earned so far (enrolment is never paced). */
		if (b->opt.rate && !c->enrol) {
			b->tokens += (double)(now - b->pace_ns) * (double)b->opt.rate / 1e9;
			b->pace_ns = now;
			/* At most 10 ms of requests in one burst after an idle spell. */
			if (b->tokens > (double)b->opt.rate / 100 + 1)
				b->tokens = (double)b->opt.rate / 100 + 1;
			if (b->tokens < 1)
				break;
		}
		kind = next_kind(b, c);
		if (kind == KIND_NONE)
			break;
		if (b->opt.rate && !c->enrol)
			b->tokens -= 1;
		if (encode_request(c, kind, now))
			return;
	}
	conn_flush(c);
}

static void refill_all(struct bench *b)
{
	for (uint32_t i = 0; i < b->nconns && !b->failed && b->phase != PHASE_DONE; i++)
		if (b->conns[i])
			conn_refill(b->conns[i]);
}

/* ---- replies ------------------------------------------------------------- */

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

/* ---- phases --------------------------------------------------------------- */

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

static struct conn *conn_open(struct bench *b, uint32_t index, uint32_t depth, int enrol)
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

static void on_connect_timeout(uv_timer_t *t)
{
	struct bench *b = t->data;

	bench_fail(b, EXIT_CONNECT, "connecting to %s: %u of %u connections ready after %d s", b->opt.server,
		   b->nready, b->nconns, CONNECT_TIMEOUT_MS / 1000);
}

/* Open n connections; the phase moves on once all of them have said HELLO. */
static void open_connections(struct bench *b, uint32_t n, uint32_t depth, int enrol)
{
	b->nconns = n;
	b->nready = 0;
	memset(b->conns, 0, n * sizeof *b->conns);
	uv_timer_start(&b->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
	for (uint32_t i = 0; i < n && !b->failed; i++)
		if (!conn_open(b, i, depth, enrol) && !b->failed)
			bench_fail(b, EXIT_CONNECT, "cannot open connection %u", i);
}

static void close_connections(struct bench *b)
{
	for (uint32_t i = 0; i < b->nconns; i++)
		if (b->conns[i])
			conn_close(b->conns[i]);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t missing = b->sent_measured - b->done_measured;

	fprintf(stderr, "accrue-bench: %" PRIu64 " replies still missing %d s after the run\n", missing,
		DRAIN_TIMEOUT_MS / 1000);
	b->errors[ERR_NO_REPLY] += missing;
	b->done_measured = b->sent_measured;
	bench_finish(b);
}

static void end_run(struct bench *b)
{
	if (b->phase != PHASE_RUN)
		return;
	b->phase = PHASE_DRAIN;
	if (!b->run_end_ns)
		b->run_end_ns = uv_hrtime();
	uv_timer_stop(&b->timer);
	uv_timer_start(&b->timer, on_drain_timeout, DRAIN_TIMEOUT_MS, 0);
	bench_check_progress(b);
}

static void on_duration_over(uv_timer_t *t)
{
	end_run(t->data);
}

static void start_run(struct bench *b)
{
	b->phase = PHASE_RUN;
	b->run_start_ns = uv_hrtime();
	uv_timer_stop(&b->timer);
	if (b->opt.duration_s > 0)
		uv_timer_start(&b->timer, on_duration_over, (uint64_t)(b->opt.duration_s * 1000 + 0.5), 0);
	refill_all(b);
}

static void on_warmup_over(uv_timer_t *t)
{
	start_run(t->data);
}

static void on_sigint(uv_signal_t *sig, int signum)
{
	struct bench *b = sig->data;

	(void)signum;
	if (b->phase == PHASE_RUN) {
		fprintf(stderr, "accrue-bench: interrupted; reporting the run so far\n");
		end_run(b);
	} else if (b->phase == PHASE_DRAIN) {
		on_drain_timeout(&b->timer);
	} else {
		bench_fail(b, EXIT_NOTHING, "interrupted");
	}
}

/* Move the phases on when their condition is met. */
static void bench_check_progress(struct bench *b)
{
	if (b->failed || b->phase == PHASE_DONE)
		return;
	switch (b->phase) {
	case PHASE_ENROL:
		if (!b->enrol_start_ns && b->nready == b->nconns) {
			uv_timer_stop(&b->timer);
			b->enrol_start_ns = uv_hrtime();
			refill_all(b);
		} else if (b->enrol_start_ns && b->enrolled == b->opt.customers) {
			b->enrol_end_ns = uv_hrtime();
			close_connections(b);
			if (b->opt.enrol_only) {
				bench_finish(b);
				return;
			}
			b->phase = PHASE_CONNECT;
			if (!b->opt.json)
				fprintf(stderr, "accrue-bench: opening %" PRIu32 " connections\n", b->opt.connections);
			open_connections(b, b->opt.connections, b->opt.pipeline, 0);
		}
		break;
	case PHASE_CONNECT:
		if (b->nready < b->nconns)
			break;
		uv_timer_stop(&b->timer);
		if (b->opt.batch > 1 && b->frame_max - PROTO_HEADER_SIZE > b->max_body) {
			bench_fail(b, EXIT_USAGE,
				   "an ACCRUE_BATCH of %" PRIu32 " sales can take %zu bytes, over the server's max_body of "
				   "%" PRIu32 "; use a smaller --batch",
				   b->opt.batch, b->frame_max - PROTO_HEADER_SIZE, b->max_body);
			break;
		}
		if (b->opt.pipeline > b->max_inflight)
			fprintf(stderr,
				"accrue-bench: warning: --pipeline %" PRIu32 " is over the server's max_inflight %" PRIu32
				"; it will stop reading\n",
				b->opt.pipeline, b->max_inflight);
		if (b->opt.warmup_s > 0) {
			b->phase = PHASE_WARMUP;
			uv_timer_start(&b->timer, on_warmup_over, (uint64_t)(b->opt.warmup_s * 1000 + 0.5), 0);
			refill_all(b);
		} else {
			start_run(b);
		}
		break;
	case PHASE_WARMUP:
		if (b->nlive == 0)
			bench_fail(b, EXIT_NOTHING, "every connection was lost during the warmup");
		break;
	case PHASE_RUN:
		if (b->opt.requests && b->done_measured >= b->opt.requests)
			end_run(b);
		else if (b->nlive == 0) {
			fprintf(stderr, "accrue-bench: every connection was lost; reporting the run so far\n");
			b->broke_off = 1;
			end_run(b);
		}
		break;
	case PHASE_DRAIN:
		if (b->done_measured >= b->sent_measured || b->nlive == 0)
			bench_finish(b);
		break;
	case PHASE_DONE:
		break;
	}
}

static void on_pace(uv_timer_t *t)
{
	struct bench *b = t->data;

	if (b->phase == PHASE_WARMUP || b->phase == PHASE_RUN)
		refill_all(b);
}

static void bench_finish(struct bench *b)
{
	if (b->phase == PHASE_DONE)
		return;
	b->phase = PHASE_DONE;
	close_connections(b);
	uv_timer_stop(&b->timer);
	uv_close((uv_handle_t *)&b->timer, NULL);
	uv_timer_stop(&b->pace);
	uv_close((uv_handle_t *)&b->pace, NULL);
	uv_close((uv_handle_t *)&b->sigint, NULL);
}

/* ---- setup ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: accrue-bench --server HOST:PORT --key-file FILE --customers N\n"
		"                    (--duration S | --requests N) [options]\n"
		"\n"
		"Load generator for accrued. Enrols N customers (emails\n"
		"bench-RUN-I@bench.invalid, RUN random per run, so reruns against one\n"
		"daemon do not collide), opens the connections, warms up, then keeps up\n"
		"to P requests in flight on every connection and reports what it saw.\n"
		"\n"
		"  --server HOST:PORT     the daemon\n"
		"  --key-file FILE        a file whose first line is an API key (admin, or\n"
		"                         a terminal key: it can enrol and accrue)\n"
		"  --connections N        measured connections (default 1)\n"
		"  --pipeline P           requests in flight per connection (default 1)\n"
		"  --batch B              sales per accrue request: 1 sends ACCRUE, more\n"
		"                         sends ACCRUE_BATCH of B sales (1..8190, default 1)\n"
		"  --duration S           measure for S seconds, or\n"
		"  --requests N           measure N requests\n"
		"  --customers N          customers to enrol and spread the load over\n"
		"  --zipf S               pick customers by a Zipf law with exponent S\n"
		"                         (default: uniformly)\n"
		"  --mix accrue=W,lookup=W  relative weights of the requests (default\n"
		"                         accrue=100); a lookup is a LOOKUP by id\n"
		"  --warmup S             seconds of load before measuring (default 2)\n"
		"  --rate R               send at most R requests per second over all\n"
		"                         connections (default: each as soon as a slot\n"
		"                         frees); latency is still from send to reply\n"
		"  --enrol-only           enrol, report enrolments per second, exit; uses\n"
		"                         --connections and --pipeline if given, else %d and %d\n"
		"  --json                 print one JSON object on stdout instead of text\n"
		"  --help                 show this help\n"
		"\n"
		"Every sale has its own order id and random request key and an amount of\n"
		"0.01 to 100.00 (1..10000 minor units), at the key's location.\n"
		"\n"
		"Figures count the requests sent in the measured window; after it, the\n"
		"ones still in flight are waited for. operations: requests replied to,\n"
		"whatever the status; sales: sales accrued OK, batch items included;\n"
		"latency: from the write of a request to the read of its reply, in\n"
		"microseconds, from a log-linear histogram (about 1.6%% resolution);\n"
		"errors: refusals by status name, each refused batch item counted, plus\n"
		"CONNECTION_LOST, NO_REPLY and BAD_REPLY.\n"
		"\n"
		"JSON fields: ops_per_sec, sales_per_sec, p50_us, p90_us, p99_us, p999_us,\n"
		"max_us, errors {name: count}, connections, pipeline, batch, duration_s,\n"
		"and more.\n"
		"\n"
		"Exit status: 0 the run completed (refusals are reported, not fatal);\n"
		"1 nothing succeeded or the run broke off; 2 usage; 3 cannot connect.\n",
		ENROL_CONNECTIONS, ENROL_PIPELINE);
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;

	if (parse_u64(s, lo, hi, &v))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_seconds(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int parse_mix(const char *spec, struct options *o)
{
	char copy[128], *save = NULL, *tok;

	if (strlen(spec) >= sizeof copy)
		return -1;
	strcpy(copy, spec);
	o->mix_accrue = o->mix_lookup = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint32_t w;

		if (!eq || parse_u32(eq + 1, 0, 1000000, &w))
			return -1;
		*eq = 0;
		if (strcmp(tok, "accrue") == 0)
			o->mix_accrue = w;
		else if (strcmp(tok, "lookup") == 0)
			o->mix_lookup = w;
		else
			return -1;
	}
	return o->mix_accrue + o->mix_lookup > 0 ? 0 : -1;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("accrue-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(accrue-bench --help shows the options)\n", stderr);
	return EXIT_USAGE;
}

/* Returns -1 for --help (shown), 0 to run, or EXIT_USAGE. */
static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_SERVER = 256, OPT_KEY_FILE, OPT_CONNECTIONS, OPT_PIPELINE, OPT_BATCH, OPT_DURATION,
		OPT_REQUESTS, OPT_CUSTOMERS, OPT_ZIPF, OPT_MIX, OPT_WARMUP, OPT_JSON, OPT_ENROL_ONLY, OPT_HELP, OPT_RATE,
	};
	static const struct option longopts[] = {
		{"server", required_argument, NULL, OPT_SERVER},
		{"key-file", required_argument, NULL, OPT_KEY_FILE},
		{"connections", required_argument, NULL, OPT_CONNECTIONS},
		{"pipeline", required_argument, NULL, OPT_PIPELINE},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"duration", required_argument, NULL, OPT_DURATION},
		{"requests", required_argument, NULL, OPT_REQUESTS},
		{"customers", required_argument, NULL, OPT_CUSTOMERS},
		{"zipf", required_argument, NULL, OPT_ZIPF},
		{"mix", required_argument, NULL, OPT_MIX},
		{"warmup", required_argument, NULL, OPT_WARMUP},
		{"rate", required_argument, NULL, OPT_RATE},
		{"json", no_argument, NULL, OPT_JSON},
		{"enrol-only", no_argument, NULL, OPT_ENROL_ONLY},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	int opt;

	memset(o, 0, sizeof *o);
	o->connections = 1;
	o->pipeline = 1;
	o->batch = 1;
	o->mix_accrue = 100;
	o->warmup_s = 2;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		const char *arg = optarg;
		switch (opt) {
		case OPT_SERVER: o->server = arg; break;
		case OPT_KEY_FILE: o->key_file = arg; break;
		case OPT_CONNECTIONS:
			if (parse_u32(arg, 1, 1000000, &o->connections))
				return usage_error("--connections wants 1..1000000, not '%s'", arg);
			o->connections_set = 1;
			break;
		case OPT_PIPELINE:
			if (parse_u32(arg, 1, 65536, &o->pipeline))
				return usage_error("--pipeline wants 1..65536, not '%s'", arg);
			o->pipeline_set = 1;
			break;
		case OPT_BATCH:
			if (parse_u32(arg, 1, PROTO_MAX_BATCH, &o->batch))
				return usage_error("--batch wants 1..%d (sales in one ACCRUE_BATCH), not '%s'",
						   PROTO_MAX_BATCH, arg);
			break;
		case OPT_DURATION:
			if (parse_seconds(arg, 0.001, 86400, &o->duration_s))
				return usage_error("--duration wants seconds (0.001..86400), not '%s'", arg);
			break;
		case OPT_REQUESTS:
			if (parse_u64(arg, 1, UINT64_MAX / 2, &o->requests))
				return usage_error("--requests wants a positive count, not '%s'", arg);
			break;
		case OPT_CUSTOMERS:
			if (parse_u32(arg, 1, 100000000, &o->customers))
				return usage_error("--customers wants 1..100000000, not '%s'", arg);
			break;
		case OPT_ZIPF:
			if (parse_seconds(arg, 0, 100, &o->zipf))
				return usage_error("--zipf wants an exponent (0..100), not '%s'", arg);
			break;
		case OPT_MIX:
			if (parse_mix(arg, o))
				return usage_error("--mix wants accrue=W,lookup=W with whole weights, not '%s'", arg);
			break;
		case OPT_WARMUP:
			if (parse_seconds(arg, 0, 3600, &o->warmup_s))
				return usage_error("--warmup wants seconds (0..3600), not '%s'", arg);
			break;
		case OPT_RATE:
			if (parse_u64(arg, 1, 100000000, &o->rate))
				return usage_error("--rate wants requests per second (1..100000000), not '%s'", arg);
			break;
		case OPT_JSON: o->json = 1; break;
		case OPT_ENROL_ONLY: o->enrol_only = 1; break;
		case OPT_HELP: usage(stdout); return -1;
		default:
			return usage_error("option '%s' is unknown or wants a value", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->server)
		return usage_error("--server HOST:PORT is required");
	if (!o->key_file)
		return usage_error("--key-file FILE is required");
	if (!o->customers)
		return usage_error("--customers N is required");
	if (!o->enrol_only && !o->duration_s == !o->requests)
		return usage_error("give one of --duration S and --requests N");
	if (o->enrol_only) {
		if (!o->connections_set)
			o->connections = ENROL_CONNECTIONS;
		if (!o->pipeline_set)
			o->pipeline = ENROL_PIPELINE;
	}
	return 0;
}

/* The API key from the key file (accrue_key_file_read). */
static int read_key(const char *path, char *key, size_t cap)
{
	char msg[600];

	if (accrue_key_file_read(path, key, cap, msg, sizeof msg)) {
		fprintf(stderr, "accrue-bench: %s\n", msg);
		return -1;
	}
	return 0;
}

/* HOST:PORT or [V6]:PORT, resolved once before the loop starts. */
static int resolve(const char *spec, struct sockaddr_storage *out)
{
	char host[256];
	const char *h = spec, *port;
	size_t hlen;
	struct addrinfo hints, *res = NULL;
	int rc;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return -1;
		h = spec + 1;
		hlen = (size_t)(close - h);
		port = close + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - spec);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof host || !*port)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc || !res) {
		fprintf(stderr, "accrue-bench: cannot resolve %s: %s\n", spec, gai_strerror(rc));
		return -2;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* Every connection is a descriptor: raise the soft limit as far as allowed. */
static void raise_fd_limit(uint32_t connections)
{
	struct rlimit rl;
	uint64_t want = (uint64_t)connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit nl = rl;
		nl.rlim_cur = rl.rlim_max;
		/* An unlimited hard limit is still capped by the kernel's nr_open. */
		if (setrlimit(RLIMIT_NOFILE, &nl) != 0 && rl.rlim_max == RLIM_INFINITY) {
			nl.rlim_cur = (rlim_t)(want > 1048576 ? want : 1048576);
			if (setrlimit(RLIMIT_NOFILE, &nl) != 0)
				nl.rlim_cur = rl.rlim_cur;
		}
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)rl.rlim_cur < want)
		fprintf(stderr,
			"accrue-bench: warning: the open-file limit is %llu (hard %llu); %" PRIu32
			" connections want %llu (ulimit -n)\n",
			(unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, connections,
			(unsigned long long)want);
}

/* Cumulative Zipf probabilities: rank k (from 0) weighs 1 / (k + 1)^s. */
static double *zipf_cdf_make(uint32_t n, double s)
{
	double *cdf = malloc((size_t)n * sizeof *cdf), sum = 0;

	if (!cdf)
		return NULL;
	for (uint32_t k = 0; k < n; k++) {
		sum += pow((double)k + 1, -s);
		cdf[k] = sum;
	}
	for (uint32_t k = 0; k < n; k++)
		cdf[k] /= sum;
	cdf[n - 1] = 1.0;
	return cdf;
}

/* ---- report ----------------------------------------------------------------- */

static void print_errors_json(const struct bench *b)
{
	int first = 1;

	printf("{");
	for (unsigned i = 1; i < ERR_SLOTS; i++) {
		if (!b->errors[i])
			continue;
		printf("%s\"%s\":%" PRIu64, first ? "" : ",", err_name(i), b->errors[i]);
		first = 0;
	}
	printf("}");
}

/* A JSON string; the messages are the server's text, so escape everything. */
static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void print_error_messages_json(const struct bench *b)
{
	int first = 1;

	printf("{");
	for (unsigned i = 1; i < ERR_SLOTS; i++) {
		if (!b->error_message[i][0])
			continue;
		printf("%s\"%s\":", first ? "" : ",", err_name(i));
		print_json_string(b->error_message[i]);
		first = 0;
	}
	printf("}");
}

static void print_errors_text(const struct bench *b)
{
	int any = 0;

	printf("errors        ");
	for (unsigned i = 1; i < ERR_SLOTS; i++) {
		if (!b->errors[i])
			continue;
		printf("%s%s %" PRIu64, any ? ", " : "", err_name(i), b->errors[i]);
		any = 1;
	}
	printf("%s\n", any ? "" : "none");
	for (unsigned i = 1; i < ERR_SLOTS; i++)
		if (b->error_message[i][0])
			printf("  %-11s %s\n", err_name(i), b->error_message[i]);
}

static void mix_text(const struct options *o, char *out, size_t cap)
{
	if (o->mix_lookup)
		snprintf(out, cap, "accrue=%" PRIu32 ",lookup=%" PRIu32, o->mix_accrue, o->mix_lookup);
	else
		snprintf(out, cap, "accrue=100");
}

static void report_enrol_only(const struct bench *b)
{
	double secs = (double)(b->enrol_end_ns - b->enrol_start_ns) / NS_PER_S;
	double rate = secs > 0 ? b->enrolled / secs : 0;

	if (b->opt.json) {
		printf("{\"enrolments\":%" PRIu32 ",\"enrolments_per_sec\":%.1f,\"duration_s\":%.3f,"
		       "\"connections\":%" PRIu32 ",\"pipeline\":%" PRIu32 ",\"run_id\":\"%s\",\"errors\":{}}\n",
		       b->enrolled, rate, secs, b->nconns, b->enrol_depth, b->run_id);
		return;
	}
	printf("accrue-bench %s: %s, enrol only, run %s\n", ACCRUE_VERSION, b->opt.server, b->run_id);
	printf("enrolments    %" PRIu32 " in %.3f s: %.0f enrolments/s (%" PRIu32 " connections, pipeline %" PRIu32
	       ")\n",
	       b->enrolled, secs, rate, b->nconns, b->enrol_depth);
}

static void report_run(const struct bench *b, const struct histogram *h)
{
	double secs = (double)(b->run_end_ns - b->run_start_ns) / NS_PER_S;
	double enrol_s = (double)(b->enrol_end_ns - b->enrol_start_ns) / NS_PER_S;
	double ops_rate = secs > 0 ? b->ops / secs : 0, sales_rate = secs > 0 ? b->sales_ok / secs : 0;
	double p50 = hist_quantile(h, 0.50) / 1e3, p90 = hist_quantile(h, 0.90) / 1e3;
	double p99 = hist_quantile(h, 0.99) / 1e3, p999 = hist_quantile(h, 0.999) / 1e3;
	double pmax = h->max / 1e3;
	double enrol_rate = enrol_s > 0 ? b->enrolled / enrol_s : 0;
	char mix[64];

	mix_text(&b->opt, mix, sizeof mix);
	if (b->opt.json) {
		printf("{\"ops_per_sec\":%.1f,\"sales_per_sec\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
		       "\"p999_us\":%.1f,\"max_us\":%.1f,\"errors\":",
		       ops_rate, sales_rate, p50, p90, p99, p999, pmax);
		print_errors_json(b);
		printf(",\"error_messages\":");
		print_error_messages_json(b);
		printf(",\"connections\":%" PRIu32 ",\"pipeline\":%" PRIu32 ",\"batch\":%" PRIu32
		       ",\"duration_s\":%.3f,\"ops\":%" PRIu64 ",\"sales\":%" PRIu64 ",\"lookups\":%" PRIu64
		       ",\"customers\":%" PRIu32 ",\"zipf\":%g,\"mix\":\"%s\",\"rate\":%" PRIu64 ",\"warmup_s\":%g"
		       ",\"warmup_errors\":%" PRIu64 ",\"enrol_s\":%.3f,\"enrolments_per_sec\":%.1f"
		       ",\"sales_total\":%" PRIu64 ",\"run_id\":\"%s\"}\n",
		       b->opt.connections, b->opt.pipeline, b->opt.batch, secs, b->ops, b->sales_ok, b->lookups_ok,
		       b->opt.customers, b->opt.zipf, mix, b->opt.rate, b->opt.warmup_s, b->warmup_errors, enrol_s, enrol_rate,
		       b->sales_ok_total, b->run_id);
		return;
	}
	printf("accrue-bench %s: %s, %" PRIu32 " connections, pipeline %" PRIu32 ", batch %" PRIu32 ", mix %s\n",
	       ACCRUE_VERSION, b->opt.server, b->opt.connections, b->opt.pipeline, b->opt.batch, mix);
	if (b->opt.zipf > 0)
		printf("customers     %" PRIu32 ", zipf %g; run %s\n", b->opt.customers, b->opt.zipf, b->run_id);
	else
		printf("customers     %" PRIu32 ", uniform; run %s\n", b->opt.customers, b->run_id);
	printf("enrolment     %" PRIu32 " in %.3f s, %.0f/s (set-up, not in the figures below)\n", b->enrolled,
	       enrol_s, enrol_rate);
	printf("run           %.3f s after %g s of warmup\n", secs, b->opt.warmup_s);
	printf("operations    %" PRIu64 ": %.1f ops/s\n", b->ops, ops_rate);
	printf("sales         %" PRIu64 ": %.1f sales/s\n", b->sales_ok, sales_rate);
	if (b->opt.mix_lookup)
		printf("lookups       %" PRIu64 ": %.1f lookups/s\n", b->lookups_ok, secs > 0 ? b->lookups_ok / secs : 0);
	printf("latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", p50, p90, p99, p999, pmax);
	print_errors_text(b);
	if (b->warmup_errors)
		printf("warmup errors %" PRIu64 " (not in the figures above)\n", b->warmup_errors);
	printf("journal       %" PRIu64 " sales accrued OK in all (warmup and run) + %" PRIu32
	       " enrolments = %" PRIu64 " new records expected\n",
	       b->sales_ok_total, b->enrolled, b->sales_ok_total + b->enrolled);
}

int main(int argc, char **argv)
{
	static struct bench bench; /* big (the accrue request's lines): not on the stack */
	struct bench *b = &bench;
	uint32_t most_conns;
	int rc;

	rc = parse_options(argc, argv, &b->opt);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	rc = resolve(b->opt.server, &b->addr);
	if (rc == -1)
		return usage_error("--server wants HOST:PORT, not '%s'", b->opt.server);
	if (rc)
		return EXIT_CONNECT;
	if (read_key(b->opt.key_file, b->api_key, sizeof b->api_key))
		return EXIT_USAGE;

	most_conns = b->opt.enrol_only ? b->opt.connections
		     : b->opt.connections > ENROL_CONNECTIONS ? b->opt.connections
							      : ENROL_CONNECTIONS;
	raise_fd_limit(most_conns);

	rng_seed(&b->rng);
	snprintf(b->run_id, sizeof b->run_id, "%08" PRIx32, (uint32_t)rng_next(&b->rng));
	b->customer_ids = calloc(b->opt.customers, sizeof *b->customer_ids);
	b->conns = calloc(most_conns, sizeof *b->conns);
	b->rshared = malloc(READ_SHARED_SIZE);
	b->hist = calloc(1, sizeof *b->hist);
	if (b->opt.zipf > 0 && !b->opt.enrol_only)
		b->zipf_cdf = zipf_cdf_make(b->opt.customers, b->opt.zipf);
	if (!b->customer_ids || !b->conns || !b->rshared || !b->hist || (b->opt.zipf > 0 && !b->opt.enrol_only && !b->zipf_cdf)) {
		fprintf(stderr, "accrue-bench: out of memory\n");
		return EXIT_NOTHING;
	}
	/* The request struct is reused for every sale; only these fields change. */
	memset(&b->areq, 0, sizeof b->areq);
	b->areq.sale.location = proto_str_c("");
	b->frame_max = PROTO_HEADER_SIZE + 2 + (size_t)b->opt.batch * (4 + ACCRUE_BODY_MAX);
	if (b->frame_max < PROTO_HEADER_SIZE + ENROL_BODY_MAX)
		b->frame_max = PROTO_HEADER_SIZE + ENROL_BODY_MAX;
	b->max_body = PROTO_MAX_BODY_DEFAULT;
	b->max_inflight = UINT32_MAX;

	b->loop = uv_default_loop();
	uv_timer_init(b->loop, &b->timer);
	b->timer.data = b;
	uv_timer_init(b->loop, &b->pace);
	b->pace.data = b;
	b->pace_ns = uv_hrtime();
	if (b->opt.rate)
		uv_timer_start(&b->pace, on_pace, 1, 1);
	uv_signal_init(b->loop, &b->sigint);
	b->sigint.data = b;
	uv_signal_start(&b->sigint, on_sigint, SIGINT);

	if (!b->opt.json)
		fprintf(stderr, "accrue-bench: run %s: enrolling %" PRIu32 " customers\n", b->run_id, b->opt.customers);
	b->phase = PHASE_ENROL;
	{
		uint32_t n = b->opt.enrol_only ? b->opt.connections : ENROL_CONNECTIONS;
		uint32_t depth = b->opt.enrol_only ? b->opt.pipeline : ENROL_PIPELINE;
		if (n > b->opt.customers)
			n = b->opt.customers;
		b->enrol_depth = depth;
		open_connections(b, n, depth, 1);
	}
	/* The HELLO replies move the phases on from here; see bench_check_progress. */
	uv_run(b->loop, UV_RUN_DEFAULT);
	uv_loop_close(b->loop);

	if (b->failed)
		return b->exit_code;
	if (b->opt.enrol_only) {
		report_enrol_only(b);
		return b->enrolled ? EXIT_RUN_OK : EXIT_NOTHING;
	}
	report_run(b, b->hist);
	return b->sales_ok + b->lookups_ok > 0 && !b->broke_off ? EXIT_RUN_OK : EXIT_NOTHING;
}
