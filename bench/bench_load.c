/*
 * bench_load.c - what accrue-bench sends and when: the random stream, the
 * requests (customers, sales, the mix), pacing, and the phases of a run
 * from enrolment to the last reply.
 */
#include "bench_int.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void bench_finish(struct bench *b);

/* ---- random numbers -------------------------------------------------- */

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *r)
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
void rng_seed(struct rng *r)
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

/* ---- encoding requests ----------------------------------------------- */

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
void conn_refill(struct conn *c)
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

/* ---- phases ---------------------------------------------------------- */

void bench_fail(struct bench *b, int code, const char *fmt, ...)
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
void bench_check_progress(struct bench *b)
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
			list_load_go();
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

/* ---- the run --------------------------------------------------------- */

/*
 * Run the benchmark on the default loop: enrol, connect, warm up, measure
 * and drain, each phase started by the one before (bench_check_progress).
 * Returns once every handle is closed; b->failed and the figures say how
 * it went.
 */
void bench_run(struct bench *b)
{
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
}
