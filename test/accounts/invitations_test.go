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

const password = "correct horse battery"

// The link is KEEL_PUBLIC_URL and the console's page for the token.
var invitationLink = regexp.MustCompile(`https://keel\.example/console/invitations/(kin_[0-9a-z]{52})\b`)

// TestInvitationByMail has an owner invite an address, reads the mail in
// Mailpit, takes the token from its link, accepts it with a name and a
// password, signs in as the new account and works in the workspace; the
// link then works no more.
func TestInvitationByMail(t *testing.T) {
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
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "owner@site.test", "password": password, "name": "Owner"}, 201, &setup)
	p.MustCall(t, "POST", "/v1/workspaces", setup.Token, map[string]any{"name": "Site", "slug": "site"}, 201, nil)
	// A run-unique address: the Mailpit container is shared by the package.
	invitee := "grace-" + strings.ToLower(time.Now().Format("150405.000000")) + "@site.test"
	p.MustCall(t, "POST", "/v1/workspaces/site/invitations", setup.Token, map[string]any{"email": invitee, "role": "editor"}, 201, nil)

	found := mp.WaitForSearch(t, "to:"+invitee, 1, 30*time.Second)
	msg := mp.Message(t, found[0].ID)
	if strings.Contains(msg.Subject, "kin_") {
		t.Fatalf("the subject %q carries the token", msg.Subject)
	}
	m := invitationLink.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no invitation link in the mail:\n%s", msg.Text)
	}
	var accepted struct {
		AccountCreated bool `json:"account_created"`
		Member         struct{ Role string }
	}
	p.MustCall(t, "POST", "/v1/invitations/accept", "", map[string]any{"token": m[1], "name": "Grace", "password": password}, 200, &accepted)
	if !accepted.AccountCreated || accepted.Member.Role != "editor" {
		t.Fatalf("accepted = %+v, want a new account as an editor", accepted)
	}
	var login struct{ Token string }
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": invitee, "password": password}, 200, &login)
	p.MustCall(t, "POST", "/v1/workspaces/site/forms", login.Token, map[string]any{
		"name": "Contact", "fields": []map[string]any{{"name": "msg", "label": "Message", "type": "text"}},
	}, 201, nil)
	p.MustCall(t, "POST", "/v1/invitations/accept", "", map[string]any{"token": m[1], "name": "Grace", "password": password}, 404, nil)
}
