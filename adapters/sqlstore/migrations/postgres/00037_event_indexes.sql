-- +goose Up
-- Every submission inserts an event, so each index on events is work on
-- the ingest's path. events_due served a dispatcher that read events by
-- status; webhooks now queue deliveries when the event is inserted, and
-- nothing reads or sets an event's status, so the index only repeated
-- events_created_at. events_workspace_id served lookups by workspace and
-- ID, which the primary key answers, and the workspace's cascade, which
-- events_feed and events_subject, both led by workspace_id, serve.
DROP INDEX events_due;
DROP INDEX events_workspace_id;

-- +goose Down
CREATE INDEX events_workspace_id ON events (workspace_id, id);
CREATE INDEX events_due ON events (status, created_at);
