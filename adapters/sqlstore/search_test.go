package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// A search waits for a free slot, and gives up when its caller does.
func TestSearchesWaitForASlot(t *testing.T) {
	db := openGroupDB(t)
	if cap(db.searches) < 1 {
		t.Fatalf("SQLite searches are not bounded (cap %d)", cap(db.searches))
	}
	search := func(ctx context.Context) error {
		return db.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Entries().ListPublished(ctx, "ws_x", domain.KindPost, ports.PublicFilter{Query: "hello"}, ports.Page{})
			return err
		})
	}
	for range cap(db.searches) {
		db.searches <- struct{}{} // every slot busy
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := search(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("search with every slot busy = %v, want the caller's deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- search(t.Context()) }()
	<-db.searches // one slot frees up
	if err := <-done; err != nil {
		t.Fatalf("search once a slot freed = %v", err)
	}
	if len(db.searches) != cap(db.searches)-1 {
		t.Errorf("the search did not give its slot back: %d of %d held", len(db.searches), cap(db.searches))
	}
}
