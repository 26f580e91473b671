package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// accountFixture is the console over an identity service whose mail the
// test reads from the outbox: ada@example.com, an instance administrator,
// owns the workspace "site".
type accountFixture struct {
	c     *Console
	ids   *identity.Service
	db    ports.UnitOfWork
	admin domain.Principal
}

func newAccountFixture(t *testing.T) *accountFixture {
	t.Helper()
	ctx := t.Context()
	db := sqlitetest.New(t)
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	ids, err := identity.NewService(ctx, identity.Config{
		UoW: db, Authorizer: authz, Clock: ports.ClockFunc(time.Now), SessionTTL: time.Hour,
		Hasher:   argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		LinkBase: func() string { return "https://keel.example" },
		// keel serve's e-mail change limits (cmd/keel/bootstrap).
		EmailChangePerUser:    ratelimit.NewRateLimiter(5.0/3600, 5, time.Now),
		EmailChangePerAddress: ratelimit.NewRateLimiter(3.0/3600, 3, time.Now),
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
	if _, err := ids.CreateWorkspace(ctx, admin, identity.CreateWorkspaceInput{Name: "Site", Slug: "site"}); err != nil {
		t.Fatal(err)
	}
	c := New(Config{Logger: slog.New(slog.DiscardHandler), Identity: ids, Authorizer: authz})
	return &accountFixture{c: c, ids: ids, db: db, admin: admin}
}

// do serves one request from the same site; cookie, when set, is the
// session.
func (f *accountFixture) do(t *testing.T, method, target, cookie string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, body)
	req.RemoteAddr = "198.51.100.7:5555"
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: CookieName, Value: cookie})
	}
	w := httptest.NewRecorder()
	f.c.ServeHTTP(w, req)
	return w
}

// session returns the session cookie w sets: its value, "" when w clears
// it, and whether w sets one at all.
func session(w *httptest.ResponseRecorder) (string, bool) {
	for _, ck := range w.Result().Cookies() {
		if ck.Name == CookieName {
			return ck.Value, true
		}
	}
	return "", false
}

func (f *accountFixture) signIn(t *testing.T, email, pw string) string {
	t.Helper()
	w := f.do(t, "POST", "/console/sign-in", "", url.Values{"email": {email}, "password": {pw}})
	ck, ok := session(w)
	if w.Code != http.StatusSeeOther || !ok || ck == "" {
		t.Fatalf("sign in as %s: %d %s", email, w.Code, w.Body)
	}
	return ck
}

// link claims the queued mail and returns the first console link to path
// in the mail to the address, with the token it carries.
func (f *accountFixture) link(t *testing.T, to, path string) string {
	t.Helper()
	re := regexp.MustCompile(`https://keel\.example(/console/` + path + `/k[a-z]{2}_[0-9a-z]{52})`)
	var found string
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, time.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if sub := re.FindStringSubmatch(m.Message.Text()); sub != nil && m.Message.To()[0].Address == to && found == "" {
				found = sub[1]
			}
		}
		return err
	})
	if err != nil || found == "" {
		t.Fatalf("no %s link to %s (err %v)", path, to, err)
	}
	return found
}

func wantBody(t *testing.T, w *httptest.ResponseRecorder, status int, parts ...string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	for _, p := range parts {
		if !strings.Contains(w.Body.String(), p) {
			t.Errorf("the page lacks %q:\n%s", p, w.Body)
		}
	}
}

// A forgotten password: the sign-in page links to the form, every address
// gets the same answer, the mailed link sets the password once and signs
// the account out everywhere, and a used link says so and links back.
func TestPasswordResetPages(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	wantBody(t, f.do(t, "GET", "/console/sign-in", "", nil), http.StatusOK, `href="/console/password-reset"`)
	wantBody(t, f.do(t, "GET", "/console/password-reset", "", nil), http.StatusOK, `<label for="email">`)
	old := f.signIn(t, "ada@example.com", password)
	for _, addr := range []string{"nobody@example.com", "ada@example.com"} {
		wantBody(t, f.do(t, "POST", "/console/password-reset", "", url.Values{"email": {addr}}), http.StatusOK, "If an account has the address "+addr)
	}
	link := f.link(t, "ada@example.com", "password-reset")
	wantBody(t, f.do(t, "GET", link, "", nil), http.StatusOK, `<label for="password">New password</label>`, `action="`+link+`"`)
	wantBody(t, f.do(t, "POST", link, "", url.Values{"password": {"a brand new passphrase"}, "confirm": {"another one entirely"}}), http.StatusUnprocessableEntity, "The two passwords differ.")
	wantBody(t, f.do(t, "POST", link, "", url.Values{"password": {"short"}, "confirm": {"short"}}), http.StatusUnprocessableEntity, `class="error"`)
	w := f.do(t, "POST", link, old, url.Values{"password": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}})
	wantBody(t, w, http.StatusOK, "Your password is changed", `href="/console/sign-in"`)
	if ck, ok := session(w); !ok || ck != "" {
		t.Errorf("the session cookie was not cleared: %q %v", ck, ok)
	}
	if w := f.do(t, "GET", "/console/workspaces", old, nil); w.Code != http.StatusSeeOther {
		t.Errorf("the session from before the reset: %d, want a redirect to sign in", w.Code)
	}
	f.signIn(t, "ada@example.com", "a brand new passphrase")
	for _, method := range []string{"GET", "POST"} {
		wantBody(t, f.do(t, method, link, "", url.Values{"password": {"yet another passphrase"}, "confirm": {"yet another passphrase"}}),
			http.StatusNotFound, "This link does not work any more", `href="/console/password-reset"`)
	}
}

// A new user accepts an invitation from its link: the page creates the
// account, signs it in with a new session and lands on the workspace; the
// used link then says it cannot be used.
func TestInvitationCreatesTheAccount(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	if _, err := f.ids.Invite(t.Context(), f.admin, identity.InviteInput{Workspace: "site", Email: "grace@example.com", Role: domain.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	link := f.link(t, "grace@example.com", "invitations")
	wantBody(t, f.do(t, "GET", link, "", nil), http.StatusOK, "<strong>Site</strong>", "<strong>editor</strong>", `<label for="name">Your name</label>`)
	wantBody(t, f.do(t, "POST", link, "", url.Values{"name": {"Grace"}, "password": {"short"}, "confirm": {"short"}}), http.StatusUnprocessableEntity, `class="error"`, `value="Grace"`)
	w := f.do(t, "POST", link, "", url.Values{"name": {"Grace"}, "password": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}})
	ck, ok := session(w)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/workspaces/site" || !ok || ck == "" {
		t.Fatalf("accept: %d to %q, cookie %q: %s", w.Code, w.Header().Get("Location"), ck, w.Body)
	}
	// The overview needs the forms service, which this fixture leaves out;
	// the list shows the membership.
	wantBody(t, f.do(t, "GET", "/console/workspaces", ck, nil), http.StatusOK, `href="/console/workspaces/site"`)
	wantBody(t, f.do(t, "GET", link, "", nil), http.StatusNotFound, "This invitation cannot be used")
	wantBody(t, f.do(t, "POST", link, "", url.Values{"name": {"Eve"}, "password": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}}), http.StatusNotFound, "This invitation cannot be used")
}

// An address with an account signs in on the invitation's page, comes
// back to it and accepts; another account signed in gets no button.
func TestInvitationForAnExistingAccount(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	for _, addr := range []string{"bob@example.com", "carol@example.com"} {
		if _, err := f.ids.CreateUser(t.Context(), f.admin, identity.CreateUserInput{Email: addr, Password: password, Name: "U"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.ids.Invite(t.Context(), f.admin, identity.InviteInput{Workspace: "site", Email: "bob@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	link := f.link(t, "bob@example.com", "invitations")
	wantBody(t, f.do(t, "GET", link, "", nil), http.StatusOK, "Sign in to accept", `action="`+link+`/sign-in"`)
	carol := f.signIn(t, "carol@example.com", password)
	w := f.do(t, "GET", link, carol, nil)
	wantBody(t, w, http.StatusOK, "You are signed in with another account")
	if strings.Contains(w.Body.String(), "Accept and join") {
		t.Error("another account sees the accept button")
	}
	if w := f.do(t, "POST", link, carol, url.Values{}); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/sign-in" {
		t.Errorf("another account's forged accept: %d to %q", w.Code, w.Header().Get("Location"))
	}
	wantBody(t, f.do(t, "POST", link+"/sign-in", "", url.Values{"password": {"wrong password"}}), http.StatusUnauthorized, "The password is wrong.")
	w = f.do(t, "POST", link+"/sign-in", "", url.Values{"password": {password}})
	bob, ok := session(w)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != link || !ok || bob == "" {
		t.Fatalf("sign in from the invitation: %d to %q", w.Code, w.Header().Get("Location"))
	}
	wantBody(t, f.do(t, "GET", link, bob, nil), http.StatusOK, "Accept and join Site")
	if w := f.do(t, "POST", link, bob, url.Values{}); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/workspaces/site" {
		t.Fatalf("accept: %d to %q: %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	wantBody(t, f.do(t, "GET", "/console/workspaces", bob, nil), http.StatusOK, `href="/console/workspaces/site"`)
}

// The account page changes the password (this session stays, the others
// end) and the address (confirmed from the mailed link, with a button).
func TestAccountPage(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	if w := f.do(t, "GET", "/console/account", "", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("anonymous account page: %d", w.Code)
	}
	ck, other := f.signIn(t, "ada@example.com", password), f.signIn(t, "ada@example.com", password)
	wantBody(t, f.do(t, "GET", "/console/workspaces", ck, nil), http.StatusOK, `href="/console/account"`)
	wantBody(t, f.do(t, "GET", "/console/account", ck, nil), http.StatusOK, "ada@example.com", `<section id="two-factor"`, `aria-current="page">Account`)

	wantBody(t, f.do(t, "POST", "/console/account/password", ck, url.Values{"current_password": {"wrong"}, "new_password": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}}),
		http.StatusUnprocessableEntity, "The current password is wrong.")
	wantBody(t, f.do(t, "POST", "/console/account/password", ck, url.Values{"current_password": {password}, "new_password": {"a brand new passphrase"}, "confirm": {"other"}}),
		http.StatusUnprocessableEntity, "The two new passwords differ.")
	w := f.do(t, "POST", "/console/account/password", ck, url.Values{"current_password": {password}, "new_password": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/account?done=password" {
		t.Fatalf("change password: %d to %q: %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	wantBody(t, f.do(t, "GET", "/console/account?done=password", ck, nil), http.StatusOK, "Your password is changed.")
	if w := f.do(t, "GET", "/console/account", other, nil); w.Code != http.StatusSeeOther {
		t.Errorf("the other session after the change: %d, want a redirect to sign in", w.Code)
	}

	wantBody(t, f.do(t, "POST", "/console/account/email", ck, url.Values{"email": {"ada@example.org"}, "password": {password}}), http.StatusUnprocessableEntity, "The current password is wrong.", `value="ada@example.org"`)
	w = f.do(t, "POST", "/console/account/email", ck, url.Values{"email": {"ada@example.org"}, "password": {"a brand new passphrase"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/account?done=email" {
		t.Fatalf("change e-mail: %d to %q: %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	link := f.link(t, "ada@example.org", "email-change")
	// Following the link changes nothing by itself: a mail scanner may.
	wantBody(t, f.do(t, "GET", link, "", nil), http.StatusOK, "Confirm the new address")
	wantBody(t, f.do(t, "GET", "/console/account", ck, nil), http.StatusOK, `<dd id="account-email">ada@example.com</dd>`)
	wantBody(t, f.do(t, "POST", link, "", url.Values{}), http.StatusOK, "address is now ada@example.org")
	wantBody(t, f.do(t, "GET", "/console/account", ck, nil), http.StatusOK, `<dd id="account-email">ada@example.org</dd>`)
	wantBody(t, f.do(t, "POST", link, "", url.Values{}), http.StatusNotFound, "This link does not work any more")
}

// The account page shows the refusal of an e-mail change past its limit,
// with the address typed and Retry-After, and mails nothing more.
func TestAccountPageEmailChangeLimit(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	ck := f.signIn(t, "ada@example.com", password)
	form := url.Values{"email": {"victim@example.net"}, "password": {password}}
	for i := range 3 {
		if w := f.do(t, "POST", "/console/account/email", ck, form); w.Code != http.StatusSeeOther {
			t.Fatalf("request %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := f.do(t, "POST", "/console/account/email", ck, form)
	wantBody(t, w, http.StatusTooManyRequests, "Too many attempts", `value="victim@example.net"`)
	if w.Header().Get("Retry-After") == "" {
		t.Error("the refusal has no Retry-After")
	}
}
