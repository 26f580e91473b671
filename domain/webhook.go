package domain

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"
)

// WebhookID names a webhook endpoint.
type WebhookID string

// DeliveryID names one delivery: one event to one endpoint.
type DeliveryID string

// ID prefixes of webhooks and their deliveries.
const (
	PrefixWebhook  = "whk"
	PrefixDelivery = "dlv"
)

// EventWebhookTest is the event POST …/webhooks/{id}/test sends to that
// one endpoint. It is not a change: the feed does not list it, and no
// other endpoint receives it, "*" subscriptions included.
const EventWebhookTest = "webhook.test"

// Webhook limits.
const (
	MaxWebhooksPerWorkspace  = 20
	MaxWebhookURLLen         = 2000
	MaxWebhookDescriptionLen = 500
	// WebhookSecretOverlap is how long the previous secret keeps signing
	// beside the new one after a rotation, so that receivers can switch
	// without dropping a delivery.
	WebhookSecretOverlap = 24 * time.Hour
	// WebhookSubscribeAll subscribes an endpoint to every event type,
	// those added later included.
	WebhookSubscribeAll = "*"
)

// Why an endpoint is disabled. "" while enabled.
const (
	WebhookDisabledManual  = "manual"  // enabled: false by a user
	WebhookDisabledGone    = "gone"    // the receiver answered 410 Gone
	WebhookDisabledFailing = "failing" // every attempt failed for the disable-after period
)

// Webhook is an endpoint that receives a workspace's events, signed with
// its secret. Its fields are private so that every change goes through a
// method that keeps it valid.
type Webhook struct {
	id             WebhookID
	workspace      WorkspaceID
	url            string
	events         []string
	description    string
	enabled        bool
	disabledReason string
	secret         WebhookSecret
	previous       WebhookSecret // signs beside secret until previousUntil
	previousUntil  *time.Time
	failingSince   *time.Time // first failed attempt since the last success
	createdAt      time.Time
	updatedAt      time.Time
}

// WebhookInput is what a user gives to create an endpoint. Enabled nil
// means true.
type WebhookInput struct {
	URL         string
	Events      []string
	Description string
	Enabled     *bool
}

// WebhookPatch changes the fields that are not nil.
type WebhookPatch struct {
	URL         *string
	Events      *[]string
	Description *string
	Enabled     *bool
}

// NewWebhook validates in and returns a new endpoint of ws with a new
// secret. allowHTTP accepts http:// URLs (development); otherwise only
// https:// ones are.
func NewWebhook(ws WorkspaceID, in WebhookInput, allowHTTP bool, now time.Time) (Webhook, error) {
	now = Timestamp(now)
	w := Webhook{id: WebhookID(NewID(PrefixWebhook, now)), workspace: ws, enabled: true, secret: NewWebhookSecret(), createdAt: now, updatedAt: now}
	enabled := in.Enabled
	if err := w.apply(WebhookPatch{URL: &in.URL, Events: &in.Events, Description: &in.Description, Enabled: enabled}, allowHTTP); err != nil {
		return Webhook{}, err
	}
	return w, nil
}

// RehydrateWebhook rebuilds a stored endpoint; storage only.
func RehydrateWebhook(id WebhookID, ws WorkspaceID, rawURL string, events []string, description string, enabled bool, disabledReason string,
	secret, previous WebhookSecret, previousUntil, failingSince *time.Time, createdAt, updatedAt time.Time) Webhook {
	return Webhook{id: id, workspace: ws, url: rawURL, events: events, description: description, enabled: enabled, disabledReason: disabledReason,
		secret: secret, previous: previous, previousUntil: previousUntil, failingSince: failingSince, createdAt: createdAt, updatedAt: updatedAt}
}

func (w Webhook) ID() WebhookID                 { return w.id }
func (w Webhook) Workspace() WorkspaceID        { return w.workspace }
func (w Webhook) URL() string                   { return w.url }
func (w Webhook) Events() []string              { return slices.Clone(w.events) }
func (w Webhook) Description() string           { return w.description }
func (w Webhook) Enabled() bool                 { return w.enabled }
func (w Webhook) DisabledReason() string        { return w.disabledReason }
func (w Webhook) Secret() WebhookSecret         { return w.secret }
func (w Webhook) PreviousSecret() WebhookSecret { return w.previous }
func (w Webhook) PreviousUntil() *time.Time     { return w.previousUntil }
func (w Webhook) FailingSince() *time.Time      { return w.failingSince }
func (w Webhook) CreatedAt() time.Time          { return w.createdAt }
func (w Webhook) UpdatedAt() time.Time          { return w.updatedAt }

// Update applies p at now.
func (w *Webhook) Update(p WebhookPatch, allowHTTP bool, now time.Time) error {
	c := *w
	if err := c.apply(p, allowHTTP); err != nil {
		return err
	}
	c.updatedAt = Timestamp(now)
	*w = c
	return nil
}

func (w *Webhook) apply(p WebhookPatch, allowHTTP bool) error {
	var errs []FieldError
	if p.URL != nil {
		u, fe := parseWebhookURL(*p.URL, allowHTTP)
		if fe != nil {
			errs = append(errs, *fe)
		}
		w.url = u
	}
	if p.Events != nil {
		evs, fe := parseWebhookEvents(*p.Events)
		if fe != nil {
			errs = append(errs, *fe)
		}
		w.events = evs
	}
	if p.Description != nil {
		d := strings.TrimSpace(*p.Description)
		if len(d) > MaxWebhookDescriptionLen {
			errs = append(errs, FieldError{"description", "too_long", "Use at most 500 bytes."})
		}
		w.description = d
	}
	if p.Enabled != nil {
		if *p.Enabled {
			w.enable()
		} else {
			w.disable(WebhookDisabledManual)
		}
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

// parseWebhookURL accepts an absolute https:// URL (http:// too when
// allowHTTP) with a host and without credentials or a fragment. Whether
// its address may be called is decided at connect time, after DNS, by
// the delivery client: a name checked here could resolve elsewhere later.
func parseWebhookURL(s string, allowHTTP bool) (string, *FieldError) {
	s = strings.TrimSpace(s)
	bad := func(code, msg string) (string, *FieldError) { return s, &FieldError{"url", code, msg} }
	if s == "" {
		return bad("required", "Give the URL that receives the events.")
	}
	if len(s) > MaxWebhookURLLen {
		return bad("too_long", "Use a URL of at most 2000 bytes.")
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return bad("invalid_url", "Use an absolute URL such as https://example.com/hooks/keel.")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	default:
		return bad("insecure_url", "Webhook URLs must use https://.")
	}
	if u.User != nil {
		return bad("invalid_url", "A webhook URL cannot hold a user name or password; the signature authenticates Keel.")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return bad("invalid_url", "A webhook URL cannot have a fragment (#…).")
	}
	return u.String(), nil
}

// parseWebhookEvents accepts "*" or names from EventTypes, and returns
// them sorted without duplicates.
func parseWebhookEvents(in []string) ([]string, *FieldError) {
	if len(in) == 0 {
		return nil, &FieldError{"events", "required", `Subscribe to at least one event type, or "*" for all.`}
	}
	if len(in) > 2*len(EventTypes) {
		return nil, &FieldError{"events", "too_many", "List each event type at most once."}
	}
	out := make([]string, 0, len(in))
	for _, e := range in {
		if e != WebhookSubscribeAll && !slices.Contains(EventTypes, e) {
			return nil, &FieldError{"events", "unknown_value", "Unknown event type " + strconvQuote(e) + `; use an event type the change feed carries, or "*" for all.`}
		}
		out = append(out, e)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if slices.Contains(out, WebhookSubscribeAll) {
		out = []string{WebhookSubscribeAll}
	}
	return out, nil
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(TruncateRunes(s, 64))
	return string(b)
}

// Subscribes reports whether events of type typ are delivered to w.
// webhook.test never is: it goes only to the endpoint being tested.
func (w Webhook) Subscribes(typ string) bool {
	if typ == EventWebhookTest {
		return false
	}
	return slices.Contains(w.events, WebhookSubscribeAll) || slices.Contains(w.events, typ)
}

// Secrets are the secrets that sign a delivery at now: the current one,
// and the previous one during the overlap after a rotation.
func (w Webhook) Secrets(now time.Time) []WebhookSecret {
	if !w.previous.IsZero() && w.previousUntil != nil && now.Before(*w.previousUntil) {
		return []WebhookSecret{w.secret, w.previous}
	}
	return []WebhookSecret{w.secret}
}

// RotateSecret makes a new secret current; the one it replaces keeps
// signing for WebhookSecretOverlap. A second rotation within the overlap
// drops the oldest secret at once: two secrets at most sign a delivery.
func (w *Webhook) RotateSecret(now time.Time) {
	now = Timestamp(now)
	until := now.Add(WebhookSecretOverlap)
	w.previous, w.previousUntil = w.secret, &until
	w.secret = NewWebhookSecret()
	w.updatedAt = now
}

func (w *Webhook) enable() {
	w.enabled, w.disabledReason, w.failingSince = true, "", nil
}

func (w *Webhook) disable(reason string) {
	w.enabled, w.disabledReason = false, reason
}

// DeliverySucceeded records a 2xx from the endpoint: it is failing no
// more. It reports whether w changed, so a caller saves it only then.
func (w *Webhook) DeliverySucceeded() bool {
	if w.failingSince == nil {
		return false
	}
	w.failingSince = nil
	return true
}

// DeliveryFailed records a failed attempt at now. The endpoint is disabled
// when it answered 410 Gone, or when every attempt has failed for
// disableAfter. It reports whether that disabled w.
func (w *Webhook) DeliveryFailed(gone bool, disableAfter time.Duration, now time.Time) bool {
	now = Timestamp(now)
	if w.failingSince == nil {
		w.failingSince = &now
	}
	if !w.enabled {
		return false
	}
	switch {
	case gone:
		w.disable(WebhookDisabledGone)
	case now.Sub(*w.failingSince) >= disableAfter:
		w.disable(WebhookDisabledFailing)
	default:
		return false
	}
	w.updatedAt = now
	return true
}

// ErrWebhookDisabled refuses a test or a redelivery to an endpoint that is
// disabled: nothing is attempted for it.
var ErrWebhookDisabled = E(KindConflict, "webhook_disabled", "This webhook is disabled; enable it first.")

// ErrTooManyWebhooks refuses an endpoint beyond MaxWebhooksPerWorkspace.
var ErrTooManyWebhooks = E(KindConflict, "too_many_webhooks", "A workspace has at most 20 webhooks; delete one first.")

// ErrDeliveryPending refuses to redeliver a delivery that is still queued.
var ErrDeliveryPending = E(KindConflict, "delivery_pending", "This delivery is still queued; it is attempted again on its own.")

// MaxDeliveryBodyLog is how much of a receiver's response body an attempt
// keeps, and MaxDeliveryAttemptsKept how many attempts a delivery keeps
// (the latest): the log must not grow without bound on an endpoint that
// answers with megabytes, or is redelivered over and over.
const (
	MaxDeliveryBodyLog      = 1024
	MaxDeliveryAttemptsKept = 30
)

// DefaultWebhookRetryPolicy retries for about three days: 18 attempts
// with waits from 30 s doubling up to 12 h, each drawn from the upper half
// of its step, put the last attempt 44 to 89 hours (67 on average) after
// the first.
var DefaultWebhookRetryPolicy = RetryPolicy{MaxAttempts: 18, Base: 30 * time.Second, Max: 12 * time.Hour}

// DefaultWebhookDisableAfter is how long an endpoint may fail every
// attempt before it is disabled: the retry period of one event.
const DefaultWebhookDisableAfter = 72 * time.Hour

// DeliveryAttempt is one try at delivering an event to an endpoint.
type DeliveryAttempt struct {
	At         time.Time
	StatusCode int // 0 when no response came
	Latency    time.Duration
	Error      string // "" for a 2xx
	Body       string // the first MaxDeliveryBodyLog bytes of the response, valid UTF-8
}

// WebhookDelivery is one event on its way to one endpoint: queued in the
// event's transaction, attempted by the dispatcher after commit, retried
// with backoff, and kept with its history as the delivery log.
type WebhookDelivery struct {
	ID           DeliveryID
	Webhook      WebhookID
	Workspace    WorkspaceID
	Event        EventID // the webhook-id header: the same on every attempt
	EventType    string
	Status       OutboxStatus
	Attempts     []DeliveryAttempt
	AttemptCount int // every attempt ever made, also those Attempts dropped
	// SeriesStart is AttemptCount when the delivery was last redelivered:
	// the retry budget counts the attempts since.
	SeriesStart   int
	NextAttemptAt time.Time
	// TraceParent is the W3C traceparent of the request that caused the
	// event, so the delivery joins that request's trace.
	TraceParent string
	CreatedAt   time.Time
	DeliveredAt *time.Time
}

// NewDelivery queues e for w, due at once.
func NewDelivery(e Event, w WebhookID, traceParent string, now time.Time) WebhookDelivery {
	now = Timestamp(now)
	return WebhookDelivery{ID: DeliveryID(NewID(PrefixDelivery, now)), Webhook: w, Workspace: e.Workspace, Event: e.ID, EventType: e.Type,
		Status: OutboxPending, NextAttemptAt: now, TraceParent: traceParent, CreatedAt: now}
}

// Outcome classes of an attempt.
type DeliveryOutcome int

const (
	DeliveryOK    DeliveryOutcome = iota // 2xx
	DeliveryRetry                        // network error, timeout, 3xx, 408, 409, 425, 429, 5xx
	DeliveryFinal                        // any other 4xx, or an address Keel refuses to call
	DeliveryGone                         // 410: final, and the endpoint is disabled
)

// ClassifyResponse says what a response status means for a delivery.
// Redirects are not followed (each hop would need the address check
// again), so a 3xx is retried like an error the receiver may fix.
func ClassifyResponse(status int) DeliveryOutcome {
	switch {
	case status >= 200 && status < 300:
		return DeliveryOK
	case status == 410:
		return DeliveryGone
	case status == 408 || status == 409 || status == 425 || status == 429:
		return DeliveryRetry
	case status >= 400 && status < 500:
		return DeliveryFinal
	}
	return DeliveryRetry
}

// Record adds attempt a with outcome o at a.At: a success marks the
// delivery sent; DeliveryRetry schedules the next attempt by p until the
// attempts run out (dead); DeliveryFinal and DeliveryGone fail it.
func (d *WebhookDelivery) Record(a DeliveryAttempt, o DeliveryOutcome, p RetryPolicy) {
	a.At = Timestamp(a.At)
	a.Error = TruncateUTF8(strings.ToValidUTF8(a.Error, "\uFFFD"), 2000)
	a.Body = TruncateUTF8(strings.ToValidUTF8(a.Body, "\uFFFD"), MaxDeliveryBodyLog)
	d.Attempts = append(d.Attempts, a)
	if n := len(d.Attempts); n > MaxDeliveryAttemptsKept {
		d.Attempts = slices.Clone(d.Attempts[n-MaxDeliveryAttemptsKept:])
	}
	d.AttemptCount++
	switch o {
	case DeliveryOK:
		d.Status, d.DeliveredAt = OutboxSent, &a.At
	case DeliveryRetry:
		if n := d.AttemptCount - d.SeriesStart; n >= p.MaxAttempts {
			d.Status = OutboxDead
		} else {
			d.NextAttemptAt = Timestamp(a.At.Add(p.Delay(n)))
		}
	default:
		d.Status = OutboxFailed
	}
}

// Redeliver queues a delivery that ended (sent, failed or dead) again,
// due now, with the same event and so the same webhook-id. It gets a new
// retry budget: a user asked for it, typically after fixing the receiver.
func (d *WebhookDelivery) Redeliver(now time.Time) error {
	if d.Status == OutboxPending {
		return ErrDeliveryPending
	}
	d.Status, d.NextAttemptAt, d.DeliveredAt = OutboxPending, Timestamp(now), nil
	d.SeriesStart = d.AttemptCount
	return nil
}

// WebhookPayload is the body of e's deliveries: the event as the change
// feed shows it, {id, type, created_at, workspace, data}, so that a
// receiver and a feed reader parse one shape.
func WebhookPayload(e Event) []byte {
	b, _ := json.Marshal(struct { // strings, a time and valid JSON: cannot fail
		ID        EventID         `json:"id"`
		Type      string          `json:"type"`
		CreatedAt Stamp           `json:"created_at"`
		Workspace WorkspaceID     `json:"workspace"`
		Data      json.RawMessage `json:"data"`
	}{e.ID, e.Type, Stamp{e.CreatedAt}, e.Workspace, e.Data})
	return b
}

// WebhookTestEvent is the webhook.test event for endpoint w.
func WebhookTestEvent(w Webhook, now time.Time) Event {
	return NewEvent(w.workspace, EventWebhookTest, string(w.id), map[string]any{"webhook_id": string(w.id), "url": w.url}, now)
}
