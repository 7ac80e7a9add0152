#!/usr/bin/env bash
# it_cards.sh - the customer book against the real accrued: edit (names and
# contact, uniqueness, "keeps one of email, phone, card"), loyalty cards and
# card:NUMBER references (look up, accrue, add, use, history by card), the
# marketing opt-out; who may do what (admin, terminal, read-only); edits
# racing enrolments for one email; the state after a restart between the
# steps, both after a crash (journal replay) and after a clean stop
# (checkpoint); accrue-check clean on the result.
#
# Needs ACCRUED_BIN, ACCRUECTL_BIN and ACCRUE_CHECK_BIN (ctest sets them).
# Starts its own daemon in a mktemp directory on a free loopback port; the
# EXIT trap kills it and removes the directory, and prints the daemon's log
# if anything failed. Every wait is bounded; nothing sleeps a fixed time.
set -u

NAME=it_cards
. "$(dirname "$0")/harness.sh"
: "${ACCRUE_CHECK_BIN:?ACCRUE_CHECK_BIN must name the accrue-check binary}"

# run [--as KEYFILE] ARGS...: accruectl against the daemon; sets OUT, ERR, RC.
run() {
	local key=$KEY
	if [ "$1" = "--as" ]; then
		key=$2
		shift 2
	fi
	OUT=$(timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$key" "$@" 2>"$TMP/stderr")
	RC=$?
	ERR=$(cat "$TMP/stderr")
}

# expect_line REGEX DESCRIPTION: a line of stdout matches REGEX (extended).
expect_line() {
	checks=$((checks + 1))
	if ! grep -qE -- "$1" <<<"$OUT"; then
		fail "$2: no line matches /$1/; stdout: [$OUT]"
	fi
}

json_id() {
	grep -oE '"id"[[:space:]]*:[[:space:]]*[0-9]+' <<<"$OUT" | head -1 | grep -oE '[0-9]+$'
}

# stop kill|term: a crash (SIGKILL: recovery replays the journal) or a
# clean stop (SIGTERM: a checkpoint is written, and must exit 0).
stop() {
	local rc=""
	kill -"$( [ "$1" = kill ] && echo KILL || echo TERM)" "$PID"
	for _ in $(seq 1 300); do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID"
			rc=$?
			break
		fi
		sleep 0.1
	done
	checks=$((checks + 1))
	if [ -z "$rc" ]; then
		fail "accrued did not stop within 30 s of SIG$1"
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	elif [ "$1" = term ] && [ "$rc" -ne 0 ]; then
		fail "accrued exited $rc after SIGTERM"
	fi
	PID=""
}

# restart: alternately a crash and a clean stop, then start again.
restarts=0
restart() {
	if [ $((restarts % 2)) -eq 0 ]; then stop kill; else stop term; fi
	restarts=$((restarts + 1))
	daemon_start
}

daemon_start

# ---- help and usage ----------------------------------------------------

run edit --help
expect_rc 0 "edit --help"
expect_out "--no-email" "edit --help names --no-email"
expect_out "card:NUMBER" "edit --help says a REF may be a card"
run card --help
expect_rc 0 "card --help"
expect_out "card unlink REF CARD" "card --help shows unlink"
run optin --help
expect_rc 0 "optin --help"
expect_out "--source" "optout's page (shared with optin) names --source"
run --help
expect_out "card link|unlink REF CARD" "accruectl --help lists card"
expect_out "card:NUMBER" "accruectl --help says how a card names a customer"
run edit '#1'
expect_rc 2 "edit with nothing to change"
run edit '#1' --email a@b.c --no-email
expect_rc 2 "--email with --no-email"
run show card:
expect_rc 2 "card: without a number"
expect_err "card:NUMBER" "the usage error names card:NUMBER"
run card link '#1'
expect_rc 2 "card link without CARD"

# ---- enrol, keys -------------------------------------------------------

run --json enrol --email Ann@Example.com --phone "+1 555 010 7001" --first Ann --last Lee
expect_rc 0 "enrol Ann"
ANN=$(json_id)
expect_json cards '[]' "a new customer has no cards"
expect_json opted_out false "a new customer is not opted out"
run --json enrol --phone "+1 555 010 7002" --first Bob
expect_rc 0 "enrol Bob"
BOB=$(json_id)

run --json key create --role terminal --location store-1
expect_rc 0 "terminal key"
grep -oE '"key"[[:space:]]*:[[:space:]]*"[^"]+"' <<<"$OUT" | sed -E 's/.*"([^"]+)"$/\1/' >"$TMP/term.key"
run --json key create --role readonly
expect_rc 0 "read-only key"
grep -oE '"key"[[:space:]]*:[[:space:]]*"[^"]+"' <<<"$OUT" | sed -E 's/.*"([^"]+)"$/\1/' >"$TMP/ro.key"
TERM_KEY="$TMP/term.key"
RO_KEY="$TMP/ro.key"

# ---- cards ---------------------------------------------------------------

run card link ann@example.com "4000 1234-5678 abc"
expect_rc 0 "link a card to Ann"
expect_line '^cards +40001234-?5678ABC$|^cards +400012345678ABC$' "the card is kept trimmed and upper-cased"
run card link "#$BOB" 400012345678abc
expect_rc 1 "linking Ann's card to Bob"
expect_err "conflict" "a taken card is a conflict"
expect_err "customer #$ANN" "the conflict names the holder"
run card link "#$BOB" "B-77"
expect_rc 0 "link a card to Bob"
run card link "#$BOB" b77
expect_rc 0 "linking a card Bob holds changes nothing"
expect_line '^cards +B77$' "Bob still holds one card"
run card unlink ann@example.com B77
expect_rc 1 "unlinking a card Ann does not hold"
expect_err "not_found" "a card not held is not found"
run card link ann@example.com "12#4"
expect_rc 1 "a card with a '#'"
expect_err "bad_request" "not a card number"
restart

run --json show card:400012345678ABC
expect_rc 0 "show by card after a restart"
expect_json id "$ANN" "the card names Ann"
expect_json cards '["400012345678ABC"]' "Ann's cards in JSON"
run show "card:4000-1234-5678-abc"
expect_rc 0 "a card is found however it is written"
expect_out "ann@example.com" "the card finds Ann"
run show card:999
expect_rc 1 "an unknown card"
expect_err "no customer with card 999" "an unknown card is named"

# A till scans the card: accrue, add and use by card.
run --as "$TERM_KEY" accrue card:400012345678abc --order C-1 --amount 20.00
expect_rc 0 "a terminal accrues by card"
expect_line '^balance +20 points$' "the sale by card earned 20"
run add card:400012345678abc 5 --reason "card bonus"
expect_rc 0 "add by card"
run use card:400012345678abc 3
expect_rc 0 "use by card"
expect_line '^balance +22 points$' "the balance after add and use by card"
run accrue card:999 --order C-2 --amount 5.00
expect_rc 1 "a sale to an unknown card"
expect_err "not_found" "an unknown card makes no guest"
restart

run history card:400012345678abc
expect_rc 0 "history by card"
expect_line 'card +0 +0 .* card 400012345678ABC linked +- +-$' "history shows the card linked as detail, no note, no customer comment"
run --as "$RO_KEY" show card:B77
expect_rc 0 "a read-only key looks up by card"
run --as "$TERM_KEY" show card:B77
expect_rc 0 "a terminal looks up by card"
run --as "$TERM_KEY" card link "#$BOB" C1
expect_rc 1 "a terminal may not link cards"
expect_err "forbidden" "a terminal linking a card is forbidden"

# ---- edit ------------------------------------------------------------------

run edit "#$BOB" --email Bob@Example.com --last Brown
expect_rc 0 "give Bob an email and a last name"
expect_out "bob@example.com" "the email is lower-cased"
run edit ann@example.com --email BOB@example.com
expect_rc 1 "Ann to Bob's email"
expect_err "email bob@example.com is already customer #$BOB" "the conflict names the field and the holder"
run edit ann@example.com --phone "+1 555 010 7002"
expect_rc 1 "Ann to Bob's phone"
expect_err "phone +15550107002 is already customer #$BOB" "a phone conflict names the holder"
run edit "#$BOB" --phone "not a phone"
expect_rc 1 "an invalid phone"
expect_err "bad_request" "an invalid phone is a bad request"
run --as "$RO_KEY" edit "#$BOB" --first Robert
expect_rc 1 "read-only may not edit"
expect_err "forbidden" "read-only edit is forbidden"
run --as "$TERM_KEY" edit "#$BOB" --first Robert
expect_rc 1 "a terminal may not edit"
expect_err "forbidden" "terminal edit is forbidden"
run edit card:B77 --first Robert --phone "+44 20 7946 0001"
expect_rc 0 "edit by card"
restart

run --json show bob@example.com
expect_rc 0 "Bob after a restart"
expect_json first_name '"Robert"' "the first name survived"
expect_json last_name '"Brown"' "the last name survived"
expect_json phone '"+442079460001"' "the new phone survived"
run show +15550107002
expect_rc 1 "Bob's old phone names nobody"
run edit ann@example.com --phone "+1 555 010 7002"
expect_rc 0 "Ann takes the phone Bob gave up"

# At least one of email, phone, card stays.
run --json enrol --email carol@example.com
expect_rc 0 "enrol Carol (email only)"
CAROL=$(json_id)
run edit carol@example.com --no-email
expect_rc 1 "Carol without any contact"
expect_err "must keep an email, a phone number or a card" "why the edit was refused"
run card link carol@example.com C-9
expect_rc 0 "Carol gets a card"
run edit carol@example.com --no-email
expect_rc 0 "with a card, Carol may drop her email"
expect_line '^email +-$' "Carol has no email"
run card unlink card:C9 C9
expect_rc 1 "Carol's last card with no email or phone"
expect_err "only way to find" "the last card stays"
run edit card:C9 --email carol@example.com
expect_rc 0 "Carol's email back, by card"
run card unlink card:C9 C9
expect_rc 0 "now the card may go"
restart

run history "#$CAROL"
expect_rc 0 "Carol's history"
expect_line 'edit .* email changed +- +-$' "history says the email changed"
expect_line 'edit .* email removed +- +-$' "history says the email was removed"
expect_line 'card .* card C9 unlinked +- +-$' "history shows the unlink"
expect_no_out "carol@example.com" "history does not copy the email"
run show card:C9
expect_rc 1 "an unlinked card names nobody after a restart"

# ---- opt-out -------------------------------------------------------------------

run --as "$RO_KEY" optout ann@example.com
expect_rc 1 "read-only may not opt out"
expect_err "forbidden" "read-only optout is forbidden"
run --as "$TERM_KEY" optout card:400012345678abc --source "sms STOP"
expect_rc 0 "a terminal records an opt-out"
expect_line '^marketing +opted out [0-9T:-]+Z \(sms STOP\)$' "show has the opt-out with time and source"
run --as "$TERM_KEY" optout ann@example.com --source "till 4"
expect_rc 0 "a second opt-out changes nothing"
expect_out "(sms STOP)" "the first source stays"
restart

run --json show ann@example.com
expect_json opted_out true "the opt-out survived"
expect_json optout_source '"sms STOP"' "its source survived"
run history ann@example.com
expect_line 'optout .* opted out \(sms STOP\) +- +-$' "history shows the opt-out and its source as detail"
# Group and tier changes: what happened is detail, the tier's note the
# internal note; the column the customer sees stays empty.
run group add ann@example.com vip
expect_rc 0 "Ann in vip"
run tier set ann@example.com gold --note "spent 1000 this year"
expect_rc 0 "Ann in gold"
run add ann@example.com 3 --reason "staff only" --comment "A gift from us"
expect_rc 0 "an adjustment with a reason and a comment"
run history ann@example.com --limit 3
expect_line '^ *SEQ +TIME +TYPE +POINTS +BALANCE +AMOUNT +LOCATION +ORDER +DETAIL +NOTE +COMMENT$' "history's columns"
expect_line 'adjust +\+3 .* - +staff only +A gift from us$' "an adjustment: no detail, its reason as note, its comment"
expect_line 'tier +0 .* tier gold +spent 1000 this year +-$' "a tier change: the tier as detail, the note as note"
expect_line 'group +0 .* added to group vip +- +-$' "a group change: detail only"
run --json history ann@example.com --limit 3
expect_out '"detail":"tier gold","reason":"spent 1000 this year","comment":""' "--json: a tier change's fields"
expect_out '"detail":"added to group vip","reason":"","comment":""' "--json: a group change's fields"
expect_out '"detail":"","reason":"staff only","comment":"A gift from us"' "--json: an adjustment's fields"
run tier set ann@example.com ""
expect_rc 0 "Ann out of any tier"
run --json history ann@example.com --limit 1
expect_out '"detail":"tier removed"' "--json: a tier removed"
run optin ann@example.com
expect_rc 0 "opt in again"
expect_line '^marketing +opted in$' "opted in"
restart
run --json show ann@example.com
expect_json opted_out false "the opt-in survived"
expect_json optout_time null "no opt-out time"

# ---- edits racing enrolments for one email -------------------------------------

for i in $(seq 1 12); do
	run --json enrol --phone "+1 555 020 $(printf '%04d' "$i")"
	ID=$(json_id)
	email="race$i@example.com"
	timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" enrol --email "$email" \
		>"$TMP/enrol.out" 2>"$TMP/enrol.err" &
	E=$!
	timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" edit "#$ID" --email "$email" \
		>"$TMP/edit.out" 2>"$TMP/edit.err" &
	D=$!
	wait "$E"
	erc=$?
	wait "$D"
	drc=$?
	checks=$((checks + 1))
	if ! { [ "$erc" -eq 0 ] && [ "$drc" -eq 1 ]; } && ! { [ "$erc" -eq 1 ] && [ "$drc" -eq 0 ]; }; then
		fail "race $i: enrol exited $erc, edit $drc; exactly one must win: $(cat "$TMP/enrol.err" "$TMP/edit.err")"
	fi
	checks=$((checks + 1))
	grep -qi "conflict" "$TMP/enrol.err" "$TMP/edit.err" || fail "race $i: the loser is not told of a conflict"
	run --json show "$email"
	expect_rc 0 "race $i: the email names one customer"
done
restart
run --json show race1@example.com
expect_rc 0 "a raced email after a restart"

# ---- accrue-check on the result -------------------------------------------

stop term
OUT=$(timeout -k 2 120 "$ACCRUE_CHECK_BIN" "$DATA" 2>"$TMP/stderr")
RC=$?
ERR=$(cat "$TMP/stderr")
expect_rc 0 "accrue-check is clean after the book's records and a checkpoint"
expect_out "clean" "accrue-check says clean"
daemon_start
run --json show card:400012345678abc
expect_json id "$ANN" "the card still names Ann"
stop term

if [ "$failures" -ne 0 ]; then
	echo "it_cards: $failures of $checks checks failed" >&2
	exit 1
fi
echo "it_cards: $checks checks passed"
exit 0
