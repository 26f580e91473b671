package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/testdb"
)

// TestSharedTx: calls that queue together share a transaction
// (WithinSharedTx), and each still gets what it would alone: a call that
// fails, before or after holding its inserts back, or with an insert that
// breaks a constraint, returns its own error and stores nothing, and the
// others commit with their messages. On PostgreSQL the calls that
// succeeded at once commit in one transaction.
func TestSharedTx(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testSharedTx(t, sqlitetest.New(t), nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := testdb.Postgres(t, testdb.MigrateKeel)
		db, err := sqlstore.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		sqlstore.OneSharedLane(db)
		raw, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = raw.Close() })
		testSharedTx(t, db, raw)
	})
}

func testSharedTx(t *testing.T, db *sqlstore.DB, raw *sql.DB) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	ws, form := contactForm(t, db, now)
	submit, newSubmission := submitter(t, ws, form, now)
	first := newSubmission()
	if err := db.WithinSharedTx(t.Context(), submit(first, nil)); err != nil {
		t.Fatal(err)
	}

	refused, early := errors.New("refused"), errors.New("refused before any write")
	kept := []domain.Submission{newSubmission(), newSubmission(), newSubmission()}
	undone := newSubmission()
	fns := []func(context.Context, ports.Stores) error{
		submit(kept[0], nil),
		submit(undone, refused),
		submit(kept[1], nil),
		submit(first, nil), // its ID again: the insert fails
		func(context.Context, ports.Stores) error { return early },
		submit(kept[2], nil),
	}
	errs := sharedBatchOf(t, db, fns)
	for i, want := range []error{nil, refused, nil, nil, early, nil} {
		switch {
		case i == 3:
			if errs[i] == nil {
				t.Errorf("call %d, a submission added twice: err = nil, want the insert's error", i)
			}
		case !errors.Is(errs[i], want) || (want == nil) != (errs[i] == nil):
			t.Errorf("call %d: err = %v, want %v", i, errs[i], want)
		}
	}
	err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		for _, sub := range append([]domain.Submission{first}, kept...) {
			if _, err := st.Submissions().Get(ctx, ws.ID(), sub.ID()); err != nil {
				t.Errorf("submission %s: %v", sub.ID(), err)
			}
		}
		if _, err := st.Submissions().Get(ctx, ws.ID(), undone.ID()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("the refused call's submission: err = %v, want not found", err)
		}
		msgs, _, err := st.Outbox().List(ctx, ws.ID(), nil, ports.Page{Limit: 100})
		if err != nil {
			return err
		}
		if len(msgs) != 2*(1+len(kept)) {
			t.Errorf("%d messages, want %d", len(msgs), 2*(1+len(kept)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if raw == nil {
		return
	}
	// Calls that all succeed commit in one transaction: their events
	// carry its ID.
	batch := []domain.Submission{newSubmission(), newSubmission(), newSubmission(), newSubmission()}
	fns = nil
	for _, sub := range batch {
		fns = append(fns, submit(sub, nil))
	}
	for i, err := range sharedBatchOf(t, db, fns) {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	var xacts int
	err = raw.QueryRowContext(t.Context(), `SELECT count(DISTINCT xact) FROM events WHERE subject = ANY($1)`,
		[]string{string(batch[0].ID()), string(batch[1].ID()), string(batch[2].ID()), string(batch[3].ID())}).Scan(&xacts)
	if err != nil {
		t.Fatal(err)
	}
	if xacts != 1 {
		t.Errorf("4 calls queued together committed in %d transactions, want 1", xacts)
	}
}

// submitter returns what forms.Submit does in its transaction, for a
// submission and an error to return once its rows are added, and a maker
// of submissions to form.
func submitter(t *testing.T, ws domain.Workspace, form domain.Form, now time.Time) (
	submit func(sub domain.Submission, then error) func(context.Context, ports.Stores) error,
	newSubmission func() domain.Submission,
) {
	submit = func(sub domain.Submission, then error) func(context.Context, ports.Stores) error {
		return func(ctx context.Context, st ports.Stores) error {
			at, err := st.Forms().UpdatedAt(ctx, ws.ID(), form.ID())
			if err != nil {
				return err
			}
			if !at.Equal(form.UpdatedAt()) {
				return errors.New("form changed")
			}
			if err := st.Events().Add(ctx, domain.SubmissionEvent(domain.EventSubmissionCreated, sub, now)); err != nil {
				return err
			}
			if err := st.Submissions().Add(ctx, sub); err != nil {
				return err
			}
			msgs, kinds, err := form.Mail(sub, "keel@example.com", now)
			if err != nil {
				return err
			}
			for i, m := range msgs {
				if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, ws.ID(), sub.ID(), kinds[i], "", now)); err != nil {
					return err
				}
			}
			return then
		}
	}
	newSubmission = func() domain.Submission {
		raw := domain.RawSubmission{Fields: map[string][]string{"email": {"ada@example.com"}}, Order: []string{"email"}}
		sub, err := form.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	return submit, newSubmission
}

// sharedBatchOf holds a shared transaction open, queues one call per fn
// behind it, in order, and releases it: the queued calls then share the
// next transaction, the first leading it. It returns each call's error.
func sharedBatchOf(t *testing.T, db *sqlstore.DB, fns []func(context.Context, ports.Stores) error) []error {
	t.Helper()
	return sharedBatchIn(t.Context(), t, db, fns)
}

// sharedBatchIn is sharedBatchOf with the calls made in ctx.
func sharedBatchIn(ctx context.Context, t *testing.T, db *sqlstore.DB, fns []func(context.Context, ports.Stores) error) []error {
	t.Helper()
	started, unblock, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- db.WithinSharedTx(t.Context(), func(context.Context, ports.Stores) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = db.WithinSharedTx(ctx, fn) })
		for deadline := time.Now().Add(10 * time.Second); sqlstore.SharedQueued(db) != i+1; {
			if time.Now().After(deadline) {
				close(unblock)
				t.Fatalf("%d calls queued, want %d", sqlstore.SharedQueued(db), i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(unblock)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatalf("holder: %v", err)
	}
	return errs
}

// TestSharedTxBeginsOnlyWhenNeeded: on PostgreSQL a batch of submissions,
// whose statements are remembered reads and held inserts, sends no BEGIN
// and no COMMIT: one read of the form and its workspace's webhooks for
// all, then its inserts, the webhook deliveries among them, as one
// statement, which PostgreSQL commits alone. A batch in which a call
// writes otherwise, here with a query, runs in a transaction: a call that
// fails after its write leaves nothing behind, and the others commit.
func TestSharedTxBeginsOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	url := testdb.Postgres(t, testdb.MigrateKeel)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db, err := sqlstore.Open(t.Context(), url, sqlstore.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	sqlstore.OneSharedLane(db)
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	ws, form := contactForm(t, db, now)
	submit, newSubmission := submitter(t, ws, form, now)
	// statements counts the SQL spans of the batches run in ctx.
	statements := func(batch trace.Span) map[string]int {
		n := map[string]int{}
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == batch.SpanContext().TraceID() && s.Parent().IsValid() && s.Name() != "db.Connect" {
				n[s.Name()]++
			}
		}
		return n
	}
	stored := func(subs ...domain.Submission) {
		t.Helper()
		err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
			for _, sub := range subs {
				if _, err := st.Submissions().Get(ctx, ws.ID(), sub.ID()); err != nil {
					t.Errorf("submission %s: %v", sub.ID(), err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	hook, err := domain.NewWebhook(ws.ID(), domain.WebhookInput{URL: "https://hooks.example.com/", Events: []string{domain.EventSubmissionCreated}}, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Add(ctx, hook) }); err != nil {
		t.Fatal(err)
	}

	ctx, batch := tp.Tracer("test").Start(t.Context(), "submissions")
	subs := []domain.Submission{newSubmission(), newSubmission(), newSubmission()}
	var fns []func(context.Context, ports.Stores) error
	for _, sub := range subs {
		fns = append(fns, submit(sub, nil))
	}
	for i, err := range sharedBatchIn(ctx, t, db, fns) {
		if err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
	}
	batch.End()
	stored(subs...)
	want := map[string]int{"db.Query": 1, "db.Exec": 1}
	if got := statements(batch); !maps.Equal(got, want) {
		t.Errorf("a batch of %d submissions ran %v, want %v: one read of the form and its webhooks, one insert", len(subs), got, want)
	}
	var deliveries []domain.WebhookDelivery
	err = db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		deliveries, _, err = st.Deliveries().List(ctx, ws.ID(), hook.ID(), nil, ports.Page{})
		return err
	})
	if err != nil || len(deliveries) != len(subs) {
		t.Errorf("%d deliveries to the workspace's webhook, %v; want one per submission, %d", len(deliveries), err, len(subs))
	}

	ctx, batch = tp.Tracer("test").Start(t.Context(), "a write that is not an insert")
	bump := func(then error) func(context.Context, ports.Stores) error {
		return func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Instance().BumpCounter(ctx, "shared"); err != nil {
				return err
			}
			return then
		}
	}
	refused := errors.New("refused after its write")
	subs = []domain.Submission{newSubmission(), newSubmission()}
	errs := sharedBatchIn(ctx, t, db, []func(context.Context, ports.Stores) error{
		submit(subs[0], nil), bump(nil), bump(refused), submit(subs[1], nil),
	})
	batch.End()
	for i, want := range []error{nil, nil, refused, nil} {
		if !errors.Is(errs[i], want) || (want == nil) != (errs[i] == nil) {
			t.Errorf("call %d: err = %v, want %v", i, errs[i], want)
		}
	}
	stored(subs...)
	var bumps int64
	err = db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		bumps, err = st.Instance().Counter(ctx, "shared")
		return err
	})
	if err != nil || bumps != 1 {
		t.Errorf("counter = %d, %v; want 1: the refused call's bump must not stay", bumps, err)
	}
	if got := statements(batch); got["db.Begin"] == 0 {
		t.Errorf("a batch with a write that is not an insert ran %v, want it in a transaction", got)
	}
}
