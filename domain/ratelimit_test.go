package domain_test

import (
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestTokenBucketUse: a quota of 60 a minute spends its whole burst, then
// refills one a second; what is left and when it is whole are reported.
func TestTokenBucketUse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := domain.PerMinute(60)
	var b domain.TokenBucket
	if u := b.Use(now, q); u != (domain.QuotaUse{Allowed: true, Remaining: 59, Reset: time.Second}) {
		t.Fatalf("first use = %+v", u)
	}
	for range 59 {
		b.Use(now, q)
	}
	u := b.Use(now, q)
	if u.Allowed || u.Remaining != 0 || u.RetryAfter != time.Second || u.Reset != time.Minute {
		t.Fatalf("use past the quota = %+v, want refused, 0 left, retry in 1s, whole in 1m", u)
	}
	now = now.Add(1500 * time.Millisecond)
	if u := b.Use(now, q); !u.Allowed || u.Remaining != 0 {
		t.Fatalf("use 1.5s later = %+v, want allowed with 0 left", u)
	}
	// A lower quota applies at once to a bucket kept under a higher one.
	var big domain.TokenBucket
	big.Use(now, domain.PerMinute(1000))
	if u := big.Use(now, domain.PerMinute(10)); u.Remaining != 9 {
		t.Fatalf("after lowering the quota to 10: %d left, want 9", u.Remaining)
	}
}

// TestWorkspaceRateLimits: quotas within bounds are kept, 0 returns to the
// instance's default, others are refused with their field paths and
// change nothing.
func TestWorkspaceRateLimits(t *testing.T) {
	t.Parallel()
	w, err := domain.NewWorkspace("Acme", "acme", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	key, session := 1200, domain.MaxRateLimit
	if err := w.Update(domain.WorkspaceChange{APIKeyRateLimit: &key, SessionRateLimit: &session}); err != nil {
		t.Fatal(err)
	}
	if got := w.RateLimits(); got != (domain.RateLimits{APIKey: 1200, Session: domain.MaxRateLimit}) {
		t.Fatalf("RateLimits = %+v", got)
	}
	low, high := domain.MinRateLimit-1, domain.MaxRateLimit+1
	err = w.Update(domain.WorkspaceChange{APIKeyRateLimit: &low, SessionRateLimit: &high})
	de, ok := err.(*domain.Error)
	if !ok || len(de.Fields) != 2 || de.Fields[0].Field != "rate_limits.api_key" || de.Fields[1].Field != "rate_limits.session" ||
		de.Fields[0].Code != "out_of_range" {
		t.Fatalf("out-of-range quotas: err = %#v, want out_of_range on both fields", err)
	}
	if got := w.RateLimits(); got.APIKey != 1200 {
		t.Fatalf("a refused change changed the quotas: %+v", got)
	}
	zero := 0
	if err := w.Update(domain.WorkspaceChange{APIKeyRateLimit: &zero}); err != nil || w.RateLimits().APIKey != 0 {
		t.Fatalf("0 = %v, %+v; want the instance's default", err, w.RateLimits())
	}
}
