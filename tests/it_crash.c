/*
 * it_crash.c - kill -9 the daemon under load, again and again, and prove after
 * every restart that nothing acknowledged is lost, nothing is counted twice
 * and nothing is half applied.
 *
 * Set-up: a real accrued on a loopback port with real LMDB (harness.c),
 * checkpointing every second and, chosen at random for each start, every 5
 * or every 40 journal records: at 5 about half of the commits under load
 * carry a checkpoint, so many kills land while one is on its way to disk; at
 * 40 recovery replays longer tails. 20 customers. Four client threads, each
 * with its own libaccrue handle, send back to back a mix of:
 *
 *   sales         ACCRUE with a unique order id, a random location of three
 *                 and a random amount (1 point per whole 1.00);
 *   batches       ACCRUE_BATCH of 2-8 such sales, one request key per sale;
 *   returns       RETURN of the whole or a part of one of the thread's own
 *                 acknowledged sales, at most one return per sale, so what it
 *                 takes back is known exactly: ceil(earned * refunded / amount);
 *   adjustments   ADJUST by -30..+30 points, tagged with a unique reason; a
 *                 negative one may be refused with INSUFFICIENT, and then
 *                 nothing is applied.
 *
 * Every request has its own random request key and every outcome is kept:
 * ACKNOWLEDGED (0: the daemon said it is durable), UNACKNOWLEDGED (a local
 * error: the connection died and the call gave up), STOPPED (SHUTTING_DOWN),
 * DECLINED (INSUFFICIENT for a negative adjustment) or REFUSED (anything
 * else; none is expected). Two retry policies run side by side:
 *
 *   riders (threads 0, 1)     a high retry count: the library reconnects and
 *                             re-sends the identical request with the same
 *                             key until the daemon is back, so a request
 *                             committed just before a kill, whose reply was
 *                             lost, comes back as a replay;
 *   droppers (threads 2, 3)   no retries: a call in the kill window fails and
 *                             stays UNACKNOWLEDGED, like a POS that crashed
 *                             itself; the thread reconnects and moves on.
 *
 * The main thread runs CYCLES cycles. Each lets the load run for a random
 * 20-400 ms, then stops the daemon: SIGKILL, except every TERM_EVERY-th
 * cycle, which is a SIGTERM under load that must exit 0, must not commit a
 * request without answering it and must apply nothing it refuses with
 * SHUTTING_DOWN. In one cycle of START_KILL_EVERY (on average) the daemon is
 * then also started on the same directory and SIGKILLed again 0-40 ms later,
 * before or during recovery and listening. accrue-check ($ACCRUE_CHECK_BIN)
 * (--json) reads the directory each time the daemon is down and must find
 * it clean. Then the daemon is restarted and, with the clients paused (each
 * finishes the call it is in), everything sent so far is checked against
 * the daemon:
 *
 *   (a) accrue-check on the data directory of the running daemon is clean;
 *   (b) exactly once: every acknowledged request is in its customer's
 *       history once, at the seq it was acknowledged with and with the
 *       amounts sent; nothing is there that nobody sent; and each customer's
 *       balance, lifetime points, visits, total and average spend equal what
 *       the client-side ledger of the requests present adds up to. The
 *       history is read incrementally: only entries newer than the last
 *       check, which must chain onto the entry the last check ended at;
 *   (c) nothing unacknowledged is half applied: each unacknowledged request
 *       whose outcome can no longer change (the daemon it was sent to is
 *       dead, or it failed on a broken connection) is present or absent in
 *       the history, the order index (ORDER) and the customer's figures
 *       alike, and a batch's sales are all present or all absent;
 *   (d) a sample of the acknowledged (and of the unacknowledged but
 *       committed) requests, most of them sent to the daemon just killed, is
 *       re-sent with the same key and body: each is a replay with the
 *       original seq and points, and no customer changes;
 *   and from the daemon's log, whose "recovered ... journal seq S, R records
 *   replayed" line says recovery started from the checkpoint at S - R:
 *   recovery began from exactly the checkpoint and journal end accrue-check
 *   had just found on disk; it never goes back (checkpoint and journal seq
 *   only grow, and it has every seq a "checkpoint written" line called
 *   durable); the start after a clean stop replays nothing; and every seq
 *   acknowledged before the stop is in the recovered journal.
 *
 * After the last cycle the clients stop, the daemon is stopped cleanly and
 * restarted, and the whole history is checked again from its first entry;
 * then every acknowledged key is re-sent (a replay, nothing changes), every
 * unacknowledged or stopped one too (a replay if it had been committed,
 * applied now if not), and afterwards every sale and return sent is in the
 * history exactly once. A last clean restart must keep every balance.
 *
 * The figures printed at the end say how often the kills met a checkpoint:
 * how many restarts found the checkpoint moved since the previous start
 * (one was written under load), and what share of the commits carried a
 * checkpoint at each cadence, counted in the clean stops' logs ("checkpoint
 * written" lines against the commits "stopped cleanly" reports), applied to
 * the kills at that cadence: an estimate. The proof comes from the log: the
 * daemon logs "checkpoint begun at journal seq X" when it copies one into a
 * batch and "checkpoint written" once that batch is committed; a stop after
 * a "begun" with no "written", followed by a recovery from a checkpoint
 * below X, cut that checkpoint's transaction short. The test counts those
 * and requires at least one.
 *
 * The seed is printed; ACCRUE_CRASH_SEED=N repeats the kill timings.
 * Budget: about 40 s on 2 cores, under 2 minutes with ASan and UBSan.
 *
 * This file runs the cycles and prints the summary. The client threads are
 * in it_crash/clients.c, what the daemon's log says of each start and the
 * recovery checks in it_crash/recovery.c, the checks (a) to (d) in
 * it_crash/checks.c; it_crash/crash.h is what they share.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accrue.h"
#include "check.h"
#include "client_check.h"
#include "harness.h"
#include "crash.h"

struct harness h;
/* Figures for the summary. */
size_t start_kills, start_kills_before_listening, term_stops, kills;

static void print_summary(long long t0)
{
	size_t moved = 0, restarts = 0, ckpt_written = 0, ckpt_killed = 0, kills_often = 0;
	uint64_t replay_min = UINT64_MAX, replay_max = 0, replay_sum = 0;
	uint64_t commits[2] = { 0 }, ckpts[2] = { 0 }; /* by clean stops under load, [often] */
	for (int k = 0; k < nstarts && k < MAX_STARTS; k++) {
		const struct start_log *s = &starts[k];
		ckpt_written += s->checkpoints;
		if (s->stop == STOP_KILL) {
			ckpt_killed += s->checkpoints;
			kills_often += s->often;
		}
		if (s->stop == STOP_TERM && s->stopped_cleanly) {
			commits[s->often] += s->commits;
			ckpts[s->often] += s->checkpoints;
		}
		if (k == 0 || !s->recovered)
			continue;
		const struct start_log *prev = NULL;
		for (int j = k - 1; j >= 0 && !prev; j--)
			if (starts[j].recovered)
				prev = &starts[j];
		restarts++;
		if (prev && s->journal_seq - s->replayed > prev->journal_seq - prev->replayed)
			moved++;
		replay_min = s->replayed < replay_min ? s->replayed : replay_min;
		replay_max = s->replayed > replay_max ? s->replayed : replay_max;
		replay_sum += s->replayed;
	}
	double share_often = commits[1] ? (double)ckpts[1] / (double)commits[1] : 0.0;
	double share_seldom = commits[0] ? (double)ckpts[0] / (double)commits[0] : 0.0;
	fprintf(stderr,
		"it_crash: checkpoints: %zu written (%zu by daemons later SIGKILLed); the clean stops under load show "
		"a checkpoint in %llu of %llu commits at --checkpoint-records " CHECKPOINT_RECORDS_OFTEN
		" and %llu of %llu at " CHECKPOINT_RECORDS_SELDOM "; %zu of the %zu SIGKILLs under load hit a daemon "
		"checkpointing every " CHECKPOINT_RECORDS_OFTEN " records (about %.0f expected to meet a checkpoint "
		"from those shares); %zu stops proven to have cut a checkpoint short (begun, never written, and the "
		"next recovery started below it)\n",
		ckpt_written, ckpt_killed, (unsigned long long)ckpts[1], (unsigned long long)commits[1],
		(unsigned long long)ckpts[0], (unsigned long long)commits[0], kills_often, kills,
		(double)kills_often * share_often + (double)(kills - kills_often) * share_seldom, kills_mid_ckpt);
	/* With dozens of kills and a checkpoint in a good share of commits, none
	 * landing mid-checkpoint would mean the test no longer tries it. */
	CHECK(kills_mid_ckpt >= 1);
	fprintf(stderr,
		"it_crash: recovery: the checkpoint had moved since the previous start at %zu of %zu restarts; %zu "
		"restarts began from the checkpoint and journal end accrue-check had just found on disk; records "
		"replayed per restart: min %llu, mean %.1f, max %llu; %zu log lines cut short by a kill; %zu restarts "
		"had not logged that they listen when accrued.addr appeared (waited up to %lld ms for the line)\n",
		moved, restarts, disk_agrees, (unsigned long long)(restarts ? replay_min : 0),
		restarts ? (double)replay_sum / (double)restarts : 0.0, (unsigned long long)replay_max, torn_log_lines,
		listening_late, listening_wait_max_ms);

	size_t sent[4] = { 0 }, acked = 0, unacked = 0, stopped = 0, declined = 0, refused = 0, replayed = 0;
	for (int t = 0; t < THREADS; t++) {
		const struct worker *w = &workers[t];
		for (int k = 1; k < 4; k++)
			sent[k] += w->sent[k];
		acked += atomic_load(&w->acked);
		unacked += w->unacked;
		stopped += w->stopped;
		declined += w->declined;
		refused += w->refused;
		replayed += w->replayed;
	}
	fprintf(stderr,
		"it_crash: %zu SIGKILLs under load, %zu SIGKILLs at start-up (%zu before the daemon listened), %zu "
		"SIGTERMs under load; %zu sales, %zu returns, %zu adjustments sent: %zu acknowledged (%zu as replays of "
		"a re-sent request), %zu unacknowledged (%zu committed, %zu not), %zu refused as shutting down, %zu "
		"declined, %zu refused otherwise; %zu acknowledged requests re-sent as samples; %zu customer checks deferred for a "
		"timed-out call; accrue-check ran %zu times (%zu with the daemon down); %.1f s\n",
		kills, start_kills, start_kills_before_listening, term_stops, sent[KIND_SALE], sent[KIND_RETURN],
		sent[KIND_ADJUST], acked, replayed, unacked, resolved_present, resolved_absent, stopped, declined,
		refused, sample_retries, pending_skips, check_runs, check_runs_down,
		(double)(harness_now_ms() - t0) / 1000.0);
}

int main(void)
{
	long long t0 = harness_now_ms();
	check_bin = getenv("ACCRUE_CHECK_BIN");
	if (!check_bin || !*check_bin) {
		fprintf(stderr, "it_crash: FAILED: ACCRUE_CHECK_BIN is not set. This test runs accrue-check "
				"(tools/accrue_check.c, target accrue_check) after every restart; build it and run the "
				"test through ctest, which sets ACCRUE_CHECK_BIN when the target exists.\n");
		return 1;
	}
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	const char *env = getenv("ACCRUE_CRASH_SEED");
	if (env && *env)
		seed = strtoull(env, NULL, 10);
	if (seed == 0)
		seed = 1;
	fprintf(stderr, "it_crash: seed %llu\n", (unsigned long long)seed);
	uint64_t rng = seed;

	/* Checkpoint after a few records and every second, so that kills land
	 * before, during and after checkpoints and recovery starts from one
	 * written under load. */
	static const char *const daemon_args[] = { "--checkpoint-records", CHECKPOINT_RECORDS_SELDOM,
						    "--checkpoint-seconds", "1", NULL };
	REQUIRE(harness_start_args(&h, "it_crash", daemon_args) == 0);
	accrue *a = NULL;
	int rc = harness_connect(&h, &a);
	if (rc != 0)
		fprintf(stderr, "it_crash: cannot connect to %s: %s\n", h.addr, accrue_strerror(rc));
	REQUIRE(rc == 0);
	for (int c = 0; c < CUSTOMERS; c++) {
		char email[64];
		snprintf(email, sizeof email, "crash%d@example.com", c);
		struct accrue_customer cust;
		rc = accrue_enrol(a, NULL, email, NULL, "Crash", "Test", &cust, NULL);
		if (rc != 0)
			fprintf(stderr, "it_crash: enrol %s: %s: %s\n", email, accrue_strerror(rc), accrue_message(a));
		REQUIRE(rc == 0);
		customer_ids[c] = cust.id;
	}
	accrue_close(a);
	a = NULL;
	memcpy(daemon_addr, h.addr, sizeof daemon_addr);
	memcpy(admin_key, h.admin_key, sizeof admin_key);
	struct accrue_entry *page = calloc(PAGE, sizeof *page);
	struct accrue_order *ord = malloc(sizeof *ord);
	REQUIRE(page != NULL && ord != NULL);

	for (int t = 0; t < THREADS; t++) {
		workers[t].index = t;
		/* Riders: enough attempts, with the library's growing pauses, to
		 * outlast a restart; droppers: none. */
		workers[t].retries = t < RIDERS ? 50 : 0;
		workers[t].rng = rng_next(&rng) | 1;
		REQUIRE(pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) == 0);
	}

	size_t acked_before_last = 0;
	for (int cycle = 0; cycle < CYCLES; cycle++) {
		char phase[64];
		snprintf(phase, sizeof phase, "cycle %d", cycle + 1);
		int run_ms = rng_range(&rng, RUN_MIN_MS, RUN_MAX_MS);
		harness_sleep_ms(run_ms);
		size_t acked = total_acked();
		int e = atomic_load(&epoch);
		char what[160];
		if (cycle % TERM_EVERY == TERM_EVERY - 1) {
			/* A clean stop under load: in-flight requests are finished
			 * and committed, and it exits 0. */
			sigterm_epoch[e] = 1;
			int code = harness_stop_signal(&h, SIGTERM, 20000);
			CHECK_INT(code, 0);
			note_stop(STOP_TERM);
			term_stops++;
			snprintf(what, sizeof what, "SIGTERM after %d ms (exit %d)", run_ms, code);
		} else {
			harness_kill(&h);
			note_stop(STOP_KILL);
			kills++;
			snprintf(what, sizeof what, "SIGKILL after %d ms", run_ms);
		}
		atomic_fetch_add(&epoch, 1);
		run_accrue_check(phase, 1);
		/* The next daemon's checkpoint cadence (harness.c passes h.extra again on every start). */
		ckpt_often = (int)(rng_next(&rng) % 2);
		h.extra[1] = ckpt_often ? CHECKPOINT_RECORDS_OFTEN : CHECKPOINT_RECORDS_SELDOM;
		if (rng_next(&rng) % START_KILL_EVERY == 0) {
			/* And a crash while starting up or recovering. */
			int delay = rng_range(&rng, 0, START_KILL_MAX_MS);
			int exited_with = start_and_kill(delay);
			note_stop(STOP_START_KILL);
			check_recovery(phase, 1);
			atomic_fetch_add(&epoch, 1);
			size_t n = strlen(what);
			if (exited_with < 0) {
				start_kills++;
				start_kills_before_listening += nstarts > 0 && nstarts <= MAX_STARTS &&
								!starts[nstarts - 1].listening;
				snprintf(what + n, sizeof what - n, ", start killed after %d ms", delay);
			} else {
				snprintf(what + n, sizeof what - n, ", start %d ms before had exited with status %d", delay,
					 exited_with);
			}
			run_accrue_check(phase, 1);
		}
		long long r0 = harness_now_ms();
		if (harness_restart(&h) != 0) {
			fprintf(stderr, "it_crash: %s: the daemon did not come back after %s\n", phase, what);
			stop_clients();
			harness_finish(&h, 1);
			int restarted = 0;
			CHECK(restarted);
			return check_done("it_crash");
		}
		long long restart_ms = harness_now_ms() - r0;
		int moved = check_recovery(phase, 0);
		long long v0 = harness_now_ms();
		if (pause_clients() != 0) {
			fprintf(stderr, "it_crash: %s: a client did not finish its call within %d ms\n", phase,
				PAUSE_TIMEOUT_MS);
			harness_finish(&h, 1);
			REQUIRE(0);
		}
		verify(phase, &rng, page, ord, 1);
		resume_clients();
		const struct start_log *s = &starts[nstarts - 1 < MAX_STARTS ? nstarts - 1 : MAX_STARTS - 1];
		fprintf(stderr,
			"it_crash: %s: %s, %zu acknowledged so far; restarted in %lld ms (checkpoint every %s records) at "
			"journal seq %llu from checkpoint %llu%s (%llu replayed); checked in %lld ms\n",
			phase, what, acked, restart_ms, h.extra[1], (unsigned long long)s->journal_seq,
			(unsigned long long)(s->journal_seq - s->replayed), moved ? ", moved" : "",
			(unsigned long long)s->replayed, harness_now_ms() - v0);
		acked_before_last = total_acked();
	}
	/* Some load on the last incarnation too, so it is shown to serve. */
	harness_sleep_ms(500);
	stop_clients();

	for (int t = 0; t < THREADS; t++) {
		const struct worker *w = &workers[t];
		fprintf(stderr,
			"it_crash: thread %d (%s): %zu sent, %zu acknowledged (%zu of them as replays of a re-sent "
			"request), %zu unacknowledged, %zu refused as shutting down, %zu declined, %zu refused otherwise\n",
			t, t < RIDERS ? "rider" : "dropper", w->n, atomic_load(&w->acked), w->replayed, w->unacked,
			w->stopped, w->declined, w->refused);
		/* Every thread got work through: a client that never recovers
		 * from a restart is a failure a user would notice. */
		CHECK(atomic_load(&w->acked) > 0);
		CHECK_INT(w->refused, 0);
	}
	CHECK(total_acked() > acked_before_last);
	fprintf(stderr, "it_crash: load phase done at %.1f s\n", (double)(harness_now_ms() - t0) / 1000.0);

	/* A clean stop and start settles every outcome still open. */
	CHECK_INT(harness_stop(&h), 0);
	note_stop(STOP_FINAL);
	atomic_fetch_add(&epoch, 1);
	REQUIRE(harness_restart(&h) == 0);
	check_recovery("after the last restart", 0);
	verify("after the last restart", &rng, page, ord, 0);

	rc = harness_connect(&h, &a);
	CHECK_INT(rc, 0);
	REQUIRE(a != NULL);
	accrue_set_timeout(a, 30000);
	full_history_check(a, "the whole history", page);
	check_exactly_once("the whole history", atomic_load(&epoch));

	/* Every acknowledged (or committed) key replays and changes nothing. */
	static struct accrue_customer before[CUSTOMERS], after[CUSTOMERS];
	size_t failures = 0, resent_present = 0, resent_absent = 0;
	lookup_all(a, before);
	resend_reports = 0;
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			if (op->kind == KIND_SALE && op->batch_n && op->batch_first != i)
				continue; /* the batch was re-sent whole with its first sale */
			if (replayable(&workers[t], op)) {
				failures += resend(&a, t, i, 1, "re-sending what is present");
				resent_present++;
			}
		}
	CHECK_INT(failures, 0);
	lookup_all(a, after);
	check_unchanged("re-sending what is present", before, after);

	/* Every unacknowledged or stopped key that was not committed is applied now. */
	failures = 0;
	resend_reports = 0;
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			if (op->kind == KIND_SALE && op->batch_n && op->batch_first != i)
				continue;
			if (op->presence == ABSENT && (op->state == OP_UNACKED || op->state == OP_STOPPED)) {
				failures += resend(&a, t, i, 0, "re-sending what is absent");
				resent_absent++;
			}
		}
	CHECK_INT(failures, 0);
	full_history_check(a, "after re-sending what is absent", page);
	check_exactly_once("after re-sending what is absent", atomic_load(&epoch));
	lookup_all(a, after);
	check_ledger("after re-sending what is absent", after, 0);
	/* Now every sale and return sent is in the history exactly once. */
	size_t not_once = 0;
	for (int t = 0; t < THREADS; t++)
		for (size_t i = 0; i < workers[t].n; i++) {
			const struct op *op = &workers[t].ops[i];
			if (op->kind != KIND_ADJUST && op->seen != 1)
				not_once++;
		}
	CHECK_INT(not_once, 0);
	fprintf(stderr, "it_crash: re-sent %zu requests present (all replays) and %zu absent (applied now)\n",
		resent_present, resent_absent);

	/* And it all survives a clean restart. */
	accrue_close(a);
	a = NULL;
	CHECK_INT(harness_stop(&h), 0);
	note_stop(STOP_FINAL);
	run_accrue_check("after the final clean stop", 1);
	REQUIRE(harness_restart(&h) == 0);
	check_recovery("the final restart", 0);
	REQUIRE(harness_connect(&h, &a) == 0);
	lookup_all(a, before);
	check_unchanged("the final restart", after, before);
	accrue_close(a);
	CHECK_INT(harness_stop(&h), 0);

	CHECK_INT(unanswered_on_sigterm, 0);
	CHECK(kills >= 50);
	print_summary(t0);
	free(page);
	free(ord);
	for (int t = 0; t < THREADS; t++)
		free(workers[t].ops);
	harness_finish(&h, check_failures);
	return check_done("it_crash");
}

