-- +goose Up
-- The files a message carries, as a JSON array of {name, content_type,
-- size, key}: the blob store keys the dispatcher streams into the mail
-- when it sends it, never the bytes, so that a notification with large
-- attachments stays a small row. '' (and '[]') is a message without files.
ALTER TABLE outbox_messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE outbox_messages DROP COLUMN attachments;
