package messaging

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/ports"
)

// pruneBatch bounds one pruning transaction. On SQLite each batch is one
// write on the queue every writer shares, so a small batch keeps the wait
// it adds for submissions arriving meanwhile to a few milliseconds (3 ms
// typically, 17 ms at most, for 500 messages of 3 KB out of 100,000 on a
// 2-core machine); a large backlog becomes many such short writes rather
// than one long one.
const pruneBatch = 500

// sentMail is the attribute value keel.retention.pruned counts sent mail
// under.
var sentMail = metric.WithAttributeSet(attribute.NewSet(attribute.String("what", "sent_mail")))

// PrunedCounter returns mp's keel.retention.pruned, the rows deleted once
// their retention passed, which PruneSentMail counts sent mail in. The
// retention jobs that run elsewhere count their rows in it too, each under
// its own what, so that one metric shows everything pruned; an instrument
// asked for again is the same instrument.
func PrunedCounter(mp metric.MeterProvider) (metric.Int64Counter, error) {
	return mp.Meter(scope).Int64Counter("keel.retention.pruned", metric.WithUnit("{row}"),
		metric.WithDescription("Rows deleted once their retention passed, by what they were: sent_mail, events (change-feed events and ended webhook deliveries), submissions, idempotency_keys."))
}

// PruneSentMail deletes the mail sent longer than SentMailRetention ago,
// in batches of pruneBatch that each commit on their own, until a batch
// comes back short, and returns how many messages it deleted. Mail not
// sent (pending, failed or dead) is kept: it is what a person never got,
// and an administrator may still retry it. Several dispatchers may prune
// at once: their batches take different rows, or find them gone. It is a
// background job, with the system's authority rather than a caller's.
func (d *Dispatcher) PruneSentMail(ctx context.Context) (deleted int, err error) {
	ctx, end := usecase.Start(ctx, "messaging.PruneSentMail")
	defer end(&err)
	if d.retainSent <= 0 {
		return 0, nil
	}
	cutoff := d.clock.Now().Add(-d.retainSent)
	for {
		var n int
		err := d.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
			n, err = st.Outbox().DeleteSentBefore(ctx, cutoff, pruneBatch)
			return err
		})
		if err != nil {
			return deleted, fmt.Errorf("prune sent mail: %w", err)
		}
		deleted += n
		d.pruned.Add(ctx, int64(n), sentMail)
		if n < pruneBatch {
			return deleted, nil
		}
	}
}
