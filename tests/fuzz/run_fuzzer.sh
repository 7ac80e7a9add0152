#!/bin/sh
# run_fuzzer.sh - run one libFuzzer target for a bounded time.
#
#   run_fuzzer.sh TARGET FUZZER REPLAY SECONDS CORPUS ARTIFACTS [SEED_DIR...]
#
# TARGET is the target's name (body_accrue), FUZZER its libFuzzer binary,
# REPLAY its fuzz_replay_<target> binary (named in the advice printed on a
# crash; - if there is none). The fuzzer runs for SECONDS on the corpus
# directory CORPUS, which is first given a copy of every file in each
# SEED_DIR; CORPUS - means a fresh temporary directory, removed afterwards
# (ctest's fuzz_run_<target>), any other path is kept and grows from run to
# run (make fuzz). A failing input is written into ARTIFACTS, and libFuzzer's
# output to ARTIFACTS/last-run.log.
#
# FUZZ_FLAGS, if set, adds libFuzzer options (ctest passes -max_len=4096,
# so that the few seeds with every string at its limit, tens of KB, do not
# slow every short run down).
#
# Prints libFuzzer's output (only a summary when FUZZ_QUIET is set), then on
# a failure where the input is and how to reproduce it. Exit status: 0 when
# the time ran out without a failure, 1 otherwise.
set -u

if [ $# -lt 6 ]; then
	echo "usage: $0 TARGET FUZZER REPLAY SECONDS CORPUS ARTIFACTS [SEED_DIR...]" >&2
	exit 2
fi
target=$1 fuzzer=$2 replay=$3 seconds=$4 corpus=$5 artifacts=$6
shift 6

if [ ! -x "$fuzzer" ]; then
	echo "fuzz $target: no fuzzer at $fuzzer (build first)" >&2
	exit 1
fi

tmp=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$corpus" = "-" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/accrue-fuzz-$target-XXXXXX") || exit 1
	corpus=$tmp
fi
mkdir -p "$corpus" "$artifacts" || exit 1

# The seeds are copied, so the fuzzer adds its finds to CORPUS and never to
# the build's seed directory or the source tree.
for dir in "$@"; do
	[ -d "$dir" ] || continue
	for f in "$dir"/*; do
		[ -f "$f" ] || continue
		case "${f##*/}" in README*) continue ;; esac
		cp "$f" "$corpus/" || exit 1
	done
done

log="$artifacts/last-run.log"
status_file="$artifacts/last-run.status"
rm -f "$status_file"
# -timeout: one input taking 10 s is a hang; -rss_limit_mb: a leak or a
# runaway allocation. libFuzzer's exit status is non-zero on any failure.
{
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of options
	"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		${FUZZ_FLAGS:-} -artifact_prefix="$artifacts/" "$corpus" 2>&1
	echo $? >"$status_file"
} >"$log"
status=$(cat "$status_file" 2>/dev/null || echo 1)
rm -f "$status_file"

[ -z "${FUZZ_QUIET:-}" ] && cat "$log"

# The last progress line says "#RUNS DONE cov: N ft: N corp: N/SIZE ...".
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -n 1)
where=""
[ -z "$tmp" ] && where=", corpus $corpus"
echo "fuzz $target: ${runs:-?} runs, ${rate:-?}/s, ${cov:-no coverage line}$where"

if [ "$status" != 0 ]; then
	artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	echo "fuzz $target: FAILED (libFuzzer exit status $status); its output: $log"
	if [ -n "$artifact" ]; then
		echo "fuzz $target: the failing input: $artifact"
		echo "fuzz $target: reproduce it with libFuzzer:  $fuzzer $artifact"
		[ "$replay" != "-" ] && echo "fuzz $target: or in any build, without libFuzzer:  $replay $artifact"
		echo "fuzz $target: keep it as a regression test:  cp $artifact tests/fuzz/regress/$target/  (then fix the codec)"
	fi
	# Quiet, the log was not shown: show the report, from its first line.
	if [ -n "${FUZZ_QUIET:-}" ]; then
		sed -n '/ERROR: \|FUZZ_ASSERT failed\|runtime error: \|deadly signal/,$p' "$log" | head -n 100
	fi
	exit 1
fi
exit 0
