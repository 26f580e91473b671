// Package readpath checks that the use cases which only read go through
// ports.UnitOfWork.ReadOnly: on SQLite, where one transaction writes at a
// time and writers queue for group commit, a listing must not wait for a
// write to finish.
package readpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// patience bounds each read while the write is held. A read on the read
// path answers in milliseconds; one that queues behind the writer never
// answers until the writer lets go, so this bound only decides how long a
// failure takes to report.
const patience = 10 * time.Second

// TestReadsDoNotWaitForAWriter holds a write transaction open on SQLite,
// released only when the test ends, and calls every read use case of the
// identity, messaging and system contexts, and the authorizer's policy
// reload, while it is held: each must answer. (The forms and content
// contexts read through ReadOnly already.) system.Instance stores the
// instance on a database's first call, which must write; the test makes
// that call before taking the lock, so what it checks is every later call.
func TestReadsDoNotWaitForAWriter(t *testing.T) {
	ctx := t.Context()
	db := sqlitetest.New(t)
	clock := fixedClock{time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{PollInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	ids, err := identity.NewService(ctx, identity.Config{
		UoW: db, Authorizer: authz, Clock: clock, SessionTTL: time.Hour,
		Hasher: argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := messaging.NewService(messaging.Config{UoW: db, Authorizer: authz, Clock: clock})
	sys := system.NewService(db, db, clock)
	inst, err := sys.Instance(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// An administrator who owns a workspace, and a key in it, all written
	// before the writer takes the lock.
	anon := domain.AnonymousPrincipal.WithClient(domain.Client{IP: "192.0.2.1"})
	setup, err := ids.Setup(ctx, anon, identity.SetupInput{Email: "root@example.com", Password: "correct horse battery", Name: "Root"})
	if err != nil {
		t.Fatal(err)
	}
	root, err := ids.Authenticate(ctx, setup.Token, anon.Client())
	if err != nil {
		t.Fatal(err)
	}
	w, err := ids.CreateWorkspace(ctx, root, identity.CreateWorkspaceInput{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := ids.CreateAPIKey(ctx, root, identity.CreateAPIKeyInput{Workspace: "acme", Name: "ci", Scopes: []string{"members:read"}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ids.Authenticate(ctx, k.Secret, anon.Client())
	if err != nil {
		t.Fatal(err)
	}

	sqlitetest.HoldWrite(t, db)

	page := ports.Page{Limit: 10}
	reads := []struct {
		name string
		read func(ctx context.Context) error
	}{
		{"identity.ListMembers", func(ctx context.Context) error {
			_, _, err := ids.ListMembers(ctx, root, "acme", page)
			return err
		}},
		{"identity.ListAPIKeys", func(ctx context.Context) error {
			_, _, err := ids.ListAPIKeys(ctx, root, "acme", page)
			return err
		}},
		{"identity.ListAuditEvents", func(ctx context.Context) error {
			_, _, err := ids.ListAuditEvents(ctx, root, "acme", page)
			return err
		}},
		{"identity.ListInstanceAuditEvents", func(ctx context.Context) error {
			_, _, err := ids.ListInstanceAuditEvents(ctx, root, page)
			return err
		}},
		{"identity.ListWorkspaces as a user", func(ctx context.Context) error {
			_, _, err := ids.ListWorkspaces(ctx, root, page)
			return err
		}},
		{"identity.ListWorkspaces as a key", func(ctx context.Context) error {
			_, _, err := ids.ListWorkspaces(ctx, key, page)
			return err
		}},
		{"identity.GetWorkspace", func(ctx context.Context) error {
			_, err := ids.GetWorkspace(ctx, root, string(w.ID()))
			return err
		}},
		{"messaging.ListMessages", func(ctx context.Context) error {
			_, _, err := msgs.ListMessages(ctx, root, "acme", nil, page)
			return err
		}},
		{"casbinauthz.Reload", authz.Reload},
		{"system.Instance", func(ctx context.Context) error {
			got, err := sys.Instance(ctx)
			if err == nil && got.ID() != inst.ID() {
				return fmt.Errorf("instance %s, want the stored %s", got.ID(), inst.ID())
			}
			return err
		}},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), patience)
			defer cancel()
			if err := r.read(ctx); errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("still waiting for the writer after %s: it reads through a write transaction", patience)
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
}
