package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3/lock"
)

// migrationLockID is the PostgreSQL advisory lock that serialises
// migrations across nodes: goose's own ID, so that a goose CLI run by hand
// waits for Keel and the other way round.
const migrationLockID int64 = lock.DefaultLockID

// advisoryLock is a goose session locker that blocks in
// pg_advisory_lock until the lock is free. goose's own locker polls with
// pg_try_advisory_lock at one-second steps at best, which makes every node
// that starts beside a migrating one wait a second or more for nothing.
// The wait ends with the context; the lock ends with the session, so a
// node that dies mid-migration does not leave it held.
type advisoryLock struct{}

var _ lock.SessionLocker = advisoryLock{}

func (advisoryLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

func (advisoryLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", migrationLockID); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	return nil
}
