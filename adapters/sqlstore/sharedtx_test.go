package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

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
	// submit is what forms.Submit does in its transaction.
	submit := func(sub domain.Submission, then error) func(context.Context, ports.Stores) error {
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
	newSubmission := func() domain.Submission {
		raw := domain.RawSubmission{Fields: map[string][]string{"email": {"ada@example.com"}}, Order: []string{"email"}}
		sub, err := form.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
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

// sharedBatchOf holds a shared transaction open, queues one call per fn
// behind it, in order, and releases it: the queued calls then share the
// next transaction, the first leading it. It returns each call's error.
func sharedBatchOf(t *testing.T, db *sqlstore.DB, fns []func(context.Context, ports.Stores) error) []error {
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
		wg.Go(func() { errs[i] = db.WithinSharedTx(t.Context(), fn) })
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
