package bootstrap

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/metric"

	"github.com/keelhq/keel/adapters/backuparchive"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/ports"
)

var (
	sBackupSchedule = setting{"backup-schedule", "KEEL_BACKUP_SCHEDULE", "", "when serve takes a backup by itself: a cron schedule in UTC (5 fields, or @daily, @every 6h); empty: never"}
	sBackupKeep     = setting{"backup-keep", "KEEL_BACKUP_KEEP", "7", "how many scheduled backups the backup directory keeps; older ones are deleted"}
	sBackupDir      = setting{"backup-dir", "KEEL_BACKUP_DIR", "", "directory of scheduled backups (default: backups in the data directory)"}
)

// backupAttempts is how many times a scheduled backup is tried before its
// run is recorded as failed; backupRetryWait is the wait after the first
// failure, doubled after each later one.
const (
	backupAttempts  = 3
	backupRetryWait = 10 * time.Second
)

// backupFilePrefix starts the name of every scheduled backup's file, which
// then holds its scheduled time, so that names sort by age.
const backupFilePrefix = "keel-backup-"

// backupScheduleConfig is the scheduled backups' configuration; a nil
// schedule turns them off.
type backupScheduleConfig struct {
	schedule  cron.Schedule
	keep      int
	dir       string
	secretKey string // the key's fingerprint, for the manifests
	retryWait time.Duration
	// blobs, when set, receives each backup once written to dir, which
	// then keeps no copy; serve sets it when KEEL_BLOB_URL is an S3
	// bucket, so backups leave the host. blobWhere names the store in
	// the runs' File ("s3://bucket/prefix/").
	blobs     ports.BlobStore
	blobWhere string
	// source is the blob store whose files each backup copies (media,
	// submissions' files); serve sets it to the store it opened.
	source ports.BlobStore
	// write writes a backup to path; nil is writeBackup. Tests replace it
	// to make backups fail.
	write func(ctx context.Context, db *sqlstore.DB, path, keyFingerprint string) (backuparchive.Manifest, error)
}

func loadBackupScheduleConfig(fs *pflag.FlagSet, getenv func(string) string, dataDir string) (backupScheduleConfig, error) {
	c := backupScheduleConfig{retryWait: backupRetryWait}
	spec := strings.TrimSpace(value(fs, getenv, sBackupSchedule))
	if spec == "" {
		return c, nil
	}
	var err error
	if c.schedule, err = cron.ParseStandard(spec); err != nil {
		return c, sBackupSchedule.errorf("%v", err)
	}
	if c.keep, err = strconv.Atoi(value(fs, getenv, sBackupKeep)); err != nil || c.keep < 1 {
		return c, sBackupKeep.errorf("want a whole number of at least 1, got %q", value(fs, getenv, sBackupKeep))
	}
	c.dir = value(fs, getenv, sBackupDir)
	if c.dir == "" {
		c.dir = filepath.Join(dataDir, "backups")
	}
	if c.secretKey, err = secretKeyFingerprint(fs, getenv); err != nil {
		return c, err
	}
	return c, nil
}

// runScheduledBackups is serve's job of scheduled backups. At each time
// the schedule names, every node tries to record a run for that time and
// the one whose insert wins takes the backup (ClaimBackupRun), so that a
// cluster takes one backup, not one per node. A failed backup is tried
// again, backupAttempts times in all; then its run is recorded as failed,
// logged, counted in keel.backup.failures and mailed, from mailFrom, to
// every instance administrator through the outbox. After a success the
// directory keeps the newest cfg.keep scheduled backups.
func runScheduledBackups(ctx context.Context, cfg backupScheduleConfig, db *sqlstore.DB, sys *system.Service, mailFrom string, mp metric.MeterProvider, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return fmt.Errorf("create backup directory: %w", err)
	}
	m := mp.Meter("github.com/keelhq/keel/cmd/keel/bootstrap")
	failures, err := m.Int64Counter("keel.backup.failures", metric.WithUnit("{backup}"),
		metric.WithDescription("Scheduled backups that failed every attempt."))
	if err != nil {
		return err
	}
	var lastSuccess atomic.Int64 // Unix seconds; 0 before the first
	if runs, err := db.BackupRuns(ctx, 100); err == nil {
		for _, r := range runs {
			if r.Status == "succeeded" && r.FinishedAt != nil {
				lastSuccess.Store(r.FinishedAt.Unix())
				break
			}
		}
	}
	if _, err := m.Int64ObservableGauge("keel.backup.last_success", metric.WithUnit("s"),
		metric.WithDescription("When the last scheduled backup of any node succeeded, in Unix seconds; 0 before the first."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(lastSuccess.Load())
			return nil
		})); err != nil {
		return err
	}
	node := nodeName()
	next := cfg.schedule.Next(time.Now().UTC())
	log.Info("scheduled backups", "next", next, "dir", cfg.dir, "keep", cfg.keep)
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		at := next
		next = cfg.schedule.Next(at)
		run := ports.BackupRun{ID: "bkr_" + at.Format("20060102T150405Z"), ScheduledAt: at, Node: node, StartedAt: time.Now().UTC(),
			File: filepath.Join(cfg.dir, backupFilePrefix+at.Format("20060102T150405Z")+".zip")}
		if cfg.blobs != nil {
			run.File = cfg.blobWhere + backupBlobKey(run.File)
		}
		claimed, err := db.ClaimBackupRun(ctx, run)
		if err != nil {
			log.Warn("scheduled backup: cannot claim its run; skipped", "scheduled_at", at, "err", err)
			continue
		}
		if !claimed {
			log.Debug("scheduled backup taken by another node", "scheduled_at", at)
			continue
		}
		run = takeScheduledBackup(ctx, cfg, db, run, log)
		if run.Status == "succeeded" {
			lastSuccess.Store(run.FinishedAt.Unix())
			pruneScheduledBackups(cfg, log)
		} else {
			failures.Add(ctx, 1)
		}
		if err := db.FinishBackupRun(context.WithoutCancel(ctx), run); err != nil {
			log.Warn("scheduled backup: cannot record its result", "file", run.File, "err", err)
		}
		if run.Status == "failed" && ctx.Err() == nil {
			if n, err := sys.NotifyBackupFailed(ctx, mailFrom, run); err != nil {
				log.Error("scheduled backup failed and the administrators could not be mailed", "file", run.File, "err", err)
			} else {
				log.Info("scheduled backup failure mailed", "file", run.File, "administrators", n)
			}
		}
	}
}

// takeScheduledBackup writes run's backup, retrying, and returns the run
// with its outcome.
func takeScheduledBackup(ctx context.Context, cfg backupScheduleConfig, db *sqlstore.DB, run ports.BackupRun, log *slog.Logger) ports.BackupRun {
	write := cfg.write
	if write == nil {
		write = func(ctx context.Context, db *sqlstore.DB, path, fp string) (backuparchive.Manifest, error) {
			return writeBackup(ctx, db, func() (ports.BlobStore, error) { return cfg.source, nil }, path, fp, io.Discard, log)
		}
	}
	wait := cfg.retryWait
	local := backupLocalPath(cfg, run)
	for run.Attempts = 1; ; run.Attempts++ {
		m, err := write(ctx, db, local, cfg.secretKey)
		now := time.Now().UTC()
		run.FinishedAt = &now
		if err == nil {
			if st, err := os.Stat(local); err == nil {
				run.Bytes = st.Size()
			}
		}
		if err == nil && cfg.blobs != nil {
			err = uploadScheduledBackup(ctx, cfg, local, run.File)
		}
		if err == nil {
			run.Status, run.Error = "succeeded", ""
			log.Info("scheduled backup written", "file", run.File, "rows", totalRows(m), "bytes", run.Bytes, "attempts", run.Attempts)
			return run
		}
		run.Status, run.Error = "failed", err.Error()
		if run.Attempts == backupAttempts || ctx.Err() != nil {
			log.Error("scheduled backup failed", "file", run.File, "attempts", run.Attempts, "err", err)
			return run
		}
		log.Warn("scheduled backup failed; trying again", "file", run.File, "attempt", run.Attempts, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// pruneScheduledBackups deletes the oldest scheduled backups past keep.
// Only files named as scheduled backups are considered: an archive an
// operator put there by hand stays.
func pruneScheduledBackups(cfg backupScheduleConfig, log *slog.Logger) {
	if cfg.blobs != nil {
		pruneBlobBackups(cfg, log)
		return
	}
	entries, err := os.ReadDir(cfg.dir)
	if err != nil {
		log.Warn("scheduled backups: cannot list the directory", "dir", cfg.dir, "err", err)
		return
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, backupFilePrefix) && strings.HasSuffix(n, ".zip") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for len(names) > cfg.keep {
		if err := os.Remove(filepath.Join(cfg.dir, names[0])); err != nil {
			log.Warn("scheduled backups: cannot delete an old backup", "file", names[0], "err", err)
		} else {
			log.Info("scheduled backup deleted", "file", names[0], "keep", cfg.keep)
		}
		names = names[1:]
	}
}

// writeBackup writes a backup of db, and of the blobs that its rows name,
// to path, with progress on
// progressTo; blobs gone by the time they are copied are warned of on
// progressTo and in log (when set). openBlobs opens the blob store, only
// when a row names a blob; without a store (nil) every blob is missing. The blobs are copied after the
// snapshot's read transaction ends, so that it stays no longer open than
// the tables need (see backupfiles.go for why that is consistent).
func writeBackup(ctx context.Context, db *sqlstore.DB, openBlobs func() (ports.BlobStore, error), path, keyFingerprint string, progressTo io.Writer, log *slog.Logger) (backuparchive.Manifest, error) {
	w, err := backuparchive.Create(path)
	if err != nil {
		return backuparchive.Manifest{}, err
	}
	sink := &archiveSink{w: w, stderr: progressTo, refs: blobRefSet{}}
	if err := db.Backup(ctx, sink); err != nil {
		sink.bar.finish()
		w.Abort()
		return backuparchive.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	sink.bar.finish()
	var missing []string
	if len(sink.refs) > 0 {
		blobs, err := openBlobs()
		if err != nil {
			w.Abort()
			return backuparchive.Manifest{}, fmt.Errorf("backup: %w", err)
		}
		bar := newProgress(progressTo, int64(len(sink.refs)), "backing up files", false)
		bar.unit = "files"
		missing, err = copyBlobs(ctx, blobs, w, sink.refs, bar)
		bar.finish()
		if err != nil {
			w.Abort()
			return backuparchive.Manifest{}, fmt.Errorf("backup: %w", err)
		}
		warnMissingBlobs(progressTo, missing)
		if log != nil && len(missing) > 0 {
			log.Warn("backup: files the backed-up rows name were gone when they were copied; the archive lists them as missing", "file", path, "missing", len(missing), "first", missing[0])
		}
	}
	return w.Close(backuparchive.Manifest{
		KeelVersion:   readBuild().Version,
		Engine:        sink.info.Engine,
		SchemaVersion: sink.info.SchemaVersion,
		CreatedAt:     sink.started.UTC(),
		SecretKey:     keyFingerprint,
		MissingBlobs:  missing,
	})
}

// nodeName names this process in the runs it takes: the host and a
// random suffix, since two nodes may share a host name.
func nodeName() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}
