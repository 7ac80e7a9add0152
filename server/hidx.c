/*
 * hidx.c - open-addressing hash index with linear probing (see hidx.h).
 */
#include "hidx.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The 32 bits kept of a hash; 0 marks an empty slot, so it is stored as 1. */
static uint32_t hash_tag(uint64_t hash)
{
	uint32_t tag = (uint32_t)hash ^ (uint32_t)(hash >> 32);
	return tag ? tag : 1;
}

/*
 * A big table is probed at random, one cache miss per lookup; with 4 KiB
 * pages each miss is a TLB miss too and every first touch a page fault.
 * Tables of 4 MiB and more ask for transparent huge pages (a hint: without
 * them it works the same, only slower). free() releases either kind.
 */
#define HUGE_PAGE ((size_t)2 << 20)

static struct hidx_slot *alloc_slots(uint64_t cap)
{
	size_t bytes = (size_t)cap * sizeof(struct hidx_slot), rounded;
	void *p;

	if (bytes < 2 * HUGE_PAGE)
		return calloc(cap, sizeof(struct hidx_slot));
	rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	p = aligned_alloc(HUGE_PAGE, rounded);
	if (!p)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, rounded, MADV_HUGEPAGE);
#endif
	memset(p, 0, bytes);
	return p;
}

int hidx_init(struct hidx *h, uint64_t expect)
{
	uint64_t cap = 16;

	while (cap < expect + expect / 2 + 1)
		cap <<= 1;
	h->slots = alloc_slots(cap);
	if (!h->slots)
		return -1;
	h->mask = cap - 1;
	h->used = 0;
	h->live = 0;
	return 0;
}

void hidx_free(struct hidx *h)
{
	free(h->slots);
	h->slots = NULL;
	h->mask = h->used = h->live = 0;
}

static void place(struct hidx_slot *slots, uint64_t mask, uint32_t tag, uint32_t value)
{
	uint64_t i = tag & mask;

	while (slots[i].tag)
		i = (i + 1) & mask;
	slots[i].tag = tag;
	slots[i].value = value;
}

/* Rebuild into a table of cap slots (a power of two), dropping removed entries. */
static int rehash_to(struct hidx *h, uint64_t cap)
{
	struct hidx_slot *slots;

	slots = alloc_slots(cap);
	if (!slots)
		return -1;
	for (uint64_t i = 0; i <= h->mask; i++)
		if (h->slots[i].tag && h->slots[i].value != HIDX_NONE)
			place(slots, cap - 1, h->slots[i].tag, h->slots[i].value);
	free(h->slots);
	h->slots = slots;
	h->mask = cap - 1;
	h->used = h->live;
	return 0;
}

/* Rebuild at the same size, or twice it when live entries fill half. */
static int rehash(struct hidx *h)
{
	uint64_t cap = h->mask + 1;

	return rehash_to(h, h->live * 2 >= cap ? cap << 1 : cap);
}

int hidx_reserve(struct hidx *h, uint64_t extra)
{
	uint64_t want = h->live + extra, cap = h->mask + 1;

	while (want * 4 > cap * 3)
		cap <<= 1;
	return cap == h->mask + 1 ? 0 : rehash_to(h, cap);
}

int hidx_insert(struct hidx *h, uint64_t hash, uint32_t value)
{
	/* Keep the load under 3/4 so probe runs stay short. */
	if ((h->used + 1) * 4 > (h->mask + 1) * 3 && rehash(h) != 0)
		return -1;
	place(h->slots, h->mask, hash_tag(hash), value);
	h->used++;
	h->live++;
	return 0;
}

uint32_t hidx_find(const struct hidx *h, uint64_t hash, int (*match)(const void *ctx, uint32_t value),
		   const void *ctx)
{
	uint32_t tag = hash_tag(hash);

	for (uint64_t i = tag & h->mask; h->slots[i].tag; i = (i + 1) & h->mask) {
		const struct hidx_slot *s = &h->slots[i];
		if (s->tag == tag && s->value != HIDX_NONE && (!match || match(ctx, s->value)))
			return s->value;
	}
	return HIDX_NONE;
}

void hidx_prefetch(const struct hidx *h, uint64_t hash)
{
	__builtin_prefetch(&h->slots[hash_tag(hash) & h->mask], 1);
}

uint32_t hidx_insert_unique(struct hidx *h, uint64_t hash, uint32_t value, int (*match)(const void *ctx, uint32_t value),
			    const void *ctx)
{
	uint32_t tag = hash_tag(hash);
	uint64_t i;

	if ((h->used + 1) * 4 > (h->mask + 1) * 3 && rehash(h) != 0)
		return HIDX_NOMEM;
	for (i = tag & h->mask; h->slots[i].tag; i = (i + 1) & h->mask) {
		const struct hidx_slot *s = &h->slots[i];
		if (s->tag == tag && s->value != HIDX_NONE && (!match || match(ctx, s->value)))
			return s->value;
	}
	/* i is the empty slot that ended the walk: where place() would put it. */
	h->slots[i].tag = tag;
	h->slots[i].value = value;
	h->used++;
	h->live++;
	return HIDX_NONE;
}

int hidx_remove(struct hidx *h, uint64_t hash, uint32_t value)
{
	uint32_t tag = hash_tag(hash);

	for (uint64_t i = tag & h->mask; h->slots[i].tag; i = (i + 1) & h->mask) {
		if (h->slots[i].tag == tag && h->slots[i].value == value) {
			h->slots[i].value = HIDX_NONE;
			h->live--;
			return 0;
		}
	}
	return -1;
}
