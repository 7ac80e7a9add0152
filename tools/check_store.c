/*
 * check_store.c - accrue-check's reading of the data directory: opening it
 * read-only in one LMDB read transaction (refusing anything that is not an
 * accrue data directory of the storage format this build reads), and
 * loading the checkpoint's snapshots into a model the way the daemon's
 * recovery does, reporting every entry that does not load.
 */
#include "check.h"
#include "pagecheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- opening the directory ----------------------------------------------------------- */

static int meta_get(struct check *ck, const char *name, MDB_val *v)
{
	MDB_val k = {strlen(name), (void *)name};
	return mdb_get(ck->txn, ck->dbi[RECORD_DB_META], &k, v);
}

int check_dir_open(struct check *ck)
{
	char path[4096];
	struct stat st;
	MDB_val v;
	uint64_t u;
	int rc;
	unsigned flags = MDB_RDONLY;

	if (stat(ck->dir, &st) != 0) {
		fprintf(stderr, "accrue-check: cannot read %s: %s\n", ck->dir,
			errno == ENOENT ? "no such directory" : strerror(errno));
		return CHECK_CANNOT;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "accrue-check: %s is not a directory\n", ck->dir);
		return CHECK_CANNOT;
	}
	snprintf(path, sizeof path, "%s/data.mdb", ck->dir);
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			fprintf(stderr, "accrue-check: %s is not an accrue data directory (it has no data.mdb)\n", ck->dir);
		else
			fprintf(stderr, "accrue-check: cannot read %s: %s\n", path, strerror(errno));
		return CHECK_CANNOT;
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0) {
		/* LMDB would make a new file of it; here it is a ledger lost. */
		check_problem_add(ck, 0, 0, "%s is empty (0 bytes): the ledger it held is lost", path);
		ck->unreadable = 1;
		return 0;
	}
	for (;;) {
		/* The map size is left unset: a read-only environment maps the
		 * whole file, however large the daemon has grown it. */
		if ((rc = mdb_env_create(&ck->env)) || (rc = mdb_env_set_maxdbs(ck->env, RECORD_DB_COUNT + 8))) {
			fprintf(stderr, "accrue-check: %s: LMDB: %s\n", ck->dir, mdb_strerror(rc));
			return CHECK_CANNOT;
		}
		rc = mdb_env_open(ck->env, ck->dir, flags, 0600);
		if (rc == 0)
			break;
		mdb_env_close(ck->env);
		ck->env = NULL;
		/* A copy we may read but not write (a backup, another user's):
		 * LMDB cannot register as a reader, so go without the lock,
		 * which is only safe if no daemon writes there now. */
		if (rc == EACCES && !(flags & MDB_NOLOCK)) {
			flags |= MDB_NOLOCK;
			fprintf(stderr, "accrue-check: warning: cannot open %s/lock.mdb for writing; reading without LMDB's "
					"lock (only safe while no accrued runs on it)\n",
				ck->dir);
			continue;
		}
		/* LMDB refuses a damaged meta page or a file cut short with a
		 * bare MDB_INVALID: the page check says which and why. */
		{
			char why[900];
			if (pagecheck_file(path, NULL, why, sizeof why) > 0) {
				check_problem_add(ck, 0, 0, "%s", why);
				ck->unreadable = 1;
				return 0;
			}
		}
		fprintf(stderr, "accrue-check: cannot open the LMDB environment in %s: %s\n", ck->dir, mdb_strerror(rc));
		return CHECK_CANNOT;
	}
	/* A running daemon may have grown the file past our map since we opened it. */
	for (int tries = 0;; tries++) {
		rc = mdb_txn_begin(ck->env, NULL, MDB_RDONLY, &ck->txn);
		if (rc != MDB_MAP_RESIZED || tries == 3)
			break;
		mdb_env_set_mapsize(ck->env, 0);
	}
	if (rc) {
		ck->txn = NULL;
		fprintf(stderr, "accrue-check: cannot begin a read transaction in %s: %s\n", ck->dir, mdb_strerror(rc));
		return CHECK_CANNOT;
	}
	/* LMDB trusts its pages and would crash on a damaged one: check them as
	 * plain bytes first. The read transaction begun above keeps a running
	 * daemon from reusing any page the check reads. */
	{
		char why[900];
		struct pagecheck_result pr;
		int prc = pagecheck_file(path, &pr, why, sizeof why);
		if (prc < 0) {
			fprintf(stderr, "accrue-check: %s\n", why);
			return CHECK_CANNOT;
		}
		if (prc > 0) {
			check_problem_add(ck, 0, 0, "%s", why);
			ck->unreadable = 1;
			return 0;
		}
	}
	for (int i = 0; i < RECORD_DB_COUNT; i++) {
		rc = mdb_dbi_open(ck->txn, record_db_name(i), 0, &ck->dbi[i]);
		if (rc == MDB_NOTFOUND) {
			fprintf(stderr, "accrue-check: %s is not an accrue data directory (it has no \"%s\" database)\n",
				ck->dir, record_db_name(i));
			return CHECK_CANNOT;
		}
		if (rc) {
			fprintf(stderr, "accrue-check: cannot open the \"%s\" database in %s: %s\n", record_db_name(i), ck->dir,
				mdb_strerror(rc));
			return CHECK_CANNOT;
		}
	}
	rc = meta_get(ck, "format", &v);
	if (rc == MDB_NOTFOUND) {
		fprintf(stderr, "accrue-check: %s is not an accrue data directory (meta has no storage format)\n", ck->dir);
		return CHECK_CANNOT;
	}
	if (rc) {
		fprintf(stderr, "accrue-check: cannot read the storage format in %s: %s\n", ck->dir, mdb_strerror(rc));
		return CHECK_CANNOT;
	}
	if (v.mv_size == 8 && record_key_u64_read(v.mv_data) != STORE_FORMAT) {
		/* Before format 3 the format was kept unsealed. */
		fprintf(stderr, "accrue-check: %s has storage format %" PRIu64 "; this accrue-check reads format %d\n",
			ck->dir, record_key_u64_read(v.mv_data), STORE_FORMAT);
		return CHECK_CANNOT;
	}
	if (record_meta_open("format", v.mv_data, v.mv_size, &u)) {
		check_problem_add(ck, 0, 0, "meta: the storage format is damaged (its checksum does not match)");
		ck->unreadable = 1;
		return 0;
	}
	if (u != STORE_FORMAT) {
		fprintf(stderr, "accrue-check: %s has storage format %" PRIu64 "; this accrue-check reads format %d\n",
			ck->dir, u, STORE_FORMAT);
		return CHECK_CANNOT;
	}
	/* The checkpoint's seq and the last seq whose orders and request keys
	 * were saved: sealed like snapshots, since a changed bit in either
	 * skips or repeats records at start. */
	rc = meta_get(ck, "checkpoint_seq", &v);
	if (rc == 0 && record_meta_open("checkpoint_seq", v.mv_data, v.mv_size, &u) == 0) {
		ck->ckpt_seq = u;
		ck->has_ckpt = ck->ckpt_seq != 0;
	} else if (rc == 0) {
		check_problem_add(ck, 0, 0, "meta: checkpoint_seq is damaged (its checksum does not match); the checkpoint "
					    "cannot be checked");
		ck->unreadable = 1;
		return 0;
	} else if (rc != MDB_NOTFOUND) {
		fprintf(stderr, "accrue-check: cannot read the checkpoint seq in %s: %s\n", ck->dir, mdb_strerror(rc));
		return CHECK_CANNOT;
	}
	rc = meta_get(ck, "saved_seq", &v);
	if (rc == 0 && record_meta_open("saved_seq", v.mv_data, v.mv_size, &u) == 0) {
		ck->saved_seq = u;
	} else if (rc == 0) {
		check_problem_add(ck, 0, 0, "meta: saved_seq is damaged (its checksum does not match)");
	} else if (rc != MDB_NOTFOUND) {
		fprintf(stderr, "accrue-check: cannot read the saved seq in %s: %s\n", ck->dir, mdb_strerror(rc));
		return CHECK_CANNOT;
	}
	return 0;
}

int check_snapshots_present(struct check *ck)
{
	for (int db = RECORD_DB_CUSTOMERS; db <= RECORD_DB_LAST_SNAPSHOT; db++) {
		MDB_stat st;
		if (mdb_stat(ck->txn, ck->dbi[db], &st) == 0 && st.ms_entries)
			return 1;
	}
	return 0;
}

/* ---- the checkpoint's snapshots ---------------------------------------------------- */

static const char *snap_entry_name(int db, const MDB_val *k, char *buf, size_t cap)
{
	if (db == RECORD_DB_PROGRAM || k->mv_size != 8)
		snprintf(buf, cap, "entry %s", check_quote(k->mv_data, k->mv_size < 64 ? k->mv_size : 64));
	else
		snprintf(buf, cap, "entry %" PRIu64, record_key_u64_read(k->mv_data));
	return buf;
}

/* Why a decoded snapshot entry does not load, said as well as can be. */
static void load_refusal(const struct model *m, int db, const void *e, char *out, size_t cap)
{
	const struct model_customer *other;

	switch (db) {
	case RECORD_DB_CUSTOMERS: {
		const struct record_customer *s = e;
		if (s->c.id != (uint64_t)m->ncustomers + 1)
			snprintf(out, cap, "customer id %" PRIu64 " is not the next id (%" PRIu64 ")", s->c.id,
				 (uint64_t)m->ncustomers + 1);
		else if ((other = model_customer_by_email(m, s->c.email)))
			snprintf(out, cap, "email %s is customer %" PRIu64 "'s too", check_qstr(s->c.email), other->id);
		else if ((other = model_customer_by_phone(m, s->c.phone)))
			snprintf(out, cap, "phone %s is customer %" PRIu64 "'s too", check_qstr(s->c.phone), other->id);
		else {
			for (uint8_t i = 0; i < s->c.ncards; i++)
				if ((other = model_customer_by_card(m, s->c.cards[i]))) {
					snprintf(out, cap, "card %s is customer %" PRIu64 "'s too", check_qstr(s->c.cards[i]),
						 other->id);
					return;
				}
			snprintf(out, cap, "its fields are out of range");
		}
		return;
	}
	case RECORD_DB_ORDERS: {
		const struct record_order *s = e;
		const struct model_order *o = model_order_by_key(m, s->key.ptr, s->key.len);
		if (o)
			snprintf(out, cap, "%s appears twice (sales at seq %" PRIu64 " and %" PRIu64 ")",
				 check_order_name(s->key.ptr, s->key.len), o->seq, s->seq);
		else
			snprintf(out, cap, "it does not load");
		return;
	}
	case RECORD_DB_REQUESTS: {
		const struct record_request *s = e;
		const struct model_request *q = model_request_find(m, s->key);
		if (q)
			snprintf(out, cap, "request key %s appears twice (seq %" PRIu64 " and %" PRIu64 ")", check_key_hex(s->key), q->seq,
				 s->seq);
		else
			snprintf(out, cap, "it does not load");
		return;
	}
	case RECORD_DB_KEYS:
		snprintf(out, cap, "the key id is 0, taken, or its location too long");
		return;
	default:
		snprintf(out, cap, "a setting is unknown or its value out of range");
		return;
	}
}

int check_checkpoint_load(struct check *ck)
{
	struct model *m = &ck->checkpoint.m;
	MDB_stat st[RECORD_DB_KEYS];
	int ok = 1;

	for (int db = RECORD_DB_CUSTOMERS; db < RECORD_DB_KEYS; db++)
		if (mdb_stat(ck->txn, ck->dbi[db], &st[db]))
			st[db].ms_entries = 0;
	if (model_reserve(m, st[RECORD_DB_CUSTOMERS].ms_entries, st[RECORD_DB_ORDERS].ms_entries, st[RECORD_DB_REQUESTS].ms_entries))
		check_die_nomem();
	for (int db = RECORD_DB_CUSTOMERS; db <= RECORD_DB_LAST_SNAPSHOT; db++) {
		MDB_cursor *cur;
		MDB_val k, v;
		int rc = mdb_cursor_open(ck->txn, ck->dbi[db], &cur);

		if (rc) {
			fprintf(stderr, "accrue-check: cannot read %s in %s: %s\n", record_db_name(db), ck->dir, mdb_strerror(rc));
			exit(CHECK_CANNOT);
		}
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			union {
				struct record_customer c;
				struct record_order o;
				struct record_request q;
				struct record_apikey a;
			} e;
			char name[300], why[600];
			uint64_t key = k.mv_size == 8 ? record_key_u64_read(k.mv_data) : 0;
			uint64_t seq = 0, cid = 0;
			size_t body_len;
			int drc = record_snapshot_check(db, k.mv_data, k.mv_size, v.mv_data, v.mv_size, &body_len), lrc = 0;

			/* Nothing of a snapshot is believed before its checksum. */
			if (drc) {
				check_problem_add(ck, 0, 0, "checkpoint: %s %s is damaged (%s)", record_db_name(db),
						  snap_entry_name(db, &k, name, sizeof name),
						  drc == RECORD_E_CHECKSUM ? "checksum mismatch" : record_errstr(drc));
				ok = 0;
				continue;
			}
			v.mv_size = body_len;
			switch (db) {
			case RECORD_DB_CUSTOMERS:
				drc = k.mv_size != 8 ? RECORD_E_FORMAT : record_customer_decode(v.mv_data, v.mv_size, &e.c);
				if (!drc && e.c.c.id != key)
					drc = RECORD_E_FORMAT;
				cid = key;
				if (!drc) {
					seq = e.c.last_seq;
					lrc = ok ? model_load_customer(m, &e.c) : 0;
				}
				break;
			case RECORD_DB_ORDERS:
				drc = k.mv_size != 8 ? RECORD_E_FORMAT : record_order_decode(v.mv_data, v.mv_size, &e.o);
				if (!drc && e.o.seq != key)
					drc = RECORD_E_FORMAT;
				seq = key;
				if (!drc) {
					cid = e.o.customer_id;
					lrc = ok ? model_load_order(m, e.o.key.ptr, e.o.key.len, &e.o) : 0;
				}
				break;
			case RECORD_DB_REQUESTS:
				drc = k.mv_size != 8 ? RECORD_E_FORMAT : record_request_decode(v.mv_data, v.mv_size, &e.q);
				if (!drc && e.q.seq != key)
					drc = RECORD_E_FORMAT;
				seq = key;
				if (!drc)
					lrc = ok ? model_load_request(m, e.q.key, &e.q) : 0;
				break;
			case RECORD_DB_KEYS:
				drc = k.mv_size != 8 ? RECORD_E_FORMAT : record_apikey_decode(v.mv_data, v.mv_size, &e.a);
				if (!drc)
					lrc = ok ? model_load_apikey(m, key, &e.a) : 0;
				break;
			default:
				if (k.mv_size != strlen(RECORD_PROGRAM_KEY) || memcmp(k.mv_data, RECORD_PROGRAM_KEY, k.mv_size))
					drc = RECORD_E_FORMAT;
				else
					lrc = ok ? model_load_program(m, v.mv_data, v.mv_size) : 0;
				break;
			}
			if (lrc == MODEL_E_NOMEM)
				check_die_nomem();
			if (drc) {
				check_problem_add(ck, seq, cid, "checkpoint: %s %s does not decode (%s)", record_db_name(db),
						  snap_entry_name(db, &k, name, sizeof name),
						  drc == RECORD_E_FORMAT ? "bad format, or stored under the wrong key" : record_errstr(drc));
				ok = 0;
			} else if (lrc) {
				load_refusal(m, db, &e, why, sizeof why);
				check_problem_add(ck, seq, cid, "checkpoint: %s %s cannot be loaded: %s", record_db_name(db),
						  snap_entry_name(db, &k, name, sizeof name), why);
				ok = 0;
			}
		}
		mdb_cursor_close(cur);
		if (rc != MDB_NOTFOUND) {
			fprintf(stderr, "accrue-check: cannot read %s in %s: %s\n", record_db_name(db), ck->dir, mdb_strerror(rc));
			exit(CHECK_CANNOT);
		}
	}
	if (!ok)
		check_problem_add(ck, 0, 0, "checkpoint: not compared with the journal, as it does not load");
	m->applied_seq = ck->ckpt_seq;
	return ok;
}
