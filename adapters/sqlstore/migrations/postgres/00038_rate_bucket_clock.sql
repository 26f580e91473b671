-- +goose Up
-- at is the database's clock as the last take from a bucket read it. A
-- take's statement reads the clock when it starts, and one that waited
-- for the row's lock behind a later statement would measure the bucket
-- from before the time that statement gave it: it would see the bucket
-- further ahead than it is, and answer one request less left, or refuse
-- at the edge. A take measures from the later of its clock and the row's
-- (ratetakes.go). Rows written before it read 0, so their takes use their
-- own clock as before.
ALTER TABLE rate_buckets ADD COLUMN at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE rate_buckets DROP COLUMN at;
