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

func TestInstanceIsCreatedOnceAndKept(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	db := sqlitetest.New(t)
	svc := system.NewService(db, db, ports.ClockFunc(func() time.Time { return now }))

	first, err := svc.Instance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !domain.ValidID("ins", first.ID()) || !first.CreatedAt().Equal(now) {
		t.Fatalf("first instance = %s %v", first.ID(), first.CreatedAt())
	}
	now = now.Add(time.Hour)
	second, err := svc.Instance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if second.ID() != first.ID() || !second.CreatedAt().Equal(first.CreatedAt()) {
		t.Fatalf("second call made a new instance: %s, want %s", second.ID(), first.ID())
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
