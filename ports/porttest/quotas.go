package porttest

import (
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Quotas checks a ports.Quotas. open returns an empty one and a function
// that moves its clock forward.
func Quotas(t *testing.T, open func(t *testing.T) (ports.Quotas, func(time.Duration))) {
	use := func(t *testing.T, q ports.Quotas, key string, quota domain.Quota, want domain.QuotaUse) {
		t.Helper()
		if got := q.Use(t.Context(), key, quota); got != want {
			t.Fatalf("Use(%q, %+v) = %+v, want %+v", key, quota, got, want)
		}
	}
	// A bucket holds its whole quota, reports what is left and when it is
	// whole again, refuses past it with the wait for one request, and
	// refills evenly.
	t.Run("CountsDownRefusesAndRefills", func(t *testing.T) {
		t.Parallel()
		q, advance := open(t)
		per := domain.PerMinute(3)
		use(t, q, "k", per, domain.QuotaUse{Allowed: true, Remaining: 2, Reset: 20 * time.Second})
		use(t, q, "k", per, domain.QuotaUse{Allowed: true, Remaining: 1, Reset: 40 * time.Second})
		use(t, q, "k", per, domain.QuotaUse{Allowed: true, Remaining: 0, Reset: time.Minute})
		use(t, q, "k", per, domain.QuotaUse{Allowed: false, Remaining: 0, Reset: time.Minute, RetryAfter: 20 * time.Second})
		advance(20 * time.Second)
		use(t, q, "k", per, domain.QuotaUse{Allowed: true, Remaining: 0, Reset: time.Minute})
	})
	// Keys never share a bucket.
	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		q, _ := open(t)
		one := domain.PerMinute(1)
		use(t, q, "key:a", one, domain.QuotaUse{Allowed: true, Reset: time.Minute})
		use(t, q, "key:a", one, domain.QuotaUse{Allowed: false, Reset: time.Minute, RetryAfter: time.Minute})
		use(t, q, "key:b", one, domain.QuotaUse{Allowed: true, Reset: time.Minute})
	})
	// Each call names the quota: a lower one applies at once to a bucket
	// kept under a higher one.
	t.Run("QuotaPerCall", func(t *testing.T) {
		t.Parallel()
		q, _ := open(t)
		use(t, q, "k", domain.PerMinute(600), domain.QuotaUse{Allowed: true, Remaining: 599, Reset: 100 * time.Millisecond})
		use(t, q, "k", domain.PerMinute(6), domain.QuotaUse{Allowed: true, Remaining: 5, Reset: 10 * time.Second})
	})
	// A quota without a limit allows every request.
	t.Run("NoLimitAllowsAll", func(t *testing.T) {
		t.Parallel()
		q, _ := open(t)
		for range 10 {
			if u := q.Use(t.Context(), "k", domain.Quota{}); !u.Allowed {
				t.Fatalf("Use without a limit = %+v, want allowed", u)
			}
		}
	})
}
