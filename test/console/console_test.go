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
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

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
	token := setupSite(t, p)
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/forms", token, map[string]any{
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

	// Policy violations and failed loads are the problems the tab
	// collects; the requests it records are checked at the end.
	b := newTab(t, pageTimeout, 360, 800, shots, nil)
	ctx, fail := b.ctx, b.fail

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
	p.MustCall(t, "GET", "/v1/workspaces/site/forms/"+form.ID+"/submissions", token, nil, 200, &subs)
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
	b.checkProblems(nil)
	for _, r := range b.requested() {
		_, target, _ := strings.Cut(r, " ")
		if u, err := url.Parse(target); err != nil || (u.Scheme != "data" && u.Host != origin.Host) {
			t.Errorf("the page requested %s, which is not the Keel at %s", r, origin.Host)
		}
	}
}
