// Package docspage opens the API reference page, GET /v1/docs, in a real
// browser (Chromium, driven by chromedp) against the keel binary, because
// what matters about it, that the vendored renderer runs under the page's
// Content-Security-Policy and shows the document without asking anyone
// but Keel, only a browser can tell.
package docspage

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
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

// browserPath finds Chromium; scripts/test.sh installs Debian's package
// when it is missing.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on PATH: scripts/test.sh installs it (apt-get install chromium)")
	return ""
}

// firstSummary is the summary of the document's first operation with a
// request body, by path and then method (the renderer has the most to
// show there: parameters, a body schema and its example, responses),
// with the operation's method and path.
func firstSummary(t *testing.T) (summary, op string) {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.YAML(), &doc); err != nil {
		t.Fatalf("parse the document: %v", err)
	}
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range doc.Paths {
			if !yield(p) {
				return
			}
		}
	})
	for _, p := range paths {
		for _, m := range []string{"get", "post", "put", "patch", "delete"} {
			o, _ := doc.Paths[p][m].(map[string]any)
			if s, _ := o["summary"].(string); s != "" && o["requestBody"] != nil && !strings.ContainsAny(s, `'"`) {
				return s, strings.ToUpper(m) + " " + p
			}
		}
	}
	t.Fatal("the document has no operation with a request body and a summary to look for")
	return "", ""
}

// TestDocsPageRendersInABrowser loads /v1/docs in headless Chromium and
// waits until the renderer shows an operation's summary from the
// document; no console error, uncaught exception or policy violation may
// occur, and every request the page makes goes to the Keel that served it.
func TestDocsPageRendersInABrowser(t *testing.T) {
	summary, op := firstSummary(t)
	t.Logf("looking for %s, %q", op, summary)
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	origin, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(browserPath(t)),
		// Chromium refuses to run as root with its sandbox, which the CI
		// machines are; the page is ours and loads nothing else.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
	)
	ctx, cancel := context.WithTimeout(t.Context(), pageTimeout)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	defer cancelBrowser()

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
			requests = append(requests, ev.Request.URL)
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
	// most of the renderer's code runs.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/v1/docs"),
		chromedp.WaitVisible(chromedp.Search(shown)),
		chromedp.Click(chromedp.Search(shown)),
		chromedp.WaitVisible(chromedp.CSS(".opblock.is-open .responses-wrapper")),
	); err != nil {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the page did not show %s's summary %q: %v\nproblems: %q\nrequests: %q", op, summary, err, problems, requests)
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
	var sawDocument bool
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "data" && u.Host != origin.Host) {
			t.Errorf("the page requested %s, which is not the Keel at %s", r, origin.Host)
		}
		sawDocument = sawDocument || u.Path == "/v1/openapi.json"
	}
	if !sawDocument {
		t.Errorf("the page never fetched /v1/openapi.json; requests: %q", requests)
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
