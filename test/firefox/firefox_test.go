package firefox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/browser"
)

// TestFirefoxDrivesAPage checks the client against a local page, in the
// current and the previous Firefox ESR: it navigates, reads the page with
// a script, follows a click to the next page, sets a 360 px viewport,
// takes a PNG screenshot, runs axe-core and reports a page's uncaught
// exception.
func TestFirefoxDrivesAPage(t *testing.T) {
	EachVersion(t, testFirefoxDrivesAPage)
}

func testFirefoxDrivesAPage(t *testing.T, firefox browser.Binary) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		switch r.URL.Path {
		case "/throws":
			// No policy here, so that the page's own script runs.
			w.Header().Del("Content-Security-Policy")
			fmt.Fprint(w, `<!doctype html><html lang="en"><title>throws</title><script>throw new Error("thrown by the page")</script>`)
			return
		case "/next":
			fmt.Fprint(w, `<!doctype html><html lang="en"><title>next</title><h1>Second page</h1><img src="/cat.png">`)
			return
		}
		fmt.Fprint(w, `<!doctype html><title>first</title><h1>First page</h1><a id="go" href="/next">next</a>`)
	}))
	defer srv.Close()
	b := StartAt(t, firefox.Path)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.SetViewport(ctx, 360, 640); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	var page struct {
		H1    string
		Width int
	}
	// The page's policy allows no script; the browser's own still run.
	if err := tab.Evaluate(ctx, `({h1: document.querySelector("h1").textContent, width: window.innerWidth})`, &page); err != nil {
		t.Fatal(err)
	}
	if page.H1 != "First page" || page.Width != 360 {
		t.Errorf("the page reads %+v, want First page at 360 px", page)
	}
	if err := tab.Click(ctx, "#go"); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, `document.querySelector("h1")?.textContent === "Second page"`); err != nil {
		t.Fatal(err)
	}
	png, err := tab.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("the screenshot is not a PNG: %q…", png[:min(len(png), 8)])
	}
	// axe-core runs although the page allows no script, and finds the
	// image without a text alternative.
	vs, err := tab.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 || vs[0].ID != "image-alt" || !vs[0].Serious() {
		t.Errorf("axe-core found %v, want image-alt (critical)", vs)
	}
	if err := tab.Evaluate(ctx, `(() => { throw new Error("boom") })()`, nil); !errors.Is(err, ErrException) {
		t.Errorf("a script that throws returned %v, want ErrException", err)
	}
	if _, err := tab.Navigate(ctx, srv.URL+"/throws"); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, "true"); err != nil {
		t.Fatal(err)
	}
	// Both the policy's refusal of the image and the exception are
	// reported.
	errs := strings.Join(b.Errors(), "\n")
	for _, want := range []string{"cat.png", "thrown by the page"} {
		if !strings.Contains(errs, want) {
			t.Errorf("Errors() = %q, want one about %q", errs, want)
		}
	}
}
