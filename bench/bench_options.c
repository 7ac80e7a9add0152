/*
 * bench_options.c - accrue-bench's command line: --help, and the options
 * read into struct options with their ranges checked.
 */
#include "bench_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
		"  --list-load Q          Q more connections (threads) send customer list\n"
		"                         and search queries back to back from the warmup\n"
		"                         on; their count and latency are reported apart,\n"
		"                         and the sales' figures show what they cost\n"
		"  --list-queries N       enrol the customers, then send N list queries one\n"
		"                         after another (a rotation of 100: every sort,\n"
		"                         both directions, no filter, searches that match\n"
		"                         a few, all or none, a balance bound; each with\n"
		"                         its total, 50 rows) and report their latency\n"
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

int usage_error(const char *fmt, ...)
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
int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_SERVER = 256, OPT_KEY_FILE, OPT_CONNECTIONS, OPT_PIPELINE, OPT_BATCH, OPT_DURATION,
		OPT_REQUESTS, OPT_CUSTOMERS, OPT_ZIPF, OPT_MIX, OPT_WARMUP, OPT_JSON, OPT_ENROL_ONLY, OPT_HELP, OPT_RATE, OPT_LIST_LOAD, OPT_LIST_QUERIES,
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
		{"list-load", required_argument, NULL, OPT_LIST_LOAD},
		{"list-queries", required_argument, NULL, OPT_LIST_QUERIES},
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
		case OPT_LIST_LOAD:
			if (parse_u32(arg, 1, 64, &o->list_load))
				return usage_error("--list-load wants 1..64 threads, not '%s'", arg);
			break;
		case OPT_LIST_QUERIES:
			if (parse_u32(arg, 1, 1000000, &o->list_queries))
				return usage_error("--list-queries wants a count, not '%s'", arg);
			break;
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
	if (o->list_queries && (o->list_load || o->duration_s || o->requests))
		return usage_error("--list-queries runs alone: no --list-load, --duration or --requests");
	if (o->list_queries) {
		/* Enrol the customers as --enrol-only does, then the queries. */
		o->enrol_only = 1;
	}
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
