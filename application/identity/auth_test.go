package identity_test

import (
	"context"
	"errors"
	"strings"
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

// sqlNode is one node of an instance on a shared SQLite database: its own
// identity service, credential cache and pending usage.
type sqlNode struct {
	svc *identity.Service
}

// sqlFixture is an instance on SQLite with a fake clock. Its limiters are
// kept so tests can look into them.
type sqlFixture struct {
	db           *sqlstore.DB
	clock        *clock
	perIP        *ratelimit.RateLimiter
	perAccountIP *ratelimit.Backoff
	perAccount   *ratelimit.RateLimiter
	authFailures *ratelimit.RateLimiter
}

func newSQLFixture(t *testing.T) *sqlFixture {
	t.Helper()
	db := sqlitetest.New(t)
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	return &sqlFixture{
		db: db, clock: c,
		// The shape keel serve uses: a burst per IP, growing delays per
		// account and IP, a much higher ceiling per account.
		perIP:        ratelimit.NewRateLimiter(1.0/6, 20, c.Now),
		perAccountIP: ratelimit.NewBackoff(5, time.Second, 5*time.Minute, 15*time.Minute, c.Now),
		perAccount:   ratelimit.NewRateLimiter(1.0/3, 100, c.Now),
		authFailures: ratelimit.NewRateLimiter(1, 20, c.Now),
	}
}

// node starts a node with the given session lifetimes (0: the defaults).
func (f *sqlFixture) node(t *testing.T, ttl, maxAge time.Duration) sqlNode {
	t.Helper()
	authz, err := casbinauthz.New(t.Context(), f.db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	svc, err := identity.NewService(t.Context(), identity.Config{
		UoW: f.db, Authorizer: authz, Hasher: &fakeHasher{}, Clock: f.clock,
		SessionTTL: ttl, SessionMaxAge: maxAge,
		LoginPerIP: f.perIP, LoginPerAccountIP: f.perAccountIP, LoginPerAccount: f.perAccount,
		AuthFailuresPerIP: f.authFailures,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sqlNode{svc: svc}
}

func setupAdmin(t *testing.T, n sqlNode) identity.LoginResult {
	t.Helper()
	res, err := n.svc.Setup(t.Context(), anon, identity.SetupInput{Email: "ada@example.com", Password: password, Name: "Ada"})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return res
}

// TestAuthenticateDoesNotWaitForWrites holds a write transaction open and
// authenticates a session token and an API key meanwhile: authentication
// reads outside the write queue, so it answers while the writer waits.
func TestAuthenticateDoesNotWaitForWrites(t *testing.T) {
	t.Parallel()
	f := newSQLFixture(t)
	n := f.node(t, time.Hour, 0)
	res := setupAdmin(t, n)
	admin, err := n.svc.Authenticate(t.Context(), res.Token, client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.CreateWorkspace(t.Context(), admin, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"}); err != nil {
		t.Fatal(err)
	}
	key, err := n.svc.CreateAPIKey(t.Context(), admin, identity.CreateAPIKeyInput{Workspace: "docs", Name: "k", Scopes: []string{"forms:read"}})
	if err != nil {
		t.Fatal(err)
	}
	// Past the credential cache and far enough for the session to slide
	// and the key's use to be recorded: both would be writes.
	f.clock.Add(30 * time.Minute)

	release := sqlitetest.HoldWrite(t, f.db)
	authenticated := make(chan error, 2)
	for _, token := range []string{res.Token, key.Secret} {
		go func() {
			_, err := n.svc.Authenticate(t.Context(), token, client)
			authenticated <- err
		}()
	}
	// Not a timing assertion: today's authentication waits for the writer
	// forever, and the bound only keeps a failure from hanging the test.
	for range 2 {
		select {
		case err := <-authenticated:
			if err != nil {
				t.Errorf("Authenticate while a write transaction is open: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Authenticate waited for an unrelated write transaction")
		}
	}
	release()

	// The slide and the key's use are written by the next flush.
	if err := n.svc.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	keys, _, err := n.svc.ListAPIKeys(t.Context(), admin, "docs", ports.Page{})
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt() == nil || !keys[0].LastUsedAt().Equal(domain.Timestamp(f.clock.Now())) {
		t.Fatalf("keys after the flush = %+v, %v; want last used now", keys, err)
	}
	var stored domain.Session
	if err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		stored, err = st.Sessions().GetByTokenHash(ctx, domain.HashSecret(res.Token))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := domain.Timestamp(f.clock.Now()).Add(time.Hour); !stored.ExpiresAt().Equal(want) {
		t.Fatalf("stored expiry = %v, want the slide to %v", stored.ExpiresAt(), want)
	}
}

// TestSessionInUseNeverExpires uses a session from two nodes in turn, for
// several TTLs down to the shortest keel serve accepts, with pauses just
// inside the bound usage.go states; the session outlives many TTLs, and
// ends at its absolute lifetime.
func TestSessionInUseNeverExpires(t *testing.T) {
	t.Parallel()
	for _, ttl := range []time.Duration{time.Minute, 2 * time.Minute, 10 * time.Minute, time.Hour, 24 * time.Hour} {
		t.Run(ttl.String(), func(t *testing.T) {
			t.Parallel()
			f := newSQLFixture(t)
			maxAge := 20 * ttl
			a, b := f.node(t, ttl, maxAge), f.node(t, ttl, maxAge)
			res := setupAdmin(t, a)
			start := f.clock.Now()
			// The bound: a use every TTL − SlideStep − 2 × flush interval,
			// where the flush interval is at most a second.
			pause := ttl - domain.SlideStep(ttl) - 2*time.Second
			for i := 0; ; i++ {
				f.clock.Add(pause)
				node := []sqlNode{a, b}[i%2]
				_, err := node.svc.Authenticate(t.Context(), res.Token, client)
				if f.clock.Now().Sub(start) >= maxAge {
					if !errors.Is(err, domain.ErrUnauthenticated) {
						t.Fatalf("use %d, %v after login, past the absolute lifetime: %v, want unauthenticated", i, f.clock.Now().Sub(start), err)
					}
					return
				}
				if err != nil {
					t.Fatalf("use %d, %v after login: %v", i, f.clock.Now().Sub(start), err)
				}
				// The writer's flush, which runs every second.
				if err := node.svc.FlushUsage(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestSessionUnusedExpires checks that sliding did not make an idle
// session immortal.
func TestSessionUnusedExpires(t *testing.T) {
	t.Parallel()
	f := newSQLFixture(t)
	n := f.node(t, time.Minute, 0)
	res := setupAdmin(t, n)
	f.clock.Add(time.Minute)
	if _, err := n.svc.Authenticate(t.Context(), res.Token, client); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("a session idle for its TTL = %v, want unauthenticated", err)
	}
}

// TestOwnerLogsInDuringAttack: wrong passwords for an account from some
// addresses slow those addresses down and do not lock the owner out.
func TestOwnerLogsInDuringAttack(t *testing.T) {
	t.Parallel()
	f := newSQLFixture(t)
	n := f.node(t, time.Hour, 0)
	setupAdmin(t, n)
	var lastWait time.Duration
	grew := 0
	for i := range 12 {
		attacker := domain.AnonymousPrincipal.WithClient(domain.Client{IP: "192.0.2.66"})
		_, err := n.svc.Login(t.Context(), attacker, identity.LoginInput{Email: "ada@example.com", Password: "wrong password!"})
		var de *domain.Error
		switch {
		case errors.Is(err, domain.ErrInvalidCreds):
		case errors.As(err, &de) && de.Code == "rate_limited" && de.RetryAfter > 0:
			// A client that waits as told gets its next guess, after a
			// longer wait each time.
			if de.RetryAfter > lastWait {
				grew++
			}
			lastWait = de.RetryAfter
			f.clock.Add(de.RetryAfter)
		default:
			t.Fatalf("attempt %d = %v", i, err)
		}
	}
	if grew < 3 {
		t.Fatalf("the attacker's wait grew %d times, want growing delays", grew)
	}
	owner := domain.AnonymousPrincipal.WithClient(domain.Client{IP: "203.0.113.10"})
	if _, err := n.svc.Login(t.Context(), owner, identity.LoginInput{Email: "ada@example.com", Password: password}); err != nil {
		t.Fatalf("the owner's login from another address during the attack = %v", err)
	}
}

// TestLoginLimiterKeysStayBounded sends 100 logins with megabyte
// "e-mails": none parses, so none makes an account bucket, and the
// limiters keep a few bytes, not the megabytes.
func TestLoginLimiterKeysStayBounded(t *testing.T) {
	t.Parallel()
	f := newSQLFixture(t)
	f.perIP = ratelimit.NewRateLimiter(1000, 1000, f.clock.Now) // let all 100 in
	n := f.node(t, time.Hour, 0)
	setupAdmin(t, n)
	for i := range 100 {
		email := strings.Repeat(string(rune('a'+i%26)), 1<<20) + "@example.com"
		if _, err := n.svc.Login(t.Context(), anon, identity.LoginInput{Email: email, Password: password}); !errors.Is(err, domain.ErrInvalidCreds) {
			t.Fatalf("login %d = %v, want invalid_credentials", i, err)
		}
	}
	if got := f.perAccount.KeyBytes() + f.perAccountIP.KeyBytes(); got != 0 {
		t.Errorf("account limiters keep %d key bytes for addresses that do not parse, want 0", got)
	}
	if got := f.perIP.KeyBytes(); got > 64 {
		t.Errorf("the per-IP limiter keeps %d key bytes for one client, want a few", got)
	}
}

// TestFailedCredentialsAreRateLimitedPerIP: junk tokens from one address
// get 429 once its budget is spent, while valid credentials spend none of
// it and other addresses are unaffected.
func TestFailedCredentialsAreRateLimitedPerIP(t *testing.T) {
	t.Parallel()
	f := newSQLFixture(t)
	n := f.node(t, time.Hour, 0)
	res := setupAdmin(t, n)
	// Valid credentials, each read from the database, take nothing.
	for range 100 {
		f.clock.Add(time.Second)
		if _, err := n.svc.Authenticate(t.Context(), res.Token, client); err != nil {
			t.Fatal(err)
		}
	}
	junk := []string{"kss_" + strings.Repeat("0", 52), "keel_abcdefgh_" + strings.Repeat("0", 52), "nonsense"}
	var err error
	for i := range 21 {
		_, err = n.svc.Authenticate(t.Context(), junk[i%len(junk)], client)
		if i < 20 && !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("bad token %d = %v, want unauthenticated", i, err)
		}
	}
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != "rate_limited" || de.RetryAfter <= 0 {
		t.Fatalf("21st bad token = %v, want rate_limited with a retry delay", err)
	}
	other := domain.Client{IP: "198.51.100.20"}
	if _, err := n.svc.Authenticate(t.Context(), junk[0], other); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("a bad token from another address = %v, want unauthenticated", err)
	}
	f.clock.Add(de.RetryAfter)
	if _, err := n.svc.Authenticate(t.Context(), res.Token, client); err != nil {
		t.Fatalf("a valid token after the wait = %v", err)
	}
}
