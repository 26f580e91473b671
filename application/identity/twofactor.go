package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// totpIssuer names Keel in authenticator apps.
const totpIssuer = "Keel"

// TwoFactorStatus is what a user's account shows about two-factor
// authentication.
type TwoFactorStatus struct {
	// Enabled: logins need a code. Pending: an enrolment waits for its
	// first code.
	Enabled, Pending  bool
	EnabledAt         *time.Time
	RecoveryCodesLeft int
	// Available is false when the server has no secret key, so that
	// nobody can enrol.
	Available bool
}

// TwoFactorEnrolment is a started enrolment: the secret, shown this once,
// in base32 and as the otpauth:// URI a QR code carries.
type TwoFactorEnrolment struct {
	Secret, URI string
}

// SecondFactorProof is what a change to two-factor authentication needs
// besides the session: the account's password, or a current code or an
// unused recovery code.
type SecondFactorProof struct {
	Password, Code, RecoveryCode string
}

// TwoFactorStatus reports p's two-factor authentication.
func (s *Service) TwoFactorStatus(ctx context.Context, p domain.Principal) (_ TwoFactorStatus, err error) {
	ctx, end := usecase.Start(ctx, "identity.TwoFactorStatus")
	defer end(&err)
	if err := requireUser(p); err != nil {
		return TwoFactorStatus{}, err
	}
	st := TwoFactorStatus{Available: s.sealer != nil}
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, stores ports.Stores) error {
		tf, err := stores.TwoFactor().Get(ctx, p.User())
		if errors.Is(err, domain.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		st.Enabled, st.Pending = tf.Enabled(), !tf.Enabled()
		st.EnabledAt, st.RecoveryCodesLeft = tf.EnabledAt(), tf.RecoveryCodesLeft()
		return nil
	})
	return st, err
}

// errWrongPassword refuses a two-factor change whose password is wrong.
var errWrongPassword = domain.Invalid(domain.FieldError{Field: "password", Code: "wrong_password", Message: "The password is wrong."})

// StartTwoFactor makes p a new TOTP secret, stores it sealed as a pending
// enrolment (replacing a pending one) and returns it, for the user's app.
// It needs the account's password, verified before the transaction and
// throttled as in ChangePassword, so that a stolen session cannot enrol
// an authenticator of its own and lock the owner out: a wrong one is a
// validation error on the password field. It is domain.ErrTwoFactorEnabled
// when two-factor authentication is already on, and
// domain.ErrTwoFactorUnavailable without a secret key.
func (s *Service) StartTwoFactor(ctx context.Context, p domain.Principal, password string) (_ TwoFactorEnrolment, err error) {
	ctx, end := usecase.Start(ctx, "identity.StartTwoFactor")
	defer end(&err)
	if err := requireUser(p); err != nil {
		return TwoFactorEnrolment{}, err
	}
	if s.sealer == nil {
		return TwoFactorEnrolment{}, domain.ErrTwoFactorUnavailable
	}
	if password == "" {
		return TwoFactorEnrolment{}, domain.Invalid(domain.FieldError{Field: "password", Code: "required", Message: "Give your password."})
	}
	if _, err := s.checkCurrentPassword(ctx, p, password, "two_factor.enrolment_refused"); err == errWrongCurrentPassword {
		return TwoFactorEnrolment{}, errWrongPassword
	} else if err != nil {
		return TwoFactorEnrolment{}, err
	}
	secret := domain.NewTOTPSecret()
	sealed := s.sealer.Seal(secret, p.User().String())
	var u domain.User
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		var err error
		if u, err = st.Users().Get(ctx, p.User()); err != nil {
			return err
		}
		tf, err := st.TwoFactor().Get(ctx, p.User())
		switch {
		case err == nil && tf.Enabled():
			return domain.ErrTwoFactorEnabled
		case err != nil && !errors.Is(err, domain.ErrNotFound):
			return err
		}
		if err := st.TwoFactor().Put(ctx, domain.NewTwoFactor(p.User(), sealed, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, "", "two_factor.enrolment_started", "user", p.User().String(), nil)
	})
	if err != nil {
		return TwoFactorEnrolment{}, err
	}
	return TwoFactorEnrolment{Secret: domain.EncodeTOTPSecret(secret), URI: domain.TOTPURI(totpIssuer, u.Email().String(), secret)}, nil
}

// errWrongCode answers a code that does not confirm an enrolment or prove
// a change: a field error, since the caller is signed in.
var errWrongCode = domain.Invalid(domain.FieldError{Field: "code", Code: "invalid_code", Message: "The code is wrong or expired; type the one your app shows now."})

// ConfirmTwoFactor turns p's pending enrolment on with a current code
// from the app, ends the account's other sessions (p's stays), and
// returns the new recovery codes, shown this once. It
// is domain.ErrTwoFactorNotStarted without a pending enrolment and a
// validation error for a wrong code.
func (s *Service) ConfirmTwoFactor(ctx context.Context, p domain.Principal, code string) (_ []string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ConfirmTwoFactor")
	defer end(&err)
	if err := requireUser(p); err != nil {
		return nil, err
	}
	if s.sealer == nil {
		return nil, domain.ErrTwoFactorUnavailable
	}
	var tf domain.TwoFactor
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		tf, err = st.TwoFactor().Get(ctx, p.User())
		if errors.Is(err, domain.ErrNotFound) {
			return domain.ErrTwoFactorNotStarted
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if tf.Enabled() {
		return nil, domain.ErrTwoFactorEnabled
	}
	secret, err := s.sealer.Open(tf.SealedSecret(), p.User().String())
	if err != nil {
		return nil, err
	}
	step, ok := domain.MatchTOTP(secret, code, s.now(), tf.LastStep())
	if !ok {
		return nil, errWrongCode
	}
	codes, hashes := domain.NewRecoveryCodes()
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		cur, err := st.TwoFactor().Get(ctx, p.User())
		if errors.Is(err, domain.ErrNotFound) {
			return domain.ErrTwoFactorNotStarted
		}
		if err != nil {
			return err
		}
		// Another start replaced the secret the code was checked against.
		if !bytes.Equal(cur.SealedSecret(), tf.SealedSecret()) {
			return domain.ErrTwoFactorNotStarted
		}
		if err := cur.Confirm(step, hashes, s.now()); err != nil {
			return err
		}
		if err := st.TwoFactor().Put(ctx, cur); err != nil {
			return err
		}
		// As a password change does: a session that was open before the
		// account needed a code must not outlive that, so only the one
		// that turned it on stays.
		if err := st.Sessions().RevokeUserExcept(ctx, p.User(), p.Session()); err != nil {
			return err
		}
		if err := credentialsChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, p, "", "two_factor.enabled", "user", p.User().String(), nil)
	})
	if err != nil {
		return nil, err
	}
	s.creds.forgetWhere(func(c domain.Principal) bool {
		return c.Session() != "" && c.User() == p.User() && c.Session() != p.Session()
	})
	return codes, nil
}

// DisableTwoFactor turns p's two-factor authentication off, given the
// account's password or a code (SecondFactorProof). It is
// domain.ErrTwoFactorNotEnabled when it is off; a wrong proof is a
// validation error and counts as a failed login for the account.
func (s *Service) DisableTwoFactor(ctx context.Context, p domain.Principal, proof SecondFactorProof) (err error) {
	ctx, end := usecase.Start(ctx, "identity.DisableTwoFactor")
	defer end(&err)
	return s.changeTwoFactor(ctx, p, proof, "two_factor.disabled", func(ctx context.Context, st ports.Stores, _ *domain.TwoFactor) error {
		return st.TwoFactor().Delete(ctx, p.User())
	})
}

// RegenerateRecoveryCodes replaces every recovery code of p, given the
// password or a code, and returns the new ones, shown this once; the old
// ones stop working. Errors as DisableTwoFactor.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, p domain.Principal, proof SecondFactorProof) (_ []string, err error) {
	ctx, end := usecase.Start(ctx, "identity.RegenerateRecoveryCodes")
	defer end(&err)
	codes, hashes := domain.NewRecoveryCodes()
	err = s.changeTwoFactor(ctx, p, proof, "two_factor.recovery_codes_regenerated", func(ctx context.Context, st ports.Stores, tf *domain.TwoFactor) error {
		tf.SetRecoveryCodes(hashes)
		return st.TwoFactor().Put(ctx, *tf)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// changeTwoFactor checks proof for p's enabled two-factor authentication,
// then runs change and audits action in one transaction. A password is
// verified before the transaction (hashing is slow); a code is checked
// and spent inside it, so that it works once, and a wrong one counts
// toward the user's ceiling on wrong codes as at login.
func (s *Service) changeTwoFactor(ctx context.Context, p domain.Principal, proof SecondFactorProof, action string, change func(context.Context, ports.Stores, *domain.TwoFactor) error) error {
	if err := requireUser(p); err != nil {
		return err
	}
	if proof.Password == "" && proof.Code == "" && proof.RecoveryCode == "" {
		return domain.Invalid(domain.FieldError{Field: "password", Code: "required", Message: "Give your password, a code from your app, or a recovery code."})
	}
	byCode := proof.Password == ""
	var (
		u  domain.User
		tf domain.TwoFactor
	)
	err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if u, err = st.Users().Get(ctx, p.User()); err != nil || !byCode {
			return err
		}
		tf, err = st.TwoFactor().Get(ctx, p.User())
		if errors.Is(err, domain.ErrNotFound) || (err == nil && !tf.Enabled()) {
			return domain.ErrTwoFactorNotEnabled
		}
		return err
	})
	if err != nil {
		return err
	}
	pairKey, accountKey := "account-ip:"+u.Email().String()+" "+p.Client().IP, "account:"+u.Email().String()
	if ok, wait := s.perAccountIP.Check(ctx, pairKey); !ok {
		return domain.ErrRateLimited.WithRetryAfter(wait)
	}
	if ok, wait := s.perAccount.Check(ctx, accountKey); !ok {
		return domain.ErrRateLimited.WithRetryAfter(wait)
	}
	fail := func(err error) error {
		s.perAccountIP.Fail(ctx, pairKey)
		s.perAccount.Fail(ctx, accountKey)
		return err
	}
	var (
		lockout domain.Message
		failure codeFailure
	)
	if byCode {
		// A code here is a guess like one at login, from whoever holds
		// the session: it counts toward the same ceiling.
		if err := s.checkCodes(ctx, u.ID()); err != nil {
			return err
		}
		if lockout, err = s.lockoutMail(u); err != nil {
			return err
		}
		if err := failure.precount(ctx, s, tf, proof.Code, proof.RecoveryCode); err != nil {
			return err
		}
	}
	if proof.Password != "" {
		pw := proof.Password
		if len(pw) > domain.MaxPasswordLen {
			pw = pw[:domain.MaxPasswordLen]
		}
		ok, _, err := s.hasher.Verify(ctx, pw, u.PasswordHash())
		if err != nil {
			return fmt.Errorf("verify password: %w", err)
		}
		if !ok {
			return fail(errWrongPassword)
		}
	}
	wrong := false
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		wrong = false
		tf, err := st.TwoFactor().Get(ctx, p.User())
		if errors.Is(err, domain.ErrNotFound) || (err == nil && !tf.Enabled()) {
			return domain.ErrTwoFactorNotEnabled
		}
		if err != nil {
			return err
		}
		if byCode {
			if err := s.spendSecondFactor(&tf, proof.Code, proof.RecoveryCode); errors.Is(err, domain.ErrSecondFactorInvalid) {
				wrong = true
				return failure.record(ctx, s, st, p, u.ID(), lockout)
			} else if err != nil {
				return err
			}
			if err := st.TwoFactor().Put(ctx, tf); err != nil {
				return err
			}
		}
		if err := change(ctx, st, &tf); err != nil {
			return err
		}
		return s.audit(ctx, st, p, "", action, "user", p.User().String(), nil)
	})
	if err == nil && wrong {
		failure.settle(ctx, s, u.ID())
		return fail(errWrongCode)
	}
	if err == nil && byCode {
		s.codesRight(ctx, u.ID())
	}
	return err
}

// spendSecondFactor checks a TOTP code, or else a recovery code, against
// tf and spends it: the code's step becomes the last used, the recovery
// code is dropped. domain.ErrSecondFactorInvalid when it does not match.
func (s *Service) spendSecondFactor(tf *domain.TwoFactor, code, recovery string) error {
	if code == "" {
		if recovery == "" {
			return domain.ErrSecondFactorInvalid
		}
		return tf.UseRecoveryCode(recovery)
	}
	if s.sealer == nil {
		return domain.ErrTwoFactorUnavailable
	}
	secret, err := s.sealer.Open(tf.SealedSecret(), tf.User().String())
	if err != nil {
		return err
	}
	step, ok := domain.MatchTOTP(secret, code, s.now(), tf.LastStep())
	if !ok {
		return domain.ErrSecondFactorInvalid
	}
	return tf.UseStep(step)
}

// errCodesLocked refuses a second-factor code while the user's wrong
// codes wait out their lockout (Config.SecondFactorFailures).
var errCodesLocked = domain.ErrRateLimited.WithMessage("Too many wrong codes for this account; wait before you try again.")

// codeKey is the key of u's second-factor limiters: the user, however
// the code reached Keel, since one secret answers every guess.
func codeKey(u domain.UserID) string { return "second-factor:" + u.String() }

// checkCodes refuses a code attempt for u while its lockout lasts.
func (s *Service) checkCodes(ctx context.Context, u domain.UserID) error {
	if ok, wait := s.codeFailures.Check(ctx, codeKey(u)); !ok {
		return errCodesLocked.WithRetryAfter(wait)
	}
	return nil
}

// codeFailure is a second-factor code on its way through a use case; its
// zero value is ready. The limiters are told before the transaction,
// which only reads and writes (a limiter may keep its state in the
// database, on a connection of its own): precount checks the code against
// the enrolment as read before, without spending it, and counts it when
// it is wrong. Inside the transaction the code is checked again, and
// spent or its failure recorded, with the lockout mail when precount
// found that this failure started a lockout the user must hear of.
type codeFailure struct {
	counted, notice bool
}

// precount checks code (or recovery) against tf, a copy read before the
// transaction, which spending changes nothing stored, and counts it for
// tf's user when it is wrong.
func (f *codeFailure) precount(ctx context.Context, s *Service, tf domain.TwoFactor, code, recovery string) error {
	err := s.spendSecondFactor(&tf, code, recovery)
	if !errors.Is(err, domain.ErrSecondFactorInvalid) {
		return err
	}
	key := codeKey(tf.User())
	f.counted = true
	s.codeFailures.Fail(ctx, key)
	if open, _ := s.codeFailures.Check(ctx, key); !open {
		if ok, _ := s.codeNotices.Check(ctx, key); ok {
			f.notice = true
			s.codeNotices.Fail(ctx, key)
		}
	}
	return nil
}

// record writes, in the transaction that records a wrong code of u, the
// lockout mail m and its audit when precount decided that it is due.
func (f *codeFailure) record(ctx context.Context, s *Service, st ports.Stores, p domain.Principal, u domain.UserID, m domain.Message) error {
	if !f.notice {
		return nil
	}
	if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, "", "", domain.KindTwoFactorLockout, "", s.now())); err != nil {
		return fmt.Errorf("queue two-factor lockout mail: %w", err)
	}
	return s.audit(ctx, st, p, "", "two_factor.locked", "user", u.String(), nil)
}

// settle counts, after the transaction, a wrong code of u that precount
// took for a right one: a concurrent request spent it in between.
func (f *codeFailure) settle(ctx context.Context, s *Service, u domain.UserID) {
	if !f.counted {
		s.codeFailures.Fail(ctx, codeKey(u))
	}
}

// codesRight forgets u's wrong codes after a right one.
func (s *Service) codesRight(ctx context.Context, u domain.UserID) {
	s.codeFailures.Succeed(ctx, codeKey(u))
	s.codeNotices.Succeed(ctx, codeKey(u))
}

// lockoutMail composes the mail that tells u's owner that wrong codes
// paused code entry. It is composed before the transaction, whether or
// not it is sent, since the transaction only reads and writes.
func (s *Service) lockoutMail(u domain.User) (domain.Message, error) {
	m, err := domain.NewMessage(domain.MessageInput{
		From: s.workspaces.MailFrom, To: []string{u.Email().String()},
		Subject: "Wrong two-factor codes on your Keel account",
		Text:    fmt.Sprintf(lockoutText, u.Email()),
	}, s.now())
	if err != nil {
		return domain.Message{}, fmt.Errorf("compose two-factor lockout mail: %w", err)
	}
	return m, nil
}

// lockoutText warns a user that someone got past the password, or holds
// a session, but not past the code.
const lockoutText = `Someone entered the password of your Keel account, %s, or used
one of its signed-in sessions, and then several wrong two-factor codes in
a row, so Keel stopped taking codes for your account for a while.

If that was you, wait a little and type the code your app shows then, or
use a recovery code.

If it was not you, someone knows your password or holds one of your
sessions: sign in and change your password now, which signs out every
other session.
`

// secondFactorChallenge starts a login challenge for u inside Login's
// transaction when u's two-factor authentication is on; otherwise it
// returns an empty result.
func (s *Service) secondFactorChallenge(ctx context.Context, st ports.Stores, p domain.Principal, u domain.User) (LoginResult, error) {
	tf, err := st.TwoFactor().Get(ctx, u.ID())
	if errors.Is(err, domain.ErrNotFound) || (err == nil && !tf.Enabled()) {
		return LoginResult{}, nil
	}
	if err != nil {
		return LoginResult{}, err
	}
	token, hash := domain.NewLoginChallengeToken()
	c := domain.NewLoginChallenge(u.ID(), hash, s.now())
	if err := st.LoginChallenges().Add(ctx, c); err != nil {
		return LoginResult{}, err
	}
	if err := s.audit(ctx, st, p, "", "login.second_factor_required", "user", u.ID().String(), nil); err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Challenge: token, ChallengeExpiresAt: c.ExpiresAt()}, nil
}

// SecondFactorInput finishes a login: the challenge that Login returned
// and a TOTP code or a recovery code.
type SecondFactorInput struct {
	Challenge, Code, RecoveryCode string
}

// CompleteSecondFactor finishes a login that Login answered with
// domain.ErrSecondFactorRequired: with a current code not used before, or
// an unused recovery code (which it spends), it starts a session. A wrong
// code is domain.ErrSecondFactorInvalid; it counts as a failed login for
// the account (the login throttling) and toward the user's own, much
// lower, ceiling on wrong codes, whose lockout is domain.ErrRateLimited
// and is mailed to the user once; only a right code resets it. A
// challenge is domain.ErrLoginChallengeUnusable once used, after
// domain.LoginChallengeMaxAttempts wrong codes, or after
// domain.LoginChallengeTTL. Every attempt is audited.
func (s *Service) CompleteSecondFactor(ctx context.Context, p domain.Principal, in SecondFactorInput) (_ LoginResult, err error) {
	ctx, end := usecase.Start(ctx, "identity.CompleteSecondFactor")
	defer end(&err)
	if ok, wait := s.perIP.Allow(ctx, "ip:"+p.Client().IP); !ok {
		return LoginResult{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	if !domain.IsLoginChallengeToken(in.Challenge) {
		return LoginResult{}, domain.ErrLoginChallengeUnusable
	}
	hash := domain.HashSecret(in.Challenge)
	var (
		u  domain.User
		tf domain.TwoFactor
	)
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		c, err := st.LoginChallenges().GetByTokenHash(ctx, hash)
		if errors.Is(err, domain.ErrNotFound) || (err == nil && !c.Usable(s.now())) {
			return domain.ErrLoginChallengeUnusable
		}
		if err != nil {
			return err
		}
		if u, err = st.Users().Get(ctx, c.User()); err != nil {
			return err
		}
		tf, err = st.TwoFactor().Get(ctx, u.ID())
		if errors.Is(err, domain.ErrNotFound) || (err == nil && !tf.Enabled()) {
			return domain.ErrLoginChallengeUnusable
		}
		return err
	})
	if err != nil {
		return LoginResult{}, err
	}
	if err := s.checkCodes(ctx, u.ID()); err != nil {
		return LoginResult{}, err
	}
	pairKey, accountKey := "account-ip:"+u.Email().String()+" "+p.Client().IP, "account:"+u.Email().String()
	if ok, wait := s.perAccountIP.Check(ctx, pairKey); !ok {
		return LoginResult{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	if ok, wait := s.perAccount.Check(ctx, accountKey); !ok {
		return LoginResult{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	lockout, err := s.lockoutMail(u)
	if err != nil {
		return LoginResult{}, err
	}
	var failure codeFailure
	if err := failure.precount(ctx, s, tf, in.Code, in.RecoveryCode); err != nil {
		return LoginResult{}, err
	}
	var (
		res   LoginResult
		wrong bool
	)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		now := s.now()
		c, err := st.LoginChallenges().GetByTokenHash(ctx, hash)
		if errors.Is(err, domain.ErrNotFound) || (err == nil && !c.Usable(now)) {
			return domain.ErrLoginChallengeUnusable
		}
		if err != nil {
			return err
		}
		u, err := st.Users().Get(ctx, c.User())
		if err != nil {
			return err
		}
		tf, err := st.TwoFactor().Get(ctx, u.ID())
		if errors.Is(err, domain.ErrNotFound) || (err == nil && !tf.Enabled()) || (err == nil && !u.Active()) {
			return domain.ErrLoginChallengeUnusable // turned off or disabled since the password
		}
		if err != nil {
			return err
		}
		used := "totp"
		if in.Code == "" {
			used = "recovery_code"
		}
		if err := s.spendSecondFactor(&tf, in.Code, in.RecoveryCode); errors.Is(err, domain.ErrSecondFactorInvalid) {
			// The failure is committed: it counts toward the challenge's
			// attempts however the caller reacts.
			wrong = true
			c.Fail()
			if err := st.LoginChallenges().Update(ctx, c); err != nil {
				return err
			}
			if err := failure.record(ctx, s, st, p, u.ID(), lockout); err != nil {
				return err
			}
			return s.audit(ctx, st, p, "", "login.failed", "user", u.ID().String(), map[string]string{"reason": "wrong_second_factor"})
		} else if err != nil {
			return err
		}
		if err := c.Use(now); err != nil {
			return err
		}
		if err := st.LoginChallenges().Update(ctx, c); err != nil {
			return err
		}
		if err := st.TwoFactor().Put(ctx, tf); err != nil {
			return err
		}
		if res, err = s.startSession(ctx, st, u); err != nil {
			return err
		}
		actor := domain.NewUserPrincipal(u.ID(), u.IsInstanceAdmin(), "").WithClient(p.Client())
		if used == "recovery_code" {
			left := fmt.Sprint(tf.RecoveryCodesLeft())
			if err := s.audit(ctx, st, actor, "", "two_factor.recovery_code_used", "user", u.ID().String(), map[string]string{"codes_left": left}); err != nil {
				return err
			}
		}
		return s.audit(ctx, st, actor, "", "login.succeeded", "user", u.ID().String(), map[string]string{"second_factor": used})
	})
	if err != nil {
		return LoginResult{}, err
	}
	if wrong {
		failure.settle(ctx, s, u.ID())
		s.perAccountIP.Fail(ctx, pairKey)
		s.perAccount.Fail(ctx, accountKey)
		return LoginResult{}, domain.ErrSecondFactorInvalid
	}
	s.perAccountIP.Succeed(ctx, pairKey)
	s.perAccount.Succeed(ctx, accountKey)
	s.codesRight(ctx, u.ID())
	return res, nil
}
