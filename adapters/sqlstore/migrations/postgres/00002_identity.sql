-- +goose Up
-- People who log in. email holds the canonical, lower-case address, so
-- UNIQUE decides what the domain calls the same address.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    instance_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE workspaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE memberships (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user_id ON memberships (user_id);

-- Login sessions; only the token's SHA-256 is stored.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- API keys; scopes is a space-separated list of "object:action".
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    secret_hash  BYTEA NOT NULL,
    expires_at   TIMESTAMPTZ,
    created_by   TEXT NOT NULL REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_workspace_id ON api_keys (workspace_id, id);
CREATE INDEX api_keys_created_by ON api_keys (created_by);

-- The audit log. workspace_id has no foreign key on purpose: the record of
-- what happened in a workspace outlives the workspace. NULL marks
-- instance-wide events. details is a JSON object of strings.
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    ip           TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    details      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_events_workspace_id ON audit_events (workspace_id, id);

-- The authorization policy's role permissions, seeded with
-- domain.RolePermissions flattened: each role also holds every permission
-- of the roles below it. The porttest suite checks the two agree.
CREATE TABLE role_permissions (
    role   TEXT NOT NULL,
    object TEXT NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (role, object, action)
);
INSERT INTO role_permissions (role, object, action) VALUES
    ('viewer', 'workspace', 'read'),
    ('viewer', 'forms', 'read'),
    ('viewer', 'submissions', 'read'),
    ('viewer', 'content', 'read'),
    ('viewer', 'members', 'read'),
    ('editor', 'workspace', 'read'),
    ('editor', 'forms', 'read'),
    ('editor', 'submissions', 'read'),
    ('editor', 'content', 'read'),
    ('editor', 'members', 'read'),
    ('editor', 'forms', 'write'),
    ('editor', 'submissions', 'write'),
    ('editor', 'content', 'write'),
    ('admin', 'workspace', 'read'),
    ('admin', 'forms', 'read'),
    ('admin', 'submissions', 'read'),
    ('admin', 'content', 'read'),
    ('admin', 'members', 'read'),
    ('admin', 'forms', 'write'),
    ('admin', 'submissions', 'write'),
    ('admin', 'content', 'write'),
    ('admin', 'webhooks', 'read'),
    ('admin', 'webhooks', 'write'),
    ('admin', 'members', 'write'),
    ('admin', 'workspace', 'write'),
    ('admin', 'api_keys', 'read'),
    ('admin', 'api_keys', 'write'),
    ('admin', 'audit', 'read'),
    ('owner', 'workspace', 'read'),
    ('owner', 'forms', 'read'),
    ('owner', 'submissions', 'read'),
    ('owner', 'content', 'read'),
    ('owner', 'members', 'read'),
    ('owner', 'forms', 'write'),
    ('owner', 'submissions', 'write'),
    ('owner', 'content', 'write'),
    ('owner', 'webhooks', 'read'),
    ('owner', 'webhooks', 'write'),
    ('owner', 'members', 'write'),
    ('owner', 'workspace', 'write'),
    ('owner', 'api_keys', 'read'),
    ('owner', 'api_keys', 'write'),
    ('owner', 'audit', 'read'),
    ('owner', 'workspace', 'delete'),
    ('owner', 'owners', 'write');

-- +goose Down
DROP TABLE role_permissions;
DROP TABLE audit_events;
DROP TABLE api_keys;
DROP TABLE sessions;
DROP TABLE memberships;
DROP TABLE workspaces;
DROP TABLE users;
