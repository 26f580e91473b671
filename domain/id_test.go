package domain_test

import (
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

func TestNewIDIsValidAndUnique(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for range 1000 {
		id := domain.NewID("ins", now)
		if !domain.ValidID("ins", id) {
			t.Fatalf("ValidID(%q) = false", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 50 {
		ids = append(ids, domain.NewID("x", base.Add(time.Duration(i)*time.Hour*24*17)))
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("ids not sorted by time: %v", ids)
	}
}

func TestValidIDRejects(t *testing.T) {
	t.Parallel()
	good := domain.NewID("ws", time.Now())
	for _, s := range []string{"", "ws_", good[:len(good)-1], "usr" + good[2:], good[:5] + "I" + good[6:], "ws_" + "8" + good[4:]} {
		if domain.ValidID("ws", s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
}

func TestNewIDIsMonotonicWithinAMillisecond(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for range 10000 { // more than the 12-bit counter holds
		ids = append(ids, domain.NewID("x", now))
	}
	if !slices.IsSorted(ids) {
		t.Fatal("IDs made in one millisecond are not increasing")
	}
	if back := domain.NewID("x", now.Add(-time.Hour)); back <= ids[len(ids)-1] {
		t.Fatal("an ID made after the clock stepped back sorts before earlier ones")
	}
}
