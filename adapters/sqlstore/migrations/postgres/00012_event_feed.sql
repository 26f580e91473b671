-- +goose Up
-- The change feed (GET /v1/workspaces/{ws}/events) lists events in feed
-- order, (xact, seq): xact is the writing transaction's ID and seq the
-- order of writes. IDs and sequence values are taken before commit, so a
-- transaction can commit after a later one was read; the feed therefore
-- lists only events whose transaction is older than the oldest one still
-- running, and every event that may still appear sorts after those.
ALTER TABLE events ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE events ADD COLUMN seq BIGSERIAL;
CREATE INDEX events_feed ON events (workspace_id, xact, seq);
-- Event retention deletes the oldest events first.
CREATE INDEX events_created_at ON events (created_at);
-- subject is the ID of the resource an event is about: erasing a person's
-- submissions redacts the events that carried them.
ALTER TABLE events ADD COLUMN subject TEXT NOT NULL DEFAULT '';
CREATE INDEX events_subject ON events (workspace_id, subject);

-- Admins and owners read the change feed (domain.PermEventsRead), which
-- carries submissions, members and API keys alike; keys need the
-- events:read scope.
INSERT INTO role_permissions (role, object, action) VALUES
    ('admin', 'events', 'read'),
    ('owner', 'events', 'read');

-- +goose Down
DELETE FROM role_permissions WHERE object = 'events' AND action = 'read';
DROP INDEX events_subject;
ALTER TABLE events DROP COLUMN subject;
DROP INDEX events_created_at;
DROP INDEX events_feed;
ALTER TABLE events DROP COLUMN seq;
ALTER TABLE events DROP COLUMN xact;
