package ports

import (
	"context"
	"time"
)

// BackupRun is one scheduled backup: the time the schedule named, the
// node that took it and how it went.
type BackupRun struct {
	ID          string
	ScheduledAt time.Time
	Node        string
	StartedAt   time.Time
	FinishedAt  *time.Time // nil while it runs
	Status      string     // "running", "succeeded" or "failed"
	Attempts    int
	File        string // the archive's path on the node that took it
	Bytes       int64
	Error       string // the last attempt's error when it failed
}

// BackupLog is the record of scheduled backups. BackupRuns returns the
// newest limit runs, newest first, or an internal error.
type BackupLog interface {
	BackupRuns(ctx context.Context, limit int) ([]BackupRun, error)
}
