package domain

import (
	"strings"
	"time"
)

// Two-factor errors. A wrong code and an unusable challenge are 401s like
// a wrong password; the enrolment states are conflicts.
var (
	// ErrSecondFactorRequired answers a right password for an account
	// with two-factor authentication on; the caller finishes the login
	// with the challenge it carries and a code.
	ErrSecondFactorRequired   = E(KindUnauthenticated, "second_factor_required", "Enter the code from your authenticator app, or a recovery code, to finish signing in.")
	ErrSecondFactorInvalid    = E(KindUnauthenticated, "invalid_second_factor", "The code is wrong, expired or was already used.")
	ErrLoginChallengeUnusable = E(KindUnauthenticated, "login_challenge_unusable",
		"This sign-in expired, was finished, or had too many wrong codes; sign in again with your password.")
	ErrTwoFactorEnabled     = E(KindConflict, "two_factor_enabled", "Two-factor authentication is already on; turn it off first to enrol again.")
	ErrTwoFactorNotEnabled  = E(KindConflict, "two_factor_not_enabled", "Two-factor authentication is off.")
	ErrTwoFactorNotStarted  = E(KindConflict, "two_factor_not_started", "Start the enrolment first: no secret is waiting for confirmation.")
	ErrTwoFactorUnavailable = E(KindUnavailable, "two_factor_unavailable", "Two-factor authentication needs a secret key (KEEL_SECRET_KEY) on the server.")
)

// KindTwoFactorLockout is the outbox kind of the mail that tells a user
// that wrong two-factor codes paused code entry for their account.
const KindTwoFactorLockout = "two_factor_lockout"

// RecoveryCodeCount is how many recovery codes an enrolment or a
// regeneration gives.
const RecoveryCodeCount = 10

// NewRecoveryCodes returns RecoveryCodeCount new recovery codes, each 80
// random bits shown as four groups of four base32 letters and digits, and
// their hashes to store. 80 bits make a fast hash enough.
func NewRecoveryCodes() (codes []string, hashes [][]byte) {
	for range RecoveryCodeCount {
		raw := strings.ToLower(totpEncoding.EncodeToString(NewTOTPSecret()[:10]))
		code := raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
		codes = append(codes, code)
		hashes = append(hashes, HashRecoveryCode(code))
	}
	return codes, hashes
}

// HashRecoveryCode hashes a recovery code as typed: case, spaces and
// dashes do not matter.
func HashRecoveryCode(code string) []byte {
	code = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	return HashSecret("recovery:" + code)
}

// TwoFactor is a user's TOTP enrolment: pending until confirmed with a
// code, then on. The secret is stored sealed (SecretSealer); the recovery
// codes only hashed, and a used one is dropped.
type TwoFactor struct {
	user      UserID
	sealed    []byte
	createdAt time.Time
	enabledAt *time.Time
	lastStep  int64
	recovery  [][]byte
}

// NewTwoFactor starts an enrolment of u with a sealed secret.
func NewTwoFactor(u UserID, sealed []byte, now time.Time) TwoFactor {
	return TwoFactor{user: u, sealed: sealed, createdAt: Timestamp(now)}
}

// RehydrateTwoFactor rebuilds a stored enrolment, its times in UTC.
func RehydrateTwoFactor(u UserID, sealed []byte, createdAt time.Time, enabledAt *time.Time, lastStep int64, recovery [][]byte) TwoFactor {
	return TwoFactor{u, sealed, createdAt.UTC(), utcPtr(enabledAt), lastStep, recovery}
}

func (t TwoFactor) User() UserID          { return t.user }
func (t TwoFactor) SealedSecret() []byte  { return t.sealed }
func (t TwoFactor) CreatedAt() time.Time  { return t.createdAt }
func (t TwoFactor) EnabledAt() *time.Time { return t.enabledAt }
func (t TwoFactor) LastStep() int64       { return t.lastStep }
func (t TwoFactor) RecoveryHashes() [][]byte {
	return t.recovery
}

// Enabled reports whether the enrolment was confirmed: logins need a code.
func (t TwoFactor) Enabled() bool { return t.enabledAt != nil }

// RecoveryCodesLeft is how many unused recovery codes remain.
func (t TwoFactor) RecoveryCodesLeft() int { return len(t.recovery) }

// Confirm turns two-factor authentication on at now, with the step of the
// code that confirmed it and the recovery codes' hashes.
func (t *TwoFactor) Confirm(step int64, recovery [][]byte, now time.Time) error {
	if t.Enabled() {
		return ErrTwoFactorEnabled
	}
	at := Timestamp(now)
	t.enabledAt, t.lastStep, t.recovery = &at, step, recovery
	return nil
}

// UseStep records that the code of step was used, so that it and every
// earlier one are refused from now on.
func (t *TwoFactor) UseStep(step int64) error {
	if step <= t.lastStep {
		return ErrSecondFactorInvalid
	}
	t.lastStep = step
	return nil
}

// UseRecoveryCode spends the recovery code; ErrSecondFactorInvalid when it
// is not one of the unused codes.
func (t *TwoFactor) UseRecoveryCode(code string) error {
	h := HashRecoveryCode(code)
	for i, r := range t.recovery {
		if SameHash(r, h) {
			t.recovery = append(t.recovery[:i:i], t.recovery[i+1:]...)
			return nil
		}
	}
	return ErrSecondFactorInvalid
}

// SetRecoveryCodes replaces every recovery code.
func (t *TwoFactor) SetRecoveryCodes(hashes [][]byte) { t.recovery = hashes }

// LoginChallengeID identifies a login challenge.
type LoginChallengeID string

func (id LoginChallengeID) String() string { return string(id) }

// PrefixLoginChallenge starts every login challenge's ID.
const PrefixLoginChallenge = "lch"

// A login challenge lives LoginChallengeTTL and takes at most
// LoginChallengeMaxAttempts wrong codes.
const (
	LoginChallengeTTL         = 5 * time.Minute
	LoginChallengeMaxAttempts = 5
)

const loginChallengeTokenPrefix = "klc_"

// NewLoginChallengeToken returns a new challenge token, 256 random bits,
// and the hash to store.
func NewLoginChallengeToken() (token string, hash []byte) {
	token = loginChallengeTokenPrefix + randomToken(32)
	return token, HashSecret(token)
}

// IsLoginChallengeToken reports whether s looks like a challenge token.
func IsLoginChallengeToken(s string) bool {
	return strings.HasPrefix(s, loginChallengeTokenPrefix) && len(s) == len(loginChallengeTokenPrefix)+52
}

// LoginChallenge is the half-finished login of an account with two-factor
// authentication: its password was right, and a code finishes it once,
// within LoginChallengeTTL and LoginChallengeMaxAttempts wrong codes.
type LoginChallenge struct {
	id        LoginChallengeID
	user      UserID
	tokenHash []byte
	createdAt time.Time
	expiresAt time.Time
	attempts  int
	usedAt    *time.Time
}

// NewLoginChallenge starts a challenge for u at now.
func NewLoginChallenge(u UserID, tokenHash []byte, now time.Time) LoginChallenge {
	now = Timestamp(now)
	return LoginChallenge{id: LoginChallengeID(NewID(PrefixLoginChallenge, now)), user: u, tokenHash: tokenHash, createdAt: now, expiresAt: now.Add(LoginChallengeTTL)}
}

// RehydrateLoginChallenge rebuilds a stored challenge, its times in UTC.
func RehydrateLoginChallenge(id LoginChallengeID, u UserID, tokenHash []byte, createdAt, expiresAt time.Time, attempts int, usedAt *time.Time) LoginChallenge {
	return LoginChallenge{id, u, tokenHash, createdAt.UTC(), expiresAt.UTC(), attempts, utcPtr(usedAt)}
}

func (c LoginChallenge) ID() LoginChallengeID { return c.id }
func (c LoginChallenge) User() UserID         { return c.user }
func (c LoginChallenge) TokenHash() []byte    { return c.tokenHash }
func (c LoginChallenge) CreatedAt() time.Time { return c.createdAt }
func (c LoginChallenge) ExpiresAt() time.Time { return c.expiresAt }
func (c LoginChallenge) Attempts() int        { return c.attempts }
func (c LoginChallenge) UsedAt() *time.Time   { return c.usedAt }

// Usable reports whether a code may still finish the challenge at now.
func (c LoginChallenge) Usable(now time.Time) bool {
	return c.usedAt == nil && now.Before(c.expiresAt) && c.attempts < LoginChallengeMaxAttempts
}

// Fail counts a wrong code.
func (c *LoginChallenge) Fail() { c.attempts++ }

// Use finishes the challenge; ErrLoginChallengeUnusable when it is not
// usable.
func (c *LoginChallenge) Use(now time.Time) error {
	if !c.Usable(now) {
		return ErrLoginChallengeUnusable
	}
	at := Timestamp(now)
	c.usedAt = &at
	return nil
}
