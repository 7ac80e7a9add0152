/*
 * store_int.h - what store.c, store_read.c and store_erase.c share: the
 * store itself and a few helpers. Not part of store.h's API (names are
 * store__).
 */
#ifndef ACCRUE_STORE_INT_H
#define ACCRUE_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>

#include "store.h"

#define STORE_MAP_INITIAL ((size_t)1 << 30)
#define STORE_MAP_MAX ((size_t)1 << 42)
/* Bounds of one open batch: beyond them the loop stops reading sockets. */
#define BATCH_MAX_RECORDS 65536
#define BATCH_MAX_BYTES ((size_t)32 << 20)
/* Per record in a batch: seq (8) and length (4) before the bytes. */
#define REC_HDR 12
/* Per snapshot put: db (1), key length (4), value length (4). */
#define PUT_HDR 9
/* In a put's db byte: the key follows every key in its database. */
#define PUT_APPEND 0x80
/* New orders and request keys are written once this many are waiting. */
#define STORE_SAVE_MIN 1024
/* Preallocation (see struct store): zeros are written a step at a time,
 * at most one step after each commit, and after a failed step (a full
 * disk) not again for a while. */
#define PREALLOC_STEP ((uint64_t)256 << 10)
#define PREALLOC_DEFAULT ((uint64_t)16 << 20)
#define PREALLOC_RETRY_MS 5000
/* After a failed commit, checkpoints wait this long, doubling with every
 * failure up to the maximum, until one is written. */
#define STORE_RETRY_MIN_MS 100
#define STORE_RETRY_MAX_MS 30000

struct batch {
	uint8_t *recs;
	size_t len, cap;
	uint32_t nrecs;
	uint64_t first_seq, last_seq;
	uint8_t *ckpt;
	size_t ckpt_len, ckpt_cap;
	int has_ckpt;
	uint64_t ckpt_seq;
	uint64_t saved_seq; /* with its puts, the orders and request keys of every record to here are saved */
	struct store_waiter *waiters, **tail;
	int status;
	/* store_erase: the seqs of the ARCHIVE records whose chains this
	 * batch's transaction erases (store__erase_chains). */
	uint64_t *erase;
	uint32_t nerase, erase_cap;
};



struct store {
	MDB_env *env;
	MDB_dbi dbi[RECORD_DB_COUNT];
	int lock_fd;
	size_t map_size;
	char dir[4096];
	uint64_t bad_seq; /* the journal record the last recovery stopped at, 0 if none */
	uint64_t walk_bad_seq; /* the record the last failed store_walk_chain could not read */

	/* Loop thread only. */
	uint64_t durable_seq, last_seq, ckpt_seq;
	uint64_t ckpt_time_ms;
	uint64_t ckpt_every_records, ckpt_every_ms;
	struct batch batches[2];
	struct batch *open, *inflight;
	uv_loop_t *loop;
	uv_async_t async;
	int started;
	store_commit_fn on_commit;
	void *ctx;
	/*
	 * A checkpoint whose commit failed cleared the model's marks all the
	 * same: its puts wait here, and the next checkpoint writes them before
	 * its own (which replace any they share a key with). While they wait,
	 * no batch saves orders and request keys ahead of a checkpoint either:
	 * its saved_seq would claim those of the kept puts were on disk.
	 */
	uint8_t *kept;
	size_t kept_len, kept_cap;
	uint64_t retry_delay_ms; /* 0, or the current delay after failed commits */
	uint64_t retry_at_ms;    /* no checkpoint before this */
	int last_status;         /* of the last commit */

	/* Shared with the writer: guarded by mu. */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *todo, *done;
	int stop;

	/*
	 * Writer thread only (or before it starts). data.mdb is kept written
	 * with zeros ahead of LMDB's last page: a commit that writes into
	 * allocated blocks syncs only data, while one that extends the file
	 * makes fdatasync commit the file system's journal too, which cost
	 * about a quarter of every commit here. Zeros go only past the last
	 * committed page and only between transactions, so they never land on
	 * a page any snapshot uses.
	 */
	int data_fd;
	uint64_t psize;
	uint64_t prealloc_ahead; /* bytes to keep written ahead; 0: off */
	uint64_t used_end;       /* bytes up to LMDB's last page, after the last commit */
	uint64_t file_end;       /* bytes of data.mdb written, LMDB's or zeros */
	uint64_t prealloc_retry_ms; /* after a failed step (a full disk), not before this */
	int prealloc_errno;      /* what the last failed step got, until one succeeds */

	/* Readers hold it shared; growing the map takes it exclusively, because
	 * LMDB allows mdb_env_set_mapsize only with no transaction active.
	 * map_lost (set under it exclusively): a remap failed and LMDB's map is
	 * gone, so no transaction may begin again; the daemon stops on the next
	 * rebuild with the reason, instead of faulting in LMDB. */
	pthread_rwlock_t map_lock;
	int map_lost;

	/*
	 * Erasure (store_erase.c). Writer thread only, or before it starts.
	 * wipe_pending: a committed transaction erased records and the pages
	 * that held their old bytes are not zeroed yet (meta "wipe_pending"
	 * says the same on disk, for a start after a crash). wipe_hold, for
	 * tests only: leave the wipe to the next store_open, as a crash right
	 * after the erasing commit would. erase_rec and erase_buf: a decoded
	 * record (~30 KiB) and an encoded one, too big for the stack; made by
	 * store_erase on the loop thread before a batch that needs them is
	 * handed over.
	 */
	int wipe_pending;
	int wipe_hold;
	struct record *erase_rec;
	uint8_t *erase_buf;
	uint64_t erase_count;   /* records the last erasing transaction wrote again */
	uint64_t wipe_retry_ms; /* after a failed wipe, not again before this */
	struct store_wipe_stats wipe_stats; /* guarded by mu */

	struct store_stats stats;
};

/* A formatted message into err[0..errlen). */
void store__set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t store__now_ms(void);

/* A u64 in the meta database: 0 when absent. Return 0, an LMDB error, or
 * MDB_CORRUPTED for a value that is not 8 bytes. */
/* A read transaction with map_lock held shared; store__read_end ends both.
 * Returns an LMDB status (EIO when the map is lost), holding nothing then. */
int store__read_begin(struct store *s, MDB_txn **txn);
void store__read_end(struct store *s, MDB_txn *txn);
/* mdb_env_set_mapsize with map_lock held exclusively; a failure (LMDB is
 * left without a map) sets map_lost. Not while the writer is in a commit. */
int store__remap(struct store *s, size_t size);
/* meta's u64 values (record_meta_seal); a damaged one is STORE_META_DAMAGED,
 * which store__meta_strerror says as such. */
#define STORE_META_DAMAGED MDB_CORRUPTED
const char *store__meta_strerror(int rc);
int store__meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v);
int store__meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v);

/* Make s->env for s->dir at s->map_size as store_open does (flags, the
 * assert handler, the number of databases). Returns an LMDB status; on
 * failure s->env may be set and must be closed. */
int store__env_open(struct store *s);
/* pwrite zeros over [off, off + len) of fd. Returns 0 or an errno. */
int store__write_zeros(int fd, uint64_t off, uint64_t len);

/* ---- erasure (store_erase.c) ---------------------------------------- */

/* In the batch's write transaction, after its records: erase the chains
 * b->erase names, and set meta "wipe_pending". Returns an LMDB status, or
 * MDB_CORRUPTED for a chain record that cannot be read. */
int store__erase_chains(struct store *s, MDB_txn *txn, const struct batch *b);
/* After a batch committed: owe a wipe if it erased, and do one if owed. */
void store__erase_committed(struct store *s, const struct batch *b);
/* In store_open, before recovery: do the wipe a crash left owed (one put
 * off or failed stays owed). Returns 0, or -1 with err when meta cannot be
 * read or the environment could not be reopened. */
int store__wipe_at_open(struct store *s, char *err, size_t errlen);
/* Free what erasure allocated (store_close). */
void store__erase_free(struct store *s);
void store__get_wipe_stats(struct store *s, struct store_wipe_stats *st);

/* The way out of every refusal to start on what a data directory holds. */
#define WAY_OUT                                                                                         \
	"refusing to start a new, empty ledger over it (nothing in %s was changed): restore the directory " \
	"from a backup, or move it aside to start a new ledger there"

/*
 * store_dir.c, before LMDB opens dir: store__survey_dir refuses (-1, err
 * naming what is there and WAY_OUT) a directory where a ledger was kept but
 * data.mdb is missing or empty, or that holds other files; 0: go on.
 * store__stage_new_ledger builds a new data.mdb aside and renames it into
 * place (0, or -1 with err). store__dir_in_use: another process holds the
 * directory's lock now.
 */
int store__survey_dir(const char *dir, char *err, size_t errlen);
int store__stage_new_ledger(const char *dir, char *err, size_t errlen);
int store__dir_in_use(const char *dir);

#endif
