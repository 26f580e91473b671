-- +goose Up
-- Webhook endpoints. events is a JSON array of event types, or ["*"].
-- secret and previous_secret are kept as their whsec_ text: signing a
-- delivery needs the key itself, so it cannot be stored as a hash.
-- previous_secret is '' when no rotation overlaps.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    description     TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT NOT NULL,
    secret          TEXT NOT NULL,
    previous_secret TEXT NOT NULL,
    previous_until  TIMESTAMPTZ,
    failing_since   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
-- Listing a workspace's endpoints, and the fan-out every event makes.
CREATE INDEX webhooks_workspace_id ON webhooks (workspace_id, id);

-- One row per event and endpoint: the webhooks' outbox and delivery log.
-- event_id has no foreign key: event retention may delete the event of a
-- delivery that is still kept (a pending one is then ended by the
-- dispatcher). attempts is a JSON array of the latest attempts;
-- attempt_count counts them all.
--
-- Every event a change writes inserts a row here per subscribed endpoint,
-- inside the change's transaction, so a row must be cheap to add: the
-- defaults let a new delivery bind only what is its own, and the table
-- has two indexes. Its key (webhook_id, id) is the delivery log of an
-- endpoint, newest first, and what an endpoint's deletion cascades
-- through. The workspace is checked on the row. IDs are unique
-- (domain.NewID); the key only needs them unique per endpoint.
CREATE TABLE webhook_deliveries (
    id              TEXT NOT NULL,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts        TEXT NOT NULL DEFAULT '[]',
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    series_start    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ,
    trace_parent    TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    PRIMARY KEY (webhook_id, id)
);
-- Claiming: an endpoint's pending deliveries, earliest due first. Ended
-- deliveries leave the index, which stays the size of the queue.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
-- Claiming: an endpoint's deliveries in flight. Save releases the lease,
-- so this partial index holds only the few that are leased, and a new
-- delivery, not leased, adds nothing to it.
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (webhook_id, lease_until) WHERE lease_until IS NOT NULL;

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
