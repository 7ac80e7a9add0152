/*
 * places.c - group member counts and location sales (see places.h).
 */
#include "places.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (!(p = realloc(*arr, (size_t)n * size)))
		return -1;
	*arr = p;
	*cap = n;
	return 0;
}

static uint64_t name_hash(struct proto_str s)
{
	return XXH3_64bits(s.ptr, s.len);
}

struct name_match {
	const struct places *p;
	struct proto_str name;
};

static int match_group(const void *ctx, uint32_t slot)
{
	const struct name_match *nm = ctx;
	const struct places_group *g = &nm->p->groups[slot];

	return g->len == nm->name.len && memcmp(g->name, nm->name.ptr, g->len) == 0;
}

static int match_location(const void *ctx, uint32_t slot)
{
	const struct name_match *nm = ctx;
	const struct places_location *l = &nm->p->locations[slot];

	return l->len == nm->name.len && memcmp(l->name, nm->name.ptr, l->len) == 0;
}

int places_init(struct places *p)
{
	memset(p, 0, sizeof *p);
	if (hidx_init(&p->by_group, 64) || hidx_init(&p->by_location, 64)) {
		places_free(p);
		return -1;
	}
	return 0;
}

void places_free(struct places *p)
{
	free(p->groups);
	free(p->locations);
	hidx_free(&p->by_group);
	hidx_free(&p->by_location);
	memset(p, 0, sizeof *p);
}

static uint32_t group_slot(const struct places *p, struct proto_str group)
{
	struct name_match nm = {p, group};

	return p->groups ? hidx_find(&p->by_group, name_hash(group), match_group, &nm) : HIDX_NONE;
}

const struct places_group *places_group_find(const struct places *p, struct proto_str group)
{
	uint32_t slot = group_slot(p, group);

	return slot == HIDX_NONE ? NULL : &p->groups[slot];
}

int places_group_count(struct places *p, struct proto_str group, int64_t delta)
{
	uint32_t slot = group_slot(p, group);
	struct places_group *g;

	if (slot == HIDX_NONE) {
		if (!group.len || group.len > PROTO_MAX_GROUP || delta < 0)
			return delta < 0 ? -2 : -1;
		if (grow((void **)&p->groups, &p->groups_cap, p->ngroups + 1, sizeof *p->groups))
			return -1;
		slot = p->ngroups;
		g = &p->groups[slot];
		memset(g, 0, sizeof *g);
		memcpy(g->name, group.ptr, group.len);
		g->len = (uint8_t)group.len;
		if (hidx_insert(&p->by_group, name_hash(group), slot))
			return -1;
		p->ngroups++;
	}
	g = &p->groups[slot];
	if (delta < 0 && g->members < (uint64_t)-delta)
		return -2;
	g->members += (uint64_t)delta;
	return 0;
}

static uint32_t location_slot(const struct places *p, struct proto_str location)
{
	struct name_match nm = {p, location};

	return p->locations ? hidx_find(&p->by_location, name_hash(location), match_location, &nm) : HIDX_NONE;
}

const struct places_location *places_location_find(const struct places *p, struct proto_str location)
{
	uint32_t slot = location_slot(p, location);

	return slot == HIDX_NONE ? NULL : &p->locations[slot];
}

int places_sale(struct places *p, struct proto_str location, int64_t amount, int64_t points, int64_t refunded,
		int64_t taken_back, uint64_t seq, int64_t time_us)
{
	uint32_t slot = location_slot(p, location);
	struct places_location *l;

	if (slot == HIDX_NONE) {
		if (location.len > PROTO_MAX_LOCATION ||
		    grow((void **)&p->locations, &p->locations_cap, p->nlocations + 1, sizeof *p->locations))
			return -1;
		slot = p->nlocations;
		l = &p->locations[slot];
		memset(l, 0, sizeof *l);
		memcpy(l->name, location.ptr, location.len);
		l->len = (uint8_t)location.len;
		if (hidx_insert(&p->by_location, name_hash(location), slot))
			return -1;
		p->nlocations++;
	}
	l = &p->locations[slot];
	/* Sums of amounts and points the model has already checked against
	 * overflow per customer; across customers they saturate rather than wrap. */
	l->sales++;
	if (__builtin_add_overflow(l->amount, amount, &l->amount))
		l->amount = INT64_MAX;
	if (__builtin_add_overflow(l->points, points, &l->points))
		l->points = INT64_MAX;
	if (__builtin_add_overflow(l->refunded, refunded, &l->refunded))
		l->refunded = INT64_MAX;
	if (__builtin_add_overflow(l->taken_back, taken_back, &l->taken_back))
		l->taken_back = INT64_MAX;
	if (seq > l->last_seq) {
		l->last_seq = seq;
		l->last_us = time_us;
	}
	return 0;
}

int places_return(struct places *p, struct proto_str location, int64_t refunded, int64_t taken)
{
	uint32_t slot = location_slot(p, location);
	struct places_location *l;

	if (slot == HIDX_NONE)
		return -1;
	l = &p->locations[slot];
	if (__builtin_add_overflow(l->refunded, refunded, &l->refunded))
		l->refunded = INT64_MAX;
	if (__builtin_add_overflow(l->taken_back, taken, &l->taken_back))
		l->taken_back = INT64_MAX;
	return 0;
}

void places_sale_time(struct places *p, struct proto_str location, uint64_t seq, int64_t time_us)
{
	uint32_t slot = location_slot(p, location);

	if (slot != HIDX_NONE && p->locations[slot].last_seq == seq)
		p->locations[slot].last_us = time_us;
}

int places_location_listed(const struct rules_list *list, struct proto_str loc)
{
	if (!list->n)
		return 1;
	for (uint32_t i = 0; i < list->n; i++) {
		char buf[PROTO_MAX_LOCATION + 1];
		struct proto_str item = {list->item[i].text, list->item[i].len}, norm;

		if (model_location_normalise(item, buf, &norm))
			norm = item;
		if (norm.len == loc.len && memcmp(norm.ptr, loc.ptr, loc.len) == 0)
			return 1;
	}
	return 0;
}
