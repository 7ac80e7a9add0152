/*
 * rules.h - how many points a sale earns.
 *
 * Points = floor(amount x rate), with the rate held as a fraction of whole
 * points per minor unit (default 1 point per 100 minor units, i.e. one point
 * per 1.00). The arithmetic is exact: it never goes through floating point,
 * and a result that would not fit is refused, never wrapped.
 */
#ifndef ACCRUE_RULES_H
#define ACCRUE_RULES_H

#include <stdint.h>

struct rules {
	int64_t points_num;  /* points ... */
	int64_t amount_den;  /* ... per this many minor units */
};

#define RULES_OK 0
#define RULES_E_RANGE -1 /* negative amount, or a result that does not fit */

void rules_init_default(struct rules *r);

/* Points for a sale of amount minor units (>= 0): RULES_OK or RULES_E_RANGE. */
int rules_points_for_sale(const struct rules *r, int64_t amount, int64_t *points);

/* *sum = a + b, or RULES_E_RANGE on signed overflow. */
int rules_add(int64_t a, int64_t b, int64_t *sum);

#endif
