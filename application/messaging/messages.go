package messaging

import (
	"context"
	"fmt"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// ListMessages lists the mail a workspace has queued, newest first,
// optionally only that with one status (admins and owners: messages hold
// every submitter's address, so no API key scope grants this).
func (s *Service) ListMessages(ctx context.Context, p domain.Principal, ref string, status *domain.OutboxStatus, page ports.Page) (_ []domain.OutboxMessage, next string, err error) {
	ctx, end := usecase.Start(ctx, "messaging.ListMessages")
	defer end(&err)
	var ms []domain.OutboxMessage
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermMessagesRead)
		if err != nil {
			return err
		}
		ms, next, err = st.Outbox().List(ctx, w.ID(), status, page)
		return err
	})
	return ms, next, err
}

// RetryMessage makes a failed or dead message due again now (admins and
// owners), keeping its attempts, and wakes the dispatcher. A sent message
// is a conflict (already_sent). A pending message is left as it is: it is
// queued already, and a dispatcher may hold it right now, whose lease a
// save from here would release.
func (s *Service) RetryMessage(ctx context.Context, p domain.Principal, ref string, id string) (_ domain.OutboxMessage, err error) {
	ctx, end := usecase.Start(ctx, "messaging.RetryMessage")
	defer end(&err)
	var m domain.OutboxMessage
	retried := false
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermMessagesWrite)
		if err != nil {
			return err
		}
		if m, err = st.Outbox().Get(ctx, w.ID(), id); err != nil {
			return err
		}
		if m.Status == domain.OutboxPending {
			return nil
		}
		was := m.Status
		if err := m.Retry(s.now()); err != nil {
			return err
		}
		if err := st.Outbox().Save(ctx, m); err != nil {
			return fmt.Errorf("save message %s: %w", id, err)
		}
		retried = true
		return s.audit(ctx, st, p, w.ID(), "message.retried", "message", id, map[string]string{"status": was.String()})
	})
	if err != nil {
		return domain.OutboxMessage{}, err
	}
	if retried {
		s.wake()
	}
	return m, nil
}
