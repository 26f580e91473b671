-- +goose Up
-- One row per Idempotency-Key of one caller (scope). The row is inserted
-- by the transaction of the request that takes the key, so that its
-- effect and its key commit together; status and response (the stored
-- headers and body, sealed by the HTTP adapter) are NULL until the
-- response is saved. Rows are purged once expires_at has passed.
CREATE TABLE idempotency_keys (
    scope       TEXT      NOT NULL,
    key_hash    TEXT      NOT NULL,
    fingerprint BLOB      NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    status      INTEGER,
    response    BLOB,
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
