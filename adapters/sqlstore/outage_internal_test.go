package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestStorageFullIsUnavailable fills an SQLite database up to its
// max_page_count, which returns SQLITE_FULL as a full disk does: the write
// returns ErrStorageFull, a 503, stores nothing, and the database takes it
// once there is room again. test/faults fills a real file system.
func TestStorageFullIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	// insert sets the connection's max_page_count (0 leaves it) in the
	// transaction that inserts a 1 MiB blob: the pragma holds for one
	// connection only.
	blob := make([]byte, 1<<20)
	insert := func(maxPages int) error {
		return db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
			q := st.(*stores).q
			if maxPages > 0 {
				if _, err := q.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, maxPages)); err != nil {
					return err
				}
			}
			_, err := q.ExecContext(ctx, `INSERT INTO blobs (b) VALUES (?)`, blob)
			return err
		})
	}
	if _, err := db.sql.ExecContext(ctx, `CREATE TABLE blobs (b BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.sql.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	err = insert(pages + 2)
	if !errors.Is(err, ErrStorageFull) || domain.KindOf(err) != domain.KindUnavailable {
		t.Fatalf("insert into a full database: err = %v, want ErrStorageFull", err)
	}
	var rows int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM blobs`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("after the refused insert: %d rows (%v), want none", rows, err)
	}
	if err := insert(1073741823); err != nil {
		t.Fatalf("insert once there is room: %v", err)
	}
}

// TestPostgresOutage: the errors of an unreachable, restarting or full
// PostgreSQL are outages; a statement's own failure, and the caller's
// deadline, are not. test/faults restarts a real server.
func TestPostgresOutage(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want *domain.Error
	}{
		{"ConnectError", fmt.Errorf("begin transaction: %w", &pgconn.ConnectError{}), ErrDatabaseUnavailable},
		{"ConnectionRefused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, ErrDatabaseUnavailable},
		{"ConnClosed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), ErrDatabaseUnavailable},
		{"CutStream", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), ErrDatabaseUnavailable},
		{"AdminShutdown", &pgconn.PgError{Code: "57P01"}, ErrDatabaseUnavailable},
		{"CannotConnectNow", &pgconn.PgError{Code: "57P03"}, ErrDatabaseUnavailable},
		{"ConnectionException", &pgconn.PgError{Code: "08006"}, ErrDatabaseUnavailable},
		{"DiskFull", &pgconn.PgError{Code: "53100"}, ErrStorageFull},
		{"UniqueViolation", &pgconn.PgError{Code: "23505"}, nil},
		{"Deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), nil},
		{"Canceled", context.Canceled, nil},
		{"Other", errors.New("scan: converting NULL"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := (postgres{}).outage(c.err); got != c.want {
				t.Errorf("outage(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
	db := &DB{d: postgres{}}
	if err := db.outage(domain.ErrNotFound); err != domain.ErrNotFound {
		t.Errorf("a domain error is kept as it is, got %v", err)
	}
	if err := db.outage(&pgconn.PgError{Code: "57P01"}); !errors.Is(err, ErrDatabaseUnavailable) || domain.KindOf(err) != domain.KindUnavailable {
		t.Errorf("an outage is ErrDatabaseUnavailable wrapping it, got %v", err)
	}
}

// TestOutageTimeout runs ReadOnly with work that waits until its context
// ends, as a query on a frozen PostgreSQL server does: with WithTimeout
// the call returns ErrDatabaseUnavailable once the timeout runs out,
// while a caller that cancels its own context gets its own error back,
// not an outage. SQLite's write transactions run without their callers'
// cancellation (groupcommit.go), so WithinTx's bound is shown on
// PostgreSQL by test/faults.
func TestOutageTimeout(t *testing.T) {
	db, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keel.db"), WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	hang := func(ctx context.Context, _ ports.Stores) error {
		<-ctx.Done()
		return fmt.Errorf("query: %w", ctx.Err())
	}
	calls := map[string]func(context.Context, func(context.Context, ports.Stores) error) error{"ReadOnly": db.ReadOnly}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(t.Context(), hang); !errors.Is(err, ErrDatabaseUnavailable) {
				t.Errorf("past the timeout: got %v, want %v", err, ErrDatabaseUnavailable)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := call(ctx, hang); !errors.Is(err, context.Canceled) || domain.KindOf(err) == domain.KindUnavailable {
				t.Errorf("caller cancelled: got %v (%v), want context.Canceled, not an outage", err, domain.KindOf(err))
			}
			if err := call(t.Context(), func(context.Context, ports.Stores) error { return nil }); err != nil {
				t.Errorf("within the timeout: %v", err)
			}
		})
	}
}
