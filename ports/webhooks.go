package ports

import (
	"context"
	"time"

	"github.com/keelhq/keel/domain"
)

// WebhookStore keeps each workspace's webhook endpoints, their secrets
// included.
type WebhookStore interface {
	// Add stores a new endpoint.
	Add(ctx context.Context, w domain.Webhook) error
	// Get returns an endpoint of ws; domain.ErrNotFound when ws has none
	// with that ID. In a write transaction it holds the endpoint until
	// commit, so that concurrent outcomes read, change and save it one
	// after the other (one disables it, and mails its admins, once).
	Get(ctx context.Context, ws domain.WorkspaceID, id domain.WebhookID) (domain.Webhook, error)
	// List returns the endpoints of ws, newest first.
	List(ctx context.Context, ws domain.WorkspaceID, p Page) ([]domain.Webhook, string, error)
	// Count returns how many endpoints ws has. In a write transaction
	// concurrent counts of ws wait for each other's commit, so that a limit
	// checked by counting holds.
	Count(ctx context.Context, ws domain.WorkspaceID) (int, error)
	// Save stores every field of w; domain.ErrNotFound when it is gone.
	Save(ctx context.Context, w domain.Webhook) error
	// Delete removes an endpoint of ws and its deliveries;
	// domain.ErrNotFound.
	Delete(ctx context.Context, ws domain.WorkspaceID, id domain.WebhookID) error
}

// DueDelivery is a claimed delivery with what sending it needs: its
// endpoint as stored at the claim, and its event. Event.Data is already
// redacted when the submission it carried was deleted meanwhile.
type DueDelivery struct {
	Delivery domain.WebhookDelivery
	Webhook  domain.Webhook
	Event    domain.Event
}

// DeliveryStore is the webhooks' half of the outbox. EventStore.Add
// queues one pending delivery per enabled endpoint of the event's
// workspace that subscribes to its type (domain.Webhook.Subscribes), in
// the event's transaction, carrying the traceparent of ctx.
type DeliveryStore interface {
	// Add queues d; the test endpoint uses it, as webhook.test goes to one
	// endpoint only.
	Add(ctx context.Context, d domain.WebhookDelivery) error
	// Claim leases up to limit due pending deliveries of enabled endpoints
	// until now+lease, at most perWebhook per endpoint counting those it
	// still holds leased, so that a slow endpoint cannot take every slot.
	// Concurrent claims, on any number of nodes, take disjoint deliveries.
	// A delivery whose event retention deleted is claimed with a zero
	// Event (ID ""): the caller ends it.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit, perWebhook int) ([]DueDelivery, error)
	// Save stores a delivery's outcome and releases its lease.
	Save(ctx context.Context, d domain.WebhookDelivery) error
	// Get returns a delivery of endpoint w of ws; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, w domain.WebhookID, id domain.DeliveryID) (domain.WebhookDelivery, error)
	// List returns the deliveries of endpoint w of ws, newest first, only
	// those in status when it is not nil.
	List(ctx context.Context, ws domain.WorkspaceID, w domain.WebhookID, status *domain.OutboxStatus, p Page) ([]domain.WebhookDelivery, string, error)
	// FailPending ends every pending delivery of endpoint w with a last
	// attempt at now that says why (the endpoint was disabled), and
	// returns how many: a disabled endpoint receives nothing more, and
	// its log says so. They can be redelivered once it is enabled again.
	FailPending(ctx context.Context, w domain.WebhookID, reason string, now time.Time) (int, error)
	// Depth returns the number of pending deliveries per endpoint, for the
	// endpoints with the most, at most limit of them.
	Depth(ctx context.Context, limit int) (map[domain.WebhookID]int, error)
}

// WebhookResult is what a receiver answered.
type WebhookResult struct {
	Status  int
	Body    []byte // at most domain.MaxDeliveryBodyLog bytes, for the log
	Latency time.Duration
}

// WebhookSender posts signed deliveries to endpoints' URLs.
type WebhookSender interface {
	// Post sends body (JSON) to rawURL with the Standard Webhooks headers
	// h and the trace context of ctx. A nil error means the receiver
	// answered with Result.Status, whatever it is. An error means no
	// usable answer: one whose domain.KindOf is domain.KindForbidden was
	// refused before anything was sent (scheme, or an address Keel must
	// not call) and is final; any other (timeout, network, a redirect,
	// which is not followed and comes with its 3xx Result) may be retried.
	Post(ctx context.Context, rawURL string, h domain.WebhookHeaders, body []byte) (WebhookResult, error)
}
