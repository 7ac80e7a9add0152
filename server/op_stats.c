/*
 * op_stats.c - STATS: how the daemon is doing, as (name, value) text pairs
 * in PROGRAM_GET's layout, so that a later figure is a new pair and no
 * reader breaks. Today: the journal and checkpoint seqs, the customers in
 * memory, the data file's map, and what the scrubber's last full pass
 * found (scrub.h). See dispatch_ops.h.
 */
#include <inttypes.h>
#include <stdio.h>

#include "dispatch_ops.h"
#include "scrub.h"

struct stats_list {
	struct proto_wbuf w;
	uint16_t n;
};

static void put_u64(struct stats_list *sl, const char *name, uint64_t v)
{
	char text[24];

	snprintf(text, sizeof text, "%" PRIu64, v);
	proto_setting_put(&sl->w, proto_str_c(name), proto_str_c(text));
	sl->n++;
}

enum dispatch_action op_stats(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			      struct dispatch_out *out)
{
	struct stats_list sl;
	struct store_stats st;
	struct scrub_result sr;
	size_t at;

	(void)sess;
	(void)body;
	(void)len;
	store_get_stats(d->store, &st);
	scrub_result(d->scrub, &sr);
	proto_wbuf_init(&sl.w, out->body, out->cap);
	proto_reply_put_status(&sl.w, PROTO_OK);
	at = sl.w.len;
	proto_program_rep_put_header(&sl.w, 0);
	sl.n = 0;
	put_u64(&sl, "journal.seq", store_durable_seq(d->store));
	put_u64(&sl, "checkpoint.seq", store_checkpoint_seq(d->store));
	put_u64(&sl, "customers", d->model->ncustomers);
	put_u64(&sl, "store.commits", st.commits);
	put_u64(&sl, "store.map_bytes", st.map_size);
	put_u64(&sl, "scrub.running", d->scrub != NULL);
	put_u64(&sl, "scrub.passes", sr.passes);
	put_u64(&sl, "scrub.last_end_us", (uint64_t)(sr.last_end_us > 0 ? sr.last_end_us : 0));
	put_u64(&sl, "scrub.last_ms", sr.last_ms);
	put_u64(&sl, "scrub.last_records", sr.last_records);
	put_u64(&sl, "scrub.last_snapshots", sr.last_snapshots);
	put_u64(&sl, "scrub.last_damaged", sr.last_damaged);
	if (sl.w.overflow) {
		dispatch_error(out, PROTO_ST_INTERNAL, "the statistics do not fit a reply");
		return DISPATCH_REPLY;
	}
	out->body[at] = (uint8_t)sl.n;
	out->body[at + 1] = (uint8_t)(sl.n >> 8);
	out->len = sl.w.len;
	return DISPATCH_REPLY;
}
