/*
 * crash.h - what the files of the it_crash test share: its settings, the
 * ops the clients send and what is known of each, what the daemon's log
 * says of each start, the state the main thread, the clients and the
 * checks all read, and the functions of each part.
 *
 * it_crash.c says what the test does and why, and runs it; the parts are
 * it_crash/clients.c (the client threads), it_crash/recovery.c (the
 * daemon's log, kills at start-up, accrue-check, the recovery checks) and
 * it_crash/checks.c (the history against what the clients were told).
 * Each function's comment at its definition says what it checks.
 */
#ifndef ACCRUE_TEST_CRASH_H
#define ACCRUE_TEST_CRASH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "accrue.h"
#include "harness.h"

#define CUSTOMERS 20
#define THREADS 4
#define RIDERS 2
/* 56 SIGKILLs and 8 SIGTERMs under load, plus the kills at start-up. */
#define CYCLES 64
#define TERM_EVERY 8
#define START_KILL_EVERY 4
#define RUN_MIN_MS 20
#define RUN_MAX_MS 400
#define START_KILL_MAX_MS 40
/* Each start checkpoints after one of these many records (and every
 * second): with 5 about half of the commits under load carry a checkpoint,
 * with 40 recovery replays longer tails. */
#define CHECKPOINT_RECORDS_OFTEN "5"
#define CHECKPOINT_RECORDS_SELDOM "40"
#define LOCATIONS 3
#define MAX_BATCH 8
#define MAX_OPS_PER_THREAD 200000
#define MAX_EPOCHS (CYCLES * 2 + 8)
#define MAX_STARTS 512
#define PAGE 1000
/* How long the clients may take to finish their calls when asked to pause. */
#define PAUSE_TIMEOUT_MS 60000
/* Print at most this many examples of one kind of failure. */
#define MAX_REPORTS 10

enum op_kind {
	KIND_SALE = 1,   /* ACCRUE, or one sale of an ACCRUE_BATCH */
	KIND_RETURN = 2, /* RETURN by amount of one of the thread's sales */
	KIND_ADJUST = 3, /* ADJUST, reason = the op's name */
};

enum op_state {
	OP_ACKED = 1,    /* returned 0 */
	OP_UNACKED = 2,  /* a local error: outcome unknown to the client */
	OP_STOPPED = 3,  /* SHUTTING_DOWN: by contract nothing applied */
	OP_DECLINED = 4, /* INSUFFICIENT for a negative adjustment: nothing applied */
	OP_REFUSED = 5,  /* any other refusal: not expected in this test */
};

/* Whether the op's change is in the ledger, as far as the checks know. */
enum op_presence {
	PRESENCE_UNKNOWN = 0, /* unacknowledged, not resolved yet */
	PRESENT = 1,
	ABSENT = 2,
};

struct op {
	uint8_t key[ACCRUE_KEY_SIZE];
	uint8_t kind;     /* enum op_kind */
	uint8_t state;    /* enum op_state */
	uint8_t presence; /* enum op_presence */
	uint8_t batch_n;  /* a sale of a batch: how many sales it had (0: a single sale) */
	int16_t customer; /* index into customer_ids (a return: its sale's) */
	int16_t location; /* index into locations (a return: its sale's) */
	int rc;           /* the call's return value (a batch sale: its item's status) */
	int epoch;        /* the daemon incarnation when the call began */
	int done_epoch;   /* ... and when it returned */
	int seen;         /* occurrences in the history, counted by the checks */
	uint32_t link;    /* a sale: 1 + index of its return, 0 if none; a return: index of its sale */
	uint32_t batch_first; /* a sale of a batch: index of the batch's first sale */
	int64_t amount;   /* a sale: its amount; a return: the amount refunded; an adjustment: its points */
	int64_t points;   /* as acknowledged */
	uint64_t seq;     /* as acknowledged */
	uint64_t seen_seq; /* the seq of its history entry */
};

struct worker {
	int index;
	int retries;
	uint64_t rng;
	struct op *ops;
	size_t n, cap;
	size_t return_cursor; /* sales before this one have been considered for a return */
	atomic_size_t acked;  /* read by the main thread while the worker runs */
	size_t unacked, stopped, declined, refused, replayed;
	size_t sent[4]; /* by kind */
	pthread_t thread;
};

/* What the daemon's log says about one start (one "==== ... start" marker). */
enum stop_kind {
	STOP_NONE = 0,
	STOP_KILL,       /* SIGKILL under load */
	STOP_TERM,       /* SIGTERM under load */
	STOP_START_KILL, /* SIGKILL a few ms after exec */
	STOP_FINAL,      /* SIGTERM without load, at the end */
};

struct start_log {
	int stop; /* enum stop_kind, set by the test when it stopped this start */
	int often; /* it ran with --checkpoint-records CHECKPOINT_RECORDS_OFTEN */
	int recovered, listening, stopped_cleanly;
	uint64_t journal_seq, replayed; /* from "recovered": the checkpoint is journal_seq - replayed */
	uint64_t checkpoints;           /* "checkpoint written" lines */
	uint64_t last_durable;          /* the seq the last of them called durable */
	uint64_t stopped_seq, commits;  /* from "stopped cleanly" */
};

/* The arguments of a batch made of ops first..first+n-1, for sending and re-sending. */
struct batch_args {
	uint8_t keys[MAX_BATCH][ACCRUE_KEY_SIZE];
	struct accrue_ref refs[MAX_BATCH];
	struct accrue_sale sales[MAX_BATCH];
	char names[MAX_BATCH][32];
	struct accrue_batch_result results[MAX_BATCH];
};

/* ---- it_crash.c ------------------------------------------------------------- */

extern struct harness h;
/* Figures for the summary. */
extern size_t start_kills, start_kills_before_listening, term_stops, kills;

/* ---- clients.c: the client threads -------------------------------------------- */

/* The clients connect with copies: harness_restart rewrites h's (with the same address and key). */
extern char daemon_addr[sizeof h.addr], admin_key[sizeof h.admin_key];
extern uint64_t customer_ids[CUSTOMERS];
extern const char *const locations[LOCATIONS];
extern struct worker workers[THREADS];
extern atomic_int stop_flag;
/* Incremented by the main thread after each daemon it stopped is reaped;
 * sigterm_epoch[e] says whether incarnation e ended with SIGTERM. */
extern atomic_int epoch;
extern int sigterm_epoch[MAX_EPOCHS];

uint64_t rng_next(uint64_t *s);
int rng_range(uint64_t *s, int lo, int hi);
void op_name(char *buf, size_t cap, int thread, size_t n);
struct op *op_by_name(const char *name, int *thread, size_t *index);
const char *state_name(int state);
const char *kind_name(int kind);
int64_t sale_points(int64_t amount);
int64_t return_taken(const struct op *sale, const struct op *ret);
int64_t op_points(int t, const struct op *op);
void batch_args_fill(struct batch_args *b, int t, size_t first, uint32_t n);
void *worker_main(void *arg);
int pause_clients(void);
void resume_clients(void);
void stop_clients(void);
size_t total_acked(void);

/* ---- recovery.c: the daemon's starts ------------------------------------------ */

extern const char *check_bin; /* $ACCRUE_CHECK_BIN */
extern struct start_log starts[MAX_STARTS];
extern int nstarts;
extern int ckpt_often; /* the daemon running now checkpoints often */
/* Figures for the summary. */
extern size_t check_runs, check_runs_down, disk_agrees, torn_log_lines, kills_mid_ckpt, listening_late;
extern long long listening_wait_max_ms;

void note_stop(int how);
int start_and_kill(int delay_ms);
void run_accrue_check(const char *when, int daemon_down);
int check_recovery(const char *phase, int killed_at_start);

/* ---- checks.c: the history against what the clients were told -------------------- */

/* Figures for the summary. */
extern size_t resolved_present, resolved_absent, sample_retries, pending_skips, unanswered_on_sigterm;
/* Failures of re-sent requests printed in the current phase. */
extern size_t resend_reports;

void lookup_all(accrue *a, struct accrue_customer *cust);
void check_exactly_once(const char *phase, int now_epoch);
void check_ledger(const char *phase, const struct accrue_customer *cust, int allow_pending);
size_t resend(accrue **a, int t, size_t i, int want_replay, const char *phase);
int replayable(const struct worker *w, const struct op *op);
void check_unchanged(const char *phase, const struct accrue_customer *before, const struct accrue_customer *after);
void verify(const char *phase, uint64_t *rng, struct accrue_entry *page, struct accrue_order *ord, int allow_pending);
void full_history_check(accrue *a, const char *phase, struct accrue_entry *page);

#endif
