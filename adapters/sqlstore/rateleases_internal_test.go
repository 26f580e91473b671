package sqlstore

import (
	"strconv"
	"testing"
	"time"
)

// TestLeases: a chain is leased only once a statement shared by several
// callers left it room, never more than a leaseShare of its smallest
// bucket, only the tokens every bucket allowed, and a lease runs out after
// leaseFor. The chains followed are bounded.
func TestLeases(t *testing.T) {
	var l leases
	now := time.Now()
	big := []bucketTake{{key: "k", t: 10, tol: 10 * 9999}, {key: "form", t: 10, tol: 10 * 999}}
	ok := []taken{{allowed: true, ahead: 10}, {allowed: true, ahead: 20}}
	if n := l.ask("g", big, "k", 5); n != 0 {
		t.Fatalf("a chain never seen asks for %d, want 0", n)
	}
	l.keep("g", big, "k", 1, true, nil, now)
	if n := l.ask("g", big, "k", 5); n != 0 {
		t.Fatalf("after a lone caller's statement: asks for %d, want 0", n)
	}
	l.keep("g", big, "k", 3, true, nil, now)
	// The form's bucket holds 1,000: a lease takes at most 1,000/64.
	if n := l.ask("g", big, "k", 5); n != 15 {
		t.Fatalf("a hot chain with room asks for %d, want 15", n)
	}
	if n := l.ask("g", big, "k", 1); n != 0 {
		t.Fatalf("a lone caller, lease not drained: asks for %d, want 0", n)
	}
	refusedLater := []taken{{allowed: true, ahead: 10}, {ahead: 30}}
	l.keep("g", big, "k", 3, true, [][]taken{ok, refusedLater, ok, {{ahead: 5}}}, now)
	for i := range 2 {
		if _, leased := l.use("g", "k", now); !leased {
			t.Fatalf("token %d of 2 allowed by every bucket not leased", i+1)
		}
	}
	if _, leased := l.use("g", "k", now); leased {
		t.Fatal("a token a bucket refused was leased")
	}
	if n := l.ask("g", big, "k", 1); n != 15 {
		t.Fatalf("a lone caller after the lease ran out in use: asks for %d, want 15", n)
	}
	l.keep("g", big, "k", 3, false, [][]taken{ok}, now)
	if n := l.ask("g", big, "k", 5); n != 0 {
		t.Fatalf("after a statement that left no room: asks for %d, want 0", n)
	}
	if _, leased := l.use("g", "k", now.Add(leaseFor+time.Millisecond)); leased {
		t.Fatal("a token was used after its lease ran out")
	}
	small := []bucketTake{{key: "k", t: 10, tol: 10 * 62}}
	l.keep("s", small, "k", 3, true, nil, now)
	if n := l.ask("s", small, "k", 5); n != 0 {
		t.Fatalf("a bucket of 63 asks for %d, want 0", n)
	}

	for i := len(l.m); i < maxLeases; i++ {
		l.keep("g"+strconv.Itoa(i), big, "k", 3, true, nil, now)
	}
	later := now.Add(sweepEvery)
	l.keep("g", big, "k", 3, true, [][]taken{ok}, later) // a token that lasts past the sweep
	l.swept = now
	l.keep("one too many", big, "k", 3, true, nil, now)
	if len(l.m) != maxLeases || l.m[leaseKey("one too many", "k")] != nil {
		t.Fatalf("%d chains followed, want at most %d", len(l.m), maxLeases)
	}
	l.keep("after a while", big, "k", 3, true, nil, later)
	if l.m[leaseKey("after a while", "k")] == nil || l.m[leaseKey("g", "k")] == nil || len(l.m) != 2 {
		t.Fatalf("a sweep a while later left %d chains, want the new one and the one with a token", len(l.m))
	}
}
