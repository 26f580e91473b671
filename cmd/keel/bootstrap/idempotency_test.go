package bootstrap

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/ports"
)

// TestPurgeIdempotencyKeysEmptiesTheBacklogInBatches leaves more expired
// keys than one batch deletes, and a live one: one purge deletes every
// expired key, batch after batch, and keeps the live one.
func TestPurgeIdempotencyKeysEmptiesTheBacklogInBatches(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	take := func(key string, created time.Time) {
		c := &ports.IdempotencyClaim{
			Key: ports.IdempotencyKey{Scope: "key:k", Key: key}, Fingerprint: []byte("fp"),
			CreatedAt: created, ExpiresAt: created.Add(time.Hour),
		}
		err := db.WithinTx(ports.WithIdempotencyClaim(t.Context(), c), func(context.Context, ports.Stores) error { return nil })
		if err != nil || !c.Committed() {
			t.Fatalf("take key %s: %v", key, err)
		}
	}
	const expired = 2*idempotencyPurgeBatch + 5
	for i := range expired {
		take(fmt.Sprint("old-", i), now.Add(-2*time.Hour))
	}
	take("live", now)
	if n, err := purgeIdempotencyKeys(t.Context(), db, now); err != nil || n != expired {
		t.Fatalf("purge = %d, %v; want %d", n, err, expired)
	}
	if _, err := db.GetIdempotency(t.Context(), ports.IdempotencyKey{Scope: "key:k", Key: "live"}, now); err != nil {
		t.Fatalf("live key after the purge: %v", err)
	}
	if n, err := purgeIdempotencyKeys(t.Context(), db, now); err != nil || n != 0 {
		t.Fatalf("second purge = %d, %v; want 0", n, err)
	}
}
