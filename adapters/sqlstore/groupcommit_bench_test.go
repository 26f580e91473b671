package sqlstore

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// BenchmarkSubmissionTx runs the transaction of a form submission (read
// the form, store the submission and its two outbox messages) from 32
// goroutines, as many as the ingest benchmark's clients, on SQLite: the
// part of a submission that group commit shares out.
func BenchmarkSubmissionTx(b *testing.B) {
	ctx := context.Background()
	db := openGroupDB(b)
	now := time.Now()
	ws, err := domain.NewWorkspace("Bench", "bench", now)
	if err != nil {
		b.Fatal(err)
	}
	form, err := domain.NewForm(ws.ID(), domain.FormInput{
		Name:          "Contact",
		Fields:        []domain.Field{{Name: "name", Type: domain.FieldText, Required: true}, {Name: "email", Type: domain.FieldEmail, Required: true}, {Name: "message", Type: domain.FieldTextarea}},
		Notify:        domain.Notify{Recipients: []string{"team@example.com"}},
		Autoresponder: domain.Autoresponder{Enabled: true, EmailField: "email", Subject: "Thanks", Text: "Hi"},
	}, now)
	if err != nil {
		b.Fatal(err)
	}
	err = db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		return st.Forms().Add(ctx, form)
	})
	if err != nil {
		b.Fatal(err)
	}
	raw := domain.RawSubmission{
		Fields: map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}, "message": {"Hello there, this is a test message."}},
		Order:  []string{"name", "email", "message"},
	}
	submit := func(ctx context.Context, st ports.Stores) error {
		f, err := st.Forms().GetPublic(ctx, form.ID())
		if err != nil {
			return err
		}
		now := time.Now()
		sub, err := f.Accept(raw, domain.SubmissionMeta{IPHash: "h"}, domain.SpamRules{}, now)
		if err != nil {
			return err
		}
		if err := st.Submissions().Add(ctx, sub); err != nil {
			return err
		}
		msgs, kinds, err := f.Mail(sub, "Keel <k@example.com>", now)
		if err != nil {
			return err
		}
		for i, m := range msgs {
			if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, f.Workspace(), sub.ID(), kinds[i], "", now)); err != nil {
				return err
			}
		}
		return nil
	}
	const clients = 32
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.WithinTx(ctx, submit); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
