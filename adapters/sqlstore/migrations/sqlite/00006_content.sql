-- +goose Up
-- Posts and pages. seq is the rowid, named so that VACUUM keeps it: the
-- full-text index refers to rows by it. tags is a JSON array in the
-- editor's order; entry_tags repeats each tag as a row so that the tag
-- filter is an index lookup. search_text is domain.SearchText: the entry's
-- words, already lower-cased and stripped of accents in Go, one space
-- between two, so that SQLite, PostgreSQL and the in-memory fake all
-- search the same words. author_id has no foreign key: users are never
-- deleted, and an entry outlives its author's account being disabled.
CREATE TABLE entries (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('post', 'page')),
    slug            TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    excerpt         TEXT NOT NULL,
    tags            TEXT NOT NULL,
    cover_image_url TEXT NOT NULL,
    seo_title       TEXT NOT NULL,
    seo_description TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('draft', 'scheduled', 'published', 'archived')),
    publish_at      TIMESTAMP,
    published_at    TIMESTAMP,
    author_id       TEXT NOT NULL,
    search_text     TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    UNIQUE (workspace_id, kind, slug)
);
-- The public listing, newest published first, and its cursor.
CREATE INDEX entries_published ON entries (workspace_id, kind, status, published_at DESC, id DESC);
-- The management listing, newest created first (IDs are time-ordered).
CREATE INDEX entries_workspace_id ON entries (workspace_id, id);
-- The scheduler's poll for due entries.
CREATE INDEX entries_due ON entries (publish_at) WHERE status = 'scheduled';

CREATE TABLE entry_tags (
    entry_id     TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    tag          TEXT NOT NULL,
    PRIMARY KEY (entry_id, tag)
);
CREATE INDEX entry_tags_tag ON entry_tags (workspace_id, tag, entry_id);

-- The full-text index of entries.search_text, an external-content FTS5
-- table kept in step by the triggers below, which also run when a
-- workspace's deletion cascades to its entries. The ascii tokenizer
-- splits at spaces and ASCII punctuation only: search_text holds nothing
-- else between words, so SQLite sees exactly the words Go made, where
-- unicode61 would fold some letters again and split at others that its
-- Unicode 6.1 tables do not know, and find what PostgreSQL does not.
CREATE VIRTUAL TABLE entries_fts USING fts5 (
    search_text,
    content = 'entries',
    content_rowid = 'seq',
    tokenize = 'ascii'
);
-- +goose StatementBegin
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER entries_fts_update AFTER UPDATE OF search_text ON entries
WHEN old.search_text <> new.search_text BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO entries_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
-- +goose StatementEnd

-- Every save of an entry: content is a JSON object of the fields an editor
-- writes (title, slug, body, excerpt, tags, cover image, SEO).
CREATE TABLE entry_revisions (
    entry_id     TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    version      INTEGER NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    at           TIMESTAMP NOT NULL,
    content      TEXT NOT NULL,
    PRIMARY KEY (entry_id, version)
);

-- Domain events, written in the transaction of the change they report,
-- for the webhooks dispatcher to deliver. data is the event's JSON object,
-- kept as the bytes given. status starts 'pending'; the dispatcher will
-- define the states after it.
CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX events_workspace_id ON events (workspace_id, id);
CREATE INDEX events_due ON events (status, created_at);

-- +goose Down
DROP TABLE events;
DROP TABLE entry_revisions;
DROP TRIGGER entries_fts_update;
DROP TRIGGER entries_fts_delete;
DROP TRIGGER entries_fts_insert;
DROP TABLE entries_fts;
DROP TABLE entry_tags;
DROP TABLE entries;
