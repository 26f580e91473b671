package sqlstore_test

import (
	"maps"
	"slices"
	"testing"
)

// TestBackupColumnKindsAgree checks that a backup sees the same tables,
// columns, kinds and primary keys on SQLite and PostgreSQL, which is what
// lets a backup of one restore into the other: a migration that adds a
// table or a column to one engine only, or a boolean column that SQLite
// declares INTEGER without listing it in sqliteBooleans, fails here.
func TestBackupColumnKindsAgree(t *testing.T) {
	lite, err := openSQLite(t).BackupSchema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pg, err := openPostgres(t).BackupSchema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if a, b := slices.Sorted(maps.Keys(lite)), slices.Sorted(maps.Keys(pg)); !slices.Equal(a, b) {
		t.Fatalf("tables differ:\nSQLite     %v\nPostgreSQL %v", a, b)
	}
	for table, cols := range lite {
		for col, kind := range cols {
			if pg[table][col] != kind {
				t.Errorf("%s.%s: SQLite %q, PostgreSQL %q", table, col, kind, pg[table][col])
			}
		}
		for col, kind := range pg[table] {
			if _, ok := cols[col]; !ok {
				t.Errorf("%s.%s: only on PostgreSQL (%s)", table, col, kind)
			}
		}
	}
}
