package identity_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// The benchmarks run the identity service as keel serve wires it: SQLite
// in a file, the Casbin authorizer polling the policy, argon2id with the
// default parameters and the real clock. Only the login throttles are
// lifted (left unset), or BenchmarkLogin would measure the rate limiter's
// refusals.
// No OpenTelemetry SDK is installed, so spans cost what a no-op span does.

// benchEnv is a migrated database with an administrator, a workspace and
// an API key.
type benchEnv struct {
	svc      *identity.Service
	authz    *casbinauthz.Authorizer
	ws       domain.WorkspaceID
	key      string // keel_<prefix>_<secret>, content:read
	session  string // the administrator's session token, owner of ws
	email    string
	password string
}

// benchClient is the caller every benchmark request comes from.
var benchClient = domain.Client{IP: "198.51.100.9", UserAgent: "bench"}

// newBenchEnv builds the environment. credTTL is the credential cache's
// lifetime: 0 for the production default (one second), a nanosecond to
// make every authentication read the database.
func newBenchEnv(b *testing.B, credTTL time.Duration) benchEnv {
	b.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "keel.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = authz.Close() })
	svc, err := identity.NewService(ctx, identity.Config{
		UoW: db, Authorizer: authz, Hasher: argon2id.New(argon2id.DefaultParams),
		Clock: ports.ClockFunc(time.Now), CredentialCacheTTL: credTTL,
	})
	if err != nil {
		b.Fatal(err)
	}
	env := benchEnv{svc: svc, authz: authz, email: "ada@example.com", password: "correct horse battery"}
	anonymous := domain.AnonymousPrincipal.WithClient(benchClient)
	res, err := svc.Setup(ctx, anonymous, identity.SetupInput{Email: env.email, Password: env.password, Name: "Ada"})
	if err != nil {
		b.Fatal(err)
	}
	env.session = res.Token
	admin, err := svc.Authenticate(ctx, res.Token, benchClient)
	if err != nil {
		b.Fatal(err)
	}
	w, err := svc.CreateWorkspace(ctx, admin, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"})
	if err != nil {
		b.Fatal(err)
	}
	env.ws = w.ID()
	k, err := svc.CreateAPIKey(ctx, admin, identity.CreateAPIKeyInput{Workspace: "docs", Name: "build", Scopes: []string{"content:read"}})
	if err != nil {
		b.Fatal(err)
	}
	env.key = k.Secret
	return env
}

// authenticateAndAuthorize is the work every API request does before its
// use case: the bearer token to a principal, then one permission check.
func (e benchEnv) authenticateAndAuthorize(ctx context.Context, token string) error {
	p, err := e.svc.Authenticate(ctx, token, benchClient)
	if err != nil {
		return err
	}
	return e.authz.Authorize(ctx, p, e.ws, domain.PermContentRead)
}

// benchmarkAuthenticateAndAuthorize runs the request prelude for the token
// tokenOf picks: warm (the credential cache holds the token, as it does
// for all but one request a second), warm on every core, and uncached
// (every request reads the database).
func benchmarkAuthenticateAndAuthorize(b *testing.B, tokenOf func(benchEnv) string) {
	b.Run("Warm", func(b *testing.B) {
		env := newBenchEnv(b, 0)
		ctx, token := context.Background(), tokenOf(env)
		if err := env.authenticateAndAuthorize(ctx, token); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := env.authenticateAndAuthorize(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("WarmParallel", func(b *testing.B) {
		env := newBenchEnv(b, 0)
		token := tokenOf(env)
		if err := env.authenticateAndAuthorize(context.Background(), token); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := env.authenticateAndAuthorize(ctx, token); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Uncached", func(b *testing.B) {
		env := newBenchEnv(b, time.Nanosecond)
		ctx, token := context.Background(), tokenOf(env)
		b.ReportAllocs()
		for b.Loop() {
			if err := env.authenticateAndAuthorize(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticateAndAuthorizeAPIKey is the prelude of an API
// consumer's request. The target for Warm is under 20 µs.
func BenchmarkAuthenticateAndAuthorizeAPIKey(b *testing.B) {
	benchmarkAuthenticateAndAuthorize(b, func(e benchEnv) string { return e.key })
}

// BenchmarkAuthenticateAndAuthorizeSession is the prelude of a logged-in
// person's request.
func BenchmarkAuthenticateAndAuthorizeSession(b *testing.B) {
	benchmarkAuthenticateAndAuthorize(b, func(e benchEnv) string { return e.session })
}

// BenchmarkLogin is a successful login: one argon2id verification with
// the default parameters (19 MiB, two passes), a session and an audit
// event written in one transaction. It reports milliseconds per login.
func BenchmarkLogin(b *testing.B) {
	env := newBenchEnv(b, 0)
	ctx := context.Background()
	anonymous := domain.AnonymousPrincipal.WithClient(benchClient)
	in := identity.LoginInput{Email: env.email, Password: env.password}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.svc.Login(ctx, anonymous, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/login")
}
