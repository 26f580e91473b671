package console

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/test/browser"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/mailpit"
)

// The setup the browser tests share: keel serve (with Mailpit when mail
// matters), the owner made through setup, a Chromium tab at a given screen
// that collects what its pages report, the console's sign-in form and the
// screenshots. Each test keeps its own steps and assertions.

// ownerEmail and ownerPassword are the owner's account, which setupOwner
// creates and signIn types into the console's form.
const (
	ownerEmail    = "ada@example.com"
	ownerPassword = "correct horse battery"
)

// serveWithMailpit starts Mailpit (one container for the package) and
// keel serve in a fresh data directory sending its mail there over SMTP
// from the address from, with env's further settings.
func serveWithMailpit(t *testing.T, from string, env ...string) (*keelproc.Proc, *mailpit.Server) {
	t.Helper()
	mp := mailpit.Start(t)
	p := keelproc.Serve(t, "serve", append([]string{
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SMTP_URL=smtp://" + mp.SMTPAddr + "?starttls=none",
		"KEEL_MAIL_FROM=" + from,
	}, env...))
	return p, mp
}

// setupOwner creates the instance's first user, Ada, with the address
// email and ownerPassword through /v1/setup, and returns her token.
func setupOwner(t *testing.T, p *keelproc.Proc, email string) string {
	t.Helper()
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": email, "password": ownerPassword, "name": "Ada"}, 201, &setup)
	return setup.Token
}

// setupSite is setupOwner with ownerEmail followed by the workspace
// "Harbour Site" (slug site), which most tests work in; it returns the
// owner's token.
func setupSite(t *testing.T, p *keelproc.Proc) string {
	t.Helper()
	token := setupOwner(t, p, ownerEmail)
	p.MustCall(t, "POST", "/v1/workspaces", token, map[string]any{"name": "Harbour Site", "slug": "site"}, 201, nil)
	return token
}

// tab is a Chromium tab with what its pages reported: uncaught exceptions
// and errors logged to the console (a policy violation, a failed load),
// and the requests they made.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots string

	mu       sync.Mutex
	problems []string
	requests []string // "METHOD URL"
}

// newTab starts Chromium for at most timeout with the screen emulated at
// width × height CSS pixels, and saves the tab's screenshots in shots.
// The screen is emulated (device metrics) rather than the window sized:
// headless Chromium keeps its window at least 500 px wide, so a window of
// 360 px would still lay pages out at 500. ignore, when not nil, leaves
// out the log entries a test expects, such as the failed load of a page
// it has answered 404 on purpose.
func newTab(t *testing.T, timeout time.Duration, width, height int64, shots string, ignore func(*cdplog.Entry) bool) *tab {
	t.Helper()
	return newTabAt(t, browser.Path(t), timeout, width, height, shots, ignore)
}

// newTabAt is newTab in the Chromium at path, for a test that runs in
// more than one version (browser.EachChromium).
func newTabAt(t *testing.T, path string, timeout time.Duration, width, height int64, shots string, ignore func(*cdplog.Entry) bool) *tab {
	t.Helper()
	b := &tab{t: t, ctx: browser.NewAt(t, path, timeout), shots: shots}
	err := chromedp.Listen(b.ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.Method+" "+ev.Request.URL)
		case *runtime.EventExceptionThrown:
			b.problems = append(b.problems, "uncaught: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError && (ignore == nil || !ignore(ev.Entry)) {
				b.problems = append(b.problems, fmt.Sprintf("%s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("emulate a %d × %d screen: %v", width, height, err)
	}
	// The layout viewport is what the pages are laid out in; a window
	// sized instead of a screen emulated would show 500 here.
	if got, err := chromedp.Run(b.ctx, chromedp.Evaluate[int64](`window.innerWidth`)); err != nil || got != width {
		t.Fatalf("the tab lays pages out %d px wide (%v), want %d", got, err, width)
	}
	return b
}

// ignoreFailedLoads leaves out the failed loads Chromium logs for a page
// answered with an error status, which tests that ask for such pages
// check themselves.
func ignoreFailedLoads(e *cdplog.Entry) bool { return e.Source == cdplog.EntrySourceNetwork }

// fail ends the test at step with err and what the pages reported so far.
func (b *tab) fail(step string, err error) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Fatalf("%s: %v\nproblems: %q\nrequests: %q", step, err, b.problems, b.requests)
}

// requested returns the requests the tab's pages have made so far, after
// a round trip that makes sure the listener has handled every event.
func (b *tab) requested() []string {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Title()); err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// shot saves the whole page the tab shows as name in its screenshots'
// folder.
func (b *tab) shot(name string) {
	b.t.Helper()
	saveScreenshot(b.t, b.ctx, b.shots, name)
}

// saveScreenshot saves the whole page ctx shows as dir/name. Quality 100
// is PNG; any other quality gives JPEG bytes.
func saveScreenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkAxeAndFit runs axe-core on the page ctx shows, on the 360 px
// screen the caller has emulated, and fails t on a serious or critical
// violation or on a page wider than the screen.
func checkAxeAndFit(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	vs, err := browser.Axe(ctx)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, v := range vs {
		if v.Serious() {
			t.Errorf("%s: axe-core: %s", name, v)
		}
	}
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if wide {
		t.Errorf("%s is wider than a 360 px screen", name)
	}
}

// signIn signs in at base's console with the sign-in form as email with
// password, and waits for the signed-in page's Sign out button.
func (b *tab) signIn(base, email, password string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx,
		submitSignIn(base, email, password),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/sign-out"] button`)),
	); err != nil {
		b.fail("sign in as "+email, err)
	}
}

// submitSignIn opens base's sign-in page and submits its form with email
// and password; what the console answers is for the caller to wait on
// (the signed-in page, a second factor's step).
func submitSignIn(base, email, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/console/sign-in"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-in"] button`)),
	)
}

// grantClipboard lets origin's pages read and write the clipboard, as a
// user's click on the browser's prompt would.
func (b *tab) grantClipboard(origin string) {
	b.t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin,
		}); err != nil {
			b.t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// checkProblems fails the test on each problem the pages reported that
// allowed does not accept (nil accepts none). A round trip first makes
// sure the listener has handled every event.
func (b *tab) checkProblems(allowed func(problem string) bool) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Title()); err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, pr := range b.problems {
		if allowed == nil || !allowed(pr) {
			b.t.Errorf("the page reported %s", pr)
		}
	}
}

// createMoorings creates the form "Moorings" (an e-mail and a message
// field) in the workspace site, whose notification goes to team, and
// returns its ID.
func createMoorings(t *testing.T, p *keelproc.Proc, token, team string) string {
	t.Helper()
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/forms", token, map[string]any{
		"name": "Moorings",
		"fields": []map[string]any{
			{"name": "email", "label": "E-mail", "type": "email", "required": true},
			{"name": "message", "label": "Message", "type": "textarea"},
		},
		"notify": map[string]any{"recipients": []string{team}, "subject": "Mooring request {{.SubmissionID}}"},
	}, 201, &form)
	return form.ID
}

// submitSpam submits to the Moorings form a message from
// skipper@example.com with six links, more than keel serve allows
// (KEEL_SPAM_MAX_LINKS, 5 by default), so that the spam rules hold it and
// its notification; it returns the submission's ID.
func submitSpam(t *testing.T, p *keelproc.Proc, formID string) string {
	t.Helper()
	var links []string
	for i := range 6 {
		links = append(links, fmt.Sprintf("https://boats%d.example/", i))
	}
	var sub struct{ ID string }
	p.MustCall(t, "POST", "/v1/forms/"+formID+"/submissions", "", map[string]any{
		"email": "skipper@example.com", "message": "A berth for my boat, see " + strings.Join(links, " "),
	}, 201, &sub)
	return sub.ID
}

// scheduleTime is when a test schedules a post: scheduleAhead from now, in
// UTC, to the second, and never on a whole minute, because Chromium reads a
// datetime-local input's value back without ":00" seconds, which
// chromedp.SetValue takes for a refusal (one run in sixty failed so).
func scheduleTime() time.Time {
	at := time.Now().UTC().Add(scheduleAhead).Truncate(time.Second)
	if at.Second() == 0 {
		at = at.Add(time.Second)
	}
	return at
}

// waitPublished polls the public API, which answers 404 until the post at
// path (/v1/sites/…) is published, for at most publicDeadline, and decodes
// the published post into post.
func waitPublished(t *testing.T, p *keelproc.Proc, path string, post any) {
	t.Helper()
	deadline := time.Now().Add(publicDeadline)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		status, out, err := p.Call(t.Context(), "GET", path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusOK {
			p.MustCall(t, "GET", path, "", nil, 200, post)
			return
		}
		if status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("the scheduled post on the public API: %d %s", status, out)
		}
		<-tick.C
	}
}
