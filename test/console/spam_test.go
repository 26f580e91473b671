package console

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/test/browser"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/mailpit"
)

// TestNotSpamSendsTheHeldMail: a submission with more links than keel
// serve allows (KEEL_SPAM_MAX_LINKS, 5 by default) is stored as spam and
// its notification held back; an owner opens it in the console, presses
// "Not spam", and the notification arrives in Mailpit, once. The overview
// lists the submission with its form and the mail queue; the submission's
// page is saved as submission-spam.png before and submission-not-spam.png
// after.
func TestNotSpamSendsTheHeldMail(t *testing.T) {
	mp := mailpit.Start(t)
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SMTP_URL=smtp://" + mp.SMTPAddr + "?starttls=none",
		"KEEL_MAIL_FROM=Keel <forms@keel.test>",
	})
	// Run-unique addresses: the Mailpit container is shared by the package.
	run := strings.ToLower(time.Now().Format("150405.000000"))
	team := "team-" + run + "@site.test"
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
	p.MustCall(t, "POST", "/v1/workspaces", setup.Token, map[string]any{"name": "Harbour Site", "slug": "site"}, 201, nil)
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/forms", setup.Token, map[string]any{
		"name": "Moorings",
		"fields": []map[string]any{
			{"name": "email", "label": "E-mail", "type": "email", "required": true},
			{"name": "message", "label": "Message", "type": "textarea"},
		},
		"notify": map[string]any{"recipients": []string{team}, "subject": "Mooring request {{.SubmissionID}}"},
	}, 201, &form)
	var links []string
	for i := range 6 {
		links = append(links, fmt.Sprintf("https://boats%d.example/", i))
	}
	var sub struct{ ID string }
	p.MustCall(t, "POST", "/v1/forms/"+form.ID+"/submissions", "", map[string]any{
		"email": "skipper@example.com", "message": "A berth for my boat, see " + strings.Join(links, " "),
	}, 201, &sub)
	var stored struct{ Status string }
	p.MustCall(t, "GET", "/v1/workspaces/site/submissions/"+sub.ID, setup.Token, nil, 200, &stored)
	if stored.Status != "spam" {
		t.Fatalf("a submission with six links is %q, want spam", stored.Status)
	}
	shots := screenshotDir(t)

	ctx := browser.New(t, pageTimeout, chromedp.WindowSize(360, 800))
	var (
		mu       sync.Mutex
		problems []string
	)
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "uncaught: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, fmt.Sprintf("%s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	fail := func(step string, err error) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: %v\nproblems: %q", step, err, problems)
	}
	subLink := `a[href="/console/workspaces/site/submissions/` + sub.ID + `"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/console/sign-in"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-in"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		chromedp.WaitVisible(chromedp.ID("mail-health")),
	); err != nil {
		fail("sign in and open the overview", err)
	}
	overview, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Moorings", "spam", "Mail queue", "Waiting"} {
		if !strings.Contains(overview, s) {
			t.Errorf("the overview does not show %q:\n%s", s, overview)
		}
	}
	if found := mp.Search(t, "to:"+team); len(found) != 0 {
		t.Fatalf("spam was mailed to the team before it was marked not spam: %+v", found)
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// From the overview's row to the submission, then "Not spam".
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(subLink)),
		chromedp.WaitVisible(chromedp.ID("not-spam")),
		chromedp.ScrollIntoView(chromedp.ID("not-spam")),
	); err != nil {
		fail("open the spam submission from the overview", err)
	}
	shot("submission-spam.png")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("not-spam")),
		chromedp.WaitVisible(chromedp.CSS(`#status.status-new`)),
	); err != nil {
		fail("mark the submission not spam", err)
	}
	shot("submission-not-spam.png")
	page, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page, "Not spam") || !strings.Contains(page, "Mark spam") {
		t.Errorf("the page of a submission marked not spam offers Not spam again, or no Mark spam:\n%s", page)
	}

	found := mp.WaitForSearch(t, "to:"+team, 1, 30*time.Second)
	msg := mp.Message(t, found[0].ID)
	if msg.Subject != "Mooring request "+sub.ID || !strings.Contains(msg.Text, "skipper@example.com") {
		t.Errorf("the held notification: subject %q, text:\n%s", msg.Subject, msg.Text)
	}
	// Again, through the API: nothing more is queued.
	p.MustCall(t, "POST", "/v1/workspaces/site/submissions/"+sub.ID+"/not-spam", setup.Token, nil, 200, nil)
	var msgs struct {
		Data []struct {
			Kind         string
			Status       string
			SubmissionID string `json:"submission_id"`
		}
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/messages", setup.Token, nil, 200, &msgs)
	if len(msgs.Data) != 1 || msgs.Data[0].SubmissionID != sub.ID || msgs.Data[0].Kind != "notification" {
		t.Errorf("the outbox holds %+v, want the one notification", msgs.Data)
	}
	var audit struct {
		Data []struct {
			Action string
			Target struct{ ID string }
		}
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/audit-events", setup.Token, nil, 200, &audit)
	n := 0
	for _, e := range audit.Data {
		if e.Action == "submission.not_spam" && e.Target.ID == sub.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d submission.not_spam audit events, want 1: %+v", n, audit.Data)
	}
}
