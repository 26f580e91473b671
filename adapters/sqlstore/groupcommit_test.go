package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/ports"
)

// These tests hold a transaction open with a fn that blocks, queue callers
// behind it, and release it: the queued callers then share the next
// transaction. That a batch really formed shows in what its callers read
// outside it: none of them sees another's increment before the shared
// commit.

func openGroupDB(t testing.TB, opts ...Option) *DB {
	t.Helper()
	db, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keel.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// holder keeps a transaction open until release is called.
type holder struct {
	release func()
	done    chan error
}

func hold(t *testing.T, db *DB) holder {
	t.Helper()
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Instance().BumpCounter(ctx, "holder"); err != nil {
				return err
			}
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return holder{release: sync.OnceFunc(func() { close(unblock) }), done: done}
}

// queued waits until n calls wait in db's queue.
func queued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		db.group.mu.Lock()
		got := len(db.group.queue)
		db.group.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func counterOf(t *testing.T, db *DB, name string) int64 {
	t.Helper()
	var v int64
	err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		v, err = st.Instance().Counter(ctx, name)
		return err
	})
	if err != nil {
		t.Fatalf("Counter(%s): %v", name, err)
	}
	return v
}

// batchOf queues one call per fn behind a held transaction, in order, so
// that the first becomes the next leader and all share one transaction,
// then releases the holder and returns each call's error and, for calls
// that panicked, the value they panicked with.
func batchOf(t *testing.T, db *DB, fns []func(context.Context, ports.Stores) error) (errs []error, panics []any) {
	t.Helper()
	calls := make([]call, len(fns))
	for i, fn := range fns {
		calls[i] = call{t.Context(), fn}
	}
	return batchOfCalls(t, db, calls)
}

// call is a WithinTx call: its caller's context and its fn.
type call struct {
	ctx context.Context
	fn  func(context.Context, ports.Stores) error
}

// batchOfCalls is batchOf for callers with contexts of their own.
func batchOfCalls(t *testing.T, db *DB, calls []call) (errs []error, panics []any) {
	t.Helper()
	h := hold(t, db)
	defer h.release()
	errs, panics = make([]error, len(calls)), make([]any, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = db.WithinTx(c.ctx, c.fn)
		})
		queued(t, db, i+1)
	}
	h.release()
	wg.Wait()
	if err := <-h.done; err != nil {
		t.Fatalf("holder: %v", err)
	}
	return errs, panics
}

// bumpSeeing bumps counter c and records the committed value of c that a
// reader outside the transaction sees at that moment.
func bumpSeeing(db *DB, seen *int64) func(context.Context, ports.Stores) error {
	return func(ctx context.Context, st ports.Stores) error {
		err := db.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
			*seen, err = st.Instance().Counter(ctx, "c")
			return err
		})
		if err != nil {
			return err
		}
		_, err = st.Instance().BumpCounter(ctx, "c")
		return err
	}
}

func TestGroupCommitServesQueuedCallersInOneTransaction(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	const n = 40
	seen := make([]int64, n)
	fns := make([]func(context.Context, ports.Stores) error, n)
	for i := range fns {
		fns[i] = bumpSeeing(db, &seen[i])
	}
	errs, _ := batchOf(t, db, fns)
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
		if seen[i] != 0 {
			t.Errorf("call %d saw %d committed increments before its own, want 0: it did not share the transaction", i, seen[i])
		}
	}
	if got := counterOf(t, db, "c"); got != n {
		t.Fatalf("counter = %d, want %d", got, n)
	}
}

func TestGroupCommitFailingCallUndoesOnlyItsOwnWork(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	const n = 10
	failing := map[int]bool{0: true, 4: true, n - 1: true} // the batch's leader, one inside, the last
	sentinels := make([]error, n)
	fns := make([]func(context.Context, ports.Stores) error, n)
	for i := range fns {
		sentinels[i] = fmt.Errorf("call %d fails", i)
		fns[i] = func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Instance().BumpCounter(ctx, "c"); err != nil {
				return err
			}
			if !failing[i] {
				return nil
			}
			if _, err := st.Instance().BumpCounter(ctx, "failed"); err != nil {
				return err
			}
			return sentinels[i]
		}
	}
	errs, _ := batchOf(t, db, fns)
	for i, err := range errs {
		switch {
		case failing[i] && err != sentinels[i]:
			t.Errorf("failing call %d: err = %v, want its own error unchanged", i, err)
		case !failing[i] && err != nil:
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got := counterOf(t, db, "c"); got != n-int64(len(failing)) {
		t.Errorf("counter c = %d, want %d", got, n-len(failing))
	}
	if got := counterOf(t, db, "failed"); got != 0 {
		t.Errorf("counter failed = %d, want 0: failed calls' writes were kept", got)
	}
}

func TestGroupCommitPanicReachesItsCallerOnly(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	const n = 8
	panicking := map[int]bool{0: true, 3: true} // the batch's leader and one it runs
	fns := make([]func(context.Context, ports.Stores) error, n)
	for i := range fns {
		fns[i] = func(ctx context.Context, st ports.Stores) error {
			name := "c"
			if panicking[i] {
				name = "panicked"
			}
			if _, err := st.Instance().BumpCounter(ctx, name); err != nil {
				return err
			}
			if panicking[i] {
				panic(fmt.Sprintf("boom %d", i))
			}
			return nil
		}
	}
	errs, panics := batchOf(t, db, fns)
	for i := range n {
		switch {
		case panicking[i] && panics[i] != fmt.Sprintf("boom %d", i):
			t.Errorf("call %d: recovered %v, want its own panic value", i, panics[i])
		case !panicking[i] && (panics[i] != nil || errs[i] != nil):
			t.Errorf("call %d: err %v, panic %v", i, errs[i], panics[i])
		}
	}
	if got := counterOf(t, db, "c"); got != n-int64(len(panicking)) {
		t.Errorf("counter c = %d, want %d", got, n-len(panicking))
	}
	if got := counterOf(t, db, "panicked"); got != 0 {
		t.Errorf("counter panicked = %d, want 0", got)
	}
	// The queue still works.
	if err := db.WithinTx(t.Context(), bumpSeeing(db, new(int64))); err != nil {
		t.Fatalf("WithinTx after the panics: %v", err)
	}
}

func TestGroupCommitGoexitDoesNotStrandTheBatch(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	h := hold(t, db)
	defer h.release()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() {
			errs[i] = db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
				if _, err := st.Instance().BumpCounter(ctx, fmt.Sprint(i)); err != nil {
					return err
				}
				if i == 1 {
					runtime.Goexit()
				}
				return nil
			})
		})
		queued(t, db, i+1)
	}
	h.release()
	wg.Wait()
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("errs = %v, want nil for the calls that returned", errs)
	}
	if a, b, c := counterOf(t, db, "0"), counterOf(t, db, "1"), counterOf(t, db, "2"); a != 1 || b != 0 || c != 1 {
		t.Fatalf("counters = %d %d %d, want 1 0 1", a, b, c)
	}
}

func TestGroupCommitCancelledWhileQueuedLeavesAtOnce(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	h := hold(t, db)
	defer h.release()
	ctx, cancel := context.WithCancel(t.Context())
	ran := false
	done := make(chan error, 1)
	go func() {
		done <- db.WithinTx(ctx, func(context.Context, ports.Stores) error { ran = true; return nil })
	}()
	queued(t, db, 1)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("err = %v, fn ran: %v; want context.Canceled, not run", err, ran)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled caller waited for the transaction ahead of it")
	}
	queued(t, db, 0)
	h.release()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
}

func TestGroupCommitCancelledInABatchLeavesBeforeItsTurn(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	h := hold(t, db)
	defer h.release()
	// a leads the next batch and blocks in its fn; x, in the same batch,
	// is cancelled while it waits for its turn.
	aStarted, aUnblock := make(chan struct{}), make(chan struct{})
	defer func() {
		select {
		case <-aUnblock:
		default:
			close(aUnblock)
		}
	}()
	aDone, xDone := make(chan error, 1), make(chan error, 1)
	go func() {
		aDone <- db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, err := st.Instance().BumpCounter(ctx, "a")
			close(aStarted)
			<-aUnblock
			return err
		})
	}()
	queued(t, db, 1)
	ctx, cancel := context.WithCancel(t.Context())
	ran := false
	go func() {
		xDone <- db.WithinTx(ctx, func(context.Context, ports.Stores) error { ran = true; return nil })
	}()
	queued(t, db, 2)
	h.release()
	<-aStarted
	queued(t, db, 0) // x is in a's batch
	cancel()
	select {
	case err := <-xDone:
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("x: err = %v, fn ran: %v; want context.Canceled, not run", err, ran)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a caller cancelled before its turn waited for the call ahead of it")
	}
	close(aUnblock)
	if err := <-aDone; err != nil {
		t.Fatalf("a: %v", err)
	}
	if got := counterOf(t, db, "a"); got != 1 {
		t.Fatalf("counter a = %d, want 1", got)
	}
	// The group still serves writers.
	if err := db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		_, err := st.Instance().BumpCounter(ctx, "a")
		return err
	}); err != nil || counterOf(t, db, "a") != 2 {
		t.Fatalf("a later WithinTx: err = %v, counter a = %d; want nil, 2", err, counterOf(t, db, "a"))
	}
}

func TestGroupCommitCancelledWhileRunningIsRolledBack(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	cancelling := func(cancel context.CancelFunc) func(context.Context, ports.Stores) error {
		return func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Instance().BumpCounter(ctx, "cancelled"); err != nil {
				return err
			}
			cancel()
			return nil
		}
	}
	// Alone in its transaction.
	ctx, cancel := context.WithCancel(t.Context())
	if err := db.WithinTx(ctx, cancelling(cancel)); !errors.Is(err, context.Canceled) {
		t.Fatalf("alone: err = %v, want context.Canceled", err)
	}
	// In a batch: the others commit.
	ctx, cancel = context.WithCancel(t.Context())
	var seen int64
	errs, _ := batchOfCalls(t, db, []call{{t.Context(), bumpSeeing(db, &seen)}, {ctx, cancelling(cancel)}, {t.Context(), bumpSeeing(db, &seen)}})
	if errs[0] != nil || !errors.Is(errs[1], context.Canceled) || errs[2] != nil {
		t.Fatalf("errs = %v, want nil, context.Canceled, nil", errs)
	}
	if got := counterOf(t, db, "cancelled"); got != 0 {
		t.Fatalf("counter cancelled = %d, want 0", got)
	}
	if got := counterOf(t, db, "c"); got != 2 {
		t.Fatalf("counter c = %d, want 2", got)
	}
}

func TestGroupCommitStatementSpansBelongToTheirCaller(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db := openGroupDB(t, WithTracerProvider(tp))
	h := hold(t, db)
	defer h.release()
	const n = 5
	callers := make([]trace.Span, n)
	var wg sync.WaitGroup
	for i := range n {
		ctx, span := tp.Tracer("test").Start(t.Context(), fmt.Sprint("caller ", i))
		callers[i] = span
		wg.Go(func() {
			err := db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
				_, err := st.Instance().BumpCounter(ctx, fmt.Sprint(i))
				return err
			})
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		})
		queued(t, db, i+1)
	}
	h.release()
	wg.Wait()
	children := map[trace.SpanID]int{}
	for _, s := range rec.Ended() {
		children[s.Parent().SpanID()]++
	}
	for i, span := range callers {
		span.End()
		// Each caller's own statement, plus BEGIN and COMMIT for the
		// batch's leader, caller 0.
		want := 1
		if i == 0 {
			want = 3
		}
		if got := children[span.SpanContext().SpanID()]; got != want {
			t.Errorf("caller %d has %d SQL spans, want %d", i, got, want)
		}
	}
}

// TestGroupCommitAcknowledgesOnlyCommittedWork runs many callers that
// fail, succeed or are cancelled at random moments, and checks that
// WithinTx returned nil exactly for the work that is stored, and that the
// work is visible the moment WithinTx returns.
func TestGroupCommitAcknowledgesOnlyCommittedWork(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	const workers, each = 24, 25
	fail := errors.New("refused")
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := t.Context(), context.CancelFunc(func() {})
				if i%5 == 4 {
					ctx, cancel = context.WithTimeout(t.Context(), time.Duration(rand.IntN(2000))*time.Microsecond)
				}
				err := db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
					if _, err := st.Instance().BumpCounter(ctx, name); err != nil {
						return err
					}
					if i%7 == 3 {
						return fail
					}
					return nil
				})
				cancel()
				got := counterOf(t, db, name)
				switch {
				case err == nil && got != 1:
					t.Errorf("%s: WithinTx returned nil but counter = %d", name, got)
				case err != nil && got != 0:
					t.Errorf("%s: WithinTx returned %v but counter = %d", name, err, got)
				case err != nil && !errors.Is(err, fail) && !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("%s: unexpected error %v", name, err)
				}
			}
		})
	}
	wg.Wait()
}

// TestGroupCommitCancellingAStatementSparesTheBatch cancels a caller while
// its long statement runs: the statement must not be interrupted, since
// SQLite may answer an interrupted write by rolling back the whole
// transaction and the work of the callers before it with it. The caller
// is rolled back to its savepoint afterwards instead, and the others'
// work commits the first time.
func TestGroupCommitCancellingAStatementSparesTheBatch(t *testing.T) {
	t.Parallel()
	db := openGroupDB(t)
	runs := 0
	first := func(ctx context.Context, st ports.Stores) error {
		runs++
		_, err := st.Instance().BumpCounter(ctx, "first")
		return err
	}
	ctx, cancel := context.WithCancel(t.Context())
	slow := func(ctx context.Context, st ports.Stores) error {
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := st.(*stores).q.ExecContext(ctx, `WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 200000)
			INSERT INTO counters (name, value) SELECT 'slow' || i, i FROM r`)
		return err
	}
	errs, _ := batchOfCalls(t, db, []call{{t.Context(), first}, {ctx, slow}})
	if errs[0] != nil || runs != 1 {
		t.Errorf("first call: err = %v after %d runs, want nil after 1", errs[0], runs)
	}
	if !errors.Is(errs[1], context.Canceled) {
		t.Errorf("cancelled call: err = %v, want context.Canceled", errs[1])
	}
	if got := counterOf(t, db, "slow1"); got != 0 {
		t.Errorf("the cancelled call's rows were kept")
	}
}
