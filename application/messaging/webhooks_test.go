package messaging_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// hookFixture is a workspace "hooks" with an owner, an editor and an API
// key of the owner's holding webhooks:read only, a second workspace
// "elsewhere" of another owner, and the messaging service over the real
// authorizer.
type hookFixture struct {
	db       *sqlstore.DB
	clock    *clock
	ws       domain.Workspace
	other    domain.Workspace
	owner    domain.Principal
	editor   domain.Principal
	readKey  domain.Principal // webhooks:read, made by the owner
	stranger domain.Principal // the owner of "elsewhere" only
	svc      *messaging.Service
	wakes    *atomic.Int64
}

func newHookFixture(t *testing.T, allowHTTP bool) *hookFixture {
	t.Helper()
	f := &hookFixture{db: sqlitetest.New(t), clock: &clock{now: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)}, wakes: &atomic.Int64{}}
	now := f.clock.Now()
	user := func(email string) domain.User {
		u, err := domain.NewUser(domain.NewUserInput{Email: email, Name: "U", PasswordHash: "x"}, now)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	owner, editor, stranger := user("owner@example.com"), user("editor@example.com"), user("stranger@example.com")
	var err error
	if f.ws, err = domain.NewWorkspace("Hooks", "hooks", now); err != nil {
		t.Fatal(err)
	}
	if f.other, err = domain.NewWorkspace("Elsewhere", "elsewhere", now); err != nil {
		t.Fatal(err)
	}
	key, _, err := domain.NewAPIKey(domain.NewAPIKeyInput{Workspace: f.ws.ID(), Name: "reader", Scopes: []string{"webhooks:read"}, CreatedBy: owner.ID()}, now)
	if err != nil {
		t.Fatal(err)
	}
	err = f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		return errors.Join(
			st.Users().Add(ctx, owner), st.Users().Add(ctx, editor), st.Users().Add(ctx, stranger),
			st.Workspaces().Add(ctx, f.ws), st.Workspaces().Add(ctx, f.other),
			st.Memberships().Add(ctx, domain.Membership{Workspace: f.ws.ID(), User: owner.ID(), Role: domain.RoleOwner, CreatedAt: now}),
			st.Memberships().Add(ctx, domain.Membership{Workspace: f.ws.ID(), User: editor.ID(), Role: domain.RoleEditor, CreatedAt: now}),
			st.Memberships().Add(ctx, domain.Membership{Workspace: f.other.ID(), User: stranger.ID(), Role: domain.RoleOwner, CreatedAt: now}),
			st.APIKeys().Add(ctx, key),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	authz, err := casbinauthz.New(t.Context(), f.db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	f.owner = domain.NewUserPrincipal(owner.ID(), false, "ses_owner")
	f.editor = domain.NewUserPrincipal(editor.ID(), false, "ses_editor")
	f.stranger = domain.NewUserPrincipal(stranger.ID(), false, "ses_stranger")
	f.readKey = domain.NewAPIKeyPrincipal(key.ID(), f.ws.ID(), owner.ID(), key.Scopes())
	f.svc = messaging.NewService(messaging.Config{
		UoW: f.db, Authorizer: authz, Clock: f.clock, AllowHTTP: allowHTTP, Wake: func() { f.wakes.Add(1) },
	})
	return f
}

func hookInput(url string, events ...string) domain.WebhookInput {
	return domain.WebhookInput{URL: url, Events: events, Description: "CRM sync"}
}

// create makes an endpoint in "hooks" as its owner.
func (f *hookFixture) create(t *testing.T, in domain.WebhookInput) messaging.CreatedWebhook {
	t.Helper()
	out, err := f.svc.CreateWebhook(t.Context(), f.owner, "hooks", in)
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	return out
}

// stored reads an endpoint back from the store.
func (f *hookFixture) stored(t *testing.T, id domain.WebhookID) domain.Webhook {
	t.Helper()
	var w domain.Webhook
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		w, err = st.Webhooks().Get(ctx, f.ws.ID(), id)
		return err
	})
	if err != nil {
		t.Fatalf("read webhook %s: %v", id, err)
	}
	return w
}

// endedDelivery queues a webhook.test delivery to w directly through the
// stores, as an earlier test of the endpoint would, with one attempt the
// receiver refused for good (a 400), and returns it.
func (f *hookFixture) endedDelivery(t *testing.T, w domain.Webhook) domain.WebhookDelivery {
	t.Helper()
	now := f.clock.Now()
	e := domain.WebhookTestEvent(w, now)
	d := domain.NewDelivery(e, w.ID(), "", now)
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Events().Add(ctx, e); err != nil {
			return err
		}
		return st.Deliveries().Add(ctx, d)
	})
	if err != nil {
		t.Fatalf("queue delivery: %v", err)
	}
	d.Record(domain.DeliveryAttempt{At: now, StatusCode: 400, Latency: 20 * time.Millisecond, Error: "400 Bad Request", Body: "no"},
		domain.ClassifyResponse(400), domain.DefaultWebhookRetryPolicy)
	if err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Save(ctx, d) }); err != nil {
		t.Fatalf("save delivery: %v", err)
	}
	return d
}

func (f *hookFixture) audit(t *testing.T) []domain.AuditEvent {
	t.Helper()
	var events []domain.AuditEvent
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		events, _, err = st.Audit().List(ctx, f.ws.ID(), ports.Page{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// fieldError returns the code of err's entry for field, "" without one.
func fieldError(err error, field string) string {
	var de *domain.Error
	if !errors.As(err, &de) {
		return ""
	}
	for _, fe := range de.Fields {
		if fe.Field == field {
			return fe.Code
		}
	}
	return ""
}

func TestWebhooksNeedTheirPermissions(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	hook := f.create(t, hookInput("https://hooks.example.com/keel", "*")).Webhook
	d := f.endedDelivery(t, hook)
	ctx, id := t.Context(), hook.ID()

	reads := map[string]func(p domain.Principal) error{
		"ListWebhooks": func(p domain.Principal) error {
			_, _, err := f.svc.ListWebhooks(ctx, p, "hooks", ports.Page{})
			return err
		},
		"GetWebhook": func(p domain.Principal) error { _, err := f.svc.GetWebhook(ctx, p, "hooks", id); return err },
		"ListDeliveries": func(p domain.Principal) error {
			_, _, err := f.svc.ListDeliveries(ctx, p, "hooks", id, "", ports.Page{})
			return err
		},
		"GetDelivery": func(p domain.Principal) error { _, err := f.svc.GetDelivery(ctx, p, "hooks", id, d.ID); return err },
	}
	writes := map[string]func(p domain.Principal) error{
		"CreateWebhook": func(p domain.Principal) error {
			_, err := f.svc.CreateWebhook(ctx, p, "hooks", hookInput("https://hooks.example.com/other", "*"))
			return err
		},
		"UpdateWebhook": func(p domain.Principal) error {
			_, err := f.svc.UpdateWebhook(ctx, p, "hooks", id, domain.WebhookPatch{Description: new("changed")})
			return err
		},
		"DeleteWebhook":       func(p domain.Principal) error { return f.svc.DeleteWebhook(ctx, p, "hooks", id) },
		"TestWebhook":         func(p domain.Principal) error { _, err := f.svc.TestWebhook(ctx, p, "hooks", id); return err },
		"RotateWebhookSecret": func(p domain.Principal) error { _, err := f.svc.RotateWebhookSecret(ctx, p, "hooks", id); return err },
		"Redeliver":           func(p domain.Principal) error { _, err := f.svc.Redeliver(ctx, p, "hooks", id, d.ID); return err },
	}
	for name, call := range reads {
		if err := call(f.editor); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s as an editor = %v, want forbidden", name, err)
		}
		if err := call(f.readKey); err != nil {
			t.Errorf("%s with a webhooks:read key = %v, want it allowed", name, err)
		}
		if err := call(domain.AnonymousPrincipal); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("%s anonymously = %v, want unauthenticated", name, err)
		}
		if err := call(f.stranger); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s as another workspace's owner = %v, want not found", name, err)
		}
	}
	for name, call := range writes {
		if err := call(f.editor); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s as an editor = %v, want forbidden", name, err)
		}
		if err := call(f.readKey); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s with a webhooks:read key = %v, want forbidden", name, err)
		}
		if err := call(f.stranger); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s as another workspace's owner = %v, want not found", name, err)
		}
	}
	if got := f.stored(t, id); got.Description() != "CRM sync" || got.Secret().Text() != hook.Secret().Text() {
		t.Errorf("refused writes changed the webhook: description %q, secret changed %v", got.Description(), got.Secret().Text() != hook.Secret().Text())
	}
	if f.wakes.Load() != 0 {
		t.Errorf("refused writes woke the dispatcher %d times", f.wakes.Load())
	}
}

func TestCreateWebhook(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	in := hookInput(" https://hooks.example.com/keel?token=abc ", "submission.created", "form.created", "submission.created")
	out := f.create(t, in)
	w := out.Webhook
	if w.URL() != "https://hooks.example.com/keel?token=abc" || !slices.Equal(w.Events(), []string{"form.created", "submission.created"}) ||
		w.Description() != "CRM sync" || !w.Enabled() || w.Workspace() != f.ws.ID() {
		t.Fatalf("created %+v", w)
	}
	secret, err := domain.ParseWebhookSecret(out.Secret)
	if err != nil || !strings.HasPrefix(out.Secret, "whsec_") {
		t.Fatalf("secret %q does not parse: %v", out.Secret, err)
	}
	if got := f.stored(t, w.ID()); got.Secret().Text() != secret.Text() || got.URL() != w.URL() {
		t.Fatalf("stored webhook has secret match %v, url %q", got.Secret().Text() == secret.Text(), got.URL())
	}
	events := f.audit(t)
	if len(events) != 1 || events[0].Action != "webhook.created" || events[0].TargetID != string(w.ID()) ||
		events[0].Details["url"] != "https://hooks.example.com/keel" || events[0].Details["events"] != "form.created submission.created" {
		t.Fatalf("audit log = %+v", events)
	}
	for k, v := range events[0].Details {
		if strings.Contains(v, "whsec_") || strings.Contains(v, "token=") {
			t.Errorf("audit detail %s = %q keeps a secret", k, v)
		}
	}

	off := false
	disabled, err := f.svc.CreateWebhook(t.Context(), f.owner, "hooks", domain.WebhookInput{URL: "https://b.example.com", Events: []string{"*"}, Enabled: &off})
	if err != nil || disabled.Webhook.Enabled() || disabled.Webhook.DisabledReason() != domain.WebhookDisabledManual {
		t.Fatalf("created disabled: enabled %v reason %q, %v", disabled.Webhook.Enabled(), disabled.Webhook.DisabledReason(), err)
	}
}

func TestCreateWebhookValidates(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	for _, tc := range []struct {
		in          domain.WebhookInput
		field, code string
	}{
		{hookInput("http://hooks.example.com/keel", "*"), "url", "insecure_url"},
		{hookInput("https://user:pass@hooks.example.com/keel", "*"), "url", "invalid_url"},
		{hookInput("/keel", "*"), "url", "invalid_url"},
		{hookInput("", "*"), "url", "required"},
		{hookInput("https://hooks.example.com/keel", "submission.exploded"), "events", "unknown_value"},
		{hookInput("https://hooks.example.com/keel"), "events", "required"},
		{domain.WebhookInput{URL: "https://hooks.example.com/keel", Events: []string{"*"}, Description: strings.Repeat("x", 501)}, "description", "too_long"},
	} {
		_, err := f.svc.CreateWebhook(t.Context(), f.owner, "hooks", tc.in)
		if domain.KindOf(err) != domain.KindInvalid || fieldError(err, tc.field) != tc.code {
			t.Errorf("CreateWebhook(%q, %q) = %v, want %s on %s", tc.in.URL, tc.in.Events, err, tc.code, tc.field)
		}
	}
	if hooks, _, err := f.svc.ListWebhooks(t.Context(), f.owner, "hooks", ports.Page{}); err != nil || len(hooks) != 0 {
		t.Fatalf("after refusals: %d webhooks, %v; want none", len(hooks), err)
	}

	// http:// is for development, when the instance allows it.
	dev := newHookFixture(t, true)
	if _, err := dev.svc.CreateWebhook(t.Context(), dev.owner, "hooks", hookInput("http://127.0.0.1:8081/keel", "*")); err != nil {
		t.Fatalf("http:// with AllowHTTP: %v", err)
	}
}

func TestCreateWebhookLimit(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	var first domain.WebhookID
	for i := range domain.MaxWebhooksPerWorkspace {
		w := f.create(t, hookInput("https://hooks.example.com/"+string(rune('a'+i)), "*")).Webhook
		if i == 0 {
			first = w.ID()
		}
	}
	if _, err := f.svc.CreateWebhook(t.Context(), f.owner, "hooks", hookInput("https://hooks.example.com/z", "*")); !errors.Is(err, domain.ErrTooManyWebhooks) {
		t.Fatalf("webhook %d = %v, want too_many_webhooks", domain.MaxWebhooksPerWorkspace+1, err)
	}
	// The limit is per workspace...
	if _, err := f.svc.CreateWebhook(t.Context(), f.stranger, "elsewhere", hookInput("https://hooks.example.com/z", "*")); err != nil {
		t.Fatalf("another workspace's first webhook: %v", err)
	}
	// ...and a deletion makes room.
	if err := f.svc.DeleteWebhook(t.Context(), f.owner, "hooks", first); err != nil {
		t.Fatal(err)
	}
	f.create(t, hookInput("https://hooks.example.com/z", "*"))
}

func TestUpdateWebhook(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	w := f.create(t, hookInput("https://hooks.example.com/keel", "*")).Webhook
	f.clock.Add(time.Minute)

	got, err := f.svc.UpdateWebhook(t.Context(), f.owner, "hooks", w.ID(), domain.WebhookPatch{
		URL: new("https://hooks.example.com/v2"), Events: &[]string{"form.deleted"},
	})
	if err != nil || got.URL() != "https://hooks.example.com/v2" || !slices.Equal(got.Events(), []string{"form.deleted"}) ||
		got.Description() != "CRM sync" || !got.UpdatedAt().Equal(f.clock.Now()) {
		t.Fatalf("UpdateWebhook = %+v, %v", got, err)
	}
	if s := f.stored(t, w.ID()); s.URL() != got.URL() || s.Secret().Text() != w.Secret().Text() {
		t.Fatalf("stored after update: url %q, secret kept %v", s.URL(), s.Secret().Text() == w.Secret().Text())
	}
	if _, err := f.svc.UpdateWebhook(t.Context(), f.owner, "hooks", w.ID(), domain.WebhookPatch{Events: &[]string{}}); fieldError(err, "events") != "required" {
		t.Fatalf("emptying events = %v, want required", err)
	}
	if _, err := f.svc.UpdateWebhook(t.Context(), f.owner, "hooks", w.ID(), domain.WebhookPatch{URL: new("http://hooks.example.com")}); fieldError(err, "url") != "insecure_url" {
		t.Fatalf("http:// = %v, want insecure_url", err)
	}

	// The receiver answered 410: the endpoint is disabled and failing.
	failed := f.stored(t, w.ID())
	failed.DeliveryFailed(true, domain.DefaultWebhookDisableAfter, f.clock.Now())
	if err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Webhooks().Save(ctx, failed) }); err != nil {
		t.Fatal(err)
	}
	got, err = f.svc.UpdateWebhook(t.Context(), f.owner, "hooks", w.ID(), domain.WebhookPatch{Enabled: new(true)})
	if err != nil || !got.Enabled() || got.DisabledReason() != "" || got.FailingSince() != nil {
		t.Fatalf("re-enabling: enabled %v, reason %q, failing since %v, %v; want the failure state cleared", got.Enabled(), got.DisabledReason(), got.FailingSince(), err)
	}
	if s := f.stored(t, w.ID()); !s.Enabled() || s.FailingSince() != nil {
		t.Fatalf("stored after re-enabling: enabled %v, failing since %v", s.Enabled(), s.FailingSince())
	}

	// Disabling ends what was queued for the endpoint, saying why.
	d, err := f.svc.TestWebhook(t.Context(), f.owner, "hooks", w.ID())
	if err != nil {
		t.Fatal(err)
	}
	got, err = f.svc.UpdateWebhook(t.Context(), f.owner, "hooks", w.ID(), domain.WebhookPatch{Enabled: new(false)})
	if err != nil || got.Enabled() || got.DisabledReason() != domain.WebhookDisabledManual {
		t.Fatalf("disabling = enabled %v reason %q, %v", got.Enabled(), got.DisabledReason(), err)
	}
	d, err = f.svc.GetDelivery(t.Context(), f.owner, "hooks", w.ID(), d.ID)
	if err != nil || d.Status != domain.OutboxFailed || len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "disabled") {
		t.Fatalf("the pending delivery after disabling: %+v, %v; want failed with a reason", d, err)
	}

	var actions []string
	for _, e := range f.audit(t) {
		actions = append(actions, e.Action)
	}
	if n := strings.Count(strings.Join(actions, " "), "webhook.updated"); n != 3 {
		t.Errorf("audit actions %v: %d webhook.updated, want 3", actions, n)
	}
}

func TestDeleteWebhook(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	w := f.create(t, hookInput("https://hooks.example.com/keel", "*")).Webhook
	if err := f.svc.DeleteWebhook(t.Context(), f.owner, "hooks", w.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.GetWebhook(t.Context(), f.owner, "hooks", w.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("GetWebhook after delete = %v, want not found", err)
	}
	if err := f.svc.DeleteWebhook(t.Context(), f.owner, "hooks", w.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleting twice = %v, want not found", err)
	}
	if err := f.svc.DeleteWebhook(t.Context(), f.owner, "hooks", "not-a-webhook-id"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleting a malformed ID = %v, want not found", err)
	}
}

func TestAnotherWorkspacesWebhookIsNotFound(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	theirs, err := f.svc.CreateWebhook(t.Context(), f.stranger, "elsewhere", hookInput("https://hooks.example.com/theirs", "*"))
	if err != nil {
		t.Fatal(err)
	}
	id := theirs.Webhook.ID()
	if _, err := f.svc.GetWebhook(t.Context(), f.owner, "hooks", id); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetWebhook of another workspace's webhook = %v, want not found", err)
	}
	if _, err := f.svc.UpdateWebhook(t.Context(), f.owner, "hooks", id, domain.WebhookPatch{Description: new("mine")}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateWebhook = %v, want not found", err)
	}
	if _, err := f.svc.TestWebhook(t.Context(), f.owner, "hooks", id); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("TestWebhook = %v, want not found", err)
	}
	if _, err := f.svc.RotateWebhookSecret(t.Context(), f.owner, "hooks", id); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("RotateWebhookSecret = %v, want not found", err)
	}
	if _, _, err := f.svc.ListDeliveries(t.Context(), f.owner, "hooks", id, "", ports.Page{}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ListDeliveries = %v, want not found", err)
	}
	if err := f.svc.DeleteWebhook(t.Context(), f.owner, "hooks", id); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("DeleteWebhook = %v, want not found", err)
	}
	if _, err := f.svc.GetWebhook(t.Context(), f.stranger, "elsewhere", id); err != nil {
		t.Errorf("the webhook is gone from its own workspace: %v", err)
	}
}

func TestTestWebhookQueuesADelivery(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	w := f.create(t, hookInput("https://hooks.example.com/keel", "form.created")).Webhook
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(t.Context(), sc)

	d, err := f.svc.TestWebhook(ctx, f.owner, "hooks", w.ID())
	if err != nil {
		t.Fatalf("TestWebhook: %v", err)
	}
	if d.Status != domain.OutboxPending || d.Webhook != w.ID() || d.EventType != domain.EventWebhookTest || !d.NextAttemptAt.Equal(f.clock.Now()) {
		t.Fatalf("queued %+v; want a pending webhook.test delivery to the endpoint, due now", d)
	}
	if f.wakes.Load() != 1 {
		t.Fatalf("wakes = %d, want one after commit", f.wakes.Load())
	}
	stored, err := f.svc.GetDelivery(t.Context(), f.owner, "hooks", w.ID(), d.ID)
	if err != nil || stored.Event != d.Event || stored.Status != domain.OutboxPending {
		t.Fatalf("the store returns %+v, %v", stored, err)
	}
	// The traceparent is the request's span, whatever span the use case
	// opens under it (none without a tracer provider).
	if !strings.Contains(stored.TraceParent, sc.TraceID().String()) {
		t.Errorf("delivery traceparent %q, want one in trace %s", stored.TraceParent, sc.TraceID())
	}
	ds, _, err := f.svc.ListDeliveries(t.Context(), f.readKey, "hooks", w.ID(), "pending", ports.Page{})
	if err != nil || len(ds) != 1 || ds[0].ID != d.ID {
		t.Fatalf("ListDeliveries(pending) = %v, %v", ds, err)
	}

	// The test goes to this endpoint only, not to others subscribed to
	// everything.
	other := f.create(t, hookInput("https://hooks.example.com/all", "*")).Webhook
	if _, err := f.svc.TestWebhook(t.Context(), f.owner, "hooks", w.ID()); err != nil {
		t.Fatal(err)
	}
	if ds, _, err := f.svc.ListDeliveries(t.Context(), f.owner, "hooks", other.ID(), "", ports.Page{}); err != nil || len(ds) != 0 {
		t.Fatalf("the other endpoint got %d deliveries, %v; want none", len(ds), err)
	}

	off := false
	if _, err := f.svc.UpdateWebhook(t.Context(), f.owner, "hooks", w.ID(), domain.WebhookPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	wakes := f.wakes.Load()
	if _, err := f.svc.TestWebhook(t.Context(), f.owner, "hooks", w.ID()); !errors.Is(err, domain.ErrWebhookDisabled) {
		t.Fatalf("testing a disabled webhook = %v, want webhook_disabled", err)
	}
	if f.wakes.Load() != wakes {
		t.Errorf("a refused test woke the dispatcher")
	}
}

func TestRedeliver(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	w := f.create(t, hookInput("https://hooks.example.com/keel", "*")).Webhook
	ended := f.endedDelivery(t, w)
	f.clock.Add(time.Hour)

	d, err := f.svc.Redeliver(t.Context(), f.owner, "hooks", w.ID(), ended.ID)
	if err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	if d.Status != domain.OutboxPending || d.Event != ended.Event || !d.NextAttemptAt.Equal(f.clock.Now()) ||
		d.AttemptCount != 1 || d.SeriesStart != 1 || f.wakes.Load() != 1 {
		t.Fatalf("redelivered %+v (wakes %d); want pending now with the same event, its history and a new budget", d, f.wakes.Load())
	}
	stored, err := f.svc.GetDelivery(t.Context(), f.readKey, "hooks", w.ID(), ended.ID)
	if err != nil || stored.Status != domain.OutboxPending || stored.Event != ended.Event || len(stored.Attempts) != 1 {
		t.Fatalf("the store returns %+v, %v", stored, err)
	}
	if _, err := f.svc.Redeliver(t.Context(), f.owner, "hooks", w.ID(), ended.ID); !errors.Is(err, domain.ErrDeliveryPending) {
		t.Fatalf("redelivering a pending delivery = %v, want delivery_pending", err)
	}
	if f.wakes.Load() != 1 {
		t.Errorf("a refused redelivery woke the dispatcher")
	}
	events := f.audit(t)
	if len(events) == 0 || events[0].Action != "webhook.redelivered" || events[0].TargetID != string(ended.ID) || events[0].Details["status"] != "failed" {
		t.Fatalf("latest audit event = %+v", events)
	}

	// A disabled endpoint receives nothing: redelivering to it is refused.
	again := f.endedDelivery(t, w)
	if _, err := f.svc.UpdateWebhook(t.Context(), f.owner, "hooks", w.ID(), domain.WebhookPatch{Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Redeliver(t.Context(), f.owner, "hooks", w.ID(), again.ID); !errors.Is(err, domain.ErrWebhookDisabled) {
		t.Fatalf("redelivering to a disabled webhook = %v, want webhook_disabled", err)
	}
	if _, err := f.svc.Redeliver(t.Context(), f.owner, "hooks", w.ID(), "dlv_nosuchdelivery"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("redelivering an unknown delivery = %v, want not found", err)
	}
}

func TestListDeliveriesByStatus(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	w := f.create(t, hookInput("https://hooks.example.com/keel", "*")).Webhook
	ended := f.endedDelivery(t, w)
	f.clock.Add(time.Second)
	pending, err := f.svc.TestWebhook(t.Context(), f.owner, "hooks", w.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status string
		want   []domain.DeliveryID
	}{
		{"", []domain.DeliveryID{pending.ID, ended.ID}},
		{"failed", []domain.DeliveryID{ended.ID}},
		{"pending", []domain.DeliveryID{pending.ID}},
		{"sent", nil},
	} {
		ds, _, err := f.svc.ListDeliveries(t.Context(), f.owner, "hooks", w.ID(), tc.status, ports.Page{})
		var got []domain.DeliveryID
		for _, d := range ds {
			got = append(got, d.ID)
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ListDeliveries(%q) = %v, %v; want %v", tc.status, got, err, tc.want)
		}
	}
	if _, _, err := f.svc.ListDeliveries(t.Context(), f.owner, "hooks", w.ID(), "lost", ports.Page{}); fieldError(err, "status") != "unknown_value" {
		t.Fatalf("an unknown status = %v, want 422 on status", err)
	}
}

func TestRotateWebhookSecret(t *testing.T) {
	t.Parallel()
	f := newHookFixture(t, false)
	created := f.create(t, hookInput("https://hooks.example.com/keel", "*"))
	f.clock.Add(time.Hour)
	now := f.clock.Now()

	out, err := f.svc.RotateWebhookSecret(t.Context(), f.owner, "hooks", created.Webhook.ID())
	if err != nil {
		t.Fatalf("RotateWebhookSecret: %v", err)
	}
	if out.Secret == created.Secret || !strings.HasPrefix(out.Secret, "whsec_") || !out.PreviousExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("rotated: new secret differs %v, previous expires %s; want a new whsec_ and %s", out.Secret != created.Secret, out.PreviousExpiresAt, now.Add(24*time.Hour))
	}
	texts := func(ss []domain.WebhookSecret) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Text())
		}
		return out
	}
	stored := f.stored(t, created.Webhook.ID())
	if got := texts(stored.Secrets(now.Add(24*time.Hour - time.Second))); !slices.Equal(got, []string{out.Secret, created.Secret}) {
		t.Errorf("secrets just before 24 h: %d, want the new and the previous", len(got))
	}
	if got := texts(stored.Secrets(now.Add(24 * time.Hour))); !slices.Equal(got, []string{out.Secret}) {
		t.Errorf("secrets after 24 h: %d, want the new one only", len(got))
	}
	if events := f.audit(t); events[0].Action != "webhook.secret_rotated" || len(events[0].Details) != 0 {
		t.Errorf("latest audit event = %+v", events[0])
	}
}
