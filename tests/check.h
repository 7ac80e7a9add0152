/*
 * check.h - the assertions every accrue test uses.
 *
 * A failed check prints where and what, and the test process exits 1 at the
 * end of main through check_done(); a check never aborts half way, so one
 * run reports every failure it meets.
 *
 * The counters are defined once, in check.c, which every test links: a test
 * built from several files (see CMakeLists.txt) counts the checks of all of
 * them, and a failure in any of them fails the test.
 */
#ifndef ACCRUE_CHECK_H
#define ACCRUE_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int check_failures;
extern int check_count;

#define CHECK(cond)                                                                    \
	do {                                                                           \
		check_count++;                                                         \
		if (!(cond)) {                                                         \
			check_failures++;                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                      \
	} while (0)

#define CHECK_INT(a, b)                                                                \
	do {                                                                           \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);        \
		check_count++;                                                         \
		if (check_a_ != check_b_) {                                            \
			check_failures++;                                              \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
				#a, #b, check_a_, check_b_);                           \
		}                                                                      \
	} while (0)

#define CHECK_STR(a, b)                                                                \
	do {                                                                           \
		const char *check_a_ = (a), *check_b_ = (b);                           \
		check_count++;                                                         \
		if (strcmp(check_a_, check_b_) != 0) {                                 \
			check_failures++;                                              \
			fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, \
				__LINE__, #a, #b, check_a_, check_b_);                 \
		}                                                                      \
	} while (0)

/* Stop the test at once (a precondition for everything after it failed). */
#define REQUIRE(cond)                                                                  \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

static inline int check_done(const char *name)
{
	if (check_failures) {
		fprintf(stderr, "%s: %d of %d checks failed\n", name, check_failures, check_count);
		return 1;
	}
	printf("%s: %d checks passed\n", name, check_count);
	return 0;
}

#endif
