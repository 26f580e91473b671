package casbinauthz_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// The tests here check the model and the decision rules on sqlstore over
// SQLite: each seeds the users, workspaces, memberships and API keys whose
// rules it needs, through the real stores. Where a test needs a failing
// database or to count what the authorizer reads, it reads through a
// watchedDB, which delegates every call to the real database.

// allPermissions lists every permission some role holds.
func allPermissions() []domain.Permission {
	var out []domain.Permission
	for _, r := range domain.Roles {
		for _, p := range domain.RolePermissions[r] {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// seeder writes fixtures through the stores of one transaction. It keeps
// the first error and skips every later write, so that change can fail the
// test once the transaction has ended rather than from inside it.
type seeder struct {
	ctx context.Context
	st  ports.Stores
	err error
}

func (s *seeder) do(fn func() error) {
	if s.err == nil {
		s.err = fn()
	}
}

// user adds a user; name must be unique in the database, as it makes the
// email address.
func (s *seeder) user(name string) domain.UserID {
	u, err := domain.NewUser(domain.NewUserInput{Email: name + "@example.com", Name: name}, now)
	s.do(func() error {
		if err != nil {
			return err
		}
		return s.st.Users().Add(s.ctx, u)
	})
	return u.ID()
}

// workspace adds a workspace; slug must be unique in the database.
func (s *seeder) workspace(slug string) domain.WorkspaceID {
	ws, err := domain.NewWorkspace(slug, slug, now)
	s.do(func() error {
		if err != nil {
			return err
		}
		return s.st.Workspaces().Add(s.ctx, ws)
	})
	return ws.ID()
}

func (s *seeder) member(ws domain.WorkspaceID, u domain.UserID, r domain.Role) {
	s.do(func() error {
		return s.st.Memberships().Add(s.ctx, domain.Membership{Workspace: ws, User: u, Role: r, CreatedAt: now})
	})
}

func (s *seeder) setRole(ws domain.WorkspaceID, u domain.UserID, r domain.Role) {
	s.do(func() error { return s.st.Memberships().SetRole(s.ctx, ws, u, r) })
}

func (s *seeder) remove(ws domain.WorkspaceID, u domain.UserID) {
	s.do(func() error { return s.st.Memberships().Remove(s.ctx, ws, u) })
}

// key adds an API key of ws made by creator, with every scope. The
// authorizer reads a key's scopes from its principal, which authentication
// builds from the stored key; the tests therefore vary the scopes on the
// principal (apiKey) and store keys that may hold any of them.
func (s *seeder) key(ws domain.WorkspaceID, creator domain.UserID) domain.APIKey {
	scopes := make([]string, len(domain.Scopes))
	for i, p := range domain.Scopes {
		scopes[i] = p.String()
	}
	k, _, err := domain.NewAPIKey(domain.NewAPIKeyInput{Workspace: ws, Name: "CI", Scopes: scopes, CreatedBy: creator}, now)
	s.do(func() error {
		if err != nil {
			return err
		}
		return s.st.APIKeys().Add(s.ctx, k)
	})
	return k
}

func (s *seeder) revoke(k domain.APIKey) {
	k.Revoke(now.Add(time.Minute))
	s.do(func() error { return s.st.APIKeys().Revoke(s.ctx, k) })
}

// change commits what fn writes through s together with a bump of the
// policies counter, as a use case changing the policy does.
func change(t testing.TB, db ports.UnitOfWork, fn func(s *seeder)) {
	t.Helper()
	if err := tryChange(t.Context(), db, fn); err != nil {
		t.Fatalf("change: %v", err)
	}
}

// tryChange is change for goroutines other than the test's, which may not
// call t.Fatal.
func tryChange(ctx context.Context, db ports.UnitOfWork, fn func(s *seeder)) error {
	return db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		s := &seeder{ctx: ctx, st: st}
		fn(s)
		if s.err != nil {
			return s.err
		}
		_, err := st.Instance().BumpCounter(ctx, ports.PolicyCounter)
		return err
	})
}

// policyCounter reads the policies counter as the database holds it.
func policyCounter(t testing.TB, db ports.UnitOfWork) int64 {
	t.Helper()
	var n int64
	err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		n, err = st.Instance().Counter(ctx, ports.PolicyCounter)
		return err
	})
	if err != nil {
		t.Fatalf("read the policies counter: %v", err)
	}
	return n
}

// watchedDB is the real database as the authorizer sees it: it counts the
// transactions the authorizer runs and the times it reads the rules, fails
// every transaction while fail is set, and passes the rules the real store
// answers through edit, when set. Tests seed through the *sqlstore.DB
// itself, so that the counts are the authorizer's alone and a failure
// injected for the authorizer does not stop another node's writes.
type watchedDB struct {
	ports.UnitOfWork
	edit  func([]ports.PolicyRule) []ports.PolicyRule // set before use, never changed
	mu    sync.Mutex
	fail  error
	txs   atomic.Int64 // transactions begun, failed ones included
	loads atomic.Int64 // times the rules were read
}

func watch(db *sqlstore.DB) *watchedDB { return &watchedDB{UnitOfWork: db} }

// Fail makes every later transaction return err at once, as a database
// that cannot be reached does; Fail(nil) heals it.
func (w *watchedDB) Fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail = err
}

func (w *watchedDB) begin() error {
	w.txs.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fail
}

func (w *watchedDB) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if err := w.begin(); err != nil {
		return err
	}
	return w.UnitOfWork.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		return fn(ctx, watchedStores{st, w})
	})
}

func (w *watchedDB) ReadOnly(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if err := w.begin(); err != nil {
		return err
	}
	return w.UnitOfWork.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		return fn(ctx, watchedStores{st, w})
	})
}

type watchedStores struct {
	ports.Stores
	w *watchedDB
}

func (s watchedStores) Policies() ports.PolicyStore {
	return watchedPolicies{s.Stores.Policies(), s.w}
}

type watchedPolicies struct {
	ports.PolicyStore
	w *watchedDB
}

func (p watchedPolicies) Rules(ctx context.Context) ([]ports.PolicyRule, error) {
	p.w.loads.Add(1)
	rules, err := p.PolicyStore.Rules(ctx)
	if err == nil && p.w.edit != nil {
		rules = p.w.edit(rules)
	}
	return rules, err
}

// newAuthorizer loads the policy and, unless opts turn polling off, runs
// the poller until the test ends.
func newAuthorizer(t testing.TB, uow ports.UnitOfWork, opts casbinauthz.Options) *casbinauthz.Authorizer {
	t.Helper()
	a, err := casbinauthz.New(t.Context(), uow, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if opts.PollInterval >= 0 {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	return a
}

var noPolling = casbinauthz.Options{PollInterval: -1}

func user(id domain.UserID) domain.Principal { return domain.NewUserPrincipal(id, false, "ses_1") }

func apiKey(k domain.APIKey, scopes ...domain.Permission) domain.Principal {
	return domain.NewAPIKeyPrincipal(k.ID(), k.Workspace(), k.CreatedBy(), scopes)
}

// want checks Authorize's result against a sentinel (nil for allowed).
func want(t *testing.T, a ports.Authorizer, p domain.Principal, ws domain.WorkspaceID, perm domain.Permission, wantErr error) {
	t.Helper()
	err := a.Authorize(t.Context(), p, ws, perm)
	if wantErr == nil && err != nil || wantErr != nil && !errors.Is(err, wantErr) {
		t.Errorf("Authorize(%s, %s, %s) = %v, want %v", p.Subject(), ws, perm, err, wantErr)
	}
}

func allowedOrForbidden(ok bool) error {
	if ok {
		return nil
	}
	return domain.ErrForbidden
}

func TestAuthorizeRoles(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	var ws1, ws2 domain.WorkspaceID
	users := map[domain.Role]domain.UserID{}
	change(t, db, func(s *seeder) {
		ws1, ws2 = s.workspace("alpha"), s.workspace("beta")
		for _, r := range domain.Roles {
			users[r] = s.user(r.String())
			s.member(ws1, users[r], r)
		}
		// ws2 has a member of its own, so that its rules are not empty.
		s.member(ws2, s.user("other"), domain.RoleOwner)
	})
	// The cache must not change a decision, however small it is.
	for _, size := range []int{0, -1, 3} {
		t.Run("CacheSize"+strconv.Itoa(size), func(t *testing.T) {
			t.Parallel()
			a := newAuthorizer(t, db, casbinauthz.Options{PollInterval: -1, CacheSize: size})
			for range 2 { // the second round answers from the cache, if any
				for _, r := range domain.Roles {
					for _, perm := range allPermissions() {
						want(t, a, user(users[r]), ws1, perm, allowedOrForbidden(r.Allows(perm)))
						// A role in one workspace gives nothing in another.
						want(t, a, user(users[r]), ws2, perm, domain.ErrNotFound)
					}
				}
			}
		})
	}
}

func TestAuthorizeCallers(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	var (
		ws1, ws2                  domain.WorkspaceID
		ed, gone, stranger        domain.UserID
		key1, key2, orphan, revok domain.APIKey
	)
	change(t, db, func(s *seeder) {
		ws1, ws2 = s.workspace("alpha"), s.workspace("beta")
		ed, gone, stranger = s.user("ed"), s.user("gone"), s.user("stranger")
		s.member(ws1, ed, domain.RoleEditor)
		s.member(ws2, ed, domain.RoleViewer)
		key1, key2 = s.key(ws1, ed), s.key(ws2, ed)
		revok = s.key(ws1, ed)
		s.revoke(revok)
		// gone made a key, then left ws1: the key keeps its grouping rule
		// but reaches no role.
		s.member(ws1, gone, domain.RoleOwner)
		orphan = s.key(ws1, gone)
		s.remove(ws1, gone)
	})
	a := newAuthorizer(t, db, noPolling)

	t.Run("Anonymous", func(t *testing.T) {
		want(t, a, domain.AnonymousPrincipal, ws1, domain.PermWorkspaceRead, domain.ErrUnauthenticated)
	})
	t.Run("NonMember", func(t *testing.T) {
		want(t, a, user(stranger), ws1, domain.PermWorkspaceRead, domain.ErrNotFound)
	})
	t.Run("UnknownWorkspace", func(t *testing.T) {
		want(t, a, user(ed), "ws_nope", domain.PermWorkspaceRead, domain.ErrNotFound)
	})
	t.Run("KeyWithScope", func(t *testing.T) {
		k := apiKey(key1, domain.PermFormsWrite, domain.PermFormsRead)
		want(t, a, k, ws1, domain.PermFormsWrite, nil)
		want(t, a, k, ws1, domain.PermFormsRead, nil)
	})
	t.Run("KeyWithoutScope", func(t *testing.T) {
		k := apiKey(key1, domain.PermFormsRead)
		want(t, a, k, ws1, domain.PermFormsWrite, domain.ErrForbidden)
		want(t, a, k, ws1, domain.PermContentRead, domain.ErrForbidden)
	})
	t.Run("KeyReadsItsWorkspaceWithoutScope", func(t *testing.T) {
		want(t, a, apiKey(key1, domain.PermFormsRead), ws1, domain.PermWorkspaceRead, nil)
	})
	t.Run("KeyScopeBeyondCreatorRole", func(t *testing.T) {
		// The creator is an editor: a webhooks scope gives the key nothing.
		k := apiKey(key1, domain.PermWebhooksRead)
		want(t, a, k, ws1, domain.PermWebhooksRead, domain.ErrForbidden)
	})
	t.Run("KeyNeverGetsNonScopePermissions", func(t *testing.T) {
		k := apiKey(key1, domain.Scopes...)
		want(t, a, k, ws1, domain.PermWorkspaceDelete, domain.ErrForbidden)
		want(t, a, k, ws1, domain.PermAPIKeysWrite, domain.ErrForbidden)
	})
	t.Run("KeyOfAnotherWorkspace", func(t *testing.T) {
		// The creator is a member of ws2, but the key belongs to ws1.
		want(t, a, apiKey(key1, domain.PermFormsRead), ws2, domain.PermFormsRead, domain.ErrNotFound)
		want(t, a, apiKey(key1, domain.PermFormsRead), ws2, domain.PermWorkspaceRead, domain.ErrNotFound)
	})
	t.Run("KeyActsWithItsWorkspaceRole", func(t *testing.T) {
		// key2's creator is only a viewer in ws2.
		k := apiKey(key2, domain.PermFormsRead, domain.PermFormsWrite)
		want(t, a, k, ws2, domain.PermFormsRead, nil)
		want(t, a, k, ws2, domain.PermFormsWrite, domain.ErrForbidden)
	})
	t.Run("KeyWhoseCreatorLeft", func(t *testing.T) {
		want(t, a, apiKey(orphan, domain.PermFormsRead), ws1, domain.PermFormsRead, domain.ErrNotFound)
	})
	t.Run("KeyWithoutGroupingRule", func(t *testing.T) {
		// A revoked key: the store no longer lists its rule.
		want(t, a, apiKey(revok, domain.PermFormsRead), ws1, domain.PermFormsRead, domain.ErrNotFound)
	})
}

func TestReload(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	w := watch(db)
	var (
		ws1 domain.WorkspaceID
		u   domain.UserID
		key domain.APIKey
	)
	change(t, db, func(s *seeder) {
		ws1, u = s.workspace("alpha"), s.user("a")
		s.member(ws1, u, domain.RoleEditor)
		key = s.key(ws1, u)
	})
	a := newAuthorizer(t, w, noPolling)
	k := apiKey(key, domain.PermContentWrite)
	want(t, a, k, ws1, domain.PermContentWrite, nil)

	t.Run("DemotedCreatorsKeyLosesWrite", func(t *testing.T) {
		change(t, db, func(s *seeder) { s.setRole(ws1, u, domain.RoleViewer) })
		want(t, a, k, ws1, domain.PermContentWrite, nil) // not reloaded yet
		if err := a.Reload(t.Context()); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		want(t, a, k, ws1, domain.PermContentWrite, domain.ErrForbidden)
		want(t, a, k, ws1, domain.PermContentRead, domain.ErrForbidden) // no scope
		want(t, a, user(u), ws1, domain.PermContentRead, nil)
		if got, stored := a.Counter(), policyCounter(t, db); got != stored {
			t.Errorf("Counter() = %d, want %d, the stored counter", got, stored)
		}
	})
	t.Run("RevokedKeyIsGone", func(t *testing.T) {
		change(t, db, func(s *seeder) { s.revoke(key) })
		if err := a.Reload(t.Context()); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		want(t, a, k, ws1, domain.PermWorkspaceRead, domain.ErrNotFound)
		want(t, a, user(u), ws1, domain.PermWorkspaceRead, nil)
	})
	t.Run("FailedReloadKeepsThePolicy", func(t *testing.T) {
		loaded := a.Counter()
		change(t, db, func(s *seeder) { s.remove(ws1, u) }) // nobody is a member any more...
		w.Fail(errors.New("database on fire"))
		err := a.Reload(t.Context())
		w.Fail(nil)
		if err == nil || domain.KindOf(err) != domain.KindInternal {
			t.Fatalf("Reload = %v, want an internal error", err)
		}
		want(t, a, user(u), ws1, domain.PermWorkspaceRead, nil) // ...but the load failed
		if got := a.Counter(); got != loaded {
			t.Errorf("Counter() = %d, want %d, the last successful load's", got, loaded)
		}
	})
}

func TestPollerPicksUpChanges(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	w := watch(db)
	var (
		ws1 domain.WorkspaceID
		u   domain.UserID
	)
	change(t, db, func(s *seeder) {
		ws1, u = s.workspace("alpha"), s.user("a")
		s.member(ws1, u, domain.RoleViewer)
	})
	a := newAuthorizer(t, w, casbinauthz.Options{PollInterval: 10 * time.Millisecond})
	want(t, a, user(u), ws1, domain.PermFormsWrite, domain.ErrForbidden)

	change(t, db, func(s *seeder) { s.setRole(ws1, u, domain.RoleEditor) }) // another node's change
	waitFor(t, time.Second, func() bool {
		return a.Authorize(t.Context(), user(u), ws1, domain.PermFormsWrite) == nil
	})

	// With the counter unchanged, polls go on but load nothing.
	txs, loads := w.txs.Load(), w.loads.Load()
	waitFor(t, time.Second, func() bool { return w.txs.Load()-txs >= 3 })
	if n := w.loads.Load() - loads; n != 0 {
		t.Errorf("%d loads while the counter stood still, want 0", n)
	}
	if got, stored := a.Counter(), policyCounter(t, db); got != stored {
		t.Errorf("Counter() = %d, want %d, the stored counter", got, stored)
	}
}

func TestPollerSurvivesFailures(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	w := watch(db)
	var (
		ws1 domain.WorkspaceID
		u   domain.UserID
	)
	change(t, db, func(s *seeder) {
		ws1, u = s.workspace("alpha"), s.user("a")
		s.member(ws1, u, domain.RoleViewer)
	})
	var logs syncBuffer
	a := newAuthorizer(t, w, casbinauthz.Options{
		PollInterval: 5 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	})
	w.Fail(errors.New("connection refused"))
	txs := w.txs.Load()
	waitFor(t, time.Second, func() bool { return w.txs.Load()-txs >= 3 }) // three failed polls
	want(t, a, user(u), ws1, domain.PermFormsRead, nil)
	change(t, db, func(s *seeder) { s.setRole(ws1, u, domain.RoleOwner) })
	w.Fail(nil)
	waitFor(t, time.Second, func() bool {
		return a.Authorize(t.Context(), user(u), ws1, domain.PermWorkspaceDelete) == nil
	})
	waitFor(t, time.Second, func() bool { return strings.Contains(logs.String(), "recovered") })
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings for one outage, want 1:\n%s", n, logs.String())
	}
}

// syncBuffer is a bytes.Buffer the poller may write while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Polling happens in Run, on the caller's goroutine: once Run has
// returned nothing polls, which the process's job runner relies on to
// stop the poller before it closes the database.
func TestRunPollsUntilCancelled(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	a, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var (
		ws1 domain.WorkspaceID
		u   domain.UserID
	)
	change(t, db, func(s *seeder) {
		ws1, u = s.workspace("alpha"), s.user("a")
		s.member(ws1, u, domain.RoleOwner)
	})
	waitFor(t, 5*time.Second, func() bool {
		return a.Authorize(t.Context(), user(u), ws1, domain.PermWorkspaceDelete) == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after its context ended, want nil", err)
	}
}

func TestRunWithPollingOffReturnsAtOnce(t *testing.T) {
	t.Parallel()
	w := watch(sqlitetest.New(t))
	a, err := casbinauthz.New(t.Context(), w, noPolling)
	if err != nil {
		t.Fatal(err)
	}
	before := w.txs.Load()
	if err := a.Run(t.Context()); err != nil { // a live context: only "off" ends it
		t.Fatalf("Run = %v", err)
	}
	if n := w.txs.Load() - before; n != 0 {
		t.Errorf("Run with polling off made %d transactions", n)
	}
}

func TestNewFails(t *testing.T) {
	t.Parallel()
	t.Run("StoreError", func(t *testing.T) {
		w := watch(sqlitetest.New(t))
		w.Fail(errors.New("no database"))
		if _, err := casbinauthz.New(t.Context(), w, noPolling); err == nil {
			t.Fatal("New succeeded on a failing store")
		}
	})
	t.Run("UnknownRuleType", func(t *testing.T) {
		// sqlstore writes no rule of another type, so the wrapper adds one
		// to what the real store answers, as a newer node's store might.
		w := watch(sqlitetest.New(t))
		w.edit = func(rules []ports.PolicyRule) []ports.PolicyRule {
			return append(rules, ports.PolicyRule{Type: "g2", V0: "a", V1: "b", V2: "c"})
		}
		if _, err := casbinauthz.New(t.Context(), w, noPolling); err == nil {
			t.Fatal("New accepted a rule of type g2")
		}
	})
}

// TestReloadIsAtomic checks that decisions made while the policy reloads
// over and over never see a missing or partial policy.
func TestReloadIsAtomic(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	var (
		ws1          domain.WorkspaceID
		owner, first domain.UserID
	)
	change(t, db, func(s *seeder) {
		ws1 = s.workspace("alpha")
		for i := range 200 {
			u := s.user("viewer" + strconv.Itoa(i))
			s.member(ws1, u, domain.RoleViewer)
			if i == 0 {
				first = u
			}
		}
		owner = s.user("owner")
		s.member(ws1, owner, domain.RoleOwner)
	})
	a := newAuthorizer(t, db, casbinauthz.Options{PollInterval: time.Millisecond})

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		// Each round changes the policy, so that the poller reloads too.
		roles := []domain.Role{domain.RoleEditor, domain.RoleViewer}
		for i := 0; ctx.Err() == nil; i++ {
			err := tryChange(ctx, db, func(s *seeder) { s.setRole(ws1, first, roles[i%2]) })
			if err != nil && ctx.Err() == nil {
				t.Errorf("change: %v", err)
				return
			}
			if err := a.Reload(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("Reload: %v", err)
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := a.Authorize(ctx, user(owner), ws1, domain.PermWorkspaceDelete); err != nil {
					t.Errorf("owner denied during reload: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// benchWorkspace is what the benchmarks ask about in one workspace of
// benchPolicy: its ID, its members by role and its keys.
type benchWorkspace struct {
	id      domain.WorkspaceID
	members map[domain.Role]domain.UserID
	keys    map[domain.Role]domain.APIKey // by the role of the key's creator
}

// benchPolicy seeds a realistic policy: workspaces of 10 members and 2
// keys, one made by an editor and one by an owner. It returns the
// database and the workspace numbered pick.
func benchPolicy(b *testing.B, workspaces, pick int) (*sqlstore.DB, benchWorkspace) {
	b.Helper()
	db := sqlitetest.New(b)
	var picked benchWorkspace
	change(b, db, func(s *seeder) {
		for w := range workspaces {
			bw := benchWorkspace{
				id:      s.workspace("ws" + strconv.Itoa(w)),
				members: map[domain.Role]domain.UserID{},
				keys:    map[domain.Role]domain.APIKey{},
			}
			for m := range 10 {
				u, r := s.user(fmt.Sprintf("usr%d-%d", w, m)), domain.Roles[m%4]
				s.member(bw.id, u, r)
				if _, ok := bw.members[r]; !ok {
					bw.members[r] = u
				}
			}
			for _, r := range []domain.Role{domain.RoleEditor, domain.RoleOwner} {
				bw.keys[r] = s.key(bw.id, bw.members[r])
			}
			if w == pick {
				picked = bw
			}
		}
	})
	return db, picked
}

func BenchmarkAuthorize(b *testing.B) {
	db, ws := benchPolicy(b, 1000, 500)
	a := newAuthorizer(b, db, noPolling)
	var stranger domain.UserID
	change(b, db, func(s *seeder) { stranger = s.user("stranger") })
	cases := []struct {
		name string
		p    domain.Principal
		perm domain.Permission
		want error
	}{
		{"UserAllowed", user(ws.members[domain.RoleAdmin]), domain.PermSubmissionsWrite, nil},
		{"UserForbidden", user(ws.members[domain.RoleViewer]), domain.PermSubmissionsWrite, domain.ErrForbidden},
		{"UserNotMember", user(stranger), domain.PermSubmissionsRead, domain.ErrNotFound},
		{"KeyAllowed", apiKey(ws.keys[domain.RoleOwner], domain.PermSubmissionsRead, domain.PermSubmissionsWrite), domain.PermSubmissionsWrite, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			if err := a.Authorize(ctx, c.p, ws.id, c.perm); !errors.Is(err, c.want) && err != c.want {
				b.Fatalf("Authorize = %v, want %v", err, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = a.Authorize(ctx, c.p, ws.id, c.perm)
			}
		})
		b.Run(c.name+"Uncached", func(b *testing.B) {
			a := newAuthorizer(b, db, casbinauthz.Options{PollInterval: -1, CacheSize: -1})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = a.Authorize(ctx, c.p, ws.id, c.perm)
			}
		})
		b.Run(c.name+"Parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					_ = a.Authorize(ctx, c.p, ws.id, c.perm)
				}
			})
		})
	}
}

// BenchmarkReload measures a full load: every node pays it once per
// policy change.
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(strconv.Itoa(n*12)+"Rules", func(b *testing.B) {
			db, _ := benchPolicy(b, n, 0)
			a := newAuthorizer(b, db, noPolling)
			b.ReportAllocs()
			for b.Loop() {
				if err := a.Reload(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
