package sqlstore_test

import (
	"os"
	"testing"

	"github.com/keelhq/keel/adapters/sqlstore"
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
