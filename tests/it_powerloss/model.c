/*
 * model.c - the shim's log as a sequence of events on files, and the data
 * directory a power cut at any point of it would leave (powerloss.h).
 *
 * What survives a power cut, as modelled here:
 *   - a write is on disk once an fsync or fdatasync of its file (or a
 *     sync of everything) has returned after it, or when the write itself
 *     returned if it went through an O_DSYNC descriptor: then its own bytes
 *     only, the way Linux syncs just the range of an O_DSYNC write;
 *   - any other write made before the cut may or may not be there, each
 *     independently, whole or by 4 KiB pages (a page that is there is there
 *     whole: sector tearing inside a page is not modelled); a write that is
 *     there extends the file, one that is not leaves a hole or the old bytes;
 *   - ftruncate and fallocate are like writes;
 *   - directory operations (create, rename, unlink) are kept in order by
 *     the file system's journal: all of them up to the last one made
 *     durable, and a prefix of the rest. A rename or unlink is durable once
 *     the directory is fsynced; a create also once its file's contents are
 *     synced (what ext4, XFS and btrfs do for a new file's first fsync, on
 *     which LMDB's data.mdb relies: neither LMDB nor accrued fsyncs the
 *     directory after making it).
 */
#include "powerloss.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define PAGE 4096u

static const char *const op_names[] = {
	[PL_WRITE] = "write", [PL_TRUNCATE] = "truncate", [PL_FALLOCATE] = "fallocate", [PL_SYNC] = "sync",
	[PL_DIRSYNC] = "dirsync", [PL_SYNC_ALL] = "sync-all", [PL_CREATE] = "create", [PL_RENAME] = "rename",
	[PL_UNLINK] = "unlink", [PL_UNMODELLED] = "UNMODELLED", [PL_SYNC_RANGE] = "flush-hint",
};

static const char *op_name(int op)
{
	switch (op) {
	case PL_SEND:
		return "SEND";
	case PL_ACK:
		return "ACK";
	case PL_MARK:
		return "MARK";
	}
	if (op > 0 && op < (int)(sizeof op_names / sizeof op_names[0]) && op_names[op])
		return op_names[op];
	return "?";
}

const char *pl_subset_name(int subset)
{
	switch (subset) {
	case PL_SUBSET_NONE:
		return "none";
	case PL_SUBSET_ALL:
		return "all";
	case PL_SUBSET_CALLS:
		return "calls";
	case PL_SUBSET_PAGES:
		return "pages";
	}
	return "?";
}

static int is_dir_op(int op)
{
	return op == PL_CREATE || op == PL_RENAME || op == PL_UNLINK;
}

static int is_content_op(int op)
{
	return op == PL_WRITE || op == PL_TRUNCATE || op == PL_FALLOCATE;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* ---- loading -------------------------------------------------------------------- */

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	*out = NULL;
	*len = 0;
	if (fd < 0) {
		/* No data file: nothing but zeros was ever written. */
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "powerloss: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	*out = malloc((size_t)st.st_size + 1);
	if (!*out) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *out + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* The volatile namespace while reading the log: which file a name is. */
struct names {
	char name[PL_MAX_OBJECTS][PL_NAME_MAX];
	int obj[PL_MAX_OBJECTS];
	int n;
};

static int names_find(const struct names *ns, const char *name)
{
	for (int i = 0; i < ns->n; i++)
		if (strcmp(ns->name[i], name) == 0)
			return i;
	return -1;
}

static int names_lookup(const struct names *ns, const char *name)
{
	int i = names_find(ns, name);
	return i < 0 ? -1 : ns->obj[i];
}

static void names_unbind(struct names *ns, const char *name)
{
	int i = names_find(ns, name);
	if (i < 0)
		return;
	ns->n--;
	if (i != ns->n) {
		memcpy(ns->name[i], ns->name[ns->n], PL_NAME_MAX);
		ns->obj[i] = ns->obj[ns->n];
	}
}

static int names_bind(struct names *ns, const char *name, int obj)
{
	names_unbind(ns, name);
	if (ns->n >= PL_MAX_OBJECTS)
		return -1;
	snprintf(ns->name[ns->n], PL_NAME_MAX, "%s", name);
	ns->obj[ns->n++] = obj;
	return 0;
}

/* Which file each event is about, following creates and renames. */
static int assign_objects(struct pl_model *m)
{
	struct names *ns = calloc(1, sizeof *ns);

	if (!ns)
		return -1;
	for (size_t i = 0; i < m->nev; i++) {
		struct pl_event *e = &m->ev[i];
		const struct pl_record *r = &e->r;

		e->obj = -1;
		e->durable_at = PL_NEVER;
		switch (r->op) {
		case PL_CREATE:
			if (m->nobj >= PL_MAX_OBJECTS || names_bind(ns, r->name, m->nobj) != 0) {
				fprintf(stderr, "powerloss: more than %d files in the data directory\n", PL_MAX_OBJECTS);
				goto fail;
			}
			snprintf(m->obj_name[m->nobj], PL_NAME_MAX, "%s", r->name);
			e->obj = m->nobj++;
			m->dir_ops++;
			break;
		case PL_WRITE:
		case PL_TRUNCATE:
		case PL_FALLOCATE:
		case PL_SYNC:
		case PL_SYNC_RANGE:
			if (!r->name[0])
				break; /* msync: about no file we know */
			e->obj = names_lookup(ns, r->name);
			if (e->obj < 0) {
				fprintf(stderr, "powerloss: event %zu: %s of %s, which the log never saw created\n", i,
					op_name(r->op), r->name);
				goto fail;
			}
			break;
		case PL_RENAME:
			if (!r->name[0]) {
				fprintf(stderr, "powerloss: event %zu: %s was moved into the data directory from outside; "
					"the model cannot know its contents\n", i, r->name2);
				goto fail;
			}
			e->obj = names_lookup(ns, r->name);
			if (e->obj < 0) {
				fprintf(stderr, "powerloss: event %zu: rename of %s, which the log never saw created\n", i,
					r->name);
				goto fail;
			}
			names_unbind(ns, r->name);
			if (r->name2[0] && names_bind(ns, r->name2, e->obj) != 0)
				goto fail;
			m->dir_ops++;
			break;
		case PL_UNLINK:
			e->obj = names_lookup(ns, r->name);
			names_unbind(ns, r->name);
			m->dir_ops++;
			break;
		case PL_UNMODELLED:
			fprintf(stderr, "powerloss: event %zu: %s on %s: the model cannot replay it\n", i, r->name2,
				r->name);
			goto fail;
		default:
			break;
		}
		if (r->op == PL_WRITE) {
			m->writes++;
			m->bytes_written += r->len;
			if (r->flags & PL_F_DSYNC)
				m->dsync_writes++;
			if (r->flags & PL_F_ZERO)
				m->zero_writes++;
			if (!(r->flags & PL_F_ZERO) && (r->data_off > m->nbytes || r->len > m->nbytes - r->data_off)) {
				fprintf(stderr, "powerloss: event %zu: its bytes are past the end of the data file\n", i);
				goto fail;
			}
		}
		if ((r->op == PL_SYNC || r->op == PL_DIRSYNC || r->op == PL_SYNC_ALL) && !(r->flags & PL_F_LIED))
			m->syncs++;
		if (r->flags & PL_F_LIED)
			m->lied++;
	}
	free(ns);
	return 0;
fail:
	free(ns);
	return -1;
}

/* When each event became durable: walked backwards, knowing the next sync of every kind. */
static void assign_durability(struct pl_model *m)
{
	int64_t next_sync[PL_MAX_OBJECTS], next_content[PL_MAX_OBJECTS], next_dirsync = PL_NEVER,
		next_all = PL_NEVER;

	for (int i = 0; i < PL_MAX_OBJECTS; i++)
		next_sync[i] = next_content[i] = PL_NEVER;
	for (size_t k = m->nev; k-- > 0;) {
		struct pl_event *e = &m->ev[k];
		int64_t i = (int64_t)k;
		int lied = (e->r.flags & PL_F_LIED) != 0;

		switch (e->r.op) {
		case PL_SYNC:
			if (!lied && e->obj >= 0)
				next_sync[e->obj] = next_content[e->obj] = i;
			break;
		case PL_DIRSYNC:
			if (!lied)
				next_dirsync = i;
			break;
		case PL_SYNC_ALL:
			if (!lied)
				next_all = i;
			break;
		case PL_WRITE:
			if (e->r.flags & PL_F_DSYNC) {
				e->durable_at = i;
				next_content[e->obj] = i;
			} else {
				e->durable_at = min64(next_sync[e->obj], next_all);
			}
			break;
		case PL_TRUNCATE:
		case PL_FALLOCATE:
			e->durable_at = min64(next_sync[e->obj], next_all);
			break;
		case PL_CREATE:
			e->durable_at = min64(min64(next_content[e->obj], next_dirsync), next_all);
			break;
		case PL_RENAME:
		case PL_UNLINK:
			e->durable_at = min64(next_dirsync, next_all);
			break;
		default:
			break;
		}
	}
}

int model_load(struct pl_model *m, const char *log_path, const char *data_path)
{
	uint8_t *raw;
	size_t len;

	memset(m, 0, sizeof *m);
	if (read_whole(log_path, &raw, &len) != 0 || !raw) {
		fprintf(stderr, "powerloss: cannot read the log %s\n", log_path);
		free(raw);
		return -1;
	}
	if (len % sizeof(struct pl_record)) {
		fprintf(stderr, "powerloss: the log %s ends in a torn record (%zu bytes)\n", log_path, len);
		free(raw);
		return -1;
	}
	m->nev = len / sizeof(struct pl_record);
	m->ev = calloc(m->nev + 1, sizeof *m->ev);
	if (!m->ev) {
		free(raw);
		return -1;
	}
	for (size_t i = 0; i < m->nev; i++) {
		memcpy(&m->ev[i].r, raw + i * sizeof(struct pl_record), sizeof(struct pl_record));
		if (m->ev[i].r.magic != PL_MAGIC) {
			fprintf(stderr, "powerloss: log record %zu has a bad magic\n", i);
			free(raw);
			model_free(m);
			return -1;
		}
		m->ev[i].r.name[PL_NAME_MAX - 1] = m->ev[i].r.name2[PL_NAME_MAX - 1] = '\0';
	}
	free(raw);
	if (read_whole(data_path, &m->bytes, &m->nbytes) != 0 || assign_objects(m) != 0) {
		model_free(m);
		return -1;
	}
	assign_durability(m);
	return 0;
}

/* ---- the state after a cut ---------------------------------------------------------- */

/* xorshift64*: the same cut, subset and seed give the same state. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* A coin that comes up heads with probability p_milli / 1000. */
static int coin(uint64_t *s, unsigned p_milli)
{
	return (unsigned)(rng_next(s) % 1000) < p_milli;
}

struct content {
	uint8_t *buf;
	uint64_t size, cap;
	int oom;
};

/*
 * Buffers are anonymous mappings (zeros when they grow) marked
 * MADV_DONTFORK: the test forks a daemon and accrue-check for every state,
 * and a fork would otherwise make every page of them copy-on-write, so that
 * rebuilding the next state took a page fault per page.
 */
static void content_reserve(struct content *c, uint64_t end)
{
	uint64_t cap;
	void *p;

	if (end <= c->cap || c->oom)
		return;
	cap = c->cap ? c->cap : 65536;
	while (cap < end)
		cap *= 2;
	p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		c->oom = 1;
		return;
	}
	madvise(p, cap, MADV_DONTFORK);
	if (c->buf) {
		memcpy(p, c->buf, c->cap);
		munmap(c->buf, c->cap);
	}
	c->buf = p;
	c->cap = cap;
}

static void content_free(struct content *c)
{
	if (c->buf)
		munmap(c->buf, c->cap);
	memset(c, 0, sizeof *c);
}

/* Bytes [from, to) of a write land in the file. */
static void content_write(struct content *c, const struct pl_model *m, const struct pl_record *r, uint64_t from,
			  uint64_t to)
{
	uint64_t at = r->off + from;

	content_reserve(c, r->off + to);
	if (c->oom)
		return;
	if (r->flags & PL_F_ZERO)
		memset(c->buf + at, 0, to - from);
	else
		memcpy(c->buf + at, m->bytes + r->data_off + from, to - from);
	if (c->size < r->off + to)
		c->size = r->off + to;
}

static void content_truncate(struct content *c, uint64_t len)
{
	if (len < c->size && c->buf)
		memset(c->buf + len, 0, c->size - len);
	content_reserve(c, len);
	c->size = len;
}

static void content_fallocate(struct content *c, const struct pl_record *r)
{
	/* FALLOC_FL_KEEP_SIZE 1, FALLOC_FL_PUNCH_HOLE 2, FALLOC_FL_ZERO_RANGE 16 */
	uint64_t end = r->off + r->len;
	int keep = (r->arg & 1) != 0;

	if (r->arg & (2 | 16)) {
		uint64_t stop = keep && end > c->size ? c->size : end;
		content_reserve(c, stop);
		if (!c->oom && stop > r->off)
			memset(c->buf + r->off, 0, stop - r->off);
	}
	if (!keep && end > c->size) {
		content_reserve(c, end);
		c->size = end;
	}
}

static void apply_content(struct content *c, const struct pl_model *m, const struct pl_record *r)
{
	switch (r->op) {
	case PL_WRITE:
		content_write(c, m, r, 0, r->len);
		break;
	case PL_TRUNCATE:
		content_truncate(c, r->off);
		break;
	case PL_FALLOCATE:
		content_fallocate(c, r);
		break;
	}
}

static void apply_dir_op(struct names *ns, const struct pl_event *e)
{
	switch (e->r.op) {
	case PL_CREATE:
		names_bind(ns, e->r.name, e->obj);
		break;
	case PL_RENAME:
		/* The journal keeps order, so the name is there unless an earlier rename moved it. */
		if (names_lookup(ns, e->r.name) == e->obj) {
			names_unbind(ns, e->r.name);
			if (e->r.name2[0])
				names_bind(ns, e->r.name2, e->obj);
		}
		break;
	case PL_UNLINK:
		names_unbind(ns, e->r.name);
		break;
	}
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct pl_file *)a)->name, ((const struct pl_file *)b)->name);
}

/*
 * What every cut from base->cut on has of each file for sure: its content
 * events before the first one that was not durable at base->cut, applied.
 * Cut points come in ascending order, and an event durable at one cut is
 * durable at every later one, so the base only ever grows: a state copies
 * it and replays the few events after it, instead of the whole log.
 */
struct pl_base {
	size_t cut;
	size_t upto[PL_MAX_OBJECTS]; /* the file's content events before this index are in c[] */
	struct content c[PL_MAX_OBJECTS];
	/* The last state's files, kept from state to state: a fresh buffer of
	 * tens of MiB each time costs more in page faults than the rest. */
	struct content scratch[PL_MAX_OBJECTS];
};

static void base_reset(struct pl_base *b)
{
	for (int i = 0; i < PL_MAX_OBJECTS; i++) {
		content_free(&b->c[i]);
		content_free(&b->scratch[i]);
	}
	memset(b, 0, sizeof *b);
}

static int base_advance(struct pl_model *m, size_t cut)
{
	struct pl_base *b = m->base;
	size_t first_pending[PL_MAX_OBJECTS], lo = cut;

	if (!b && !(b = m->base = calloc(1, sizeof *b)))
		return -1;
	if (cut < b->cut)
		base_reset(b);
	for (int o = 0; o < PL_MAX_OBJECTS; o++) {
		first_pending[o] = cut;
		if (b->upto[o] < lo)
			lo = b->upto[o];
	}
	for (size_t i = lo; i < cut; i++) {
		const struct pl_event *e = &m->ev[i];
		if (is_content_op(e->r.op) && e->obj >= 0 && e->durable_at >= (int64_t)cut && first_pending[e->obj] == cut)
			first_pending[e->obj] = i;
	}
	for (size_t i = lo; i < cut; i++) {
		const struct pl_event *e = &m->ev[i];
		if (is_content_op(e->r.op) && e->obj >= 0 && i >= b->upto[e->obj] && i < first_pending[e->obj])
			apply_content(&b->c[e->obj], m, &e->r);
	}
	for (int o = 0; o < PL_MAX_OBJECTS; o++) {
		if (b->c[o].oom)
			return -1;
		b->upto[o] = first_pending[o];
	}
	b->cut = cut;
	return 0;
}

/* dst = src, keeping dst's buffer; past its size a content's buffer holds zeros. */
static void content_copy(struct content *dst, const struct content *src)
{
	if (dst->size > src->size)
		memset(dst->buf + src->size, 0, (size_t)(dst->size - src->size));
	content_reserve(dst, src->size);
	if (!dst->oom && src->size)
		memcpy(dst->buf, src->buf, (size_t)src->size);
	dst->size = src->size;
}

int model_state(struct pl_model *m, size_t cut, int subset, uint64_t seed, struct pl_state *out)
{
	struct content *cs;
	struct names *ns = calloc(1, sizeof *ns);
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull + cut * 0xbf58476d1ce4e5b9ull + (uint64_t)subset + 1;
	unsigned p_milli = 0;
	size_t last_durable_dir = 0, pending_dir = 0, dir_prefix = 0, dir_seen = 0, lo;
	int have_durable_dir = 0, oom = 0;
	char want[PL_MAX_OBJECTS] = { 0 };
	XXH3_state_t *hs;

	memset(out, 0, sizeof *out);
	if (cut > m->nev)
		cut = m->nev;
	if (!ns || base_advance(m, cut) != 0) {
		free(ns);
		return -1;
	}
	cs = m->base->scratch;
	rng_next(&rng);
	/* How likely each unflushed write is to be there: a new density each state. */
	if (subset == PL_SUBSET_CALLS || subset == PL_SUBSET_PAGES)
		p_milli = 100 + (unsigned)(rng_next(&rng) % 801);

	/* Directory operations: every one up to the last durable one, then a prefix of the rest. */
	for (size_t i = 0; i < cut; i++)
		if (is_dir_op(m->ev[i].r.op) && m->ev[i].durable_at < (int64_t)cut) {
			last_durable_dir = i;
			have_durable_dir = 1;
		}
	for (size_t i = have_durable_dir ? last_durable_dir + 1 : 0; i < cut; i++)
		if (is_dir_op(m->ev[i].r.op))
			pending_dir++;
	if (subset == PL_SUBSET_ALL)
		dir_prefix = pending_dir;
	else if (subset != PL_SUBSET_NONE)
		dir_prefix = pending_dir ? (size_t)(rng_next(&rng) % (pending_dir + 1)) : 0;
	out->pending += pending_dir;
	out->applied += dir_prefix;
	for (size_t i = 0; i < cut; i++) {
		if (!is_dir_op(m->ev[i].r.op))
			continue;
		if ((have_durable_dir && i <= last_durable_dir) || dir_seen++ < dir_prefix)
			apply_dir_op(ns, &m->ev[i]);
	}

	/* Contents, of the files the directory has (LMDB makes lock.mdb afresh). */
	lo = cut;
	for (int i = 0; i < ns->n; i++) {
		int o = ns->obj[i];
		if (strcmp(ns->name[i], "lock.mdb") == 0)
			continue;
		want[o] = 1;
		content_copy(&cs[o], &m->base->c[o]);
		if (m->base->upto[o] < lo)
			lo = m->base->upto[o];
	}
	for (size_t i = lo; i < cut; i++) {
		const struct pl_event *e = &m->ev[i];
		const struct pl_record *r = &e->r;

		if (!is_content_op(r->op) || e->obj < 0 || !want[e->obj] || i < m->base->upto[e->obj])
			continue;
		if (e->durable_at < (int64_t)cut) {
			apply_content(&cs[e->obj], m, r);
			continue;
		}
		if (subset == PL_SUBSET_PAGES && r->op == PL_WRITE) {
			/* Each page the write touches, by the file's page boundaries. */
			uint64_t from = 0;
			while (from < r->len) {
				uint64_t page_end = ((r->off + from) / PAGE + 1) * PAGE - r->off;
				uint64_t to = page_end < r->len ? page_end : r->len;
				out->pending++;
				if (coin(&rng, p_milli)) {
					out->applied++;
					content_write(&cs[e->obj], m, r, from, to);
				}
				from = to;
			}
			continue;
		}
		out->pending++;
		if (subset == PL_SUBSET_ALL || (subset != PL_SUBSET_NONE && coin(&rng, p_milli))) {
			out->applied++;
			apply_content(&cs[e->obj], m, r);
		}
	}

	for (int i = 0; i < ns->n; i++) {
		struct content *c = &cs[ns->obj[i]];
		struct pl_file *f;
		if (!want[ns->obj[i]])
			continue;
		f = &out->files[out->nfiles++];
		snprintf(f->name, sizeof f->name, "%s", ns->name[i]);
		f->size = c->size;
		f->buf = c->buf;
		oom |= c->oom;
	}
	free(ns);
	qsort(out->files, (size_t)out->nfiles, sizeof out->files[0], cmp_files);

	hs = XXH3_createState();
	if (!hs || oom) {
		XXH3_freeState(hs);
		state_free(out);
		return -1;
	}
	XXH3_64bits_reset(hs);
	for (int i = 0; i < out->nfiles; i++) {
		const struct pl_file *f = &out->files[i];
		XXH3_64bits_update(hs, f->name, strlen(f->name) + 1);
		XXH3_64bits_update(hs, &f->size, sizeof f->size);
		if (f->size)
			XXH3_64bits_update(hs, f->buf, (size_t)f->size);
	}
	out->hash = XXH3_64bits_digest(hs);
	XXH3_freeState(hs);
	return 0;
}

void model_free(struct pl_model *m)
{
	if (m->base)
		base_reset(m->base);
	free(m->base);
	free(m->ev);
	free(m->bytes);
	memset(m, 0, sizeof *m);
}

void state_free(struct pl_state *s)
{
	/* The bytes are the model's. */
	s->nfiles = 0;
}

const struct pl_file *state_file(const struct pl_state *s, const char *name)
{
	for (int i = 0; i < s->nfiles; i++)
		if (strcmp(s->files[i].name, name) == 0)
			return &s->files[i];
	return NULL;
}

static int empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[HARNESS_PATH_MAX * 2];

	if (!d) {
		if (errno == ENOENT)
			return mkdir(dir, 0700);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (unlink(path) != 0) {
			fprintf(stderr, "powerloss: cannot remove %s: %s\n", path, strerror(errno));
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/* Pages of zeros are left as holes: they read the same, and a preallocated file is mostly zeros. */
static int write_sparse(const char *path, const struct pl_file *f)
{
	static const uint8_t zeros[PAGE];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)f->size) != 0)
		goto fail;
	for (uint64_t off = 0; off < f->size; off += PAGE) {
		size_t n = f->size - off < PAGE ? (size_t)(f->size - off) : PAGE;
		if (memcmp(f->buf + off, zeros, n) == 0)
			continue;
		if (pwrite(fd, f->buf + off, n, (off_t)off) != (ssize_t)n)
			goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "powerloss: cannot write %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int state_write_dir(const struct pl_state *s, const char *dir)
{
	char path[HARNESS_PATH_MAX * 2];

	if (empty_dir(dir) != 0) {
		fprintf(stderr, "powerloss: cannot empty %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < s->nfiles; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, s->files[i].name);
		if (write_sparse(path, &s->files[i]) != 0)
			return -1;
	}
	return 0;
}

void model_dump(const struct pl_model *m, size_t from, size_t to)
{
	if (to > m->nev)
		to = m->nev;
	for (size_t i = from; i < to; i++) {
		const struct pl_event *e = &m->ev[i];
		const struct pl_record *r = &e->r;
		char durable[32] = "-";

		if (e->durable_at != PL_NEVER)
			snprintf(durable, sizeof durable, "%lld", (long long)e->durable_at);
		switch (r->op) {
		case PL_SEND:
		case PL_ACK:
			if (r->op == PL_ACK && !(r->flags & PL_F_ENROL))
				fprintf(stderr, "  #%zu ACK sale %llu (seq %llu)\n", i, (unsigned long long)r->arg,
					(unsigned long long)r->off);
			else
				fprintf(stderr, "  #%zu %s %s %llu\n", i, op_name(r->op),
					(r->flags & PL_F_ENROL) ? "enrol" : "sale", (unsigned long long)r->arg);
			break;
		case PL_MARK:
			fprintf(stderr, "  #%zu MARK %s\n", i, r->name);
			break;
		default:
			fprintf(stderr, "  #%zu %s %s%s%s off %llu len %llu%s%s%s durable at %s\n", i, op_name(r->op), r->name,
				r->name2[0] ? " -> " : "", r->name2, (unsigned long long)r->off,
				(unsigned long long)r->len, (r->flags & PL_F_DSYNC) ? " O_DSYNC" : "",
				(r->flags & PL_F_ZERO) ? " zeros" : "", (r->flags & PL_F_LIED) ? " LIED" : "", durable);
		}
	}
}
