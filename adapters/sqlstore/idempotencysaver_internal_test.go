package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelhq/keel/ports"
)

// TestSaverLeaderWithEndedContext: a leader whose context ended before
// its transaction ran fails alone; the save queued behind it is woken to
// lead and is stored.
func TestSaverLeaderWithEndedContext(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var keys []ports.IdempotencyKey
	for _, k := range []string{"own", "next"} {
		cl := &ports.IdempotencyClaim{Key: ports.IdempotencyKey{Scope: "key:t", Key: k}, Fingerprint: []byte(k), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.WithinTx(ports.WithIdempotencyClaim(ctx, cl), func(context.Context, ports.Stores) error { return nil }); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, cl.Key)
	}
	own := &pendingSave{key: keys[0], status: 201, response: []byte("own"), wake: make(chan bool, 1)}
	next := &pendingSave{key: keys[1], status: 201, response: []byte("next"), wake: make(chan bool, 1)}
	// As save leaves them: own leads, next queued behind it.
	db.saver.pending = []*pendingSave{own, next}
	db.saver.leading = true
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.saver.lead(ended, db, own); !errors.Is(err, context.Canceled) {
		t.Fatalf("leader with an ended context: err = %v, want context.Canceled", err)
	}
	select {
	case lead := <-next.wake:
		if !lead {
			t.Fatalf("queued save answered with %v instead of being woken to lead", next.err)
		}
	default:
		t.Fatal("queued save not woken")
	}
	if err := db.saver.lead(ctx, db, next); err != nil {
		t.Fatalf("next leader: %v", err)
	}
	if r, err := db.GetIdempotency(ctx, keys[1], now); err != nil || string(r.Response) != "next" {
		t.Fatalf("queued save's record = %+v, %v; want its response stored", r, err)
	}
	if r, err := db.GetIdempotency(ctx, keys[0], now); err != nil || r.Status != 0 {
		t.Fatalf("failed leader's record = %+v, %v; want no response", r, err)
	}
	if db.saver.leading || len(db.saver.pending) != 0 {
		t.Fatalf("saver after both: leading %v, %d pending; want idle", db.saver.leading, len(db.saver.pending))
	}
}
