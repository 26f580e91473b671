package faults

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
)

// TestSQLiteDiskFull runs keel serve with its SQLite database on a small
// tmpfs, fills that file system under a steady stream of submissions and
// empties it again. While it is full, submissions are refused with 503
// storage_full and Retry-After, never a 500, and the process stays up;
// once there is room, the same process accepts them again; every
// submission acknowledged with 201 is stored with its notification's
// outbox row.
//
// Mounting needs root, which make test has (scripts/test.sh installs
// Docker the same way); elsewhere the test fails naming the mount error.
func TestSQLiteDiskFull(t *testing.T) {
	t.Parallel()
	dir := smallFilesystem(t, "48m")
	p := keelproc.Serve(t, "serve", baseEnv("sqlite:"+filepath.Join(dir, "keel.db"), dir))
	site := keelproc.NewSite(t, p, "diskfull", "")

	s := startStream(t, p, site.Form, "d", 4)
	s.waitFor(t, "submissions acknowledged before the disk fills", 0, 30*time.Second, func(os []outcome) bool {
		return count(os, http.StatusCreated, "") >= 100
	})

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	full := len(s.snapshot())
	s.waitFor(t, "refusals while the disk is full", full, 60*time.Second, func(os []outcome) bool {
		return count(os, http.StatusServiceUnavailable, "storage_full") >= 50
	})
	// The process stays up and keeps serving what only reads.
	for _, path := range []string{"/healthz", "/readyz", "/v1/workspaces/" + site.WS + "/forms/" + site.Form + "/submissions?limit=10"} {
		if status, body, err := p.Call(t.Context(), "GET", path, site.Token, nil); err != nil || status != http.StatusOK {
			t.Fatalf("GET %s with the disk full = %d %s (%v), want 200", path, status, body, err)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := len(s.snapshot())
	s.waitFor(t, "submissions acknowledged after the disk has room again", freed, 30*time.Second, func(os []outcome) bool {
		return count(os, http.StatusCreated, "") >= 100
	})
	s.stop()
	outcomes := s.snapshot()

	slowest := checkAnswers(t, outcomes, "storage_full")
	// A clean stop after the fault: the process kept running through it.
	p.Stop(t)
	acked := checkAcknowledged(t, outcomes, stored(t, "sqlite", filepath.Join(dir, "keel.db"), site.Form))
	t.Logf("%d submissions: %d acknowledged (%d while the disk was full), %d refused, the slowest refusal in %v",
		len(outcomes), acked, count(outcomes[full:freed], http.StatusCreated, ""), count(outcomes, http.StatusServiceUnavailable, ""),
		slowest.Round(time.Millisecond))
}

// smallFilesystem mounts a tmpfs of size ("48m") on a new directory and
// unmounts it when t ends.
func smallFilesystem(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs on %s (the test needs root): %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes path until its file system has no room left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill %s: %v", path, err)
		}
	}
}
