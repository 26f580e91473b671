package identity_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// fakeHasher stores passwords reversibly and counts verifications, so
// tests can check that unknown e-mails cost a verification too.
type fakeHasher struct{ verifies atomic.Int64 }

func (*fakeHasher) Hash(_ context.Context, pw string) (string, error) { return "fake$" + pw, nil }

func (h *fakeHasher) Verify(_ context.Context, pw, hash string) (bool, bool, error) {
	h.verifies.Add(1)
	if !strings.HasPrefix(hash, "fake$") {
		return false, false, errors.New("malformed hash")
	}
	return hash == "fake$"+pw, false, nil
}

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
	svc    *identity.Service
	db     *sqlstore.DB
	hasher *fakeHasher
	clock  *clock
}

var client = domain.Client{IP: "203.0.113.7", UserAgent: "test"}
var anon = domain.AnonymousPrincipal.WithClient(client)

func newFixture(t *testing.T) fixture {
	t.Helper()
	return newFixtureWith(t, identity.Config{})
}

// newFixtureWith is newFixture with cfg's settings (workspace policy and
// the like); the fixture supplies storage, authorizer, hasher, clock and
// limiters.
func newFixtureWith(t *testing.T, cfg identity.Config) fixture {
	t.Helper()
	return newFixtureOn(t, cfg, nil)
}

// newFixtureOn is newFixtureWith whose service writes through wrap(db)
// when wrap is set, so that a test can watch its transactions.
func newFixtureOn(t *testing.T, cfg identity.Config, wrap func(ports.UnitOfWork) ports.UnitOfWork) fixture {
	t.Helper()
	db := sqlitetest.New(t)
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	h := &fakeHasher{}
	// The real authorizer: it decides from memory, so it never opens a
	// transaction inside the use case's (sqlstore refuses a nested
	// WithinTx), and the use cases' Reload calls keep it current.
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	cfg.UoW, cfg.Authorizer, cfg.Hasher, cfg.Clock, cfg.SessionTTL = db, authz, h, c, time.Hour
	if wrap != nil {
		cfg.UoW = wrap(db)
	}
	cfg.LoginPerIP = ratelimit.NewRateLimiter(1.0/6, 20, c.Now)
	cfg.LoginPerAccountIP = ratelimit.NewBackoff(5, time.Second, 5*time.Minute, 15*time.Minute, c.Now)
	cfg.LoginPerAccount = ratelimit.NewRateLimiter(1.0/3, 100, c.Now)
	// The second-factor limits keel serve sets (cmd/keel/bootstrap).
	cfg.SecondFactorFailures = ratelimit.NewBackoff(4, time.Minute, time.Hour, 24*time.Hour, c.Now)
	cfg.SecondFactorNotices = ratelimit.NewBackoff(0, 24*time.Hour, 24*time.Hour, 24*time.Hour, c.Now)
	cfg.EmailChangePerUser = ratelimit.NewRateLimiter(5.0/3600, 5, c.Now)
	cfg.EmailChangePerAddress = ratelimit.NewRateLimiter(3.0/3600, 3, c.Now)
	svc, err := identity.NewService(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{svc: svc, db: db, hasher: h, clock: c}
}

const password = "correct horse battery"

// setup creates the first administrator and returns their principal.
func (f fixture) setup(t *testing.T) (identity.LoginResult, domain.Principal) {
	t.Helper()
	res, err := f.svc.Setup(t.Context(), anon, identity.SetupInput{Email: "Ada@Example.com", Password: password, Name: "Ada"})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return res, f.auth(t, res.Token)
}

func (f fixture) auth(t *testing.T, token string) domain.Principal {
	t.Helper()
	p, err := f.svc.Authenticate(t.Context(), token, client)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return p
}

func (f fixture) user(t *testing.T, admin domain.Principal, email string) (domain.User, domain.Principal) {
	t.Helper()
	u, err := f.svc.CreateUser(t.Context(), admin, identity.CreateUserInput{Email: email, Password: password, Name: "U"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	res, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: email, Password: password})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return u, f.auth(t, res.Token)
}

func TestSetupOnlyOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res, p := f.setup(t)
	if !res.User.IsInstanceAdmin() || res.User.Email() != "ada@example.com" || !p.IsInstanceAdmin() {
		t.Fatalf("first admin = %+v", res.User)
	}
	_, err := f.svc.Setup(t.Context(), anon, identity.SetupInput{Email: "eve@example.com", Password: password, Name: "Eve"})
	if !errors.Is(err, domain.ErrAlreadySetUp) {
		t.Fatalf("second Setup = %v, want already_set_up", err)
	}
}

func TestConcurrentSetupsMakeOneAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range 8 {
		wg.Go(func() {
			_, err := f.svc.Setup(t.Context(), anon, identity.SetupInput{Email: "a" + string(rune('a'+i)) + "@example.com", Password: password, Name: "A"})
			if err == nil {
				ok.Add(1)
			} else if !errors.Is(err, domain.ErrAlreadySetUp) {
				t.Errorf("Setup: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d setups succeeded, want 1", ok.Load())
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.setup(t)
	u, _ := f.user(t, admin, "bob@example.com")
	if _, err := f.svc.UpdateUser(t.Context(), admin, identity.UpdateUserInput{ID: u.ID(), Status: &domain.UserDisabled}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []identity.LoginInput{
		{Email: "ada@example.com", Password: "wrong password!"},
		{Email: "nobody@example.com", Password: password},
		{Email: "not an email", Password: password},
		{Email: "bob@example.com", Password: password}, // disabled
	} {
		before := f.hasher.verifies.Load()
		_, err := f.svc.Login(t.Context(), anon, in)
		if !errors.Is(err, domain.ErrInvalidCreds) {
			t.Errorf("Login(%q) = %v, want invalid_credentials", in.Email, err)
		}
		if f.hasher.verifies.Load() != before+1 {
			t.Errorf("Login(%q) verified %d times, want 1 (same work for every failure)", in.Email, f.hasher.verifies.Load()-before)
		}
	}
	res, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: " ADA@example.com ", Password: password})
	if err != nil || res.Token == "" {
		t.Fatalf("Login with a differently cased e-mail: %v", err)
	}
}

func TestLoginIsThrottledPerAccountAndIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setup(t)
	var err error
	for range 7 {
		_, err = f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: "wrong password!"})
	}
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != "rate_limited" || de.RetryAfter <= 0 {
		t.Fatalf("7th attempt = %v, want rate_limited with a retry delay", err)
	}
	// The correct password does not get through from the address that
	// is guessing.
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: password}); !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("login during throttling = %v, want rate_limited", err)
	}
	f.clock.Add(de.RetryAfter)
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: password}); err != nil {
		t.Fatalf("login after Retry-After = %v", err)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res, p := f.setup(t)

	t.Run("Slide", func(t *testing.T) {
		f.clock.Add(50 * time.Minute)
		f.clock.Add(2 * time.Second) // past the credential cache
		f.auth(t, res.Token)
		f.clock.Add(50 * time.Minute) // 100 minutes after login, inside the slid hour
		f.auth(t, res.Token)
	})
	t.Run("LogoutRevokesAtOnce", func(t *testing.T) {
		if err := f.svc.Logout(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(t.Context(), res.Token, client); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("token after logout = %v, want unauthenticated", err)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		res, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "ada@example.com", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Add(61 * time.Minute)
		if _, err := f.svc.Authenticate(t.Context(), res.Token, client); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("expired token = %v, want unauthenticated", err)
		}
	})
	for _, bad := range []string{"", "nonsense", "kss_" + strings.Repeat("0", 52), "keel_abcdefgh_" + strings.Repeat("0", 52)} {
		if _, err := f.svc.Authenticate(t.Context(), bad, client); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v, want unauthenticated", bad, err)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, owner := f.setup(t)
	w, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.svc.CreateAPIKey(t.Context(), owner, identity.CreateAPIKeyInput{Workspace: "docs", Name: "build", Scopes: []string{"content:read", "forms:read"}})
	if err != nil {
		t.Fatal(err)
	}
	kp := f.auth(t, k.Secret)
	if !kp.IsAPIKey() || kp.KeyWorkspace() != w.ID() || !kp.HasScope(domain.PermContentRead) || kp.HasScope(domain.PermContentWrite) {
		t.Fatalf("key principal = %+v", kp)
	}
	if _, err := f.svc.CreateAPIKey(t.Context(), kp, identity.CreateAPIKeyInput{Workspace: "docs", Name: "x", Scopes: []string{"content:read"}}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a key making a key = %v, want forbidden", err)
	}
	if err := f.svc.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	keys, _, err := f.svc.ListAPIKeys(t.Context(), owner, "docs", ports.Page{})
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt() == nil {
		t.Fatalf("keys = %+v, %v; want one, used", keys, err)
	}
	if err := f.svc.RevokeAPIKey(t.Context(), owner, "docs", k.Key.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(t.Context(), k.Secret, client); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("revoked key = %v, want unauthenticated at once", err)
	}
	events, _, err := f.svc.ListAuditEvents(t.Context(), owner, "docs", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
		for _, v := range e.Details {
			if strings.Contains(v, k.Secret) {
				t.Fatalf("audit event %s holds the key's secret", e.Action)
			}
		}
	}
	if strings.Join(actions, ",") != "api_key.revoked,api_key.created,workspace.created" {
		t.Fatalf("audit actions = %v", actions)
	}
	if events[0].IP != client.IP || events[0].ActorID != string(owner.User()) {
		t.Fatalf("audit event = %+v", events[0])
	}
}

func TestDisabledCreatorsKeysStopWithinTheCacheTTL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.setup(t)
	u, bob := f.user(t, admin, "bob@example.com")
	if _, err := f.svc.UpdateUser(t.Context(), admin, identity.UpdateUserInput{ID: u.ID(), CanCreateWorkspaces: new(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateWorkspace(t.Context(), bob, identity.CreateWorkspaceInput{Name: "B", Slug: "b"}); err != nil {
		t.Fatal(err)
	}
	k, err := f.svc.CreateAPIKey(t.Context(), bob, identity.CreateAPIKeyInput{Workspace: "b", Name: "k", Scopes: []string{"forms:read"}})
	if err != nil {
		t.Fatal(err)
	}
	f.auth(t, k.Secret)
	if _, err := f.svc.UpdateUser(t.Context(), admin, identity.UpdateUserInput{ID: u.ID(), Status: &domain.UserDisabled}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	if _, err := f.svc.Authenticate(t.Context(), k.Secret, client); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("key of a disabled user = %v, want unauthenticated", err)
	}
}

func TestWorkspaceKeepsAnOwner(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, owner := f.setup(t)
	if _, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"}); err != nil {
		t.Fatal(err)
	}
	bob, bobP := f.user(t, owner, "bob@example.com")
	if _, err := f.svc.ChangeMember(t.Context(), owner, identity.ChangeMemberInput{Workspace: "docs", User: owner.User(), Role: domain.RoleAdmin}); !errors.Is(err, domain.ErrLastOwner) {
		t.Fatalf("demoting the last owner = %v, want last_owner", err)
	}
	if err := f.svc.RemoveMember(t.Context(), owner, "docs", owner.User()); !errors.Is(err, domain.ErrLastOwner) {
		t.Fatalf("last owner leaving = %v, want last_owner", err)
	}
	if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", Email: "BOB@example.com", Role: domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ChangeMember(t.Context(), bobP, identity.ChangeMemberInput{Workspace: "docs", User: bob.ID(), Role: domain.RoleOwner}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("admin making themselves owner = %v, want forbidden", err)
	}
	if _, err := f.svc.ChangeMember(t.Context(), owner, identity.ChangeMemberInput{Workspace: "docs", User: bob.ID(), Role: domain.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RemoveMember(t.Context(), owner, "docs", owner.User()); err != nil {
		t.Fatalf("an owner leaving while another remains = %v", err)
	}
	if _, err := f.svc.GetWorkspace(t.Context(), owner, "docs"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("former member reading the workspace = %v, want not_found", err)
	}
}

func TestInstanceAuditEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.setup(t)
	_, bob := f.user(t, admin, "bob@example.com")
	if _, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "bob@example.com", Password: "wrong password!"}); !errors.Is(err, domain.ErrInvalidCreds) {
		t.Fatal(err)
	}
	if _, _, err := f.svc.ListInstanceAuditEvents(t.Context(), bob, ports.Page{}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("non-admin listing = %v, want forbidden", err)
	}
	events, _, err := f.svc.ListInstanceAuditEvents(t.Context(), admin, ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); got != "login.failed,login.succeeded,user.created,instance.setup" {
		t.Fatalf("instance audit = %s", got)
	}
	if events[0].Details["reason"] != "wrong_password" || events[0].IP != client.IP {
		t.Fatalf("login.failed event = %+v", events[0])
	}
}
