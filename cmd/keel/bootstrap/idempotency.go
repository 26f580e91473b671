package bootstrap

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/metric"

	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/ports"
)

var sIdempotencyTTL = setting{"idempotency-ttl", "KEEL_IDEMPOTENCY_TTL", "24h", "how long an Idempotency-Key and its stored response are kept (1m to 720h)"}

// loadIdempotencyTTL reads KEEL_IDEMPOTENCY_TTL. A key must outlive a
// client's retries (a minute at least) and its stored responses hold
// secrets, so a month is the most it may stay.
func loadIdempotencyTTL(fs *pflag.FlagSet, getenv func(string) string) (time.Duration, error) {
	raw := value(fs, getenv, sIdempotencyTTL)
	ttl, err := time.ParseDuration(raw)
	if err != nil || ttl < time.Minute || ttl > 720*time.Hour {
		return 0, sIdempotencyTTL.errorf("want a duration from 1m to 720h such as 24h, got %q", raw)
	}
	return ttl, nil
}

// idempotencyPurgeBatch bounds one purge transaction, so that a backlog of
// expired keys never holds SQLite's writer for long.
const idempotencyPurgeBatch = 1000

// purgeIdempotencyKeys deletes the expired Idempotency-Keys in batches of
// idempotencyPurgeBatch and returns how many it deleted. The retention
// job runs it with the others; every node may, since deletes of expired
// rows only repeat each other.
func purgeIdempotencyKeys(ctx context.Context, store ports.IdempotencyStore, now time.Time) (int, error) {
	deleted := 0
	for {
		n, err := store.PurgeIdempotency(ctx, now, idempotencyPurgeBatch)
		deleted += n
		if err != nil || n < idempotencyPurgeBatch {
			return deleted, err
		}
	}
}

// runIdempotencyPurge deletes expired Idempotency-Keys now and every
// retentionEvery until ctx ends, then returns nil, beside the retention
// job of submissions and events. Failures are logged and retried at the
// next run.
func runIdempotencyPurge(ctx context.Context, store ports.IdempotencyStore, mp metric.MeterProvider, log *slog.Logger) error {
	return jobs.Every(ctx, retentionEvery, true, func(ctx context.Context) {
		n, err := purgeIdempotencyKeys(ctx, store, time.Now())
		countPruned(ctx, mp, "idempotency_keys", n)
		switch {
		case err != nil && ctx.Err() == nil:
			log.ErrorContext(ctx, "idempotency key purge failed", "err", err)
		case n > 0:
			log.InfoContext(ctx, "retention deleted expired idempotency keys", "count", n)
		}
	})
}
