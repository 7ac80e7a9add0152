/*
 * rules.c - earning arithmetic (see rules.h).
 */
#include "rules.h"

/* GCC and clang both have it; exact products of two int64 need 128 bits. */
__extension__ typedef __int128 wide_int;

void rules_init_default(struct rules *r)
{
	r->points_num = 1;
	r->amount_den = 100;
}

int rules_points_for_sale(const struct rules *r, int64_t amount, int64_t *points)
{
	wide_int p;

	if (amount < 0 || r->points_num < 0 || r->amount_den <= 0)
		return RULES_E_RANGE;
	/* Both factors are non-negative, so truncation is the floor. */
	p = (wide_int)amount * r->points_num / r->amount_den;
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
