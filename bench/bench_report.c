/*
 * bench_report.c - accrue-bench's report: the figures of a run, or of an
 * enrolment-only run, as text for a person or one JSON object for a script.
 */
#include "bench_int.h"

#include <inttypes.h>

#include "output.h"

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

/* The first message of each kind: the server's text, which out_json_str escapes. */
static void print_error_messages_json(const struct bench *b)
{
	int first = 1;

	printf("{");
	for (unsigned i = 1; i < ERR_SLOTS; i++) {
		if (!b->error_message[i][0])
			continue;
		printf("%s\"%s\":", first ? "" : ",", err_name(i));
		out_json_str(b->error_message[i]);
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

void report_enrol_only(const struct bench *b)
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

void report_run(const struct bench *b, const struct histogram *h)
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
		       ",\"sales_total\":%" PRIu64 ",\"run_id\":\"%s\"",
		       b->opt.connections, b->opt.pipeline, b->opt.batch, secs, b->ops, b->sales_ok, b->lookups_ok,
		       b->opt.customers, b->opt.zipf, mix, b->opt.rate, b->opt.warmup_s, b->warmup_errors, enrol_s, enrol_rate,
		       b->sales_ok_total, b->run_id);
		if (b->opt.list_load)
			printf(",\"list_load\":%" PRIu32 ",\"list_queries\":%" PRIu64 ",\"list_failed\":%" PRIu64
			       ",\"list_p50_us\":%.1f,\"list_p99_us\":%.1f",
			       b->opt.list_load, b->list_done, b->list_failed, hist_quantile(&b->list_hist, 0.50) / 1e3,
			       hist_quantile(&b->list_hist, 0.99) / 1e3);
		printf("}\n");
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
	if (b->opt.list_load) {
		printf("list load     %" PRIu32 " connections: %" PRIu64 " queries from the warmup on, p50 %.1f us, "
		       "p99 %.1f us",
		       b->opt.list_load, b->list_done, hist_quantile(&b->list_hist, 0.50) / 1e3,
		       hist_quantile(&b->list_hist, 0.99) / 1e3);
		if (b->list_failed)
			printf(", %" PRIu64 " failed (%s)", b->list_failed, b->list_error);
		printf("\n");
	}
	if (b->warmup_errors)
		printf("warmup errors %" PRIu64 " (not in the figures above)\n", b->warmup_errors);
	printf("journal       %" PRIu64 " sales accrued OK in all (warmup and run) + %" PRIu32
	       " enrolments = %" PRIu64 " new records expected\n",
	       b->sales_ok_total, b->enrolled, b->sales_ok_total + b->enrolled);
}

void report_list_queries(const struct bench *b)
{
	const struct histogram *h = &b->list_hist;
	double p50 = hist_quantile(h, 0.50) / 1e3, p90 = hist_quantile(h, 0.90) / 1e3;
	double p99 = hist_quantile(h, 0.99) / 1e3, pmax = h->max / 1e3;

	if (b->opt.json) {
		printf("{\"list_queries\":%" PRIu64 ",\"list_failed\":%" PRIu64 ",\"customers\":%" PRIu32
		       ",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"error\":",
		       b->list_done, b->list_failed, b->opt.customers, p50, p90, p99, pmax);
		out_json_str(b->list_error);
		printf("}\n");
		return;
	}
	printf("accrue-bench %s: %s, list queries after enrolling %" PRIu32 " customers (run %s)\n", ACCRUE_VERSION,
	       b->opt.server, b->enrolled, b->run_id);
	printf("queries       %" PRIu64 " answered, %" PRIu64 " failed%s%s\n", b->list_done, b->list_failed,
	       b->list_failed ? ": " : "", b->list_error);
	printf("latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", p50, p90, p99, pmax);
}
