package porttest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func twoFactor(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("EnrolmentRoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		get := func() (got domain.TwoFactor, err error) {
			t.Helper()
			err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
				got, err = st.TwoFactor().Get(ctx, u.ID())
				return err
			})
			return got, err
		}
		if _, err := get(); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("Get before Put: err = %v, want ErrNotFound", err)
		}
		tf := domain.NewTwoFactor(u.ID(), []byte("sealed\x00secret"), t0.Add(123456789))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.TwoFactor().Put(ctx, tf) })
		got, err := get()
		if err != nil || got.Enabled() || !bytes.Equal(got.SealedSecret(), tf.SealedSecret()) || !got.CreatedAt().Equal(tf.CreatedAt()) || got.RecoveryCodesLeft() != 0 {
			t.Fatalf("pending: Get = %+v, %v", got, err)
		}
		_, hashes := domain.NewRecoveryCodes()
		if err := tf.Confirm(1<<40, hashes, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.TwoFactor().Put(ctx, tf) })
		got, err = get()
		if err != nil || !got.Enabled() || !got.EnabledAt().Equal(*tf.EnabledAt()) || got.EnabledAt().Location() != time.UTC || got.LastStep() != 1<<40 || got.RecoveryCodesLeft() != domain.RecoveryCodeCount {
			t.Fatalf("enabled: Get = %+v, %v", got, err)
		}
		for i, h := range got.RecoveryHashes() {
			if !bytes.Equal(h, hashes[i]) {
				t.Fatalf("recovery hash %d differs", i)
			}
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.TwoFactor().Delete(ctx, u.ID()) })
		if _, err := get(); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.TwoFactor().Delete(ctx, u.ID()) })
	})
	t.Run("LoginChallengeRoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		u := addUser(t, uow, "alice@example.com")
		_, hash := domain.NewLoginChallengeToken()
		c := domain.NewLoginChallenge(u.ID(), hash, t0.Add(123456789))
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.LoginChallenges().Add(ctx, c) })
		view := func(c domain.LoginChallenge) string {
			used := "-"
			if c.UsedAt() != nil {
				used = c.UsedAt().Format(time.RFC3339Nano)
			}
			return c.ID().String() + " " + c.User().String() + " " + c.CreatedAt().Format(time.RFC3339Nano) + " " + c.ExpiresAt().Format(time.RFC3339Nano) + " " + string(rune('0'+c.Attempts())) + " " + used
		}
		get := func() (got domain.LoginChallenge) {
			t.Helper()
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				got, err = st.LoginChallenges().GetByTokenHash(ctx, hash)
				return err
			})
			return got
		}
		if got := get(); view(got) != view(c) {
			t.Fatalf("GetByTokenHash = %s, want %s", view(got), view(c))
		}
		c.Fail()
		if err := c.Use(t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.LoginChallenges().Update(ctx, c) })
		if got := get(); view(got) != view(c) {
			t.Fatalf("after Update: %s, want %s", view(got), view(c))
		}
		_, wrong := domain.NewLoginChallengeToken()
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.LoginChallenges().GetByTokenHash(ctx, wrong)
			wantErr(t, "GetByTokenHash(unknown)", err, domain.ErrNotFound)
			wantErr(t, "Update(unknown)", st.LoginChallenges().Update(ctx, domain.NewLoginChallenge(u.ID(), wrong, t0)), domain.ErrNotFound)
			return nil
		})
	})
}
