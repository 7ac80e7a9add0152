/*
 * damage.h - what the files of the it_damage test share: the ledger built
 * once through the daemon and what it is remembered to hold, a map of the
 * data file's LMDB pages, and one damage trial (a copy of the clean
 * directory, damaged, read by accrue-check and started by accrued).
 *
 * it_damage.c says what the test does and why, and runs it; the parts are
 * it_damage/ledger.c (the rich data directory and the remembered state),
 * it_damage/lmdbmap.c (the pages of data.mdb, classified by their headers,
 * and every database entry's place in the file), it_damage/trial.c (one
 * damage case: apply it, run accrue-check, start the daemon, judge what
 * happened), it_damage/corpus.c (the named cases of `make test`) and
 * it_damage/random.c (the randomised run of `make damage`).
 */
#ifndef ACCRUE_TEST_DAMAGE_H
#define ACCRUE_TEST_DAMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "accrue.h"
#include "harness.h"

#define DMG_MAX_CUSTOMERS 32
#define DMG_MAX_ORDERS 8
#define DMG_MAX_KEYS 8

/* ---- ledger.c: the data directory and what it holds --------------------------- */

struct dmg_customer {
	struct accrue_customer c; /* as the daemon showed it last */
	uint32_t history;         /* entries in its history */
};

struct dmg_order {
	char location[32];
	char order_id[64];
	uint64_t customer_id;
	uint64_t seq;             /* the sale */
	int64_t amount, earned, refunded;
	uint64_t return_seqs[4];  /* its returns' records */
	int nreturns;
};

struct dmg_ledger {
	struct harness h;         /* the daemon under test: its directory, log and address */
	uint8_t *mdb;             /* the clean data.mdb, as the last daemon left it */
	size_t mdb_size;
	char admin_key[512];      /* the bytes of admin.key */
	size_t admin_key_len;
	int ncustomers;
	struct dmg_customer customers[DMG_MAX_CUSTOMERS];
	int norders;
	struct dmg_order orders[DMG_MAX_ORDERS];
	int nkeys;
	struct accrue_key_info keys[DMG_MAX_KEYS];
	struct accrue_setting *settings; /* the program, every setting */
	uint32_t nsettings;
	uint64_t ckpt_seq;        /* the checkpoint the ledger ends with */
	uint64_t last_seq;        /* the journal's last record */
	uint64_t sales;           /* how many sales it holds */
};

/* Build the ledger in l->h's directory (see ledger.c). REQUIREs that it works. */
void dmg_ledger_build(struct dmg_ledger *l);

/* The remembered order with this id, or NULL. */
const struct dmg_order *dmg_ledger_order(const struct dmg_ledger *l, const char *order_id);

/* ---- lmdbmap.c: the pages of data.mdb -------------------------------------------- */

enum dmg_page_kind {
	DMG_PAGE_UNUSED = 0, /* reached from no tree of the meta page LMDB uses: free or stale */
	DMG_PAGE_META,
	DMG_PAGE_BRANCH,
	DMG_PAGE_LEAF,
	DMG_PAGE_OVERFLOW,
};

/* Trees: RECORD_DB_* for accrue's named databases, and these two. */
#define DMG_TREE_FREE (-2) /* LMDB's free-page tree (its leaves are the free lists) */
#define DMG_TREE_MAIN (-1) /* LMDB's main tree (the named databases' records) */
#define DMG_TREE_NONE (-3)

struct dmg_page {
	uint8_t kind; /* enum dmg_page_kind */
	int8_t tree;  /* DMG_TREE_* or RECORD_DB_* */
	uint8_t depth;
};

/* One key/value pair of a leaf, and where its bytes lie in the file. */
struct dmg_entry {
	int tree;
	uint64_t pgno;      /* its leaf page */
	size_t node_off;    /* its node header, from the start of the file */
	size_t key_off;     /* its key, from the start of the file */
	uint32_t key_len;
	size_t val_off;     /* its value, from the start of the file (on overflow pages: after the first's header) */
	size_t val_len;
	uint64_t ovpg;      /* the first overflow page holding the value, 0 if it is in the leaf */
	uint32_t ovpages;
};

struct dmg_map {
	const uint8_t *file;
	size_t size;
	uint64_t psize;
	uint64_t last_pg;   /* per the meta page LMDB uses */
	int newer;          /* that meta page: 0 or 1 */
	uint64_t npages;    /* pages in the file */
	struct dmg_page *pages;
	struct dmg_entry *entries;
	size_t nentries, cap;
};

/*
 * Walk the clean file from the newer meta page as LMDB would, trusting it:
 * every page reached gets its kind and tree, every leaf entry its place.
 * Returns 0, or -1 (printed) when the file is not what liblmdb 0.9 writes.
 */
int dmg_map_build(struct dmg_map *m, const uint8_t *file, size_t size);
void dmg_map_free(struct dmg_map *m);

/* Little-endian reads from the file. */
uint16_t dmg_get16(const uint8_t *p);
uint64_t dmg_get64(const uint8_t *p);

/* The entry of tree whose key is key[0..len), or NULL. */
const struct dmg_entry *dmg_map_entry(const struct dmg_map *m, int tree, const void *key, size_t len);

/* The entry of a journal record (by seq), or NULL. */
const struct dmg_entry *dmg_map_record(const struct dmg_map *m, uint64_t seq);

/* The n-th page (from 0, in file order) of this kind in this tree (DMG_TREE_NONE: any); 0 if none. */
uint64_t dmg_map_page(const struct dmg_map *m, int kind, int tree, int n);

/* A printable name of a tree. */
const char *dmg_tree_name(int tree);

/* ---- trial.c: one damage case ------------------------------------------------------ */

/* What accrue-check must do. */
enum dmg_check_expect {
	DMG_CHECK_CLEAN = 1, /* exit 0: the damage hit a place nothing reads */
	DMG_CHECK_FINDS,     /* exit 1 or 2, its output naming the problem */
	DMG_CHECK_ANY,       /* the random run: anything but a signal, judged with the daemon */
};

/* What the daemon must do. */
enum dmg_daemon_expect {
	DMG_REFUSE = 1,      /* exit non-zero before listening, the log saying what and "refusing to start" */
	DMG_SERVE,           /* start and serve every remembered thing, every read OK */
	DMG_SERVE_REPORT,    /* start and serve; reads of the damaged record get STORAGE, the rest OK */
	DMG_REFUSE_OR_REPORT,/* either of those two */
	DMG_ANY,             /* the random run: any of those three, consistent with accrue-check */
};

#define DMG_MAX_EDITS 2

struct dmg_case {
	char name[112];
	/* The damage: bytes XORed at offsets, then the file cut to truncate (SIZE_MAX: not cut). */
	int nedits;
	struct {
		size_t off;
		uint8_t x[8];
		uint8_t len;
	} edit[DMG_MAX_EDITS];
	size_t truncate;
	int check;                /* enum dmg_check_expect */
	char check_needle[96];    /* DMG_CHECK_FINDS: text its output must hold ("" any) */
	int daemon;               /* enum dmg_daemon_expect */
	char log_needle[96];      /* DMG_REFUSE: text the refusal must hold ("" any) */
	uint64_t bad_seq;         /* DMG_SERVE_REPORT: the damaged journal record */
	uint64_t bad_customer;    /* ... its customer, whose HISTORY must get STORAGE (0: none) */
};

struct dmg_outcome {
	int check_rc;             /* accrue-check's exit (128+N: signal N; -1: timed out) */
	int check_wrote;          /* data.mdb differed from the damaged copy after accrue-check */
	int refusal_wrote;        /* ... after a daemon that refused to start */
	char check_said[200];     /* its first problem or error line */
	int started;              /* the daemon listened */
	int exit_code;            /* when it did not: its exit (128+N: signal N) */
	char log_said[240];       /* its line saying why it refused, or "" */
	int refusal_line;         /* the log said "refusing to start" */
	int fresh_start;          /* the log said "first start", or admin.key changed */
	int stop_code;            /* a started daemon's exit after SIGTERM */
	int served_ok;            /* every remembered thing read back as remembered */
	int wrong;                /* a read showed something other than remembered (not STORAGE) */
	int storage_reads;        /* reads answered STORAGE */
	int storage_unexpected;   /* ... of things the case did not damage */
	int storage_missing;      /* damaged things read back without STORAGE */
	char served_said[240];    /* the first thing that was wrong */
	char log_tail[1200];      /* the end of the daemon's log of this start */
	const char *failure;      /* not as expected: a short label of what went wrong, or NULL */
	char why[400];            /* ... said in full */
};

/* The test's ledger, built once: every trial copies it. */
extern struct dmg_ledger ledger;
extern const char *check_bin;

void dmg_case_init(struct dmg_case *c, const char *name);
void dmg_case_flip(struct dmg_case *c, size_t off, uint8_t mask);
void dmg_case_xor64(struct dmg_case *c, size_t off, uint64_t x);

/*
 * Run one case: write the damaged copy into the harness's data directory,
 * run accrue-check on it, start the daemon on it (bounded), read back the
 * remembered state if it listens, stop it. Fills *o. Returns 1 when the
 * outcome is what the case expects, and prints its summary line unless
 * quiet; the caller counts it as a check.
 */
int dmg_trial(const struct dmg_case *c, struct dmg_outcome *o, int quiet);

/* The case's summary line: what was expected, what happened, and why it failed if it did. */
void dmg_report(const struct dmg_case *c, const struct dmg_outcome *o);

/* ---- corpus.c and random.c ------------------------------------------------------------ */

/* The named cases; returns how many failed. */
int dmg_corpus_run(const struct dmg_map *m);

/* flips random byte flips and truncations from seed; returns how many failed. */
int dmg_random_run(const struct dmg_map *m, long flips, uint64_t seed);

#endif
