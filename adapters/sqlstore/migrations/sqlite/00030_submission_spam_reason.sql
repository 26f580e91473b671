-- +goose Up
-- Why a submission is spam: spam_reason is honeypot, links or timing for
-- the spam filter's verdict on arrival, manual for a person who filed it
-- as spam, and '' for a submission that is not spam and for spam stored
-- before the reason was kept. spam_detail says more where there is more
-- to say, such as the link count and the form's limit.
ALTER TABLE submissions ADD COLUMN spam_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN spam_detail TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE submissions DROP COLUMN spam_detail;
ALTER TABLE submissions DROP COLUMN spam_reason;
