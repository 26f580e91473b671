package identity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Authentication only reads: a request must not queue behind the writes
// of other tenants (SQLite has one writer at a time) to learn who is
// calling. What authentication would write, a session's slid expiry and a
// key's last use, is recorded here in memory and written in batches by
// RunUsageWriter, one short transaction per flush.
//
// A slide recorded on this node is not yet in the database, so another
// node reading the session sees an expiry older by at most the flush
// interval (plus domain.SlideStep, by which a stored expiry may lag
// anyway). Writes from two nodes may also land out of order, which moves
// the stored expiry back by at most one flush interval. A session used at
// least every TTL − SlideStep − 2 × flush interval therefore never expires
// on any node: NewService keeps the flush interval at a tenth of the TTL
// or less, and with the shortest TTL Keel accepts (one minute) and the
// default interval (one second) that is a use every 52 seconds.

// DefaultUsageFlushInterval is how often pending usage is written.
const DefaultUsageFlushInterval = time.Second

// usageFlushAt is the number of pending records that makes the writer
// flush at once instead of at its next tick, so that one transaction's
// batch stays small on a busy node.
const usageFlushAt = 512

// maxPendingUsage bounds the records kept while the database cannot be
// written. A record dropped at the cap costs nothing lasting: the stored
// expiry or last use did not move, so the credential's next use records it
// again.
const maxPendingUsage = 100_000

// usageFinalFlushTimeout bounds the last flush at shutdown, which runs
// after its context has been cancelled.
const usageFinalFlushTimeout = 10 * time.Second

// usageBuffer holds the slides and key uses not written yet.
type usageBuffer struct {
	mu       sync.Mutex
	sessions latest[domain.SessionID] // the slid expiry
	keys     latest[domain.APIKeyID]  // the last use
	full     chan struct{}            // a flush is due before the tick
}

func newUsageBuffer() *usageBuffer {
	return &usageBuffer{sessions: latest[domain.SessionID]{}, keys: latest[domain.APIKeyID]{}, full: make(chan struct{}, 1)}
}

// latest maps a credential to the latest time recorded for it: of two
// slides or two uses, only the later one needs writing.
type latest[K comparable] map[K]time.Time

// put records at for id unless a later time is recorded already. A new id
// is recorded only when room says the buffer is not full.
func (m latest[K]) put(id K, at time.Time, room bool) {
	if cur, ok := m[id]; ok {
		if at.After(cur) {
			m[id] = at
		}
		return
	}
	if room {
		m[id] = at
	}
}

// slide records that session id now expires at; a later expiry wins.
func (b *usageBuffer) slide(id domain.SessionID, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sessions.put(id, at, b.pendingLocked() < maxPendingUsage)
	b.wakeIfFullLocked()
}

// expiry returns the slid expiry of id that is not written yet.
func (b *usageBuffer) expiry(id domain.SessionID) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.sessions[id]
	return at, ok
}

// use records that key id was used at.
func (b *usageBuffer) use(id domain.APIKeyID, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keys.put(id, at, b.pendingLocked() < maxPendingUsage)
	b.wakeIfFullLocked()
}

// lastUse returns the use of key id that is not written yet.
func (b *usageBuffer) lastUse(id domain.APIKeyID) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.keys[id]
	return at, ok
}

func (b *usageBuffer) pendingLocked() int { return len(b.sessions) + len(b.keys) }

func (b *usageBuffer) wakeIfFullLocked() {
	if b.pendingLocked() >= usageFlushAt {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
}

// take empties the buffer and returns what it held.
func (b *usageBuffer) take() (latest[domain.SessionID], latest[domain.APIKeyID]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, k := b.sessions, b.keys
	b.sessions, b.keys = latest[domain.SessionID]{}, latest[domain.APIKeyID]{}
	return s, k
}

// putBack returns records a failed flush did not write, keeping whichever
// of two records for one credential is later.
func (b *usageBuffer) putBack(s latest[domain.SessionID], k latest[domain.APIKeyID]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, at := range s {
		b.sessions.put(id, at, true)
	}
	for id, at := range k {
		b.keys.put(id, at, true)
	}
}

// FlushUsage writes the pending slides and key uses in one transaction.
// Sessions and keys deleted meanwhile are skipped. On failure the records
// stay pending for the next flush.
func (s *Service) FlushUsage(ctx context.Context) error {
	sessions, keys := s.usage.take()
	if len(sessions) == 0 && len(keys) == 0 {
		return nil
	}
	err := s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		for id, at := range sessions {
			if err := st.Sessions().SetExpiry(ctx, id, at); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return fmt.Errorf("slide session: %w", err)
			}
		}
		for id, at := range keys {
			if err := st.APIKeys().Touch(ctx, id, at); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return fmt.Errorf("touch API key: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		s.usage.putBack(sessions, keys)
		return fmt.Errorf("write session and API key usage: %w", err)
	}
	return nil
}

// RunUsageWriter writes pending usage every flush interval, or sooner when
// many records are pending, until ctx is done; then it writes what is left
// once more, within a bounded time, and returns that write's error. Errors
// of the periodic writes are logged and retried at the next one: a
// database that is down is waited for.
func (s *Service) RunUsageWriter(ctx context.Context) error {
	t := time.NewTicker(s.usageInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), usageFinalFlushTimeout)
			defer cancel()
			return s.FlushUsage(fctx)
		case <-t.C:
		case <-s.usage.full:
		}
		if err := s.FlushUsage(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "writing session and API key usage failed", "err", err)
		}
	}
}
