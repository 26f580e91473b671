-- +goose Up
-- Invitations to workspaces (domain.Invitation); only the token's SHA-256
-- is stored, the token itself is in the mail alone.
CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    invited_by   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    accepted_at  TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX invitations_workspace_id ON invitations (workspace_id, id);

-- +goose Down
DROP TABLE invitations;
