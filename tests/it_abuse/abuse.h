/*
 * abuse.h - what the hostile-client tests it_abuse_*.c share.
 *
 * Every hostile client there writes its own bytes on a raw socket (raw.h):
 * proto.h builds valid frames, which are then cut, damaged or sent in odd
 * pieces. On the daemon a test abuses, a well-behaved client (libaccrue,
 * the admin key) keeps accruing sales to a customer of its own between and
 * after the cases, and at the end that customer's balance, visits and spend
 * must be exactly the sales it was told were accrued: the daemon kept
 * serving others and the abuse applied nothing. abuse_start and
 * abuse_finish set that up and make that last check.
 *
 * Each case prints one line saying what it showed, "[ok]" or "[FAILED]"
 * (case_begin, case_end).
 */
#ifndef ACCRUE_TEST_ABUSE_H
#define ACCRUE_TEST_ABUSE_H

#include <stdint.h>
#include <sys/types.h>

#include "accrue.h"
#include "harness.h"
#include "raw.h"

/* How long a connection the server must close may take to close. */
#define CLOSE_WAIT_MS 5000
/* The request id of a PING that checks a connection is still served. */
#define PING_ID 0x0e0e0e0eu

/* The well-behaved client, on the daemon abuse_start started. */
extern accrue *serve;

/* Its customer and what it was told it accrued. */
struct abuse_ledger {
	uint64_t id;
	int64_t points;
	int64_t spend;
	uint64_t sales;
	int orders;
};
extern struct abuse_ledger ledger;

/*
 * Start the daemon the cases abuse on hh, connect the well-behaved client
 * and enrol its customer. Stops the test if any of it fails.
 */
void abuse_start(struct harness *hh, const char *name);

/*
 * The last case: the customer holds exactly what the well-behaved client
 * was told. Then close the client, stop the daemon (it must exit 0) and
 * finish hh.
 */
void abuse_finish(struct harness *hh);

/* Begin a case: its checks are judged together by case_end. */
void case_begin(void);

/* One line per case: what it showed, and whether every check in it passed. */
void case_end(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether a check failed since case_begin. */
int case_failed(void);

/* VmRSS of a process in KiB, or -1. */
long rss_kib(pid_t pid);

/* A reply must be there (got: raw_reply's value) with this status and echo this opcode and request id. */
void check_reply(const char *what, int got, const struct raw_reply *rep, int status, int opcode, uint32_t rid);

/* Read a reply within RAW_REPLY_WAIT_MS and check it as check_reply does; rep may be NULL. */
void expect(struct raw *r, const char *what, int status, int opcode, uint32_t rid, struct raw_reply *rep);

/* The server must close the connection within CLOSE_WAIT_MS, sending nothing more. */
void expect_closed(struct raw *r, const char *what);

/* The connection must still answer a PING. */
void expect_open(struct raw *r, const char *what);

/* Send one request and check its reply (rep may be NULL). Returns the status, or -1 with no reply. */
int call(struct raw *r, const char *what, uint8_t op, uint32_t rid, const struct raw_body *bd, int want,
	 struct raw_reply *rep);

/* One sale by the well-behaved client: it must be accrued, whatever happened before. */
void serve_sale(const char *after);

/* A sale made on a raw connection that the server acknowledged counts too. */
void ledger_add(int64_t amount, int64_t points);

/* The sale order at location must not exist: the abuse applied nothing. */
void check_no_order(const char *location, const char *order);

/* How many history entries a customer has. */
uint32_t history_length(accrue *a, uint64_t id);

#endif
