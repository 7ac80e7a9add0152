#!/usr/bin/env bash
# it_archive.sh - archive and merge against the real accrued, and the proof
# that archive is erasure: after archive, a clean stop (checkpoint) and a
# crash (replay), no byte of any file in the data directory holds the
# archived customer's email (the old one an edit replaced too), phone,
# names, card, opt-out source or notes, while another customer's strings
# are still found there by the same search (so the search can find what
# it looks for). The amounts stay under the id; history shows amounts
# only; the email can enrol again; accrue-check stays clean. Merge moves
# balance, lifetime, visits, spend, groups, cards and returns to KEEP, both
# histories show it, and DROP is erased as by archive. Who may do it.
#
# Needs ACCRUED_BIN, ACCRUECTL_BIN and ACCRUE_CHECK_BIN (ctest sets them).
# Every wait is bounded; nothing sleeps a fixed time.
set -u

NAME=it_archive
. "$(dirname "$0")/harness.sh"
: "${ACCRUE_CHECK_BIN:?ACCRUE_CHECK_BIN must name the accrue-check binary}"

# Frequent checkpoints: the customer's old snapshots are then left on
# LMDB's free pages, which is what the erasure must also reach.
DAEMON_ARGS=(--checkpoint-records 3)

# no_trace DESCRIPTION STRING...: no file under the data directory holds
# any of the strings (bytes, case-sensitive), nor their upper-case form.
no_trace() {
	local what=$1 s hits
	shift
	for s in "$@"; do
		checks=$((checks + 1))
		hits=$(grep -rlaF -- "$s" "$DATA" 2>/dev/null)
		[ -z "$hits" ] || fail "$what: \"$s\" is still in: $hits"
	done
}

# has_trace DESCRIPTION STRING: some file holds it (the search works).
has_trace() {
	checks=$((checks + 1))
	grep -rqaF -- "$2" "$DATA" || fail "$1: \"$2\" is in no file of the data directory"
}

check_clean() {
	OUT=$("$ACCRUE_CHECK_BIN" "$DATA" 2>&1)
	RC=$?
	ERR=""
	expect_rc 0 "accrue-check $1"
}

daemon_start "${DAEMON_ARGS[@]}"
run program set phone.country 1
expect_rc 0 "phone.country"

# ---- a customer with everything the book keeps about a person ----
run --json enrol --email old.zelda@example.org --phone "+1 555 017 7001" --first Zeldaxq --last Quornwyth
expect_rc 0 "enrol Zelda"
Z=$(json_num id)
run edit "#$Z" --email zelda.quorn@example.org
expect_rc 0 "edit email"
run card link "#$Z" ZQCARD77
expect_rc 0 "card link"
run optout "#$Z" --source "sms STOP Zeldaxq"
expect_rc 0 "optout"
run group add "#$Z" vipzz
expect_rc 0 "group add"
run tier set "#$Z" gold --note "promoted Zeldaxq by hand"
expect_rc 0 "tier set"
run add "#$Z" 50 --reason "goodwill Zeldaxq" --comment "thanks Quornwyth"
expect_rc 0 "add"
run accrue card:ZQCARD77 --order Z-1 --amount 20.00
expect_rc 0 "accrue by card"
run --json show "#$Z"
BAL=$(json_num balance)

# ---- a control customer, and more records so checkpoints pass ----
run enrol --email bob.keepme@example.org --first Bobkeepme
expect_rc 0 "enrol Bob"
for i in 1 2 3 4 5 6; do
	run enrol --email "filler$i@example.org"
	expect_rc 0 "enrol filler $i"
done
has_trace "before archive" "zelda.quorn@example.org"
has_trace "before archive" "Quornwyth"

# ---- who may archive, and --yes ----
new_key terminal default "$TMP/term.key"
new_key readonly "$TMP/ro.key"
run archive "#$Z"
expect_rc 2 "archive without --yes"
expect_err "--yes" "archive without --yes says why"
run_key "$TMP/term.key" archive "#$Z" --yes
expect_rc 1 "archive with a terminal key"
expect_err "may not archive" "a terminal key may not archive"
run_key "$TMP/ro.key" archive "#$Z" --yes
expect_rc 1 "archive with a read-only key"
run --json archive zelda.quorn@example.org --yes
expect_rc 0 "archive"
expect_json archived true "the reply is the archived customer"
expect_json balance "$BAL" "the balance stays"
expect_json email '""' "no email"

check_erased() {
	no_trace "$1" old.zelda@example.org zelda.quorn@example.org 15550177001 Zeldaxq Quornwyth ZQCARD77 \
		"sms STOP" "goodwill" "promoted" "thanks"
	has_trace "$1 (control)" bob.keepme@example.org
	has_trace "$1 (control)" Bobkeepme
}
check_erased "after archive"

run show zelda.quorn@example.org
expect_rc 1 "the email no longer finds anyone"
run --json show "#$Z"
expect_rc 0 "show by id"
expect_json archived true "archived"
expect_json balance "$BAL" "amounts kept"
expect_json visits 1 "visits kept"
expect_json cards '[]' "no cards"
run history "#$Z"
expect_rc 0 "history of the archived"
expect_out "archived" "history shows the archive"
expect_out "20.00" "history keeps the sale's amount"
expect_no_out "goodwill" "no reason"
expect_no_out "thanks" "no comment"
expect_no_out "ZQCARD77" "no card"
run accrue "#$Z" --order Z-2 --amount 5.00
expect_rc 1 "no sale for the archived"
expect_err "archived" "the refusal says archived"
run add "#$Z" 5
expect_rc 1 "no points by hand for the archived"
run --json customers --all
expect_no_out "\"id\":$Z," "the archived are not in the book"
run --json customers --search zelda
expect_json total 0 "nobody found by the old name"

daemon_restart "${DAEMON_ARGS[@]}"
check_erased "after a clean stop"
run --json show "#$Z"
expect_json archived true "archived after a restart"
expect_json balance "$BAL" "amounts kept after a restart"
kill -KILL "$PID"
wait "$PID" 2>/dev/null
PID=""
daemon_start "${DAEMON_ARGS[@]}"
check_erased "after a crash"
run --json show "#$Z"
expect_json archived true "archived after a crash"
check_clean "after archive"

# The email and phone may enrol again, as someone new.
run --json enrol --email zelda.quorn@example.org --phone "+1 555 017 7001"
expect_rc 0 "enrol the erased email again"
N=$(json_num id)
checks=$((checks + 1))
[ "$N" != "$Z" ] || fail "the re-enrolment is a new customer"

# ---- merge ----
run --json enrol --email keep.kim@example.org --first Kimkeep
K=$(json_num id)
run --json enrol --email drop.dan@example.org --phone "+1 555 017 7099" --first Dandropx --last Droppingham
D=$(json_num id)
run card link "#$D" DDCARD55
run group add "#$D" regulars
run group add "#$K" regulars
run group add "#$D" nightowls
run accrue "#$K" --order K-1 --amount 10.00
expect_rc 0 "K's sale"
run accrue "#$D" --order D-1 --amount 30.00
expect_rc 0 "D's sale"
run accrue "#$D" --order D-2 --amount 12.00
run --json show "#$K"
KB=$(json_num balance)
KL=$(json_num lifetime_points)
run --json show "#$D"
DB=$(json_num balance)
DL=$(json_num lifetime_points)

run merge "#$K" "#$D"
expect_rc 2 "merge without --yes"
run_key "$TMP/term.key" merge "#$K" "#$D" --yes
expect_rc 1 "merge with a terminal key"
run merge "#$K" "#$K" --yes
expect_rc 1 "merge into themselves"
run --json merge "#$K" drop.dan@example.org --yes
expect_rc 0 "merge"
expect_json id "$K" "the reply is KEEP"
expect_json balance "$((KB + DB))" "balances added"
expect_json lifetime_points "$((KL + DL))" "lifetime added"
expect_json visits 3 "visits added"
expect_json total_spend 5200 "spend added"
expect_json cards '["DDCARD55"]' "the card moved"
expect_out '"nightowls"' "the group moved"
run --json show card:DDCARD55
expect_json id "$K" "the card finds KEEP"
run --json show "#$D"
expect_json archived true "DROP archived"
expect_json merged_into "$K" "DROP names KEEP"
expect_json balance 0 "DROP keeps nothing"
run history "#$K"
expect_out "merged #$D in" "KEEP's history shows the merge"
run history "#$D"
expect_out "merged into #$K" "DROP's history shows the merge"
run --json groups
expect_rc 0 "groups"
run return --order D-1 --amount 30.00
expect_rc 0 "a return of DROP's order"
run --json show "#$K"
expect_json visits 2 "the return took KEEP's visit"
run --json order D-1
expect_json customer_id "$K" "the order is KEEP's"
no_trace "after merge" drop.dan@example.org 15550177099 Dandropx Droppingham
has_trace "after merge (control)" DDCARD55 # KEEP's card now

daemon_restart "${DAEMON_ARGS[@]}"
run --json show "#$K"
expect_json visits 2 "merge and return after a restart"
expect_json cards '["DDCARD55"]' "the card after a restart"
no_trace "after merge and restart" drop.dan@example.org 15550177099 Dandropx Droppingham
check_clean "after merge"

finish
