package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/markdown"
	"github.com/keelhq/keel/adapters/mediaimage"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/api/openapitest"
	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/media"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// testClock is a clock the tests move.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// formsFixture is the HTTP API over real identity and forms services on
// SQLite storage and the Casbin authorizer: an instance whose first user
// owns workspace "acme" and calls with a session token.
type formsFixture struct {
	srv   *Server
	clock *testClock
	token string
	logs  *syncBuffer
	cache *PublicCache
	db    *sqlstore.DB

	// checked is srv behind the OpenAPI check: every exchange the tests
	// make through the fixture must be what api/openapi.yaml describes.
	checked http.Handler
}

type fixtureOptions struct {
	perIP        ports.RateLimiter // nil: generous
	maxBodyBytes int64             // 0: the default
	publicURL    string            // "": the default
	rateLimits   *RateLimits       // nil: none; Quotas nil: kept on the fixture's clock
	// idempotency keeps Idempotency-Keys; nil: the database.
	idempotency ports.IdempotencyStore
	// blobs stores the files of file fields; nil: none, so file parts are 415.
	blobs ports.BlobStore
	// forwardedLinks lets X-Forwarded-Host and -Proto name publicURL.
	forwardedLinks bool
}

func newFormsFixture(t testing.TB, opts fixtureOptions) *formsFixture {
	t.Helper()
	ctx := t.Context()
	db := sqlitetest.New(t)
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{PollInterval: -1, Logger: log})
	if err != nil {
		t.Fatalf("casbinauthz.New: %v", err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	cache := NewPublicCache(1 << 20)
	ids, err := identity.NewService(ctx, identity.Config{
		UoW: db, Authorizer: authz, Clock: clock, SessionTTL: 24 * time.Hour, PublicChanged: cache.Invalidate,
		Hasher:          argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		LoginPerIP:      ratelimit.NewRateLimiter(1000, 1000, clock.Now),
		LoginPerAccount: ratelimit.NewRateLimiter(1000, 1000, clock.Now),
		Sealer:          testSealer,
		// keel serve's e-mail change and second-factor limits
		// (cmd/keel/bootstrap).
		EmailChangePerUser:    ratelimit.NewRateLimiter(5.0/3600, 5, clock.Now),
		EmailChangePerAddress: ratelimit.NewRateLimiter(3.0/3600, 3, clock.Now),
		SecondFactorFailures:  ratelimit.NewBackoff(4, time.Minute, time.Hour, 24*time.Hour, clock.Now),
	})
	if err != nil {
		t.Fatalf("identity.NewService: %v", err)
	}
	perIP := opts.perIP
	if perIP == nil {
		perIP = ratelimit.NewRateLimiter(1e9, 1e9, clock.Now)
	}
	fs := forms.NewService(forms.Config{
		UoW: db, Authorizer: authz, Clock: clock, MailFrom: "Keel <keel@example.com>", IPHashKey: []byte("test"),
		PerIP: perIP, PerForm: ratelimit.NewRateLimiter(1e9, 1e9, clock.Now), Blobs: opts.blobs,
	})
	cs := content.NewService(content.Config{UoW: db, Authorizer: authz, Clock: clock, Renderer: markdown.New(), PublicChanged: cache.Invalidate})
	// The media library, on a directory of its own, so every route
	// registers (mediaFixture tests it with its own limits).
	mediaBlobs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatalf("blobfs.New: %v", err)
	}
	mediaSvc := media.NewService(media.Config{UoW: db, Authorizer: authz, Clock: clock, Blobs: mediaBlobs, Images: mediaimage.Processor{}})
	idem := opts.idempotency
	if idem == nil {
		idem = db
	}
	var limits RateLimits
	if opts.rateLimits != nil {
		limits = *opts.rateLimits
		if limits.Quotas == nil {
			limits.Quotas = ratelimit.NewQuotas(clock.Now)
		}
	}
	srv := New(Config{
		Logger: log, System: system.NewService(db, db, clock, system.WithBackupLog(db)), Identity: ids, Forms: fs, Content: cs, PublicCache: cache,
		Media: mediaSvc, Blobs: mediaBlobs,
		Messaging:    messaging.NewService(messaging.Config{UoW: db, Authorizer: authz, Clock: clock}),
		MaxBodyBytes: opts.maxBodyBytes, PublicURL: opts.publicURL, ForwardedLinks: opts.forwardedLinks, RateLimits: limits, TracerProvider: sdktrace.NewTracerProvider(), Propagator: propagation.TraceContext{},
		Idempotency: IdempotencyConfig{Store: idem, IPHashKey: []byte("test"), Now: clock.Now},
	})
	anon := domain.AnonymousPrincipal.WithClient(domain.Client{IP: "192.0.2.1", UserAgent: "test"})
	res, err := ids.Setup(ctx, anon, identity.SetupInput{Email: "owner@example.com", Password: "correct horse battery", Name: "Owner"})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	owner, err := ids.Authenticate(ctx, res.Token, anon.Client())
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if _, err := ids.CreateWorkspace(ctx, owner, identity.CreateWorkspaceInput{Name: "Acme", Slug: "acme"}); err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	return &formsFixture{srv: srv, checked: checked(t, srv), clock: clock, token: res.Token, logs: logs, cache: cache, db: db}
}

// checked puts srv behind the OpenAPI check in tests. Benchmarks measure
// the server alone, and a fuzz target may not report through the F it was
// built with; its inputs are invalid on purpose anyway.
func checked(t testing.TB, srv *Server) http.Handler {
	if tt, ok := t.(*testing.T); ok {
		return openapitest.Handler(tt, srv)
	}
	return srv
}

// invalid returns the fixture with every request marked deliberately
// invalid (openapitest.MarkInvalid): the server's refusal is still
// checked against the document, the request is not.
func (f *formsFixture) invalid() *formsFixture {
	g := *f
	g.checked = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		openapitest.MarkInvalid(r)
		f.checked.ServeHTTP(w, r)
	})
	return &g
}

func (f *formsFixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.checked.ServeHTTP(w, r)
	return w
}

// api calls the management API as the owner with a JSON body (nil for
// none).
func (f *formsFixture) api(t testing.TB, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	return f.serve(req)
}

func decodeBody[T any](t testing.TB, w *httptest.ResponseRecorder, status int) T {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

// contactForm is the definition most tests use.
func contactForm() map[string]any {
	return map[string]any{
		"name": "Contact",
		"fields": []map[string]any{
			{"name": "name", "label": "Your name", "type": "text", "required": true, "max_length": 50},
			{"name": "email", "label": "E-mail", "type": "email", "required": true},
			{"name": "topics", "type": "multiselect", "options": []string{"sales", "support", "=cmd"}},
			{"name": "consent", "type": "checkbox"},
			{"name": "message", "type": "textarea"},
		},
		"notify":          map[string]any{"recipients": []string{"team@example.com"}, "subject": "New: {{.FormName}}"},
		"allowed_origins": []string{"https://site.example"},
		"honeypot":        "website",
	}
}

// createForm defines a form in acme and returns its ID.
func (f *formsFixture) createForm(t testing.TB, def map[string]any) string {
	t.Helper()
	return decodeBody[formResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/forms", def), http.StatusCreated).ID
}

func TestFormCRUD(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	created := decodeBody[formResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/forms", contactForm()), http.StatusCreated)
	if !strings.HasPrefix(created.ID, "frm") || created.Name != "Contact" || created.Status != "open" || len(created.Fields) != 5 ||
		created.CreatedAt.IsZero() || !created.UpdatedAt.Equal(created.CreatedAt.Time) {
		t.Fatalf("created = %+v", created)
	}
	if fd := created.Fields[0]; fd.Type != "text" || !fd.Required || fd.MaxLength == nil || *fd.MaxLength != 50 || fd.Options == nil {
		t.Fatalf("field 0 = %+v", fd)
	}
	if created.Notify.Subject != "New: {{.FormName}}" || created.Honeypot != "website" || !slices.Equal(created.AllowedOrigins, []string{"https://site.example"}) {
		t.Fatalf("created = %+v", created)
	}

	path := "/v1/workspaces/acme/forms/" + created.ID
	if got := decodeBody[formResponse](t, f.api(t, http.MethodGet, path, nil), http.StatusOK); got.ID != created.ID || len(got.Fields) != 5 {
		t.Fatalf("GET = %+v", got)
	}
	list := decodeBody[listResponse[formResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/forms", nil), http.StatusOK)
	if len(list.Data) != 1 || list.Data[0].ID != created.ID || list.NextCursor != nil {
		t.Fatalf("list = %+v", list)
	}

	f.clock.Add(time.Minute)
	patched := decodeBody[formResponse](t, f.api(t, http.MethodPatch, path, map[string]any{
		"name":      "Contact us",
		"redirects": map[string]any{"success": "https://site.example/thanks"},
		"notify":    map[string]any{"subject": "Hello"},
		"honeypot":  nil,
	}), http.StatusOK)
	if patched.Name != "Contact us" || patched.Redirects.Success != "https://site.example/thanks" || patched.Redirects.Error != "" ||
		patched.Notify.Subject != "Hello" || !slices.Equal(patched.Notify.Recipients, []string{"team@example.com"}) ||
		patched.Honeypot != "" || len(patched.Fields) != 5 || !patched.UpdatedAt.After(patched.CreatedAt.Time) {
		t.Fatalf("patched = %+v", patched)
	}
	// notify: null puts the defaults back.
	reset := decodeBody[formResponse](t, f.api(t, http.MethodPatch, path, map[string]any{"notify": nil, "status": "closed"}), http.StatusOK)
	if len(reset.Notify.Recipients) != 0 || reset.Notify.Subject != "New submission: {{.FormName}}" || reset.Status != "closed" {
		t.Fatalf("reset = %+v", reset)
	}

	if w := f.api(t, http.MethodDelete, path, nil); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", w.Code, w.Body)
	}
	decodeProblem(t, f.api(t, http.MethodGet, path, nil), http.StatusNotFound, "not_found")
	decodeProblem(t, f.api(t, http.MethodDelete, path, nil), http.StatusNotFound, "not_found")
	decodeProblem(t, f.api(t, http.MethodGet, "/v1/workspaces/acme/forms/nonsense", nil), http.StatusNotFound, "not_found")
}

func TestFormDefinitionValidation(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	def := map[string]any{
		"name": "Broken",
		"fields": []map[string]any{
			{"name": "a", "type": "text"},
			{"name": "b", "type": "colour"},
			{"name": "c", "type": "text", "pattern": "(unclosed"},
			{"name": "a", "type": "text"},
		},
		"notify": map[string]any{"subject": "{{.Oops"},
	}
	p := decodeProblem(t, f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/forms", def), http.StatusUnprocessableEntity, "validation_failed")
	want := map[string]string{
		"fields[1].type":    "unknown_type",
		"fields[2].pattern": "invalid_pattern",
		"fields[3].name":    "duplicate",
		"notify.subject":    "invalid_template",
	}
	got := map[string]string{}
	for _, e := range p.Errors {
		got[e.Field] = e.Code
	}
	if len(got) != len(want) {
		t.Fatalf("errors = %+v, want %v", p.Errors, want)
	}
	for field, code := range want {
		if got[field] != code {
			t.Errorf("error on %s = %q, want %q (all: %+v)", field, got[field], code, p.Errors)
		}
	}

	// A PATCH that breaks the definition changes nothing.
	id := f.createForm(t, contactForm())
	path := "/v1/workspaces/acme/forms/" + id
	decodeProblem(t, f.invalid().api(t, http.MethodPatch, path, map[string]any{"fields": []map[string]any{{"name": "x", "type": "nope"}}}),
		http.StatusUnprocessableEntity, "validation_failed")
	if got := decodeBody[formResponse](t, f.api(t, http.MethodGet, path, nil), http.StatusOK); len(got.Fields) != 5 {
		t.Fatalf("after a refused PATCH: %+v", got)
	}
	// Unknown keys are typos, refused at any depth and named with their path.
	for _, tc := range []struct {
		method, path string
		body         map[string]any
		field        string
	}{
		{http.MethodPatch, path, map[string]any{"nmae": "x"}, "nmae"},
		{http.MethodPatch, path, map[string]any{"notify": map[string]any{"subjet": "x"}}, "notify.subjet"},
		{http.MethodPost, "/v1/workspaces/acme/forms", map[string]any{"name": "x", "fields": []map[string]any{{"name": "a", "type": "text", "requird": true}}}, "fields[0].requird"},
	} {
		p := decodeProblem(t, f.invalid().api(t, tc.method, tc.path, tc.body), http.StatusUnprocessableEntity, "unknown_field")
		if len(p.Errors) != 1 || p.Errors[0].Field != tc.field || p.Errors[0].Code != "unknown_field" {
			t.Errorf("%v: errors %+v, want %s", tc.body, p.Errors, tc.field)
		}
	}
}

// submitJSON posts a JSON submission anonymously.
func (f *formsFixture) submitJSON(t testing.TB, form string, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/forms/"+form+"/submissions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return f.serve(req)
}

func TestSubmissionsAPI(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, contactForm())
	first := decodeBody[submittedResponse](t, f.submitJSON(t, id,
		`{"name":"Ada","email":"Ada@Example.COM","topics":["sales","support"],"consent":true,"message":"Hello"}`,
		"User-Agent", "ua/1", "Referer", "https://site.example/contact", "Origin", "https://site.example"), http.StatusCreated)
	f.clock.Add(time.Hour)
	second := decodeBody[submittedResponse](t, f.submitJSON(t, id, `{"name":"Bob","email":"bob@example.com","topics":["support"]}`), http.StatusCreated)
	f.clock.Add(time.Hour)
	spam := decodeBody[submittedResponse](t, f.submitJSON(t, id, `{"name":"Spam","email":"spam@example.com","website":"http://x"}`), http.StatusCreated)

	sub := decodeBody[submissionResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/submissions/"+first.ID, nil), http.StatusOK)
	if sub.ID != first.ID || sub.FormID != id || sub.Status != "new" || sub.UserAgent != "ua/1" || sub.Referrer != "https://site.example/contact" ||
		sub.Origin != "https://site.example" || len(sub.IPHash) != 32 || !sub.CreatedAt.Equal(first.CreatedAt.Time) {
		t.Fatalf("submission = %+v", sub)
	}
	if sub.Values["email"] != "Ada@example.com" || sub.Values["consent"] != "true" || sub.Values["name"] != "Ada" {
		t.Fatalf("values = %#v", sub.Values)
	}
	if topics, _ := sub.Values["topics"].([]any); len(topics) != 2 || topics[0] != "sales" {
		t.Fatalf("topics = %#v", sub.Values["topics"])
	}

	list := func(query string) []string {
		t.Helper()
		l := decodeBody[listResponse[submissionResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions"+query, nil), http.StatusOK)
		var ids []string
		for _, s := range l.Data {
			ids = append(ids, s.ID)
		}
		return ids
	}
	if got := list(""); !slices.Equal(got, []string{spam.ID, second.ID, first.ID}) {
		t.Fatalf("list = %v", got)
	}
	if got := list("?status=spam"); !slices.Equal(got, []string{spam.ID}) {
		t.Fatalf("spam = %v", got)
	}
	if got := list("?q=bob"); !slices.Equal(got, []string{second.ID}) {
		t.Fatalf("q=bob = %v", got)
	}
	since := url.QueryEscape(first.CreatedAt.Add(30 * time.Minute).Format(time.RFC3339))
	until := url.QueryEscape(spam.CreatedAt.Format(time.RFC3339))
	if got := list("?since=" + since + "&until=" + until); !slices.Equal(got, []string{second.ID}) {
		t.Fatalf("since/until = %v", got)
	}
	if got := list("?limit=1"); len(got) != 1 {
		t.Fatalf("limit=1 = %v", got)
	}
	p := decodeProblem(t, f.invalid().api(t, http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions?since=yesterday&until=2026-13-01&status=odd", nil),
		http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 3 {
		t.Fatalf("errors = %+v, want since, until and status", p.Errors)
	}

	path := "/v1/workspaces/acme/submissions/" + second.ID
	if got := decodeBody[submissionResponse](t, f.api(t, http.MethodPatch, path, map[string]string{"status": "read"}), http.StatusOK); got.Status != "read" {
		t.Fatalf("PATCH = %+v", got)
	}
	decodeProblem(t, f.invalid().api(t, http.MethodPatch, path, map[string]string{"status": "lost"}), http.StatusUnprocessableEntity, "validation_failed")
	decodeProblem(t, f.api(t, http.MethodPatch, "/v1/workspaces/acme/submissions/"+spam.ID, map[string]string{"status": "new"}),
		http.StatusConflict, "submission_is_spam")
	if w := f.api(t, http.MethodDelete, path, nil); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", w.Code, w.Body)
	}
	decodeProblem(t, f.api(t, http.MethodGet, path, nil), http.StatusNotFound, "not_found")
	decodeProblem(t, f.api(t, http.MethodGet, "/v1/workspaces/acme/submissions/bogus", nil), http.StatusNotFound, "not_found")

	erased := decodeBody[erasureResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/erasure", map[string]string{"email": "ada@example.com"}), http.StatusOK)
	if erased.Submissions != 1 || erased.Messages != 1 {
		t.Fatalf("erased = %+v, want the submission and its notification", erased)
	}
	decodeProblem(t, f.api(t, http.MethodGet, "/v1/workspaces/acme/submissions/"+first.ID, nil), http.StatusNotFound, "not_found")
	decodeProblem(t, f.api(t, http.MethodPost, "/v1/workspaces/acme/erasure", map[string]string{"email": "nope"}), http.StatusUnprocessableEntity, "validation_failed")
}

func TestExport(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, contactForm())
	a := decodeBody[submittedResponse](t, f.submitJSON(t, id, `{"name":"=HYPERLINK(\"http://evil\")","email":"a@example.com","topics":["sales","=cmd"]}`), http.StatusCreated)
	f.clock.Add(time.Second)
	b := decodeBody[submittedResponse](t, f.submitJSON(t, id, `{"name":"Bob, \"the\" builder","email":"b@example.com","message":"line 1\nline 2","topics":["support"]}`), http.StatusCreated)

	w := f.api(t, http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions/export", nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		w.Header().Get("Content-Disposition") != `attachment; filename=`+id+`-submissions.csv` {
		t.Fatalf("export = %d %v %s", w.Code, w.Header(), w.Body)
	}
	records, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatalf("read CSV: %v", err)
	}
	want := [][]string{
		{"id", "created_at", "status", "name", "email", "topics", "consent", "message"},
		{b.ID, b.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z"), "new", `Bob, "the" builder`, "b@example.com", "support", "", "line 1\nline 2"},
		{a.ID, a.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z"), "new", `'=HYPERLINK("http://evil")`, "a@example.com", "sales; =cmd", "", ""},
	}
	if !slices.EqualFunc(records, want, slices.Equal) {
		t.Fatalf("CSV =\n%q\nwant\n%q", records, want)
	}

	w = f.api(t, http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions/export?format=jsonl", nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("jsonl export = %d %v", w.Code, w.Header())
	}
	lines := strings.Split(strings.TrimSuffix(w.Body.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("jsonl = %q", w.Body)
	}
	var row submissionResponse
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatal(err)
	}
	// The export knows the form: a one-option multiselect is still a list.
	if topics, _ := row.Values["topics"].([]any); row.ID != b.ID || len(topics) != 1 || row.Values["message"] != "line 1\nline 2" {
		t.Fatalf("jsonl row = %+v", row)
	}

	decodeProblem(t, f.invalid().api(t, http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions/export?format=xlsx", nil), http.StatusUnprocessableEntity, "validation_failed")
	decodeProblem(t, f.api(t, http.MethodGet, "/v1/workspaces/acme/forms/frm_nope/submissions/export", nil), http.StatusNotFound, "not_found")
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions/export", nil)
	decodeProblem(t, f.invalid().serve(req), http.StatusUnauthorized, "unauthenticated") // no credentials, on purpose
}

// brokenPipe fails every write, as a connection the client dropped does.
type brokenPipe struct{ *httptest.ResponseRecorder }

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("write: broken pipe") }

// TestExportAbortsAfterFirstByte checks that an export failing once the
// 200 is out is logged and drops the connection (http.ErrAbortHandler),
// so that the client cannot mistake a truncated file for a whole one.
func TestExportAbortsAfterFirstByte(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, contactForm())
	decodeBody[submittedResponse](t, f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com"}`), http.StatusCreated)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions/export", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	w := brokenPipe{httptest.NewRecorder()}
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", r)
		}
		if !strings.Contains(f.logs.String(), "export aborted after the first byte") || !strings.Contains(f.logs.String(), "broken pipe") {
			t.Fatalf("logs = %s", f.logs)
		}
		if w.Code != http.StatusOK {
			t.Fatalf("status = %d, want the 200 already sent", w.Code)
		}
	}()
	f.srv.ServeHTTP(w, req)
	t.Fatal("the export did not abort")
}
