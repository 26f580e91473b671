-- +goose Up
-- mail_held marks a submission the spam filter caught on arrival, whose
-- notification and autoresponse were never queued: marking it not spam
-- queues them then, once. A submission filed as spam later had its mail
-- queued already and keeps mail_held false. Spam stored before this
-- column existed counts as held when none of its mail is queued.
ALTER TABLE submissions ADD COLUMN mail_held BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE submissions SET mail_held = TRUE WHERE status = 'spam'
    AND NOT EXISTS (SELECT 1 FROM outbox_messages m WHERE m.submission_id = submissions.id);

-- A workspace's newest submissions across its forms (the console's
-- overview) and its unsent mail by status (the mail queue's health) are
-- each one range of an index. Every submission pays for these indexes on
-- the ingest path, so the first replaces the index on workspace_id alone,
-- whose every query it serves, and the second holds only unsent mail:
-- a message leaves it when it is sent, and the sent ones, nearly all,
-- are never in it.
CREATE INDEX submissions_workspace_created ON submissions (workspace_id, created_at);
DROP INDEX submissions_workspace_id;
CREATE INDEX outbox_messages_workspace_status ON outbox_messages (workspace_id, status, created_at)
    WHERE status IN ('pending', 'failed', 'dead');

-- +goose Down
DROP INDEX outbox_messages_workspace_status;
CREATE INDEX submissions_workspace_id ON submissions (workspace_id);
DROP INDEX submissions_workspace_created;
ALTER TABLE submissions DROP COLUMN mail_held;
