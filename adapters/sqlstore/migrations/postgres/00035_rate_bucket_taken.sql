-- +goose Up
-- taken is how many requests the last take from a bucket allowed: a node
-- takes the requests that queue for one bucket in one statement
-- (ratetakes.go), and this is how the statement tells it how many of them
-- the bucket held. Rows written before it count as one.
ALTER TABLE rate_buckets ADD COLUMN taken BIGINT NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE rate_buckets DROP COLUMN taken;
