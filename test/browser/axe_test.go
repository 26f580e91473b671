package browser_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/test/browser"
)

// TestAxeRunsUnderAStrictCSP checks, in the current and the previous
// Chromium, that axe-core reaches a page whose Content-Security-Policy
// allows no script at all, as the console's did, and reports what it
// breaks with its impact and elements.
func TestAxeRunsUnderAStrictCSP(t *testing.T) {
	browser.EachChromium(t, testAxeRunsUnderAStrictCSP)
}

func testAxeRunsUnderAStrictCSP(t *testing.T, chromium browser.Binary) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/bad":
			// An image with no text alternative (critical) and a button
			// with no name (critical).
			_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1><img src="/x.png"><button></button></main></body></html>`))
		default:
			_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><title>Good</title></head><body><main><h1>Good</h1><p>Fine.</p></main></body></html>`))
		}
	}))
	t.Cleanup(srv.Close)
	ctx := browser.NewAt(t, chromium.Path, time.Minute)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/bad")); err != nil {
		t.Fatal(err)
	}
	vs, err := browser.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]browser.Violation{}
	for _, v := range vs {
		got[v.ID] = v
	}
	for _, id := range []string{"image-alt", "button-name"} {
		v, ok := got[id]
		if !ok {
			t.Errorf("axe-core did not report %s; it reported %v", id, vs)
			continue
		}
		if !v.Serious() || len(v.Nodes) != 1 || v.Nodes[0].HTML == "" {
			t.Errorf("%s: impact %q, nodes %+v", id, v.Impact, v.Nodes)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/good")); err != nil {
		t.Fatal(err)
	}
	vs, err = browser.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("a clean page: %s", v)
	}
}
