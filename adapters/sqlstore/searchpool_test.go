package sqlstore

import (
	"context"
	"database/sql"
	"testing"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// On SQLite only the search pool maps the database: the main pool's
// connections read it with pread, so that the kernel does not count its
// pages in the resident memory once per connection. Searches outside a
// transaction run on the search pool, whose connections cannot write.
func TestSQLiteSearchPool(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	ctx := t.Context()
	if db.searchSQL == nil {
		t.Fatal("no search pool on SQLite")
	}
	mmapSize := func(pool *sql.DB) int64 {
		t.Helper()
		var n int64
		if err := pool.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := mmapSize(db.sql); n != 0 {
		t.Errorf("main pool mmap_size = %d, want 0", n)
	}
	if got := db.searchSQL.Stats().OpenConnections; got != 0 {
		t.Fatalf("search pool has %d connections before any search, want 0 (it connects lazily)", got)
	}
	err := db.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		_, _, err := st.Entries().ListPublished(ctx, "ws_x", domain.KindPost, ports.PublicFilter{Query: "hello"}, ports.Page{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := db.searchSQL.Stats().OpenConnections; got != 1 {
		t.Errorf("search pool has %d connections after a search, want 1", got)
	}
	if got, want := db.searchSQL.Stats().MaxOpenConnections, cap(db.searches); got != want {
		t.Errorf("search pool bound = %d, want %d, the searches that may run at once", got, want)
	}
	if n := mmapSize(db.searchSQL); n != sqliteSearchMmapSize {
		t.Errorf("search pool mmap_size = %d, want %d", n, sqliteSearchMmapSize)
	}
	if _, err := db.searchSQL.ExecContext(ctx, "CREATE TABLE search_pool_write (a)"); err == nil {
		t.Error("a write on the search pool succeeded, want query_only to refuse it")
	}
}

// WithSearchMmapSize(0) leaves the search pool without a map, for a
// machine that would rather spend CPU than memory.
func TestSQLiteSearchPoolWithoutMap(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t, WithSearchMmapSize(0))
	var n int64
	if err := db.searchSQL.QueryRowContext(t.Context(), "PRAGMA mmap_size").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("search pool mmap_size = %d, want 0", n)
	}
}
