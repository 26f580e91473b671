-- +goose Up
-- Admins and owners import archives (domain.PermContentImport): they may
-- publish an entry with a date in the past, which rewrites the site's
-- history, so editors cannot.
INSERT INTO role_permissions (role, object, action) VALUES
    ('admin', 'content', 'import'),
    ('owner', 'content', 'import');

-- The entry each imported item became, by the item's stable ID in its
-- source ("ghost:<post id>", "wordpress:<guid>"), so that importing the
-- same export again finds it and changes nothing. Deleting the entry
-- deletes the row, and a later import brings the item back.
CREATE TABLE entry_sources (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    entry_id     TEXT NOT NULL UNIQUE REFERENCES entries (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, source)
);

-- +goose Down
DROP TABLE entry_sources;
DELETE FROM role_permissions WHERE object = 'content' AND action = 'import';
