-- +goose Up
-- PostgreSQL's 00038 adds a column to its shared rate limit buckets.
-- SQLite keeps its limits in memory and has no such table; this keeps the
-- two engines' versions in step.
SELECT 1;

-- +goose Down
SELECT 1;
