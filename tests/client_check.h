/*
 * client_check.h - what the client-side integration tests share: naming a
 * customer, the wall clock, fresh request keys, and checks of a libaccrue
 * call that print the server's words when they fail.
 */
#ifndef ACCRUE_CLIENT_CHECK_H
#define ACCRUE_CLIENT_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accrue.h"
#include "check.h"

static inline struct accrue_ref by_id(uint64_t id)
{
	struct accrue_ref r;
	memset(&r, 0, sizeof r);
	r.kind = ACCRUE_REF_ID;
	r.id = id;
	return r;
}

static inline struct accrue_ref by_text(int kind, const char *text)
{
	struct accrue_ref r;
	memset(&r, 0, sizeof r);
	r.kind = kind;
	snprintf(r.text, sizeof r.text, "%s", text);
	return r;
}

static inline int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void new_key(uint8_t key[ACCRUE_KEY_SIZE])
{
	REQUIRE(accrue_key_random(key) == 0);
}

/* The server's message must mention what the user needs to see. */
#define CHECK_MSG_HAS(a, needle)                                                                   \
	do {                                                                                       \
		const char *msg_ = accrue_message(a);                                              \
		CHECK(msg_ != NULL && strstr(msg_, needle) != NULL);                               \
		if (msg_ == NULL || strstr(msg_, needle) == NULL)                                  \
			fprintf(stderr, "    message was \"%s\", expected it to contain \"%s\"\n",  \
				msg_ ? msg_ : "(null)", needle);                                   \
	} while (0)

/* A status check that also prints the server's message when it fails. */
#define CHECK_RC(a, expr, want)                                                                    \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		CHECK_INT(rc_, want);                                                              \
		if (rc_ != (want))                                                                 \
			fprintf(stderr, "    got %s: %s\n", accrue_strerror(rc_),                   \
				(a) ? accrue_message(a) : "");                                     \
	} while (0)

/* How many entries of type the customer's history holds (its newest 100). */
static inline int entries_of(accrue *a, const struct accrue_ref *ref, int type)
{
	static struct accrue_entry page[100];
	uint32_t n = 0;
	uint64_t next = 0;
	int count = 0;

	CHECK_RC(a, accrue_history(a, ref, 0, page, 100, &n, &next), 0);
	for (uint32_t i = 0; i < n; i++)
		count += page[i].type == type;
	return count;
}

#endif
