#!/usr/bin/env bash
# it_book.sh - the customer book with accruectl against the real accrued:
# customers (every customer, guests and 0 points included; search by name,
# email and a phone typed any way; filters; every sort; pages walked by
# cursor while sales and enrolments go on), export customers (RFC 4180
# CSV that a CSV reader reads back, hostile text neutralised), the roles
# that may list, and a restart between the steps.
set -u
NAME=it_book
. "$(dirname "$0")/harness.sh"

command -v python3 >/dev/null 2>&1 || { echo "$NAME: python3 is needed to read JSON and CSV" >&2; exit 1; }

daemon_start

# ---- a small book ---------------------------------------------------------------

run enrol --email ann.smith@example.com --first Ann --last Smith --phone +15550100001
expect_rc 0 "enrol Ann"
run enrol --email bob@example.com --first Bob --last jones --phone +15550100002
expect_rc 0 "enrol Bob"
run enrol --email cara@example.org --first Cara --last Adams
expect_rc 0 "enrol Cara"
run enrol --email '=cmd@example.com' --first '=cmd|'"'"'/C calc'"'"'!A0' --last 'Quote "Q", comma'
expect_rc 0 "enrol a hostile name"
run enrol --email zoe@example.com --first 'Zoë' --last 'Ünal'
expect_rc 0 "enrol UTF-8 names"
run add bob@example.com 50
expect_rc 0 "points for Bob"
run add cara@example.org 20
expect_rc 0 "points for Cara"
run group add bob@example.com vip
expect_rc 0 "Bob in vip"
run tier set cara@example.org gold
expect_rc 0 "Cara in gold"
run program set guests record
expect_rc 0 "the program records guests"
run accrue guest@example.net --order G1 --amount 10.00
expect_rc 0 "a sale for an unknown email records a guest"

# ids: #1 Ann, #2 Bob, #3 Cara, #4 hostile, #5 Zoë, #6 the guest.
ids() { py 'import json,sys; print(" ".join(str(c["id"]) for c in json.load(sys.stdin)["customers"]))' <<<"$OUT"; }
field() { py 'import json,sys; print(json.load(sys.stdin)["'"$1"'"])' <<<"$OUT"; }

run --json customers
expect_rc 0 "customers"
expect_eq "$(ids)" "6 5 4 3 2 1" "every customer, guest and 0 points included, newest first"
expect_eq "$(field total)" "6" "the total"

run customers
expect_rc 0 "customers as a table"
expect_out "6 of 6 customers" "the table's count line"
expect_out "Ann Smith" "a name in the table"

# ---- search --------------------------------------------------------------------

run --json customers --search SMI
expect_eq "$(ids)" "1" "search by part of a last name, without case"
run --json customers --search example.org
expect_eq "$(ids)" "3" "search by part of an email"
run --json customers --search "(555) 010-0002"
expect_eq "$(ids)" "2" "search by a phone typed with formatting"
run --json customers --search "555 010"
expect_eq "$(ids)" "2 1" "search by the first digits of a phone"
run --json customers --search "zoë"
expect_eq "$(ids)" "5" "search by a UTF-8 first name"
run --json customers --search nobody-has-this
expect_eq "$(ids)" "" "a search that matches no one"
expect_eq "$(field total)" "0" "its total"

# ---- filters -------------------------------------------------------------------

run --json customers --group vip
expect_eq "$(ids)" "2" "--group"
run --json customers --tier gold
expect_eq "$(ids)" "3" "--tier"
run --json customers --guests
expect_eq "$(ids)" "6" "--guests"
run --json customers --members
expect_eq "$(ids)" "5 4 3 2 1" "--members"
run --json customers --min-points 20
expect_eq "$(ids)" "3 2" "--min-points"
run --json customers --max-points 0 --members
expect_eq "$(ids)" "5 4 1" "--max-points with --members"
run customers --min-points 5 --max-points 1
expect_rc 2 "min above max is a usage error"
run optout cara@example.org --source "sms STOP"
expect_rc 0 "Cara opts out"
run card link ann.smith@example.com 1234-5678
expect_rc 0 "a card for Ann"
run card link ann.smith@example.com AB99
expect_rc 0 "a second card for Ann"
run --json customers --opted-out
expect_eq "$(ids)" "3" "--opted-out"
run --json customers --opted-in --members
expect_eq "$(ids)" "5 4 2 1" "--opted-in"
run customers --opted-in --opted-out
expect_rc 2 "--opted-in with --opted-out"

# ---- sorts: each field, both ways, as Python sorts the same rows ------------------

run --json customers --sort id:asc --limit 1000
ALL=$OUT
for spec in id created last-visit balance lifetime visits spend average-spend name email; do
	for dir in asc desc; do
		run --json customers --sort "$spec:$dir" --limit 1000
		expect_rc 0 "--sort $spec:$dir"
		want=$(py '
import json, sys
spec, d = sys.argv[1], sys.argv[2]
rows = json.loads(sys.argv[3])["customers"]
def avg(c): return c["total_spend"] // c["visits"] if c["visits"] else 0
def low(s): return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in s).encode()
key = {
 "id": lambda c: c["id"], "created": lambda c: c["created"] or "", "last-visit": lambda c: c["last_visit"] or "",
 "balance": lambda c: c["balance"], "lifetime": lambda c: c["lifetime_points"], "visits": lambda c: c["visits"],
 "spend": lambda c: c["total_spend"], "average-spend": avg,
 "name": lambda c: low(c["last_name"]) + b"\0" + low(c["first_name"]), "email": lambda c: c["email"].encode(),
}[spec]
rows.sort(key=lambda c: (key(c), c["id"]), reverse=(d == "desc"))
print(" ".join(str(c["id"]) for c in rows))' "$spec" "$dir" "$ALL")
		expect_eq "$(ids)" "$want" "--sort $spec:$dir orders the rows"
	done
done
run --json customers --sort name
expect_eq "$(ids)" "6 3 2 4 1 5" "name sorts A to Z by default (last, then first; no name before A, UTF-8 after Z)"

# ---- bad input -----------------------------------------------------------------------

run customers --sort shoe-size
expect_rc 2 "an unknown sort field"
expect_err "unknown sort field" "the message names it"
run customers --limit 0
expect_rc 2 "--limit 0"
run customers --limit 1001
expect_rc 2 "--limit over 1000"
run customers --sort balance --after 'balance:desc:zz:1'
expect_rc 1 "a damaged cursor"
expect_err "cursor" "the refusal says it is the cursor"
run --json customers --sort balance --after 'balance:desc:zz:1'
expect_rc 1 "a damaged cursor with --json"
expect_eq "$(field status)" "bad_request" "--json on a refusal: one document with the status on stdout"
expect_out '"message":"the cursor is damaged' "and the message"
OUT=$(timeout -k 2 60 "$ACCRUECTL_BIN" --server 127.0.0.1:1 --key-file "$KEY" --json customers 2>/dev/null)
RC=$?
expect_rc 3 "no daemon there"
expect_eq "$(field status)" "unavailable" "--json when the daemon cannot be reached: one document too"
run --json customers --sort balance --limit 1
cursor=$(field next)
run customers --sort name --after "$cursor"
expect_rc 1 "a cursor of another sort"
expect_err "not one of a page sorted by name:asc" "the refusal names the sort it was given"
run customers --members --guests
expect_rc 2 "--members with --guests"

# ---- roles ----------------------------------------------------------------------------

new_key readonly "$TMP/readonly.key"
new_key terminal store-1 "$TMP/terminal.key"
run_key "$TMP/readonly.key" --json customers
expect_rc 0 "a read-only key may list"
expect_eq "$(ids)" "6 5 4 3 2 1" "read-only sees the same book"
run_key "$TMP/terminal.key" customers
expect_rc 1 "a terminal key may not list the customer base"
expect_err "forbidden: a terminal key may not list or export the customer base" "the refusal says what, in words"
run_key "$TMP/terminal.key" export customers
expect_rc 1 "a terminal key may not export"
expect_eq "$OUT" "" "a refused export writes no CSV, not even its header"
run_key "$TMP/terminal.key" customers --csv
expect_eq "$OUT" "" "a refused --csv list writes nothing on stdout"

# ---- export and CSV --------------------------------------------------------------------

daemon_restart
run export customers --output "$TMP/book.csv"
expect_rc 0 "export customers"
expect_err "6 customers written" "export says how many it wrote"
checks=$((checks + 1))
[ ! -e "$TMP/book.csv.part" ] || fail "export left its .part file behind"
check=$(py '
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    raw = f.read()
assert raw.endswith("\r\n"), "records end with CRLF"
rows = list(csv.reader(raw.splitlines(keepends=True)))
head = rows[0]
want = ["id","email","phone","first_name","last_name","member","groups","tier","balance","lifetime_points",
        "visits","total_spend","average_spend","created","last_visit","opted_out","cards"]
assert head == want, "header %r" % head
by = {r[0]: dict(zip(head, r)) for r in rows[1:]}
assert sorted(by, key=int) == ["1","2","3","4","5","6"], "ids %r" % sorted(by)
assert [r[0] for r in rows[1:]] == ["1","2","3","4","5","6"], "id order"
h = by["4"]
assert h["first_name"] == "'"'"'=cmd|'"'"'/C calc'"'"'!A0", "formula neutralised: %r" % h["first_name"]
assert h["last_name"] == "Quote \"Q\", comma", "quotes and comma: %r" % h["last_name"]
assert h["email"] == "'"'"'=cmd@example.com", "email formula neutralised: %r" % h["email"]
assert by["5"]["first_name"] == "Zoë" and by["5"]["last_name"] == "Ünal", "UTF-8"
assert by["2"]["groups"] == "vip" and by["2"]["balance"] == "50" and by["2"]["phone"] == "+15550100002"
assert by["3"]["tier"] == "gold" and by["3"]["balance"] == "20"
assert by["6"]["member"] == "0" and by["6"]["visits"] == "1" and by["6"]["total_spend"] == "10.00"
assert by["1"]["member"] == "1" and by["1"]["balance"] == "0"
assert by["1"]["cards"] == "12345678;AB99", "cards: %r" % by["1"]["cards"]
assert by["3"]["opted_out"] == "1" and by["1"]["opted_out"] == "0", "opted_out"
print("ok")' "$TMP/book.csv" 2>&1)
expect_eq "$check" "ok" "the export reads back as the book"

run export customers --group vip
expect_rc 0 "export to standard output with a filter"
expect_eq "$(printf '%s' "$OUT" | tr -d '\r' | wc -l)" "1" "a header and one row"
expect_out "vip" "the row in the group"

run customers --csv --sort id:asc
expect_rc 0 "customers --csv"
expect_eq "$(py 'import csv,sys; print(len(list(csv.reader(sys.stdin))))' <<<"$OUT")" "7" "a header and six rows"
run --json customers --csv
expect_rc 2 "--csv with --json"

run export customers --output "$TMP/no/such/dir/book.csv"
expect_rc 3 "export to a directory that does not exist"

# One person's data (a data access request): the customer, then their history.
run use bob@example.com 5 --reason "staff note" --comment "Coffee"
expect_rc 0 "Bob uses points"
run export customer bob@example.com --output "$TMP/bob.csv"
expect_rc 0 "export customer"
check=$(py '
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
assert rows[0][0] == "id" and rows[1][0] == "2" and rows[1][1] == "bob@example.com", rows[:2]
assert rows[2] == [], "an empty line between the two parts: %r" % rows[2]
assert rows[3] == ["seq","type","time","points","balance_after","amount","location","order_id","detail","reason","comment"], rows[3]
hist = rows[4:]
types = [r[1] for r in hist]
assert types[0] == "adjust" and hist[0][3] == "-5" and hist[0][9] == "staff note" and hist[0][10] == "Coffee", hist[0]
assert "group" in types and types[-1] == "enrol", types
assert hist[0][4] == "45", "balance after: %r" % hist[0][4]
print("ok")' "$TMP/bob.csv" 2>&1)
expect_eq "$check" "ok" "export customer: the person and their whole history"
run_key "$TMP/terminal.key" export customer bob@example.com
expect_rc 0 "a terminal may look one customer up (no list)"
run export customer nobody@example.com
expect_rc 1 "export customer of no one"

# ---- pages walked while sales and enrolments go on ---------------------------------------

for i in $(seq 1 40); do
	run enrol --email "walk$i@example.com" --first Walk --last "Er$i"
done
run --json customers --sort id:asc --limit 1000
before=$(ids)
(
	for i in $(seq 1 60); do
		timeout -k 2 60 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" enrol --email "late$i@example.com" >/dev/null 2>&1
		timeout -k 2 60 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" accrue "walk$((i % 40 + 1))@example.com" --order "W$i" --amount 3.00 >/dev/null 2>&1
	done
) &
writer=$!
for sort in created:desc id:asc name:asc; do
	seen=""
	after=""
	for _ in $(seq 1 200); do
		if [ -n "$after" ]; then
			run --json customers --sort "$sort" --limit 3 --after "$after"
		else
			run --json customers --sort "$sort" --limit 3
		fi
		expect_rc 0 "a page of $sort" || break
		seen="$seen $(ids)"
		after=$(py 'import json,sys; n=json.load(sys.stdin)["next"]; print(n or "")' <<<"$OUT")
		[ -n "$after" ] || break
	done
	missing=$(py '
import sys
before = sys.argv[1].split(); seen = sys.argv[2].split()
dup = sorted({i for i in seen if seen.count(i) > 1}, key=int)
miss = [i for i in before if i not in seen]
print("dup=%s miss=%s" % (",".join(dup), ",".join(miss)))' "$before" "$seen")
	expect_eq "$missing" "dup= miss=" "walking $sort pages during sales and enrolments: each customer who existed throughout exactly once"
done
wait "$writer"

daemon_restart
run --json customers --sort id:asc --limit 1000
expect_eq "$(field total)" "106" "after a restart every customer is listed (6 + 40 + 60)"

finish
