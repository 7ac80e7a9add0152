/*
 * unit_rules.c - points arithmetic at its edges: zero, rounding, huge amounts, overflow.
 */
#include <stdint.h>

#include "check.h"
#include "rules.h"

__extension__ typedef unsigned __int128 u128;

int main(void)
{
	struct rules r;
	int64_t p = -1, s;

	rules_init_default(&r);
	CHECK_INT(rules_points_for_sale(&r, 0, &p), RULES_OK);
	CHECK_INT(p, 0);
	CHECK_INT(rules_points_for_sale(&r, 99, &p), RULES_OK);
	CHECK_INT(p, 0);
	CHECK_INT(rules_points_for_sale(&r, 100, &p), RULES_OK);
	CHECK_INT(p, 1);
	CHECK_INT(rules_points_for_sale(&r, 1299, &p), RULES_OK);
	CHECK_INT(p, 12);
	CHECK_INT(rules_points_for_sale(&r, INT64_MAX, &p), RULES_OK);
	CHECK_INT(p, INT64_MAX / 100);
	p = 77;
	CHECK_INT(rules_points_for_sale(&r, -1, &p), RULES_E_RANGE);
	CHECK_INT(p, 77);

	/* 5 points per 1.00: the product would overflow 64 bits before the division. */
	r.earn_points = 5;
	r.earn_per = 100;
	CHECK_INT(rules_points_for_sale(&r, INT64_MAX, &p), RULES_OK);
	CHECK_INT(p, (int64_t)(((u128)INT64_MAX * 5) / 100));
	CHECK_INT(rules_points_for_sale(&r, 1999, &p), RULES_OK);
	CHECK_INT(p, 99);

	/* A rate that would give more than INT64_MAX points is refused, not wrapped. */
	r.earn_points = 1000;
	r.earn_per = 1;
	CHECK_INT(rules_points_for_sale(&r, INT64_MAX / 10, &p), RULES_E_RANGE);
	r.earn_per = 0;
	CHECK_INT(rules_points_for_sale(&r, 5, &p), RULES_E_RANGE);

	CHECK_INT(rules_add(INT64_MAX - 1, 1, &s), RULES_OK);
	CHECK_INT(s, INT64_MAX);
	CHECK_INT(rules_add(INT64_MAX, 1, &s), RULES_E_RANGE);
	CHECK_INT(rules_add(INT64_MIN, -1, &s), RULES_E_RANGE);
	CHECK_INT(rules_add(-5, 3, &s), RULES_OK);
	CHECK_INT(s, -2);
	return check_done("unit_rules");
}
