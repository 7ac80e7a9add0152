/*
 * check.h - what accrue-check's files share; nothing outside tools/
 * includes it.
 *
 * accrue-check verifies a data directory read-only (accrue_check.c says
 * how). Its files, by job:
 *   accrue_check.c   main and its options, and memory that must not fail
 *   check_store.c    opening the data directory; loading the snapshots
 *   check_journal.c  walking the journal: checksums, seqs, each customer's
 *                    chain, pass 1's arithmetic, why a record is refused;
 *                    all the per-record-kind logic is here
 *   check_derive.c   replaying the journal (and the checkpoint) through
 *                    the daemon's rules, and comparing what they end with
 *   check_report.c   problems, the quoting in their text, and the report
 * The report prints through output.h (accrue_output), shared with accruectl.
 */
#ifndef ACCRUE_CHECK_H
#define ACCRUE_CHECK_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "record.h"
#include "rules.h"
#include "store.h"

enum check_exit {
	CHECK_CLEAN = 0,
	CHECK_PROBLEMS = 1,
	CHECK_CANNOT = 2, /* usage, or the directory cannot be read as accrue data */
};

/* The databases are record.h's RECORD_DBS (enum record_db, record_db_name). */

/* One thing found wrong, as the report will list it. */
struct check_problem {
	uint64_t seq;      /* 0: none */
	uint64_t customer; /* 0: none */
	size_t order;      /* discovery order, to keep sorting stable */
	char *text;
};

/*
 * Journal records that cannot be read: a damaged record (from == to, err
 * set) or a run of missing seqs (err 0). Appended in seq order.
 */
struct check_lost {
	uint64_t from, to;
	int err;
	uint64_t customer; /* whose record it was, as far as can be told; 0: unknown */
	size_t problem;    /* index of its problem, to name the customer once known */
};

/* Pass 1: a customer as the journal's own arithmetic sees it. */
struct check_p1_customer {
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
struct check_taint {
	uint64_t cause_seq;
	uint64_t first_skipped, last_skipped, nskipped;
	uint8_t on;
	uint8_t placeholder; /* added to keep ids dense: its enrolment was lost or refused */
};

/* A model built by replaying records, and what it could not apply. */
struct check_replay {
	struct model m;
	struct check_taint *taint; /* by customer id */
	size_t ntaint;
	uint64_t *skipped; /* seqs not applied, ascending */
	size_t nskipped, skipped_cap;
	uint64_t placeholders;
};

/* One run of accrue-check: the directory, what was found, and the models built from it. */
struct check {
	const char *dir;
	int json, quiet;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[RECORD_DB_COUNT];
	/* The data file's pages are damaged (pagecheck): LMDB must not read
	 * them, so nothing past that problem is checked. */
	int unreadable;

	struct check_problem *problems;
	size_t nproblems, problems_cap;
	int current_flagged; /* pass 1 reported a problem at the record being looked at */

	uint64_t nrecords, first_seq, last_seq;
	int has_ckpt, ckpt_seen;
	uint64_t ckpt_seq;
	uint64_t saved_seq; /* meta's: records up to it had their orders and request keys saved */

	struct check_lost *lost;
	size_t nlost, lost_cap;
	uint64_t lost_since_enrol;

	struct check_p1_customer *p1;
	size_t np1;
	uint64_t p1_max_id;

	struct check_replay journal;    /* every record from seq 1 */
	struct check_replay checkpoint; /* the snapshots, then the records after checkpoint_seq */
	int checkpoint_loaded;          /* the snapshots loaded: comparing makes sense */
	int checkpoint_needed;          /* there is a checkpoint to compare at all */
};

/* ---- memory (accrue_check.c) --------------------------------------------------------- */

/* Say accrue-check ran out of memory and exit with CHECK_CANNOT: a check cannot go on without. */
__attribute__((noreturn)) void check_die_nomem(void);

/* realloc that exits as check_die_nomem does; n may be 0. */
void *check_xrealloc(void *p, size_t n);

/* Grow *arr of *cap elements of size to hold need. */
void check_grow(void **arr, size_t *cap, size_t need, size_t size);

/* ---- the data directory (check_store.c) -------------------------------------------------- */

/*
 * Open ck->dir read-only. Returns 0, or prints why not to stderr and returns
 * CHECK_CANNOT. Nothing is created in a directory that is not a data
 * directory: data.mdb is looked for before LMDB opens (and would create)
 * lock.mdb.
 */
int check_dir_open(struct check *ck);

/* Whether any snapshot database has anything in it. */
int check_snapshots_present(struct check *ck);

/*
 * Load the snapshot databases into the checkpoint model, the way store.c's
 * recovery does (same decoders, same key checks, same model_load_*), but
 * reporting every entry that does not decode instead of stopping. Returns
 * 1 if everything loaded, 0 if not (the checkpoint is then not compared).
 */
int check_checkpoint_load(struct check *ck);

/* ---- the journal (check_journal.c) ------------------------------------------------------ */

/* The lost (damaged or missing) records that include seq, or NULL. */
struct check_lost *check_lost_find(const struct check *ck, uint64_t seq);

/*
 * model_apply() answers only "corrupt". Say into out which of its
 * conditions the record broke, from the state before it (pre: the customer
 * as it was before the attempt, which may have changed part of it).
 */
void check_record_diagnose(const struct model *m, const struct record *rec, const struct model_customer *pre,
			   char *out, size_t cap);

/*
 * Walk the journal in seq order: each record is decoded and checked, run
 * through pass 1, and replayed into ck->journal and (after checkpoint_seq,
 * if the snapshots loaded) into ck->checkpoint.
 */
void check_journal_walk(struct check *ck);

/* ---- replays and comparisons (check_derive.c) ---------------------------------------------- */

void check_replay_init(struct check_replay *r);
void check_replay_free(struct check_replay *r);

/* Note seq as not applied to r; seqs are noted in ascending order. */
void check_replay_skip(struct check_replay *r, uint64_t seq);

/* Whether r did not apply seq. */
int check_replay_skipped(const struct check_replay *r, uint64_t seq);

/* The taint of customer id in r, created (for an id the model has, or the next) if create; or NULL. */
struct check_taint *check_taint_of(struct check_replay *r, uint64_t id, int create);

/* One more of a tainted customer's records left out. */
void check_taint_count(struct check_replay *r, uint64_t id, uint64_t seq);

/*
 * Apply one readable record to r. Returns 1 if applied, 0 if not (why, in
 * why[], empty when the customer was tainted already and the record was
 * only skipped).
 */
int check_replay_record(struct check_replay *r, uint64_t seq, const struct record *rec, char *why, size_t whylen);

/*
 * Customers whose later records r did not replay, one problem each. With
 * also (the journal's replay, when r is the checkpoint's), what also left
 * out too is not reported again.
 */
void check_taints_report(struct check *ck, struct check_replay *r, const struct check_replay *also);

/* The pass 1 totals of every untroubled customer against the journal model. */
void check_pass1_compare(struct check *ck);

/* No two customers share an email (phone 0), nor a phone (phone 1): checked on the journal's own view. */
void check_contacts_unique(struct check *ck, int phone);

/* The checkpoint model against the journal model, field by field. */
void check_checkpoint_compare(struct check *ck);

/* ---- problems and the report (check_report.c) ---------------------------------------------- */

/* Add a problem at seq of customer (either may be 0: none). */
__attribute__((format(printf, 4, 5))) void check_problem_add(struct check *ck, uint64_t seq, uint64_t customer,
							     const char *fmt, ...);

/*
 * Data from the directory quoted for a message: bytes that could upset a
 * terminal or a JSON string are escaped. Returns one of a few rotating
 * buffers, so a message can quote several strings at once.
 */
const char *check_quote(const char *p, size_t n);

/* check_quote of a protocol string. */
const char *check_qstr(struct proto_str s);

/* An order's key (location NUL order id) as people write it: order "A-1" at "store-1". */
const char *check_order_name(const char *key, size_t len);

/* A request key in hex. */
const char *check_key_hex(const uint8_t key[PROTO_KEY_SIZE]);

/* Sort the problems by seq and print the report (unless --quiet). */
void check_report_print(struct check *ck);

#endif
