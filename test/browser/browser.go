// Package browser starts Debian's Chromium, driven by chromedp, for the
// tests that must see a page as a browser does (test/docspage,
// test/console).
package browser

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds Chromium; scripts/test.sh installs Debian's package when it
// is missing.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on PATH: scripts/test.sh installs it (apt-get install chromium)")
	return ""
}

// New starts a headless Chromium for t and returns a chromedp context on
// its first tab, ended with the test or after timeout, whichever comes
// first. opts add to chromedp's defaults (a window size, for example).
func New(t testing.TB, timeout time.Duration, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	all := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(Path(t)),
		// Chromium refuses to run as root with its sandbox, which the CI
		// machines are; the pages are Keel's and load nothing else.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
	)
	all = append(all, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, all...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	t.Cleanup(cancelBrowser)
	return ctx
}
