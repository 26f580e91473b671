-- +goose Up
-- entry_search_vector indexes the words of entries.search_text exactly as
-- Go wrote them, each with its position for ts_rank. to_tsvector would run
-- them through the text search parser, whose idea of a letter comes from
-- the database's locale (C.UTF-8 drops '½' and '²', which Go keeps in
-- words), and through a dictionary, which may stem: PostgreSQL would then
-- find other entries than SQLite. The words hold letters, digits and marks
-- only, so quoting them needs no escaping. A tsvector records positions up
-- to 16383 and 256 of them per word; it drops the rest, and ranking needs
-- no more.
-- +goose StatementBegin
CREATE FUNCTION entry_search_vector(words TEXT) RETURNS TSVECTOR
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN coalesce((
    SELECT string_agg('''' || w || ''':' || least(i, 16383), ' ')
    FROM unnest(string_to_array(words, ' ')) WITH ORDINALITY AS t (w, i)
    WHERE w <> ''
)::tsvector, ''::tsvector);
-- +goose StatementEnd

-- Posts and pages. tags is a JSON array in the editor's order; entry_tags
-- repeats each tag as a row so that the tag filter is an index lookup.
-- search_text is domain.SearchText: the entry's words, already lower-cased
-- and stripped of accents in Go, one space between two, so that SQLite,
-- PostgreSQL and the in-memory fake all search the same words. author_id
-- has no foreign key: users are never deleted, and an entry outlives its
-- author's account being disabled.
CREATE TABLE entries (
    id              TEXT PRIMARY KEY,
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
    publish_at      TIMESTAMPTZ,
    published_at    TIMESTAMPTZ,
    author_id       TEXT NOT NULL,
    search_text     TEXT NOT NULL,
    search_vector   TSVECTOR NOT NULL GENERATED ALWAYS AS (entry_search_vector(search_text)) STORED,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    UNIQUE (workspace_id, kind, slug)
);
-- The public listing, newest published first, and its cursor.
CREATE INDEX entries_published ON entries (workspace_id, kind, status, published_at DESC, id DESC);
-- The management listing, newest created first (IDs are time-ordered).
CREATE INDEX entries_workspace_id ON entries (workspace_id, id);
-- The scheduler's poll for due entries.
CREATE INDEX entries_due ON entries (publish_at) WHERE status = 'scheduled';
-- Full-text search, prefix queries included.
CREATE INDEX entries_search ON entries USING GIN (search_vector);

CREATE TABLE entry_tags (
    entry_id     TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    tag          TEXT NOT NULL,
    PRIMARY KEY (entry_id, tag)
);
CREATE INDEX entry_tags_tag ON entry_tags (workspace_id, tag, entry_id);

-- Every save of an entry: content is a JSON object of the fields an editor
-- writes (title, slug, body, excerpt, tags, cover image, SEO).
CREATE TABLE entry_revisions (
    entry_id     TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    version      INTEGER NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
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
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_workspace_id ON events (workspace_id, id);
CREATE INDEX events_due ON events (status, created_at);

-- +goose Down
DROP TABLE events;
DROP TABLE entry_revisions;
DROP TABLE entry_tags;
DROP TABLE entries;
DROP FUNCTION entry_search_vector;
