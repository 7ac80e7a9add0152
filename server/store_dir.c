/*
 * store_dir.c - what a data directory holds before LMDB opens it (see
 * store.h, store_open): a new ledger is made only where none was kept, and
 * a first start builds its data file aside and puts it in place whole.
 */
#define _GNU_SOURCE /* renameat2 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

/* A first start builds the new data file under this name (see stage_new_ledger). */
#define NEW_LEDGER ".data.mdb.new"

/*
 * What accrued keeps in a data directory besides data.mdb, and whether a
 * file means that a ledger was kept there. admin.key and accrued.addr are
 * main.c's, the discarded journal records store_read.c's. accrued.lock is
 * made first at every start, so a start that stopped at once leaves only
 * it, and lost+found is what a new file system holds: neither is a ledger's.
 */
static const struct dir_file {
	const char *name;
	int prefix; /* the name begins so (discarded-journal-SEQ.bin) */
	int ledger;
} dir_files[] = {
	{"lock.mdb", 0, 1},
	{"admin.key", 0, 1},
	{".admin.key.tmp", 0, 1},
	{"accrued.addr", 0, 1},
	{".accrued.addr.tmp", 0, 1},
	{"discarded-journal-", 1, 1},
	{"accrued.lock", 0, 0},
	{"lost+found", 0, 0},
	{NEW_LEDGER, 0, 0},
};

static const struct dir_file *dir_file_find(const char *name)
{
	for (size_t i = 0; i < sizeof dir_files / sizeof dir_files[0]; i++) {
		const struct dir_file *f = &dir_files[i];
		if (f->prefix ? strncmp(name, f->name, strlen(f->name)) == 0 : strcmp(name, f->name) == 0)
			return f;
	}
	return NULL;
}

/* Add name to a list of at most three ("a, b, c and 4 more"). */
static void name_list_add(char *list, size_t cap, int *count, const char *name)
{
	size_t len = strlen(list);

	if (*count < 3)
		snprintf(list + len, cap - len, "%s%s", *count ? ", " : "", name);
	(*count)++;
}

static void name_list_end(char *list, size_t cap, int count)
{
	size_t len = strlen(list);

	if (count > 3)
		snprintf(list + len, cap - len, " and %d more", count - 3);
}

/*
 * Before anything is made in dir: -1 with err where data.mdb is missing or
 * empty although a ledger was kept there, or where dir holds other files
 * and no data.mdb, so that a lost ledger is never silently replaced by a
 * new one. 0: go on (a non-empty data.mdb is checked once LMDB has it open).
 */
int store__survey_dir(const char *dir, char *err, size_t errlen)
{
	char path[4200], ledger[512] = "", other[512] = "";
	int nledger = 0, nother = 0, empty = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof path, "%s/data.mdb", dir);
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			store__set_err(err, errlen, "%s is not a regular file; " WAY_OUT, path, dir);
			return -1;
		}
		if (st.st_size > 0)
			return 0;
		empty = 1;
	} else if (errno != ENOENT || lstat(path, &st) == 0) {
		/* Unreadable, or a link to nothing: a ledger's file that is not there. */
		store__set_err(err, errlen, "cannot read %s: %s; " WAY_OUT, path, strerror(errno), dir);
		return -1;
	}
	if (!(d = opendir(dir))) {
		store__set_err(err, errlen, "cannot read data directory %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		const struct dir_file *f;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "data.mdb"))
			continue;
		f = dir_file_find(e->d_name);
		if (!f)
			name_list_add(other, sizeof other, &nother, e->d_name);
		else if (f->ledger)
			name_list_add(ledger, sizeof ledger, &nledger, e->d_name);
	}
	closedir(d);
	name_list_end(ledger, sizeof ledger, nledger);
	name_list_end(other, sizeof other, nother);
	if (empty || nledger) {
		store__set_err(err, errlen, "%s/data.mdb %s%s%s: the ledger kept in %s is lost; " WAY_OUT, dir,
			empty ? "is empty (0 bytes)" : "is missing", nledger ? " beside " : "", ledger, dir, dir);
		return -1;
	}
	if (nother) {
		store__set_err(err, errlen,
			"data directory %s is not empty and holds no ledger (no data.mdb, but %s); refusing to start a "
			"new ledger among files that are not accrue's (nothing in %s was changed): give --data an empty "
			"or new directory",
			dir, other, dir);
		return -1;
	}
	return 0;
}

/*
 * A first start makes the new ledger's data file as NEW_LEDGER beside
 * where it goes: LMDB writes its two meta pages, then the first commit
 * (the databases and the format) with its fdatasync and its synced meta
 * page; only then is the file renamed to data.mdb and the directory
 * synced. A power cut at any point before leaves no data.mdb (a first
 * start again, which throws the unfinished file away), never a data.mdb
 * whose meta pages the cut tore, which accrued would refuse. No lock file:
 * accrued.lock already keeps any other process out.
 */
int store__stage_new_ledger(const char *dir, char *err, size_t errlen)
{
	char tmp[4200], path[4200];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	uint8_t fmt[RECORD_META_SIZE];
	MDB_val k = {6, (void *)"format"}, v = {sizeof fmt, fmt};
	int rc, fd;

	snprintf(tmp, sizeof tmp, "%s/" NEW_LEDGER, dir);
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	if (unlink(tmp) != 0 && errno != ENOENT) {
		store__set_err(err, errlen, "cannot remove %s, left by an unfinished first start: %s", tmp, strerror(errno));
		return -1;
	}
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, RECORD_DB_COUNT + 2)) ||
	    (rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK, 0600)) || (rc = mdb_txn_begin(env, NULL, 0, &txn)))
		goto lmdb_fail;
	for (int i = 0; i < RECORD_DB_COUNT; i++)
		if ((rc = mdb_dbi_open(txn, record_db_name(i), MDB_CREATE, &dbi)))
			goto lmdb_fail;
	record_meta_seal(fmt, "format", STORE_FORMAT);
	if ((rc = mdb_dbi_open(txn, record_db_name(RECORD_DB_META), 0, &dbi)) || (rc = mdb_put(txn, dbi, &k, &v, 0)))
		goto lmdb_fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto lmdb_fail;
	mdb_env_close(env);
	env = NULL;
	/* Never over a data.mdb: the survey found none, but say so if one came. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
		if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP && errno != EOPNOTSUPP)
			goto sys_fail;
		if (link(tmp, path) != 0 || unlink(tmp) != 0)
			goto sys_fail;
	}
	if ((fd = open(dir, O_RDONLY | O_CLOEXEC)) < 0 || fsync(fd) != 0) {
		if (fd >= 0)
			close(fd);
		goto sys_fail;
	}
	close(fd);
	return 0;

lmdb_fail:
	store__set_err(err, errlen, "cannot make a new ledger in %s: %s", tmp, mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return -1;
sys_fail:
	store__set_err(err, errlen, "cannot put the new ledger in place as %s: %s", path, strerror(errno));
	return -1;
}

/* Whether another process holds dir's lock now (without making the lock file). */
int store__dir_in_use(const char *dir)
{
	char path[4200];
	int fd, busy;

	snprintf(path, sizeof path, "%s/accrued.lock", dir);
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return 0;
	busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}
