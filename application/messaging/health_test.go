package messaging_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
)

// TestMailHealth: the overview's summary counts what waits and since when,
// and sent mail not at all; it needs messages:read like the outbox.
func TestMailHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.submit(t, "ada@example.com", "")
	dispatch(t, f.dispatcher(t, messaging.DispatcherConfig{}), 2)
	f.clock.Add(time.Minute)
	queued := f.clock.Now()
	f.submit(t, "bob@example.com", "")
	f.clock.Add(time.Minute)
	f.submit(t, "cy@example.com", "")

	svc, _ := f.service(domain.PermMessagesRead)
	h, err := svc.MailHealth(t.Context(), someone, "docs")
	if err != nil {
		t.Fatal(err)
	}
	if h.Pending != 4 || h.Failed != 0 || h.Dead != 0 || !h.OldestPending.Equal(queued) {
		t.Errorf("MailHealth = %+v, want 4 pending since %s", h, queued)
	}
	svc, _ = f.service(domain.PermWorkspaceRead)
	if _, err := svc.MailHealth(t.Context(), someone, "docs"); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("MailHealth without messages:read = %v, want forbidden", err)
	}
}
