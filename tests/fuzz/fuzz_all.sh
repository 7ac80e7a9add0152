#!/bin/sh
# fuzz_all.sh - `make fuzz`: run every libFuzzer target for a long time.
#
#   fuzz_all.sh BUILD SECONDS CORPUS_ROOT JOBS [TARGET...]
#
# Runs each target of BUILD (all, or the TARGETs named) for SECONDS, JOBS
# at a time, on the corpus CORPUS_ROOT/<target>, which is kept between runs
# and starts from the build's seeds and the committed regression inputs.
# Failing inputs go to BUILD/tests/fuzz/artifacts/<target>/. Prints one
# summary line per target, and the details of any failure; exits 1 if any
# target failed.
set -u

if [ $# -lt 4 ]; then
	echo "usage: $0 BUILD SECONDS CORPUS_ROOT JOBS [TARGET...]" >&2
	exit 2
fi
build=$1 seconds=$2 corpus_root=$3 jobs=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
list=$build/tests/fuzz/fuzz-targets.txt

if [ ! -f "$list" ]; then
	echo "fuzz: $build has no libFuzzer targets: they need clang and libclang-rt-dev" >&2
	echo "fuzz: (tools/deps.sh installs them; cmake's output says why they were not built)" >&2
	exit 1
fi
if [ $# -gt 0 ]; then
	for t in "$@"; do
		grep -q "^$t " "$list" || { echo "fuzz: no target $t in $list" >&2; exit 2; }
	done
fi

# Whether target $1 is among the rest of the arguments (any target if none).
wanted() {
	[ $# -eq 1 ] && return 0
	name=$1
	shift
	for w in "$@"; do
		[ "$w" = "$name" ] && return 0
	done
	return 1
}

# One line per target to run: name, fuzzer, replay binary.
targets() {
	while read -r t fuzzer replay; do
		[ -n "$t" ] || continue
		wanted "$t" "$@" && printf '%s %s %s\n' "$t" "$fuzzer" "$replay"
	done <"$list"
}

echo "fuzz: each target for $seconds s, $jobs at a time; corpora in $corpus_root"
mkdir -p "$corpus_root" || exit 1
# The inner sh gets the fixed arguments as $1..$5, then xargs adds the
# target ($6), its fuzzer ($7) and its replay binary ($8).
# shellcheck disable=SC2016 # expanded by the inner sh
targets "$@" | xargs -n 3 -P "$jobs" sh -c \
	'FUZZ_QUIET=1 exec sh "$0" "$6" "$7" "$8" "$1" "$2/$6" "$3/$6" "$4/$6" "$5/$6"' \
	"$here/run_fuzzer.sh" "$seconds" "$corpus_root" "$build/tests/fuzz/artifacts" \
	"$build/tests/fuzz/corpus" "$here/regress"
status=$?
if [ $status -ne 0 ]; then
	echo "fuzz: some target failed; see above"
	exit 1
fi
echo "fuzz: no failures"
