package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/httpapi"
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
	"github.com/keelhq/keel/test/testdb"
)

// engine makes databases of one kind: fresh and migrated, or copies of
// one that a template fixture was built on and closed.
type engine struct {
	name  string
	fresh func(t *testing.T) string             // the URL of a new migrated database
	copy  func(t *testing.T, url string) string // the URL of a copy of the closed database at url
	opts  []sqlstore.Option
}

var engines = []engine{
	{name: "sqlite", fresh: func(t *testing.T) string { return sqlitetest.URL(t) }, copy: copySQLite},
	// A few connections per fixture: many fixtures are open at once and
	// the container allows a hundred connections in all.
	{name: "postgres", fresh: func(t *testing.T) string { return testdb.Postgres(t, testdb.MigrateKeel) }, copy: func(t *testing.T, url string) string { return testdb.Copy(t, url) },
		opts: []sqlstore.Option{sqlstore.WithMaxOpenConns(4)}},
}

// copySQLite copies the database file at url, which closing its last
// connection left without a write-ahead log.
func copySQLite(t *testing.T, url string) string {
	t.Helper()
	src := strings.TrimPrefix(url, "sqlite:")
	if _, err := os.Stat(src + "-wal"); err == nil {
		t.Fatalf("copy %s: it still has a write-ahead log", src)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("copy sqlite database: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "keel.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatalf("copy sqlite database: %v", err)
	}
	return "sqlite:" + dst
}

// clock is the fixture's time, which only the fixture moves: forward past
// the session lifetime to expire a session.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var discard = slog.New(slog.DiscardHandler)

// cheapHashing is the least work argon2id.Params.Validate accepts: the
// matrix hashes and verifies thousands of passwords, and their strength is
// not what it tests.
var cheapHashing = argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const (
	password   = "correct horse battery"
	sessionTTL = time.Hour
	wsA, wsB   = "ws-a", "ws-b"
)

// allScopes is every API key scope the README lists.
var allScopes = []string{
	"forms:read", "forms:write", "submissions:read", "submissions:write", "content:read",
	"content:write", "webhooks:read", "webhooks:write", "members:read", "members:write",
	"submissions:erase", "events:read", "content:import", "media:read", "media:write",
}

// stack is Keel's HTTP API over a fresh database, wired as bootstrap wires
// it but with a clock the test moves, cheap password hashing, login limits
// the matrix never reaches and the policy reloaded only by the use cases.
type stack struct {
	srv     *httpapi.Server
	ids     *identity.Service
	forms   *forms.Service
	content *content.Service
	msgs    *messaging.Service
	media   *media.Service
	db      *sqlstore.DB
	clock   *clock
	close   func() // closes the database and what uses it
}

// start is the time every stack's clock starts at.
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// newStack opens the database at url and the blob store in the folder
// blobs, with a clock at now, and closes them when t ends or at close.
func newStack(t *testing.T, e engine, url, blobDir string, now time.Time) stack {
	t.Helper()
	var closers []func()
	var once sync.Once
	st := stack{close: func() {
		once.Do(func() {
			for _, c := range slices.Backward(closers) {
				c()
			}
		})
	}}
	t.Cleanup(st.close)
	db, err := sqlstore.Open(t.Context(), url, e.opts...)
	if err != nil {
		t.Fatalf("open %s: %v", e.name, err)
	}
	closers = append(closers, func() { _ = db.Close() })
	c := &clock{now: now}
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1, Logger: discard})
	if err != nil {
		t.Fatalf("casbinauthz.New: %v", err)
	}
	closers = append(closers, func() { _ = authz.Close() })
	ids, err := identity.NewService(t.Context(), identity.Config{
		UoW: db, Authorizer: authz, Hasher: argon2id.New(cheapHashing), Clock: c, SessionTTL: sessionTTL,
		LoginPerIP:      ratelimit.NewRateLimiter(1000, 1000, c.Now),
		LoginPerAccount: ratelimit.NewRateLimiter(1000, 1000, c.Now),
		Sealer:          twoFactorSealer,
	})
	if err != nil {
		t.Fatalf("identity.NewService: %v", err)
	}
	tp := sdktrace.NewTracerProvider()
	closers = append(closers, func() { _ = tp.Shutdown(context.Background()) })
	msgs := messaging.NewService(messaging.Config{UoW: db, Authorizer: authz, Clock: c})
	fs := forms.NewService(forms.Config{
		UoW: db, Authorizer: authz, Clock: c, MailFrom: "Keel <keel@example.com>", IPHashKey: []byte("test"),
		PerIP: ratelimit.NewRateLimiter(1000, 1000, c.Now), PerForm: ratelimit.NewRateLimiter(1000, 1000, c.Now),
	})
	cs := content.NewService(content.Config{UoW: db, Authorizer: authz, Clock: c, Renderer: markdown.New()})
	blobs, err := blobfs.New(blobDir)
	if err != nil {
		t.Fatalf("blobfs.New: %v", err)
	}
	ms := media.NewService(media.Config{UoW: db, Authorizer: authz, Clock: c, Blobs: blobs, Images: mediaimage.Processor{}})
	st.srv = httpapi.New(httpapi.Config{Logger: discard, System: system.NewService(db, db, c), Identity: ids, Messaging: msgs, Forms: fs, Content: cs,
		Media: ms, Blobs: blobs, TracerProvider: tp})
	st.ids, st.forms, st.content, st.msgs, st.media, st.db, st.clock = ids, fs, cs, msgs, ms, db, c
	return st
}

// template is a fixture built once and closed. Each cell that changes
// data gets a copy of its database and blob store (fixture), which costs
// a file copy or a CREATE DATABASE where building a fixture costs dozens
// of use cases: the matrix has thousands of such cells.
type template struct {
	e       engine
	url     string
	blobDir string
	now     time.Time
	fixture fixture // the IDs and credentials; its stack is closed
}

// newTemplate builds p's fixture on e, holding a key for every scope when
// p calls with keys, and closes it; its database lives as long as t.
func newTemplate(t *testing.T, e engine, p principal) *template {
	t.Helper()
	tp := &template{e: e, url: e.fresh(t), blobDir: t.TempDir()}
	f := build(t, newStack(t, e, tp.url, tp.blobDir, start), p)
	f.close()
	tp.now, tp.fixture = f.clock.Now(), *f
	return tp
}

// newTemplates builds a template for each principal, on e.
func newTemplates(t *testing.T, e engine) (ts [principals]*template) {
	t.Helper()
	for p := range principals {
		ts[p] = newTemplate(t, e, p)
	}
	return ts
}

// copy returns a fixture of its own over a copy of tp's database and
// blob store, closed when t ends.
func (tp *template) copy(t *testing.T) *fixture {
	t.Helper()
	blobDir := t.TempDir()
	if err := os.CopyFS(blobDir, os.DirFS(tp.blobDir)); err != nil {
		t.Fatalf("copy blobs: %v", err)
	}
	f := tp.fixture
	f.stack = newStack(t, tp.e, tp.e.copy(t, tp.url), blobDir, tp.now)
	return &f
}

// fixture is an instance set up by an administrator who belongs to no
// workspace; workspace A ("ws-a") with an owner, an admin, an editor and two
// viewers, one of them the target rows change, remove or disable; a user in
// no workspace whom rows add to A; an API key in A that rows revoke;
// workspace B ("ws-b"), whose owner is in no other workspace; and the one
// credential the principal a cell runs as needs.
type fixture struct {
	stack
	wsA      domain.WorkspaceID
	target   domain.UserID   // a viewer in A whom rows change, remove or disable
	newcomer domain.UserID   // in no workspace: rows add them to A
	victim   domain.APIKeyID // an active key in A that rows revoke
	message  string          // a failed message in A's outbox that rows retry

	// form is a form in A that rows read, change, delete and submit to;
	// sub is a submission to it that rows read, file and delete.
	form domain.FormID
	sub  domain.SubmissionID
	// entry is a post in A that rows read, change, publish, unpublish,
	// revise and delete; A's site also has a published post and page
	// (publicSlug) that the public rows read.
	entry domain.EntryID
	// previewLink is an active preview link of entry that rows revoke;
	// previewToken is its token, which the public preview row reads with.
	previewLink  domain.PreviewLinkID
	previewToken string
	// webhook is an endpoint in A that rows read, change, test, rotate and
	// delete; delivery is a delivery to it that ended, which rows read and
	// redeliver.
	webhook  domain.WebhookID
	delivery domain.DeliveryID
	// invitation is a pending invitation to A that rows revoke.
	invitation domain.InvitationID
	// mediaFile is a PNG in A's library that rows read, change and delete,
	// and the public media rows download.
	mediaFile domain.MediaID
	// tokens holds the credential each principal calls with; key principals
	// have one per scope (keyScope), so keys is keyed by scope.
	tokens map[principal]string
	keys   map[string]string
}

// people are the principals who log in, by e-mail address.
var people = map[principal]string{
	instanceAdmin: "root@example.com",
	viewer:        "viewer@example.com",
	editor:        "editor@example.com",
	admin:         "admin@example.com",
	owner:         "owner@example.com",
	otherMember:   "other@example.com",
}

// build sets up a fixture on st holding p's credential: a key for every
// scope (keyScope) when p calls with keys.
func build(t *testing.T, st stack, p principal) *fixture {
	t.Helper()
	ctx := t.Context()
	anon := domain.AnonymousPrincipal.WithClient(domain.Client{IP: "192.0.2.9", UserAgent: "fixture"})
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("fixture: %s: %v", what, err)
		}
	}
	f := &fixture{stack: st, tokens: map[principal]string{}, keys: map[string]string{}}
	login := func(email string) (string, domain.Principal) {
		t.Helper()
		res, err := f.ids.Login(ctx, anon, identity.LoginInput{Email: email, Password: password})
		must("log in "+email, err)
		pr, err := f.ids.Authenticate(ctx, res.Token, anon.Client())
		must("authenticate "+email, err)
		return res.Token, pr
	}

	setup, err := f.ids.Setup(ctx, anon, identity.SetupInput{Email: people[instanceAdmin], Password: password, Name: "Root"})
	must("setup", err)
	root, err := f.ids.Authenticate(ctx, setup.Token, anon.Client())
	must("authenticate root", err)
	ids := map[string]domain.UserID{}
	for _, email := range []string{people[viewer], people[editor], people[admin], people[owner], people[otherMember], "target@example.com", "newcomer@example.com"} {
		u, err := f.ids.CreateUser(ctx, root, identity.CreateUserInput{Email: email, Password: password, Name: strings.TrimSuffix(email, "@example.com")})
		must("create user "+email, err)
		ids[email] = u.ID()
	}
	f.target, f.newcomer = ids["target@example.com"], ids["newcomer@example.com"]
	// Only instance administrators and the users they allow create
	// workspaces (KEEL_WORKSPACE_CREATORS=admins, the default).
	for _, email := range []string{people[owner], people[otherMember]} {
		_, err := f.ids.UpdateUser(ctx, root, identity.UpdateUserInput{ID: ids[email], CanCreateWorkspaces: new(true)})
		must("allow "+email+" to create workspaces", err)
	}

	ownerToken, own := login(people[owner])
	w, err := f.ids.CreateWorkspace(ctx, own, identity.CreateWorkspaceInput{Name: "Workspace A", Slug: wsA})
	must("create workspace A", err)
	f.wsA = w.ID()
	for email, role := range map[string]domain.Role{
		people[viewer]: domain.RoleViewer, people[editor]: domain.RoleEditor, people[admin]: domain.RoleAdmin,
		"target@example.com": domain.RoleViewer,
	} {
		_, err := f.ids.AddMember(ctx, own, identity.AddMemberInput{Workspace: wsA, Email: email, Role: role})
		must("add "+email+" to A", err)
	}
	_, other := login(people[otherMember])
	_, err = f.ids.CreateWorkspace(ctx, other, identity.CreateWorkspaceInput{Name: "Workspace B", Slug: wsB})
	must("create workspace B", err)

	key := func(name string, scopes []string) identity.CreatedAPIKey {
		t.Helper()
		k, err := f.ids.CreateAPIKey(ctx, own, identity.CreateAPIKeyInput{Workspace: wsA, Name: name, Scopes: scopes})
		must("create key "+name, err)
		return k
	}
	f.victim = key("victim", []string{"content:read"}).Key.ID()
	f.message = failedMessage(t, f.db, f.wsA, f.clock.Now())
	f.form, f.sub = formWithSubmission(t, f.forms, own)
	f.entry = entries(t, f.content, own, f.clock.Now())
	pl, err := f.content.CreatePreviewLink(ctx, own, wsA, f.entry, 0)
	must("create preview link", err)
	f.previewLink, f.previewToken = pl.Link.ID(), pl.Token
	f.webhook, f.delivery = webhookWithDelivery(t, f.msgs, f.db, own, f.clock.Now())
	inv, err := f.ids.Invite(ctx, own, identity.InviteInput{Workspace: wsA, Email: "invitee@example.com", Role: domain.RoleViewer})
	must("invite", err)
	f.invitation = inv.ID()
	up, err := f.media.Upload(ctx, own, wsA, media.Upload{Name: "logo.png", Body: bytes.NewReader(tinyPNG(t))})
	must("upload media", err)
	f.mediaFile = up.ID()
	if p == keyWithScope || p == keyWithoutScope {
		f.keys["*"] = key("every scope", allScopes).Secret
		for _, s := range allScopes {
			f.keys[s] = key(s, []string{s}).Secret
		}
	}
	if p == revokedKey {
		k := key("revoked", allScopes)
		must("revoke key", f.ids.RevokeAPIKey(ctx, own, wsA, k.Key.ID()))
		f.tokens[p] = k.Secret
	}

	// Every session so far, the owner's among them, expires; the keys
	// never do. People log in again after.
	f.clock.Add(2 * sessionTTL)
	switch p {
	case expiredSession:
		f.tokens[p] = ownerToken
	case anonymous, keyWithScope, keyWithoutScope, revokedKey:
	default:
		f.tokens[p], _ = login(people[p])
	}
	return f
}

// credential returns the Authorization token p calls r with; "" for none.
func (f *fixture) credential(t *testing.T, p principal, r row) string {
	t.Helper()
	if p == anonymous {
		return ""
	}
	tok := f.tokens[p]
	if p == keyWithScope || p == keyWithoutScope {
		tok = f.keys[keyScope(p, r)]
	}
	if tok == "" {
		t.Fatalf("fixture has no credential for %s on %s", p, r.route)
	}
	return tok
}

// keyScope is the scope of the key p holds for r: the route's own scope
// (every scope where none grants the route) or one unrelated to it.
func keyScope(p principal, r row) string {
	switch {
	case p == keyWithScope && r.scope == "":
		return "*"
	case p == keyWithScope:
		return r.scope
	case r.scope == "forms:read":
		return "content:read"
	}
	return "forms:read"
}

// call makes r's request as p and returns the response.
func (f *fixture) call(t *testing.T, r row, p principal) *httptest.ResponseRecorder {
	t.Helper()
	method, path, _ := strings.Cut(r.route, " ")
	ws := wsA
	if r.byID {
		ws = string(f.wsA)
	}
	id := string(f.sub) // entries and submissions both call their ID :id
	if strings.Contains(path, "/entries/") {
		id = string(f.entry)
	}
	if strings.Contains(path, "/media/") {
		id = string(f.mediaFile)
		path = strings.Replace(path, ":name", "logo.png", 1)
	}
	path = strings.NewReplacer(":ws", ws, ":user", string(f.target), ":key", string(f.victim), ":message", f.message,
		":form", string(f.form), ":id", id, ":rev", "1", ":site", wsA, ":slug", publicSlug, "*path", "posts",
		":webhook", string(f.webhook), ":delivery", string(f.delivery), ":file", "docs.js",
		":invitation", string(f.invitation), ":link", string(f.previewLink)).Replace(path)
	if strings.HasSuffix(path, "/preview") {
		path += "?token=" + f.previewToken
	}
	if strings.HasPrefix(path, "/v1/submission-files/") {
		path = strings.NewReplacer(":submission", string(f.sub), ":n", "1").Replace(path) + "?expires=4102444800&sig=made-up"
	}
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body(f)); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost && strings.HasSuffix(path, "/media") {
		// An upload's body is the file, not JSON.
		req = httptest.NewRequestWithContext(t.Context(), method, path+"?name=logo.png", bytes.NewReader(tinyPNG(t)))
		req.Header.Set("Content-Type", "image/png")
	}
	if tok := f.credential(t, p, r); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	} else if r.want[p] == http.StatusUnauthorized {
		// No credentials where the document asks for some, on purpose:
		// only the refusal is checked against it.
		openapitest.MarkInvalid(req)
	}
	w := httptest.NewRecorder()
	// Every cell's exchange must be what api/openapi.yaml describes, the
	// refusals included.
	openapitest.Handler(t, f.srv).ServeHTTP(w, req)
	return w
}

// tinyPNG is a 2×2 PNG for the media rows.
func tinyPNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// failedMessage queues a message in ws's outbox whose one attempt failed
// for good, as a rejected recipient does, and returns its ID.
func failedMessage(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, now time.Time) string {
	t.Helper()
	m, err := domain.NewMessage(domain.MessageInput{From: "keel@example.com", To: []string{"nobody@example.com"}, Subject: "Hello", Text: "Hello"}, now)
	if err != nil {
		t.Fatalf("fixture: message: %v", err)
	}
	o := domain.NewOutboxMessage(m, ws, "", domain.KindNotification, "", now)
	o.Failed(errors.New("550 no such mailbox"), false, domain.DefaultRetryPolicy, now)
	if err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Outbox().Add(ctx, o) }); err != nil {
		t.Fatalf("fixture: queue message: %v", err)
	}
	return m.ID()
}

// formWithSubmission defines a form in A as its owner, with one field per
// matrix body (submitBody), and submits to it once.
func formWithSubmission(t *testing.T, fs *forms.Service, owner domain.Principal) (domain.FormID, domain.SubmissionID) {
	t.Helper()
	fm, err := fs.CreateForm(t.Context(), owner, wsA, domain.FormInput{
		Name: "Contact",
		Fields: []domain.Field{
			{Name: "name", Type: domain.FieldText, Required: true},
			{Name: "email", Type: domain.FieldEmail, Required: true},
		},
		Notify:         domain.Notify{Recipients: []string{"team@example.com"}},
		AllowedOrigins: []string{"https://site.example"},
	})
	if err != nil {
		t.Fatalf("fixture: create form: %v", err)
	}
	out, err := fs.Submit(t.Context(), forms.SubmitInput{
		Form:     fm.ID(),
		Raw:      domain.RawSubmission{Fields: map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}}, Order: []string{"name", "email"}},
		ClientIP: "192.0.2.9",
	})
	if err != nil {
		t.Fatalf("fixture: submit: %v", err)
	}
	return fm.ID(), out.Submission.ID()
}

// publicSlug is the slug of the published post and page of A's site.
const publicSlug = "hello"

// entries writes, as A's owner, a published post and a published page
// with publicSlug, and returns a third post, scheduled a year ahead: the
// one state that both publish (now) and unpublish (to draft) accept, so
// every management row can act on it.
func entries(t *testing.T, cs *content.Service, owner domain.Principal, now time.Time) domain.EntryID {
	t.Helper()
	ctx := t.Context()
	write := func(kind, title, slug string) domain.Entry {
		t.Helper()
		e, err := cs.CreateEntry(ctx, owner, wsA, content.CreateInput{
			Kind: kind, Content: domain.EntryContent{Title: title, Slug: slug, Body: "Some *Markdown*.", Tags: []string{"Hello"}},
		})
		if err != nil {
			t.Fatalf("fixture: create %s %q: %v", kind, title, err)
		}
		return e
	}
	for _, kind := range []string{"post", "page"} {
		e := write(kind, "Hello", publicSlug)
		if _, err := cs.PublishEntry(ctx, owner, wsA, e.ID(), nil, nil); err != nil {
			t.Fatalf("fixture: publish %s: %v", kind, err)
		}
	}
	// The public author rows read the owner's profile by publicSlug.
	slug := publicSlug
	if _, err := cs.UpdateAuthor(ctx, owner, wsA, owner.User(), content.AuthorEdit{Slug: &slug}); err != nil {
		t.Fatalf("fixture: author profile: %v", err)
	}
	e := write("post", "Coming soon", "")
	at := now.AddDate(1, 0, 0)
	if _, err := cs.PublishEntry(ctx, owner, wsA, e.ID(), &at, nil); err != nil {
		t.Fatalf("fixture: schedule post: %v", err)
	}
	return e.ID()
}

// webhookWithDelivery adds an endpoint to A as its owner, and a test
// delivery to it whose one attempt the receiver refused for good, so that
// it can be redelivered.
func webhookWithDelivery(t *testing.T, msgs *messaging.Service, uow ports.UnitOfWork, owner domain.Principal, now time.Time) (domain.WebhookID, domain.DeliveryID) {
	t.Helper()
	created, err := msgs.CreateWebhook(t.Context(), owner, wsA, domain.WebhookInput{URL: "https://hooks.example.com/keel", Events: []string{"*"}})
	if err != nil {
		t.Fatalf("fixture: create webhook: %v", err)
	}
	w := created.Webhook
	e := domain.WebhookTestEvent(w, now)
	d := domain.NewDelivery(e, w.ID(), "", now)
	d.Record(domain.DeliveryAttempt{At: now, StatusCode: 400, Error: "400 Bad Request"}, domain.DeliveryFinal, domain.DefaultWebhookRetryPolicy)
	err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Events().Add(ctx, e); err != nil {
			return err
		}
		return st.Deliveries().Add(ctx, d)
	})
	if err != nil {
		t.Fatalf("fixture: queue delivery: %v", err)
	}
	return w.ID(), d.ID
}
