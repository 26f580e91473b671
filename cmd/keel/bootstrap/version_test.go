package bootstrap

import (
	"archive/zip"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildFrom(t *testing.T) {
	t.Parallel()
	const rev = "0123456789abcdef0123456789abcdef01234567"
	vcs := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/keelhq/keel", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	for _, tc := range []struct {
		name                      string
		version, commit, modified string
		bi                        *debug.BuildInfo
		want                      buildInfo
	}{
		{"LinkTimeWins", "v1.2.3", rev, "false", vcs("(devel)", "vcs.revision", "ffff", "vcs.modified", "true"), buildInfo{"v1.2.3", rev, false}},
		{"LinkTimeCommitWithoutTag", "", rev, "true", vcs("(devel)"), buildInfo{"devel-0123456789ab-dirty", rev, true}},
		{"GoInstallAtAVersion", "", "", "", vcs("v1.4.0"), buildInfo{"v1.4.0", "", false}},
		{"GoInstallAtACommit", "", "", "", vcs("v0.0.0-20261203124002-5bf1a2202d2c"), buildInfo{"v0.0.0-20261203124002-5bf1a2202d2c", "5bf1a2202d2c", false}},
		{"GoInstallAtACommitAfterATag", "", "", "", vcs("v1.4.1-0.20261203124002-5bf1a2202d2c"), buildInfo{"v1.4.1-0.20261203124002-5bf1a2202d2c", "5bf1a2202d2c", false}},
		{"GoInstallAtACommitAfterAPrerelease", "", "", "", vcs("v1.5.0-rc.1.0.20261203124002-5bf1a2202d2c"), buildInfo{"v1.5.0-rc.1.0.20261203124002-5bf1a2202d2c", "5bf1a2202d2c", false}},
		{"APrereleaseIsNoCommit", "", "", "", vcs("v1.5.0-rc.20261203124002"), buildInfo{"v1.5.0-rc.20261203124002", "", false}},
		{"GoBuildInACheckout", "", "", "", vcs("(devel)", "vcs.revision", rev, "vcs.modified", "false"), buildInfo{"devel-0123456789ab", rev, false}},
		{"GoBuildWithChanges", "", "", "", vcs("(devel)", "vcs.revision", rev, "vcs.modified", "true"), buildInfo{"devel-0123456789ab-dirty", rev, true}},
		{"GoInstallAtAPseudoVersionInACheckout", "", "", "", vcs("v1.4.1-0.20261201120000-0123456789ab", "vcs.revision", rev), buildInfo{"v1.4.1-0.20261201120000-0123456789ab", rev, false}},
		{"NothingKnown", "", "", "", vcs("(devel)"), buildInfo{"devel", "", false}},
		{"NoModuleSupport", "", "", "", nil, buildInfo{"unknown", "", false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildFrom(tc.version, tc.commit, tc.modified, tc.bi); got != tc.want {
				t.Errorf("buildFrom = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestInstanceReportsTheBuild checks that GET /v1/instance and keel
// version report the same build as the binary knows.
func TestInstanceReportsTheBuild(t *testing.T) {
	t.Parallel()
	base := startServe(t, map[string]string{"KEEL_DATA_DIR": t.TempDir()})
	resp, err := http.Get(base + "/v1/instance")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		ID       string `json:"id"`
		Version  string `json:"version"`
		Commit   string `json:"commit"`
		Modified bool   `json:"modified"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/instance = %d, %v", resp.StatusCode, err)
	}
	want := readBuild()
	if got.ID == "" || got.Version != want.Version || got.Commit != want.Commit || got.Modified != want.Modified || got.Version == "" {
		t.Fatalf("instance = %+v, want the build %+v", got, want)
	}
	out, _, err := run(t, t.Context(), []string{"version"}, nil)
	if err != nil || !strings.HasPrefix(out, "keel "+want.Version+"\n") {
		t.Fatalf("keel version = %q, %v; want version %q", out, err, want.Version)
	}
}

// TestBuiltBinaryKnowsItsCommit builds keel as make build does, with the
// version and commit at link time, and as go build does without flags,
// from the build information Go records from git.
func TestBuiltBinaryKnowsItsCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if err := exec.Command("git", "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not in a git checkout")
	}
	t.Parallel()
	const pkg = "github.com/keelhq/keel/cmd/keel/bootstrap"
	const rev = "89abcdef0123456789abcdef0123456789abcdef"
	dir := t.TempDir()
	build := func(name string, args ...string) string {
		bin := filepath.Join(dir, name)
		if out, err := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), "github.com/keelhq/keel/cmd/keel")...).CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("%s version: %v", name, err)
		}
		return string(out)
	}
	if out := build("tagged", "-ldflags", "-X "+pkg+".version=v9.8.7 -X "+pkg+".commit="+rev+" -X "+pkg+".modified=true"); out != "keel v9.8.7\ncommit "+rev+" (modified)\n" {
		t.Errorf("built with -ldflags: version = %q", out)
	}
	// -buildvcs=true: the default, which a GOFLAGS of -buildvcs=false
	// (as on some CI machines) would otherwise turn off.
	out := build("plain", "-buildvcs=true")
	// Go stamps a pseudo-version from git (v0.0.0-<time>-<commit>, +dirty
	// with changes), which the binary reports as its version.
	m := regexp.MustCompile(`^keel v[0-9.]+-(?:[0-9.a-z]+\.)?[0-9]{14}-([0-9a-f]{12})(\+dirty)?\ncommit ([0-9a-f]{40})( \(modified\))?\n$`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[3], m[1]) || (m[2] == "") != (m[4] == "") {
		t.Fatalf("built without flags: version = %q, want the pseudo-version and the commit", out)
	}
	if err := exec.Command("git", "cat-file", "-e", m[3]+"^{commit}").Run(); err != nil {
		t.Errorf("the reported commit %s is not in the repository: %v", m[3], err)
	}
}

// TestGoInstallAtACommit builds keel as go install
// github.com/keelhq/keel/cmd/keel@<commit> does, from a module download
// that carries no VCS information: the working tree is served as a
// pseudo-version from a module proxy in a directory, and the dependencies
// from the module cache's own downloads, so nothing leaves the machine.
// The binary must report the pseudo-version and the commit it names.
func TestGoInstallAtACommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	files, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--full-name", ":/").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	t.Parallel()
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatal(err)
	}
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	const module, version = "github.com/keelhq/keel", "v0.0.0-20261203000000-abcdef012345"
	proxy := t.TempDir()
	dir := filepath.Join(proxy, module, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zipModule(t, strings.TrimSpace(string(root)), strings.Split(strings.TrimSuffix(string(files), "\x00"), "\x00"), module+"@"+version, filepath.Join(dir, version+".zip"))
	gomod, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		version + ".mod":  gomod,
		version + ".info": []byte(`{"Version":"` + version + `","Time":"2026-12-03T00:00:00Z"}`),
		"list":            []byte(version + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	bin := t.TempDir()
	cmd := exec.Command("go", "install", module+"/cmd/keel@"+version)
	cmd.Dir = t.TempDir() // outside this module, as a user would run it
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download")),
		"GOSUMDB=off", "GOTOOLCHAIN=local", "GOWORK=off", "GOBIN="+bin,
		// A module cache of its own, so the shared one is left as it was;
		// -trimpath keeps the compiled packages' cache keys free of its
		// path, so the next run finds them built.
		"GOMODCACHE="+t.TempDir(), "GOFLAGS=-modcacherw -trimpath")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(bin, "keel"), "version").Output()
	if want := "keel " + version + "\ncommit abcdef012345\n"; err != nil || string(out) != want {
		t.Fatalf("keel version = %q, %v; want %q", out, err, want)
	}
}

// zipModule writes the module zip of the files (paths relative to root)
// that a module proxy serves for prefix (module@version); files that no
// longer exist or are not regular files are left out, as a module holds
// neither.
func zipModule(t *testing.T, root string, files []string, prefix, dst string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, name := range files {
		src := filepath.Join(root, filepath.FromSlash(name))
		if fi, err := os.Lstat(src); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		body, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(prefix + "/" + name)
		if err == nil {
			_, err = w.Write(body)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
