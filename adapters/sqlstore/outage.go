package sqlstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keelhq/keel/domain"
)

// The errors a database outage returns instead of an internal one: both
// pass once the operator acts, so clients get 503 with Retry-After and a
// code they can tell apart, never a 500 that reads like a bug in Keel.
var (
	// ErrDatabaseUnavailable: PostgreSQL refused or dropped the
	// connection (restarting, shutting down, unreachable). A write that
	// got it may or may not have committed, so a client retries it with
	// its Idempotency-Key.
	ErrDatabaseUnavailable = domain.E(domain.KindUnavailable, "database_unavailable",
		"The database is unavailable; try again shortly.").WithRetryAfter(5 * time.Second)
	// ErrStorageFull: the database's disk is full. Nothing of the write
	// was stored; it succeeds again once the operator frees space.
	ErrStorageFull = domain.E(domain.KindUnavailable, "storage_full",
		"The server's storage is full; try again later.").WithRetryAfter(30 * time.Second)
)

// outage returns the error to report for err when err is an outage of
// the database rather than a fault of the statement: ErrStorageFull or
// ErrDatabaseUnavailable wrapping err. It returns err unchanged otherwise,
// and also when err already carries a domain error, which says what it
// means itself.
func (db *DB) outage(err error) error {
	if err == nil || domain.KindOf(err) != domain.KindInternal {
		return err
	}
	if e := db.d.outage(err); e != nil {
		return e.WithCause(err)
	}
	return err
}

// outage is SQLITE_FULL, which SQLite returns when a write finds the disk
// (or its max_page_count) full, also for the WAL. The transaction is
// rolled back; the database stays consistent and takes writes again once
// there is room.
func (sqliteDialect) outage(err error) *domain.Error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return ErrStorageFull
	}
	return nil
}

// outage recognises a PostgreSQL server that cannot be reached or has
// dropped the connection: a failed connect, a connection pgx has closed,
// a network error, a stream cut in the middle of a message, SQLSTATE
// class 08 (connection exception) and 57P01–57P03 (the server is shutting
// down, crashed or still starting). 53100 is the server's disk full.
func (postgres) outage(err error) *domain.Error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return ErrStorageFull
		case strings.HasPrefix(pe.Code, "08"), pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03":
			return ErrDatabaseUnavailable
		}
		return nil
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return ErrDatabaseUnavailable
	}
	// A caller's own deadline or cancellation is not an outage, although
	// context.DeadlineExceeded is a net.Error too.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return ErrDatabaseUnavailable
	}
	return nil
}

// errTimedOut is the cause of the context bound gives a call when the
// call's WithTimeout runs out, which tells that deadline apart from the
// caller's own.
var errTimedOut = errors.New("sqlstore: the database did not answer within the timeout")

// bound gives ctx the DB's timeout, if any, and returns done, which
// turns the error of the call made with the bounded context into
// ErrDatabaseUnavailable when it failed because the timeout ran out, not
// because the caller's own context ended: a client that disconnects, or
// a request past its own deadline, is not an outage of the database.
func (db *DB) bound(ctx context.Context) (context.Context, func(error) error) {
	if db.timeout <= 0 {
		return ctx, func(err error) error { return err }
	}
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, db.timeout, errTimedOut)
	return ctx, func(err error) error {
		timedOut := err != nil && parent.Err() == nil && errors.Is(context.Cause(ctx), errTimedOut)
		cancel()
		if timedOut && domain.KindOf(err) == domain.KindInternal {
			return ErrDatabaseUnavailable.WithCause(err)
		}
		return err
	}
}
