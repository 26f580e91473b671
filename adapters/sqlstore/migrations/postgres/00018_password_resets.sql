-- +goose Up
-- Password resets (domain.PasswordReset); only the token's SHA-256 is
-- stored, the token itself is in the mail alone.
CREATE TABLE password_resets (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX password_resets_user_id ON password_resets (user_id);

-- Mail about an account rather than a workspace (a password reset) has no
-- workspace.
ALTER TABLE outbox_messages ALTER COLUMN workspace_id DROP NOT NULL;

-- +goose Down
DELETE FROM outbox_messages WHERE workspace_id IS NULL;
ALTER TABLE outbox_messages ALTER COLUMN workspace_id SET NOT NULL;
DROP TABLE password_resets;
