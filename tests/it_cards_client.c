/*
 * it_cards_client.c - the customer book through libaccrue: exactly once.
 *
 * EDIT, CARD and OPTOUT are mutations with a request key: sent twice with
 * one key they apply once (one journal entry, the same customer in the
 * reply), before and after a crash and restart; another body under a used
 * key is KEY_REUSED. Also the library's own checks: "card:NUMBER" parsed as
 * a card reference, and what is refused before anything is sent.
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
	key[0] = 0xCA;
	key[1] = tag;
}

static void test_ref_parse(void)
{
	struct accrue_ref ref;
	char long_card[64];

	CHECK_INT(accrue_ref_parse("card:4000-1234", &ref), 0);
	CHECK_INT(ref.kind, ACCRUE_REF_CARD);
	CHECK_STR(ref.text, "4000-1234");
	CHECK_INT(accrue_ref_parse("CARD:77", &ref), 0);
	CHECK_INT(ref.kind, ACCRUE_REF_CARD);
	CHECK_INT(accrue_ref_parse("card:", &ref), ACCRUE_E_INVALID);
	memset(long_card, '7', sizeof long_card);
	memcpy(long_card, "card:", 5);
	long_card[5 + ACCRUE_MAX_CARD + 1] = '\0';
	CHECK_INT(accrue_ref_parse(long_card, &ref), ACCRUE_E_INVALID);
	long_card[5 + ACCRUE_MAX_CARD] = '\0';
	CHECK_INT(accrue_ref_parse(long_card, &ref), 0);
	/* Still an email and a phone number. */
	CHECK_INT(accrue_ref_parse("cardholder@example.com", &ref), 0);
	CHECK_INT(ref.kind, ACCRUE_REF_EMAIL);
}

static void test_local_refusals(accrue *a, const struct accrue_ref *ref)
{
	struct accrue_edit none = {NULL, NULL, NULL, NULL};
	char big[128];

	memset(big, 'X', sizeof big);
	big[ACCRUE_MAX_CARD + 1] = '\0';
	CHECK_RC(a, accrue_card(a, NULL, ref, 1, big, NULL), ACCRUE_E_INVALID);
	CHECK_RC(a, accrue_card(a, NULL, ref, 1, "", NULL), ACCRUE_E_INVALID);
	CHECK_RC(a, accrue_edit(a, NULL, ref, &none, NULL), ACCRUE_E_INVALID);
	CHECK_RC(a, accrue_edit(a, NULL, ref, NULL, NULL), ACCRUE_E_INVALID);
	memset(big, 'X', sizeof big);
	big[65] = '\0';
	CHECK_RC(a, accrue_optout(a, NULL, ref, 1, big, NULL), ACCRUE_E_INVALID);
}

/* Each mutation twice under one key: applied once. */
static void send_twice(accrue *a, const struct accrue_ref *ann)
{
	struct accrue_customer c1, c2;
	struct accrue_edit e = {"Ann.Other@Example.com", NULL, NULL, "Other"};
	uint8_t k[ACCRUE_KEY_SIZE];

	key_of(k, 1);
	CHECK_RC(a, accrue_card(a, k, ann, 1, "4000 0001", &c1), 0);
	CHECK_RC(a, accrue_card(a, k, ann, 1, "4000 0001", &c2), 0);
	CHECK_INT(c1.ncards, 1);
	CHECK_INT(c2.ncards, 1);
	CHECK_STR(c2.cards[0], "40000001");
	CHECK_RC(a, accrue_card(a, k, ann, 1, "4000 0002", NULL), ACCRUE_ST_KEY_REUSED);

	key_of(k, 2);
	CHECK_RC(a, accrue_edit(a, k, ann, &e, &c1), 0);
	CHECK_STR(c1.email, "ann.other@example.com");
	CHECK_STR(c1.last_name, "Other");
	CHECK_RC(a, accrue_edit(a, k, ann, &e, &c2), 0);
	CHECK_STR(c2.email, "ann.other@example.com");

	key_of(k, 3);
	CHECK_RC(a, accrue_optout(a, k, ann, 1, "sms STOP", &c1), 0);
	CHECK_INT(c1.opted_out, 1);
	CHECK(c1.optout_us > 0);
	CHECK_STR(c1.optout_source, "sms STOP");
	CHECK_RC(a, accrue_optout(a, k, ann, 1, "sms STOP", &c2), 0);
	CHECK_INT(c2.optout_us, c1.optout_us);

	CHECK_INT(entries_of(a, ann, ACCRUE_ENTRY_CARD), 1);
	CHECK_INT(entries_of(a, ann, ACCRUE_ENTRY_EDIT), 1);
	CHECK_INT(entries_of(a, ann, ACCRUE_ENTRY_OPTOUT), 1);
}

int main(void)
{
	accrue *a = NULL;
	struct accrue_customer ann_c, c;
	struct accrue_ref ann, by_card;
	struct accrue_edit e = {"Ann.Other@Example.com", NULL, NULL, "Other"};
	uint8_t k[ACCRUE_KEY_SIZE];

	test_ref_parse();
	REQUIRE(harness_start(&h, "it_cards_client") == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	CHECK_RC(a, accrue_enrol(a, NULL, "ann@example.com", NULL, "Ann", "Lee", &ann_c, NULL), 0);
	ann.kind = ACCRUE_REF_ID;
	ann.id = ann_c.id;
	ann.text[0] = '\0';
	test_local_refusals(a, &ann);
	send_twice(a, &ann);

	/* A crash: the request keys are still known, and nothing applies twice. */
	accrue_close(a);
	a = NULL;
	harness_kill(&h);
	REQUIRE(harness_restart(&h) == 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	key_of(k, 1);
	CHECK_RC(a, accrue_card(a, k, &ann, 1, "4000 0001", &c), 0);
	CHECK_INT(c.ncards, 1);
	CHECK_RC(a, accrue_card(a, k, &ann, 0, "4000 0001", NULL), ACCRUE_ST_KEY_REUSED);
	key_of(k, 2);
	CHECK_RC(a, accrue_edit(a, k, &ann, &e, &c), 0);
	key_of(k, 3);
	CHECK_RC(a, accrue_optout(a, k, &ann, 0, NULL, NULL), ACCRUE_ST_KEY_REUSED);
	CHECK_INT(entries_of(a, &ann, ACCRUE_ENTRY_CARD), 1);
	CHECK_INT(entries_of(a, &ann, ACCRUE_ENTRY_EDIT), 1);
	CHECK_INT(entries_of(a, &ann, ACCRUE_ENTRY_OPTOUT), 1);

	/* The card names Ann, with everything the book keeps. */
	CHECK_INT(accrue_ref_parse("card:4000-0001", &by_card), 0);
	CHECK_RC(a, accrue_lookup(a, &by_card, &c), 0);
	CHECK_INT(c.id, ann_c.id);
	CHECK_STR(c.email, "ann.other@example.com");
	CHECK_INT(c.opted_out, 1);
	CHECK_STR(c.optout_source, "sms STOP");

	accrue_close(a);
	CHECK_INT(harness_stop(&h), 0);
	harness_finish(&h, check_failures);
	return check_done("it_cards_client");
}
