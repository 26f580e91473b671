package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
)

// instanceStore implements ports.InstanceStore.
type instanceStore struct{ *stores }

func (s instanceStore) Get(ctx context.Context) (domain.Instance, error) {
	inst, err := s.selectInstance(ctx)
	if isNoRows(err) {
		return domain.Instance{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Instance{}, fmt.Errorf("select instance: %w", err)
	}
	return inst, nil
}

func (s instanceStore) Ensure(ctx context.Context, candidate domain.Instance) (domain.Instance, error) {
	// ON CONFLICT DO NOTHING makes concurrent first starts safe on both
	// engines: the loser's insert waits for the winner's commit, then does
	// nothing, and the SELECT below sees the winner's row.
	_, err := s.q.ExecContext(ctx, s.d.rebind(
		`INSERT INTO instance (singleton, id, created_at) VALUES (1, ?, ?) ON CONFLICT (singleton) DO NOTHING`),
		candidate.ID(), candidate.CreatedAt())
	if err != nil {
		return domain.Instance{}, fmt.Errorf("insert instance: %w", err)
	}
	inst, err := s.selectInstance(ctx)
	if err != nil {
		return domain.Instance{}, fmt.Errorf("select instance: %w", err)
	}
	return inst, nil
}

// selectInstance reads the one instance row; Get and Ensure share it so
// that both return the row in the same form.
func (s instanceStore) selectInstance(ctx context.Context) (domain.Instance, error) {
	var (
		id        string
		createdAt time.Time
	)
	err := s.q.QueryRowContext(ctx, `SELECT id, created_at FROM instance WHERE singleton = 1`).Scan(&id, &createdAt)
	if err != nil {
		return domain.Instance{}, err
	}
	return domain.RehydrateInstance(id, createdAt), nil
}

func (s instanceStore) Counter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT value FROM counters WHERE name = ?`), name).Scan(&v)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read counter %s: %w", name, err)
	}
	return v, nil
}

func (s instanceStore) BumpCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	q := `INSERT INTO counters (name, value) VALUES (?, 1)
		 ON CONFLICT (name) DO UPDATE SET value = counters.value + 1
		 RETURNING value`
	args := []any{name}
	if s.d.name() == "postgres" {
		// The notification goes out with the bump, in its statement: it
		// is part of the transaction, so watchers hear of it only once
		// the transaction commits, and never when it rolls back
		// (notify.go).
		q = `WITH c AS (` + q + `) SELECT c.value FROM c, pg_notify(?, c.value::text)`
		args = append(args, counterChannel(name))
	}
	err := s.q.QueryRowContext(ctx, s.d.rebind(q), args...).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump counter %s: %w", name, err)
	}
	return v, nil
}
