/*
 * bench_int.h - what accrue-bench's files share (see accrue_bench.c).
 *
 * accrue-bench is one program in a few files, split where its work splits:
 *   accrue_bench.c   main: set-up before the loop, and the report after it;
 *   bench_options.c  the command line and --help;
 *   bench_load.c     what is sent and when: the random stream, the requests,
 *                    pacing and the phases of a run;
 *   bench_conn.c     one connection: connect, HELLO, write, read, match
 *                    replies to requests, close;
 *   bench_stats.c    the figures: the latency histogram and the refusals;
 *   bench_report.c   the figures printed as text or JSON.
 * Every file works on the one struct bench that main owns; one thread and
 * one libuv loop run it all, so nothing here is locked.
 */
#ifndef ACCRUE_BENCH_INT_H
#define ACCRUE_BENCH_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

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
	uint32_t list_load;    /* threads sending list queries back to back during the run */
	uint32_t list_queries; /* 0, or: only send this many list queries, one at a time */
};

/* ---- latency histogram ----------------------------------------------- */

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

/* ---- random numbers -------------------------------------------------- */

/* xoshiro256**: fast, and good enough for keys that only need to be distinct. */
struct rng {
	uint64_t s[4];
};

/* ---- connections and the run ----------------------------------------- */

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
/* Every status the protocol has must get a slot of its own and its name. */
_Static_assert(PROTO_ST_NOT_MEMBER < ERR_STATUSES, "ERR_STATUSES must exceed the highest status in proto.h");

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

	/* List queries (bench_list.c). */
	struct histogram list_hist;
	uint64_t list_done, list_failed;
	char list_error[256]; /* the first failure's message */
};

/* ---- bench_list.c ---------------------------------------------------- */

/* Start the --list-load threads (they wait for list_load_go). 0, or -1 out of resources. */
int list_load_start(struct bench *b);
/* The warmup began: the list threads start querying. */
void list_load_go(void);
/* Stop them and merge their figures into b. */
void list_load_stop(struct bench *b);
/* --list-queries: send them one after another; an exit status. */
int list_queries_run(struct bench *b);

/* ---- bench_options.c ------------------------------------------------- */

/* Fill o from the command line. Returns -1 for --help (shown), 0 to run, or EXIT_USAGE (explained on stderr). */
int parse_options(int argc, char **argv, struct options *o);

/* Explain a bad command line on stderr and return EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- bench_stats.c --------------------------------------------------- */

void hist_record(struct histogram *h, uint64_t v);
void hist_merge(struct histogram *into, const struct histogram *from);
/* The value at quantile q (0..1): the top of the bucket that holds it, at most the maximum. */
uint64_t hist_quantile(const struct histogram *h, double q);

/* The name of error slot i: a status name, or one of our own kinds. */
const char *err_name(unsigned i);
/* The error slot of a status from the server. */
unsigned err_slot(uint16_t status);
/* Count n refusals; the first message of each kind is kept for the report. */
void count_error(struct bench *b, int measured, unsigned slot, uint64_t n, struct proto_str msg);

/* ---- bench_load.c ---------------------------------------------------- */

uint64_t rng_next(struct rng *r);
/* Seed from the kernel; a clock and the pid if /dev/urandom cannot be read. */
void rng_seed(struct rng *r);

/* Fill every free slot of c with a new request and send them in one write. */
void conn_refill(struct conn *c);
/* Stop the run with exit code code, saying why on stderr (only the first failure is told). */
void bench_fail(struct bench *b, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Move the phases on when their condition is met. */
void bench_check_progress(struct bench *b);
/* Run the benchmark on the default loop, from enrolment to the last reply. */
void bench_run(struct bench *b);

/* ---- bench_conn.c ---------------------------------------------------- */

/* Open connection index of b with depth slots; NULL if it could not be started. */
struct conn *conn_open(struct bench *b, uint32_t index, uint32_t depth, int enrol);
void conn_close(struct conn *c);
/* Send what was encoded into c's write buffer. */
void conn_flush(struct conn *c);
/* Take a slot off the stack and give it a fresh request id. */
struct slot *slot_take(struct conn *c);
void slot_release(struct conn *c, struct slot *s);
/* Make room for need more bytes after used in *buf; 0, or -1 out of memory. */
int buf_reserve(uint8_t **buf, size_t *cap, size_t used, size_t need);

/* ---- bench_report.c -------------------------------------------------- */

void report_enrol_only(const struct bench *b);
void report_run(const struct bench *b, const struct histogram *h);
void report_list_queries(const struct bench *b);

#endif
