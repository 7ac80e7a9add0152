#!/bin/sh
# gen-import.sh - CSV files for `accruectl import`, for the benchmark in
# bench/README.md and for tests/it_import.sh.
#
#   gen-import.sh customers N        N customers c1@example.com .. cN@example.com
#   gen-import.sh adjustments L N    L adjustments of +1..+9 points spread over
#                                    customers #1..#N (a REF by id), with a
#                                    reason and a quoted comment
#
# Writes to stdout. Deterministic: the same arguments give the same bytes,
# so the same import run twice is the same file.
set -eu
case "${1:-}" in
customers)
	awk -v n="$2" 'BEGIN {
		print "email,phone,first_name,last_name,groups,points"
		for (i = 1; i <= n; i++)
			printf "c%d@example.com,,First%d,\"Last, %d\",,\n", i, i, i
	}'
	;;
adjustments)
	awk -v lines="$2" -v n="$3" 'BEGIN {
		print "customer,points,reason,comment"
		for (i = 1; i <= lines; i++)
			printf "#%d,%d,bench %d,\"thanks, line %d\"\n", (i - 1) % n + 1, (i - 1) % 9 + 1, i, i
	}'
	;;
*)
	echo "usage: gen-import.sh customers N | adjustments LINES CUSTOMERS" >&2
	exit 2
	;;
esac
