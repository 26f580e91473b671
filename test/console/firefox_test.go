package console

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/firefox"
	"github.com/keelhq/keel/test/keelproc"
)

// firefoxTimeout bounds the Firefox session: a start, about fifteen pages
// with axe-core on each, and two state changes; about half a minute on an
// idle machine.
const firefoxTimeout = 6 * time.Minute

// TestFirefoxConsole opens the console in Firefox ESR, driven over
// WebDriver BiDi (test/firefox), since the console promises to work in
// Firefox as well as in Chromium, which every other test here drives. It
// signs in through the form at a 360 px viewport, visits the main pages
// of the crawl's seeded workspace and on each checks the <h1>, that the
// document does not scroll sideways, that console.js revealed the copy
// buttons, and that axe-core finds nothing serious; it marks a
// submission read and creates an API key through their buttons, and
// saves screenshots to $KEEL_ARTIFACTS/console/firefox-*.png.
func TestFirefoxConsole(t *testing.T) {
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir(), "KEEL_DISPATCHER=off"})
	seedWorkspace(t, p)
	shots := screenshotDir(t)
	b := firefox.Start(t)
	ctx, tab := firefoxTab(t, b, firefoxTimeout)

	if _, err := tab.Navigate(ctx, p.URL+"/console/sign-in"); err != nil {
		t.Fatal(err)
	}
	checkFirefoxPage(t, ctx, tab, "sign-in", "Sign in", shots)
	firefoxSignIn(t, ctx, tab, `a[href="/console/workspaces/site"]`)

	ws := "/console/workspaces/site"
	pages := []struct{ path, h1 string }{
		{"/console/workspaces", "Workspaces"},
		{ws, "Harbour Site"},
		{ws + "/forms", "Forms"},
	}
	for _, pg := range pages {
		visitFirefox(t, ctx, tab, p.URL, pg.path, pg.h1, shots)
	}
	form := firefoxLink(t, ctx, tab, `^/console/workspaces/site/forms/[^/?]+$`, "/new")
	visitFirefoxAs(t, ctx, tab, p.URL, form, "form", "Contact the harbour", shots)
	sub := firefoxLink(t, ctx, tab, `^/console/workspaces/site/submissions/[^/?]+$`, "")
	visitFirefoxAs(t, ctx, tab, p.URL, sub, "submission", "Submission", shots)

	// A state change through a button: the new submission is marked read.
	if err := tab.Click(ctx, `input[value="read"] + button`); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, `!!document.querySelector("#status.status-read")`); err != nil {
		t.Fatalf("mark the submission read: %v", err)
	}
	firefoxShot(t, ctx, tab, "submission-read", shots)

	visitFirefox(t, ctx, tab, p.URL, ws+"/content", "Content", shots)
	entry := firefoxLink(t, ctx, tab, `^/console/workspaces/site/content/[^/?]+$`, "/new")
	visitFirefoxAs(t, ctx, tab, p.URL, entry, "entry", "Winter opening hours", shots)
	for _, pg := range []struct{ path, h1 string }{
		{ws + "/members", "Members"},
		{ws + "/outbox", "Mail"},
		{ws + "/webhooks", "Webhooks"},
		{ws + "/audit", "Audit log"},
		{"/console/account", "Your account"},
		{"/console/account/two-factor", "Two-factor authentication"},
		{ws + "/keys", "API keys"},
	} {
		visitFirefox(t, ctx, tab, p.URL, pg.path, pg.h1, shots)
	}

	// Another: an API key is created, and its secret is shown once, with
	// a copy button that console.js revealed.
	if err := tab.Fill(ctx, "#key-name", "firefox"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Click(ctx, `input[name="scope"][value="content:read"]`); err != nil {
		t.Fatal(err)
	}
	if err := tab.Click(ctx, `form[action="/console/workspaces/site/keys"] button[type="submit"]`); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, `document.querySelector("h1")?.textContent === "Key firefox created"`); err != nil {
		t.Fatalf("create an API key: %v", err)
	}
	checkFirefoxPage(t, ctx, tab, "key-created", "Key firefox created", shots)
	var secret struct {
		Value  string
		Hidden bool
	}
	if err := tab.Evaluate(ctx, `({value: document.querySelector("#secret").value, hidden: document.querySelector('button[data-copy="secret"]').hidden})`, &secret); err != nil {
		t.Fatal(err)
	}
	if len(secret.Value) < 20 || secret.Hidden {
		t.Errorf("the new key's page shows the secret %q with its copy button hidden=%v, want a secret and a visible button", secret.Value, secret.Hidden)
	}
	visitFirefox(t, ctx, tab, p.URL, ws+"/keys", "API keys", shots)
	var html string
	if err := tab.Evaluate(ctx, `document.documentElement.outerHTML`, &html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, "firefox") {
		t.Error("the keys page does not list the key made in Firefox")
	}
	if secret.Value != "" && strings.Contains(html, secret.Value) {
		t.Error("the keys page shows the secret again")
	}
	for _, e := range b.Errors() {
		t.Errorf("Firefox logged %s", e)
	}
}

// visitFirefox opens path in tab and checks it; its screenshot is named
// after the path.
func visitFirefox(t *testing.T, ctx context.Context, tab *firefox.Tab, base, path, h1, shots string) {
	t.Helper()
	visitFirefoxAs(t, ctx, tab, base, path, shotName(path), h1, shots)
}

// visitFirefoxAs is visitFirefox for a path that holds an ID: its
// screenshot is named name, the same on every run.
func visitFirefoxAs(t *testing.T, ctx context.Context, tab *firefox.Tab, base, path, name, h1, shots string) {
	t.Helper()
	got, err := tab.Navigate(ctx, base+path)
	if err != nil {
		t.Fatalf("%s: open: %v", path, err)
	}
	if strings.HasSuffix(got, "/console/sign-in") {
		t.Fatalf("%s: sent to the sign-in page: the session was lost", path)
	}
	checkFirefoxPage(t, ctx, tab, name, h1, shots)
}

// firefoxPage is what checkFirefoxPage reads of a page.
type firefoxPage struct {
	H1          string
	ScrollWidth int
	HiddenCopy  int
}

// checkFirefoxPage checks the page tab shows: its <h1>, that it fits 360
// px, that every copy button is revealed, and axe-core; then saves a
// screenshot as firefox-<name>.
func checkFirefoxPage(t *testing.T, ctx context.Context, tab *firefox.Tab, name, h1, shots string) {
	t.Helper()
	var pg firefoxPage
	if err := tab.Evaluate(ctx, `({
		h1: document.querySelector("h1")?.textContent.trim() ?? "",
		scrollWidth: document.documentElement.scrollWidth,
		hiddenCopy: document.querySelectorAll("button[data-copy][hidden]").length,
	})`, &pg); err != nil {
		t.Fatalf("%s: read the page: %v", name, err)
	}
	if pg.H1 != h1 {
		t.Errorf("%s: the <h1> is %q, want %q", name, pg.H1, h1)
	}
	if pg.ScrollWidth > crawlWidth {
		t.Errorf("%s: the document is %d px wide at a %d px viewport: it scrolls sideways", name, pg.ScrollWidth, crawlWidth)
	}
	if pg.HiddenCopy > 0 {
		t.Errorf("%s: %d copy buttons are still hidden: console.js did not run", name, pg.HiddenCopy)
	}
	vs, err := tab.Axe(ctx)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, v := range vs {
		if v.Serious() {
			t.Errorf("%s: axe-core in Firefox: %s", name, v)
		} else {
			t.Logf("%s: axe-core in Firefox (accepted): %s (%s): %s", name, v.ID, v.Impact, v.Help)
		}
	}
	firefoxShot(t, ctx, tab, name, shots)
}

// firefoxShot saves a screenshot of the whole page as firefox-<name>.png.
func firefoxShot(t *testing.T, ctx context.Context, tab *firefox.Tab, name, shots string) {
	t.Helper()
	png, err := tab.Screenshot(ctx)
	if err != nil {
		t.Errorf("%s: screenshot: %v", name, err)
		return
	}
	name = "firefox-" + strings.ReplaceAll(strings.TrimSuffix(name, ".png"), "/", "-") + ".png"
	if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// firefoxLink returns the first link on the page whose path matches
// pattern and does not end in exclude (when set).
func firefoxLink(t *testing.T, ctx context.Context, tab *firefox.Tab, pattern, exclude string) string {
	t.Helper()
	var links []string
	if err := tab.Evaluate(ctx, `[...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href"))`, &links); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(pattern)
	for _, l := range links {
		if re.MatchString(l) && (exclude == "" || !strings.HasSuffix(l, exclude)) {
			return l
		}
	}
	t.Fatalf("no link matches %s among %q", pattern, links)
	return ""
}

// firefoxTab opens a tab of b, crawlWidth wide, whose context ends after
// timeout or with the test.
func firefoxTab(t *testing.T, b *firefox.Browser, timeout time.Duration) (context.Context, *firefox.Tab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.SetViewport(ctx, crawlWidth, 800); err != nil {
		t.Fatal(err)
	}
	return ctx, tab
}

// firefoxSignIn fills the sign-in page open in tab with the owner's
// address and password, submits it, and waits for an element that only a
// signed-in page has, named by the CSS selector signedIn.
func firefoxSignIn(t *testing.T, ctx context.Context, tab *firefox.Tab, signedIn string) {
	t.Helper()
	for sel, v := range map[string]string{"#email": crawlOwner, "#password": crawlPassword} {
		if err := tab.Fill(ctx, sel, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := tab.Click(ctx, `form[action="/console/sign-in"] button`); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, `!!document.querySelector('`+signedIn+`')`); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}
