package bootstrap

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/adapters/webhookhttp"
	"github.com/keelhq/keel/domain"
)

var (
	sWebhookAllowNetworks = setting{"webhook-allow-networks", "KEEL_WEBHOOK_ALLOW_NETWORKS", "", "comma-separated CIDR networks webhooks may reach although they are not public, for development and tests (e.g. 127.0.0.0/8)"}
	sWebhookAllowHTTP     = setting{"webhook-allow-http", "KEEL_WEBHOOK_ALLOW_HTTP", "false", "true: accept and deliver http:// webhook URLs (development and tests only)"}
	sWebhookRetryBase     = setting{"webhook-retry-base", "KEEL_WEBHOOK_RETRY_BASE", "30s", "wait before the first retry of a failed webhook delivery; each later wait doubles, up to 12h"}
	sWebhookMaxAttempts   = setting{"webhook-max-attempts", "KEEL_WEBHOOK_MAX_ATTEMPTS", "18", "attempts per webhook delivery before it is given up as dead"}
	sWebhookDisableAfter  = setting{"webhook-disable-after", "KEEL_WEBHOOK_DISABLE_AFTER", "72h", "how long an endpoint may fail every attempt before it is disabled and its workspace's admins and owners are mailed"}
	sWebhookConcurrency   = setting{"webhook-concurrency", "KEEL_WEBHOOK_CONCURRENCY", "32", "webhook deliveries one process has in flight at once"}
)

// webhookSettings are the webhook settings serve and worker both read.
var webhookSettings = []setting{sWebhookAllowNetworks, sWebhookAllowHTTP, sWebhookRetryBase, sWebhookMaxAttempts, sWebhookDisableAfter, sWebhookConcurrency}

// Bounds of the webhook settings.
const (
	// minWebhookRetryBase lets tests retry within milliseconds; a real
	// outage is still spread over the policy's doubling waits.
	minWebhookRetryBase = 10 * time.Millisecond
	// maxWebhookAttempts: with waits capped at 12 hours, this many
	// attempts already spread over about seven weeks.
	maxWebhookAttempts = 100
	// minWebhookDisableAfter lets tests disable an endpoint at once.
	minWebhookDisableAfter = time.Second
	// maxWebhookConcurrency bounds the goroutines and connections one
	// process gives to deliveries.
	maxWebhookConcurrency = 1024
)

// webhookConfig is how serve and worker deliver webhooks; serve also
// passes webhookAllowHTTP to the API, which refuses http:// URLs at
// creation unless it is set.
type webhookConfig struct {
	webhookAllowNetworks []netip.Prefix
	webhookAllowHTTP     bool
	webhookPolicy        domain.RetryPolicy
	webhookDisableAfter  time.Duration
	webhookConcurrency   int
}

func loadWebhookConfig(fs *pflag.FlagSet, getenv func(string) string) (webhookConfig, error) {
	var c webhookConfig
	var err error
	raw := value(fs, getenv, sWebhookAllowNetworks)
	if c.webhookAllowNetworks, err = webhookhttp.ParseAllowNetworks(raw); err != nil {
		return c, sWebhookAllowNetworks.errorf("%v", err)
	}
	raw = value(fs, getenv, sWebhookAllowHTTP)
	if c.webhookAllowHTTP, err = webhookhttp.ParseAllowHTTP(raw); err != nil {
		return c, sWebhookAllowHTTP.errorf("want true or false, got %q", raw)
	}
	c.webhookPolicy = domain.DefaultWebhookRetryPolicy
	raw = value(fs, getenv, sWebhookRetryBase)
	if c.webhookPolicy.Base, err = time.ParseDuration(raw); err != nil || c.webhookPolicy.Base < minWebhookRetryBase || c.webhookPolicy.Base > c.webhookPolicy.Max {
		return c, sWebhookRetryBase.errorf("want a duration from 10ms to 12h such as 30s, got %q", raw)
	}
	raw = value(fs, getenv, sWebhookMaxAttempts)
	if c.webhookPolicy.MaxAttempts, err = strconv.Atoi(raw); err != nil || c.webhookPolicy.MaxAttempts < 1 || c.webhookPolicy.MaxAttempts > maxWebhookAttempts {
		return c, sWebhookMaxAttempts.errorf("want a number from 1 to %d, got %q", maxWebhookAttempts, raw)
	}
	raw = value(fs, getenv, sWebhookDisableAfter)
	if c.webhookDisableAfter, err = time.ParseDuration(raw); err != nil || c.webhookDisableAfter < minWebhookDisableAfter {
		return c, sWebhookDisableAfter.errorf("want a duration of at least 1s such as 72h, got %q", raw)
	}
	raw = value(fs, getenv, sWebhookConcurrency)
	if c.webhookConcurrency, err = strconv.Atoi(raw); err != nil || c.webhookConcurrency < 1 || c.webhookConcurrency > maxWebhookConcurrency {
		return c, sWebhookConcurrency.errorf("want a number from 1 to %d, got %q", maxWebhookConcurrency, raw)
	}
	return c, nil
}

// newWebhookSender is the SSRF-safe client that posts deliveries: https
// to public addresses only, unless the settings allow more.
func newWebhookSender(c webhookConfig, tel *telemetry) *webhookhttp.Client {
	return webhookhttp.New(webhookhttp.Options{AllowNetworks: c.webhookAllowNetworks, AllowHTTP: c.webhookAllowHTTP, Propagator: tel.propagator})
}
