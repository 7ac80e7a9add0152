/*
 * it_archive_client.c - ARCHIVE and MERGE through libaccrue: exactly once.
 *
 * Each is a mutation with a request key: sent twice with one key it applies
 * once (one journal entry, the same customer in the reply, the points moved
 * once), before and after a crash and restart; another body under a used
 * key is KEY_REUSED; a new key for a customer archived already is
 * NOT_FOUND saying so. Also what the library refuses before sending.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"

static struct harness h;

static void key_of(uint8_t key[ACCRUE_KEY_SIZE], uint8_t tag)
{
	memset(key, 0, ACCRUE_KEY_SIZE);
	key[0] = 0xA5;
	key[1] = tag;
}

static uint64_t enrol(accrue *a, const char *email, int64_t points)
{
	struct accrue_customer c;
	struct accrue_result res;
	struct accrue_ref r;

	CHECK_RC(a, accrue_enrol(a, NULL, email, NULL, "Test", "Person", &c, NULL), 0);
	r = by_id(c.id);
	if (points)
		CHECK_RC(a, accrue_adjust(a, NULL, &r, points, "start", NULL, &res), 0);
	return c.id;
}

/* The merge and the archive, each sent twice under one key, and checked. */
static void twice(accrue *a, uint64_t keep, uint64_t drop, uint64_t gone)
{
	struct accrue_ref k = by_id(keep), d = by_id(drop), g = by_id(gone);
	struct accrue_customer c1, c2;
	uint8_t key[ACCRUE_KEY_SIZE];

	key_of(key, 1);
	CHECK_RC(a, accrue_merge(a, key, &k, &d, &c1), 0);
	CHECK_INT(c1.id, keep);
	CHECK_INT(c1.balance, 300);
	CHECK_RC(a, accrue_merge(a, key, &k, &d, &c2), 0);
	CHECK_INT(c2.id, keep);
	CHECK_INT(c2.balance, 300);
	CHECK_RC(a, accrue_merge(a, key, &d, &k, NULL), ACCRUE_ST_KEY_REUSED);
	/* Under a new key the dropped customer is gone, and says so. */
	CHECK_RC(a, accrue_merge(a, NULL, &k, &d, NULL), ACCRUE_ST_NOT_FOUND);
	CHECK_MSG_HAS(a, "merged into");
	CHECK_RC(a, accrue_lookup(a, &d, &c2), 0);
	CHECK_INT(c2.archived, 1);
	CHECK_INT(c2.merged_into, keep);
	CHECK_INT(c2.balance, 0);
	CHECK_STR(c2.email, "");

	key_of(key, 2);
	CHECK_RC(a, accrue_archive(a, key, &g, &c1), 0);
	CHECK_INT(c1.archived, 1);
	CHECK_INT(c1.balance, 50); /* the amounts stay under the id */
	CHECK_RC(a, accrue_archive(a, key, &g, &c2), 0);
	CHECK_INT(c2.archived, 1);
	CHECK_RC(a, accrue_archive(a, key, &k, NULL), ACCRUE_ST_KEY_REUSED);
	CHECK_RC(a, accrue_archive(a, NULL, &g, NULL), ACCRUE_ST_NOT_FOUND);
	CHECK_MSG_HAS(a, "archived");

	CHECK_INT(entries_of(a, &k, ACCRUE_ENTRY_MERGE), 1);
	CHECK_INT(entries_of(a, &d, ACCRUE_ENTRY_ARCHIVE), 1);
	CHECK_INT(entries_of(a, &g, ACCRUE_ENTRY_ARCHIVE), 1);
}

int main(void)
{
	accrue *a = NULL;
	struct accrue_customer c;
	struct accrue_ref k, d, g, bad;
	uint64_t keep, drop, gone;
	uint8_t key[ACCRUE_KEY_SIZE];

	REQUIRE(harness_start(&h, "it_archive_client") == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	keep = enrol(a, "keep@example.com", 100);
	drop = enrol(a, "drop@example.com", 200);
	gone = enrol(a, "gone@example.com", 50);
	k = by_id(keep);
	d = by_id(drop);
	g = by_id(gone);

	/* Refused before anything is sent, or by the server for the same customer twice. */
	memset(&bad, 0, sizeof bad);
	bad.kind = 99;
	CHECK_RC(a, accrue_archive(a, NULL, &bad, NULL), ACCRUE_E_INVALID);
	CHECK_RC(a, accrue_merge(a, NULL, &k, &bad, NULL), ACCRUE_E_INVALID);
	CHECK_RC(a, accrue_merge(a, NULL, &k, &k, NULL), ACCRUE_ST_BAD_REQUEST);

	twice(a, keep, drop, gone);

	/* A crash: the request keys are still known, and nothing applies twice. */
	accrue_close(a);
	a = NULL;
	harness_kill(&h);
	REQUIRE(harness_restart(&h) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	key_of(key, 1);
	CHECK_RC(a, accrue_merge(a, key, &k, &d, &c), 0);
	CHECK_INT(c.balance, 300);
	CHECK_RC(a, accrue_merge(a, key, &d, &k, NULL), ACCRUE_ST_KEY_REUSED);
	key_of(key, 2);
	CHECK_RC(a, accrue_archive(a, key, &g, &c), 0);
	CHECK_INT(c.archived, 1);
	CHECK_INT(c.balance, 50);
	CHECK_INT(entries_of(a, &k, ACCRUE_ENTRY_MERGE), 1);
	CHECK_INT(entries_of(a, &d, ACCRUE_ENTRY_ARCHIVE), 1);
	/* The archived may not be changed, and their email is free again. */
	{
		struct accrue_result res;
		CHECK_RC(a, accrue_adjust(a, NULL, &g, 5, NULL, NULL, &res), ACCRUE_ST_NOT_FOUND);
	}
	CHECK_RC(a, accrue_enrol(a, NULL, "gone@example.com", NULL, NULL, NULL, &c, NULL), 0);
	CHECK(c.id != gone);

	accrue_close(a);
	CHECK_INT(harness_stop(&h), 0);
	harness_finish(&h, check_failures);
	return check_done("it_archive_client");
}
