#!/usr/bin/env bash
# it_places.sh - the program's groups and locations against the real
# accrued: `groups` (member counts after group add and remove, and after a
# restart, both a crash's journal replay and a clean stop's checkpoint),
# `locations` (sales, amounts, points, returns, the last sale and the
# terminal keys bound, at two locations and one with a key but no sale),
# `group rename` (members move, a merge keeps a customer in a group once,
# refused while the program names the group, the same after restarts),
# and the roles that may list them (admin and read-only; not a terminal).
set -u
NAME=it_places
. "$(dirname "$0")/harness.sh"

command -v python3 >/dev/null 2>&1 || { echo "$NAME: python3 is needed to read JSON" >&2; exit 1; }

# groups_text: "name=members ..." from `groups --json`.
groups_text() { py 'import json,sys; print(" ".join("%s=%d" % (g["name"], g["members"]) for g in json.load(sys.stdin)["groups"]))' <<<"$OUT"; }
# loc NAME FIELD: one field of one location from `locations --json`.
loc() { py 'import json,sys
for l in json.load(sys.stdin)["locations"]:
    if l["name"] == sys.argv[1]:
        v = l[sys.argv[2]]
        print(",".join(map(str, v)) if isinstance(v, list) else v)' "$1" "$2" <<<"$OUT"; }
loc_names() { py 'import json,sys; print(" ".join(l["name"] for l in json.load(sys.stdin)["locations"]))' <<<"$OUT"; }

# crash_restart: SIGKILL (no checkpoint: the journal is replayed), then start again.
crash_restart() {
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	PID=""
	daemon_start
}

daemon_start

# ---- groups --------------------------------------------------------------------

run --json groups
expect_rc 0 "groups of an empty book"
expect_eq "$(groups_text)" "" "no groups yet"
run groups
expect_rc 0 "groups as a table, empty"

for who in ann bob cara dan; do
	run enrol --email "$who@example.com" --first "$who"
	expect_rc 0 "enrol $who"
done
run group add ann@example.com vip; expect_rc 0 "ann in vip"
run group add bob@example.com vip; expect_rc 0 "bob in vip"
run group add cara@example.com vip; expect_rc 0 "cara in vip"
run group add bob@example.com staff; expect_rc 0 "bob in staff"
run group add dan@example.com newsletter; expect_rc 0 "dan in newsletter"
run group remove cara@example.com vip; expect_rc 0 "cara out of vip"
run group remove dan@example.com newsletter; expect_rc 0 "dan out of newsletter"

run --json groups
expect_rc 0 "groups"
expect_eq "$(groups_text)" "staff=1 vip=2" "member counts follow add and remove; an emptied group is not listed"
run groups
expect_rc 0 "groups as a table"
expect_out "GROUP" "the table's heading"
expect_out "vip" "a group in the table"

crash_restart
run --json groups
expect_eq "$(groups_text)" "staff=1 vip=2" "counts after a crash (journal replayed)"
daemon_restart
run --json groups
expect_eq "$(groups_text)" "staff=1 vip=2" "counts after a clean stop (loaded from the checkpoint)"
run group add dan@example.com vip; expect_rc 0 "dan in vip after the restart"
run --json groups
expect_eq "$(groups_text)" "staff=1 vip=3" "a count loaded from a snapshot goes on counting"

# ---- group rename --------------------------------------------------------------

run group add cara@example.com staff; expect_rc 0 "cara in staff"
run group rename vip members
expect_rc 0 "group rename to a new name"
expect_out "3 customers moved" "what moved"
run --json groups
expect_eq "$(groups_text)" "members=3 staff=2" "the members moved and the counts followed"
run --json customers --group members
expect_eq "$(py 'import json,sys; print(" ".join(str(c["id"]) for c in json.load(sys.stdin)["customers"]))' <<<"$OUT")" "4 2 1" \
	"the members are in the new group"
run --json group rename staff members
expect_rc 0 "group rename into an existing group merges"
expect_eq "$(py 'import json,sys; d=json.load(sys.stdin); print(d["moved"], d["members"])' <<<"$OUT")" "1 4" \
	"bob, in both, stays in members once; cara joins"
run --json groups
expect_eq "$(groups_text)" "members=4" "after the merge"
run --json show bob@example.com
expect_eq "$(py 'import json,sys; print(",".join(json.load(sys.stdin)["groups"]))' <<<"$OUT")" "members" "bob is in the group once"
run group rename nobody-group other
expect_rc 1 "a rename of a group nobody is in"
expect_err "not_found: no customer is in group" "it is not found"
run group rename members members
expect_rc 1 "a rename to itself"
expect_err "bad_request" "it is a bad request"
run program set multiplier.group.members 2
expect_rc 0 "a multiplier for the group"
run group rename members crew
expect_rc 1 "a rename while the program names the group"
expect_err "multiplier.group.members" "the refusal names the setting"
run program set multiplier.group.members ""
expect_rc 0 "the multiplier removed"
run --json history bob@example.com
expect_no_out "group-rename" "a rename is not in a member's history"

crash_restart
run --json groups
expect_eq "$(groups_text)" "members=4" "the rename after a crash (journal replayed)"
daemon_restart
run --json groups
expect_eq "$(groups_text)" "members=4" "the rename after a clean stop (checkpoint)"
run --json show bob@example.com
expect_eq "$(py 'import json,sys; print(",".join(json.load(sys.stdin)["groups"]))' <<<"$OUT")" "members" "bob's groups after the restart"
run group remove bob@example.com members; expect_rc 0 "bob out of the renamed group"
run --json groups
expect_eq "$(groups_text)" "members=3" "counts go on after the restart"

# ---- locations -----------------------------------------------------------------

new_key terminal store-1 "$TMP/t1.key"
new_key terminal "Store-1 " "$TMP/t1b.key"
new_key terminal store-3 "$TMP/t3.key"
new_key readonly "$TMP/ro.key"
run --json key list
t1=$(py 'import json,sys; print(",".join(str(k["id"]) for k in json.load(sys.stdin)["keys"] if k["location"] == "store-1"))' <<<"$OUT")

run accrue ann@example.com --order A1 --amount 10.00 --location store-1; expect_rc 0 "a sale at store-1"
run accrue bob@example.com --order A2 --amount 5.50 --location ' STORE-1'; expect_rc 0 "a sale at store-1, typed otherwise"
run accrue ann@example.com --order B1 --amount 20.00 --location store-2 --time 2026-01-02T03:04:05Z
expect_rc 0 "a sale at store-2"
run return --order A1 --amount 4.00 --location store-1; expect_rc 0 "a return at store-1"

check_locations() {
	local when=$1
	run --json locations
	expect_rc 0 "locations $when"
	expect_eq "$(loc_names)" "store-1 store-2 store-3" "every location seen, sorted $when"
	expect_eq "$(loc store-1 sales)" "2" "store-1's sales $when"
	expect_eq "$(loc store-1 amount)" "1550" "store-1's amount $when"
	expect_eq "$(loc store-1 points)" "15" "store-1's points $when"
	expect_eq "$(loc store-1 refunded)" "400" "store-1's refunds $when"
	expect_eq "$(loc store-1 points_taken_back)" "4" "store-1's points taken back $when"
	expect_eq "$(loc store-1 keys)" "$t1" "store-1's terminal keys $when"
	expect_eq "$(loc store-2 sales)" "1" "store-2's sales $when"
	expect_eq "$(loc store-2 points)" "20" "store-2's points $when"
	expect_eq "$(loc store-2 last_sale)" "2026-01-02T03:04:05Z" "store-2's last sale time $when"
	expect_eq "$(loc store-2 keys)" "" "store-2 has no key $when"
	expect_eq "$(loc store-3 sales)" "0" "store-3 has a key and no sale $when"
	[ -n "$(loc store-1 last_sale)" ] && [ "$(loc store-1 last_sale)" != "None" ] ||
		fail "store-1 has a last sale time $when: [$OUT]"
}
check_locations "live"
run locations
expect_rc 0 "locations as a table"
expect_out "2026-01-02T03:04:05Z" "the last sale in the table"
expect_out "store-3" "a location with a key only in the table"

crash_restart
check_locations "after a crash"
daemon_restart
check_locations "after a clean stop"

# ---- the program's list of locations -------------------------------------------

run accrue bob@example.com --order L0 --amount 1.00 --location store-9
expect_rc 0 "with no list, a sale at any location is taken"
run program set locations "store-1,Store-2 ,store-3,store-4"
expect_rc 0 "the program lists its locations"
run --json locations
expect_eq "$(loc_names)" "store-1 store-2 store-3 store-4 store-9" "a listed location with no sale is shown, and one seen before stays"
expect_eq "$(loc store-4 sales)" "0" "store-4 has no sale"
run accrue bob@example.com --order L1 --amount 1.00 --location store-9
expect_rc 1 "a sale at a location not in the list"
expect_err "bad_request: location \"store-9\" is not one of the program's locations" "the refusal says why"
run accrue bob@example.com --order L2 --amount 1.00 --location STORE-2
expect_rc 0 "a sale at a listed location, typed otherwise"
run key create --role terminal --location store-9
expect_rc 1 "a terminal key for a location not in the list"
expect_err "not one of the program's locations" "its refusal says why"
new_key terminal store-4 "$TMP/t4.key"
run_key "$TMP/t4.key" accrue bob@example.com --order L3 --amount 1.00
expect_rc 0 "a terminal of a listed location sells"
daemon_restart
run accrue bob@example.com --order L4 --amount 1.00 --location store-9
expect_rc 1 "the list holds after a restart"
run program set locations ""
expect_rc 0 "the list emptied"
run accrue bob@example.com --order L5 --amount 1.00 --location store-9
expect_rc 0 "with the list empty again, any location is taken"
run --json locations
expect_eq "$(loc store-9 sales)" "2" "store-9's sales"
expect_eq "$(loc store-4 sales)" "1" "store-4's sale"

# ---- roles ---------------------------------------------------------------------

run_key "$TMP/ro.key" --json groups
expect_rc 0 "a read-only key lists groups"
expect_eq "$(groups_text)" "members=3" "what it lists"
run_key "$TMP/ro.key" --json locations
expect_rc 0 "a read-only key lists locations"
run_key "$TMP/t1.key" groups
expect_rc 1 "a terminal key may not list groups"
expect_err "forbidden: a terminal key may not list the groups" "the refusal says what"
run_key "$TMP/t1.key" locations
expect_rc 1 "a terminal key may not list locations"
expect_err "forbidden: a terminal key may not list the locations" "the refusal says what"
run_key "$TMP/ro.key" group rename members crew
expect_rc 1 "a read-only key may not rename a group"
expect_err "forbidden: a readonly key may not rename groups" "it is forbidden"

run groups --help
expect_rc 0 "groups --help"
expect_out "Usage: accruectl groups" "its usage"
run locations --help
expect_rc 0 "locations --help"
expect_out "Usage: accruectl locations" "its usage"

finish
