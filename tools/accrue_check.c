/*
 * accrue-check - verify an accrue data directory, read-only.
 *
 * It opens the LMDB environment with MDB_RDONLY, in one read transaction,
 * so it sees one consistent state whether accrued is running (LMDB readers
 * and the writer coexist through lock.mdb) or stopped, and it writes
 * nothing. Three views of the data are built and compared:
 *
 *   1. the journal walked on its own terms (pass 1): contiguous seqs,
 *      checksums, each customer's prev_seq chain, and the arithmetic of the
 *      balance_after every record carries;
 *   2. the journal replayed from seq 1 through model_apply(), the daemon's
 *      own rules, into a fresh model (the "journal model"): what it refuses
 *      is a problem, and what it ends with is the truth;
 *   3. the checkpoint loaded as recovery does (snapshots, then the journal
 *      after checkpoint_seq): it must agree with the journal model field by
 *      field.
 *
 * A problem names its seq and customer where it has them. After the first
 * problem of a customer, that customer's later records are not replayed
 * (each would be refused for the same reason) and the customer is left out
 * of the comparisons, so one fault is reported once, not once per record.
 *
 * Exit status: 0 clean, 1 problems found, 2 cannot check (usage, a missing
 * directory, not an accrue data directory, another storage format, LMDB).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "output.h"
#include "model.h"
#include "record.h"
#include "rules.h"
#include "store.h"

#ifndef ACCRUE_VERSION
#define ACCRUE_VERSION "dev"
#endif


enum check_exit {
	CHECK_CLEAN = 0,
	CHECK_PROBLEMS = 1,
	CHECK_CANNOT = 2, /* usage, or the directory cannot be read as accrue data */
};

/* The databases of PROTOCOL.md's "On-disk formats"; the snapshots first, in enum model_db's order. */
enum { DB_CUSTOMERS, DB_ORDERS, DB_REQUESTS, DB_KEYS, DB_PROGRAM, DB_JOURNAL, DB_META, DB_COUNT };
static const char *const db_names[DB_COUNT] = {"customers", "orders", "requests", "keys", "program", "journal", "meta"};

struct problem {
	uint64_t seq;      /* 0: none */
	uint64_t customer; /* 0: none */
	size_t order;      /* discovery order, to keep sorting stable */
	char *text;
};

/*
 * Journal records that cannot be read: a damaged record (from == to, err
 * set) or a run of missing seqs (err 0). Appended in seq order.
 */
struct lost {
	uint64_t from, to;
	int err;
	uint64_t customer; /* whose record it was, as far as can be told; 0: unknown */
	size_t problem;    /* index of its problem, to name the customer once known */
};

/* Pass 1: a customer as the journal's own arithmetic sees it. */
struct p1_customer {
	uint64_t enrol_seq, last_seq, contact_seq;
	int64_t balance, lifetime, spend;
	uint64_t visits;
	char *email, *phone;
	uint32_t email_len, phone_len;
	uint8_t known;
	uint8_t member; /* 0 guest, 1 member, 2 unknown (the enrolment was lost) */
	uint8_t balance_known;
	uint8_t flagged; /* pass 1 found a problem: its totals prove nothing */
};

/* Why a customer's records stopped being replayed into a model. */
struct taint {
	uint64_t cause_seq;
	uint64_t first_skipped, last_skipped, nskipped;
	uint8_t on;
	uint8_t placeholder; /* added to keep ids dense: its enrolment was lost or refused */
};

/* A model built by replaying records, and what it could not apply. */
struct replay {
	struct model m;
	struct taint *taint; /* by customer id */
	size_t ntaint;
	uint64_t *skipped; /* seqs not applied, ascending */
	size_t nskipped, skipped_cap;
	uint64_t placeholders;
};

struct check {
	const char *dir;
	int json, quiet;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[DB_COUNT];

	struct problem *problems;
	size_t nproblems, problems_cap;
	int current_flagged; /* pass 1 reported a problem at the record being looked at */

	uint64_t nrecords, first_seq, last_seq;
	int has_ckpt, ckpt_seen;
	uint64_t ckpt_seq;

	struct lost *lost;
	size_t nlost, lost_cap;
	uint64_t lost_since_enrol;

	struct p1_customer *p1;
	size_t np1;
	uint64_t p1_max_id;

	struct replay journal;    /* every record from seq 1 */
	struct replay checkpoint; /* the snapshots, then the records after checkpoint_seq */
	int checkpoint_loaded;    /* the snapshots loaded: comparing makes sense */
	int checkpoint_needed;    /* there is a checkpoint to compare at all */
};

static struct record rec_buf; /* 14 KiB of line arrays: not on the stack */

/* ---- output helpers ------------------------------------------------------------ */

static void die_nomem(void)
{
	fprintf(stderr, "accrue-check: out of memory\n");
	exit(CHECK_CANNOT);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die_nomem();
	return p;
}

/* Grow *arr of *cap elements of size to hold need. */
static void grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	*arr = xrealloc(*arr, n * size);
	*cap = n;
}

/*
 * Data from the directory quoted for a message: bytes that could upset a
 * terminal or a JSON string are escaped. Returns one of a few rotating
 * buffers, so a message can quote several strings at once.
 */
static const char *quote(const char *p, size_t n)
{
	static char ring[6][4 * (PROTO_MAX_SETTING_KEY + 1 + PROTO_MAX_SETTING_VALUE) + 3];
	static int next;
	char *out = ring[next], *o = out;

	next = (next + 1) % 6;
	if (n > (sizeof ring[0] - 3) / 4)
		n = (sizeof ring[0] - 3) / 4;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			o += sprintf(o, "\\x%02x", ch);
		else
			*o++ = (char)ch;
	}
	*o++ = '"';
	*o = 0;
	return out;
}

static const char *qstr(struct proto_str s)
{
	return quote(s.ptr, s.len);
}

/* An order's key (location NUL order id) as people write it. */
static const char *order_name(const char *key, size_t len)
{
	static char buf[2][2 * (4 * (PROTO_MAX_LOCATION + PROTO_MAX_ORDER) + 8) + 16];
	static int next;
	const char *nul = memchr(key, 0, len);
	size_t loc = nul ? (size_t)(nul - key) : len;
	char *out = buf[next];
	char loc_q[4 * PROTO_MAX_LOCATION + 8];

	next = !next;
	snprintf(loc_q, sizeof loc_q, "%s", quote(key, loc));
	snprintf(out, sizeof buf[0], "order %s at %s", quote(key + loc + (nul ? 1 : 0), len - loc - (nul ? 1 : 0)), loc_q);
	return out;
}

static const char *key_hex(const uint8_t key[PROTO_KEY_SIZE])
{
	static char buf[2][2 * PROTO_KEY_SIZE + 1];
	static int next;
	char *out = buf[next];

	next = !next;
	for (int i = 0; i < PROTO_KEY_SIZE; i++)
		sprintf(out + 2 * i, "%02x", key[i]);
	return out;
}

static void problem(struct check *ck, uint64_t seq, uint64_t customer, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void problem(struct check *ck, uint64_t seq, uint64_t customer, const char *fmt, ...)
{
	va_list ap;
	int n;
	struct problem *p;

	grow((void **)&ck->problems, &ck->problems_cap, ck->nproblems + 1, sizeof *ck->problems);
	p = &ck->problems[ck->nproblems];
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	p->text = xrealloc(NULL, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p->text, (size_t)n + 1, fmt, ap);
	va_end(ap);
	p->seq = seq;
	p->customer = customer;
	p->order = ck->nproblems++;
}

/* ---- lost records, skipped seqs ------------------------------------------------------ */

static struct lost *lost_find(const struct check *ck, uint64_t seq)
{
	size_t lo = 0, hi = ck->nlost;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ck->lost[mid].to < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ck->nlost && ck->lost[lo].from <= seq ? &ck->lost[lo] : NULL;
}

static struct lost *lost_add(struct check *ck, uint64_t from, uint64_t to, int err)
{
	struct lost *l;

	grow((void **)&ck->lost, &ck->lost_cap, ck->nlost + 1, sizeof *ck->lost);
	l = &ck->lost[ck->nlost++];
	memset(l, 0, sizeof *l);
	l->from = from;
	l->to = to;
	l->err = err;
	l->problem = SIZE_MAX;
	ck->lost_since_enrol += to - from + 1;
	return l;
}

static int seq_listed(const uint64_t *seqs, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (seqs[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && seqs[lo] == seq;
}

static void skip_add(struct replay *r, uint64_t seq)
{
	grow((void **)&r->skipped, &r->skipped_cap, r->nskipped + 1, sizeof *r->skipped);
	r->skipped[r->nskipped++] = seq;
}

static int replay_skipped(const struct replay *r, uint64_t seq)
{
	return seq_listed(r->skipped, r->nskipped, seq);
}

static struct taint *taint_of(struct replay *r, uint64_t id, int create)
{
	if (id == 0)
		return NULL;
	if (id > r->ntaint) {
		size_t old = r->ntaint, cap = r->ntaint;
		/* Only ids the model has, or the next: a bogus id cannot make us allocate. */
		if (!create || id > (uint64_t)r->m.ncustomers + 1)
			return NULL;
		grow((void **)&r->taint, &cap, (size_t)id, sizeof *r->taint);
		memset(r->taint + old, 0, (cap - old) * sizeof *r->taint);
		r->ntaint = cap;
	}
	return &r->taint[id - 1];
}

static int tainted(const struct replay *r, uint64_t id)
{
	return id && id <= r->ntaint && r->taint[id - 1].on;
}

static void taint_set(struct replay *r, uint64_t id, uint64_t cause)
{
	struct taint *t = taint_of(r, id, 1);

	if (t && !t->on) {
		t->on = 1;
		t->cause_seq = cause;
	}
}

/* One more of a tainted customer's records left out. */
static void taint_count(struct replay *r, uint64_t id, uint64_t seq)
{
	struct taint *t = taint_of(r, id, 0);

	if (!t || !t->on)
		return;
	if (!t->nskipped++)
		t->first_skipped = seq;
	t->last_skipped = seq;
}

/* ---- LMDB ------------------------------------------------------------------------------- */

static int meta_get(struct check *ck, const char *name, MDB_val *v)
{
	MDB_val k = {strlen(name), (void *)name};
	return mdb_get(ck->txn, ck->dbi[DB_META], &k, v);
}

/*
 * Open dir read-only. Returns 0, or prints why not to stderr and returns
 * CHECK_CANNOT. Nothing is created in a directory that is not a data
 * directory: data.mdb is looked for before LMDB opens (and would create)
 * lock.mdb.
 */
static int open_dir(struct check *ck)
{
	char path[4096];
	struct stat st;
	MDB_val v;
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
	for (;;) {
		/* The map size is left unset: a read-only environment maps the
		 * whole file, however large the daemon has grown it. */
		if ((rc = mdb_env_create(&ck->env)) || (rc = mdb_env_set_maxdbs(ck->env, DB_COUNT + 8))) {
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
	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(ck->txn, db_names[i], 0, &ck->dbi[i]);
		if (rc == MDB_NOTFOUND) {
			fprintf(stderr, "accrue-check: %s is not an accrue data directory (it has no \"%s\" database)\n",
				ck->dir, db_names[i]);
			return CHECK_CANNOT;
		}
		if (rc) {
			fprintf(stderr, "accrue-check: cannot open the \"%s\" database in %s: %s\n", db_names[i], ck->dir,
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
	if (v.mv_size != 8) {
		fprintf(stderr, "accrue-check: %s: the storage format in meta is %zu bytes, not 8\n", ck->dir, v.mv_size);
		return CHECK_CANNOT;
	}
	if (record_key_u64_read(v.mv_data) != STORE_FORMAT) {
		fprintf(stderr, "accrue-check: %s has storage format %" PRIu64 "; this accrue-check reads format %d\n",
			ck->dir, record_key_u64_read(v.mv_data), STORE_FORMAT);
		return CHECK_CANNOT;
	}
	rc = meta_get(ck, "checkpoint_seq", &v);
	if (rc == 0 && v.mv_size == 8) {
		ck->ckpt_seq = record_key_u64_read(v.mv_data);
		ck->has_ckpt = ck->ckpt_seq != 0;
	} else if (rc == 0) {
		problem(ck, 0, 0, "meta: checkpoint_seq is %zu bytes, not 8; the checkpoint cannot be checked", v.mv_size);
	} else if (rc != MDB_NOTFOUND) {
		fprintf(stderr, "accrue-check: cannot read the checkpoint seq in %s: %s\n", ck->dir, mdb_strerror(rc));
		return CHECK_CANNOT;
	}
	return 0;
}

/* The record types that belong to a customer (the others name none). */
static int is_customer_type(uint8_t type)
{
	switch (type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_ACCRUE:
	case PROTO_ENTRY_ADJUST:
	case PROTO_ENTRY_RETURN:
	case PROTO_ENTRY_GROUP:
	case PROTO_ENTRY_TIER:
	case PROTO_ENTRY_JOIN:
		return 1;
	}
	return 0;
}

/* ---- why the model refuses a record -------------------------------------------------------- */

/*
 * model_apply() answers only "corrupt". Say which of its conditions the
 * record broke, from the state before it (pre: the customer as it was before
 * the attempt, which may have changed part of it).
 */
static void diagnose(const struct model *m, const struct record *rec, const struct model_customer *pre, char *out,
		     size_t cap)
{
	const struct model_customer *other;
	uint64_t cid = rec->customer_id;
	int64_t sum;

	if (is_customer_type(rec->type) && !cid) {
		snprintf(out, cap, "a %s record names no customer", proto_entry_type_name(rec->type));
		return;
	}
	if (rec->type != PROTO_ENTRY_ENROL && cid) {
		if (!pre) {
			snprintf(out, cap, "customer %" PRIu64 " does not exist", cid);
			return;
		}
		if (pre->last_seq != rec->prev_seq) {
			snprintf(out, cap, "it follows seq %" PRIu64 " in the customer's chain, but the customer's last record is seq %" PRIu64,
				 rec->prev_seq, pre->last_seq);
			return;
		}
	}
	switch (rec->type) {
	case PROTO_ENTRY_ENROL:
	case PROTO_ENTRY_JOIN: {
		const __typeof__(rec->u.enrol) *e = &rec->u.enrol;
		if (rec->type == PROTO_ENTRY_ENROL && rec->prev_seq) {
			snprintf(out, cap, "an enrolment with prev_seq %" PRIu64, rec->prev_seq);
			return;
		}
		if (rec->type == PROTO_ENTRY_ENROL && cid != (uint64_t)m->ncustomers + 1) {
			snprintf(out, cap, "customer id %" PRIu64 " is not the next id (%" PRIu64 ")", cid, (uint64_t)m->ncustomers + 1);
			return;
		}
		if (rec->type == PROTO_ENTRY_JOIN && pre->member) {
			snprintf(out, cap, "a join, but customer %" PRIu64 " is a member already", cid);
			return;
		}
		if ((other = model_customer_by_email(m, e->email)) && other->id != cid) {
			snprintf(out, cap, "email %s already belongs to customer %" PRIu64, qstr(e->email), other->id);
			return;
		}
		if ((other = model_customer_by_phone(m, e->phone)) && other->id != cid) {
			snprintf(out, cap, "phone %s already belongs to customer %" PRIu64, qstr(e->phone), other->id);
			return;
		}
		break;
	}
	case PROTO_ENTRY_ACCRUE: {
		const struct model_order *o = model_order_find(m, rec->u.accrue.location, rec->u.accrue.order_id);
		if (__builtin_add_overflow(pre->balance, rec->u.accrue.points, &sum) || sum != rec->u.accrue.balance_after) {
			snprintf(out, cap, "balance %" PRId64 " and %" PRId64 " points make %" PRId64 ", but the record says %" PRId64,
				 pre->balance, rec->u.accrue.points, sum, rec->u.accrue.balance_after);
			return;
		}
		if (o) {
			snprintf(out, cap, "order %s at %s was accrued already (seq %" PRIu64 ")", qstr(rec->u.accrue.order_id),
				 qstr(rec->u.accrue.location), o->seq);
			return;
		}
		if (__builtin_add_overflow(pre->total_spend, rec->u.accrue.amount, &sum) ||
		    (rec->u.accrue.points > 0 && __builtin_add_overflow(pre->lifetime_points, rec->u.accrue.points, &sum))) {
			snprintf(out, cap, "the customer's totals would overflow");
			return;
		}
		break;
	}
	case PROTO_ENTRY_ADJUST:
		if (__builtin_add_overflow(pre->balance, rec->u.adjust.points, &sum) || sum != rec->u.adjust.balance_after) {
			snprintf(out, cap, "balance %" PRId64 " and %" PRId64 " points make %" PRId64 ", but the record says %" PRId64,
				 pre->balance, rec->u.adjust.points, sum, rec->u.adjust.balance_after);
			return;
		}
		break;
	case PROTO_ENTRY_RETURN: {
		const struct model_order *o = model_order_find(m, rec->u.ret.location, rec->u.ret.order_id);
		const char *name = qstr(rec->u.ret.order_id), *loc = qstr(rec->u.ret.location);
		if (!o) {
			snprintf(out, cap, "it returns order %s at %s, which was never accrued", name, loc);
		} else if (o->customer_id != cid) {
			snprintf(out, cap, "order %s at %s belongs to customer %" PRIu64, name, loc, o->customer_id);
		} else if (o->seq != rec->u.ret.sale_seq) {
			snprintf(out, cap, "it names sale seq %" PRIu64 ", but order %s at %s was sold at seq %" PRIu64,
				 rec->u.ret.sale_seq, name, loc, o->seq);
		} else if (o->last_return_seq != rec->u.ret.prev_return_seq) {
			snprintf(out, cap, "it follows return seq %" PRIu64 ", but the order's last return is seq %" PRIu64,
				 rec->u.ret.prev_return_seq, o->last_return_seq);
		} else if (rec->u.ret.refunded < 0 || rec->u.ret.taken < 0 || rec->u.ret.applied < 0 ||
			   rec->u.ret.applied > rec->u.ret.taken) {
			snprintf(out, cap, "refunded %" PRId64 ", taken %" PRId64 ", applied %" PRId64 " are not possible",
				 rec->u.ret.refunded, rec->u.ret.taken, rec->u.ret.applied);
		} else if (o->refunded + rec->u.ret.refunded > o->amount) {
			snprintf(out, cap, "it refunds %" PRId64 ", but the order has %" PRId64 " of %" PRId64 " left", rec->u.ret.refunded,
				 o->amount - o->refunded, o->amount);
		} else if (o->taken_back + rec->u.ret.taken > o->points) {
			snprintf(out, cap, "it takes back %" PRId64 " points, but the order has %" PRId64 " of %" PRId64 " left",
				 rec->u.ret.taken, o->points - o->taken_back, o->points);
		} else if (__builtin_sub_overflow(pre->balance, rec->u.ret.applied, &sum) || sum != rec->u.ret.balance_after) {
			snprintf(out, cap, "balance %" PRId64 " less %" PRId64 " points makes %" PRId64 ", but the record says %" PRId64,
				 pre->balance, rec->u.ret.applied, sum, rec->u.ret.balance_after);
		} else if (rec->u.ret.full && o->refunded + rec->u.ret.refunded != o->amount) {
			snprintf(out, cap, "it marks the order refunded in full, but only %" PRId64 " of %" PRId64 " is",
				 o->refunded + rec->u.ret.refunded, o->amount);
		} else if (rec->u.ret.full && pre->visits == 0) {
			snprintf(out, cap, "it undoes a visit, but the customer has none");
		} else {
			break;
		}
		return;
	}
	case PROTO_ENTRY_PROGRAM: {
		/* rules_set on a copy: the model's program must not change here. */
		static struct rules copy;
		char err[300];
		if (cid) {
			snprintf(out, cap, "a program record names customer %" PRIu64, cid);
			return;
		}
		copy = m->rules;
		if (rules_set(&copy, rec->u.program.name.ptr, rec->u.program.name.len, rec->u.program.value.ptr,
			      rec->u.program.value.len, err, sizeof err) != RULES_OK) {
			snprintf(out, cap, "setting %s = %s: %s", qstr(rec->u.program.name), qstr(rec->u.program.value), err);
			return;
		}
		break;
	}
	case PROTO_ENTRY_GROUP: {
		int held = model_customer_in_group(pre, rec->u.group.group);
		struct proto_customer v;
		model_customer_view(pre, &v);
		if (rec->u.group.add && held) {
			snprintf(out, cap, "it adds group %s, which the customer is in already", qstr(rec->u.group.group));
			return;
		}
		if (!rec->u.group.add && !held) {
			snprintf(out, cap, "it removes group %s, which the customer is not in", qstr(rec->u.group.group));
			return;
		}
		if (rec->u.group.add && (v.ngroups >= PROTO_MAX_GROUPS || !rec->u.group.group.len)) {
			snprintf(out, cap, "it adds %s group", v.ngroups >= PROTO_MAX_GROUPS ? "a 17th" : "an unnamed");
			return;
		}
		break;
	}
	case PROTO_ENTRY_KEY_CREATE:
		if (rec->u.key_create.key_id == 0 || model_apikey_find(m, rec->u.key_create.key_id)) {
			snprintf(out, cap, "API key id %" PRIu64 " is %s", rec->u.key_create.key_id,
				 rec->u.key_create.key_id ? "taken" : "not an id");
			return;
		}
		break;
	case PROTO_ENTRY_KEY_REVOKE:
		if (!model_apikey_find(m, rec->u.key_revoke.key_id)) {
			snprintf(out, cap, "it revokes API key %" PRIu64 ", which does not exist", rec->u.key_revoke.key_id);
			return;
		}
		break;
	case PROTO_ENTRY_TIER:
		break;
	default:
		snprintf(out, cap, "unknown record type %d", rec->type);
		return;
	}
	if (!model_key_is_zero(rec->request_key)) {
		const struct model_request *q = model_request_find(m, rec->request_key);
		if (q) {
			snprintf(out, cap, "its request key %s was used already, by seq %" PRIu64, key_hex(rec->request_key), q->seq);
			return;
		}
	}
	snprintf(out, cap, "it contradicts the state before it");
}

/* ---- replaying into a model ------------------------------------------------------------ */

static void replay_init(struct replay *r)
{
	memset(r, 0, sizeof *r);
	if (model_init(&r->m))
		die_nomem();
}

static void replay_free(struct replay *r)
{
	model_free(&r->m);
	free(r->taint);
	free(r->skipped);
}

/*
 * Customer ids are dense (the model finds a customer at slot id - 1): when
 * an enrolment was lost or refused, an empty stand-in keeps the ids after
 * it where they belong. Stand-ins are tainted: nothing is replayed into them.
 */
static void add_placeholders(struct replay *r, uint64_t upto, uint64_t cause)
{
	while ((uint64_t)r->m.ncustomers + 1 <= upto) {
		struct record_customer s;
		uint64_t id = (uint64_t)r->m.ncustomers + 1;
		struct taint *t;

		memset(&s, 0, sizeof s);
		s.c.id = id;
		s.c.email = s.c.phone = s.c.first_name = s.c.last_name = s.c.tier = proto_str_c("");
		if (model_load_customer(&r->m, &s))
			die_nomem();
		r->placeholders++;
		taint_set(r, id, cause);
		t = taint_of(r, id, 0);
		if (t)
			t->placeholder = 1;
	}
}

/*
 * Apply one readable record to r. Returns 1 if applied, 0 if not (why, in
 * why[], empty when the customer was tainted already and the record was
 * only skipped).
 */
static int replay_record(struct replay *r, uint64_t seq, const struct record *rec, char *why, size_t whylen)
{
	uint64_t cid = rec->customer_id;
	struct model_customer pre, *c;
	int rc;

	why[0] = 0;
	if (tainted(r, cid)) {
		taint_count(r, cid, seq);
		skip_add(r, seq);
		return 0;
	}
	/* An enrolment past a lost one: fill the gap so ids stay dense. Ids
	 * are handed out one per record at most, so this is bounded by seq. */
	if (rec->type == PROTO_ENTRY_ENROL && cid > (uint64_t)r->m.ncustomers + 1 && cid <= seq)
		add_placeholders(r, cid - 1, seq);
	c = cid ? model_customer_by_id(&r->m, cid) : NULL;
	if (c)
		pre = *c;
	rc = model_apply(&r->m, seq, rec);
	if (rc == 0)
		return 1;
	if (rc == MODEL_E_NOMEM)
		die_nomem();
	diagnose(&r->m, rec, c ? &pre : NULL, why, whylen);
	skip_add(r, seq);
	if (cid) {
		/* A refused enrolment still holds its id: a stand-in takes it. */
		if (rec->type == PROTO_ENTRY_ENROL && cid == (uint64_t)r->m.ncustomers + 1)
			add_placeholders(r, cid, seq);
		taint_set(r, cid, seq);
	}
	return 0;
}

/* ---- pass 1: the journal's own arithmetic -------------------------------------------------- */

static struct p1_customer *p1_get(struct check *ck, uint64_t id, int create)
{
	if (id == 0)
		return NULL;
	if (id > ck->np1) {
		size_t old = ck->np1, cap = ck->np1;
		if (!create)
			return NULL;
		grow((void **)&ck->p1, &cap, (size_t)id, sizeof *ck->p1);
		memset(ck->p1 + old, 0, (cap - old) * sizeof *ck->p1);
		ck->np1 = cap;
	}
	return &ck->p1[id - 1];
}

static void p1_problem(struct check *ck, struct p1_customer *pc, uint64_t seq, uint64_t cid, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void p1_problem(struct check *ck, struct p1_customer *pc, uint64_t seq, uint64_t cid, const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	problem(ck, seq, cid, "%s", text);
	ck->current_flagged = 1;
	if (pc)
		pc->flagged = 1;
}

static void set_text(char **dst, uint32_t *len, struct proto_str s)
{
	free(*dst);
	*dst = xrealloc(NULL, s.len);
	if (s.len)
		memcpy(*dst, s.ptr, s.len);
	*len = s.len;
}

/* Emails and phones are stored as the daemon normalises them. */
static void p1_check_contact(struct check *ck, struct p1_customer *pc, uint64_t seq, uint64_t cid, const struct record *rec)
{
	char buf[PROTO_MAX_EMAIL + 1];
	struct proto_str norm;

	if (rec->u.enrol.email.len &&
	    (model_email_normalise(rec->u.enrol.email, buf, &norm) || norm.len != rec->u.enrol.email.len ||
	     memcmp(norm.ptr, rec->u.enrol.email.ptr, norm.len)))
		p1_problem(ck, pc, seq, cid, "email %s is not a normalised email address", qstr(rec->u.enrol.email));
	if (rec->u.enrol.phone.len &&
	    (model_phone_normalise(rec->u.enrol.phone, buf, &norm) || norm.len != rec->u.enrol.phone.len ||
	     memcmp(norm.ptr, rec->u.enrol.phone.ptr, norm.len)))
		p1_problem(ck, pc, seq, cid, "phone %s is not a normalised phone number", qstr(rec->u.enrol.phone));
	if (!rec->u.enrol.email.len && !rec->u.enrol.phone.len)
		p1_problem(ck, pc, seq, cid, "an %s with neither email nor phone", proto_entry_type_name(rec->type));
}

/* The balance a record leaves must be the one before it plus its change. */
static void p1_balance(struct check *ck, struct p1_customer *pc, uint64_t seq, uint64_t cid, int64_t change,
		       int64_t balance_after)
{
	int64_t expect;

	if (pc->balance_known) {
		if (__builtin_add_overflow(pc->balance, change, &expect)) {
			p1_problem(ck, pc, seq, cid, "balance %" PRId64 " and a change of %" PRId64 " overflow", pc->balance, change);
		} else if (expect != balance_after) {
			p1_problem(ck, pc, seq, cid,
				   "balance_after is %" PRId64 ", but the customer's records add up to %" PRId64
				   " (%" PRId64 " before, change %" PRId64 ")",
				   balance_after, expect, pc->balance, change);
			/* Which of the two is wrong, the next record tells: it
			 * starts again from its own balance_after, so one bad
			 * record is one problem. */
			pc->balance_known = 0;
			return;
		}
	}
	pc->balance = balance_after;
	pc->balance_known = 1;
}

static void pass1_record(struct check *ck, uint64_t seq, const struct record *rec)
{
	uint64_t cid = rec->customer_id;
	struct p1_customer *pc;
	const char *type = proto_entry_type_name(rec->type);

	if (!is_customer_type(rec->type)) {
		if (cid || rec->prev_seq)
			p1_problem(ck, NULL, seq, 0, "a %s record names customer %" PRIu64 " (prev_seq %" PRIu64 "); it belongs to none",
				   type, cid, rec->prev_seq);
		return;
	}
	if (!cid) {
		p1_problem(ck, NULL, seq, 0, "a %s record names no customer", type);
		return;
	}
	if (rec->type == PROTO_ENTRY_ENROL) {
		if (cid > seq) {
			p1_problem(ck, NULL, seq, cid, "customer id %" PRIu64 " cannot be enrolled at seq %" PRIu64
						       ": ids are handed out one at a time from 1",
				   cid, seq);
			return;
		}
		pc = p1_get(ck, cid, 1);
		if (pc->known) {
			p1_problem(ck, pc, seq, cid, "customer %" PRIu64 " is enrolled again (first at seq %" PRIu64 ")", cid,
				   pc->enrol_seq);
			return;
		}
		if (rec->prev_seq)
			p1_problem(ck, pc, seq, cid, "an enrolment with prev_seq %" PRIu64 ": it must start the customer's chain",
				   rec->prev_seq);
		if (cid <= ck->p1_max_id)
			p1_problem(ck, pc, seq, cid, "customer id %" PRIu64 " is enrolled after id %" PRIu64 ": ids only go up", cid,
				   ck->p1_max_id);
		else if (cid > ck->p1_max_id + 1 + ck->lost_since_enrol)
			p1_problem(ck, pc, seq, cid, "customer ids %" PRIu64 "..%" PRIu64 " were never enrolled", ck->p1_max_id + 1,
				   cid - 1);
		pc->known = 1;
		pc->enrol_seq = pc->last_seq = pc->contact_seq = seq;
		pc->member = rec->u.enrol.member;
		pc->balance_known = 1;
		set_text(&pc->email, &pc->email_len, rec->u.enrol.email);
		set_text(&pc->phone, &pc->phone_len, rec->u.enrol.phone);
		p1_check_contact(ck, pc, seq, cid, rec);
		if (cid > ck->p1_max_id)
			ck->p1_max_id = cid;
		ck->lost_since_enrol = 0;
		return;
	}

	pc = p1_get(ck, cid, 0);
	if (!pc || !pc->known) {
		struct lost *l = rec->prev_seq ? lost_find(ck, rec->prev_seq) : NULL;
		if (!l || cid > seq) {
			p1_problem(ck, NULL, seq, cid, "a %s record for customer %" PRIu64 ", who was never enrolled", type, cid);
			return;
		}
		/* Its chain runs into a lost record: the enrolment may be among
		 * them. Go on from here, knowing nothing of what came before. */
		pc = p1_get(ck, cid, 1);
		pc->known = 1;
		pc->member = 2;
		pc->flagged = 1;
		pc->last_seq = rec->prev_seq;
	}
	if (rec->prev_seq != pc->last_seq) {
		struct lost *l = rec->prev_seq > pc->last_seq ? lost_find(ck, rec->prev_seq) : NULL;
		if (l) {
			/* The record before this one is lost: what it did to the balance is unknown. */
			pc->balance_known = 0;
			pc->flagged = 1;
		} else {
			p1_problem(ck, pc, seq, cid,
				   "prev_seq is %" PRIu64 ", but the customer's previous record is seq %" PRIu64
				   ": the history chain is broken",
				   rec->prev_seq, pc->last_seq);
		}
	}
	if (rec->prev_seq) {
		struct lost *l = lost_find(ck, rec->prev_seq);
		/* A later record of the customer linking to it settles whose it was. */
		if (l && l->from == l->to)
			l->customer = cid;
	}
	pc->last_seq = seq;

	switch (rec->type) {
	case PROTO_ENTRY_ACCRUE: {
		int64_t lines = 0;
		int overflow = 0;
		if (pc->member == 0 && rec->u.accrue.points != 0)
			p1_problem(ck, pc, seq, cid, "a guest's sale earned %" PRId64 " points; guests earn nothing", rec->u.accrue.points);
		for (uint16_t i = 0; i < rec->u.accrue.nlines; i++)
			overflow |= __builtin_add_overflow(lines, rec->u.accrue.lines[i].amount, &lines);
		if (rec->u.accrue.nlines && (overflow || lines != rec->u.accrue.amount))
			p1_problem(ck, pc, seq, cid, "the sale's lines add up to %" PRId64 ", but its amount is %" PRId64, lines,
				   rec->u.accrue.amount);
		p1_balance(ck, pc, seq, cid, rec->u.accrue.points, rec->u.accrue.balance_after);
		if (rec->u.accrue.points > 0)
			pc->lifetime += rec->u.accrue.points;
		pc->spend += rec->u.accrue.amount;
		pc->visits++;
		break;
	}
	case PROTO_ENTRY_ADJUST:
		p1_balance(ck, pc, seq, cid, rec->u.adjust.points, rec->u.adjust.balance_after);
		if (rec->u.adjust.points > 0)
			pc->lifetime += rec->u.adjust.points;
		break;
	case PROTO_ENTRY_RETURN:
		if (rec->u.ret.refunded < 0 || rec->u.ret.taken < 0 || rec->u.ret.applied < 0 ||
		    rec->u.ret.applied > rec->u.ret.taken)
			p1_problem(ck, pc, seq, cid,
				   "a return that refunds %" PRId64 ", takes back %" PRId64 " and removes %" PRId64
				   " points is not possible",
				   rec->u.ret.refunded, rec->u.ret.taken, rec->u.ret.applied);
		if (rec->u.ret.sale_seq >= seq || rec->u.ret.prev_return_seq >= seq)
			p1_problem(ck, pc, seq, cid, "a return that names a later record (sale seq %" PRIu64 ", previous return seq %" PRIu64 ")",
				   rec->u.ret.sale_seq, rec->u.ret.prev_return_seq);
		p1_balance(ck, pc, seq, cid, -rec->u.ret.applied, rec->u.ret.balance_after);
		pc->lifetime -= rec->u.ret.taken;
		pc->spend -= rec->u.ret.refunded;
		if (rec->u.ret.full) {
			if (pc->visits == 0 && !pc->flagged)
				p1_problem(ck, pc, seq, cid, "a full refund undoes a visit, but the customer has none");
			else if (pc->visits)
				pc->visits--;
		}
		break;
	case PROTO_ENTRY_JOIN:
		if (pc->member == 1)
			p1_problem(ck, pc, seq, cid, "customer %" PRIu64 " joins, but is a member already", cid);
		if (rec->u.enrol.member != 1)
			p1_problem(ck, pc, seq, cid, "a join that leaves the customer a guest");
		pc->member = 1;
		pc->contact_seq = seq;
		set_text(&pc->email, &pc->email_len, rec->u.enrol.email);
		set_text(&pc->phone, &pc->phone_len, rec->u.enrol.phone);
		p1_check_contact(ck, pc, seq, cid, rec);
		break;
	default: /* GROUP, TIER: nothing to add up */
		break;
	}
}

/* ---- the checkpoint ----------------------------------------------------------------------------- */

static const char *snap_entry_name(int db, const MDB_val *k, char *buf, size_t cap)
{
	if (db == DB_PROGRAM || k->mv_size != 8)
		snprintf(buf, cap, "entry %s", quote(k->mv_data, k->mv_size < 64 ? k->mv_size : 64));
	else
		snprintf(buf, cap, "entry %" PRIu64, record_key_u64_read(k->mv_data));
	return buf;
}

/* Why a decoded snapshot entry does not load, said as well as can be. */
static void load_refusal(const struct model *m, int db, const void *e, char *out, size_t cap)
{
	const struct model_customer *other;

	switch (db) {
	case DB_CUSTOMERS: {
		const struct record_customer *s = e;
		if (s->c.id != (uint64_t)m->ncustomers + 1)
			snprintf(out, cap, "customer id %" PRIu64 " is not the next id (%" PRIu64 ")", s->c.id,
				 (uint64_t)m->ncustomers + 1);
		else if ((other = model_customer_by_email(m, s->c.email)))
			snprintf(out, cap, "email %s is customer %" PRIu64 "'s too", qstr(s->c.email), other->id);
		else if ((other = model_customer_by_phone(m, s->c.phone)))
			snprintf(out, cap, "phone %s is customer %" PRIu64 "'s too", qstr(s->c.phone), other->id);
		else
			snprintf(out, cap, "its fields are out of range");
		return;
	}
	case DB_ORDERS: {
		const struct record_order *s = e;
		const struct model_order *o = model_order_by_key(m, s->key.ptr, s->key.len);
		if (o)
			snprintf(out, cap, "%s appears twice (sales at seq %" PRIu64 " and %" PRIu64 ")",
				 order_name(s->key.ptr, s->key.len), o->seq, s->seq);
		else
			snprintf(out, cap, "it does not load");
		return;
	}
	case DB_REQUESTS: {
		const struct record_request *s = e;
		const struct model_request *q = model_request_find(m, s->key);
		if (q)
			snprintf(out, cap, "request key %s appears twice (seq %" PRIu64 " and %" PRIu64 ")", key_hex(s->key), q->seq,
				 s->seq);
		else
			snprintf(out, cap, "it does not load");
		return;
	}
	case DB_KEYS:
		snprintf(out, cap, "the key id is 0, taken, or its location too long");
		return;
	default:
		snprintf(out, cap, "a setting is unknown or its value out of range");
		return;
	}
}

/*
 * Load the snapshot databases into the checkpoint model, the way store.c's
 * recovery does (same decoders, same key checks, same model_load_*), but
 * reporting every entry that does not decode instead of stopping.
 */
static int load_checkpoint(struct check *ck)
{
	struct model *m = &ck->checkpoint.m;
	MDB_stat st[DB_KEYS];
	int ok = 1;

	for (int db = DB_CUSTOMERS; db < DB_KEYS; db++)
		if (mdb_stat(ck->txn, ck->dbi[db], &st[db]))
			st[db].ms_entries = 0;
	if (model_reserve(m, st[DB_CUSTOMERS].ms_entries, st[DB_ORDERS].ms_entries, st[DB_REQUESTS].ms_entries))
		die_nomem();
	for (int db = DB_CUSTOMERS; db <= DB_PROGRAM; db++) {
		MDB_cursor *cur;
		MDB_val k, v;
		int rc = mdb_cursor_open(ck->txn, ck->dbi[db], &cur);

		if (rc) {
			fprintf(stderr, "accrue-check: cannot read %s in %s: %s\n", db_names[db], ck->dir, mdb_strerror(rc));
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
			int drc = 0, lrc = 0;

			switch (db) {
			case DB_CUSTOMERS:
				drc = k.mv_size != 8 ? RECORD_E_FORMAT : record_customer_decode(v.mv_data, v.mv_size, &e.c);
				if (!drc && e.c.c.id != key)
					drc = RECORD_E_FORMAT;
				cid = key;
				if (!drc) {
					seq = e.c.last_seq;
					lrc = ok ? model_load_customer(m, &e.c) : 0;
				}
				break;
			case DB_ORDERS:
				drc = k.mv_size != 8 ? RECORD_E_FORMAT : record_order_decode(v.mv_data, v.mv_size, &e.o);
				if (!drc && e.o.seq != key)
					drc = RECORD_E_FORMAT;
				seq = key;
				if (!drc) {
					cid = e.o.customer_id;
					lrc = ok ? model_load_order(m, e.o.key.ptr, e.o.key.len, &e.o) : 0;
				}
				break;
			case DB_REQUESTS:
				drc = k.mv_size != 8 ? RECORD_E_FORMAT : record_request_decode(v.mv_data, v.mv_size, &e.q);
				if (!drc && e.q.seq != key)
					drc = RECORD_E_FORMAT;
				seq = key;
				if (!drc)
					lrc = ok ? model_load_request(m, e.q.key, &e.q) : 0;
				break;
			case DB_KEYS:
				drc = k.mv_size != 8 ? RECORD_E_FORMAT : record_apikey_decode(v.mv_data, v.mv_size, &e.a);
				if (!drc)
					lrc = ok ? model_load_apikey(m, key, &e.a) : 0;
				break;
			default:
				if (k.mv_size != strlen(MODEL_PROGRAM_KEY) || memcmp(k.mv_data, MODEL_PROGRAM_KEY, k.mv_size))
					drc = RECORD_E_FORMAT;
				else
					lrc = ok ? model_load_program(m, v.mv_data, v.mv_size) : 0;
				break;
			}
			if (lrc == MODEL_E_NOMEM)
				die_nomem();
			if (drc) {
				problem(ck, seq, cid, "checkpoint: %s %s does not decode (%s)", db_names[db],
					snap_entry_name(db, &k, name, sizeof name),
					drc == RECORD_E_FORMAT ? "bad format, or stored under the wrong key" : record_errstr(drc));
				ok = 0;
			} else if (lrc) {
				load_refusal(m, db, &e, why, sizeof why);
				problem(ck, seq, cid, "checkpoint: %s %s cannot be loaded: %s", db_names[db],
					snap_entry_name(db, &k, name, sizeof name), why);
				ok = 0;
			}
		}
		mdb_cursor_close(cur);
		if (rc != MDB_NOTFOUND) {
			fprintf(stderr, "accrue-check: cannot read %s in %s: %s\n", db_names[db], ck->dir, mdb_strerror(rc));
			exit(CHECK_CANNOT);
		}
	}
	if (!ok)
		problem(ck, 0, 0, "checkpoint: not compared with the journal, as it does not load");
	m->applied_seq = ck->ckpt_seq;
	return ok;
}

/* ---- the journal walk --------------------------------------------------------------------------- */

static const char *damage_name(int err)
{
	switch (err) {
	case RECORD_E_CHECKSUM: return "checksum mismatch";
	case RECORD_E_SHORT: return "truncated";
	case RECORD_E_FORMAT: return "unknown type or format, a field out of range, or trailing bytes";
	}
	return record_errstr(err);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void record_damaged(struct check *ck, uint64_t seq, const MDB_val *v, int err)
{
	struct lost *l = lost_add(ck, seq, seq, err);

	/* The header's customer cannot be trusted on its own; it is believed
	 * when its prev_seq agrees with that customer's chain, or later when a
	 * record of the customer links to this one. */
	if (v->mv_size >= 26) {
		const uint8_t *p = v->mv_data;
		uint64_t cid = le64(p + 10), prev = le64(p + 18);
		struct p1_customer *pc = p1_get(ck, cid, 0);
		if (pc && pc->known && pc->last_seq == prev)
			l->customer = cid;
	}
	l->problem = ck->nproblems;
	problem(ck, seq, l->customer, "damaged record: %s", damage_name(err));
}

static void walk_journal(struct check *ck)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t expect = 1;
	int rc = mdb_cursor_open(ck->txn, ck->dbi[DB_JOURNAL], &cur);
	char why[1024];

	if (rc) {
		fprintf(stderr, "accrue-check: cannot read the journal in %s: %s\n", ck->dir, mdb_strerror(rc));
		exit(CHECK_CANNOT);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct record *rec = &rec_buf;
		uint64_t seq;
		int drc, in_tail;

		if (k.mv_size != 8) {
			problem(ck, 0, 0, "the journal has a key of %zu bytes, which is not a seq", k.mv_size);
			continue;
		}
		seq = record_key_u64_read(k.mv_data);
		if (seq == 0) {
			problem(ck, 0, 0, "the journal has a record 0; seqs start at 1");
			continue;
		}
		if (seq != expect) {
			lost_add(ck, expect, seq - 1, 0)->problem = ck->nproblems;
			if (seq - 1 == expect)
				problem(ck, expect, 0, "journal record %" PRIu64 " is missing", expect);
			else
				problem(ck, expect, 0, "journal records %" PRIu64 "..%" PRIu64 " are missing", expect, seq - 1);
		}
		expect = seq + 1;
		if (!ck->nrecords++)
			ck->first_seq = seq;
		ck->last_seq = seq;
		if (seq == ck->ckpt_seq)
			ck->ckpt_seen = 1;
		in_tail = ck->checkpoint_loaded && seq > ck->ckpt_seq;

		drc = record_decode(v.mv_data, v.mv_size, seq, rec);
		if (drc) {
			record_damaged(ck, seq, &v, drc);
			skip_add(&ck->journal, seq);
			if (in_tail)
				skip_add(&ck->checkpoint, seq);
			continue;
		}
		ck->current_flagged = 0;
		pass1_record(ck, seq, rec);

		if (!replay_record(&ck->journal, seq, rec, why, sizeof why) && why[0]) {
			/* Said once: when pass 1 or a lost record before it explains
			 * the refusal, it only counts among what was left out. */
			const struct lost *l = rec->prev_seq ? lost_find(ck, rec->prev_seq) : NULL;
			if (!ck->current_flagged && !l) {
				problem(ck, seq, rec->customer_id, "%s record refused by the daemon's rules: %s",
					proto_entry_type_name(rec->type), why);
			} else {
				struct taint *t = taint_of(&ck->journal, rec->customer_id, 0);
				if (t && l)
					t->cause_seq = l->from;
				taint_count(&ck->journal, rec->customer_id, seq);
			}
		}
		if (in_tail && !replay_record(&ck->checkpoint, seq, rec, why, sizeof why) && why[0]) {
			if (!replay_skipped(&ck->journal, seq))
				problem(ck, seq, rec->customer_id,
					"checkpoint: replaying the journal after the checkpoint, the %s record is refused: %s "
					"(the full journal accepts it)",
					proto_entry_type_name(rec->type), why);
			else
				taint_count(&ck->checkpoint, rec->customer_id, seq);
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		fprintf(stderr, "accrue-check: cannot read the journal in %s: %s\n", ck->dir, mdb_strerror(rc));
		exit(CHECK_CANNOT);
	}
	/* Damaged records whose owner became known only later. */
	for (size_t i = 0; i < ck->nlost; i++)
		if (ck->lost[i].customer && ck->lost[i].problem < ck->nproblems)
			ck->problems[ck->lost[i].problem].customer = ck->lost[i].customer;
}

/* Customers whose later records were not replayed, once each. */
static void report_taints(struct check *ck, struct replay *r, const struct replay *also)
{
	for (size_t i = 0; i < r->ntaint; i++) {
		struct taint *t = &r->taint[i];
		uint64_t n = t->nskipped;

		if (!t->on || !n)
			continue;
		/* The checkpoint's replay skips what the journal's skipped too: only report what is its own. */
		if (also && replay_skipped(also, t->first_skipped) && replay_skipped(also, t->last_skipped))
			continue;
		if (t->placeholder)
			problem(ck, t->first_skipped, (uint64_t)i + 1,
				"%s%" PRIu64 " record%s of this customer (seq %" PRIu64 "..%" PRIu64
				") not checked against the daemon's rules: its enrolment is lost or was refused",
				also ? "checkpoint: " : "", n, n == 1 ? "" : "s", t->first_skipped, t->last_skipped);
		else
			problem(ck, t->first_skipped, (uint64_t)i + 1,
				"%s%" PRIu64 " record%s of this customer (seq %" PRIu64 "..%" PRIu64
				") not checked against the daemon's rules because of the problem at seq %" PRIu64,
				also ? "checkpoint: " : "", n, n == 1 ? "" : "s", t->first_skipped, t->last_skipped, t->cause_seq);
	}
}

/* ---- comparisons ---------------------------------------------------------------------------------- */

static int str_eq(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static const char *groups_text(const struct proto_customer *v, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = 0;
	for (uint8_t i = 0; i < v->ngroups && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", qstr(v->groups[i]));
	/* (snprintf stops at cap: n past it only ends the loop) */
	if (!v->ngroups)
		snprintf(buf, cap, "(none)");
	return buf;
}

static void p1_differs(struct check *ck, const struct p1_customer *pc, uint64_t id, const char *what, int64_t journal,
		       int64_t model)
{
	if (journal != model)
		problem(ck, pc->last_seq, id, "%s: the journal's records add up to %" PRId64 ", the daemon's rules give %" PRId64,
			what, journal, model);
}

/* The pass 1 totals of every untroubled customer against the journal model. */
static void compare_pass1(struct check *ck)
{
	for (size_t i = 0; i < ck->np1; i++) {
		const struct p1_customer *pc = &ck->p1[i];
		uint64_t id = (uint64_t)i + 1;
		const struct model_customer *c;
		struct proto_customer v;

		if (!pc->known || pc->flagged || pc->member > 1 || tainted(&ck->journal, id))
			continue;
		c = model_customer_by_id(&ck->journal.m, id);
		if (!c) {
			problem(ck, pc->last_seq, id, "customer is in the journal but missing from the replayed model");
			continue;
		}
		model_customer_view(c, &v);
		p1_differs(ck, pc, id, "balance", pc->balance, v.balance);
		p1_differs(ck, pc, id, "lifetime points", pc->lifetime, v.lifetime_points);
		p1_differs(ck, pc, id, "visits", (int64_t)pc->visits, (int64_t)v.visits);
		p1_differs(ck, pc, id, "total spend", pc->spend, v.total_spend);
		p1_differs(ck, pc, id, "last seq", (int64_t)pc->last_seq, (int64_t)c->last_seq);
		p1_differs(ck, pc, id, "member", pc->member, v.member);
	}
}

struct contact {
	const char *text;
	uint32_t len;
	uint64_t id, seq;
};

static int contact_cmp(const void *a, const void *b)
{
	const struct contact *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->text, y->text, x->len);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* No two customers share an email, nor a phone: checked on the journal's own view. */
static void check_unique(struct check *ck, int phone)
{
	struct contact *all = xrealloc(NULL, (ck->np1 ? ck->np1 : 1) * sizeof *all);
	size_t n = 0;

	for (size_t i = 0; i < ck->np1; i++) {
		const struct p1_customer *pc = &ck->p1[i];
		uint32_t len = phone ? pc->phone_len : pc->email_len;
		if (!pc->known || !len)
			continue;
		all[n].text = phone ? pc->phone : pc->email;
		all[n].len = len;
		all[n].id = (uint64_t)i + 1;
		all[n].seq = pc->contact_seq;
		n++;
	}
	qsort(all, n, sizeof *all, contact_cmp);
	for (size_t i = 1; i < n; i++) {
		const struct contact *a = &all[i - 1], *b = &all[i];
		if (a->len != b->len || memcmp(a->text, b->text, a->len))
			continue;
		/* A record the daemon's rules refused has said so already. */
		if (replay_skipped(&ck->journal, b->seq))
			continue;
		problem(ck, b->seq, b->id, "%s %s is also customer %" PRIu64 "'s (since seq %" PRIu64 ")",
			phone ? "phone" : "email", quote(b->text, b->len), a->id, a->seq);
	}
	free(all);
}

static void differs_num(struct check *ck, uint64_t seq, uint64_t id, const char *what, int64_t journal, int64_t checkpoint)
{
	if (journal != checkpoint)
		problem(ck, seq, id,
			"checkpoint differs from the journal: %s: %" PRId64 " in the checkpoint, %" PRId64 " by the journal", what,
			checkpoint, journal);
}

static void differs_str(struct check *ck, uint64_t seq, uint64_t id, const char *what, struct proto_str journal,
			struct proto_str checkpoint)
{
	if (!str_eq(journal, checkpoint))
		problem(ck, seq, id, "checkpoint differs from the journal: %s: %s in the checkpoint, %s by the journal", what,
			qstr(checkpoint), qstr(journal));
}

/* Every field of one customer: the journal model (j) against the checkpoint model (c). */
static void compare_customer(struct check *ck, const struct model_customer *j, const struct model_customer *c)
{
	struct proto_customer a, b;
	char ga[2 * (4 * PROTO_MAX_GROUP + 3) * PROTO_MAX_GROUPS], gb[sizeof ga];
	uint64_t id = j->id, seq = j->last_seq;

	model_customer_view(j, &a);
	model_customer_view(c, &b);
	differs_num(ck, seq, id, "balance", a.balance, b.balance);
	differs_num(ck, seq, id, "lifetime points", a.lifetime_points, b.lifetime_points);
	differs_num(ck, seq, id, "visits", (int64_t)a.visits, (int64_t)b.visits);
	differs_num(ck, seq, id, "total spend", a.total_spend, b.total_spend);
	differs_num(ck, seq, id, "last seq", (int64_t)j->last_seq, (int64_t)c->last_seq);
	differs_num(ck, seq, id, "created", a.created_us, b.created_us);
	differs_num(ck, seq, id, "last visit", a.last_visit_us, b.last_visit_us);
	differs_num(ck, seq, id, "member", a.member, b.member);
	differs_str(ck, seq, id, "email", a.email, b.email);
	differs_str(ck, seq, id, "phone", a.phone, b.phone);
	differs_str(ck, seq, id, "first name", a.first_name, b.first_name);
	differs_str(ck, seq, id, "last name", a.last_name, b.last_name);
	differs_str(ck, seq, id, "tier", a.tier, b.tier);
	groups_text(&a, ga, sizeof ga);
	groups_text(&b, gb, sizeof gb);
	if (strcmp(ga, gb) != 0)
		problem(ck, seq, id, "checkpoint differs from the journal: groups: %s in the checkpoint, %s by the journal", gb,
			ga);
}

static void compare_order(struct check *ck, const struct model_order *j, const struct model_order *c)
{
	const struct {
		const char *field;
		int64_t j, c;
	} f[] = {
		{"customer", (int64_t)j->customer_id, (int64_t)c->customer_id},
		{"sale seq", (int64_t)j->seq, (int64_t)c->seq},
		{"amount", j->amount, c->amount},
		{"points", j->points, c->points},
		{"refunded", j->refunded, c->refunded},
		{"taken back", j->taken_back, c->taken_back},
		{"last return seq", (int64_t)j->last_return_seq, (int64_t)c->last_return_seq},
	};
	char what[700];

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (f[i].j == f[i].c)
			continue;
		snprintf(what, sizeof what, "%s of %s", f[i].field, order_name(j->key, j->key_len));
		differs_num(ck, j->seq, j->customer_id, what, f[i].j, f[i].c);
	}
}

/* The customer a remembered request acted on; key and program requests have none. */
static uint64_t request_customer(const struct model_request *q)
{
	switch (q->opcode) {
	case PROTO_OP_ENROL:
	case PROTO_OP_ACCRUE:
	case PROTO_OP_ADJUST:
	case PROTO_OP_RETURN:
	case PROTO_OP_GROUP:
	case PROTO_OP_TIER:
		return q->object_id;
	}
	return 0;
}

static void compare_request(struct check *ck, const struct model_request *j, const struct model_request *c)
{
	const struct {
		const char *field;
		int64_t j, c;
	} f[] = {
		{"opcode", j->opcode, c->opcode},
		{"seq", (int64_t)j->seq, (int64_t)c->seq},
		{"object id", (int64_t)j->object_id, (int64_t)c->object_id},
		{"value", j->value, c->value},
		{"body hash", (int64_t)j->body_hash, (int64_t)c->body_hash},
	};
	char what[200];

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (f[i].j == f[i].c)
			continue;
		snprintf(what, sizeof what, "%s of request key %s", f[i].field, key_hex(j->key));
		differs_num(ck, j->seq, request_customer(j), what, f[i].j, f[i].c);
	}
}

struct setting_list {
	char **items; /* "name=value" */
	size_t n, cap;
};

static int setting_collect(void *ctx, const char *key, const char *value)
{
	struct setting_list *l = ctx;
	size_t len = strlen(key) + strlen(value) + 2;

	grow((void **)&l->items, &l->cap, l->n + 1, sizeof *l->items);
	l->items[l->n] = xrealloc(NULL, len);
	snprintf(l->items[l->n], len, "%s=%s", key, value);
	l->n++;
	return 0;
}

static void compare_program(struct check *ck)
{
	struct setting_list a = {NULL, 0, 0}, b = {NULL, 0, 0};

	rules_each(&ck->journal.m.rules, setting_collect, &a);
	rules_each(&ck->checkpoint.m.rules, setting_collect, &b);
	for (size_t i = 0; i < a.n; i++) {
		int found = 0;
		for (size_t j = 0; j < b.n && !found; j++)
			found = strcmp(a.items[i], b.items[j]) == 0;
		if (!found)
			problem(ck, ck->journal.m.program_seq, 0,
				"checkpoint differs from the journal: the program has %s by the journal, not in the checkpoint",
				quote(a.items[i], strlen(a.items[i])));
	}
	for (size_t j = 0; j < b.n; j++) {
		int found = 0;
		for (size_t i = 0; i < a.n && !found; i++)
			found = strcmp(a.items[i], b.items[j]) == 0;
		if (!found)
			problem(ck, ck->journal.m.program_seq, 0,
				"checkpoint differs from the journal: the program has %s in the checkpoint, not by the journal",
				quote(b.items[j], strlen(b.items[j])));
	}
	for (size_t i = 0; i < a.n; i++)
		free(a.items[i]);
	for (size_t j = 0; j < b.n; j++)
		free(b.items[j]);
	free(a.items);
	free(b.items);
}

/* Left out of comparisons: a customer either replay gave up on. */
static int customer_troubled(const struct check *ck, uint64_t id)
{
	return tainted(&ck->journal, id) || tainted(&ck->checkpoint, id);
}

static int seq_troubled(const struct check *ck, uint64_t seq)
{
	return replay_skipped(&ck->journal, seq) || replay_skipped(&ck->checkpoint, seq) || lost_find(ck, seq);
}

static void compare_checkpoint(struct check *ck)
{
	const struct model *j = &ck->journal.m, *c = &ck->checkpoint.m;
	uint32_t n = j->ncustomers > c->ncustomers ? j->ncustomers : c->ncustomers;
	int clean_replays = !ck->journal.nskipped && !ck->checkpoint.nskipped && !ck->nlost;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t id = (uint64_t)i + 1;
		if (customer_troubled(ck, id))
			continue;
		if (i >= c->ncustomers)
			problem(ck, j->customers[i].last_seq, id, "checkpoint differs from the journal: the customer is missing from the checkpoint");
		else if (i >= j->ncustomers)
			problem(ck, c->customers[i].last_seq, id, "checkpoint differs from the journal: the customer is in the checkpoint but was never enrolled in the journal");
		else
			compare_customer(ck, &j->customers[i], &c->customers[i]);
	}
	for (uint32_t i = 0; i < j->norders; i++) {
		const struct model_order *o = &j->orders[i], *other;
		if (customer_troubled(ck, o->customer_id) || seq_troubled(ck, o->seq))
			continue;
		other = model_order_by_key(c, o->key, o->key_len);
		if (!other)
			problem(ck, o->seq, o->customer_id, "checkpoint differs from the journal: %s is missing from the checkpoint",
				order_name(o->key, o->key_len));
		else
			compare_order(ck, o, other);
	}
	for (uint32_t i = 0; i < c->norders; i++) {
		const struct model_order *o = &c->orders[i];
		/* Orders are saved with the record of their sale: one whose record
		 * is lost is reported as that record. */
		if (!customer_troubled(ck, o->customer_id) && !seq_troubled(ck, o->seq) &&
		    !model_order_by_key(j, o->key, o->key_len))
			problem(ck, o->seq, o->customer_id, "checkpoint differs from the journal: %s is in the checkpoint, but the journal has no such sale",
				order_name(o->key, o->key_len));
	}
	for (uint32_t i = 0; i < j->nrequests; i++) {
		const struct model_request *q = &j->requests[i], *other;
		if (seq_troubled(ck, q->seq))
			continue;
		other = model_request_find(c, q->key);
		if (!other)
			problem(ck, q->seq, request_customer(q), "checkpoint differs from the journal: request key %s (seq %" PRIu64 ") is missing from the checkpoint",
				key_hex(q->key), q->seq);
		else
			compare_request(ck, q, other);
	}
	for (uint32_t i = 0; i < c->nrequests; i++) {
		const struct model_request *q = &c->requests[i];
		if (!seq_troubled(ck, q->seq) && !model_request_find(j, q->key))
			problem(ck, q->seq, request_customer(q), "checkpoint differs from the journal: request key %s (seq %" PRIu64 ") is in the checkpoint, not in the journal",
				key_hex(q->key), q->seq);
	}
	for (uint32_t i = 0; i < j->nkeys; i++) {
		const struct model_apikey *a = &j->keys[i], *b = model_apikey_find(c, a->id);
		if (!b)
			problem(ck, 0, 0, "checkpoint differs from the journal: API key %" PRIu64 " is missing from the checkpoint", a->id);
		else if (a->role != b->role || a->revoked != b->revoked || a->created_us != b->created_us ||
			 strcmp(a->location, b->location) != 0 || memcmp(a->hash, b->hash, RECORD_HASH_SIZE) != 0)
			problem(ck, 0, 0,
				"checkpoint differs from the journal: API key %" PRIu64 " is %s%s at %s in the checkpoint, %s%s at %s by the journal%s",
				a->id, proto_role_name(b->role), b->revoked ? " revoked" : "", quote(b->location, strlen(b->location)),
				proto_role_name(a->role), a->revoked ? " revoked" : "", quote(a->location, strlen(a->location)),
				memcmp(a->hash, b->hash, RECORD_HASH_SIZE) ? " (another hash)" : "");
	}
	for (uint32_t i = 0; i < c->nkeys; i++)
		if (!model_apikey_find(j, c->keys[i].id))
			problem(ck, 0, 0, "checkpoint differs from the journal: API key %" PRIu64 " is in the checkpoint, not in the journal",
				c->keys[i].id);
	compare_program(ck);
	/* The counts say the same as the lines above in one figure, but only
	 * mean something when both replays took every record. */
	if (clean_replays) {
		if (j->ncustomers != c->ncustomers)
			problem(ck, 0, 0, "checkpoint has %u customers, the journal %u", c->ncustomers, j->ncustomers);
		if (j->norders != c->norders)
			problem(ck, 0, 0, "checkpoint has %u orders, the journal %u", c->norders, j->norders);
		if (j->nrequests != c->nrequests)
			problem(ck, 0, 0, "checkpoint has %u request keys, the journal %u", c->nrequests, j->nrequests);
		if (j->nkeys != c->nkeys)
			problem(ck, 0, 0, "checkpoint has %u API keys, the journal %u", c->nkeys, j->nkeys);
	}
}

/* Whether any snapshot database has anything in it. */
static int snapshots_present(struct check *ck)
{
	for (int db = DB_CUSTOMERS; db <= DB_PROGRAM; db++) {
		MDB_stat st;
		if (mdb_stat(ck->txn, ck->dbi[db], &st) == 0 && st.ms_entries)
			return 1;
	}
	return 0;
}

/* ---- report ----------------------------------------------------------------------------------- */

static int problem_cmp(const void *a, const void *b)
{
	const struct problem *x = a, *y = b;
	/* By seq, those without one last; discovery order among equals. */
	uint64_t sx = x->seq ? x->seq : UINT64_MAX, sy = y->seq ? y->seq : UINT64_MAX;

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void json_u64_or_null(uint64_t v)
{
	if (v)
		printf("%" PRIu64, v);
	else
		fputs("null", stdout);
}

static void report(struct check *ck)
{
	uint64_t customers = ck->journal.m.ncustomers - ck->journal.placeholders;

	if (ck->nproblems) /* qsort may not be given the NULL of an empty list */
		qsort(ck->problems, ck->nproblems, sizeof *ck->problems, problem_cmp);
	if (ck->quiet)
		return;
	if (ck->json) {
		fputs("{\"dir\":", stdout);
		out_json_str(ck->dir);
		printf(",\"records\":%" PRIu64 ",\"first_seq\":", ck->nrecords);
		json_u64_or_null(ck->first_seq);
		fputs(",\"last_seq\":", stdout);
		json_u64_or_null(ck->last_seq);
		printf(",\"customers\":%" PRIu64 ",\"checkpoint_seq\":", customers);
		json_u64_or_null(ck->ckpt_seq);
		printf(",\"clean\":%s,\"problems\":[", ck->nproblems ? "false" : "true");
		for (size_t i = 0; i < ck->nproblems; i++) {
			const struct problem *p = &ck->problems[i];
			fputs(i ? ",{\"seq\":" : "{\"seq\":", stdout);
			json_u64_or_null(p->seq);
			fputs(",\"customer\":", stdout);
			json_u64_or_null(p->customer);
			fputs(",\"problem\":", stdout);
			out_json_str(p->text);
			putchar('}');
		}
		fputs("]}\n", stdout);
		return;
	}
	printf("accrue-check %s: %" PRIu64 " journal record%s", ck->dir, ck->nrecords, ck->nrecords == 1 ? "" : "s");
	if (ck->nrecords)
		printf(" (seq %" PRIu64 "..%" PRIu64 ")", ck->first_seq, ck->last_seq);
	printf(", %" PRIu64 " customer%s, ", customers, customers == 1 ? "" : "s");
	if (ck->has_ckpt)
		printf("checkpoint at seq %" PRIu64, ck->ckpt_seq);
	else
		fputs("no checkpoint yet", stdout);
	if (ck->nproblems)
		printf(": %zu problem%s\n", ck->nproblems, ck->nproblems == 1 ? "" : "s");
	else
		fputs(": clean\n", stdout);
	for (size_t i = 0; i < ck->nproblems; i++) {
		const struct problem *p = &ck->problems[i];
		if (p->seq)
			printf("seq %" PRIu64 "%s", p->seq, p->customer ? " " : ": ");
		if (p->customer)
			printf("customer %" PRIu64 ": ", p->customer);
		printf("%s\n", p->text);
	}
}

/* ---- main ------------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: accrue-check [--json | --quiet] DIR\n"
		"\n"
		"Verifies an accrue data directory (the DIR given to accrued --data). It\n"
		"only reads: DIR is opened read-only, in one LMDB read transaction, so\n"
		"the check sees one consistent state whether accrued is running on DIR\n"
		"or stopped, and it never changes the data (LMDB registers the reader\n"
		"in DIR/lock.mdb, creating that file if it is missing, as mdb_stat\n"
		"does; a directory without data.mdb is left untouched).\n"
		"\n"
		"What it checks:\n"
		"  journal    every record's checksum (seeded with its seq), that seqs\n"
		"             run from 1 without a gap, and that each customer's\n"
		"             records form one chain through prev_seq\n"
		"  balances   that each record's balance_after is the balance before it\n"
		"             plus what the record changes (sales and adjustments add\n"
		"             their points, returns remove the points they applied)\n"
		"  customers  the journal replayed from seq 1 through the daemon's own\n"
		"             rules (the code accrued recovers with): every record it\n"
		"             refuses is a problem, with the reason; each customer's\n"
		"             balance, lifetime points, visits and total spend must\n"
		"             equal what the journal's records add up to; emails and\n"
		"             phone numbers are normalised and unique. (accrue keeps no\n"
		"             card numbers: customers are found by email, phone or id.)\n"
		"  checkpoint checkpoint_seq names a record the journal has; the\n"
		"             snapshots (customers, orders, request keys, API keys,\n"
		"             program) loaded as recovery loads them, plus the journal\n"
		"             after checkpoint_seq, must equal the full replay: every\n"
		"             field of every customer, order, request key and API key,\n"
		"             and every program setting.\n"
		"\n"
		"Output: a summary line, then one line per problem, by seq:\n"
		"  accrue-check DIR: 1204 journal records (seq 1..1204), 57 customers, checkpoint at seq 1100: 1 problem\n"
		"  seq 812 customer 14: damaged record: checksum mismatch\n"
		"After a customer's first problem, its later records are not replayed;\n"
		"one line says how many were left out.\n"
		"\n"
		"  --json    print one JSON object instead: {\"dir\", \"records\", \"first_seq\",\n"
		"            \"last_seq\", \"customers\", \"checkpoint_seq\" (null: none),\n"
		"            \"clean\", \"problems\": [{\"seq\", \"customer\", \"problem\"}]}\n"
		"            (seq and customer are null where a problem has none)\n"
		"  --quiet   print nothing; the exit status tells\n"
		"  --help    show this help\n"
		"  --version show the version\n"
		"\n"
		"Exit status:\n"
		"  0  clean\n"
		"  1  problems found (listed on stdout)\n"
		"  2  cannot check: a usage error, DIR missing, DIR not an accrue data\n"
		"     directory, a storage format other than %d, or an LMDB error\n"
		"     (the reason on stderr)\n",
		STORE_FORMAT);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct check ck;
	int opt, rc;

	memset(&ck, 0, sizeof ck);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			ck.json = 1;
			break;
		case 'q':
			ck.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return CHECK_CLEAN;
		case 'V':
			printf("accrue-check %s (storage format %d)\n", ACCRUE_VERSION, STORE_FORMAT);
			return CHECK_CLEAN;
		default:
			fprintf(stderr, "accrue-check: unknown option \"%s\"\nTry 'accrue-check --help'.\n", argv[optind - 1]);
			return CHECK_CANNOT;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "accrue-check: %s\nTry 'accrue-check --help'.\n",
			argc == optind ? "which data directory? (DIR is missing)" : "one data directory at a time");
		return CHECK_CANNOT;
	}
	if (ck.json && ck.quiet) {
		fprintf(stderr, "accrue-check: --json and --quiet do not go together\nTry 'accrue-check --help'.\n");
		return CHECK_CANNOT;
	}
	ck.dir = argv[optind];
	replay_init(&ck.journal);
	replay_init(&ck.checkpoint);

	rc = open_dir(&ck);
	if (rc)
		goto out;
	/* With no checkpoint and no snapshots, loading them and replaying the
	 * whole journal again would build the journal model a second time. */
	ck.checkpoint_needed = ck.has_ckpt || snapshots_present(&ck);
	if (ck.checkpoint_needed)
		ck.checkpoint_loaded = load_checkpoint(&ck);
	walk_journal(&ck);
	/* accrued refuses to start from such a checkpoint; comparing its
	 * snapshots field by field would only list the consequences. */
	if (ck.has_ckpt && !ck.ckpt_seen) {
		if (ck.ckpt_seq > ck.last_seq)
			problem(&ck, ck.ckpt_seq, 0,
				"the checkpoint is at seq %" PRIu64 ", past the end of the journal (seq %" PRIu64
				"): the journal lost its tail, or meta is wrong; the snapshots are not compared",
				ck.ckpt_seq, ck.last_seq);
		else
			problem(&ck, ck.ckpt_seq, 0,
				"the checkpoint is at seq %" PRIu64 ", but the journal has no such record; the snapshots are not compared",
				ck.ckpt_seq);
		ck.checkpoint_loaded = 0;
	}
	report_taints(&ck, &ck.journal, NULL);
	if (ck.checkpoint_needed)
		report_taints(&ck, &ck.checkpoint, &ck.journal);
	compare_pass1(&ck);
	check_unique(&ck, 0);
	check_unique(&ck, 1);
	if (ck.checkpoint_loaded)
		compare_checkpoint(&ck);
	report(&ck);
	rc = ck.nproblems ? CHECK_PROBLEMS : CHECK_CLEAN;
out:
	if (ck.txn)
		mdb_txn_abort(ck.txn);
	if (ck.env)
		mdb_env_close(ck.env);
	replay_free(&ck.journal);
	replay_free(&ck.checkpoint);
	for (size_t i = 0; i < ck.nproblems; i++)
		free(ck.problems[i].text);
	free(ck.problems);
	for (size_t i = 0; i < ck.np1; i++) {
		free(ck.p1[i].email);
		free(ck.p1[i].phone);
	}
	free(ck.p1);
	free(ck.lost);
	if (fflush(stdout) != 0 && rc != CHECK_CANNOT) {
		fprintf(stderr, "accrue-check: cannot write the report: %s\n", strerror(errno));
		rc = CHECK_CANNOT;
	}
	return rc;
}
