package accounts

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/mailpit"
	"github.com/keelhq/keel/test/testdb"
)

var resetLink = regexp.MustCompile(`https://keel\.example/console/password-reset/(kpr_[0-9a-z]{52})\b`)

// TestPasswordResetByMail asks keel serve for resets of an account's
// address and of an unknown one (202 both), reads the one mail in Mailpit,
// sets a new password with its token, and checks that the session from
// before is refused, the old password too, and the new one logs in.
func TestPasswordResetByMail(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATABASE_URL=" + testdb.EmptyPostgres(t),
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SMTP_URL=smtp://" + mp.SMTPAddr + "?starttls=none",
		"KEEL_MAIL_FROM=Keel <accounts@keel.test>",
		"KEEL_PUBLIC_URL=https://keel.example/",
	})
	// Run-unique addresses: the Mailpit container is shared by the package.
	run := strings.ToLower(time.Now().Format("150405.000000"))
	owner, nobody := "ada-"+run+"@site.test", "nobody-"+run+"@site.test"
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": owner, "password": password, "name": "Ada"}, 201, &setup)
	p.MustCall(t, "POST", "/v1/auth/password-reset", "", map[string]any{"email": nobody}, 202, nil)
	p.MustCall(t, "POST", "/v1/auth/password-reset", "", map[string]any{"email": owner}, 202, nil)

	found := mp.WaitForSearch(t, "to:"+owner, 1, 30*time.Second)
	msg := mp.Message(t, found[0].ID)
	m := resetLink.FindStringSubmatch(msg.Text)
	if m == nil || strings.Contains(msg.Subject, "kpr_") {
		t.Fatalf("no reset link in the mail, or a token in its subject %q:\n%s", msg.Subject, msg.Text)
	}
	const newPassword = "a brand new passphrase"
	p.MustCall(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]any{"token": m[1], "password": newPassword}, 204, nil)
	// The session from setup ends with the reset, on every node within a
	// second; this node forgets it at once.
	p.MustCall(t, "GET", "/v1/me", setup.Token, nil, 401, nil)
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": owner, "password": password}, 401, nil)
	var login struct{ Token string }
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": owner, "password": newPassword}, 200, &login)
	p.MustCall(t, "GET", "/v1/me", login.Token, nil, 200, nil)
	p.MustCall(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]any{"token": m[1], "password": newPassword}, 404, nil)
	// The dispatcher sends in queue order, and the owner's mail, queued
	// after any to the unknown address, has arrived: none went there.
	if got := mp.Search(t, "to:"+nobody); len(got) != 0 {
		t.Fatalf("mail to an address without an account: %+v", got)
	}
}
