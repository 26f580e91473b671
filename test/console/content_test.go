package console

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/test/keelproc"
)

// scheduleAhead is how far ahead the editor schedules the post: enough
// for the browser to submit the form before the time comes, short enough
// for the test to wait for keel serve's scheduler, which runs every second.
const scheduleAhead = 5 * time.Second

// publicDeadline bounds the wait for the scheduled post on the public API.
const publicDeadline = 30 * time.Second

// contentTimeout bounds the whole browser session: pageTimeout's pages,
// the wait for the scheduler and three runs of axe-core.
const contentTimeout = 2 * time.Minute

// contentWidth and contentHeight are the screen the screenshots show: the
// editor with its preview below it, as on a laptop.
const (
	contentWidth  = 1000
	contentHeight = 900
)

// TestContentInABrowser: an editor signs in, writes a post, previews it
// (the preview is the API's rendering of the Markdown), schedules it a few
// seconds ahead in UTC, and keel serve's scheduler then publishes it on
// the public API. Someone else then saves the post while the editor has it
// open: the editor's save overwrites nothing and shows their version, and
// saving again after that stores the editor's text. A viewer then sees the
// post with no edit control, and a POST the viewer forges from the page
// is refused. axe-core checks every content page at 360 px, the ones only
// a POST shows too, and the editor with its preview, the conflict and a
// revision's diff are saved as content-editor.png, content-conflict.png
// and content-revision.png in the screenshots folder.
func TestContentInABrowser(t *testing.T) {
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	token := setupSite(t, p)
	for _, m := range []struct{ email, role string }{{"eve@example.com", "editor"}, {"vic@example.com", "viewer"}} {
		p.MustCall(t, "POST", "/v1/users", token, map[string]any{"email": m.email, "password": ownerPassword, "name": m.role}, 201, nil)
		p.MustCall(t, "POST", "/v1/workspaces/site/members", token, map[string]any{"email": m.email, "role": m.role}, 201, nil)
	}
	shots := screenshotDir(t)

	// A page answered 409 (the conflict) or 404 (the forged post) is
	// logged as a failed load, which is expected here.
	b := newTab(t, contentTimeout, contentWidth, contentHeight, shots, ignoreFailedLoads)
	ctx, fail := b.ctx, b.fail
	// audit runs axe-core on the page shown, at 360 px wide, and fails on
	// a serious violation or a page that scrolls sideways. The crawl in
	// crawl_test.go checks every page a link reaches; these are also the
	// pages only a POST shows (a preview, a conflict).
	audit := func(name string) {
		t.Helper()
		checkNarrowPage(t, ctx, name)
	}
	signIn := func(email string) {
		t.Helper()
		b.signIn(p.URL, email, ownerPassword)
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
			chromedp.WaitVisible(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/content"]`)),
			chromedp.Click(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/content"]`)),
			chromedp.WaitVisible(chromedp.CSS(`form.filters`)),
		); err != nil {
			fail("open the content as "+email, err)
		}
	}

	// The editor writes a post and previews it.
	signIn("eve@example.com")
	audit("the content list")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("new-post")),
		chromedp.WaitVisible(chromedp.ID("title")),
		chromedp.SendKeys(chromedp.ID("title"), "Tide tables"),
		chromedp.SendKeys(chromedp.ID("body"), "## High water\n\nAt *noon* and at midnight.\n"),
		chromedp.SendKeys(chromedp.ID("tags"), "Tides"),
		chromedp.Click(chromedp.ID("preview-button")),
		chromedp.WaitVisible(chromedp.CSS(`#preview h2`)),
	); err != nil {
		fail("write and preview a post", err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#preview h2`)))
	if err != nil {
		t.Fatal(err)
	}
	previewHTML, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("preview").innerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("body")))
	if err != nil {
		t.Fatal(err)
	}
	if heading != "High water" || !strings.Contains(kept, "At *noon*") {
		t.Errorf("the preview's heading is %q and the editor keeps %q", heading, kept)
	}
	editor, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	audit("the editor with its preview")
	if err := os.WriteFile(filepath.Join(shots, "content-editor.png"), editor, 0o644); err != nil {
		t.Fatal(err)
	}

	// It saves the post and schedules it a few seconds ahead, in UTC as
	// the page says.
	at := scheduleTime()
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.CSS(`#entry-status.status-draft`)),
		chromedp.SetValue(chromedp.ID("publish-at"), at.Format("2006-01-02T15:04:05")),
		chromedp.Click(chromedp.ID("schedule")),
		chromedp.WaitVisible(chromedp.CSS(`#entry-status.status-scheduled`)),
	); err != nil {
		fail("save and schedule the post", err)
	}
	hint, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("publish-at-hint")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hint, "UTC") {
		t.Errorf("the schedule's hint does not name the time zone: %q", hint)
	}

	// keel serve's scheduler publishes it; the public API then serves the
	// HTML the preview showed.
	var post struct {
		BodyHTML    string `json:"body_html"`
		PublishedAt string `json:"published_at"`
	}
	waitPublished(t, p, "/v1/sites/site/posts/tide-tables", &post)
	if time.Now().Before(at) {
		t.Errorf("the post was public before %v, its scheduled time", at)
	}
	if post.PublishedAt != at.Format(time.RFC3339) && !strings.HasPrefix(post.PublishedAt, at.Format("2006-01-02T15:04:05")) {
		t.Errorf("published_at %q, want the scheduled %v", post.PublishedAt, at)
	}
	if strings.TrimSpace(post.BodyHTML) != strings.TrimSpace(previewHTML) || !strings.Contains(post.BodyHTML, "<h2") {
		t.Errorf("the API serves %q, the preview showed %q", post.BodyHTML, previewHTML)
	}

	// Someone else saves the post while the editor has it open: the
	// editor's save overwrites nothing, shows their version and a diff,
	// and keeps the editor's text, which a second save then stores.
	entryPage, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(entryPage), chromedp.WaitVisible(chromedp.CSS(`#entry-status.status-published`))); err != nil {
		fail("reopen the published post", err)
	}
	id := entryPage[strings.LastIndex(entryPage, "/")+1:]
	p.MustCall(t, "PATCH", "/v1/workspaces/site/entries/"+id, token, map[string]any{"body": "## High water\n\nAt *noon* and at one.\n"}, 200, nil)
	mine := "## High water\n\nAt *noon* and at midnight.\n\nBring a coat.\n"
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("body"), mine),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("conflict")),
	); err != nil {
		fail("save over someone else's save", err)
	}
	conflictShot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	audit("a save that lost the race")
	if err := os.WriteFile(filepath.Join(shots, "content-conflict.png"), conflictShot, 0o644); err != nil {
		t.Fatal(err)
	}
	kept, err = chromedp.Run(ctx, chromedp.Value(chromedp.ID("body")))
	if err != nil {
		t.Fatal(err)
	}
	diff, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`section.conflict .diff`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.ReplaceAll(kept, "\r\n", "\n") != mine || !strings.Contains(diff, "− Bring a coat.") || !strings.Contains(diff, "+ At *noon* and at one.") {
		t.Errorf("the conflict keeps %q in the editor and shows the diff:\n%s", kept, diff)
	}
	var public struct {
		BodyHTML string `json:"body_html"`
	}
	p.MustCall(t, "GET", "/v1/sites/site/posts/tide-tables", "", nil, 200, &public)
	if !strings.Contains(public.BodyHTML, "at one.") || strings.Contains(public.BodyHTML, "Bring a coat.") {
		t.Fatalf("after the losing save the public API serves %q", public.BodyHTML)
	}
	// The conflict page shows the post's status too, so the save has
	// gone through once the conflict is gone from the page.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitNotPresent(chromedp.ID("conflict")),
		chromedp.WaitVisible(chromedp.CSS(`#entry-status.status-published`)),
	); err != nil {
		fail("save again after the conflict", err)
	}
	p.MustCall(t, "GET", "/v1/sites/site/posts/tide-tables", "", nil, 200, &public)
	if !strings.Contains(public.BodyHTML, "Bring a coat.") {
		t.Errorf("after saving again the public API serves %q", public.BodyHTML)
	}

	// The revisions keep every save; the first compares with the current
	// version line by line.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`main a[href$="/revisions"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main a[href$="/revisions/1"]`)),
	); err != nil {
		fail("open the revisions", err)
	}
	audit("the revisions")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`main a[href$="/revisions/1"]`)),
		chromedp.WaitVisible(chromedp.ID("restore")),
	); err != nil {
		fail("open the first revision", err)
	}
	revisionShot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shots, "content-revision.png"), revisionShot, 0o644); err != nil {
		t.Fatal(err)
	}
	audit("a revision compared with the current version")
	revDiff, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main .diff`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(revDiff, "+ Bring a coat.") {
		t.Errorf("revision 1 compared with the current version:\n%s", revDiff)
	}

	// A viewer reads the post but has no control to change it.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		fail("sign out", err)
	}
	signIn("vic@example.com")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`main a[href^="/console/workspaces/site/content/ent_"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rendered h2`)),
	); err != nil {
		fail("the viewer opens the post", err)
	}
	audit("the viewer's entry page")
	controls, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('main textarea, main input:not([type=hidden]):not([type=search]):not(#tag), main form[method=post], #new-post, #save, #publish-now, #schedule, #unpublish').length`))
	if err != nil {
		t.Fatal(err)
	}
	if controls != 0 {
		t.Errorf("the viewer's entry page has %d edit controls", controls)
	}
	entryURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	b.checkProblems(nil)

	// The viewer forges the editor's unpublish from the page, as a form
	// the page never offered (the CSP lets no script fetch): the console
	// refuses it, and the post stays public.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(() => {
			const f = document.createElement("form");
			f.method = "post";
			f.action = location.pathname + "/unpublish";
			for (const [k, v] of [["version", "3"], ["to", "draft"]]) {
				const i = document.createElement("input");
				i.type = "hidden"; i.name = k; i.value = v;
				f.append(i);
			}
			document.body.append(f);
			f.submit();
		})()`),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/console/"]`)),
	); err != nil {
		t.Fatal(err)
	}
	refused, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(refused, "There is no such page.") {
		t.Errorf("the viewer's forged unpublish of %s answered:\n%s", entryURL, refused)
	}
	p.MustCall(t, "GET", "/v1/sites/site/posts/tide-tables", "", nil, 200, nil)
}

// checkNarrowPage runs axe-core on the page ctx shows with the screen
// emulated 360 px wide, the narrowest the console supports, and fails t
// on a serious or critical violation or on a page wider than the screen.
// The test's wider screen comes back afterwards, for screenshots.
func checkNarrowPage(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 800)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(contentWidth, contentHeight)); err != nil {
			t.Fatal(err)
		}
	}()
	checkAxeAndFit(t, ctx, name)
}
