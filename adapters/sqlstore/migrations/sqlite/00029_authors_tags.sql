-- +goose Up
-- Authors: each member's public profile per workspace (domain.Author),
-- which the public API shows on posts instead of a user ID. The members
-- who wrote entries before this migration get one now, named after their
-- account and with their user ID in lower case as slug (unique, and
-- valid, but meant to be edited); later members get theirs, with a slug
-- from their name, when they first write an entry.
CREATE TABLE authors (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    slug         TEXT NOT NULL,
    name         TEXT NOT NULL,
    bio          TEXT NOT NULL DEFAULT '',
    avatar_url   TEXT NOT NULL DEFAULT '',
    website_url  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, user_id),
    UNIQUE (workspace_id, slug)
);
INSERT INTO authors (workspace_id, user_id, slug, name, created_at, updated_at)
SELECT e.workspace_id, e.author_id, lower(substr(e.author_id, 5)), coalesce(max(nullif(trim(u.name), '')), 'Author'),
       min(e.created_at), min(e.created_at)
FROM entries e LEFT JOIN users u ON u.id = e.author_id
GROUP BY e.workspace_id, e.author_id;

-- Tags: a name as typed, a slug (domain.TagSlug: the name in lower case,
-- spaces and slashes made hyphens) and a description. Stored tags were
-- lower-cased on save, so their names stay in lower case until an editor
-- renames them. entry_tags.tag becomes the slug, which the tag filter
-- matches; an entry that had two tags with one slug ("a b", "a-b") keeps
-- the row once. No tag is lost: each becomes, or joins, the tag of its
-- slug.
CREATE TABLE tags (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    slug         TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_id, slug)
);
INSERT INTO tags (workspace_id, slug, name)
SELECT workspace_id, replace(replace(tag, ' ', '-'), '/', '-'), min(tag)
FROM entry_tags GROUP BY workspace_id, replace(replace(tag, ' ', '-'), '/', '-');
DELETE FROM entry_tags WHERE EXISTS (
    SELECT 1 FROM entry_tags o WHERE o.entry_id = entry_tags.entry_id AND o.tag < entry_tags.tag
        AND replace(replace(o.tag, ' ', '-'), '/', '-') = replace(replace(entry_tags.tag, ' ', '-'), '/', '-'));
UPDATE entry_tags SET tag = replace(replace(tag, ' ', '-'), '/', '-') WHERE tag <> replace(replace(tag, ' ', '-'), '/', '-');

-- Pages: the navigation order the public list of pages follows.
ALTER TABLE entries ADD COLUMN nav_order INTEGER NOT NULL DEFAULT 0;
CREATE INDEX entries_nav ON entries (workspace_id, kind, status, nav_order, slug);
-- An author's published posts, newest first.
CREATE INDEX entries_author ON entries (workspace_id, author_id, kind, status, published_at DESC, id DESC);

-- +goose Down
DROP INDEX entries_author;
DROP INDEX entries_nav;
ALTER TABLE entries DROP COLUMN nav_order;
DROP TABLE tags;
DROP TABLE authors;
