package blobfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/ports/porttest"
)

func TestContract(t *testing.T) {
	porttest.BlobStore(t, func(t *testing.T) porttest.BlobHarness {
		s, err := blobfs.New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return porttest.BlobHarness{Store: s}
	})
}

// TestLayout checks what the contract cannot see: the file sits at the path
// its key names, with the header in front of the bytes, no temporary file
// is left, and Delete removes the directories it empties.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), "ws_1/media/m_1/original", "image/png", 5, strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ws_1", "media", "m_1", "original")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != blobfs.HeaderBytes+5 || !strings.HasPrefix(string(b), "keelblob1\nimage/png\n") || string(b[blobfs.HeaderBytes:]) != "hello" {
		t.Errorf("file = %q", b)
	}
	entries, err := os.ReadDir(filepath.Dir(p))
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v), want the blob alone", entries, err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("blob mode = %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if err := s.Delete(t.Context(), "ws_1/media/m_1/original"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ws_1")); !os.IsNotExist(err) {
		t.Errorf("Delete left the emptied directories: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Delete removed the root: %v", err)
	}
}

// TestSweep removes the temporary files a crash left, not a young one a
// Put may still be writing, and no blob.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	s, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), "a/b", "text/plain", 1, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	old, young := filepath.Join(dir, "a", ".tmp-1"), filepath.Join(dir, ".tmp-2")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	if err := os.Chtimes(old, now.Add(-2*time.Hour), now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(t.Context(), time.Hour, now)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old temporary file is still there: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("the young temporary file is gone: %v", err)
	}
	if _, err := s.Stat(t.Context(), "a/b"); err != nil {
		t.Errorf("Sweep touched a blob: %v", err)
	}
}
