-- Redis script for bench/compare: one sale = one EVAL, atomic.
-- KEYS[1] the customer's hash, KEYS[2] the ledger stream, ARGV[1] the points.
-- Adds the points to the balance and appends a ledger entry (customer,
-- points) to one stream, as accrued appends one record to its journal.
-- bench/compare drops these comment lines and joins the rest into one line.
redis.call('HINCRBY', KEYS[1], 'balance', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'lifetime', ARGV[1])
redis.call('XADD', KEYS[2], '*', 'customer', KEYS[1], 'points', ARGV[1])
return 1
