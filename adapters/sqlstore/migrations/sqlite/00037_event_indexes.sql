-- +goose Up
-- Every submission inserts an event, so each index on events is work on
-- the ingest's path. events_due served a dispatcher that read events by
-- status; webhooks now queue deliveries when the event is inserted, and
-- nothing reads or sets an event's status, so the index only repeated
-- events_created_at.
DROP INDEX events_due;

-- +goose Down
CREATE INDEX events_due ON events (status, created_at);
