package messaging

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchWebhook = domain.ErrNotFound.WithMessage("No such webhook.")

// webhookDisabledReason is the last attempt of each pending delivery a
// user's disabling ends: the log says why it stopped.
const webhookDisabledReason = "The webhook was disabled; redeliver once it is enabled again."

// CreatedWebhook is a new endpoint and its signing secret's text
// (whsec_…). Only this answer and a rotation show a secret.
type CreatedWebhook struct {
	Webhook domain.Webhook
	Secret  string
}

// RotatedSecret is an endpoint after a rotation: its new secret's text,
// and when the previous secret stops signing beside it.
type RotatedSecret struct {
	Webhook           domain.Webhook
	Secret            string
	PreviousExpiresAt time.Time
}

// CreateWebhook adds an endpoint that receives the workspace's events
// (admins and owners; keys with webhooks:write). The input is checked after
// authorization and before the transaction, which counts the workspace's
// endpoints (at most domain.MaxWebhooksPerWorkspace: ErrTooManyWebhooks),
// writes the endpoint and its audit record. The URL's address is not
// checked here: a name resolves at delivery time, where the sender checks
// the address it connects to.
func (s *Service) CreateWebhook(ctx context.Context, p domain.Principal, ref string, in domain.WebhookInput) (_ CreatedWebhook, err error) {
	ctx, end := usecase.Start(ctx, "messaging.CreateWebhook")
	defer end(&err)
	var w domain.Workspace
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		w, err = s.workspace(ctx, st, p, ref, domain.PermWebhooksWrite)
		return err
	})
	if err != nil {
		return CreatedWebhook{}, err
	}
	hook, err := domain.NewWebhook(w.ID(), in, s.allowHTTP, s.now())
	if err != nil {
		return CreatedWebhook{}, err
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		// Authorized again: the membership may have ended meanwhile.
		if _, err := s.workspace(ctx, st, p, w.ID().String(), domain.PermWebhooksWrite); err != nil {
			return err
		}
		n, err := st.Webhooks().Count(ctx, w.ID())
		if err != nil {
			return fmt.Errorf("count webhooks: %w", err)
		}
		if n >= domain.MaxWebhooksPerWorkspace {
			return domain.ErrTooManyWebhooks
		}
		if err := st.Webhooks().Add(ctx, hook); err != nil {
			return fmt.Errorf("add webhook: %w", err)
		}
		return s.audit(ctx, st, p, w.ID(), "webhook.created", "webhook", string(hook.ID()), webhookDetails(hook))
	})
	if err != nil {
		return CreatedWebhook{}, err
	}
	return CreatedWebhook{Webhook: hook, Secret: hook.Secret().Text()}, nil
}

// webhookDetails is what the audit log keeps of an endpoint: where it
// points, without the URL's query, which may hold a receiver's token, and
// what it receives. Never a secret.
func webhookDetails(w domain.Webhook) map[string]string {
	d := map[string]string{"events": strings.Join(w.Events(), " "), "enabled": fmt.Sprint(w.Enabled())}
	if u, err := url.Parse(w.URL()); err == nil {
		d["url"] = u.Scheme + "://" + u.Host + u.EscapedPath()
	}
	return d
}

// ListWebhooks lists a workspace's endpoints, newest first (admins and
// owners; keys with webhooks:read). Secrets are not shown.
func (s *Service) ListWebhooks(ctx context.Context, p domain.Principal, ref string, page ports.Page) (_ []domain.Webhook, next string, err error) {
	ctx, end := usecase.Start(ctx, "messaging.ListWebhooks")
	defer end(&err)
	var hooks []domain.Webhook
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermWebhooksRead)
		if err != nil {
			return err
		}
		hooks, next, err = st.Webhooks().List(ctx, w.ID(), page)
		return err
	})
	return hooks, next, err
}

// GetWebhook returns one endpoint (admins and owners; keys with
// webhooks:read). An endpoint of another workspace is not found.
func (s *Service) GetWebhook(ctx context.Context, p domain.Principal, ref string, id domain.WebhookID) (_ domain.Webhook, err error) {
	ctx, end := usecase.Start(ctx, "messaging.GetWebhook")
	defer end(&err)
	var hook domain.Webhook
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		_, hook, err = s.webhookOf(ctx, st, p, ref, domain.PermWebhooksRead, id)
		return err
	})
	return hook, err
}

// webhookOf authorizes p for perm in the workspace ref and reads its
// endpoint id: the start of every use case about one endpoint.
func (s *Service) webhookOf(ctx context.Context, st ports.Stores, p domain.Principal, ref string, perm domain.Permission, id domain.WebhookID) (domain.Workspace, domain.Webhook, error) {
	w, err := s.workspace(ctx, st, p, ref, perm)
	if err != nil {
		return domain.Workspace{}, domain.Webhook{}, err
	}
	hook, err := getWebhook(ctx, st, w.ID(), id)
	return w, hook, err
}

// getWebhook reads an endpoint of ws; an ID that is not a webhook's is
// not found without a query.
func getWebhook(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, id domain.WebhookID) (domain.Webhook, error) {
	if !domain.ValidID(domain.PrefixWebhook, string(id)) {
		return domain.Webhook{}, errNoSuchWebhook
	}
	return st.Webhooks().Get(ctx, ws, id)
}

// UpdateWebhook changes the fields of an endpoint that patch sets (admins
// and owners; keys with webhooks:write). The patch is checked against the
// stored endpoint before the transaction, which applies it again to the
// endpoint as it then is, so that a failure the dispatcher recorded
// meanwhile is not overwritten. Enabling an endpoint clears its failure
// state; disabling one ends its pending deliveries as failed, with a
// last attempt that says why, so that they can be redelivered later
// rather than all arriving at once, stale, when it is enabled again.
func (s *Service) UpdateWebhook(ctx context.Context, p domain.Principal, ref string, id domain.WebhookID, patch domain.WebhookPatch) (_ domain.Webhook, err error) {
	ctx, end := usecase.Start(ctx, "messaging.UpdateWebhook")
	defer end(&err)
	var w domain.Workspace
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if w, err = s.workspace(ctx, st, p, ref, domain.PermWebhooksWrite); err != nil {
			return err
		}
		hook, err := getWebhook(ctx, st, w.ID(), id)
		if err != nil {
			return err
		}
		return hook.Update(patch, s.allowHTTP, s.now())
	})
	if err != nil {
		return domain.Webhook{}, err
	}
	var hook domain.Webhook
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if _, err := s.workspace(ctx, st, p, w.ID().String(), domain.PermWebhooksWrite); err != nil {
			return err
		}
		if hook, err = getWebhook(ctx, st, w.ID(), id); err != nil {
			return err
		}
		wasEnabled := hook.Enabled()
		if err := hook.Update(patch, s.allowHTTP, s.now()); err != nil {
			return err
		}
		if err := st.Webhooks().Save(ctx, hook); err != nil {
			return fmt.Errorf("save webhook %s: %w", id, err)
		}
		if wasEnabled && !hook.Enabled() {
			if _, err := st.Deliveries().FailPending(ctx, id, webhookDisabledReason, s.now()); err != nil {
				return fmt.Errorf("end pending deliveries of %s: %w", id, err)
			}
		}
		return s.audit(ctx, st, p, w.ID(), "webhook.updated", "webhook", string(id), webhookDetails(hook))
	})
	if err != nil {
		return domain.Webhook{}, err
	}
	return hook, nil
}

// DeleteWebhook removes an endpoint and its delivery log (admins and
// owners; keys with webhooks:write). Its pending deliveries go with it.
func (s *Service) DeleteWebhook(ctx context.Context, p domain.Principal, ref string, id domain.WebhookID) (err error) {
	ctx, end := usecase.Start(ctx, "messaging.DeleteWebhook")
	defer end(&err)
	return s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, hook, err := s.webhookOf(ctx, st, p, ref, domain.PermWebhooksWrite, id)
		if err != nil {
			return err
		}
		if err := st.Webhooks().Delete(ctx, w.ID(), id); err != nil {
			return fmt.Errorf("delete webhook %s: %w", id, err)
		}
		return s.audit(ctx, st, p, w.ID(), "webhook.deleted", "webhook", string(id), webhookDetails(hook))
	})
}

// TestWebhook sends a webhook.test event to one endpoint (admins and
// owners; keys with webhooks:write): it writes the event and one delivery
// to that endpoint alone in one transaction, and wakes the dispatcher
// after commit. The delivery carries the request's traceparent, as a
// change's deliveries do. A disabled endpoint is refused
// (domain.ErrWebhookDisabled): it would never be attempted.
func (s *Service) TestWebhook(ctx context.Context, p domain.Principal, ref string, id domain.WebhookID) (_ domain.WebhookDelivery, err error) {
	ctx, end := usecase.Start(ctx, "messaging.TestWebhook")
	defer end(&err)
	traceParent := traceParentOf(ctx)
	var d domain.WebhookDelivery
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, hook, err := s.webhookOf(ctx, st, p, ref, domain.PermWebhooksWrite, id)
		if err != nil {
			return err
		}
		if !hook.Enabled() {
			return domain.ErrWebhookDisabled
		}
		now := s.now()
		e := domain.WebhookTestEvent(hook, now)
		if err := st.Events().Add(ctx, e); err != nil {
			return fmt.Errorf("add %s event: %w", e.Type, err)
		}
		d = domain.NewDelivery(e, hook.ID(), traceParent, now)
		if err := st.Deliveries().Add(ctx, d); err != nil {
			return fmt.Errorf("queue delivery of %s: %w", e.ID, err)
		}
		return s.audit(ctx, st, p, w.ID(), "webhook.tested", "webhook", string(id), map[string]string{"delivery": string(d.ID)})
	})
	if err != nil {
		return domain.WebhookDelivery{}, err
	}
	s.wake()
	return d, nil
}

// traceParentOf is the W3C traceparent of ctx's span, "" without one: a
// delivery keeps it so that its attempts, later and maybe on another
// node, join the request's trace.
func traceParentOf(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// RotateWebhookSecret gives an endpoint a new signing secret (admins and
// owners; keys with webhooks:write). The previous one keeps signing beside
// it for domain.WebhookSecretOverlap, so that a receiver can switch to the
// new secret without refusing a delivery; a second rotation within that
// time retires the oldest at once.
func (s *Service) RotateWebhookSecret(ctx context.Context, p domain.Principal, ref string, id domain.WebhookID) (_ RotatedSecret, err error) {
	ctx, end := usecase.Start(ctx, "messaging.RotateWebhookSecret")
	defer end(&err)
	var hook domain.Webhook
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		var w domain.Workspace
		if w, hook, err = s.webhookOf(ctx, st, p, ref, domain.PermWebhooksWrite, id); err != nil {
			return err
		}
		hook.RotateSecret(s.now())
		if err := st.Webhooks().Save(ctx, hook); err != nil {
			return fmt.Errorf("save webhook %s: %w", id, err)
		}
		return s.audit(ctx, st, p, w.ID(), "webhook.secret_rotated", "webhook", string(id), nil)
	})
	if err != nil {
		return RotatedSecret{}, err
	}
	return RotatedSecret{Webhook: hook, Secret: hook.Secret().Text(), PreviousExpiresAt: *hook.PreviousUntil()}, nil
}
