package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var _ ports.Quotas = (*Quotas)(nil)

// Quotas is a ports.Quotas that keeps a domain.TokenBucket per key in
// memory, each under the quota its last call named: the API's limits per
// credential, whose quota depends on the workspace, and the public form's
// limits share it. Memory is bounded as in RateLimiter: keys longer than
// MaxRateLimiterKeyLen are kept as their hash, full buckets are forgotten,
// and no more than MaxRateLimiterKeys are kept. Each node limits on its
// own. Safe for concurrent use.
type Quotas struct {
	clock func() time.Time

	mu      sync.Mutex
	buckets map[string]quotaBucket
	calls   int // since the last sweep
}

// quotaBucket is a bucket and the quota it was last used under, which
// says when it is full again and can be forgotten.
type quotaBucket struct {
	b domain.TokenBucket
	q domain.Quota
}

// NewQuotas returns an empty Quotas; clock is time.Now when nil.
func NewQuotas(clock func() time.Time) *Quotas {
	if clock == nil {
		clock = time.Now
	}
	return &Quotas{clock: clock, buckets: map[string]quotaBucket{}}
}

// Use takes one request from key's bucket under q. An invalid quota (no
// limit) allows everything and keeps nothing: it is a configuration that
// turned the limit off.
func (l *Quotas) Use(_ context.Context, key string, q domain.Quota) domain.QuotaUse {
	if !q.Valid() {
		return domain.QuotaUse{Allowed: true, Remaining: max(q.Limit, 0)}
	}
	now := l.clock()
	key = boundKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls >= max(minSweepInterval, len(l.buckets)) {
		for k, qb := range l.buckets {
			if qb.b.Full(now, float64(qb.q.Limit)/qb.q.Window.Seconds(), qb.q.Limit) {
				delete(l.buckets, k)
			}
		}
		l.calls = 0
	}
	qb, ok := l.buckets[key]
	if !ok && len(l.buckets) >= MaxRateLimiterKeys {
		for k := range l.buckets { // an arbitrary victim, as in RateLimiter
			delete(l.buckets, k)
			break
		}
	}
	u := qb.b.Use(now, q)
	qb.q = q
	l.buckets[key] = qb
	return u
}

// Len returns the number of buckets kept, for tests and metrics.
func (l *Quotas) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// KeyBytes returns the bytes of the keys kept, for tests and metrics.
func (l *Quotas) KeyBytes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k := range l.buckets {
		n += len(k)
	}
	return n
}
