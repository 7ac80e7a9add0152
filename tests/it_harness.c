/*
 * it_harness.c - the harness's own promises about the daemon's log, with a
 * stand-in for accrued whose timing the test controls.
 *
 * accrued writes accrued.addr, which harness_start and harness_restart wait
 * for, just before it logs "listening on". it_crash once read the log as
 * soon as the start returned and failed when the daemon had not written the
 * line yet (a daemon descheduled between the two under ASan on a loaded
 * machine). harness_wait_log is how a test waits for such a line. The
 * stand-in here writes admin.key and accrued.addr as accrued does, and logs
 * its listening line only when the test creates DATA/go, so each case is
 * deterministic:
 *
 *   - when the start returns the line is not in the log, and a short wait
 *     for it times out;
 *   - once the stand-in writes it, harness_wait_log finds it;
 *   - the harness's own start marker, which names the whole command line,
 *     never counts as the daemon's line;
 *   - after a restart only the new start's lines count, not the line the
 *     previous start wrote;
 *   - a daemon that exits without writing the line is reported at once,
 *     not after the whole timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define LISTENING " accrued: listening on "
/* Long enough for a stand-in that is not coming; a timeout is only ever
 * expected from the short waits. */
#define LINE_WAIT_MS 30000
#define SHORT_WAIT_MS 200

/*
 * The stand-in: called as accrued is (--data DIR --listen ADDR), it writes
 * the key and, through a rename, the address file; then it waits for
 * DIR/go, or exits 3 if DIR/exit appears first, logs its listening line and
 * sleeps until it is killed.
 */
static const char stand_in[] =
	"#!/bin/sh\n"
	"data=$2\n"
	"echo fake-admin-key > \"$data/admin.key\"\n"
	"echo 127.0.0.1:9 > \"$data/.accrued.addr.tmp\"\n"
	"mv \"$data/.accrued.addr.tmp\" \"$data/accrued.addr\"\n"
	"while [ ! -e \"$data/go\" ]; do\n"
	"  [ -e \"$data/exit\" ] && exit 3\n"
	"  sleep 0.01\n"
	"done\n"
	"echo \"2026-01-01T00:00:00Z accrued: listening on 127.0.0.1:9 (data $data, pid $$)\" >&2\n"
	"exec sleep 600\n";

static char script_dir[HARNESS_PATH_MAX], script[HARNESS_PATH_MAX + 16];

static void write_stand_in(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(script_dir, sizeof script_dir, "%s/accrue-it_harness-bin-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	REQUIRE(mkdtemp(script_dir) != NULL);
	snprintf(script, sizeof script, "%s/accrued", script_dir);
	int fd = open(script, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, stand_in, sizeof stand_in - 1) == (ssize_t)(sizeof stand_in - 1));
	close(fd);
	REQUIRE(setenv("ACCRUED_BIN", script, 1) == 0);
}

/* Create or remove DATA/name, the stand-in's cue. */
static void cue(const struct harness *h, const char *name, int present)
{
	char path[HARNESS_PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/%s", h->data, name);
	if (present) {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		REQUIRE(fd >= 0);
		close(fd);
	} else {
		REQUIRE(unlink(path) == 0 || errno == ENOENT);
	}
}

/* Whether the whole log holds needle. */
static int log_has(const struct harness *h, const char *needle)
{
	static char buf[1 << 16];
	return harness_read_file(h->log, buf, sizeof buf) > 0 && strstr(buf, needle) != NULL;
}

int main(void)
{
	static struct harness h;
	signal(SIGPIPE, SIG_IGN);
	write_stand_in();
	fprintf(stderr, "it_harness: the harness's messages below about lines not logged and a daemon that exited are "
			"expected\n");

	/* The start returns on accrued.addr, before the line is logged. */
	REQUIRE(harness_start(&h, "it_harness") == 0);
	CHECK_STR(h.admin_key, "fake-admin-key");
	CHECK(!log_has(&h, LISTENING));
	CHECK_INT(harness_wait_log(&h, LISTENING, SHORT_WAIT_MS), -1);
	cue(&h, "go", 1);
	CHECK_INT(harness_wait_log(&h, LISTENING, LINE_WAIT_MS), 0);
	CHECK(log_has(&h, LISTENING));

	/* The marker line names the command, data directory and address, but
	 * is the harness's, not the daemon's. */
	CHECK(log_has(&h, "==== harness: start #1"));
	CHECK_INT(harness_wait_log(&h, "==== harness: start #", SHORT_WAIT_MS), -1);

	/* After a restart the previous start's line does not count. */
	harness_kill(&h);
	cue(&h, "go", 0);
	REQUIRE(harness_restart(&h) == 0);
	CHECK_INT(harness_wait_log(&h, LISTENING, SHORT_WAIT_MS), -1);
	cue(&h, "go", 1);
	CHECK_INT(harness_wait_log(&h, LISTENING, LINE_WAIT_MS), 0);

	/* A daemon that exits without the line: reported as soon as it is gone. */
	harness_kill(&h);
	cue(&h, "go", 0);
	REQUIRE(harness_restart(&h) == 0);
	cue(&h, "exit", 1);
	long long t0 = harness_now_ms();
	CHECK_INT(harness_wait_log(&h, LISTENING, LINE_WAIT_MS), -1);
	long long waited = harness_now_ms() - t0;
	CHECK(waited < LINE_WAIT_MS / 2);
	CHECK_INT(harness_stop(&h), 3);

	harness_finish(&h, check_failures);
	unlink(script);
	rmdir(script_dir);
	return check_done("it_harness");
}
