package identity_test

import (
	"context"
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// newTwoFactorFixture is a fixture whose service has a secret key.
func newTwoFactorFixture(t *testing.T) fixture {
	t.Helper()
	sealer, err := domain.NewSecretSealer(strings.Repeat("s", domain.MinSecretKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, identity.Config{Sealer: sealer})
}

// code is what an authenticator app, pquerna/otp's, shows for secret at
// the fixture's time plus skew.
func (f fixture) code(t *testing.T, secret string, skew time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now().Add(skew))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// twoFactorAudit returns how often each two-factor or login action is in
// the instance's audit log.
func (f fixture) twoFactorAudit(t *testing.T) map[string]int {
	t.Helper()
	got := map[string]int{}
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		es, _, err := st.Audit().List(ctx, "", ports.Page{Limit: ports.MaxPageLimit})
		for _, e := range es {
			if a := e.Action; strings.HasPrefix(a, "two_factor.") || strings.HasPrefix(a, "login.") {
				got[a]++
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// enrol turns two-factor authentication on for p and returns the secret
// and the recovery codes.
func (f fixture) enrol(t *testing.T, p domain.Principal) (string, []string) {
	t.Helper()
	e, err := f.svc.StartTwoFactor(t.Context(), p, password)
	if err != nil {
		t.Fatalf("StartTwoFactor: %v", err)
	}
	codes, err := f.svc.ConfirmTwoFactor(t.Context(), p, f.code(t, e.Secret, 0))
	if err != nil {
		t.Fatalf("ConfirmTwoFactor: %v", err)
	}
	return e.Secret, codes
}

func login(f fixture, t *testing.T, pw string) (identity.LoginResult, error) {
	return f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: pw})
}

// Enrolment needs a right code; then the password alone gets a challenge,
// which a code finishes once, and a code works once.
func TestTwoFactorLogin(t *testing.T) {
	t.Parallel()
	f := newTwoFactorFixture(t)
	_, admin := f.setup(t)
	e, err := f.svc.StartTwoFactor(t.Context(), admin, password)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/Keel:ada@example.com?") || !strings.Contains(e.URI, "secret="+e.Secret) {
		t.Fatalf("URI = %s", e.URI)
	}
	if res, err := login(f, t, password); err != nil || res.Token == "" {
		t.Fatalf("login with a pending enrolment = %v, want a session", err)
	}
	if _, err := f.svc.ConfirmTwoFactor(t.Context(), admin, f.code(t, e.Secret, -2*domain.TOTPPeriod)); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("confirm with a stale code = %v, want invalid", err)
	}
	confirming := f.code(t, e.Secret, 0)
	recovery, err := f.svc.ConfirmTwoFactor(t.Context(), admin, confirming)
	if err != nil || len(recovery) != domain.RecoveryCodeCount {
		t.Fatalf("ConfirmTwoFactor = %v, %v", recovery, err)
	}
	if st, err := f.svc.TwoFactorStatus(t.Context(), admin); err != nil || !st.Enabled || st.RecoveryCodesLeft != 10 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if _, err := f.svc.StartTwoFactor(t.Context(), admin, password); !errors.Is(err, domain.ErrTwoFactorEnabled) {
		t.Fatalf("start while on = %v, want two_factor_enabled", err)
	}

	// A wrong password says nothing about two-factor authentication.
	if _, err := login(f, t, "wrong password!"); !errors.Is(err, domain.ErrInvalidCreds) {
		t.Fatalf("wrong password = %v, want invalid_credentials", err)
	}
	res, err := login(f, t, password)
	if !errors.Is(err, domain.ErrSecondFactorRequired) || !domain.IsLoginChallengeToken(res.Challenge) || res.Token != "" || !res.ChallengeExpiresAt.Equal(f.clock.Now().Add(5*time.Minute)) {
		t.Fatalf("right password = %+v, %v; want a challenge", res, err)
	}
	complete := func(challenge, code, rc string) (identity.LoginResult, error) {
		return f.svc.CompleteSecondFactor(t.Context(), anon, identity.SecondFactorInput{Challenge: challenge, Code: code, RecoveryCode: rc})
	}
	// The code that confirmed the enrolment was used.
	if _, err := complete(res.Challenge, confirming, ""); !errors.Is(err, domain.ErrSecondFactorInvalid) {
		t.Fatalf("the confirming code again = %v, want invalid_second_factor", err)
	}
	f.clock.Add(domain.TOTPPeriod)
	code := f.code(t, e.Secret, 0)
	done, err := complete(res.Challenge, code, "")
	if err != nil || done.Token == "" {
		t.Fatalf("right code = %v", err)
	}
	f.auth(t, done.Token)
	if _, err := complete(res.Challenge, f.code(t, e.Secret, domain.TOTPPeriod), ""); !errors.Is(err, domain.ErrLoginChallengeUnusable) {
		t.Fatalf("a used challenge = %v, want login_challenge_unusable", err)
	}
	// A used code is refused on a new challenge too.
	res, _ = login(f, t, password)
	if _, err := complete(res.Challenge, code, ""); !errors.Is(err, domain.ErrSecondFactorInvalid) {
		t.Fatalf("a used code = %v, want invalid_second_factor", err)
	}
	// A recovery code works once.
	if done, err := complete(res.Challenge, "", strings.ToUpper(recovery[0])); err != nil || done.Token == "" {
		t.Fatalf("recovery code = %v", err)
	}
	res, _ = login(f, t, password)
	if _, err := complete(res.Challenge, "", recovery[0]); !errors.Is(err, domain.ErrSecondFactorInvalid) {
		t.Fatalf("a used recovery code = %v, want invalid_second_factor", err)
	}
	if st, _ := f.svc.TwoFactorStatus(t.Context(), admin); st.RecoveryCodesLeft != 9 {
		t.Fatalf("recovery codes left = %d, want 9", st.RecoveryCodesLeft)
	}
	// The challenge expires.
	f.clock.Add(domain.LoginChallengeTTL)
	if _, err := complete(res.Challenge, f.code(t, e.Secret, 0), ""); !errors.Is(err, domain.ErrLoginChallengeUnusable) {
		t.Fatalf("an expired challenge = %v, want login_challenge_unusable", err)
	}
	if _, err := complete("klc_nonsense", "123456", ""); !errors.Is(err, domain.ErrLoginChallengeUnusable) {
		t.Fatalf("a malformed challenge = %v, want login_challenge_unusable", err)
	}
	got := f.twoFactorAudit(t)
	if got["two_factor.enrolment_started"] != 1 || got["two_factor.enabled"] != 1 || got["two_factor.recovery_code_used"] != 1 || got["login.second_factor_required"] != 3 {
		t.Fatalf("audit = %v", got)
	}
}

// wrongCode returns a code that the authenticator app of secret does not
// show within a step of the fixture's time, so that it never matches.
func (f fixture) wrongCode(t *testing.T, secret string) string {
	t.Helper()
	near := map[string]bool{}
	for _, skew := range []time.Duration{-domain.TOTPPeriod, 0, domain.TOTPPeriod} {
		near[f.code(t, secret, skew)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !near[c] {
			return c
		}
	}
	panic("unreachable: three steps show at most three codes")
}

// complete finishes a login's challenge with a code or a recovery code.
func (f fixture) complete(t *testing.T, challenge, code, recovery string) (identity.LoginResult, error) {
	t.Helper()
	return f.svc.CompleteSecondFactor(t.Context(), anon, identity.SecondFactorInput{Challenge: challenge, Code: code, RecoveryCode: recovery})
}

// lockoutMails returns the recipients of the queued two-factor lockout
// mails.
func (f fixture) lockoutMails(t *testing.T) []string {
	t.Helper()
	var to []string
	for _, m := range f.accountMails(t) {
		if m.Kind == domain.KindTwoFactorLockout {
			to = append(to, m.To)
		}
	}
	return to
}

// rateLimited returns err's wait when it is domain.ErrRateLimited.
func rateLimited(err error) (time.Duration, bool) {
	var de *domain.Error
	if errors.As(err, &de) && errors.Is(err, domain.ErrRateLimited) {
		return de.RetryAfter, true
	}
	return 0, false
}

// A challenge takes five wrong codes; wrong codes, recovery codes too,
// count toward the user's own ceiling, which a right password does not
// reset: the fifth in a row locks code entry, for right codes too, with
// growing waits, and mails the user once. A right code resets it.
func TestTwoFactorWrongCodesLockCodeEntry(t *testing.T) {
	t.Parallel()
	f := newTwoFactorFixture(t)
	_, admin := f.setup(t)
	secret, recovery := f.enrol(t, admin)
	f.clock.Add(domain.TOTPPeriod)
	res, _ := login(f, t, password)
	for i := range domain.LoginChallengeMaxAttempts - 1 {
		if _, err := f.complete(t, res.Challenge, f.wrongCode(t, secret), ""); !errors.Is(err, domain.ErrSecondFactorInvalid) {
			t.Fatalf("wrong code %d = %v, want invalid_second_factor", i+1, err)
		}
	}
	if got := f.lockoutMails(t); len(got) != 0 {
		t.Fatalf("lockout mails after four wrong codes = %v, want none", got)
	}
	if _, err := f.complete(t, res.Challenge, "", "AAAA-BBBB-CCCC-DDDD"); !errors.Is(err, domain.ErrSecondFactorInvalid) {
		t.Fatalf("a wrong recovery code = %v, want invalid_second_factor", err)
	}
	if _, err := f.complete(t, res.Challenge, f.code(t, secret, 0), ""); !errors.Is(err, domain.ErrLoginChallengeUnusable) {
		t.Fatalf("the right code after five wrong ones = %v, want login_challenge_unusable", err)
	}
	if got := f.lockoutMails(t); len(got) != 1 || got[0] != "ada@example.com" {
		t.Fatalf("lockout mails after five wrong codes = %v, want one to ada@example.com", got)
	}
	// The right password gets a new challenge, but codes wait, right ones
	// and recovery codes too.
	res, err := login(f, t, password)
	if !errors.Is(err, domain.ErrSecondFactorRequired) {
		t.Fatalf("login after five wrong codes = %v", err)
	}
	if wait, ok := rateLimited(func() error { _, err := f.complete(t, res.Challenge, f.code(t, secret, 0), ""); return err }()); !ok || wait != time.Minute {
		t.Fatalf("the right code while locked: wait %v, limited %v; want a minute", wait, ok)
	}
	if _, ok := rateLimited(func() error { _, err := f.complete(t, res.Challenge, "", recovery[0]); return err }()); !ok {
		t.Fatal("a recovery code while locked was not rate limited")
	}
	f.clock.Add(time.Minute)
	if _, err := f.complete(t, res.Challenge, f.wrongCode(t, secret), ""); !errors.Is(err, domain.ErrSecondFactorInvalid) {
		t.Fatalf("a wrong code after the wait = %v, want invalid_second_factor", err)
	}
	if wait, ok := rateLimited(func() error { _, err := f.complete(t, res.Challenge, f.code(t, secret, 0), ""); return err }()); !ok || wait != 2*time.Minute {
		t.Fatalf("after a sixth wrong code: wait %v, limited %v; want two minutes", wait, ok)
	}
	if got := f.auditActions(t)["two_factor.locked"]; got != 1 {
		t.Fatalf("two_factor.locked audited %d times in one lockout, want once", got)
	}
	f.clock.Add(2 * time.Minute)
	if _, err := f.complete(t, res.Challenge, f.code(t, secret, 0), ""); err != nil {
		t.Fatalf("the right code after the wait = %v", err)
	}
	// The right code forgot the failures and the notice: four wrong codes
	// are free again, the fifth locks and mails again.
	f.clock.Add(domain.TOTPPeriod)
	res, _ = login(f, t, password)
	for i := range 5 {
		if _, err := f.complete(t, res.Challenge, f.wrongCode(t, secret), ""); !errors.Is(err, domain.ErrSecondFactorInvalid) {
			t.Fatalf("wrong code %d after a right one = %v, want invalid_second_factor", i+1, err)
		}
	}
	if got := f.auditActions(t)["two_factor.locked"]; got != 2 {
		t.Fatalf("two_factor.locked audited %d times after a second lockout, want twice", got)
	}
}

// Codes that prove a change from a session count toward the same
// ceiling: a stolen session cannot guess its way to turning two-factor
// authentication off, nor around the login's lockout.
func TestTwoFactorWrongCodesOnChangesLockCodeEntry(t *testing.T) {
	t.Parallel()
	f := newTwoFactorFixture(t)
	_, admin := f.setup(t)
	secret, _ := f.enrol(t, admin)
	f.clock.Add(domain.TOTPPeriod)
	for i := range 5 {
		if err := f.svc.DisableTwoFactor(t.Context(), admin, identity.SecondFactorProof{Code: f.wrongCode(t, secret)}); domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("disable with wrong code %d = %v, want invalid", i+1, err)
		}
	}
	if err := f.svc.DisableTwoFactor(t.Context(), admin, identity.SecondFactorProof{Code: f.code(t, secret, 0)}); !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("disable with the right code while locked = %v, want rate_limited", err)
	}
	res, _ := login(f, t, password)
	if _, err := f.complete(t, res.Challenge, f.code(t, secret, 0), ""); !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("login's right code while locked = %v, want rate_limited", err)
	}
	if got := f.lockoutMails(t); len(got) != 1 {
		t.Fatalf("lockout mails = %v, want one", got)
	}
	f.clock.Add(time.Minute)
	if err := f.svc.DisableTwoFactor(t.Context(), admin, identity.SecondFactorProof{Code: f.code(t, secret, 0)}); err != nil {
		t.Fatalf("disable with the right code after the wait = %v", err)
	}
}

// A guesser who has the password and waits out every lockout gets far
// fewer than a hundred codes a day (README, "Security model"), and the
// owner one mail.
func TestTwoFactorGuessesPerDay(t *testing.T) {
	t.Parallel()
	f := newTwoFactorFixture(t)
	_, admin := f.setup(t)
	secret, _ := f.enrol(t, admin)
	end := f.clock.Now().Add(24 * time.Hour)
	guesses, challenge, attempts := 0, "", 0
	for f.clock.Now().Before(end) {
		if challenge == "" || attempts == domain.LoginChallengeMaxAttempts {
			res, err := login(f, t, password)
			if wait, ok := rateLimited(err); ok {
				f.clock.Add(wait)
				continue
			}
			if !errors.Is(err, domain.ErrSecondFactorRequired) {
				t.Fatalf("login = %v", err)
			}
			challenge, attempts = res.Challenge, 0
		}
		_, err := f.complete(t, challenge, f.wrongCode(t, secret), "")
		wait, limited := rateLimited(err)
		switch {
		case errors.Is(err, domain.ErrSecondFactorInvalid):
			guesses++
			attempts++
		case limited:
			f.clock.Add(wait)
		case errors.Is(err, domain.ErrLoginChallengeUnusable): // expired during a wait
			challenge = ""
		default:
			t.Fatalf("a wrong code = %v", err)
		}
		if guesses > 100 {
			t.Fatalf("more than 100 codes guessed by %s", f.clock.Now().Sub(end.Add(-24*time.Hour)))
		}
	}
	t.Logf("%d codes guessed in a day", guesses)
	if got := f.lockoutMails(t); len(got) != 1 {
		t.Fatalf("lockout mails in a day = %d, want one", len(got))
	}
}

// Turning off and regenerating need the password or a code; the secret is
// stored sealed.
func TestTwoFactorDisableAndRegenerate(t *testing.T) {
	t.Parallel()
	f := newTwoFactorFixture(t)
	_, admin := f.setup(t)
	secret, old := f.enrol(t, admin)
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		tf, err := st.TwoFactor().Get(ctx, admin.User())
		raw, _ := totpSecretBytes(secret)
		if err == nil && strings.Contains(string(tf.SealedSecret()), string(raw)) {
			t.Error("the stored secret holds the TOTP secret in clear")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RegenerateRecoveryCodes(t.Context(), admin, identity.SecondFactorProof{Password: "wrong password!"}); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("regenerate with a wrong password = %v, want invalid", err)
	}
	if _, err := f.svc.RegenerateRecoveryCodes(t.Context(), admin, identity.SecondFactorProof{}); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("regenerate without proof = %v, want invalid", err)
	}
	fresh, err := f.svc.RegenerateRecoveryCodes(t.Context(), admin, identity.SecondFactorProof{Password: password})
	if err != nil || len(fresh) != 10 {
		t.Fatalf("regenerate = %v, %v", fresh, err)
	}
	res, _ := login(f, t, password)
	if _, err := f.svc.CompleteSecondFactor(t.Context(), anon, identity.SecondFactorInput{Challenge: res.Challenge, RecoveryCode: old[1]}); !errors.Is(err, domain.ErrSecondFactorInvalid) {
		t.Fatalf("an old recovery code = %v, want invalid_second_factor", err)
	}
	// The confirming code was spent; the next one turns it off.
	if err := f.svc.DisableTwoFactor(t.Context(), admin, identity.SecondFactorProof{Code: f.code(t, secret, 0)}); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("disable with a used code = %v, want invalid", err)
	}
	f.clock.Add(domain.TOTPPeriod)
	if err := f.svc.DisableTwoFactor(t.Context(), admin, identity.SecondFactorProof{Code: f.code(t, secret, 0)}); err != nil {
		t.Fatalf("disable = %v", err)
	}
	if err := f.svc.DisableTwoFactor(t.Context(), admin, identity.SecondFactorProof{Password: password}); !errors.Is(err, domain.ErrTwoFactorNotEnabled) {
		t.Fatalf("disable twice = %v, want two_factor_not_enabled", err)
	}
	if res, err := login(f, t, password); err != nil || res.Token == "" {
		t.Fatalf("login after disable = %v, want a session", err)
	}
	got := f.twoFactorAudit(t)
	if got["two_factor.disabled"] != 1 || got["two_factor.recovery_codes_regenerated"] != 1 {
		t.Fatalf("audit = %v", got)
	}
}

// Enrolling needs the password, so that a stolen session cannot enrol an
// authenticator of its own; a wrong one is throttled and audited like a
// wrong current password. Turning it on ends the account's other
// sessions, as a password change does, and keeps the one that did.
func TestTwoFactorEnrolmentNeedsThePassword(t *testing.T) {
	t.Parallel()
	f := newTwoFactorFixture(t)
	_, admin := f.setup(t)
	other, err := login(f, t, password)
	if err != nil {
		t.Fatal(err)
	}
	fieldErr := func(err error) string {
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 || de.Fields[0].Field != "password" {
			return ""
		}
		return de.Fields[0].Code
	}
	if _, err := f.svc.StartTwoFactor(t.Context(), admin, ""); fieldErr(err) != "required" {
		t.Fatalf("start without a password = %v, want a required password", err)
	}
	if _, err := f.svc.StartTwoFactor(t.Context(), admin, "wrong password!"); fieldErr(err) != "wrong_password" {
		t.Fatalf("start with a wrong password = %v, want a wrong_password field error", err)
	}
	if st, _ := f.svc.TwoFactorStatus(t.Context(), admin); st.Pending {
		t.Fatal("a wrong password started an enrolment")
	}
	if got := f.auditActions(t); got["two_factor.enrolment_refused"] != 1 || got["two_factor.enrolment_started"] != 0 {
		t.Fatalf("audit = %v, want one refusal and no start", got)
	}
	// Wrong passwords here are failed logins: after five more in a row
	// the account waits, here and at sign-in.
	for range 5 {
		_, _ = f.svc.StartTwoFactor(t.Context(), admin, "wrong password!")
	}
	if _, err := f.svc.StartTwoFactor(t.Context(), admin, password); !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("start after six wrong passwords = %v, want rate_limited", err)
	}
	f.clock.Add(time.Minute)
	f.auth(t, other.Token) // cached: turning it on must forget it too
	f.enrol(t, admin)
	if _, err := f.svc.Authenticate(t.Context(), other.Token, client); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("a session open before enrolment = %v, want unauthenticated", err)
	}
	if _, err := f.svc.Me(t.Context(), admin); err != nil {
		t.Fatalf("the session that enrolled: %v", err)
	}
}

// Without a secret key nobody can enrol.
func TestTwoFactorNeedsASecretKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.setup(t)
	if _, err := f.svc.StartTwoFactor(t.Context(), admin, password); !errors.Is(err, domain.ErrTwoFactorUnavailable) {
		t.Fatalf("start = %v, want two_factor_unavailable", err)
	}
	if st, err := f.svc.TwoFactorStatus(t.Context(), admin); err != nil || st.Available || st.Enabled {
		t.Fatalf("status = %+v, %v", st, err)
	}
}

func totpSecretBytes(s string) ([]byte, error) {
	return base32NoPad.DecodeString(s)
}

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)
