/*
 * store_erase.c - an archive's erasure on disk (store_erase, store.h): the
 * customer's journal chain written again without personal data in the
 * batch's own transaction, then a wipe that leaves no old copy of those
 * bytes anywhere in data.mdb.
 *
 * Where old bytes stay in an LMDB file. LMDB never writes a page in place:
 * a change goes to a new page, and the old one goes on the free-page list,
 * keyed by the transaction that freed it, to be reused some day; it is
 * never cleared. And LMDB writes whole pages: besides the nodes, a branch
 * or leaf page's unused range (between its node offsets, `lower`, and its
 * nodes, `upper`) and the end of an overflow run's last page past the value
 * go to disk too, holding whatever the buffer held: LMDB hands a
 * transaction the buffers of earlier transactions' pages without clearing
 * them, and deleting or shrinking a node leaves its old bytes in the page.
 * So after a transaction E has erased a chain, old bytes can be in
 *   (a) the pages on the free list;
 *   (b) the unused ranges of pages in use, of any transaction;
 *   (c) the file past LMDB's last page (a commit a crash cut short);
 *   (d) the page buffers this process keeps for its next transactions,
 *       which would carry them into the unused ranges of later pages.
 *
 * The wipe (wipe(), on the writer thread after E commits, or in store_open
 * after a crash left it owed). L is the last transaction committed: E, or
 * a later one when the wipe was put off.
 *  1. Commit a marker transaction M = L + 1. LMDB keeps two meta pages,
 *     for the last two transactions: they are now L and M, and both lead
 *     to trees made after the erasure.
 *  2. With map_lock held exclusively, so that none of this process's
 *     readers is inside a snapshot, look at LMDB's reader table: if another
 *     process (accrue-check on a live directory) reads a snapshot older
 *     than L, the wipe is put off and tried again after every later commit
 *     (a look at the reader table each time; wipe_stats.deferred counts
 *     them). Then close the environment and open it again, which frees (d).
 *  3. Walk tree L and tree M from the two meta pages (the free-page tree,
 *     the main tree and every named database) and zero the unused range of
 *     every branch and leaf page and the end of every overflow run (b).
 *     LMDB never reads those bytes, so this is safe beside any reader, and
 *     a write a power cut tears changes nothing that is read.
 *  4. Zero every page on the free list whose key (the transaction that
 *     freed it) is <= L, unless it is zero already. Such a page is in
 *     neither tree: a page freed by transaction k was in tree k - 1 and not
 *     in tree k, and a later transaction that reuses it takes it off the
 *     list (a listed page the walk met in a tree is left alone, and
 *     counted). Nothing will read it: no reader is older than L, and
 *     readers that begin from now on begin at L or M. The pages M itself
 *     freed are not zeroed: they belong to tree L, to which the older meta
 *     page still leads (LMDB opens it if the newer one is torn); 3 covered
 *     their unused ranges.
 *  5. Zero what is not zero past the last page (c).
 *  6. fdatasync, then commit a transaction that deletes meta
 *     "wipe_pending", which E set: a start that finds it does the wipe
 *     again before recovery (store__wipe_at_open).
 * Steps 3 to 6 run with the map lock released; the writer runs them, so no
 * commit moves a page meanwhile. Their cost grows with the file: step 3
 * reads every page in use, once per archive. A wipe that fails (a write
 * error, a full disk) is tried again after a later commit, not before
 * WIPE_RETRY_MS, and at the next start.
 *
 * The page layout read here is liblmdb 0.9's on a 64-bit little-endian
 * machine, as in pagecheck.c, which checked the file before LMDB opened it.
 * A page that does not look as it must is left alone and counted.
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lmdb_layout.h"

/* LMDB's free-page tree. */
#define FREE_DBI 0
/* After a failed wipe, not again for this long (each costs a walk of the file). */
#define WIPE_RETRY_MS 10000

/* ---- the erasing transaction ---------------------------------------------- */

int store_erase(struct store *s, struct model *m, uint64_t chain_seq)
{
	struct batch *b = s->open;

	/* What the writer will need is allocated here, where running out of
	 * memory refuses one request instead of failing a whole commit. */
	if (!s->erase_rec && !(s->erase_rec = malloc(sizeof *s->erase_rec)))
		return -1;
	if (!s->erase_buf && !(s->erase_buf = malloc(RECORD_MAX_SIZE)))
		return -1;
	if (b->nerase == b->erase_cap) {
		uint32_t cap = b->erase_cap ? b->erase_cap * 2 : 8;
		uint64_t *p = realloc(b->erase, cap * sizeof *p);
		if (!p)
			return -1;
		b->erase = p;
		b->erase_cap = cap;
	}
	/* The customer's snapshot without personal data replaces the old one
	 * in the same transaction (with every other one changed since the last
	 * checkpoint: a checkpoint is all or nothing). */
	if (store_checkpoint(s, m))
		return -1;
	b->erase[b->nerase++] = chain_seq;
	return 0;
}

/* Erase the chain that ends at seq, reading it in txn (which holds the batch's own records). */
static int erase_chain(struct store *s, MDB_txn *txn, uint64_t seq)
{
	MDB_dbi journal = s->dbi[RECORD_DB_JOURNAL];
	struct record *rec = s->erase_rec;
	uint64_t customer = 0;
	int rc;

	while (seq) {
		uint8_t key[8];
		MDB_val k = {8, key}, v;
		size_t n;

		record_key_u64(key, seq);
		if ((rc = mdb_get(txn, journal, &k, &v)))
			return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
		/* A chain that leads to a damaged record, to another customer's or
		 * forwards would leave personal data unerased: refuse the commit. */
		if (record_decode(v.mv_data, v.mv_size, seq, rec) || (customer && rec->customer_id != customer) ||
		    rec->prev_seq >= seq)
			return MDB_CORRUPTED;
		customer = rec->customer_id;
		/* Strings left in rec point into the page; it is encoded before the put moves it. */
		if (!rec->erased && record_erase(rec)) {
			if (!(n = record_encode(s->erase_buf, RECORD_MAX_SIZE, seq, rec)))
				return MDB_CORRUPTED;
			v.mv_size = n;
			v.mv_data = s->erase_buf;
			if ((rc = mdb_put(txn, journal, &k, &v, 0)))
				return rc;
			s->erase_count++;
		}
		seq = rec->prev_seq;
	}
	return 0;
}

int store__erase_chains(struct store *s, MDB_txn *txn, const struct batch *b)
{
	int rc;

	s->erase_count = 0;
	for (uint32_t i = 0; i < b->nerase; i++)
		if ((rc = erase_chain(s, txn, b->erase[i])))
			return rc;
	/* Owed from this commit on, on disk too: a crash before the wipe is
	 * done leaves it to the next start. */
	return store__meta_put_u64(txn, s->dbi[RECORD_DB_META], "wipe_pending", mdb_txn_id(txn));
}

/* ---- the wipe ------------------------------------------------------------------- */

static int all_zero(const uint8_t *p, uint64_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* The data file, mapped for reading, while the wipe walks and zeroes it. */
struct wipe_map {
	struct store *s;
	const uint8_t *map;
	uint64_t len, psize;
	uint64_t last_pg;  /* the last page either meta page uses */
	uint8_t *in_tree;  /* a bit per page: reached from tree L or tree M */
	int rc;            /* the first write error */
	uint64_t gaps, pages, odd;
};

/* Claim page pgno for a tree; 0 if it was claimed already. */
static int claim(struct wipe_map *w, uint64_t pgno)
{
	uint8_t bit = (uint8_t)(1u << (pgno % 8));

	if (w->in_tree[pgno / 8] & bit)
		return 0;
	w->in_tree[pgno / 8] |= bit;
	return 1;
}

static int claimed(const struct wipe_map *w, uint64_t pgno)
{
	return (w->in_tree[pgno / 8] >> (pgno % 8)) & 1;
}

/* Zero [off, off + len) of the file unless it is zero already. */
static void zero_range(struct wipe_map *w, uint64_t off, uint64_t len)
{
	if (w->rc || all_zero(w->map + off, len))
		return;
	w->rc = store__write_zeros(w->s->data_fd, off, len);
	w->gaps++;
}

/* The end of an overflow run past its value of size bytes. */
static void zero_overflow_tail(struct wipe_map *w, uint64_t pgno, uint64_t size)
{
	const uint8_t *p;
	uint64_t pages;

	if (pgno < 2 || pgno > w->last_pg) {
		w->odd++;
		return;
	}
	p = w->map + pgno * w->psize;
	pages = get32(p + 12);
	if (get64(p) != pgno || !(get16(p + 10) & P_OVERFLOW) || pages == 0 || pages > w->last_pg - pgno + 1 ||
	    size > pages * w->psize - PAGE_HDR) {
		w->odd++;
		return;
	}
	if (!claim(w, pgno))
		return;
	for (uint64_t i = 1; i < pages; i++)
		claim(w, pgno + i);
	zero_range(w, pgno * w->psize + PAGE_HDR + size, pages * w->psize - PAGE_HDR - size);
}

/* Zero the unused range of page pgno and of every page below it, and the ends of their overflow runs. */
static void zero_tree(struct wipe_map *w, uint64_t pgno, int depth)
{
	const uint8_t *p;
	uint16_t flags, lower, upper;

	if (pgno < 2 || pgno > w->last_pg || depth > MAX_DEPTH) {
		w->odd++;
		return;
	}
	if (!claim(w, pgno))
		return; /* shared by both trees: done already */
	p = w->map + pgno * w->psize;
	flags = get16(p + 10);
	lower = get16(p + 12);
	upper = get16(p + 14);
	if (get64(p) != pgno || (flags & (P_OVERFLOW | P_META | P_LEAF2 | P_SUBP)) ||
	    (flags & (P_BRANCH | P_LEAF)) == 0 || (flags & (P_BRANCH | P_LEAF)) == (P_BRANCH | P_LEAF) ||
	    lower < PAGE_HDR || lower > upper || upper > w->psize || (lower - PAGE_HDR) % 2) {
		w->odd++;
		return;
	}
	zero_range(w, pgno * w->psize + lower, (uint64_t)(upper - lower));
	for (unsigned i = 0; i < (unsigned)(lower - PAGE_HDR) / 2 && !w->rc; i++) {
		uint16_t off = get16(p + PAGE_HDR + 2 * i), nflags, ksize;
		const uint8_t *node = p + off, *data;
		uint64_t dsize;

		if (off < upper || (uint64_t)off + NODE_HDR > w->psize ||
		    (uint64_t)off + NODE_HDR + get16(node + 6) > w->psize) {
			w->odd++;
			return;
		}
		nflags = get16(node + 4);
		ksize = get16(node + 6);
		if (flags & P_BRANCH) {
			zero_tree(w, (uint64_t)get16(node) | (uint64_t)get16(node + 2) << 16 | (uint64_t)nflags << 32,
				  depth + 1);
			continue;
		}
		dsize = (uint64_t)get16(node) | (uint64_t)get16(node + 2) << 16;
		data = node + NODE_HDR + ksize;
		if (nflags & F_BIGDATA) {
			if ((uint64_t)off + NODE_HDR + ksize + 8 > w->psize) {
				w->odd++;
				return;
			}
			zero_overflow_tail(w, get64(data), dsize);
		} else if (nflags & F_SUBDATA) {
			/* A named database's record in the main tree: its own tree. */
			if (dsize != DB_SIZE || (uint64_t)off + NODE_HDR + ksize + DB_SIZE > w->psize) {
				w->odd++;
				return;
			}
			if (get64(data + DB_ROOT) != P_INVALID)
				zero_tree(w, get64(data + DB_ROOT), 1);
		}
	}
}

/* The pages on the free list that transactions up to last freed, sorted. */
static int free_pages(struct store *s, uint64_t last, uint64_t **out, size_t *count)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t *pages = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if ((rc = store__read_begin(s, &txn)))
		return rc;
	if ((rc = mdb_cursor_open(txn, FREE_DBI, &cur))) {
		store__read_end(s, txn);
		return rc;
	}
	/* Keys are transaction ids (size_t), in order; values a count, then that many page numbers. */
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		uint64_t txnid, npg;

		if (k.mv_size != 8 || v.mv_size < 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		txnid = get64(k.mv_data);
		if (txnid > last)
			break;
		npg = get64(v.mv_data);
		if (npg != v.mv_size / 8 - 1) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (n + npg > cap) {
			size_t ncap = cap ? cap : 1024;
			uint64_t *p;
			while (ncap < n + npg)
				ncap *= 2;
			if (!(p = realloc(pages, ncap * sizeof *p))) {
				rc = ENOMEM;
				break;
			}
			pages = p;
			cap = ncap;
		}
		for (uint64_t i = 1; i <= npg; i++)
			pages[n++] = get64((const uint8_t *)v.mv_data + 8 * i);
	}
	mdb_cursor_close(cur);
	store__read_end(s, txn);
	if (rc != MDB_NOTFOUND && rc != 0) {
		free(pages);
		return rc;
	}
	*out = pages;
	*count = n;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Steps 3 to 5 of the header: the unused ranges of both trees, the free pages up to last, the file's end. */
static int zero_old_bytes(struct store *s, uint64_t last)
{
	struct wipe_map w;
	char path[4200];
	struct stat st;
	uint64_t *pages, end;
	size_t npages;
	void *map;
	int fd, rc;

	memset(&w, 0, sizeof w);
	w.s = s;
	w.psize = s->psize;
	if ((rc = free_pages(s, last, &pages, &npages)))
		return rc;
	snprintf(path, sizeof path, "%s/data.mdb", s->dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		rc = errno;
		goto out;
	}
	w.len = (uint64_t)st.st_size;
	if (w.len < 2 * w.psize) {
		rc = MDB_CORRUPTED;
		goto out;
	}
	map = mmap(NULL, w.len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = errno;
		goto out;
	}
	w.map = map;
	for (int i = 0; i < 2; i++) {
		const uint8_t *meta = w.map + i * w.psize + PAGE_HDR;
		if (get32(meta) == MDB_MAGIC && get64(meta + META_LAST_PG) > w.last_pg)
			w.last_pg = get64(meta + META_LAST_PG);
	}
	if (w.last_pg < 1 || w.last_pg >= w.len / w.psize || !(w.in_tree = calloc(w.last_pg / 8 + 1, 1))) {
		rc = w.last_pg < 1 || w.last_pg >= w.len / w.psize ? MDB_CORRUPTED : ENOMEM;
		goto unmap;
	}
	claim(&w, 0);
	claim(&w, 1);
	/* 3: both meta pages' trees (free pages, main). */
	for (int i = 0; i < 2 && !w.rc; i++) {
		const uint8_t *meta = w.map + i * w.psize + PAGE_HDR;
		if (get32(meta) != MDB_MAGIC || !(get16(meta - PAGE_HDR + 10) & P_META)) {
			w.odd++;
			continue;
		}
		for (int db = 0; db < 2; db++) {
			uint64_t root = get64(meta + META_DBS + db * DB_SIZE + DB_ROOT);
			if (root != P_INVALID)
				zero_tree(&w, root, 1);
		}
	}
	/* 4: free pages, in runs of neighbours, skipping those already zero.
	 * One in a tree would be LMDB's inconsistency, not ours to zero. */
	qsort(pages, npages, sizeof *pages, cmp_u64);
	for (size_t i = 0, j; i < npages && !w.rc; i = j) {
		for (j = i; j < npages; j++) {
			uint64_t pg = pages[j];
			if ((j > i && pg != pages[j - 1] + 1) || pg < 2 || pg > w.last_pg || claimed(&w, pg) ||
			    all_zero(w.map + pg * w.psize, w.psize))
				break;
		}
		if (j == i) {
			uint64_t pg = pages[i];
			w.odd += pg < 2 || pg > w.last_pg || claimed(&w, pg);
			j = i + 1;
			continue;
		}
		w.rc = store__write_zeros(s->data_fd, pages[i] * w.psize, (j - i) * w.psize);
		w.pages += j - i;
	}
	/* 5: past the last page, a megabyte at a time. */
	for (end = (w.last_pg + 1) * w.psize; end < w.len && !w.rc;) {
		uint64_t n = w.len - end < ((uint64_t)1 << 20) ? w.len - end : (uint64_t)1 << 20;
		zero_range(&w, end, n);
		end += n;
	}
	rc = w.rc;
	free(w.in_tree);
unmap:
	munmap(map, w.len);
out:
	if (fd >= 0)
		close(fd);
	free(pages);
	pthread_mutex_lock(&s->mu);
	s->wipe_stats.pages_zeroed += w.pages;
	s->wipe_stats.gaps_zeroed += w.gaps;
	s->wipe_stats.odd_pages += w.odd;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* mdb_reader_list's lines: "pid thread txnid", or "-" for a reader between transactions. */
struct reader_scan {
	pid_t skip; /* this pid's readers are not looked at (0: all are) */
	uint64_t below;
	int found;
};

static int reader_line(const char *msg, void *ctx)
{
	struct reader_scan *r = ctx;
	int pid;
	size_t thread, txnid;

	if (sscanf(msg, "%d %zx %zu", &pid, &thread, &txnid) == 3 && pid != r->skip && txnid < r->below)
		r->found = 1;
	return 0;
}

/* Whether a reader (of another process, with skip) is on a snapshot older than below. */
static int old_reader(struct store *s, pid_t skip, uint64_t below)
{
	struct reader_scan r = {skip, below, 0};
	int dead;

	mdb_reader_list(s->env, reader_line, &r);
	if (r.found && mdb_reader_check(s->env, &dead) == 0 && dead > 0) {
		/* Slots left by a process that died are not readers. */
		r.found = 0;
		mdb_reader_list(s->env, reader_line, &r);
	}
	return r.found;
}

/* Commit one transaction that sets (v != 0) or deletes meta "wipe_pending"; *txnid gets its id. */
static int set_pending(struct store *s, uint64_t v, uint64_t *txnid)
{
	MDB_txn *txn;
	MDB_val k = {12, (void *)"wipe_pending"};
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)))
		return rc;
	*txnid = mdb_txn_id(txn);
	rc = v ? store__meta_put_u64(txn, s->dbi[RECORD_DB_META], "wipe_pending", v)
	       : mdb_del(txn, s->dbi[RECORD_DB_META], &k, NULL);
	if (rc && !(rc == MDB_NOTFOUND && !v)) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/*
 * Close the environment and open it again (its page buffers go with it),
 * with the databases at the handles they had. map_lock held exclusively.
 * A failure leaves no environment: map_lost, as a failed remap does.
 */
static int reopen(struct store *s)
{
	MDB_txn *txn;
	MDB_dbi dbi[RECORD_DB_COUNT];
	int rc;

	mdb_env_close(s->env);
	s->env = NULL;
	if ((rc = store__env_open(s)) || (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
		goto fail;
	/* In store_open's order, so that every handle is what it was. */
	rc = mdb_dbi_open(txn, record_db_name(RECORD_DB_META), 0, &dbi[RECORD_DB_META]);
	for (int i = 0; i < RECORD_DB_COUNT && !rc; i++)
		if (!(rc = mdb_dbi_open(txn, record_db_name(i), 0, &dbi[i])) && dbi[i] != s->dbi[i])
			rc = MDB_BAD_DBI;
	if (rc) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)))
		goto fail;
	return 0;
fail:
	if (s->env)
		mdb_env_close(s->env);
	s->env = NULL;
	s->map_lost = 1;
	return rc;
}

/* The wipe of the header. Returns 0 (done, or put off) or why it failed. */
static int wipe(struct store *s)
{
	uint64_t start = store__now_ms(), last, cleared;
	MDB_envinfo info;
	int rc, deferred = 0, wiped = 0;

	if (s->map_lost)
		return EIO;
	if ((rc = mdb_env_info(s->env, &info)))
		goto done;
	/* Not worth a marker while another process reads an older snapshot. */
	if (old_reader(s, getpid(), info.me_last_txnid)) {
		deferred = 1;
		goto done;
	}
	/* 1: the marker; last is the transaction before it. */
	if ((rc = set_pending(s, info.me_last_txnid, &last)))
		goto done;
	last--;
	/* 2 */
	pthread_rwlock_wrlock(&s->map_lock);
	if (old_reader(s, 0, last)) {
		pthread_rwlock_unlock(&s->map_lock);
		deferred = 1;
		goto done;
	}
	rc = reopen(s);
	pthread_rwlock_unlock(&s->map_lock);
	/* 3 to 6 */
	if (rc || (rc = zero_old_bytes(s, last)))
		goto done;
	if (fdatasync(s->data_fd) != 0) {
		rc = errno;
		goto done;
	}
	/* Done; should meta go on saying otherwise, a start wipes once more. */
	wiped = 1;
	s->wipe_pending = 0;
	rc = set_pending(s, 0, &cleared);
done:
	if (rc && s->wipe_pending)
		s->wipe_retry_ms = store__now_ms() + WIPE_RETRY_MS;
	pthread_mutex_lock(&s->mu);
	s->wipe_stats.deferred += deferred;
	s->wipe_stats.wipes += wiped;
	s->wipe_stats.failed += rc != 0;
	s->wipe_stats.wipe_errno = rc;
	s->wipe_stats.pending = s->wipe_pending;
	if (wiped)
		s->wipe_stats.last_wipe_ms = store__now_ms() - start;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void store__erase_committed(struct store *s, const struct batch *b)
{
	if (b->nerase) {
		s->wipe_pending = 1;
		pthread_mutex_lock(&s->mu);
		s->wipe_stats.erased_records += s->erase_count;
		s->wipe_stats.pending = 1;
		pthread_mutex_unlock(&s->mu);
	}
	/* A wipe put off is tried again after every commit; one that failed,
	 * after the retry delay, or at once for a new erasure. */
	if (s->wipe_pending && !s->wipe_hold && (b->nerase || store__now_ms() >= s->wipe_retry_ms))
		wipe(s);
}

int store__wipe_at_open(struct store *s, char *err, size_t errlen)
{
	MDB_txn *txn;
	uint64_t owed = 0;
	int rc;

	if ((rc = store__read_begin(s, &txn)))
		goto fail;
	rc = store__meta_get_u64(txn, s->dbi[RECORD_DB_META], "wipe_pending", &owed);
	store__read_end(s, txn);
	/* A damaged flag is taken as set: a wipe is always safe, and deletes it. */
	if (rc == STORE_META_DAMAGED)
		owed = 1;
	else if (rc)
		goto fail;
	if (!owed)
		return 0;
	/* A crash came between an erasing commit and its wipe: do it now. */
	s->wipe_pending = 1;
	rc = wipe(s);
	if (rc && s->map_lost)
		goto fail;
	return 0;
fail:
	store__set_err(err, errlen, "cannot wipe the pages an archive freed in %s/data.mdb: %s", s->dir,
		       store_strerror(rc));
	return -1;
}

void store__erase_free(struct store *s)
{
	free(s->erase_rec);
	free(s->erase_buf);
}

void store__get_wipe_stats(struct store *s, struct store_wipe_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->wipe_stats;
	pthread_mutex_unlock(&s->mu);
}
