-- +goose Up
-- Two-factor enrolments (domain.TwoFactor), one per user: the TOTP secret
-- sealed with KEEL_SECRET_KEY, never in clear; enabled_at is NULL while
-- the enrolment waits for its first code; last_step is the time step of
-- the last code used, so that no code works twice; recovery_hashes holds
-- the unused recovery codes' SHA-256 hashes, 32 bytes each, end to end.
CREATE TABLE two_factor (
    user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed   BLOB NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    enabled_at      TIMESTAMP,
    last_step       INTEGER NOT NULL,
    recovery_hashes BLOB NOT NULL
);

-- Login challenges (domain.LoginChallenge): a right password's half of a
-- login that waits for a code; only the token's SHA-256 is stored.
CREATE TABLE login_challenges (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    attempts   INTEGER NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX login_challenges_user_id ON login_challenges (user_id);

-- +goose Down
DROP TABLE login_challenges;
DROP TABLE two_factor;
