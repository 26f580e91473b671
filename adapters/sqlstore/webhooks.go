package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// SKELETON: replaced by the storage work of issue 11; every method fails.
var errTODO = errors.New("sqlstore: webhooks not implemented yet")

type webhookStore struct{ *stores }

func (webhookStore) Add(context.Context, domain.Webhook) error { return errTODO }
func (webhookStore) Get(context.Context, domain.WorkspaceID, domain.WebhookID) (domain.Webhook, error) {
	return domain.Webhook{}, errTODO
}
func (webhookStore) List(context.Context, domain.WorkspaceID, ports.Page) ([]domain.Webhook, string, error) {
	return nil, "", errTODO
}
func (webhookStore) Count(context.Context, domain.WorkspaceID) (int, error) { return 0, errTODO }
func (webhookStore) Save(context.Context, domain.Webhook) error             { return errTODO }
func (webhookStore) Delete(context.Context, domain.WorkspaceID, domain.WebhookID) error {
	return errTODO
}

type deliveryStore struct{ *stores }

func (deliveryStore) Add(context.Context, domain.WebhookDelivery) error { return errTODO }
func (deliveryStore) Claim(context.Context, time.Time, time.Duration, int, int) ([]ports.DueDelivery, error) {
	return nil, errTODO
}
func (deliveryStore) Save(context.Context, domain.WebhookDelivery) error { return errTODO }
func (deliveryStore) Get(context.Context, domain.WorkspaceID, domain.WebhookID, domain.DeliveryID) (domain.WebhookDelivery, error) {
	return domain.WebhookDelivery{}, errTODO
}
func (deliveryStore) List(context.Context, domain.WorkspaceID, domain.WebhookID, *domain.OutboxStatus, ports.Page) ([]domain.WebhookDelivery, string, error) {
	return nil, "", errTODO
}
func (deliveryStore) FailPending(context.Context, domain.WebhookID, string, time.Time) (int, error) {
	return 0, errTODO
}
func (deliveryStore) Depth(context.Context, int) (map[domain.WebhookID]int, error) {
	return nil, errTODO
}
