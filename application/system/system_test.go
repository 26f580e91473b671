package system_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type downPinger struct{}

func (downPinger) Ping(context.Context) error { return domain.ErrUnavailable }

// TestInstanceIsCreatedOnceAndKept asks two services on one database, as
// two nodes or a restart would, and reads the store itself: an answer kept
// in one service's memory, or one that was never stored, fails it.
func TestInstanceIsCreatedOnceAndKept(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	db := sqlitetest.New(t)
	clock := ports.ClockFunc(func() time.Time { return now })

	first, err := system.NewService(db, db, clock).Instance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !domain.ValidID("ins", first.ID()) || !first.CreatedAt().Equal(now) {
		t.Fatalf("first instance = %s %v", first.ID(), first.CreatedAt())
	}
	var stored domain.Instance
	err = db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		stored, err = st.Instance().Get(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("read the stored instance: %v", err)
	}
	if stored.ID() != first.ID() || !stored.CreatedAt().Equal(first.CreatedAt()) {
		t.Fatalf("stored instance = %s %v, want the returned %s %v", stored.ID(), stored.CreatedAt(), first.ID(), first.CreatedAt())
	}

	now = now.Add(time.Hour)
	second, err := system.NewService(db, db, clock).Instance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if second.ID() != first.ID() || !second.CreatedAt().Equal(first.CreatedAt()) {
		t.Fatalf("another service made a new instance: %s %v, want %s %v", second.ID(), second.CreatedAt(), first.ID(), first.CreatedAt())
	}
}

func TestReady(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	if err := system.NewService(db, db, ports.ClockFunc(time.Now)).Ready(t.Context()); err != nil {
		t.Fatalf("Ready with a live database: %v", err)
	}
	err := system.NewService(db, downPinger{}, ports.ClockFunc(time.Now)).Ready(t.Context())
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Ready with a dead database = %v, want unavailable", err)
	}
}
