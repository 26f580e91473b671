-- +goose Up
-- A workspace's own request quotas per minute, for each of its API keys
-- and for each signed-in user working in it (domain.RateLimits); 0 uses
-- the instance's defaults (KEEL_RATE_LIMIT_API_KEY, KEEL_RATE_LIMIT_SESSION).
ALTER TABLE workspaces ADD COLUMN rate_limit_api_key INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN rate_limit_session INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE workspaces DROP COLUMN rate_limit_session;
ALTER TABLE workspaces DROP COLUMN rate_limit_api_key;
