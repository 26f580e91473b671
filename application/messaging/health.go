package messaging

import (
	"context"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// MailHealth sums up a workspace's unsent mail for its overview: how many
// messages wait, failed or died, and when the oldest waiting one was
// queued, from one query over unsent messages only (admins and owners,
// who may read the outbox).
func (s *Service) MailHealth(ctx context.Context, p domain.Principal, ref string) (_ ports.OutboxHealth, err error) {
	ctx, end := usecase.Start(ctx, "messaging.MailHealth")
	defer end(&err)
	var h ports.OutboxHealth
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermMessagesRead)
		if err != nil {
			return err
		}
		h, err = st.Outbox().Health(ctx, w.ID())
		return err
	})
	return h, err
}
