package forms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	svc   *forms.Service
	db    *sqlstore.DB
	clock *clock
	owner domain.Principal
	ws    domain.Workspace
	woken int
}

func ptr[T any](v T) *T { return &v }

// newFixture makes a workspace with an owner, directly through the stores
// (identity's use cases belong to another context), on SQLite. cfg, if
// given, changes the service's configuration; its UoW, if set, wraps the
// database.
func newFixture(t *testing.T, perIPBurst int, cfg ...func(*forms.Config)) *fixture {
	t.Helper()
	db := sqlitetest.New(t)
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	u, _ := domain.NewUser(domain.NewUserInput{Email: "owner@example.com", Name: "O", PasswordHash: "x"}, c.Now())
	ws, _ := domain.NewWorkspace("Site", "site", c.Now())
	err := db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Users().Add(ctx, u); err != nil {
			return err
		}
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		return st.Memberships().Add(ctx, domain.Membership{Workspace: ws.ID(), User: u.ID(), Role: domain.RoleOwner, CreatedAt: c.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	f := &fixture{db: db, clock: c, ws: ws, owner: domain.NewUserPrincipal(u.ID(), false, "ses_x")}
	conf := forms.Config{
		UoW: db, Authorizer: authz, Clock: c, MailFrom: "Keel <keel@example.com>",
		Spam:      domain.SpamRules{MaxLinks: 3},
		IPHashKey: []byte("key"),
		PerIP:     ratelimit.NewRateLimiter(1, perIPBurst, c.Now),
		PerForm:   ratelimit.NewRateLimiter(1, perIPBurst, c.Now),
		Wake:      func() { f.woken++ },
	}
	for _, change := range cfg {
		change(&conf)
	}
	f.svc = forms.NewService(conf)
	return f
}

func contactInput() domain.FormInput {
	return domain.FormInput{
		Name: "Contact",
		Fields: []domain.Field{
			{Name: "name", Type: domain.FieldText, Required: true},
			{Name: "email", Type: domain.FieldEmail, Required: true},
			{Name: "message", Type: domain.FieldTextarea},
		},
		Notify:        domain.Notify{Recipients: []string{"team@example.com"}},
		Autoresponder: domain.Autoresponder{Enabled: true, EmailField: "email", Subject: "Thanks", Text: "Hi {{.Fields.name}}"},
		Honeypot:      "website",
		RetentionDays: 30,
	}
}

func (f *fixture) form(t *testing.T) domain.Form {
	t.Helper()
	form, err := f.svc.CreateForm(t.Context(), f.owner, "site", contactInput())
	if err != nil {
		t.Fatal(err)
	}
	return form
}

func submission(form domain.FormID, kv ...string) forms.SubmitInput {
	raw := domain.RawSubmission{Fields: map[string][]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		raw.Fields[kv[i]] = append(raw.Fields[kv[i]], kv[i+1])
		raw.Order = append(raw.Order, kv[i])
	}
	return forms.SubmitInput{Form: form, Raw: raw, ClientIP: "198.51.100.4", UserAgent: "test"}
}

func (f *fixture) outbox(t *testing.T) []domain.OutboxMessage {
	t.Helper()
	var out []domain.OutboxMessage
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		out, _, err = st.Outbox().List(ctx, f.ws.ID(), nil, ports.Page{Limit: 200})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSubmitStoresAndQueuesMailTogether(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(t.Context(), "POST")
	defer span.End()

	res, err := f.svc.Submit(ctx, submission(form.ID(), "name", "Ada", "email", "Ada@Example.COM", "message", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Submission.Get("email") != "Ada@example.com" || res.Submission.Meta().IPHash == "" || strings.Contains(res.Submission.Meta().IPHash, "198.51") {
		t.Fatalf("submission = %+v", res.Submission)
	}
	msgs := f.outbox(t)
	if len(msgs) != 2 || f.woken != 1 {
		t.Fatalf("queued %d messages, woke %d times; want 2 and 1", len(msgs), f.woken)
	}
	for _, m := range msgs {
		if m.Status != domain.OutboxPending || m.Submission != res.Submission.ID() {
			t.Errorf("message %+v", m)
		}
		carrier := propagation.MapCarrier{"traceparent": m.TraceParent}
		sc := propagation.TraceContext{}.Extract(t.Context(), carrier)
		if got := trace.SpanContextFromContext(sc).TraceID(); got != span.SpanContext().TraceID() {
			t.Errorf("message trace %s, want the request's %s", got, span.SpanContext().TraceID())
		}
	}
}

// TestSubmitSendsFromTheWorkspaceSender: a workspace's own sender, when it
// has one, is the From of every message its submissions cause; without
// one, the instance's is.
func TestSubmitSendsFromTheWorkspaceSender(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	submit := func() []string {
		t.Helper()
		res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "ada@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		var from []string
		for _, m := range f.outbox(t) {
			if m.Submission == res.Submission.ID() {
				a := m.Message.From()
				from = append(from, a.String())
			}
		}
		return from
	}
	if got := submit(); len(got) != 2 || got[0] != `"Keel" <keel@example.com>` || got[1] != got[0] {
		t.Fatalf("From without a workspace sender = %q, want the instance's twice", got)
	}

	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		w, err := st.Workspaces().Get(ctx, f.ws.ID())
		if err != nil {
			return err
		}
		if err := w.Update(domain.WorkspaceChange{MailFrom: ptr("Acme <hello@acme.test>")}); err != nil {
			return err
		}
		// Only a verified sender is used; the identity use cases verify it.
		allowed, err := domain.ParseSenderDomains([]string{"acme.test"})
		if err != nil || !w.VerifySender(allowed) {
			return fmt.Errorf("verify the sender: %v", err)
		}
		return st.Workspaces().Update(ctx, w)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The sender has no stamp that a submission's transaction checks, so
	// the form's cached copy keeps the old one for up to five seconds.
	f.clock.Add(5 * time.Second)
	if got := submit(); len(got) != 2 || got[0] != `"Acme" <hello@acme.test>` || got[1] != got[0] {
		t.Fatalf("From with a workspace sender = %q, want the workspace's twice", got)
	}
}

// TestSubmitSeesFormChangesFromAnotherNode: Submit keeps the forms it
// parsed, but a form closed, edited or deleted through another node (another
// service on the same database) is never used stale.
func TestSubmitSeesFormChangesFromAnotherNode(t *testing.T) {
	t.Parallel()
	var conf forms.Config
	f := newFixture(t, 100, func(c *forms.Config) { conf = *c })
	other := forms.NewService(conf)
	form := f.form(t)
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "a@example.com")); err != nil {
		t.Fatal(err)
	}
	// A form's updated_at is its version, as for UpdateForm's own races:
	// each edit below happens at a later time.
	f.clock.Add(time.Millisecond)
	require := func(in *domain.FormInput) error { in.Fields[2].Required = true; return nil }
	if _, err := other.UpdateForm(t.Context(), f.owner, "site", form.ID(), require); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "a@example.com")); domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("without the message another node made required = %v, want invalid", err)
	}
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "a@example.com", "message", "hi")); err != nil {
		t.Errorf("with the message = %v", err)
	}
	f.clock.Add(time.Millisecond)
	closed := func(in *domain.FormInput) error { in.Status = "closed"; return nil }
	if _, err := other.UpdateForm(t.Context(), f.owner, "site", form.ID(), closed); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "a@example.com", "message", "hi")); !errors.Is(err, domain.ErrFormClosed) {
		t.Errorf("form another node closed = %v, want closed", err)
	}
	if err := other.DeleteForm(t.Context(), f.owner, "site", form.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "a@example.com", "message", "hi")); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("form another node deleted = %v, want not found", err)
	}
}

func TestSpamIsStoredAndSendsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Bot", "email", "bot@example.com", "website", "http://spam.example"))
	if err != nil || !res.Submission.IsSpam() {
		t.Fatalf("honeypot: %v spam=%v", err, res.Submission.IsSpam())
	}
	if n := len(f.outbox(t)); n != 0 {
		t.Fatalf("spam queued %d messages", n)
	}
	sub, err := f.svc.GetSubmission(t.Context(), f.owner, "site", res.Submission.ID())
	if err != nil || !sub.IsSpam() {
		t.Fatalf("stored spam = %v %v", sub.Status(), err)
	}
}

func TestSubmitRefusals(t *testing.T) {
	t.Parallel()
	// Two tokens: the first two refusals below take one each (a bad ID
	// takes none), and the third attempt finds the bucket empty.
	f := newFixture(t, 2)
	form := f.form(t)
	if _, err := f.svc.Submit(t.Context(), submission("frm_nope", "name", "x")); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("unknown form = %v", err)
	}
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada")); domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("missing email = %v", err)
	}
	if _, err := f.svc.UpdateForm(t.Context(), f.owner, "site", form.ID(), func(in *domain.FormInput) error { in.Status = "closed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "a@example.com")); !errors.Is(err, domain.ErrFormClosed) {
		t.Errorf("closed form = %v", err)
	}
	var de *domain.Error
	if _, err := f.svc.Submit(t.Context(), submission(form.ID())); !errors.As(err, &de) || de.Code != "rate_limited" || de.RetryAfter <= 0 {
		t.Errorf("third submission from one IP with burst 2 = %v", err)
	}
	if n := len(f.outbox(t)); n != 0 {
		t.Errorf("refused submissions queued %d messages", n)
	}
}

func TestEraseAndRetention(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	for _, e := range []string{"bob@example.com", "BOB@example.com", "xbob@example.com", "alice@example.com"} {
		if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "N", "email", e)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.svc.Erase(t.Context(), f.owner, "site", "Bob@Example.com")
	if err != nil || got.Submissions != 2 || got.Messages != 4 {
		t.Fatalf("Erase = %+v, %v; want 2 submissions and their 4 messages", got, err)
	}
	subs, _, err := f.svc.ListSubmissions(t.Context(), f.owner, "site", form.ID(), ports.SubmissionFilter{}, ports.Page{})
	if err != nil || len(subs) != 2 {
		t.Fatalf("after erasure %d submissions (%v), want 2", len(subs), err)
	}
	f.clock.Add(31 * 24 * time.Hour)
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "N", "email", "new@example.com")); err != nil {
		t.Fatal(err)
	}
	n, err := f.svc.ApplyRetention(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("ApplyRetention = %d, %v; want the 2 old submissions", n, err)
	}
}

func TestExportReadsInBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2000)
	form := f.form(t)
	const total = 1201 // three batches of 500
	for i := range total {
		if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", fmt.Sprint(i), "email", "a@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	started := false
	err := f.svc.ExportSubmissions(t.Context(), f.owner, "site", form.ID(),
		func(domain.Form) error { started = true; return nil },
		func(s domain.Submission) error { seen[s.Get("name")] = true; return nil })
	if err != nil || !started || len(seen) != total {
		t.Fatalf("export: %v, started %v, %d distinct rows; want %d", err, started, len(seen), total)
	}
}
