package sqlitetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func TestNewIsMigratedAndOwnedByOneTest(t *testing.T) {
	a, b := sqlitetest.New(t), sqlitetest.New(t)
	status, err := a.MigrationStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(status) == 0 {
		t.Fatal("no migrations known")
	}
	for _, m := range status {
		if !m.Applied {
			t.Errorf("migration %d (%s) is not applied", m.Version, m.Name)
		}
	}
	u, err := domain.NewUser(domain.NewUserInput{Email: "ada@example.com", Name: "Ada", PasswordHash: "x"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Users().Add(ctx, u) }); err != nil {
		t.Fatal(err)
	}
	var inB bool
	if err := b.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		inB, err = st.Users().Any(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inB {
		t.Error("a user added to one test database shows in another")
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		sqlitetest.New(b)
	}
}

func TestHoldWriteMakesWritersWaitAndReadersNot(t *testing.T) {
	db := sqlitetest.New(t)
	release := sqlitetest.HoldWrite(t, db)
	bump := func(ctx context.Context, st ports.Stores) error {
		_, err := st.Instance().BumpCounter(ctx, "other")
		return err
	}
	ctx, cancel := context.WithCancel(t.Context())
	writer := make(chan error, 1)
	go func() { writer <- db.WithinTx(ctx, bump) }()
	// A read answers while the writer waits: the read path never queues.
	if err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		_, err := st.Instance().Counter(ctx, "other")
		return err
	}); err != nil {
		t.Fatalf("read while the write lock is held: %v", err)
	}
	select {
	case err := <-writer:
		t.Fatalf("a writer finished while the write lock was held: %v", err)
	default:
	}
	cancel()
	if err := <-writer; err == nil {
		t.Fatal("a cancelled writer behind the held lock reported success")
	}
	release()
	if err := db.WithinTx(t.Context(), bump); err != nil {
		t.Fatalf("write after release: %v", err)
	}
}
