-- +goose Up
-- Rate limit state that every node of one PostgreSQL shares, so that the
-- limits hold one budget however many nodes serve (ratelimits.go; the
-- README's "Rate limits"). UNLOGGED: a bucket is worth less than its
-- write-ahead log, and a crash that empties the tables only forgives
-- recent attempts, as a restart of a node did when limits were per node.
--
-- rate_buckets: one GCRA bucket per limiter and key; tat is its
-- theoretical arrival time, in microseconds since the epoch; allowed is
-- the last request's answer, which the statement that takes a request
-- returns. A bucket whose tat is past is full and may be deleted.
CREATE UNLOGGED TABLE rate_buckets (
    key     TEXT PRIMARY KEY,
    tat     BIGINT NOT NULL,
    allowed BOOLEAN NOT NULL
);

-- rate_backoffs: one run of failures per limiter and key (login
-- throttling's growing delays): how many, when the last one was, when the
-- next attempt may come, and when the run is forgotten; microseconds.
CREATE UNLOGGED TABLE rate_backoffs (
    key        TEXT PRIMARY KEY,
    failures   INTEGER NOT NULL,
    last_at    BIGINT NOT NULL,
    next_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE rate_backoffs;
DROP TABLE rate_buckets;
