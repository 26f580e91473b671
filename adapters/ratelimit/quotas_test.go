package ratelimit_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/ports/porttest"
)

func newQuotas() (*ratelimit.Quotas, *fakeClock) {
	c := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return ratelimit.NewQuotas(c.Now), c
}

// TestQuotasPerKeyAndPerQuota: each key has its own bucket, under the
// quota its call names.
func TestQuotasPerKeyAndPerQuota(t *testing.T) {
	t.Parallel()
	l, c := newQuotas()
	small, large := domain.PerMinute(2), domain.PerMinute(600)
	for i, want := range []int{1, 0} {
		if u := l.Use(t.Context(), "key:a", small); !u.Allowed || u.Remaining != want {
			t.Fatalf("use %d of key a = %+v, want allowed with %d left", i, u, want)
		}
	}
	if u := l.Use(t.Context(), "key:a", small); u.Allowed || u.RetryAfter != 30*time.Second {
		t.Fatalf("key a past its quota = %+v, want refused for 30s", u)
	}
	if u := l.Use(t.Context(), "key:b", large); !u.Allowed || u.Remaining != 599 {
		t.Fatalf("key b = %+v, want its own bucket", u)
	}
	c.Advance(30 * time.Second)
	if u := l.Use(t.Context(), "key:a", small); !u.Allowed {
		t.Fatalf("key a after 30s = %+v, want allowed", u)
	}
}

// TestQuotasStayBounded: full buckets are forgotten, no more than
// MaxRateLimiterKeys are kept, and a long key costs what a short one does.
func TestQuotasStayBounded(t *testing.T) {
	t.Parallel()
	l, c := newQuotas()
	q := domain.PerMinute(60)
	for i := range ratelimit.MaxRateLimiterKeys + 5000 {
		l.Use(t.Context(), "anon:"+strconv.Itoa(i), q)
	}
	if n := l.Len(); n > ratelimit.MaxRateLimiterKeys {
		t.Fatalf("Len() = %d, want at most %d", n, ratelimit.MaxRateLimiterKeys)
	}
	c.Advance(time.Minute)
	for range ratelimit.MaxRateLimiterKeys + 1 { // enough calls for a sweep
		l.Use(t.Context(), "busy", q)
	}
	if n := l.Len(); n > 1 {
		t.Fatalf("Len() = %d after the buckets refilled, want at most 1", n)
	}
	long := strings.Repeat("x", 1<<20)
	l.Use(t.Context(), long+"a", q)
	l.Use(t.Context(), long+"b", q)
	if got := l.KeyBytes(); got > 3*ratelimit.MaxRateLimiterKeyLen {
		t.Fatalf("two megabyte keys keep %d bytes", got)
	}
}

// TestQuotasWithoutLimit: a quota with no limit allows all and keeps
// nothing.
func TestQuotasWithoutLimit(t *testing.T) {
	t.Parallel()
	l, _ := newQuotas()
	for range 100 {
		if u := l.Use(t.Context(), "k", domain.Quota{}); !u.Allowed {
			t.Fatal("a quota with no limit refused")
		}
	}
	if l.Len() != 0 {
		t.Fatalf("Len() = %d, want 0", l.Len())
	}
}

func TestQuotasContract(t *testing.T) {
	porttest.Quotas(t, func(t *testing.T) (ports.Quotas, func(time.Duration)) {
		l, c := newQuotas()
		return l, c.Advance
	})
}
