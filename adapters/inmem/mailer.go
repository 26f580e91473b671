package inmem

import (
	"context"
	"fmt"
	"sync"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var _ ports.Mailer = (*Mailer)(nil)

// errRelayUnavailable is what a failing send returns. It carries the same
// code as the SMTP adapter's error, so tests written against the fake match
// the real thing with errors.Is.
var errRelayUnavailable = domain.E(domain.KindUnavailable, "mail_relay_unavailable", "The mail relay is unavailable; try again later.")

// Mailer is a ports.Mailer that keeps sent messages in memory, for use-case
// and dispatcher tests. It is safe for concurrent use; the zero value is
// ready to use.
type Mailer struct {
	mu       sync.Mutex
	sent     []domain.Message
	failNext int
}

// NewMailer returns an empty Mailer.
func NewMailer() *Mailer { return &Mailer{} }

// Send records m. It returns a KindUnavailable error, recording nothing,
// when ctx is done or while sends are set to fail by FailNext.
func (f *Mailer) Send(ctx context.Context, m domain.Message) error {
	if err := ctx.Err(); err != nil {
		return domain.ErrUnavailable.WithCause(fmt.Errorf("send message %s: %w", m.ID(), err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext > 0 {
		f.failNext--
		return errRelayUnavailable.WithCause(fmt.Errorf("send message %s: failure injected by FailNext", m.ID()))
	}
	f.sent = append(f.sent, m)
	return nil
}

// FailNext makes the next n sends fail with a temporary error, as a relay
// that is down would, so tests can watch the dispatcher retry.
func (f *Mailer) FailNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = n
}

// Sent returns the messages sent so far, oldest first. A message sent
// twice appears twice, as a resend would reach a real inbox twice.
func (f *Mailer) Sent() []domain.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]domain.Message(nil), f.sent...)
}
