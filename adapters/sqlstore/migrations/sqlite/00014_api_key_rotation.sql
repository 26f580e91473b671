-- +goose Up
-- A rotated API key keeps the hash of the secret it replaced, which still
-- authenticates until previous_until, so that a program's deployments can
-- switch secrets without an outage. Both are NULL when no rotation
-- overlaps.
ALTER TABLE api_keys ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE api_keys ADD COLUMN previous_until TIMESTAMP;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN previous_until;
ALTER TABLE api_keys DROP COLUMN previous_secret_hash;
