/*
 * lmdb_layout.h - liblmdb 0.9's data file as bytes (64-bit, little-endian),
 * for the two places that read data.mdb without LMDB: the page check before
 * LMDB opens a file (pagecheck.c) and an archive's wipe (store_erase.c).
 * Offsets and flags only, and unaligned little reads; no I/O.
 */
#ifndef ACCRUE_LMDB_LAYOUT_H
#define ACCRUE_LMDB_LAYOUT_H

#include <stdint.h>
#include <string.h>

/* MDB_page: pgno (8), pad (2), flags (2), lower (2), upper (2) or pages (4), then the node offsets. */
#define PAGE_HDR 16
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define P_LEAF2 0x20
#define P_SUBP 0x40
/* MDB_node: lo (2), hi (2), flags (2), ksize (2), then key and data. */
#define NODE_HDR 8
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define F_DUPDATA 0x04
#define MAX_KEY 511
/* MDB_meta after the page header: magic, version, address, mapsize, dbs[2], last_pg, txnid. */
#define MDB_MAGIC 0xBEEFC0DEu
#define MDB_DATA_VERSION 1
#define META_DBS 24
#define META_LAST_PG 120
#define META_TXNID 128
#define META_SIZE 136
/* MDB_db: pad (4), flags (2), depth (2), branch, leaf, overflow pages, entries, root (8 each). */
#define DB_SIZE 48
#define DB_ROOT 40
#define MDB_DUPSORT 0x04
#define P_INVALID UINT64_MAX
/* Trees deeper than this are not what LMDB builds from any file this size. */
#define MAX_DEPTH 64

static inline uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

#endif
