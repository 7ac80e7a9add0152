/*
 * hidx.c - open-addressing hash index with linear probing (see hidx.h).
 *
 * Growth is incremental: a full table becomes the "old" table, a new one of
 * twice the size (or the same size, to shed removed entries) is allocated,
 * and every later insert first moves the next HIDX_MOVE_STEP slots of the
 * old table across. Until the old table is empty, finds look in the new
 * table and then in the old one. Moved entries are left where they were in
 * the old table, so its probe runs stay intact; a removal marks the entry
 * in both tables. So no insert ever rebuilds a table of millions of
 * entries at once (one such rebuild took 100-150 ms and stalled every
 * checkout behind it).
 */
#include "hidx.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Old slots moved per insert. The new table holds twice as many slots as
 * the old one had entries at most, so any step above 2 ends the move long
 * before the new table fills; 64 slots are a few cache lines. */
#define HIDX_MOVE_STEP 64

/* The 32 bits kept of a hash; 0 marks an empty slot, so it is stored as 1. */
static uint32_t hash_tag(uint64_t hash)
{
	uint32_t tag = (uint32_t)hash ^ (uint32_t)(hash >> 32);
	return tag ? tag : 1;
}

/*
 * A big table is probed at random, one cache miss per lookup; with 4 KiB
 * pages each miss is a TLB miss too and every first touch a page fault.
 * Tables of 4 MiB and more are mapped directly and ask for transparent huge
 * pages (a hint: without them it works the same, only slower); the kernel
 * hands out zeroed pages as they are first touched, so a new table costs
 * nothing up front.
 */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t table_bytes(uint64_t cap)
{
	return (size_t)cap * sizeof(struct hidx_slot);
}

static int table_is_mapped(uint64_t cap)
{
	return table_bytes(cap) >= 2 * HUGE_PAGE;
}

static struct hidx_slot *alloc_slots(uint64_t cap)
{
	void *p;

	if (!table_is_mapped(cap))
		return calloc(cap, sizeof(struct hidx_slot));
	p = mmap(NULL, table_bytes(cap), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, table_bytes(cap), MADV_HUGEPAGE);
#endif
	return p;
}

static void free_slots(struct hidx_slot *slots, uint64_t cap)
{
	if (!slots)
		return;
	if (table_is_mapped(cap))
		munmap(slots, table_bytes(cap));
	else
		free(slots);
}

int hidx_init(struct hidx *h, uint64_t expect)
{
	uint64_t cap = 16;

	memset(h, 0, sizeof *h);
	while (cap < expect + expect / 2 + 1)
		cap <<= 1;
	h->slots = alloc_slots(cap);
	if (!h->slots)
		return -1;
	h->mask = cap - 1;
	return 0;
}

void hidx_free(struct hidx *h)
{
	free_slots(h->slots, h->mask + 1);
	free_slots(h->old, h->old_mask + 1);
	memset(h, 0, sizeof *h);
}

static void place(struct hidx_slot *slots, uint64_t mask, uint32_t tag, uint32_t value)
{
	uint64_t i = tag & mask;

	while (slots[i].tag)
		i = (i + 1) & mask;
	slots[i].tag = tag;
	slots[i].value = value;
}

/* Move up to n slots of the old table into the new one; free it when done. */
static void move_some(struct hidx *h, uint64_t n)
{
	uint64_t end;

	if (!h->old)
		return;
	end = h->old_next + n;
	if (end > h->old_mask + 1)
		end = h->old_mask + 1;
	for (uint64_t i = h->old_next; i < end; i++) {
		const struct hidx_slot *s = &h->old[i];
		if (s->tag && s->value != HIDX_NONE) {
			place(h->slots, h->mask, s->tag, s->value);
			h->used++;
		}
	}
	h->old_next = end;
	if (end == h->old_mask + 1) {
		free_slots(h->old, h->old_mask + 1);
		h->old = NULL;
		h->old_mask = h->old_next = 0;
	}
}

/* Start moving into a table of cap slots (a power of two): the current one
 * becomes the old table. Any earlier move is finished first. */
static int grow_to(struct hidx *h, uint64_t cap)
{
	struct hidx_slot *slots;

	move_some(h, UINT64_MAX);
	slots = alloc_slots(cap);
	if (!slots)
		return -1;
	h->old = h->slots;
	h->old_mask = h->mask;
	h->old_next = 0;
	h->slots = slots;
	h->mask = cap - 1;
	h->used = 0;
	return 0;
}

/* Room for one more entry in the new table, moving old slots on the way. */
static int make_room(struct hidx *h)
{
	uint64_t cap = h->mask + 1;

	move_some(h, HIDX_MOVE_STEP);
	/* Keep the load under 3/4 so probe runs stay short. */
	if ((h->used + 1) * 4 <= cap * 3)
		return 0;
	if (h->old) {
		/* Cannot happen with the step above; finish rather than overfill. */
		move_some(h, UINT64_MAX);
		if ((h->used + 1) * 4 <= cap * 3)
			return 0;
	}
	/* Twice the size when live entries fill half, else the same size
	 * without the removed ones. */
	return grow_to(h, h->live * 2 >= cap ? cap << 1 : cap);
}

int hidx_reserve(struct hidx *h, uint64_t extra)
{
	uint64_t want = h->live + extra, cap = h->mask + 1;

	while (want * 4 > cap * 3)
		cap <<= 1;
	if (cap == h->mask + 1)
		return 0;
	/* Sized once, ahead of a bulk load: moved at once, not on the way. */
	if (grow_to(h, cap))
		return -1;
	move_some(h, UINT64_MAX);
	return 0;
}

int hidx_insert(struct hidx *h, uint64_t hash, uint32_t value)
{
	if (make_room(h))
		return -1;
	place(h->slots, h->mask, hash_tag(hash), value);
	h->used++;
	h->live++;
	return 0;
}

static uint32_t find_in(const struct hidx_slot *slots, uint64_t mask, uint32_t tag,
			int (*match)(const void *ctx, uint32_t value), const void *ctx)
{
	for (uint64_t i = tag & mask; slots[i].tag; i = (i + 1) & mask) {
		const struct hidx_slot *s = &slots[i];
		if (s->tag == tag && s->value != HIDX_NONE && (!match || match(ctx, s->value)))
			return s->value;
	}
	return HIDX_NONE;
}

uint32_t hidx_find(const struct hidx *h, uint64_t hash, int (*match)(const void *ctx, uint32_t value),
		   const void *ctx)
{
	uint32_t tag = hash_tag(hash), v = find_in(h->slots, h->mask, tag, match, ctx);

	if (v == HIDX_NONE && h->old)
		v = find_in(h->old, h->old_mask, tag, match, ctx);
	return v;
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

	if (make_room(h))
		return HIDX_NOMEM;
	if (h->old) {
		uint32_t v = find_in(h->old, h->old_mask, tag, match, ctx);
		if (v != HIDX_NONE)
			return v;
	}
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

static int remove_in(struct hidx_slot *slots, uint64_t mask, uint32_t tag, uint32_t value)
{
	for (uint64_t i = tag & mask; slots[i].tag; i = (i + 1) & mask) {
		if (slots[i].tag == tag && slots[i].value == value) {
			slots[i].value = HIDX_NONE;
			return 0;
		}
	}
	return -1;
}

int hidx_remove(struct hidx *h, uint64_t hash, uint32_t value)
{
	uint32_t tag = hash_tag(hash);
	/* An entry not moved yet is only in the old table; a moved one is in
	 * both, and must be gone from both. */
	int in_new = remove_in(h->slots, h->mask, tag, value) == 0;
	int in_old = h->old && remove_in(h->old, h->old_mask, tag, value) == 0;

	if (!in_new && !in_old)
		return -1;
	h->live--;
	return 0;
}
