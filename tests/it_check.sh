#!/usr/bin/env bash
# it_check.sh - accrue-check against data directories the real accrued
# wrote: clean while the daemon runs, after a clean stop (a checkpoint at
# the last record), after a crash with a journal tail past the checkpoint;
# a flipped byte in one journal record is found and named by its seq, the
# same seq accrued refuses to start on; missing and foreign directories
# cannot be checked (exit 2). accrue-check never writes to what it reads.
#
# Needs ACCRUED_BIN, ACCRUECTL_BIN and ACCRUE_CHECK_BIN (ctest sets them).
# Every expected seq and count comes from what accruectl reported when the
# record was made, never from accrue-check itself. The EXIT trap kills the
# daemon it started (by its pid) and removes the temporary directory.
set -euo pipefail

: "${ACCRUED_BIN:?ACCRUED_BIN must name the accrued binary}"
: "${ACCRUECTL_BIN:?ACCRUECTL_BIN must name the accruectl binary}"
: "${ACCRUE_CHECK_BIN:?ACCRUE_CHECK_BIN must name the accrue-check binary}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/accrue-it_check-XXXXXX")
DATA="$TMP/data"
LOG="$TMP/accrued.log"
KEY="$DATA/admin.key"
PID=""
ADDR=""
failures=0
checks=0

cleanup() {
	local status=$?
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	if [ "$failures" -ne 0 ] || [ "$status" -ne 0 ]; then
		echo "---- it_check: accrued log ($LOG) ----" >&2
		tail -c 16384 "$LOG" >&2 2>/dev/null || true
		echo "---- end of accrued log ----" >&2
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	failures=$((failures + 1))
	local n=${#BASH_LINENO[@]}
	echo "it_check.sh:${BASH_LINENO[n - 2]}: FAILED: $*" >&2
}

# A step the rest depends on went wrong: no point going on.
die() {
	fail "$@"
	echo "it_check: $failures of $checks checks failed (stopped early)" >&2
	exit 1
}

# ctl ARGS...: accruectl against the daemon, which must accept; OUT is its stdout.
ctl() {
	local rc=0
	OUT=$(timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" "$@" 2>"$TMP/stderr") || rc=$?
	[ "$rc" -eq 0 ] || die "accruectl $*: exit $rc: $(cat "$TMP/stderr")"
}

# json_num FIELD: the first "FIELD":N in OUT.
json_num() {
	grep -oE "\"$1\":[0-9]+" <<<"$OUT" | head -n 1 | grep -oE '[0-9]+$' || true
}

# check ARGS...: run accrue-check; sets OUT, ERR and RC. Bounded like every wait here.
check() {
	RC=0
	OUT=$(timeout -k 2 60 "$ACCRUE_CHECK_BIN" "$@" 2>"$TMP/stderr") || RC=$?
	ERR=$(cat "$TMP/stderr")
}

expect_rc() {
	checks=$((checks + 1))
	[ "$RC" -eq "$1" ] || fail "$2: exit status $RC, expected $1; stdout: [$OUT] stderr: [$ERR]"
}

expect_out() {
	checks=$((checks + 1))
	grep -qF -- "$1" <<<"$OUT" || fail "$2: stdout lacks [$1]; stdout: [$OUT] stderr: [$ERR]"
}

expect_err() {
	checks=$((checks + 1))
	grep -qiF -- "$1" <<<"$ERR" || fail "$2: stderr lacks [$1]; stderr: [$ERR]"
}

# start_daemon ARGS...: accrued on DATA on a free port; sets PID and ADDR.
start_daemon() {
	rm -f "$DATA/accrued.addr"
	"$ACCRUED_BIN" --data "$DATA" --listen 127.0.0.1:0 "$@" 2>>"$LOG" >>"$LOG" </dev/null &
	PID=$!
	ADDR=""
	for _ in $(seq 1 200); do
		if [ -s "$DATA/accrued.addr" ]; then
			ADDR=$(head -n 1 "$DATA/accrued.addr")
			break
		fi
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$ADDR" ] || die "accrued did not write $DATA/accrued.addr within 20 s"
	[ -s "$KEY" ] || die "accrued did not create $KEY"
}

# stop_daemon SIGNAL: send it and wait (bounded) for the daemon to go; sets STOP_RC.
stop_daemon() {
	kill "-$1" "$PID"
	STOP_RC=""
	for _ in $(seq 1 200); do
		if ! kill -0 "$PID" 2>/dev/null; then
			STOP_RC=0
			# (bash reports a job killed by a signal on stderr: not news here)
			{ wait "$PID"; } 2>/dev/null || STOP_RC=$?
			break
		fi
		sleep 0.1
	done
	[ -n "$STOP_RC" ] || die "accrued did not exit within 20 s of SIG$1"
	PID=""
}

# ---- 1. a store's day, checked while the daemon runs --------------------------

mkdir -m 700 "$DATA"
start_daemon

ctl --json enrol --email Ann.Lee@Example.com --phone "+1 (555) 010-4000" --first Ann --last Lee
ANN=$(json_num id)
ctl --json enrol --email bob@example.com --first Bob
BOB=$(json_num id)
ctl accrue ann.lee@example.com --order A-100 --location store-1 \
	--line COF-1:coffee:2:7.00 --line CAKE-3:bakery:1:4.50 --line GIFT-25:gift-cards:1:25.00
ctl accrue bob@example.com --order B-200 --location store-2 --amount 19.99
ctl add ann.lee@example.com 25 --reason birthday --comment "Happy birthday"
ctl use ann.lee@example.com 10 --reason coffee
ctl return --order A-100 --location store-1 --line COF-1::1:3.50
ctl return --order B-200 --location store-2 --amount 19.99
ctl group add bob@example.com vip
ctl tier set ann.lee@example.com gold --note "big spender"
ctl key create --role terminal --location store-9
ctl key revoke 2
# A guest: a sale for an email nobody has (two records), who then joins.
ctl program set guests record
ctl --json accrue guest@example.com --order G-1 --location store-1 --amount 5.00
GUEST=$(json_num id)
ctl enrol --email guest@example.com --first Gus
ctl --json accrue ann.lee@example.com --order A-101 --location store-1 --amount 12.00
LAST=$(json_num seq)
[ -n "$ANN" ] && [ -n "$BOB" ] && [ -n "$GUEST" ] && [ -n "$LAST" ] || die "accruectl --json gave no ids or seq"
# Ids are handed out from 1: the guest was the last customer made.
NCUST=$GUEST

check "$DATA"
expect_rc 0 "check while the daemon runs"
expect_out "$LAST journal records (seq 1..$LAST)" "the summary counts every record the daemon reported"
expect_out "$NCUST customers" "the summary counts the customers"
expect_out ": clean" "a healthy directory is clean"

check --json "$DATA"
expect_rc 0 "--json while the daemon runs"
expect_out "\"records\":$LAST," "--json records"
expect_out "\"customers\":$NCUST," "--json customers"
expect_out "\"problems\":[]" "--json lists no problems"
if command -v python3 >/dev/null 2>&1; then
	checks=$((checks + 1))
	python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["clean"] is True' <<<"$OUT" ||
		fail "--json is not one JSON object saying clean: [$OUT]"
fi

check --quiet "$DATA"
expect_rc 0 "--quiet on a clean directory"
checks=$((checks + 1))
[ -z "$OUT" ] || fail "--quiet printed [$OUT]"

# ---- 2. a clean stop writes a checkpoint at the last record --------------------

stop_daemon TERM
checks=$((checks + 1))
[ "$STOP_RC" -eq 0 ] || fail "accrued exited $STOP_RC after SIGTERM"

check "$DATA"
expect_rc 0 "check after a clean stop"
expect_out "checkpoint at seq $LAST" "the final checkpoint is at the last record"
expect_out ": clean" "snapshots agree with the journal"

# ---- 3. a crash with a journal tail after the checkpoint ------------------------

# A checkpoint every 4 records: of the 6 sales below, the last ones are
# after the last checkpoint when the daemon is killed.
start_daemon --checkpoint-records 4 --checkpoint-seconds 3600
for i in 1 2 3 4 5; do
	ctl accrue ann.lee@example.com --order "T-$i" --location store-1 --amount "1$i.00"
done
# The record to damage later: a sale with an order id found nowhere else.
DAMAGED_ORDER="ZQX-DMG-4417"
ctl --json accrue bob@example.com --order "$DAMAGED_ORDER" --location store-1 --amount 3.00
DAMAGED_SEQ=$(json_num seq)
DAMAGED_CUST=$(grep -oE '"customer":\{"id":[0-9]+' <<<"$OUT" | grep -oE '[0-9]+$' || true)
[ -n "$DAMAGED_SEQ" ] && [ "$DAMAGED_CUST" = "$BOB" ] || die "the last sale's seq or customer is not what accruectl said: [$OUT]"
stop_daemon KILL

check --json "$DATA"
expect_rc 0 "check after a crash (snapshots plus the journal tail)"
expect_out "\"records\":$DAMAGED_SEQ," "every record made before the crash is there"
CKPT=$(json_num checkpoint_seq)
checks=$((checks + 1))
if [ -z "$CKPT" ] || [ "$CKPT" -le "$LAST" ] || [ "$CKPT" -ge "$DAMAGED_SEQ" ]; then
	fail "expected a checkpoint after seq $LAST and before seq $DAMAGED_SEQ (a tail to replay), got [$CKPT]"
fi
# The same figure straight from LMDB, where lmdb-utils is installed.
if command -v mdb_dump >/dev/null 2>&1; then
	checks=$((checks + 1))
	# The value is sealed: the u64 big-endian (16 hex digits), then its checksum.
	META_CKPT=$(mdb_dump -s meta "$DATA" | grep -A1 '^ 636865636b706f696e745f736571$' | tail -n 1 | tr -d ' ' | cut -c1-16)
	[ "$((16#$META_CKPT))" = "$CKPT" ] || fail "meta says checkpoint_seq $((16#$META_CKPT)), accrue-check $CKPT"
fi
check "$DATA"
expect_out ": clean" "crash recovery state is clean"

# It reads and never writes: the data file is byte for byte as it was.
SUM_BEFORE=$(cksum <"$DATA/data.mdb")

# ---- 4. one flipped byte in one journal record -----------------------------------

# LMDB copies pages on write, so stale copies of the record may sit in free
# pages: change every copy, which damages the live one wherever it is.
OFFSETS=$(grep -boaF "$DAMAGED_ORDER" "$DATA/data.mdb" | cut -d: -f1 || true)
[ -n "$OFFSETS" ] || die "order id $DAMAGED_ORDER not found in $DATA/data.mdb"
SUM_AFTER=$(cksum <"$DATA/data.mdb")
checks=$((checks + 1))
[ "$SUM_BEFORE" = "$SUM_AFTER" ] || fail "data.mdb changed while only accrue-check ran on it"
for off in $OFFSETS; do
	printf 'R' | dd of="$DATA/data.mdb" bs=1 seek=$((off + 1)) conv=notrunc status=none
done

check "$DATA"
expect_rc 1 "a damaged record is a problem"
expect_out "seq $DAMAGED_SEQ customer $DAMAGED_CUST: damaged record: checksum mismatch" "the damaged record is named by its seq and customer"
expect_out ": 1 problem" "one flipped byte is one problem"

check --json "$DATA"
expect_rc 1 "--json with a damaged record"
expect_out "\"clean\":false" "--json says not clean"
expect_out "{\"seq\":$DAMAGED_SEQ,\"customer\":$DAMAGED_CUST,\"problem\":\"damaged record: checksum mismatch\"}" "--json names the record"

check --quiet "$DATA"
expect_rc 1 "--quiet with a damaged record"

# accrued replays the tail on start-up and must refuse the same record.
rm -f "$DATA/accrued.addr"
DRC=0
timeout -k 2 20 "$ACCRUED_BIN" --data "$DATA" --listen 127.0.0.1:0 >"$TMP/start.log" 2>&1 </dev/null || DRC=$?
checks=$((checks + 1))
[ "$DRC" -ne 0 ] && [ "$DRC" -ne 124 ] || fail "accrued started on a damaged journal (exit $DRC)"
checks=$((checks + 1))
grep -qE "journal record $DAMAGED_SEQ is damaged" "$TMP/start.log" ||
	fail "accrued's refusal does not name seq $DAMAGED_SEQ: [$(cat "$TMP/start.log")]"

# ---- 5. what cannot be checked ---------------------------------------------------

check "$TMP/no-such-dir"
expect_rc 2 "a missing directory"
expect_err "$TMP/no-such-dir" "the missing directory is named"

mkdir "$TMP/plain"
echo "not a ledger" >"$TMP/plain/notes.txt"
check "$TMP/plain"
expect_rc 2 "a directory that is not a data directory"
expect_err "not an accrue data directory" "a foreign directory is called that"
checks=$((checks + 1))
[ "$(ls -A "$TMP/plain")" = "notes.txt" ] || fail "accrue-check left files in a foreign directory: $(ls -A "$TMP/plain")"

check "$TMP/plain/notes.txt"
expect_rc 2 "a file instead of a directory"

# Another storage format, where lmdb-utils can make one from a copy.
if command -v mdb_load >/dev/null 2>&1; then
	cp -a "$DATA" "$TMP/other-format"
	printf 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 666f726d6174\n 0000000000000009\nDATA=END\n' |
		mdb_load -s meta "$TMP/other-format"
	check "$TMP/other-format"
	expect_rc 2 "another storage format"
	expect_err "format 9" "the format found is named"
fi

check
expect_rc 2 "no directory given"
check --no-such-option "$DATA"
expect_rc 2 "an unknown option"

check --help
expect_rc 0 "--help"
expect_out "Usage: accrue-check" "--help has a usage line"
expect_out "card numbers" "--help says there are no card numbers to check"
expect_out "Exit status" "--help documents the exit status"

if [ "$failures" -ne 0 ]; then
	echo "it_check: $failures of $checks checks failed" >&2
	exit 1
fi
echo "it_check: $checks checks passed"
