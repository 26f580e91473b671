-- +goose Up
-- Form definitions. definition is the whole domain.FormInput as JSON, which
-- sqlstore encodes with its own structs (domain types carry no tags); name,
-- status and retention_days repeat parts of it as columns for listings and
-- for the retention sweep.
CREATE TABLE forms (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    definition     TEXT NOT NULL,
    retention_days INTEGER NOT NULL DEFAULT 0 CHECK (retention_days >= 0),
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX forms_workspace_id ON forms (workspace_id, id);
CREATE INDEX forms_retention ON forms (id) WHERE retention_days > 0;

-- Submissions. field_values is a JSON array of {field, values};
-- search_text holds every value lower-cased, separated by U+001F, for the
-- listing's substring search and the erasure prefilter. Deleting a form
-- deletes its submissions.
CREATE TABLE submissions (
    id           TEXT PRIMARY KEY,
    form_id      TEXT NOT NULL REFERENCES forms (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('new', 'read', 'spam', 'archived')),
    field_values TEXT NOT NULL,
    search_text  TEXT NOT NULL,
    ip_hash      TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    referrer     TEXT NOT NULL,
    origin       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX submissions_form_id ON submissions (form_id, id);
CREATE INDEX submissions_workspace_id ON submissions (workspace_id);
CREATE INDEX submissions_form_created ON submissions (form_id, created_at);

-- The transactional outbox: e-mail written with the data it is about and
-- sent after commit. A message about a submission goes with it: erasing a
-- submission, or the retention sweep, also drops its unsent mail and the
-- history of its sent mail, which quote the submission. to_addrs is a JSON
-- array of RFC 5322 addresses; attempts a JSON array of {at, error}.
-- lease_until marks a message a dispatcher has claimed.
CREATE TABLE outbox_messages (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    submission_id   TEXT REFERENCES submissions (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    from_addr       TEXT NOT NULL,
    to_addrs        TEXT NOT NULL,
    reply_to        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    attempts        TEXT NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ,
    trace_parent    TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_workspace_id ON outbox_messages (workspace_id, id);
CREATE INDEX outbox_messages_submission_id ON outbox_messages (submission_id);

-- +goose Down
DROP TABLE outbox_messages;
DROP TABLE submissions;
DROP TABLE forms;
