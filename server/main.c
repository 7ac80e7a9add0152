/*
 * main.c - accrued: start-up, the loop's tick, commits, shutdown.
 *
 * Start-up: lock and open the data directory, load the last checkpoint and
 * replay the journal after it, make an admin key on first start, listen.
 * Every loop iteration ends in tick(): start a checkpoint when one is due,
 * hand the open batch to the writer if it is idle, write out ready replies.
 * SIGINT/SIGTERM: stop reading, let what is in flight commit, write a final
 * checkpoint, close, exit 0.
 *
 * A failed commit: the requests of its batch get STORAGE and memory is
 * rebuilt from disk; a failed checkpoint refuses nothing and rebuilds
 * nothing, and the next one waits the store's retry delay (a timer wakes
 * the loop for it). Failures are logged at most once per retry delay.
 */
/* renameat2 and RENAME_NOREPLACE (glibc 2.28 and later). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth.h"
#include "dispatch.h"
#include "scrub.h"
#include "model.h"
#include "net.h"
#include "store.h"

/* Added to the store's retry delay when the loop sets its timer for it. */
#define RETRY_SLACK_MS 10

#ifndef ACCRUE_VERSION
#define ACCRUE_VERSION "dev"
#endif

struct daemon {
	const char *data_dir;
	uv_loop_t *loop;
	struct store *store;
	struct model model;
	struct dispatch dispatch;
	struct net *net;
	struct scrub *scrub;
	uv_check_t check;
	uv_timer_t timer;
	uv_timer_t retry_timer; /* wakes the loop when a failed checkpoint may be tried again */
	uv_signal_t sigint, sigterm;
	int shutting_down;
	int final_checkpoint;
	int done;
	uint64_t checkpoints_logged;
	uint64_t map_grows_logged;
	int prealloc_errno_logged;
	/* Failed commits: how many since the last success, since the last line
	 * about them, when that line was written and how long until the next. */
	uint64_t failures, failures_unlogged;
	uint64_t failure_logged_ms, failure_log_gap_ms;
};

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	char when[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	char line[2048];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* One write per line: a line is never torn by a crash between its
	 * parts, nor mixed with another writer's to the same file. */
	n = snprintf(line, sizeof line, "%s accrued: ", when);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* Nowhere left to say it. */
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The scrubber's lines, from its thread: log_line writes each in one write. */
static void scrub_log(const char *line)
{
	log_line("%s", line);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: accrued [--data DIR] [--listen HOST:PORT] [options]\n"
		"\n"
		"The accrue loyalty ledger daemon. Holds every customer and balance in\n"
		"memory, journals every change to LMDB in DIR before it answers, and\n"
		"serves the accrue protocol (proto/PROTOCOL.md) over TCP.\n"
		"\n"
		"  --data DIR               data directory (default ./data); created if\n"
		"                           missing, locked while the daemon runs\n"
		"  --listen HOST:PORT       address to serve (default 127.0.0.1:7400);\n"
		"                           port 0 picks a free port\n"
		"  --max-connections N      connections served at once (default 16384;\n"
		"                           the open-file limit is raised to fit, as far\n"
		"                           as the hard limit allows); one more gets a\n"
		"                           BUSY reply and is closed\n"
		"  --max-inflight N         replies a connection may have pending before\n"
		"                           it is no longer read (default 4096)\n"
		"  --frame-timeout S        a frame begun, and the HELLO after connecting,\n"
		"                           must be complete within S seconds, or the\n"
		"                           connection gets a PROTOCOL error and is\n"
		"                           closed (default 10)\n"
		"  --idle-timeout S         close a connection that sent nothing for S\n"
		"                           seconds and waits for nothing (default 600;\n"
		"                           0: never)\n"
		"  --map-size MIB           initial LMDB map size in MiB (default 1024);\n"
		"                           the map doubles by itself whenever it is full\n"
		"  --preallocate MIB        keep the data file written with zeros this far\n"
		"                           past its last page (default 16; 0: never), so\n"
		"                           that a commit's sync need not grow the file\n"
		"  --discard-journal-from SEQ\n"
		"                           start even though journal record SEQ is\n"
		"                           damaged: records SEQ to the end are moved to\n"
		"                           DIR/discarded-journal-SEQ.bin and what they did\n"
		"                           is lost (accrued names SEQ when it refuses to\n"
		"                           start; run accrue-check DIR first)\n"
		"  --checkpoint-seconds N   checkpoint at least this often (default 60)\n"
		"  --checkpoint-records N   ... or after this many journal records\n"
		"                           (default 1000000)\n"
		"  --scrub-rate N           re-read and verify at most N journal records\n"
		"                           and snapshots a second, on a thread of its\n"
		"                           own, and log any damage at once (default\n"
		"                           20000; 0: never)\n"
		"  --scrub-pause S          seconds between two full scrub passes\n"
		"                           (default 60)\n"
		"  --help                   show this help\n"
		"  --version                show the version\n"
		"\n"
		"A new ledger is started only in a new or empty DIR: an admin API key is\n"
		"then written to DIR/admin.key (mode 0600; an existing file is never\n"
		"replaced). Where a ledger was kept and is no longer whole (data.mdb\n"
		"missing or empty beside admin.key or lock.mdb, or its databases gone)\n"
		"or DIR holds other files, accrued refuses to start and says why.\n"
		"Once listening, the bound address is written to DIR/accrued.addr.\n"
		"SIGINT or SIGTERM: finish what is in flight, checkpoint, exit 0.\n");
}

/* Write text to dir/name through a temporary file and a rename. */
static int write_file_atomic(const char *dir, const char *name, const char *text, mode_t mode, int keep_tmp,
			     char *tmp_out, size_t tmp_len)
{
	char tmp[4096], path[4096];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (keep_tmp) {
		snprintf(tmp_out, tmp_len, "%s", tmp);
		return 0;
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * Put the finished temporary tmp in place as path, which must not exist:
 * a hard link fails where path exists, where rename would replace it. A
 * file system without hard links gets an O_EXCL copy. 0, or -1 with errno.
 */
static int place_new_file(const char *tmp, const char *path, const char *text, mode_t mode)
{
	size_t len = strlen(text);
	int fd;

	/* A rename that never replaces: atomic, and one directory change (the
	 * power-loss test follows renames). Where the file system cannot do
	 * that, a link, which fails as well if the name is taken. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP && errno != EOPNOTSUPP)
		return -1;
	if (link(tmp, path) == 0) {
		unlink(tmp);
		return 0;
	}
	if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != EMLINK)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	close(fd);
	unlink(tmp);
	return 0;
}

/*
 * A start after a crash or power cut between the admin key's commit and
 * its placement: the ledger has the key, admin.key is missing, and the
 * temporary that was written and synced before the commit is there. Put it
 * in place, once it is known to be the committed key; otherwise nobody
 * would hold the admin key.
 */
static void finish_admin_key(struct daemon *dm)
{
	char tmp[4096], path[4096], text[AUTH_KEY_TEXT_MAX + 3];
	const struct model_apikey *k;
	struct stat st;
	long n = 0;
	int fd, dfd;

	snprintf(path, sizeof path, "%s/admin.key", dm->data_dir);
	snprintf(tmp, sizeof tmp, "%s/.admin.key.tmp", dm->data_dir);
	if (lstat(path, &st) == 0 || errno != ENOENT || (fd = open(tmp, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, text, sizeof text - 2);
	close(fd);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	if (n <= 0)
		return;
	text[n] = '\0';
	k = model_apikey_find(&dm->model, auth_key_id(text, (size_t)n));
	if (!k || k->revoked || !auth_key_matches(text, (size_t)n, k->hash))
		return;
	text[n] = '\n';
	text[n + 1] = '\0';
	if (place_new_file(tmp, path, text, 0600) != 0) {
		log_line("cannot put the admin key in place as %s: %s; it is in %s", path, strerror(errno), tmp);
		return;
	}
	if ((dfd = open(dm->data_dir, O_RDONLY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	log_line("the admin key committed by an interrupted first start is now in %s", path);
}

/*
 * First start: make the admin key. The key file is written (as a temporary)
 * before the key is committed and put in place after, so a crash in between
 * leaves either no key at all (and the next start makes one) or a usable one.
 * A key file that is there already belongs to another ledger (this one has
 * no key): it is never replaced, and the start is refused.
 */
static int make_admin_key(struct daemon *dm)
{
	char text[AUTH_KEY_TEXT_MAX + 2], tmp[4096], path[4096], err[512];
	struct record rec;
	struct stat st;
	int dfd;

	snprintf(path, sizeof path, "%s/admin.key", dm->data_dir);
	if (lstat(path, &st) == 0 || errno != ENOENT) {
		log_line("%s is there, but the ledger in %s has no API key: the key file is not this ledger's (was "
			 "data.mdb replaced?); refusing to start, and leaving both as they are: restore %s from a "
			 "backup, or move it aside to start a new ledger there",
			 path, dm->data_dir, dm->data_dir);
		return -1;
	}
	memset(&rec, 0, sizeof rec);
	rec.type = PROTO_ENTRY_KEY_CREATE;
	rec.time_us = dispatch_now_us();
	rec.u.key_create.key_id = dm->model.next_key_id;
	rec.u.key_create.role = PROTO_ROLE_ADMIN;
	rec.u.key_create.location = proto_str_c("");
	auth_key_generate(rec.u.key_create.key_id, text, rec.u.key_create.hash);
	strcat(text, "\n");
	if (write_file_atomic(dm->data_dir, "admin.key", text, 0600, 1, tmp, sizeof tmp)) {
		log_line("cannot write the admin key into %s: %s", dm->data_dir, strerror(errno));
		return -1;
	}
	/* The temporary's name must survive a power cut too: a start after a
	 * cut between the commit and the rename puts it in place (finish_admin_key). */
	if ((dfd = open(dm->data_dir, O_RDONLY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (!store_append(dm->store, &rec)) {
		log_line("cannot store the admin key: the record cannot be journalled (out of memory)");
		unlink(tmp);
		return -1;
	}
	if (model_apply(&dm->model, store_last_seq(dm->store), &rec)) {
		log_line("cannot store the admin key: the ledger refused its record");
		unlink(tmp);
		return -1;
	}
	if (store_commit_now(dm->store, err, sizeof err)) {
		log_line("cannot store the admin key: %s", err);
		unlink(tmp);
		return -1;
	}
	if (place_new_file(tmp, path, text, 0600) != 0) {
		log_line("cannot put the admin key in place as %s: %s; it is in %s", path, strerror(errno), tmp);
		return -1;
	}
	if ((dfd = open(dm->data_dir, O_RDONLY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	log_line("first start: admin API key written to %s (mode 0600)", path);
	return 0;
}

static void finish(struct daemon *dm)
{
	struct store_stats st;

	dm->done = 1;
	net_flush(dm->net);
	net_close(dm->net);
	uv_close((uv_handle_t *)&dm->check, NULL);
	uv_close((uv_handle_t *)&dm->timer, NULL);
	uv_close((uv_handle_t *)&dm->retry_timer, NULL);
	uv_close((uv_handle_t *)&dm->sigint, NULL);
	uv_close((uv_handle_t *)&dm->sigterm, NULL);
	scrub_stop(dm->scrub);
	dm->scrub = NULL;
	dm->dispatch.scrub = NULL;
	store_stop(dm->store);
	store_get_stats(dm->store, &st);
	log_line("stopped cleanly at journal seq %llu (%llu commits, %llu records this run)",
		 (unsigned long long)store_durable_seq(dm->store), (unsigned long long)st.commits,
		 (unsigned long long)st.records);
}

static void tick(struct daemon *dm)
{
	if (dm->done)
		return;
	/* Shutting down, only the final checkpoint is written. */
	if (!dm->shutting_down && store_checkpoint_due(dm->store, mono_ms())) {
		int retry = store_retry_delay_ms(dm->store) != 0;
		if (store_checkpoint(dm->store, &dm->model))
			log_line("checkpoint skipped: out of memory");
		else if (!retry) /* a retry is logged when it fails or once it is written */
			log_line("checkpoint begun at journal seq %llu", (unsigned long long)store_last_seq(dm->store));
	}
	if (dm->shutting_down && store_idle(dm->store)) {
		if (!dm->final_checkpoint) {
			dm->final_checkpoint = 1;
			/* After a failed commit it would fail too, and the journal
			 * holds everything acknowledged: the next start replays it. */
			if (store_last_status(dm->store))
				log_line("no final checkpoint: the last commit failed (%s); the journal holds every "
					 "acknowledged change and the next start replays it",
					 store_strerror(store_last_status(dm->store)));
			else if (store_checkpoint(dm->store, &dm->model) == 0 && !store_idle(dm->store)) {
				store_kick(dm->store, &dm->model);
				net_flush(dm->net);
				return;
			}
		}
		finish(dm);
		return;
	}
	store_kick(dm->store, &dm->model);
	net_flush(dm->net);
}

static void on_check(uv_check_t *h)
{
	tick(h->data);
}

static void on_timer(uv_timer_t *h)
{
	/* Only wakes the loop, so time-based checkpoints happen when idle. */
	(void)h;
}

/*
 * A failed commit. rebuild: its records were refused (STORAGE) and memory
 * ran ahead of disk by them: rebuild it from what is committed. Otherwise
 * only a checkpoint failed, and memory agrees with disk. A disk that stays
 * full fails a commit per retry delay (more while clients keep writing):
 * one line per retry delay at most, counting those not logged.
 */
static void commit_failed(struct daemon *dm, int status, int rebuild)
{
	uint64_t now = mono_ms(), t0 = now, ms = 0, delay = store_retry_delay_ms(dm->store);
	char more[96] = "";

	dm->failures++;
	if (rebuild) {
		char err[512];
		uint64_t replayed = 0;

		model_free(&dm->model);
		if (model_init(&dm->model) || store_recover(dm->store, &dm->model, &replayed, err, sizeof err)) {
			log_line("commit failed: %s; fatal: cannot rebuild memory from disk: %s", store_strerror(status), err);
			exit(1);
		}
		ms = mono_ms() - t0;
	}
	if (dm->failures > 1 && now - dm->failure_logged_ms < dm->failure_log_gap_ms) {
		dm->failures_unlogged++;
		return;
	}
	if (dm->failures_unlogged)
		snprintf(more, sizeof more, " (%llu more failed since the last report)",
			 (unsigned long long)dm->failures_unlogged);
	if (rebuild)
		log_line("commit failed: %s; the requests of that batch were refused and memory was rebuilt from disk "
			 "at journal seq %llu (%llu ms)%s",
			 store_strerror(status), (unsigned long long)store_durable_seq(dm->store), (unsigned long long)ms,
			 more);
	else
		log_line("checkpoint failed: %s; nothing was refused, the journal holds every acknowledged change, and "
			 "the checkpoint is tried again in %.1f s%s",
			 store_strerror(status), (double)delay / 1000, more);
	dm->failures_unlogged = 0;
	dm->failure_logged_ms = now;
	dm->failure_log_gap_ms = delay;
}

static void on_commit(void *ctx, int status, int rebuild)
{
	struct daemon *dm = ctx;

	if (status) {
		commit_failed(dm, status, rebuild);
		/* Wake up for the retry, idle or not; a little late rather than
		 * early, as the loop's clock may lag the store's by a tick. */
		if (!dm->done)
			uv_timer_start(&dm->retry_timer, on_timer, store_retry_delay_ms(dm->store) + RETRY_SLACK_MS, 0);
	} else if (dm->failures) {
		log_line("commits succeed again, after %llu failed", (unsigned long long)dm->failures);
		dm->failures = dm->failures_unlogged = 0;
	}
	{
		struct store_stats st;
		store_get_stats(dm->store, &st);
		if (st.prealloc_errno != dm->prealloc_errno_logged) {
			dm->prealloc_errno_logged = st.prealloc_errno;
			if (st.prealloc_errno)
				log_line("preallocating the data file failed (%s); commits grow it as needed, and it is tried again every few seconds",
					 strerror(st.prealloc_errno));
			else
				log_line("preallocating the data file works again");
		}
		if (st.map_grows != dm->map_grows_logged) {
			dm->map_grows_logged = st.map_grows;
			log_line("LMDB map grown to %zu MiB", st.map_size >> 20);
		}
		if (st.checkpoints != dm->checkpoints_logged) {
			dm->checkpoints_logged = st.checkpoints;
			log_line("checkpoint written (journal durable to seq %llu)", (unsigned long long)store_durable_seq(dm->store));
		}
	}
	/* Hand the batch that filled meanwhile to the writer first, so the
	 * connections resumed below find room in a fresh open batch. */
	if (!dm->done)
		store_kick(dm->store, &dm->model);
	net_after_commit(dm->net);
	tick(dm);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *dm = h->data;

	if (dm->shutting_down) {
		log_line("second signal %d: exiting now; the journal is intact and the next start replays it", signum);
		exit(1);
	}
	log_line("signal %d: stopping (finishing requests in flight, then a checkpoint)", signum);
	dm->shutting_down = 1;
	dm->dispatch.shutting_down = 1;
	net_stop_reading(dm->net);
	tick(dm);
}

/*
 * Every connection is a file descriptor: raise the soft limit toward what
 * max_connections needs (plus LMDB's files, the listener and some slack), as
 * far as the hard limit allows, and say so when it falls short.
 */
static void raise_fd_limit(uint32_t max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		log_line("open-file limit is %llu (hard limit): about %llu connections fit, not --max-connections %u",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)(rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0),
			 max_connections);
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > UINT32_MAX || s[0] == '-')
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"max-connections", required_argument, NULL, 'c'},
		{"max-inflight", required_argument, NULL, 'i'},
		{"checkpoint-seconds", required_argument, NULL, 's'},
		{"checkpoint-records", required_argument, NULL, 'r'},
		{"frame-timeout", required_argument, NULL, 'f'},
		{"idle-timeout", required_argument, NULL, 'I'},
		{"map-size", required_argument, NULL, 'm'},
		{"preallocate", required_argument, NULL, 'P'},
		{"discard-journal-from", required_argument, NULL, 'D'},
		{"scrub-rate", required_argument, NULL, 'S'},
		{"scrub-pause", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct daemon dm;
	struct net_config ncfg = {"127.0.0.1:7400", 16384, 4096, 10, 600};
	uint32_t ckpt_seconds = 60, ckpt_records = 1000000, map_mib = 0, prealloc_mib = 16;
	uint64_t discard_from = 0;
	struct scrub_config scfg = {20000, 60, scrub_log};
	char err[1024], bound[128], addr_text[160];
	uint64_t replayed = 0, t0;
	int opt;

	memset(&dm, 0, sizeof dm);
	dm.data_dir = "./data";
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dm.data_dir = optarg;
			break;
		case 'l':
			ncfg.listen = optarg;
			break;
		case 'c':
		case 'i':
		case 's':
		case 'r': {
			uint32_t *dst = opt == 'c' ? &ncfg.max_connections
				      : opt == 'i' ? &ncfg.max_inflight
				      : opt == 's' ? &ckpt_seconds
						   : &ckpt_records;
			if (parse_u32(optarg, dst)) {
				fprintf(stderr, "accrued: %s needs a positive whole number, not \"%s\"\n", argv[optind - 2], optarg);
				return 2;
			}
			break;
		}
		case 'f':
			if (parse_u32(optarg, &ncfg.frame_timeout)) {
				fprintf(stderr, "accrued: --frame-timeout needs a positive whole number of seconds, not \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'I':
			/* 0 is allowed here: never close idle connections. */
			if (strcmp(optarg, "0") != 0 && parse_u32(optarg, &ncfg.idle_timeout)) {
				fprintf(stderr, "accrued: --idle-timeout needs a whole number of seconds (0: never), not \"%s\"\n", optarg);
				return 2;
			}
			if (strcmp(optarg, "0") == 0)
				ncfg.idle_timeout = 0;
			break;
		case 'm':
			if (parse_u32(optarg, &map_mib) || map_mib > (1u << 22)) {
				fprintf(stderr, "accrued: --map-size needs a size in MiB (1 to 4194304), not \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'P':
			/* 0 is allowed here: never preallocate. */
			if (strcmp(optarg, "0") == 0)
				prealloc_mib = 0;
			else if (parse_u32(optarg, &prealloc_mib) || prealloc_mib > (1u << 20)) {
				fprintf(stderr, "accrued: --preallocate needs a size in MiB (0 to 1048576), not \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'S':
		case 'p':
			/* 0 is allowed: no scrubbing, or passes back to back. */
			if (strcmp(optarg, "0") == 0)
				*(opt == 'S' ? &scfg.per_second : &scfg.pause_s) = 0;
			else if (parse_u32(optarg, opt == 'S' ? &scfg.per_second : &scfg.pause_s)) {
				fprintf(stderr, "accrued: %s needs a whole number, not \"%s\"\n", argv[optind - 2], optarg);
				return 2;
			}
			break;
		case 'D': {
			char *end;
			errno = 0;
			discard_from = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || optarg[0] == '-' || discard_from == 0) {
				fprintf(stderr, "accrued: --discard-journal-from needs a journal seq, not \"%s\"\n", optarg);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("accrued %s (protocol %d)\n", ACCRUE_VERSION, PROTO_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "accrued: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	/* Past a file-size limit a write must fail (EFBIG, a storage error to
	 * the clients), not kill the daemon. */
	signal(SIGXFSZ, SIG_IGN);
	raise_fd_limit(ncfg.max_connections);
	if (auth_init()) {
		log_line("cannot initialise libsodium");
		return 1;
	}
	if (store_open(&dm.store, dm.data_dir, err, sizeof err)) {
		log_line("%s", err);
		/* Scripts and operators look for one phrase in every refusal. */
		if (!strstr(err, "refusing to start"))
			log_line("refusing to start; the data directory is left as it is");
		return 1;
	}
	store_set_checkpoint_policy(dm.store, ckpt_records, (uint64_t)ckpt_seconds * 1000);
	if (map_mib)
		store_set_map_size(dm.store, (size_t)map_mib << 20);
	store_set_preallocate(dm.store, (uint64_t)prealloc_mib << 20);
	if (discard_from) {
		char path[4300];
		uint64_t n;
		if (store_discard_journal(dm.store, discard_from, path, sizeof path, &n, err, sizeof err)) {
			log_line("cannot discard: %s", err);
			store_close(dm.store);
			return 1;
		}
		log_line("discarded %llu journal records from seq %llu on, as asked: they are in %s; what they did is lost",
			 (unsigned long long)n, (unsigned long long)discard_from, path);
	}
	t0 = mono_ms();
	if (model_init(&dm.model) || store_recover(dm.store, &dm.model, &replayed, err, sizeof err)) {
		log_line("cannot recover %s: %s", dm.data_dir, err);
		log_line("refusing to start; the data directory is left as it is");
		if (store_bad_seq(dm.store))
			log_line("to see every problem: accrue-check %s; to start anyway from the records before it, losing "
				 "record %llu and every one after it: accrued --data %s --discard-journal-from %llu "
				 "(they are kept in %s/discarded-journal-%llu.bin)",
				 dm.data_dir, (unsigned long long)store_bad_seq(dm.store), dm.data_dir,
				 (unsigned long long)store_bad_seq(dm.store), dm.data_dir,
				 (unsigned long long)store_bad_seq(dm.store));
		model_free(&dm.model);
		store_close(dm.store);
		return 1;
	}
	log_line("recovered %s: %u customers, journal seq %llu, %llu records replayed in %llu ms", dm.data_dir,
		 dm.model.ncustomers, (unsigned long long)store_durable_seq(dm.store), (unsigned long long)replayed,
		 (unsigned long long)(mono_ms() - t0));
	if (dm.model.nkeys > 0)
		finish_admin_key(&dm);
	if (dm.model.nkeys == 0 && make_admin_key(&dm)) {
		model_free(&dm.model);
		store_close(dm.store);
		return 1;
	}

	dm.loop = uv_default_loop();
	if (dispatch_init(&dm.dispatch, &dm.model, dm.store, ncfg.max_inflight)) {
		log_line("out of memory setting up request handling");
		model_free(&dm.model);
		store_close(dm.store);
		return 1;
	}
	if (net_start(&dm.net, dm.loop, &dm.dispatch, dm.store, &ncfg, bound, sizeof bound, err, sizeof err)) {
		log_line("%s", err);
		uv_run(dm.loop, UV_RUN_DEFAULT);
		uv_loop_close(dm.loop);
		dispatch_free(&dm.dispatch);
		model_free(&dm.model);
		store_close(dm.store);
		return 1;
	}
	if (store_start(dm.store, dm.loop, on_commit, &dm)) {
		log_line("cannot start the writer thread");
		return 1;
	}
	if (scrub_start(&dm.scrub, dm.store, &scfg))
		log_line("warning: cannot start the scrubber thread; the data on disk is not re-verified while serving");
	dm.dispatch.scrub = dm.scrub;
	uv_check_init(dm.loop, &dm.check);
	dm.check.data = &dm;
	uv_check_start(&dm.check, on_check);
	uv_timer_init(dm.loop, &dm.timer);
	uv_timer_start(&dm.timer, on_timer, 1000, 1000);
	uv_timer_init(dm.loop, &dm.retry_timer);
	uv_signal_init(dm.loop, &dm.sigint);
	uv_signal_init(dm.loop, &dm.sigterm);
	dm.sigint.data = dm.sigterm.data = &dm;
	uv_signal_start(&dm.sigint, on_signal, SIGINT);
	uv_signal_start(&dm.sigterm, on_signal, SIGTERM);

	/* Logged before the address file is written: whoever sees the file
	 * can rely on every start-up line being in the log already. */
	log_line("listening on %s (data %s, pid %d)", bound, dm.data_dir, (int)getpid());
	snprintf(addr_text, sizeof addr_text, "%s\n", bound);
	if (write_file_atomic(dm.data_dir, "accrued.addr", addr_text, 0644, 0, NULL, 0))
		log_line("warning: cannot write %s/accrued.addr: %s", dm.data_dir, strerror(errno));

	uv_run(dm.loop, UV_RUN_DEFAULT);

	net_free(dm.net);
	uv_loop_close(dm.loop);
	dispatch_free(&dm.dispatch);
	model_free(&dm.model);
	store_close(dm.store);
	return 0;
}
