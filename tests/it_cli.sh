#!/usr/bin/env bash
# it_cli.sh - a store manager's session with accruectl against the real
# accrued: enrol, show (text and --json), accrue, add, use, history, keys,
# and the exit statuses a script relies on (0 ok, 1 refused by the server,
# 2 usage, 3 connect or I/O failure).
#
# Needs ACCRUED_BIN and ACCRUECTL_BIN (ctest sets both). Starts its own
# daemon in a mktemp directory on a free loopback port; the EXIT trap kills
# it and removes the directory, and prints the daemon's log if anything
# failed. Every wait is bounded. python3 is not needed: JSON is checked by
# matching exact "field":value pieces (and parsed with python3 if present).
set -u

NAME=it_cli
. "$(dirname "$0")/harness.sh"

# run_raw ARGS...: accruectl exactly as given (no --server/--key-file).
run_raw() {
	OUT=$(timeout -k 2 20 "$ACCRUECTL_BIN" "$@" 2>"$TMP/stderr")
	RC=$?
	ERR=$(cat "$TMP/stderr")
}

# expect_one_json DESCRIPTION: stdout is exactly one JSON document.
expect_one_json() {
	checks=$((checks + 1))
	if command -v python3 >/dev/null 2>&1; then
		if ! python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$OUT" 2>"$TMP/pyerr"; then
			fail "$1: not one JSON document ($(cat "$TMP/pyerr" | tail -1)): [$OUT]"
		fi
	else
		local first=${OUT:0:1} trimmed
		trimmed=$(sed -e 's/[[:space:]]*$//' <<<"$OUT")
		local last=${trimmed: -1}
		if { [ "$first" != "{" ] || [ "$last" != "}" ]; } && { [ "$first" != "[" ] || [ "$last" != "]" ]; }; then
			fail "$1: not one JSON document: [$OUT]"
		fi
	fi
}

daemon_start

# ---- help and usage errors (no server needed, but one is there) ----------

run_raw --help
expect_rc 0 "--help"
expect_out "accrue" "--help prints usage"
checks=$((checks + 1))
grep -qi "usage" <<<"$OUT" || fail "--help does not say Usage: [$OUT]"

run frobnicate
expect_rc 2 "unknown command"
expect_err "frobnicate" "unknown command is named"

run show
expect_rc 2 "show without REF"

run accrue
expect_rc 2 "accrue without REF"

run accrue ann@example.com --order X1 --amount 12.345
expect_rc 2 "amount with three decimals"

run accrue ann@example.com --order X1 --amount -5
expect_rc 2 "negative amount"

run accrue ann@example.com --order X1 --amount twelve
expect_rc 2 "amount that is not a number"

run accrue ann@example.com --amount 12.34
expect_rc 2 "accrue without --order"

run add ann@example.com
expect_rc 2 "add without POINTS"

run add ann@example.com lots
expect_rc 2 "add with POINTS not a number"

run history ann@example.com --limit nope
expect_rc 2 "history --limit not a number"

run key create --role emperor
expect_rc 2 "key create with an unknown role"

run show ann@example.com --no-such-option
expect_rc 2 "unknown option"

# ---- connect and key-file failures ---------------------------------------

run_raw --server 127.0.0.1:1 --key-file "$KEY" show ann@example.com
expect_rc 3 "unreachable server"

run_raw --server "$ADDR" --key-file "$TMP/no-such-file" show ann@example.com
expect_rc 3 "missing key file"
expect_err "no-such-file" "missing key file is named"

echo "not-a-valid-key" >"$TMP/wrong.key"
run_raw --server "$ADDR" --key-file "$TMP/wrong.key" show ann@example.com
expect_rc 1 "a wrong API key is refused by the server"
expect_err "auth" "a wrong key says auth"

# ---- enrol and show -------------------------------------------------------

run enrol --email Ann.Lee@Example.com --phone "+1 (555) 010-4000" --first Ann --last Lee
expect_rc 0 "enrol Ann"

run enrol --email ann.lee@example.com --first Other
expect_rc 1 "enrol with a taken email"
expect_err "email" "conflict names the email"

run enrol --phone "+15550104000" --first Other
expect_rc 1 "enrol with a taken phone"
expect_err "phone" "conflict names the phone"

run enrol --first Nobody
checks=$((checks + 1))
# Refused either by accruectl itself (usage) or by the server.
[ "$RC" -eq 1 ] || [ "$RC" -eq 2 ] || fail "enrol with neither email nor phone: exit $RC, expected 1 or 2"

run show ann.lee@example.com
expect_rc 0 "show by email"
expect_out "Ann" "show has the first name"
expect_out "Lee" "show has the last name"
expect_out "ann.lee@example.com" "show has the lower-cased email"
expect_out "+15550104000" "show has the normalised phone"
checks=$((checks + 1))
grep -qE '^balance[[:space:]]+0 points$' <<<"$OUT" || fail "show: no 'balance 0 points' line: [$OUT]"

run --json show +15550104000
expect_rc 0 "--json show by phone"
expect_one_json "--json show"
expect_json email '"ann.lee@example.com"' "--json show"
expect_json phone '"+15550104000"' "--json show"
expect_json first_name '"Ann"' "--json show"
expect_json last_name '"Lee"' "--json show"
expect_json balance 0 "--json show"
expect_json visits 0 "--json show"
for f in id email phone first_name last_name balance lifetime_points visits total_spend average_spend created last_visit; do
	checks=$((checks + 1))
	grep -qF "\"$f\"" <<<"$OUT" || fail "--json show lacks the field $f: [$OUT]"
done
ID=$(grep -oE '"id"[[:space:]]*:[[:space:]]*[0-9]+' <<<"$OUT" | head -1 | grep -oE '[0-9]+$')
checks=$((checks + 1))
[ -n "$ID" ] || fail "--json show: no numeric id: [$OUT]"

run show "#$ID"
expect_rc 0 "show by #ID"
expect_out "ann.lee@example.com" "show by #ID finds Ann"

run show nobody@example.com
expect_rc 1 "show an unknown customer"
expect_err "not" "unknown customer: not found"

# ---- accrue, add, use -----------------------------------------------------

run --json accrue ann.lee@example.com --order A1 --amount 12.34 --location store-1
expect_rc 0 "accrue 12.34"
expect_one_json "--json accrue"
expect_json points 12 "accrue 12.34 gives 12 points"
expect_json replay false "a first accrual is not a replay"
expect_json balance 12 "balance after accrue"
expect_json visits 1 "visits after accrue"
expect_json total_spend 1234 "total spend after accrue"

run accrue ann.lee@example.com --order A1 --amount 12.34 --location store-1
expect_rc 1 "the same order again at the same location"
expect_err "order" "duplicate order is explained"

run --json accrue ann.lee@example.com --order A2 --amount 0.99 --location store-1
expect_rc 0 "accrue 0.99"
expect_json points 0 "0.99 earns 0 points"

run accrue ann.lee@example.com --order A1 --amount 5 --location store-2
expect_rc 0 "same order id at another location, whole-unit amount"

run --json show ann.lee@example.com
expect_json balance 17 "balance after three sales (12 + 0 + 5)"
expect_json visits 3 "three visits"
expect_json total_spend 1833 "total spend 12.34 + 0.99 + 5.00"
expect_json average_spend 611 "average spend 1833 / 3"

run --json add ann.lee@example.com 100 --reason goodwill --comment "Thanks for waiting"
expect_rc 0 "add 100"
expect_one_json "--json add"
expect_json points 100 "add 100 points"
expect_json balance 117 "balance after add"

run --json use ann.lee@example.com 30 --reason "coffee"
expect_rc 0 "use 30"
expect_json points -30 "use reports negative points"
expect_json balance 87 "balance after use"

run use ann.lee@example.com 1000 --reason "too much"
expect_rc 1 "use more than the balance"
expect_err "87" "the refusal gives the balance"

run --json show ann.lee@example.com
expect_json balance 87 "a refused use changes nothing"

# ---- history ---------------------------------------------------------------

run history ann.lee@example.com
expect_rc 0 "history"
expect_out "A1" "history lists the order"
expect_out "store-2" "history lists the location"
expect_out "goodwill" "history lists the reason"
expect_out "Thanks for waiting" "history lists the comment"
expect_out "-30" "history lists the use"
expect_out "enrol" "history lists the enrolment"

run history ann.lee@example.com --limit 1
expect_rc 0 "history --limit 1"
expect_out "-30" "the newest entry is the use"
expect_no_out "goodwill" "--limit 1 shows one entry"
expect_no_out "A1" "--limit 1 shows one entry"

run --json history ann.lee@example.com
expect_rc 0 "--json history"
expect_one_json "--json history"
expect_json balance_after 87 "newest balance_after"
expect_json order_id '"A1"' "history has A1"

# ---- keys --------------------------------------------------------------------

run --json key create --role terminal --location store-9
expect_rc 0 "key create terminal"
expect_one_json "--json key create"
expect_json role '"terminal"' "key create role"
expect_json location '"store-9"' "key create location"
TERM_ID=$(grep -oE '"id"[[:space:]]*:[[:space:]]*[0-9]+' <<<"$OUT" | head -1 | grep -oE '[0-9]+$')
TERM_KEY=$(grep -oE '"key"[[:space:]]*:[[:space:]]*"[^"]+"' <<<"$OUT" | head -1 | sed -E 's/.*"([^"]+)"$/\1/')
checks=$((checks + 1))
if [ -z "$TERM_ID" ] || [ -z "$TERM_KEY" ]; then
	fail "key create: no id or key in [$OUT]"
fi

run key create --role terminal
expect_rc 2 "a terminal key without --location"

run key create --role readonly
expect_rc 0 "key create readonly (text)"
expect_out "readonly" "text key create names the role"

run key list
expect_rc 0 "key list"
expect_out "store-9" "key list shows the terminal's location"
expect_out "terminal" "key list shows the role"
expect_out "readonly" "key list shows the read-only key"
expect_out "$TERM_ID" "key list shows the terminal's id"
run --json key list
expect_rc 0 "--json key list"
expect_one_json "--json key list"

# The terminal key works for its own location only, and cannot adjust.
printf '%s\n' "$TERM_KEY" >"$TMP/terminal.key"
run_raw --server "$ADDR" --key-file "$TMP/terminal.key" --json accrue ann.lee@example.com --order T1 --amount 2.00
expect_rc 0 "terminal accrues at its own location"
expect_json points 2 "terminal accrual points"
run_raw --server "$ADDR" --key-file "$TMP/terminal.key" accrue ann.lee@example.com --order T2 --amount 2.00 --location store-1
expect_rc 1 "terminal naming another location"
expect_err "forbidden" "another location is forbidden"
run_raw --server "$ADDR" --key-file "$TMP/terminal.key" add ann.lee@example.com 5
expect_rc 1 "terminal cannot add points"
run_raw --server "$ADDR" --key-file "$TMP/terminal.key" key list
expect_rc 1 "terminal cannot list keys"

run key revoke "$TERM_ID"
expect_rc 0 "key revoke"
run --json key list
checks=$((checks + 1))
if ! grep -qE "\"id\":[[:space:]]*$TERM_ID,[^}]*\"revoked\":[[:space:]]*true" <<<"$OUT"; then
	fail "key list does not show key $TERM_ID revoked: [$OUT]"
fi
run_raw --server "$ADDR" --key-file "$TMP/terminal.key" show ann.lee@example.com
expect_rc 1 "a revoked key is refused"
expect_err "auth" "a revoked key: auth"

run key revoke 999999999
expect_rc 1 "revoking an unknown key"

run key revoke notanumber
expect_rc 2 "key revoke with a non-numeric id"

# ---- everything is still there after a clean restart ------------------------

daemon_restart
run --json show ann.lee@example.com
expect_rc 0 "show after restart"
expect_json balance 89 "balance after restart (87 + 2 from the terminal)"
expect_json visits 4 "visits after restart"

finish
