package inmem

import (
	"context"
	"maps"
	"sync"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// DB is an in-memory ports.UnitOfWork. Transactions run one at a time on a
// copy of the state, which replaces the state only when fn succeeds: that
// gives the same all-or-nothing and isolation guarantees as a real database,
// at the price of no concurrency, which fakes do not need.
type DB struct {
	mu    sync.Mutex
	state state
}

type state struct {
	instance *domain.Instance
	counters map[string]int64
}

func (s state) clone() state {
	return state{instance: s.instance, counters: maps.Clone(s.counters)}
}

var (
	_ ports.UnitOfWork = (*DB)(nil)
	_ ports.Pinger     = (*DB)(nil)
)

// NewDB returns an empty database.
func NewDB() *DB {
	return &DB{state: state{counters: map[string]int64{}}}
}

// Ping always succeeds: memory is always there.
func (db *DB) Ping(context.Context) error { return nil }

// WithinTx runs fn on a copy of the state and keeps the copy when fn
// returns nil. A context cancelled before or during fn aborts it.
func (db *DB) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	tx := &stores{s: db.state.clone()}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	db.state = tx.s
	return nil
}

type stores struct{ s state }

func (tx *stores) Instance() ports.InstanceStore { return instanceStore{tx} }

type instanceStore struct{ tx *stores }

func (s instanceStore) Ensure(ctx context.Context, candidate domain.Instance) (domain.Instance, error) {
	if err := ctx.Err(); err != nil {
		return domain.Instance{}, err
	}
	if s.tx.s.instance == nil {
		s.tx.s.instance = &candidate
	}
	return *s.tx.s.instance, nil
}

func (s instanceStore) Counter(ctx context.Context, name string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.tx.s.counters[name], nil
}

func (s instanceStore) BumpCounter(ctx context.Context, name string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.tx.s.counters[name]++
	return s.tx.s.counters[name], nil
}
