package inmem

import (
	"context"
	"sync"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var _ ports.RateLimiter = (*RateLimiter)(nil)

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
		panic("inmem.NewRateLimiter: rate must be positive and burst at least 1")
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
