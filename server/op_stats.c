/*
 * op_stats.c - STATS: how the daemon is doing, as (name, value) text pairs
 * in PROGRAM_GET's layout, so that a later figure is a new pair and no
 * reader breaks. Today: the journal and checkpoint seqs, the customers in
 * memory, the data file's map, and what the scrubber's last full pass
 * found (scrub.h), and what archive's erasures did (store.h,
 * store_wipe_stats). See dispatch_ops.h.
 */
#include <inttypes.h>
#include <stdio.h>

#include "dispatch_ops.h"
#include "scrub.h"

static void put_u64(struct dispatch_pairs *p, const char *name, uint64_t v)
{
	char text[24];

	snprintf(text, sizeof text, "%" PRIu64, v);
	dispatch_pairs_put(p, name, text);
}

enum dispatch_action op_stats(struct dispatch *d, struct dispatch_session *sess, const uint8_t *body, size_t len,
			      struct dispatch_out *out)
{
	struct dispatch_pairs sl;
	struct store_stats st;
	struct scrub_result sr;

	(void)sess;
	(void)body;
	(void)len;
	store_get_stats(d->store, &st);
	scrub_result(d->scrub, &sr);
	dispatch_pairs_begin(&sl, out);
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
	put_u64(&sl, "erase.records", st.wipe.erased_records);
	put_u64(&sl, "erase.wipes", st.wipe.wipes);
	put_u64(&sl, "erase.deferred", st.wipe.deferred);
	put_u64(&sl, "erase.failed", st.wipe.failed);
	put_u64(&sl, "erase.pending", (uint64_t)st.wipe.pending);
	put_u64(&sl, "erase.last_wipe_ms", st.wipe.last_wipe_ms);
	dispatch_pairs_end(&sl, out, "the statistics");
	return DISPATCH_REPLY;
}
