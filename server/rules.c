/*
 * rules.c - the loyalty program's settings and earning arithmetic (see rules.h).
 */
#include "rules.h"

#include <string.h>

/* GCC and clang both have it; exact products of two int64 need 128 bits. */
__extension__ typedef __int128 wide_int;

void rules_init_default(struct rules *r)
{
	memset(r, 0, sizeof *r);
	r->unit = RULES_UNIT_POINTS;
	r->earn_points = 1;
	r->earn_per = 100;
	r->rounding = RULES_ROUND_DOWN;
	r->stamps_per_visit = 1;
	r->below_zero = RULES_BELOW_ZERO_ALLOW;
	r->guests = RULES_GUESTS_REFUSE;
}

int rules_points_for_sale(const struct rules *r, int64_t amount, int64_t *points)
{
	wide_int p;

	if (amount < 0 || r->earn_points < 0 || r->earn_per <= 0)
		return RULES_E_RANGE;
	/* Both factors are non-negative, so truncation is the floor. */
	p = (wide_int)amount * r->earn_points / r->earn_per;
	if (p > INT64_MAX)
		return RULES_E_RANGE;
	*points = (int64_t)p;
	return RULES_OK;
}

int rules_add(int64_t a, int64_t b, int64_t *sum)
{
	if (__builtin_add_overflow(a, b, sum))
		return RULES_E_RANGE;
	return RULES_OK;
}
