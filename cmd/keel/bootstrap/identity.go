package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/inmem"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/ports"
)

// Login throttling. Per client IP: a burst of 20 attempts, then one every
// 6 s (10 a minute). Per account: a burst of 10, then one every 12 s. The
// buckets live in each node's memory: with N nodes behind a balancer an
// attacker gets at most N times these rates.
const (
	loginIPRate, loginIPBurst           = 1.0 / 6, 20
	loginAccountRate, loginAccountBurst = 1.0 / 12, 10
)

// identityParts is the identity service with what must be closed after.
type identityParts struct {
	svc   *identity.Service
	authz *casbinauthz.Authorizer
}

func (p identityParts) close() { _ = p.authz.Close() }

func newIdentity(ctx context.Context, uow ports.UnitOfWork, sessionTTL time.Duration, log *slog.Logger) (identityParts, error) {
	authz, err := casbinauthz.New(ctx, uow, casbinauthz.Options{Logger: log})
	if err != nil {
		return identityParts{}, fmt.Errorf("load authorization policy: %w", err)
	}
	svc, err := identity.NewService(ctx, identity.Config{
		UoW:             uow,
		Authorizer:      authz,
		Hasher:          argon2id.New(argon2id.DefaultParams),
		Clock:           ports.ClockFunc(time.Now),
		SessionTTL:      sessionTTL,
		LoginPerIP:      inmem.NewRateLimiter(loginIPRate, loginIPBurst, time.Now),
		LoginPerAccount: inmem.NewRateLimiter(loginAccountRate, loginAccountBurst, time.Now),
	})
	if err != nil {
		_ = authz.Close()
		return identityParts{}, err
	}
	return identityParts{svc: svc, authz: authz}, nil
}
