package blobfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
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

// TestWriteTo checks the reader's WriteTo, which io.Copy takes: a writer
// that reads for itself (bytes.Buffer, as net/http's response) gets the
// range's bytes straight from the file, any other through Read, and a
// cancelled context stops both before a byte is copied.
func TestWriteTo(t *testing.T) {
	s, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if _, err := s.Put(t.Context(), "a/b", "application/pdf", -1, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ off, n int64 }{{0, -1}, {0, 10}, {5, -1}, {9990, 10}, {4000, 333}} {
		want := data[tc.off:]
		if tc.n >= 0 {
			want = want[:tc.n]
		}
		for _, plain := range []bool{false, true} {
			rc, _, err := s.Get(t.Context(), "a/b", tc.off, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			var w io.Writer = &buf
			if plain {
				w = struct{ io.Writer }{&buf} // no ReadFrom
			}
			n, err := io.Copy(w, rc)
			_ = rc.Close()
			if err != nil || n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("Get(%d, %d), plain writer %v: copied %d (%v), want %d bytes from %d", tc.off, tc.n, plain, n, err, len(want), tc.off)
			}
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	rc, _, err := s.Get(ctx, "a/b", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cancel()
	var buf bytes.Buffer
	if n, err := io.Copy(&buf, rc); !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("copy after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
}
