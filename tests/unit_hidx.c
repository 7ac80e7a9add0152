/*
 * unit_hidx.c - the hash index under insert, find, collisions, removal and growth.
 */
#include <stdint.h>

#include "check.h"
#include "hidx.h"

static int match_eq(const void *ctx, uint32_t value)
{
	return value == *(const uint32_t *)ctx;
}

int main(void)
{
	struct hidx h;
	uint32_t want;

	REQUIRE(hidx_init(&h, 0) == 0);
	CHECK_INT(hidx_find(&h, 42, NULL, NULL), HIDX_NONE);

	/* Grow well past the initial 16 slots; every entry stays findable. */
	for (uint32_t i = 0; i < 100000; i++)
		REQUIRE(hidx_insert(&h, (uint64_t)i * 0x9E3779B97F4A7C15ull, i) == 0);
	CHECK_INT(h.live, 100000);
	{
		uint32_t found = 0;
		for (uint32_t i = 0; i < 100000; i++)
			found += hidx_find(&h, (uint64_t)i * 0x9E3779B97F4A7C15ull, NULL, NULL) == i;
		CHECK_INT(found, 100000);
	}
	/* Load stays at or under 3/4. */
	CHECK(h.used * 4 <= (h.mask + 1) * 3);

	/* Several values under one hash: the match callback picks among them. */
	REQUIRE(hidx_insert(&h, 7, 1000001) == 0);
	REQUIRE(hidx_insert(&h, 7, 1000002) == 0);
	REQUIRE(hidx_insert(&h, 7, 1000003) == 0);
	want = 1000002;
	CHECK_INT(hidx_find(&h, 7, match_eq, &want), 1000002);
	want = 1000003;
	CHECK_INT(hidx_find(&h, 7, match_eq, &want), 1000003);
	want = 1000009;
	CHECK_INT(hidx_find(&h, 7, match_eq, &want), HIDX_NONE);

	/* Removal hides only that entry; the ones probed past it stay reachable. */
	CHECK_INT(hidx_remove(&h, 7, 1000001), 0);
	CHECK_INT(hidx_remove(&h, 7, 1000001), -1);
	want = 1000001;
	CHECK_INT(hidx_find(&h, 7, match_eq, &want), HIDX_NONE);
	want = 1000003;
	CHECK_INT(hidx_find(&h, 7, match_eq, &want), 1000003);

	/* Hash 0 is a valid hash (stored remapped), not an empty slot. */
	REQUIRE(hidx_insert(&h, 0, 555) == 0);
	want = 555;
	CHECK_INT(hidx_find(&h, 0, match_eq, &want), 555);
	hidx_free(&h);

	/* Many removals and re-inserts do not fill the table with tombstones. */
	REQUIRE(hidx_init(&h, 16) == 0);
	for (uint32_t round = 0; round < 1000; round++) {
		REQUIRE(hidx_insert(&h, 1000 + round, round) == 0);
		REQUIRE(hidx_remove(&h, 1000 + round, round) == 0);
	}
	CHECK_INT(h.live, 0);
	CHECK(h.mask + 1 <= 64);
	CHECK_INT(hidx_find(&h, 1999, NULL, NULL), HIDX_NONE);
	hidx_free(&h);

	/*
	 * Growth a little at a time: while a big table's entries move to the
	 * next one, every entry stays findable, insert_unique still finds the
	 * ones not moved yet, and a removal hides an entry wherever it is.
	 */
	REQUIRE(hidx_init(&h, 0) == 0);
	{
		const uint32_t n = 3000000;
		uint32_t found = 0, seen_moving = 0, uniq_refused = 0, removed_hidden = 0;
		for (uint32_t i = 0; i < n; i++) {
			REQUIRE(hidx_insert(&h, (uint64_t)i * 0x9E3779B97F4A7C15ull, i) == 0);
			if (h.old && i % 97 == 0) {
				uint32_t probe = i / 2, again;
				seen_moving++;
				/* An early entry, most likely still in the old table. */
				found += hidx_find(&h, (uint64_t)probe * 0x9E3779B97F4A7C15ull, match_eq, &probe) == probe;
				again = hidx_insert_unique(&h, (uint64_t)probe * 0x9E3779B97F4A7C15ull, 4000000000u, match_eq, &probe);
				uniq_refused += again == probe;
			}
		}
		CHECK(seen_moving > 100);
		CHECK_INT(found, seen_moving);
		CHECK_INT(uniq_refused, seen_moving);
		CHECK_INT(h.live, n);
		/* Remove every 10th entry, some of them mid-move. */
		for (uint32_t i = 0; i < n; i += 10)
			REQUIRE(hidx_remove(&h, (uint64_t)i * 0x9E3779B97F4A7C15ull, i) == 0);
		for (uint32_t i = n; i < n + 2000000; i++)
			REQUIRE(hidx_insert(&h, (uint64_t)i * 0x9E3779B97F4A7C15ull, i) == 0);
		found = 0;
		for (uint32_t i = 0; i < n + 2000000; i++) {
			uint32_t v = hidx_find(&h, (uint64_t)i * 0x9E3779B97F4A7C15ull, match_eq, &i);
			if (i < n && i % 10 == 0)
				removed_hidden += v == HIDX_NONE;
			else
				found += v == i;
		}
		CHECK_INT(removed_hidden, n / 10);
		CHECK_INT(found, n + 2000000 - n / 10);
		CHECK_INT(h.live, n + 2000000 - n / 10);
		CHECK(h.used * 4 <= (h.mask + 1) * 3);
	}
	hidx_free(&h);
	return check_done("unit_hidx");
}
