/*
 * hidx.h - an open-addressing hash index from a 64-bit hash to a u32 slot.
 *
 * The daemon finds customers by id, email and phone, orders by location and
 * order id, and request keys, all through this one structure. It stores only
 * (hash, value) pairs, 8 bytes each, so the objects themselves live in
 * dense arrays; several values may share a hash, and a find asks the caller
 * whether a candidate really matches. Keys are hashed by the caller (XXH3).
 *
 * A table that fills grows a little at a time: the entries of the old table
 * move to the new one a few with every insert, so no single insert pays for
 * rebuilding millions of them.
 *
 * Not thread-safe: the loop thread owns every index.
 */
#ifndef ACCRUE_HIDX_H
#define ACCRUE_HIDX_H

#include <stdint.h>

#define HIDX_NONE UINT32_MAX

/*
 * 8 bytes a slot: 32 bits of the hash place and pre-filter an entry, and
 * find's match callback settles every candidate against the real key, so
 * the other 32 bits are not worth their memory (10 million customers are
 * in three indexes each).
 */
struct hidx_slot {
	uint32_t tag;   /* 0: never used */
	uint32_t value; /* HIDX_NONE with tag != 0: removed */
};

struct hidx {
	struct hidx_slot *slots;
	uint64_t mask;
	uint64_t used; /* live + removed slots of this table */
	uint64_t live; /* live entries in all */
	/* While growing: the table before, whose slots from old_next on are
	 * still to be moved (a few with every insert); NULL when none. */
	struct hidx_slot *old;
	uint64_t old_mask, old_next;
};

/* Returns 0 or -1 (out of memory). expect: how many entries to size for. */
int hidx_init(struct hidx *h, uint64_t expect);
void hidx_free(struct hidx *h);

/* Make room for extra more entries without growing again. Returns 0 or -1 (out of memory). */
int hidx_reserve(struct hidx *h, uint64_t extra);

/* Add a (hash, value) pair; duplicates are allowed. Returns 0 or -1 (out of memory). */
int hidx_insert(struct hidx *h, uint64_t hash, uint32_t value);

/*
 * The value of the first entry with this hash for which match(ctx, value)
 * returns non-zero, or HIDX_NONE. match may be NULL: any entry matches.
 */
uint32_t hidx_find(const struct hidx *h, uint64_t hash, int (*match)(const void *ctx, uint32_t value),
		   const void *ctx);

/*
 * Insert (hash, value) unless an entry with this hash matches (match as in
 * hidx_find): one walk of the probe sequence does both. Returns HIDX_NONE
 * when inserted, the matching entry's value when one was there (nothing
 * inserted), or HIDX_NONE - 1 when out of memory.
 */
/* Start fetching the slot hash would probe first (a bulk load issues these
 * a few entries ahead, so the cache misses overlap). */
void hidx_prefetch(const struct hidx *h, uint64_t hash);

uint32_t hidx_insert_unique(struct hidx *h, uint64_t hash, uint32_t value, int (*match)(const void *ctx, uint32_t value),
			    const void *ctx);
#define HIDX_NOMEM (HIDX_NONE - 1)

/* Remove the entry (hash, value). Returns 0, or -1 if it was not there. */
int hidx_remove(struct hidx *h, uint64_t hash, uint32_t value);

#endif
