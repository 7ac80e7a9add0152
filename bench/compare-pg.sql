-- pgbench script for bench/compare: one sale = one transaction.
-- Adds the points to the customer's balance and appends a ledger row,
-- committed with synchronous_commit on (the commit waits for the WAL fsync).
-- The tables are made by bench/compare (compare-pg-schema.sql).
\set cid random(1, 10000)
\set pts random(1, 500)
BEGIN;
UPDATE customers SET balance = balance + :pts, lifetime = lifetime + :pts WHERE id = :cid;
INSERT INTO ledger (customer, points) VALUES (:cid, :pts);
END;
