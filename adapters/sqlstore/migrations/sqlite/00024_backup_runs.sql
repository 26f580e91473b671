-- +goose Up
-- One row per scheduled backup (KEEL_BACKUP_SCHEDULE): the node whose
-- insert of the schedule's time wins takes that backup, and the others,
-- which fire at the same moment, skip it; the row then records the result
-- that GET /metrics reports and that the next retention pass reads.
CREATE TABLE backup_runs (
    id           TEXT PRIMARY KEY,
    scheduled_at TIMESTAMP NOT NULL UNIQUE,
    node         TEXT NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    attempts     INTEGER NOT NULL,
    file         TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    error        TEXT NOT NULL
);

-- +goose Down
DROP TABLE backup_runs;
