-- +goose Up
-- One row per Idempotency-Key of one caller (scope). The row is inserted
-- by the transaction of the request that takes the key, so that its
-- effect and its key commit together; status and response (the stored
-- headers and body, sealed by the HTTP adapter) are NULL until the
-- response is saved. Rows are purged once expires_at has passed.
CREATE TABLE idempotency_keys (
    scope       TEXT        NOT NULL,
    key_hash    TEXT        NOT NULL,
    fingerprint BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    status      INTEGER,
    response    BYTEA,
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
