package messaging_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// countedTxs counts the transactions run through it.
type countedTxs struct {
	ports.UnitOfWork
	n atomic.Int32
}

func (c *countedTxs) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	c.n.Add(1)
	return c.UnitOfWork.WithinTx(ctx, fn)
}

// addMessage adds a message to to, changed by edit, created now.
func (f *fixture) addMessage(t *testing.T, to string, edit func(*domain.OutboxMessage)) string {
	t.Helper()
	m, err := domain.NewMessage(domain.MessageInput{From: "Keel <keel@example.com>", To: []string{to}, Subject: "Hi", Text: "Hi."}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	o := domain.NewOutboxMessage(m, f.ws.ID(), "", domain.KindNotification, "", f.clock.Now())
	edit(&o)
	f.tx(t, func(ctx context.Context, st ports.Stores) error { return st.Outbox().Add(ctx, o) })
	return m.ID()
}

// TestPruneSentMail: mail sent before the retention goes, in batches of
// 500 that each commit, and is counted; newer sent mail, pending mail and
// dead mail, however old, stay.
func TestPruneSentMail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	reader := sdkmetric.NewManualReader()
	txs := &countedTxs{UnitOfWork: f.db}
	d := f.dispatcher(t, messaging.DispatcherConfig{
		UoW: txs, SentMailRetention: 720 * time.Hour, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})

	old := f.submit(t, "ada@example.com", "")
	dispatch(t, d, len(old))
	dead := f.addMessage(t, "dead@example.com", func(m *domain.OutboxMessage) { m.Status = domain.OutboxDead })
	f.clock.Add(time.Hour)
	// More old sent mail than two batches hold, so that pruning takes
	// three transactions, the last one short.
	const bulk = 1001
	for i := range bulk {
		f.addMessage(t, fmt.Sprintf("u%d@example.com", i), func(m *domain.OutboxMessage) { m.Sent(f.clock.Now()) })
	}
	f.clock.Add(720 * time.Hour) // the first mail is now 721 hours old, the bulk 720
	recent := f.submit(t, "cy@example.com", "")
	dispatch(t, d, len(recent))
	pending := f.submit(t, "dee@example.com", "")
	f.clock.Add(time.Second) // the bulk is now past its retention too
	txs.n.Store(0)
	n, err := d.PruneSentMail(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := len(old) + bulk; n != want {
		t.Errorf("PruneSentMail = %d, want %d", n, want)
	}
	if got := txs.n.Load(); got != 3 {
		t.Errorf("PruneSentMail ran %d transactions, want 3 (500, 500, then the short batch)", got)
	}
	for _, id := range old {
		f.tx(t, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Outbox().Get(ctx, f.ws.ID(), id)
			if err != domain.ErrNotFound {
				t.Errorf("old sent message %s: Get = %v, want not found", id, err)
			}
			return nil
		})
	}
	for _, id := range append(append(recent, pending...), dead) {
		if m := f.message(t, id); m.Message.ID() != id {
			t.Errorf("message %s is gone", id)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var pruned int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "keel.retention.pruned" {
				for _, dp := range s.DataPoints {
					if v, _ := dp.Attributes.Value("what"); v.AsString() == "sent_mail" {
						pruned += dp.Value
					}
				}
			}
		}
	}
	if pruned != int64(n) {
		t.Errorf("keel.retention.pruned{what=sent_mail} = %d, want %d", pruned, n)
	}

	if n, err := d.PruneSentMail(t.Context()); n != 0 || err != nil {
		t.Errorf("PruneSentMail again = %d, %v; want 0, nil", n, err)
	}
}
