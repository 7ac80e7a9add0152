/*
 * pagecheck.c - an LMDB data file's structure, checked as plain bytes
 * (see pagecheck.h). The offsets below are liblmdb 0.9's on-disk layout on
 * a 64-bit little-endian machine (mdb.c: MDB_page, MDB_node, MDB_meta,
 * MDB_db); they are read with memcpy, never through casts.
 */
#include "pagecheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lmdb_layout.h"


struct db_info {
	uint32_t pad;
	uint16_t flags, depth;
	uint64_t branch_pages, leaf_pages, overflow_pages, entries, root;
};

struct walk {
	const uint8_t *map;
	uint64_t psize, last_pg;
	uint8_t *seen;  /* a bit per page: reached from a tree */
	uint8_t *freed; /* a bit per page: named by a free-page list */
	struct pagecheck_result *r;
	char *err;
	size_t errlen;
	/* The tree being walked, and what it has counted. */
	const char *tree;
	int free_tree;
	uint64_t branch, leaf, overflow, entries;
	int leaf_depth;
};

static void db_read(const uint8_t *p, struct db_info *db)
{
	db->pad = get32(p);
	db->flags = get16(p + 4);
	db->depth = get16(p + 6);
	db->branch_pages = get64(p + 8);
	db->leaf_pages = get64(p + 16);
	db->overflow_pages = get64(p + 24);
	db->entries = get64(p + 32);
	db->root = get64(p + 40);
}

static int bad(struct walk *w, uint64_t pgno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct walk *w, uint64_t pgno, const char *fmt, ...)
{
	char what[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	w->r->bad_page = pgno;
	snprintf(w->err, w->errlen, "page %llu of %s: %s", (unsigned long long)pgno, w->tree, what);
	return 1;
}

/* Claim page pgno (and n - 1 after it) for the tree; each page belongs to one place only. */
static int claim(struct walk *w, uint64_t pgno, uint64_t n, const char *as)
{
	if (pgno < 2 || pgno > w->last_pg || n > w->last_pg - pgno + 1)
		return bad(w, pgno, "the %s it names lies outside the file's %llu pages", as,
			   (unsigned long long)(w->last_pg + 1));
	for (uint64_t p = pgno; p < pgno + n; p++) {
		if (w->seen[p / 8] & (1u << (p % 8)))
			return bad(w, p, "reached twice (a %s that is also used elsewhere)", as);
		/* The free-page tree is walked first: a page its lists name that a
		 * later tree reaches is that tree's damage (an older copy of it). */
		if (!w->free_tree && (w->freed[p / 8] & (1u << (p % 8))))
			return bad(w, p, "the %s it names is in a free-page list (the next commits would write over it)",
				   as);
		w->seen[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	w->r->pages += n;
	return 0;
}

/* A key in the map, or no bound (p NULL). */
struct key {
	const uint8_t *p;
	uint16_t n;
};

/* LMDB's order: the free-page tree's keys are native integers
 * (MDB_INTEGERKEY), every other tree's compare as bytes, a prefix first. */
static int key_cmp(const struct walk *w, struct key a, struct key b)
{
	int c;

	if (w->free_tree) {
		uint64_t x = get64(a.p), y = get64(b.p);
		return x < y ? -1 : x > y;
	}
	c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
	return c ? c : (a.n > b.n) - (a.n < b.n);
}

static const uint8_t *page_at(const struct walk *w, uint64_t pgno)
{
	return w->map + pgno * w->psize;
}

/* A value held on overflow pages: the pages must be what the node says. */
static int check_overflow(struct walk *w, uint64_t from, uint64_t ovpg, uint64_t size, const uint8_t **data)
{
	const uint8_t *op;
	uint64_t pages;

	if (ovpg < 2 || ovpg > w->last_pg)
		return bad(w, from, "a value's overflow page %llu lies outside the file", (unsigned long long)ovpg);
	op = page_at(w, ovpg);
	pages = get32(op + 12);
	if (get64(op) != ovpg || !(get16(op + 10) & P_OVERFLOW))
		return bad(w, ovpg, "an overflow page of page %llu's value is not marked as one (damaged header)",
			   (unsigned long long)from);
	if (pages == 0 || size > pages * w->psize - PAGE_HDR || (size + PAGE_HDR - 1) / w->psize + 1 != pages)
		return bad(w, ovpg, "an overflow run of %llu pages for a value of %llu bytes", (unsigned long long)pages,
			   (unsigned long long)size);
	if (claim(w, ovpg, pages, "overflow page"))
		return 1;
	w->overflow += pages;
	*data = op + PAGE_HDR;
	return 0;
}

static int walk_tree(struct walk *w, uint64_t pgno, int depth, struct key lo, struct key hi);

/* A free-page list (the free tree's values): a count, then that many page numbers in the file. */
static int check_free_list(struct walk *w, uint64_t pgno, const uint8_t *data, uint64_t size)
{
	uint64_t n;

	if (size < 8 || size % 8)
		return bad(w, pgno, "a free-page list of %llu bytes", (unsigned long long)size);
	n = get64(data);
	if (n != size / 8 - 1)
		return bad(w, pgno, "a free-page list says %llu pages in %llu bytes", (unsigned long long)n,
			   (unsigned long long)size);
	for (uint64_t i = 1; i <= n; i++) {
		uint64_t f = get64(data + 8 * i);
		if (f > w->last_pg || f < 2)
			return bad(w, pgno, "a free-page list names page %llu, %s", (unsigned long long)f,
				   f < 2 ? "a meta page" : "past the file's last");
		if (w->freed[f / 8] & (1u << (f % 8)))
			return bad(w, pgno, "page %llu is in the free-page lists twice", (unsigned long long)f);
		w->freed[f / 8] |= (uint8_t)(1u << (f % 8));
	}
	return 0;
}

/* A named database's record in the main tree: its own tree, walked as such. */
static int walk_subdb(struct walk *w, uint64_t pgno, const uint8_t *key, uint16_t ksize, const uint8_t *data)
{
	struct walk sub = *w;
	struct db_info db;
	char name[80];

	db_read(data, &db);
	snprintf(name, sizeof name, "database \"%.*s\"", ksize > 60 ? 60 : (int)ksize, (const char *)key);
	if (db.flags & MDB_DUPSORT)
		return bad(w, pgno, "%s is marked as a duplicate-key database, which accrue never creates", name);
	sub.tree = name;
	sub.free_tree = 0;
	sub.branch = sub.leaf = sub.overflow = sub.entries = 0;
	sub.leaf_depth = -1;
	if (db.root == P_INVALID) {
		if (db.depth || db.entries || db.branch_pages || db.leaf_pages || db.overflow_pages)
			return bad(w, pgno, "%s has no root but claims %llu entries", name, (unsigned long long)db.entries);
		return 0;
	}
	/* bad() writes its message at once, so the name on this stack is safe to use. */
	if (claim(&sub, db.root, 1, "root page") || walk_tree(&sub, db.root, 1, (struct key){0}, (struct key){0}))
		return 1;
	if (sub.leaf_depth != db.depth || sub.entries != db.entries || sub.branch != db.branch_pages ||
	    sub.leaf != db.leaf_pages || sub.overflow != db.overflow_pages)
		return bad(&sub, db.root,
			   "its record says depth %u, %llu entries, %llu/%llu/%llu branch/leaf/overflow pages; the tree "
			   "has depth %d, %llu entries, %llu/%llu/%llu",
			   db.depth, (unsigned long long)db.entries, (unsigned long long)db.branch_pages,
			   (unsigned long long)db.leaf_pages, (unsigned long long)db.overflow_pages, sub.leaf_depth,
			   (unsigned long long)sub.entries, (unsigned long long)sub.branch, (unsigned long long)sub.leaf,
			   (unsigned long long)sub.overflow);
	return 0;
}

/*
 * Walk the page pgno at depth, whose keys must lie in [lo, hi) (a NULL
 * bound: none): each page's keys ascend, and a branch's node i leads to
 * keys from its own key up to node i + 1's (node 0's key is LMDB's empty
 * stand-in for lo). A key out of place would send a lookup down the wrong
 * child, where the entry it seeks is "not found".
 */
static int walk_tree(struct walk *w, uint64_t pgno, int depth, struct key lo, struct key hi)
{
	const uint8_t *p = page_at(w, pgno);
	uint16_t flags = get16(p + 10), lower = get16(p + 12), upper = get16(p + 14);
	unsigned nkeys;
	int is_leaf;
	struct key prev = {0};

	if (depth > MAX_DEPTH)
		return bad(w, pgno, "the tree is deeper than %d levels", MAX_DEPTH);
	if (get64(p) != pgno)
		return bad(w, pgno, "its header says it is page %llu (damaged, or a page written in the wrong place)",
			   (unsigned long long)get64(p));
	if ((flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META)) != P_BRANCH &&
	    (flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META)) != P_LEAF)
		return bad(w, pgno, "it is neither a branch nor a leaf page (flags 0x%04x)", flags);
	if (flags & (P_LEAF2 | P_SUBP))
		return bad(w, pgno, "it is a duplicate-key page (flags 0x%04x), which accrue never writes", flags);
	if (lower < PAGE_HDR || lower > upper || upper > w->psize || (lower - PAGE_HDR) % 2)
		return bad(w, pgno, "its free-space bounds (%u, %u) do not fit a %llu-byte page", lower, upper,
			   (unsigned long long)w->psize);
	is_leaf = (flags & P_LEAF) != 0;
	nkeys = (unsigned)(lower - PAGE_HDR) / 2;
	/* An emptied tree loses its root (P_INVALID): a page in a tree holds something. */
	if (nkeys == 0)
		return bad(w, pgno, "it holds no entries");
	if (is_leaf) {
		w->leaf++;
		if (w->leaf_depth < 0)
			w->leaf_depth = depth;
		else if (w->leaf_depth != depth)
			return bad(w, pgno, "a leaf at depth %d where the others are at %d", depth, w->leaf_depth);
	} else {
		w->branch++;
	}
	for (unsigned i = 0; i < nkeys; i++) {
		uint16_t off = get16(p + PAGE_HDR + 2 * i);
		const uint8_t *node = p + off, *key, *data;
		uint16_t nflags, ksize;
		uint64_t dsize;

		if (off < upper || off % 2 || (uint64_t)off + NODE_HDR > w->psize)
			return bad(w, pgno, "node %u's offset %u lies outside the page's node area", i, off);
		nflags = get16(node + 4);
		ksize = get16(node + 6);
		key = node + NODE_HDR;
		if (ksize > MAX_KEY || (uint64_t)off + NODE_HDR + ksize > w->psize)
			return bad(w, pgno, "node %u's key of %u bytes runs past the page", i, ksize);
		if (!(is_leaf || i > 0)) {
			/* Branch node 0: its key is not compared. */
		} else if (w->free_tree && ksize != 8) {
			return bad(w, pgno, "node %u's key is %u bytes, not a transaction id", i, ksize);
		} else {
			struct key k = {key, ksize};
			if (i > (is_leaf ? 0u : 1u) && key_cmp(w, prev, k) >= 0)
				return bad(w, pgno, "node %u's key is not after node %u's (keys out of order)", i, i - 1);
			if ((lo.p && key_cmp(w, k, lo) < 0) || (hi.p && key_cmp(w, k, hi) >= 0))
				return bad(w, pgno, "node %u's key lies outside the range its parent gives this page", i);
			prev = k;
		}
		if (!is_leaf) {
			uint64_t child = (uint64_t)get16(node) | (uint64_t)get16(node + 2) << 16 | (uint64_t)nflags << 32;
			struct key clo = i > 0 ? (struct key){key, ksize} : lo, chi = hi;
			if (i + 1 < nkeys) {
				/* The next node's key bounds this child; it is checked when its turn comes. */
				uint16_t noff = get16(p + PAGE_HDR + 2 * (i + 1));
				if (noff < upper || noff % 2 || (uint64_t)noff + NODE_HDR > w->psize ||
				    get16(p + noff + 6) > MAX_KEY || (uint64_t)noff + NODE_HDR + get16(p + noff + 6) > w->psize)
					return bad(w, pgno, "node %u's offset %u lies outside the page's node area", i + 1, noff);
				chi = (struct key){p + noff + NODE_HDR, get16(p + noff + 6)};
				if (w->free_tree && chi.n != 8)
					return bad(w, pgno, "node %u's key is %u bytes, not a transaction id", i + 1, chi.n);
			}
			if (claim(w, child, 1, "child page") || walk_tree(w, child, depth + 1, clo, chi))
				return 1;
			continue;
		}
		dsize = (uint64_t)get16(node) | (uint64_t)get16(node + 2) << 16;
		data = key + ksize;
		if (nflags & ~(F_BIGDATA | F_SUBDATA) || (nflags & F_DUPDATA))
			return bad(w, pgno, "node %u has flags 0x%04x that accrue never writes", i, nflags);
		if (nflags & F_BIGDATA) {
			if ((uint64_t)off + NODE_HDR + ksize + 8 > w->psize)
				return bad(w, pgno, "node %u's overflow page number runs past the page", i);
			if (check_overflow(w, pgno, get64(data), dsize, &data))
				return 1;
		} else if ((uint64_t)off + NODE_HDR + ksize + dsize > w->psize) {
			return bad(w, pgno, "node %u's value of %llu bytes runs past the page", i, (unsigned long long)dsize);
		}
		if (w->free_tree && check_free_list(w, pgno, data, dsize))
			return 1;
		if (nflags & F_SUBDATA) {
			if (w->free_tree || dsize != DB_SIZE)
				return bad(w, pgno, "node %u is marked as a database record but holds %llu bytes", i,
					   (unsigned long long)dsize);
			if (walk_subdb(w, pgno, key, ksize, data))
				return 1;
		}
		w->entries++;
	}
	return 0;
}

/* Walk one of the meta page's two trees (free pages, main). */
static int walk_core(struct walk *w, const struct db_info *db, const char *tree, int free_tree)
{
	w->tree = tree;
	w->free_tree = free_tree;
	w->branch = w->leaf = w->overflow = w->entries = 0;
	w->leaf_depth = -1;
	if (db->root == P_INVALID)
		return db->entries ? bad(w, 0, "it has no root but claims %llu entries", (unsigned long long)db->entries)
				   : 0;
	if (claim(w, db->root, 1, "root page") || walk_tree(w, db->root, 1, (struct key){0}, (struct key){0}))
		return 1;
	if (w->leaf_depth != db->depth || w->entries != db->entries || w->branch != db->branch_pages ||
	    w->leaf != db->leaf_pages || w->overflow != db->overflow_pages)
		return bad(w, db->root,
			   "the meta page says depth %u, %llu entries, %llu/%llu/%llu branch/leaf/overflow pages; the "
			   "tree has depth %d, %llu entries, %llu/%llu/%llu",
			   db->depth, (unsigned long long)db->entries, (unsigned long long)db->branch_pages,
			   (unsigned long long)db->leaf_pages, (unsigned long long)db->overflow_pages, w->leaf_depth,
			   (unsigned long long)w->entries, (unsigned long long)w->branch, (unsigned long long)w->leaf,
			   (unsigned long long)w->overflow);
	return 0;
}

/* Read meta page i (at offset off) as LMDB does: it must be a meta page with LMDB's magic and version. */
static int meta_read(int fd, uint64_t off, uint8_t meta[META_SIZE], char *why, size_t whylen)
{
	uint8_t page[PAGE_HDR + META_SIZE];
	ssize_t n = pread(fd, page, sizeof page, (off_t)off);

	if (n != (ssize_t)sizeof page) {
		snprintf(why, whylen, "it is cut short");
		return -1;
	}
	if (!(get16(page + 10) & P_META)) {
		snprintf(why, whylen, "it is not marked as a meta page (flags 0x%04x)", get16(page + 10));
		return -1;
	}
	if (get32(page + PAGE_HDR) != MDB_MAGIC) {
		snprintf(why, whylen, "it does not start with LMDB's magic number");
		return -1;
	}
	if (get32(page + PAGE_HDR + 4) != MDB_DATA_VERSION) {
		snprintf(why, whylen, "its format version is %u, not %u", get32(page + PAGE_HDR + 4), MDB_DATA_VERSION);
		return -1;
	}
	memcpy(meta, page + PAGE_HDR, META_SIZE);
	return 0;
}

int pagecheck_file(const char *path, struct pagecheck_result *r, char *err, size_t errlen)
{
	struct pagecheck_result local;
	uint8_t meta[2][META_SIZE];
	const uint8_t *use;
	struct db_info free_db, main_db;
	struct walk w;
	struct stat st;
	char why[2][200];
	int ok[2], fd, rc;
	uint64_t psize, need;
	void *map;

	if (!r)
		r = &local;
	memset(r, 0, sizeof *r);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	r->file_size = (uint64_t)st.st_size;
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	ok[0] = meta_read(fd, 0, meta[0], why[0], sizeof why[0]) == 0;
	psize = ok[0] ? get32(meta[0] + META_DBS) : 4096;
	if (ok[0] && (psize < 512 || psize > 65536 || (psize & (psize - 1)))) {
		snprintf(why[0], sizeof why[0], "its page size %llu is not one LMDB uses", (unsigned long long)psize);
		ok[0] = 0;
		psize = 4096;
	}
	ok[1] = meta_read(fd, psize, meta[1], why[1], sizeof why[1]) == 0;
	if (!ok[0] || !ok[1]) {
		/* LMDB refuses a file with either meta page bad; say which and why. */
		snprintf(err, errlen, "%s: meta page %d is damaged: %s", path, ok[0] ? 1 : 0, ok[0] ? why[1] : why[0]);
		close(fd);
		return 1;
	}
	/*
	 * LMDB writes transaction t's meta to page t & 1, so the two pages hold
	 * consecutive transactions, each on its own page (both 0 in a new
	 * file). It opens the later one: a txnid raised by damage would make it
	 * open the state before the last commit, or one that never was.
	 */
	{
		uint64_t t0 = get64(meta[0] + META_TXNID), t1 = get64(meta[1] + META_TXNID);
		int whole = (t0 == 0 && t1 == 0) || (!(t0 & 1) && (t1 & 1) && (t1 == t0 + 1 || t0 == t1 + 1));

		if (!whole) {
			/* A txnid on the wrong page is that page's damage; of two
			 * far apart, the larger one is the one LMDB would trust. */
			int which = (t0 & 1) ? 0 : !(t1 & 1) ? 1 : t1 > t0;
			snprintf(err, errlen,
				 "%s: meta page %d is damaged: it names transaction %llu where the other names %llu (the "
				 "two must be consecutive, the even one on page 0)",
				 path, which, (unsigned long long)(which ? t1 : t0), (unsigned long long)(which ? t0 : t1));
			close(fd);
			return 1;
		}
	}
	/* LMDB uses the meta page of the later transaction. */
	use = get64(meta[1] + META_TXNID) > get64(meta[0] + META_TXNID) ? meta[1] : meta[0];
	db_read(use + META_DBS, &free_db);
	db_read(use + META_DBS + DB_SIZE, &main_db);
	r->psize = (uint32_t)psize;
	if (get64(use + META_LAST_PG) < 1 || get64(use + META_LAST_PG) >= UINT64_MAX / psize) {
		snprintf(err, errlen, "%s: meta page %d names last page %llu", path, use == meta[1],
			 (unsigned long long)get64(use + META_LAST_PG));
		close(fd);
		return 1;
	}
	need = (get64(use + META_LAST_PG) + 1) * psize;
	r->need_size = need;
	if ((uint64_t)st.st_size < need) {
		snprintf(err, errlen,
			 "%s is %llu bytes, but LMDB's last page ends at byte %llu: the file was cut short (truncated), "
			 "and the pages past its end are lost",
			 path, (unsigned long long)st.st_size, (unsigned long long)need);
		close(fd);
		return 1;
	}
	map = mmap(NULL, need, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
		return -1;
	}
	memset(&w, 0, sizeof w);
	w.map = map;
	w.psize = psize;
	w.last_pg = get64(use + META_LAST_PG);
	w.r = r;
	w.err = err;
	w.errlen = errlen;
	w.seen = calloc(w.last_pg / 8 + 1, 1);
	w.freed = calloc(w.last_pg / 8 + 1, 1);
	if (!w.seen || !w.freed) {
		free(w.seen);
		free(w.freed);
		munmap(map, need);
		snprintf(err, errlen, "out of memory checking %s", path);
		return -1;
	}
	rc = walk_core(&w, &free_db, "the free-page tree", 1) || walk_core(&w, &main_db, "the main tree", 0);
	/* A page both free and in a tree would be written over by the next
	 * commit that takes it from the list. */
	for (uint64_t p = 2; !rc && p <= w.last_pg; p++)
		if (w.freed[p / 8] & w.seen[p / 8] & (1u << (p % 8))) {
			w.tree = "the free-page tree";
			rc = bad(&w, p, "it is in a free-page list and also in use (the next commits would write over it)");
		}
	if (rc) {
		/* Name the file too: err holds "page N of TREE: what". */
		char tmp[600];
		snprintf(tmp, sizeof tmp, "%s", err);
		snprintf(err, errlen, "%s: %s", path, tmp);
	}
	free(w.seen);
	free(w.freed);
	munmap(map, need);
	return rc ? 1 : 0;
}
