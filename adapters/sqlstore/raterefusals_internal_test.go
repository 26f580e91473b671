package sqlstore

import (
	"strconv"
	"testing"
	"time"
)

// TestRefusalsAreBounded: a node remembers at most maxRefusals refusals.
// When it is full, a new one replaces those that have run out; if none
// has, it is not remembered, and a known bucket's refusal is still
// updated. A full map is swept at most once per sweepEvery.
func TestRefusalsAreBounded(t *testing.T) {
	var r refusals
	now := time.Now()
	for i := range maxRefusals {
		// Half run out a second ago, half refuse for a minute.
		ahead := int64(time.Minute / time.Microsecond)
		if i%2 == 0 {
			ahead = -int64(time.Second / time.Microsecond)
		}
		r.remember("k"+strconv.Itoa(i), 0, ahead, now)
	}
	if len(r.until) != maxRefusals {
		t.Fatalf("%d refusals remembered, want %d", len(r.until), maxRefusals)
	}
	r.remember("new", 0, int64(time.Minute/time.Microsecond), now)
	if len(r.until) != maxRefusals/2+1 {
		t.Fatalf("%d refusals after one more, want the %d that still refuse and the new one", len(r.until), maxRefusals/2)
	}
	if _, ok := r.refused(bucketTake{key: "new"}, time.Now()); !ok {
		t.Fatal("the new refusal was not remembered")
	}

	for i := len(r.until); i < maxRefusals; i++ {
		r.remember("more"+strconv.Itoa(i), 0, int64(time.Minute/time.Microsecond), now)
	}
	r.remember("one too many", 0, int64(time.Minute/time.Microsecond), now)
	if _, ok := r.refused(bucketTake{key: "one too many"}, time.Now()); ok || len(r.until) != maxRefusals {
		t.Fatalf("full of live refusals: one more was remembered (%d in all)", len(r.until))
	}
	// Entries that run out right after a sweep wait for the next one.
	r.swept = time.Now()
	r.until["more"+strconv.Itoa(maxRefusals-1)] = refusal{tat: now.Add(-time.Second)}
	r.remember("after the sweep", 0, int64(time.Minute/time.Microsecond), now)
	if _, ok := r.until["after the sweep"]; ok {
		t.Fatal("a full map was swept again within sweepEvery")
	}
	r.swept = time.Now().Add(-sweepEvery)
	r.remember("a second later", 0, int64(time.Minute/time.Microsecond), now)
	if _, ok := r.until["a second later"]; !ok {
		t.Fatal("a full map with a refusal that ran out was not swept sweepEvery after the last sweep")
	}
	r.remember("k1", 0, int64(2*time.Minute/time.Microsecond), now)
	if ahead, ok := r.refused(bucketTake{key: "k1"}, time.Now()); !ok || ahead <= int64(time.Minute/time.Microsecond) {
		t.Fatalf("a known bucket's later refusal: ahead %d µs, refused %v; want it updated", ahead, ok)
	}
}

// TestRefusalsRefuseUnderTheTakesTolerance: a remembered bucket refuses a
// take whose tolerance its distance from now exceeds, and not one with a
// larger tolerance (a quota raised since); a refusal that has run out
// under its own tolerance is forgotten.
func TestRefusalsRefuseUnderTheTakesTolerance(t *testing.T) {
	var r refusals
	now := time.Now()
	r.remember("k", 1000, 5000, now)
	if ahead, ok := r.refused(bucketTake{key: "k", tol: 1000}, now); !ok || ahead != 5000 {
		t.Fatalf("same tolerance: ahead %d, refused %v; want refused 5000 µs ahead", ahead, ok)
	}
	if _, ok := r.refused(bucketTake{key: "k", tol: 10000}, now); ok {
		t.Fatal("a larger tolerance was refused")
	}
	if _, ok := r.refused(bucketTake{key: "k", tol: 1000}, now.Add(4*time.Millisecond+time.Microsecond)); ok {
		t.Fatal("refused once the bucket came within its tolerance")
	}
	if _, known := r.until["k"]; known {
		t.Fatal("a refusal that ran out is still remembered")
	}
}
