// Package casbinauthz implements ports.Authorizer with Casbin: role-based
// access control with a domain per workspace, the policy loaded from the
// database through ports.PolicyStore and reloaded whenever the policies
// counter moves, on this node or another.
package casbinauthz

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

//go:embed model.conf
var modelText string

// DefaultPollInterval is how often the policies counter is read when
// Options.PollInterval is zero: a change on another node applies here
// within about this long plus the time to load the policy.
const DefaultPollInterval = 250 * time.Millisecond

// pollTimeout bounds one poll, so that a database that hangs delays the
// next poll rather than stopping polling for good.
const pollTimeout = 5 * time.Second

// Options tunes an Authorizer. The zero value is ready to use.
type Options struct {
	// PollInterval is how often the policies counter is read;
	// DefaultPollInterval when zero. A negative value turns polling off,
	// leaving Reload as the only way to pick up changes: for single-node
	// tests only.
	PollInterval time.Duration
	// Logger receives the poller's failures and recoveries; slog.Default()
	// when nil.
	Logger *slog.Logger
	// CacheSize bounds the decisions remembered per loaded policy;
	// DefaultCacheSize when zero, none when negative. Casbin evaluates its
	// matcher against every permission line, which costs far more than
	// looking up a remembered decision (BENCHMARKS.md, Identity).
	CacheSize int
}

// DefaultCacheSize bounds the decision cache: about 100 bytes a decision,
// so a few megabytes at most.
const DefaultCacheSize = 50_000

// Authorizer is a ports.Authorizer over an immutable Casbin enforcer that
// each load replaces whole. Decisions read the current one through an
// atomic pointer, so they take no lock and never see a half-loaded policy;
// loads are serialised, so a slow load cannot overwrite a newer one.
type Authorizer struct {
	uow       ports.UnitOfWork
	log       *slog.Logger
	cacheSize int
	cur       atomic.Pointer[snapshot]
	loadMu    sync.Mutex
	every     time.Duration // the poll interval; negative: Run does not poll
	// watched says that notifications bring changes, so the poll is
	// only a fallback (SetWatched).
	watched atomic.Bool
	// poke asks Run to poll now rather than at its next tick (Changed).
	poke chan struct{}
}

var _ ports.Authorizer = (*Authorizer)(nil)

// snapshot is one loaded policy. Its enforcer and members never change
// after load; its decision cache fills as decisions are made and dies with
// it, so a reload needs no invalidation.
type snapshot struct {
	e       *casbin.Enforcer
	counter int64
	// members holds each (subject, workspace) pair that reaches a role,
	// directly or through an API key's creator. Decisions check it first,
	// so that callers with no access to a workspace learn nothing about it
	// and cost one map lookup.
	members map[member]struct{}

	// decisions remembers Casbin's answers (decision → bool), never its
	// errors. sync.Map, not a map under a RWMutex: its reads share no
	// cache line, so decisions scale with cores (measured: 63 against
	// 250 ns a decision on two). cached counts stores, roughly: at
	// maxCache the map is emptied, a crude but rare and bounded eviction.
	decisions sync.Map
	cached    atomic.Int64
	maxCache  int
}

// subject is a principal's policy name, Principal.Subject(), kept in two
// parts so that lookups build no string.
type subject struct {
	kind domain.PrincipalKind
	id   string
}

func subjectOf(p domain.Principal) subject {
	if p.IsAPIKey() {
		return subject{domain.APIKeyPrincipal, string(p.APIKey())}
	}
	return subject{domain.UserPrincipal, string(p.User())}
}

// parseSubject reads a policy name back; ok is false for names no
// principal has (roles).
func parseSubject(s string) (_ subject, ok bool) {
	if id, ok := strings.CutPrefix(s, "user:"); ok {
		return subject{domain.UserPrincipal, id}, true
	}
	if id, ok := strings.CutPrefix(s, "key:"); ok {
		return subject{domain.APIKeyPrincipal, id}, true
	}
	return subject{}, false
}

func (s subject) String() string {
	if s.kind == domain.APIKeyPrincipal {
		return "key:" + s.id
	}
	return "user:" + s.id
}

type member struct {
	sub subject
	ws  string
}

type decision struct {
	member
	obj, act string
}

// enforce asks Casbin, or the cache of its earlier answers.
func (s *snapshot) enforce(m member, perm domain.Permission) (bool, error) {
	k := decision{m, perm.Object, perm.Action}
	if v, hit := s.decisions.Load(k); hit {
		return v.(bool), nil
	}
	ok, err := s.e.Enforce(m.sub.String(), m.ws, perm.Object, perm.Action)
	if err != nil || s.maxCache <= 0 {
		return ok, err
	}
	if s.cached.Add(1) > int64(s.maxCache) {
		s.decisions.Clear()
		s.cached.Store(0)
	}
	s.decisions.Store(k, ok)
	return ok, nil
}

// New loads the policy; Run keeps it current. ctx bounds the load.
func New(ctx context.Context, uow ports.UnitOfWork, opts Options) (*Authorizer, error) {
	a := &Authorizer{uow: uow, log: opts.Logger, cacheSize: opts.CacheSize, every: opts.PollInterval, poke: make(chan struct{}, 1)}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.cacheSize == 0 {
		a.cacheSize = DefaultCacheSize
	}
	s, err := a.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	a.cur.Store(s)
	if a.every == 0 {
		a.every = DefaultPollInterval
	}
	return a, nil
}

// Close releases nothing and returns nil: the poller runs in Run, on its
// caller's goroutine and context, so there is nothing left to stop.
func (a *Authorizer) Close() error { return nil }

// Authorize decides whether p holds perm in ws. Anonymous callers get
// domain.ErrUnauthenticated. Callers with no role in ws, API keys of
// another workspace and keys whose creator left it get domain.ErrNotFound,
// so the workspace's existence is not revealed. A key acts with the
// intersection of its scopes and its creator's current role: a key lacking
// the scope, or whose creator's role lacks perm, gets domain.ErrForbidden.
// Reading the workspace itself needs no scope.
func (a *Authorizer) Authorize(_ context.Context, p domain.Principal, ws domain.WorkspaceID, perm domain.Permission) error {
	switch p.Kind() {
	case domain.UserPrincipal:
	case domain.APIKeyPrincipal:
		if p.KeyWorkspace() != ws {
			return domain.ErrNotFound
		}
	default:
		return domain.ErrUnauthenticated
	}
	s := a.cur.Load()
	m := member{subjectOf(p), string(ws)}
	if _, ok := s.members[m]; !ok {
		return domain.ErrNotFound
	}
	if p.IsAPIKey() && perm != domain.PermWorkspaceRead && !p.HasScope(perm) {
		return domain.ErrForbidden.WithMessage("The API key lacks the %s scope.", perm)
	}
	ok, err := s.enforce(m, perm)
	if err != nil {
		return fmt.Errorf("enforce %s for %s in %s: %w", perm, p.Subject(), ws, err)
	}
	if !ok {
		return domain.ErrForbidden
	}
	return nil
}

// Reload loads the policy now and makes it current. Use cases call it after
// committing a policy change, so that the change applies on this node
// before the response. When the policy cannot be read it returns the
// store's error, wrapped, and the previous policy stays in force.
func (a *Authorizer) Reload(ctx context.Context) error {
	a.loadMu.Lock()
	defer a.loadMu.Unlock()
	return a.reloadLocked(ctx)
}

func (a *Authorizer) reloadLocked(ctx context.Context) error {
	s, err := a.load(ctx)
	if err != nil {
		return fmt.Errorf("reload policy: %w", err)
	}
	a.cur.Store(s)
	return nil
}

// Counter returns the policies counter the current policy was loaded at.
// Tests and health checks use it to see whether this node is current.
func (a *Authorizer) Counter() int64 { return a.cur.Load().counter }

// WatchedPollInterval is the poll interval while SetWatched(true) holds:
// notifications bring changes at once, and the poll only backs them up.
const WatchedPollInterval = 5 * time.Second

// Changed tells Run that the policies counter may have moved, as a
// notification from the database does: Run polls at once instead of at
// its next tick. It never blocks; calls made while a poll is pending
// merge into it.
func (a *Authorizer) Changed() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// SetWatched says whether notifications currently bring every policy
// change (Changed): while they do, Run polls only every
// WatchedPollInterval, as a fallback; while they do not, at its poll
// interval. Either way Run polls at once, since changes made while the
// notifications were down went unannounced.
func (a *Authorizer) SetWatched(on bool) {
	a.watched.Store(on)
	a.Changed()
}

// interval is the time from one poll to the next.
func (a *Authorizer) interval() time.Duration {
	if a.watched.Load() {
		return max(a.every, WatchedPollInterval)
	}
	return a.every
}

// Run polls the policies counter every poll interval, and whenever
// Changed asks, reloading the policy when it moved, until ctx ends; then
// it returns nil. With polling turned off (a negative interval) it
// returns nil at once. A poll that fails is logged, once per outage, and
// decisions go on with the last policy loaded: the database being away is
// no reason to stop.
func (a *Authorizer) Run(ctx context.Context) error {
	if a.every < 0 {
		return nil
	}
	t := time.NewTimer(a.interval())
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.poke:
		}
		t.Reset(a.interval())
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		err := a.poll(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			// Logged once per outage, not once per poll.
			a.log.Warn("authorization policy poll failed; deciding on the last policy loaded", "err", err)
			failing = true
		case err == nil && failing:
			a.log.Info("authorization policy poll recovered")
			failing = false
		}
	}
}

// poll reloads the policy when the counter differs from the one the
// current policy was loaded at.
func (a *Authorizer) poll(ctx context.Context) error {
	var n int64
	// One statement, on the read path: every node polls several times a
	// second, and a poll must not queue behind SQLite's writers.
	err := a.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		n, err = st.Instance().Counter(ctx, ports.PolicyCounter)
		return err
	})
	if err != nil {
		return fmt.Errorf("read %s counter: %w", ports.PolicyCounter, err)
	}
	if n == a.cur.Load().counter {
		return nil
	}
	a.loadMu.Lock()
	defer a.loadMu.Unlock()
	if n == a.cur.Load().counter { // a Reload got there first
		return nil
	}
	return a.reloadLocked(ctx)
}

// load reads the whole policy into a new snapshot.
func (a *Authorizer) load(ctx context.Context) (*snapshot, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	ad := &adapter{ctx: ctx, uow: a.uow}
	e, err := casbin.NewEnforcer(m, ad) // calls ad.LoadPolicy and builds the role links
	if err != nil {
		return nil, err
	}
	members, err := membersOf(e)
	if err != nil {
		return nil, err
	}
	return &snapshot{e: e, counter: ad.counter, members: members, maxCache: a.cacheSize}, nil
}

// membersOf lists the (subject, workspace) pairs of the grouping rules
// whose subject reaches a role that some permission names. A key whose
// creator left the workspace keeps its grouping rule but reaches no role.
func membersOf(e *casbin.Enforcer) (map[member]struct{}, error) {
	subjects, err := e.GetAllSubjects()
	if err != nil {
		return nil, fmt.Errorf("list policy subjects: %w", err)
	}
	roles := make(map[string]bool, len(subjects))
	for _, s := range subjects {
		roles[s] = true
	}
	links, err := e.GetGroupingPolicy()
	if err != nil {
		return nil, fmt.Errorf("list grouping rules: %w", err)
	}
	members := make(map[member]struct{}, len(links))
	checked := make(map[member]bool, len(links))
	for _, l := range links {
		sub, ok := parseSubject(l[0])
		k := member{sub, l[2]}
		if !ok || checked[k] {
			continue
		}
		checked[k] = true
		reached, err := e.GetImplicitRolesForUser(l[0], l[2])
		if err != nil {
			return nil, fmt.Errorf("roles of %s in %s: %w", l[0], l[2], err)
		}
		for _, r := range reached {
			if roles[r] {
				members[k] = struct{}{}
				break
			}
		}
	}
	return members, nil
}
