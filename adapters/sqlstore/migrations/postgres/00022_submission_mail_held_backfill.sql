-- +goose Up
-- Migration 00020 counted spam stored before it as held back (mail_held:
-- marking it not spam queues its notification and autoresponse) when none
-- of its mail was in the outbox. That is also true of a submission a
-- person filed as spam after it arrived, if its form mailed nobody then:
-- marking it not spam would mail the form's current recipients, perhaps
-- months later. The spam filter stores a submission with updated_at equal
-- to created_at, and only a change of status moves updated_at, so spam
-- whose updated_at is later than its created_at was filed by a person and
-- its mail, if any, went out on arrival: it holds none. What the schema
-- cannot tell apart is spam the filter caught and a person filed as spam
-- again later; it loses its held mail too, which errs towards sending no
-- stale mail rather than towards sending it.
UPDATE submissions SET mail_held = FALSE WHERE status = 'spam' AND mail_held AND updated_at > created_at;

-- +goose Down
-- Which rows this changed is not recorded, and holding their mail again
-- would bring back the stale notifications it prevents.
SELECT 1;
