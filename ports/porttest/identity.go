package porttest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// t0 has nanoseconds on purpose: the domain truncates to microseconds,
// which every store must keep exactly.
var t0 = time.Date(2026, 11, 25, 10, 30, 0, 123456789, time.UTC)

func users(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("AddAndGet", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := mustUser(t, "Alice@Example.com", true)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Users().Add(ctx, u) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Users().Get(ctx, u.ID())
			if err != nil {
				return fmt.Errorf("get: %w", err)
			}
			if userView(got) != userView(u) {
				t.Errorf("Get = %s, want %s", userView(got), userView(u))
			}
			got, err = st.Users().GetByEmail(ctx, "alice@example.com")
			if err != nil {
				return fmt.Errorf("get by e-mail: %w", err)
			}
			if got.ID() != u.ID() {
				t.Errorf("GetByEmail = %s, want %s", got.ID(), u.ID())
			}
			_, err = st.Users().GetByEmail(ctx, "bob@example.com")
			wantErr(t, "GetByEmail(unknown)", err, domain.ErrNotFound)
			_, err = st.Users().Get(ctx, domain.UserID(domain.NewID(domain.PrefixUser, t0)))
			wantErr(t, "Get(unknown)", err, domain.ErrNotFound)
			return nil
		})
	})
	t.Run("DuplicateEmailIsConflict", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		addUser(t, uow, "alice@example.com")
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Users().Add(ctx, mustUser(t, "ALICE@example.COM", false))
		})
		wantErr(t, "Add(same e-mail, other case)", err, domain.ErrEmailTaken)
	})
	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		u.SetStatus(domain.UserDisabled)
		u.SetPasswordHash("$argon2id$new")
		u.SetCanCreateWorkspaces(true)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Users().Update(ctx, u) })
		got := getUser(t, uow, u.ID())
		if userView(got) != userView(u) {
			t.Fatalf("after Update: %s, want %s", userView(got), userView(u))
		}
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Users().Update(ctx, mustUser(t, "nobody@example.com", false))
		})
		wantErr(t, "Update(unknown)", err, domain.ErrNotFound)
	})
	t.Run("ListPaginates", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		var want []string
		for i := range 5 {
			want = append(want, string(addUser(t, uow, fmt.Sprintf("u%d@example.com", i)).ID()))
		}
		slices.Sort(want)
		checkPages(t, "Users.List", want, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				us, n, err := st.Users().List(ctx, p)
				for _, u := range us {
					ids = append(ids, string(u.ID()))
				}
				next = n
				return err
			})
			return ids, next
		})
	})
	t.Run("ListRejectsForeignCursor", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Users().List(ctx, ports.Page{After: "x' OR 1=1 --"})
			return err
		})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("List(bad cursor) err = %v, want invalid", err)
		}
	})
	t.Run("Any", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		anyUser := func() (ok bool) {
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				ok, err = st.Users().Any(ctx)
				return err
			})
			return ok
		}
		if anyUser() {
			t.Fatal("Any on an empty database = true")
		}
		addUser(t, uow, "alice@example.com")
		if !anyUser() {
			t.Fatal("Any after Add = false")
		}
	})
}

func workspaces(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("AddAndGet", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		w := addWorkspace(t, uow, "acme")
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Workspaces().Get(ctx, w.ID())
			if err != nil {
				return fmt.Errorf("get: %w", err)
			}
			if workspaceView(got) != workspaceView(w) {
				t.Errorf("Get = %s, want %s", workspaceView(got), workspaceView(w))
			}
			got, err = st.Workspaces().GetBySlug(ctx, "acme")
			if err != nil {
				return fmt.Errorf("get by slug: %w", err)
			}
			if got.ID() != w.ID() {
				t.Errorf("GetBySlug = %s, want %s", got.ID(), w.ID())
			}
			_, err = st.Workspaces().GetBySlug(ctx, "other")
			wantErr(t, "GetBySlug(unknown)", err, domain.ErrNotFound)
			_, err = st.Workspaces().Get(ctx, domain.WorkspaceID(domain.NewID(domain.PrefixWorkspace, t0)))
			wantErr(t, "Get(unknown)", err, domain.ErrNotFound)
			return nil
		})
	})
	// A workspace's sender (and rate limits) are stored as given, listed
	// with the workspace, and cleared back to the instance's by "" (and 0).
	t.Run("MailFrom", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		w := mustWorkspace(t, "acme")
		if err := w.Update(domain.WorkspaceChange{
			MailFrom: new(`"Acme, Inc." <hello@acme.test>`), PublicOrigins: &[]string{"https://acme.test", "http://localhost:3000"},
			APIKeyRateLimit: new(1200), SessionRateLimit: new(90),
		}); err != nil {
			t.Fatal(err)
		}
		// A pending sender keeps the hash of its code and when it was sent.
		code, hash := domain.NewSenderCode()
		if err := w.AwaitSenderCode(hash, nil, t0.Add(time.Minute+123456789)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			if err := st.Workspaces().Add(ctx, w); err != nil {
				return err
			}
			return st.Memberships().Add(ctx, domain.Membership{Workspace: w.ID(), User: u.ID(), Role: domain.RoleOwner, CreatedAt: t0})
		})
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Workspaces().Get(ctx, w.ID())
			if err != nil {
				return fmt.Errorf("get: %w", err)
			}
			if workspaceView(got) != workspaceView(w) {
				t.Errorf("Get = %s, want %s", workspaceView(got), workspaceView(w))
			}
			mine, _, err := st.Workspaces().ListForUser(ctx, u.ID(), ports.Page{Limit: 10})
			if err != nil {
				return fmt.Errorf("list: %w", err)
			}
			if len(mine) != 1 || workspaceView(mine[0]) != workspaceView(w) {
				t.Errorf("ListForUser = %v, want [%s]", idsOf(mine, workspaceView), workspaceView(w))
			}
			return nil
		})
		if err := w.ConfirmSender(domain.HashSecret(code), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Update(ctx, w) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Workspaces().Get(ctx, w.ID())
			if err != nil {
				return fmt.Errorf("get after confirming: %w", err)
			}
			if workspaceView(got) != workspaceView(w) || got.SenderStatus() != domain.SenderVerified {
				t.Errorf("after confirming: %s, want %s", workspaceView(got), workspaceView(w))
			}
			return nil
		})
		if err := w.Update(domain.WorkspaceChange{MailFrom: new(""), PublicOrigins: &[]string{}, APIKeyRateLimit: new(0), SessionRateLimit: new(0)}); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Update(ctx, w) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Workspaces().Get(ctx, w.ID())
			if err != nil {
				return fmt.Errorf("get after clearing: %w", err)
			}
			if got.MailFrom() != "" || len(got.PublicOrigins()) != 0 || got.RateLimits() != (domain.RateLimits{}) {
				t.Errorf("after clearing: MailFrom %q, PublicOrigins %q, RateLimits %+v; want all empty", got.MailFrom(), got.PublicOrigins(), got.RateLimits())
			}
			return nil
		})
	})
	t.Run("SlugConflicts", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		addWorkspace(t, uow, "acme")
		other := addWorkspace(t, uow, "other")
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Workspaces().Add(ctx, mustWorkspace(t, "acme"))
		})
		wantErr(t, "Add(same slug)", err, domain.ErrSlugTaken)

		taken := other
		if err := taken.Update(domain.WorkspaceChange{Slug: new("acme")}); err != nil {
			t.Fatal(err)
		}
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Workspaces().Update(ctx, taken)
		})
		wantErr(t, "Update(to a taken slug)", err, domain.ErrSlugTaken)

		renamed := other
		if err := renamed.Update(domain.WorkspaceChange{Name: new("Renamed"), Slug: new("renamed"), MailFrom: new("Renamed <hello@renamed.test>")}); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Update(ctx, renamed) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Workspaces().GetBySlug(ctx, "renamed")
			if err != nil {
				return fmt.Errorf("get by the new slug: %w", err)
			}
			if workspaceView(got) != workspaceView(renamed) {
				t.Errorf("after Update: %s, want %s", workspaceView(got), workspaceView(renamed))
			}
			_, err = st.Workspaces().GetBySlug(ctx, "other")
			wantErr(t, "GetBySlug(old slug)", err, domain.ErrNotFound)
			return nil
		})
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Workspaces().Update(ctx, mustWorkspace(t, "ghost"))
		})
		wantErr(t, "Update(unknown)", err, domain.ErrNotFound)
	})
	t.Run("DeleteCascades", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		w, kept := addWorkspace(t, uow, "doomed"), addWorkspace(t, uow, "kept")
		k, keptKey := mustKey(t, w.ID(), u.ID(), nil), mustKey(t, kept.ID(), u.ID(), nil)
		e := domain.NewAuditEvent(domain.AuditEvent{Workspace: w.ID(), ActorKind: "user", ActorID: string(u.ID()), Action: "workspace.deleted"}, t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return errors.Join(
				st.Memberships().Add(ctx, domain.Membership{Workspace: w.ID(), User: u.ID(), Role: domain.RoleOwner, CreatedAt: t0}),
				st.Memberships().Add(ctx, domain.Membership{Workspace: kept.ID(), User: u.ID(), Role: domain.RoleOwner, CreatedAt: t0}),
				st.APIKeys().Add(ctx, k),
				st.APIKeys().Add(ctx, keptKey),
				st.Audit().Add(ctx, e),
			)
		})
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Delete(ctx, w.ID()) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Workspaces().Get(ctx, w.ID())
			wantErr(t, "Get(deleted)", err, domain.ErrNotFound)
			_, err = st.Memberships().Get(ctx, w.ID(), u.ID())
			wantErr(t, "Memberships.Get(deleted workspace)", err, domain.ErrNotFound)
			_, err = st.APIKeys().GetByPrefix(ctx, k.Prefix())
			wantErr(t, "APIKeys.GetByPrefix(deleted workspace)", err, domain.ErrNotFound)
			if _, err := st.Memberships().Get(ctx, kept.ID(), u.ID()); err != nil {
				t.Errorf("another workspace's membership: %v", err)
			}
			if _, err := st.APIKeys().Get(ctx, kept.ID(), keptKey.ID()); err != nil {
				t.Errorf("another workspace's key: %v", err)
			}
			es, _, err := st.Audit().List(ctx, w.ID(), ports.Page{})
			if err != nil || len(es) != 1 {
				t.Errorf("audit of the deleted workspace = %d events, %v; want it kept", len(es), err)
			}
			return nil
		})
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Workspaces().Delete(ctx, w.ID())
		})
		wantErr(t, "Delete(deleted)", err, domain.ErrNotFound)
	})
	t.Run("ListForUser", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		alice, bob := addUser(t, uow, "alice@example.com"), addUser(t, uow, "bob@example.com")
		var want []string
		for i := range 5 {
			w := addWorkspace(t, uow, fmt.Sprintf("ws%d", i))
			who := bob
			if i != 2 {
				who, want = alice, append(want, string(w.ID()))
			}
			addMember(t, uow, w.ID(), who.ID(), domain.RoleViewer)
		}
		slices.Sort(want)
		checkPages(t, "Workspaces.ListForUser", want, 3, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				ws, n, err := st.Workspaces().ListForUser(ctx, alice.ID(), p)
				for _, w := range ws {
					ids = append(ids, string(w.ID()))
				}
				next = n
				return err
			})
			return ids, next
		})
	})
}

func memberships(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("Lifecycle", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u, w := addUser(t, uow, "alice@example.com"), addWorkspace(t, uow, "acme")
		m := addMember(t, uow, w.ID(), u.ID(), domain.RoleEditor)
		if got := getMember(t, uow, w.ID(), u.ID()); memberView(got) != memberView(m) {
			t.Fatalf("Get = %s, want %s", memberView(got), memberView(m))
		}
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Memberships().Add(ctx, domain.Membership{Workspace: w.ID(), User: u.ID(), Role: domain.RoleViewer, CreatedAt: t0})
		})
		wantErr(t, "Add twice", err, domain.ErrAlreadyMember)

		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return st.Memberships().SetRole(ctx, w.ID(), u.ID(), domain.RoleAdmin)
		})
		if got := getMember(t, uow, w.ID(), u.ID()); got.Role != domain.RoleAdmin {
			t.Fatalf("role after SetRole = %s, want admin", got.Role)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Memberships().Remove(ctx, w.ID(), u.ID()) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Memberships().Get(ctx, w.ID(), u.ID())
			wantErr(t, "Get(removed)", err, domain.ErrNotFound)
			wantErr(t, "Remove(removed)", st.Memberships().Remove(ctx, w.ID(), u.ID()), domain.ErrNotFound)
			wantErr(t, "SetRole(removed)", st.Memberships().SetRole(ctx, w.ID(), u.ID(), domain.RoleOwner), domain.ErrNotFound)
			return nil
		})
	})
	t.Run("AddForUnknownUserOrWorkspaceFails", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u, w := addUser(t, uow, "alice@example.com"), addWorkspace(t, uow, "acme")
		for name, m := range map[string]domain.Membership{
			"user":      {Workspace: w.ID(), User: domain.UserID(domain.NewID(domain.PrefixUser, t0)), Role: domain.RoleViewer, CreatedAt: t0},
			"workspace": {Workspace: domain.WorkspaceID(domain.NewID(domain.PrefixWorkspace, t0)), User: u.ID(), Role: domain.RoleViewer, CreatedAt: t0},
		} {
			err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Memberships().Add(ctx, m) })
			if err == nil || errors.Is(err, domain.ErrAlreadyMember) {
				t.Errorf("Add(unknown %s) err = %v, want an internal error", name, err)
			}
		}
	})
	t.Run("ListAndListForUser", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		w, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var want []string
		for i := range 5 {
			u := addUser(t, uow, fmt.Sprintf("u%d@example.com", i))
			addMember(t, uow, w.ID(), u.ID(), domain.RoleViewer)
			want = append(want, string(u.ID()))
		}
		outsider := addUser(t, uow, "outsider@example.com")
		addMember(t, uow, other.ID(), outsider.ID(), domain.RoleOwner)
		both := domain.UserID(want[0])
		addMember(t, uow, other.ID(), both, domain.RoleAdmin)
		slices.Sort(want)
		checkPages(t, "Memberships.List", want, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				ms, n, err := st.Memberships().List(ctx, w.ID(), p)
				for _, m := range ms {
					if m.Workspace != w.ID() {
						t.Errorf("List(%s) returned a membership of %s", w.ID(), m.Workspace)
					}
					ids = append(ids, string(m.User))
				}
				next = n
				return err
			})
			return ids, next
		})
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			ms, err := st.Memberships().ListForUser(ctx, both)
			if err != nil {
				return err
			}
			var got []string
			for _, m := range ms {
				got = append(got, string(m.Workspace)+"="+m.Role.String())
			}
			slices.Sort(got)
			exp := []string{string(w.ID()) + "=viewer", string(other.ID()) + "=admin"}
			slices.Sort(exp)
			if !slices.Equal(got, exp) {
				t.Errorf("ListForUser = %v, want %v", got, exp)
			}
			return nil
		})
	})
	t.Run("CountOwners", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		w, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		if n := countOwners(t, uow, w.ID()); n != 0 {
			t.Fatalf("CountOwners(empty) = %d, want 0", n)
		}
		for i, r := range []domain.Role{domain.RoleOwner, domain.RoleOwner, domain.RoleAdmin} {
			addMember(t, uow, w.ID(), addUser(t, uow, fmt.Sprintf("u%d@example.com", i)).ID(), r)
		}
		addMember(t, uow, other.ID(), addUser(t, uow, "x@example.com").ID(), domain.RoleOwner)
		if n := countOwners(t, uow, w.ID()); n != 2 {
			t.Fatalf("CountOwners = %d, want 2", n)
		}
	})
	// Two owners demote each other at once, each after checking that
	// another owner remains: the count's lock must let only one through.
	t.Run("ConcurrentDemotionsKeepAnOwner", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		w := addWorkspace(t, uow, "acme")
		owners := []domain.UserID{addUser(t, uow, "a@example.com").ID(), addUser(t, uow, "b@example.com").ID()}
		for _, o := range owners {
			addMember(t, uow, w.ID(), o, domain.RoleOwner)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(owners))
		for i, o := range owners {
			wg.Go(func() {
				errs[i] = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
					n, err := st.Memberships().CountOwners(ctx, w.ID())
					if err != nil {
						return err
					}
					if n < 2 {
						return domain.ErrLastOwner
					}
					// Give the other demotion time to count too: without
					// the lock, it would see two owners as well.
					time.Sleep(100 * time.Millisecond)
					return st.Memberships().SetRole(ctx, w.ID(), o, domain.RoleAdmin)
				})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, domain.ErrLastOwner):
				t.Errorf("demotion: %v", err)
			}
		}
		if n := countOwners(t, uow, w.ID()); ok != 1 || n != 1 {
			t.Fatalf("%d demotions succeeded leaving %d owners, want 1 and 1", ok, n)
		}
	})
}

func sessions(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("AddGetExpireRevoke", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		_, hash := domain.NewSessionToken()
		s := domain.NewSession(u.ID(), hash, t0, 24*time.Hour)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Sessions().Add(ctx, s) })
		if got := getSession(t, uow, hash); sessionView(got) != sessionView(s) {
			t.Fatalf("GetByTokenHash = %s, want %s", sessionView(got), sessionView(s))
		}
		_, wrong := domain.NewSessionToken()
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, err := st.Sessions().GetByTokenHash(ctx, wrong)
			return err
		})
		wantErr(t, "GetByTokenHash(wrong hash)", err, domain.ErrNotFound)

		later := domain.Timestamp(t0.Add(48*time.Hour + 987654321))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Sessions().SetExpiry(ctx, s.ID(), later) })
		if got := getSession(t, uow, hash); !got.ExpiresAt().Equal(later) || got.ExpiresAt().Location() != time.UTC || got.Revoked() {
			t.Fatalf("after SetExpiry: %s, want expiry %v", sessionView(got), later)
		}
		for range 2 { // revoking twice is fine
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Sessions().Revoke(ctx, s.ID()) })
		}
		if got := getSession(t, uow, hash); !got.Revoked() || got.Valid(t0) {
			t.Fatalf("after Revoke: %s, want revoked", sessionView(got))
		}
		unknown := domain.SessionID(domain.NewID(domain.PrefixSession, t0))
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			wantErr(t, "SetExpiry(unknown)", st.Sessions().SetExpiry(ctx, unknown, later), domain.ErrNotFound)
			wantErr(t, "Revoke(unknown)", st.Sessions().Revoke(ctx, unknown), domain.ErrNotFound)
			return nil
		})
	})
	t.Run("RevokeUser", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		alice, bob := addUser(t, uow, "alice@example.com"), addUser(t, uow, "bob@example.com")
		var hashes [][]byte
		for _, u := range []domain.User{alice, alice, bob} {
			_, h := domain.NewSessionToken()
			hashes = append(hashes, h)
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				return st.Sessions().Add(ctx, domain.NewSession(u.ID(), h, t0, time.Hour))
			})
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Sessions().RevokeUser(ctx, alice.ID()) })
		for i, want := range []bool{true, true, false} {
			if got := getSession(t, uow, hashes[i]); got.Revoked() != want {
				t.Errorf("session %d revoked = %v, want %v", i, got.Revoked(), want)
			}
		}
	})
}

func apiKeys(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		w, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		exp := t0.Add(30*24*time.Hour + 555)
		for _, k := range []domain.APIKey{mustKey(t, w.ID(), u.ID(), &exp), mustKey(t, w.ID(), u.ID(), nil)} {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Add(ctx, k) })
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				got, err := st.APIKeys().GetByPrefix(ctx, k.Prefix())
				if err != nil {
					return fmt.Errorf("get by prefix: %w", err)
				}
				if keyView(got) != keyView(k) {
					t.Errorf("GetByPrefix =\n %s, want\n %s", keyView(got), keyView(k))
				}
				got, err = st.APIKeys().Get(ctx, w.ID(), k.ID())
				if err != nil {
					return fmt.Errorf("get: %w", err)
				}
				if keyView(got) != keyView(k) {
					t.Errorf("Get =\n %s, want\n %s", keyView(got), keyView(k))
				}
				_, err = st.APIKeys().Get(ctx, other.ID(), k.ID())
				wantErr(t, "Get(another workspace)", err, domain.ErrNotFound)
				return nil
			})
		}
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, err := st.APIKeys().GetByPrefix(ctx, "00000000")
			return err
		})
		wantErr(t, "GetByPrefix(unknown)", err, domain.ErrNotFound)
	})
	t.Run("RevokeAndTouch", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u, w := addUser(t, uow, "alice@example.com"), addWorkspace(t, uow, "acme")
		k := mustKey(t, w.ID(), u.ID(), nil)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Add(ctx, k) })
		used := domain.Timestamp(t0.Add(time.Minute + 42))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Touch(ctx, k.ID(), used) })
		k.Revoke(t0.Add(time.Hour + 7))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Revoke(ctx, k) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.APIKeys().Get(ctx, w.ID(), k.ID())
			if err != nil {
				return err
			}
			if got.LastUsedAt() == nil || !got.LastUsedAt().Equal(used) {
				t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt(), used)
			}
			if got.RevokedAt() == nil || !got.RevokedAt().Equal(*k.RevokedAt()) || got.Usable(t0) {
				t.Errorf("RevokedAt = %v, want %v", got.RevokedAt(), k.RevokedAt())
			}
			wantErr(t, "Touch(unknown)", st.APIKeys().Touch(ctx, domain.APIKeyID(domain.NewID(domain.PrefixAPIKey, t0)), used), domain.ErrNotFound)
			return nil
		})
	})
	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u, w, other := addUser(t, uow, "alice@example.com"), addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		k, kept := mustKey(t, w.ID(), u.ID(), nil), mustKey(t, w.ID(), u.ID(), nil)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return errors.Join(st.APIKeys().Add(ctx, k), st.APIKeys().Add(ctx, kept))
		})
		name := "Nightly export"
		if err := k.Update(&name, []string{"content:read", "forms:read"}); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Update(ctx, k) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, want := range []domain.APIKey{k, kept} {
				got, err := st.APIKeys().Get(ctx, w.ID(), want.ID())
				if err != nil {
					return err
				}
				if keyView(got) != keyView(want) {
					t.Errorf("after Update, stored key =\n %s, want\n %s", keyView(got), keyView(want))
				}
			}
			moved := domain.RehydrateAPIKey(k.ID(), other.ID(), k.Name(), k.Scopes(), k.Prefix(), k.SecretHash(), nil, u.ID(), k.CreatedAt(), nil, nil, nil, nil)
			wantErr(t, "Update(another workspace)", st.APIKeys().Update(ctx, moved), domain.ErrNotFound)
			return nil
		})
	})
	t.Run("RotateKeepsThePreviousSecret", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u, w := addUser(t, uow, "alice@example.com"), addWorkspace(t, uow, "acme")
		k := mustKey(t, w.ID(), u.ID(), nil)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Add(ctx, k) })
		old := k.SecretHash()
		for _, grace := range []time.Duration{time.Hour + 3*time.Microsecond, 0} {
			if _, err := k.Rotate(grace, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Update(ctx, k) })
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				got, err := st.APIKeys().GetByPrefix(ctx, k.Prefix())
				if err != nil {
					return err
				}
				if keyView(got) != keyView(k) {
					t.Errorf("after a rotation with grace %s, stored key =\n %s, want\n %s", grace, keyView(got), keyView(k))
				}
				return nil
			})
			if grace > 0 && (!bytes.Equal(k.PreviousSecretHash(), old) || k.PreviousUntil() == nil) {
				t.Fatalf("rotation kept previous %x until %v, want %x", k.PreviousSecretHash(), k.PreviousUntil(), old)
			}
		}
	})
	t.Run("RevokeCreatedBy", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u, v := addUser(t, uow, "alice@example.com"), addUser(t, uow, "bob@example.com")
		w, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		earlier := mustKey(t, w.ID(), u.ID(), nil)
		earlier.Revoke(t0.Add(time.Minute))
		mine := []domain.APIKey{mustKey(t, w.ID(), u.ID(), nil), mustKey(t, w.ID(), u.ID(), nil)}
		kept := []domain.APIKey{earlier, mustKey(t, w.ID(), v.ID(), nil), mustKey(t, other.ID(), u.ID(), nil)}
		for _, k := range append(slices.Clone(mine), kept...) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.APIKeys().Add(ctx, k) })
		}
		at := t0.Add(time.Hour + 7)
		var got []domain.APIKey
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			got, err = st.APIKeys().RevokeCreatedBy(ctx, w.ID(), u.ID(), at)
			return err
		})
		slices.SortFunc(mine, func(a, b domain.APIKey) int { return strings.Compare(string(a.ID()), string(b.ID())) })
		for i := range mine {
			mine[i].Revoke(at)
		}
		if g, want := idsOf(got, keyView), idsOf(mine, keyView); !slices.Equal(g, want) {
			t.Errorf("RevokeCreatedBy returned\n %v, want\n %v", g, want)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, k := range append(slices.Clone(mine), kept...) {
				stored, err := st.APIKeys().Get(ctx, k.Workspace(), k.ID())
				if err != nil {
					return err
				}
				if keyView(stored) != keyView(k) {
					t.Errorf("stored key =\n %s, want\n %s", keyView(stored), keyView(k))
				}
			}
			again, err := st.APIKeys().RevokeCreatedBy(ctx, w.ID(), u.ID(), at.Add(time.Hour))
			if err != nil || len(again) != 0 {
				t.Errorf("second RevokeCreatedBy = %v, %v; want no keys", again, err)
			}
			return err
		})
	})
	t.Run("ListPaginatesPerWorkspace", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		w, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var want []string
		for i := range 5 {
			k := mustKey(t, w.ID(), u.ID(), nil)
			if i == 3 {
				k.Revoke(t0) // listed too
			}
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				return errors.Join(st.APIKeys().Add(ctx, k), st.APIKeys().Add(ctx, mustKey(t, other.ID(), u.ID(), nil)))
			})
			want = append(want, string(k.ID()))
		}
		slices.Sort(want)
		checkPages(t, "APIKeys.List", want, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				ks, n, err := st.APIKeys().List(ctx, w.ID(), p)
				for _, k := range ks {
					ids = append(ids, string(k.ID()))
				}
				next = n
				return err
			})
			return ids, next
		})
	})
}

func audit(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("ListNewestFirstPerWorkspace", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		w, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var want []domain.AuditEvent
		for i := range 5 {
			e := domain.NewAuditEvent(domain.AuditEvent{
				Workspace: w.ID(), ActorKind: "user", ActorID: "usr_x", Action: "form.created",
				TargetKind: "form", TargetID: fmt.Sprintf("frm_%d", i), IP: "192.0.2.1", UserAgent: "curl/8",
				Details: map[string]string{"n": fmt.Sprint(i), "quote": `"'\u00e9`},
			}, t0.Add(time.Duration(i)*time.Millisecond))
			if i == 2 {
				e.Details = nil
			}
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				return errors.Join(
					st.Audit().Add(ctx, e),
					st.Audit().Add(ctx, domain.NewAuditEvent(domain.AuditEvent{Workspace: other.ID(), Action: "other"}, t0)),
				)
			})
			want = append(want, e)
		}
		instance := domain.NewAuditEvent(domain.AuditEvent{ActorKind: "anonymous", Action: "login.failed", Details: map[string]string{"email": "x@example.com"}}, t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Audit().Add(ctx, instance) })
		slices.Reverse(want)

		var got []domain.AuditEvent
		checkPages(t, "Audit.List", idsOf(want, func(e domain.AuditEvent) string { return string(e.ID) }), 2,
			func(p ports.Page) (ids []string, next string) {
				run(t, uow, func(ctx context.Context, st ports.Stores) error {
					es, n, err := st.Audit().List(ctx, w.ID(), p)
					for _, e := range es {
						ids = append(ids, string(e.ID))
						if p.Limit == 0 {
							got = append(got, e)
						}
					}
					next = n
					return err
				})
				return ids, next
			})
		for i := range got {
			if auditView(got[i]) != auditView(want[i]) {
				t.Errorf("event %d =\n %s, want\n %s", i, auditView(got[i]), auditView(want[i]))
			}
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			es, _, err := st.Audit().List(ctx, "", ports.Page{})
			if err != nil {
				return err
			}
			if len(es) != 1 || auditView(es[0]) != auditView(instance) {
				t.Errorf("instance-wide events = %v, want [%s]", es, auditView(instance))
			}
			return nil
		})
	})
}

func policies(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("Rules", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		alice, bob := addUser(t, uow, "alice@example.com"), addUser(t, uow, "bob@example.com")
		w := addWorkspace(t, uow, "acme")
		addMember(t, uow, w.ID(), alice.ID(), domain.RoleOwner)
		addMember(t, uow, w.ID(), bob.ID(), domain.RoleViewer)
		active, revoked := mustKey(t, w.ID(), alice.ID(), nil), mustKey(t, w.ID(), alice.ID(), nil)
		revoked.Revoke(t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return errors.Join(st.APIKeys().Add(ctx, active), st.APIKeys().Add(ctx, revoked))
		})

		var want []string
		for _, r := range domain.Roles {
			seen := map[domain.Permission]bool{}
			for _, lower := range domain.Roles {
				for _, p := range domain.RolePermissions[lower] {
					if r.AtLeast(lower) && !seen[p] {
						seen[p] = true
						want = append(want, ruleView(ports.PolicyRule{Type: "p", V0: "role:" + r.String(), V1: "*", V2: p.Object, V3: p.Action}))
					}
				}
			}
		}
		if !slices.Contains(want, "p role:owner * owners write") || slices.Contains(want, "p role:admin * owners write") {
			t.Fatalf("the expected policy is wrong: %v", want)
		}
		want = append(want,
			ruleView(ports.PolicyRule{Type: "g", V0: "user:" + string(alice.ID()), V1: "role:owner", V2: string(w.ID())}),
			ruleView(ports.PolicyRule{Type: "g", V0: "user:" + string(bob.ID()), V1: "role:viewer", V2: string(w.ID())}),
			ruleView(ports.PolicyRule{Type: "g", V0: "key:" + string(active.ID()), V1: "user:" + string(alice.ID()), V2: string(w.ID())}),
		)
		slices.Sort(want)
		var got []string
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			rules, err := st.Policies().Rules(ctx)
			for _, r := range rules {
				got = append(got, ruleView(r))
			}
			return err
		})
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("Rules =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// checkPages lists everything in pages of size and checks the IDs come in
// the order of want with a cursor after every full page but the last; then
// that a zero Limit, the default, lists everything at once.
func checkPages(t *testing.T, what string, want []string, size int, list func(p ports.Page) ([]string, string)) {
	t.Helper()
	var got []string
	after := ""
	for pages := 1; ; pages++ {
		ids, next := list(ports.Page{After: after, Limit: size})
		if len(ids) > size {
			t.Fatalf("%s page %d has %d items, want at most %d", what, pages, len(ids), size)
		}
		got = append(got, ids...)
		if next == "" {
			break
		}
		if pages > len(want) {
			t.Fatalf("%s: more pages than items", what)
		}
		after = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s in pages of %d = %v, want %v", what, size, got, want)
	}
	if all, next := list(ports.Page{}); !slices.Equal(all, want) || next != "" {
		t.Fatalf("%s with the default limit = %v, %q; want %v, no cursor", what, all, next, want)
	}
}

func idsOf[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

// run runs fn in a transaction and fails the test when it returns an error.
func run(t *testing.T, uow ports.UnitOfWork, fn func(ctx context.Context, st ports.Stores) error) {
	t.Helper()
	if err := uow.WithinTx(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func mustUser(t *testing.T, email string, admin bool) domain.User {
	t.Helper()
	u, err := domain.NewUser(domain.NewUserInput{Email: email, Name: "Test User", PasswordHash: "$argon2id$v=19$hash", InstanceAdmin: admin}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func addUser(t *testing.T, uow ports.UnitOfWork, email string) domain.User {
	t.Helper()
	u := mustUser(t, email, false)
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Users().Add(ctx, u) })
	return u
}

func getUser(t *testing.T, uow ports.UnitOfWork, id domain.UserID) (u domain.User) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		u, err = st.Users().Get(ctx, id)
		return err
	})
	return u
}

func mustWorkspace(t *testing.T, slug string) domain.Workspace {
	t.Helper()
	w, err := domain.NewWorkspace("Workspace "+slug, slug, t0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func addWorkspace(t *testing.T, uow ports.UnitOfWork, slug string) domain.Workspace {
	t.Helper()
	w := mustWorkspace(t, slug)
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Add(ctx, w) })
	return w
}

func addMember(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, u domain.UserID, r domain.Role) domain.Membership {
	t.Helper()
	m := domain.Membership{Workspace: ws, User: u, Role: r, CreatedAt: domain.Timestamp(t0)}
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Memberships().Add(ctx, m) })
	return m
}

func getMember(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, u domain.UserID) (m domain.Membership) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		m, err = st.Memberships().Get(ctx, ws, u)
		return err
	})
	return m
}

func countOwners(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID) (n int) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		n, err = st.Memberships().CountOwners(ctx, ws)
		return err
	})
	return n
}

func getSession(t *testing.T, uow ports.UnitOfWork, hash []byte) (s domain.Session) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		s, err = st.Sessions().GetByTokenHash(ctx, hash)
		return err
	})
	return s
}

func mustKey(t *testing.T, ws domain.WorkspaceID, by domain.UserID, expires *time.Time) domain.APIKey {
	t.Helper()
	k, _, err := domain.NewAPIKey(domain.NewAPIKeyInput{
		Workspace: ws, Name: "Deploy bot", Scopes: []string{"forms:read", "submissions:write", "content:read"},
		ExpiresAt: expires, CreatedBy: by,
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The views below print every field, with times in RFC 3339 so that a
// time in another location or with lost microseconds shows up.

func stamp(t time.Time) string { return t.Format(time.RFC3339Nano) }

func stampPtr(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return stamp(*t)
}

func userView(u domain.User) string {
	return fmt.Sprintf("{%s %s %q %q %s admin=%v creates=%v %s}", u.ID(), u.Email(), u.Name(), u.PasswordHash(), u.Status(), u.IsInstanceAdmin(), u.CanCreateWorkspaces(), stamp(u.CreatedAt()))
}

func workspaceView(w domain.Workspace) string {
	snd := w.StoredSender()
	return fmt.Sprintf("{%s %q %s from=%q sender=%s code=%x sent=%s origins=%q limits=%+v %s}", w.ID(), w.Name(), w.Slug(), w.MailFrom(),
		snd.Status, snd.CodeHash, stampPtr(snd.CodeSentAt), w.PublicOrigins(), w.RateLimits(), stamp(w.CreatedAt()))
}

func memberView(m domain.Membership) string {
	return fmt.Sprintf("{%s %s %s %s}", m.Workspace, m.User, m.Role, stamp(m.CreatedAt))
}

func sessionView(s domain.Session) string {
	return fmt.Sprintf("{%s %s %s %s %s revoked=%v}", s.ID(), s.User(), hex.EncodeToString(s.TokenHash()), stamp(s.CreatedAt()), stamp(s.ExpiresAt()), s.Revoked())
}

func keyView(k domain.APIKey) string {
	return fmt.Sprintf("{%s %s %q %v %s %s exp=%s by=%s %s used=%s revoked=%s previous=%s until=%s}", k.ID(), k.Workspace(), k.Name(), k.Scopes(), k.Prefix(),
		hex.EncodeToString(k.SecretHash()), stampPtr(k.ExpiresAt()), k.CreatedBy(), stamp(k.CreatedAt()), stampPtr(k.LastUsedAt()), stampPtr(k.RevokedAt()),
		hex.EncodeToString(k.PreviousSecretHash()), stampPtr(k.PreviousUntil()))
}

// auditView prints Details with sorted keys; nil and empty look the same.
func auditView(e domain.AuditEvent) string {
	return fmt.Sprintf("{%s ws=%s %s:%s %s %s:%s %s %q %v %s}", e.ID, e.Workspace, e.ActorKind, e.ActorID, e.Action, e.TargetKind, e.TargetID,
		e.IP, e.UserAgent, e.Details, stamp(e.CreatedAt))
}

func ruleView(r ports.PolicyRule) string {
	return strings.TrimSpace(strings.Join([]string{r.Type, r.V0, r.V1, r.V2, r.V3}, " "))
}
