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
 *
 * This file holds main: the set-up before the loop runs (the address, the
 * key, the memory) and the report after it. bench_int.h says where the
 * rest is.
 */
#include "bench_int.h"

#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "accrue.h"
#include "addr.h"

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

/*
 * HOST:PORT or [V6]:PORT, split by addr_parse (the rules accrued and
 * libaccrue follow too) and resolved once before the loop starts. Returns
 * 0; -1 for an address that breaks a rule, with why filled; -2 when the
 * host cannot be resolved (said on stderr).
 */
static int resolve(const char *spec, struct sockaddr_storage *out, char *why, size_t why_cap)
{
	struct addr_host_port hp;
	char port[8];
	struct addrinfo hints, *res = NULL;
	int rc;

	if (addr_parse(spec, 0, &hp, why, why_cap) != 0)
		return -1;
	snprintf(port, sizeof port, "%u", (unsigned)hp.port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(hp.host, port, &hints, &res);
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

int main(int argc, char **argv)
{
	static struct bench bench; /* big (the accrue request's lines): not on the stack */
	struct bench *b = &bench;
	uint32_t most_conns;
	char why[160];
	int rc;

	rc = parse_options(argc, argv, &b->opt);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	rc = resolve(b->opt.server, &b->addr, why, sizeof why);
	if (rc == -1)
		return usage_error("--server '%s': %s", b->opt.server, why);
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

	if (list_load_start(b) != 0) {
		fprintf(stderr, "accrue-bench: cannot start the --list-load threads\n");
		return EXIT_NOTHING;
	}
	bench_run(b);
	list_load_stop(b);

	if (b->failed)
		return b->exit_code;
	if (b->opt.list_queries) {
		rc = list_queries_run(b);
		if (rc != EXIT_CONNECT)
			report_list_queries(b);
		return rc;
	}
	if (b->opt.enrol_only) {
		report_enrol_only(b);
		return b->enrolled ? EXIT_RUN_OK : EXIT_NOTHING;
	}
	report_run(b, b->hist);
	return b->sales_ok + b->lookups_ok > 0 && !b->broke_off ? EXIT_RUN_OK : EXIT_NOTHING;
}
