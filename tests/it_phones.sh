#!/usr/bin/env bash
# it_phones.sh - data that means what it says (issue 11), through accruectl
# against the real accrued: phone numbers as people type them, read in the
# program's phone.country; emails lower-cased beyond ASCII; names that are
# text; locations and order ids trimmed, locations compared without case;
# last visit the latest sale; no return before its sale; one sale capped by
# sale.max_amount. Each example of the issue is run exactly as written there,
# and the daemon is restarted between steps: what was normalised stays so.
#
# Needs ACCRUED_BIN and ACCRUECTL_BIN (ctest sets both; ACCRUE_CHECK_BIN if
# set). Own daemon in a mktemp directory on a free loopback port; every wait
# is bounded; the EXIT trap kills the daemon and prints its log on failure.
set -u

NAME=it_phones
. "$(dirname "$0")/harness.sh"

daemon_start

# ---- phones: without a country, a number without + is refused ---------------

run enrol --phone "(555) 010-0002"
expect_rc 1 "a national number with no phone.country"
expect_err "bad_request" "refused as a bad request"
expect_err "write it with +" "the refusal says to write the +"
expect_err "phone.country" "the refusal says to set the country"

run show "555 010 0001"
expect_rc 1 "a lookup of a national number with no phone.country"
expect_err "phone.country" "the lookup's refusal says to set the country"

run program show
expect_rc 0 "program show"
expect_out "phone.country" "program show lists phone.country"

run program set phone.country UK
expect_rc 1 "phone.country must be a calling code"
expect_err "calling code" "the refusal says what phone.country takes"

run program set phone.country 1
expect_rc 0 "program set phone.country 1"

# ---- phones: read in the country, stored and found in E.164 ------------------

run --json enrol --phone "(555) 010-0002"
expect_rc 0 "enrol (555) 010-0002"
expect_json phone '"+15550100002"' "(555) 010-0002 in country 1"

run --json enrol --phone "555 010 0009" --first Nine
expect_rc 0 "enrol 555 010 0009"
expect_json phone '"+15550100009"' "555 010 0009 in country 1"
NINE=$(json_num id)

run enrol --phone "+1 555 010 0009" --first Other
expect_rc 1 "+1 555 010 0009 is the same number as 555 010 0009"
expect_err "conflict" "a second enrol of the number is a conflict"
expect_err "+15550100009" "the conflict names the number"

run --json enrol --phone "+15550100001" --first One
expect_rc 0 "enrol +15550100001"
ONE=$(json_num id)

run --json show "555 010 0001"
expect_rc 0 "show \"555 010 0001\" finds +15550100001"
expect_json id "$ONE" "the customer found by the national number"

run show "555 010 0404"
expect_rc 1 "show a number nobody has"
expect_err "not_found" "not found"
expect_err "+15550100404" "not found names the normalised number searched"

run program show
expect_out "phone.country       1" "program show has phone.country 1"

redaemon_start

run --json show "555 010 0009"
expect_rc 0 "the national number after a restart"
expect_json id "$NINE" "same customer after a restart"
expect_json phone '"+15550100009"' "stored number after a restart"
run --json show "+1 (555) 010-0002"
expect_rc 0 "(555) 010-0002 after a restart, looked up in international form"
expect_json phone '"+15550100002"' "the number of (555) 010-0002 after a restart"
run enrol --phone "555-010-0009"
expect_rc 1 "the country still applies after a restart"

# Another country: the UK drops its trunk 0.
run program set phone.country +44
expect_rc 0 "program set phone.country +44"
run --json enrol --phone "020 7946 0000"
expect_rc 0 "a UK number written nationally"
expect_json phone '"+442079460000"' "trunk 0 dropped in country 44"
run program set phone.country 1
expect_rc 0 "back to country 1"

# ---- emails: case folded beyond ASCII -----------------------------------------

run --json enrol --email "ÄNNA@exämple.com" --first "  Änna  "
expect_rc 0 "enrol ÄNNA@exämple.com"
expect_json email '"änna@exämple.com"' "the email lower-cased beyond ASCII"
expect_json first_name '"Änna"' "the name trimmed"
ANNA=$(json_num id)

run enrol --email "änna@exämple.com"
expect_rc 1 "änna@exämple.com is ÄNNA@exämple.com"
expect_err "conflict" "a conflict, not a second customer"

run --json show "ÄNNA@EXÄMPLE.COM"
expect_rc 0 "show in capitals"
expect_json id "$ANNA" "the same customer"

run enrol --email "$(printf 'ann\xff@example.com')"
expect_rc 1 "an email that is not UTF-8"
expect_err "bad_request" "refused as a bad request"

# ---- names: valid UTF-8, no controls, no bidirectional controls --------------

run enrol --email name1@example.com --first "$(printf 'Ann\xff')"
expect_rc 1 "a first name that is not UTF-8"
expect_err "first name" "the refusal names the field"
run enrol --email name2@example.com --last "$(printf 'Lee\xe2\x80\xae')"
expect_rc 1 "a last name with RIGHT-TO-LEFT OVERRIDE"
expect_err "last name" "the refusal names the field"
run enrol --email name3@example.com --first "$(printf 'A\xe2\x81\xa6nn')"
expect_rc 1 "a name with LEFT-TO-RIGHT ISOLATE"
run enrol --email name4@example.com --first "$(printf 'A\xc2\x9bnn')"
expect_rc 1 "a name with a C1 control"
run show name1@example.com
expect_rc 1 "no customer was made by a refused enrol"

# ---- locations and order ids: one order O1 per store --------------------------

run accrue "#$ONE" --order O1 --amount 10.00 --location store-1
expect_rc 0 "O1 at store-1"
for loc in "STORE-1" "store-1 " " Store-1"; do
	run accrue "#$ONE" --order O1 --amount 10.00 --location "$loc"
	expect_rc 1 "O1 again at \"$loc\""
	expect_err "duplicate_order" "O1 at \"$loc\" is the same order"
	expect_err '"store-1"' "the refusal names the location as stored"
done
run accrue "#$ONE" --order " O1 " --amount 10.00 --location store-1
expect_rc 1 "order id \" O1 \" is O1"
expect_err "duplicate_order" "a blank around the order id does not make a new order"
run accrue "#$ONE" --order O1 --amount 10.00
expect_rc 0 "O1 at the default location is another store's"
for loc in "default" "DEFAULT" " default "; do
	run accrue "#$ONE" --order O1 --amount 10.00 --location "$loc"
	expect_rc 1 "O1 again at \"$loc\""
	expect_err "duplicate_order" "O1 at \"$loc\" is the default location's"
done
# The same in a batch: one sale per line, each on its own.
printf '%s\n' "#$ONE,B1,1.00,store-1" "#$ONE,B1,1.00,STORE-1" "#$ONE,B1 ,1.00, store-1" "#$ONE,B2,1.00,Store-1" \
	>"$TMP/batch.csv"
run --json batch "$TMP/batch.csv"
expect_rc 1 "a batch with B1 three times at store-1"
checks=$((checks + 1))
[ "$(grep -o '"duplicate_order"' <<<"$OUT" | wc -l)" -eq 2 ] || fail "two of the batch's B1 are duplicates: [$OUT]"
run --json show "#$ONE"
expect_json visits 4 "O1 twice and B1, B2 once each"
expect_json total_spend 2200 "the spend of those four sales"
run accrue "#$ONE" --order O1 --amount 10.00 --location store-9
expect_rc 0 "O1 at another store is another order"
run --json show "#$ONE"
expect_json visits 5 "O1 accrued at three stores in all (store-1, default, store-9), not five times"
expect_json total_spend 3200 "the spend of those sales"
run order O1 --location "STORE-1 "
expect_rc 0 "order O1 found with the location written otherwise"
expect_out "store-1" "the order is at store-1"

# A terminal key's location is stored the way sales name it.
run key create --role terminal --location " Store-2 "
expect_rc 0 "a terminal key at \" Store-2 \""
expect_out "store-2" "the key's location trimmed and lower-cased"

# ---- last visit: the latest sale, never earlier ------------------------------

run --json show "#$NINE"
expect_json last_visit null "no visit yet"
run --json accrue "#$NINE" --order LV-1 --amount 5.00 --location store-1
expect_rc 0 "a sale today"
TODAY=$(sed -n 's/.*"last_visit":"\([^"]*\)".*/\1/p' <<<"$OUT")
checks=$((checks + 1))
[ -n "$TODAY" ] || fail "a sale today sets the last visit: [$OUT]"
run --json accrue "#$NINE" --order LV-2 --amount 5.00 --location store-1 --time 1970-01-02T00:00:00Z
expect_rc 0 "a sale back-dated to 1970 is still a sale"
expect_json last_visit "\"$TODAY\"" "a sale back-dated to 1970 leaves the last visit at today"
expect_json visits 2 "and counts as a visit"

# ---- returns: never before their sale ----------------------------------------

run return --order LV-1 --location store-1 --amount 1.00 --time 1971-01-01T00:00:00Z
expect_rc 1 "a return dated 1971 of a sale dated today"
expect_err "range" "refused as out of range"
expect_err "before its sale" "the refusal says why"
run return --order LV-2 --location store-1 --amount 1.00 --time 1971-01-01T00:00:00Z
expect_rc 0 "a return dated 1971 of a sale dated 1970"
run return --order LV-1 --location store-1 --amount 1.00
expect_rc 0 "a return today of a sale today"

# ---- one sale is capped -------------------------------------------------------

run accrue "#$ONE" --order BIG-1 --amount 92233720368547758.07 --location store-1
expect_rc 1 "a sale of 92,233,720,368,547,758.07"
expect_err "range" "refused as out of range"
expect_err "1000000.00" "the refusal names the cap"
expect_err "sale.max_amount" "the refusal names the setting"
run accrue "#$ONE" --order BIG-2 --amount 1000000.00 --location store-1
expect_rc 0 "a sale of exactly the cap"
run accrue "#$ONE" --order BIG-3 --amount 12.34 --location store-1
expect_rc 0 "later sales of that customer are not refused"
run program set sale.max_amount 50
expect_rc 0 "program set sale.max_amount 50"
run accrue "#$ONE" --order BIG-4 --amount 50.01 --location store-1
expect_rc 1 "a sale over the lowered cap"
expect_err "50.00" "the refusal names the lowered cap"
run quote "#$ONE" --amount 50.01
expect_rc 1 "a quote over the cap says what the sale would be told"
run program set sale.max_amount 92233720368547758.07
expect_rc 1 "the cap itself has a ceiling"

# ---- all of it survives a crash: the journal replayed through model_apply ----

kill -KILL "$PID"
wait "$PID" 2>/dev/null
PID=""
daemon_start
checks=$((checks + 1))
grep -qE "[1-9][0-9]* records replayed" "$LOG" || fail "the restart after a crash replayed no journal records"

run --json show "#$ONE"
expect_rc 0 "show after the last restart"
expect_json total_spend 100004434 "spend: three O1 sales, B1, B2, the cap and 12.34"
expect_json visits 7 "visits after a restart"
run --json show "#$NINE"
expect_json last_visit "\"$TODAY\"" "the last visit is still today after a restart"
run --json show "ÄNNA@exämple.com"
expect_json id "$ANNA" "the folded email after a restart"
run program show
expect_out "sale.max_amount     50.00" "sale.max_amount after a restart"
expect_out "phone.country       1" "phone.country after a restart"
run accrue "#$ONE" --order O1 --amount 1.00 --location "Store-1"
expect_rc 1 "O1 at Store-1 is still a duplicate after a restart"

if [ -n "${ACCRUE_CHECK_BIN:-}" ]; then
	OUT=$(timeout -k 2 60 "$ACCRUE_CHECK_BIN" "$DATA" 2>&1)
	RC=$?
	ERR=$OUT
	expect_rc 0 "accrue-check finds the normalised ledger clean"
fi

kill -TERM "$PID"
for _ in $(seq 1 200); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
wait "$PID"
rc=$?
PID=""
checks=$((checks + 1))
[ "$rc" -eq 0 ] || fail "accrued exited $rc after SIGTERM"

if [ "$failures" -ne 0 ]; then
	echo "it_phones: $failures of $checks checks failed" >&2
	exit 1
fi
echo "it_phones: $checks checks passed"
exit 0
