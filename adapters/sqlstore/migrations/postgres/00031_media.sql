-- +goose Up
-- The media library (domain.Media): one row per uploaded file, whose
-- bytes live in the blob store under blob_key. The ID carries 74 random
-- bits, so a public media URL cannot be guessed. variants lists the
-- widths already made, comma-separated ("320,640"), each stored beside
-- the original. Editors and up read and write it (media:read,
-- media:write, also API key scopes).
CREATE TABLE media (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL CHECK (size >= 0),
    width        INTEGER NOT NULL DEFAULT 0,
    height       INTEGER NOT NULL DEFAULT 0,
    alt          TEXT NOT NULL DEFAULT '',
    caption      TEXT NOT NULL DEFAULT '',
    focal_x      DOUBLE PRECISION,
    focal_y      DOUBLE PRECISION,
    blob_key     TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    variants     TEXT NOT NULL DEFAULT '',
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX media_workspace ON media (workspace_id, id);

INSERT INTO role_permissions (role, object, action) VALUES
    ('editor', 'media', 'read'),
    ('editor', 'media', 'write'),
    ('admin', 'media', 'read'),
    ('admin', 'media', 'write'),
    ('owner', 'media', 'read'),
    ('owner', 'media', 'write');

-- An entry's cover image from the library. Deleting the media (forced,
-- when a published entry uses it) leaves the entry without a cover.
ALTER TABLE entries ADD COLUMN cover_media_id TEXT REFERENCES media (id) ON DELETE SET NULL;

-- +goose Down
ALTER TABLE entries DROP COLUMN cover_media_id;
DELETE FROM role_permissions WHERE object = 'media';
DROP TABLE media;
