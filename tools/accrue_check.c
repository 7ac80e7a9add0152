/*
 * accrue-check - verify an accrue data directory, read-only.
 *
 * It opens the LMDB environment with MDB_RDONLY, in one read transaction,
 * so it sees one consistent state whether accrued is running (LMDB readers
 * and the writer coexist through lock.mdb) or stopped, and it writes
 * nothing. Three views of the data are built and compared:
 *
 *   1. the journal walked on its own terms (pass 1): contiguous seqs,
 *      checksums, each customer's prev_seq chain, and the arithmetic of the
 *      balance_after every record carries;
 *   2. the journal replayed from seq 1 through model_apply(), the daemon's
 *      own rules, into a fresh model (the "journal model"): what it refuses
 *      is a problem, and what it ends with is the truth;
 *   3. the checkpoint loaded as recovery does (snapshots, then the journal
 *      after checkpoint_seq): it must agree with the journal model field by
 *      field.
 *
 * A problem names its seq and customer where it has them. After the first
 * problem of a customer, that customer's later records are not replayed
 * (each would be refused for the same reason) and the customer is left out
 * of the comparisons, so one fault is reported once, not once per record.
 *
 * This file is main: the options, the order of the passes, and the memory
 * helpers every pass uses. check.h lists the other files and their jobs.
 *
 * Exit status: 0 clean, 1 problems found, 2 cannot check (usage, a missing
 * directory, not an accrue data directory, another storage format, LMDB).
 */
#include "check.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ACCRUE_VERSION
#define ACCRUE_VERSION "dev"
#endif

/* ---- memory ----------------------------------------------------------------------------------- */

void check_die_nomem(void)
{
	fprintf(stderr, "accrue-check: out of memory\n");
	exit(CHECK_CANNOT);
}

void *check_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		check_die_nomem();
	return p;
}

void check_grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	*arr = check_xrealloc(*arr, n * size);
	*cap = n;
}

/* ---- main ------------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: accrue-check [--json | --quiet] DIR\n"
		"\n"
		"Verifies an accrue data directory (the DIR given to accrued --data). It\n"
		"only reads: DIR is opened read-only, in one LMDB read transaction, so\n"
		"the check sees one consistent state whether accrued is running on DIR\n"
		"or stopped, and it never changes the data (LMDB registers the reader\n"
		"in DIR/lock.mdb, creating that file if it is missing, as mdb_stat\n"
		"does; a directory without data.mdb is left untouched).\n"
		"\n"
		"What it checks:\n"
		"  journal    every record's checksum (seeded with its seq), that seqs\n"
		"             run from 1 without a gap, and that each customer's\n"
		"             records form one chain through prev_seq\n"
		"  balances   that each record's balance_after is the balance before it\n"
		"             plus what the record changes (sales and adjustments add\n"
		"             their points, returns remove the points they applied)\n"
		"  customers  the journal replayed from seq 1 through the daemon's own\n"
		"             rules (the code accrued recovers with): every record it\n"
		"             refuses is a problem, with the reason; each customer's\n"
		"             balance, lifetime points, visits and total spend must\n"
		"             equal what the journal's records add up to; emails,\n"
		"             phone numbers and loyalty card numbers are normalised and\n"
		"             unique (a card linked while another customer holds it,\n"
		"             an edit to a taken email or phone, is refused and named).\n"
		"  checkpoint checkpoint_seq names a record the journal has; the\n"
		"             snapshots (customers, orders, request keys, API keys,\n"
		"             program) loaded as recovery loads them, plus the journal\n"
		"             after checkpoint_seq, must equal the full replay: every\n"
		"             field of every customer, order, request key and API key,\n"
		"             and every program setting.\n"
		"\n"
		"Output: a summary line, then one line per problem, by seq:\n"
		"  accrue-check DIR: 1204 journal records (seq 1..1204), 57 customers, checkpoint at seq 1100: 1 problem\n"
		"  seq 812 customer 14: damaged record: checksum mismatch\n"
		"After a customer's first problem, its later records are not replayed;\n"
		"one line says how many were left out.\n"
		"\n"
		"  --json    print one JSON object instead: {\"dir\", \"records\", \"first_seq\",\n"
		"            \"last_seq\", \"customers\", \"checkpoint_seq\" (null: none),\n"
		"            \"clean\", \"problems\": [{\"seq\", \"customer\", \"problem\"}]}\n"
		"            (seq and customer are null where a problem has none)\n"
		"  --quiet   print nothing; the exit status tells\n"
		"  --help    show this help\n"
		"  --version show the version\n"
		"\n"
		"Exit status:\n"
		"  0  clean\n"
		"  1  problems found (listed on stdout)\n"
		"  2  cannot check: a usage error, DIR missing, DIR not an accrue data\n"
		"     directory, a storage format other than %d, or an LMDB error\n"
		"     (the reason on stderr)\n",
		STORE_FORMAT);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct check ck;
	int opt, rc;

	memset(&ck, 0, sizeof ck);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			ck.json = 1;
			break;
		case 'q':
			ck.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return CHECK_CLEAN;
		case 'V':
			printf("accrue-check %s (storage format %d)\n", ACCRUE_VERSION, STORE_FORMAT);
			return CHECK_CLEAN;
		default:
			fprintf(stderr, "accrue-check: unknown option \"%s\"\nTry 'accrue-check --help'.\n", argv[optind - 1]);
			return CHECK_CANNOT;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "accrue-check: %s\nTry 'accrue-check --help'.\n",
			argc == optind ? "which data directory? (DIR is missing)" : "one data directory at a time");
		return CHECK_CANNOT;
	}
	if (ck.json && ck.quiet) {
		fprintf(stderr, "accrue-check: --json and --quiet do not go together\nTry 'accrue-check --help'.\n");
		return CHECK_CANNOT;
	}
	ck.dir = argv[optind];
	check_replay_init(&ck.journal);
	check_replay_init(&ck.checkpoint);

	rc = check_dir_open(&ck);
	if (rc)
		goto out;
	if (ck.unreadable) {
		check_report_print(&ck);
		rc = CHECK_PROBLEMS;
		goto out;
	}
	/* With no checkpoint and no snapshots, loading them and replaying the
	 * whole journal again would build the journal model a second time. */
	ck.checkpoint_needed = ck.has_ckpt || check_snapshots_present(&ck);
	if (ck.checkpoint_needed)
		ck.checkpoint_loaded = check_checkpoint_load(&ck);
	check_journal_walk(&ck);
	/* accrued refuses to start from such a checkpoint; comparing its
	 * snapshots field by field would only list the consequences. */
	if (ck.has_ckpt && !ck.ckpt_seen) {
		if (ck.ckpt_seq > ck.last_seq)
			check_problem_add(&ck, ck.ckpt_seq, 0,
					  "the checkpoint is at seq %" PRIu64 ", past the end of the journal (seq %" PRIu64
					  "): the journal lost its tail, or meta is wrong; the snapshots are not compared",
					  ck.ckpt_seq, ck.last_seq);
		else
			check_problem_add(&ck, ck.ckpt_seq, 0,
					  "the checkpoint is at seq %" PRIu64 ", but the journal has no such record; the snapshots are not compared",
					  ck.ckpt_seq);
		ck.checkpoint_loaded = 0;
	}
	if (ck.saved_seq > ck.last_seq)
		check_problem_add(&ck, ck.saved_seq, 0,
				  "meta's saved_seq %" PRIu64 " is past the end of the journal (seq %" PRIu64
				  "): accrued would not make the orders and request keys of the records after it",
				  ck.saved_seq, ck.last_seq);
	check_taints_report(&ck, &ck.journal, NULL);
	if (ck.checkpoint_needed)
		check_taints_report(&ck, &ck.checkpoint, &ck.journal);
	check_pass1_compare(&ck);
	check_contacts_unique(&ck, 0);
	check_contacts_unique(&ck, 1);
	if (ck.checkpoint_loaded)
		check_checkpoint_compare(&ck);
	check_report_print(&ck);
	rc = ck.nproblems ? CHECK_PROBLEMS : CHECK_CLEAN;
out:
	if (ck.txn)
		mdb_txn_abort(ck.txn);
	if (ck.env)
		mdb_env_close(ck.env);
	check_replay_free(&ck.journal);
	check_replay_free(&ck.checkpoint);
	for (size_t i = 0; i < ck.nproblems; i++)
		free(ck.problems[i].text);
	free(ck.problems);
	for (size_t i = 0; i < ck.np1; i++) {
		free(ck.p1[i].email);
		free(ck.p1[i].phone);
	}
	free(ck.p1);
	free(ck.lost);
	if (fflush(stdout) != 0 && rc != CHECK_CANNOT) {
		fprintf(stderr, "accrue-check: cannot write the report: %s\n", strerror(errno));
		rc = CHECK_CANNOT;
	}
	return rc;
}
