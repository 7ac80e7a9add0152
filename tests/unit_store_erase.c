/*
 * unit_store_erase.c - store_erase on the real store and model: once an
 * archive commits, no byte of any file in the data directory holds the
 * customer's email, phone, names, card or free text (LMDB's free pages,
 * the unused ends of its pages and the pages written after the wipe
 * included), while every other customer's stay; their journal records
 * read back erased; recovery rebuilds the same state. A crash between the
 * erasing commit and the wipe leaves the wipe to the next start; another
 * process reading an old snapshot puts the wipe off until it is gone; the
 * writer thread wipes before the archive's waiter runs; a chain record
 * that cannot be read fails the commit instead of being skipped.
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "model.h"
#include "store.h"
#include "store_int.h"

#define CUSTOMERS 40

struct ledger {
	char dir[64];
	struct store *s;
	struct model m;
	char err[512];
};

static uint32_t key_counter;

static struct proto_str S(const char *s)
{
	return proto_str_c(s);
}

/* The personal strings a customer's records carry; a test looks for each in the files. */
enum { MAIL, PHONE, FIRST, LAST, NEW_MAIL, CARD, SOURCE, REASON, COMMENT, LATE_MAIL, NSTRINGS };

static const char *personal(uint64_t id, int which)
{
	static char buf[NSTRINGS][64];
	static const struct {
		const char *before;
		int digits;
		const char *after;
	} form[NSTRINGS] = {
		{"mail-", 3, "-zq@example.org"}, {"+1555000", 4, ""},          {"Fzq", 3, "irst"},
		{"Lzq", 3, "ast"},               {"edit-", 3, "-zq@example.org"}, {"CARDZQ", 6, ""},
		{"src-", 3, "-zq-optout"},       {"why-", 3, "-zq-reason"},    {"note-", 3, "-zq-comment"},
		{"late-", 3, "-zq@example.org"},
	};

	snprintf(buf[which], sizeof buf[which], "%s%0*llu%s", form[which].before, form[which].digits,
		 (unsigned long long)id, form[which].after);
	return buf[which];
}

static struct record base(uint8_t type, uint64_t id, const struct model *m)
{
	struct record r;
	const struct model_customer *c = id ? model_customer_by_id(m, id) : NULL;

	memset(&r, 0, sizeof r);
	r.type = type;
	r.time_us = 1700000000000000LL + key_counter;
	r.customer_id = id;
	r.prev_seq = c ? c->last_seq : 0;
	key_counter++;
	memcpy(r.request_key, &key_counter, sizeof key_counter);
	r.request_key[15] = 0xE5;
	return r;
}

static uint64_t add(struct ledger *l, struct record *r)
{
	uint64_t seq = store_append(l->s, r);

	REQUIRE(seq != 0);
	REQUIRE(model_apply(&l->m, seq, r) == 0);
	return seq;
}

static void enrol(struct ledger *l, uint64_t id)
{
	struct record r = base(PROTO_ENTRY_ENROL, id, &l->m);
	r.u.enrol.email = S(personal(id, MAIL));
	r.u.enrol.phone = S(personal(id, PHONE));
	r.u.enrol.first_name = S(personal(id, FIRST));
	r.u.enrol.last_name = S(personal(id, LAST));
	r.u.enrol.member = 1;
	add(l, &r);
}

static void adjust(struct ledger *l, uint64_t id, int64_t points)
{
	struct record r = base(PROTO_ENTRY_ADJUST, id, &l->m);
	r.u.adjust.points = points;
	r.u.adjust.balance_after = model_customer_by_id(&l->m, id)->balance + points;
	r.u.adjust.reason = S(personal(id, REASON));
	r.u.adjust.comment = S(personal(id, COMMENT));
	add(l, &r);
}

static void edit_email(struct ledger *l, uint64_t id, const char *email)
{
	struct record r = base(PROTO_ENTRY_EDIT, id, &l->m);
	r.u.edit.fields = PROTO_EDIT_EMAIL;
	r.u.edit.email = S(email);
	add(l, &r);
}

/* Everything a customer can carry that is personal: an edit, a card, an opt-out, notes. */
static void book(struct ledger *l, uint64_t id)
{
	struct record r;

	edit_email(l, id, personal(id, NEW_MAIL));
	r = base(PROTO_ENTRY_CARD, id, &l->m);
	r.u.card.link = 1;
	r.u.card.card = S(personal(id, CARD));
	add(l, &r);
	r = base(PROTO_ENTRY_OPTOUT, id, &l->m);
	r.u.optout.opted_out = 1;
	r.u.optout.source = S(personal(id, SOURCE));
	add(l, &r);
	adjust(l, id, 25);
}

static uint64_t archive(struct ledger *l, uint64_t id)
{
	struct record r = base(PROTO_ENTRY_ARCHIVE, id, &l->m);
	uint64_t seq = add(l, &r);

	REQUIRE(store_erase(l->s, &l->m, seq) == 0);
	return seq;
}

static void commit(struct ledger *l)
{
	if (store_commit_now(l->s, l->err, sizeof l->err) != 0) {
		fprintf(stderr, "commit: %s\n", l->err);
		REQUIRE(0);
	}
}

/* Batches of adjustments of every customer but those archived, checkpoints between. */
static void churn(struct ledger *l, int batches)
{
	for (int b = 0; b < batches; b++) {
		for (uint64_t id = 1; id <= CUSTOMERS; id++)
			if (!model_customer_by_id(&l->m, id)->archived)
				adjust(l, id, (int64_t)(id % 7) + 1);
		if (b % 4 == 3)
			REQUIRE(store_checkpoint(l->s, &l->m) == 0);
		commit(l);
	}
}

static void open_ledger(struct ledger *l)
{
	uint64_t replayed;

	if (store_open(&l->s, l->dir, l->err, sizeof l->err) != 0) {
		fprintf(stderr, "store_open: %s\n", l->err);
		REQUIRE(0);
	}
	REQUIRE(model_init(&l->m) == 0);
	if (store_recover(l->s, &l->m, &replayed, l->err, sizeof l->err) != 0) {
		fprintf(stderr, "store_recover: %s\n", l->err);
		REQUIRE(0);
	}
}

static void close_ledger(struct ledger *l)
{
	store_close(l->s);
	l->s = NULL;
	model_free(&l->m);
}

/* How many of the files in dir hold needle somewhere; *files gets how many were read. */
static int files_holding(const char *dir, const char *needle, int *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	REQUIRE(d != NULL);
	*files = 0;
	while ((e = readdir(d))) {
		char path[600];
		struct stat st;
		uint8_t *buf;
		FILE *f;

		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
			continue;
		REQUIRE((buf = malloc((size_t)st.st_size)) != NULL);
		REQUIRE((f = fopen(path, "rb")) != NULL);
		REQUIRE(fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
		fclose(f);
		if (memmem(buf, (size_t)st.st_size, needle, strlen(needle)))
			found++;
		(*files)++;
		free(buf);
	}
	closedir(d);
	return found;
}

/* None of id's strings is left in any file of the directory. */
static void check_gone(const struct ledger *l, uint64_t id, const char *when)
{
	for (int i = 0; i < NSTRINGS; i++) {
		int files, n = files_holding(l->dir, personal(id, i), &files);
		if (n)
			fprintf(stderr, "%s: \"%s\" of customer %llu is still in %d file(s)\n", when, personal(id, i),
				(unsigned long long)id, n);
		CHECK_INT(n, 0);
		CHECK(files >= 2); /* data.mdb and lock.mdb at least */
	}
}

/* id's enrolment strings are in data.mdb (its journal records at least). */
static void check_kept(const struct ledger *l, uint64_t id)
{
	for (int i = MAIL; i <= LAST; i++) {
		int files;
		CHECK(files_holding(l->dir, personal(id, i), &files) >= 1);
	}
}

/* How many of id's strings some file still holds. */
static int strings_left(const struct ledger *l, uint64_t id)
{
	int n = 0, files;

	for (int i = 0; i < NSTRINGS; i++)
		n += files_holding(l->dir, personal(id, i), &files) > 0;
	return n;
}

struct chain_check {
	int records, erased, personal_left;
};

static int check_record(void *ctx, uint64_t seq, const struct record *rec)
{
	struct chain_check *c = ctx;
	size_t len = 0;

	(void)seq;
	c->records++;
	c->erased += rec->erased;
	switch (rec->type) {
	case PROTO_ENTRY_ENROL:
		len = rec->u.enrol.email.len + rec->u.enrol.phone.len + rec->u.enrol.first_name.len +
		      rec->u.enrol.last_name.len;
		break;
	case PROTO_ENTRY_EDIT:
		len = rec->u.edit.email.len + rec->u.edit.phone.len + rec->u.edit.first_name.len +
		      rec->u.edit.last_name.len;
		break;
	case PROTO_ENTRY_CARD: len = rec->u.card.card.len; break;
	case PROTO_ENTRY_OPTOUT: len = rec->u.optout.source.len; break;
	case PROTO_ENTRY_ADJUST: len = rec->u.adjust.reason.len + rec->u.adjust.comment.len; break;
	default: break;
	}
	c->personal_left += len != 0;
	return 0;
}

/* The customer's chain from seq: every record that carried personal data now erased, none left. */
static void check_chain(struct ledger *l, uint64_t seq, int want_erased)
{
	struct chain_check c = {0, 0, 0};

	CHECK_INT(store_walk_chain(l->s, seq, check_record, &c), 0);
	CHECK_INT(c.personal_left, 0);
	CHECK_INT(c.erased, want_erased);
	CHECK(c.records > want_erased);
}

/* Recovery into a fresh model agrees with l's model, customer by customer. */
static void check_recovers(struct ledger *l)
{
	struct model m2;
	uint64_t replayed;

	REQUIRE(model_init(&m2) == 0);
	CHECK_INT(store_recover(l->s, &m2, &replayed, l->err, sizeof l->err), 0);
	for (uint64_t id = 1; id <= CUSTOMERS; id++) {
		const struct model_customer *a = model_customer_by_id(&l->m, id), *b = model_customer_by_id(&m2, id);
		struct proto_customer va, vb;

		REQUIRE(a && b);
		model_customer_view(a, &va);
		model_customer_view(b, &vb);
		CHECK_INT(va.balance, vb.balance);
		CHECK_INT(va.lifetime_points, vb.lifetime_points);
		CHECK_INT(va.archived, vb.archived);
		CHECK_INT(va.ncards, vb.ncards);
		CHECK_INT(va.opted_out, vb.opted_out);
		CHECK_INT(a->last_seq, b->last_seq);
		CHECK(va.email.len == vb.email.len && memcmp(va.email.ptr, vb.email.ptr, va.email.len) == 0);
		CHECK(va.phone.len == vb.phone.len && memcmp(va.phone.ptr, vb.phone.ptr, va.phone.len) == 0);
		CHECK(va.first_name.len == vb.first_name.len &&
		      memcmp(va.first_name.ptr, vb.first_name.ptr, va.first_name.len) == 0);
		if (va.archived)
			CHECK_INT(va.email.len + va.phone.len + va.first_name.len + va.last_name.len + va.ncards, 0);
	}
	model_free(&m2);
}

static struct store_wipe_stats wipe_stats(struct ledger *l)
{
	struct store_wipe_stats st;
	store__get_wipe_stats(l->s, &st);
	return st;
}

/* A process that reads the snapshot of now until told to stop (as accrue-check on a live directory). */
struct reader {
	pid_t pid;
	int go;
};

static struct reader reader_start(const char *dir)
{
	int ready[2], go[2];
	struct reader r;
	char c = 0;

	REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
	fflush(stdout);
	r.pid = fork();
	REQUIRE(r.pid >= 0);
	if (r.pid == 0) {
		MDB_env *env;
		MDB_txn *txn;

		close(ready[0]);
		close(go[1]);
		if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) || mdb_env_open(env, dir, MDB_RDONLY, 0600) ||
		    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
			_exit(2);
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(3);
		mdb_txn_abort(txn);
		mdb_env_close(env);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	REQUIRE(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	r.go = go[1];
	return r;
}

static void reader_stop(struct reader *r)
{
	int status;

	close(r->go);
	REQUIRE(waitpid(r->pid, &status, 0) == r->pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Flip a byte in the middle of journal record seq, with the store closed. */
static void damage_record(const char *dir, uint64_t seq)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t kbuf[8], copy[RECORD_MAX_SIZE];
	MDB_val k = {8, kbuf}, v;

	record_key_u64(kbuf, seq);
	REQUIRE(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 16);
	REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
	REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	REQUIRE(mdb_dbi_open(txn, "journal", 0, &dbi) == 0);
	REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size / 2] ^= 0x40;
	v.mv_data = copy;
	REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
	REQUIRE(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
}

/* ---- the writer thread -------------------------------------------------------- */

struct committed {
	int commits, status, waited, wait_status, wipes_at_wait;
	struct store_waiter w;
	struct ledger *l;
};

static void on_commit(void *ctx, int status, int rebuild)
{
	struct committed *c = ctx;
	(void)rebuild;
	c->commits++;
	c->status = status;
}

static void on_durable(struct store_waiter *w, int status)
{
	struct committed *c = (struct committed *)((char *)w - offsetof(struct committed, w));
	c->waited = 1;
	c->wait_status = status;
	/* The wipe is done before the archive's waiter runs. */
	c->wipes_at_wait = (int)wipe_stats(c->l).wipes;
}

/* Archive id through the writer thread: the waiter runs after the wipe. */
static void archive_on_writer(struct ledger *l, uint64_t id, uint64_t wipes_before)
{
	uv_loop_t loop;
	struct committed c;
	uint64_t seq;

	memset(&c, 0, sizeof c);
	c.l = l;
	c.w.done = on_durable;
	REQUIRE(uv_loop_init(&loop) == 0);
	REQUIRE(store_start(l->s, &loop, on_commit, &c) == 0);
	seq = archive(l, id);
	store_wait(l->s, seq, &c.w);
	store_kick(l->s, &l->m);
	while (!c.commits)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_INT(c.status, 0);
	CHECK_INT(c.waited, 1);
	CHECK_INT(c.wait_status, 0);
	CHECK_INT(c.wipes_at_wait, wipes_before + 1);
	CHECK_INT(store_durable_seq(l->s), seq);
	CHECK(store_idle(l->s));
	store_stop(l->s);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
	struct ledger l;
	struct store_wipe_stats st;
	uint64_t seq, seq9, erased9, enrol15 = 0;
	char cmd[128];

	memset(&l, 0, sizeof l);
	snprintf(l.dir, sizeof l.dir, "/tmp/accrue-erase-XXXXXX");
	REQUIRE(mkdtemp(l.dir) != NULL);
	open_ledger(&l);
	store_set_preallocate(l.s, 0);

	/* Customers with everything personal a customer can have, committed,
	 * checkpointed, and changed many times over, so that old copies of
	 * their snapshots and journal pages sit on LMDB's free list. */
	for (uint64_t id = 1; id <= CUSTOMERS; id++) {
		if (id == 15)
			enrol15 = store_last_seq(l.s) + 1;
		enrol(&l, id);
		if (id % 8 == 0)
			commit(&l);
	}
	commit(&l);
	for (uint64_t id = 1; id <= CUSTOMERS; id += 2)
		book(&l, id);
	REQUIRE(store_checkpoint(l.s, &l.m) == 0);
	commit(&l);
	churn(&l, 24);
	/* Whole journal pages of customer 7's notes, each shrunk in place by
	 * the erasure (LMDB then leaves old bytes in the pages' unused parts). */
	for (int i = 0; i < 300; i++) {
		adjust(&l, 7, 1);
		if (i % 100 == 99)
			commit(&l);
	}
	/* A longer email just before: 7's snapshot is the last one LMDB put
	 * into its page, where the erasure's shorter one leaves the old one's
	 * start in the page's unused part. */
	edit_email(&l, 7, personal(7, LATE_MAIL));
	REQUIRE(store_checkpoint(l.s, &l.m) == 0);
	commit(&l);
	check_kept(&l, 7);
	CHECK_INT(strings_left(&l, 7), NSTRINGS);

	/* Archive customer 7. */
	seq = archive(&l, 7);
	commit(&l);
	st = wipe_stats(&l);
	CHECK_INT(st.wipes, 1);
	CHECK_INT(st.pending, 0);
	CHECK_INT(st.deferred, 0);
	CHECK_INT(st.failed, 0);
	CHECK_INT(st.odd_pages, 0);
	CHECK(st.pages_zeroed > 0);
	/* ENROL, EDIT, CARD, OPTOUT, ADJUST (book), 24 + 300 ADJUSTs, EDIT. */
	CHECK_INT(st.erased_records, 5 + 24 + 300 + 1);
	printf("archive: %llu records erased, %llu free pages and %llu unused ranges zeroed in %llu ms\n",
	       (unsigned long long)st.erased_records, (unsigned long long)st.pages_zeroed,
	       (unsigned long long)st.gaps_zeroed, (unsigned long long)st.last_wipe_ms);
	check_gone(&l, 7, "after the archive");
	check_chain(&l, seq, (int)st.erased_records);
	for (uint64_t id = 1; id <= CUSTOMERS; id++)
		if (id != 7)
			check_kept(&l, id);
	{
		struct proto_customer v;
		model_customer_view(model_customer_by_id(&l.m, 7), &v);
		CHECK_INT(v.archived, 1);
	}

	/* Later commits, small and big, write pages from LMDB's buffers of
	 * earlier ones: none carries the old bytes back. */
	churn(&l, 12);
	for (int i = 0; i < 40; i++)
		for (uint64_t id = 1; id <= CUSTOMERS; id++)
			if (id != 7)
				adjust(&l, id, 1);
	REQUIRE(store_checkpoint(l.s, &l.m) == 0);
	commit(&l);
	check_gone(&l, 7, "after later commits");
	check_recovers(&l);
	close_ledger(&l);

	/* A restart recovers the same state, and the bytes stay gone. */
	open_ledger(&l);
	store_set_preallocate(l.s, 0);
	check_recovers(&l);
	check_chain(&l, seq, (int)st.erased_records);
	check_gone(&l, 7, "after a restart");

	/* A crash between the erasing commit and the wipe: the next start
	 * wipes. Customer 9's last email is set in the archive's own batch,
	 * so the chain is read from the transaction that writes it. */
	churn(&l, 4);
	edit_email(&l, 9, personal(9, LATE_MAIL));
	l.s->wipe_hold = 1;
	seq9 = archive(&l, 9);
	commit(&l);
	st = wipe_stats(&l);
	erased9 = st.erased_records;
	CHECK_INT(st.pending, 1);
	CHECK_INT(st.wipes, 0);
	CHECK(strings_left(&l, 9) > 0); /* the old pages are there until the wipe */
	close_ledger(&l);
	open_ledger(&l);
	store_set_preallocate(l.s, 0);
	st = wipe_stats(&l);
	CHECK_INT(st.wipes, 1);
	CHECK_INT(st.pending, 0);
	check_gone(&l, 9, "after the start that wiped");
	check_gone(&l, 7, "after the start that wiped");
	check_chain(&l, seq9, (int)erased9);
	check_recovers(&l);
	/* Owed no more: the next start does not wipe again. */
	close_ledger(&l);
	open_ledger(&l);
	store_set_preallocate(l.s, 0);
	CHECK_INT(wipe_stats(&l).wipes, 0);
	check_recovers(&l);

	/* Another process reads an older snapshot: the wipe waits for it. */
	{
		struct reader r = reader_start(l.dir);

		archive(&l, 11);
		commit(&l);
		st = wipe_stats(&l);
		CHECK_INT(st.deferred, 1);
		CHECK_INT(st.pending, 1);
		CHECK_INT(st.wipes, 0);
		churn(&l, 1);
		CHECK_INT(wipe_stats(&l).deferred, 2);
		reader_stop(&r);
		churn(&l, 1);
		st = wipe_stats(&l);
		CHECK_INT(st.wipes, 1);
		CHECK_INT(st.pending, 0);
		check_gone(&l, 11, "after the reader left");
	}

	/* Through the writer thread, as the daemon does it. */
	archive_on_writer(&l, 13, wipe_stats(&l).wipes);
	check_gone(&l, 13, "after the writer's archive");
	check_recovers(&l);
	close_ledger(&l);

	/* A record of the chain that cannot be read fails the commit. */
	damage_record(l.dir, enrol15);
	open_ledger(&l);
	archive(&l, 15);
	CHECK_INT(store_commit_now(l.s, l.err, sizeof l.err), -1);
	CHECK(strstr(l.err, "MDB_CORRUPTED") != NULL);
	CHECK_INT(wipe_stats(&l).pending, 0);
	close_ledger(&l);

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", l.dir);
	CHECK_INT(system(cmd), 0);
	return check_done("unit_store_erase");
}
