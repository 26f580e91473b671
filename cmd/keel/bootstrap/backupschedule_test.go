package bootstrap

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/keelhq/keel/adapters/backuparchive"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/ports"
)

// TestScheduledBackupFailureMailsAdmins makes every attempt of a scheduled
// backup fail and checks that the run is tried three times, recorded as
// failed with its error, and mailed through the outbox to the instance's
// administrator.
func TestScheduledBackupFailureMailsAdmins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := map[string]string{"KEEL_DATA_DIR": dir}
	if out, _, err := runWithInput(t, t.Context(), []string{"admin", "create", "--email", "ops@example.com", "--password-stdin"}, e, "correct horse battery\n"); err != nil {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	db, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(dir, "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sched, err := cron.ParseStandard("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	cfg := backupScheduleConfig{schedule: sched, keep: 1, dir: filepath.Join(dir, "backups"), retryWait: time.Millisecond,
		write: func(context.Context, *sqlstore.DB, string, string) (backuparchive.Manifest, error) {
			tries++
			return backuparchive.Manifest{}, errors.New("disk full")
		}}
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
		if len(runs) > 0 && runs[len(runs)-1].Status == "failed" && mailed(t, filepath.Join(dir, "keel.db")) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed run mailed within 30 s: runs %+v, %d messages", runs, mailed(t, filepath.Join(dir, "keel.db")))
		}
		time.Sleep(50 * time.Millisecond) // polling the job's goroutine through the database
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	first := runs[len(runs)-1]
	if first.Attempts != backupAttempts || first.Error != "disk full" {
		t.Errorf("failed run: %d attempts, error %q; want %d and the write's error", first.Attempts, first.Error, backupAttempts)
	}
	if tries < backupAttempts {
		t.Errorf("backup written %d times, want at least %d", tries, backupAttempts)
	}
}

// mailed counts the backup failure messages to ops@example.com in the
// database file at path.
func mailed(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM outbox_messages WHERE kind = ? AND to_addrs LIKE '%ops@example.com%' AND workspace_id IS NULL`, system.KindBackupFailed).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
