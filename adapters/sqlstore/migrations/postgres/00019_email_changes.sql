-- +goose Up
-- Requested changes of a user's e-mail address (domain.EmailChange); only
-- the token's SHA-256 is stored, the token itself is in the mail alone.
CREATE TABLE email_changes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX email_changes_user_id ON email_changes (user_id);

-- +goose Down
DROP TABLE email_changes;
