package console

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/test/browser"
	"github.com/keelhq/keel/test/firefox"
	"github.com/keelhq/keel/test/keelproc"
)

// crawlPages bounds the crawl: the seeded workspace has a few dozen pages,
// and a link that makes new links forever (a cursor loop) must end the
// test with an error rather than its timeout.
const crawlPages = 150

// crawlTimeout bounds the whole crawl: each page costs a navigation, one
// run of axe-core and a screenshot, about a second.
const crawlTimeout = 6 * time.Minute

// crawlWidth is the narrowest screen the console promises to work on.
const crawlWidth = 360

// TestCrawlEveryPage signs in as the owner of a workspace that holds a
// form, a submission, an entry, an API key, an invitation, a webhook and
// queued mail, then follows every same-origin link under /console/ from
// the workspace list, breadth first. On every page it runs axe-core and
// fails on a serious or critical violation, checks the security headers,
// checks that the page fits 360 px (the document does not scroll sideways
// and every table sits in a scroll wrapper) and saves a screenshot to
// $KEEL_ARTIFACTS/console/<path>.png. Pages other areas add are checked as
// soon as a link reaches them. It crawls in the current Chromium and again
// in the previous one (browser.EachChromium), whose screenshots go to
// $KEEL_ARTIFACTS/console/<version>/, since the console promises the last
// two versions.
func TestCrawlEveryPage(t *testing.T) {
	// The dispatcher is off so that the queued mail and the webhook's
	// delivery stay in the outbox for their pages to show, and nothing
	// tries to reach the webhook's host. Both crawls read the same
	// instance: they only follow links, which change nothing but the
	// sign-ins the audit log lists.
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir(), "KEEL_DISPATCHER=off"})
	seedWorkspace(t, p)
	shots := screenshotDir(t)
	browser.EachChromium(t, func(t *testing.T, chromium browser.Binary) {
		dir := shots
		if chromium.Previous {
			dir = filepath.Join(shots, strings.ReplaceAll(chromium.Version, " ", "-"))
		}
		crawlConsole(t, p, chromium.Path, dir)
	})
	firefox.EachVersion(t, func(t *testing.T, fx browser.Binary) {
		crawlFirefox(t, p, fx.Path, filepath.Join(shots, strings.ReplaceAll(fx.Version, " ", "-")))
	})
}

// crawlConsole crawls the console of p in the Chromium at path, signed in
// and then signed out, and saves the screenshots in shots.
func crawlConsole(t *testing.T, p *keelproc.Proc, path, shots string) {
	origin, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	// A page answered 404 (a navigation link to an area not built yet)
	// is logged as a failed network load, which is not the page's fault;
	// policy violations are problems.
	b := newTabAt(t, path, crawlTimeout, crawlWidth, 800, shots, ignoreFailedLoads)
	ctx := b.ctx
	b.signIn(p.URL, crawlOwner, crawlPassword)

	seen := crawl(t, origin.Host, "/console/workspaces", func(target string) []string {
		return checkPage(t, ctx, p.URL, target, shots, true)
	})
	checkReached(t, seen)
	// Signed out, the pages before sign-in (sign-in, forgotten
	// password) get the same checks; their screenshots go to signed-out/.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/console/workspaces"),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	out := crawl(t, origin.Host, "/console/sign-in", func(target string) []string {
		return checkPage(t, ctx, p.URL, target, filepath.Join(shots, "signed-out"), false)
	})
	if !out[crawlKey("/console/sign-in")] {
		t.Error("the signed-out crawl never reached the sign-in page")
	}
	b.checkProblems(nil)
}

// crawlFirefox crawls the console of p in the Firefox at path, signed in
// and then signed out, as crawlConsole does in Chromium, and saves the
// screenshots in shots. It checks what the browser decides: the layout at
// 360 px, axe-core, that no page loses the session, and that Firefox
// reports no script error or policy violation; the statuses and headers
// are the server's, which the Chromium crawls check.
func crawlFirefox(t *testing.T, p *keelproc.Proc, path, shots string) {
	origin, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	b := firefox.StartAt(t, path)
	ctx, tab := firefoxTab(t, b, crawlTimeout)
	if _, err := tab.Navigate(ctx, p.URL+"/console/sign-in"); err != nil {
		t.Fatal(err)
	}
	signOut := `form[action="/console/sign-out"] button`
	firefoxSignIn(t, ctx, tab, signOut)

	seen := crawl(t, origin.Host, "/console/workspaces", func(target string) []string {
		return crawlFirefoxPage(t, ctx, tab, p.URL, target, shots, true)
	})
	checkReached(t, seen)
	if _, err := tab.Navigate(ctx, p.URL+"/console/workspaces"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Click(ctx, signOut); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, `!!document.querySelector("#password")`); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	out := crawl(t, origin.Host, "/console/sign-in", func(target string) []string {
		return crawlFirefoxPage(t, ctx, tab, p.URL, target, filepath.Join(shots, "signed-out"), false)
	})
	if !out[crawlKey("/console/sign-in")] {
		t.Error("the signed-out crawl never reached the sign-in page")
	}
	for _, e := range b.Errors() {
		t.Errorf("Firefox logged %s", e)
	}
}

// crawlFirefoxPage opens target in tab, checks it as checkPage does and
// returns the links it holds.
func crawlFirefoxPage(t *testing.T, ctx context.Context, tab *firefox.Tab, base, target, shots string, signedIn bool) []string {
	t.Helper()
	loc, err := tab.Navigate(ctx, base+target)
	if err != nil {
		t.Errorf("%s: open: %v", target, err)
		return nil
	}
	if signedIn && strings.HasSuffix(loc, "/console/sign-in") && !strings.HasSuffix(target, "/sign-in") {
		t.Errorf("%s: sent to the sign-in page: the crawl lost its session", target)
	}
	var lay pageLayout
	if err := tab.Evaluate(ctx, layoutScript, &lay); err != nil {
		t.Errorf("%s: measure: %v", target, err)
		return nil
	}
	checkLayout(t, target, lay)
	vs, err := tab.Axe(ctx)
	checkAxe(t, target, vs, err)
	png, err := tab.Screenshot(ctx)
	if err != nil {
		t.Errorf("%s: screenshot: %v", target, err)
		return lay.Links
	}
	writeShot(t, shots, target, png)
	return lay.Links
}

// checkReached fails t unless a crawl has reached the pages that exist,
// without which it would check nothing.
func checkReached(t *testing.T, seen map[string]bool) {
	t.Helper()
	for _, want := range []string{"/console/workspaces/site", "/console/workspaces/site/forms", "/console/workspaces/site/audit", "/console/admin/users", "/console/admin/audit"} {
		if !seen[crawlKey(want)] {
			t.Errorf("the crawl never reached %s", want)
		}
	}
}

const (
	crawlOwner    = "owner@example.com"
	crawlPassword = "correct horse battery"
)

// seedWorkspace gives the crawl something on every page: the instance's
// owner (an instance administrator, so the admin pages are linked), a
// second user, a disabled one, and a workspace with a form, a submission,
// a post, an API key, an invitation and a webhook.
func seedWorkspace(t *testing.T, p *keelproc.Proc) {
	t.Helper()
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": crawlOwner, "password": crawlPassword, "name": "Olive Owner"}, 201, &setup)
	p.MustCall(t, "POST", "/v1/workspaces", setup.Token, map[string]any{"name": "Harbour Site", "slug": "site"}, 201, nil)
	var user struct{ ID string }
	p.MustCall(t, "POST", "/v1/users", setup.Token, map[string]any{"email": "eddie@example.com", "password": crawlPassword, "name": "Eddie Editor"}, 201, &user)
	p.MustCall(t, "POST", "/v1/workspaces/site/members", setup.Token, map[string]any{"user_id": user.ID, "role": "editor"}, 201, nil)
	var gone struct{ ID string }
	p.MustCall(t, "POST", "/v1/users", setup.Token, map[string]any{"email": "gone@example.com", "password": crawlPassword, "name": "Gene Gone"}, 201, &gone)
	p.MustCall(t, "PATCH", "/v1/users/"+gone.ID, setup.Token, map[string]any{"status": "disabled"}, 200, nil)
	p.MustCall(t, "POST", "/v1/workspaces/site/invitations", setup.Token, map[string]any{"email": "vera@example.com", "role": "viewer"}, 201, nil)
	p.MustCall(t, "POST", "/v1/workspaces/site/api-keys", setup.Token, map[string]any{"name": "build", "scopes": []string{"content:read"}}, 201, nil)
	p.MustCall(t, "POST", "/v1/workspaces/site/webhooks", setup.Token, map[string]any{"url": "https://hooks.example.com/keel", "events": []string{"submission.created"}, "description": "CRM"}, 201, nil)
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/forms", setup.Token, map[string]any{
		"name": "Contact the harbour",
		"fields": []map[string]any{
			{"name": "email", "label": "E-mail", "type": "email", "required": true},
			{"name": "message", "label": "Message", "type": "textarea"},
		},
		"notify": map[string]any{"recipients": []string{"team@example.com"}},
	}, 201, &form)
	p.MustCall(t, "POST", "/v1/forms/"+form.ID+"/submissions", "", map[string]any{"email": "visitor@example.com", "message": "A berth for a small boat, please."}, 201, nil)
	p.MustCall(t, "POST", "/v1/workspaces/site/entries", setup.Token, map[string]any{"kind": "post", "title": "Winter opening hours", "body": "# Hours\n\nOpen *daily*.", "tags": []string{"News"}}, 201, nil)
}

// crawl checks every page reachable from start by same-origin links
// under /console/ on host, breadth first, and returns the pages it
// visited by crawlKey. visit opens and checks a page in a browser and
// returns the links it holds.
func crawl(t *testing.T, host, start string, visit func(target string) []string) map[string]bool {
	t.Helper()
	seen := map[string]bool{crawlKey(start): true}
	queue := []string{start}
	visited := 0
	for len(queue) > 0 {
		target := queue[0]
		queue = queue[1:]
		if visited == crawlPages {
			t.Fatalf("more than %d pages reachable; the next is %s", crawlPages, target)
		}
		visited++
		for _, l := range visit(target) {
			u, err := url.Parse(l)
			if err != nil || u.Host != host || !crawlable(u.Path) {
				continue
			}
			next := u.RequestURI()
			if k := crawlKey(next); !seen[k] {
				seen[k] = true
				queue = append(queue, next)
			}
		}
	}
	t.Logf("crawled %d pages from %s", visited, start)
	return seen
}

// crawlable says whether the crawl follows a link to path: console pages,
// but not the stylesheet, downloads (exports) or sign-out, which is a
// form anyway.
func crawlable(path string) bool {
	if !strings.HasPrefix(path, "/console/") || strings.HasPrefix(path, "/console/static/") {
		return false
	}
	if strings.HasSuffix(path, "/export") || strings.Contains(path, "/export/") || strings.HasSuffix(path, "/sign-out") {
		return false
	}
	return true
}

// crawlKey names a page for the crawl: its path and the names of its
// query parameters, so that a table's filters and its next page are each
// visited once, not once per value or cursor.
func crawlKey(requestURI string) string {
	u, err := url.Parse(requestURI)
	if err != nil {
		return requestURI
	}
	names := make([]string, 0, len(u.Query()))
	for k := range u.Query() {
		names = append(names, k)
	}
	sort.Strings(names)
	return u.Path + "?" + strings.Join(names, "&")
}

// pageLayout is what checkPage measures of a page at 360 px.
type pageLayout struct {
	ScrollWidth int      `json:"scrollWidth"`
	ClientWidth int      `json:"clientWidth"`
	BareTables  []string `json:"bareTables"`
	Wide        []string `json:"wide"`
	Links       []string `json:"links"`
}

// checkPage opens target, checks it and returns the links it holds.
func checkPage(t *testing.T, ctx context.Context, base, target, shots string, signedIn bool) []string {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+target))
	if err != nil {
		t.Errorf("%s: open: %v", target, err)
		return nil
	}
	switch {
	case resp.Status >= 500:
		t.Errorf("%s: status %d", target, resp.Status)
	case resp.Status != 200:
		// The workspace navigation links every area, also those not
		// built yet; their 404 page is checked like any other.
		t.Logf("%s: status %d", target, resp.Status)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); signedIn && err == nil && strings.HasSuffix(loc, "/console/sign-in") && !strings.HasSuffix(target, "/sign-in") {
		t.Errorf("%s: sent to the sign-in page: the crawl lost its session", target)
	}
	checkHeaders(t, target, resp.Headers)

	lay, err := chromedp.Run(ctx, chromedp.Evaluate[pageLayout](layoutScript))
	if err != nil {
		t.Errorf("%s: measure: %v", target, err)
		return nil
	}
	checkLayout(t, target, lay)
	vs, err := browser.Axe(ctx)
	checkAxe(t, target, vs, err)

	// Quality 100 makes a PNG; any other quality a JPEG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("%s: screenshot: %v", target, err)
		return lay.Links
	}
	writeShot(t, shots, target, png)
	return lay.Links
}

// layoutScript measures a page as pageLayout, in any browser.
const layoutScript = `({
	scrollWidth: document.documentElement.scrollWidth,
	clientWidth: document.documentElement.clientWidth,
	bareTables: [...document.querySelectorAll("table")].filter(t => !t.closest(".scroll")).map(t => t.outerHTML.slice(0, 120)),
	wide: (() => {
		// An element past the right edge widens the page unless a
		// scrolling ancestor clips it; one absolutely placed escapes
		// every such ancestor that does not hold its containing block.
		const w = document.documentElement.clientWidth;
		const clipped = e => {
			const abs = ["absolute", "fixed"].includes(getComputedStyle(e).position), cb = e.offsetParent;
			for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
				if (getComputedStyle(a).overflowX !== "visible" && (!abs || (cb && a.contains(cb)))) return true;
			}
			return false;
		};
		const over = e => e.getBoundingClientRect().right > w + 0.5 && !clipped(e);
		const all = [...document.querySelectorAll("body *")].filter(over);
		return all.filter(e => ![...e.children].some(over)).slice(0, 5).map(e => e.outerHTML.slice(0, 160));
	})(),
	links: [...document.querySelectorAll("a[href]")].map(a => a.href),
})`

// checkLayout fails t when the page target, measured as lay, scrolls
// sideways at crawlWidth or holds a table outside a scroll wrapper.
func checkLayout(t *testing.T, target string, lay pageLayout) {
	t.Helper()
	if lay.ScrollWidth > crawlWidth {
		t.Errorf("%s: the document is %d px wide at %d px (client width %d): it scrolls sideways; past the edge: %q", target, lay.ScrollWidth, crawlWidth, lay.ClientWidth, lay.Wide)
	}
	for _, tb := range lay.BareTables {
		t.Errorf("%s: a table outside a <div class=\"scroll\"> wrapper: %s…", target, tb)
	}
}

// checkAxe fails t on axe-core's serious and critical violations vs of
// the page target, or on err, the error running it; it logs the others.
func checkAxe(t *testing.T, target string, vs []browser.Violation, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", target, err)
	}
	for _, v := range vs {
		if v.Serious() {
			t.Errorf("%s: axe-core: %s", target, v)
		} else {
			t.Logf("%s: axe-core (accepted): %s (%s): %s", target, v.ID, v.Impact, v.Help)
		}
	}
}

// writeShot saves png, the screenshot of the page target, in shots.
func writeShot(t *testing.T, shots, target string, png []byte) {
	t.Helper()
	file := filepath.Join(shots, shotName(target))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._/-]+`)

// shotName is the screenshot's file under the screenshot folder: the
// page's path below /console/ and its query, as a file name.
func shotName(requestURI string) string {
	name := strings.TrimPrefix(requestURI, "/console/")
	name = strings.Replace(name, "?", "_", 1)
	name = unsafeName.ReplaceAllString(name, "_")
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index" // /console/ itself
	}
	return name + ".png"
}

// checkHeaders checks what every console response must carry: a CSP
// that allows no inline script or style and no framing.
func checkHeaders(t *testing.T, target string, h network.Headers) {
	t.Helper()
	get := func(name string) string {
		for k, v := range h {
			if strings.EqualFold(k, name) {
				return fmt.Sprint(v)
			}
		}
		return ""
	}
	csp := get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	if directives["frame-ancestors"] != "'none'" {
		t.Errorf("%s: Content-Security-Policy %q does not say frame-ancestors 'none'", target, csp)
	}
	script, ok := directives["script-src"]
	if !ok {
		script = directives["default-src"]
	}
	if script == "" {
		t.Errorf("%s: Content-Security-Policy %q does not restrict scripts", target, csp)
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} {
		if slices.Contains(strings.Fields(csp), bad) {
			t.Errorf("%s: Content-Security-Policy %q allows %s", target, csp, bad)
		}
	}
	if get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options is %q", target, get("X-Content-Type-Options"))
	}
}
