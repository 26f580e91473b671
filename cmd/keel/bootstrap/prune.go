package bootstrap

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/application/messaging"
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
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		n, err := d.PruneSentMail(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.ErrorContext(ctx, "sent mail pruning failed", "err", err)
		case n > 0:
			log.InfoContext(ctx, "retention deleted sent mail", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
