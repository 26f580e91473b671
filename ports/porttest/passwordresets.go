package porttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func passwordResets(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		_, hash := domain.NewPasswordResetToken()
		r := domain.NewPasswordReset(u.ID(), hash, t0.Add(123456789))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.PasswordResets().Add(ctx, r) })
		get := func() (got domain.PasswordReset) {
			t.Helper()
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				got, err = st.PasswordResets().GetByTokenHash(ctx, hash)
				return err
			})
			return got
		}
		if got := get(); resetView(got) != resetView(r) || got.CreatedAt().Location() != time.UTC {
			t.Fatalf("GetByTokenHash = %s, want %s", resetView(got), resetView(r))
		}
		if err := r.Use(t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.PasswordResets().Update(ctx, r) })
		if got := get(); resetView(got) != resetView(r) || got.Usable(t0.Add(time.Minute)) {
			t.Fatalf("after Update: %s, want %s", resetView(got), resetView(r))
		}
		_, wrong := domain.NewPasswordResetToken()
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.PasswordResets().GetByTokenHash(ctx, wrong)
			wantErr(t, "GetByTokenHash(wrong hash)", err, domain.ErrNotFound)
			wantErr(t, "Update(unknown)", st.PasswordResets().Update(ctx, domain.NewPasswordReset(u.ID(), wrong, t0)), domain.ErrNotFound)
			return nil
		})
	})
	// SpendForUser spends the user's unused resets, an invitation's
	// seven-day one too, and leaves other users' resets and used ones be.
	t.Run("SpendForUser", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u, other := addUser(t, uow, "alice@example.com"), addUser(t, uow, "bob@example.com")
		_, h1 := domain.NewPasswordResetToken()
		_, h2 := domain.NewPasswordResetToken()
		_, h3 := domain.NewPasswordResetToken()
		used := domain.NewPasswordReset(u.ID(), h1, t0)
		if err := used.Use(t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		invite := domain.NewInvitationReset(u.ID(), h2, t0)
		others := domain.NewPasswordReset(other.ID(), h3, t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, r := range []domain.PasswordReset{used, invite, others} {
				if err := st.PasswordResets().Add(ctx, r); err != nil {
					return err
				}
			}
			return st.PasswordResets().SpendForUser(ctx, u.ID(), domain.Timestamp(t0.Add(time.Minute)))
		})
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for _, c := range []struct {
				hash []byte
				used time.Time
				ok   bool
			}{{h1, t0.Add(time.Second), false}, {h2, t0.Add(time.Minute), false}, {h3, time.Time{}, true}} {
				got, err := st.PasswordResets().GetByTokenHash(ctx, c.hash)
				if err != nil {
					return err
				}
				if got.Usable(t0) != c.ok || (!c.ok && stampPtr(got.UsedAt()) != stamp(domain.Timestamp(c.used))) {
					t.Errorf("after SpendForUser: %s, want usable %v", resetView(got), c.ok)
				}
			}
			return nil
		})
	})
	// Mail about an account belongs to no workspace; the outbox keeps and
	// hands it out like any other.
	t.Run("MailWithoutWorkspace", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		m := newOutboxMessage(t, "", "", "alice@example.com")
		m.Kind = domain.KindPasswordReset
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Outbox().Add(ctx, m) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Outbox().Claim(ctx, t0.Add(time.Second), time.Minute, 10)
			if err == nil && (len(got) != 1 || got[0].Workspace != "" || got[0].Kind != domain.KindPasswordReset || got[0].Message.ID() != m.Message.ID()) {
				t.Errorf("Claim = %+v, want the message without a workspace", got)
			}
			return err
		})
	})
}

func resetView(r domain.PasswordReset) string {
	return fmt.Sprintf("%s user=%s hash=%x created=%s expires=%s used=%s", r.ID(), r.User(), r.TokenHash(), stamp(r.CreatedAt()), stamp(r.ExpiresAt()), stampPtr(r.UsedAt()))
}
