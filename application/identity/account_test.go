package identity_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var emailChangeLink = regexp.MustCompile(`https://keel\.example/console/email-change/(kec_[0-9a-z]{52})`)

// accountMail is one claimed mail about an account: its kind, recipient
// and the e-mail change token it carries, if any.
type accountMail struct {
	Kind, To, Token string
}

// accountMails claims the queued mail that belongs to no workspace.
func (f fixture) accountMails(t *testing.T) []accountMail {
	t.Helper()
	var out []accountMail
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if m.Workspace != "" {
				continue
			}
			am := accountMail{Kind: m.Kind, To: m.Message.To()[0].Address}
			if sub := emailChangeLink.FindStringSubmatch(m.Message.Text()); sub != nil {
				am.Token = sub[1]
			}
			out = append(out, am)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f fixture) auditActions(t *testing.T) map[string]int {
	t.Helper()
	seen := map[string]int{}
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		es, _, err := st.Audit().List(ctx, "", ports.Page{Limit: ports.MaxPageLimit})
		for _, e := range es {
			seen[e.Action]++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

// Changing the password needs the current one, keeps the session it was
// made with and ends the account's others.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, p := f.setup(t)
	other, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	const newPassword = "a brand new passphrase"
	err = f.svc.ChangePassword(t.Context(), p, identity.ChangePasswordInput{Current: "wrong password", New: newPassword})
	if de := (*domain.Error)(nil); !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 || de.Fields[0].Field != "current_password" {
		t.Fatalf("a wrong current password = %v, want a current_password field error", err)
	}
	err = f.svc.ChangePassword(t.Context(), p, identity.ChangePasswordInput{Current: password, New: "short"})
	if de := (*domain.Error)(nil); !errors.As(err, &de) || de.Kind != domain.KindInvalid || de.Fields[0].Field != "new_password" {
		t.Fatalf("a short new password = %v, want a new_password field error", err)
	}
	if err := f.svc.ChangePassword(t.Context(), p, identity.ChangePasswordInput{Current: password, New: newPassword}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(t.Context(), other.Token, client); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Errorf("the other session = %v, want unauthenticated", err)
	}
	if _, err := f.svc.Me(t.Context(), p); err != nil {
		t.Errorf("the session that changed it: %v", err)
	}
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: newPassword}); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: password}); !errors.Is(err, domain.ErrInvalidCreds) {
		t.Errorf("the old password = %v, want invalid credentials", err)
	}
	if got := f.auditActions(t); got["user.password_changed"] != 1 || got["user.password_change_failed"] != 1 {
		t.Errorf("audit = %v, want one change and one failure", got)
	}
	key := domain.NewAPIKeyPrincipal("key_1", "ws_1", p.User(), nil)
	if err := f.svc.ChangePassword(t.Context(), key, identity.ChangePasswordInput{Current: newPassword, New: "yet another passphrase"}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("an API key = %v, want forbidden", err)
	}
	if err := f.svc.ChangePassword(t.Context(), anon, identity.ChangePasswordInput{}); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Errorf("anonymous = %v, want unauthenticated", err)
	}
}

// Wrong current passwords are failed logins: after five in a row from one
// IP the account waits there, on this form and on the sign-in alike.
func TestWrongCurrentPasswordsAreThrottledLikeLogins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, p := f.setup(t)
	for i := range 5 {
		err := f.svc.ChangePassword(t.Context(), p, identity.ChangePasswordInput{Current: "wrong password", New: "a brand new passphrase"})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("wrong password %d = %v, want invalid", i+1, err)
		}
	}
	in := identity.ChangeEmailInput{Email: "ada@example.org", Password: "wrong password"}
	if err := f.svc.RequestEmailChange(t.Context(), p, in); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("sixth wrong password = %v, want invalid", err)
	}
	in.Password = password
	if err := f.svc.RequestEmailChange(t.Context(), p, in); !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("after six failures = %v, want rate limited", err)
	}
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: password}); !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("a login after six failures = %v, want rate limited", err)
	}
	f.clock.Add(time.Minute)
	if err := f.svc.RequestEmailChange(t.Context(), p, in); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

// An e-mail change mails the new address a link and the old a notice;
// only following the link moves the account, once, within a day, and a
// newer request ends older links.
func TestChangeEmail(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
	_, p := f.setup(t)
	if err := f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: "ADA@example.com", Password: password}); !errors.Is(err, domain.ErrEmailUnchanged) {
		t.Fatalf("the same address = %v, want email_unchanged", err)
	}
	if err := f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: "not an address", Password: password}); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("a malformed address = %v, want invalid", err)
	}
	for _, addr := range []string{"first@example.org", "Ada@Example.org"} {
		if err := f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: addr, Password: password}); err != nil {
			t.Fatal(err)
		}
	}
	mails := f.accountMails(t)
	var first, second string
	notices := 0
	for _, m := range mails {
		switch {
		case m.Kind == domain.KindEmailChange && m.To == "first@example.org":
			first = m.Token
		case m.Kind == domain.KindEmailChange && m.To == "ada@example.org":
			second = m.Token
		case m.Kind == domain.KindEmailChangeNotice && m.To == "ada@example.com" && m.Token == "":
			notices++
		default:
			t.Errorf("unexpected mail %+v", m)
		}
	}
	if first == "" || second == "" || notices != 2 {
		t.Fatalf("mails = %+v, want a link to each new address and two notices to the old one", mails)
	}
	if me, _ := f.svc.Me(t.Context(), p); me.User.Email() != "ada@example.com" {
		t.Fatalf("before confirming, the address is %s", me.User.Email())
	}
	if _, err := f.svc.ConfirmEmailChange(t.Context(), anon, first); !errors.Is(err, domain.ErrEmailChangeUnusable) {
		t.Errorf("the superseded link = %v, want email_change_unusable", err)
	}
	u, err := f.svc.ConfirmEmailChange(t.Context(), anon, second)
	if err != nil || u.Email() != "ada@example.org" {
		t.Fatalf("confirm = %v, %v", u.Email(), err)
	}
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.org", Password: password}); err != nil {
		t.Errorf("login with the new address: %v", err)
	}
	if _, err := f.svc.ConfirmEmailChange(t.Context(), anon, second); !errors.Is(err, domain.ErrEmailChangeUnusable) {
		t.Errorf("a used link = %v, want email_change_unusable", err)
	}
	if got := f.auditActions(t); got["user.email_change_requested"] != 2 || got["user.email_changed"] != 1 {
		t.Errorf("audit = %v", got)
	}

	// A day later the link has expired.
	if err := f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: "late@example.org", Password: password}); err != nil {
		t.Fatal(err)
	}
	var late string
	for _, m := range f.accountMails(t) {
		if m.Token != "" {
			late = m.Token
		}
	}
	f.clock.Add(domain.EmailChangeTTL)
	forged, _ := domain.NewEmailChangeToken()
	for name, tok := range map[string]string{"expired": late, "unknown": forged, "malformed": "x"} {
		if _, err := f.svc.ConfirmEmailChange(t.Context(), anon, tok); !errors.Is(err, domain.ErrEmailChangeUnusable) {
			t.Errorf("%s token = %v, want email_change_unusable", name, err)
		}
	}
}

// An address another account has gets a mail saying so and no link, and
// the request answers as for any other address; an address taken after
// the request fails the confirmation and leaves the link usable.
func TestChangeEmailToATakenAddress(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
	_, p := f.setup(t)
	if err := f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: "later@example.org", Password: password}); err != nil {
		t.Fatal(err)
	}
	f.user(t, p, "bob@example.com")
	if err := f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: "bob@example.com", Password: password}); err != nil {
		t.Fatalf("a taken address = %v, want nil", err)
	}
	var token string
	for _, m := range f.accountMails(t) {
		if m.To == "bob@example.com" && (m.Token != "" || m.Kind != domain.KindEmailChange) {
			t.Errorf("the taken address got %+v, want a mail without a link", m)
		}
		if m.To == "later@example.org" {
			token = m.Token
		}
	}
	if got := f.auditActions(t); got["user.email_change_refused"] != 1 {
		t.Errorf("audit = %v, want one refusal", got)
	}
	// The request for bob's address ended the earlier link.
	if _, err := f.svc.ConfirmEmailChange(t.Context(), anon, token); !errors.Is(err, domain.ErrEmailChangeUnusable) {
		t.Errorf("the earlier link = %v, want email_change_unusable", err)
	}

	if err := f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: "carol@example.com", Password: password}); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.accountMails(t) {
		if m.Token != "" {
			token = m.Token
		}
	}
	f.user(t, p, "carol@example.com")
	if _, err := f.svc.ConfirmEmailChange(t.Context(), anon, token); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("confirming a taken address = %v, want email_taken", err)
	}
}

// The page behind an invitation's link learns its workspace, role and
// whether accepting creates an account; only from a pending invitation.
func TestViewInvitation(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
	_, p := f.setup(t)
	if _, err := f.svc.CreateWorkspace(t.Context(), p, identity.CreateWorkspaceInput{Name: "Site", Slug: "site"}); err != nil {
		t.Fatal(err)
	}
	f.user(t, p, "bob@example.com")
	for _, addr := range []string{"new@example.com", "bob@example.com"} {
		if _, err := f.svc.Invite(t.Context(), p, identity.InviteInput{Workspace: "site", Email: addr, Role: domain.RoleEditor}); err != nil {
			t.Fatal(err)
		}
	}
	tokens := map[string]string{}
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if sub := invitationLink.FindStringSubmatch(m.Message.Text()); sub != nil {
				tokens[m.Message.To()[0].Address] = sub[1]
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for addr, has := range map[string]bool{"new@example.com": false, "bob@example.com": true} {
		v, err := f.svc.ViewInvitation(t.Context(), tokens[addr])
		if err != nil || v.Workspace.Slug() != "site" || v.Email.String() != addr || v.Role != domain.RoleEditor || v.HasAccount != has {
			t.Errorf("view of %s = %+v, %v", addr, v, err)
		}
	}
	f.clock.Add(domain.InvitationTTL)
	if _, err := f.svc.ViewInvitation(t.Context(), tokens["new@example.com"]); !errors.Is(err, domain.ErrInvitationGone) {
		t.Errorf("an expired invitation = %v, want invitation_unusable", err)
	}
	if _, err := f.svc.ViewInvitation(t.Context(), "x"); !errors.Is(err, domain.ErrInvitationGone) {
		t.Errorf("a malformed token = %v", err)
	}
}

// rehashHasher is the fake hasher, but every hash it verifies asks to be
// raised, and onHash, when set, runs once inside the next Hash: between
// the read and the write of a login's rehash.
type rehashHasher struct {
	fakeHasher
	onHash func()
}

func (h *rehashHasher) Hash(ctx context.Context, pw string) (string, error) {
	if f := h.onHash; f != nil {
		h.onHash = nil
		f()
	}
	return h.fakeHasher.Hash(ctx, pw)
}

func (h *rehashHasher) Verify(ctx context.Context, pw, hash string) (bool, bool, error) {
	ok, _, err := h.fakeHasher.Verify(ctx, pw, hash)
	return ok, true, err
}

// A login that raises the password's hash writes the account back as it
// is then, not as it was when the login read it: an address confirmed
// meanwhile stays.
func TestLoginRehashKeepsAnAddressChangedMeanwhile(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	h := &rehashHasher{}
	svc, err := identity.NewService(t.Context(), identity.Config{
		UoW: db, Authorizer: authz, Hasher: h, Clock: c, SessionTTL: time.Hour,
		LinkBase: func() string { return "https://keel.example" },
	})
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{svc: svc, db: db, clock: c}
	_, p := f.setup(t)
	if err := svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: "ada@example.org", Password: password}); err != nil {
		t.Fatal(err)
	}
	var token string
	for _, m := range f.accountMails(t) {
		if m.Token != "" {
			token = m.Token
		}
	}
	h.onHash = func() {
		if _, err := svc.ConfirmEmailChange(t.Context(), anon, token); err != nil {
			t.Errorf("confirm during the login: %v", err)
		}
	}
	if _, err := svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: password}); err != nil {
		t.Fatal(err)
	}
	if h.onHash != nil {
		t.Fatal("the login did not rehash")
	}
	if me, err := svc.Me(t.Context(), p); err != nil || me.User.Email() != "ada@example.org" {
		t.Errorf("after the login the address is %s (%v), want the confirmed ada@example.org", me.User.Email(), err)
	}
}

// emailChangeToken asks to move p's account to addr and returns the
// token mailed there.
func (f fixture) emailChangeToken(t *testing.T, p domain.Principal, addr string) string {
	t.Helper()
	if err := f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: addr, Password: password}); err != nil {
		t.Fatalf("RequestEmailChange: %v", err)
	}
	for _, m := range f.accountMails(t) {
		if m.Kind == domain.KindEmailChange && m.To == addr && m.Token != "" {
			return m.Token
		}
	}
	t.Fatalf("no e-mail change link was mailed to %s", addr)
	return ""
}

// A password change or reset ends the account's pending e-mail changes,
// so that whoever asked for one from a stolen session, or with the old
// password, loses its link with the session; a confirmed e-mail change
// spends the reset links mailed to the old address.
func TestAccountChangesEndEachOthersLinks(t *testing.T) {
	t.Parallel()
	const newPassword = "a brand new passphrase"
	for name, change := range map[string]func(f fixture, p domain.Principal) error{
		"ChangePassword": func(f fixture, p domain.Principal) error {
			return f.svc.ChangePassword(t.Context(), p, identity.ChangePasswordInput{Current: password, New: newPassword})
		},
		"ConfirmPasswordReset": func(f fixture, p domain.Principal) error {
			if err := f.svc.RequestPasswordReset(t.Context(), anon, "ada@example.com"); err != nil {
				return err
			}
			tokens := f.resetMails(t)["ada@example.com"]
			if len(tokens) != 1 {
				t.Fatalf("reset links = %v, want one", tokens)
			}
			return f.svc.ConfirmPasswordReset(t.Context(), anon, tokens[0], newPassword)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
			_, p := f.setup(t)
			token := f.emailChangeToken(t, p, "thief@example.net")
			if err := change(f, p); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.ConfirmEmailChange(t.Context(), anon, token); !errors.Is(err, domain.ErrEmailChangeUnusable) {
				t.Fatalf("the e-mail change asked for before = %v, want email_change_unusable", err)
			}
			if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: newPassword}); err != nil {
				t.Fatalf("the account keeps its address: %v", err)
			}
		})
	}
	t.Run("ConfirmEmailChange", func(t *testing.T) {
		t.Parallel()
		f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
		_, p := f.setup(t)
		if err := f.svc.RequestPasswordReset(t.Context(), anon, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		reset := f.resetMails(t)["ada@example.com"]
		if len(reset) != 1 {
			t.Fatalf("reset links = %v, want one", reset)
		}
		if _, err := f.svc.ConfirmEmailChange(t.Context(), anon, f.emailChangeToken(t, p, "ada@example.org")); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.CheckPasswordReset(t.Context(), reset[0]); !errors.Is(err, domain.ErrPasswordResetUnusable) {
			t.Fatalf("the old address's reset link = %v, want password_reset_unusable", err)
		}
		if err := f.svc.ConfirmPasswordReset(t.Context(), anon, reset[0], newPassword); !errors.Is(err, domain.ErrPasswordResetUnusable) {
			t.Fatalf("setting a password with it = %v, want password_reset_unusable", err)
		}
	})
}

// E-mail change requests are limited per user and per new address, so
// that a session cannot flood an address of its choosing: the refused
// requests mail nothing.
func TestEmailChangeRequestsAreLimited(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
	_, admin := f.setup(t)
	_, bob := f.user(t, admin, "bob@example.com")
	ask := func(p domain.Principal, addr string) error {
		return f.svc.RequestEmailChange(t.Context(), p, identity.ChangeEmailInput{Email: addr, Password: password})
	}
	for i := range 3 {
		if err := ask(admin, "victim@example.net"); err != nil {
			t.Fatalf("request %d to victim@example.net: %v", i+1, err)
		}
	}
	// The address's limit holds whoever asks.
	err := ask(bob, "Victim@Example.net")
	if wait, ok := rateLimited(err); !ok || wait != 20*time.Minute {
		t.Fatalf("a fourth request naming the address = %v, want rate_limited for 20 minutes", err)
	}
	// The user's limit holds whatever address: two more, then no more.
	for _, addr := range []string{"one@example.net", "two@example.net"} {
		if err := ask(admin, addr); err != nil {
			t.Fatalf("request to %s: %v", addr, err)
		}
	}
	if err := ask(admin, "three@example.net"); !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("a sixth request from one user = %v, want rate_limited", err)
	}
	links := map[string]int{}
	for _, m := range f.accountMails(t) {
		if m.Kind == domain.KindEmailChange {
			links[m.To]++
		}
	}
	if links["victim@example.net"] != 3 || links["three@example.net"] != 0 || len(links) != 3 {
		t.Fatalf("confirmation mails by address = %v, want 3 to the victim and none refused", links)
	}
	f.clock.Add(20 * time.Minute)
	if err := ask(bob, "victim@example.net"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}
