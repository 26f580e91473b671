package porttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func invitations(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		w := addWorkspace(t, uow, "acme")
		by := addUser(t, uow, "owner@example.com")
		_, hash := domain.NewInvitationToken()
		inv := domain.NewInvitation(w.ID(), "new@example.com", domain.RoleEditor, by.ID(), hash, t0.Add(123456789))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Invitations().Add(ctx, inv) })
		got := getInvitation(t, uow, hash)
		if invitationView(got) != invitationView(inv) || got.CreatedAt().Location() != time.UTC {
			t.Fatalf("GetByTokenHash = %s, want %s", invitationView(got), invitationView(inv))
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			g, err := st.Invitations().Get(ctx, w.ID(), inv.ID())
			if err == nil && invitationView(g) != invitationView(inv) {
				t.Errorf("Get = %s, want %s", invitationView(g), invitationView(inv))
			}
			return err
		})
		other := addWorkspace(t, uow, "other")
		_, wrong := domain.NewInvitationToken()
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Invitations().Get(ctx, other.ID(), inv.ID())
			wantErr(t, "Get(other workspace)", err, domain.ErrNotFound)
			_, err = st.Invitations().GetByTokenHash(ctx, wrong)
			wantErr(t, "GetByTokenHash(wrong hash)", err, domain.ErrNotFound)
			return nil
		})

		if err := inv.Accept(t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Invitations().Update(ctx, inv) })
		if got := getInvitation(t, uow, hash); invitationView(got) != invitationView(inv) || got.AcceptedAt() == nil {
			t.Fatalf("after Update: %s, want %s", invitationView(got), invitationView(inv))
		}
		ghost := domain.NewInvitation(w.ID(), "ghost@example.com", domain.RoleViewer, by.ID(), wrong, t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			wantErr(t, "Update(unknown)", st.Invitations().Update(ctx, ghost), domain.ErrNotFound)
			return nil
		})
	})
	t.Run("ListPending", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		w, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		by := addUser(t, uow, "owner@example.com")
		var want []string
		for i := range 7 {
			_, hash := domain.NewInvitationToken()
			ws := w.ID()
			if i == 6 {
				ws = other.ID()
			}
			inv := domain.NewInvitation(ws, domain.Email(fmt.Sprintf("u%d@example.com", i)), domain.RoleViewer, by.ID(), hash, t0.Add(time.Duration(i)*time.Second))
			switch i {
			case 1:
				_ = inv.Accept(t0.Add(time.Minute))
			case 2:
				_ = inv.Revoke(t0.Add(time.Minute))
			}
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Invitations().Add(ctx, inv) })
			if i != 1 && i != 2 && i != 6 {
				want = append(want, inv.ID().String())
			}
		}
		list := func(now time.Time) func(p ports.Page) ([]string, string) {
			return func(p ports.Page) (ids []string, next string) {
				run(t, uow, func(ctx context.Context, st ports.Stores) error {
					invs, n, err := st.Invitations().ListPending(ctx, w.ID(), now, p)
					ids, next = idsOf(invs, func(i domain.Invitation) string { return i.ID().String() }), n
					return err
				})
				return ids, next
			}
		}
		checkPages(t, "pending invitations", want, 2, list(t0.Add(time.Hour)))
		// The first invitation expires a second before the others.
		checkPages(t, "pending invitations after the first expired", want[1:], 2, list(t0.Add(domain.InvitationTTL)))
	})
	t.Run("PendingFor", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		w, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		by := addUser(t, uow, "owner@example.com")
		var want []string
		for i := range 6 {
			_, hash := domain.NewInvitationToken()
			ws, email := w.ID(), domain.Email("new@example.com")
			switch i {
			case 4:
				ws = other.ID()
			case 5:
				email = "else@example.com"
			}
			inv := domain.NewInvitation(ws, email, domain.RoleViewer, by.ID(), hash, t0.Add(time.Duration(i)*time.Second))
			switch i {
			case 1:
				_ = inv.Accept(t0.Add(time.Minute))
			case 2:
				_ = inv.Revoke(t0.Add(time.Minute))
			}
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Invitations().Add(ctx, inv) })
			if i == 0 || i == 3 {
				want = append(want, inv.ID().String())
			}
		}
		pending := func(now time.Time) (ids []string) {
			// A write transaction, where the store also locks the workspace.
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				invs, err := st.Invitations().PendingFor(ctx, w.ID(), "new@example.com", now)
				ids = idsOf(invs, func(i domain.Invitation) string { return i.ID().String() })
				return err
			})
			return ids
		}
		if got := fmt.Sprint(pending(t0.Add(time.Hour))); got != fmt.Sprint(want) {
			t.Errorf("PendingFor = %s, want %s", got, want)
		}
		// The first expires a few seconds before the other.
		if got := fmt.Sprint(pending(t0.Add(domain.InvitationTTL + time.Second))); got != fmt.Sprint(want[1:]) {
			t.Errorf("PendingFor after the first expired = %s, want %s", got, want[1:])
		}
	})
}

func getInvitation(t *testing.T, uow ports.UnitOfWork, hash []byte) (inv domain.Invitation) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		inv, err = st.Invitations().GetByTokenHash(ctx, hash)
		return err
	})
	return inv
}

func invitationView(i domain.Invitation) string {
	return fmt.Sprintf("%s ws=%s email=%s role=%s hash=%x by=%s created=%s expires=%s accepted=%s revoked=%s",
		i.ID(), i.Workspace(), i.Email(), i.Role(), i.TokenHash(), i.InvitedBy(), stamp(i.CreatedAt()), stamp(i.ExpiresAt()), stampPtr(i.AcceptedAt()), stampPtr(i.RevokedAt()))
}
