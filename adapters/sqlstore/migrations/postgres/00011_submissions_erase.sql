-- +goose Up
-- Admins and owners erase a person's submissions and unsent mail across
-- every form of a workspace (domain.PermSubmissionsErase). Erasure used
-- to need members:write, so a key made to manage members could erase
-- data; it now has a permission, and an API key scope, of its own.
INSERT INTO role_permissions (role, object, action) VALUES
    ('admin', 'submissions', 'erase'),
    ('owner', 'submissions', 'erase');

-- +goose Down
DELETE FROM role_permissions WHERE object = 'submissions' AND action = 'erase';
