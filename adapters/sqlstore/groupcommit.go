package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/keelhq/keel/ports"
)

// Group commit for SQLite.
//
// SQLite has one writer at a time, and a small write transaction pays a
// fixed cost besides its statements: BEGIN, COMMIT with its WAL append,
// and the hand-over of the write lock from one caller to the next. So
// concurrent WithinTx calls on SQLite share transactions: the
// first caller becomes the leader, begins a transaction and runs its own
// fn, then hands the transaction to the callers that queued meanwhile, up
// to maxBatch of them, each in turn and each inside its own SAVEPOINT, and
// commits once for all. A fn that fails is rolled back to its savepoint
// and gets its own error; the others are unaffected. Every caller whose fn
// succeeded returns only after the shared COMMIT did, with its result, so
// nothing is acknowledged before it is committed. The leader then hands
// leadership to the oldest caller still queued, whose batch is everyone
// who queued during this commit, and returns.
//
// Batches form only from callers that arrive while a transaction runs:
// nobody waits for company, so a lone caller pays one transaction as
// before, and under load a batch grows with the queue.
//
// Each fn runs in its own caller's goroutine: a panic or runtime.Goexit
// happens where it would without batching, with its stack, and the
// statements' spans are children of that caller's span because they carry
// that caller's context. The leader only signals each caller's turn and
// waits for it to finish.

// maxBatch bounds the calls one transaction serves, so that a long queue
// is served in several commits and the last caller of a batch does not
// wait for an unbounded number of others.
const maxBatch = 64

// Each call runs in a savepoint of this name. A succeeded call's savepoint
// is released at once rather than left open until COMMIT: SQLite copies
// the pages a savepoint changes into the statement journal, and releasing
// the outermost savepoint empties it, so the journal holds one call's
// pages rather than the whole batch's (see also temp_store in sqliteDSN).
const (
	savepoint       = "SAVEPOINT keel_call"
	releaseSaved    = "RELEASE keel_call"
	rollbackToSaved = "ROLLBACK TO keel_call; RELEASE keel_call"
)

// errBatchAborted is returned to a caller whose work was lost because the
// shared transaction failed for a reason that was not its own (a
// savepoint that could not be taken or rolled back). WithinTx reruns such
// a caller's fn, which ports.UnitOfWork allows.
var errBatchAborted = errors.New("shared transaction aborted")

// errNotBegun stands for a transaction that never began because the
// leader's own code panicked first; it is not expected in practice.
var errNotBegun = fmt.Errorf("%w: transaction not begun", errBatchAborted)

// signal is what the leader tells a queued caller.
type signal uint8

const (
	sigLead signal = iota + 1 // lead the next batch
	sigRun                    // run fn now, on st
	sigDone                   // err holds the final result
)

// txCall is one WithinTx call waiting for, or taking part in, a batch.
type txCall struct {
	ctx context.Context
	fn  func(context.Context, ports.Stores) error
	// wake carries the leader's signals. A caller gets at most one signal
	// at a time, so one slot never blocks the leader.
	wake chan signal
	// ran reports to the leader that fn has finished: true when it
	// returned, false when it panicked or exited its goroutine. One slot,
	// so that a panicking caller does not wait for the leader.
	ran chan bool
	st  *stores
	// err is fn's result once it ran, then the call's final result.
	// Ownership passes with the signals, so it needs no lock.
	err error
	ok  bool // fn returned nil and its savepoint stands
	// turn settles a race between a leader that has taken this call into
	// its batch and the caller's cancellation: whichever moves it from
	// turnWaiting first wins (claim, abandon).
	turn atomic.Uint32
}

// The states of txCall.turn.
const (
	turnWaiting   uint32 = iota // queued, or taken and waiting for its turn
	turnClaimed                 // the leader runs it: the caller must answer
	turnAbandoned               // the caller left; the leader skips it
)

// claim reports whether the leader may run c: false when its caller has
// already left.
func (c *txCall) claim() bool { return c.turn.CompareAndSwap(turnWaiting, turnClaimed) }

// abandon reports whether c's caller may leave its batch before its turn:
// false when the leader has already claimed it.
func (c *txCall) abandon() bool { return c.turn.CompareAndSwap(turnWaiting, turnAbandoned) }

// group is the queue of SQLite transactions waiting for a leader.
type group struct {
	mu      sync.Mutex
	queue   []*txCall
	leading bool // a leader is running a batch, or has been signalled to
	// stmts holds the statements of the transactions the group runs.
	stmts stmtCache
}

// join makes c the leader when nobody leads, and queues it otherwise.
func (g *group) join(c *txCall) (lead bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.leading {
		g.leading = true
		return true
	}
	g.queue = append(g.queue, c)
	return false
}

// take returns the leader's batch: own first, then the oldest queued
// calls, maxBatch in all at most.
func (g *group) take(own *txCall) []*txCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.queue), maxBatch-1)
	calls := make([]*txCall, 0, n+1)
	calls = append(calls, own)
	calls = append(calls, g.queue[:n]...)
	g.pop(n)
	return calls
}

// pop drops the first n queued calls, keeping the queue's array so that a
// steady load does not reallocate it.
func (g *group) pop(n int) {
	rest := copy(g.queue, g.queue[n:])
	clear(g.queue[rest:])
	g.queue = g.queue[:rest]
}

// handOver passes leadership to the oldest queued call, or ends it when
// nobody waits.
func (g *group) handOver() {
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.leading = false
		g.mu.Unlock()
		return
	}
	next := g.queue[0]
	g.pop(1)
	// The next leader cannot leave: everyone queued behind it counts on
	// it. It is claimed under the lock, before remove can report it
	// gone from the queue; it leads, then honours its own cancellation
	// in step.
	next.claim()
	g.mu.Unlock()
	next.wake <- sigLead
}

// remove takes c out of the queue and reports whether it was still there:
// false means a leader has taken it and will signal it.
func (g *group) remove(c *txCall) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.queue {
		if q == c {
			g.queue = slices.Delete(g.queue, i, i+1)
			return true
		}
	}
	return false
}

// groupTx runs fn once in a shared transaction (see the top of this file)
// and returns its result after the commit.
func (db *DB) groupTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &txCall{ctx: ctx, fn: fn, wake: make(chan signal, 1), ran: make(chan bool, 1)}
	if db.group.join(c) {
		// A caller that finds nobody leading yields the processor once
		// before it takes its batch. Idle, nothing else is runnable and
		// it goes on at once. Under load, requests that are already
		// runnable get to queue first. Without the yield, the first
		// request back after a commit ran alone while the others were
		// still being parsed, so most transactions served a single call
		// and a submission cost the server more CPU (BENCHMARKS.md).
		runtime.Gosched()
		return db.lead(c)
	}
	for {
		switch c.await(&db.group) {
		case sigLead:
			return db.lead(c)
		case sigRun:
			c.run()
		case sigDone:
			return c.err
		}
	}
}

// await waits for the leader's next signal. A caller whose context ends
// while it is still queued leaves the queue with the context's error, and
// so does one that a leader has taken into its batch but not yet given
// its turn: the leader then skips it. One whose fn the leader has claimed,
// or that is to lead, waits for its signal, because the leader (or the
// queue) counts on an answer; once its fn has run it waits for the commit
// that decides its result, which leaving early would misreport.
func (c *txCall) await(g *group) signal {
	select {
	case s := <-c.wake:
		return s
	case <-c.ctx.Done():
	}
	if g.remove(c) || c.abandon() {
		c.err = c.ctx.Err()
		return sigDone
	}
	return <-c.wake
}

// run runs fn on the shared transaction and tells the leader when it
// ends, however it ends: the deferred send also runs while a panic
// unwinds this goroutine or runtime.Goexit ends it, and the panic then
// goes on in this, the caller's, goroutine.
func (c *txCall) run() {
	returned := false
	defer func() { c.ran <- returned }()
	c.err = c.fn(stmtContext(c.ctx), c.st)
	returned = true
}

// stmtContext is the context a caller's fn and statements run with: the
// caller's, so spans and values follow it, without its cancellation. The
// SQLite driver answers a cancelled statement with sqlite3_interrupt,
// which may roll back the whole transaction, the other callers' work
// with it. A caller's cancellation is honoured between statements
// instead: a caller cancelled before its turn is skipped, and one
// cancelled while its fn ran is rolled back to its savepoint.
func stmtContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// batch is one shared transaction and the calls it serves, calls[0] being
// the leader's own.
type batch struct {
	db    *DB
	calls []*txCall
	tx    *sql.Tx
	st    *stores
	// lost is set once the transaction is gone (never begun, or rolled
	// back because a savepoint failed): calls still to run get it.
	lost error
	// running is the call whose fn the leader is running inline; set
	// while it runs, so that finish can tell that it panicked.
	running *txCall
}

// lead runs a batch with own first and returns own's result once the
// batch is committed. If own's fn panics, the deferred finish still runs
// the other calls, commits and hands leadership over before the panic
// goes on: one caller's panic must not strand the others.
func (db *DB) lead(own *txCall) error {
	b := &batch{db: db, calls: db.group.take(own), lost: errNotBegun}
	func() {
		defer b.finish()
		b.begin()
		b.step(own, b.runInline)
	}()
	return own.err
}

// begin starts the transaction with the leader's context minus its
// cancellation: a transaction that serves several callers must not end
// with any one of them. Its BEGIN and COMMIT spans join the leader's trace.
func (b *batch) begin() {
	tx, err := b.db.sql.BeginTx(context.WithoutCancel(b.calls[0].ctx), nil)
	if err != nil {
		b.lost = fmt.Errorf("begin transaction: %w", err)
		return
	}
	b.tx, b.lost = tx, nil
	b.st = &stores{q: cachedTx{tx: tx, db: b.db.sql, cache: &b.db.group.stmts}, d: b.db.d, searches: b.db.searches}
}

// shared reports whether the transaction serves more than one call, and so
// needs a savepoint per call.
func (b *batch) shared() bool { return len(b.calls) > 1 }

// step runs one call's fn through run and keeps its work only if fn
// returned nil and its caller is still waiting.
func (b *batch) step(c *txCall, run func(*txCall) bool) {
	if c != b.calls[0] && !c.claim() {
		// Its caller left before its turn, with its context's error,
		// and owns its fields again.
		return
	}
	if b.lost != nil {
		c.err = b.lost
		return
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return
	}
	if b.shared() {
		// Savepoint statements run without the caller's context: they
		// are the batch's bookkeeping, not the caller's work, and make
		// no spans.
		if _, err := b.st.q.ExecContext(context.Background(), savepoint); err != nil {
			b.abort(fmt.Errorf("savepoint: %w", err))
			c.err = b.lost
			return
		}
	}
	// Each call gets its own copy of the stores, so that what it marks
	// (stores.queued) is dropped with its savepoint when it fails.
	st := *b.st
	c.st = &st
	b.running = c
	returned := run(c)
	b.running = nil
	switch {
	case !returned:
		b.undo(c)
	case c.err != nil:
		b.undo(c)
	case c.ctx.Err() != nil:
		// The caller gave up while fn ran: nobody would learn of the
		// write, so it does not happen.
		c.err = c.ctx.Err()
		b.undo(c)
	default:
		c.ok = true
		if b.shared() {
			if _, err := b.st.q.ExecContext(context.Background(), releaseSaved); err != nil {
				b.abort(fmt.Errorf("release savepoint: %w", err))
			}
		}
	}
}

// runInline runs the leader's own fn in the leader's goroutine. A panic
// leaves it through finish, which sees b.running still set.
func (b *batch) runInline(c *txCall) bool {
	c.err = c.fn(stmtContext(c.ctx), c.st)
	return true
}

// runQueued has a queued caller run its fn in its own goroutine and waits
// until it has finished.
func (b *batch) runQueued(c *txCall) bool {
	c.wake <- sigRun
	return <-c.ran
}

// undo rolls back the work of a call that failed. Alone in its
// transaction, it needs nothing here: finish rolls the transaction back
// when no call succeeded.
func (b *batch) undo(c *txCall) {
	if !b.shared() {
		return
	}
	if _, err := b.tx.ExecContext(context.Background(), rollbackToSaved); err != nil {
		b.abort(fmt.Errorf("roll back to savepoint: %w", err))
	}
}

// abort rolls the whole transaction back after a savepoint failed: the
// calls whose fn already succeeded lost their work and get errBatchAborted,
// which WithinTx retries, as do the calls still to run.
func (b *batch) abort(cause error) {
	_ = b.tx.Rollback()
	b.lost = fmt.Errorf("%w: %w", errBatchAborted, cause)
	for _, c := range b.calls {
		if c.ok {
			c.ok, c.err = false, b.lost
		}
	}
}

// finish runs the queued calls, commits, hands leadership over and tells
// every queued caller its result. It runs deferred, so also while the
// leader's own fn panics or exits its goroutine.
func (b *batch) finish() {
	if c := b.running; c != nil {
		b.running = nil
		c.err = errors.New("transaction function panicked")
		b.undo(c)
	}
	for _, c := range b.calls[1:] {
		b.step(c, b.runQueued)
	}
	b.commit()
	b.db.group.handOver()
	for _, c := range b.calls[1:] {
		c.wake <- sigDone
	}
}

// commit commits the calls that succeeded, or rolls back when none did.
// If COMMIT fails, each of them gets its error, since none of their work
// is stored; a fn's own error stays that caller's result, as
// ports.UnitOfWork promises.
func (b *batch) commit() {
	if b.lost != nil {
		return
	}
	committed := 0
	for _, c := range b.calls {
		if c.ok {
			committed++
		}
	}
	if committed == 0 {
		_ = b.tx.Rollback()
		return
	}
	if err := b.tx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", err)
		for _, c := range b.calls {
			if c.ok {
				c.ok, c.err = false, err
			}
		}
		return
	}
	for _, c := range b.calls {
		if c.ok && c.st.queued {
			b.db.notifyQueued()
			return
		}
	}
}
