/*
 * store.c - the LMDB environment, the open batch, group commit on the
 * writer thread, checkpoints and preallocation (see store.h). Reading the
 * journal back (recovery, discards, a customer's chain) is store_read.c's.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "pagecheck.h"
#include "store_int.h"

void store__set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint64_t store__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- batches ------------------------------------------------------------ */

static void batch_reset(struct batch *b)
{
	b->len = 0;
	b->nrecs = 0;
	b->first_seq = b->last_seq = 0;
	b->ckpt_len = 0;
	b->has_ckpt = 0;
	b->ckpt_seq = 0;
	b->saved_seq = 0;
	b->waiters = NULL;
	b->tail = &b->waiters;
	b->status = 0;
	b->nerase = 0;
}

static void batch_free(struct batch *b)
{
	free(b->recs);
	free(b->ckpt);
	free(b->erase);
	memset(b, 0, sizeof *b);
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t n;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap : 65536;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (!p)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

static void run_waiters(struct store_waiter *w, int status)
{
	while (w) {
		struct store_waiter *next = w->next;
		w->next = NULL;
		w->done(w, status);
		w = next;
	}
}

/* ---- preallocation ------------------------------------------------------- */

/* Where LMDB's last committed page ends, from its current meta page. */
static void update_used_end(struct store *s)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) != 0)
		return;
	s->used_end = ((uint64_t)info.me_last_pgno + 1) * s->psize;
	if (s->file_end < s->used_end)
		s->file_end = s->used_end;
}

int store__write_zeros(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[64 << 10];

	while (len) {
		size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

/*
 * Between transactions: write up to max_steps steps of zeros past the last
 * committed page, while less than prealloc_ahead is written ahead of it.
 * The zeros are not synced here; the next commit's fdatasync carries them
 * (and the file system's journal, once for all of them). A failure (a full
 * disk) is not an error: LMDB extends the file itself as before, and
 * preallocation tries again later.
 */
static void prealloc_steps(struct store *s, int max_steps)
{
	update_used_end(s);
	if (!s->prealloc_ahead || s->data_fd < 0 || (s->prealloc_retry_ms && store__now_ms() < s->prealloc_retry_ms))
		return;
	for (int i = 0; i < max_steps && s->file_end < s->used_end + s->prealloc_ahead; i++) {
		int rc = store__write_zeros(s->data_fd, s->file_end, PREALLOC_STEP);
		if (rc) {
			struct stat st;
			s->prealloc_errno = rc;
			s->prealloc_retry_ms = store__now_ms() + PREALLOC_RETRY_MS;
			/* Part of the step may have been written. */
			if (fstat(s->data_fd, &st) == 0 && (uint64_t)st.st_size > s->file_end)
				s->file_end = (uint64_t)st.st_size;
			return;
		}
		s->prealloc_errno = 0;
		s->prealloc_retry_ms = 0;
		s->file_end += PREALLOC_STEP;
	}
}

/* ---- open, close ---------------------------------------------------------- */

static int lock_dir(struct store *s, const char *dir, char *err, size_t errlen)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/accrued.lock", dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		store__set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			store__set_err(err, errlen, "data directory %s is in use by another accrued (locked: %s)", dir, path);
		else
			store__set_err(err, errlen, "cannot lock %s: %s", path, strerror(errno));
		close(s->lock_fd);
		s->lock_fd = -1;
		return -1;
	}
	return 0;
}

int store__read_begin(struct store *s, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(&s->map_lock);
	rc = s->map_lost ? EIO : mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
	if (rc)
		pthread_rwlock_unlock(&s->map_lock);
	return rc;
}

void store__read_end(struct store *s, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->map_lock);
}

int store__remap(struct store *s, size_t size)
{
	int rc;

	pthread_rwlock_wrlock(&s->map_lock);
	rc = s->map_lost ? EIO : mdb_env_set_mapsize(s->env, size);
	if (rc)
		s->map_lost = 1;
	pthread_rwlock_unlock(&s->map_lock);
	return rc;
}

/*
 * LMDB aborts the process when a page breaks one of its invariants, as a
 * damaged meta page or tree can make one do (a main root pointing at a
 * meta page). Say first, in the daemon's log format, which file is damaged
 * and the way out, and exit 1 as any refusal does; LMDB's words are in it.
 */
static void on_lmdb_assert(MDB_env *env, const char *msg)
{
	const struct store *s = mdb_env_get_userctx(env);
	char line[1536], when[32];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof line,
		"%s accrued: %s/data.mdb is damaged: LMDB found a page it cannot use (%s); stopping at once. See "
		"accrue-check %s; restore the directory from a backup, or move it aside to start a new ledger there\n",
		when, s ? s->dir : "?", msg, s ? s->dir : "DIR");
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0) {
		/* Nowhere left to say it. */
	}
	_exit(1);
}

int store__env_open(struct store *s)
{
	int rc;

	if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_userctx(s->env, s)) ||
	    (rc = mdb_env_set_assert(s->env, on_lmdb_assert)) || (rc = mdb_env_set_maxdbs(s->env, RECORD_DB_COUNT + 2)) ||
	    (rc = mdb_env_set_mapsize(s->env, s->map_size)) || (rc = mdb_env_open(s->env, s->dir, 0, 0600)))
		return rc;
	return 0;
}

int store__meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v)
{
	MDB_val k = {strlen(name), (void *)name}, d;
	int rc = mdb_get(txn, dbi, &k, &d);

	if (rc == MDB_NOTFOUND) {
		*v = 0;
		return 0;
	}
	if (rc)
		return rc;
	/* Formats before 3 kept the format unsealed: read it to name it. */
	if (d.mv_size == 8 && strcmp(name, "format") == 0 && record_key_u64_read(d.mv_data) != STORE_FORMAT) {
		*v = record_key_u64_read(d.mv_data);
		return 0;
	}
	return record_meta_open(name, d.mv_data, d.mv_size, v) ? STORE_META_DAMAGED : 0;
}

int store__meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v)
{
	uint8_t buf[RECORD_META_SIZE];
	MDB_val k = {strlen(name), (void *)name}, d = {sizeof buf, buf};

	record_meta_seal(buf, name, v);
	return mdb_put(txn, dbi, &k, &d, 0);
}

const char *store__meta_strerror(int rc)
{
	return rc == STORE_META_DAMAGED ? "damaged (its checksum does not match)" : mdb_strerror(rc);
}

int store_open(struct store **out, const char *dir, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof *s);
	MDB_txn *txn = NULL;
	unsigned int create = 0;
	uint64_t format;
	int rc;

	*out = NULL;
	if (!s) {
		store__set_err(err, errlen, "out of memory");
		return -1;
	}
	s->lock_fd = -1;
	s->data_fd = -1;
	s->prealloc_ahead = PREALLOC_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_rwlock_init(&s->map_lock, NULL);
	batch_reset(&s->batches[0]);
	batch_reset(&s->batches[1]);
	s->open = &s->batches[0];
	s->ckpt_every_records = 1000000;
	s->ckpt_every_ms = 60000;
	s->ckpt_time_ms = store__now_ms();

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		store__set_err(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	/* Looked at before the lock file is made, so that a refusal leaves the
	 * directory as it was; but a directory in use is named as that. */
	if (store__survey_dir(dir, err, errlen)) {
		if (store__dir_in_use(dir))
			store__set_err(err, errlen, "data directory %s is in use by another accrued (locked: %s/accrued.lock)",
				dir, dir);
		goto fail;
	}
	if (lock_dir(s, dir, err, errlen))
		goto fail;
	/* LMDB trusts its pages: check them as plain bytes before it reads one. */
	{
		char path[4200], why[900];
		struct stat st;
		snprintf(path, sizeof path, "%s/data.mdb", dir);
		if (stat(path, &st) == 0 && pagecheck_file(path, NULL, why, sizeof why) != 0) {
			store__set_err(err, errlen,
				       "the data file is damaged: %s; restore the directory from a backup, or move it aside to "
				       "start a new ledger (accrue-check %s names what else it finds)",
				       why, dir);
			goto fail;
		}
		if (stat(path, &st) != 0 && errno == ENOENT && store__stage_new_ledger(dir, err, errlen))
			goto fail;
	}
	s->map_size = STORE_MAP_INITIAL;
	if ((rc = store__env_open(s))) {
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
			store__set_err(err, errlen, "%s/data.mdb is not a ledger: %s; " WAY_OUT, dir, mdb_strerror(rc), dir);
		else
			store__set_err(err, errlen, "cannot open LMDB environment in %s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	/* An existing environment may already be larger than our default. */
	{
		MDB_envinfo info;
		if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->map_size)
			s->map_size = info.me_mapsize;
	}
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
		store__set_err(err, errlen, "cannot begin transaction: %s", mdb_strerror(rc));
		goto fail;
	}
	/*
	 * The databases are made only in an environment no transaction was
	 * ever committed to: a new one (or one whose first start stopped before
	 * its first commit). Where commits were made and they are gone, the
	 * newest meta page or the main tree is damaged, and making them anew
	 * would start an empty ledger over the lost one.
	 */
	rc = mdb_dbi_open(txn, record_db_name(RECORD_DB_META), 0, &s->dbi[RECORD_DB_META]);
	if (rc == MDB_NOTFOUND) {
		MDB_envinfo info;
		memset(&info, 0, sizeof info);
		if (mdb_env_info(s->env, &info) != 0 || info.me_last_txnid != 0) {
			store__set_err(err, errlen,
				"%s/data.mdb has lost accrue's databases (there is no \"%s\" database) although %llu "
				"transactions were committed to it: its newest meta page or main tree is damaged, or it "
				"is not accrue's file; " WAY_OUT,
				dir, record_db_name(RECORD_DB_META), (unsigned long long)info.me_last_txnid, dir);
			goto fail;
		}
		create = MDB_CREATE;
	} else if (rc) {
		store__set_err(err, errlen, "cannot read the databases in %s/data.mdb (%s): it is damaged; " WAY_OUT, dir,
			mdb_strerror(rc), dir);
		goto fail;
	}
	for (int i = 0; i < RECORD_DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, record_db_name(i), create, &s->dbi[i]);
		if (rc == MDB_NOTFOUND) {
			store__set_err(err, errlen, "%s/data.mdb has no \"%s\" database: it is damaged; " WAY_OUT, dir,
				record_db_name(i), dir);
			goto fail;
		}
		if (rc) {
			store__set_err(err, errlen, "cannot open database %s: %s", record_db_name(i), mdb_strerror(rc));
			goto fail;
		}
	}
	if ((rc = store__meta_get_u64(txn, s->dbi[RECORD_DB_META], "format", &format))) {
		store__set_err(err, errlen, "%s/data.mdb: meta's storage format is %s; " WAY_OUT, dir,
			store__meta_strerror(rc), dir);
		goto fail;
	}
	if (format == 0 && !create) {
		store__set_err(err, errlen, "%s/data.mdb has no storage format in its meta database: it is damaged; " WAY_OUT,
			dir, dir);
		goto fail;
	}
	if (format == 0) {
		if ((rc = store__meta_put_u64(txn, s->dbi[RECORD_DB_META], "format", STORE_FORMAT)))
			goto fail_rc;
	} else if (format != STORE_FORMAT) {
		store__set_err(err, errlen, "data directory %s has storage format %llu; this accrued reads format %d", dir,
			(unsigned long long)format, STORE_FORMAT);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn))) {
		txn = NULL;
		goto fail_rc;
	}
	s->stats.map_size = s->map_size;
	{
		char path[4200];
		MDB_stat st;
		struct stat fst;

		snprintf(path, sizeof path, "%s/data.mdb", dir);
		s->data_fd = open(path, O_WRONLY | O_CLOEXEC);
		if (s->data_fd < 0 || fstat(s->data_fd, &fst) != 0 || mdb_env_stat(s->env, &st) != 0) {
			store__set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
			goto fail;
		}
		s->psize = st.ms_psize;
		s->file_end = (uint64_t)fst.st_size;
		if (store__wipe_at_open(s, err, errlen))
			goto fail;
		update_used_end(s);
	}
	*out = s;
	return 0;

fail_rc:
	store__set_err(err, errlen, "cannot initialise %s: %s", dir, mdb_strerror(rc));
fail:
	if (txn)
		mdb_txn_abort(txn);
	store_close(s);
	return -1;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->data_fd >= 0)
		close(s->data_fd);
	batch_free(&s->batches[0]);
	batch_free(&s->batches[1]);
	store__erase_free(s);
	free(s->kept);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_rwlock_destroy(&s->map_lock);
	free(s);
}

void store_set_map_size(struct store *s, size_t bytes)
{
	MDB_envinfo info;

	/* LMDB raises a size below what the file already uses to that. */
	if (store__remap(s, bytes) == 0 && mdb_env_info(s->env, &info) == 0) {
		s->map_size = info.me_mapsize;
		s->stats.map_size = s->map_size;
	}
}

const char *store_strerror(int status)
{
	/* What an operator must do something about, in plain words. */
	switch (status) {
	case ENOSPC:
		return "no space left on device";
	case EDQUOT:
		return "disk quota exceeded";
	case EFBIG:
		return "file too large (past the file-size limit, ulimit -f)";
	default:
		return mdb_strerror(status);
	}
}

void store_set_preallocate(struct store *s, uint64_t bytes)
{
	s->prealloc_ahead = bytes;
}

void store_set_checkpoint_policy(struct store *s, uint64_t every_records, uint64_t every_ms)
{
	s->ckpt_every_records = every_records;
	s->ckpt_every_ms = every_ms;
}

/* ---- the write path ---------------------------------------------------------- */

static int grow_map(struct store *s)
{
	size_t size = s->map_size * 2;
	int rc;

	if (size > STORE_MAP_MAX)
		return MDB_MAP_FULL;
	rc = store__remap(s, size);
	if (rc == 0) {
		s->map_size = size;
		pthread_mutex_lock(&s->mu);
		s->stats.map_grows++;
		s->stats.map_size = size;
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

static int write_batch(struct store *s, MDB_txn *txn, const struct batch *b)
{
	size_t off;
	int rc;

	for (off = 0; off < b->len;) {
		uint8_t *p = b->recs + off;
		uint32_t len;
		MDB_val k = {8, p}, v;
		memcpy(&len, p + 8, 4);
		v.mv_size = len;
		v.mv_data = p + REC_HDR;
		if ((rc = mdb_put(txn, s->dbi[RECORD_DB_JOURNAL], &k, &v, MDB_APPEND)))
			return rc;
		off += REC_HDR + len;
	}
	for (off = 0; off < b->ckpt_len;) {
		uint8_t *p = b->ckpt + off;
		uint32_t kl, vl;
		MDB_val k, v;
		memcpy(&kl, p + 1, 4);
		memcpy(&vl, p + 5, 4);
		k.mv_size = kl;
		k.mv_data = p + PUT_HDR;
		v.mv_size = vl;
		v.mv_data = p + PUT_HDR + kl;
		/* New orders and request keys come in seq order, after every key
		 * there: appended, unless (never seen) a key is out of order. */
		if (p[0] & PUT_APPEND) {
			rc = mdb_put(txn, s->dbi[p[0] & ~PUT_APPEND], &k, &v, MDB_APPEND);
			if (rc == MDB_KEYEXIST)
				rc = mdb_put(txn, s->dbi[p[0] & ~PUT_APPEND], &k, &v, 0);
		} else {
			rc = mdb_put(txn, s->dbi[p[0]], &k, &v, 0);
		}
		if (rc)
			return rc;
		off += PUT_HDR + kl + vl;
	}
	if (b->has_ckpt && (rc = store__meta_put_u64(txn, s->dbi[RECORD_DB_META], "checkpoint_seq", b->ckpt_seq)))
		return rc;
	if (b->saved_seq && (rc = store__meta_put_u64(txn, s->dbi[RECORD_DB_META], "saved_seq", b->saved_seq)))
		return rc;
	return b->nerase ? store__erase_chains(s, txn, b) : 0;
}

/*
 * One transaction for the whole batch; a full map grows and the batch is
 * retried. prealloc: the writer thread's commit, after which zeros may be
 * written ahead.
 */
static int commit_batch(struct store *s, const struct batch *b, int prealloc)
{
	for (;;) {
		MDB_txn *txn;
		int rc = s->map_lost ? EIO : mdb_txn_begin(s->env, NULL, 0, &txn);

		if (rc)
			return rc;
		rc = write_batch(s, txn, b);
		if (rc) {
			mdb_txn_abort(txn);
		} else {
			rc = mdb_txn_commit(txn);
		}
		if (rc == 0)
			store__erase_committed(s, b);
		if (rc == 0 && prealloc)
			prealloc_steps(s, 1);
		if (rc != MDB_MAP_FULL)
			return rc;
		if ((rc = grow_map(s)))
			return rc;
	}
}

/*
 * LMDB reports a write that wrote less than it asked as EIO ("short write,
 * filesystem full?"). That is what a full disk does to a commit whose pages
 * run from the zeros written ahead into blocks the file does not have yet:
 * the first part is written, the rest is not. Ask the file system itself:
 * a page of zeros past the end of the file gets the real errno (ENOSPC,
 * EDQUOT, or EFBIG past a file-size limit); if that page goes through, the
 * free space statvfs reports still tells whether the batch could fit. Only
 * what neither explains stays EIO. Writer thread, between transactions,
 * past every page LMDB uses, like the preallocation's zeros.
 */
static int write_failure_cause(struct store *s, const struct batch *b)
{
	struct statvfs vfs;
	struct stat st;
	int rc;

	if (s->data_fd < 0 || !s->psize || fstat(s->data_fd, &st) != 0)
		return EIO;
	rc = store__write_zeros(s->data_fd, (uint64_t)st.st_size, s->psize);
	if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
		return rc;
	if (rc == 0 && s->file_end < (uint64_t)st.st_size + s->psize)
		s->file_end = (uint64_t)st.st_size + s->psize;
	if (fstatvfs(s->data_fd, &vfs) == 0) {
		/* Root may use the blocks kept back for it; others may not. */
		uint64_t avail = (uint64_t)(geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) * vfs.f_frsize;
		if (avail < b->len + b->ckpt_len)
			return ENOSPC;
	}
	return EIO;
}

static void *writer_main(void *arg)
{
	struct store *s = arg;

	/* The first reserve is written and synced before any batch, so the
	 * first commits already write into allocated blocks. */
	prealloc_steps(s, (int)(s->prealloc_ahead / PREALLOC_STEP));
	if (s->data_fd >= 0)
		fdatasync(s->data_fd);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct batch *b;

		while (!s->todo && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->todo)
			break;
		b = s->todo;
		s->todo = NULL;
		pthread_mutex_unlock(&s->mu);

		b->status = commit_batch(s, b, 1);
		if (b->status == EIO)
			b->status = write_failure_cause(s, b);

		pthread_mutex_lock(&s->mu);
		s->stats.prealloc_errno = s->prealloc_errno;
		s->done = b;
		uv_async_send(&s->async);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* After a failed commit: checkpoints wait, longer after every failure. */
static void retry_later(struct store *s)
{
	s->retry_delay_ms = s->retry_delay_ms ? s->retry_delay_ms * 2 : STORE_RETRY_MIN_MS;
	if (s->retry_delay_ms > STORE_RETRY_MAX_MS)
		s->retry_delay_ms = STORE_RETRY_MAX_MS;
	s->retry_at_ms = store__now_ms() + s->retry_delay_ms;
}

/*
 * The puts of b, a failed batch without records, go to s->kept. Returns 0,
 * or -1 out of memory: then only a rebuild marks them again.
 */
static int keep_puts(struct store *s, struct batch *b)
{
	struct batch *o = s->open;

	/* The open batch may hold a checkpoint already (store_erase takes one
	 * even while another is in flight): its snapshots are newer, so these
	 * go first, and it carries them. */
	if (o->has_ckpt) {
		if (reserve(&o->ckpt, &o->ckpt_cap, o->ckpt_len + b->ckpt_len))
			return -1;
		memmove(o->ckpt + b->ckpt_len, o->ckpt, o->ckpt_len);
		memcpy(o->ckpt, b->ckpt, b->ckpt_len);
		o->ckpt_len += b->ckpt_len;
		return 0;
	}
	/* Otherwise a checkpoint takes the kept puts with it, and only one is
	 * open or in flight: kept is empty here, but for a stray batch. */
	if (!s->kept_len) {
		/* The usual case: the buffers change places, nothing is copied. */
		uint8_t *p = s->kept;
		size_t cap = s->kept_cap;
		s->kept = b->ckpt;
		s->kept_cap = b->ckpt_cap;
		s->kept_len = b->ckpt_len;
		b->ckpt = p;
		b->ckpt_cap = cap;
		b->ckpt_len = 0;
		return 0;
	}
	if (reserve(&s->kept, &s->kept_cap, s->kept_len + b->ckpt_len))
		return -1;
	memcpy(s->kept + s->kept_len, b->ckpt, b->ckpt_len);
	s->kept_len += b->ckpt_len;
	return 0;
}

/* Runs on the loop thread when the writer has finished a batch. */
static void on_async(uv_async_t *h)
{
	struct store *s = h->data;
	struct batch *b;
	struct store_waiter *w;
	int status, rebuild;

	pthread_mutex_lock(&s->mu);
	b = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->mu);
	if (!b)
		return;

	status = b->status;
	w = b->waiters;
	/* Records refused, or snapshots that cannot be kept: memory must be
	 * brought back in line with disk. */
	rebuild = status && (b->nrecs || keep_puts(s, b));
	s->inflight = NULL;
	s->last_status = status;
	if (status == 0) {
		s->durable_seq = b->last_seq > s->durable_seq ? b->last_seq : s->durable_seq;
		s->ckpt_seq = b->has_ckpt ? b->ckpt_seq : s->ckpt_seq;
		if (b->has_ckpt) {
			s->ckpt_time_ms = store__now_ms();
			s->retry_delay_ms = s->retry_at_ms = 0;
		}
		pthread_mutex_lock(&s->mu);
		s->stats.checkpoints += b->has_ckpt ? 1 : 0;
		s->stats.commits++;
		s->stats.records += b->nrecs;
		pthread_mutex_unlock(&s->mu);
		batch_reset(b);
		run_waiters(w, 0);
	} else if (rebuild) {
		/* The open batch was built on top of the failed one: it fails too,
		 * and the caller brings memory back in line with disk, which marks
		 * again everything since the checkpoint on disk: the kept puts
		 * are part of that. */
		struct store_waiter *ow = s->open->waiters;
		batch_reset(b);
		batch_reset(s->open);
		s->last_seq = s->durable_seq;
		s->kept_len = 0;
		retry_later(s);
		run_waiters(w, status);
		run_waiters(ow, status);
	} else {
		/* Only snapshots failed: every record memory holds is on disk (or
		 * in the open batch, which does not depend on them), so nothing
		 * is refused and nothing need be rebuilt; the puts, kept above,
		 * wait for the next checkpoint, after the retry delay. */
		batch_reset(b);
		retry_later(s);
		run_waiters(w, status);
	}
	s->on_commit(s->ctx, status, rebuild);
}

int store_start(struct store *s, uv_loop_t *loop, store_commit_fn on_commit, void *ctx)
{
	int rc;

	s->loop = loop;
	s->on_commit = on_commit;
	s->ctx = ctx;
	s->async.data = s;
	if ((rc = uv_async_init(loop, &s->async, on_async)))
		return rc;
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
		uv_close((uv_handle_t *)&s->async, NULL);
		return UV_EAGAIN;
	}
	s->started = 1;
	return 0;
}

void store_stop(struct store *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	uv_close((uv_handle_t *)&s->async, NULL);
	s->started = 0;
}

int store_has_room(const struct store *s)
{
	return store_has_room_for(s, 1);
}

int store_has_room_for(const struct store *s, uint32_t n)
{
	/* An empty batch takes anything: a request bigger than a batch must not wait forever. */
	if (!s->open->nrecs)
		return 1;
	return s->open->nrecs + n <= BATCH_MAX_RECORDS && s->open->len < BATCH_MAX_BYTES;
}

uint64_t store_append(struct store *s, const struct record *rec)
{
	struct batch *b = s->open;
	uint64_t seq = s->last_seq + 1;
	uint32_t len;
	size_t n;

	if (reserve(&b->recs, &b->cap, b->len + REC_HDR + RECORD_MAX_SIZE))
		return 0;
	n = record_encode(b->recs + b->len + REC_HDR, RECORD_MAX_SIZE, seq, rec);
	if (!n)
		return 0;
	len = (uint32_t)n;
	record_key_u64(b->recs + b->len, seq);
	memcpy(b->recs + b->len + 8, &len, 4);
	b->len += REC_HDR + n;
	if (!b->nrecs)
		b->first_seq = seq;
	b->last_seq = seq;
	b->nrecs++;
	s->last_seq = seq;
	return seq;
}

uint64_t store_durable_seq(const struct store *s)
{
	return s->durable_seq;
}

uint64_t store_checkpoint_seq(const struct store *s)
{
	return s->ckpt_seq;
}

uint64_t store_last_seq(const struct store *s)
{
	return s->last_seq;
}

void store_wait(struct store *s, uint64_t seq, struct store_waiter *w)
{
	/* Seqs in the batch being committed are below every seq of the open one. */
	struct batch *b = (s->inflight && seq <= s->inflight->last_seq) ? s->inflight : s->open;

	w->next = NULL;
	*b->tail = w;
	b->tail = &w->next;
}

/* A snapshot put into the batch, sealed with its checksum (record.h). */
static int batch_put(struct batch *b, uint8_t db, const void *key, size_t key_len, const void *val, size_t val_len)
{
	uint32_t kl = (uint32_t)key_len, vl = (uint32_t)(val_len + RECORD_SNAPSHOT_SUM_SIZE);
	uint64_t sum = record_snapshot_sum(db & ~PUT_APPEND, key, key_len, val, val_len);
	uint8_t *p;

	if (val_len + RECORD_SNAPSHOT_SUM_SIZE > RECORD_SNAPSHOT_MAX_SIZE ||
	    reserve(&b->ckpt, &b->ckpt_cap, b->ckpt_len + PUT_HDR + key_len + vl))
		return -1;
	p = b->ckpt + b->ckpt_len;
	p[0] = db; /* enum record_db, and PUT_APPEND */
	memcpy(p + 1, &kl, 4);
	memcpy(p + 5, &vl, 4);
	memcpy(p + PUT_HDR, key, key_len);
	memcpy(p + PUT_HDR + key_len, val, val_len);
	for (int i = 0; i < RECORD_SNAPSHOT_SUM_SIZE; i++)
		p[PUT_HDR + key_len + val_len + i] = (uint8_t)(sum >> (8 * i));
	b->ckpt_len += PUT_HDR + key_len + vl;
	return 0;
}

static int ckpt_put(void *ctx, enum record_db db, const void *key, size_t key_len, const void *val, size_t val_len)
{
	return batch_put(ctx, (uint8_t)db, key, key_len, val, val_len);
}

static int new_put(void *ctx, enum record_db db, const void *key, size_t key_len, const void *val, size_t val_len)
{
	return batch_put(ctx, (uint8_t)db | PUT_APPEND, key, key_len, val, val_len);
}

int store_checkpoint(struct store *s, struct model *m)
{
	struct batch *b = s->open;
	size_t mark = b->ckpt_len;

	/* What a failed checkpoint could not write goes first; the snapshots
	 * taken now replace those of them they share a key with. */
	if (s->kept_len) {
		if (reserve(&b->ckpt, &b->ckpt_cap, b->ckpt_len + s->kept_len))
			return -1;
		memcpy(b->ckpt + b->ckpt_len, s->kept, s->kept_len);
		b->ckpt_len += s->kept_len;
	}
	if (model_checkpoint(m, ckpt_put, b, NULL)) {
		/* Nothing of a failed checkpoint may be written: its marks stay
		 * set, and the kept puts stay kept. */
		b->ckpt_len = mark;
		return -1;
	}
	s->kept_len = 0;
	b->has_ckpt = 1;
	b->ckpt_seq = s->last_seq;
	b->saved_seq = s->last_seq;
	return 0;
}

int store_checkpoint_due(const struct store *s, uint64_t now)
{
	if (s->open->has_ckpt || (s->inflight && s->inflight->has_ckpt) || (s->retry_at_ms && now < s->retry_at_ms))
		return 0;
	if (s->kept_len)
		return 1;
	if (s->last_seq == s->ckpt_seq)
		return 0;
	return s->last_seq - s->ckpt_seq >= s->ckpt_every_records || now - s->ckpt_time_ms >= s->ckpt_every_ms;
}

uint64_t store_retry_delay_ms(const struct store *s)
{
	return s->retry_delay_ms;
}

int store_last_status(const struct store *s)
{
	return s->last_status;
}

void store_kick(struct store *s, struct model *m)
{
	struct batch *b = s->open;

	if (s->inflight || (!b->nrecs && !b->has_ckpt))
		return;
	/*
	 * The orders and request keys these records and earlier ones made go
	 * with them once there are STORE_SAVE_MIN of them: written densely, a
	 * few pages at a time, instead of touching two more B-trees in every
	 * small commit (or a million entries in a checkpoint). Until then a
	 * crash only means recovery makes them again from their records. Out
	 * of memory, they stay unsaved, for a later batch or the checkpoint.
	 * While a failed checkpoint's puts are kept, so do they: this batch's
	 * saved_seq would say that the kept ones were on disk.
	 */
	if (!s->kept_len && model_unsaved(m) >= STORE_SAVE_MIN) {
		size_t mark = b->ckpt_len;
		if (model_save_new(m, new_put, b))
			b->ckpt_len = mark;
		else
			b->saved_seq = s->last_seq;
	}
	s->inflight = b;
	s->open = (b == &s->batches[0]) ? &s->batches[1] : &s->batches[0];
	pthread_mutex_lock(&s->mu);
	s->todo = b;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

int store_idle(const struct store *s)
{
	return !s->inflight && !s->open->nrecs && !s->open->has_ckpt;
}

int store_commit_now(struct store *s, char *err, size_t errlen)
{
	struct batch *b = s->open;
	int rc = commit_batch(s, b, 0);

	if (rc == EIO)
		rc = write_failure_cause(s, b);
	if (rc) {
		store__set_err(err, errlen, "cannot commit: %s", store_strerror(rc));
		batch_reset(b);
		s->last_seq = s->durable_seq;
		return -1;
	}
	if (b->last_seq)
		s->durable_seq = b->last_seq;
	if (b->has_ckpt)
		s->ckpt_seq = b->ckpt_seq;
	batch_reset(b);
	return 0;
}

void store_get_stats(struct store *s, struct store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->stats;
	st->wipe = s->wipe_stats;
	pthread_mutex_unlock(&s->mu);
}
