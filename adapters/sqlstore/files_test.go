package sqlstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keelhq/keel/adapters/sqlstore"
)

// The database holds password hashes, session hashes and every submission,
// so its files are private to Keel's user even in a directory that others
// may read, one an operator made before Keel first ran.
func TestSQLiteFilesArePrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data", "keel.db")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh", "sub", "keel.db")
	for _, p := range []string{path, fresh} {
		db, err := sqlstore.Open(t.Context(), "sqlite:"+p)
		if err != nil {
			t.Fatal(err)
		}
		// Migrating writes, which creates the write-ahead log and its
		// shared-memory index next to the database.
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{p, p + "-wal", p + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s has mode %v, want no access for group and others", f, perm)
			}
		}
		_ = db.Close()
	}
	for _, d := range []string{filepath.Join(dir, "fresh"), filepath.Join(dir, "fresh", "sub")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("directory %s made by Keel has mode %v, want no access for group and others", d, perm)
		}
	}
}
