package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// LoginResult is what a successful setup or login returns: the session
// token, shown this once, and the user.
type LoginResult struct {
	Token     string
	ExpiresAt time.Time
	// EndsAt is the session's absolute end, its start plus the session max
	// age: sliding moves ExpiresAt with use but never past EndsAt, so a
	// cookie that holds the token need not outlive it.
	EndsAt time.Time
	User   domain.User
	// Challenge, with domain.ErrSecondFactorRequired, is the token that
	// CompleteSecondFactor takes with a code, usable until
	// ChallengeExpiresAt; Token is then empty.
	Challenge          string
	ChallengeExpiresAt time.Time
}

// SetupInput creates the first administrator.
type SetupInput struct {
	Email, Password, Name string
}

// setupCounter is bumped by setup; only the transaction that brings it to
// 1 may create the first administrator, which settles concurrent setups.
const setupCounter = "setup"

// Setup creates the first instance administrator and logs them in. It
// works only while the instance has no users; afterwards it returns
// domain.ErrAlreadySetUp.
func (s *Service) Setup(ctx context.Context, p domain.Principal, in SetupInput) (_ LoginResult, err error) {
	ctx, end := usecase.Start(ctx, "identity.Setup")
	defer end(&err)
	probe, err := s.checkAccount(in.Email, in.Name, in.Password)
	if err != nil {
		return LoginResult{}, err
	}
	// Refuse cheaply before spending a password hash on a set-up instance.
	if err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		exists, err := st.Users().Any(ctx)
		if err == nil && exists {
			return domain.ErrAlreadySetUp
		}
		return err
	}); err != nil {
		return LoginResult{}, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return LoginResult{}, fmt.Errorf("hash password: %w", err)
	}
	var res LoginResult
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		n, err := st.Instance().BumpCounter(ctx, setupCounter)
		if err != nil {
			return fmt.Errorf("claim setup: %w", err)
		}
		if exists, err := st.Users().Any(ctx); err != nil {
			return err
		} else if exists || n != 1 {
			return domain.ErrAlreadySetUp
		}
		u, err := domain.NewUser(domain.NewUserInput{Email: probe.Email().String(), Name: probe.Name(), PasswordHash: hash, InstanceAdmin: true}, s.now())
		if err != nil {
			return err
		}
		if err := st.Users().Add(ctx, u); err != nil {
			return err
		}
		if res, err = s.startSession(ctx, st, u); err != nil {
			return err
		}
		actor := domain.NewUserPrincipal(u.ID(), true, "").WithClient(p.Client())
		return s.audit(ctx, st, actor, "", "instance.setup", "user", string(u.ID()), nil)
	})
	return res, err
}

func (s *Service) startSession(ctx context.Context, st ports.Stores, u domain.User) (LoginResult, error) {
	token, hash := domain.NewSessionToken()
	sess := domain.NewSession(u.ID(), hash, s.now(), min(s.sessionTTL, s.sessionMaxAge))
	if err := st.Sessions().Add(ctx, sess); err != nil {
		return LoginResult{}, fmt.Errorf("add session: %w", err)
	}
	return LoginResult{Token: token, ExpiresAt: sess.ExpiresAt(), EndsAt: sess.CreatedAt().Add(s.sessionMaxAge), User: u}, nil
}

// LoginInput is a login attempt.
type LoginInput struct {
	Email, Password string
}

// Login checks an e-mail and password and starts a session. Unknown
// addresses, wrong passwords and disabled accounts all return
// domain.ErrInvalidCreds after the same amount of hashing work. Attempts
// are throttled per client IP; failures are throttled per account and
// client IP, with growing delays, and under a much higher ceiling per
// account, so that guessing from some addresses does not lock the owner
// out at another (domain.ErrRateLimited with a retry delay). Every
// attempt is audited. A right password for an account with two-factor
// authentication on returns domain.ErrSecondFactorRequired with a
// challenge in the result instead of a session (CompleteSecondFactor).
func (s *Service) Login(ctx context.Context, p domain.Principal, in LoginInput) (_ LoginResult, err error) {
	ctx, end := usecase.Start(ctx, "identity.Login")
	defer end(&err)
	if ok, wait := s.perIP.Allow(ctx, "ip:"+p.Client().IP); !ok {
		return LoginResult{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	// The account's limiter keys are built from the parsed address only:
	// it is canonical and at most 254 bytes, and an address that does not
	// parse has no account, so it makes no bucket.
	email, perr := domain.ParseEmail("email", in.Email)
	parsed := perr == nil
	accountKey, pairKey := "account:"+email.String(), "account-ip:"+email.String()+" "+p.Client().IP
	if parsed {
		if ok, wait := s.perAccountIP.Check(ctx, pairKey); !ok {
			return LoginResult{}, domain.ErrRateLimited.WithRetryAfter(wait)
		}
		if ok, wait := s.perAccount.Check(ctx, accountKey); !ok {
			return LoginResult{}, domain.ErrRateLimited.WithRetryAfter(wait)
		}
	}
	if len(in.Password) > domain.MaxPasswordLen {
		in.Password = in.Password[:domain.MaxPasswordLen] // fails to match, at a bounded cost
	}

	var u domain.User
	found := false
	if parsed {
		err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
			u, err = st.Users().GetByEmail(ctx, email)
			return err
		})
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, domain.ErrNotFound):
			return LoginResult{}, err
		}
	}
	hash, err := s.decoyHash(ctx)
	if err != nil {
		return LoginResult{}, err
	}
	if found && !u.Invited() {
		// An invited account has no hash yet: it is checked against the
		// decoy too, so that it fails as slowly as a wrong password.
		hash = u.PasswordHash()
	}
	ok, rehash, err := s.hasher.Verify(ctx, in.Password, hash)
	if err != nil {
		return LoginResult{}, fmt.Errorf("verify password: %w", err)
	}
	if !found || !ok || !u.Active() {
		if parsed {
			s.perAccountIP.Fail(ctx, pairKey)
			s.perAccount.Fail(ctx, accountKey)
		}
		reason := "wrong_password"
		switch {
		case !found:
			reason = "unknown_email"
		case u.Invited():
			reason = "invited"
		case ok:
			reason = "disabled"
		}
		err := s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
			target := ""
			if found {
				target = string(u.ID())
			}
			return s.audit(ctx, st, p, "", "login.failed", "user", target, map[string]string{"reason": reason})
		})
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, domain.ErrInvalidCreds
	}
	var newHash string
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return LoginResult{}, fmt.Errorf("rehash password: %w", err)
		}
	}
	var res LoginResult
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if newHash != "" {
			// u was read before this transaction: the row is read again,
			// so that an address, status or password changed meanwhile is
			// not written back over, and the hash is raised only if the
			// password is still the one just verified.
			cur, err := st.Users().Get(ctx, u.ID())
			if err != nil {
				return fmt.Errorf("load user to rehash: %w", err)
			}
			if cur.PasswordHash() == u.PasswordHash() {
				cur.SetPasswordHash(newHash)
				if err := st.Users().Update(ctx, cur); err != nil {
					return fmt.Errorf("save rehashed password: %w", err)
				}
			}
		}
		// With two-factor authentication on, the password earns a
		// challenge rather than a session (twofactor.go).
		if res, err = s.secondFactorChallenge(ctx, st, p, u); err != nil || res.Challenge != "" {
			return err
		}
		if res, err = s.startSession(ctx, st, u); err != nil {
			return err
		}
		actor := domain.NewUserPrincipal(u.ID(), u.IsInstanceAdmin(), "").WithClient(p.Client())
		return s.audit(ctx, st, actor, "", "login.succeeded", "user", string(u.ID()), nil)
	})
	if err == nil && res.Challenge != "" {
		// The failures stay counted until a code finishes the login: a
		// right password must not reset the budget of code guesses.
		return res, domain.ErrSecondFactorRequired
	}
	if err == nil {
		s.perAccountIP.Succeed(ctx, pairKey)
		s.perAccount.Succeed(ctx, accountKey)
	}
	return res, err
}

// Logout revokes the session p authenticated with.
func (s *Service) Logout(ctx context.Context, p domain.Principal) (err error) {
	ctx, end := usecase.Start(ctx, "identity.Logout")
	defer end(&err)
	if err := requireUser(p); err != nil {
		return err
	}
	if p.Session() == "" {
		return domain.ErrUnauthenticated.WithMessage("Log out with the session token you logged in with.")
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if err := st.Sessions().Revoke(ctx, p.Session()); err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		if err := credentialsChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, p, "", "logout", "session", string(p.Session()), nil)
	})
	if err == nil {
		s.creds.forgetWhere(func(c domain.Principal) bool { return c.Session() == p.Session() })
	}
	return err
}

// Authenticate turns a bearer token, a session token or an API key, into
// a principal. Bad, expired, revoked and disabled credentials all return
// domain.ErrUnauthenticated; a client IP whose credentials failed too
// often gets domain.ErrRateLimited instead, before any lookup, until its
// wait is over. Verified tokens are cached for at most the credential
// cache TTL (half a second), which bounds how long a revocation on another
// node takes to apply here.
//
// Authentication only reads, outside any write transaction: a slid
// session expiry or a key's last use is recorded in memory and written by
// RunUsageWriter (usage.go), so that no request waits for other tenants'
// writes to learn who is calling.
func (s *Service) Authenticate(ctx context.Context, token string, client domain.Client) (domain.Principal, error) {
	now := s.now()
	key := string(domain.HashSecret(token))
	if p, ok := s.creds.get(key, now); ok {
		return p.WithClient(client), nil
	}
	failKey := "ip:" + client.IP
	if ok, wait := s.authFailures.Check(ctx, failKey); !ok {
		return domain.Principal{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	var (
		p        domain.Principal
		notAfter time.Time
		err      error
	)
	switch {
	case domain.IsSessionToken(token):
		p, notAfter, err = s.authenticateSession(ctx, token, now)
	default:
		prefix, secret, ok := domain.ParseAPIKeyToken(token)
		if !ok {
			err = domain.ErrUnauthenticated.WithMessage("The token is not a Keel session token or API key.")
			break
		}
		p, notAfter, err = s.authenticateKey(ctx, prefix, secret, now)
	}
	if err != nil {
		if errors.Is(err, domain.ErrUnauthenticated) {
			s.authFailures.Fail(ctx, failKey)
		}
		return domain.Principal{}, err
	}
	s.creds.put(key, p, now, notAfter)
	return p.WithClient(client), nil
}

var errBadCredentials = domain.ErrUnauthenticated.WithMessage("The credentials are invalid, expired or revoked.")

func (s *Service) authenticateSession(ctx context.Context, token string, now time.Time) (p domain.Principal, notAfter time.Time, err error) {
	ctx, end := usecase.Start(ctx, "identity.AuthenticateSession")
	defer end(&err)
	var (
		sess domain.Session
		u    domain.User
	)
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		sess, err = st.Sessions().GetByTokenHash(ctx, domain.HashSecret(token))
		if errors.Is(err, domain.ErrNotFound) {
			return errBadCredentials
		}
		if err != nil {
			return err
		}
		// A slide this node recorded but has not written yet counts.
		if at, ok := s.usage.expiry(sess.ID()); ok {
			sess.SetExpiresAt(at)
		}
		if !sess.Valid(now) || sess.Outlived(now, s.sessionMaxAge) {
			return errBadCredentials
		}
		if u, err = st.Users().Get(ctx, sess.User()); err != nil {
			return fmt.Errorf("load session user: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Principal{}, time.Time{}, err
	}
	if !u.Active() {
		return domain.Principal{}, time.Time{}, errBadCredentials
	}
	if sess.Slide(now, s.sessionTTL, s.sessionMaxAge) {
		s.usage.slide(sess.ID(), sess.ExpiresAt())
	}
	return domain.NewUserPrincipal(u.ID(), u.IsInstanceAdmin(), sess.ID()), sess.ExpiresAt(), nil
}

// keyTouchInterval spaces the recorded uses of an API key: its
// last_used_at is for people reading a list, to whom a minute is exact.
const keyTouchInterval = time.Minute

func (s *Service) authenticateKey(ctx context.Context, prefix, secret string, now time.Time) (p domain.Principal, notAfter time.Time, err error) {
	ctx, end := usecase.Start(ctx, "identity.AuthenticateAPIKey")
	defer end(&err)
	var (
		k       domain.APIKey
		creator domain.User
		current bool // the secret is the key's current one, not a rotated one in grace
	)
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		k, err = st.APIKeys().GetByPrefix(ctx, prefix)
		if errors.Is(err, domain.ErrNotFound) {
			return errBadCredentials
		}
		if err != nil {
			return err
		}
		current = k.Matches(secret)
		if !current && !k.MatchesPrevious(secret, now) || !k.Usable(now) {
			return errBadCredentials
		}
		if creator, err = st.Users().Get(ctx, k.CreatedBy()); err != nil {
			return fmt.Errorf("load key creator: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Principal{}, time.Time{}, err
	}
	if !creator.Active() {
		return domain.Principal{}, time.Time{}, errBadCredentials
	}
	last := k.LastUsedAt()
	if pending, ok := s.usage.lastUse(k.ID()); ok {
		last = &pending
	}
	if last == nil || now.Sub(*last) >= keyTouchInterval {
		s.usage.use(k.ID(), domain.Timestamp(now))
	}
	notAfter = now.Add(time.Hour)
	if exp := k.ExpiresAt(); exp != nil {
		notAfter = *exp
	}
	// A secret in its grace period must not stay cached past its end.
	if until := k.PreviousUntil(); !current && until != nil && until.Before(notAfter) {
		notAfter = *until
	}
	return domain.NewAPIKeyPrincipal(k.ID(), k.Workspace(), k.CreatedBy(), k.Scopes()), notAfter, nil
}
