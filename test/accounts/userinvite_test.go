package accounts

import (
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/mailpit"
	"github.com/keelhq/keel/test/testdb"
)

// TestUserInvitationByMail has the instance administrator invite a person
// to the instance, reads the mail in Mailpit, and sets the account's first
// password with the token of its link; the account cannot sign in before,
// signs in after, and the link then works no more.
func TestUserInvitationByMail(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATABASE_URL=" + testdb.EmptyPostgres(t),
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SMTP_URL=smtp://" + mp.SMTPAddr + "?starttls=none",
		"KEEL_MAIL_FROM=Keel <accounts@keel.test>",
		"KEEL_PUBLIC_URL=https://keel.example",
	})
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "admin@site.test", "password": password, "name": "Admin"}, 201, &setup)
	// A run-unique address: the Mailpit container is shared by the package.
	invitee := "ivy-" + strings.ToLower(time.Now().Format("150405.000000")) + "@site.test"
	var invited struct{ Invited bool }
	p.MustCall(t, "POST", "/v1/users/invitations", setup.Token, map[string]any{"email": invitee, "name": "Ivy"}, 202, &invited)
	if !invited.Invited {
		t.Fatalf("the invited user is not invited: %+v", invited)
	}
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": invitee, "password": password}, 401, nil)

	found := mp.WaitForSearch(t, "to:"+invitee, 1, 30*time.Second)
	msg := mp.Message(t, found[0].ID)
	m := resetLink.FindStringSubmatch(msg.Text)
	if m == nil || strings.Contains(msg.Subject, "kpr_") {
		t.Fatalf("no invitation link in the mail, or a token in its subject %q:\n%s", msg.Subject, msg.Text)
	}
	p.MustCall(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]any{"token": m[1], "password": password}, 204, nil)
	var login struct {
		Token string
		User  struct{ Invited bool }
	}
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": invitee, "password": password}, 200, &login)
	if login.User.Invited {
		t.Fatal("the account is still invited after its password was set")
	}
	p.MustCall(t, "GET", "/v1/me", login.Token, nil, 200, nil)
	p.MustCall(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]any{"token": m[1], "password": password}, 404, nil)
	p.MustCall(t, "POST", "/v1/users/invitations", setup.Token, map[string]any{"email": invitee, "name": "Ivy"}, 409, nil)
}
