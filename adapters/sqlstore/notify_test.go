package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/testdb"
)

// watch runs db.WatchCounters on names until the test ends and returns
// the counters it reports, and a channel of its listening reports.
func watch(t *testing.T, db ports.CounterWatcher, names ...string) (changed <-chan string, listening <-chan error) {
	t.Helper()
	ch, ls := make(chan string, 16), make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- db.WatchCounters(ctx, names, func(n string) { ch <- n }, func(err error) { ls <- err })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchCounters returned %v, want nil once its context ends", err)
		}
	})
	return ch, ls
}

func bump(t *testing.T, uow ports.UnitOfWork, name string, fail error) {
	t.Helper()
	err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if _, err := st.Instance().BumpCounter(ctx, name); err != nil {
			return err
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatalf("bump %s: %v, want %v", name, err, fail)
	}
}

// TestWatchCountersPostgres: a bump is announced once its transaction
// commits, never when it rolls back, and only for the counters watched.
func TestWatchCountersPostgres(t *testing.T) {
	db := openPostgres(t)
	changed, listening := watch(t, db, ports.PolicyCounter, ports.PublicContentCounter)
	if err := <-listening; err != nil {
		t.Fatalf("listening(%v), want nil", err)
	}
	rollback := errors.New("roll back")
	bump(t, db, ports.PolicyCounter, rollback)
	bump(t, db, "unwatched", nil)
	bump(t, db, ports.PublicContentCounter, nil)
	// Notifications of one listener arrive in commit order, so the first
	// one must be the committed bump of a watched counter.
	select {
	case n := <-changed:
		if n != ports.PublicContentCounter {
			t.Fatalf("changed(%q), want %q: a rolled-back or unwatched bump was announced", n, ports.PublicContentCounter)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10 s of a committed bump")
	}
	bump(t, db, ports.PolicyCounter, nil)
	if n := <-changed; n != ports.PolicyCounter {
		t.Fatalf("changed(%q), want %q", n, ports.PolicyCounter)
	}
}

// TestWatchCountersProbePostgres: a listening connection that does not
// hear the pool's notifications, here because it is on another database,
// is reported as not listening, so that the caller keeps polling.
func TestWatchCountersProbePostgres(t *testing.T) {
	db := openPostgres(t)
	sqlstore.SetListenDSN(db, testdb.Postgres(t, testdb.MigrateKeel))
	_, listening := watch(t, db, ports.PolicyCounter)
	if err := <-listening; err == nil || !strings.Contains(err.Error(), "probe") {
		t.Fatalf("listening(%v), want the probe's failure", err)
	}
}

// TestWatchCountersSQLite: SQLite's nodes are one process, so there is
// nothing to watch: WatchCounters returns at once without listening.
func TestWatchCountersSQLite(t *testing.T) {
	db := openSQLite(t)
	called := false
	err := db.WatchCounters(t.Context(), []string{ports.PolicyCounter}, func(string) {}, func(error) { called = true })
	if err != nil || called {
		t.Fatalf("WatchCounters = %v, listening called %v; want nil at once, never listening", err, called)
	}
}
