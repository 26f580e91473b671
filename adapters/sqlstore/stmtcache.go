package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statements a stmtCache keeps. The stores'
// queries are constants or combine a few optional filters, so there are
// far fewer; the bound only guards against a query text that varies
// without end, which then runs unprepared.
const maxCachedStmts = 512

// stmtCache keeps one prepared statement per query text for the SQLite
// write transactions. The SQLite driver compiles every statement it is
// given as text, and compiling took a quarter of a submission
// transaction's CPU; database/sql prepares a cached statement on each
// connection the first time it runs there and reuses it afterwards.
// PostgreSQL does not need it: pgx caches prepared statements per
// connection itself.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// get returns the prepared statement for query, preparing it on db the
// first time, or nil when it cannot be prepared or the cache is full:
// the caller then runs the query as text.
func (c *stmtCache) get(db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	s, ok := c.stmts[query]
	full := len(c.stmts) >= maxCachedStmts
	c.mu.Unlock()
	if ok || full {
		return s
	}
	// Preparing outside any request's context makes no span and is not
	// cut short by one caller's cancellation: the statement serves all.
	s, err := db.PrepareContext(context.Background(), query)
	if err != nil {
		// The query runs as text and reports its own error.
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[query]; ok {
		_ = s.Close() // another caller prepared it meanwhile
		return prev
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sql.Stmt)
	}
	c.stmts[query] = s
	return s
}

// cachedTx runs a transaction's statements through a stmtCache. It is the
// querier of the stores that group commit hands out.
type cachedTx struct {
	tx    *sql.Tx
	db    *sql.DB
	cache *stmtCache
}

func (q cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := q.cache.get(q.db, query); s != nil {
		return q.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := q.cache.get(q.db, query); s != nil {
		return q.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := q.cache.get(q.db, query); s != nil {
		return q.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}
