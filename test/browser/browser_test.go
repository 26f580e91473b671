package browser_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelhq/keel/test/browser"
)

// fakeBrowser writes a script that answers --version with version, or
// fails when version is empty, and returns its path.
func fakeBrowser(t *testing.T, name, version string) string {
	t.Helper()
	script := "#!/bin/sh\necho 'a warning' >&2\nexit 3\n"
	if version != "" {
		script = "#!/bin/sh\necho 'a warning' >&2\necho '" + version + "'\n"
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVersions checks how the browsers a test runs in are chosen: the
// current one alone when no previous one is named, both with the versions
// they print, and an error, never a quiet fallback, when the previous one
// does not run or is the current version again.
func TestVersions(t *testing.T) {
	cur := fakeBrowser(t, "chromium", "Chromium 156.0.8078.114 built on Debian GNU/Linux 12 (bookworm)")
	old := fakeBrowser(t, "chromium-old", "Chromium 150.0.7871.100 ")

	got, err := browser.Versions(cur, "")
	if err != nil || len(got) != 1 || got[0] != (browser.Binary{Path: cur, Version: "Chromium 156.0.8078.114"}) {
		t.Errorf("Versions(current, \"\") = %+v, %v", got, err)
	}
	got, err = browser.Versions(cur, old)
	if err != nil || len(got) != 2 || got[0].Previous || got[1] != (browser.Binary{Path: old, Version: "Chromium 150.0.7871.100", Previous: true}) {
		t.Errorf("Versions(current, old) = %+v, %v", got, err)
	}
	for name, bad := range map[string]string{
		"missing":      filepath.Join(t.TempDir(), "none"),
		"failing":      fakeBrowser(t, "broken", ""),
		"same version": fakeBrowser(t, "again", "Chromium 156.0.8078.114"),
		"no version":   fakeBrowser(t, "odd", "Chromium"),
	} {
		if got, err := browser.Versions(cur, bad); err == nil {
			t.Errorf("%s: Versions = %+v, want an error", name, got)
		} else if name == "failing" && !strings.Contains(err.Error(), "a warning") {
			t.Errorf("%s: the error %q does not say what the browser printed", name, err)
		}
	}
}
