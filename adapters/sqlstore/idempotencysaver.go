package sqlstore

import (
	"context"
	"sync"

	"github.com/keelhq/keel/ports"
)

// maxSaveBatch bounds the responses one transaction stores, so that the
// last save of a long queue does not wait for an unbounded number of
// others; the rest go in the next transaction.
const maxSaveBatch = 256

// responseSaver stores the responses of Idempotency-Keys in batches.
//
// Every request with a new key stores its response in a write
// transaction of its own after the one that did its work, and on SQLite
// that second transaction took a savepoint in a group commit, or a commit
// of its own, per request: a key cost a quarter of the submission's
// throughput (BENCHMARKS.md, issue 12). So saves queue here. The first
// save that finds nobody leading leads: it calls WithinTx once, and its
// function takes every save queued when it runs (on SQLite, when group
// commit gives it its turn, so the saves that arrived while it waited for
// the writer go too) and runs one prepared UPDATE per save. Each save
// returns only after that transaction has committed, with its own result,
// so a client never gets an answer that a retry could not get again. The
// leader then hands leadership to the oldest save still queued.
//
// A queued save does not watch its context: it waits for its leader, whose
// transaction is bounded by the leader's context (the HTTP adapter's save
// timeout) and then answers everyone it took.
type responseSaver struct {
	mu      sync.Mutex
	pending []*pendingSave
	leading bool
}

// pendingSave is one response waiting to be stored.
type pendingSave struct {
	key      ports.IdempotencyKey
	status   int
	response []byte
	// err is the save's result once its transaction has ended.
	err error
	// wake tells a queued save to lead (true) or that err is final
	// (false); it gets one signal, so one slot never blocks the leader.
	wake chan bool
}

// save queues p and returns its result once the transaction that stored
// it has committed, or failed.
func (s *responseSaver) save(ctx context.Context, db *DB, p *pendingSave) error {
	p.wake = make(chan bool, 1)
	s.mu.Lock()
	s.pending = append(s.pending, p)
	lead := !s.leading
	s.leading = true
	s.mu.Unlock()
	if !lead && !<-p.wake {
		return p.err
	}
	return s.lead(ctx, db, p)
}

// lead stores own and the saves queued with it in one transaction, hands
// leadership over and answers the saves it took. own is the oldest queued
// save: the first one when nobody led, or the one handOver woke.
func (s *responseSaver) lead(ctx context.Context, db *DB, own *pendingSave) error {
	var batch []*pendingSave
	err := db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		// WithinTx may run this again after a failed attempt: the same
		// saves, whose results the last attempt sets.
		if batch == nil {
			batch = s.take(maxSaveBatch)
		}
		return saveResponses(ctx, st, batch)
	})
	if batch == nil {
		// The transaction never ran the function (own's context ended
		// first): own, the oldest queued save, gets its error alone, and
		// the saves behind it wait for the next leader.
		batch = s.take(1)
	}
	if err != nil {
		for _, p := range batch {
			p.err = err
		}
	}
	s.handOver()
	for _, p := range batch {
		if p != own {
			p.wake <- false
		}
	}
	return own.err
}

// take removes and returns up to limit of the oldest queued saves.
func (s *responseSaver) take(limit int) []*pendingSave {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.pending), limit)
	batch := make([]*pendingSave, n)
	copy(batch, s.pending)
	rest := copy(s.pending, s.pending[n:])
	clear(s.pending[rest:])
	s.pending = s.pending[:rest]
	return batch
}

// handOver wakes the oldest queued save to lead the next batch, or ends
// leadership when nobody waits.
func (s *responseSaver) handOver() {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.leading = false
		s.mu.Unlock()
		return
	}
	next := s.pending[0]
	s.mu.Unlock()
	next.wake <- true
}
