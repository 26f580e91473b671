package casbinauthz_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// The tests here run on a policy store that holds a rule list, so that the
// model and the decision rules are checked on exactly the rules written
// below; stored_test.go runs the same decisions on rules sqlstore derives
// from memberships and keys.

const (
	ws1 = domain.WorkspaceID("ws_1")
	ws2 = domain.WorkspaceID("ws_2")
)

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

// roleRules is the default policy as "p" rules: what each role may do in
// every workspace, spelled out per role (Role.Allows is the specification).
func roleRules() []ports.PolicyRule {
	var out []ports.PolicyRule
	for _, r := range domain.Roles {
		for _, p := range allPermissions() {
			if r.Allows(p) {
				out = append(out, ports.PolicyRule{Type: "p", V0: "role:" + r.String(), V1: "*", V2: p.Object, V3: p.Action})
			}
		}
	}
	return out
}

func memberRule(u domain.UserID, ws domain.WorkspaceID, r domain.Role) ports.PolicyRule {
	return ports.PolicyRule{Type: "g", V0: "user:" + string(u), V1: "role:" + r.String(), V2: string(ws)}
}

func keyRule(k domain.APIKeyID, creator domain.UserID, ws domain.WorkspaceID) ports.PolicyRule {
	return ports.PolicyRule{Type: "g", V0: "key:" + string(k), V1: "user:" + string(creator), V2: string(ws)}
}

// ruleDB is a ports.UnitOfWork whose only stores are the instance counter
// and a policy store holding a rule list. Set replaces the list and bumps
// the counter, as a use case committing a policy change would.
type ruleDB struct {
	mu      sync.Mutex
	rules   []ports.PolicyRule
	counter int64
	fail    error
	txs     atomic.Int64 // transactions run
	loads   atomic.Int64 // times the rules were read
}

func newRuleDB(rules ...ports.PolicyRule) *ruleDB {
	return &ruleDB{rules: append(roleRules(), rules...)}
}

func (db *ruleDB) Set(rules ...ports.PolicyRule) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.rules = append(roleRules(), rules...)
	db.counter++
}

func (db *ruleDB) Fail(err error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.fail = err
}

func (db *ruleDB) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.txs.Add(1)
	return fn(ctx, ruleStores{db: db})
}

// ReadOnly is WithinTx: the fake has no writer to stay clear of.
func (db *ruleDB) ReadOnly(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	return db.WithinTx(ctx, fn)
}

// ruleStores implements the two stores the authorizer uses; the embedded
// nil interfaces make any other call panic, which a test would notice.
type ruleStores struct {
	ports.Stores
	db *ruleDB
}

func (s ruleStores) Instance() ports.InstanceStore { return ruleInstance{db: s.db} }
func (s ruleStores) Policies() ports.PolicyStore   { return rulePolicies{db: s.db} }

type ruleInstance struct {
	ports.InstanceStore
	db *ruleDB
}

func (s ruleInstance) Counter(_ context.Context, name string) (int64, error) {
	if name != ports.PolicyCounter {
		return 0, errors.New("unexpected counter " + name)
	}
	return s.db.counter, s.db.fail
}

type rulePolicies struct{ db *ruleDB }

func (s rulePolicies) Rules(context.Context) ([]ports.PolicyRule, error) {
	s.db.loads.Add(1)
	return slices.Clone(s.db.rules), s.db.fail
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

func apiKey(id domain.APIKeyID, ws domain.WorkspaceID, creator domain.UserID, scopes ...domain.Permission) domain.Principal {
	return domain.NewAPIKeyPrincipal(id, ws, creator, scopes)
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
	var rules []ports.PolicyRule
	for _, r := range domain.Roles {
		rules = append(rules, memberRule(domain.UserID("usr_"+r.String()), ws1, r))
	}
	// The cache must not change a decision, however small it is.
	for _, size := range []int{0, -1, 3} {
		t.Run("CacheSize"+strconv.Itoa(size), func(t *testing.T) {
			t.Parallel()
			a := newAuthorizer(t, newRuleDB(rules...), casbinauthz.Options{PollInterval: -1, CacheSize: size})
			for range 2 { // the second round answers from the cache, if any
				for _, r := range domain.Roles {
					for _, perm := range allPermissions() {
						want(t, a, user(domain.UserID("usr_"+r.String())), ws1, perm, allowedOrForbidden(r.Allows(perm)))
						// A role in one workspace gives nothing in another.
						want(t, a, user(domain.UserID("usr_"+r.String())), ws2, perm, domain.ErrNotFound)
					}
				}
			}
		})
	}
}

func TestAuthorizeCallers(t *testing.T) {
	t.Parallel()
	a := newAuthorizer(t, newRuleDB(
		memberRule("usr_ed", ws1, domain.RoleEditor),
		memberRule("usr_ed", ws2, domain.RoleViewer),
		keyRule("key_1", "usr_ed", ws1),
		keyRule("key_2", "usr_ed", ws2),
		keyRule("key_orphan", "usr_gone", ws1),
	), noPolling)

	t.Run("Anonymous", func(t *testing.T) {
		want(t, a, domain.AnonymousPrincipal, ws1, domain.PermWorkspaceRead, domain.ErrUnauthenticated)
	})
	t.Run("NonMember", func(t *testing.T) {
		want(t, a, user("usr_stranger"), ws1, domain.PermWorkspaceRead, domain.ErrNotFound)
	})
	t.Run("UnknownWorkspace", func(t *testing.T) {
		want(t, a, user("usr_ed"), "ws_nope", domain.PermWorkspaceRead, domain.ErrNotFound)
	})
	t.Run("KeyWithScope", func(t *testing.T) {
		k := apiKey("key_1", ws1, "usr_ed", domain.PermFormsWrite, domain.PermFormsRead)
		want(t, a, k, ws1, domain.PermFormsWrite, nil)
		want(t, a, k, ws1, domain.PermFormsRead, nil)
	})
	t.Run("KeyWithoutScope", func(t *testing.T) {
		k := apiKey("key_1", ws1, "usr_ed", domain.PermFormsRead)
		want(t, a, k, ws1, domain.PermFormsWrite, domain.ErrForbidden)
		want(t, a, k, ws1, domain.PermContentRead, domain.ErrForbidden)
	})
	t.Run("KeyReadsItsWorkspaceWithoutScope", func(t *testing.T) {
		want(t, a, apiKey("key_1", ws1, "usr_ed", domain.PermFormsRead), ws1, domain.PermWorkspaceRead, nil)
	})
	t.Run("KeyScopeBeyondCreatorRole", func(t *testing.T) {
		// The creator is an editor: a webhooks scope gives the key nothing.
		k := apiKey("key_1", ws1, "usr_ed", domain.PermWebhooksRead)
		want(t, a, k, ws1, domain.PermWebhooksRead, domain.ErrForbidden)
	})
	t.Run("KeyNeverGetsNonScopePermissions", func(t *testing.T) {
		k := apiKey("key_1", ws1, "usr_ed", domain.Scopes...)
		want(t, a, k, ws1, domain.PermWorkspaceDelete, domain.ErrForbidden)
		want(t, a, k, ws1, domain.PermAPIKeysWrite, domain.ErrForbidden)
	})
	t.Run("KeyOfAnotherWorkspace", func(t *testing.T) {
		// The creator is a member of ws2, but the key belongs to ws1.
		want(t, a, apiKey("key_1", ws1, "usr_ed", domain.PermFormsRead), ws2, domain.PermFormsRead, domain.ErrNotFound)
		want(t, a, apiKey("key_1", ws1, "usr_ed", domain.PermFormsRead), ws2, domain.PermWorkspaceRead, domain.ErrNotFound)
	})
	t.Run("KeyActsWithItsWorkspaceRole", func(t *testing.T) {
		// key_2's creator is only a viewer in ws2.
		k := apiKey("key_2", ws2, "usr_ed", domain.PermFormsRead, domain.PermFormsWrite)
		want(t, a, k, ws2, domain.PermFormsRead, nil)
		want(t, a, k, ws2, domain.PermFormsWrite, domain.ErrForbidden)
	})
	t.Run("KeyWhoseCreatorLeft", func(t *testing.T) {
		want(t, a, apiKey("key_orphan", ws1, "usr_gone", domain.PermFormsRead), ws1, domain.PermFormsRead, domain.ErrNotFound)
	})
	t.Run("KeyWithoutGroupingRule", func(t *testing.T) {
		// A revoked key: the store no longer lists its rule.
		want(t, a, apiKey("key_revoked", ws1, "usr_ed", domain.PermFormsRead), ws1, domain.PermFormsRead, domain.ErrNotFound)
	})
}

func TestReload(t *testing.T) {
	t.Parallel()
	db := newRuleDB(memberRule("usr_a", ws1, domain.RoleEditor), keyRule("key_1", "usr_a", ws1))
	a := newAuthorizer(t, db, noPolling)
	k := apiKey("key_1", ws1, "usr_a", domain.PermContentWrite)
	want(t, a, k, ws1, domain.PermContentWrite, nil)

	t.Run("DemotedCreatorsKeyLosesWrite", func(t *testing.T) {
		db.Set(memberRule("usr_a", ws1, domain.RoleViewer), keyRule("key_1", "usr_a", ws1))
		want(t, a, k, ws1, domain.PermContentWrite, nil) // not reloaded yet
		if err := a.Reload(t.Context()); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		want(t, a, k, ws1, domain.PermContentWrite, domain.ErrForbidden)
		want(t, a, k, ws1, domain.PermContentRead, domain.ErrForbidden) // no scope
		want(t, a, user("usr_a"), ws1, domain.PermContentRead, nil)
		if got := a.Counter(); got != 1 {
			t.Errorf("Counter() = %d, want 1", got)
		}
	})
	t.Run("RevokedKeyIsGone", func(t *testing.T) {
		db.Set(memberRule("usr_a", ws1, domain.RoleViewer))
		if err := a.Reload(t.Context()); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		want(t, a, k, ws1, domain.PermWorkspaceRead, domain.ErrNotFound)
		want(t, a, user("usr_a"), ws1, domain.PermWorkspaceRead, nil)
	})
	t.Run("FailedReloadKeepsThePolicy", func(t *testing.T) {
		db.Set() // nobody is a member any more...
		db.Fail(errors.New("database on fire"))
		err := a.Reload(t.Context())
		db.Fail(nil)
		if err == nil || domain.KindOf(err) != domain.KindInternal {
			t.Fatalf("Reload = %v, want an internal error", err)
		}
		want(t, a, user("usr_a"), ws1, domain.PermWorkspaceRead, nil) // ...but the load failed
		if got := a.Counter(); got != 2 {
			t.Errorf("Counter() = %d, want 2, the last successful load's", got)
		}
	})
}

func TestPollerPicksUpChanges(t *testing.T) {
	t.Parallel()
	db := newRuleDB(memberRule("usr_a", ws1, domain.RoleViewer))
	a := newAuthorizer(t, db, casbinauthz.Options{PollInterval: 10 * time.Millisecond})
	want(t, a, user("usr_a"), ws1, domain.PermFormsWrite, domain.ErrForbidden)

	db.Set(memberRule("usr_a", ws1, domain.RoleEditor)) // another node's change
	waitFor(t, time.Second, func() bool {
		return a.Authorize(t.Context(), user("usr_a"), ws1, domain.PermFormsWrite) == nil
	})

	// With the counter unchanged, polls go on but load nothing.
	txs, loads := db.txs.Load(), db.loads.Load()
	waitFor(t, time.Second, func() bool { return db.txs.Load()-txs >= 3 })
	if n := db.loads.Load() - loads; n != 0 {
		t.Errorf("%d loads while the counter stood still, want 0", n)
	}
	if got := a.Counter(); got != 1 {
		t.Errorf("Counter() = %d, want 1", got)
	}
}

func TestPollerSurvivesFailures(t *testing.T) {
	t.Parallel()
	db := newRuleDB(memberRule("usr_a", ws1, domain.RoleViewer))
	var logs syncBuffer
	a := newAuthorizer(t, db, casbinauthz.Options{
		PollInterval: 5 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	})
	db.Fail(errors.New("connection refused"))
	txs := db.txs.Load()
	waitFor(t, time.Second, func() bool { return db.txs.Load()-txs >= 3 }) // three failed polls
	want(t, a, user("usr_a"), ws1, domain.PermFormsRead, nil)
	db.Set(memberRule("usr_a", ws1, domain.RoleOwner))
	db.Fail(nil)
	waitFor(t, time.Second, func() bool {
		return a.Authorize(t.Context(), user("usr_a"), ws1, domain.PermWorkspaceDelete) == nil
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
	db := newRuleDB()
	a, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	db.Set(memberRule("usr_a", ws1, domain.RoleOwner))
	waitFor(t, 5*time.Second, func() bool {
		return a.Authorize(t.Context(), user("usr_a"), ws1, domain.PermWorkspaceDelete) == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after its context ended, want nil", err)
	}
}

func TestRunWithPollingOffReturnsAtOnce(t *testing.T) {
	t.Parallel()
	db := newRuleDB()
	a, err := casbinauthz.New(t.Context(), db, noPolling)
	if err != nil {
		t.Fatal(err)
	}
	before := db.txs.Load()
	if err := a.Run(t.Context()); err != nil { // a live context: only "off" ends it
		t.Fatalf("Run = %v", err)
	}
	if n := db.txs.Load() - before; n != 0 {
		t.Errorf("Run with polling off made %d transactions", n)
	}
}

func TestNewFails(t *testing.T) {
	t.Parallel()
	t.Run("StoreError", func(t *testing.T) {
		db := newRuleDB()
		db.Fail(errors.New("no database"))
		if _, err := casbinauthz.New(t.Context(), db, noPolling); err == nil {
			t.Fatal("New succeeded on a failing store")
		}
	})
	t.Run("UnknownRuleType", func(t *testing.T) {
		db := newRuleDB(ports.PolicyRule{Type: "g2", V0: "a", V1: "b", V2: "c"})
		if _, err := casbinauthz.New(t.Context(), db, noPolling); err == nil {
			t.Fatal("New accepted a rule of type g2")
		}
	})
}

// TestReloadIsAtomic checks that decisions made while the policy reloads
// over and over never see a missing or partial policy.
func TestReloadIsAtomic(t *testing.T) {
	t.Parallel()
	var rules []ports.PolicyRule
	for i := range 200 {
		rules = append(rules, memberRule(domain.UserID("usr_"+strconv.Itoa(i)), ws1, domain.RoleViewer))
	}
	rules = append(rules, memberRule("usr_owner", ws1, domain.RoleOwner))
	db := newRuleDB(rules...)
	a := newAuthorizer(t, db, casbinauthz.Options{PollInterval: time.Millisecond})

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			db.Set(rules...)
			if err := a.Reload(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("Reload: %v", err)
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := a.Authorize(ctx, user("usr_owner"), ws1, domain.PermWorkspaceDelete); err != nil {
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

// benchRules is a realistic policy: workspaces of 10 members and 2 keys.
func benchRules(workspaces int) []ports.PolicyRule {
	var rules []ports.PolicyRule
	for w := range workspaces {
		ws := domain.WorkspaceID("ws_" + strconv.Itoa(w))
		for m := range 10 {
			u := domain.UserID("usr_" + strconv.Itoa(w*10+m))
			rules = append(rules, memberRule(u, ws, domain.Roles[m%4]))
		}
		rules = append(rules, keyRule(domain.APIKeyID("key_"+strconv.Itoa(2*w)), domain.UserID("usr_"+strconv.Itoa(w*10+1)), ws))
		rules = append(rules, keyRule(domain.APIKeyID("key_"+strconv.Itoa(2*w+1)), domain.UserID("usr_"+strconv.Itoa(w*10+3)), ws))
	}
	return rules
}

func BenchmarkAuthorize(b *testing.B) {
	a := newAuthorizer(b, newRuleDB(benchRules(1000)...), noPolling)
	ws := domain.WorkspaceID("ws_500")
	cases := []struct {
		name string
		p    domain.Principal
		perm domain.Permission
		want error
	}{
		{"UserAllowed", user("usr_5002"), domain.PermSubmissionsWrite, nil},                   // admin
		{"UserForbidden", user("usr_5000"), domain.PermSubmissionsWrite, domain.ErrForbidden}, // viewer
		{"UserNotMember", user("usr_1"), domain.PermSubmissionsRead, domain.ErrNotFound},
		{"KeyAllowed", apiKey("key_1001", ws, "usr_5003", domain.PermSubmissionsRead, domain.PermSubmissionsWrite), domain.PermSubmissionsWrite, nil}, // owner's key
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			if err := a.Authorize(ctx, c.p, ws, c.perm); !errors.Is(err, c.want) && err != c.want {
				b.Fatalf("Authorize = %v, want %v", err, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = a.Authorize(ctx, c.p, ws, c.perm)
			}
		})
		b.Run(c.name+"Uncached", func(b *testing.B) {
			a := newAuthorizer(b, newRuleDB(benchRules(1000)...), casbinauthz.Options{PollInterval: -1, CacheSize: -1})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = a.Authorize(ctx, c.p, ws, c.perm)
			}
		})
		b.Run(c.name+"Parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					_ = a.Authorize(ctx, c.p, ws, c.perm)
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
			a := newAuthorizer(b, newRuleDB(benchRules(n)...), noPolling)
			b.ReportAllocs()
			for b.Loop() {
				if err := a.Reload(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
