-- +goose Up
-- Password resets (domain.PasswordReset); only the token's SHA-256 is
-- stored, the token itself is in the mail alone.
CREATE TABLE password_resets (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX password_resets_user_id ON password_resets (user_id);

-- Mail about an account rather than a workspace (a password reset) has no
-- workspace: workspace_id becomes nullable. SQLite changes a column's
-- constraint only by rebuilding the table.
CREATE TABLE outbox_messages_new (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT REFERENCES workspaces (id) ON DELETE CASCADE,
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
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until     TIMESTAMP,
    trace_parent    TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
INSERT INTO outbox_messages_new SELECT id, workspace_id, submission_id, kind, status, from_addr, to_addrs, reply_to, subject,
    text_body, html_body, attempts, next_attempt_at, lease_until, trace_parent, created_at, sent_at FROM outbox_messages;
DROP TABLE outbox_messages;
ALTER TABLE outbox_messages_new RENAME TO outbox_messages;
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_workspace_id ON outbox_messages (workspace_id, id);
CREATE INDEX outbox_messages_submission_id ON outbox_messages (submission_id);

-- +goose Down
DELETE FROM outbox_messages WHERE workspace_id IS NULL;
CREATE TABLE outbox_messages_old (
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
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until     TIMESTAMP,
    trace_parent    TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
INSERT INTO outbox_messages_old SELECT id, workspace_id, submission_id, kind, status, from_addr, to_addrs, reply_to, subject,
    text_body, html_body, attempts, next_attempt_at, lease_until, trace_parent, created_at, sent_at FROM outbox_messages;
DROP TABLE outbox_messages;
ALTER TABLE outbox_messages_old RENAME TO outbox_messages;
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_workspace_id ON outbox_messages (workspace_id, id);
CREATE INDEX outbox_messages_submission_id ON outbox_messages (submission_id);
DROP TABLE password_resets;
