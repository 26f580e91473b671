package casbinauthz

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
)

// TestPollDoesNotWaitForAWriter polls the policy counter while a write
// transaction holds SQLite's write lock. Every node polls four times a
// second: through a write transaction, each poll would queue behind every
// writer, and a long write would stall it until the poll timed out.
func TestPollDoesNotWaitForAWriter(t *testing.T) {
	db := sqlitetest.New(t)
	a, err := New(t.Context(), db, Options{PollInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })

	sqlitetest.HoldWrite(t, db)

	// A poll on the read path answers in milliseconds; one that queues
	// behind the writer never does, and this bound only decides how long
	// that failure takes to report.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.poll(ctx); err != nil {
		t.Fatalf("poll while a writer holds the lock: %v", err)
	}
}
