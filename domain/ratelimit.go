package domain

import (
	"math"
	"time"
)

// TokenBucket is a rate limit's state: a bucket holding up to burst tokens,
// refilled at rate tokens per second; each attempt takes one. Time is
// passed in, so the rule is testable without sleeping.
type TokenBucket struct {
	tokens float64
	last   time.Time
}

// Take takes one token at now. When the bucket is empty it returns false
// and how long until a token is back.
func (b *TokenBucket) Take(now time.Time, rate float64, burst int) (bool, time.Duration) {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+elapsed*rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, wait
}

// Full reports whether the bucket has refilled completely by now, so a
// limiter can forget it.
func (b *TokenBucket) Full(now time.Time, rate float64, burst int) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= float64(burst)
}

// Quota is a rate limit as clients are told it (the RateLimit-Policy
// header): Limit requests per Window. It is kept as a token bucket that
// holds Limit tokens and refills Limit per Window, so a client may spend
// its whole quota at once and then Limit per Window.
type Quota struct {
	Limit  int
	Window time.Duration
}

// PerMinute is a quota of n requests a minute.
func PerMinute(n int) Quota { return Quota{Limit: n, Window: time.Minute} }

// Valid reports whether q can be enforced: a limit of at least one per
// window of at least a second.
func (q Quota) Valid() bool { return q.Limit >= 1 && q.Window >= time.Second }

// rate is q's refill in tokens a second.
func (q Quota) rate() float64 { return float64(q.Limit) / q.Window.Seconds() }

// QuotaUse is what one request found in its bucket: whether it was
// allowed, how many requests are left (Remaining), when the bucket is full
// again (Reset), and, when refused, how long until one request is back
// (RetryAfter).
type QuotaUse struct {
	Allowed    bool
	Remaining  int
	Reset      time.Duration
	RetryAfter time.Duration
}

// Use takes one request from the bucket under quota q at now. A bucket
// kept under a larger quota keeps no more than q's limit, so lowering a
// workspace's limit takes effect at once.
func (b *TokenBucket) Use(now time.Time, q Quota) QuotaUse {
	rate := q.rate()
	b.tokens = math.Min(b.tokens, float64(q.Limit))
	ok, wait := b.Take(now, rate, q.Limit)
	u := QuotaUse{Allowed: ok, RetryAfter: wait, Remaining: int(b.tokens)}
	if missing := float64(q.Limit) - b.tokens; missing > 0 {
		u.Reset = time.Duration(missing / rate * float64(time.Second))
	}
	return u
}

// RateLimits are a workspace's own request quotas, per minute, for each
// of its API keys and for each signed-in user working in it. Zero uses the
// instance's default.
type RateLimits struct {
	APIKey, Session int
}

// MinRateLimit and MaxRateLimit bound a workspace's quotas per minute: a
// lower one would lock the workspace's own tools out, a higher one lets a
// single credential take a node's whole capacity.
const (
	MinRateLimit = 10
	MaxRateLimit = 100_000
)

// checkRateLimit validates a quota per minute set on field; zero returns
// to the instance's default.
func checkRateLimit(field string, n int) *FieldError {
	if n != 0 && (n < MinRateLimit || n > MaxRateLimit) {
		return &FieldError{field, "out_of_range", "Use 0 (the instance's default) or 10 to 100000 requests a minute."}
	}
	return nil
}

// WithStoredRateLimits returns w with the rate limits storage kept for it,
// which were valid when stored. It is apart from RehydrateWorkspace so
// that the workspace's other callers need not change.
func (w Workspace) WithStoredRateLimits(l RateLimits) Workspace {
	w.rateLimits = l
	return w
}

// RateLimits returns the workspace's own quotas; zero fields use the
// instance's defaults.
func (w Workspace) RateLimits() RateLimits { return w.rateLimits }
