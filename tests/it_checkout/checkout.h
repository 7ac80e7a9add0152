/*
 * checkout.h - what the files of the it_checkout test share: the daemon and
 * the admin connection every section uses, the record of every customer
 * and sale made (for the durability section to compare across restarts),
 * the helpers that sell, look up and set the program, and the sections.
 *
 * it_checkout.c says what the test covers and runs the sections in order;
 * it_checkout/earning.c holds the rules of earning (earning, stamps,
 * multipliers, quotes), it_checkout/returns.c returns, guests and batches,
 * it_checkout/helpers.c the helpers. The helpers check as they go: a
 * failed call counts as a failed check and says what it was doing.
 */
#ifndef ACCRUE_TEST_CHECKOUT_H
#define ACCRUE_TEST_CHECKOUT_H

#include <stddef.h>
#include <stdint.h>

#include "accrue.h"
#include "harness.h"

#define LOC "store-1" /* where the single sales are booked */
#define GW "gw-1"     /* where the batch is booked */
#define DAY_S 86400LL
#define MAX_IDS 64
#define MAX_ORDERS 512
#define MAX_ENTRIES 512

extern struct harness h;
extern accrue *adm; /* the admin connection every section uses */

/* Everything the durability section compares: every customer and every sale made. */
struct checkout_order_ref {
	char loc[16];
	char id[32];
};
extern uint64_t all_ids[MAX_IDS];
extern int nids;
extern struct checkout_order_ref all_orders[MAX_ORDERS];
extern int norders;

/* Customers of the sections that the durability section looks at again. */
extern uint64_t m_gold, m_both;     /* tier gold; tier gold and groups vip and staff (multipliers) */
extern uint64_t guest_id, guest2_id; /* the guest enrolment turned into a member; one still a guest */

/* ---- helpers (helpers.c) ------------------------------------------------- */

/* "2026-12-01T00:00:00Z" for a whole second. */
void iso_time(int64_t seconds, char *buf, size_t cap);

/* ceil(a * b / c) for non-negative a, b and positive c: what rules.h says a return has taken back by now. */
int64_t ceil_share(int64_t a, int64_t b, int64_t c);

/* Add to the record of customers and sales the durability section compares. */
void remember_customer(uint64_t id);
void remember_order(const char *loc, const char *order_id);

/* Enrol a customer with this email (checked; stops the test if it fails) and remember it. */
uint64_t enrol(const char *email);

/* The customer as LOOKUP returns it (checked). */
struct accrue_customer lookup(uint64_t id);

/* Set a program setting (checked); "" restores its default. */
void set(const char *name, const char *value);

/* The value of one setting as PROGRAM_GET lists it, or "(absent)". */
const char *setting(const char *name, char *buf, size_t cap);

struct accrue_line line(const char *sku, const char *category, int64_t qty, int64_t amount);
struct accrue_sale sale_of(const char *loc, const char *order_id, int64_t time_us, int64_t amount,
			   const struct accrue_line *lines, uint32_t nlines);

/* Sell to ref at LOC; remembers the order when it was recorded. */
int sell_ref(const struct accrue_ref *ref, const char *order_id, int64_t time_us, int64_t amount,
	     const struct accrue_line *lines, uint32_t nlines, struct accrue_result *res);

/*
 * A sale that must be recorded and earn exactly want: the reply, the
 * balance, the visit and the spend it adds are all checked.
 */
struct accrue_result expect_sale(uint64_t id, const char *order_id, int64_t time_us, int64_t amount,
				 const struct accrue_line *lines, uint32_t nlines, int64_t want);

/* ORDER's reply (checked), in order_buf: 48 KiB, kept off the stack. */
extern struct accrue_order order_buf;
const struct accrue_order *order_of(const char *loc, const char *order_id);

/* The order's lines earned exactly want[0..n); returns what they add up to. */
int64_t order_lines_are(const char *loc, const char *order_id, const int64_t *want, uint32_t n);

/* The whole history of a customer, newest first, into hist. Returns the count. */
extern struct accrue_entry hist[MAX_ENTRIES];
uint32_t history_of(uint64_t id);

/* The history entry of customer id for order_id of type type, or NULL. Points into hist. */
const struct accrue_entry *entry_for(uint64_t id, int type, const char *order_id);

/* RETURN at LOC by amount, or by lines when nlines > 0; key NULL: libaccrue draws a fresh request key. */
int do_return(const uint8_t *key, const char *order_id, int64_t amount, const struct accrue_line *lines,
	      uint32_t nlines, struct accrue_return_result *rr);

/* ---- the sections ------------------------------------------------------ */

void test_earning(void);     /* earning.c */
void test_stamps(void);
void test_multipliers(void);
void test_quote(void);
void test_returns(void);     /* returns.c */
void test_guests(void);
void test_batch(void);

/* Request keys outlive the daemon: the return and the batch replay, applying nothing (returns.c). */
void check_keys_replay(const char *when);

#endif
