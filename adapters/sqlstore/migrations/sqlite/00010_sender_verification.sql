-- +goose Up
-- Instance administrators allow some users to create workspaces
-- (KEEL_WORKSPACE_CREATORS=admins, the default).
ALTER TABLE users ADD COLUMN can_create_workspaces BOOLEAN NOT NULL DEFAULT FALSE;

-- A workspace's own sender is used only once verified (domain.SenderStatus):
-- on a domain the instance allows, or confirmed with the code mailed to it,
-- of which only the hash is kept. Senders set before verification existed
-- are 'unverified': their mail goes from the instance's sender until an
-- administrator sets the address again.
ALTER TABLE workspaces ADD COLUMN mail_from_status TEXT NOT NULL DEFAULT 'none'
    CHECK (mail_from_status IN ('none', 'unverified', 'pending', 'verified'));
UPDATE workspaces SET mail_from_status = 'unverified' WHERE mail_from <> '';
ALTER TABLE workspaces ADD COLUMN mail_from_code_hash BLOB;
ALTER TABLE workspaces ADD COLUMN mail_from_code_sent_at TIMESTAMP;

-- +goose Down
ALTER TABLE workspaces DROP COLUMN mail_from_code_sent_at;
ALTER TABLE workspaces DROP COLUMN mail_from_code_hash;
ALTER TABLE workspaces DROP COLUMN mail_from_status;
ALTER TABLE users DROP COLUMN can_create_workspaces;
