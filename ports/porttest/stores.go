package porttest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Stores checks a ports.UnitOfWork and the stores it hands out. open must
// return a new, empty, migrated database each time it is called.
func Stores(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("Transactions", func(t *testing.T) { t.Parallel(); transactions(t, open) })
	t.Run("SharedTx", func(t *testing.T) { t.Parallel(); sharedTx(t, open) })
	t.Run("Instance", func(t *testing.T) { t.Parallel(); instance(t, open) })
	t.Run("Counters", func(t *testing.T) { t.Parallel(); counters(t, open) })
	t.Run("Users", func(t *testing.T) { t.Parallel(); users(t, open) })
	t.Run("Workspaces", func(t *testing.T) { t.Parallel(); workspaces(t, open) })
	t.Run("Memberships", func(t *testing.T) { t.Parallel(); memberships(t, open) })
	t.Run("Sessions", func(t *testing.T) { t.Parallel(); sessions(t, open) })
	t.Run("APIKeys", func(t *testing.T) { t.Parallel(); apiKeys(t, open) })
	t.Run("Audit", func(t *testing.T) { t.Parallel(); audit(t, open) })
	t.Run("Policies", func(t *testing.T) { t.Parallel(); policies(t, open) })
	t.Run("Invitations", func(t *testing.T) { t.Parallel(); invitations(t, open) })
	t.Run("PasswordResets", func(t *testing.T) { t.Parallel(); passwordResets(t, open) })
	t.Run("TwoFactor", func(t *testing.T) { t.Parallel(); twoFactor(t, open) })
	t.Run("EmailChanges", func(t *testing.T) { t.Parallel(); emailChanges(t, open) })
	t.Run("Forms", func(t *testing.T) { t.Parallel(); forms(t, open) })
	t.Run("Submissions", func(t *testing.T) { t.Parallel(); submissions(t, open) })
	t.Run("Outbox", func(t *testing.T) { t.Parallel(); outbox(t, open) })
	t.Run("Entries", func(t *testing.T) { t.Parallel(); entries(t, open) })
	t.Run("PreviewLinks", func(t *testing.T) { t.Parallel(); previewLinks(t, open) })
	t.Run("Locales", func(t *testing.T) { t.Parallel(); locales(t, open) })
	t.Run("AuthorsAndTags", func(t *testing.T) { t.Parallel(); authorsAndTags(t, open) })
	t.Run("Media", func(t *testing.T) { t.Parallel(); media(t, open) })
	t.Run("Imports", func(t *testing.T) { t.Parallel(); imports(t, open) })
	t.Run("Events", func(t *testing.T) { t.Parallel(); events(t, open) })
	t.Run("Webhooks", func(t *testing.T) { t.Parallel(); webhooks(t, open) })
	t.Run("Deliveries", func(t *testing.T) { t.Parallel(); deliveries(t, open) })
	t.Run("Sites", func(t *testing.T) { t.Parallel(); sites(t, open) })
}

func transactions(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("ErrorRollsBackAndIsReturnedUnchanged", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		sentinel := domain.E(domain.KindConflict, "test_conflict", "Conflict.")
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Instance().BumpCounter(ctx, "c"); err != nil {
				return err
			}
			return sentinel
		})
		if !errors.Is(err, sentinel) {
			t.Fatalf("WithinTx err = %v, want the error fn returned", err)
		}
		if got := counter(t, uow, "c"); got != 0 {
			t.Fatalf("counter after rollback = %d, want 0", got)
		}
	})
	t.Run("CommitIsVisibleToLaterTransactions", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		bump(t, uow, "c")
		if got := counter(t, uow, "c"); got != 1 {
			t.Fatalf("counter after commit = %d, want 1", got)
		}
	})
	t.Run("ReadOnlySeesCommittedDataAndNotPendingWrites", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		bump(t, uow, "c")
		read := func() (v int64) {
			t.Helper()
			err := uow.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
				v, err = st.Instance().Counter(ctx, "c")
				return err
			})
			if err != nil {
				t.Fatalf("ReadOnly: %v", err)
			}
			return v
		}
		if got := read(); got != 1 {
			t.Fatalf("ReadOnly counter = %d, want the committed 1", got)
		}
		sentinel := errors.New("roll back")
		_ = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Instance().BumpCounter(ctx, "c"); err != nil {
				return err
			}
			return sentinel
		})
		if got := read(); got != 1 {
			t.Fatalf("ReadOnly counter after a rolled-back bump = %d, want 1", got)
		}
		err := uow.ReadOnly(t.Context(), func(context.Context, ports.Stores) error { return sentinel })
		if !errors.Is(err, sentinel) {
			t.Fatalf("ReadOnly err = %v, want fn's error unchanged", err)
		}
	})
	t.Run("CancelledContextFails", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		ran := false
		err := uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
			ran = true
			_, err := st.Instance().BumpCounter(ctx, "c")
			return err
		})
		if err == nil {
			t.Fatalf("WithinTx on a cancelled context succeeded (fn ran: %v)", ran)
		}
		if got := counter(t, uow, "c"); got != 0 {
			t.Fatalf("counter after cancelled transaction = %d, want 0", got)
		}
	})
	t.Run("NestedWithinTxFailsAtOnceAndBlocksNobody", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		// The outer caller has a deadline; the inner call must not need
		// it to end.
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		innerRan := false
		var inner error
		outer := returnsSoon(t, "WithinTx inside WithinTx", func() error {
			return uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
				if _, err := st.Instance().BumpCounter(ctx, "outer"); err != nil {
					return err
				}
				inner = uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
					innerRan = true
					_, err := st.Instance().BumpCounter(ctx, "inner")
					return err
				})
				return nil // the outer work goes on without the inner
			})
		})
		if outer != nil {
			t.Fatalf("outer WithinTx: %v", outer)
		}
		if inner == nil || innerRan || domain.KindOf(inner) != domain.KindInternal {
			t.Fatalf("inner WithinTx: err = %v, fn ran: %v; want an internal error, fn not run", inner, innerRan)
		}
		// Later writers are not blocked.
		if err := returnsSoon(t, "a writer after the nested call", func() error {
			return uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
				_, err := st.Instance().BumpCounter(ctx, "outer")
				return err
			})
		}); err != nil {
			t.Fatalf("later WithinTx: %v", err)
		}
		if got := counter(t, uow, "outer"); got != 2 {
			t.Fatalf("counter outer = %d, want 2 (the outer call's and the later one's)", got)
		}
		if got := counter(t, uow, "inner"); got != 0 {
			t.Fatalf("counter inner = %d, want 0", got)
		}
	})
	t.Run("CancelledWriterStopsWaiting", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		// The holder writes the counter and keeps its transaction open:
		// the waiter's write to the same counter must wait for it, on
		// either engine (a row lock, or SQLite's one writer).
		started, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			held <- uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
				if _, err := st.Instance().BumpCounter(ctx, "c"); err != nil {
					return err
				}
				close(started)
				<-release
				return nil
			})
		}()
		<-started
		defer close(release)
		ctx, cancel := context.WithCancel(t.Context())
		waiting := make(chan error, 1)
		go func() {
			waiting <- uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
				_, err := st.Instance().BumpCounter(ctx, "c")
				return err
			})
		}()
		cancel()
		select {
		case err := <-waiting:
			if err == nil {
				t.Fatal("a cancelled WithinTx succeeded while another transaction held what it writes")
			}
		case <-time.After(hangTimeout):
			t.Fatal("a cancelled WithinTx kept waiting for the transaction ahead of it")
		}
	})
}

// hangTimeout tells a call that hangs from one that returns: it bounds
// waits for calls that should return at once, and is not a speed check.
const hangTimeout = 10 * time.Second

// returnsSoon runs f and returns its error, failing the test when f has
// not returned within hangTimeout (f's goroutine is then left behind).
func returnsSoon(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangTimeout):
		t.Fatalf("%s did not return: it hangs", what)
		return nil
	}
}

func instance(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("FirstCandidateWins", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		now := time.Date(2026, 11, 25, 10, 30, 0, 123456000, time.UTC)
		first := domain.NewInstance(now)
		got := ensure(t, uow, first)
		if got.ID() != first.ID() || !got.CreatedAt().Equal(first.CreatedAt()) {
			t.Fatalf("Ensure(first) = %s %v, want %s %v", got.ID(), got.CreatedAt(), first.ID(), first.CreatedAt())
		}
		if got.CreatedAt().Location() != time.UTC {
			t.Fatalf("CreatedAt location = %v, want UTC", got.CreatedAt().Location())
		}
		again := ensure(t, uow, domain.NewInstance(now.Add(time.Hour)))
		if again.ID() != first.ID() || !again.CreatedAt().Equal(first.CreatedAt()) {
			t.Fatalf("Ensure(second) = %s, want the first instance %s", again.ID(), first.ID())
		}
	})
	t.Run("GetReadsWhatEnsureStored", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		if _, err := getInstance(t, uow); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("Get on a new database: err = %v, want ErrNotFound", err)
		}
		stored := ensure(t, uow, domain.NewInstance(time.Date(2026, 11, 25, 10, 30, 0, 123456000, time.UTC)))
		got, err := getInstance(t, uow)
		if err != nil {
			t.Fatalf("Get after Ensure: %v", err)
		}
		if got.ID() != stored.ID() || !got.CreatedAt().Equal(stored.CreatedAt()) || got.CreatedAt().Location() != time.UTC {
			t.Fatalf("Get = %s %v, want the stored %s %v in UTC", got.ID(), got.CreatedAt(), stored.ID(), stored.CreatedAt())
		}
	})
	t.Run("ConcurrentFirstStartsAgree", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		const n = 8
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var got domain.Instance
				err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
					got, err = st.Instance().Ensure(ctx, domain.NewInstance(time.Now()))
					return err
				})
				if err != nil {
					t.Errorf("Ensure: %v", err)
				}
				ids[i] = got.ID()
			})
		}
		wg.Wait()
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("concurrent Ensure returned different instances: %v", ids)
			}
		}
	})
}

func counters(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("StartAtZeroAndCountUp", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		if got := counter(t, uow, "policies"); got != 0 {
			t.Fatalf("new counter = %d, want 0", got)
		}
		for want := int64(1); want <= 3; want++ {
			if got := bump(t, uow, "policies"); got != want {
				t.Fatalf("BumpCounter = %d, want %d", got, want)
			}
		}
		if got := counter(t, uow, "other"); got != 0 {
			t.Fatalf("unrelated counter = %d, want 0", got)
		}
	})
	t.Run("ConcurrentBumpsAreNotLost", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		const workers, each = 8, 10
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
						_, err := st.Instance().BumpCounter(ctx, "c")
						return err
					})
					if err != nil {
						t.Errorf("BumpCounter: %v", err)
					}
				}
			})
		}
		wg.Wait()
		if got := counter(t, uow, "c"); got != workers*each {
			t.Fatalf("counter = %d, want %d", got, workers*each)
		}
	})
}

func ensure(t *testing.T, uow ports.UnitOfWork, candidate domain.Instance) (got domain.Instance) {
	t.Helper()
	err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		got, err = st.Instance().Ensure(ctx, candidate)
		return err
	})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return got
}

// getInstance reads the instance on the read path, where the system use
// case reads it; its error is the caller's to check.
func getInstance(t *testing.T, uow ports.UnitOfWork) (inst domain.Instance, err error) {
	t.Helper()
	err = uow.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		inst, err = st.Instance().Get(ctx)
		return err
	})
	return inst, err
}

func counter(t *testing.T, uow ports.UnitOfWork, name string) (v int64) {
	t.Helper()
	err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		v, err = st.Instance().Counter(ctx, name)
		return err
	})
	if err != nil {
		t.Fatalf("Counter(%s): %v", name, err)
	}
	return v
}

func bump(t *testing.T, uow ports.UnitOfWork, name string) (v int64) {
	t.Helper()
	err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		v, err = st.Instance().BumpCounter(ctx, name)
		return err
	})
	if err != nil {
		t.Fatalf("BumpCounter(%s): %v", name, err)
	}
	return v
}
