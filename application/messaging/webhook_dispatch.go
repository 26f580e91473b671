package messaging

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Webhook delivery defaults.
const (
	// DefaultWebhookConcurrency is how many deliveries one dispatcher has
	// in flight at once.
	DefaultWebhookConcurrency = 32
	// DefaultWebhookPerEndpoint is how many of them one endpoint may
	// hold, so that a slow endpoint leaves the other slots to the others.
	DefaultWebhookPerEndpoint = 4
	// DefaultWebhookTimeout bounds one attempt: the issue's "a 2xx within
	// 10 s", which the HTTP client enforces too.
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultWebhookLease must outlast an attempt and its save, so it is
	// at least twice the timeout: else a slow receiver's delivery could be
	// claimed and sent again by another dispatcher.
	DefaultWebhookLease = 30 * time.Second

	// KindWebhookDisabled is the outbox kind of the mail that tells a
	// workspace's admins and owners an endpoint was disabled.
	KindWebhookDisabled = "webhook_disabled"

	// depthEndpoints and depthTimeout bound the queue-depth gauge's read
	// at collection time: the endpoints with the most pending deliveries,
	// and a short wait, so that a slow database delays no scrape for long.
	depthEndpoints = 100
	depthTimeout   = 2 * time.Second
	// errEventGone is the attempt error of a delivery whose event
	// retention deleted before it was sent.
	errEventGone = "event no longer kept"
)

// webhooks is the dispatcher's webhook queue: its sender, settings and
// instruments.
type webhooks struct {
	sender       ports.WebhookSender
	policy       domain.RetryPolicy
	slots        int
	perEndpoint  int
	lease        time.Duration
	timeout      time.Duration
	disableAfter time.Duration
	mailFrom     string

	meter      metric.Meter
	deliveries metric.Int64Counter
	latency    metric.Float64Histogram
	depth      metric.Int64ObservableGauge
}

func newWebhooks(cfg DispatcherConfig, m metric.Meter) (*webhooks, error) {
	w := &webhooks{
		sender: cfg.Webhooks, policy: cfg.WebhookPolicy, slots: cfg.WebhookConcurrency, perEndpoint: cfg.WebhookPerEndpoint,
		lease: orDefault(cfg.WebhookLease, DefaultWebhookLease), timeout: orDefault(cfg.WebhookTimeout, DefaultWebhookTimeout),
		disableAfter: orDefault(cfg.DisableAfter, domain.DefaultWebhookDisableAfter), mailFrom: cfg.MailFrom, meter: m,
	}
	if w.policy == (domain.RetryPolicy{}) {
		w.policy = domain.DefaultWebhookRetryPolicy
	}
	if err := checkPolicy(w.policy); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	if w.slots <= 0 {
		w.slots = DefaultWebhookConcurrency
	}
	if w.perEndpoint <= 0 {
		w.perEndpoint = DefaultWebhookPerEndpoint
	}
	if 2*w.timeout > w.lease {
		return nil, fmt.Errorf("webhook timeout %s is more than half the webhook lease %s: a slow receiver could be sent a delivery twice", w.timeout, w.lease)
	}
	if _, err := mail.ParseAddress(w.mailFrom); err != nil {
		return nil, fmt.Errorf("webhooks: the sender of the endpoint-disabled mail %q is not an address: %w", w.mailFrom, err)
	}
	var errs [3]error
	w.deliveries, errs[0] = m.Int64Counter("keel.webhook.deliveries", metric.WithUnit("{attempt}"),
		metric.WithDescription("Webhook delivery attempts, by outcome: sent (2xx), retry (will retry), failed (permanent) or dead (out of attempts)."))
	w.latency, errs[1] = m.Float64Histogram("keel.webhook.latency", metric.WithUnit("s"),
		metric.WithDescription("Time a receiver took to answer a delivery attempt, or to fail it."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	w.depth, errs[2] = m.Int64ObservableGauge("keel.webhook.queue_depth", metric.WithUnit("{delivery}"),
		metric.WithDescription("Pending deliveries per endpoint (webhook_id), for the endpoints with the most."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("webhook metrics: %w", err)
	}
	return w, nil
}

// observeQueueDepth reports keel.webhook.queue_depth while Run runs: the
// callback reads DeliveryStore.Depth when the metrics are collected.
func (d *Dispatcher) observeQueueDepth() (func(), error) {
	w := d.hooks
	reg, err := w.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, depthTimeout)
		defer cancel()
		var depth map[domain.WebhookID]int
		// A read: on SQLite a write transaction would queue the scrape
		// behind every writer.
		err := d.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
			depth, err = st.Deliveries().Depth(ctx, depthEndpoints)
			return err
		})
		if err != nil {
			return fmt.Errorf("webhook queue depth: %w", err)
		}
		for id, n := range depth {
			o.ObserveInt64(w.depth, int64(n), metric.WithAttributes(attribute.String("webhook_id", string(id))))
		}
		return nil
	}, w.depth)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}

// claimWebhooks is the webhook queue's claim: up to limit due deliveries,
// at most perEndpoint of them (counting those this or another dispatcher
// still holds) for any one endpoint.
func (d *Dispatcher) claimWebhooks(ctx context.Context, limit int) ([]func(context.Context), error) {
	w := d.hooks
	var batch []ports.DueDelivery
	err := d.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		batch, err = st.Deliveries().Claim(ctx, d.clock.Now(), w.lease, limit, w.perEndpoint)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	sends := make([]func(context.Context), len(batch))
	for i, due := range batch {
		sends[i] = func(ctx context.Context) { d.deliverWebhook(ctx, due) }
	}
	return sends, nil
}

// deliverWebhook makes one attempt at a delivery and saves the outcome
// with what it means for the endpoint. Its span is a child of the request
// that caused the event, when the delivery kept that request's
// traceparent, and the sender passes the span on to the receiver as
// traceparent: one trace runs from the partner's change to its receiver.
// The span is a client span, as the request it makes is.
func (d *Dispatcher) deliverWebhook(ctx context.Context, due ports.DueDelivery) {
	w, dl := d.hooks, due.Delivery
	if dl.TraceParent != "" {
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": dl.TraceParent})
	}
	ctx, span := d.tracer.Start(ctx, "messaging.DeliverWebhook", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("keel.delivery.id", string(dl.ID)),
		attribute.String("keel.webhook.id", string(dl.Webhook)),
		attribute.String("keel.event.id", string(dl.Event)),
		attribute.String("keel.event.type", dl.EventType),
		attribute.Int("keel.delivery.attempt", dl.AttemptCount+1),
		attribute.String("keel.workspace.id", string(dl.Workspace)),
	))
	defer span.End()

	a, outcome, posted := d.postWebhook(ctx, due)
	dl.Record(a, outcome, w.policy)
	status := webhookOutcome(dl.Status)
	w.deliveries.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", status)))
	if posted {
		w.latency.Record(ctx, a.Latency.Seconds())
	}
	span.SetAttributes(attribute.String("keel.delivery.status", dl.Status.String()), attribute.Int("keel.delivery.status_code", a.StatusCode))
	args := []any{"delivery", dl.ID, "webhook", dl.Webhook, "event", dl.Event, "attempt", dl.AttemptCount, "status_code", a.StatusCode, "outcome", status}
	switch {
	case outcome == domain.DeliveryOK:
	case dl.Status == domain.OutboxPending:
		span.SetStatus(codes.Error, "delivery failed: retry")
		d.log.WarnContext(ctx, "webhook delivery failed; will retry", append(args, "err", a.Error, "next_attempt_at", dl.NextAttemptAt)...)
	default:
		span.SetStatus(codes.Error, "delivery failed: "+status)
		d.log.ErrorContext(ctx, "webhook delivery failed; giving up", append(args, "err", a.Error)...)
	}

	// The outcome is saved even when shutdown has begun: an unsaved
	// success is a second send once the lease runs out.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	disabled, err := d.saveWebhookOutcome(saveCtx, due, dl, outcome, a.At)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		// The endpoint was deleted while its delivery was in flight, and
		// its deliveries with it: there is nothing left to record.
		d.log.InfoContext(ctx, "webhook deleted during its delivery; outcome dropped", args...)
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, "outcome not saved")
		d.log.ErrorContext(ctx, "saving a webhook delivery outcome failed; the delivery is tried again when its lease expires",
			append(args, "lease", w.lease.String(), "err", err)...)
	case disabled != nil:
		d.log.WarnContext(ctx, "webhook endpoint disabled", "webhook", disabled.ID(), "workspace", disabled.Workspace(),
			"reason", disabled.DisabledReason(), "failing_since", disabled.FailingSince())
		// The admins' mail is queued: send it now, not at the next poll.
		d.mail.wakeUp()
	}
}

// postWebhook makes the attempt: it signs the event's payload with the
// endpoint's secrets (two during a rotation) and posts it. posted is false
// when nothing was sent because the event is gone.
func (d *Dispatcher) postWebhook(ctx context.Context, due ports.DueDelivery) (a domain.DeliveryAttempt, o domain.DeliveryOutcome, posted bool) {
	w := d.hooks
	now := d.clock.Now()
	if due.Event.ID == "" {
		return domain.DeliveryAttempt{At: now, Error: errEventGone}, domain.DeliveryFinal, false
	}
	body := domain.WebhookPayload(due.Event)
	h := domain.SignWebhook(string(due.Event.ID), now, body, due.Webhook.Secrets(now)...)
	postCtx, cancel := context.WithTimeout(ctx, w.timeout)
	res, err := w.sender.Post(postCtx, due.Webhook.URL(), h, body)
	cancel()
	a = domain.DeliveryAttempt{At: now, StatusCode: res.Status, Latency: res.Latency, Body: string(res.Body)}
	switch {
	case err != nil && domain.KindOf(err) == domain.KindForbidden:
		// Refused before anything was sent: no retry changes that.
		a.Error, o = err.Error(), domain.DeliveryFinal
	case err != nil:
		// Timeouts, the network, a redirect (recorded with its 3xx).
		a.Error, o = err.Error(), domain.DeliveryRetry
	default:
		if o = domain.ClassifyResponse(res.Status); o != domain.DeliveryOK {
			a.Error = "the receiver answered " + strconv.Itoa(res.Status)
		}
	}
	if err != nil {
		trace.SpanFromContext(ctx).RecordError(err)
	}
	return a, o, true
}

// saveWebhookOutcome saves dl and what its outcome means for its endpoint
// in one transaction. The success of a healthy endpoint (as claimed) is
// one statement; an endpoint is read again inside the transaction only to
// change it, so that concurrent outcomes do not overwrite each other.
// A success thus leaves alone an endpoint that began failing after its
// claim: the endpoint's next success clears that. It returns the endpoint
// when this outcome disabled it.
func (d *Dispatcher) saveWebhookOutcome(ctx context.Context, due ports.DueDelivery, dl domain.WebhookDelivery, o domain.DeliveryOutcome, at time.Time) (*domain.Webhook, error) {
	w := d.hooks
	var disabled *domain.Webhook
	err := d.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		disabled = nil
		save := func() error {
			if err := st.Deliveries().Save(ctx, dl); err != nil {
				return fmt.Errorf("save delivery %s: %w", dl.ID, err)
			}
			return nil
		}
		// A gone event says nothing about the endpoint.
		if due.Event.ID == "" || (o == domain.DeliveryOK && due.Webhook.FailingSince() == nil) {
			return save()
		}
		// The endpoint is read, and held, before the delivery is saved:
		// every outcome that changes an endpoint locks it first, then
		// deliveries, so that one disabling it (and failing its pending
		// deliveries) never waits on a delivery another holds while that
		// one waits on the endpoint.
		wh, err := st.Webhooks().Get(ctx, dl.Workspace, dl.Webhook)
		if err != nil {
			return fmt.Errorf("load webhook %s: %w", dl.Webhook, err)
		}
		if err := save(); err != nil {
			return err
		}
		if o == domain.DeliveryOK {
			if !wh.DeliverySucceeded() {
				return nil
			}
			return st.Webhooks().Save(ctx, wh)
		}
		wasFailing := wh.FailingSince() != nil
		if !wh.DeliveryFailed(o == domain.DeliveryGone, w.disableAfter, at) {
			if wasFailing {
				return nil
			}
			return st.Webhooks().Save(ctx, wh)
		}
		if err := st.Webhooks().Save(ctx, wh); err != nil {
			return fmt.Errorf("disable webhook %s: %w", wh.ID(), err)
		}
		// After the delivery's own save: this ends it too if it was to be
		// retried, rather than leave it pending for an endpoint that
		// receives nothing more.
		if _, err := st.Deliveries().FailPending(ctx, wh.ID(), "endpoint disabled: "+disabledWhy(wh, w.disableAfter), at); err != nil {
			return fmt.Errorf("fail pending deliveries of webhook %s: %w", wh.ID(), err)
		}
		if err := d.queueDisabledMail(ctx, st, wh, at); err != nil {
			return err
		}
		disabled = &wh
		return nil
	})
	return disabled, err
}

// disabledWhy says, in a phrase, why w was disabled.
func disabledWhy(w domain.Webhook, disableAfter time.Duration) string {
	if w.DisabledReason() == domain.WebhookDisabledGone {
		return "the receiver answered 410 Gone"
	}
	return "every attempt failed for " + hours(disableAfter)
}

// hours writes d as people read a threshold: "72 hours", "90 minutes".
func hours(d time.Duration) string {
	count := func(n time.Duration, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.FormatInt(int64(n), 10) + " " + unit + "s"
	}
	switch {
	case d%time.Hour == 0:
		return count(d/time.Hour, "hour")
	case d%time.Minute == 0:
		return count(d/time.Minute, "minute")
	}
	return d.String()
}

// queueDisabledMail queues one message to the workspace's active admins
// and owners saying that w was disabled, why, and how to enable it and
// send again what it missed. A workspace without one gets no mail.
func (d *Dispatcher) queueDisabledMail(ctx context.Context, st ports.Stores, w domain.Webhook, at time.Time) error {
	ws, err := st.Workspaces().Get(ctx, w.Workspace())
	if err != nil {
		return fmt.Errorf("load workspace %s: %w", w.Workspace(), err)
	}
	to, err := adminAddresses(ctx, st, w.Workspace())
	if err != nil || len(to) == 0 {
		return err
	}
	since := at
	if f := w.FailingSince(); f != nil {
		since = *f
	}
	m, err := domain.NewMessage(domain.MessageInput{
		From: d.hooks.mailFrom, To: to,
		Subject: "A webhook of " + domain.TruncateRunes(strings.Join(strings.Fields(ws.Name()), " "), 80) + " was disabled",
		Text: fmt.Sprintf(webhookDisabledText, w.URL(), w.ID(), ws.Name(), ws.Slug(), at.UTC().Format(time.RFC1123),
			disabledWhy(w, d.hooks.disableAfter), since.UTC().Format(time.RFC1123),
			ws.Slug(), w.ID(), ws.Slug(), w.ID(), ws.Slug(), w.ID()),
	}, at)
	if err != nil {
		return fmt.Errorf("compose webhook disabled mail: %w", err)
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, w.Workspace(), "", KindWebhookDisabled, carrier["traceparent"], at)); err != nil {
		return fmt.Errorf("queue webhook disabled mail: %w", err)
	}
	return nil
}

// webhookDisabledText is the body of the mail to a workspace's admins and
// owners when an endpoint is disabled.
const webhookDisabledText = `The webhook endpoint %s (%s) of the workspace %q (%s) on Keel was disabled on %s.

Why: %s.
Failing since: %s.

Keel sends it nothing more, and the deliveries that were waiting for it failed with "endpoint disabled". Nothing is lost: the events stay in the change feed, and every delivery can be sent again, with the same webhook-id.

Once the receiver works again, enable the endpoint:

    PATCH /v1/workspaces/%s/webhooks/%s
    {"enabled": true}

then list what it missed and send each again:

    GET /v1/workspaces/%s/webhooks/%s/deliveries?status=failed
    POST /v1/workspaces/%s/webhooks/%s/deliveries/{id}/redeliver
`

// adminAddresses lists the addresses of the active admins and owners of ws.
func adminAddresses(ctx context.Context, st ports.Stores, ws domain.WorkspaceID) ([]string, error) {
	var to []string
	page := ports.Page{Limit: ports.MaxPageLimit}
	for {
		ms, next, err := st.Memberships().List(ctx, ws, page)
		if err != nil {
			return nil, fmt.Errorf("list members of %s: %w", ws, err)
		}
		for _, m := range ms {
			if !m.Role.AtLeast(domain.RoleAdmin) {
				continue
			}
			u, err := st.Users().Get(ctx, m.User)
			if err != nil {
				return nil, fmt.Errorf("load user %s: %w", m.User, err)
			}
			if u.Active() {
				to = append(to, u.Email().String())
			}
		}
		if next == "" {
			return to, nil
		}
		page.After = next
	}
}

// webhookOutcome names a delivery's status after an attempt, for metrics
// and logs: sent, retry, failed or dead.
func webhookOutcome(s domain.OutboxStatus) string {
	if s == domain.OutboxSent {
		return "sent"
	}
	return outcomeOf(s)
}
