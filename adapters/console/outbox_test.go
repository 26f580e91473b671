package console

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// msgFixture is a console with the messaging service wired as bootstrap
// wires it, and its database, so that a test can put the outbox and the
// delivery log in the states a dispatcher leaves them. Ada owns "site";
// Bob is a user who is no member of it until a test adds him.
type msgFixture struct {
	*fixture
	msgs *messaging.Service
	db   ports.UnitOfWork
	ws   domain.WorkspaceID
}

// newMsgFixture builds what newFixture builds, which keeps its database
// to itself, plus the messaging service.
func newMsgFixture(t *testing.T) *msgFixture {
	t.Helper()
	ctx := t.Context()
	db := sqlitetest.New(t)
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	clock := ports.ClockFunc(time.Now)
	ids, err := identity.NewService(ctx, identity.Config{
		UoW: db, Authorizer: authz, Clock: clock, SessionTTL: time.Hour,
		Hasher: argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
	})
	if err != nil {
		t.Fatal(err)
	}
	anon := domain.AnonymousPrincipal.WithClient(domain.Client{IP: "192.0.2.1"})
	res, err := ids.Setup(ctx, anon, identity.SetupInput{Email: "ada@example.com", Password: password, Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ids.Authenticate(ctx, res.Token, anon.Client())
	if err != nil {
		t.Fatal(err)
	}
	ws, err := ids.CreateWorkspace(ctx, admin, identity.CreateWorkspaceInput{Name: "Site", Slug: "site"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateUser(ctx, admin, identity.CreateUserInput{Email: "bob@example.com", Password: password, Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	msgs := messaging.NewService(messaging.Config{UoW: db, Authorizer: authz, Clock: clock})
	c := New(Config{Logger: slog.New(slog.DiscardHandler), Identity: ids, Messaging: msgs, Authorizer: authz})
	return &msgFixture{fixture: &fixture{c: c, ids: ids, admin: admin}, msgs: msgs, db: db, ws: ws.ID()}
}

// member makes Bob a member of "site" with role and signs him in.
func (f *msgFixture) member(t *testing.T, role domain.Role) *http.Cookie {
	t.Helper()
	if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", Email: "bob@example.com", Role: role}); err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "bob@example.com", "")
	return ck
}

// queue adds a message to the outbox of "site" in status st; a message
// that was not sent has one failed attempt saying why.
func (f *msgFixture) queue(t *testing.T, subject, to string, st domain.OutboxStatus, why string) domain.OutboxMessage {
	t.Helper()
	now := time.Now()
	m, err := domain.NewMessage(domain.MessageInput{From: "keel@example.com", To: []string{to}, Subject: subject, Text: "Hello."}, now)
	if err != nil {
		t.Fatal(err)
	}
	om := domain.NewOutboxMessage(m, f.ws, "", domain.KindNotification, "", now)
	switch st {
	case domain.OutboxSent:
		om.Sent(now)
	case domain.OutboxDead:
		om.Failed(errors.New(why), true, domain.RetryPolicy{MaxAttempts: 1, Base: time.Second, Max: time.Second}, now)
	case domain.OutboxFailed:
		om.Failed(errors.New(why), false, domain.DefaultRetryPolicy, now)
	}
	if om.Status != st {
		t.Fatalf("queued a %s message, want %s", om.Status, st)
	}
	if err := f.db.WithinTx(t.Context(), func(ctx context.Context, s ports.Stores) error { return s.Outbox().Add(ctx, om) }); err != nil {
		t.Fatal(err)
	}
	return om
}

func (f *msgFixture) messageStatus(t *testing.T, id string) domain.OutboxStatus {
	t.Helper()
	var m domain.OutboxMessage
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, s ports.Stores) (err error) {
		m, err = s.Outbox().Get(ctx, f.ws, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.Status
}

func TestOutboxListsMessagesAndRetriesADeadOne(t *testing.T) {
	t.Parallel()
	f := newMsgFixture(t)
	sent := f.queue(t, "New submission to Contact", "staff@example.com", domain.OutboxSent, "")
	dead := f.queue(t, "Thanks for writing", "visitor@example.com", domain.OutboxDead, "dial tcp: <b>connection refused</b> "+strings.Repeat("x", 1000))
	_, ck := f.signIn(t, "ada@example.com", "")
	const page = "/console/workspaces/site/outbox"

	w := f.do(t, "GET", page, ck.Value, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("outbox: %d\n%s", w.Code, body)
	}
	for _, want := range []string{
		`<a href="/console/workspaces/site/outbox" aria-current="page">`,
		"New submission to Contact", "staff@example.com", "Thanks for writing", "visitor@example.com",
		`<span class="status status-dead">dead</span>`, `<span class="status status-sent">sent</span>`,
		"dial tcp: &lt;b&gt;connection refused&lt;/b&gt;",
		`action="/console/workspaces/site/outbox/` + dead.Message.ID() + `/retry"`,
		`<strong id="count-pending">0</strong> waiting</a></li>`, `<strong id="count-dead">1</strong> dead</a>`, `<strong id="count-failed">0</strong> failed</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the outbox lacks %q", want)
		}
	}
	// The relay's text is bounded, and a sent message offers no retry.
	if strings.Contains(body, strings.Repeat("x", untrustedRunes)) || strings.Contains(body, sent.Message.ID()+"/retry") {
		t.Errorf("unbounded error or a retry of a sent message:\n%s", body)
	}
	if t.Failed() {
		t.Log(body)
	}

	w = f.do(t, "GET", page+"?status=dead", ck.Value, nil)
	if body := w.Body.String(); !strings.Contains(body, "Thanks for writing") || strings.Contains(body, "New submission to Contact") || !strings.Contains(body, `<option value="dead" selected>`) {
		t.Errorf("dead only:\n%s", body)
	}
	for _, q := range []string{"?status=bogus", "?after=garbage"} {
		if w := f.do(t, "GET", page+q, ck.Value, nil); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, w.Code)
		}
	}

	w = f.do(t, "POST", page+"/"+dead.Message.ID()+"/retry", ck.Value, url.Values{"status": {"dead"}}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != page+"?status=dead" {
		t.Fatalf("retry: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	if got := f.messageStatus(t, dead.Message.ID()); got != domain.OutboxPending {
		t.Errorf("after retry the message is %s, want pending", got)
	}
	body = f.do(t, "GET", page, ck.Value, nil).Body.String()
	if !strings.Contains(body, `<strong id="count-pending">1</strong> waiting</a>, the oldest queued <time`) || !strings.Contains(body, `<strong id="count-dead">0</strong>`) {
		t.Errorf("the queue after the retry:\n%s", body)
	}
	if w := f.do(t, "POST", page+"/"+sent.Message.ID()+"/retry", ck.Value, url.Values{}, sameOrigin...); w.Code != http.StatusConflict {
		t.Errorf("retry of a sent message: %d, want 409", w.Code)
	}
	// A cross-site post never reaches the use case.
	again := f.queue(t, "Another", "x@example.com", domain.OutboxDead, "refused")
	if w := f.do(t, "POST", page+"/"+again.Message.ID()+"/retry", ck.Value, url.Values{}, "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusForbidden {
		t.Errorf("cross-site retry: %d", w.Code)
	}
	if got := f.messageStatus(t, again.Message.ID()); got != domain.OutboxDead {
		t.Errorf("after a cross-site retry the message is %s", got)
	}
}

func TestOutboxIsForAdminsAndOwners(t *testing.T) {
	t.Parallel()
	for _, role := range []domain.Role{domain.RoleViewer, domain.RoleEditor} {
		t.Run(role.String(), func(t *testing.T) {
			t.Parallel()
			f := newMsgFixture(t)
			dead := f.queue(t, "Thanks for writing", "visitor@example.com", domain.OutboxDead, "refused")
			bob := f.member(t, role)
			w := f.do(t, "GET", "/console/workspaces/site/outbox", bob.Value, nil)
			body := w.Body.String()
			if w.Code != http.StatusForbidden || !strings.Contains(body, "Only the workspace&#39;s admins and owners can see its mail") || !strings.Contains(body, `aria-current="page">Mail</a>`) {
				t.Fatalf("%s's outbox: %d\n%s", role, w.Code, body)
			}
			if strings.Contains(body, "visitor@example.com") || strings.Contains(body, "Retry") {
				t.Errorf("%s sees the mail:\n%s", role, body)
			}
			w = f.do(t, "POST", "/console/workspaces/site/outbox/"+dead.Message.ID()+"/retry", bob.Value, url.Values{}, sameOrigin...)
			if w.Code != http.StatusNotFound && w.Code != http.StatusForbidden {
				t.Errorf("%s's forged retry: %d, want 403 or 404", role, w.Code)
			}
			if got := f.messageStatus(t, dead.Message.ID()); got != domain.OutboxDead {
				t.Errorf("after %s's forged retry the message is %s", role, got)
			}
		})
	}
}

func TestOutboxPagesWithACursor(t *testing.T) {
	t.Parallel()
	f := newMsgFixture(t)
	for i := range messagesPerPage + 1 {
		f.queue(t, fmt.Sprintf("Message %02d", i), "x@example.com", domain.OutboxSent, "")
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	body := f.do(t, "GET", "/console/workspaces/site/outbox?status=sent", ck.Value, nil).Body.String()
	if n := strings.Count(body, `<tr id="msg-`); n != messagesPerPage {
		t.Fatalf("first page: %d rows, want %d", n, messagesPerPage)
	}
	older := regexp.MustCompile(`<a href="([^"]+)" rel="next">Older</a>`).FindStringSubmatch(body)
	if older == nil || !strings.Contains(older[1], "status=sent") {
		t.Fatalf("no Older link that keeps the filter:\n%s", body)
	}
	second := f.do(t, "GET", html.UnescapeString(older[1]), ck.Value, nil).Body.String()
	if n := strings.Count(second, `<tr id="msg-`); n != 1 || strings.Contains(second, ">Older<") {
		t.Errorf("second page: %d rows\n%s", n, second)
	}
	// Together the pages hold every message once.
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`<tr id="msg-([^"]+)"`).FindAllStringSubmatch(body+second, -1) {
		seen[m[1]] = true
	}
	if len(seen) != messagesPerPage+1 {
		t.Errorf("the two pages hold %d distinct messages, want %d", len(seen), messagesPerPage+1)
	}
}
