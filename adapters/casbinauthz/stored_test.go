package casbinauthz_test

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// These tests run on the rules sqlstore derives, on SQLite, from
// workspaces, memberships and API keys, written the way use cases write
// them: the change and a bump of the policies counter in one transaction.

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// world is a seeded database: two workspaces, a member of each role in
// the first, and keys made by its editor.
type world struct {
	db         *sqlstore.DB
	a, b       domain.WorkspaceID
	users      map[string]domain.UserID // by role name, plus "stranger"
	formsKey   domain.APIKey            // the editor's, scopes forms:read and forms:write
	readKey    domain.APIKey            // the editor's, scope forms:read
	otherWSKey domain.APIKey            // the editor's in b, where the editor is a viewer
}

// commit runs fn and bumps the policies counter in one transaction.
func commit(t *testing.T, db ports.UnitOfWork, fn func(ctx context.Context, st ports.Stores) error) {
	t.Helper()
	err := db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := fn(ctx, st); err != nil {
			return err
		}
		_, err := st.Instance().BumpCounter(ctx, ports.PolicyCounter)
		return err
	})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func newAPIKey(t *testing.T, ws domain.WorkspaceID, creator domain.UserID, scopes ...string) domain.APIKey {
	t.Helper()
	k, _, err := domain.NewAPIKey(domain.NewAPIKeyInput{Workspace: ws, Name: "CI", Scopes: scopes, CreatedBy: creator}, now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func seed(t *testing.T) *world {
	t.Helper()
	w := &world{db: sqlitetest.New(t), users: map[string]domain.UserID{}}
	wsA := must[domain.Workspace](t)(domain.NewWorkspace("Alpha", "alpha", now))
	wsB := must[domain.Workspace](t)(domain.NewWorkspace("Beta", "beta", now))
	w.a, w.b = wsA.ID(), wsB.ID()
	var users []domain.User
	for _, name := range []string{"owner", "admin", "editor", "viewer", "stranger"} {
		u := must[domain.User](t)(domain.NewUser(domain.NewUserInput{Email: name + "@example.com", Name: name}, now))
		users = append(users, u)
		w.users[name] = u.ID()
	}
	editor := w.users["editor"]
	w.formsKey = newAPIKey(t, w.a, editor, "forms:read", "forms:write")
	w.readKey = newAPIKey(t, w.a, editor, "forms:read")
	w.otherWSKey = newAPIKey(t, w.b, editor, "forms:read", "forms:write")

	commit(t, w.db, func(ctx context.Context, st ports.Stores) error {
		for _, ws := range []domain.Workspace{wsA, wsB} {
			if err := st.Workspaces().Add(ctx, ws); err != nil {
				return err
			}
		}
		for _, u := range users {
			if err := st.Users().Add(ctx, u); err != nil {
				return err
			}
		}
		for _, r := range domain.Roles {
			if err := st.Memberships().Add(ctx, domain.Membership{Workspace: w.a, User: w.users[r.String()], Role: r, CreatedAt: now}); err != nil {
				return err
			}
		}
		if err := st.Memberships().Add(ctx, domain.Membership{Workspace: w.b, User: editor, Role: domain.RoleViewer, CreatedAt: now}); err != nil {
			return err
		}
		for _, k := range []domain.APIKey{w.formsKey, w.readKey, w.otherWSKey} {
			if err := st.APIKeys().Add(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	return w
}

func keyPrincipal(k domain.APIKey) domain.Principal {
	return domain.NewAPIKeyPrincipal(k.ID(), k.Workspace(), k.CreatedBy(), k.Scopes())
}

func TestStoredDecisions(t *testing.T) {
	t.Parallel()
	w := seed(t)
	a := newAuthorizer(t, w.db, noPolling)

	t.Run("Roles", func(t *testing.T) {
		for _, r := range domain.Roles {
			for _, perm := range allPermissions() {
				want(t, a, user(w.users[r.String()]), w.a, perm, allowedOrForbidden(r.Allows(perm)))
			}
		}
	})
	t.Run("NonMember", func(t *testing.T) {
		for _, perm := range allPermissions() {
			want(t, a, user(w.users["stranger"]), w.a, perm, domain.ErrNotFound)
			want(t, a, user(w.users["owner"]), w.b, perm, domain.ErrNotFound)
		}
	})
	t.Run("KeyScopes", func(t *testing.T) {
		want(t, a, keyPrincipal(w.formsKey), w.a, domain.PermFormsWrite, nil)
		want(t, a, keyPrincipal(w.readKey), w.a, domain.PermFormsRead, nil)
		want(t, a, keyPrincipal(w.readKey), w.a, domain.PermFormsWrite, domain.ErrForbidden)
		want(t, a, keyPrincipal(w.readKey), w.a, domain.PermSubmissionsRead, domain.ErrForbidden)
		want(t, a, keyPrincipal(w.readKey), w.a, domain.PermWorkspaceRead, nil)
	})
	t.Run("KeyOfAnotherWorkspace", func(t *testing.T) {
		// The editor is a member of b, but formsKey belongs to a.
		want(t, a, keyPrincipal(w.formsKey), w.b, domain.PermFormsRead, domain.ErrNotFound)
		want(t, a, keyPrincipal(w.otherWSKey), w.a, domain.PermFormsRead, domain.ErrNotFound)
	})
	t.Run("KeyIntersectsWithCreatorRole", func(t *testing.T) {
		// otherWSKey has forms:write, but its creator is a viewer in b.
		want(t, a, keyPrincipal(w.otherWSKey), w.b, domain.PermFormsRead, nil)
		want(t, a, keyPrincipal(w.otherWSKey), w.b, domain.PermFormsWrite, domain.ErrForbidden)
	})
}

func TestStoredChanges(t *testing.T) {
	t.Parallel()
	w := seed(t)
	a := newAuthorizer(t, w.db, noPolling)
	editor := w.users["editor"]

	t.Run("DemotedCreatorsKeyLosesWrite", func(t *testing.T) {
		want(t, a, keyPrincipal(w.formsKey), w.a, domain.PermFormsWrite, nil)
		commit(t, w.db, func(ctx context.Context, st ports.Stores) error {
			return st.Memberships().SetRole(ctx, w.a, editor, domain.RoleViewer)
		})
		if err := a.Reload(t.Context()); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		want(t, a, keyPrincipal(w.formsKey), w.a, domain.PermFormsWrite, domain.ErrForbidden)
		want(t, a, keyPrincipal(w.formsKey), w.a, domain.PermFormsRead, nil)
		want(t, a, user(editor), w.a, domain.PermFormsWrite, domain.ErrForbidden)
	})
	t.Run("RevokedKeyIsGone", func(t *testing.T) {
		k := w.readKey
		k.Revoke(now.Add(time.Minute))
		commit(t, w.db, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Revoke(ctx, k) })
		if err := a.Reload(t.Context()); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		want(t, a, keyPrincipal(w.readKey), w.a, domain.PermFormsRead, domain.ErrNotFound)
		want(t, a, keyPrincipal(w.formsKey), w.a, domain.PermFormsRead, nil)
	})
	t.Run("RemovedCreatorsKeyIsGone", func(t *testing.T) {
		commit(t, w.db, func(ctx context.Context, st ports.Stores) error {
			return st.Memberships().Remove(ctx, w.a, editor)
		})
		if err := a.Reload(t.Context()); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		want(t, a, keyPrincipal(w.formsKey), w.a, domain.PermWorkspaceRead, domain.ErrNotFound)
		want(t, a, user(editor), w.a, domain.PermWorkspaceRead, domain.ErrNotFound)
	})
}

// TestStoredOtherNode commits a change through a writer with no authorizer,
// as another node would, and expects the poller, at its default interval,
// to apply it within a second.
func TestStoredOtherNode(t *testing.T) {
	t.Parallel()
	w := seed(t)
	a := newAuthorizer(t, w.db, casbinauthz.Options{})
	viewer := w.users["viewer"]
	want(t, a, user(viewer), w.a, domain.PermContentWrite, domain.ErrForbidden)

	start := time.Now()
	commit(t, w.db, func(ctx context.Context, st ports.Stores) error {
		return st.Memberships().SetRole(ctx, w.a, viewer, domain.RoleEditor)
	})
	waitFor(t, time.Second, func() bool {
		return a.Authorize(t.Context(), user(viewer), w.a, domain.PermContentWrite) == nil
	})
	t.Logf("applied after %v", time.Since(start).Round(time.Millisecond))
}
