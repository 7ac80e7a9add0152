/*
 * powerloss_log.h - the record format of the power-loss log.
 *
 * The shim (shim.c, LD_PRELOADed into accrued) appends one record for every
 * call that changes or flushes a file in the watched data directory, after
 * the call has returned, and the test driver (it_powerloss) appends its own
 * records to the same file: a sale about to be sent, a sale acknowledged, a
 * daemon killed. Both open the log with O_APPEND and write whole records in
 * one write(2), so the log is one total order of events, and it respects
 * causality: a reply is sent only after the daemon's syncs returned, and
 * the driver logs the acknowledgement only after it has the reply, so every
 * sync an acknowledgement relied on comes before it in the log.
 *
 * The bytes of each write go to a second file (the data file) and the
 * record says where; writes of zeros only (the daemon's preallocation)
 * store nothing and carry PL_F_ZERO.
 */
#ifndef ACCRUE_POWERLOSS_LOG_H
#define ACCRUE_POWERLOSS_LOG_H

#include <stdint.h>

#define PL_MAGIC 0x31524c50u /* "PLR1" */
#define PL_NAME_MAX 48       /* a file name in the data directory, NUL-terminated */

/* Environment of the daemon under the shim. */
#define PL_ENV_LOG "POWERLOSS_LOG"   /* the log file, appended to */
#define PL_ENV_DATA "POWERLOSS_DATA" /* the data file, appended to */
#define PL_ENV_DIR "POWERLOSS_DIR"   /* the watched directory, an absolute path without symlinks */
/*
 * POWERLOSS_BUSY: a file of at least 4 bytes that the shim maps shared and
 * whose first uint32_t it holds at 1 from before a watched call until that
 * call's record is written. The driver stops the daemon (SIGSTOP) and
 * kills it only while it reads 0, so a SIGKILL never lands between a call
 * taking effect and its record: the log misses nothing a later daemon sees.
 */
#define PL_ENV_BUSY "POWERLOSS_BUSY"
/*
 * POWERLOSS_LIE: break durability on purpose, to prove the test notices.
 *   sync  fsync, fdatasync, syncfs and sync return 0 and do nothing, so
 *         only O_DSYNC writes (LMDB's meta page) reach the disk: the meta
 *         page can then name pages that never got there;
 *   all   that, and O_DSYNC writes are logged as ordinary writes, as if
 *         the disk acknowledged writes it only cached.
 */
#define PL_ENV_LIE "POWERLOSS_LIE"

enum pl_op {
	PL_WRITE = 1,     /* off, len, data_off; flags PL_F_DSYNC, PL_F_ZERO */
	PL_TRUNCATE = 2,  /* off: the new length */
	PL_FALLOCATE = 3, /* off, len; arg: the fallocate mode */
	PL_SYNC = 4,      /* fsync or fdatasync of name (PL_F_LIED: it did nothing) */
	PL_DIRSYNC = 5,   /* fsync of the watched directory itself */
	PL_SYNC_ALL = 6,  /* sync() or syncfs() */
	PL_CREATE = 7,    /* open with O_CREAT made name */
	PL_RENAME = 8,    /* name to name2 */
	PL_UNLINK = 9,    /* name */
	PL_UNMODELLED = 10, /* a call the model cannot replay (a writable shared mapping,
			       copy_file_range ...): name2 says which */
	PL_SYNC_RANGE = 11, /* sync_file_range, msync: flush hints with no durability promise */
	/* Written by the driver. */
	PL_SEND = 64,  /* arg: the sale about to be sent */
	PL_ACK = 65,   /* arg: the sale acknowledged; off: its journal seq */
	PL_MARK = 66,  /* name: what the driver did (start, kill, stop) */
};

enum pl_flag {
	PL_F_DSYNC = 1, /* written through an O_DSYNC or O_SYNC descriptor, or with RWF_DSYNC: durable on return */
	PL_F_ZERO = 2,  /* every byte written was zero: nothing in the data file */
	PL_F_LIED = 4,  /* the shim dropped this call's durability (POWERLOSS_LIE) */
	PL_F_ENROL = 8, /* PL_SEND, PL_ACK: arg is a customer's enrolment, not a sale */
};

struct pl_record {
	uint32_t magic;
	uint16_t op;
	uint16_t flags;
	uint32_t pid;
	uint32_t spare;
	uint64_t off;
	uint64_t len;
	uint64_t data_off;
	uint64_t arg;
	char name[PL_NAME_MAX];
	char name2[PL_NAME_MAX];
};

#endif
