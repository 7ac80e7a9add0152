#!/bin/sh
# Install the Debian packages accrue needs to build, test and run, if any
# is missing. Used by `make run` and `make test`; safe to run again.
set -eu

# clang and libclang-rt-dev (libFuzzer's runtime, only recommended by clang)
# build the fuzz targets that `make test` runs for a few seconds each.
# libcsv reads and writes the CSV of imports and exports; libunistring folds
# case beyond ASCII (emails) and checks UTF-8.
PACKAGES="cmake make gcc pkg-config libuv1-dev liblmdb-dev lmdb-utils libxxhash-dev libsodium-dev libcsv-dev libunistring-dev clang libclang-rt-dev"
[ $# -gt 0 ] && PACKAGES="$PACKAGES $*"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "accrue: installing missing packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO="sudo -n"
else
	echo "accrue: these packages are missing:$missing" >&2
	echo "accrue: run as root, or install them with: sudo apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
