package console

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

const password = "correct horse battery"

type fixture struct {
	c     *Console
	ids   *identity.Service
	forms *forms.Service
	admin domain.Principal
	db    ports.UnitOfWork // for services a test adds to the console
}

// newFixture wires the console as bootstrap does, on a SQLite copy, with
// an administrator (ada@example.com) who owns the workspace "site" and a
// user (bob@example.com) who owns "other". loginPerIP throttles sign-ins.
func newFixture(t *testing.T, loginPerIP ports.RateLimiter) *fixture {
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
		Hasher:     argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		LoginPerIP: loginPerIP,
		Sealer:     testSealer,
		// keel serve's second-factor limit (cmd/keel/bootstrap).
		SecondFactorFailures: ratelimit.NewBackoff(4, time.Minute, time.Hour, 24*time.Hour, time.Now),
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := forms.NewService(forms.Config{
		UoW: db, Authorizer: authz, Clock: clock, MailFrom: "Keel <keel@example.com>", IPHashKey: []byte("test"),
		PerIP: ratelimit.NewRateLimiter(1e9, 1e9, time.Now), PerForm: ratelimit.NewRateLimiter(1e9, 1e9, time.Now),
	})
	anon := domain.AnonymousPrincipal.WithClient(domain.Client{IP: "192.0.2.1"})
	res, err := ids.Setup(ctx, anon, identity.SetupInput{Email: "ada@example.com", Password: password, Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ids.Authenticate(ctx, res.Token, anon.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateWorkspace(ctx, admin, identity.CreateWorkspaceInput{Name: "Site", Slug: "site"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateUser(ctx, admin, identity.CreateUserInput{Email: "bob@example.com", Password: password, Name: "Bob", InstanceAdmin: true}); err != nil {
		t.Fatal(err)
	}
	bobRes, err := ids.Login(ctx, anon, identity.LoginInput{Email: "bob@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ids.Authenticate(ctx, bobRes.Token, anon.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateWorkspace(ctx, bob, identity.CreateWorkspaceInput{Name: "Other", Slug: "other"}); err != nil {
		t.Fatal(err)
	}
	return &fixture{c: New(Config{Logger: slog.New(slog.DiscardHandler), Identity: ids, Forms: fs, Authorizer: authz}), ids: ids, forms: fs, admin: admin, db: db}
}

// do serves one request; cookie, when set, is sent as the session.
func (f *fixture) do(t *testing.T, method, target, cookie string, form url.Values, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, body)
	req.RemoteAddr = "198.51.100.7:5555"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: CookieName, Value: cookie})
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.c.ServeHTTP(w, req)
	return w
}

func (f *fixture) signIn(t *testing.T, email, preset string) (*httptest.ResponseRecorder, *http.Cookie) {
	t.Helper()
	w := f.do(t, "POST", "/console/sign-in", preset, url.Values{"email": {email}, "password": {password}}, "Sec-Fetch-Site", "same-origin")
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return w, c
		}
	}
	return w, nil
}

func TestSignInSetsANewSessionCookieWithItsFlags(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// A token planted before sign-in, even a valid one, is not promoted.
	planted := "kss_" + strings.Repeat("0", 52)
	w, ck := f.signIn(t, "ada@example.com", planted)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/workspaces" {
		t.Fatalf("sign in: %d to %q, body %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	if ck == nil {
		t.Fatal("no session cookie")
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/console/" || ck.Secure || ck.MaxAge <= 0 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/console/, not Secure on plain HTTP, a positive Max-Age", ck)
	}
	if ck.Value == planted || !domain.IsSessionToken(ck.Value) {
		t.Errorf("cookie value %q: want a new session token", ck.Value)
	}
	_, again := f.signIn(t, "ada@example.com", ck.Value)
	if again == nil || again.Value == ck.Value {
		t.Errorf("a second sign-in kept session %q", ck.Value)
	}
	if w := f.do(t, "GET", "/console/workspaces", ck.Value, nil); w.Code != http.StatusOK {
		t.Errorf("workspaces with the cookie: %d", w.Code)
	}

	f.c.cfg.SecureCookies = true
	if _, ck := f.signIn(t, "ada@example.com", ""); ck == nil || !ck.Secure {
		t.Errorf("with SecureCookies: cookie %+v, want Secure", ck)
	}
}

func TestWrongPasswordShowsTheError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.do(t, "POST", "/console/sign-in", "", url.Values{"email": {"ada@example.com"}, "password": {"wrong"}})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "The e-mail address or password is wrong.") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(w.Result().Cookies()) != 0 {
		t.Errorf("cookies %v after a failed sign-in", w.Result().Cookies())
	}
	if !strings.Contains(w.Body.String(), `value="ada@example.com"`) {
		t.Error("the form lost the e-mail address")
	}
}

func TestThrottledSignInShowsTheWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ratelimit.NewRateLimiter(1.0/30, 1, time.Now))
	if w, _ := f.signIn(t, "ada@example.com", ""); w.Code != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", w.Code)
	}
	w, ck := f.signIn(t, "ada@example.com", "")
	if w.Code != http.StatusTooManyRequests || ck != nil || w.Header().Get("Retry-After") == "" {
		t.Fatalf("second sign-in: %d, cookie %v, Retry-After %q", w.Code, ck, w.Header().Get("Retry-After"))
	}
	if !strings.Contains(w.Body.String(), "Too many attempts: try again in") {
		t.Errorf("body does not show the wait: %s", w.Body)
	}
}

func TestCrossSitePostIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		w := f.do(t, "POST", "/console/sign-out", ck.Value, url.Values{}, h...)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q", h, w.Code, w.Header().Get("Content-Type"))
		}
		w = f.do(t, "POST", "/console/sign-in", "", url.Values{"email": {"ada@example.com"}, "password": {password}}, h...)
		if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
			t.Errorf("sign-in %s: %d, cookies %v", h, w.Code, w.Result().Cookies())
		}
	}
	// The session survived the refused sign-out; a same-origin one ends it.
	if w := f.do(t, "GET", "/console/workspaces", ck.Value, nil); w.Code != http.StatusOK {
		t.Fatalf("after refused sign-out: %d", w.Code)
	}
	w := f.do(t, "POST", "/console/sign-out", ck.Value, url.Values{}, "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/sign-in" {
		t.Fatalf("sign-out: %d %q", w.Code, w.Header().Get("Location"))
	}
	if w := f.do(t, "GET", "/console/workspaces", ck.Value, nil); w.Code != http.StatusSeeOther {
		t.Errorf("after sign-out the old cookie got %d, want a redirect to sign in", w.Code)
	}
}

func TestEveryPageCarriesTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	for _, tc := range []struct {
		path   string
		cookie string
		status int
	}{
		{"/console/sign-in", "", 200},
		{"/console/", "", 303},
		{"/console", "", 301},
		{"/console/workspaces", ck.Value, 200},
		{"/console/workspaces/site", ck.Value, 200},
		{"/console/static/console.css", "", 200},
		{"/console/static/console.js", "", 200},
		{"/console/nope", ck.Value, 404},
		{"/console/workspaces/nope", ck.Value, 404},
	} {
		w := f.do(t, "GET", tc.path, tc.cookie, nil)
		if w.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, w.Code, tc.status)
		}
		h := w.Header()
		if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", tc.path, h)
		}
		if tc.status == 404 && (!strings.Contains(h.Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), "There is no such page.")) {
			t.Errorf("%s: 404 is not the HTML page: %q %s", tc.path, h.Get("Content-Type"), w.Body)
		}
		// The only script is the console's own file: nothing inline.
		if n := strings.Count(w.Body.String(), "<script"); n != strings.Count(w.Body.String(), `<script src="/console/static/console.js" defer></script>`) {
			t.Errorf("%s has a script other than console.js", tc.path)
		}
	}
}

func TestUsersSeeOnlyTheirWorkspaces(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ada := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", "/console/workspaces", ada.Value, nil)
	if !strings.Contains(w.Body.String(), `href="/console/workspaces/site"`) || strings.Contains(w.Body.String(), "other") {
		t.Errorf("ada's list: %s", w.Body)
	}
	// Bob is an instance administrator too, but not a member of "site".
	_, bob := f.signIn(t, "bob@example.com", "")
	if w := f.do(t, "GET", "/console/workspaces/site", bob.Value, nil); w.Code != http.StatusNotFound {
		t.Errorf("bob on site's overview: %d, want 404", w.Code)
	}
	if w := f.do(t, "GET", "/console/workspaces/site", "", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/sign-in" {
		t.Errorf("anonymous overview: %d %q", w.Code, w.Header().Get("Location"))
	}
}

func TestOverviewShowsRecentSubmissionsAndActivity(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, err := f.forms.CreateForm(t.Context(), f.admin, "site", domain.FormInput{
		Name: "Contact us", Fields: []domain.Field{{Name: "email", Type: domain.FieldEmail, Required: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := domain.RawSubmission{Fields: map[string][]string{"email": {"x@example.com"}}, Order: []string{"email"}}
	if _, err := f.forms.Submit(t.Context(), forms.SubmitInput{Form: form.ID(), Raw: raw, ClientIP: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", "/console/workspaces/site", ck.Value, nil)
	body := w.Body.String()
	for _, want := range []string{">Contact us</a></td>", "Recent activity", "form.created"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q:\n%s", want, body)
		}
	}
}

func TestAViewerSeesNoActivity(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", Email: "bob@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	_, bob := f.signIn(t, "bob@example.com", "")
	w := f.do(t, "GET", "/console/workspaces/site", bob.Value, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Recent submissions") {
		t.Fatalf("viewer's overview: %d %s", w.Code, w.Body)
	}
	// The audit log is for admins and owners: the section is left out.
	if strings.Contains(w.Body.String(), "Recent activity") || strings.Contains(w.Body.String(), "workspace.created") {
		t.Errorf("a viewer sees the activity:\n%s", w.Body)
	}
}
