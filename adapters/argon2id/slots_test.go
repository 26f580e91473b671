package argon2id

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestSlotsBoundConcurrency fills every hashing slot and checks that a
// further hash waits, gives up with its context, and then proceeds once a
// slot frees.
func TestSlotsBoundConcurrency(t *testing.T) {
	t.Parallel()
	h := New(Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if cap(h.slots) != runtime.NumCPU() {
		t.Fatalf("%d slots, want runtime.NumCPU() = %d", cap(h.slots), runtime.NumCPU())
	}
	for range cap(h.slots) {
		h.slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "pw"); domain.KindOf(err) != domain.KindUnavailable {
		t.Fatalf("Hash with every slot taken: %v, want kind unavailable", err)
	}
	if _, _, err := h.Verify(ctx, "pw", "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$c29tZWtleXNvbWVrZXlzb21la2V5c29tZWtleTEyMw"); domain.KindOf(err) != domain.KindUnavailable {
		t.Fatalf("Verify with every slot taken: %v, want kind unavailable", err)
	}
	done := make(chan error, 1)
	go func() { _, err := h.Hash(t.Context(), "pw"); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Hash ran with every slot taken (err %v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	<-h.slots
	if err := <-done; err != nil {
		t.Fatalf("Hash after a slot freed: %v", err)
	}
}
