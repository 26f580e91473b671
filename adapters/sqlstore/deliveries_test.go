package sqlstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/testdb"
)

func TestDeliveriesQueuedSQLite(t *testing.T) {
	t.Parallel()
	deliveriesQueued(t, func(t *testing.T, opts ...sqlstore.Option) *sqlstore.DB {
		db, err := sqlstore.Open(t.Context(), testdb.SQLite(t), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestDeliveriesQueuedPostgres(t *testing.T) {
	t.Parallel()
	deliveriesQueued(t, func(t *testing.T, opts ...sqlstore.Option) *sqlstore.DB {
		db, err := sqlstore.Open(t.Context(), testdb.Postgres(t, testdb.MigrateKeel), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	})
}

// deliveriesQueued checks WithDeliveriesQueued: the dispatcher is woken
// after the commit of every transaction that queued a delivery, and only
// then, and a fanned-out delivery carries the traceparent of the context
// that added its event. The wake runs before WithinTx returns, so the
// count is settled when it is read.
func deliveriesQueued(t *testing.T, open func(t *testing.T, opts ...sqlstore.Option) *sqlstore.DB) {
	var wakes atomic.Int32
	db := open(t, sqlstore.WithDeliveriesQueued(func() { wakes.Add(1) }))
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ws, err := domain.NewWorkspace("Acme", "acme", now)
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := domain.NewWorkspace("Quiet", "quiet", now)
	if err != nil {
		t.Fatal(err)
	}
	w, err := domain.NewWebhook(ws.ID(), domain.WebhookInput{URL: "https://hooks.example.com/", Events: []string{"*"}}, false, now)
	if err != nil {
		t.Fatal(err)
	}
	step := func(ctx context.Context, what string, want int32, fn func(context.Context, ports.Stores) error) {
		t.Helper()
		before := wakes.Load()
		_ = db.WithinTx(ctx, fn)
		if got := wakes.Load() - before; got != want {
			t.Errorf("%s: %d wakes, want %d", what, got, want)
		}
	}
	event := func(ws domain.WorkspaceID, n string) domain.Event {
		return domain.NewEvent(ws, domain.EventSubmissionCreated, n, map[string]any{"id": n}, now)
	}

	step(t.Context(), "setup", 0, func(ctx context.Context, st ports.Stores) error {
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		if err := st.Workspaces().Add(ctx, quiet); err != nil {
			return err
		}
		return st.Webhooks().Add(ctx, w)
	})
	step(t.Context(), "an event nobody subscribes to", 0, func(ctx context.Context, st ports.Stores) error {
		return st.Events().Add(ctx, event(quiet.ID(), "1"))
	})
	step(t.Context(), "a rolled-back fan-out", 0, func(ctx context.Context, st ports.Stores) error {
		if err := st.Events().Add(ctx, event(ws.ID(), "2")); err != nil {
			return err
		}
		return errors.New("roll back")
	})

	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
	e := event(ws.ID(), "3")
	step(traced, "a committed fan-out", 1, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })

	var ds []domain.WebhookDelivery
	if err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		ds, _, err = st.Deliveries().List(ctx, ws.ID(), w.ID(), nil, ports.Page{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Event != e.ID {
		t.Fatalf("deliveries = %+v, want one of %s", ds, e.ID)
	}
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; ds[0].TraceParent != want {
		t.Errorf("delivery traceparent = %q, want %q", ds[0].TraceParent, want)
	}

	d := ds[0]
	d.Record(domain.DeliveryAttempt{At: now, StatusCode: 503}, domain.DeliveryRetry, domain.DefaultWebhookRetryPolicy)
	step(t.Context(), "saving a retry", 0, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Save(ctx, d) })
	d.Record(domain.DeliveryAttempt{At: now, StatusCode: 400}, domain.DeliveryFinal, domain.DefaultWebhookRetryPolicy)
	step(t.Context(), "saving a failure", 0, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Save(ctx, d) })
	if err := d.Redeliver(now); err != nil {
		t.Fatal(err)
	}
	step(t.Context(), "a redelivery", 1, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Save(ctx, d) })
	step(t.Context(), "the test endpoint's delivery", 1, func(ctx context.Context, st ports.Stores) error {
		return st.Deliveries().Add(ctx, domain.NewDelivery(domain.WebhookTestEvent(w, now), w.ID(), "", now))
	})
}

// TestClaimBesideOpenFanOutPostgres: on PostgreSQL every fan-out insert
// takes a FOR KEY SHARE lock on its endpoint (the foreign key check) until
// its transaction ends. A claim must not be kept from an endpoint by the
// submissions in flight to its workspace. SQLite runs one writer at a
// time, so it cannot be in this state.
func TestClaimBesideOpenFanOutPostgres(t *testing.T) {
	t.Parallel()
	db, err := sqlstore.Open(t.Context(), testdb.Postgres(t, testdb.MigrateKeel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ws, err := domain.NewWorkspace("Acme", "acme", now)
	if err != nil {
		t.Fatal(err)
	}
	w, err := domain.NewWebhook(ws.ID(), domain.WebhookInput{URL: "https://hooks.example.com/", Events: []string{"*"}}, false, now)
	if err != nil {
		t.Fatal(err)
	}
	due := domain.NewDelivery(domain.NewEvent(ws.ID(), domain.EventSubmissionCreated, "sub_1", map[string]any{}, now), w.ID(), "", now)
	if err := db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		if err := st.Webhooks().Add(ctx, w); err != nil {
			return err
		}
		return st.Deliveries().Add(ctx, due)
	}); err != nil {
		t.Fatal(err)
	}

	written, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.WithinTx(context.WithoutCancel(t.Context()), func(ctx context.Context, st ports.Stores) error {
			if err := st.Events().Add(ctx, domain.NewEvent(ws.ID(), domain.EventSubmissionCreated, "sub_2", map[string]any{}, now)); err != nil {
				return err
			}
			close(written)
			<-release
			return nil
		})
	}()
	<-written
	var claimed []ports.DueDelivery
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	err = db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		claimed, err = st.Deliveries().Claim(ctx, now.Add(time.Second), time.Minute, 10, 10)
		return err
	})
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("Claim beside an open fan-out: %v", err)
	}
	if len(claimed) != 1 || claimed[0].Delivery.ID != due.ID {
		t.Fatalf("Claim beside an open fan-out = %d deliveries, want the due %s", len(claimed), due.ID)
	}
}
