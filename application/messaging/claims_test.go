package messaging_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// claimWatch is a UnitOfWork that records every outbox claim made through
// it, so that a test can wait for a dispatcher to have looked at the
// outbox (and learn what it found) instead of sleeping and hoping it has.
type claimWatch struct {
	ports.UnitOfWork
	mu      sync.Mutex
	begun   int   // claims begun
	found   []int // what each finished claim returned, by the order it began in; -1 for an error
	done    []bool
	changed chan struct{} // closed, and replaced, when a claim finishes
}

func watchClaims(uow ports.UnitOfWork) *claimWatch {
	return &claimWatch{UnitOfWork: uow, changed: make(chan struct{})}
}

func (w *claimWatch) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	return w.UnitOfWork.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		return fn(ctx, watchedStores{st, w})
	})
}

// begin numbers a claim that is starting.
func (w *claimWatch) begin() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.begun++
	w.found = append(w.found, 0)
	w.done = append(w.done, false)
	return w.begun - 1
}

// finish records what claim i returned.
func (w *claimWatch) finish(i, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.found[i], w.done[i] = n, true
	close(w.changed)
	w.changed = make(chan struct{})
}

// mark is the number of claims begun so far: waitClaim(t, w.mark()) waits
// for a claim that begins after this call.
func (w *claimWatch) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.begun
}

// waitClaim waits for the first claim numbered since or later to succeed
// and returns its number and how many messages it claimed.
func (w *claimWatch) waitClaim(t testing.TB, since int) (i, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		for i := since; i < len(w.done); i++ {
			if w.done[i] && w.found[i] >= 0 {
				n := w.found[i]
				w.mu.Unlock()
				return i, n
			}
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no outbox claim numbered %d or later succeeded", since)
			return 0, 0
		}
	}
}

type watchedStores struct {
	ports.Stores
	w *claimWatch
}

func (s watchedStores) Outbox() ports.OutboxStore { return watchedOutbox{s.Stores.Outbox(), s.w} }

type watchedOutbox struct {
	ports.OutboxStore
	w *claimWatch
}

func (o watchedOutbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]domain.OutboxMessage, error) {
	i := o.w.begin()
	batch, err := o.OutboxStore.Claim(ctx, now, lease, limit)
	if err != nil {
		o.w.finish(i, -1)
		return nil, err
	}
	o.w.finish(i, len(batch))
	return batch, nil
}
