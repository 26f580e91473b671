-- +goose Up
-- One row: the installation's identity, made by the first node to start.
CREATE TABLE instance (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Change counters that nodes poll to learn that shared state changed.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- +goose Down
DROP TABLE counters;
DROP TABLE instance;
