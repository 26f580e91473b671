package messaging

import (
	"context"
	"fmt"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchDelivery = domain.ErrNotFound.WithMessage("No such delivery.")

// ListDeliveries is an endpoint's delivery log, newest first, only the
// deliveries in status when it is not "" (pending, sent, failed or dead;
// anything else is 422), for admins and owners and keys with
// webhooks:read. An endpoint of another workspace is not found, rather
// than an empty log.
func (s *Service) ListDeliveries(ctx context.Context, p domain.Principal, ref string, id domain.WebhookID, status string, page ports.Page) (_ []domain.WebhookDelivery, next string, err error) {
	ctx, end := usecase.Start(ctx, "messaging.ListDeliveries")
	defer end(&err)
	var filter *domain.OutboxStatus
	if status != "" {
		st, err := domain.ParseOutboxStatus(status)
		if err != nil {
			return nil, "", err
		}
		filter = &st
	}
	var ds []domain.WebhookDelivery
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, _, err := s.webhookOf(ctx, st, p, ref, domain.PermWebhooksRead, id)
		if err != nil {
			return err
		}
		ds, next, err = st.Deliveries().List(ctx, w.ID(), id, filter, page)
		return err
	})
	return ds, next, err
}

// GetDelivery returns one delivery of an endpoint with its attempts
// (admins and owners; keys with webhooks:read).
func (s *Service) GetDelivery(ctx context.Context, p domain.Principal, ref string, id domain.WebhookID, did domain.DeliveryID) (_ domain.WebhookDelivery, err error) {
	ctx, end := usecase.Start(ctx, "messaging.GetDelivery")
	defer end(&err)
	var d domain.WebhookDelivery
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermWebhooksRead)
		if err != nil {
			return err
		}
		d, err = getDelivery(ctx, st, w.ID(), id, did)
		return err
	})
	return d, err
}

func getDelivery(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, id domain.WebhookID, did domain.DeliveryID) (domain.WebhookDelivery, error) {
	if !domain.ValidID(domain.PrefixWebhook, string(id)) || !domain.ValidID(domain.PrefixDelivery, string(did)) {
		return domain.WebhookDelivery{}, errNoSuchDelivery
	}
	return st.Deliveries().Get(ctx, ws, id, did)
}

// Redeliver queues a delivery that ended (sent, failed or dead) again,
// due now and with a fresh retry budget, keeping its event and so its
// webhook-id, which lets the receiver recognise a delivery it already
// processed (admins and owners; keys with webhooks:write). It wakes the
// dispatcher after commit. A pending delivery is a conflict
// (domain.ErrDeliveryPending): it is queued already, and a dispatcher
// may hold it right now. An endpoint that is disabled is refused too
// (domain.ErrWebhookDisabled), as nothing is attempted for it: enable it
// first.
func (s *Service) Redeliver(ctx context.Context, p domain.Principal, ref string, id domain.WebhookID, did domain.DeliveryID) (_ domain.WebhookDelivery, err error) {
	ctx, end := usecase.Start(ctx, "messaging.Redeliver")
	defer end(&err)
	var d domain.WebhookDelivery
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, hook, err := s.webhookOf(ctx, st, p, ref, domain.PermWebhooksWrite, id)
		if err != nil {
			return err
		}
		if d, err = getDelivery(ctx, st, w.ID(), id, did); err != nil {
			return err
		}
		was := d.Status
		if err := d.Redeliver(s.now()); err != nil {
			return err
		}
		if !hook.Enabled() {
			return domain.ErrWebhookDisabled
		}
		if err := st.Deliveries().Save(ctx, d); err != nil {
			return fmt.Errorf("save delivery %s: %w", did, err)
		}
		return s.audit(ctx, st, p, w.ID(), "webhook.redelivered", "delivery", string(did), map[string]string{
			"webhook": string(id), "event": string(d.Event), "status": was.String(),
		})
	})
	if err != nil {
		return domain.WebhookDelivery{}, err
	}
	s.wake()
	return d, nil
}
