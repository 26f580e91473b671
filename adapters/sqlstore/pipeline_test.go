package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/testdb"
)

// TestHeldInserts: on PostgreSQL a write transaction holds back the
// inserts of a submission, its event and its messages and sends them as
// one statement. What is stored, in what feed order, and what a failed
// insert undoes must be the same as on SQLite, which sends each at once.
func TestHeldInserts(t *testing.T) {
	t.Parallel()
	engines := map[string]func(t *testing.T) *sqlstore.DB{
		"sqlite": func(t *testing.T) *sqlstore.DB { return sqlitetest.New(t) },
		"postgres": func(t *testing.T) *sqlstore.DB {
			db, err := sqlstore.Open(t.Context(), testdb.Postgres(t, testdb.MigrateKeel))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		},
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testHeldInserts(t, open(t))
		})
	}
}

func testHeldInserts(t *testing.T, db *sqlstore.DB) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	ws, form := contactForm(t, db, now)
	submission := func() (domain.Submission, []domain.OutboxMessage) {
		raw := domain.RawSubmission{Fields: map[string][]string{"email": {"ada@example.com"}}, Order: []string{"email"}}
		sub, err := form.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
		if err != nil {
			t.Fatal(err)
		}
		msgs, kinds, err := form.Mail(sub, "keel@example.com", now)
		if err != nil || len(msgs) != 2 {
			t.Fatalf("mail = %d messages, %v", len(msgs), err)
		}
		var out []domain.OutboxMessage
		for i, m := range msgs {
			out = append(out, domain.NewOutboxMessage(m, ws.ID(), sub.ID(), kinds[i], "", now))
		}
		return sub, out
	}
	// write adds the submission, its event and its messages, and, with
	// extra, anything else in the same transaction.
	write := func(sub domain.Submission, msgs []domain.OutboxMessage, extra func(context.Context, ports.Stores) error) error {
		return db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			if err := st.Submissions().Add(ctx, sub); err != nil {
				return err
			}
			if err := st.Events().Add(ctx, domain.SubmissionEvent(domain.EventSubmissionCreated, sub, now)); err != nil {
				return err
			}
			for _, m := range msgs {
				if err := st.Outbox().Add(ctx, m); err != nil {
					return err
				}
			}
			if extra != nil {
				return extra(ctx, st)
			}
			return nil
		})
	}
	read := func() (subs int, msgs []domain.OutboxMessage, events []domain.Event) {
		t.Helper()
		err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
			if msgs, _, err = st.Outbox().List(ctx, ws.ID(), nil, ports.Page{Limit: 100}); err != nil {
				return err
			}
			if events, _, err = st.Events().List(ctx, ws.ID(), "", ports.Page{Limit: 100}); err != nil {
				return err
			}
			for _, m := range msgs {
				if _, err := st.Submissions().Get(ctx, ws.ID(), m.Submission); err == nil {
					subs++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return subs, msgs, events
	}
	// stored reads what is stored. On PostgreSQL the feed hides events
	// while an older transaction runs on the server, another test's in
	// another database too (feedHorizon), so it waits up to 30 seconds for
	// the feed to hold wantEvents.
	stored := func(wantEvents int) (subs int, msgs []domain.OutboxMessage, events []domain.Event) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; {
			subs, msgs, events = read()
			if len(events) >= wantEvents || time.Now().After(deadline) {
				return subs, msgs, events
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	first, firstMsgs := submission()
	if err := write(first, firstMsgs, nil); err != nil {
		t.Fatal(err)
	}
	if subs, msgs, events := stored(1); subs != 2 || len(msgs) != 2 || len(events) != 1 || events[0].Subject != string(first.ID()) {
		t.Fatalf("after one submission: %d messages with their submission, %d messages, %d events", subs, len(msgs), len(events))
	}

	// A held insert that fails (the first submission's ID again) fails the
	// transaction, whether or not a statement came after it, and leaves
	// nothing of it behind.
	_, againMsgs := submission()
	if err := write(first, againMsgs, nil); err == nil {
		t.Fatal("a submission added twice was accepted")
	}
	thenRead := func(ctx context.Context, st ports.Stores) error {
		_, err := st.Forms().UpdatedAt(ctx, ws.ID(), form.ID())
		return err
	}
	if err := write(first, againMsgs, thenRead); err == nil {
		t.Fatal("a submission added twice, then a read, was accepted")
	}
	if _, msgs, events := stored(1); len(msgs) != 2 || len(events) != 1 {
		t.Fatalf("after two failed transactions: %d messages and %d events, want 2 and 1", len(msgs), len(events))
	}

	// Events keep the order of their Adds within one transaction, and a
	// failure the caller returns rolls the held inserts back too.
	second, secondMsgs := submission()
	third, thirdMsgs := submission()
	both := func(ctx context.Context, st ports.Stores) error {
		if err := st.Submissions().Add(ctx, third); err != nil {
			return err
		}
		if err := st.Events().Add(ctx, domain.SubmissionEvent(domain.EventSubmissionCreated, third, now)); err != nil {
			return err
		}
		for _, m := range thirdMsgs {
			if err := st.Outbox().Add(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	refused := errors.New("refused")
	if err := write(second, secondMsgs, func(context.Context, ports.Stores) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("a transaction whose fn failed = %v, want its error", err)
	}
	if err := write(second, secondMsgs, both); err != nil {
		t.Fatal(err)
	}
	subs, msgs, events := stored(3)
	var order []string
	for _, e := range events {
		order = append(order, e.Subject)
	}
	if want := []string{string(first.ID()), string(second.ID()), string(third.ID())}; subs != 6 || len(msgs) != 6 || !slices.Equal(order, want) {
		t.Fatalf("after three submissions: %d messages with their submission, %d messages, feed %v, want 6, 6 and %v", subs, len(msgs), order, want)
	}
}

// contactForm stores a workspace and a form in it whose submissions take
// an e-mail address and queue two messages, a notification and an
// autoresponse.
func contactForm(t *testing.T, db *sqlstore.DB, now time.Time) (domain.Workspace, domain.Form) {
	t.Helper()
	ws, err := domain.NewWorkspace("Acme", "acme", now)
	if err != nil {
		t.Fatal(err)
	}
	form, err := domain.NewForm(ws.ID(), domain.FormInput{
		Name:          "Contact",
		Fields:        []domain.Field{{Name: "email", Type: domain.FieldEmail, Required: true}},
		Notify:        domain.Notify{Recipients: []string{"team@example.com"}},
		Autoresponder: domain.Autoresponder{Enabled: true, EmailField: "email", Subject: "Thanks", Text: "Hi"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	err = db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		return st.Forms().Add(ctx, form)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ws, form
}
