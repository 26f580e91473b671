package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/mailpit"
	"github.com/keelhq/keel/test/testdb"
)

// TestBrowserSubmissionToMailpit follows a visitor's plain HTML form post
// from the browser to the inboxes: 303 to the success page, the submission
// listed through the API, and the notification and autoresponder delivered
// over SMTP to Mailpit with the right recipients, subject, Reply-To and
// body.
func TestBrowserSubmissionToMailpit(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	n := startClusterNode(t, testdb.EmptyPostgres(t), "forms",
		"KEEL_SMTP_URL=smtp://"+mp.SMTPAddr+"?starttls=none",
		"KEEL_MAIL_FROM=Keel <forms@keel.test>")
	n.waitListening(t)

	var setup struct{ Token string }
	n.mustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "owner@site.test", "password": "correct horse battery", "name": "Owner"}, 201, &setup)
	n.mustCall(t, "POST", "/v1/workspaces", setup.Token, map[string]any{"name": "Site", "slug": "site"}, 201, nil)
	// A run-unique subject lets this test find its mail in a Mailpit that
	// other tests share.
	tag := strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000")
	var form struct{ ID string }
	n.mustCall(t, "POST", "/v1/workspaces/site/forms", setup.Token, map[string]any{
		"name": "Contact",
		"fields": []map[string]any{
			{"name": "name", "label": "Name", "type": "text", "required": true},
			{"name": "email", "label": "E-mail", "type": "email", "required": true},
			{"name": "message", "label": "Message", "type": "textarea"},
		},
		"notify":        map[string]any{"recipients": []string{"team@site.test"}, "subject": tag + " from {{.Fields.name}}"},
		"autoresponder": map[string]any{"enabled": true, "email_field": "email", "subject": tag + " thanks", "text": "Thanks, {{.Fields.name}}!", "html": "<p>Thanks, {{.Fields.name}}!</p>"},
		"redirects":     map[string]any{"success": "https://site.test/thanks", "error": "https://site.test/oops"},
		"honeypot":      "website",
	}, 201, &form)

	// The browser: a urlencoded POST that accepts HTML, no redirects followed.
	body := url.Values{"name": {"Ada"}, "email": {"Ada@Example.COM"}, "message": {"Hello there"}, "website": {""}}
	req, _ := http.NewRequest("POST", n.base+"/v1/forms/"+form.ID+"/submissions", strings.NewReader(body.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://site.test/thanks" {
		t.Fatalf("browser POST = %d Location %q, want 303 to the success URL", resp.StatusCode, resp.Header.Get("Location"))
	}

	var list struct {
		Data []struct {
			ID     string
			Values map[string]any
		}
	}
	n.mustCall(t, "GET", "/v1/workspaces/site/forms/"+form.ID+"/submissions", setup.Token, nil, 200, &list)
	if len(list.Data) != 1 || list.Data[0].Values["email"] != "Ada@example.com" {
		t.Fatalf("submissions = %+v", list.Data)
	}

	got := mp.WaitForSearch(t, "subject:"+tag, 2, 15*time.Second)
	var notification, reply *mailpit.Message
	for _, s := range got {
		m := mp.Message(t, s.ID)
		switch {
		case strings.HasSuffix(m.Subject, "thanks"):
			reply = &m
		default:
			notification = &m
		}
	}
	if notification == nil || reply == nil {
		t.Fatalf("want a notification and an autoresponse, got %+v", got)
	}
	if notification.Subject != tag+" from Ada" || len(notification.To) != 1 || notification.To[0].Address != "team@site.test" ||
		len(notification.ReplyTo) != 1 || notification.ReplyTo[0].Address != "Ada@example.com" ||
		!strings.Contains(notification.Text, "Message: Hello there") || notification.From.Address != "forms@keel.test" {
		t.Fatalf("notification = %+v", notification)
	}
	if len(reply.To) != 1 || reply.To[0].Address != "Ada@example.com" || !strings.Contains(reply.Text, "Thanks, Ada!") || !strings.Contains(reply.HTML, "<p>Thanks, Ada!</p>") {
		t.Fatalf("autoresponse = %+v", reply)
	}
	n.stop(t)
}
