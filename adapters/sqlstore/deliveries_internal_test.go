package sqlstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestIDBefore: retention narrows its scan with idBefore, which must
// sort between the IDs made before t and those made at t or later.
func TestIDBefore(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		want string
	}{
		{0, "dlv_00000000000000000000000000"},
		{1, "dlv_00000000010000000000000000"},
		{32, "dlv_00000000100000000000000000"},
		{1 << 47, "dlv_40000000000000000000000000"},
		{1<<48 - 1, "dlv_7zzzzzzzzz0000000000000000"},
	} {
		if got := idBefore(domain.PrefixDelivery, time.UnixMilli(c.ms)); got != c.want {
			t.Errorf("idBefore(%d ms) = %s, want %s", c.ms, got, c.want)
		}
	}
	// An ID made now sorts between the bounds of a millisecond ago and
	// of tomorrow, and agrees with them on its prefix. Nothing here makes
	// an ID in the future, which would move domain.NewID's clock for the
	// rest of the process.
	now := time.Now()
	id := domain.NewID(domain.PrefixDelivery, now)
	if before, after := idBefore(domain.PrefixDelivery, now.Add(-time.Millisecond)), idBefore(domain.PrefixDelivery, now.Add(24*time.Hour)); !(before < id && id < after) {
		t.Errorf("ID made now %s, want it after %s and before %s", id, before, after)
	}
	if !domain.ValidID(domain.PrefixDelivery, idBefore(domain.PrefixDelivery, now)) {
		t.Errorf("idBefore(now) = %s is not shaped as an ID", idBefore(domain.PrefixDelivery, now))
	}
}

// TestDeliveriesQueuedGroupCommit: on SQLite, calls that queue together
// share a transaction, each in its own savepoint. The dispatcher is woken
// once per commit that keeps a queued delivery, and not for one whose
// call failed and was rolled back to its savepoint while the others
// committed.
func TestDeliveriesQueuedGroupCommit(t *testing.T) {
	var wakes atomic.Int32
	db := openGroupDB(t, WithDeliveriesQueued(func() { wakes.Add(1) }))
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ws, err := domain.NewWorkspace("Acme", "acme", now)
	if err != nil {
		t.Fatal(err)
	}
	w, err := domain.NewWebhook(ws.ID(), domain.WebhookInput{URL: "https://hooks.example.com/", Events: []string{"*"}}, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		return st.Webhooks().Add(ctx, w)
	}); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("roll back this call")
	fanOut := func(fail bool) func(context.Context, ports.Stores) error {
		return func(ctx context.Context, st ports.Stores) error {
			if err := st.Events().Add(ctx, domain.NewEvent(ws.ID(), domain.EventSubmissionCreated, "sub_1", map[string]any{}, now)); err != nil {
				return err
			}
			if fail {
				return failed
			}
			return nil
		}
	}
	other := func(ctx context.Context, st ports.Stores) error {
		_, err := st.Instance().BumpCounter(ctx, "other")
		return err
	}
	for _, c := range []struct {
		name string
		fns  []func(context.Context, ports.Stores) error
		want int32
	}{
		{"a failed fan-out beside a commit", []func(context.Context, ports.Stores) error{fanOut(true), other}, 0},
		{"two fan-outs and a failed one", []func(context.Context, ports.Stores) error{fanOut(true), fanOut(false), fanOut(false)}, 1},
	} {
		before := wakes.Load()
		errs, _ := batchOf(t, db, c.fns)
		if !errors.Is(errs[0], failed) || errs[1] != nil {
			t.Fatalf("%s: errors %v", c.name, errs)
		}
		if got := wakes.Load() - before; got != c.want {
			t.Errorf("%s: %d wakes, want %d", c.name, got, c.want)
		}
	}
}
