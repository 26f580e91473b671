package identity_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
)

// flakyReload is the real authorizer whose Reload fails while fail is set,
// as it does when the database is briefly unreachable after a commit.
type flakyReload struct {
	*casbinauthz.Authorizer
	fail atomic.Bool
}

func (a *flakyReload) Reload(ctx context.Context) error {
	if a.fail.Load() {
		return errors.New("database unreachable")
	}
	return a.Authorizer.Reload(ctx)
}

// syncBuffer is a log destination that several goroutines may write.
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

// A policy reload that fails after the commit must not turn committed work
// into an error: the key exists, so its one-time secret must reach the
// caller. The failure is logged and counted instead, and the poller
// converges later.
func TestCreateAPIKeySucceedsWhenReloadFails(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	inner, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Close() })
	authz := &flakyReload{Authorizer: inner}
	var logs syncBuffer
	reader := sdkmetric.NewManualReader()
	svc, err := identity.NewService(t.Context(), identity.Config{
		UoW: db, Authorizer: authz, Hasher: &fakeHasher{},
		Clock:         &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)},
		Logger:        slog.New(slog.NewJSONHandler(&logs, nil)),
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Setup(t.Context(), anon, identity.SetupInput{Email: "ada@example.com", Password: password, Name: "Ada"})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	admin, err := svc.Authenticate(t.Context(), res.Token, client)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if _, err := svc.CreateWorkspace(t.Context(), admin, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"}); err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}

	authz.fail.Store(true)
	created, err := svc.CreateAPIKey(t.Context(), admin, identity.CreateAPIKeyInput{Workspace: "docs", Name: "ci", Scopes: []string{"forms:read"}})
	if err != nil {
		t.Fatalf("CreateAPIKey after a committed change = %v, want the key and its secret", err)
	}
	if created.Secret == "" || created.Key.ID() == "" {
		t.Fatalf("CreateAPIKey = %+v, want a key and its secret", created)
	}
	authz.fail.Store(false)
	p, err := svc.Authenticate(t.Context(), created.Secret, client)
	if err != nil || p.APIKey() != created.Key.ID() {
		t.Fatalf("Authenticate(secret) = %v, %v; want the created key", p.APIKey(), err)
	}

	if !strings.Contains(logs.String(), "database unreachable") {
		t.Errorf("the reload failure was not logged; logs:\n%s", logs.String())
	}
	if n := reloadFailures(t, reader); n != 1 {
		t.Errorf("keel.policy.reload_failures = %d, want 1", n)
	}
}

// Every use case that changes the policy reports its committed change as
// done when the reload after it fails.
func TestPolicyChangesSucceedWhenReloadFails(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	inner, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Close() })
	authz := &flakyReload{Authorizer: inner}
	reader := sdkmetric.NewManualReader()
	svc, err := identity.NewService(t.Context(), identity.Config{
		UoW: db, Authorizer: authz, Hasher: &fakeHasher{},
		Clock:         &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)},
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	res, err := svc.Setup(ctx, anon, identity.SetupInput{Email: "ada@example.com", Password: password, Name: "Ada"})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	admin, err := svc.Authenticate(ctx, res.Token, client)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	bob, err := svc.CreateUser(ctx, admin, identity.CreateUserInput{Email: "bob@example.com", Password: password, Name: "Bob"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	// Each step fails its reload, then a successful reload brings this
	// node's policy up to date before the next step needs it.
	step := func(name string, f func() error) {
		t.Helper()
		authz.fail.Store(true)
		if err := f(); err != nil {
			t.Errorf("%s with a failing reload = %v, want success", name, err)
		}
		authz.fail.Store(false)
		if err := authz.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	step("CreateWorkspace", func() error {
		_, err := svc.CreateWorkspace(ctx, admin, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"})
		return err
	})
	step("AddMember", func() error {
		_, err := svc.AddMember(ctx, admin, identity.AddMemberInput{Workspace: "docs", UserID: bob.ID(), Role: domain.RoleEditor})
		return err
	})
	step("ChangeMember", func() error {
		_, err := svc.ChangeMember(ctx, admin, identity.ChangeMemberInput{Workspace: "docs", User: bob.ID(), Role: domain.RoleViewer})
		return err
	})
	var key identity.CreatedAPIKey
	step("CreateAPIKey", func() (err error) {
		key, err = svc.CreateAPIKey(ctx, admin, identity.CreateAPIKeyInput{Workspace: "docs", Name: "ci", Scopes: []string{"forms:read"}})
		return err
	})
	step("RevokeAPIKey", func() error { return svc.RevokeAPIKey(ctx, admin, "docs", key.Key.ID()) })
	step("RemoveMember", func() error { return svc.RemoveMember(ctx, admin, "docs", bob.ID()) })
	step("DeleteWorkspace", func() error { return svc.DeleteWorkspace(ctx, admin, "docs") })
	if n := reloadFailures(t, reader); n != 7 {
		t.Errorf("keel.policy.reload_failures = %d, want 7", n)
	}
}

// reloadFailures reads the policy reload failure counter.
func reloadFailures(t *testing.T, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "keel.policy.reload_failures" {
				continue
			}
			var n int64
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				n += dp.Value
			}
			return n
		}
	}
	return 0
}
