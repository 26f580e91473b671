// Package identity holds the use cases about who is calling and what they
// may do: setup, login and sessions, users, workspaces, memberships, API
// keys and the audit log. Authentication turns a bearer token into a
// domain.Principal; every other use case takes that principal and asks the
// ports.Authorizer before it acts.
package identity

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Config holds the identity service's dependencies and settings.
type Config struct {
	UoW        ports.UnitOfWork
	Authorizer ports.Authorizer
	Hasher     ports.PasswordHasher
	Clock      ports.Clock
	// SessionTTL is the sliding lifetime of a login session.
	SessionTTL time.Duration
	// SessionMaxAge is a session's absolute lifetime: it ends this long
	// after login however busy it is. It is at least SessionTTL.
	SessionMaxAge time.Duration
	// UsageFlushInterval spaces the writes of slid session expiries and
	// API key uses (see RunUsageWriter); at most a tenth of SessionTTL.
	UsageFlushInterval time.Duration
	// LoginPerIP throttles every login attempt from one client IP;
	// successful logins take tokens too, so that a valid account cannot be
	// used to refill an attacker's budget.
	LoginPerIP ports.RateLimiter
	// LoginPerAccountIP throttles the failed logins of one account from
	// one client IP, tightly: it is what slows a guesser down.
	// LoginPerAccount is a much higher ceiling on one account's failures
	// from all addresses together, against guessing from many addresses.
	// An attack on an account from some addresses so leaves its owner, at
	// another address, able to log in.
	LoginPerAccountIP ports.FailureLimiter
	LoginPerAccount   ports.FailureLimiter
	// PasswordResetPerIP and PasswordResetPerAddress limit password reset
	// requests from one client IP and for one e-mail address; the second
	// is what keeps an address from being flooded with mail.
	PasswordResetPerIP      ports.RateLimiter
	PasswordResetPerAddress ports.RateLimiter
	// EmailChangePerUser and EmailChangePerAddress limit the e-mail
	// changes one user asks for and those that name one new address: each
	// mails the address it names, which its asker chooses, so without
	// them a session could flood any address with Keel's mail.
	EmailChangePerUser    ports.RateLimiter
	EmailChangePerAddress ports.RateLimiter
	// SecondFactorFailures throttles the wrong second-factor codes of one
	// user, TOTP and recovery codes alike, at login and where a code
	// proves a change (twofactor.go): a ceiling far below the login's,
	// since a code has only a million values. Succeed comes only with a
	// right code, never with a right password.
	SecondFactorFailures ports.FailureLimiter
	// SecondFactorNotices spaces the mails that tell a user that wrong
	// codes paused code entry: Check says whether one may go, Fail records
	// one queued, and a right code's Succeed forgets it, so that the next
	// lockout mails again. Every lockout mails when it is nil.
	SecondFactorNotices ports.FailureLimiter
	// AuthFailuresPerIP throttles the session tokens and API keys from one
	// client IP that fail to authenticate; valid credentials take nothing.
	AuthFailuresPerIP ports.FailureLimiter
	// Logger receives the errors of background work; none when nil.
	Logger *slog.Logger
	// MeterProvider makes the service's metrics; OpenTelemetry's global
	// provider when nil.
	MeterProvider metric.MeterProvider
	// CredentialCacheTTL bounds how long a verified token is trusted
	// without looking at the database again, so revocation, expiry and
	// disabling take effect within it on every node. Keel promises one
	// second; the default, and the maximum, is half that, which leaves
	// room for the request that made the change and for clock drift.
	CredentialCacheTTL time.Duration
	// Workspaces holds the instance's rules for creating workspaces and
	// for their senders (workspaces.go).
	Workspaces WorkspacePolicy
	// PublicChanged, if set, is called after a commit that changed what
	// the public content API answers (a workspace's slug, name or public
	// origins, or its deletion), so that this node's cache forgets it at
	// once; other nodes learn it from ports.PublicContentCounter.
	PublicChanged func()
	// LinkBase returns the absolute base URL of the links that account
	// mail carries, such as an invitation's (KEEL_PUBLIC_URL); it is a
	// function because the default is known only once the server
	// listens. "http://localhost" when nil.
	LinkBase func() string
	// Sealer encrypts the TOTP secrets of two-factor authentication at
	// rest (KEEL_SECRET_KEY); when nil, enrolment answers
	// domain.ErrTwoFactorUnavailable (twofactor.go).
	Sealer *domain.SecretSealer
}

// Service runs the identity use cases.
type Service struct {
	uow             ports.UnitOfWork
	authz           ports.Authorizer
	hasher          ports.PasswordHasher
	clock           ports.Clock
	sessionTTL      time.Duration
	sessionMaxAge   time.Duration
	perIP           ports.RateLimiter
	perAccountIP    ports.FailureLimiter
	perAccount      ports.FailureLimiter
	authFailures    ports.FailureLimiter
	resetPerIP      ports.RateLimiter
	resetPerAddress ports.RateLimiter
	changePerUser   ports.RateLimiter
	changePerAddr   ports.RateLimiter
	codeFailures    ports.FailureLimiter
	codeNotices     ports.FailureLimiter
	creds           *credentialCache
	usage           *usageBuffer
	usageInterval   time.Duration
	log             *slog.Logger
	workspaces      WorkspacePolicy
	publicChanged   func()
	linkBase        func() string
	sealer          *domain.SecretSealer
	// reloadFailures counts policy reloads that failed after a commit.
	reloadFailures metric.Int64Counter

	// decoy is a hash of a throwaway password, made on the first login
	// rather than at start: a hash costs tens of milliseconds and
	// megabytes, which a server that nobody logs into should not pay.
	decoyOnce sync.Once
	decoy     string
	decoyErr  error
}

// MaxCredentialCacheTTL is the longest a node trusts a verified token
// without reading it again, and the default.
const MaxCredentialCacheTTL = 500 * time.Millisecond

// DefaultSessionTTL is a session's lifetime when none is configured.
const DefaultSessionTTL = 24 * time.Hour

// DefaultSessionMaxAge is a session's absolute lifetime when none is
// configured: a stolen token that is kept busy still ends within a month.
const DefaultSessionMaxAge = 30 * 24 * time.Hour

// NewService wires the identity use cases. Limiters left nil do not limit.
func NewService(_ context.Context, cfg Config) (*Service, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SessionMaxAge <= 0 {
		cfg.SessionMaxAge = max(DefaultSessionMaxAge, cfg.SessionTTL)
	}
	if cfg.SessionMaxAge < cfg.SessionTTL {
		return nil, fmt.Errorf("session max age %s is shorter than the session TTL %s", cfg.SessionMaxAge, cfg.SessionTTL)
	}
	// See usage.go: slides written later than this could let a session in
	// use expire on another node.
	if limit := cfg.SessionTTL / 10; cfg.UsageFlushInterval <= 0 || cfg.UsageFlushInterval > limit {
		cfg.UsageFlushInterval = min(DefaultUsageFlushInterval, limit)
	}
	if cfg.CredentialCacheTTL <= 0 || cfg.CredentialCacheTTL > MaxCredentialCacheTTL {
		cfg.CredentialCacheTTL = MaxCredentialCacheTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PublicChanged == nil {
		cfg.PublicChanged = func() {}
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	if cfg.LinkBase == nil {
		cfg.LinkBase = func() string { return "http://localhost" }
	}
	reloadFailures, err := cfg.MeterProvider.Meter(scope).Int64Counter("keel.policy.reload_failures",
		metric.WithUnit("{reload}"),
		metric.WithDescription("Policy reloads that failed after a committed change; the poller applies the change later."))
	if err != nil {
		return nil, fmt.Errorf("identity metrics: %w", err)
	}
	return &Service{
		uow: cfg.UoW, authz: cfg.Authorizer, hasher: cfg.Hasher, clock: cfg.Clock,
		sessionTTL: cfg.SessionTTL, sessionMaxAge: cfg.SessionMaxAge,
		perIP: orUnlimited(cfg.LoginPerIP), perAccountIP: orNoFailureLimit(cfg.LoginPerAccountIP),
		perAccount: orNoFailureLimit(cfg.LoginPerAccount), authFailures: orNoFailureLimit(cfg.AuthFailuresPerIP),
		resetPerIP: orUnlimited(cfg.PasswordResetPerIP), resetPerAddress: orUnlimited(cfg.PasswordResetPerAddress),
		codeFailures: orNoFailureLimit(cfg.SecondFactorFailures), codeNotices: orNoFailureLimit(cfg.SecondFactorNotices),
		changePerUser: orUnlimited(cfg.EmailChangePerUser), changePerAddr: orUnlimited(cfg.EmailChangePerAddress),
		creds: newCredentialCache(cfg.CredentialCacheTTL),
		usage: newUsageBuffer(), usageInterval: cfg.UsageFlushInterval, log: cfg.Logger,
		workspaces:     cfg.Workspaces.withDefaults(),
		publicChanged:  cfg.PublicChanged,
		linkBase:       cfg.LinkBase,
		sealer:         cfg.Sealer,
		reloadFailures: reloadFailures,
	}, nil
}

// unlimited is the limiter of a Config that sets none.
type unlimited struct{}

func (unlimited) Allow(context.Context, string) (bool, time.Duration) { return true, 0 }
func (unlimited) Check(context.Context, string) (bool, time.Duration) { return true, 0 }
func (unlimited) Fail(context.Context, string)                        {}
func (unlimited) Succeed(context.Context, string)                     {}

func orUnlimited(l ports.RateLimiter) ports.RateLimiter {
	if l == nil {
		return unlimited{}
	}
	return l
}

func orNoFailureLimit(l ports.FailureLimiter) ports.FailureLimiter {
	if l == nil {
		return unlimited{}
	}
	return l
}

// decoyHash returns the hash that logins for unknown e-mail addresses
// verify against, so that they spend the same time as logins for real
// accounts and do not reveal which addresses have one. Every login calls
// it, whatever the address, so the first login's extra hashing does not
// tell the two apart either.
func (s *Service) decoyHash(ctx context.Context) (string, error) {
	s.decoyOnce.Do(func() {
		// Not ctx: a cancelled first login must not spoil the decoy for good.
		s.decoy, s.decoyErr = s.hasher.Hash(context.WithoutCancel(ctx), "not a real password, only a timing decoy")
	})
	if s.decoyErr != nil {
		return "", fmt.Errorf("hash timing decoy: %w", s.decoyErr)
	}
	return s.decoy, nil
}

func (s *Service) now() time.Time { return s.clock.Now() }

// audit records what p just did in the caller's transaction; see
// usecase.Audit.
func (s *Service) audit(ctx context.Context, st ports.Stores, p domain.Principal, ws domain.WorkspaceID, action, targetKind, targetID string, details map[string]string) error {
	return usecase.Audit(ctx, st, p, ws, action, targetKind, targetID, details, s.now())
}

// workspace resolves and authorizes a workspace reference; see
// usecase.Workspace.
func (s *Service) workspace(ctx context.Context, st ports.Stores, p domain.Principal, ref string, perm domain.Permission) (domain.Workspace, error) {
	return usecase.Workspace(ctx, st, s.authz, p, ref, perm)
}

// policyChanged bumps the policy counter inside a transaction that changed
// memberships or keys, so every node reloads its policy.
func policyChanged(ctx context.Context, st ports.Stores) error {
	if _, err := st.Instance().BumpCounter(ctx, ports.PolicyCounter); err != nil {
		return fmt.Errorf("bump policy counter: %w", err)
	}
	return nil
}

// credentialsChanged bumps the credentials counter inside a transaction
// that ended sessions or changed an API key's secret without a policy
// change, so that every node forgets the tokens it verified at once
// (ForgetCachedCredentials) rather than trusting them for up to the cache
// TTL. Changes to the policy need not call it: nodes forget on those too.
func credentialsChanged(ctx context.Context, st ports.Stores) error {
	if _, err := st.Instance().BumpCounter(ctx, ports.CredentialsCounter); err != nil {
		return fmt.Errorf("bump credentials counter: %w", err)
	}
	return nil
}

// ForgetCachedCredentials drops every token this node has verified, so
// that each is read again on its next use. The composition root calls it
// when another node announces a change of credentials or of the policy
// (ports.CredentialsCounter, ports.PolicyCounter): this node's own changes
// forget what they changed already.
func (s *Service) ForgetCachedCredentials() {
	s.creds.forgetWhere(func(domain.Principal) bool { return true })
}

// scope names the instrumentation of this package.
const scope = "github.com/keelhq/keel/application/identity"

// reload applies a committed policy change on this node at once; other
// nodes follow through the counter. It returns nothing because the change
// is committed whatever happens here: reporting a failure would tell the
// caller that work which took effect did not (and lose a new API key's
// one-time secret). A failed reload is logged and counted instead, and
// this node's poller applies the change when it next sees the counter
// move, as every other node does.
func (s *Service) reload(ctx context.Context) {
	if err := s.authz.Reload(ctx); err != nil {
		s.reloadFailures.Add(ctx, 1)
		s.log.ErrorContext(ctx, "policy reload after a committed change failed; the poller will apply it", "err", err)
	}
}

// credentialCache remembers verified tokens for a short time, keyed by the
// token's hash, so the hot path of an API request is one hash and one map
// lookup rather than a database round trip.
type credentialCache struct {
	ttl time.Duration
	mu  sync.RWMutex
	m   map[string]cachedCredential
}

type cachedCredential struct {
	p       domain.Principal
	expires time.Time
}

func newCredentialCache(ttl time.Duration) *credentialCache {
	return &credentialCache{ttl: ttl, m: map[string]cachedCredential{}}
}

func (c *credentialCache) get(key string, now time.Time) (domain.Principal, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return domain.Principal{}, false
	}
	return e.p, true
}

// put remembers p until ttl from now, or until notAfter if sooner (a key
// or session that expires in half a second is cached for half a second).
func (c *credentialCache) put(key string, p domain.Principal, now, notAfter time.Time) {
	exp := now.Add(c.ttl)
	if notAfter.Before(exp) {
		exp = notAfter
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 {
		// Sweep expired entries rather than grow without bound when many
		// distinct tokens arrive.
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = cachedCredential{p: p, expires: exp}
}

// forgetWhere drops every entry matching f at once: this node's own
// logout or revocation must not wait for the cache to expire.
func (c *credentialCache) forgetWhere(f func(domain.Principal) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if f(e.p) {
			delete(c.m, k)
		}
	}
}
