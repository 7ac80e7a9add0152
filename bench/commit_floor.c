/*
 * commit_floor.c - accrue-commit-floor: what one durable commit costs on
 * this machine's disk.
 *
 * With one request in flight per connection, a request waits for the commit
 * of its batch and, when it arrives while another commit is on its way, for
 * that one too: the disk's commit latency bounds both the throughput
 * (about connections / (2 x commit latency)) and the latency at any load.
 *
 * accrue-commit-floor measures it with nothing else running: in a new LMDB
 * environment in a temporary directory, with the data file written with
 * zeros ahead as accrued keeps it, it commits N transactions of R appended
 * records of accrued's sale size, one after the other, with LMDB's durable
 * default (the data pages synced, then the meta page written synchronously),
 * and reports the commit latency. For reference it also times the device's
 * own floor: one fdatasync after overwriting a 4 KiB block in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD_BYTES 136
#define PREALLOC_BYTES ((size_t)16 << 20)

struct options {
	unsigned records, commits;
	const char *dir;
	int json;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: accrue-commit-floor [--records R] [--commits N] [--dir DIR] [--json]\n"
		   "\n"
		   "What one durable LMDB commit costs on this disk: N commits, one after\n"
		   "the other, each appending R records of %d bytes (a sale's journal\n"
		   "record) with LMDB's durable default, in a new environment whose data\n"
		   "file is written with zeros ahead as accrued keeps it. Also one\n"
		   "fdatasync after overwriting a 4 KiB block in place, the device's own\n"
		   "floor. With one request in flight per connection, accrued waits for\n"
		   "about two commits per request, so these bound its throughput and\n"
		   "latency on this machine.\n"
		   "\n"
		   "  --records R  records per commit (default 25)\n"
		   "  --commits N  commits timed, after 100 untimed (default 2000)\n"
		   "  --dir DIR    where the temporary environment goes (default $TMPDIR,\n"
		   "               else /tmp); it must be on the disk under test\n"
		   "  --json       one JSON object: records, commits, commit_p50_us,\n"
		   "               commit_p99_us, commit_max_us, commits_per_sec,\n"
		   "               fdatasync_p50_us, fdatasync_p99_us\n"
		   "  --help       show this help\n"
		   "\n"
		   "Exit status: 0 measured; 1 the run failed; 2 usage.\n",
		RECORD_BYTES);
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *sorted, unsigned n, double p)
{
	unsigned i = (unsigned)(p * (n - 1));
	return sorted[i];
}

static void key_be(uint8_t k[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(v >> (56 - 8 * i));
}

static int prealloc(const char *dir)
{
	static const uint8_t zeros[1 << 16];
	char path[4200];
	off_t end;
	int fd;

	snprintf(path, sizeof path, "%s/data.mdb", dir);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	end = lseek(fd, 0, SEEK_END);
	for (size_t off = 0; off < PREALLOC_BYTES; off += sizeof zeros)
		if (pwrite(fd, zeros, sizeof zeros, end + (off_t)off) != (ssize_t)sizeof zeros) {
			close(fd);
			return -1;
		}
	fdatasync(fd);
	return close(fd);
}

/* Time N commits of R appends each; fills lat[] (microseconds, sorted). */
static int time_commits(const char *dir, const struct options *o, double *lat, double *elapsed)
{
	MDB_env *env = NULL;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t val[RECORD_BYTES];
	uint64_t seq = 1;
	double t0 = 0;
	int rc;

	memset(val, 0x5a, sizeof val);
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 4)) ||
	    (rc = mdb_env_set_mapsize(env, (size_t)4 << 30)) || (rc = mdb_env_open(env, dir, 0, 0600)))
		goto fail;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, "journal", MDB_CREATE, &dbi)) ||
	    (rc = mdb_txn_commit(txn)))
		goto fail;
	if (prealloc(dir)) {
		fprintf(stderr, "accrue-commit-floor: cannot preallocate in %s: %s\n", dir, strerror(errno));
		mdb_env_close(env);
		return -1;
	}
	for (unsigned i = 0; i < o->commits + 100; i++) {
		double a = now_us();
		if (i == 100)
			t0 = a;
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
			goto fail;
		for (unsigned r = 0; r < o->records; r++) {
			uint8_t k[8];
			MDB_val kv = {8, k}, vv = {sizeof val, val};
			key_be(k, seq++);
			if ((rc = mdb_put(txn, dbi, &kv, &vv, MDB_APPEND))) {
				mdb_txn_abort(txn);
				goto fail;
			}
		}
		if ((rc = mdb_txn_commit(txn)))
			goto fail;
		if (i >= 100)
			lat[i - 100] = now_us() - a;
	}
	*elapsed = now_us() - t0;
	mdb_env_close(env);
	qsort(lat, o->commits, sizeof *lat, cmp_double);
	return 0;
fail:
	fprintf(stderr, "accrue-commit-floor: LMDB: %s\n", mdb_strerror(rc));
	if (env)
		mdb_env_close(env);
	return -1;
}

/* Time n fdatasyncs, each after overwriting one 4 KiB block in place. */
static int time_fdatasync(const char *dir, unsigned n, double *lat)
{
	char path[4200];
	uint8_t block[4096];
	int fd;

	snprintf(path, sizeof path, "%s/sync-probe", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	memset(block, 0xa5, sizeof block);
	if (pwrite(fd, block, sizeof block, 0) != (ssize_t)sizeof block || fsync(fd)) {
		close(fd);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		double a = now_us();
		block[0] = (uint8_t)i;
		if (pwrite(fd, block, sizeof block, 0) != (ssize_t)sizeof block || fdatasync(fd)) {
			close(fd);
			return -1;
		}
		lat[i] = now_us() - a;
	}
	close(fd);
	unlink(path);
	qsort(lat, n, sizeof *lat, cmp_double);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"records", required_argument, NULL, 'r'}, {"commits", required_argument, NULL, 'n'},
		{"dir", required_argument, NULL, 'd'},     {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	struct options o = {.records = 25, .commits = 2000};
	char tmpl[4096], cmd[4200];
	double *lat, *slat, elapsed = 0;
	int opt, rc = 1;
	char *end;

	o.dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
		case 'n': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 1000000)
				goto bad;
			*(opt == 'r' ? &o.records : &o.commits) = (unsigned)v;
			break;
		}
		case 'd':
			o.dir = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	snprintf(tmpl, sizeof tmpl, "%s/accrue-commit-floor.XXXXXX", o.dir);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "accrue-commit-floor: cannot make a directory in %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	lat = calloc(o.commits, sizeof *lat);
	slat = calloc(o.commits, sizeof *slat);
	if (!lat || !slat || time_commits(tmpl, &o, lat, &elapsed) || time_fdatasync(tmpl, o.commits, slat)) {
		fprintf(stderr, "accrue-commit-floor: the run failed in %s\n", tmpl);
		goto out;
	}
	if (o.json)
		printf("{\"records\": %u, \"commits\": %u, \"commit_p50_us\": %.0f, \"commit_p99_us\": %.0f, "
		       "\"commit_max_us\": %.0f, \"commits_per_sec\": %.0f, \"fdatasync_p50_us\": %.0f, "
		       "\"fdatasync_p99_us\": %.0f}\n",
		       o.records, o.commits, pct(lat, o.commits, 0.5), pct(lat, o.commits, 0.99), lat[o.commits - 1],
		       o.commits / elapsed * 1e6, pct(slat, o.commits, 0.5), pct(slat, o.commits, 0.99));
	else
		printf("accrue-commit-floor: %u commits of %u records: p50 %.0f us, p99 %.0f us, max %.0f us "
		       "(%.0f commits/s); one fdatasync of a 4 KiB block: p50 %.0f us, p99 %.0f us\n",
		       o.commits, o.records, pct(lat, o.commits, 0.5), pct(lat, o.commits, 0.99), lat[o.commits - 1],
		       o.commits / elapsed * 1e6, pct(slat, o.commits, 0.5), pct(slat, o.commits, 0.99));
	rc = 0;
out:
	snprintf(cmd, sizeof cmd, "%s/data.mdb", tmpl);
	unlink(cmd);
	snprintf(cmd, sizeof cmd, "%s/lock.mdb", tmpl);
	unlink(cmd);
	rmdir(tmpl);
	free(lat);
	free(slat);
	return rc;
bad:
	usage(stderr);
	return 2;
}
