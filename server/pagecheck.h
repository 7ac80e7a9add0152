/*
 * pagecheck.h - check an LMDB data file's structure before LMDB reads it.
 *
 * LMDB trusts its pages: a data file cut short makes a read of a page past
 * its end a SIGBUS, and one damaged byte in a page header or a node can
 * send a cursor outside the page or the map (a SIGSEGV inside liblmdb).
 * Records and snapshots carry checksums (record.h), but the B-tree pages
 * that lead to them do not. So before accrued or accrue-check opens a data
 * file with LMDB, pagecheck reads it as plain bytes and checks what LMDB
 * will rely on:
 *
 *   - the two meta pages: magic, version, page size, and transaction ids
 *     that are consecutive, the even one on page 0 (LMDB writes
 *     transaction t's meta to page t & 1; a raised id would make it open
 *     an older state); the newer one (the one LMDB will use) is the one
 *     checked further;
 *   - the file is at least as long as that meta's last page;
 *   - every page of the free-page tree, the main tree and every named
 *     database, reached from the roots: its own page number in its header,
 *     its kind (branch, leaf or overflow) where the tree expects it, its
 *     bounds, every node inside the page, every child and overflow page
 *     inside the file, no page reached twice, every leaf at the tree's
 *     depth, the entry count the tree's record states, and every key in
 *     order: ascending in its page and inside the range its parent's
 *     keys give the page (a key out of place sends a lookup astray);
 *   - every page the free-page lists name is in the file, listed once, and
 *     in no tree (the next commits would write over it).
 *
 * It knows the page layout of liblmdb 0.9 (mdb.c: MDB_page, MDB_node,
 * MDB_meta, MDB_db) on a 64-bit little-endian machine, and databases
 * without MDB_DUPSORT, which is all accrue creates. It reads the file
 * through a private read-only map of its own and writes nothing.
 */
#ifndef ACCRUE_PAGECHECK_H
#define ACCRUE_PAGECHECK_H

#include <stddef.h>
#include <stdint.h>

struct pagecheck_result {
	uint64_t pages;    /* pages checked */
	uint64_t bad_page; /* the page a problem was found in; 0 if none (or a meta page) */
	uint64_t file_size, need_size; /* the file's size, and what the meta page says it needs */
	uint32_t psize;
};

/*
 * Check the LMDB data file at path. Returns 0 when it is whole (or empty:
 * a new file, which LMDB initialises itself); 1 when it is damaged, with a
 * sentence in err naming the page and what is wrong; -1 when it cannot be
 * read at all (err says why: errno's text). r, when not NULL, receives
 * what was checked.
 */
int pagecheck_file(const char *path, struct pagecheck_result *r, char *err, size_t errlen);

#endif
