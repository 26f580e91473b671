package sqlstore_test

import (
	"os"
	"testing"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/ports/porttest"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.SetDefaults()
	code := m.Run()
	testdb.Stop()
	os.Exit(code)
}

func openSQLite(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), testdb.SQLite(t))
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate SQLite: %v", err)
	}
	return db
}

func openPostgres(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), testdb.Postgres(t, testdb.MigrateKeel))
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestStoresSQLite(t *testing.T) {
	porttest.Stores(t, func(t *testing.T) ports.UnitOfWork { return openSQLite(t) })
}

func TestStoresPostgres(t *testing.T) {
	porttest.Stores(t, func(t *testing.T) ports.UnitOfWork { return openPostgres(t) })
}

func TestSubmissionScanSQLite(t *testing.T) {
	porttest.SubmissionScan(t, func(t *testing.T) ports.UnitOfWork { return openSQLite(t) }, sqlstore.SubmissionScan())
}

func TestSubmissionScanPostgres(t *testing.T) {
	porttest.SubmissionScan(t, func(t *testing.T) ports.UnitOfWork { return openPostgres(t) }, sqlstore.SubmissionScan())
}

// TestWarmOpensThePool: on PostgreSQL Warm opens every connection the pool
// may hold and leaves them idle for the first burst; on SQLite it opens
// none.
func TestWarmOpensThePool(t *testing.T) {
	t.Parallel()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db, err := sqlstore.Open(t.Context(), testdb.Postgres(t, testdb.MigrateKeel))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		before := db.Stats()
		db.Warm(t.Context())
		s := db.Stats()
		if s.MaxOpenConnections < 2 || s.OpenConnections != s.MaxOpenConnections || s.Idle != s.OpenConnections {
			t.Fatalf("after Warm: %d open, %d idle, of at most %d (%d open before); want all open and idle",
				s.OpenConnections, s.Idle, s.MaxOpenConnections, before.OpenConnections)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db := sqlitetest.New(t)
		before := db.Stats().OpenConnections
		db.Warm(t.Context())
		if after := db.Stats().OpenConnections; after != before {
			t.Fatalf("Warm opened %d SQLite connections, want none", after-before)
		}
	})
}
