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
