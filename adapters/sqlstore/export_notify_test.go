package sqlstore

// SetListenDSN points db's watcher at another database than its pool's,
// where its probe cannot come back: what a pooler that delivers no
// notifications looks like to it.
func SetListenDSN(db *DB, dsn string) { db.dsn = dsn }
