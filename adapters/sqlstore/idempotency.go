package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var _ ports.IdempotencyStore = (*DB)(nil)

// withClaim returns fn, or, when ctx carries a pending idempotency claim,
// the insert of the claim's record followed by fn in the same transaction
// (on SQLite, in fn's own savepoint of a group commit), so that the key
// commits with fn's work or not at all. WithinTx reruns the returned
// function as it would fn, so the record is inserted in whichever attempt
// commits. A claim found taken refuses every later transaction of its
// request, so that a use case that tried again could not commit, without
// the key, the work that another request with the key already did.
func withClaim(ctx context.Context, fn func(context.Context, ports.Stores) error) (func(context.Context, ports.Stores) error, *ports.IdempotencyClaim) {
	c := ports.IdempotencyClaimFrom(ctx)
	switch {
	case c == nil || c.Committed():
		return fn, nil
	case c.Taken():
		return func(context.Context, ports.Stores) error { return ports.ErrIdempotencyKeyTaken }, nil
	}
	return func(ctx context.Context, st ports.Stores) error {
		// The claim goes in first: a key another request holds refuses
		// the transaction before fn runs, so a request that reuses a key
		// checks nothing (a second factor's code, say) whose failure its
		// rollback would then leave uncounted.
		s, ok := st.(*stores)
		if !ok {
			return fmt.Errorf("idempotency claim: stores of type %T", st)
		}
		if err := s.insertClaim(ctx, c); err != nil {
			return err
		}
		return fn(ctx, st)
	}, c
}

// insertClaim inserts c's record. A record of the same key that has
// expired but is not purged yet is replaced; an unexpired one, committed
// by another request (on PostgreSQL the insert waits for a concurrent
// transaction that inserted it), leaves the statement without effect:
// the claim is then taken, and the transaction ends before fn runs.
func (s *stores) insertClaim(ctx context.Context, c *ports.IdempotencyClaim) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO idempotency_keys
		(scope, key_hash, fingerprint, created_at, expires_at, status, response) VALUES (?, ?, ?, ?, ?, NULL, NULL)
		ON CONFLICT (scope, key_hash) DO UPDATE SET fingerprint = excluded.fingerprint, created_at = excluded.created_at,
			expires_at = excluded.expires_at, status = NULL, response = NULL
		WHERE idempotency_keys.expires_at <= excluded.created_at`),
		c.Key.Scope, c.Key.Key, c.Fingerprint, domain.Timestamp(c.CreatedAt), domain.Timestamp(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert idempotency key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("insert idempotency key: rows affected: %w", err)
	}
	if n == 0 {
		c.MarkTaken()
		return ports.ErrIdempotencyKeyTaken
	}
	return nil
}

// GetIdempotency reads on the pool, outside any transaction, so that a
// replay never waits for SQLite's writer. Every POST with a key runs it,
// so on SQLite its statement is prepared once per connection (ReadOnly's
// cachedPool): compiling it took half its time.
func (db *DB) GetIdempotency(ctx context.Context, k ports.IdempotencyKey, now time.Time) (ports.IdempotencyRecord, error) {
	r := ports.IdempotencyRecord{Key: k}
	var status sql.NullInt64
	var q querier = db.sql
	if db.d.name() == "sqlite" {
		q = cachedPool{db: db.sql, cache: &db.group.stmts}
	}
	err := q.QueryRowContext(ctx, db.d.rebind(`SELECT fingerprint, created_at, expires_at, status, response
		FROM idempotency_keys WHERE scope = ? AND key_hash = ? AND expires_at > ?`), k.Scope, k.Key, domain.Timestamp(now)).
		Scan(&r.Fingerprint, &r.CreatedAt, &r.ExpiresAt, &status, &r.Response)
	if isNoRows(err) {
		return ports.IdempotencyRecord{}, domain.ErrNotFound
	}
	if err != nil {
		return ports.IdempotencyRecord{}, fmt.Errorf("get idempotency key: %w", err)
	}
	r.Status = int(status.Int64)
	return r, nil
}

// SaveIdempotentResponse hands the response to the database's saver
// (responseSaver), which stores it with the others waiting beside it in
// one transaction, and returns once that transaction has committed.
func (db *DB) SaveIdempotentResponse(ctx context.Context, k ports.IdempotencyKey, status int, response []byte) error {
	if response == nil {
		response = []byte{} // NULL would read as no response
	}
	return db.saver.save(ctx, db, &pendingSave{key: k, status: status, response: response})
}

// saveResponses stores the responses of saves in st's transaction, one
// prepared UPDATE each, and sets each save's result: domain.ErrNotFound
// for a key without a record waiting for its response. A statement that
// fails fails them all, as the transaction is rolled back.
func saveResponses(ctx context.Context, st ports.Stores, saves []*pendingSave) error {
	s := st.(*stores)
	q := s.d.rebind(`UPDATE idempotency_keys SET status = ?, response = ?
		WHERE scope = ? AND key_hash = ? AND status IS NULL`)
	for _, p := range saves {
		res, err := s.q.ExecContext(ctx, q, p.status, p.response, p.key.Scope, p.key.Key)
		if err != nil {
			return fmt.Errorf("save idempotent response: %w", err)
		}
		if err := affected(res); err != nil {
			p.err = fmt.Errorf("save idempotent response: %w", err)
		} else {
			p.err = nil
		}
	}
	return nil
}

// PurgeIdempotency deletes the oldest expired records first.
func (db *DB) PurgeIdempotency(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	var n int64
	err := db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		s := st.(*stores)
		res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM idempotency_keys WHERE (scope, key_hash) IN (
			SELECT scope, key_hash FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`), domain.Timestamp(now), limit)
		if err != nil {
			return fmt.Errorf("purge idempotency keys: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("purge idempotency keys: rows affected: %w", err)
		}
		return nil
	})
	return int(n), err
}
