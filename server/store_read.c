/*
 * store_read.c - reading what the store wrote: recovery at start-up
 * (snapshots, then the journal after the checkpoint through model_apply),
 * discarding a damaged journal tail, and walking one customer's chain.
 * See store.h; the struct is store_int.h's.
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Delete, last first, every entry of cur's database keyed by a seq >= from. */
static int delete_seqs_from(MDB_cursor *cur, uint64_t from)
{
	MDB_val k, v;
	int rc;

	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_LAST)) == 0 && k.mv_size == 8 &&
	       record_key_u64_read(k.mv_data) >= from)
		if ((rc = mdb_cursor_del(cur, 0)))
			return rc;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_discard_journal(struct store *s, uint64_t from, char *path, size_t pathlen, uint64_t *count, char *err,
			  size_t errlen)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t kbuf[8], hdr[12];
	uint64_t ckpt, n = 0;
	char tmp[4200];
	int rc, fd = -1, dfd;

	*count = 0;
	snprintf(path, pathlen, "%s/discarded-journal-%llu.bin", s->dir, (unsigned long long)from);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)))
		goto lmdb_fail;
	if ((rc = store__meta_get_u64(txn, s->dbi[RECORD_DB_META], "checkpoint_seq", &ckpt)))
		goto lmdb_fail;
	if (from <= ckpt) {
		store__set_err(err, errlen,
			"journal record %llu is at or before the last checkpoint (seq %llu): the snapshots hold what it did, and it cannot be discarded",
			(unsigned long long)from, (unsigned long long)ckpt);
		goto fail;
	}
	if ((rc = mdb_cursor_open(txn, s->dbi[RECORD_DB_JOURNAL], &cur)))
		goto lmdb_fail;
	record_key_u64(kbuf, from);
	k.mv_size = 8;
	k.mv_data = kbuf;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND) {
		store__set_err(err, errlen, "the journal has no record at or after %llu: nothing to discard", (unsigned long long)from);
		goto fail;
	}
	if (rc)
		goto lmdb_fail;
	/* Everything from `from` on goes to a file first, fsynced, and only
	 * then out of the journal: nothing is thrown away unseen. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write_all(fd, "ACRUDISC", 8)) {
		store__set_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint32_t len = (uint32_t)v.mv_size;
		memcpy(hdr, k.mv_data, k.mv_size == 8 ? 8 : 0);
		if (k.mv_size != 8)
			memset(hdr, 0, 8);
		memcpy(hdr + 8, &len, 4);
		if (write_all(fd, hdr, 12) || write_all(fd, v.mv_data, v.mv_size)) {
			store__set_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			goto fail;
		}
		n++;
	}
	if (rc != MDB_NOTFOUND)
		goto lmdb_fail;
	if (fsync(fd) || close(fd)) {
		fd = -1;
		store__set_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path)) {
		store__set_err(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if ((dfd = open(s->dir, O_RDONLY)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	/* Now delete them, last first, in this one transaction. */
	if ((rc = delete_seqs_from(cur, from)))
		goto lmdb_fail;
	mdb_cursor_close(cur);
	cur = NULL;
	/* The orders and request keys those records made may have been saved
	 * (keyed by the seq that made them): they go too, or a retry of a
	 * discarded sale would be taken for a duplicate or a replay. */
	{
		uint64_t saved;
		if ((rc = store__meta_get_u64(txn, s->dbi[RECORD_DB_META], "saved_seq", &saved)) ||
		    (saved >= from && (rc = store__meta_put_u64(txn, s->dbi[RECORD_DB_META], "saved_seq", from - 1))))
			goto lmdb_fail;
	}
	for (int db = RECORD_DB_ORDERS; db <= RECORD_DB_REQUESTS; db++) {
		if ((rc = mdb_cursor_open(txn, s->dbi[db], &cur)) || (rc = delete_seqs_from(cur, from)))
			goto lmdb_fail;
		mdb_cursor_close(cur);
		cur = NULL;
	}
	if ((rc = mdb_txn_commit(txn))) {
		txn = NULL;
		goto lmdb_fail;
	}
	*count = n;
	return 0;

lmdb_fail:
	store__set_err(err, errlen, "cannot discard journal records: %s", store__meta_strerror(rc));
fail:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return -1;
}

/* ---- recovery ------------------------------------------------------------- */

/* One decoded snapshot entry (pointing into the read transaction's pages). */
union snap {
	struct record_customer c;
	struct record_order o;
	struct record_request q;
	struct {
		uint64_t id;
		struct record_apikey a;
	} k;
	MDB_val p;
};

#define LOAD_WINDOW 16

/* A snapshot's key as a message names it: an id or seq, or the text of the program's key. */
static void snap_key_text(const MDB_val *k, char *buf, size_t cap)
{
	if (k->mv_size == 8) {
		snprintf(buf, cap, "%llu", (unsigned long long)record_key_u64_read(k->mv_data));
		return;
	}
	snprintf(buf, cap, "\"");
	for (size_t i = 0, o = 1; i < k->mv_size && o + 3 < cap; i++) {
		unsigned char ch = ((const unsigned char *)k->mv_data)[i];
		buf[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		buf[o] = '"';
		buf[o + 1] = 0;
	}
	if (!k->mv_size)
		snprintf(buf, cap, "\"\"");
}

static int snap_decode(int db, const MDB_val *k, const MDB_val *stored, union snap *e, const struct model *m)
{
	MDB_val body;
	MDB_val *v = &body;
	size_t len;
	int rc = record_snapshot_check(db, k->mv_data, k->mv_size, stored->mv_data, stored->mv_size, &len);

	/* Nothing of a snapshot is believed before its checksum. */
	if (rc)
		return rc;
	body.mv_data = stored->mv_data;
	body.mv_size = len;
	switch (db) {
	case RECORD_DB_CUSTOMERS:
		rc = k->mv_size != 8 ? RECORD_E_FORMAT : record_customer_decode(v->mv_data, v->mv_size, &e->c);
		if (!rc && e->c.c.id != record_key_u64_read(k->mv_data))
			rc = RECORD_E_FORMAT;
		if (!rc)
			model_prefetch_customer(m, &e->c);
		return rc;
	case RECORD_DB_ORDERS:
		rc = k->mv_size != 8 ? RECORD_E_FORMAT : record_order_decode(v->mv_data, v->mv_size, &e->o);
		if (!rc && e->o.seq != record_key_u64_read(k->mv_data))
			rc = RECORD_E_FORMAT;
		if (!rc)
			model_prefetch_order(m, e->o.key.ptr, e->o.key.len);
		return rc;
	case RECORD_DB_REQUESTS:
		rc = k->mv_size != 8 ? RECORD_E_FORMAT : record_request_decode(v->mv_data, v->mv_size, &e->q);
		if (!rc && e->q.seq != record_key_u64_read(k->mv_data))
			rc = RECORD_E_FORMAT;
		if (!rc)
			model_prefetch_request(m, e->q.key);
		return rc;
	case RECORD_DB_KEYS:
		rc = k->mv_size != 8 ? RECORD_E_FORMAT : record_apikey_decode(v->mv_data, v->mv_size, &e->k.a);
		if (!rc)
			e->k.id = record_key_u64_read(k->mv_data);
		return rc;
	default:
		e->p = *v;
		return 0;
	}
}

static int snap_load(int db, const union snap *e, struct model *m)
{
	switch (db) {
	case RECORD_DB_CUSTOMERS:
		return model_load_customer(m, &e->c);
	case RECORD_DB_ORDERS:
		return model_load_order(m, e->o.key.ptr, e->o.key.len, &e->o);
	case RECORD_DB_REQUESTS:
		return model_load_request(m, e->q.key, &e->q);
	case RECORD_DB_KEYS:
		return model_load_apikey(m, e->k.id, &e->k.a);
	default:
		return model_load_program(m, e->p.mv_data, e->p.mv_size);
	}
}

/*
 * Load every snapshot into m. Orders and request keys are kept under the
 * seq of the record that made them; one made after the checkpoint ckpt was
 * saved with that record, so a damaged one is dropped with the record by
 * --discard-journal-from: its seq becomes store_bad_seq().
 */
static int load_snapshots(struct store *s, MDB_txn *txn, struct model *m, uint64_t ckpt, char *err, size_t errlen)
{
	MDB_stat st[RECORD_DB_KEYS];

	/* Size memory for every snapshot once, from LMDB's own entry counts. */
	for (int db = RECORD_DB_CUSTOMERS; db < RECORD_DB_KEYS; db++)
		if (mdb_stat(txn, s->dbi[db], &st[db]))
			st[db].ms_entries = 0;
	if (model_reserve(m, st[RECORD_DB_CUSTOMERS].ms_entries, st[RECORD_DB_ORDERS].ms_entries, st[RECORD_DB_REQUESTS].ms_entries)) {
		store__set_err(err, errlen, "out of memory loading %zu customers", st[RECORD_DB_CUSTOMERS].ms_entries);
		return -1;
	}
	for (int db = RECORD_DB_CUSTOMERS; db <= RECORD_DB_LAST_SNAPSHOT; db++) {
		MDB_cursor *cur;
		MDB_val k, v;
		int rc = mdb_cursor_open(txn, s->dbi[db], &cur), lrc = 0;

		if (rc) {
			store__set_err(err, errlen, "cannot read %s: %s", record_db_name(db), mdb_strerror(rc));
			return -1;
		}
		/* Entries are decoded a window at a time and their index slots
		 * prefetched before any is inserted, so the cache misses of a big
		 * load overlap instead of following one another. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		while (rc == 0 && !lrc) {
			union snap win[LOAD_WINDOW];
			MDB_val keys[LOAD_WINDOW]; /* views into the read transaction's pages */
			char name[80];
			int n = 0;

			for (; n < LOAD_WINDOW && rc == 0; n++, rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
				keys[n] = k;
				if ((lrc = snap_decode(db, &k, &v, &win[n], m))) {
					snap_key_text(&k, name, sizeof name);
					if ((db == RECORD_DB_ORDERS || db == RECORD_DB_REQUESTS) && k.mv_size == 8 &&
					    record_key_u64_read(k.mv_data) > ckpt)
						s->bad_seq = record_key_u64_read(k.mv_data);
					store__set_err(err, errlen,
						       "damaged snapshot in %s, entry %s: %s; restore the data directory from a "
						       "backup (accrue-check DIR names every damaged entry)",
						       record_db_name(db), name, record_errstr(lrc));
					break;
				}
			}
			for (int i = 0; i < n && !lrc; i++)
				if ((lrc = snap_load(db, &win[i], m))) {
					snap_key_text(&keys[i], name, sizeof name);
					store__set_err(err, errlen, "snapshot in %s, entry %s, %s", record_db_name(db), name,
						       lrc == MODEL_E_NOMEM ? "cannot be loaded: out of memory"
									    : "contradicts the snapshots loaded before it "
									      "(accrue-check DIR says how)");
				}
		}
		mdb_cursor_close(cur);
		if (lrc)
			return -1;
		if (rc != MDB_NOTFOUND) {
			store__set_err(err, errlen, "cannot read %s: %s", record_db_name(db), mdb_strerror(rc));
			return -1;
		}
	}
	return 0;
}

uint64_t store_bad_seq(const struct store *s)
{
	return s->bad_seq;
}

int store_recover(struct store *s, struct model *m, uint64_t *replayed, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t kbuf[8];
	uint64_t ckpt, expect, n = 0;
	int rc, ret = -1;

	s->bad_seq = 0;
	if ((rc = store__read_begin(s, &txn))) {
		store__set_err(err, errlen, "cannot begin read transaction: %s", mdb_strerror(rc));
		return -1;
	}
	if ((rc = store__meta_get_u64(txn, s->dbi[RECORD_DB_META], "checkpoint_seq", &ckpt))) {
		store__set_err(err, errlen, "cannot read meta's checkpoint_seq: %s", store__meta_strerror(rc));
		goto out;
	}
	if (load_snapshots(s, txn, m, ckpt, err, errlen))
		goto out;
	m->applied_seq = ckpt;
	s->ckpt_seq = ckpt;
	/* Records up to saved_seq need not make their orders and request
	 * keys again: they were saved, and loaded just now. */
	{
		uint64_t saved;
		if ((rc = store__meta_get_u64(txn, s->dbi[RECORD_DB_META], "saved_seq", &saved))) {
			store__set_err(err, errlen, "cannot read meta's saved_seq: %s", store__meta_strerror(rc));
			goto out;
		}
		m->saved_seq = saved;
	}

	if ((rc = mdb_cursor_open(txn, s->dbi[RECORD_DB_JOURNAL], &cur))) {
		store__set_err(err, errlen, "cannot read journal: %s", mdb_strerror(rc));
		goto out;
	}
	/* Size the indexes for the whole tail once, instead of growing them
	 * while replaying (a sale adds an order and a request key). */
	if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8) {
		uint64_t last = record_key_u64_read(k.mv_data);
		/* Records up to saved_seq make no orders or request keys here. */
		uint64_t from = m->saved_seq > ckpt ? m->saved_seq : ckpt;
		if (last > from && model_reserve(m, 0, last - from, last - from)) {
			store__set_err(err, errlen, "out of memory sizing for %llu journal records", (unsigned long long)(last - from));
			goto out;
		}
	}
	/* The checkpointed record itself must still be there: the journal is
	 * append-only, so its absence means the file lost its tail. */
	expect = ckpt + 1;
	if (ckpt) {
		record_key_u64(kbuf, ckpt);
		k.mv_size = 8;
		k.mv_data = kbuf;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
		if (rc) {
			store__set_err(err, errlen, "journal has no record %llu, the last checkpoint", (unsigned long long)ckpt);
			goto out;
		}
		/* The snapshots hold what it did, but HISTORY and the chain of
		 * its customer lead through it: it must be whole too. */
		{
			struct record rec;
			int drc = record_decode(v.mv_data, v.mv_size, ckpt, &rec);
			if (drc) {
				store__set_err(err, errlen, "journal record %llu, the last checkpoint's, is damaged: %s",
					(unsigned long long)ckpt, record_errstr(drc));
				goto out;
			}
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), expect++) {
		struct record rec;
		uint64_t seq = k.mv_size == 8 ? record_key_u64_read(k.mv_data) : 0;
		int drc;

		if (seq != expect) {
			s->bad_seq = expect;
			store__set_err(err, errlen, "journal record %llu is missing (found %llu next)", (unsigned long long)expect,
				(unsigned long long)seq);
			goto out;
		}
		drc = record_decode(v.mv_data, v.mv_size, seq, &rec);
		if (drc) {
			s->bad_seq = seq;
			store__set_err(err, errlen, "journal record %llu is damaged: %s", (unsigned long long)seq, record_errstr(drc));
			goto out;
		}
		drc = model_apply(m, seq, &rec);
		if (drc) {
			if (drc != MODEL_E_NOMEM)
				s->bad_seq = seq;
			store__set_err(err, errlen, "journal record %llu (%s, customer %llu) %s", (unsigned long long)seq,
				proto_entry_type_name(rec.type), (unsigned long long)rec.customer_id,
				drc == MODEL_E_NOMEM ? "could not be loaded: out of memory"
						     : "contradicts the state before it");
			goto out;
		}
		n++;
	}
	if (rc != MDB_NOTFOUND) {
		store__set_err(err, errlen, "cannot read journal: %s", mdb_strerror(rc));
		goto out;
	}
	if (m->saved_seq > expect - 1) {
		store__set_err(err, errlen,
			"meta's saved_seq %llu is past the end of the journal (seq %llu): the orders and request keys of "
			"the records after it would not be made",
			(unsigned long long)m->saved_seq, (unsigned long long)(expect - 1));
		goto out;
	}
	s->durable_seq = s->last_seq = expect - 1;
	m->saved_seq = 0;
	if (replayed)
		*replayed = n;
	ret = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	store__read_end(s, txn);
	/* Everything recovery read now lives in the model. Mapping the file
	 * again at the same size drops the pages recovery touched from this
	 * process (they stay in the page cache): 10M customers would otherwise
	 * keep ~2 GiB of snapshot pages resident for nothing. Only at start:
	 * once the writer runs, a remap could pull the map from under its
	 * transaction (LMDB leaves that to the caller), and a rebuild after a
	 * failed commit is rare enough to keep its pages. The write lock keeps
	 * every other reader (the scrubber) out while the map moves. */
	if (ret == 0 && !s->started && (rc = store__remap(s, s->map_size))) {
		store__set_err(err, errlen, "cannot map the data file again: %s", mdb_strerror(rc));
		ret = -1;
	}
	return ret;
}

uint64_t store_walk_bad_seq(const struct store *s)
{
	return s->walk_bad_seq;
}

int store_walk_chain(struct store *s, uint64_t seq, int (*fn)(void *ctx, uint64_t seq, const struct record *rec),
		     void *ctx)
{
	MDB_txn *txn;
	int rc, ret = 0;

	s->walk_bad_seq = 0;
	if (store__read_begin(s, &txn))
		return -1;
	while (seq) {
		uint8_t kbuf[8];
		MDB_val k = {8, kbuf}, v;
		struct record rec;

		record_key_u64(kbuf, seq);
		rc = mdb_get(txn, s->dbi[RECORD_DB_JOURNAL], &k, &v);
		if (rc || record_decode(v.mv_data, v.mv_size, seq, &rec)) {
			s->walk_bad_seq = seq;
			ret = -1;
			break;
		}
		if (fn(ctx, seq, &rec))
			break;
		seq = rec.prev_seq;
	}
	store__read_end(s, txn);
	return ret;
}

