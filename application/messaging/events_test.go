package messaging_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestEventRetention: the job deletes events older than the retention,
// keeps the workspace's last however old, and keeps events forever when
// no retention is set.
func TestEventRetention(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var evs []domain.Event
	for i := range 3 {
		e := domain.NewEvent(f.ws.ID(), domain.EventSubmissionCreated, strconv.Itoa(i), map[string]any{"id": i}, f.clock.Now().Add(time.Duration(i)*24*time.Hour))
		f.tx(t, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })
		evs = append(evs, e)
	}
	f.clock.Add(40 * 24 * time.Hour)
	if n, err := messaging.NewService(messaging.Config{UoW: f.db, Clock: f.clock}).ApplyEventRetention(t.Context()); err != nil || n != 0 {
		t.Fatalf("ApplyEventRetention without a retention = %d, %v; want nothing deleted", n, err)
	}
	svc := messaging.NewService(messaging.Config{UoW: f.db, Clock: f.clock, EventRetention: 39 * 24 * time.Hour})
	if n, err := svc.ApplyEventRetention(t.Context()); err != nil || n != 1 {
		t.Fatalf("ApplyEventRetention = %d, %v; want the one event older than 39 days", n, err)
	}
	f.clock.Add(30 * 24 * time.Hour)
	if n, err := svc.ApplyEventRetention(t.Context()); err != nil || n != 1 {
		t.Fatalf("ApplyEventRetention a month later = %d, %v; want all but the last", n, err)
	}
	var left []domain.EventID
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		got, _, err := st.Events().List(ctx, f.ws.ID(), "", ports.Page{})
		for _, e := range got {
			left = append(left, e.ID)
		}
		return err
	})
	if err != nil || !slices.Equal(left, []domain.EventID{evs[2].ID}) {
		t.Fatalf("events left = %v (%v), want the last, %s", left, err, evs[2].ID)
	}
}
