package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var (
	_ ports.RateLimiter    = (*RateLimiter)(nil)
	_ ports.FailureLimiter = (*RateLimiter)(nil)
	_ ports.FailureLimiter = (*Backoff)(nil)
)

// MaxRateLimiterKeyLen bounds the bytes a limiter keeps per key. Keys come
// from visitors (an e-mail address, a header), so a longer key is kept as
// its SHA-256 instead: the limit still tells keys apart, and a megabyte
// key costs what a short one does.
const MaxRateLimiterKeyLen = 128

// boundKey returns key, or its hash when key is longer than
// MaxRateLimiterKeyLen.
func boundKey(key string) string {
	if len(key) <= MaxRateLimiterKeyLen {
		return key
	}
	h := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(h[:])
}

// MaxRateLimiterKeys bounds the buckets a RateLimiter keeps. Buckets that
// have refilled are forgotten as a matter of course; this cap only matters
// when more keys than this are busy at once, and then an arbitrary bucket
// is dropped for each new key: memory stays bounded, at the price of
// forgetting some attempts during a flood of distinct keys.
const MaxRateLimiterKeys = 100_000

// minSweepInterval is the fewest calls between two sweeps of full buckets.
// Sweeps also wait for as many calls as there are buckets, so that each
// call pays for about one bucket check.
const minSweepInterval = 1024

// RateLimiter is a ports.RateLimiter that keeps a domain.TokenBucket per key
// in memory. Each node limits on its own, so a cluster of n nodes allows up
// to n times the rate: enough for slowing down password guessing, where the
// point is orders of magnitude. Safe for concurrent use.
type RateLimiter struct {
	rate  float64
	burst int
	clock func() time.Time

	mu      sync.Mutex
	buckets map[string]domain.TokenBucket
	calls   int // since the last sweep
}

// NewRateLimiter allows burst attempts per key at once, refilled at rate
// attempts a second. clock is time.Now when nil. It panics unless rate is
// positive and burst at least 1, since such a limiter could never refill.
func NewRateLimiter(rate float64, burst int, clock func() time.Time) *RateLimiter {
	if !(rate > 0) || burst < 1 {
		panic("ratelimit.NewRateLimiter: rate must be positive and burst at least 1")
	}
	if clock == nil {
		clock = time.Now
	}
	return &RateLimiter{rate: rate, burst: burst, clock: clock, buckets: map[string]domain.TokenBucket{}}
}

// Allow takes one attempt from key's bucket, or returns false and how long
// until an attempt is back.
func (l *RateLimiter) Allow(_ context.Context, key string) (bool, time.Duration) {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls >= max(minSweepInterval, len(l.buckets)) {
		l.sweep(now)
	}
	key = boundKey(key)
	b, ok := l.buckets[key]
	if !ok && len(l.buckets) >= MaxRateLimiterKeys {
		for k := range l.buckets { // map order is random: an arbitrary victim
			delete(l.buckets, k)
			break
		}
	}
	allowed, wait := b.Take(now, l.rate, l.burst)
	l.buckets[key] = b
	return allowed, wait
}

// Check reports whether key's bucket holds an attempt, without taking it.
func (l *RateLimiter) Check(_ context.Context, key string) (bool, time.Duration) {
	now := l.clock()
	l.mu.Lock()
	b := l.buckets[boundKey(key)] // a copy: taking from it changes nothing kept
	l.mu.Unlock()
	return b.Take(now, l.rate, l.burst)
}

// Fail takes an attempt from key's bucket: used as a FailureLimiter, the
// bucket holds failures only.
func (l *RateLimiter) Fail(ctx context.Context, key string) { l.Allow(ctx, key) }

// Succeed does nothing: a success does not refund the failures before it,
// or an attacker who also knows one password could refill the bucket.
func (l *RateLimiter) Succeed(context.Context, string) {}

// sweep forgets the buckets that have refilled: a new bucket is full too,
// so forgetting them changes no decision.
func (l *RateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.Full(now, l.rate, l.burst) {
			delete(l.buckets, k)
		}
	}
	l.calls = 0
}

// Len returns the number of buckets kept, for tests and metrics.
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// KeyBytes returns the bytes of the keys kept, for tests and metrics.
func (l *RateLimiter) KeyBytes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k := range l.buckets {
		n += len(k)
	}
	return n
}

// Backoff is a ports.FailureLimiter whose delays grow with consecutive
// failures instead of locking a key out: free failures in a row cost
// nothing, each one after them doubles the wait before the next attempt,
// from base up to ceiling, and a success or a quiet period as long as
// reset forgets them. This is OWASP's alternative to account lockout. Safe
// for concurrent use; memory is bounded like RateLimiter's.
type Backoff struct {
	free                 int
	base, ceiling, reset time.Duration
	clock                func() time.Time

	mu      sync.Mutex
	streaks map[string]streak
	calls   int
}

// streak is a key's run of failures: how many, and the earliest time of
// the next attempt.
type streak struct {
	failures int
	next     time.Time
	last     time.Time
}

// NewBackoff lets free failures in a row through, then waits base,
// 2×base, … up to ceiling between failures; reset of quiet forgets a
// streak. clock is time.Now when nil. It panics on a base or ceiling that
// is not positive, or a reset shorter than the ceiling, which would forget
// a streak while it is still waiting.
func NewBackoff(free int, base, ceiling, reset time.Duration, clock func() time.Time) *Backoff {
	if base <= 0 || ceiling < base || reset < ceiling {
		panic("ratelimit.NewBackoff: want 0 < base <= ceiling <= reset")
	}
	if clock == nil {
		clock = time.Now
	}
	return &Backoff{free: max(free, 0), base: base, ceiling: ceiling, reset: reset, clock: clock, streaks: map[string]streak{}}
}

// Check reports whether key may attempt now, or how long to wait.
func (b *Backoff) Check(_ context.Context, key string) (bool, time.Duration) {
	now := b.clock()
	b.mu.Lock()
	s, ok := b.streaks[boundKey(key)]
	b.mu.Unlock()
	if !ok || !now.Before(s.next) || now.Sub(s.last) >= b.reset {
		return true, 0
	}
	return false, s.next.Sub(now)
}

// Fail records a failure and sets the wait before key's next attempt.
func (b *Backoff) Fail(_ context.Context, key string) {
	now := b.clock()
	key = boundKey(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.calls >= max(minSweepInterval, len(b.streaks)) {
		for k, s := range b.streaks {
			if now.Sub(s.last) >= b.reset {
				delete(b.streaks, k)
			}
		}
		b.calls = 0
	}
	s, ok := b.streaks[key]
	if !ok && len(b.streaks) >= MaxRateLimiterKeys {
		for k := range b.streaks { // an arbitrary victim, as in RateLimiter
			delete(b.streaks, k)
			break
		}
	}
	if ok && now.Sub(s.last) >= b.reset {
		s = streak{}
	}
	s.failures++
	s.last = now
	if over := s.failures - b.free; over > 0 {
		wait := b.ceiling
		if over <= 30 && b.base<<(over-1) < b.ceiling {
			wait = b.base << (over - 1)
		}
		s.next = now.Add(wait)
	}
	b.streaks[key] = s
}

// Succeed forgets key's failures.
func (b *Backoff) Succeed(_ context.Context, key string) {
	b.mu.Lock()
	delete(b.streaks, boundKey(key))
	b.mu.Unlock()
}

// KeyBytes returns the bytes of the keys kept, for tests and metrics.
func (b *Backoff) KeyBytes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for k := range b.streaks {
		n += len(k)
	}
	return n
}
