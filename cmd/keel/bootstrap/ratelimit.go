package bootstrap

import (
	"strconv"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/domain"
)

var (
	sRateLimitAPIKey    = setting{"rate-limit-api-key", "KEEL_RATE_LIMIT_API_KEY", "1200", "requests one API key may make per minute, per node, unless its workspace sets its own (0: no limit)"}
	sRateLimitSession   = setting{"rate-limit-session", "KEEL_RATE_LIMIT_SESSION", "1200", "requests one signed-in user may make per minute in each workspace and elsewhere, per node, unless the workspace sets its own (0: no limit)"}
	sRateLimitAnonymous = setting{"rate-limit-anonymous", "KEEL_RATE_LIMIT_ANONYMOUS", "6000", "requests one anonymous client IP may make per minute to each site's public API and to the rest of /v1, per node (0: no limit)"}
)

// rateLimitConfig is the instance's quotas per minute; 0 turns one off.
type rateLimitConfig struct {
	apiKey, session, anonymous int
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
	return c, nil
}

// newRateLimits builds the API's quotas: the instance's per credential
// and the public form's per client and per form (KEEL_SUBMIT_PER_*), in
// one bounded store on this node.
func newRateLimits(rc rateLimitConfig, fc formsConfig) httpapi.RateLimits {
	return httpapi.RateLimits{
		Quotas:          ratelimit.NewQuotas(nil),
		APIKey:          domain.PerMinute(rc.apiKey),
		Session:         domain.PerMinute(rc.session),
		Anonymous:       domain.PerMinute(rc.anonymous),
		SubmitPerClient: domain.PerMinute(fc.perIP),
		SubmitPerForm:   domain.PerMinute(fc.perForm),
	}
}
