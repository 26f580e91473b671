package tracing

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/inmem"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// spyMailer is an inmem.Mailer that also notes the span each send ran in
// and when: the fake makes no span of its own, so this is how the test
// sees that the send happened inside messaging.Deliver.
type spyMailer struct {
	*inmem.Mailer
	mu    sync.Mutex
	sends []spySend
}

type spySend struct {
	span trace.SpanContext
	at   time.Time
}

func (m *spyMailer) Send(ctx context.Context, msg domain.Message) error {
	m.mu.Lock()
	m.sends = append(m.sends, spySend{trace.SpanContextFromContext(ctx), time.Now()})
	m.mu.Unlock()
	return m.Mailer.Send(ctx, msg)
}

var _ ports.Mailer = (*spyMailer)(nil)

// TestSubmissionToDeliveryIsOneTrace follows a form submission from the
// POST through its SQL inserts to the mail dispatcher: the outbox row keeps
// the request's traceparent, so the delivery, which runs later on a
// context of its own, joins the request's trace. It sets the global tracer
// provider (the use-case spans come from it) and so must not run in
// parallel.
func TestSubmissionToDeliveryIsOneTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	ctx := t.Context()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keel.db"), sqlstore.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	clock := ports.ClockFunc(time.Now)

	// A workspace and its owner, directly through the stores as the forms
	// use-case tests make them: identity is not what this test follows.
	u, err := domain.NewUser(domain.NewUserInput{Email: "owner@example.com", Name: "Owner", PasswordHash: "x"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ws, err := domain.NewWorkspace("Site", "site", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if err := st.Users().Add(ctx, u); err != nil {
			return err
		}
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		return st.Memberships().Add(ctx, domain.Membership{Workspace: ws.ID(), User: u.ID(), Role: domain.RoleOwner, CreatedAt: clock.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{PollInterval: -1, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	owner := domain.NewUserPrincipal(u.ID(), false, "ses_x")

	fs := forms.NewService(forms.Config{
		UoW: db, Authorizer: authz, Clock: clock, MailFrom: "Keel <keel@example.com>", IPHashKey: []byte("test"),
		PerIP: ratelimit.NewRateLimiter(1000, 1000, time.Now), PerForm: ratelimit.NewRateLimiter(1000, 1000, time.Now),
	})
	// A notification and an autoresponse: two messages, two deliveries.
	form, err := fs.CreateForm(ctx, owner, "site", domain.FormInput{
		Name: "Contact",
		Fields: []domain.Field{
			{Name: "name", Type: domain.FieldText, Required: true},
			{Name: "email", Type: domain.FieldEmail, Required: true},
			{Name: "message", Type: domain.FieldTextarea},
		},
		Notify:        domain.Notify{Recipients: []string{"team@example.com"}},
		Autoresponder: domain.Autoresponder{Enabled: true, EmailField: "email", Subject: "Thanks", Text: "Hi {{.Fields.name}}"},
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{
		Logger: discard, System: system.NewService(db, db, clock), Forms: fs,
		TracerProvider: tp, Propagator: propagation.TraceContext{},
	})
	mailer := &spyMailer{Mailer: inmem.NewMailer()}
	d, err := messaging.NewDispatcher(messaging.DispatcherConfig{UoW: db, Mailer: mailer, Clock: clock, Logger: discard, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	rec.Reset() // only the request and the delivery from here on

	// The browser's POST, without a traceparent of its own: the server
	// span starts the trace.
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/v1/forms/"+string(form.ID())+"/submissions",
		strings.NewReader(`{"name":"Ada","email":"ada@example.com","message":"Hello"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	api.ServeHTTP(w, r)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST submission = %d %s", w.Code, w.Body)
	}

	// One dispatcher step, on a context that carries no span: whatever
	// trace the deliveries join, they got from the outbox rows.
	n, err := d.DispatchDue(context.Background())
	if err != nil {
		t.Fatalf("DispatchDue: %v", err)
	}
	if n != 2 || len(mailer.Sent()) != 2 {
		t.Fatalf("DispatchDue claimed %d and sent %d messages, want 2 and 2", n, len(mailer.Sent()))
	}

	spans := rec.Ended()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var server, submit sdktrace.ReadOnlySpan
	var delivers []sdktrace.ReadOnlySpan
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			server = s
		case s.Name() == "forms.Submit":
			submit = s
		case s.Name() == "messaging.Deliver":
			delivers = append(delivers, s)
		}
	}
	if server == nil || submit == nil || len(delivers) != 2 {
		t.Fatalf("want a server span, a forms.Submit span and two messaging.Deliver spans; got %s", names(spans))
	}
	tid := server.SpanContext().TraceID()
	t.Logf("trace %s: %d spans ended", tid, len(spans))
	if server.Parent().IsValid() {
		t.Errorf("server span has parent %v; the POST carried no traceparent", server.Parent())
	}
	if !strings.HasPrefix(server.Name(), "POST /v1/forms/") {
		t.Errorf("server span name = %q", server.Name())
	}
	// descends reports whether s is below anc, following parents through
	// the recorded spans.
	descends := func(s, anc sdktrace.ReadOnlySpan) bool {
		for p := s.Parent(); p.IsValid(); {
			if p.SpanID() == anc.SpanContext().SpanID() {
				return true
			}
			up, ok := byID[p.SpanID()]
			if !ok {
				return false
			}
			p = up.Parent()
		}
		return false
	}
	if submit.SpanContext().TraceID() != tid || !descends(submit, server) {
		t.Errorf("forms.Submit (trace %s) is not below the server span (trace %s)", submit.SpanContext().TraceID(), tid)
	}

	// The inserts run inside forms.Submit, in the request's trace.
	inserts := map[string]int{}
	for _, s := range spans {
		stmt := statement(s)
		for _, table := range []string{"INSERT INTO submissions", "INSERT INTO outbox_messages"} {
			if !strings.Contains(stmt, table) {
				continue
			}
			inserts[table]++
			if s.SpanContext().TraceID() != tid || !descends(s, submit) {
				t.Errorf("SQL span %s (%.40q) in trace %s is not below forms.Submit in trace %s", s.Name(), stmt, s.SpanContext().TraceID(), tid)
			}
		}
	}
	if inserts["INSERT INTO submissions"] != 1 || inserts["INSERT INTO outbox_messages"] != 2 {
		t.Errorf("insert spans = %v, want 1 into submissions and 2 into outbox_messages", inserts)
	}

	// Each delivery continues the request's trace, under a span of the
	// request (the use case's, whose context Submit injected); the send
	// and the saved outcome happen inside the delivery.
	for _, dl := range delivers {
		sc := dl.SpanContext()
		if sc.TraceID() != tid {
			t.Errorf("messaging.Deliver is in trace %s, want the request's %s", sc.TraceID(), tid)
			continue
		}
		parent, ok := byID[dl.Parent().SpanID()]
		switch {
		case !ok:
			t.Errorf("messaging.Deliver's parent %s is no recorded span", dl.Parent().SpanID())
		case parent.SpanContext().TraceID() != tid || (parent != server && !descends(parent, server)):
			t.Errorf("messaging.Deliver's parent %s is not a span of the request", parent.Name())
		default:
			t.Logf("messaging.Deliver %s is a child of %s", sc.SpanID(), parent.Name())
		}
		if !dl.Parent().IsRemote() {
			t.Errorf("messaging.Deliver's parent is not remote: it should come from the stored traceparent")
		}
		sends := 0
		mailer.mu.Lock()
		for _, s := range mailer.sends {
			if s.span.SpanID() != sc.SpanID() {
				continue
			}
			sends++
			if s.at.Before(dl.StartTime()) || s.at.After(dl.EndTime()) {
				t.Errorf("send at %s is outside messaging.Deliver's %s..%s", s.at, dl.StartTime(), dl.EndTime())
			}
		}
		mailer.mu.Unlock()
		if sends != 1 {
			t.Errorf("messaging.Deliver %s saw %d sends, want 1", sc.SpanID(), sends)
		}
		saved := 0
		for _, s := range spans {
			if strings.Contains(statement(s), "UPDATE outbox_messages SET status") && descends(s, dl) {
				saved++
			}
		}
		if saved != 1 {
			t.Errorf("messaging.Deliver %s has %d outcome UPDATEs below it, want 1", sc.SpanID(), saved)
		}
	}
	mailer.mu.Lock()
	if len(mailer.sends) != 2 {
		t.Errorf("mailer saw %d sends, want 2", len(mailer.sends))
	}
	mailer.mu.Unlock()
}

// statement is a SQL span's db.statement, "" for other spans.
func statement(s sdktrace.ReadOnlySpan) string {
	for _, a := range s.Attributes() {
		if a.Key == "db.statement" {
			return a.Value.AsString()
		}
	}
	return ""
}
