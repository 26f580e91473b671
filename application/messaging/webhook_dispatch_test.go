package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// The webhook receivers here are a double of partners' endpoints, a
// ports.WebhookSender that answers in memory: the HTTP client and its
// address checks are adapters/webhookhttp's, tested there, and the network
// adds nothing to what the dispatcher decides.

// answer is what the double answers one post: a status, or an error
// (with the status of a redirect, say).
type answer struct {
	status int
	err    error
}

// received is one post the double got.
type received struct {
	url         string
	headers     domain.WebhookHeaders
	body        []byte
	traceParent string // what the HTTP client would send as traceparent
}

// fakeReceiver answers each URL with the answers queued for it, in order,
// then 200; a held URL's posts wait until the test releases them.
type fakeReceiver struct {
	mu      sync.Mutex
	got     []received
	answers map[string][]answer
	held    map[string]chan struct{}
	arrived chan string // each post's URL as it arrives, when set
}

func newFakeReceiver() *fakeReceiver {
	return &fakeReceiver{answers: map[string][]answer{}, held: map[string]chan struct{}{}}
}

func (r *fakeReceiver) answer(url string, as ...answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[url] = append(r.answers[url], as...)
}

// hold makes posts to url wait; release lets them all answer.
func (r *fakeReceiver) hold(url string) (release func()) {
	c := make(chan struct{})
	r.mu.Lock()
	r.held[url] = c
	r.mu.Unlock()
	return sync.OnceFunc(func() { close(c) })
}

func (r *fakeReceiver) Post(ctx context.Context, url string, h domain.WebhookHeaders, body []byte) (ports.WebhookResult, error) {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	r.mu.Lock()
	r.got = append(r.got, received{url: url, headers: h, body: slices.Clone(body), traceParent: carrier["traceparent"]})
	a := answer{status: 200}
	if q := r.answers[url]; len(q) > 0 {
		a, r.answers[url] = q[0], q[1:]
	}
	held, arrived := r.held[url], r.arrived
	r.mu.Unlock()
	if arrived != nil {
		arrived <- url
	}
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return ports.WebhookResult{}, ctx.Err()
		}
	}
	res := ports.WebhookResult{Latency: 5 * time.Millisecond}
	if a.status != 0 {
		res.Status, res.Body = a.status, fmt.Appendf(nil, "answer %d", a.status)
	}
	return res, a.err
}

func (r *fakeReceiver) posts(url string) []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []received
	for _, g := range r.got {
		if g.url == url {
			out = append(out, g)
		}
	}
	return out
}

// deliveryFixture adds to fixture the workspace's members, of every role
// and one disabled admin, and a receiver double.
type deliveryFixture struct {
	*fixture
	recv *fakeReceiver
}

const hookMailFrom = "Keel <keel@example.com>"

func newDeliveryFixture(t *testing.T) *deliveryFixture {
	t.Helper()
	f := &deliveryFixture{fixture: newFixture(t), recv: newFakeReceiver()}
	members := []struct {
		email    string
		role     domain.Role
		disabled bool
	}{
		{"ada@example.com", domain.RoleOwner, false},
		{"bob@example.com", domain.RoleAdmin, false},
		{"eve@example.com", domain.RoleEditor, false},
		{"dan@example.com", domain.RoleAdmin, true},
	}
	f.tx(t, func(ctx context.Context, st ports.Stores) error {
		for _, m := range members {
			u, err := domain.NewUser(domain.NewUserInput{Email: m.email, Name: "Member", PasswordHash: "x"}, f.clock.Now())
			if err != nil {
				return err
			}
			if m.disabled {
				u.SetStatus(domain.UserDisabled)
			}
			if err := st.Users().Add(ctx, u); err != nil {
				return err
			}
			if err := st.Memberships().Add(ctx, domain.Membership{Workspace: f.ws.ID(), User: u.ID(), Role: m.role, CreatedAt: f.clock.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	return f
}

// dispatcher delivers webhooks to the receiver double, unless cfg names
// another sender.
func (f *deliveryFixture) dispatcher(t testing.TB, cfg messaging.DispatcherConfig) *messaging.Dispatcher {
	t.Helper()
	if cfg.Webhooks == nil {
		cfg.Webhooks = f.recv
	}
	if cfg.MailFrom == "" {
		cfg.MailFrom = hookMailFrom
	}
	return f.fixture.dispatcher(t, cfg)
}

// webhook adds an endpoint of the workspace at url for events.
func (f *deliveryFixture) webhook(t *testing.T, url string, events ...string) domain.Webhook {
	t.Helper()
	if len(events) == 0 {
		events = []string{domain.WebhookSubscribeAll}
	}
	w, err := domain.NewWebhook(f.ws.ID(), domain.WebhookInput{URL: url, Events: events}, false, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.tx(t, func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Add(ctx, w) })
	return w
}

// queue queues one delivery to w, as the webhook test does: a
// webhook.test event, which no other endpoint receives, and its delivery
// carrying traceParent.
func (f *deliveryFixture) queue(t *testing.T, w domain.Webhook, traceParent string) (domain.Event, domain.DeliveryID) {
	t.Helper()
	e := domain.WebhookTestEvent(w, f.clock.Now())
	d := domain.NewDelivery(e, w.ID(), traceParent, f.clock.Now())
	f.tx(t, func(ctx context.Context, st ports.Stores) error {
		return errors.Join(st.Events().Add(ctx, e), st.Deliveries().Add(ctx, d))
	})
	return e, d.ID
}

func (f *deliveryFixture) delivery(t *testing.T, w domain.Webhook, id domain.DeliveryID) domain.WebhookDelivery {
	t.Helper()
	var d domain.WebhookDelivery
	f.tx(t, func(ctx context.Context, st ports.Stores) (err error) {
		d, err = st.Deliveries().Get(ctx, f.ws.ID(), w.ID(), id)
		return err
	})
	return d
}

func (f *deliveryFixture) endpoint(t *testing.T, id domain.WebhookID) domain.Webhook {
	t.Helper()
	var w domain.Webhook
	f.tx(t, func(ctx context.Context, st ports.Stores) (err error) {
		w, err = st.Webhooks().Get(ctx, f.ws.ID(), id)
		return err
	})
	return w
}

// verify checks that p is e's payload, signed for e with secret at the
// fixture's time.
func (f *deliveryFixture) verify(t *testing.T, p received, e domain.Event, secret domain.WebhookSecret) {
	t.Helper()
	if p.headers.ID != string(e.ID) {
		t.Errorf("webhook-id = %q, want the event's ID %q", p.headers.ID, e.ID)
	}
	if string(p.body) != string(domain.WebhookPayload(e)) {
		t.Errorf("body = %s, want the event's payload %s", p.body, domain.WebhookPayload(e))
	}
	if err := domain.VerifyWebhook(p.headers, p.body, f.clock.Now(), time.Minute, secret); err != nil {
		t.Errorf("the post does not verify with the endpoint's secret: %v", err)
	}
}

func TestWebhookDeliverySucceeds(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	w := f.webhook(t, "https://hooks.example/a", "form.created")
	other := f.webhook(t, "https://hooks.example/b", "form.deleted")
	// The event fans out to the endpoint that subscribes to it only.
	e := domain.NewEvent(f.ws.ID(), "form.created", string(f.form.ID()), map[string]any{"id": string(f.form.ID())}, f.clock.Now())
	f.tx(t, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })

	d := f.dispatcher(t, messaging.DispatcherConfig{})
	dispatch(t, d, 1)
	dispatch(t, d, 0)

	got := f.recv.posts(w.URL())
	if len(got) != 1 || len(f.recv.posts(other.URL())) != 0 {
		t.Fatalf("posts: %d to the subscriber, %d to the other; want 1 and 0", len(got), len(f.recv.posts(other.URL())))
	}
	f.verify(t, got[0], e, w.Secret())
	var dl domain.WebhookDelivery
	f.tx(t, func(ctx context.Context, st ports.Stores) error {
		ds, _, err := st.Deliveries().List(ctx, f.ws.ID(), w.ID(), nil, ports.Page{})
		if len(ds) != 1 {
			return fmt.Errorf("%d deliveries, want 1 (%w)", len(ds), err)
		}
		dl = ds[0]
		return err
	})
	if dl.Status != domain.OutboxSent || dl.AttemptCount != 1 || dl.DeliveredAt == nil || !dl.DeliveredAt.Equal(f.clock.Now()) {
		t.Fatalf("delivery: status %s, %d attempts, delivered at %v; want sent once, now", dl.Status, dl.AttemptCount, dl.DeliveredAt)
	}
	if a := dl.Attempts[0]; a.StatusCode != 200 || a.Error != "" || a.Latency != 5*time.Millisecond || a.Body != "answer 200" {
		t.Errorf("attempt = %+v, want 200 with its latency and body, no error", a)
	}
	if got := f.endpoint(t, w.ID()); !got.Enabled() || got.FailingSince() != nil {
		t.Errorf("endpoint after a success: enabled %v, failing since %v", got.Enabled(), got.FailingSince())
	}
}

func TestWebhookRetryKeepsTheWebhookID(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	w := f.webhook(t, "https://hooks.example/a")
	e, id := f.queue(t, w, "")
	f.recv.answer(w.URL(), answer{status: 500})
	policy := domain.RetryPolicy{MaxAttempts: 5, Base: time.Minute, Max: time.Hour}
	d := f.dispatcher(t, messaging.DispatcherConfig{WebhookPolicy: policy})

	dispatch(t, d, 1)
	first := f.clock.Now()
	dl := f.delivery(t, w, id)
	wait := dl.NextAttemptAt.Sub(first)
	if dl.Status != domain.OutboxPending || dl.AttemptCount != 1 || dl.Attempts[0].StatusCode != 500 || dl.Attempts[0].Error == "" {
		t.Fatalf("after a 500: status %s, attempts %+v; want pending with the 500 and its error", dl.Status, dl.Attempts)
	}
	if wait < policy.Base/2 || wait > policy.Base {
		t.Fatalf("next attempt in %s, want the policy's first wait, %s to %s", wait, policy.Base/2, policy.Base)
	}
	if fs := f.endpoint(t, w.ID()).FailingSince(); fs == nil || !fs.Equal(first) {
		t.Errorf("endpoint failing since %v, want %v", fs, first)
	}
	dispatch(t, d, 0) // not due yet
	f.clock.Add(policy.Base)
	dispatch(t, d, 1)

	dl = f.delivery(t, w, id)
	if dl.Status != domain.OutboxSent || dl.AttemptCount != 2 || dl.Attempts[1].StatusCode != 200 {
		t.Fatalf("after the retry: status %s, attempts %+v; want sent on the second", dl.Status, dl.Attempts)
	}
	got := f.recv.posts(w.URL())
	if len(got) != 2 {
		t.Fatalf("%d posts, want 2", len(got))
	}
	// Each post verifies at its own time; the retry is signed anew.
	if got[0].headers.ID != got[1].headers.ID || got[0].headers.Timestamp == got[1].headers.Timestamp {
		t.Errorf("headers %+v then %+v: want one webhook-id, two timestamps", got[0].headers, got[1].headers)
	}
	if err := domain.VerifyWebhook(got[0].headers, got[0].body, first, time.Minute, w.Secret()); err != nil {
		t.Errorf("the first post does not verify: %v", err)
	}
	f.verify(t, got[1], e, w.Secret())
	if fs := f.endpoint(t, w.ID()).FailingSince(); fs != nil {
		t.Errorf("endpoint still failing since %v after a success", fs)
	}
}

func TestWebhookOutcomes(t *testing.T) {
	t.Parallel()
	refused := domain.E(domain.KindForbidden, "webhook_address_refused", "Keel does not deliver webhooks to this address")
	for name, tc := range map[string]struct {
		answer     answer
		status     domain.OutboxStatus
		statusCode int
	}{
		"400 is final":             {answer{status: 400}, domain.OutboxFailed, 400},
		"404 is final":             {answer{status: 404}, domain.OutboxFailed, 404},
		"a refusal is final":       {answer{err: refused}, domain.OutboxFailed, 0},
		"429 is retried":           {answer{status: 429}, domain.OutboxPending, 429},
		"503 is retried":           {answer{status: 503}, domain.OutboxPending, 503},
		"a network error retries":  {answer{err: errors.New("connection reset by peer")}, domain.OutboxPending, 0},
		"a redirect is retried":    {answer{status: 302, err: errors.New("redirect not followed: 302")}, domain.OutboxPending, 302},
		"a 3xx without error too":  {answer{status: 301}, domain.OutboxPending, 301},
		"201 is a success as well": {answer{status: 201}, domain.OutboxSent, 201},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t)
			w := f.webhook(t, "https://hooks.example/a")
			_, id := f.queue(t, w, "")
			f.recv.answer(w.URL(), tc.answer)
			d := f.dispatcher(t, messaging.DispatcherConfig{})
			dispatch(t, d, 1)
			dl := f.delivery(t, w, id)
			if dl.Status != tc.status || dl.AttemptCount != 1 || dl.Attempts[0].StatusCode != tc.statusCode {
				t.Fatalf("status %s, attempts %+v; want %s after one attempt recording %d", dl.Status, dl.Attempts, tc.status, tc.statusCode)
			}
			if ok := tc.status == domain.OutboxSent; ok != (dl.Attempts[0].Error == "") {
				t.Errorf("attempt error %q for a %s delivery", dl.Attempts[0].Error, dl.Status)
			}
			if tc.answer.err != nil && !strings.Contains(dl.Attempts[0].Error, tc.answer.err.Error()) {
				t.Errorf("attempt error %q does not say %q", dl.Attempts[0].Error, tc.answer.err)
			}
			f.clock.Add(48 * time.Hour)
			if tc.status == domain.OutboxPending {
				dispatch(t, d, 1)
			} else {
				dispatch(t, d, 0)
			}
			// None of these disables the endpoint: one failure is not
			// failing for the disable-after period, and only 410 is gone.
			if !f.endpoint(t, w.ID()).Enabled() {
				t.Errorf("the endpoint was disabled")
			}
		})
	}
}

func TestWebhookGoneDisablesTheEndpoint(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	w := f.webhook(t, "https://hooks.example/gone")
	other := f.webhook(t, "https://hooks.example/fine")
	var pending []domain.DeliveryID
	for range 3 {
		_, id := f.queue(t, w, "")
		pending = append(pending, id)
		f.clock.Add(time.Second)
	}
	_, otherID := f.queue(t, other, "")
	f.recv.answer(w.URL(), answer{status: 410})
	// One delivery per endpoint at a time: the 410 comes while the others
	// wait.
	d := f.dispatcher(t, messaging.DispatcherConfig{WebhookPerEndpoint: 1})
	dispatch(t, d, 2)

	got := f.endpoint(t, w.ID())
	if got.Enabled() || got.DisabledReason() != domain.WebhookDisabledGone {
		t.Fatalf("after a 410: enabled %v, reason %q; want disabled as gone", got.Enabled(), got.DisabledReason())
	}
	if first := f.delivery(t, w, pending[0]); first.Status != domain.OutboxFailed || first.AttemptCount != 1 || first.Attempts[0].StatusCode != 410 {
		t.Errorf("the answered delivery: status %s, attempts %+v; want failed with the 410", first.Status, first.Attempts)
	}
	for _, id := range pending[1:] {
		dl := f.delivery(t, w, id)
		if dl.Status != domain.OutboxFailed || dl.AttemptCount != 1 || dl.Attempts[0].Error != "endpoint disabled: the receiver answered 410 Gone" {
			t.Errorf("a waiting delivery: status %s, attempts %+v; want failed saying why", dl.Status, dl.Attempts)
		}
	}
	if dl := f.delivery(t, other, otherID); dl.Status != domain.OutboxSent || !f.endpoint(t, other.ID()).Enabled() {
		t.Errorf("the other endpoint's delivery: %s; it must not be touched", dl.Status)
	}

	// The next step sends the admins' mail, and nothing to the endpoint.
	dispatch(t, d, 1)
	if n := len(f.recv.posts(w.URL())); n != 1 {
		t.Errorf("the disabled endpoint got %d posts, want the one", n)
	}
	sent := f.mailer.Sent()
	if len(sent) != 1 {
		t.Fatalf("%d messages sent, want the one to the admins and owners", len(sent))
	}
	m := sent[0]
	var to []string
	for _, a := range m.To() {
		to = append(to, a.Address)
	}
	slices.Sort(to)
	if !slices.Equal(to, []string{"ada@example.com", "bob@example.com"}) || m.From().Address != "keel@example.com" {
		t.Errorf("mail from %s to %v; want from the configured sender to the active owner and admin only", m.From().Address, to)
	}
	for _, want := range []string{w.URL(), string(w.ID()), "410 Gone", `{"enabled": true}`, "/redeliver", "Failing since: " + f.clock.Now().UTC().Format(time.RFC1123)} {
		if !strings.Contains(m.Text(), want) {
			t.Errorf("the mail does not say %q:\n%s", want, m.Text())
		}
	}
}

func TestWebhookFailingPastDisableAfterIsDisabled(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	w := f.webhook(t, "https://hooks.example/down")
	_, id := f.queue(t, w, "")
	for range 10 {
		f.recv.answer(w.URL(), answer{err: errors.New("connection refused")})
	}
	policy := domain.RetryPolicy{MaxAttempts: 10, Base: 20 * time.Minute, Max: 20 * time.Minute}
	d := f.dispatcher(t, messaging.DispatcherConfig{WebhookPolicy: policy, DisableAfter: time.Hour})
	start := f.clock.Now()

	// Attempts at 0, 20, 40 minutes: failing, not yet for an hour.
	for range 3 {
		dispatch(t, d, 1)
		if !f.endpoint(t, w.ID()).Enabled() {
			t.Fatalf("disabled after %s of failures, want an hour", f.clock.Now().Sub(start))
		}
		f.clock.Add(policy.Max)
	}
	// At 60 minutes it has failed for the hour.
	dispatch(t, d, 1)
	got := f.endpoint(t, w.ID())
	if got.Enabled() || got.DisabledReason() != domain.WebhookDisabledFailing || !got.FailingSince().Equal(start) {
		t.Fatalf("after an hour of failures: enabled %v, reason %q, failing since %v", got.Enabled(), got.DisabledReason(), got.FailingSince())
	}
	dl := f.delivery(t, w, id)
	last := dl.Attempts[len(dl.Attempts)-1]
	if dl.Status != domain.OutboxFailed || last.Error != "endpoint disabled: every attempt failed for 1 hour" {
		t.Errorf("the delivery: status %s, last attempt %+v; want failed, ended by the disabling", dl.Status, last)
	}
	f.clock.Add(time.Hour)
	dispatch(t, d, 1) // the mail, and nothing for the endpoint
	if n := len(f.recv.posts(w.URL())); n != 4 {
		t.Errorf("%d posts, want 4", n)
	}
	if sent := f.mailer.Sent(); len(sent) != 1 || !strings.Contains(sent[0].Text(), "every attempt failed for 1 hour") {
		t.Errorf("mail sent: %d; want one saying the endpoint failed for an hour", len(sent))
	}
}

func TestWebhookEventNoLongerKept(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	w := f.webhook(t, "https://hooks.example/a")
	// Retention deleted the event, not the delivery.
	e := domain.NewEvent(f.ws.ID(), "form.created", "frm_gone", map[string]any{"id": "frm_gone"}, f.clock.Now())
	dl := domain.NewDelivery(e, w.ID(), "", f.clock.Now())
	f.tx(t, func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Add(ctx, dl) })
	dispatch(t, f.dispatcher(t, messaging.DispatcherConfig{}), 1)
	got := f.delivery(t, w, dl.ID)
	if got.Status != domain.OutboxFailed || got.AttemptCount != 1 || got.Attempts[0].Error != "event no longer kept" {
		t.Errorf("status %s, attempts %+v; want failed: event no longer kept", got.Status, got.Attempts)
	}
	if n := len(f.recv.posts(w.URL())); n != 0 {
		t.Errorf("%d posts for a gone event", n)
	}
	if fs := f.endpoint(t, w.ID()).FailingSince(); fs != nil {
		t.Errorf("the endpoint is failing since %v for an event it never got", fs)
	}
}

// TestSlowEndpointDoesNotDelayOthers: while one endpoint holds every post
// it gets, another endpoint's deliveries all complete, and the slow one
// never holds more than its per-endpoint share of the slots. The poll is
// an hour away: only finished deliveries make the dispatcher claim again.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	slow := f.webhook(t, "https://hooks.example/slow")
	fast := f.webhook(t, "https://hooks.example/fast")
	var slowIDs, fastIDs []domain.DeliveryID
	for range 5 {
		_, id := f.queue(t, slow, "")
		slowIDs = append(slowIDs, id)
	}
	for range 12 {
		_, id := f.queue(t, fast, "")
		fastIDs = append(fastIDs, id)
	}
	release := f.recv.hold(slow.URL())
	t.Cleanup(release)
	f.recv.arrived = make(chan string, 100)
	d := f.dispatcher(t, messaging.DispatcherConfig{WebhookConcurrency: 4, WebhookPerEndpoint: 2, PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	timeout := time.After(10 * time.Second)
	arrivals := map[string]int{}
	for arrivals[fast.URL()] < len(fastIDs) || arrivals[slow.URL()] < 2 {
		select {
		case u := <-f.recv.arrived:
			arrivals[u]++
		case <-timeout:
			t.Fatalf("arrivals %v while the slow endpoint held its posts; want all %d fast ones", arrivals, len(fastIDs))
		}
	}
	if n := len(f.recv.posts(slow.URL())); n != 2 {
		t.Errorf("the slow endpoint got %d posts at once, want its share of 2", n)
	}
	release()
	for arrivals[slow.URL()] < len(slowIDs) {
		select {
		case u := <-f.recv.arrived:
			arrivals[u]++
		case <-timeout:
			t.Fatalf("arrivals %v after the release; want all %d slow ones", arrivals, len(slowIDs))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, id := range fastIDs {
		if dl := f.delivery(t, fast, id); dl.Status != domain.OutboxSent {
			t.Errorf("fast delivery %s: %s, want sent", id, dl.Status)
		}
	}
	for _, id := range slowIDs {
		if dl := f.delivery(t, slow, id); dl.Status != domain.OutboxSent {
			t.Errorf("slow delivery %s: %s, want sent", id, dl.Status)
		}
	}
}

// TestWebhookWakeDeliversWithoutWaitingForThePoll: a delivery queued while
// Run waits goes out on Wake, not an hour later.
func TestWebhookWakeDeliversWithoutWaitingForThePoll(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	w := f.webhook(t, "https://hooks.example/a")
	f.recv.arrived = make(chan string, 10)
	d := f.dispatcher(t, messaging.DispatcherConfig{PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	_, id := f.queue(t, w, "")
	d.WakeWebhooks()
	select {
	case <-f.recv.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery was not sent after WakeWebhooks")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if dl := f.delivery(t, w, id); dl.Status != domain.OutboxSent {
		t.Errorf("status %s, want sent", dl.Status)
	}
}

func TestWebhookDeliveryContinuesTheTrace(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := newDeliveryFixture(t)
	w := f.webhook(t, "https://hooks.example/a")
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	_, withParent := f.queue(t, w, "00-"+traceID+"-"+parentID+"-01")
	_, without := f.queue(t, w, "")
	dispatch(t, f.dispatcher(t, messaging.DispatcherConfig{TracerProvider: tp}), 2)

	spans := map[domain.DeliveryID]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.Name() != "messaging.DeliverWebhook" {
			continue
		}
		attrs := attribute.NewSet(s.Attributes()...)
		v, _ := attrs.Value("keel.delivery.id")
		spans[domain.DeliveryID(v.AsString())] = s
	}
	s, ok := spans[withParent]
	if !ok {
		t.Fatalf("no messaging.DeliverWebhook span for %s", withParent)
	}
	if s.Parent().TraceID().String() != traceID || s.Parent().SpanID().String() != parentID || !s.Parent().IsRemote() {
		t.Errorf("span has parent %s/%s, want the stored traceparent %s/%s", s.Parent().TraceID(), s.Parent().SpanID(), traceID, parentID)
	}
	// The receiver is told of the delivery's span, in the request's trace.
	posts := f.recv.posts(w.URL())
	if want := "00-" + traceID + "-" + s.SpanContext().SpanID().String() + "-01"; !slices.ContainsFunc(posts, func(p received) bool { return p.traceParent == want }) {
		t.Errorf("no post carried traceparent %s: %+v", want, posts)
	}
	if s, ok := spans[without]; !ok {
		t.Errorf("no messaging.DeliverWebhook span for %s", without)
	} else if s.Parent().IsValid() {
		t.Errorf("the delivery queued without a traceparent has parent %s; want a root span", s.Parent().SpanID())
	}
}

func TestWebhookMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	f := newDeliveryFixture(t)
	w := f.webhook(t, "https://hooks.example/a")
	for range 3 {
		f.queue(t, w, "")
	}
	f.recv.answer(w.URL(), answer{status: 503})
	release := f.recv.hold(w.URL())
	t.Cleanup(release)
	f.recv.arrived = make(chan string, 10)
	d := f.dispatcher(t, messaging.DispatcherConfig{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), WebhookPerEndpoint: 1})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	collect := func() map[string]metricdata.Aggregation {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(t.Context(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]metricdata.Aggregation{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				got[m.Name] = m.Data
			}
		}
		return got
	}
	// One delivery is held in flight; all three are pending.
	<-f.recv.arrived
	g, ok := collect()["keel.webhook.queue_depth"].(metricdata.Gauge[int64])
	if !ok || len(g.DataPoints) != 1 || g.DataPoints[0].Value != 3 {
		t.Fatalf("keel.webhook.queue_depth = %+v, want 3 for the endpoint", g)
	}
	if v, _ := g.DataPoints[0].Attributes.Value("webhook_id"); v.AsString() != string(w.ID()) {
		t.Errorf("queue depth is for %q, want %s", v.AsString(), w.ID())
	}
	release()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	got := collect()
	counts := map[string]int64{}
	if s, ok := got["keel.webhook.deliveries"].(metricdata.Sum[int64]); ok {
		for _, dp := range s.DataPoints {
			v, _ := dp.Attributes.Value("outcome")
			counts[v.AsString()] += dp.Value
		}
	}
	// The stop came before another claim, or after some: one retry, then
	// sends.
	if counts["retry"] != 1 || counts["sent"] > 2 || len(counts) > 2 {
		t.Errorf("keel.webhook.deliveries = %v, want one retry and up to two sent", counts)
	}
	h, ok := got["keel.webhook.latency"].(metricdata.Histogram[float64])
	if !ok || len(h.DataPoints) != 1 || h.DataPoints[0].Count != uint64(counts["retry"]+counts["sent"]) {
		t.Errorf("keel.webhook.latency = %+v, want one latency per attempt", got["keel.webhook.latency"])
	}
	if g, ok := got["keel.webhook.queue_depth"].(metricdata.Gauge[int64]); ok && len(g.DataPoints) > 0 {
		t.Errorf("keel.webhook.queue_depth = %+v after Run returned, want nothing", g)
	}
}

func TestNewDispatcherChecksWebhookSettings(t *testing.T) {
	t.Parallel()
	recv := newFakeReceiver()
	for name, cfg := range map[string]messaging.DispatcherConfig{
		"no sender of the disabled mail": {Webhooks: recv},
		"a lease shorter than two posts": {Webhooks: recv, MailFrom: hookMailFrom, WebhookLease: 15 * time.Second},
		"a policy without attempts":      {Webhooks: recv, MailFrom: hookMailFrom, WebhookPolicy: domain.RetryPolicy{Base: time.Second, Max: time.Second}},
	} {
		if _, err := messaging.NewDispatcher(cfg); err == nil {
			t.Errorf("%s: NewDispatcher accepted %+v", name, cfg)
		}
	}
}
