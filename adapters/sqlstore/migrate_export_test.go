package sqlstore

import "context"

// MigrateUpTo applies the migrations up to version, so that a test can
// store rows the way an older Keel did before the later migrations run.
func (db *DB) MigrateUpTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// Exec runs one statement, written with ? placeholders, outside the stores.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.sql.ExecContext(ctx, db.d.rebind(query), args...)
	return err
}

// Strings runs a query of one text column and returns its rows.
func (db *DB) Strings(ctx context.Context, query string, args ...any) ([]string, error) {
	return queryStrings(ctx, db.sql, db.d.rebind(query), args...)
}
