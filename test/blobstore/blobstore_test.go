// Package blobstore runs the keel binary against a real S3-compatible
// server (SeaweedFS in a container): serve checks KEEL_BLOB_URL's bucket at
// start, and scheduled backups land in the bucket.
package blobstore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobs3"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/s3server"
)

func TestMain(m *testing.M) {
	containers.Main(m, s3server.Stop, keelproc.RemoveBinary)
}

func blobURL(srv *s3server.Server, bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + "?endpoint=" + srv.Endpoint + "&region=" + s3server.Region
}

// TestScheduledBackupsLandInTheBucket: serve with an S3 KEEL_BLOB_URL
// starts, and its scheduled backups are uploaded under the prefix, pruned
// to KEEL_BACKUP_KEEP, and not kept on the host.
func TestScheduledBackupsLandInTheBucket(t *testing.T) {
	srv := s3server.Start(t)
	bucket := srv.NewBucket(t)
	data := t.TempDir()
	env := []string{
		"KEEL_DATA_DIR=" + data,
		"KEEL_BLOB_URL=" + blobURL(srv, bucket, "site-1"),
		"AWS_ACCESS_KEY_ID=" + s3server.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s3server.SecretKey,
		"KEEL_BACKUP_SCHEDULE=@every 1s",
		"KEEL_BACKUP_KEEP=2",
	}
	p := keelproc.Serve(t, "serve", env)
	if line := p.Out.Find("blob store ready"); line == nil || !strings.Contains(fmt.Sprint(line["store"]), "s3://"+bucket+"/site-1/") {
		t.Fatalf("serve did not log its blob store: %v", line)
	}

	cfg, err := blobs3.ParseURL(blobURL(srv, bucket, "site-1"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.AccessKeyID, cfg.SecretAccessKey = s3server.AccessKey, s3server.SecretKey
	store, err := blobs3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Three backups written, so the first has been pruned by the third.
	for deadline := time.Now().Add(60 * time.Second); p.Out.Count("scheduled backup deleted") < 1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled backup pruned within 60 s:\n%s", p.Out)
		}
	}
	written := p.Out.Find("scheduled backup written")
	if file := fmt.Sprint(written["file"]); !strings.HasPrefix(file, "s3://"+bucket+"/site-1/backups/keel-backup-") {
		t.Errorf("a written backup's file is %q, want one in the bucket", file)
	}
	p.Stop(t)

	blobs, _, err := store.List(t.Context(), "backups/", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) == 0 || len(blobs) > 2 {
		t.Fatalf("the bucket holds %d backups, want 1 or 2 (KEEL_BACKUP_KEEP=2): %+v", len(blobs), blobs)
	}
	for _, b := range blobs {
		if !strings.HasPrefix(b.Key, "backups/keel-backup-") || !strings.HasSuffix(b.Key, ".zip") || b.Size < 100 {
			t.Errorf("unexpected object %+v", b)
		}
	}
	// The stored archive is whole: keel backup verify accepts it.
	rc, _, err := store.Get(t.Context(), blobs[len(blobs)-1].Key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "backup.zip")
	f, err := os.Create(local)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	_ = f.Close()
	if out, err := exec.CommandContext(t.Context(), keelproc.Binary(t), "backup", "verify", local).CombinedOutput(); err != nil {
		t.Errorf("keel backup verify of the stored backup: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(filepath.Join(data, "backups"))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".zip") {
			t.Errorf("a local copy %s stayed on the host", e.Name())
		}
	}
}

// TestServeRefusesABadBucket: a bucket that does not exist, or
// credentials the server refuses, stop serve at start with one line.
func TestServeRefusesABadBucket(t *testing.T) {
	srv := s3server.Start(t)
	bucket := srv.NewBucket(t)
	for name, c := range map[string]struct {
		url, secret, want string
	}{
		"missing bucket":    {blobURL(srv, "no-such-bucket", "keel"), s3server.SecretKey, "KEEL_BLOB_URL (--blob-url): bucket no-such-bucket at " + strings.TrimPrefix(srv.Endpoint, "http://") + " does not exist"},
		"wrong credentials": {blobURL(srv, bucket, "keel"), "not-the-secret", "access denied"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, keelproc.Binary(t), "serve", "--http-addr", "127.0.0.1:0")
			cmd.Env = append(os.Environ(), "KEEL_DATA_DIR="+t.TempDir(), "KEEL_ADMIN_ADDR=off", "KEEL_BLOB_URL="+c.url,
				"AWS_ACCESS_KEY_ID="+s3server.AccessKey, "AWS_SECRET_ACCESS_KEY="+c.secret)
			out, err := cmd.CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("serve: %v (context %v)\n%s", err, ctx.Err(), out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("serve's output lacks %q:\n%s", c.want, out)
			}
			if strings.Contains(string(out), c.secret) {
				t.Errorf("serve's output shows the secret:\n%s", out)
			}
		})
	}
}
