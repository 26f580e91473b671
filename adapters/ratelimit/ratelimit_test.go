package ratelimit_test

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/ratelimit"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newLimiter(rate float64, burst int) (*ratelimit.RateLimiter, *fakeClock) {
	c := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return ratelimit.NewRateLimiter(rate, burst, c.Now), c
}

func allow(t *testing.T, l *ratelimit.RateLimiter, key string, wantOK bool, wantWait time.Duration) {
	t.Helper()
	ok, wait := l.Allow(t.Context(), key)
	if ok != wantOK || wait != wantWait {
		t.Errorf("Allow(%q) = %v, %v; want %v, %v", key, ok, wait, wantOK, wantWait)
	}
}

func TestRateLimiterBurstThenRefuse(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(2, 3) // two a second, three at once
	for range 3 {
		allow(t, l, "ip:192.0.2.1", true, 0)
	}
	allow(t, l, "ip:192.0.2.1", false, 500*time.Millisecond)
	c.Advance(200 * time.Millisecond)
	allow(t, l, "ip:192.0.2.1", false, 300*time.Millisecond)
	c.Advance(300 * time.Millisecond)
	allow(t, l, "ip:192.0.2.1", true, 0)
	allow(t, l, "ip:192.0.2.1", false, 500*time.Millisecond)
}

func TestRateLimiterRefillsToBurst(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(1, 2)
	allow(t, l, "k", true, 0)
	allow(t, l, "k", true, 0)
	allow(t, l, "k", false, time.Second)
	c.Advance(time.Hour) // refills to the burst, no further
	allow(t, l, "k", true, 0)
	allow(t, l, "k", true, 0)
	allow(t, l, "k", false, time.Second)
}

func TestRateLimiterKeysAreIndependent(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(1, 1)
	allow(t, l, "a", true, 0)
	allow(t, l, "a", false, time.Second)
	allow(t, l, "b", true, 0)
	allow(t, l, "b", false, time.Second)
}

func TestRateLimiterForgetsFullBuckets(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(10, 5) // full again 0.5s after the last attempt
	for i := range 5000 {
		l.Allow(t.Context(), "ip:"+strconv.Itoa(i))
	}
	if n := l.Len(); n != 5000 {
		t.Fatalf("Len() = %d after 5000 keys, want 5000", n)
	}
	c.Advance(time.Second)
	for range 5000 { // enough calls for a sweep
		l.Allow(t.Context(), "ip:busy")
	}
	if n := l.Len(); n > 1 {
		t.Errorf("Len() = %d after the buckets refilled, want at most 1", n)
	}
	// Forgetting changed nothing: a forgotten key starts with a full burst.
	for range 5 {
		allow(t, l, "ip:7", true, 0)
	}
	allow(t, l, "ip:7", false, 100*time.Millisecond)
}

func TestRateLimiterStaysBounded(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(0.001, 1) // buckets stay non-full for 1000s: no sweep helps
	for i := range ratelimit.MaxRateLimiterKeys + 5000 {
		l.Allow(t.Context(), "ip:"+strconv.Itoa(i))
	}
	if n := l.Len(); n > ratelimit.MaxRateLimiterKeys {
		t.Errorf("Len() = %d, want at most %d", n, ratelimit.MaxRateLimiterKeys)
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(1, 10)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := l.Allow(t.Context(), "shared"); ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 10 {
		t.Errorf("%d attempts allowed at one instant, want the burst, 10", n)
	}
}

func TestNewRateLimiterPanicsOnUselessSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {1, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewRateLimiter(%v, %d) did not panic", c.rate, c.burst)
				}
			}()
			ratelimit.NewRateLimiter(c.rate, c.burst, nil)
		}()
	}
}

// TestRateLimiterBoundsKeyBytes: a megabyte key costs what a short one
// does, and long keys stay apart.
func TestRateLimiterBoundsKeyBytes(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(1, 1)
	long := strings.Repeat("x", 1<<20)
	allow(t, l, long+"a", true, 0)
	allow(t, l, long+"a", false, time.Second)
	allow(t, l, long+"b", true, 0)
	if got := l.KeyBytes(); got > 2*ratelimit.MaxRateLimiterKeyLen {
		t.Fatalf("two megabyte keys keep %d bytes, want at most %d", got, 2*ratelimit.MaxRateLimiterKeyLen)
	}
}

// TestRateLimiterAsFailureLimiter: Check takes nothing, Fail does.
func TestRateLimiterAsFailureLimiter(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(1, 2)
	for range 5 {
		if ok, _ := l.Check(t.Context(), "k"); !ok {
			t.Fatal("Check took an attempt")
		}
	}
	l.Fail(t.Context(), "k")
	l.Fail(t.Context(), "k")
	if ok, wait := l.Check(t.Context(), "k"); ok || wait != time.Second {
		t.Fatalf("Check after two failures = %v, %v; want false, 1s", ok, wait)
	}
}

// TestBackoffGrowsThenForgets: free failures, then doubling waits up to
// the ceiling; a success or a quiet period forgets the streak.
func TestBackoffGrowsThenForgets(t *testing.T) {
	t.Parallel()
	c := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := ratelimit.NewBackoff(2, time.Second, 4*time.Second, time.Minute, c.Now)
	check := func(wantOK bool, wantWait time.Duration) {
		t.Helper()
		if ok, wait := b.Check(t.Context(), "k"); ok != wantOK || wait != wantWait {
			t.Fatalf("Check = %v, %v; want %v, %v", ok, wait, wantOK, wantWait)
		}
	}
	b.Fail(t.Context(), "k")
	b.Fail(t.Context(), "k")
	check(true, 0)
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		b.Fail(t.Context(), "k")
		check(false, want)
		c.Advance(want)
		check(true, 0)
	}
	b.Succeed(t.Context(), "k")
	b.Fail(t.Context(), "k")
	b.Fail(t.Context(), "k")
	check(true, 0)
	b.Fail(t.Context(), "k")
	check(false, time.Second)
	c.Advance(time.Minute)
	b.Fail(t.Context(), "k") // the first of a new streak
	check(true, 0)
	if got := b.KeyBytes(); got != 1 {
		t.Fatalf("KeyBytes = %d, want 1", got)
	}
}
