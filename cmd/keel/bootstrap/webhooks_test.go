package bootstrap

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/domain"
)

func TestBadWebhookSettingsAreOneLineNamingTheSetting(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cmd, env, value, detail string
	}{
		{"serve", "KEEL_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1", "not a CIDR network"},
		{"serve", "KEEL_WEBHOOK_ALLOW_NETWORKS", "::ffff:127.0.0.1/104", "IPv4 form"},
		{"serve", "KEEL_WEBHOOK_ALLOW_HTTP", "sometimes", "true or false"},
		{"serve", "KEEL_WEBHOOK_RETRY_BASE", "1ms", "from 10ms to 12h"},
		{"serve", "KEEL_WEBHOOK_RETRY_BASE", "13h", "from 10ms to 12h"},
		{"serve", "KEEL_WEBHOOK_MAX_ATTEMPTS", "0", "from 1 to 100"},
		{"serve", "KEEL_WEBHOOK_MAX_ATTEMPTS", "many", "many"},
		{"serve", "KEEL_WEBHOOK_DISABLE_AFTER", "500ms", "at least 1s"},
		{"serve", "KEEL_WEBHOOK_CONCURRENCY", "0", "from 1 to 1024"},
		{"serve", "KEEL_WEBHOOK_CONCURRENCY", "4096", "from 1 to 1024"},
		{"worker", "KEEL_WEBHOOK_ALLOW_NETWORKS", "loopback", "not a CIDR network"},
		{"worker", "KEEL_WEBHOOK_DISABLE_AFTER", "soon", "soon"},
		{"worker", "KEEL_MAIL_FROM", "not an address", "not an address"},
	} {
		t.Run(tt.cmd+" "+tt.env+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"KEEL_DATA_DIR": t.TempDir(), "KEEL_HTTP_ADDR": "127.0.0.1:0", tt.env: tt.value}
			_, _, err := run(t, t.Context(), []string{tt.cmd}, e)
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), tt.env+" ") || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("%s with %s=%q: %v; want one line naming the setting and %q", tt.cmd, tt.env, tt.value, err, tt.detail)
			}
		})
	}
}

func TestWebhookSettings(t *testing.T) {
	t.Parallel()
	load := func(args []string, e map[string]string) webhookConfig {
		t.Helper()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		addFlags(fs, webhookSettings...)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := loadWebhookConfig(fs, env(e))
		if err != nil {
			t.Fatalf("loadWebhookConfig(%v, %v): %v", args, e, err)
		}
		return c
	}

	c := load(nil, nil)
	if c.webhookAllowNetworks != nil || c.webhookAllowHTTP || c.webhookPolicy != domain.DefaultWebhookRetryPolicy ||
		c.webhookDisableAfter != domain.DefaultWebhookDisableAfter || c.webhookConcurrency != 32 {
		t.Errorf("defaults = %+v; want public https only, the default policy, 72h and 32", c)
	}

	c = load([]string{"--webhook-concurrency", "8"}, map[string]string{
		"KEEL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8, ::1/128",
		"KEEL_WEBHOOK_ALLOW_HTTP":     "true",
		"KEEL_WEBHOOK_RETRY_BASE":     "50ms",
		"KEEL_WEBHOOK_MAX_ATTEMPTS":   "100",
		"KEEL_WEBHOOK_DISABLE_AFTER":  "1s",
		"KEEL_WEBHOOK_CONCURRENCY":    "16",
	})
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(c.webhookAllowNetworks, want) || !c.webhookAllowHTTP {
		t.Errorf("allow = %v, http %v; want %v and http", c.webhookAllowNetworks, c.webhookAllowHTTP, want)
	}
	if p := c.webhookPolicy; p.Base != 50*time.Millisecond || p.MaxAttempts != 100 || p.Max != domain.DefaultWebhookRetryPolicy.Max {
		t.Errorf("policy = %+v; want base 50ms, 100 attempts, the default cap", p)
	}
	if c.webhookDisableAfter != time.Second || c.webhookConcurrency != 8 {
		t.Errorf("disable after %s, concurrency %d; want 1s and the flag's 8 over the environment's 16", c.webhookDisableAfter, c.webhookConcurrency)
	}
}
