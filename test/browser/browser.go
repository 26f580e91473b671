// Package browser starts Debian's Chromium, driven by chromedp, for the
// tests that must see a page as a browser does (test/docspage,
// test/console), and runs a test in each version of a browser that the
// console promises to work in (EachVersion).
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// OldChromiumEnv names the variable that holds the previous Chromium's
// binary, which scripts/browsers.sh (run by make test) unpacks from
// Debian's archive.
const OldChromiumEnv = "KEEL_TEST_CHROMIUM_OLD"

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

// New starts the current Chromium (Path) for t; see NewAt.
func New(t testing.TB, timeout time.Duration, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	return NewAt(t, Path(t), timeout, opts...)
}

// NewAt starts the headless Chromium at path for t and returns a chromedp
// context on its first tab, ended with the test or after timeout,
// whichever comes first. opts add to chromedp's defaults (a window size,
// for example).
func NewAt(t testing.TB, path string, timeout time.Duration, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	all := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
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

// Binary is one version of a browser that a test runs in.
type Binary struct {
	Path     string
	Version  string // as the binary prints it: "Chromium 156.0.8078.114"
	Previous bool   // the previous version, not the current one
}

// versionTimeout bounds `--version`, which answers at once on an idle
// machine; a loaded CI runner may take many times longer.
const versionTimeout = time.Minute

// Version returns the name and version that the browser at path prints
// for --version, such as "Chromium 150.0.7871.100" or "Mozilla Firefox
// 140.12.0esr", or an error when it does not run.
func Version(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), versionTimeout)
	defer cancel()
	// Only stdout: Debian's chromium launcher script writes a warning of
	// its own on stderr.
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(exit.Stderr) > 0 {
			return "", fmt.Errorf("%s --version: %w: %s", path, err, strings.TrimSpace(string(exit.Stderr)))
		}
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	// The name and the version number, without what some builds add
	// after it ("built on Debian GNU/Linux 12 (bookworm)"), whose slash
	// would split a subtest's name.
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	var words []string
	for w := range strings.FieldsSeq(line) {
		words = append(words, w)
		if w[0] >= '0' && w[0] <= '9' {
			return strings.Join(words, " "), nil
		}
	}
	return "", fmt.Errorf("%s --version printed no version: %q", path, line)
}

// Versions returns the browser at current and, when old is not empty,
// the one at old, each with its version; it fails when either does not
// run or both are the same version, which would test one version twice.
func Versions(current, old string) ([]Binary, error) {
	v, err := Version(current)
	if err != nil {
		return nil, err
	}
	out := []Binary{{Path: current, Version: v}}
	if old == "" {
		return out, nil
	}
	ov, err := Version(old)
	if err != nil {
		return nil, fmt.Errorf("the previous version: %w", err)
	}
	if ov == v {
		return nil, fmt.Errorf("the previous version at %s is %s, the same as the current one at %s", old, ov, current)
	}
	return append(out, Binary{Path: old, Version: ov, Previous: true}), nil
}

// EachVersion runs f in a subtest named by the browser's version, once
// for the browser at current and once for the previous version, whose
// binary the variable env names. make test always sets it
// (scripts/browsers.sh), and a binary there that does not run fails the
// test; only a bare go test without it skips the previous version, with a
// message that says how to get it.
func EachVersion(t *testing.T, current, env string, f func(t *testing.T, b Binary)) {
	t.Helper()
	old := os.Getenv(env)
	bins, err := Versions(current, old)
	if err != nil {
		t.Fatalf("%v (%s=%q)", err, env, old)
	}
	for _, b := range bins {
		t.Run(b.Version, func(t *testing.T) { f(t, b) })
	}
	if old == "" {
		// "previous Chromium": a test that runs in two browsers skips
		// two subtests, which their names tell apart.
		name := bins[0].Version[:strings.LastIndexByte(bins[0].Version, ' ')+1]
		t.Run(strings.TrimSpace("previous "+name), func(t *testing.T) {
			t.Skipf("%s is not set, so only %s ran: make test sets it; for a bare go test, eval \"$(scripts/browsers.sh)\" first, which downloads the previous version from Debian's archive", env, bins[0].Version)
		})
	}
}

// EachChromium is EachVersion for Chromium: the one on PATH and the one
// $KEEL_TEST_CHROMIUM_OLD names.
func EachChromium(t *testing.T, f func(t *testing.T, b Binary)) {
	t.Helper()
	EachVersion(t, Path(t), OldChromiumEnv, f)
}
