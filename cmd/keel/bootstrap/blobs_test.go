package bootstrap

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobfs"
)

// TestBlobURLErrorsAreOneLine: a bad KEEL_BLOB_URL, or a bucket that
// cannot be reached, stops serve at start with one line naming the
// setting, and never shows a secret.
func TestBlobURLErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, url, detail string
		env               map[string]string
	}{
		{"unknown scheme", "ftp://files.example.com/keel", "want s3://bucket/prefix", nil},
		{"no bucket", "s3:///keel", "no bucket", nil},
		{"bad bucket", "s3://My_Bucket", "not valid", nil},
		{"credentials in the URL", "s3://key:topsecret@media", "credentials do not belong in the URL", nil},
		{"unknown parameter", "s3://media?secret=topsecret", "unknown parameter", nil},
		{"bad endpoint", "s3://media?endpoint=ftp://x", "endpoint must be", nil},
		{"file without a directory", "file://", "names no directory", nil},
		{"a key without its secret", "s3://media?endpoint=http://127.0.0.1:1", "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", map[string]string{"AWS_ACCESS_KEY_ID": "AKIA"}},
		{"unreachable bucket", "s3://media/keel?endpoint=http://127.0.0.1:1&region=us-east-1", "bucket media at 127.0.0.1:1 is unreachable",
			map[string]string{"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "topsecret"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"KEEL_DATA_DIR": t.TempDir(), "KEEL_HTTP_ADDR": "127.0.0.1:0", "KEEL_ADMIN_ADDR": "off", "KEEL_BLOB_URL": tt.url}
			for k, v := range tt.env {
				e[k] = v
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			_, _, err := run(t, ctx, []string{"serve"}, e)
			if err == nil {
				t.Fatal("serve started")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, "KEEL_BLOB_URL (--blob-url): ") || !strings.Contains(msg, tt.detail) {
				t.Errorf("error = %q, want it to name KEEL_BLOB_URL and say %q", msg, tt.detail)
			}
			if strings.Contains(msg, "topsecret") {
				t.Errorf("error shows a secret: %q", msg)
			}
		})
	}
}

func TestBlobConfig(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	getenv := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := loadBlobConfig(newServeCommand(nil).Flags(), getenv(nil), data)
	if err != nil || c.s3 != nil || c.dir != filepath.Join(data, "blobs") {
		t.Errorf("default = %+v, %v; want blobs in the data directory", c, err)
	}
	for raw, dir := range map[string]string{"file:///srv/keel-blobs": "/srv/keel-blobs", "file:rel/blobs": "rel/blobs"} {
		c, err := loadBlobConfig(newServeCommand(nil).Flags(), getenv(map[string]string{"KEEL_BLOB_URL": raw}), data)
		if err != nil || c.dir != dir {
			t.Errorf("%s = %+v, %v; want the directory %s", raw, c, err, dir)
		}
	}
	c, err = loadBlobConfig(newServeCommand(nil).Flags(), getenv(map[string]string{
		"KEEL_BLOB_URL":     "s3://media/keel?endpoint=http://127.0.0.1:8333&region=us-east-1",
		"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
	}), data)
	if err != nil || c.s3 == nil || c.s3.Bucket != "media" || c.s3.Prefix != "keel/" || c.s3.AccessKeyID != "AKIA" || c.s3.SecretAccessKey != "secret" || c.s3.SessionToken != "token" {
		t.Errorf("s3 = %+v, %v", c.s3, err)
	}
	if d := c.describe(); strings.Contains(d, "secret") || !strings.Contains(d, "s3://media/keel/") {
		t.Errorf("describe = %q", d)
	}

	// The default store is made at start, mode 0700, and works.
	c, _ = loadBlobConfig(newServeCommand(nil).Flags(), getenv(nil), data)
	s, err := openBlobStore(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*blobfs.Store); !ok {
		t.Errorf("store is %T, want *blobfs.Store", s)
	}
	if st, err := os.Stat(filepath.Join(data, "blobs")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("blobs directory: %v, %v; want mode 0700", st, err)
	}
}

// TestBlobSweepJob: serve's sweep of the directory store deletes the
// temporary file a crashed Put left, at once, and S3 stores get no sweep.
func TestBlobSweepJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, ".tmp-crashed")
	if err := os.WriteFile(left, []byte("half a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * blobSweepAge)
	if err := os.Chtimes(left, old, old); err != nil {
		t.Fatal(err)
	}
	j, ok := blobSweepJob(store, slog.New(slog.DiscardHandler))
	if !ok {
		t.Fatal("no sweep job for the directory store")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // polling the job's goroutine through the filesystem
		if _, err := os.Stat(left); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not delete the crashed Put's file")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("sweep job: %v", err)
	}
	if _, ok := blobSweepJob(nil, slog.New(slog.DiscardHandler)); ok {
		t.Error("a sweep job for a store that is not a directory")
	}
}
