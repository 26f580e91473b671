package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// invitationMails claims the queued invitation mail and returns the
// tokens it carries by recipient.
func (f fixture) invitationMails(t *testing.T) map[string][]string {
	t.Helper()
	tokens := map[string][]string{}
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if sub := resetLink.FindStringSubmatch(m.Message.Text()); m.Kind == domain.KindUserInvitation && sub != nil && m.Workspace == "" {
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

// An invited account exists without a password: it cannot sign in, with
// the answer a wrong password gets, until the mailed link, valid for
// seven days and once, sets its first password.
func TestInviteUser(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
	_, admin := f.setup(t)
	_, bob := f.user(t, admin, "bob@example.com")
	if _, err := f.svc.InviteUser(t.Context(), bob, identity.InviteUserInput{Email: "cy@example.com", Name: "Cy"}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a non-administrator inviting = %v, want forbidden", err)
	}
	if _, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "BOB@example.com", Name: "Bob"}); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("inviting an account's address = %v, want email_taken", err)
	}
	if _, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "not an address", Name: "X"}); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("inviting a malformed address = %v, want invalid", err)
	}
	u, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "Cy@example.com", Name: "Cy", InstanceAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	if !u.Invited() || u.Active() || !u.IsInstanceAdmin() {
		t.Fatalf("invited user = invited %v, active %v, admin %v; want invited, inactive, admin", u.Invited(), u.Active(), u.IsInstanceAdmin())
	}
	first := f.invitationMails(t)["cy@example.com"]
	if len(first) != 1 {
		t.Fatalf("invitation mails = %v, want one", first)
	}
	for _, pw := range []string{"", password, "not a real password, only a timing decoy"} {
		if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "cy@example.com", Password: pw}); !errors.Is(err, domain.ErrInvalidCreds) {
			t.Fatalf("login of an invited account with %q = %v, want invalid credentials", pw, err)
		}
	}

	// Inviting again sends a new link; the first stops working.
	again, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "cy@example.com", Name: "Cy"})
	if err != nil || again.ID() != u.ID() {
		t.Fatalf("resend = %v, %v; want the same account", again.ID(), err)
	}
	second := f.invitationMails(t)["cy@example.com"]
	if len(second) != 1 {
		t.Fatalf("resent invitation mails = %v, want one", second)
	}
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, first[0], "cy's first passphrase"); !errors.Is(err, domain.ErrPasswordResetUnusable) {
		t.Fatalf("the first link after a resend = %v, want password_reset_unusable", err)
	}

	// Six days later the link still works, once.
	f.clock.Add(6 * 24 * time.Hour)
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, second[0], "cy's first passphrase"); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "cy@example.com", Password: "cy's first passphrase"})
	if err != nil || !res.User.Active() || res.User.Invited() {
		t.Fatalf("login after activation = %v, %v", res.User, err)
	}
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, second[0], "another passphrase"); !errors.Is(err, domain.ErrPasswordResetUnusable) {
		t.Fatalf("a used invitation link = %v, want password_reset_unusable", err)
	}
	if _, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "cy@example.com", Name: "Cy"}); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("inviting an activated account = %v, want email_taken", err)
	}
	events, _, err := f.svc.ListInstanceAuditEvents(t.Context(), admin, ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Action] = true
	}
	for _, a := range []string{"user.invited", "user.invitation_resent", "user.activated"} {
		if !seen[a] {
			t.Errorf("audit has no %s", a)
		}
	}
}

// An invitation's link expires after seven days; a password reset then
// mails a new link, which an invited account may ask for too.
func TestInviteUserExpires(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
	_, admin := f.setup(t)
	if _, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "cy@example.com", Name: "Cy"}); err != nil {
		t.Fatal(err)
	}
	tokens := f.invitationMails(t)["cy@example.com"]
	f.clock.Add(domain.InvitationResetTTL)
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, tokens[0], "cy's first passphrase"); !errors.Is(err, domain.ErrPasswordResetUnusable) {
		t.Fatalf("an expired invitation link = %v, want password_reset_unusable", err)
	}
	if err := f.svc.RequestPasswordReset(t.Context(), anon, "cy@example.com"); err != nil {
		t.Fatal(err)
	}
	reset := f.resetMails(t)["cy@example.com"]
	if len(reset) != 1 {
		t.Fatalf("password reset of an invited account = %v, want one mail", reset)
	}
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, reset[0], "cy's first passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "cy@example.com", Password: "cy's first passphrase"}); err != nil {
		t.Fatal(err)
	}
}

// Inviting an invited address again takes the new invitation's name and
// administrator flag, in the mail, the account and the audit entry, which
// says what changed from what.
func TestInviteUserAgainUpdates(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example" }})
	_, admin := f.setup(t)
	first, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "cy@example.com", Name: "Cy", InstanceAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "cy@example.com", Name: "Cyrus"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != first.ID() || again.Name() != "Cyrus" || again.IsInstanceAdmin() {
		t.Fatalf("re-invited user = %s %q admin %v, want %s \"Cyrus\" admin false", again.ID(), again.Name(), again.IsInstanceAdmin(), first.ID())
	}
	users, _, err := f.svc.ListUsers(t.Context(), admin, ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.ID() == first.ID() && (u.Name() != "Cyrus" || u.IsInstanceAdmin() || !u.Invited()) {
			t.Fatalf("stored re-invited user = %q admin %v invited %v, want \"Cyrus\", not admin, invited", u.Name(), u.IsInstanceAdmin(), u.Invited())
		}
	}
	events, _, err := f.svc.ListInstanceAuditEvents(t.Context(), admin, ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"email": "cy@example.com", "name": "Cyrus", "previous_name": "Cy", "instance_admin": "false", "previous_instance_admin": "true"}
	found := false
	for _, e := range events {
		if e.Action != "user.invitation_resent" {
			continue
		}
		found = true
		for k, v := range want {
			if e.Details[k] != v {
				t.Errorf("user.invitation_resent details[%s] = %q, want %q (all: %v)", k, e.Details[k], v, e.Details)
			}
		}
	}
	if !found {
		t.Fatal("audit has no user.invitation_resent")
	}

	// The same invitation once more changes nothing, and says nothing changed.
	if _, err := f.svc.InviteUser(t.Context(), admin, identity.InviteUserInput{Email: "cy@example.com", Name: "Cyrus"}); err != nil {
		t.Fatal(err)
	}
	events, _, err = f.svc.ListInstanceAuditEvents(t.Context(), admin, ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int]int{}
	for _, e := range events {
		if e.Action == "user.invitation_resent" {
			sizes[len(e.Details)]++
		}
	}
	if sizes[1] != 1 || sizes[len(want)] != 1 {
		t.Errorf("user.invitation_resent entries by number of details = %v, want one with the e-mail only and one with the changes", sizes)
	}
}
