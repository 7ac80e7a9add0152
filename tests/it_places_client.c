/*
 * it_places_client.c - GROUP_RENAME through libaccrue: exactly once.
 *
 * A rename sent twice with one request key applies once: the second is a
 * replay with the first one's answer, and the counts do not move again,
 * before and after a crash and restart; another body under the used key is
 * KEY_REUSED. Also what the library refuses before anything is sent,
 * accrue_groups after the rename, and accrue_groups paging through more
 * groups than one reply holds.
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

/* Members of group name per accrue_groups; -1 when it is not listed. */
static long long members_of(accrue *a, const char *name)
{
	struct accrue_group_info *g = NULL;
	uint32_t n = 0;
	long long found = -1;

	CHECK_RC(a, accrue_groups(a, &g, &n), 0);
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(g[i].name, name) == 0)
			found = (long long)g[i].members;
	free(g);
	return found;
}

static void enrol_in(accrue *a, const char *email, const char *group1, const char *group2)
{
	struct accrue_customer c;
	struct accrue_ref ref;

	CHECK_RC(a, accrue_enrol(a, NULL, email, NULL, "A", "B", &c, NULL), 0);
	ref.kind = ACCRUE_REF_ID;
	ref.id = c.id;
	ref.text[0] = '\0';
	if (group1)
		CHECK_RC(a, accrue_group(a, NULL, &ref, 1, group1, NULL), 0);
	if (group2)
		CHECK_RC(a, accrue_group(a, NULL, &ref, 1, group2, NULL), 0);
}

/* More groups than one reply holds (500): accrue_groups pages through them all, in byte order. */
static void test_many_groups(accrue *a)
{
	struct accrue_group_info *g = NULL;
	uint32_t n = 0, ours = 0;
	char email[64], name[16];

	for (int c = 0; c < 33; c++) {
		struct accrue_customer cu;
		struct accrue_ref ref;

		snprintf(email, sizeof email, "many-%02d@example.com", c);
		CHECK_RC(a, accrue_enrol(a, NULL, email, NULL, "Many", "Groups", &cu, NULL), 0);
		ref.kind = ACCRUE_REF_ID;
		ref.id = cu.id;
		ref.text[0] = '\0';
		for (int i = 0; i < 16; i++) {
			snprintf(name, sizeof name, "m%03d", c * 16 + i);
			CHECK_RC(a, accrue_group(a, NULL, &ref, 1, name, NULL), 0);
		}
	}
	CHECK_RC(a, accrue_groups(a, &g, &n), 0);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			CHECK(strcmp(g[i - 1].name, g[i].name) < 0);
		if (g[i].name[0] == 'm' && strlen(g[i].name) == 4) {
			CHECK_INT(g[i].members, 1);
			ours++;
		}
	}
	CHECK_INT(ours, 33 * 16);
	free(g);
}

int main(void)
{
	accrue *a = NULL;
	uint8_t k[ACCRUE_KEY_SIZE];
	uint64_t moved = 0, members = 0;
	int replay = 0;

	REQUIRE(harness_start(&h, "it_places_client") == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	enrol_in(a, "a@example.com", "vip", NULL);
	enrol_in(a, "b@example.com", "vip", "gold");
	enrol_in(a, "c@example.com", "gold", NULL);
	enrol_in(a, "d@example.com", "vip", NULL);

	/* Refused here, before anything is sent. */
	CHECK_RC(a, accrue_group_rename(a, NULL, "", "gold", NULL, NULL, NULL), ACCRUE_E_INVALID);
	CHECK_RC(a, accrue_group_rename(a, NULL, "vip", NULL, NULL, NULL, NULL), ACCRUE_E_INVALID);

	memset(k, 0, sizeof k);
	k[0] = 0x51;
	/* A merge: b is in both and stays in gold once. */
	CHECK_RC(a, accrue_group_rename(a, k, "vip", "gold", &moved, &members, &replay), 0);
	CHECK_INT(moved, 2);
	CHECK_INT(members, 4);
	CHECK_INT(replay, 0);
	CHECK_RC(a, accrue_group_rename(a, k, "vip", "gold", &moved, &members, &replay), 0);
	CHECK_INT(moved, 2);
	CHECK_INT(members, 4);
	CHECK_INT(replay, 1);
	CHECK_INT(members_of(a, "gold"), 4);
	CHECK_INT(members_of(a, "vip"), -1);
	CHECK_RC(a, accrue_group_rename(a, k, "gold", "vip", NULL, NULL, NULL), ACCRUE_ST_KEY_REUSED);
	CHECK_RC(a, accrue_group_rename(a, NULL, "vip", "gold", NULL, NULL, NULL), ACCRUE_ST_NOT_FOUND);
	CHECK_RC(a, accrue_group_rename(a, NULL, "gold", "gold", NULL, NULL, NULL), ACCRUE_ST_BAD_REQUEST);
	CHECK_RC(a, accrue_group_rename(a, NULL, "gold", "has space", NULL, NULL, NULL), ACCRUE_ST_BAD_REQUEST);

	/* A crash: the request key is still known, and nothing applies twice. */
	accrue_close(a);
	a = NULL;
	harness_kill(&h);
	REQUIRE(harness_restart(&h) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	CHECK_RC(a, accrue_group_rename(a, k, "vip", "gold", &moved, &members, &replay), 0);
	CHECK_INT(moved, 2);
	CHECK_INT(replay, 1);
	CHECK_INT(members_of(a, "gold"), 4);
	CHECK_INT(members_of(a, "vip"), -1);
	test_many_groups(a);

	accrue_close(a);
	CHECK_INT(harness_stop(&h), 0);
	harness_finish(&h, check_failures);
	return check_done("it_places_client");
}
