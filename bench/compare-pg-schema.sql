-- Schema for bench/compare's PostgreSQL peer (see compare-pg.sql).
-- psql -v customers=N fills the customers table with ids 1..N.
CREATE TABLE customers (
    id       integer PRIMARY KEY,
    balance  bigint  NOT NULL DEFAULT 0,
    lifetime bigint  NOT NULL DEFAULT 0
);
CREATE TABLE ledger (
    seq      bigserial   PRIMARY KEY,
    customer integer     NOT NULL,
    points   bigint      NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (id) SELECT g FROM generate_series(1, :customers) AS g;
VACUUM ANALYZE customers;
