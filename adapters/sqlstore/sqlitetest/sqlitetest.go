// Package sqlitetest gives each test its own migrated SQLite database, so
// that tests above storage run the code production runs (group commit, the
// statement cache, real constraints) instead of an in-memory copy of the
// stores.
//
// The first call in a test binary migrates one template database; every
// call copies that file into the test's temporary directory, which is far
// cheaper than migrating again.
package sqlitetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/ports"
)

var (
	templateOnce sync.Once
	template     []byte // the migrated database file
	templateErr  error
)

// New returns a migrated SQLite database of its own for t, closed when t
// ends. opts are passed to sqlstore.Open.
func New(t testing.TB, opts ...sqlstore.Option) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), URL(t), opts...)
	if err != nil {
		t.Fatalf("open sqlite test database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// URL copies the migrated template into t's temporary directory and
// returns the copy's sqlstore URL, for tests that open it themselves (a
// binary under test, say).
func URL(t testing.TB) string {
	t.Helper()
	templateOnce.Do(func() { template, templateErr = migrateTemplate() })
	if templateErr != nil {
		t.Fatalf("sqlite template: %v", templateErr)
	}
	path := filepath.Join(t.TempDir(), "keel.db")
	if err := os.WriteFile(path, template, 0o600); err != nil {
		t.Fatalf("copy sqlite template: %v", err)
	}
	return "sqlite:" + path
}

// migrateTemplate migrates a database in a directory of its own and
// returns the bytes of its file. Closing the last connection folds the
// write-ahead log into the main file, so that one file holds the whole
// schema; the directory is removed at once, leaving nothing behind.
func migrateTemplate() ([]byte, error) {
	dir, err := os.MkdirTemp("", "keel-sqlitetest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+path)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("close template: %w", err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		return nil, fmt.Errorf("template %s kept its write-ahead log after close", path)
	}
	return os.ReadFile(path)
}

// HoldWrite opens a write transaction on db that has written, so that it
// holds SQLite's write lock and every other writer queues behind it, and
// keeps it open until release is called or t ends. Tests use it to show
// that a read never waits for writers.
func HoldWrite(t testing.TB, db ports.UnitOfWork) (release func()) {
	t.Helper()
	held, done := make(chan struct{}), make(chan error, 1)
	releaseCh := make(chan struct{})
	go func() {
		done <- db.WithinTx(context.WithoutCancel(t.Context()), func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Instance().BumpCounter(ctx, "sqlitetest.hold"); err != nil {
				return err
			}
			close(held)
			<-releaseCh
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("hold a write transaction: %v", err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(releaseCh)
			if err := <-done; err != nil {
				t.Errorf("held write transaction: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}
