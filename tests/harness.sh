# harness.sh - what the shell integration tests share: a daemon of their
# own on a free loopback port in a mktemp directory, accruectl runs with
# their outputs captured, checks that count and report, and a clean stop
# and restart. Sourced (not run) by tests/it_*.sh after setting NAME:
#
#   NAME=it_book
#   . "$(dirname "$0")/harness.sh"
#   daemon_start
#   run customers; expect_rc 0 "customers"
#   ...
#   finish
#
# Needs ACCRUED_BIN and ACCRUECTL_BIN (ctest sets both). Every wait is
# bounded; nothing waits a fixed time for something to happen. The EXIT
# trap kills the daemon, prints its log if anything failed, and removes
# the directory.

: "${ACCRUED_BIN:?ACCRUED_BIN must name the accrued binary}"
: "${ACCRUECTL_BIN:?ACCRUECTL_BIN must name the accruectl binary}"
: "${NAME:?set NAME before sourcing harness.sh}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/accrue-$NAME-XXXXXX") || exit 1
DATA="$TMP/data"
LOG="$TMP/accrued.log"
KEY="$DATA/admin.key"
PID=""
ADDR=""
failures=0
checks=0

harness_cleanup() {
	local status=$?
	# A test with more to stop (an accruectl in the background) defines harness_on_exit.
	if declare -F harness_on_exit >/dev/null; then
		harness_on_exit
	fi
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	if [ "$failures" -ne 0 ] || [ "$status" -ne 0 ]; then
		echo "---- $NAME: accrued log ($LOG) ----" >&2
		tail -c 65536 "$LOG" >&2 2>/dev/null
		echo "---- end of accrued log ----" >&2
	fi
	rm -rf "$TMP"
}
trap harness_cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	failures=$((failures + 1))
	# The line of the top-level statement that led here.
	local n=${#BASH_LINENO[@]}
	echo "$NAME.sh:${BASH_LINENO[n - 2]}: FAILED: $*" >&2
}

# die MESSAGE: a failure after which the test cannot go on.
die() {
	fail "$*"
	exit 1
}

# How long one accruectl may take before it is killed (seconds).
HARNESS_TIMEOUT=${HARNESS_TIMEOUT:-60}

# run ARGS...: accruectl with the admin key; sets OUT, ERR and RC. Bounded.
run() {
	OUT=$(timeout -k 2 "$HARNESS_TIMEOUT" "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" "$@" 2>"$TMP/stderr")
	RC=$?
	ERR=$(cat "$TMP/stderr")
}

# run_key KEYFILE ARGS...: accruectl with another key.
run_key() {
	local keyfile=$1
	shift
	OUT=$(timeout -k 2 "$HARNESS_TIMEOUT" "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$keyfile" "$@" 2>"$TMP/stderr")
	RC=$?
	ERR=$(cat "$TMP/stderr")
}

# new_key ROLE [LOCATION] FILE: create an API key of ROLE into FILE.
new_key() {
	local role=$1 loc=$2 file=${3:-}
	if [ -z "$file" ]; then
		file=$loc
		loc=""
	fi
	if [ -n "$loc" ]; then
		run key create --role "$role" --location "$loc"
	else
		run key create --role "$role"
	fi
	expect_rc 0 "key create --role $role" || return 1
	# The line "key: ak_..." holds the secret, shown this once.
	sed -n 's/^key: //p' <<<"$OUT" | head -n 1 >"$file"
	[ -s "$file" ] || fail "no key in key create's output: [$OUT]"
}

expect_rc() {
	checks=$((checks + 1))
	if [ "$RC" -ne "$1" ]; then
		fail "$2: exit status $RC, expected $1; stdout: [$OUT] stderr: [$ERR]"
		return 1
	fi
	return 0
}

# expect_out TEXT DESCRIPTION: stdout contains TEXT (fixed string).
expect_out() {
	checks=$((checks + 1))
	if ! grep -qF -- "$1" <<<"$OUT"; then
		fail "$2: stdout lacks [$1]; stdout: [$OUT] stderr: [$ERR]"
	fi
}

expect_no_out() {
	checks=$((checks + 1))
	if grep -qF -- "$1" <<<"$OUT"; then
		fail "$2: stdout has [$1] and should not; stdout: [$OUT]"
	fi
}

# expect_err TEXT DESCRIPTION: stderr contains TEXT (case-insensitive).
expect_err() {
	checks=$((checks + 1))
	if ! grep -qiF -- "$1" <<<"$ERR"; then
		fail "$2: stderr lacks [$1]; stderr: [$ERR]"
	fi
}

# expect_json FIELD VALUE DESCRIPTION: stdout has "FIELD":VALUE (VALUE as
# JSON text: 12, "x", true, ["a"]), the value ending there (so "balance":1
# does not match "balance":12).
expect_json() {
	checks=$((checks + 1))
	local pattern
	pattern=$(printf '"%s"[[:space:]]*:[[:space:]]*%s[[:space:]]*[],}]' "$1" "$(sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$2")")
	grep -qE -- "$pattern" <<<"$OUT" || fail "$3: JSON lacks \"$1\":$2; stdout: [$OUT]"
}

# json_num FIELD: the value of a numeric JSON field of the last output.
json_num() {
	sed -n "s/.*\"$1\":\\([0-9-]*\\).*/\\1/p" <<<"$OUT" | head -n 1
}

# expect_eq GOT WANT DESCRIPTION
expect_eq() {
	checks=$((checks + 1))
	if [ "$1" != "$2" ]; then
		fail "$3: got [$1], expected [$2]"
	fi
}

# py SCRIPT: python3 reading stdin (OUT by default); the tests need it to
# parse JSON and CSV as a user's program would.
py() {
	python3 -c "$1" "${@:2}"
}

# daemon_start: start accrued on DATA (created on first use); sets PID, ADDR.
daemon_start() {
	[ -d "$DATA" ] || mkdir -m 700 "$DATA" || exit 1
	rm -f "$DATA/accrued.addr"
	"$ACCRUED_BIN" --data "$DATA" --listen 127.0.0.1:0 "$@" 2>>"$LOG" >>"$LOG" </dev/null &
	PID=$!
	ADDR=""
	for _ in $(seq 1 600); do
		if [ -s "$DATA/accrued.addr" ]; then
			ADDR=$(head -n 1 "$DATA/accrued.addr")
			break
		fi
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$ADDR" ] || [ ! -s "$KEY" ]; then
		failures=$((failures + 1))
		echo "$NAME.sh: accrued did not start (no address or admin key within 60 s)" >&2
		exit 1
	fi
}

# daemon_stop: SIGTERM, and the clean exit it must lead to.
daemon_stop() {
	local rc=""
	kill -TERM "$PID"
	for _ in $(seq 1 600); do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID"
			rc=$?
			break
		fi
		sleep 0.1
	done
	checks=$((checks + 1))
	[ "$rc" = "0" ] || fail "accrued did not exit 0 within 60 s of SIGTERM (status: ${rc:-still running})"
	PID=""
}

daemon_restart() {
	daemon_stop
	daemon_start "$@"
}

# finish: the verdict, as the exit status.
finish() {
	if [ -n "$PID" ]; then
		daemon_stop
	fi
	if [ "$failures" -ne 0 ]; then
		echo "$NAME: $failures of $checks checks failed" >&2
		exit 1
	fi
	echo "$NAME: $checks checks passed"
	exit 0
}
