package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/keelhq/keel/adapters/backuparchive"
	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/ports"
)

// TestScheduledBackupsGoToTheBlobStore: with a blob store set, each
// scheduled backup is uploaded whole, its local copy deleted, its run
// names the stored copy, and the store keeps the newest keep. The job only
// sees ports.BlobStore; a directory store stands in for the S3 bucket that
// serve gives it, whose adapter passes the same contract suite.
func TestScheduledBackupsGoToTheBlobStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(dir, "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	store, err := blobfs.New(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	sched, err := cron.ParseStandard("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	cfg := backupScheduleConfig{schedule: sched, keep: 2, dir: filepath.Join(dir, "backups"), retryWait: time.Millisecond,
		blobs: store, blobWhere: "s3://bucket/keel/"}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runScheduledBackups(ctx, cfg, db, system.NewService(db, db, ports.ClockFunc(time.Now)), "Keel <keel@example.com>", noop.NewMeterProvider(), slog.New(slog.DiscardHandler))
	}()
	var runs []ports.BackupRun
	for deadline := time.Now().Add(30 * time.Second); ; {
		if runs, err = db.BackupRuns(t.Context(), 10); err != nil {
			t.Fatal(err)
		}
		succeeded := 0
		for _, r := range runs {
			if r.Status == "succeeded" {
				succeeded++
			}
		}
		if succeeded >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 backups within 30 s: %+v", runs)
		}
		time.Sleep(50 * time.Millisecond) // polling the job's goroutine through the database
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	blobs, _, err := store.List(t.Context(), "backups/", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != cfg.keep {
		t.Errorf("the store holds %d backups, want the newest %d: %+v", len(blobs), cfg.keep, blobs)
	}
	for _, r := range runs {
		if r.Status != "succeeded" {
			continue
		}
		key, ok := strings.CutPrefix(r.File, cfg.blobWhere)
		if !ok || !strings.HasPrefix(key, "backups/keel-backup-") || r.Bytes <= 0 {
			t.Errorf("run %s: File %q, Bytes %d; want the stored copy", r.ID, r.File, r.Bytes)
		}
	}
	newest := runs[0]
	for _, r := range runs {
		if r.Status == "succeeded" {
			newest = r
			break
		}
	}
	// The newest stored copy is a whole, valid archive.
	key := strings.TrimPrefix(newest.File, cfg.blobWhere)
	rc, info, err := store.Get(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer func() { _ = rc.Close() }()
	if info.Size != newest.Bytes || info.ContentType != "application/zip" {
		t.Errorf("stored %d bytes of %s, the run says %d", info.Size, info.ContentType, newest.Bytes)
	}
	local := filepath.Join(t.TempDir(), "copy.zip")
	f, err := os.Create(local)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	ar, err := backuparchive.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ar.Close() }()
	if err := ar.Verify(); err != nil {
		t.Errorf("the stored backup does not verify: %v", err)
	}
	// No local copy is left behind.
	entries, _ := os.ReadDir(cfg.dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".zip") {
			t.Errorf("local copy %s left in the backup directory", e.Name())
		}
	}
}
