-- +goose Up
-- PostgreSQL's 00023 adds the tables of rate limits shared by many nodes.
-- SQLite serves from one process, whose limits live in its memory, so it
-- has nothing to add; this keeps the two engines' versions in step.
SELECT 1;

-- +goose Down
SELECT 1;
