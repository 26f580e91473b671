package porttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func emailChanges(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	get := func(t *testing.T, uow ports.UnitOfWork, hash []byte) (got domain.EmailChange) {
		t.Helper()
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			got, err = st.EmailChanges().GetByTokenHash(ctx, hash)
			return err
		})
		return got
	}
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		_, hash := domain.NewEmailChangeToken()
		c := domain.NewEmailChange(u.ID(), domain.Email("alice@example.org"), hash, t0.Add(123456789))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.EmailChanges().Add(ctx, c) })
		if got := get(t, uow, hash); changeView(got) != changeView(c) || got.CreatedAt().Location() != time.UTC {
			t.Fatalf("GetByTokenHash = %s, want %s", changeView(got), changeView(c))
		}
		if err := c.Use(t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.EmailChanges().Update(ctx, c) })
		if got := get(t, uow, hash); changeView(got) != changeView(c) || got.Usable(t0.Add(time.Minute)) {
			t.Fatalf("after Update: %s, want %s", changeView(got), changeView(c))
		}
		_, wrong := domain.NewEmailChangeToken()
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.EmailChanges().GetByTokenHash(ctx, wrong)
			wantErr(t, "GetByTokenHash(wrong hash)", err, domain.ErrNotFound)
			wantErr(t, "Update(unknown)", st.EmailChanges().Update(ctx, domain.NewEmailChange(u.ID(), "x@example.org", wrong, t0)), domain.ErrNotFound)
			return nil
		})
	})
	t.Run("EndPendingEndsOnlyTheUsersUnusedChanges", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		alice, bob := addUser(t, uow, "alice@example.com"), addUser(t, uow, "bob@example.com")
		var hashes [][]byte
		for _, u := range []domain.User{alice, alice, bob} {
			_, h := domain.NewEmailChangeToken()
			hashes = append(hashes, h)
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				return st.EmailChanges().Add(ctx, domain.NewEmailChange(u.ID(), "new@example.org", h, t0))
			})
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return st.EmailChanges().EndPending(ctx, alice.ID(), t0.Add(time.Minute))
		})
		for i, want := range []bool{false, false, true} {
			if got := get(t, uow, hashes[i]).Usable(t0.Add(time.Minute)); got != want {
				t.Errorf("change %d usable = %v, want %v", i, got, want)
			}
		}
	})
	t.Run("UserUpdateMovesTheAddressUnlessTaken", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		alice := addUser(t, uow, "alice@example.com")
		addUser(t, uow, "bob@example.com")
		alice.SetEmail("bob@example.com")
		// A failed statement ends a PostgreSQL transaction: the error is
		// what WithinTx returns.
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Users().Update(ctx, alice) })
		wantErr(t, "Update to a taken address", err, domain.ErrEmailTaken)
		alice.SetEmail("alice@example.org")
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Users().Update(ctx, alice) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Users().GetByEmail(ctx, "alice@example.org")
			if err == nil && got.ID() != alice.ID() {
				t.Errorf("GetByEmail(new) = %s, want %s", got.ID(), alice.ID())
			}
			return err
		})
	})
	t.Run("RevokeUserExceptKeepsOneSession", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		alice, bob := addUser(t, uow, "alice@example.com"), addUser(t, uow, "bob@example.com")
		var sessions []domain.Session
		var hashes [][]byte
		for _, u := range []domain.User{alice, alice, bob} {
			_, h := domain.NewSessionToken()
			s := domain.NewSession(u.ID(), h, t0, time.Hour)
			sessions, hashes = append(sessions, s), append(hashes, h)
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Sessions().Add(ctx, s) })
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return st.Sessions().RevokeUserExcept(ctx, alice.ID(), sessions[1].ID())
		})
		for i, want := range []bool{true, false, false} {
			if got := getSession(t, uow, hashes[i]); got.Revoked() != want {
				t.Errorf("session %d revoked = %v, want %v", i, got.Revoked(), want)
			}
		}
	})
}

func changeView(c domain.EmailChange) string {
	return fmt.Sprintf("%s user=%s email=%s hash=%x created=%s expires=%s used=%s", c.ID(), c.User(), c.Email(), c.TokenHash(), stamp(c.CreatedAt()), stamp(c.ExpiresAt()), stampPtr(c.UsedAt()))
}
