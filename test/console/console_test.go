// Package console opens the web console in a real browser (Chromium,
// driven by chromedp) against the keel binary: it signs in, finds a
// submission made through the API on the workspace overview, opens it
// from its form's table and marks it archived, signs out, and checks that
// the keyboard reaches the sign-in form. Screenshots of the sign-in page,
// the overview and the submission are written to $KEEL_ARTIFACTS/console
// when KEEL_ARTIFACTS is set (CI keeps that folder), and to the test's
// temporary directory otherwise.
package console

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/keelhq/keel/test/browser"
	"github.com/keelhq/keel/test/keelproc"
)

// TestMain also stops the Mailpit container the account flows' test
// starts (keelproc.Main).
func TestMain(m *testing.M) {
	keelproc.Main(m)
}

// pageTimeout bounds the whole browser session: Chromium starts and
// renders these small pages in a few seconds.
const pageTimeout = 90 * time.Second

// screenshotDir is where the screenshots go: $KEEL_ARTIFACTS/console, or
// the test's temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if a := os.Getenv("KEEL_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestConsoleInABrowser(t *testing.T) {
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
	p.MustCall(t, "POST", "/v1/workspaces", setup.Token, map[string]any{"name": "Harbour Site", "slug": "site"}, 201, nil)
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/forms", setup.Token, map[string]any{
		"name":   "Contact the harbour",
		"fields": []map[string]any{{"name": "email", "label": "E-mail", "type": "email", "required": true}},
	}, 201, &form)
	p.MustCall(t, "POST", "/v1/forms/"+form.ID+"/submissions", "", map[string]any{"email": "visitor@example.com"}, 201, nil)
	origin, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)

	ctx := browser.New(t, pageTimeout, chromedp.WindowSize(360, 800))

	var (
		mu       sync.Mutex
		problems []string
		requests []string
	)
	err = chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.Method+" "+ev.Request.URL)
		case *runtime.EventExceptionThrown:
			problems = append(problems, "uncaught: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			// Policy violations and failed loads land here.
			if ev.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, fmt.Sprintf("%s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	// Keyboard: from the top of the page, Tab goes to the skip link and
	// then, past the brand link, to the e-mail field, the password field
	// and the button.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/console/"),
		chromedp.WaitVisible(chromedp.ID("email")),
	); err != nil {
		t.Fatalf("sign-in page: %v", err)
	}
	signin, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	var focused []string
	for range 5 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.tagName + ":" + document.activeElement.textContent.trim()`))
		if err != nil {
			t.Fatal(err)
		}
		focused = append(focused, id)
	}
	want := []string{"A:Skip to content", "A:Keel", "email", "password", "BUTTON:Sign in"}
	if !slices.Equal(focused, want) {
		t.Errorf("Tab went to %q, want %q", focused, want)
	}

	fail := func(step string, err error) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: %v\nproblems: %q\nrequests: %q", step, err, problems, requests)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-in"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		chromedp.WaitVisible(chromedp.ID("subs")),
	); err != nil {
		fail("sign in and open the overview", err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	overview, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	// Forms and submissions: from the overview to the form's table, then
	// to the submission, which is marked archived with its button.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site/forms"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/workspaces/site/forms/`+form.ID+`"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site/forms/`+form.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/console/workspaces/site/submissions/"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/console/workspaces/site/submissions/"]`)),
		chromedp.WaitVisible(chromedp.ID("actions")),
		chromedp.Click(chromedp.CSS(`input[value="archived"] + button`)),
		chromedp.WaitVisible(chromedp.CSS(`#status.status-archived`)),
	); err != nil {
		fail("open a submission and mark it archived", err)
	}
	submission, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	subPage, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"visitor@example.com", "Status: archived", "Mark read", "Mark spam"} {
		if !strings.Contains(subPage, s) {
			t.Errorf("the archived submission's page does not show %q:\n%s", s, subPage)
		}
	}
	var subs struct {
		Data []struct{ Status string }
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/forms/"+form.ID+"/submissions", setup.Token, nil, 200, &subs)
	if len(subs.Data) != 1 || subs.Data[0].Status != "archived" {
		t.Errorf("through the API the submissions are %+v, want one archived", subs.Data)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		fail("sign out", err)
	}
	afterSignOut, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Harbour Site", "Contact the harbour", "Recent activity", "form.created"} {
		if !strings.Contains(body, s) {
			t.Errorf("the overview does not show %q:\n%s", s, body)
		}
	}
	if !strings.HasSuffix(afterSignOut, "/console/sign-in") {
		t.Errorf("after sign-out the browser is at %s", afterSignOut)
	}
	// After sign-out the old session is gone: the overview sends the
	// browser back to sign in.
	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/console/workspaces/site"), chromedp.WaitVisible(chromedp.ID("password"))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc, "/console/sign-in") {
		t.Errorf("the overview after sign-out is at %s, want the sign-in page", loc)
	}
	for name, png := range map[string][]byte{"sign-in.png": signin, "overview.png": overview, "submission.png": submission} {
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A last round trip makes sure the listener handled every event.
	if _, err := chromedp.Run(ctx, chromedp.Title()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, pr := range problems {
		t.Errorf("the page reported %s", pr)
	}
	for _, r := range requests {
		_, target, _ := strings.Cut(r, " ")
		if u, err := url.Parse(target); err != nil || (u.Scheme != "data" && u.Host != origin.Host) {
			t.Errorf("the page requested %s, which is not the Keel at %s", r, origin.Host)
		}
	}
}
