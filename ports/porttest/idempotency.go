package porttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// IdempotencyDB is a database that takes idempotency claims in its
// transactions and keeps their records.
type IdempotencyDB interface {
	ports.UnitOfWork
	ports.IdempotencyStore
}

// Idempotency checks that a UnitOfWork inserts an IdempotencyClaim's
// record in the transaction it is given with, exactly once per key, and
// the IdempotencyStore that reads, answers and purges those records. open
// must return a new, empty, migrated database each time it is called.
func Idempotency(t *testing.T, open func(t *testing.T) IdempotencyDB) {
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	claim := func(scope, key string, created time.Time) *ports.IdempotencyClaim {
		return &ports.IdempotencyClaim{
			Key:         ports.IdempotencyKey{Scope: scope, Key: key},
			Fingerprint: []byte("fp-" + scope + "-" + key),
			CreatedAt:   created, ExpiresAt: created.Add(24 * time.Hour),
		}
	}
	// bumpWith bumps counter c in a transaction carrying cl, failing
	// with fail when it is not nil.
	bumpWith := func(db IdempotencyDB, cl *ports.IdempotencyClaim, c string, fail error) error {
		return db.WithinTx(ports.WithIdempotencyClaim(context.Background(), cl), func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Instance().BumpCounter(ctx, c); err != nil {
				return err
			}
			return fail
		})
	}

	t.Run("InsertedWithTheTransaction", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		cl := claim("key:a", "k1", now)
		if err := bumpWith(db, cl, "c", nil); err != nil {
			t.Fatalf("WithinTx with a claim: %v", err)
		}
		if !cl.Committed() {
			t.Fatal("claim not marked committed after the commit")
		}
		r, err := db.GetIdempotency(t.Context(), cl.Key, now)
		if err != nil {
			t.Fatalf("GetIdempotency: %v", err)
		}
		if r.Status != 0 || r.Response != nil || !bytes.Equal(r.Fingerprint, cl.Fingerprint) ||
			!r.CreatedAt.Equal(now) || !r.ExpiresAt.Equal(now.Add(24*time.Hour)) {
			t.Fatalf("record = %+v, want the claim's, without a response", r)
		}
		// A later transaction of the same request leaves the committed
		// claim alone.
		if err := bumpWith(db, cl, "c", nil); err != nil {
			t.Fatalf("second transaction of the same request: %v", err)
		}
		if got := counter(t, db, "c"); got != 2 {
			t.Fatalf("counter = %d, want 2", got)
		}
	})

	t.Run("RolledBackWithTheTransaction", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		cl := claim("key:a", "k1", now)
		sentinel := domain.E(domain.KindInvalid, "test_invalid", "Invalid.")
		if err := bumpWith(db, cl, "c", sentinel); !errors.Is(err, sentinel) {
			t.Fatalf("WithinTx err = %v, want fn's", err)
		}
		if !cl.Pending() {
			t.Fatal("claim of a rolled-back transaction is no longer pending")
		}
		if _, err := db.GetIdempotency(t.Context(), cl.Key, now); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("GetIdempotency after rollback: err = %v, want ErrNotFound", err)
		}
		// The request may run again and take the key.
		if err := bumpWith(db, cl, "c", nil); err != nil || !cl.Committed() {
			t.Fatalf("retry: err = %v, committed = %v", err, cl.Committed())
		}
	})

	t.Run("TakenKeyRollsBackTheWork", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		if err := bumpWith(db, claim("key:a", "k1", now), "c", nil); err != nil {
			t.Fatal(err)
		}
		twin := claim("key:a", "k1", now.Add(time.Second))
		if err := bumpWith(db, twin, "c", nil); !errors.Is(err, ports.ErrIdempotencyKeyTaken) {
			t.Fatalf("second claim of the key: err = %v, want ErrIdempotencyKeyTaken", err)
		}
		if !twin.Taken() {
			t.Fatal("second claim not marked taken")
		}
		// The request whose claim was taken cannot commit work later.
		if err := bumpWith(db, twin, "c", nil); !errors.Is(err, ports.ErrIdempotencyKeyTaken) {
			t.Fatalf("transaction after the claim was taken: err = %v, want ErrIdempotencyKeyTaken", err)
		}
		if got := counter(t, db, "c"); got != 1 {
			t.Fatalf("counter = %d, want 1: the second claim's work must roll back", got)
		}
		// Another scope's key of the same name is another key.
		other := claim("key:b", "k1", now)
		if err := bumpWith(db, other, "c", nil); err != nil || !other.Committed() {
			t.Fatalf("same key in another scope: err = %v", err)
		}
	})

	t.Run("ConcurrentClaimsCommitOnce", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = bumpWith(db, claim("user:u", "k1", now), "c", nil)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ports.ErrIdempotencyKeyTaken):
				t.Errorf("concurrent claim: %v", err)
			}
		}
		if got := counter(t, db, "c"); ok != 1 || got != 1 {
			t.Fatalf("%d claims committed, counter = %d; want exactly 1 and 1", ok, got)
		}
	})

	t.Run("SaveResponse", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		cl := claim("ip:h", "k1", now)
		if err := bumpWith(db, cl, "c", nil); err != nil {
			t.Fatal(err)
		}
		body := []byte("sealed response \x00\xff")
		if err := db.SaveIdempotentResponse(t.Context(), cl.Key, 201, body); err != nil {
			t.Fatalf("SaveIdempotentResponse: %v", err)
		}
		r, err := db.GetIdempotency(t.Context(), cl.Key, now)
		if err != nil || r.Status != 201 || !bytes.Equal(r.Response, body) {
			t.Fatalf("record after save = %+v, %v; want 201 and the bytes saved", r, err)
		}
		if err := db.SaveIdempotentResponse(t.Context(), cl.Key, 500, nil); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("second save: err = %v, want ErrNotFound: a stored response never changes", err)
		}
		if err := db.SaveIdempotentResponse(t.Context(), ports.IdempotencyKey{Scope: "ip:h", Key: "never"}, 201, body); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("save of a key never taken: err = %v, want ErrNotFound", err)
		}
		// An empty body is a stored response too.
		empty := claim("ip:h", "k2", now)
		if err := bumpWith(db, empty, "c", nil); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveIdempotentResponse(t.Context(), empty.Key, 204, nil); err != nil {
			t.Fatal(err)
		}
		if r, err := db.GetIdempotency(t.Context(), empty.Key, now); err != nil || r.Status != 204 || len(r.Response) != 0 {
			t.Fatalf("record with an empty response = %+v, %v", r, err)
		}
	})

	t.Run("ConcurrentSavesEachGetTheirOwnResult", func(t *testing.T) {
		// Saves that run at once may share a transaction (sqlstore
		// batches them): each must still store its own response and get
		// its own result, a key without a waiting record failing alone.
		t.Parallel()
		db := open(t)
		const n = 40
		keys := make([]ports.IdempotencyKey, n)
		for i := range keys {
			cl := claim("key:s", fmt.Sprint("k", i), now)
			keys[i] = cl.Key
			if i%4 == 3 {
				keys[i].Key = fmt.Sprint("never", i) // never taken
				continue
			}
			if err := bumpWith(db, cl, "c", nil); err != nil {
				t.Fatal(err)
			}
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				errs[i] = db.SaveIdempotentResponse(t.Context(), keys[i], 200+i, []byte(fmt.Sprint("response ", i)))
			})
		}
		wg.Wait()
		for i, k := range keys {
			if i%4 == 3 {
				if !errors.Is(errs[i], domain.ErrNotFound) {
					t.Errorf("save %d of a key never taken: err = %v, want ErrNotFound", i, errs[i])
				}
				continue
			}
			if errs[i] != nil {
				t.Errorf("save %d: %v", i, errs[i])
				continue
			}
			r, err := db.GetIdempotency(t.Context(), k, now)
			if err != nil || r.Status != 200+i || string(r.Response) != fmt.Sprint("response ", i) {
				t.Errorf("record %d after concurrent saves = status %d %q, %v; want %d and its own bytes", i, r.Status, r.Response, err, 200+i)
			}
		}
	})

	t.Run("ExpiryAndPurge", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		old := now.Add(-48 * time.Hour) // expired a day ago
		for i := range 5 {
			if err := bumpWith(db, claim("key:a", fmt.Sprint("old", i), old.Add(time.Duration(i)*time.Minute)), "c", nil); err != nil {
				t.Fatal(err)
			}
		}
		live := claim("key:a", "live", now)
		if err := bumpWith(db, live, "c", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetIdempotency(t.Context(), ports.IdempotencyKey{Scope: "key:a", Key: "old0"}, now); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("GetIdempotency of an expired key: err = %v, want ErrNotFound", err)
		}
		// An expired key not yet purged may be taken again.
		again := claim("key:a", "old4", now)
		if err := bumpWith(db, again, "c", nil); err != nil || !again.Committed() {
			t.Fatalf("claim of an expired key: err = %v", err)
		}
		for _, want := range []int{2, 2, 0} {
			n, err := db.PurgeIdempotency(t.Context(), now, 2)
			if err != nil || n != want {
				t.Fatalf("PurgeIdempotency(limit 2) = %d, %v; want %d", n, err, want)
			}
		}
		for _, k := range []string{"live", "old4"} {
			if _, err := db.GetIdempotency(t.Context(), ports.IdempotencyKey{Scope: "key:a", Key: k}, now); err != nil {
				t.Fatalf("unexpired key %s after purge: %v", k, err)
			}
		}
		if n, err := db.PurgeIdempotency(t.Context(), now.Add(25*time.Hour), 10); err != nil || n != 2 {
			t.Fatalf("PurgeIdempotency a day later = %d, %v; want 2", n, err)
		}
	})
}
