-- +goose Up
-- The change feed (GET /v1/workspaces/{ws}/events) lists events in feed
-- order, (xact, seq). SQLite has one writer at a time, so insertion order
-- is commit order: xact stays 0 and seq, an AUTOINCREMENT key that is
-- never reused even after retention deletes the newest rows, orders the
-- feed. SQLite cannot add such a column, so the table is rebuilt.
CREATE TABLE events_feed (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    created_at   TIMESTAMP NOT NULL,
    xact         INTEGER NOT NULL DEFAULT 0,
    -- subject is the ID of the resource an event is about: erasing a
    -- person's submissions redacts the events that carried them.
    subject      TEXT NOT NULL DEFAULT ''
);
INSERT INTO events_feed (id, workspace_id, type, data, status, created_at)
    SELECT id, workspace_id, type, data, status, created_at FROM events ORDER BY id;
DROP TABLE events;
ALTER TABLE events_feed RENAME TO events;
CREATE INDEX events_feed ON events (workspace_id, xact, seq);
CREATE INDEX events_due ON events (status, created_at);
-- Event retention deletes the oldest events first.
CREATE INDEX events_created_at ON events (created_at);
CREATE INDEX events_subject ON events (workspace_id, subject);

-- Admins and owners read the change feed (domain.PermEventsRead), which
-- carries submissions, members and API keys alike; keys need the
-- events:read scope.
INSERT INTO role_permissions (role, object, action) VALUES
    ('admin', 'events', 'read'),
    ('owner', 'events', 'read');

-- +goose Down
DELETE FROM role_permissions WHERE object = 'events' AND action = 'read';
CREATE TABLE events_old (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    created_at   TIMESTAMP NOT NULL
);
INSERT INTO events_old (id, workspace_id, type, data, status, created_at)
    SELECT id, workspace_id, type, data, status, created_at FROM events;
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_workspace_id ON events (workspace_id, id);
CREATE INDEX events_due ON events (status, created_at);
