/*
 * recovery.c - what it_crash learns of each start of the daemon (see
 * it_crash.c): its log read line by line, kills at start-up, accrue-check
 * on the data directory, and the checks on each recovery.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "crash.h"

const char *check_bin;
struct start_log starts[MAX_STARTS];
int nstarts;
int ckpt_often;
/* What accrue-check saw in the directory just before start k, the daemon down. */
static struct {
	int seen;
	uint64_t checkpoint_seq, last_seq;
} disk_before[MAX_STARTS];
/* How far read_log has read the daemon's log, and the line it is in. */
static off_t log_offset;
static char log_carry[8192];
static size_t log_carry_len;
size_t check_runs, check_runs_down, disk_agrees;

/* ---- the daemon: its log, and kills at start-up ------------------------------- */

/* How harness.c's line before each start of the daemon begins. */
#define HARNESS_START_MARKER "==== harness: start #"
/* The daemon's line once it listens. It comes just after accrued.addr
 * (server/main.c), which is all harness_restart waits for. */
#define LISTENING_LINE " accrued: listening on "
/* How long that line may take to follow the address file: one write away,
 * but a loaded machine under ASan can leave the daemon unscheduled for a
 * while between the two. */
#define LISTENING_LOG_WAIT_MS 30000
/* Restarts whose listening line was not in the log yet when
 * harness_restart returned, and the longest wait for one. */
size_t listening_late;
long long listening_wait_max_ms;
/* Daemon log lines a kill cut short, that the next start marker ended. */
size_t torn_log_lines;

/*
 * Kills while a checkpoint was on its way to disk, proven from the log: a
 * daemon logged "checkpoint begun at journal seq X" and no "checkpoint
 * written" after it, was stopped, and the next recovery started from a
 * checkpoint below X (so the transaction carrying it never landed).
 */
static uint64_t ckpt_pending;   /* the begun seq not yet written, in the running daemon's log */
static uint64_t ckpt_cut;       /* a begun seq the stop cut short, until a recovery settles it */
size_t kills_mid_ckpt;

static void log_line_seen(const char *line)
{
	const char *p;
	unsigned long long a, b;
	/*
	 * harness.c appends its "==== harness: start #N" line in one write
	 * before each fork, and the daemon writes each of its lines in one
	 * write too (log_line in server/main.c). Should a daemon's last line
	 * still lack its newline when it is killed (a write cut short), the
	 * next start's marker would end that line instead of beginning its own:
	 * the torn part then belongs to the daemon that died, and the marker
	 * still starts the next one. (Not counting that start would pin its
	 * recovery on the start before it.)
	 */
	if ((p = strstr(line, HARNESS_START_MARKER)) != NULL && p != line) {
		char torn[sizeof log_carry];
		size_t n = (size_t)(p - line);
		memcpy(torn, line, n);
		torn[n] = '\0';
		torn_log_lines++;
		log_line_seen(torn);
		line = p;
	}
	if (strncmp(line, HARNESS_START_MARKER, strlen(HARNESS_START_MARKER)) == 0) {
		if (ckpt_pending)
			ckpt_cut = ckpt_pending;
		ckpt_pending = 0;
		if (nstarts < MAX_STARTS)
			memset(&starts[nstarts], 0, sizeof starts[nstarts]);
		nstarts++;
		return;
	}
	if (nstarts == 0 || nstarts > MAX_STARTS)
		return;
	struct start_log *s = &starts[nstarts - 1];
	if (strstr(line, " accrued: recovered ") && (p = strstr(line, "journal seq ")) &&
	    sscanf(p, "journal seq %llu, %llu records replayed", &a, &b) == 2) {
		s->recovered = 1;
		s->journal_seq = a;
		s->replayed = b;
		if (ckpt_cut && a - b < ckpt_cut)
			kills_mid_ckpt++;
		ckpt_cut = 0;
	} else if ((p = strstr(line, " accrued: checkpoint begun at journal seq ")) &&
		   sscanf(p, " accrued: checkpoint begun at journal seq %llu", &a) == 1) {
		ckpt_pending = a;
	} else if ((p = strstr(line, " accrued: checkpoint written (journal durable to seq ")) &&
		   sscanf(p, " accrued: checkpoint written (journal durable to seq %llu", &a) == 1) {
		s->checkpoints++;
		s->last_durable = a;
		ckpt_pending = 0;
	} else if ((p = strstr(line, " accrued: stopped cleanly at journal seq ")) &&
		   sscanf(p, " accrued: stopped cleanly at journal seq %llu (%llu commits", &a, &b) == 2) {
		s->stopped_cleanly = 1;
		s->stopped_seq = a;
		s->commits = b;
	} else if (strstr(line, LISTENING_LINE)) {
		s->listening = 1;
	}
}

/* Read what the daemon logged since the last call, line by line. */
static void read_log(void)
{
	int fd = open(h.log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (lseek(fd, log_offset, SEEK_SET) == log_offset) {
		char buf[16384];
		ssize_t got;
		while ((got = read(fd, buf, sizeof buf)) > 0) {
			log_offset += got;
			for (ssize_t i = 0; i < got; i++) {
				if (buf[i] == '\n') {
					log_carry[log_carry_len] = '\0';
					log_line_seen(log_carry);
					log_carry_len = 0;
				} else if (log_carry_len + 1 < sizeof log_carry) {
					log_carry[log_carry_len++] = buf[i];
				}
			}
		}
	}
	close(fd);
}

/* Note how the start that was running ended, now that its process is reaped. */
void note_stop(int how)
{
	read_log();
	if (nstarts > 0 && nstarts <= MAX_STARTS) {
		starts[nstarts - 1].stop = how;
		starts[nstarts - 1].often = ckpt_often;
	}
}

/*
 * Start accrued on the harness's directory and port as harness.c does, but
 * without waiting for it, and SIGKILL it after delay_ms: a crash during
 * exec, recovery, or the first requests. Returns -1 if it was still
 * running when killed, else the status it had exited with by itself (it
 * could not take the port yet, or it refused to recover, which the restart
 * that follows will show).
 */
int start_and_kill(int delay_ms)
{
	int status;
	pid_t pid;

	REQUIRE(harness_start_nowait(&h) == 0);
	pid = h.pid;
	harness_sleep_ms(delay_ms);
	if (waitpid(pid, &status, WNOHANG) == pid) {
		h.pid = 0;
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	harness_kill(&h);
	return -1;
}

/* ---- accrue-check --------------------------------------------------------------- */

/* The number after "key": in accrue-check's JSON; 0 if it is not there (null: no checkpoint). */
static uint64_t json_u64(const char *json, const char *key)
{
	const char *p = strstr(json, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/*
 * Run accrue-check on the data directory. With the daemon down, what it
 * reports as the checkpoint and the journal's end is kept, for the next
 * start's recovery to be compared with.
 */
void run_accrue_check(const char *when, int daemon_down)
{
	static char out[65536], err[16384];
	char *argv[] = { (char *)check_bin, "--json", h.data, NULL };
	out[0] = err[0] = '\0';
	int code = harness_run(argv, out, sizeof out, err, sizeof err, 120000);
	check_runs++;
	check_runs_down += daemon_down ? 1 : 0;
	if (daemon_down && code == 0 && nstarts < MAX_STARTS && strstr(out, "\"last_seq\":")) {
		disk_before[nstarts].seen = 1;
		disk_before[nstarts].checkpoint_seq = json_u64(out, "\"checkpoint_seq\":");
		disk_before[nstarts].last_seq = json_u64(out, "\"last_seq\":");
	}
	CHECK_INT(code, 0);
	if (code != 0)
		fprintf(stderr,
			"    accrue-check %s (%s) exited %d (1: problems found, 2: cannot read):\n"
			"---- stdout ----\n%.6000s\n---- stderr ----\n%.3000s\n----\n",
			h.data, when, code, out, err);
}

/*
 * The last start (starts[nstarts - 1]) against those before it: it
 * recovered (and listens, if it was not one killed at start-up), its
 * checkpoint and journal never go back, it has everything a "checkpoint
 * written" line called durable, and after a clean stop it replays nothing.
 * Returns 1 if its checkpoint moved.
 */
int check_recovery(const char *phase, int killed_at_start)
{
	read_log();
	if (!killed_at_start && nstarts > 0 && nstarts <= MAX_STARTS && !starts[nstarts - 1].listening) {
		/* harness_restart returned on accrued.addr, which the daemon
		 * writes just before it logs that it listens: wait for the line
		 * instead of judging a log it has not finished. */
		long long w0 = harness_now_ms();
		listening_late++;
		if (harness_wait_log(&h, LISTENING_LINE, LISTENING_LOG_WAIT_MS) == 0)
			read_log();
		long long waited = harness_now_ms() - w0;
		if (waited > listening_wait_max_ms)
			listening_wait_max_ms = waited;
	}
	/* Each start's marker is in the log before it is forked: a start
	 * counted wrong would pin the recoveries on the wrong starts (said
	 * once; the difference stays). */
	static int starts_miscounted;
	if (!starts_miscounted) {
		CHECK_INT(nstarts, h.starts);
		if (nstarts != h.starts) {
			starts_miscounted = 1;
			fprintf(stderr, "    %s: the daemon's log shows %d starts, but the harness made %d\n", phase,
				nstarts, h.starts);
		}
	}
	if (nstarts < 2 || nstarts > MAX_STARTS) {
		CHECK(nstarts >= 2 && nstarts <= MAX_STARTS);
		return 0;
	}
	const struct start_log *s = &starts[nstarts - 1];
	if (!killed_at_start)
		CHECK(s->recovered && s->listening);
	if (!s->recovered)
		return 0;
	uint64_t ckpt = s->journal_seq - s->replayed, durable = 0;
	const struct start_log *prev = NULL;
	for (int k = 0; k < nstarts - 1; k++) {
		if (starts[k].last_durable > durable)
			durable = starts[k].last_durable;
		if (starts[k].recovered)
			prev = &starts[k];
	}
	int moved = 0;
	if (prev) {
		uint64_t prev_ckpt = prev->journal_seq - prev->replayed;
		moved = ckpt > prev_ckpt;
		CHECK(ckpt >= prev_ckpt && s->journal_seq >= prev->journal_seq);
		if (ckpt < prev_ckpt || s->journal_seq < prev->journal_seq)
			fprintf(stderr,
				"    %s: recovery went back: checkpoint %llu and journal seq %llu after checkpoint %llu and "
				"journal seq %llu\n",
				phase, (unsigned long long)ckpt, (unsigned long long)s->journal_seq,
				(unsigned long long)prev_ckpt, (unsigned long long)prev->journal_seq);
	}
	/* Recovery starts from the checkpoint accrue-check found on disk and
	 * replays the journal to the end it found. */
	if (disk_before[nstarts - 1].seen) {
		int agree = disk_before[nstarts - 1].checkpoint_seq == ckpt &&
			    disk_before[nstarts - 1].last_seq == s->journal_seq;
		CHECK(agree);
		disk_agrees += agree;
		if (!agree)
			fprintf(stderr,
				"    %s: accrue-check found checkpoint %llu and the journal ending at %llu; recovery then "
				"logged checkpoint %llu and journal seq %llu\n",
				phase, (unsigned long long)disk_before[nstarts - 1].checkpoint_seq,
				(unsigned long long)disk_before[nstarts - 1].last_seq, (unsigned long long)ckpt,
				(unsigned long long)s->journal_seq);
	}
	CHECK(s->journal_seq >= durable);
	if (s->journal_seq < durable)
		fprintf(stderr, "    %s: the log called seq %llu durable, but recovery found the journal ending at %llu\n",
			phase, (unsigned long long)durable, (unsigned long long)s->journal_seq);
	const struct start_log *last = &starts[nstarts - 2];
	if ((last->stop == STOP_TERM || last->stop == STOP_FINAL) && last->stopped_cleanly) {
		/* A clean stop ends with a checkpoint of everything. */
		CHECK_INT(s->replayed, 0);
		CHECK_INT(s->journal_seq, last->stopped_seq);
	}
	return moved;
}
