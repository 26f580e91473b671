package sqlstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/testdb"
)

// TestFeedWaitsForOlderTransactionsPostgres: on PostgreSQL an event's
// place in the feed is taken before its transaction commits, so a reader
// that listed an event of a transaction that committed first, and moved
// its cursor past it, would never see the event an older transaction
// commits afterwards. The feed therefore hides events while an older
// writing transaction runs, on any node. SQLite has one writer at a time,
// so it cannot be in this state.
func TestFeedWaitsForOlderTransactionsPostgres(t *testing.T) {
	t.Parallel()
	url := testdb.Postgres(t, testdb.MigrateKeel)
	nodes := make([]*sqlstore.DB, 2)
	for i := range nodes {
		db, err := sqlstore.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		nodes[i] = db
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ws, err := domain.NewWorkspace("Acme", "acme", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Add(ctx, ws) }); err != nil {
		t.Fatal(err)
	}
	event := func(n string) domain.Event {
		return domain.NewEvent(ws.ID(), domain.EventSubmissionCreated, n, map[string]any{"id": n}, now)
	}
	list := func(after string) []domain.EventID {
		t.Helper()
		var ids []domain.EventID
		err := nodes[1].ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
			evs, _, err := st.Events().List(ctx, ws.ID(), "", ports.Page{After: after})
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}

	// Node 0 writes a first event and holds its transaction open until
	// release closes.
	older, younger := event("older"), event("younger")
	written, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- nodes[0].WithinTx(context.WithoutCancel(t.Context()), func(ctx context.Context, st ports.Stores) error {
			if err := st.Events().Add(ctx, older); err != nil {
				return err
			}
			// A PostgreSQL transaction holds its inserts back until its next
			// statement (pipeline): this read sends the event.
			if _, _, err := st.Events().List(ctx, ws.ID(), "", ports.Page{}); err != nil {
				return err
			}
			close(written)
			<-release
			return nil
		})
	}()
	<-written
	// Node 1 writes and commits a second event meanwhile.
	if err := nodes[1].WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, younger) }); err != nil {
		close(release)
		t.Fatal(err)
	}
	hidden := list("")
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(hidden) != 0 {
		t.Errorf("feed while an older transaction runs = %v, want nothing yet", hidden)
	}
	// Once the older transaction commits, both show, in the order the
	// transactions began writing, and a reader past the first sees the
	// second. The horizon is the server's: a transaction of another test
	// on the shared PostgreSQL, in another database, holds the feed back
	// too until it ends, the second event alone as well when that
	// transaction began between the two, so the reader waits for both.
	got := list("")
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); len(got) < 2 && time.Now().Before(deadline); got = list("") {
		<-tick.C
	}
	if want := []domain.EventID{older.ID, younger.ID}; !slices.Equal(got, want) {
		t.Fatalf("feed after commit = %v, want %v", got, want)
	}
	if got := list(string(older.ID)); !slices.Equal(got, []domain.EventID{younger.ID}) {
		t.Fatalf("feed after the first = %v, want %v", got, younger.ID)
	}
}
