package identity_test

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var resetLink = regexp.MustCompile(`https://keel\.example/console/password-reset/(kpr_[0-9a-z]{52})`)

// resetMails claims the queued password reset mail and returns the tokens
// it carries by recipient.
func (f fixture) resetMails(t *testing.T) map[string][]string {
	t.Helper()
	tokens := map[string][]string{}
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if sub := resetLink.FindStringSubmatch(m.Message.Text()); m.Kind == domain.KindPasswordReset && sub != nil && m.Workspace == "" {
				tokens[m.Message.To()[0].Address] = append(tokens[m.Message.To()[0].Address], sub[1])
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// A reset mails a link to an account's address only; the link sets the
// password once, ends the account's sessions, and the new password logs in.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
	login, _ := f.setup(t)
	for _, addr := range []string{"nobody@example.com", "not an address"} {
		if err := f.svc.RequestPasswordReset(t.Context(), anon, addr); err != nil {
			t.Fatalf("reset of %q = %v, want nil", addr, err)
		}
	}
	if err := f.svc.RequestPasswordReset(t.Context(), anon, "ADA@example.com"); err != nil {
		t.Fatal(err)
	}
	mails := f.resetMails(t)
	tokens := mails["ada@example.com"]
	if len(tokens) != 1 || len(mails) != 1 {
		t.Fatalf("reset mails = %v, want one to the account only", mails)
	}
	const newPassword = "a brand new passphrase"
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, tokens[0], "short"); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("a short password = %v, want invalid", err)
	}
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, tokens[0], newPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(t.Context(), login.Token, client); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("the session from before the reset = %v, want unauthenticated", err)
	}
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: password}); !errors.Is(err, domain.ErrInvalidCreds) {
		t.Fatalf("the old password = %v, want invalid credentials", err)
	}
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: newPassword}); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, tokens[0], "yet another passphrase"); !errors.Is(err, domain.ErrPasswordResetUnusable) {
		t.Fatalf("a used token = %v, want password_reset_unusable", err)
	}
	if err := f.svc.RequestPasswordReset(t.Context(), anon, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	expiring := f.resetMails(t)["ada@example.com"]
	f.clock.Add(domain.PasswordResetTTL)
	forged, _ := domain.NewPasswordResetToken()
	for name, tok := range map[string]string{"expired": expiring[0], "unknown": forged, "malformed": "x"} {
		if err := f.svc.ConfirmPasswordReset(t.Context(), anon, tok, "yet another passphrase"); !errors.Is(err, domain.ErrPasswordResetUnusable) {
			t.Errorf("%s token = %v, want password_reset_unusable", name, err)
		}
	}
}

// Requests are limited per address, for addresses with and without an
// account alike, so the limit tells nothing either.
func TestPasswordResetIsRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{PasswordResetPerAddress: ratelimit.NewRateLimiter(1.0/600, 2, time.Now)})
	f.setup(t)
	for _, addr := range []string{"ada@example.com", "nobody@example.com"} {
		for i := range 3 {
			err := f.svc.RequestPasswordReset(t.Context(), anon, addr)
			if want := i < 2; (err == nil) != want || (!want && !errors.Is(err, domain.ErrRateLimited)) {
				t.Errorf("request %d for %s = %v", i+1, addr, err)
			}
		}
	}
}

// txCounter counts the write transactions that commit.
type txCounter struct {
	ports.UnitOfWork
	n *atomic.Int64
}

func (c txCounter) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	err := c.UnitOfWork.WithinTx(ctx, fn)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

// A request for an address with an account and one without do the same
// work, as far as it can be the same: each makes a token, hashes it,
// composes the mail and commits one transaction (the account's writes
// two more rows in it). Their times are not compared: on a loaded
// machine those two rows' share of a commit swings from 0.1 ms to several
// (README, "Password reset", says what difference this leaves).
func TestPasswordResetDoesTheSameWorkForEveryAddress(t *testing.T) {
	var txs atomic.Int64
	f := newFixtureOn(t, identity.Config{}, func(u ports.UnitOfWork) ports.UnitOfWork { return txCounter{u, &txs} })
	f.setup(t)
	for _, addr := range []string{"ada@example.com", "nobody@example.com"} {
		before := txs.Load()
		if err := f.svc.RequestPasswordReset(t.Context(), anon, addr); err != nil {
			t.Fatalf("request for %q: %v", addr, err)
		}
		if n := txs.Load() - before; n != 1 {
			t.Errorf("a request for %q committed %d transactions, want 1 like every other address", addr, n)
		}
	}
}
