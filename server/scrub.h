/*
 * scrub.h - re-read and verify the whole ledger on disk while serving.
 *
 * Disks rot and firmware lies: a record that was whole when it was written
 * can be damaged years later, and nothing reads it until a manager asks for
 * that customer's history. The scrubber reads every journal record and
 * every snapshot back, on a thread of its own, at a bounded rate, and
 * checks each one's checksum (record_decode, record_snapshot_check); then
 * it pauses and starts again. Damage is logged at once with what and where
 * it is; each full pass ends with a line saying how much it read and what
 * it found, and its result is kept for stats. (The way TigerBeetle's grid
 * scrubber works, at the level of records.)
 *
 * It holds a read transaction only for one slice of reading at a time, so
 * it neither pins old pages for long nor delays the map's growth.
 */
#ifndef ACCRUE_SCRUB_H
#define ACCRUE_SCRUB_H

#include <stdint.h>

#include "store.h"

struct scrub;

struct scrub_config {
	uint32_t per_second; /* records and snapshots read a second, at most; 0: no scrubbing */
	uint32_t pause_s;    /* seconds between the end of a pass and the next */
	/* Called on the scrubber's thread with one line to log (no newline). */
	void (*log)(const char *line);
};

/* What the last full pass found (all zero before the first ends). */
struct scrub_result {
	uint64_t passes;         /* full passes completed */
	int64_t last_end_us;     /* UTC microseconds when the last pass ended */
	uint64_t last_records;   /* journal records it read */
	uint64_t last_snapshots; /* snapshots it read */
	uint64_t last_damaged;   /* of those, how many failed their check */
	uint64_t last_ms;        /* how long it took */
};

/*
 * Start scrubbing s (after store_start). Returns 0 (with *out NULL when
 * per_second is 0: nothing to do), or -1 if the thread cannot be started.
 */
int scrub_start(struct scrub **out, struct store *s, const struct scrub_config *cfg);

/* Stop the thread (within one slice) and free it. NULL is accepted. */
void scrub_stop(struct scrub *sc);

/* The last full pass's result, into *r (zeros for NULL or before the first). */
void scrub_result(struct scrub *sc, struct scrub_result *r);

#endif
