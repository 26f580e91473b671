package bootstrap

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
)

var sRetainSentMail = setting{"retain-sent-mail", "KEEL_RETAIN_SENT_MAIL", "720h", "how long sent mail stays in the outbox before it is deleted (at least 1h; 0 keeps it)"}

// loadRetainSentMail reads KEEL_RETAIN_SENT_MAIL. Less than an hour would
// delete mail before an administrator has looked at a report about it; 0
// keeps sent mail forever, as Keel did before it pruned.
func loadRetainSentMail(fs *pflag.FlagSet, getenv func(string) string) (time.Duration, error) {
	raw := value(fs, getenv, sRetainSentMail)
	d, err := time.ParseDuration(raw)
	if err != nil || (d != 0 && d < time.Hour) {
		return 0, sRetainSentMail.errorf("want 0 or a duration of at least 1h such as 720h, got %q", raw)
	}
	return d, nil
}

// runMailPrune deletes the sent mail past its retention now and every
// retentionEvery until ctx ends, then returns nil. It runs beside each
// dispatcher, in serve and in worker, so wherever mail is sent it is also
// pruned; several nodes pruning at once only share the work. Failures are
// logged and retried at the next run.
func runMailPrune(ctx context.Context, d *messaging.Dispatcher, log *slog.Logger) error {
	return jobs.Every(ctx, retentionEvery, true, func(ctx context.Context) {
		n, err := d.PruneSentMail(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.ErrorContext(ctx, "sent mail pruning failed", "err", err)
		case n > 0:
			log.InfoContext(ctx, "retention deleted sent mail", "count", n)
		}
	})
}

// countPruned adds n to mp's keel.retention.pruned{what}, for the
// retention jobs that count their rows here rather than in a use case.
// The jobs run hourly, so looking the counter up each time costs nothing
// worth keeping it for. A failure to make it is a bug in its definition
// and only loses the count.
func countPruned(ctx context.Context, mp metric.MeterProvider, what string, n int) {
	if c, err := messaging.PrunedCounter(mp); err == nil {
		c.Add(ctx, int64(n), metric.WithAttributes(attribute.String("what", what)))
	}
}
