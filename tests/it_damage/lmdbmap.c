/*
 * lmdbmap.c - the pages of a clean data.mdb, classified by their own
 * headers, and the place in the file of every database entry.
 *
 * The layout is liblmdb 0.9's on a 64-bit little-endian machine, the same
 * that server/pagecheck.c checks (mdb.c: MDB_page, MDB_node, MDB_meta,
 * MDB_db): a page starts with pgno (u64), pad (u16), flags (u16: 0x01
 * branch, 0x02 leaf, 0x04 overflow, 0x08 meta), then lower and upper (u16
 * each; an overflow page has its page count, u32, there instead); a
 * branch or leaf page's node offsets follow. A node is lo, hi (u16 each:
 * a leaf's value size, or with flags a branch's child page number), flags
 * (u16: 0x01 the value is on overflow pages, 0x02 it is a named
 * database's record), key size (u16), the key, then the value. The meta
 * page holds, after the page header, magic and version (u32 each), address
 * and map size (u64 each), the free-page tree's and the main tree's MDB_db
 * (48 bytes each: pad u32, flags u16, depth u16, branch, leaf and overflow
 * page counts, entries, root, u64 each), the last page and the txnid (u64).
 *
 * The walk trusts the file (it is the clean one the test built); it only
 * refuses what would send it outside the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "damage.h"

#define PAGE_HDR 16
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define NODE_HDR 8
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define META_DBS 24
#define DB_SIZE 48
#define DB_ROOT 40
#define META_LAST_PG 120
#define META_TXNID 128
#define P_INVALID UINT64_MAX

uint16_t dmg_get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

uint64_t dmg_get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

const char *dmg_tree_name(int tree)
{
	if (tree == DMG_TREE_FREE)
		return "free-page tree";
	if (tree == DMG_TREE_MAIN)
		return "main tree";
	if (tree >= 0 && tree < RECORD_DB_COUNT)
		return record_db_name(tree);
	return "no tree";
}

static int page_ok(const struct dmg_map *m, uint64_t pgno, uint64_t n)
{
	return pgno >= 2 && pgno <= m->last_pg && n <= m->last_pg - pgno + 1 && (pgno + n) * m->psize <= m->size;
}

static int add_entry(struct dmg_map *m, const struct dmg_entry *e)
{
	if (m->nentries == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		struct dmg_entry *n = realloc(m->entries, cap * sizeof *n);
		if (!n)
			return -1;
		m->entries = n;
		m->cap = cap;
	}
	m->entries[m->nentries++] = *e;
	return 0;
}

static int walk(struct dmg_map *m, uint64_t pgno, int tree, int depth);

/* The named database whose record is this main-tree node: walk its tree. */
static int walk_named(struct dmg_map *m, const uint8_t *key, uint16_t ksize, const uint8_t *db)
{
	uint64_t root = dmg_get64(db + DB_ROOT);

	for (int i = 0; i < RECORD_DB_COUNT; i++) {
		const char *name = record_db_name(i);
		if (strlen(name) == ksize && memcmp(name, key, ksize) == 0)
			return root == P_INVALID ? 0 : walk(m, root, i, 1);
	}
	fprintf(stderr, "it_damage: the main tree names a database \"%.*s\" that accrue does not have\n", (int)ksize,
		(const char *)key);
	return -1;
}

static int walk(struct dmg_map *m, uint64_t pgno, int tree, int depth)
{
	const uint8_t *p;
	uint16_t flags, lower;

	if (!page_ok(m, pgno, 1) || depth > 32 || m->pages[pgno].kind != DMG_PAGE_UNUSED) {
		fprintf(stderr, "it_damage: page %llu of the %s is not a page the walk can read\n", (unsigned long long)pgno,
			dmg_tree_name(tree));
		return -1;
	}
	p = m->file + pgno * m->psize;
	flags = dmg_get16(p + 10);
	lower = dmg_get16(p + 12);
	m->pages[pgno].kind = (flags & P_BRANCH) ? DMG_PAGE_BRANCH : DMG_PAGE_LEAF;
	m->pages[pgno].tree = (int8_t)tree;
	m->pages[pgno].depth = (uint8_t)depth;
	for (unsigned i = 0; i < (unsigned)(lower - PAGE_HDR) / 2; i++) {
		uint16_t off = dmg_get16(p + PAGE_HDR + 2 * i);
		const uint8_t *node = p + off;
		uint16_t nflags = dmg_get16(node + 4), ksize = dmg_get16(node + 6);
		struct dmg_entry e;

		if (flags & P_BRANCH) {
			uint64_t child = (uint64_t)dmg_get16(node) | (uint64_t)dmg_get16(node + 2) << 16 | (uint64_t)nflags << 32;
			if (walk(m, child, tree, depth + 1))
				return -1;
			continue;
		}
		memset(&e, 0, sizeof e);
		e.tree = tree;
		e.pgno = pgno;
		e.node_off = (size_t)(pgno * m->psize) + off;
		e.key_off = e.node_off + NODE_HDR;
		e.key_len = ksize;
		e.val_off = e.key_off + ksize;
		e.val_len = (size_t)dmg_get16(node) | (size_t)dmg_get16(node + 2) << 16;
		if (nflags & F_BIGDATA) {
			uint64_t ov = dmg_get64(node + NODE_HDR + ksize);
			uint32_t n;
			if (!page_ok(m, ov, 1)) {
				fprintf(stderr, "it_damage: an overflow page number %llu out of the file\n", (unsigned long long)ov);
				return -1;
			}
			n = get32(m->file + ov * m->psize + 12);
			if (!page_ok(m, ov, n))
				return -1;
			for (uint32_t k = 0; k < n; k++) {
				m->pages[ov + k].kind = DMG_PAGE_OVERFLOW;
				m->pages[ov + k].tree = (int8_t)tree;
			}
			e.ovpg = ov;
			e.ovpages = n;
			e.val_off = (size_t)(ov * m->psize) + PAGE_HDR;
		}
		if (add_entry(m, &e))
			return -1;
		if ((nflags & F_SUBDATA) && walk_named(m, node + NODE_HDR, ksize, m->file + e.val_off))
			return -1;
	}
	return 0;
}

int dmg_map_build(struct dmg_map *m, const uint8_t *file, size_t size)
{
	const uint8_t *meta[2];
	uint64_t free_root, main_root;

	memset(m, 0, sizeof *m);
	m->file = file;
	m->size = size;
	m->psize = 4096;
	if (size < 2 * m->psize) {
		fprintf(stderr, "it_damage: data.mdb is %zu bytes: not even its two meta pages\n", size);
		return -1;
	}
	meta[0] = file + PAGE_HDR;
	meta[1] = file + m->psize + PAGE_HDR;
	for (int i = 0; i < 2; i++)
		if (!(dmg_get16(file + i * m->psize + 10) & P_META) || get32(meta[i]) != 0xBEEFC0DEu ||
		    get32(meta[i] + META_DBS) != m->psize) {
			fprintf(stderr, "it_damage: page %d of data.mdb is not an LMDB meta page of 4096-byte pages\n", i);
			return -1;
		}
	m->newer = dmg_get64(meta[1] + META_TXNID) > dmg_get64(meta[0] + META_TXNID);
	m->last_pg = dmg_get64(meta[m->newer] + META_LAST_PG);
	m->npages = size / m->psize;
	if (m->last_pg >= m->npages) {
		fprintf(stderr, "it_damage: the meta page's last page %llu is past the file's end\n",
			(unsigned long long)m->last_pg);
		return -1;
	}
	m->pages = calloc(m->npages, sizeof *m->pages);
	if (!m->pages)
		return -1;
	for (uint64_t i = 0; i < m->npages; i++)
		m->pages[i].tree = DMG_TREE_NONE;
	m->pages[0].kind = m->pages[1].kind = DMG_PAGE_META;
	free_root = dmg_get64(meta[m->newer] + META_DBS + DB_ROOT);
	main_root = dmg_get64(meta[m->newer] + META_DBS + DB_SIZE + DB_ROOT);
	if ((free_root != P_INVALID && walk(m, free_root, DMG_TREE_FREE, 1)) ||
	    (main_root != P_INVALID && walk(m, main_root, DMG_TREE_MAIN, 1))) {
		dmg_map_free(m);
		return -1;
	}
	return 0;
}

void dmg_map_free(struct dmg_map *m)
{
	free(m->pages);
	free(m->entries);
	m->pages = NULL;
	m->entries = NULL;
	m->nentries = m->cap = 0;
}

const struct dmg_entry *dmg_map_entry(const struct dmg_map *m, int tree, const void *key, size_t len)
{
	for (size_t i = 0; i < m->nentries; i++) {
		const struct dmg_entry *e = &m->entries[i];
		if (e->tree == tree && e->key_len == len && memcmp(m->file + e->key_off, key, len) == 0)
			return e;
	}
	return NULL;
}

const struct dmg_entry *dmg_map_record(const struct dmg_map *m, uint64_t seq)
{
	uint8_t key[8];

	record_key_u64(key, seq);
	return dmg_map_entry(m, RECORD_DB_JOURNAL, key, sizeof key);
}

uint64_t dmg_map_page(const struct dmg_map *m, int kind, int tree, int n)
{
	for (uint64_t p = 0; p < m->npages && p <= m->last_pg; p++)
		if (m->pages[p].kind == kind && (tree == DMG_TREE_NONE || m->pages[p].tree == tree) && n-- == 0)
			return p;
	return 0;
}
