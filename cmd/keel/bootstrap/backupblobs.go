package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keelhq/keel/ports"
)

// backupBlobPrefix holds the scheduled backups in the blob store.
const backupBlobPrefix = "backups/"

// backupBlobKey is the key of the scheduled backup whose local file is
// path. Blob keys are lower case, so the key is the file's name in lower
// case; it still sorts by time.
func backupBlobKey(path string) string {
	return backupBlobPrefix + strings.ToLower(filepath.Base(path))
}

// backupLocalPath is where run's archive is written: its File, or, when it
// goes to the blob store, a file of the same name in the backup directory
// that the upload then deletes.
func backupLocalPath(cfg backupScheduleConfig, run ports.BackupRun) string {
	if cfg.blobs == nil {
		return run.File
	}
	return filepath.Join(cfg.dir, path.Base(run.File))
}

// uploadScheduledBackup copies the backup written to local into the blob
// store as the run's file, streamed, then deletes the local file. A failed
// upload keeps it and fails the attempt, which is then tried again like a
// failed write.
func uploadScheduledBackup(ctx context.Context, cfg backupScheduleConfig, local, file string) error {
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("open the backup to upload: %w", err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat the backup to upload: %w", err)
	}
	if _, err := cfg.blobs.Put(ctx, strings.TrimPrefix(file, cfg.blobWhere), "application/zip", st.Size(), f); err != nil {
		return fmt.Errorf("upload the backup to %s: %w", cfg.blobWhere, err)
	}
	_ = f.Close()
	if err := os.Remove(local); err != nil {
		return fmt.Errorf("delete the uploaded backup's local copy: %w", err)
	}
	return nil
}

// pruneBlobBackups deletes the oldest scheduled backups in the blob store
// past keep. It lists only keys named as scheduled backups, so an archive
// an operator put beside them stays.
func pruneBlobBackups(cfg backupScheduleConfig, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var keys []string
	for after := ""; ; {
		blobs, next, err := cfg.blobs.List(ctx, backupBlobPrefix+backupFilePrefix, after, ports.MaxBlobListLimit)
		if err != nil {
			log.Warn("scheduled backups: cannot list the blob store", "store", cfg.blobWhere, "err", err)
			return
		}
		for _, b := range blobs {
			if strings.HasSuffix(b.Key, ".zip") {
				keys = append(keys, b.Key)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	slices.Sort(keys)
	for len(keys) > cfg.keep {
		if err := cfg.blobs.Delete(ctx, keys[0]); err != nil {
			log.Warn("scheduled backups: cannot delete an old backup", "file", cfg.blobWhere+keys[0], "err", err)
		} else {
			log.Info("scheduled backup deleted", "file", cfg.blobWhere+keys[0], "keep", cfg.keep)
		}
		keys = keys[1:]
	}
}
