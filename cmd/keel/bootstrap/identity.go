package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Login throttling. Per client IP, every attempt: a burst of 20, then one
// every 6 s (10 a minute). Per account and client IP, failures: 5 free in
// a row, then a wait of 1 s before the next attempt, doubling with each
// further failure up to 5 minutes, forgotten after a success or 15 quiet
// minutes (growing delays, not a lockout). Per account from all addresses,
// failures: a burst of 100, then one every 3 s, a ceiling far above what
// one address gets, so that an attack from some addresses leaves the
// owner at another able to log in. Per client IP, session tokens and API
// keys that fail to authenticate: a burst of 30, then one every 2 s. On
// PostgreSQL the state is shared by every node (KEEL_RATE_LIMIT_STORE);
// kept in each node's memory instead, N nodes behind a balancer give an
// attacker up to N times these rates.
const (
	loginIPRate, loginIPBurst           = 1.0 / 6, 20
	loginPairFree                       = 5
	loginPairBase, loginPairCeiling     = time.Second, 5 * time.Minute
	loginPairReset                      = 15 * time.Minute
	loginAccountRate, loginAccountBurst = 1.0 / 3, 100
	authFailRate, authFailBurst         = 1.0 / 2, 30
)

// Password reset requests, shared like login throttling: per client IP a
// burst of 10, then one a minute; per e-mail address a burst of 3, then
// one every 10 minutes, which bounds the mail one address can be sent.
const (
	resetIPRate, resetIPBurst           = 1.0 / 60, 10
	resetAddressRate, resetAddressBurst = 1.0 / 600, 3
)

// E-mail change requests, shared likewise: per user a burst of 5, then one
// every 12 minutes (5 an hour); per new address a burst of 3, then one
// every 20 minutes (3 an hour), which bounds the mail a signed-in account
// can send to an address of its choosing.
const (
	changeUserRate, changeUserBurst       = 5.0 / 3600, 5
	changeAddressRate, changeAddressBurst = 3.0 / 3600, 3
)

// Wrong second-factor codes, per user, at login and where a code proves a
// change: 4 free in a row, then the fifth locks code entry for 1 minute,
// doubling with each further wrong code up to an hour, and forgotten only
// after a right code or a day without one. A guesser so gets about 35
// codes on the first day and 24 on each after (per node when the limits
// are local), against a million values; the owner is mailed at most once
// a day while it lasts.
const (
	codeFree                  = 4
	codeBase, codeCeiling     = time.Minute, time.Hour
	codeReset, codeNoticeWait = 24 * time.Hour, 24 * time.Hour
)

// sessionConfig holds the login session lifetimes; zero values take the
// identity service's defaults.
type sessionConfig struct {
	ttl, maxAge time.Duration
	// sealer seals two-factor secrets (KEEL_SECRET_KEY); nil turns
	// enrolment off.
	sealer *domain.SecretSealer
	// limits makes login throttling's limiters (and the other account
	// limits'): in memory when zero, as commands other than serve want.
	limits limiters
}

// identityParts is the identity service with what must be closed after.
type identityParts struct {
	svc   *identity.Service
	authz *casbinauthz.Authorizer
}

func (p identityParts) close() { _ = p.authz.Close() }

// publicChanged, when not nil, empties this node's public content cache
// after a workspace change that alters what the public API answers;
// linkBase, when not nil, returns the base URL of the links in account
// mail (KEEL_PUBLIC_URL).
func newIdentity(ctx context.Context, uow ports.UnitOfWork, sessions sessionConfig, workspaces identity.WorkspacePolicy, log *slog.Logger, publicChanged func(), linkBase func() string) (identityParts, error) {
	authz, err := casbinauthz.New(ctx, uow, casbinauthz.Options{Logger: log})
	if err != nil {
		return identityParts{}, fmt.Errorf("load authorization policy: %w", err)
	}
	lim := sessions.limits
	svc, err := identity.NewService(ctx, identity.Config{
		UoW:               uow,
		Authorizer:        authz,
		Hasher:            argon2id.New(argon2id.DefaultParams),
		Clock:             ports.ClockFunc(time.Now),
		SessionTTL:        sessions.ttl,
		SessionMaxAge:     sessions.maxAge,
		LoginPerIP:        lim.rate("login_ip", loginIPRate, loginIPBurst),
		LoginPerAccountIP: lim.backoff("login_account_ip", loginPairFree, loginPairBase, loginPairCeiling, loginPairReset),
		LoginPerAccount:   lim.rate("login_account", loginAccountRate, loginAccountBurst),
		AuthFailuresPerIP: lim.rate("auth_failures_ip", authFailRate, authFailBurst),
		Logger:            log,
		Workspaces:        workspaces,
		PublicChanged:     publicChanged,
		LinkBase:          linkBase,
		Sealer:            sessions.sealer,

		PasswordResetPerIP:      lim.rate("reset_ip", resetIPRate, resetIPBurst),
		PasswordResetPerAddress: lim.rate("reset_address", resetAddressRate, resetAddressBurst),

		// A right code forgets a notice, so the next lockout mails again.
		SecondFactorFailures: lim.backoff("second_factor", codeFree, codeBase, codeCeiling, codeReset),
		SecondFactorNotices:  lim.backoff("second_factor_notice", 0, codeNoticeWait, codeNoticeWait, codeNoticeWait),

		EmailChangePerUser:    lim.rate("email_change_user", changeUserRate, changeUserBurst),
		EmailChangePerAddress: lim.rate("email_change_address", changeAddressRate, changeAddressBurst),
	})
	if err != nil {
		_ = authz.Close()
		return identityParts{}, err
	}
	return identityParts{svc: svc, authz: authz}, nil
}
