-- +goose Up
-- The sender (From) of a workspace's mail, such as "Acme <hello@acme.test>"
-- (domain.ParseMailFrom). '' sends from the instance's KEEL_MAIL_FROM, which
-- is what every workspace created before this column did.
ALTER TABLE workspaces ADD COLUMN mail_from TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE workspaces DROP COLUMN mail_from;
