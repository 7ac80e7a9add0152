#!/usr/bin/env bash
# it_import.sh - accruectl import adjustments and import customers against
# the real accrued: header errors, a bad line in the middle (nothing sent),
# hostile CSV (quoted commas, quotes, line breaks, UTF-8, a BOM and CRLF),
# --dry-run, the same file again (all already applied), refusals by the
# server (exit 1, each line named), a non-admin key, and accruectl killed
# with SIGKILL half-way through a large file, the daemon killed too and
# restarted, then the same file again: every line applied exactly once.
#
# Needs ACCRUED_BIN and ACCRUECTL_BIN (ctest sets both; ACCRUE_CHECK_BIN is
# used when set). Starts its own daemon in a mktemp directory on a free
# loopback port; the EXIT trap kills what it started and removes the
# directory. Every wait is bounded; nothing waits a fixed time.
set -u

NAME=it_import
HARNESS_TIMEOUT=120
. "$(dirname "$0")/harness.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
GEN="$HERE/../bench/gen-import.sh"
IMPORT_PID=""

# The import accruectl running in the background, if any, goes with the daemon.
harness_on_exit() {
	if [ -n "$IMPORT_PID" ] && kill -0 "$IMPORT_PID" 2>/dev/null; then
		kill -KILL "$IMPORT_PID" 2>/dev/null
		wait "$IMPORT_PID" 2>/dev/null
	fi
}

# Here stderr is matched with its case (the harness's expect_err ignores it).
expect_err() {
	checks=$((checks + 1))
	grep -qF -- "$1" <<<"$ERR" || fail "$2: stderr lacks [$1]; stderr: [$ERR]"
}

expect_no_err() {
	checks=$((checks + 1))
	! grep -qF -- "$1" <<<"$ERR" || fail "$2: stderr has [$1] and should not; stderr: [$ERR]"
}

# balance REF: the customer's balance (from show --json), or "none".
balance() {
	local out
	out=$(timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" --json show "$1" 2>/dev/null)
	sed -n 's/.*"balance":\(-\{0,1\}[0-9]*\),.*/\1/p' <<<"$out" | grep . || echo none
}

expect_balance() {
	checks=$((checks + 1))
	local got
	got=$(balance "$1")
	[ "$got" = "$2" ] || fail "$3: balance of $1 is $got, expected $2"
}

# journal_seq: the daemon's last journal seq.
journal_seq() {
	timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" --json stats 2>/dev/null |
		sed -n 's/.*"journal.seq":"\([0-9]*\)".*/\1/p'
}

# stop_daemon SIGNAL: send it and wait (bounded) for the daemon to go.
stop_daemon() {
	kill "-$1" "$PID"
	for _ in $(seq 1 300); do
		if ! kill -0 "$PID" 2>/dev/null; then
			{ wait "$PID"; } 2>/dev/null
			PID=""
			return
		fi
		sleep 0.1
	done
	die "accrued did not exit within 30 s of SIG$1"
}

daemon_start

run enrol --email ann@example.com
expect_rc 0 "enrol ann"
run enrol --phone "+15550100002"
expect_rc 0 "enrol #2"

# ---- help ---------------------------------------------------------------------

run import --help
expect_rc 0 "import --help"
expect_out "customer,points,reason,comment" "import --help names the adjustments header"
expect_out "email,phone,first_name,last_name,groups,points" "import --help names the customers header"
expect_out "XXH3-128" "import --help says how request keys are made"
expect_out "--dry-run" "import --help explains --dry-run"

run import adjustments
expect_rc 2 "import adjustments without FILE"

run import adjustments "$TMP/no-such.csv"
expect_rc 3 "a file that is not there"
expect_err "no-such.csv" "the missing file is named"

# ---- header errors -----------------------------------------------------------------

printf 'customer,points,reason\nann@example.com,5,x\n' >"$TMP/h1.csv"
run import adjustments "$TMP/h1.csv"
expect_rc 2 "a header without comment"
expect_err "h1.csv:1: the header must be exactly: customer,points,reason,comment" "the header error names line 1"

printf 'Customer,Points,Reason,Comment\nann@example.com,5,x,y\n' >"$TMP/h2.csv"
run import adjustments "$TMP/h2.csv"
expect_rc 2 "a header in other capitals"

: >"$TMP/h3.csv"
run import adjustments "$TMP/h3.csv"
expect_rc 2 "an empty file"
expect_err "h3.csv:1: the file is empty" "an empty file is named as such"

printf 'email,phone,first_name,last_name,groups,points\n' >"$TMP/h4.csv"
run import adjustments "$TMP/h4.csv"
expect_rc 2 "a customers file given to import adjustments"
expect_balance ann@example.com 0 "no header error sent anything"

# A byte order mark and CRLF line ends are fine; a header alone imports nothing.
printf '\xef\xbb\xbfcustomer,points,reason,comment\r\n' >"$TMP/h5.csv"
run import adjustments "$TMP/h5.csv"
expect_rc 0 "a header alone, with a BOM and CRLF"
expect_out "0 applied, 0 already applied, 0 refused" "a header alone imports nothing"

# ---- a bad line in the middle: nothing is sent -----------------------------------------

cat >"$TMP/bad.csv" <<'EOF'
customer,points,reason,comment
ann@example.com,10,good,first
#2,7,good,second
not a ref,5,bad,third
ann@example.com,0,zero,fourth
#2,12abc,bad,fifth
ann@example.com,99999999999999999999,huge,sixth
#2,3,good,"last,
and a line break"
ann@example.com,"unclosed,x,y
EOF
run import adjustments "$TMP/bad.csv"
expect_rc 2 "a file with bad lines"
expect_err "bad.csv:4: customer 'not a ref'" "a bad REF is named by its line"
expect_err "bad.csv:5: points '0'" "zero points are refused"
expect_err "bad.csv:6: points '12abc'" "points that are not a number"
expect_err "bad.csv:7: points '99999999999999999999'" "points out of range"
expect_err "bad.csv:8: comment holds a control character" "a line break in a quoted comment, named by the line it starts on"
expect_err "bad.csv:10: a quoted field is never closed" "an unclosed quote after a two-line record is on line 10"
expect_err "nothing was sent" "the summary says nothing was sent"
expect_no_err "bad.csv:2:" "good lines are not reported"
expect_balance ann@example.com 0 "no line of a bad file was applied (ann)"
expect_balance '#2' 0 "no line of a bad file was applied (#2)"

# A quote left open swallows the next line; the error names both lines.
printf 'customer,points,reason,comment\nann@example.com,1,"open,x\n#2,1,"y",z\n' >"$TMP/open.csv"
run import adjustments "$TMP/open.csv"
expect_rc 2 "a quote left open"
expect_err "open.csv:3: a quote in the middle of a field, in the record that begins on line 2" "an open quote is traced to its line"

# Garbage is a bad file, never a crash: random bytes after the header, a
# field of a megabyte, a line of 100,000 fields, a NUL byte, bytes that
# are not UTF-8.
{ printf 'customer,points,reason,comment\n'; head -c 200000 /dev/urandom; } >"$TMP/noise.csv"
run import adjustments "$TMP/noise.csv"
expect_rc 2 "random bytes"
expect_err "nothing was sent" "random bytes are refused as a whole"
{ printf 'customer,points,reason,comment\nann@example.com,1,"'; head -c 1048576 /dev/zero | tr '\0' 'x'; printf '",\n'; } >"$TMP/big.csv"
run import adjustments "$TMP/big.csv"
expect_rc 2 "a field of a megabyte"
expect_err "big.csv:2: reason is 1048576 bytes, over the limit of 500" "a huge field is named by its size"
{ printf 'customer,points,reason,comment\n'; head -c 100000 /dev/zero | tr '\0' ','; printf '\n'; } >"$TMP/wide.csv"
run import adjustments "$TMP/wide.csv"
expect_rc 2 "a line of 100,000 fields"
expect_err "wide.csv:2: 100001 fields; expected 4" "a wide line is named by its field count"
printf 'customer,points,reason,comment\nann@example.com,1,"a\0b",\n#2,1,\xff\xfe,\n' >"$TMP/nul.csv"
run import adjustments "$TMP/nul.csv"
expect_rc 2 "a NUL byte and bytes that are not UTF-8"
expect_err "nul.csv:2: reason holds a NUL byte" "a NUL byte is named"
expect_err "nul.csv:3: reason is not valid UTF-8" "bytes that are not UTF-8 are named"
expect_balance ann@example.com 0 "no garbage was applied"

# ---- hostile content that is good: quotes, commas, UTF-8, spaces, CRLF --------------------

printf '\xef\xbb\xbfcustomer,points,reason,comment\r\n' >"$TMP/good.csv"
printf 'ann@example.com,+40,"a, b ""quoted"" reason","Ol\xc3\xa1, caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x8e\x89"\r\n' >>"$TMP/good.csv"
printf '#2,25, spaced reason ,\r\n' >>"$TMP/good.csv"
printf '\r\n' >>"$TMP/good.csv"
printf '+1 555 010 0002,-5,"=cmd|\x27 /c calc\x27!A0",<script>alert(1)</script>\r\n' >>"$TMP/good.csv"

run import adjustments "$TMP/good.csv" --dry-run
expect_rc 0 "--dry-run of a good file"
expect_out "3 adjustments checked: would add 65 points and use 5 points; dry run, nothing sent" "--dry-run says what it would do"
expect_balance ann@example.com 0 "--dry-run sends nothing"

run import adjustments "$TMP/good.csv"
expect_rc 0 "a good file with hostile content"
expect_out "3 applied, 0 already applied, 0 refused" "every line applied"
expect_balance ann@example.com 40 "ann got 40"
expect_balance '#2' 20 "#2 got 25 and used 5"
run --json history ann@example.com --limit 1
expect_out '"reason":"a, b \"quoted\" reason"' "quoted commas and quotes reach the journal as they were"
expect_out "\"comment\":\"Olá, café ☕ 🎉\"" "UTF-8 reaches the journal as it was"
run --json history '#2' --limit 2
expect_out '"reason":" spaced reason "' "spaces around a field are kept"
expect_out '"comment":"Manual adjustments"' "an empty comment is the default one"
expect_out '"reason":"=cmd|'"'"' /c calc'"'"'!A0","comment":"<script>alert(1)</script>"' "formula and markup are kept as plain text"

# The same file again: all already applied, nothing changes.
run import adjustments "$TMP/good.csv"
expect_rc 0 "the same file again"
expect_out "0 applied, 3 already applied, 0 refused" "the same file again is already applied"
expect_balance ann@example.com 40 "the same file again changes nothing (ann)"
expect_balance '#2' 20 "the same file again changes nothing (#2)"

# The same lines in another file are another import (the file's hash is in each key).
{ cat "$TMP/good.csv"; printf '#2,1,one more,\r\n'; } >"$TMP/good2.csv"
run import adjustments "$TMP/good2.csv"
expect_rc 0 "an edited file"
expect_out "4 applied, 0 already applied, 0 refused" "an edited file is a new import"
expect_balance ann@example.com 80 "an edited file applies again"

# Lines ended by a CR alone (old Mac files) are lines too: two identical
# lines are two adjustments, and a bad one is named by its line.
printf 'customer,points,reason,comment\r#2,1,same,\r#2,1,same,\rnobody,1,x,\r' >"$TMP/cr.csv"
run import adjustments "$TMP/cr.csv"
expect_rc 2 "a CR-only file with a bad line"
expect_err "cr.csv:4: customer 'nobody'" "a CR-only file's lines are counted"
printf 'customer,points,reason,comment\r#2,1,same,\r#2,1,same,\r' >"$TMP/cr.csv"
run import adjustments "$TMP/cr.csv"
expect_rc 0 "a CR-only file"
expect_out "2 applied, 0 already applied, 0 refused" "two identical lines are two adjustments"
expect_balance '#2' 43 "#2 got both identical lines (41 + 2)"

# ---- refusals by the server: each line named, exit 1 -------------------------------------

cat >"$TMP/refused.csv" <<'EOF'
customer,points,reason,comment
ann@example.com,5,ok,
nobody@example.com,5,no such customer,
#2,-1000,too many,
ann@example.com,-5,ok,
EOF
run import adjustments "$TMP/refused.csv"
expect_rc 1 "a file with refused lines"
expect_err "refused.csv:3: not_found:" "an unknown customer is refused by line"
expect_err "refused.csv:4: insufficient:" "a use beyond the balance is refused by line"
expect_out "2 applied, 0 already applied, 2 refused" "the summary counts refusals"
expect_balance ann@example.com 80 "ann +5 -5"
run import adjustments "$TMP/refused.csv"
expect_rc 1 "the refused file again"
expect_out "0 applied, 2 already applied, 2 refused" "again: the applied lines are already applied, the refused refused"

# ---- import customers ------------------------------------------------------------------

printf 'email,phone,first_name,last_name,groups,points\r\n' >"$TMP/cust.csv"
printf 'Bea@Example.com,+1 555 010 0003,Bea,"O\x27Neil, ""Jr""",vip;gold,150\r\n' >>"$TMP/cust.csv"
printf ',+15550100004,Zo\xc3\xab,\xe5\xb1\xb1\xe7\x94\xb0,,\r\n' >>"$TMP/cust.csv"
printf 'ann@example.com,,Ann,Again,,10\r\n' >>"$TMP/cust.csv"
run import customers "$TMP/cust.csv" --dry-run
expect_rc 0 "import customers --dry-run"
expect_out "3 customers checked" "the dry run counts customers"
checks=$((checks + 1))
[ "$(balance bea@example.com)" = none ] || fail "--dry-run enrolled nobody"

run import customers "$TMP/cust.csv"
expect_rc 1 "import customers with a line that names an existing customer"
expect_err "cust.csv:4: conflict:" "an existing customer's email is a conflict, by line"
expect_out "2 applied, 0 already applied, 1 refused" "customers summary"
expect_balance bea@example.com 150 "the opening balance"
expect_balance ann@example.com 80 "the conflicting line changed nothing"
run --json show bea@example.com
expect_out '"last_name":"O'"'"'Neil, \"Jr\""' "a quoted name with a comma and quotes"
expect_out '"groups":["vip","gold"]' "the groups"
run --json show +15550100004
expect_out '"first_name":"Zoë","last_name":"山田"' "UTF-8 names"

run import customers "$TMP/cust.csv"
expect_rc 1 "the customers file again"
expect_out "0 applied, 2 already applied, 1 refused" "the customers file again is already applied"
expect_balance bea@example.com 150 "the opening balance is not added twice"

printf 'email,phone,first_name,last_name,groups,points\nx@example.com,,X,,bad group,\ny@example.com,,Y,,,-5\n,,Nobody,,,\n' >"$TMP/cbad.csv"
run import customers "$TMP/cbad.csv"
expect_rc 2 "a customers file with bad lines"
expect_err "cbad.csv:2: groups" "a group with a space"
expect_err "cbad.csv:3: points" "a negative opening balance"
expect_err "cbad.csv:4: an email or a phone number is required" "a line with neither email nor phone"

# Each email and phone once per file (lines are sent over several connections at once).
printf 'email,phone,first_name,last_name,groups,points\ndup@example.com,,A,,,\nother@example.com,+1 555 010 0009,B,,,\nDUP@example.com,,C,,,\n,15550100009,D,,,\n' >"$TMP/cdup.csv"
run import customers "$TMP/cdup.csv"
expect_rc 2 "a customers file naming an email twice"
expect_err "cdup.csv:4: the same email as line 2" "a repeated email, in other capitals"
expect_err "cdup.csv:5: the same phone as line 3" "a repeated phone, written otherwise"
expect_balance dup@example.com none "a file with repeated customers enrols nobody"

# Many customers at once: every line enrolled once, with its group and balance.
"$GEN" customers 300 | sed -e 's/@example.com/@many.example.com/' -e 's/,,$/,many,7/' >"$TMP/many.csv"
run import customers "$TMP/many.csv"
expect_rc 0 "300 customers"
expect_out "300 applied, 0 already applied, 0 refused" "300 customers enrolled"
expect_balance c1@many.example.com 7 "the first of many"
expect_balance c300@many.example.com 7 "the last of many"
run --json show c150@many.example.com
expect_out '"groups":["many"]' "a group of one of many"
run import customers "$TMP/many.csv"
expect_out "0 applied, 300 already applied, 0 refused" "300 customers again"

# ---- a non-admin key is refused ---------------------------------------------------------

run key create --role terminal --location store-1
expect_rc 0 "create a terminal key"
sed -n 's/^key: //p' <<<"$OUT" >"$TMP/terminal.key"
OUT=$(timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$TMP/terminal.key" import adjustments "$TMP/good2.csv" 2>"$TMP/stderr")
RC=$?
ERR=$(cat "$TMP/stderr")
expect_rc 1 "import with a terminal key"
expect_err "forbidden" "a terminal key may not import"
OUT=$(timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$TMP/terminal.key" import customers "$TMP/cust.csv" 2>"$TMP/stderr")
RC=$?
ERR=$(cat "$TMP/stderr")
expect_rc 1 "import customers with a terminal key"
expect_err "forbidden" "a terminal key may not import customers"
printf 'email,phone,first_name,last_name,groups,points\nterm@example.com,,T,,,\n' >"$TMP/term.csv"
OUT=$(timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$TMP/terminal.key" import customers "$TMP/term.csv" 2>"$TMP/stderr")
RC=$?
ERR=$(cat "$TMP/stderr")
expect_rc 1 "import customers of a new customer with a terminal key"
expect_balance term@example.com none "a terminal key's import enrols nobody"
run key create --role readonly
expect_rc 0 "create a read-only key"
sed -n 's/^key: //p' <<<"$OUT" >"$TMP/readonly.key"
OUT=$(timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$TMP/readonly.key" import adjustments "$TMP/good2.csv" 2>"$TMP/stderr")
RC=$?
ERR=$(cat "$TMP/stderr")
expect_rc 1 "import with a read-only key"
expect_err "forbidden" "a read-only key may not import"

# ---- SIGKILL half-way, the daemon killed and restarted, the same file again ---------------

NCUST=10
LINES=${IMPORT_KILL_LINES:-600000}
"$GEN" customers "$NCUST" | sed 's/@example.com/@kill.example.com/' >"$TMP/kc.csv"
run import customers "$TMP/kc.csv"
expect_rc 0 "customers for the large file"
FIRST=$(timeout -k 2 20 "$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" --json show c1@kill.example.com |
	sed -n 's/.*"id":\([0-9]*\),.*/\1/p')
[ -n "$FIRST" ] || die "cannot find the first customer of the large file"
# Adjustments to #FIRST..#FIRST+NCUST-1, +1..+9 each.
"$GEN" adjustments "$LINES" "$NCUST" | awk -F, -v base="$((FIRST - 1))" 'NR == 1 { print; next }
	{ id = substr($1, 2) + base; sub(/^#[0-9]+/, "#" id); print }' >"$TMP/large.csv"
EXPECTED=$(awk -F, 'NR > 1 { s += $2 } END { print s }' "$TMP/large.csv")

SEQ0=$(journal_seq)
"$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" import adjustments "$TMP/large.csv" >"$TMP/kill.out" 2>"$TMP/kill.err" &
IMPORT_PID=$!
# Wait until some frames are journalled, then kill accruectl mid-way.
killed=0
for _ in $(seq 1 1200); do
	seq_now=$(journal_seq)
	if [ -n "$seq_now" ] && [ "$seq_now" -gt "$((SEQ0 + 20000))" ]; then
		kill -KILL "$IMPORT_PID" 2>/dev/null && killed=1
		break
	fi
	kill -0 "$IMPORT_PID" 2>/dev/null || break
	sleep 0.05
done
{ wait "$IMPORT_PID"; } 2>/dev/null
IMPORT_PID=""
checks=$((checks + 1))
[ "$killed" = 1 ] || fail "accruectl was not killed half-way (it finished or never started): $(cat "$TMP/kill.out" "$TMP/kill.err")"
sum_balances() {
	local s=0 b
	for i in $(seq "$FIRST" "$((FIRST + NCUST - 1))"); do
		b=$(balance "#$i")
		[ "$b" = none ] && b=0
		s=$((s + b))
	done
	echo "$s"
}
HALF=$(sum_balances)
checks=$((checks + 1))
[ "$HALF" -gt 0 ] && [ "$HALF" -lt "$EXPECTED" ] ||
	fail "after the kill the balances add up to $HALF, expected some but not all of $EXPECTED"

# The daemon crashes too, and starts again from its journal.
stop_daemon KILL
daemon_start

run import adjustments "$TMP/large.csv"
expect_rc 0 "the large file again after the kill"
applied=$(sed -n 's/^\([0-9]*\) applied, \([0-9]*\) already applied, 0 refused$/\1 \2/p' <<<"$OUT")
checks=$((checks + 1))
if [ -z "$applied" ]; then
	fail "no summary after the re-run: [$OUT] [$ERR]"
else
	set -- $applied
	[ "$1" -gt 0 ] && [ "$2" -gt 0 ] && [ "$(($1 + $2))" -eq "$LINES" ] ||
		fail "the re-run applied $1 and found $2 already applied; expected both > 0, $LINES in all"
fi
TOTAL=$(sum_balances)
checks=$((checks + 1))
[ "$TOTAL" -eq "$EXPECTED" ] || fail "after the re-run the balances add up to $TOTAL, expected $EXPECTED (each line exactly once)"

run import adjustments "$TMP/large.csv"
expect_out "0 applied, $LINES already applied, 0 refused" "a third run finds every line applied"

# ---- the daemon killed under a running import: accruectl says so, exit 3 ----------------

BEFORE=$(sum_balances)
sed 's/,bench /,second /' "$TMP/large.csv" >"$TMP/large2.csv"
EXPECTED2=$(awk -F, 'NR > 1 { s += $2 } END { print s }' "$TMP/large2.csv")
SEQ0=$(journal_seq)
"$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" import adjustments "$TMP/large2.csv" >"$TMP/lost.out" 2>"$TMP/lost.err" &
IMPORT_PID=$!
killed=0
for _ in $(seq 1 1200); do
	seq_now=$(journal_seq)
	if [ -n "$seq_now" ] && [ "$seq_now" -gt "$((SEQ0 + 20000))" ]; then
		kill -0 "$IMPORT_PID" 2>/dev/null && killed=1
		break
	fi
	kill -0 "$IMPORT_PID" 2>/dev/null || break
	sleep 0.05
done
stop_daemon KILL
# libaccrue retries for a few seconds, then accruectl gives up.
for _ in $(seq 1 600); do
	kill -0 "$IMPORT_PID" 2>/dev/null || break
	sleep 0.05
done
RC=0
{ wait "$IMPORT_PID"; } 2>/dev/null || RC=$?
IMPORT_PID=""
OUT=$(cat "$TMP/lost.out")
ERR=$(cat "$TMP/lost.err")
checks=$((checks + 1))
[ "$killed" = 1 ] || fail "the daemon was not killed under the import: [$OUT] [$ERR]"
expect_rc 3 "an import whose daemon died"
expect_err "run the same file again to send the rest" "accruectl says how to go on"
daemon_start
run import adjustments "$TMP/large2.csv"
expect_rc 0 "the second large file again after the daemon's crash"
checks=$((checks + 1))
grep -qE "^[1-9][0-9]* applied, [1-9][0-9]* already applied, 0 refused$" <<<"$OUT" ||
	fail "the re-run after the daemon's crash should apply some and find some applied: [$OUT] [$ERR]"
TOTAL2=$(sum_balances)
checks=$((checks + 1))
[ "$TOTAL2" -eq "$((BEFORE + EXPECTED2))" ] ||
	fail "after the daemon's crash and a re-run the balances add up to $TOTAL2, expected $((BEFORE + EXPECTED2))"

# ---- SIGTERM (as Ctrl-C) under an import: it stops after the frame in flight -------------

BEFORE=$(sum_balances)
sed 's/,bench /,third /' "$TMP/large.csv" >"$TMP/large3.csv"
SEQ0=$(journal_seq)
"$ACCRUECTL_BIN" --server "$ADDR" --key-file "$KEY" import adjustments "$TMP/large3.csv" >"$TMP/term.out" 2>"$TMP/term.err" &
IMPORT_PID=$!
signalled=0
for _ in $(seq 1 1200); do
	seq_now=$(journal_seq)
	if [ -n "$seq_now" ] && [ "$seq_now" -gt "$((SEQ0 + 20000))" ]; then
		kill -TERM "$IMPORT_PID" 2>/dev/null && signalled=1
		break
	fi
	kill -0 "$IMPORT_PID" 2>/dev/null || break
	sleep 0.05
done
for _ in $(seq 1 600); do
	kill -0 "$IMPORT_PID" 2>/dev/null || break
	sleep 0.05
done
RC=0
{ wait "$IMPORT_PID"; } 2>/dev/null || RC=$?
IMPORT_PID=""
OUT=$(cat "$TMP/term.out")
ERR=$(cat "$TMP/term.err")
checks=$((checks + 1))
[ "$signalled" = 1 ] || fail "accruectl was not signalled under the import: [$OUT] [$ERR]"
expect_rc 130 "an import stopped by SIGTERM"
expect_err "interrupted; run the same file again to send the rest" "an interrupted import says how to go on"
part=$(sed -n 's/^\([0-9]*\) applied, 0 already applied, 0 refused$/\1/p' <<<"$OUT")
checks=$((checks + 1))
[ -n "$part" ] && [ "$part" -gt 0 ] && [ "$part" -lt "$LINES" ] ||
	fail "an interrupted import should say it applied some of the lines: [$OUT]"
MID=$(sum_balances)
run import adjustments "$TMP/large3.csv"
expect_rc 0 "the interrupted file again"
expect_out "$((LINES - ${part:-0})) applied, ${part:-0} already applied, 0 refused" "the re-run finds exactly what the interrupted run reported"
TOTAL3=$(sum_balances)
checks=$((checks + 1))
[ "$TOTAL3" -eq "$((BEFORE + EXPECTED))" ] && [ "$MID" -lt "$TOTAL3" ] ||
	fail "after the interrupted import and a re-run the balances add up to $TOTAL3, expected $((BEFORE + EXPECTED))"

if [ -n "${ACCRUE_CHECK_BIN:-}" ]; then
	OUT=$("$ACCRUE_CHECK_BIN" "$DATA" 2>&1)
	RC=$?
	expect_rc 0 "accrue-check after the imports"
fi

echo "it_import: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
