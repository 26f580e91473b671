package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/ports"
)

var _ ports.BackupLog = (*DB)(nil)

// ClaimBackupRun records run as running unless a run for the same
// scheduled time exists, and reports whether it did: of the nodes that
// fire at one scheduled time, exactly one gets true and takes the backup.
func (db *DB) ClaimBackupRun(ctx context.Context, run ports.BackupRun) (bool, error) {
	res, err := db.sql.ExecContext(ctx, db.d.rebind(`INSERT INTO backup_runs (id, scheduled_at, node, started_at, status, attempts, file, bytes, error)
		VALUES (?, ?, ?, ?, 'running', 0, ?, 0, '') ON CONFLICT (scheduled_at) DO NOTHING`),
		run.ID, run.ScheduledAt.UTC(), run.Node, run.StartedAt.UTC(), run.File)
	if err != nil {
		return false, fmt.Errorf("claim backup run: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim backup run: %w", err)
	}
	return n == 1, nil
}

// FinishBackupRun records a run's outcome.
func (db *DB) FinishBackupRun(ctx context.Context, run ports.BackupRun) error {
	_, err := db.sql.ExecContext(ctx, db.d.rebind(`UPDATE backup_runs SET finished_at = ?, status = ?, attempts = ?, bytes = ?, error = ? WHERE id = ?`),
		run.FinishedAt.UTC(), run.Status, run.Attempts, run.Bytes, run.Error, run.ID)
	if err != nil {
		return fmt.Errorf("finish backup run %s: %w", run.ID, err)
	}
	return nil
}

// BackupRuns lists the newest limit runs, newest first.
func (db *DB) BackupRuns(ctx context.Context, limit int) ([]ports.BackupRun, error) {
	rows, err := db.sql.QueryContext(ctx, db.d.rebind(`SELECT id, scheduled_at, node, started_at, finished_at, status, attempts, file, bytes, error
		FROM backup_runs ORDER BY scheduled_at DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("list backup runs: %w", err)
	}
	defer rows.Close()
	var out []ports.BackupRun
	for rows.Next() {
		var r ports.BackupRun
		var finished *time.Time
		if err := rows.Scan(&r.ID, &r.ScheduledAt, &r.Node, &r.StartedAt, &finished, &r.Status, &r.Attempts, &r.File, &r.Bytes, &r.Error); err != nil {
			return nil, fmt.Errorf("list backup runs: %w", err)
		}
		r.ScheduledAt, r.StartedAt = r.ScheduledAt.UTC(), r.StartedAt.UTC()
		if finished != nil {
			f := finished.UTC()
			r.FinishedAt = &f
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
