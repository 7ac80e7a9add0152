/*
 * powerloss.h - the parts of it_powerloss (tests/it_powerloss.c):
 *
 *   model.c     reads the shim's log (tests/powerloss/powerloss_log.h) and
 *               rebuilds the data directory as a power cut at a given point
 *               of it would leave it: everything made durable before the
 *               cut, plus a chosen part of what was written but not yet
 *               flushed;
 *   workload.c  the sales sent to the daemon under the shim, each logged
 *               when sent and when acknowledged, through kills and restarts;
 *   verify.c    one rebuilt directory checked through a real accrued:
 *               it starts, every sale acknowledged before the cut is there
 *               once and whole, accrue-check is clean, retries are replays.
 */
#ifndef ACCRUE_POWERLOSS_H
#define ACCRUE_POWERLOSS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "accrue.h"
#include "harness.h"
#include "powerloss_log.h"

/* ---- the model of the log (model.c) ---------------------------------------- */

#define PL_NEVER INT64_MAX
#define PL_MAX_OBJECTS 256 /* files ever created in the data directory during one test */
#define PL_MAX_CUSTOMERS 64

/* One record of the log and what the model worked out about it. */
struct pl_event {
	struct pl_record r;
	int obj;            /* the file (object) it is about, or -1 */
	int64_t durable_at; /* the event from which on it is on disk whatever else happens: a
			       later sync of its file (or of the directory, or of everything), its
			       own index for an O_DSYNC write; PL_NEVER if nothing made it durable */
};

struct pl_model {
	struct pl_event *ev;
	size_t nev;
	uint8_t *bytes; /* the shim's data file */
	size_t nbytes;
	int nobj;
	char obj_name[PL_MAX_OBJECTS][PL_NAME_MAX]; /* the name each file was created with */
	struct pl_base *base; /* model.c's cache of what is durable at the last cut asked for */
	/* counts, for the report */
	size_t writes, dsync_writes, syncs, lied, dir_ops, zero_writes;
	uint64_t bytes_written;
};

/* Load the log and the data file. Returns 0, or -1 after printing why (including a call the model cannot replay). */
int model_load(struct pl_model *m, const char *log_path, const char *data_path);
void model_free(struct pl_model *m);

/* What is left of the writes that were not flushed before the cut. */
enum pl_subset {
	PL_SUBSET_NONE,  /* none of them */
	PL_SUBSET_ALL,   /* all of them */
	PL_SUBSET_CALLS, /* each write call whole or not at all, at random */
	PL_SUBSET_PAGES, /* each 4 KiB page of each write, at random */
};

const char *pl_subset_name(int subset);

struct pl_file {
	char name[PL_NAME_MAX];
	uint8_t *buf; /* the model's, until the next model_state or model_free */
	uint64_t size;
};

struct pl_state {
	struct pl_file files[PL_MAX_OBJECTS];
	int nfiles;
	size_t pending;  /* units (calls, pages, directory operations) not yet durable at the cut */
	size_t applied;  /* of those, how many this state has */
	uint64_t hash;   /* of the names and contents */
};

/*
 * The directory after a power cut between event cut-1 and event cut
 * (0 <= cut <= nev). Content: every write and size change durable by the
 * cut, and of the others the ones subset picks (with seed). Names: the
 * file system's journal keeps directory operations in order, so the state
 * has every one up to the last durable one and a prefix of the rest (none,
 * all, or one of random length). LMDB's lock.mdb is left out (LMDB makes
 * it afresh). Fastest when asked for cut points in ascending order.
 * Returns 0 or -1 (out of memory).
 */
int model_state(struct pl_model *m, size_t cut, int subset, uint64_t seed, struct pl_state *out);
void state_free(struct pl_state *s);
const struct pl_file *state_file(const struct pl_state *s, const char *name);

/* Empty dir (creating it if need be) and write the state's files into it. Returns 0 or -1. */
int state_write_dir(const struct pl_state *s, const char *dir);

/* Print events [from, to) of the log to stderr, one per line. */
void model_dump(const struct pl_model *m, size_t from, size_t to);

/* ---- the workload (workload.c) --------------------------------------------------- */

struct pl_sale {
	char order_id[24];
	int customer;
	int64_t amount; /* minor units, whole currency units only: points are amount / 100 */
	uint8_t key[ACCRUE_KEY_SIZE];
	int acked;      /* the daemon said it is durable */
	uint64_t seq;   /* the seq it was acknowledged with */
	/* filled from the log by workload_index */
	int64_t send_at; /* the event index of its first PL_SEND, PL_NEVER if never sent */
	int64_t ack_at;  /* the event index of its PL_ACK, PL_NEVER if not acknowledged */
};

struct pl_customer {
	char email[64];
	int64_t ack_at; /* when its enrolment was acknowledged (event index) */
	uint64_t id;
};

struct pl_workload {
	int nsales, ncustomers, nthreads;
	struct pl_sale *sales;
	struct pl_customer *customers;
	int log_fd; /* the shim's log, opened O_APPEND */
	uint32_t *busy; /* the shim's busy word (PL_ENV_BUSY), mapped shared */
	int kill_retries; /* times a kill found the daemon inside a watched call and let it go on */
	struct harness *h;
	uint64_t seed;
	atomic_int failed; /* a client met a refusal that should not happen, or gave up */
};

/* Set up nsales sales for ncustomers customers. Returns 0 or -1. */
int workload_init(struct pl_workload *w, int nsales, int ncustomers, int nthreads, uint64_t seed);
void workload_free(struct pl_workload *w);

/* Append a driver record (PL_SEND, PL_ACK, PL_MARK) to the log. */
void workload_log(struct pl_workload *w, int op, int flags, uint64_t arg, uint64_t off, const char *name);

/*
 * Enrol the customers, then send the sales from nthreads threads while the
 * daemon (under the shim, on h) is SIGKILLed and restarted once and stopped
 * with SIGTERM and restarted once, and SIGKILL it at the end. Returns 0, or
 * -1 after printing why.
 */
int workload_run(struct pl_workload *w, struct harness *h);

/* SIGKILL the daemon on h, at a moment when no thread is inside a watched call (PL_ENV_BUSY). */
void workload_kill(struct pl_workload *w, struct harness *h);

/*
 * Find each sale's and enrolment's PL_SEND and PL_ACK in the model.
 * Returns 0, or -1 if the log disagrees with what the clients saw.
 */
int workload_index(struct pl_workload *w, const struct pl_model *m);

/* ---- one rebuilt directory checked (verify.c) --------------------------------------- */

struct pl_verify {
	const struct pl_workload *w;
	struct harness *h; /* the verifying daemon's harness, stopped between runs */
	const char *admin_key_text; /* admin.key as the workload's daemon wrote it */
	const char *check_bin;      /* accrue-check */
	int resend;                 /* how many sales in doubt at the cut to send again */
	int strict;                 /* findings fail the test too */
	/*
	 * Where the first start's delicate moments are in the log (PL_NEVER
	 * if absent): the end of making the data file (its staging name's
	 * first sync, or the event after its rename to data.mdb), every cut
	 * up to which is tried, and the rename of .admin.key.tmp to
	 * admin.key, after the admin key's commit.
	 */
	int64_t first_data_sync, admin_key_rename;
	/* tallies */
	int runs, failed_runs, resent, replays;
	int admin_key_unrenamed; /* admin key committed, cut before its rename */
	int admin_key_undone;    /* admin key committed and renamed, the rename not durable */
};

/*
 * The outcome of one run: present[i] is how many times sale i was found.
 * failures counts what was wrong (each printed with the cut and subset).
 */
struct pl_outcome {
	int started;
	int intrinsic;  /* failures that the files alone decide (a refused start, accrue-check, a sale twice) */
	int failures;   /* all failures, those included */
	int lost;       /* acknowledged sales (or enrolments) missing */
	uint64_t customers; /* bit c: customer c is there (PL_MAX_CUSTOMERS at most) */
	int admin_key_lost; /* the state had no admin.key, and the daemon found its key in the journal */
	int *present;   /* nsales: how many times sale i is in its customer's history */
};

/*
 * Write the state into the verifying daemon's data directory, start
 * accrued on it and check everything against the workload for a cut at
 * event `cut`. The daemon is killed again before it returns.
 */
void verify_state(struct pl_verify *v, const struct pl_state *s, int64_t cut, const char *label,
		  struct pl_outcome *out);

/*
 * What an earlier run of the same state found, checked against the cut:
 * states are rebuilt per cut, and two cuts often leave the same files.
 */
void verify_cached(struct pl_verify *v, const struct pl_outcome *earlier, int64_t cut, const char *label,
		   struct pl_outcome *out);

#endif
