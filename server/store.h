/*
 * store.h - the journal in LMDB, group commit, checkpoints and recovery.
 *
 * The loop thread appends journal records to the open batch; a writer
 * thread, whenever it is idle, takes the whole batch, appends its records
 * to the `journal` database in one write transaction and commits it (LMDB
 * fsyncs on commit), then wakes the loop. While one batch commits the next
 * fills, so one fsync carries every request that arrived meanwhile.
 *
 * Nothing may be acknowledged before it is durable: a reply that depends on
 * record seq waits on a store_waiter until store_durable_seq() >= seq.
 *
 * The orders and request keys records made are written with a batch
 * (model_save_new, from store_kick) once a thousand or so are waiting, so
 * checkpoints need not carry them and grow no larger with the sales since
 * the last one.
 *
 * A checkpoint rides in a batch: the model's changed snapshots are copied
 * into it and written, with the checkpoint seq in `meta`, in the same
 * transaction as the batch's records, so the snapshots and the journal never
 * disagree. Recovery loads the snapshots and replays the journal after the
 * checkpoint seq through model_apply(), verifying every checksum.
 *
 * A failed commit (a full disk, a file-size limit, an I/O error) refuses
 * the records of its batch, whose waiters get the status, and the caller
 * rebuilds memory from disk. A failed checkpoint with no records refuses
 * nothing and needs no rebuild: the store keeps its snapshots and writes
 * them with the next checkpoint, which waits a retry delay that grows with
 * every failure, so a disk that stays full costs little CPU and few lines.
 *
 * Threads: every function here is called on the loop thread, except that
 * the writer thread runs inside this module. The batch is handed across
 * whole; nothing else is shared.
 */
#ifndef ACCRUE_STORE_H
#define ACCRUE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "model.h"

/* The storage format this build reads and writes (meta "format"); a data
 * directory of another format is refused. 2: checkout (lines, returns,
 * program, guests, groups, tiers). 3: every snapshot value sealed with a
 * checksum (record_snapshot_check). */
#define STORE_FORMAT 3

struct store;

/* Something waiting for a record to be durable. */
struct store_waiter {
	struct store_waiter *next;
	/* status 0: durable; otherwise an LMDB error: the record was not written. */
	void (*done)(struct store_waiter *w, int status);
};

/*
 * Called on the loop thread after every commit, once the waiters have run.
 * status: 0, or why the commit failed (an LMDB or errno code). rebuild: the
 * failed batch held journal records, which the model had applied and which
 * are now refused: the caller must bring memory back in line with disk
 * (store_recover into a fresh model). 0 when only snapshots failed (a
 * checkpoint): memory agrees with disk, and the store keeps what it could
 * not write for the next checkpoint.
 */
typedef void (*store_commit_fn)(void *ctx, int status, int rebuild);

/* What erasures did since store_open (in store_stats). */
struct store_wipe_stats {
	uint64_t erased_records; /* journal records written again without personal data */
	uint64_t wipes;          /* wipes completed and synced */
	uint64_t deferred;       /* wipes put off: another process read an older snapshot */
	uint64_t failed;         /* wipes that failed (wipe_errno says why); tried again later */
	uint64_t pages_zeroed;   /* free pages written with zeros */
	uint64_t gaps_zeroed;    /* unused ranges of pages in use (and past the last) written with zeros */
	uint64_t odd_pages;      /* pages the walk did not recognise and left alone */
	uint64_t last_wipe_ms;   /* how long the last wipe took */
	int wipe_errno;          /* why the last wipe failed; 0 if it did not */
	int pending;             /* a wipe is owed (meta "wipe_pending") */
};

struct store_stats {
	uint64_t commits;
	uint64_t records;
	uint64_t checkpoints;
	uint64_t map_grows;
	size_t map_size;
	int prealloc_errno; /* why the last preallocation step failed; 0 if it did not */
	struct store_wipe_stats wipe; /* archive's erasures (store_erase) */
};

/*
 * Open (creating if needed, mode 0700) the data directory dir and its LMDB
 * environment. The directory is locked: a second process gets an error.
 * Returns 0, or -1 with a message in err.
 *
 * A new ledger is made only in a new or empty directory (one holding at
 * most accrued.lock, which every start makes first, and a file system's
 * lost+found). Refused, with nothing in dir changed and err naming what is
 * wrong and the way out (restore a backup, or move the directory aside):
 * a missing or empty data.mdb beside files a ledger leaves (admin.key,
 * lock.mdb, accrued.addr, discarded journal records); a directory of other
 * files; a data.mdb that is not LMDB's, or whose accrue databases are gone
 * although transactions were committed to it (a damaged meta page or main
 * tree).
 */
int store_open(struct store **out, const char *dir, char *err, size_t errlen);

/* Close the environment and free everything. The writer must be stopped. */
void store_close(struct store *s);

/*
 * Load the last checkpoint into m (a fresh model) and replay the journal
 * after it. Returns 0, or -1 with a message naming the first bad record.
 * *replayed (if not NULL) gets the number of journal records replayed.
 */
int store_recover(struct store *s, struct model *m, uint64_t *replayed, char *err, size_t errlen);

/*
 * Start the writer thread; on_commit runs on loop's thread after each
 * commit. Returns 0, or -1 if the thread or the wakeup handle cannot be made.
 */
int store_start(struct store *s, uv_loop_t *loop, store_commit_fn on_commit, void *ctx);

/* Stop and join the writer. Call when store_idle() is true. */
void store_stop(struct store *s);

/* Whether the open batch can take one more record (backpressure). */
int store_has_room(const struct store *s);
/* Whether it can take n more (an empty batch takes any number). */
int store_has_room_for(const struct store *s, uint32_t n);

/*
 * Encode rec as the next journal record into the open batch. Returns its
 * seq, or 0 if the record cannot be encoded or memory ran out (nothing was
 * appended then). The caller applies rec to the model right after.
 */
uint64_t store_append(struct store *s, const struct record *rec);

/* The last record committed and fsynced, and the last one handed out (0: none yet). */
uint64_t store_durable_seq(const struct store *s);
uint64_t store_last_seq(const struct store *s);
/* The seq the last checkpoint (on disk or in the batch being written) is at; 0: none. */
uint64_t store_checkpoint_seq(const struct store *s);

/*
 * Make w wait until seq is durable: w->done runs on the loop thread after
 * the commit of the batch holding seq, with its status. seq must be greater
 * than store_durable_seq() (otherwise it already is: do not wait).
 */
void store_wait(struct store *s, uint64_t seq, struct store_waiter *w);

/*
 * Copy m's changed snapshots into the open batch as a checkpoint at the last
 * handed-out seq. Returns 0 or -1 (out of memory).
 */
int store_checkpoint(struct store *s, struct model *m);

/*
 * Whether a checkpoint is due (1) or not (0): journal growth or time since
 * the last one, or snapshots a failed checkpoint could not write. After a
 * failed commit not before the retry delay has passed (store_retry_delay_ms).
 */
int store_checkpoint_due(const struct store *s, uint64_t now_ms);

/*
 * After a failed commit, how long checkpoints wait before they are tried
 * again: 100 ms, doubling with every failed commit up to 30 s; 0 again once
 * a checkpoint is written. The daemon wakes itself after that long.
 */
uint64_t store_retry_delay_ms(const struct store *s);

/* The status of the last commit: 0, or why it failed (store_strerror). */
int store_last_status(const struct store *s);

/*
 * Hand the open batch to the writer if it is idle and there is one (returns
 * nothing: a failed commit reaches the waiters and on_commit), with
 * the orders and request keys m holds unsaved (model_save_new) if there
 * are enough of them to be worth their pages.
 */
void store_kick(struct store *s, struct model *m);

/* 1 when nothing is open and nothing is being committed, else 0. */
int store_idle(const struct store *s);

/*
 * Commit the open batch on the calling thread. Only before store_start()
 * (first start writes its admin key this way). Returns 0 or -1 with err.
 */
int store_commit_now(struct store *s, char *err, size_t errlen);

/*
 * Walk a customer's journal chain from seq back through prev_seq, calling
 * fn for each committed record until fn returns non-zero or the chain ends.
 * Returns 0, or -1 if a record cannot be read or fails its checksum
 * (store_walk_bad_seq() then names it; 0 if no transaction could begin).
 */
int store_walk_chain(struct store *s, uint64_t seq, int (*fn)(void *ctx, uint64_t seq, const struct record *rec),
		     void *ctx);
/* The record the last failed store_walk_chain stopped at; 0 if none, or no transaction began. */
uint64_t store_walk_bad_seq(const struct store *s);

/*
 * Archive: erase a customer's personal data from every byte of the data
 * file, with the open batch. chain_seq is the customer's ARCHIVE record,
 * just appended and applied to m. The batch takes a checkpoint of m (the
 * customer's snapshot, now without personal data, replaces the old one)
 * and, in the same transaction, the writer walks the customer's journal
 * chain back from chain_seq and writes again, under the same seq, every
 * record that record_erase() changes; a chain record that cannot be read
 * fails the commit (MDB_CORRUPTED). Once that commits, it commits once
 * more (so neither meta page leads to a page the first freed), reopens
 * the environment (LMDB reuses its page buffers without clearing them),
 * overwrites with zeros every page on LMDB's free list, the unused part of
 * every page in use and the file past its last page, where not zero
 * already, and syncs, all before the batch's waiters run: an acknowledged
 * archive has left no copy of the old bytes in data.mdb. Two exceptions,
 * after which the wipe is owed (meta "wipe_pending") and done after a later
 * commit or at the next store_open, before recovery: another process
 * (accrue-check) reading a snapshot older than the erasure, and a failed
 * wipe (a write error). The wipe reads every page in use, holding the
 * writer: its time grows with the file (measured: 0.7 s for a 1.2 GB file
 * in the page cache, 1.9 s for the first wipe of a file, which finds most
 * unused parts still to zero). Returns 0, or -1 out of memory (nothing was
 * added; the caller refuses the request).
 */
int store_erase(struct store *s, struct model *m, uint64_t chain_seq);

/* Counters since store_open, and the map size now, into *st. */
void store_get_stats(struct store *s, struct store_stats *st);

/* The initial LMDB map size (it doubles whenever it is full). Before store_start. */
void store_set_map_size(struct store *s, size_t bytes);

/* Text for a status a store_waiter or store_commit_fn received (an LMDB or
 * errno code); never NULL. A full disk reads "no space left on device". */
const char *store_strerror(int status);

/*
 * The journal record the last store_recover() stopped at (damaged, missing
 * or contradicting the state before it), if it lies after the checkpoint;
 * 0 otherwise.
 */
uint64_t store_bad_seq(const struct store *s);

/*
 * Move journal records from seq `from` to the end out of the journal: they
 * are written to DIR/discarded-journal-FROM.bin (path), fsynced, then
 * deleted in one transaction. Refused for a seq at or before the last
 * checkpoint. Only before store_recover(). *count gets how many went.
 * File format: "ACRUDISC", then per record seq (u64 big-endian), length
 * (u32 little-endian) and the record's bytes as they were stored.
 */
int store_discard_journal(struct store *s, uint64_t from, char *path, size_t pathlen, uint64_t *count, char *err,
			  size_t errlen);
/* (store_discard_journal returns 0, or -1 with a message in err: a seq at or
 * before the checkpoint, nothing to discard, or the file or LMDB failed.) */

/* Tuning, set before store_start: a checkpoint after so many records or so
 * many milliseconds since the last one, whichever comes first. */
void store_set_checkpoint_policy(struct store *s, uint64_t every_records, uint64_t every_ms);

/*
 * Keep data.mdb written with zeros this many bytes past LMDB's last page
 * (default 16 MiB; 0: never), so that commits write into allocated blocks
 * and their fdatasync need not commit the file system's journal. Written
 * 256 KiB after a commit at most, synced by the next one. Before
 * store_start. A full disk stops it for a while; nothing else changes.
 */
void store_set_preallocate(struct store *s, uint64_t bytes);

#endif
