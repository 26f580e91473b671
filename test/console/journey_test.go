package console

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
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
)

// journeyTimeout bounds the whole journey: four browser contexts, about
// twenty runs of axe-core, the wait for the scheduler and for three mails.
const journeyTimeout = 3 * time.Minute

// TestJourneyInABrowser is the issue's own scenario in one run, in a real
// Chromium against keel serve with its mail sent over SMTP to Mailpit:
//
//  1. The owner signs in (a cookie planted beforehand is replaced, and the
//     session cookie is HttpOnly, SameSite=Lax, Path=/console/), invites
//     editor@example.com as an editor from the members page and adds an
//     existing account as a viewer.
//  2. The editor opens the mailed invitation in a fresh browser context,
//     sets a name and a password and lands in the workspace.
//  3. The editor writes a post, previews its Markdown, schedules it a few
//     seconds ahead, and it appears on the public API.
//  4. The viewer sees no edit control on the content and submission
//     pages; a same-origin POST forged with the viewer's cookie is refused
//     and changes nothing, and so are cross-site POSTs with the owner's
//     session, sent from the test and from a form on another site.
//  5. The owner marks a submission the spam rules caught "Not spam", and
//     its notification arrives in Mailpit.
//  6. The owner downloads the form's CSV export.
//  7. The editor resets the password from the forgotten-password page and
//     the mailed link, signs in with the new one, and the editor's first
//     session is signed out.
//
// axe-core checks every page on the way, and each is saved as
// journey-*.png in the screenshots folder.
func TestJourneyInABrowser(t *testing.T) {
	p, mp := serveWithMailpit(t, "Keel <journey@keel.test>")
	const (
		owner, viewer, editor = ownerEmail, "vic@example.com", "editor@example.com"
		password              = ownerPassword
		newPassword           = "a brand new passphrase"
	)
	// The team's address is run-unique: the Mailpit container is shared by
	// the package, and this is the mail whose absence step 4 checks.
	team := "team-" + strings.ToLower(time.Now().Format("150405.000000")) + "@site.test"
	token := setupSite(t, p)
	var vic struct{ ID string }
	p.MustCall(t, "POST", "/v1/users", token, map[string]any{"email": viewer, "password": password, "name": "Vic"}, 201, &vic)
	formID := createMoorings(t, p, token, team)
	// More links than keel serve allows: the spam rules hold this one and
	// its notification.
	spamID := submitSpam(t, p, formID)
	var plain struct{ ID string }
	p.MustCall(t, "POST", "/v1/forms/"+formID+"/submissions", "", map[string]any{"email": "visitor@example.com", "message": "Is there a slipway?"}, 201, &plain)
	subStatus := func(id string) string {
		t.Helper()
		var s struct{ Status string }
		p.MustCall(t, "GET", "/v1/workspaces/site/submissions/"+id, token, nil, 200, &s)
		return s.Status
	}
	if got := subStatus(spamID); got != "spam" {
		t.Fatalf("a submission with six links is %q, want spam", got)
	}
	shots := screenshotDir(t)

	// The screen is emulated, not the window sized: headless Chromium
	// keeps a window at least 500 px wide, so WindowSize(360, …) would not
	// show the pages at 360 px.
	ownerCtx := browser.New(t, journeyTimeout)
	if err := chromedp.Do(ownerCtx, chromedp.EmulateViewport(360, 800)); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		problems []string
	)
	// listen collects what a tab reports: uncaught exceptions and errors
	// logged other than a failed load (the refused and 404 pages on the
	// way are expected; the test checks their status itself).
	listen := func(ctx context.Context, who string) {
		t.Helper()
		err := chromedp.Listen(ctx, func(ev any) {
			mu.Lock()
			defer mu.Unlock()
			switch ev := ev.(type) {
			case *runtime.EventExceptionThrown:
				problems = append(problems, who+": uncaught: "+ev.ExceptionDetails.Text)
			case *cdplog.EventEntryAdded:
				if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
					problems = append(problems, fmt.Sprintf("%s: %s %s: %s %s", who, ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
				}
			}
		})
		if err != nil {
			t.Fatalf("listen to %s's tab: %v", who, err)
		}
	}
	listen(ownerCtx, "owner")
	fail := func(step string, err error) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: %v\nproblems: %q", step, err, problems)
	}
	// fresh opens a tab in a new browser context: no cookie of another
	// context reaches it, as in another browser.
	fresh := func(who string) context.Context {
		t.Helper()
		ctx, cancel := chromedp.NewContext(ownerCtx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 800)); err != nil {
			t.Fatalf("open a browser context for %s: %v", who, err)
		}
		listen(ctx, who)
		return ctx
	}
	// check runs axe-core on the page ctx shows, fails on a serious or
	// critical violation or a page wider than 360 px, and saves the page
	// as journey-NAME.png.
	check := func(ctx context.Context, name string) {
		t.Helper()
		checkAxeAndFit(t, ctx, "journey-"+name)
		saveScreenshot(t, ctx, shots, "journey-"+name+".png")
	}
	// sessionCookie returns the console's cookie in ctx's browser context,
	// or nil when it holds none.
	sessionCookie := func(ctx context.Context) *network.Cookie {
		t.Helper()
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.URL + "/console/"}})
		if err != nil {
			t.Fatalf("read the cookies: %v", err)
		}
		for _, c := range res.Cookies {
			if c.Name == "keel_session" {
				return c
			}
		}
		return nil
	}
	signIn := func(ctx context.Context, email, pw, step string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			submitSignIn(p.URL, email, pw),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		); err != nil {
			fail(step, err)
		}
	}
	// mailedLink waits for a mail to the address that carries a console
	// link to path on this keel serve, and returns the link. Other mail to
	// the address (an earlier run's, in the shared Mailpit) is passed over.
	linkRE := func(path string) *regexp.Regexp {
		return regexp.MustCompile(regexp.QuoteMeta(p.URL) + `/console/` + path + `/k[a-z]{2}_[0-9a-z]{52}\b`)
	}
	mailedLink := func(to, path string) string {
		t.Helper()
		re, seen := linkRE(path), map[string]bool{}
		deadline := time.Now().Add(30 * time.Second)
		for {
			for _, s := range mp.Search(t, "to:"+to) {
				if seen[s.ID] {
					continue
				}
				seen[s.ID] = true
				if m := re.FindString(mp.Message(t, s.ID).Text); m != "" {
					return m
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no mail to %s with a %s link to %s after 30s", to, path, p.URL)
			}
			// Polling another process (Mailpit) with a deadline.
			time.Sleep(100 * time.Millisecond)
		}
	}

	// 1. The owner signs in over a planted cookie, which must not survive:
	// the session is a new one, in a cookie with the expected flags.
	const planted = "planted-by-someone-else"
	if _, err := chromedp.Call(ownerCtx, network.SetCookie, network.SetCookieParams{
		Name: "keel_session", Value: planted, URL: p.URL + "/console/", Path: "/console/",
	}); err != nil {
		t.Fatalf("plant a cookie: %v", err)
	}
	if err := chromedp.Do(ownerCtx, chromedp.Navigate(p.URL+"/console/sign-in"), chromedp.WaitVisible(chromedp.ID("email"))); err != nil {
		fail("open the sign-in page", err)
	}
	check(ownerCtx, "sign-in")
	signIn(ownerCtx, owner, password, "the owner signs in")
	ck := sessionCookie(ownerCtx)
	switch {
	case ck == nil:
		t.Fatal("no session cookie after sign-in")
	case ck.Value == planted:
		t.Errorf("the planted cookie survived sign-in: session fixation")
	case !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteLax || ck.Path != "/console/":
		t.Errorf("the session cookie is HttpOnly=%v SameSite=%q Path=%q, want true, Lax, /console/", ck.HTTPOnly, ck.SameSite, ck.Path)
	}
	ownerCookie := ck.Value
	check(ownerCtx, "workspaces")
	if err := chromedp.Do(ownerCtx,
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/members"]`)),
	); err != nil {
		fail("open the workspace", err)
	}
	check(ownerCtx, "overview")
	if err := chromedp.Do(ownerCtx,
		chromedp.Click(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/members"]`)),
		chromedp.WaitVisible(chromedp.ID("add-email")),
		chromedp.SendKeys(chromedp.ID("add-email"), editor),
		chromedp.SetValue(chromedp.ID("add-role"), "editor"),
		chromedp.Click(chromedp.CSS(`form[action="/console/workspaces/site/members"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)),
	); err != nil {
		fail("invite the editor from the members page", err)
	}
	invites, err := chromedp.Run(ownerCtx, chromedp.Text(chromedp.CSS("table.invitations tbody")))
	if err != nil || !strings.Contains(invites, editor) || !strings.Contains(invites, "editor") {
		t.Errorf("the pending invitations are %q (%v), want %s as editor", invites, err, editor)
	}
	if err := chromedp.Do(ownerCtx,
		chromedp.SendKeys(chromedp.ID("add-email"), viewer),
		chromedp.SetValue(chromedp.ID("add-role"), "viewer"),
		chromedp.Click(chromedp.CSS(`form[action="/console/workspaces/site/members"] button`)),
		// The invitation's notice is on the page already: the new page is
		// the one that lists the viewer.
		chromedp.WaitVisible(chromedp.ID("role-"+vic.ID)),
	); err != nil {
		fail("add the viewer from the members page", err)
	}
	people, err := chromedp.Run(ownerCtx, chromedp.Text(chromedp.CSS("table.members tbody")))
	if err != nil || !strings.Contains(people, viewer) {
		t.Errorf("the members are %q (%v), want %s among them", people, err, viewer)
	}
	check(ownerCtx, "members")

	// 2. The editor accepts the mailed invitation in a fresh context.
	editorCtx := fresh("editor")
	link := mailedLink(editor, "invitations")
	if err := chromedp.Do(editorCtx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("name"))); err != nil {
		fail("open the mailed invitation", err)
	}
	if c := sessionCookie(editorCtx); c != nil {
		t.Errorf("the editor's fresh context holds a session cookie %q before accepting", c.Value)
	}
	check(editorCtx, "invitation")
	if err := chromedp.Do(editorCtx,
		chromedp.SendKeys(chromedp.ID("name"), "Eddie"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("confirm"), password),
		chromedp.Click(chromedp.CSS(`form[action^="/console/invitations/"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.ws`)),
	); err != nil {
		fail("accept the invitation", err)
	}
	if loc, err := chromedp.Run(editorCtx, chromedp.Location()); err != nil || loc != p.URL+"/console/workspaces/site" {
		t.Errorf("after accepting, the editor is at %s (%v), want the workspace", loc, err)
	}
	editorCk := sessionCookie(editorCtx)
	if editorCk == nil || editorCk.Value == ownerCookie {
		t.Fatalf("the editor's session cookie after accepting: %+v", editorCk)
	}
	check(editorCtx, "editor-overview")

	// 3. The editor writes a post, previews it and schedules it.
	if err := chromedp.Do(editorCtx,
		chromedp.Click(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/content"]`)),
		chromedp.WaitVisible(chromedp.ID("new-post")),
	); err != nil {
		fail("open the content", err)
	}
	check(editorCtx, "content")
	if err := chromedp.Do(editorCtx,
		chromedp.Click(chromedp.ID("new-post")),
		chromedp.WaitVisible(chromedp.ID("title")),
		chromedp.SendKeys(chromedp.ID("title"), "Tide tables"),
		chromedp.SendKeys(chromedp.ID("body"), "## High water\n\nAt *noon* and at midnight.\n"),
		chromedp.Click(chromedp.ID("preview-button")),
		chromedp.WaitVisible(chromedp.CSS(`#preview h2`)),
	); err != nil {
		fail("write and preview a post", err)
	}
	previewHTML, err := chromedp.Run(editorCtx, chromedp.Evaluate[string](`document.getElementById("preview").innerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(previewHTML, "<h2") || !strings.Contains(previewHTML, "<em>noon</em>") {
		t.Errorf("the preview does not show the rendered Markdown: %q", previewHTML)
	}
	check(editorCtx, "editor-preview")
	if err := chromedp.Do(editorCtx,
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.CSS(`#entry-status.status-draft`)),
	); err != nil {
		fail("save the post", err)
	}
	// The time is taken after the save, so that a slow save cannot make
	// it past (a past time publishes at once) before the form is sent.
	at := scheduleTime()
	if err := chromedp.Do(editorCtx,
		chromedp.SetValue(chromedp.ID("publish-at"), at.Format("2006-01-02T15:04:05")),
		chromedp.Click(chromedp.ID("schedule")),
		chromedp.WaitVisible(chromedp.CSS(`#entry-status.status-scheduled`)),
	); err != nil {
		fail("schedule the post", err)
	}
	check(editorCtx, "scheduled")
	var post struct {
		Title    string
		BodyHTML string `json:"body_html"`
	}
	waitPublished(t, p, "/v1/sites/site/posts/tide-tables", &post)
	if time.Now().Before(at) {
		t.Errorf("the post was public before %v, its scheduled time", at)
	}
	if post.Title != "Tide tables" || strings.TrimSpace(post.BodyHTML) != strings.TrimSpace(previewHTML) {
		t.Errorf("the public post is %q with %q, the preview showed %q", post.Title, post.BodyHTML, previewHTML)
	}

	// 4. The viewer sees no edit control, and forged posts change nothing.
	viewerCtx := fresh("viewer")
	signIn(viewerCtx, viewer, password, "the viewer signs in")
	// editControls counts what would change something on the page: a
	// textarea, an input other than a filter, a form that posts, and the
	// editor's and submission's buttons.
	editControls := func(ctx context.Context) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('main textarea, main input:not([type=hidden]):not([type=search]):not(#tag), main form[method=post], #new-post, #new-page, #save, #publish-now, #schedule, #unpublish, #not-spam, #actions').length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := chromedp.Do(viewerCtx,
		chromedp.Navigate(p.URL+"/console/workspaces/site/content"),
		chromedp.WaitVisible(chromedp.CSS(`form.filters`)),
	); err != nil {
		fail("the viewer opens the content", err)
	}
	if n := editControls(viewerCtx); n != 0 {
		t.Errorf("the viewer's content list has %d edit controls", n)
	}
	check(viewerCtx, "viewer-content")
	if err := chromedp.Do(viewerCtx,
		chromedp.Click(chromedp.CSS(`main a[href^="/console/workspaces/site/content/ent_"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rendered h2`)),
	); err != nil {
		fail("the viewer opens the post", err)
	}
	if n := editControls(viewerCtx); n != 0 {
		t.Errorf("the viewer's entry page has %d edit controls", n)
	}
	check(viewerCtx, "viewer-entry")
	if err := chromedp.Do(viewerCtx,
		chromedp.Navigate(p.URL+"/console/workspaces/site/submissions/"+spamID),
		chromedp.WaitVisible(chromedp.ID("status")),
	); err != nil {
		fail("the viewer opens the spam submission", err)
	}
	if n := editControls(viewerCtx); n != 0 {
		t.Errorf("the viewer's submission page has %d edit controls", n)
	}
	check(viewerCtx, "viewer-submission")
	viewerCk := sessionCookie(viewerCtx)
	if viewerCk == nil {
		t.Fatal("the viewer has no session cookie")
	}
	// post sends a form to the console as a browser would, with the
	// cookie and the fetch metadata given; it returns the status and the
	// page, not following a redirect.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	postForm := func(path, cookie string, form url.Values, header ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "POST", p.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "keel_session", Value: cookie})
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	sameOrigin := []string{"Origin", p.URL, "Sec-Fetch-Site", "same-origin"}
	forged := []struct {
		path string
		form url.Values
	}{
		{"/console/workspaces/site/submissions/" + spamID + "/not-spam", nil},
		{"/console/workspaces/site/submissions/" + plain.ID + "/status", url.Values{"status": {"archived"}}},
		{"/console/workspaces/site/submissions/" + plain.ID + "/delete", nil},
	}
	for _, f := range forged {
		status, body := postForm(f.path, viewerCk.Value, f.form, sameOrigin...)
		if status != http.StatusNotFound || !strings.Contains(body, "There is no such page.") {
			t.Errorf("the viewer's forged POST %s answered %d:\n%s", f.path, status, body)
		}
	}
	// A cross-site POST is refused before any handler runs, even with the
	// owner's cookie, which a browser would send along with a top-level
	// form post (SameSite=Lax) were it not for this check.
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
		{"Origin", "https://evil.example"},
	} {
		status, body := postForm("/console/workspaces/site/submissions/"+spamID+"/not-spam", ownerCookie, nil, h...)
		if status != http.StatusForbidden || !strings.Contains(body, "came from another site") {
			t.Errorf("a cross-site POST with %q answered %d:\n%s", h, status, body)
		}
	}
	// And in the browser: a page on another site (localhost, which is not
	// 127.0.0.1's site) holds a form that posts Not spam to the console;
	// the owner, signed in, is made to press its button.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Win a boat</title><form method="post" action="%s/console/workspaces/site/submissions/%s/not-spam"><button id="win">Win a boat</button></form>`, p.URL, spamID)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	if err := chromedp.Do(ownerCtx,
		chromedp.Navigate(evilURL),
		chromedp.Click(chromedp.ID("win")),
		chromedp.WaitVisible(chromedp.CSS(`main`)),
	); err != nil {
		fail("post from another site", err)
	}
	if refused, err := chromedp.Run(ownerCtx, chromedp.Text(chromedp.CSS("main"))); err != nil || !strings.Contains(refused, "came from another site") {
		t.Errorf("the console answered a form posted from another site with %q (%v)", refused, err)
	}
	if s1, s2 := subStatus(spamID), subStatus(plain.ID); s1 != "spam" || s2 != "new" {
		// The journey's next steps need the spam as it was.
		t.Fatalf("after the refused posts the submissions are %s and %s, want spam and new", s1, s2)
	}
	// The plain submission's notification went out; the spam's is held.
	spamMail := "to:" + team + " subject:" + spamID
	if found := mp.Search(t, spamMail); len(found) != 0 {
		t.Errorf("the spam's notification was mailed after refused posts: %+v", found)
	}

	// 5. The owner marks the spam not spam; its notification arrives.
	if err := chromedp.Do(ownerCtx,
		chromedp.Navigate(p.URL+"/console/workspaces/site"),
		chromedp.Click(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/forms"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/workspaces/site/forms/`+formID+`"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site/forms/`+formID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/workspaces/site/submissions/`+spamID+`"]`)),
	); err != nil {
		fail("the owner opens the form's submissions", err)
	}
	check(ownerCtx, "submissions")
	if err := chromedp.Do(ownerCtx,
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site/submissions/`+spamID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("not-spam")),
	); err != nil {
		fail("the owner opens the spam submission", err)
	}
	check(ownerCtx, "spam")
	if err := chromedp.Do(ownerCtx,
		chromedp.Click(chromedp.ID("not-spam")),
		chromedp.WaitVisible(chromedp.CSS(`#status.status-new`)),
	); err != nil {
		fail("mark the submission not spam", err)
	}
	check(ownerCtx, "not-spam")
	found := mp.WaitForSearch(t, spamMail, 1, 30*time.Second)
	if msg := mp.Message(t, found[0].ID); msg.Subject != "Mooring request "+spamID || !strings.Contains(msg.Text, "skipper@example.com") {
		t.Errorf("the held notification: subject %q, text:\n%s", msg.Subject, msg.Text)
	}

	// 6. The owner downloads the CSV export from the form's page.
	downloads := t.TempDir()
	done := make(chan string, 1)
	eventsOn := true
	if err := chromedp.ListenBrowser(ownerCtx, func(ev any) {
		if ev, ok := ev.(*cdpbrowser.EventDownloadProgress); ok && ev.State == cdpbrowser.DownloadProgressStateCompleted {
			select {
			case done <- ev.FilePath:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.CallBrowser(ownerCtx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: &eventsOn,
	}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	exportPath := "/console/workspaces/site/forms/" + formID + "/export"
	if err := chromedp.Do(ownerCtx,
		chromedp.Click(chromedp.CSS(`main a[href="/console/workspaces/site/forms/`+formID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="`+exportPath+`"]`)),
		chromedp.Click(chromedp.CSS(`a[href="`+exportPath+`"]`)),
	); err != nil {
		fail("download the export", err)
	}
	var file string
	select {
	case file = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the export's download did not complete in 30s")
	}
	if file == "" {
		file = filepath.Join(downloads, formID+"-submissions.csv")
	}
	if filepath.Base(file) != formID+"-submissions.csv" {
		t.Errorf("the export was saved as %s, want %s-submissions.csv", filepath.Base(file), formID)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%s", err, data)
	}
	got := map[string][]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r
	}
	if strings.Join(rows[0], ",") != "id,created_at,status,email,message" || len(rows) != 3 ||
		got[spamID] == nil || got[spamID][2] != "new" || got[spamID][3] != "skipper@example.com" ||
		got[plain.ID] == nil || got[plain.ID][4] != "Is there a slipway?" {
		t.Errorf("the export holds:\n%s", data)
	}
	// Its headers, read with the owner's cookie: the browser saved the
	// file, which says nothing of how.
	req, err := http.NewRequestWithContext(t.Context(), "GET", p.URL+exportPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "keel_session", Value: ownerCookie})
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 ||
		!strings.HasPrefix(ct, "text/csv") || !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, formID+"-submissions.csv") {
		t.Errorf("the export answered %d, Content-Type %q, Content-Disposition %q", resp.StatusCode, ct, cd)
	}

	// 7. The editor resets the password from another browser; the first
	// session ends with it.
	resetCtx := fresh("editor, resetting")
	if err := chromedp.Do(resetCtx,
		chromedp.Navigate(p.URL+"/console/sign-in"),
		chromedp.Click(chromedp.CSS(`a[href="/console/password-reset"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	); err != nil {
		fail("open the forgotten-password page", err)
	}
	check(resetCtx, "forgot")
	if err := chromedp.Do(resetCtx,
		chromedp.SendKeys(chromedp.ID("email"), editor),
		chromedp.Click(chromedp.CSS(`form[action="/console/password-reset"] button`)),
		chromedp.WaitVisible(chromedp.ID("reset-sent")),
	); err != nil {
		fail("ask for a reset link", err)
	}
	link = mailedLink(editor, "password-reset")
	if err := chromedp.Do(resetCtx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("password"))); err != nil {
		fail("open the mailed reset link", err)
	}
	check(resetCtx, "reset")
	if err := chromedp.Do(resetCtx,
		chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.SendKeys(chromedp.ID("confirm"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action^="/console/password-reset/"] button`)),
		chromedp.WaitVisible(chromedp.ID("reset-done")),
	); err != nil {
		fail("set a new password", err)
	}
	check(resetCtx, "reset-done")
	signIn(resetCtx, editor, newPassword, "the editor signs in with the new password")
	// The editor's first context still holds its cookie, whose session
	// the reset ended: its next page is the sign-in page.
	if err := chromedp.Do(editorCtx,
		chromedp.Navigate(p.URL+"/console/workspaces/site/content"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/sign-in"]`)),
	); err != nil {
		fail("the editor's first session after the reset", err)
	}
	if loc, err := chromedp.Run(editorCtx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/console/sign-in") {
		t.Errorf("the editor's first session after the reset is at %s (%v), want the sign-in page", loc, err)
	}
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": editor, "password": password}, 401, nil)

	// A last round trip in each tab makes sure the listeners handled
	// every event.
	for _, ctx := range []context.Context{ownerCtx, editorCtx, viewerCtx, resetCtx} {
		if _, err := chromedp.Run(ctx, chromedp.Title()); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, pr := range problems {
		t.Errorf("a page reported %s", pr)
	}
}
