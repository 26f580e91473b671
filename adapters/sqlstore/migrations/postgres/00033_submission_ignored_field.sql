-- +goose Up
-- The one name a browser form post carried that the form does not define,
-- taken to be its submit button's (<button name="send" value="Send">) and
-- left out of the values; '' when there was none. Keeping the name shows a
-- site's author a misspelt field (emial) that would otherwise lose its
-- value unnoticed.
ALTER TABLE submissions ADD COLUMN ignored_field TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE submissions DROP COLUMN ignored_field;
