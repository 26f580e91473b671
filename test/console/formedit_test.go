package console

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/test/keelproc"
)

// TestFormBuilderAndEmbedInABrowser: an owner builds a form in the
// console (adding a select field with the "Add field" button, previewing
// its mail), saves it, and copies both embed snippets into pages of a
// site on another origin. The plain HTML form is submitted there after
// the timing field's minimum, and lands on the form's success page; the
// fetch() variant shows Keel's answer in the page, a refusal's fields
// included, and how long to wait after too many. Keel then holds both
// accepted submissions, neither of them spam: the snippets send every
// field, leave the honeypot empty and set the timing field. Screenshots of the builder, its preview and the embed page go
// where the other console screenshots go.
func TestFormBuilderAndEmbedInABrowser(t *testing.T) {
	// The timing field's minimum is short, so that the test waits little,
	// but not zero, so that a snippet without the field would be caught.
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir(), "KEEL_DISPATCHER=off", "KEEL_SPAM_MIN_FILL_TIME=1s",
		// Three submissions a minute from one address: the plain form's,
		// the fetch() snippet's refused one and its accepted one. A fourth
		// is refused with 429 and Retry-After.
		"KEEL_SUBMIT_PER_IP=3"})
	token := setupSite(t, p)

	// The site: a page per snippet, and the page the form's success
	// redirect names. It is served on localhost, another origin (and
	// host) than Keel's 127.0.0.1.
	var (
		snipMu   sync.Mutex
		snippets = map[string]string{}
	)
	site := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snipMu.Lock()
		body, ok := snippets[r.URL.Path]
		snipMu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Harbour</title><link rel=\"icon\" href=\"data:,\"></head><body><main>%s</main></body></html>", body)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	site.Listener = ln
	site.Start()
	t.Cleanup(site.Close)
	siteOrigin := "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	snippets["/thanks"] = `<h1 id="thanks">Thanks!</h1>`

	// The refusals the test asks for are logged as failed loads.
	b := newTab(t, pageTimeout, 360, 800, screenshotDir(t), func(e *cdplog.Entry) bool {
		return strings.Contains(e.Text, "status of 422") || strings.Contains(e.Text, "status of 429")
	})
	ctx, fail, shot := b.ctx, b.fail, b.shot

	// Build the form: the new form page starts with an e-mail and a
	// message field; "Add field" adds a third row, which becomes a select.
	b.signIn(p.URL, ownerEmail, ownerPassword)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/console/workspaces/site/forms"),
		chromedp.Click(chromedp.ID("new-form")),
		chromedp.WaitVisible(chromedp.ID("f1-name")),
		chromedp.SendKeys(chromedp.ID("name"), "Harbour contact"),
		chromedp.Click(chromedp.CSS(`button[value="add"]`)),
		chromedp.WaitVisible(chromedp.ID("f2-name")),
		chromedp.SendKeys(chromedp.ID("f2-name"), "berth"),
		chromedp.SendKeys(chromedp.ID("f2-label"), "Berth size"),
		chromedp.SetValue(chromedp.ID("f2-type"), "select"),
		chromedp.SendKeys(chromedp.ID("f2-options"), "Small\nLarge & deep"),
		chromedp.SendKeys(chromedp.ID("recipients"), "harbourmaster@example.com"),
		chromedp.SendKeys(chromedp.ID("notify-subject"), "Berth request: {{.Fields.berth}}"),
		chromedp.SendKeys(chromedp.ID("honeypot"), "website"),
		chromedp.SendKeys(chromedp.ID("success"), siteOrigin+"/thanks"),
		chromedp.SendKeys(chromedp.ID("origins"), siteOrigin),
		chromedp.Click(chromedp.CSS(`button[value="preview"]`)),
		chromedp.WaitVisible(chromedp.ID("preview")),
	); err != nil {
		fail("build a form and preview its mail", err)
	}
	subject, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".fb-subject")))
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Berth request: Small" {
		t.Errorf("the preview's subject is %q", subject)
	}
	shot("form-preview.png")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("saved")),
	); err != nil {
		fail("save the form", err)
	}
	shot("form-builder.png")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(loc, "/forms/")
	formID, _, _ := strings.Cut(rest, "/")

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href$="/embed"]`)),
		chromedp.WaitVisible(chromedp.ID("snippet-html")),
	); err != nil {
		fail("open the embed page", err)
	}
	plain, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("snippet-html").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	withFetch, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("snippet-fetch").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	shot("form-embed.png")
	if !strings.Contains(plain, p.URL+"/v1/forms/"+formID+"/submissions") {
		t.Fatalf("the snippet does not post to form %s at %s:\n%s", formID, p.URL, plain)
	}
	snipMu.Lock()
	snippets["/plain"], snippets["/fetch"] = plain, withFetch
	snipMu.Unlock()

	// waitFill waits, on the site's page, until the timing field is older
	// than Keel's minimum: the condition Keel checks, observed in the page.
	waitFill := chromedp.Poll[chromedp.Void](`Date.now() - Number(document.querySelector('[name="_keel_ts"]').value) > 1200`)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(siteOrigin+"/plain"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "skipper@example.com"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="message"]`), "A berth for two nights, please."),
		chromedp.SetValue(chromedp.CSS(`select[name="berth"]`), "Large & deep"),
		waitFill,
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("thanks")),
	); err != nil {
		fail("submit the plain HTML snippet", err)
	}

	// The fetch() variant: a refusal first (the browser's own check of a
	// required field is turned off, so that Keel's answer is shown), then
	// a submission that Keel takes.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(siteOrigin+"/fetch"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name="email"]').required = false`),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('[role="status"]').textContent.includes("email: ")`),
	); err != nil {
		fail("a refused submission with fetch()", err)
	}
	refusal, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[role="status"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(refusal, "email: This field is required.") {
		t.Errorf("the fetch() snippet shows the refusal as %q", refusal)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "crew@example.com"),
		chromedp.SetValue(chromedp.CSS(`select[name="berth"]`), "Small"),
		waitFill,
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('[role="status"]').textContent.startsWith("Thank you")`),
	); err != nil {
		fail("submit the fetch() snippet", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "late@example.com"),
		chromedp.SetValue(chromedp.CSS(`select[name="berth"]`), "Small"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('[role="status"]').textContent.startsWith("Too many")`),
	); err != nil {
		fail("a rate-limited submission with fetch()", err)
	}
	limited, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[role="status"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`try again in [1-9][0-9]* seconds\.$`).MatchString(limited) {
		t.Errorf("the fetch() snippet shows the rate limit as %q", limited)
	}
	loc, err = chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != siteOrigin+"/fetch" {
		t.Errorf("after the fetch() submission the browser is at %s", loc)
	}

	var subs struct {
		Data []struct {
			Status string
			Values map[string]any
			Origin string
		}
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/forms/"+formID+"/submissions", token, nil, 200, &subs)
	if len(subs.Data) != 2 {
		t.Fatalf("Keel holds %d submissions, want 2: %+v", len(subs.Data), subs.Data)
	}
	got := map[string]string{}
	for _, s := range subs.Data {
		if s.Status != "new" {
			t.Errorf("a submission from a snippet is %s: %+v", s.Status, s)
		}
		got[fmt.Sprint(s.Values["email"])] = fmt.Sprint(s.Values["berth"])
	}
	if got["skipper@example.com"] != "Large & deep" || got["crew@example.com"] != "Small" {
		t.Errorf("submissions' values: %v", subs.Data)
	}
	b.checkProblems(nil)
}
