/*
 * harness.h - run the real accrued for an integration test.
 *
 * A harness owns one temporary directory (mkdtemp under $TMPDIR or /tmp)
 * holding the daemon's data directory and its log, and at most one running
 * daemon on it. The daemon is the binary named by $ACCRUED_BIN, started with
 * --data ROOT/data --listen 127.0.0.1:PORT; its stderr goes to ROOT/accrued.log
 * (appended across restarts, with a marker line per start).
 *
 * Failures stay visible: harness_finish() prints the tail of the log when the
 * test failed, and if the process exits without calling it (a REQUIRE, an
 * early return) an atexit handler kills every daemon still running, prints
 * its log and removes its directory. On Linux each daemon also gets
 * PR_SET_PDEATHSIG, so a test killed by ctest's timeout does not leave one
 * behind.
 *
 * Every wait is bounded. Functions return 0 on success and -1 on failure,
 * after printing what went wrong to stderr, unless they say otherwise.
 * Fork daemons from the main thread only: the death signal follows the
 * thread that forked.
 */
#ifndef ACCRUE_HARNESS_H
#define ACCRUE_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include "accrue.h"

#define HARNESS_PATH_MAX 512

struct harness {
	char name[64];                /* the test's name, for log lines */
	char root[HARNESS_PATH_MAX];  /* the temporary directory */
	char data[HARNESS_PATH_MAX];  /* ROOT/data, passed as --data */
	char log[HARNESS_PATH_MAX];   /* ROOT/accrued.log, the daemon's stderr */
	char addr_file[HARNESS_PATH_MAX]; /* DATA/accrued.addr */
	char key_file[HARNESS_PATH_MAX];  /* DATA/admin.key */
	char addr[64];                /* "127.0.0.1:PORT" of the running daemon */
	int port;                     /* its port; restarts reuse it */
	char admin_key[256];          /* contents of admin.key without the newline */
	pid_t pid;                    /* the running daemon, 0 if none */
	int starts;                   /* how many times a daemon was started */
	long long start_offset;       /* where the last start's marker line begins in the log */
	int registered;               /* in the atexit list */
	const char *extra[8];         /* more daemon arguments, NULL-terminated */
};

/*
 * Make a fresh temporary directory and start the daemon on a free port
 * (--listen 127.0.0.1:0). Waits up to 20 s for DATA/accrued.addr, then reads
 * the address and DATA/admin.key. ACCRUED_BIN must be set.
 */
int harness_start(struct harness *h, const char *name);

/* harness_start with more daemon arguments (at most 7, NULL-terminated), kept for restarts. */
int harness_start_args(struct harness *h, const char *name, const char *const *extra);

/*
 * Start the daemon again on the same data directory and the same port, so
 * that client handles holding the old address can reconnect. The previous
 * daemon must have been stopped or killed. Re-reads admin.key.
 */
int harness_restart(struct harness *h);

/*
 * Start the daemon as harness_restart does but return at once, without
 * waiting for it to listen (h->pid is set): for killing it during start-up.
 * Reap it with harness_kill.
 */
int harness_start_nowait(struct harness *h);

/*
 * Send sig (SIGTERM or SIGINT) and wait up to timeout_ms for the daemon to
 * exit. Returns its exit status (0..255), 128+N if it died of signal N, or
 * -1 if it did not exit in time (it is then killed with SIGKILL).
 */
int harness_stop_signal(struct harness *h, int sig, int timeout_ms);

/* harness_stop_signal(h, SIGTERM, 20000). */
int harness_stop(struct harness *h);

/* SIGKILL the daemon and reap it: the crash. */
void harness_kill(struct harness *h);

/*
 * End the test's use of the harness: kill a daemon still running, print the
 * log's tail if failed is non-zero, remove the directory. Safe to call twice.
 */
void harness_finish(struct harness *h, int failed);

/*
 * Wait up to timeout_ms until the log of the daemon started last (the lines
 * after its start marker) holds a whole line containing needle. accrued
 * writes accrued.addr, which the start functions wait for, before some of
 * its start-up lines ("listening on" comes just after it), so a test that
 * reads such a line must wait for it rather than take the start's return
 * as proof that it is there. Returns 0 when the line is there; -1, after
 * printing why, on timeout or if the daemon exited without writing it.
 */
int harness_wait_log(const struct harness *h, const char *needle, int timeout_ms);

/* Print the last max_bytes of the daemon's log to stderr. */
void harness_dump_log(const struct harness *h, size_t max_bytes);

/* Connect with the admin key (accrue_connect). Returns accrue_connect's value. */
int harness_connect(const struct harness *h, accrue **out);

/* Connect with another API key. */
int harness_connect_key(const struct harness *h, const char *api_key, accrue **out);

/*
 * Run an arbitrary program without a shell: argv[0] is the path, argv is
 * NULL-terminated. Its stdout and stderr are captured into out/err (each
 * NUL-terminated, truncated to cap-1 bytes; either may be NULL to discard).
 * Waits up to timeout_ms, then kills it. Returns its exit status (0..255),
 * 128+N for death by signal N, or -1 if it could not be run or timed out.
 */
int harness_run(char *const argv[], char *out, size_t out_cap, char *err, size_t err_cap, int timeout_ms);

/*
 * Run $ACCRUECTL_BIN --server ADDR --key-file KEYFILE followed by the given
 * NULL-terminated arguments, capturing stdout and stderr as harness_run does
 * (timeout 20 s). Returns the exit status as harness_run does.
 */
int harness_ctl(const struct harness *h, char *out, size_t out_cap, char *err, size_t err_cap, ...);

/* Read a whole small file into buf (NUL-terminated). Returns bytes read or -1. */
long harness_read_file(const char *path, char *buf, size_t cap);

/*
 * Damage a file as a failing disk would: flip one bit of the last byte of
 * every copy of needle in path (LMDB copies a page on write, so stale
 * copies may sit in free pages besides the live one), then fsync. Returns
 * how many were flipped (0: none found), or -1 if the file cannot be
 * read or written.
 */
int harness_flip_in_file(const char *path, const char *needle);

/* Sleep for ms milliseconds. */
void harness_sleep_ms(int ms);

/* Monotonic clock in milliseconds. */
long long harness_now_ms(void);

#endif
