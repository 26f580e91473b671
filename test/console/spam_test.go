package console

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestNotSpamSendsTheHeldMail: a submission with more links than keel
// serve allows (KEEL_SPAM_MAX_LINKS, 5 by default) is stored as spam and
// its notification held back; an owner opens it in the console, presses
// "Not spam", and the notification arrives in Mailpit, once. The overview
// lists the submission with its form and the mail queue; the submission's
// page is saved as submission-spam.png before and submission-not-spam.png
// after.
func TestNotSpamSendsTheHeldMail(t *testing.T) {
	p, mp := serveWithMailpit(t, "Keel <forms@keel.test>")
	// Run-unique addresses: the Mailpit container is shared by the package.
	run := strings.ToLower(time.Now().Format("150405.000000"))
	team := "team-" + run + "@site.test"
	token := setupSite(t, p)
	formID := createMoorings(t, p, token, team)
	subID := submitSpam(t, p, formID)
	var stored struct{ Status string }
	p.MustCall(t, "GET", "/v1/workspaces/site/submissions/"+subID, token, nil, 200, &stored)
	if stored.Status != "spam" {
		t.Fatalf("a submission with six links is %q, want spam", stored.Status)
	}
	b := newTab(t, pageTimeout, 360, 800, screenshotDir(t), nil)
	ctx, fail, shot := b.ctx, b.fail, b.shot
	subLink := `a[href="/console/workspaces/site/submissions/` + subID + `"]`
	b.signIn(p.URL, ownerEmail, ownerPassword)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		chromedp.WaitVisible(chromedp.ID("mail-health")),
	); err != nil {
		fail("open the overview", err)
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
	if msg.Subject != "Mooring request "+subID || !strings.Contains(msg.Text, "skipper@example.com") {
		t.Errorf("the held notification: subject %q, text:\n%s", msg.Subject, msg.Text)
	}
	// Again, through the API: nothing more is queued.
	p.MustCall(t, "POST", "/v1/workspaces/site/submissions/"+subID+"/not-spam", token, nil, 200, nil)
	var msgs struct {
		Data []struct {
			Kind         string
			Status       string
			SubmissionID string `json:"submission_id"`
		}
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/messages", token, nil, 200, &msgs)
	if len(msgs.Data) != 1 || msgs.Data[0].SubmissionID != subID || msgs.Data[0].Kind != "notification" {
		t.Errorf("the outbox holds %+v, want the one notification", msgs.Data)
	}
	var audit struct {
		Data []struct {
			Action string
			Target struct{ ID string }
		}
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/audit-events", token, nil, 200, &audit)
	n := 0
	for _, e := range audit.Data {
		if e.Action == "submission.not_spam" && e.Target.ID == subID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d submission.not_spam audit events, want 1: %+v", n, audit.Data)
	}
}
