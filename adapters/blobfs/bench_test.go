package blobfs_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/keelhq/keel/adapters/blobfs"
)

// BenchmarkPut5MB writes a 5 MB file through the store (temporary file,
// fsync, rename, directory fsync); BenchmarkCopy5MB writes the same bytes
// to a file with a plain copy and no fsync, as cp does, for comparison.
func BenchmarkPut5MB(b *testing.B) {
	s, err := blobfs.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := s.Put(b.Context(), "bench/upload", "application/octet-stream", int64(len(data)), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCopy5MB(b *testing.B) {
	dir := b.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := os.Create(filepath.Join(dir, "upload"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
