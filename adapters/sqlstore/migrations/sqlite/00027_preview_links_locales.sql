-- +goose Up
-- Preview links (domain.PreviewLink): whoever holds the token reads the
-- entry's current state, draft or not, through the public API until the
-- link expires or is revoked. Only the token's SHA-256 is stored.
CREATE TABLE preview_links (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    entry_id     TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    token_hash   BLOB NOT NULL UNIQUE,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP
);
CREATE INDEX preview_links_entry_id ON preview_links (entry_id, id);

-- An entry's language (a BCP 47 tag, '' for none) and its translation
-- group: the entries that translate each other share one, the ID of the
-- entry the first translation was made from. NULL is the entry's own
-- group, alone or as that first entry.
ALTER TABLE entries ADD COLUMN locale TEXT NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN translation_group TEXT;
CREATE INDEX entries_translation_group ON entries (workspace_id, translation_group);

-- A workspace's locales (domain.SiteLocales): its default locale and the
-- fallback chain of each locale, a JSON object of arrays, which the
-- public API follows when an entry has no translation in the locale asked
-- for. A workspace without a row has no default and implicit chains.
CREATE TABLE site_locales (
    workspace_id   TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    default_locale TEXT NOT NULL,
    fallbacks      TEXT NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE site_locales;
DROP INDEX entries_translation_group;
ALTER TABLE entries DROP COLUMN translation_group;
ALTER TABLE entries DROP COLUMN locale;
DROP TABLE preview_links;
