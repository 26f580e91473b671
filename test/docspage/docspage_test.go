// Package docspage opens the API reference page, GET /v1/docs, in a real
// browser (Chromium, driven by chromedp) against the keel binary, because
// what matters about it, that the vendored renderer runs under the page's
// Content-Security-Policy and shows the document without asking anyone
// but Keel, only a browser can tell.
package docspage

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v3"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/test/browser"
	"github.com/keelhq/keel/test/keelproc"
)

func TestMain(m *testing.M) {
	code := m.Run()
	_ = keelproc.RemoveBinary()
	os.Exit(code)
}

// pageTimeout bounds loading and rendering the page: Chromium starts and
// renders it in a few seconds, so only a page that never shows the
// operation reaches it.
const pageTimeout = 90 * time.Second

// firstSummary is the summary of the document's first operation with a
// request body, by path and then method (the renderer has the most to
// show there: parameters, a body schema and its example, responses),
// with the operation's method and path.
func firstSummary(t *testing.T) (summary, op string) {
	t.Helper()
	doc := paths(t)
	for _, p := range slices.Sorted(maps.Keys(doc)) {
		for _, m := range []string{"get", "post", "put", "patch", "delete"} {
			o, _ := doc[p][m].(map[string]any)
			if s, _ := o["summary"].(string); s != "" && o["requestBody"] != nil && !strings.ContainsAny(s, `'"`) {
				return s, strings.ToUpper(m) + " " + p
			}
		}
	}
	t.Fatal("the document has no operation with a request body and a summary to look for")
	return "", ""
}

// paths is the document's paths object: each path's operations by method.
func paths(t *testing.T) map[string]map[string]any {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.YAML(), &doc); err != nil {
		t.Fatalf("parse the document: %v", err)
	}
	return doc.Paths
}

// operationID is the operationId of method (lower case) on path.
func operationID(t *testing.T, method, path string) string {
	t.Helper()
	o, _ := paths(t)[path][method].(map[string]any)
	id, _ := o["operationId"].(string)
	if id == "" {
		t.Fatalf("the document has no operationId for %s %s", method, path)
	}
	return id
}

// TestDocsPageRendersInABrowser loads /v1/docs in headless Chromium,
// waits until the renderer shows an operation's summary from the
// document and opens it, then authorizes with a session token and has
// "Try it out" call GET /v1/me, which must answer 200. No console error,
// failed load, uncaught exception or policy violation may occur, and every
// request the page makes goes to the Keel that served it.
func TestDocsPageRendersInABrowser(t *testing.T) {
	summary, op := firstSummary(t)
	t.Logf("looking for %s, %q", op, summary)
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
	// GET /v1/me is what "Try it out" sends: it needs the token entered
	// in the Authorize dialog. Swagger UI names an operation's block
	// operations-<tag>-<operationId>.
	me := fmt.Sprintf(`.opblock[id$="-%s"]`, operationID(t, "get", "/v1/me"))
	origin, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}

	ctx := browser.New(t, pageTimeout)

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
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, fmt.Sprintf("uncaught: %s %s", ev.ExceptionDetails.Text, exceptionText(ev.ExceptionDetails)))
		case *cdplog.EventEntryAdded:
			// Policy violations, failed loads and deprecations land here.
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("%s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	// The summary as the renderer shows it, closed, in the operation list.
	shown := fmt.Sprintf(`//*[contains(@class, "opblock-summary-description") and normalize-space(.) = "%s"]`, summary)
	// chromedp enables the Log and Network domains on every tab. Opening
	// the operation renders its parameters, bodies and responses, where
	// most of the renderer's code runs. Then a reader enters the session
	// token in the Authorize dialog (a form, which the policy must let the
	// page handle) and has "Try it out" call GET /v1/me on Keel (a fetch,
	// which the policy allows to Keel only) and show the answer.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/v1/docs"),
		chromedp.WaitVisible(chromedp.Search(shown)),
		chromedp.Click(chromedp.Search(shown)),
		chromedp.WaitVisible(chromedp.CSS(".opblock.is-open .responses-wrapper")),
		chromedp.Click(chromedp.CSS(".scheme-container .btn.authorize")),
		chromedp.SendKeys(chromedp.CSS(".modal-ux .auth-container input"), setup.Token),
		chromedp.Click(chromedp.CSS(".modal-ux .auth-container .modal-btn.authorize")),
		chromedp.Click(chromedp.CSS(".modal-ux .modal-btn.btn-done")),
		chromedp.Click(chromedp.CSS(me+" .opblock-summary-control")),
		chromedp.Click(chromedp.CSS(me+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(me+" .execute")),
		chromedp.WaitVisible(chromedp.CSS(me+" .live-responses-table tr.response .response-col_status")),
	); err != nil {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the page did not show %s's summary %q: %v\nproblems: %q\nrequests: %q", op, summary, err, problems, requests)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(me+" .live-responses-table tr.response .response-col_status")))
	if err != nil {
		t.Fatal(err)
	}
	// The listener runs on chromedp's goroutine: a last round trip makes
	// sure every event before it was handled.
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if title != "Keel API reference" {
		t.Errorf("title %q", title)
	}
	for _, pr := range problems {
		t.Errorf("the page reported %s", pr)
	}
	var sawDocument, triedIt bool
	for _, r := range requests {
		method, target, _ := strings.Cut(r, " ")
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "data" && u.Host != origin.Host) {
			t.Errorf("the page requested %s, which is not the Keel at %s", r, origin.Host)
			continue
		}
		sawDocument = sawDocument || u.Path == "/v1/openapi.json"
		triedIt = triedIt || (method == "GET" && u.Path == "/v1/me")
	}
	if !sawDocument || !triedIt {
		t.Errorf("the page fetched the document: %v, sent GET /v1/me: %v; requests: %q", sawDocument, triedIt, requests)
	}
	if strings.TrimSpace(status) != "200" {
		t.Errorf("Try it out on GET /v1/me showed status %q, want 200", status)
	}
}

// exceptionText is the thrown value's description (an Error's message and
// stack), when the browser sent one.
func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil || d.Exception == nil {
		return ""
	}
	return d.Exception.Description
}
