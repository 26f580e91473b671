package testdb_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.Main(m, testdb.Stop)
}

// migrations counts how often the template was migrated: once per binary.
var migrations atomic.Int32

// migrate stands in for sqlstore's goose migrations.
func migrate(ctx context.Context, url string) error {
	migrations.Add(1)
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	_, err = db.ExecContext(ctx, `CREATE TABLE marker (note text NOT NULL); INSERT INTO marker VALUES ('migrated')`)
	return err
}

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func currentDatabase(t *testing.T, db *sql.DB) string {
	t.Helper()
	var name string
	if err := db.QueryRowContext(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatalf("current_database: %v", err)
	}
	return name
}

func TestPostgresClonesTheMigratedTemplate(t *testing.T) {
	t.Parallel()
	a, b := open(t, testdb.Postgres(t, migrate)), open(t, testdb.Postgres(t, migrate))

	if na, nb := currentDatabase(t, a), currentDatabase(t, b); na == nb {
		t.Fatalf("both databases are %s, want two", na)
	}
	if _, err := a.ExecContext(t.Context(), "INSERT INTO marker VALUES ('only in a')"); err != nil {
		t.Fatalf("insert into a: %v", err)
	}
	for name, db := range map[string]*sql.DB{"a": a, "b": b} {
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM marker").Scan(&n); err != nil {
			t.Fatalf("count in %s: %v", name, err)
		}
		if want := map[string]int{"a": 2, "b": 1}[name]; n != want {
			t.Errorf("%s holds %d markers, want %d", name, n, want)
		}
	}
	if got := migrations.Load(); got != 1 {
		t.Errorf("template migrated %d times, want 1", got)
	}
}

func TestCopyClonesADatabaseOnceClosed(t *testing.T) {
	t.Parallel()
	src := testdb.Postgres(t, migrate)
	a, err := sql.Open("pgx", src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ExecContext(t.Context(), "INSERT INTO marker VALUES ('set up')"); err != nil {
		t.Fatalf("insert into the source: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	cp := open(t, testdb.Copy(t, src))
	if _, err := cp.ExecContext(t.Context(), "INSERT INTO marker VALUES ('only in the copy')"); err != nil {
		t.Fatalf("insert into the copy: %v", err)
	}
	var n int
	if err := open(t, src).QueryRowContext(t.Context(), "SELECT count(*) FROM marker").Scan(&n); err != nil || n != 2 {
		t.Errorf("the source holds %d markers (%v), want 2: the copy's row stays in the copy", n, err)
	}
	if err := cp.QueryRowContext(t.Context(), "SELECT count(*) FROM marker").Scan(&n); err != nil || n != 3 {
		t.Errorf("the copy holds %d markers (%v), want the source's 2 and its own", n, err)
	}
}

func TestPostgresParallelClones(t *testing.T) {
	t.Parallel()
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			db := open(t, testdb.Postgres(t, migrate))
			if err := db.PingContext(t.Context()); err != nil {
				t.Fatalf("ping: %v", err)
			}
		})
	}
}

func TestEmptyPostgresIsNotMigrated(t *testing.T) {
	t.Parallel()
	db := open(t, testdb.EmptyPostgres(t))
	var exists bool
	if err := db.QueryRowContext(t.Context(), "SELECT to_regclass('marker') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatalf("look for marker: %v", err)
	}
	if exists {
		t.Error("an empty database holds the migrated table")
	}
}

func TestPostgresDropsTheDatabaseAfterTheTest(t *testing.T) {
	t.Parallel()
	var name string
	outer := t
	t.Run("user", func(t *testing.T) {
		// The pool outlives the subtest on purpose, as a forgetful test's
		// would: the drop must end its session.
		db, err := sql.Open("pgx", testdb.Postgres(t, migrate))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		outer.Cleanup(func() { _ = db.Close() })
		name = currentDatabase(t, db)
	})
	admin := open(t, testdb.PostgresAdminURL(t))
	var n int
	if err := admin.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatalf("look for %s: %v", name, err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test", name)
	}
}

func TestSQLiteIsInTheTestsTempDir(t *testing.T) {
	t.Parallel()
	url := testdb.SQLite(t)
	path, ok := strings.CutPrefix(url, "sqlite://")
	if !ok || !filepath.IsAbs(path) {
		t.Fatalf("SQLite() = %q, want sqlite:// and an absolute path", url)
	}
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		t.Errorf("directory of %s: %v", path, err)
	}
}
