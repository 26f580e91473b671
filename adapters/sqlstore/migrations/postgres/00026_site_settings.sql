-- +goose Up
-- A workspace's website: the absolute URL its pages are served on and the
-- permalink patterns of its posts and pages (domain.SiteSettings), which
-- the feed, the sitemap and the public API's url field build links with.
-- A workspace without a row has the defaults: no site URL, so links point
-- at the API.
CREATE TABLE site_settings (
    workspace_id   TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    site_url       TEXT NOT NULL,
    post_permalink TEXT NOT NULL,
    page_permalink TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE site_settings;
