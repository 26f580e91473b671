package bootstrap

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var (
	sRateLimitAPIKey    = setting{"rate-limit-api-key", "KEEL_RATE_LIMIT_API_KEY", "1200", "requests one API key may make per minute unless its workspace sets its own (0: no limit)"}
	sRateLimitSession   = setting{"rate-limit-session", "KEEL_RATE_LIMIT_SESSION", "1200", "requests one signed-in user may make per minute in each workspace and elsewhere unless the workspace sets its own (0: no limit)"}
	sRateLimitAnonymous = setting{"rate-limit-anonymous", "KEEL_RATE_LIMIT_ANONYMOUS", "6000", "requests one anonymous client IP may make per minute to each site's public API and to the rest of /v1 (0: no limit)"}
	sRateLimitStore     = setting{"rate-limit-store", "KEEL_RATE_LIMIT_STORE", "", "where rate limits and login throttling keep their state: postgres (one budget shared by every node; the default on PostgreSQL) or local (each node's memory; the default, and the only choice, on SQLite)"}
)

// rateLimitConfig is the instance's quotas per minute; 0 turns one off.
type rateLimitConfig struct {
	apiKey, session, anonymous int
	// shared says that the limits keep their state in PostgreSQL
	// (KEEL_RATE_LIMIT_STORE=postgres).
	shared bool
	// limits makes the limiters, once the database is open (serve).
	limits limiters
}

// maxInstanceRateLimit bounds the instance's quotas, far above any real
// load (16 million requests a second), so that load tests can keep the
// limiter's work without its refusals and the bucket arithmetic stays
// exact; 0 is the way to turn a limit off.
const maxInstanceRateLimit = 1_000_000_000

func loadRateLimitConfig(fs *pflag.FlagSet, getenv func(string) string) (rateLimitConfig, error) {
	var c rateLimitConfig
	for _, s := range []struct {
		set *setting
		dst *int
	}{{&sRateLimitAPIKey, &c.apiKey}, {&sRateLimitSession, &c.session}, {&sRateLimitAnonymous, &c.anonymous}} {
		raw := value(fs, getenv, *s.set)
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > maxInstanceRateLimit {
			return c, s.set.errorf("want 0 (no limit) to %d requests a minute, got %q", maxInstanceRateLimit, raw)
		}
		*s.dst = n
	}
	postgres := strings.HasPrefix(value(fs, getenv, sDatabaseURL), "postgres")
	switch store := value(fs, getenv, sRateLimitStore); store {
	case "":
		c.shared = postgres
	case "postgres":
		if !postgres {
			return c, sRateLimitStore.errorf("postgres needs a PostgreSQL database (KEEL_DATABASE_URL); SQLite's one process limits in its memory")
		}
		c.shared = true
	case "local":
	default:
		return c, sRateLimitStore.errorf("want postgres or local, got %q", store)
	}
	return c, nil
}

// limiters makes the rate limiters of the API and of login throttling: in
// this node's memory when shared is nil, else in PostgreSQL, where every
// node spends from one budget per key. Each limiter has a name, which
// keeps its keys apart from another's in the shared tables.
type limiters struct {
	shared *sqlstore.SharedLimits
}

// newLimiters opens the shared limits on db when rc asks for them; a
// failed check is logged, at most once per sharedErrorEvery, and allows
// the attempt (sqlstore.SharedLimits).
func newLimiters(rc rateLimitConfig, db *sqlstore.DB, log *slog.Logger) (limiters, error) {
	if !rc.shared {
		return limiters{}, nil
	}
	var last atomic.Int64
	shared, err := db.SharedLimits(func(err error) {
		now := time.Now().UnixNano()
		if prev := last.Load(); now-prev >= int64(sharedErrorEvery) && last.CompareAndSwap(prev, now) {
			log.Warn("a shared rate limit check failed; allowing the attempt", "err", err)
		}
	})
	if err != nil {
		return limiters{}, sRateLimitStore.errorf("%v", err)
	}
	return limiters{shared: shared}, nil
}

// sharedErrorEvery bounds the log lines of failed shared checks: while
// the database is away every request would otherwise write one.
const sharedErrorEvery = 10 * time.Second

// rateAndFailures is what a token bucket limiter is to its callers: a
// ports.RateLimiter, and a ports.FailureLimiter whose bucket holds
// failures.
type rateAndFailures interface {
	ports.RateLimiter
	ports.FailureLimiter
}

func (l limiters) rate(name string, rate float64, burst int) rateAndFailures {
	if l.shared != nil {
		return l.shared.RateLimiter(name, rate, burst)
	}
	return ratelimit.NewRateLimiter(rate, burst, time.Now)
}

func (l limiters) backoff(name string, free int, base, ceiling, reset time.Duration) ports.FailureLimiter {
	if l.shared != nil {
		return l.shared.Backoff(name, free, base, ceiling, reset)
	}
	return ratelimit.NewBackoff(free, base, ceiling, reset, time.Now)
}

func (l limiters) quotas() ports.Quotas {
	if l.shared != nil {
		return l.shared.Quotas("api")
	}
	return ratelimit.NewQuotas(nil)
}

// rateLimitPurgeEvery is how often each node deletes the shared buckets
// that are full again and the failures that are forgotten.
const rateLimitPurgeEvery = time.Minute

// runRateLimitPurge purges the shared limits every rateLimitPurgeEvery
// until ctx ends, then returns nil; failures are logged and retried at the
// next tick.
func runRateLimitPurge(ctx context.Context, shared *sqlstore.SharedLimits, log *slog.Logger) error {
	return jobs.Every(ctx, rateLimitPurgeEvery, false, func(ctx context.Context) {
		if _, err := shared.Purge(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "purging the shared rate limits failed", "err", err)
		}
	})
}

// newRateLimits builds the API's quotas: the instance's per credential
// and the public form's per client and per form (KEEL_SUBMIT_PER_*), in
// one bounded store on this node or one shared store (rc.limits).
func newRateLimits(rc rateLimitConfig, fc formsConfig) httpapi.RateLimits {
	return httpapi.RateLimits{
		Quotas:          rc.limits.quotas(),
		APIKey:          domain.PerMinute(rc.apiKey),
		Session:         domain.PerMinute(rc.session),
		Anonymous:       domain.PerMinute(rc.anonymous),
		SubmitPerClient: domain.PerMinute(fc.perIP),
		SubmitPerForm:   domain.PerMinute(fc.perForm),
	}
}
