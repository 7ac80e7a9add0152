/*
 * it_scrub.c - the scrubber finds damage that happens while accrued serves.
 *
 * A daemon scrubbing fast (--scrub-rate 200000, passes back to back) logs a
 * clean pass over a ledger with a journal tail and a checkpoint. Then
 * bytes of data.mdb are flipped under it, as a failing disk would: first
 * in a sale's journal record and its order, then in a customer's snapshot. Each is named
 * in the log by the next pass (record seq; database and customer id), and
 * the pass that found it counts it; reads of undamaged customers go on.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "client_check.h"
#include "harness.h"

/* A pass over this small ledger takes well under a second; ASan on a busy machine may take far longer. */
#define SCRUB_WAIT_MS 60000

static struct harness h;

/* One figure of STATS, or -1 when the call fails or the name is missing. */
static int64_t stat_of(accrue *a, const char *name)
{
	struct accrue_setting *st = NULL;
	uint32_t n = 0;
	int64_t v = -1;

	if (accrue_stats(a, &st, &n) == 0)
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(st[i].name, name) == 0)
				v = strtoll(st[i].value, NULL, 10);
	free(st);
	return v;
}

/* Wait (bounded) until the scrub's last full pass counts at least n damaged items. */
static int64_t wait_damaged_pass(accrue *a, int64_t n)
{
	long long until = harness_now_ms() + SCRUB_WAIT_MS;
	int64_t d;

	while ((d = stat_of(a, "scrub.last_damaged")) >= 0 && d < n && harness_now_ms() < until)
		harness_sleep_ms(20);
	return d;
}

int main(void)
{
	const char *args[] = {"--scrub-rate", "200000", "--scrub-pause", "0", NULL};
	char data_mdb[HARNESS_PATH_MAX + 16], want[200];
	struct accrue_customer c;
	struct accrue_result r;
	uint64_t ids[3], sale_seq = 0;
	uint8_t key[ACCRUE_KEY_SIZE];
	accrue *a = NULL;
	int64_t balance0;

	REQUIRE(harness_start_args(&h, "it_scrub", args) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	for (int i = 0; i < 3; i++) {
		char email[64];
		snprintf(email, sizeof email, "scrub-%d@example.com", i);
		new_key(key);
		CHECK_RC(a, accrue_enrol(a, key, email, NULL, "Scrub", "Test", &c, NULL), 0);
		ids[i] = c.id;
	}
	for (int i = 0; i < 20; i++) {
		char order[32];
		snprintf(order, sizeof order, "scrub-order-%02d-x", i);
		new_key(key);
		CHECK_RC(a, accrue_accrue(a, key, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = ids[i % 3]}, NULL, order,
					  1000 + i, &r),
			 0);
		if (i == 4)
			sale_seq = r.seq;
	}
	accrue_close(a);
	/* A checkpoint (SIGTERM writes one), then a start that scrubs it. */
	REQUIRE(harness_stop(&h) == 0);
	REQUIRE(harness_restart(&h) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	CHECK_RC(a, accrue_lookup(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = ids[1]}, &c), 0);
	balance0 = c.balance;
	CHECK(harness_wait_log(&h, "scrub: pass 1 read ", SCRUB_WAIT_MS) == 0);
	CHECK(harness_wait_log(&h, ": clean, 0 damaged", SCRUB_WAIT_MS) == 0);
	/* STATS tells the same: a full pass, when, what it read, nothing damaged. */
	{
		long long now_us = (long long)time(NULL) * 1000000;
		char out[4096];

		CHECK_INT(stat_of(a, "scrub.running"), 1);
		CHECK(stat_of(a, "scrub.passes") >= 1);
		CHECK_INT(stat_of(a, "scrub.last_damaged"), 0);
		/* 3 enrolments and 20 sales, all in the journal. */
		CHECK(stat_of(a, "scrub.last_records") >= 23);
		CHECK(stat_of(a, "scrub.last_snapshots") >= 3 + 20);
		CHECK(stat_of(a, "scrub.last_end_us") > now_us - 600 * 1000000LL);
		CHECK(stat_of(a, "scrub.last_end_us") <= now_us + 1000000);
		CHECK_INT(stat_of(a, "customers"), 3);
		CHECK(stat_of(a, "checkpoint.seq") >= 23);
		CHECK(harness_ctl(&h, out, sizeof out, NULL, 0, "stats", NULL) == 0);
		CHECK(strstr(out, "scrub.passes") != NULL);
		CHECK(strstr(out, "scrub.last_damaged") != NULL);
	}

	/* A failing disk under a running daemon: a sale's order id is in its
	 * journal record and in the order snapshot (and perhaps in a page LMDB
	 * freed, which nothing reads). */
	snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", h.data);
	CHECK(harness_flip_in_file(data_mdb, "scrub-order-04-x") >= 2);
	snprintf(want, sizeof want, "scrub: journal record %llu is damaged: record checksum mismatch",
		 (unsigned long long)sale_seq);
	CHECK(harness_wait_log(&h, want, SCRUB_WAIT_MS) == 0);
	snprintf(want, sizeof want, "scrub: snapshot in orders, entry %llu, is damaged: checksum mismatch",
		 (unsigned long long)sale_seq);
	CHECK(harness_wait_log(&h, want, SCRUB_WAIT_MS) == 0);

	/* A customer's email is in its ENROL record and in its snapshot. */
	CHECK(harness_flip_in_file(data_mdb, "scrub-2@example.com") >= 2);
	snprintf(want, sizeof want, "scrub: snapshot in customers, entry %llu, is damaged: checksum mismatch",
		 (unsigned long long)ids[2]);
	CHECK(harness_wait_log(&h, want, SCRUB_WAIT_MS) == 0);
	CHECK(harness_wait_log(&h, " damaged", SCRUB_WAIT_MS) == 0);
	CHECK(harness_wait_log(&h, "journal records and", SCRUB_WAIT_MS) == 0);
	/* A full pass after both counts them all: the sale's record and its
	 * order, the customer's snapshot and ENROL record. */
	CHECK(wait_damaged_pass(a, 4) >= 4);

	/* Serving goes on: an undamaged customer reads as before. */
	CHECK_RC(a, accrue_lookup(a, &(struct accrue_ref){.kind = ACCRUE_REF_ID, .id = ids[1]}, &c), 0);
	CHECK_INT(c.balance, balance0);
	accrue_close(a);
	harness_finish(&h, check_failures);
	printf("it_scrub: %d of %d checks failed\n", check_failures, check_count);
	return check_failures != 0;
}
