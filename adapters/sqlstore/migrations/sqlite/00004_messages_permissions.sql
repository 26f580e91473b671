-- +goose Up
-- Admins and owners read the mail outbox and retry its messages
-- (domain.PermMessagesRead, domain.PermMessagesWrite). No API key scope
-- grants these: the outbox holds every submitter's address.
INSERT INTO role_permissions (role, object, action) VALUES
    ('admin', 'messages', 'read'),
    ('admin', 'messages', 'write'),
    ('owner', 'messages', 'read'),
    ('owner', 'messages', 'write');

-- +goose Down
DELETE FROM role_permissions WHERE object = 'messages';
