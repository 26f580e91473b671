-- +goose Up
-- The browser origins whose scripts may read a workspace's public content
-- API, as a JSON array (domain.ParsePublicOrigins). ["*"], any origin, is
-- the default: published content is public by definition.
ALTER TABLE workspaces ADD COLUMN public_origins TEXT NOT NULL DEFAULT '["*"]';

-- +goose Down
ALTER TABLE workspaces DROP COLUMN public_origins;
