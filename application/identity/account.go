package identity

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// errWrongCurrentPassword refuses an account change whose current
// password is wrong. It names the field, so that a form can mark it.
var errWrongCurrentPassword = domain.Invalid(domain.FieldError{Field: "current_password", Code: "password_wrong", Message: "The current password is wrong."})

// ChangePasswordInput changes the signed-in user's password.
type ChangePasswordInput struct {
	Current, New string
}

// ChangePassword sets a new password for the signed-in user, once the
// current one is verified, and ends every other session of the account:
// the session p came with stays, so the person changing it is not signed
// out. It also ends the account's pending e-mail changes, whose links
// would otherwise let whoever asked for them, with the old password or a
// session now ended, still take the account. Wrong current passwords count against the login throttling of the
// account (see checkCurrentPassword); the new password follows the rules
// of setup and is hashed before the transaction.
func (s *Service) ChangePassword(ctx context.Context, p domain.Principal, in ChangePasswordInput) (err error) {
	ctx, end := usecase.Start(ctx, "identity.ChangePassword")
	defer end(&err)
	u, err := s.checkCurrentPassword(ctx, p, in.Current, "user.password_change_failed")
	if err != nil {
		return err
	}
	if err := domain.CheckPassword("new_password", in.New, u.Email(), u.Name()); err != nil {
		return err
	}
	pw, err := s.hasher.Hash(ctx, in.New)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		u, err := st.Users().Get(ctx, p.User())
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		u.SetPasswordHash(pw)
		if err := st.Users().Update(ctx, u); err != nil {
			return fmt.Errorf("save changed password: %w", err)
		}
		if err := st.Sessions().RevokeUserExcept(ctx, u.ID(), p.Session()); err != nil {
			return err
		}
		// A change of address asked for before this one came with the old
		// password, perhaps from the session just ended: its link dies too.
		if err := st.EmailChanges().EndPending(ctx, u.ID(), s.now()); err != nil {
			return err
		}
		if err := credentialsChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, p, "", "user.password_changed", "user", u.ID().String(), nil)
	})
	if err == nil {
		s.creds.forgetWhere(func(c domain.Principal) bool {
			return c.Session() != "" && c.User() == p.User() && c.Session() != p.Session()
		})
	}
	return err
}

// checkCurrentPassword authenticates a change to p's account with its
// current password. It throttles like Login and shares Login's buckets: a
// wrong password here is a failed login of the account from the client's
// IP (growing delays after five), and counts against the account's
// ceiling, so that a stolen session cannot guess the password any faster
// than the sign-in page allows. A wrong password is audited as failedAction
// and returns errWrongCurrentPassword.
func (s *Service) checkCurrentPassword(ctx context.Context, p domain.Principal, password, failedAction string) (domain.User, error) {
	if err := requireUser(p); err != nil {
		return domain.User{}, err
	}
	var u domain.User
	if err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		u, err = st.Users().Get(ctx, p.User())
		return err
	}); err != nil {
		return domain.User{}, fmt.Errorf("load user: %w", err)
	}
	accountKey, pairKey := "account:"+u.Email().String(), "account-ip:"+u.Email().String()+" "+p.Client().IP
	if ok, wait := s.perAccountIP.Check(ctx, pairKey); !ok {
		return domain.User{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	if ok, wait := s.perAccount.Check(ctx, accountKey); !ok {
		return domain.User{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	if len(password) > domain.MaxPasswordLen {
		password = password[:domain.MaxPasswordLen] // fails to match, at a bounded cost
	}
	ok, _, err := s.hasher.Verify(ctx, password, u.PasswordHash())
	if err != nil {
		return domain.User{}, fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		s.perAccountIP.Fail(ctx, pairKey)
		s.perAccount.Fail(ctx, accountKey)
		if err := s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
			return s.audit(ctx, st, p, "", failedAction, "user", u.ID().String(), map[string]string{"reason": "wrong_password"})
		}); err != nil {
			return domain.User{}, err
		}
		return domain.User{}, errWrongCurrentPassword
	}
	s.perAccountIP.Succeed(ctx, pairKey)
	s.perAccount.Succeed(ctx, accountKey)
	return u, nil
}

// ChangeEmailInput asks to move the signed-in user to a new address.
type ChangeEmailInput struct {
	Email, Password string
}

// RequestEmailChange starts moving the signed-in user to a new address,
// once their password is verified (throttled as in ChangePassword). It
// mails the new address a link that confirms the change, usable once
// within a day, and the old address a notice; the address changes only
// when the link is followed (ConfirmEmailChange), so a typo or a stolen
// session cannot take the account to an address its owner does not read.
// A newer request ends the links of older ones. An address that another
// account has gets a mail saying so instead of a link, and the caller the
// same answer as for any other address, so that nobody learns which
// addresses have accounts. The same address as now is a validation error.
// Requests are limited per user and per new address
// (domain.ErrRateLimited), since each mails an address its asker chose.
func (s *Service) RequestEmailChange(ctx context.Context, p domain.Principal, in ChangeEmailInput) (err error) {
	ctx, end := usecase.Start(ctx, "identity.RequestEmailChange")
	defer end(&err)
	email, err := domain.ParseEmail("email", in.Email)
	if err != nil {
		return err
	}
	u, err := s.checkCurrentPassword(ctx, p, in.Password, "user.email_change_failed")
	if err != nil {
		return err
	}
	if email == u.Email() {
		return domain.ErrEmailUnchanged
	}
	// Only requests that would mail take from the limits: a wrong password
	// is the login throttling's, and sends nothing.
	if ok, wait := s.changePerUser.Allow(ctx, "email-change-user:"+u.ID().String()); !ok {
		return domain.ErrRateLimited.WithRetryAfter(wait)
	}
	if ok, wait := s.changePerAddr.Allow(ctx, "email-change-address:"+email.String()); !ok {
		return domain.ErrRateLimited.WithRetryAfter(wait)
	}
	now := s.now()
	token, hash := domain.NewEmailChangeToken()
	confirm, err := domain.NewMessage(domain.MessageInput{
		From: s.workspaces.MailFrom, To: []string{email.String()},
		Subject: "Confirm your new Keel address",
		Text:    fmt.Sprintf(emailChangeText, u.Email(), email, s.emailChangeLink(token), int(domain.EmailChangeTTL.Hours()), token),
	}, now)
	if err != nil {
		return fmt.Errorf("compose e-mail change mail: %w", err)
	}
	taken, err := domain.NewMessage(domain.MessageInput{
		From: s.workspaces.MailFrom, To: []string{email.String()},
		Subject: "Confirm your new Keel address",
		Text:    fmt.Sprintf(emailTakenText, email),
	}, now)
	if err != nil {
		return fmt.Errorf("compose e-mail taken mail: %w", err)
	}
	notice, err := domain.NewMessage(domain.MessageInput{
		From: s.workspaces.MailFrom, To: []string{u.Email().String()},
		Subject: "Your Keel address is about to change",
		Text:    fmt.Sprintf(emailChangeNoticeText, u.Email(), email, int(domain.EmailChangeTTL.Hours())),
	}, now)
	if err != nil {
		return fmt.Errorf("compose e-mail change notice: %w", err)
	}
	return s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		u, err := st.Users().Get(ctx, p.User())
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if err := st.EmailChanges().EndPending(ctx, u.ID(), now); err != nil {
			return err
		}
		other, err := st.Users().GetByEmail(ctx, email)
		switch {
		case err == nil && other.ID() != u.ID():
			if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(taken, "", "", domain.KindEmailChange, "", now)); err != nil {
				return fmt.Errorf("queue e-mail taken mail: %w", err)
			}
			return s.audit(ctx, st, p, "", "user.email_change_refused", "user", u.ID().String(), map[string]string{"reason": "email_taken"})
		case err != nil && !errors.Is(err, domain.ErrNotFound):
			return err
		}
		if err := st.EmailChanges().Add(ctx, domain.NewEmailChange(u.ID(), email, hash, now)); err != nil {
			return err
		}
		if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(confirm, "", "", domain.KindEmailChange, "", now)); err != nil {
			return fmt.Errorf("queue e-mail change mail: %w", err)
		}
		if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(notice, "", "", domain.KindEmailChangeNotice, "", now)); err != nil {
			return fmt.Errorf("queue e-mail change notice: %w", err)
		}
		return s.audit(ctx, st, p, "", "user.email_change_requested", "user", u.ID().String(), map[string]string{"email": email.String()})
	})
}

// emailChangeText is the body of the mail that confirms a new address;
// its subject carries no token.
const emailChangeText = `Someone, probably you, asked to move the Keel account of %s to this
address, %s.

Confirm the new address here:

    %s

The link can be used once and expires in %d hours. Through the API:

    POST /v1/auth/email-change/confirm
    {"token": "%s"}

If you did not ask for this, ignore this message: nothing changes.
`

// emailTakenText answers a request to move an account to an address
// that has an account of its own: no link, since the move cannot happen.
const emailTakenText = `Someone asked to move a Keel account to this address, %s, but this
address has a Keel account already, so nothing changes.

If that was you, sign in with this address instead, or move its account
to another address first.
`

// emailChangeNoticeText warns the old address, which the account's owner
// reads, that a change was asked for.
const emailChangeNoticeText = `Someone asked to move your Keel account from %s to %s.

The address changes only if the link mailed to the new address is
followed within %d hours. If that was you, there is nothing to do.

If it was not you, someone may know your password or hold one of your
sessions: sign in, change your password (which signs out every other
session), and ask for a change back to this address if needed.
`

// emailChangeLink is the console page that confirms a new address.
func (s *Service) emailChangeLink(token string) string {
	return strings.TrimRight(s.linkBase(), "/") + "/console/email-change/" + url.PathEscape(token)
}

// ConfirmEmailChange moves the change's account to its new address and
// spends the token; the token alone suffices, since the account's owner
// proved their password when asking and the token proves that they read
// the new address. Unknown, used, expired and superseded tokens alike are
// domain.ErrEmailChangeUnusable; a disabled account's too. The account's
// unused password reset links, mailed to the old address, stop working.
// An address
// that another account took meanwhile is domain.ErrEmailTaken, and the
// token stays unspent. It returns the account as it is now.
func (s *Service) ConfirmEmailChange(ctx context.Context, p domain.Principal, token string) (_ domain.User, err error) {
	ctx, end := usecase.Start(ctx, "identity.ConfirmEmailChange")
	defer end(&err)
	if !domain.IsEmailChangeToken(token) {
		return domain.User{}, domain.ErrEmailChangeUnusable
	}
	hash := domain.HashSecret(token)
	var u domain.User
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		now := s.now()
		c, err := st.EmailChanges().GetByTokenHash(ctx, hash)
		if errors.Is(err, domain.ErrNotFound) || (err == nil && !c.Usable(now)) {
			return domain.ErrEmailChangeUnusable
		}
		if err != nil {
			return err
		}
		if err := c.Use(now); err != nil {
			return err
		}
		if err := st.EmailChanges().Update(ctx, c); err != nil {
			return err
		}
		if u, err = st.Users().Get(ctx, c.User()); err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if !u.Active() {
			return domain.ErrEmailChangeUnusable
		}
		// A reset link was mailed to the old address, which the account
		// no longer names: it must not set a password any more.
		if err := st.PasswordResets().SpendForUser(ctx, u.ID(), now); err != nil {
			return err
		}
		old := u.Email()
		u.SetEmail(c.Email())
		if err := st.Users().Update(ctx, u); err != nil {
			return err
		}
		actor := domain.NewUserPrincipal(u.ID(), u.IsInstanceAdmin(), "").WithClient(p.Client())
		return s.audit(ctx, st, actor, "", "user.email_changed", "user", u.ID().String(), map[string]string{"from": old.String(), "to": c.Email().String()})
	})
	return u, err
}

// InvitationView is what the page behind an invitation's link shows
// before it is accepted.
type InvitationView struct {
	Workspace  domain.Workspace
	Email      domain.Email
	Role       domain.Role
	HasAccount bool
}

// ViewInvitation returns the pending invitation whose token it is given,
// with whether its address has an account (which decides whether
// accepting creates one), to whoever holds the token: the token is what
// the invitation's mail proves. Unknown, used, revoked and expired tokens
// alike are domain.ErrInvitationGone.
func (s *Service) ViewInvitation(ctx context.Context, token string) (_ InvitationView, err error) {
	ctx, end := usecase.Start(ctx, "identity.ViewInvitation")
	defer end(&err)
	if !domain.IsInvitationToken(token) {
		return InvitationView{}, domain.ErrInvitationGone
	}
	var v InvitationView
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		inv, err := pendingInvitation(ctx, st, domain.HashSecret(token), s.now())
		if err != nil {
			return err
		}
		if v.Workspace, err = st.Workspaces().Get(ctx, inv.Workspace()); err != nil {
			return fmt.Errorf("load workspace of invitation %s: %w", inv.ID(), err)
		}
		v.Email, v.Role = inv.Email(), inv.Role()
		_, err = st.Users().GetByEmail(ctx, inv.Email())
		v.HasAccount = err == nil
		if errors.Is(err, domain.ErrNotFound) {
			return nil
		}
		return err
	})
	return v, err
}

// CheckPasswordReset reports whether a password reset's token can still
// set a password, so that the page behind its link can say at once that
// it cannot, rather than after a new password was typed. Unknown, used
// and expired tokens alike are domain.ErrPasswordResetUnusable.
func (s *Service) CheckPasswordReset(ctx context.Context, token string) (err error) {
	ctx, end := usecase.Start(ctx, "identity.CheckPasswordReset")
	defer end(&err)
	if !domain.IsPasswordResetToken(token) {
		return domain.ErrPasswordResetUnusable
	}
	return s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		_, err := usableReset(ctx, st, domain.HashSecret(token), s.now())
		return err
	})
}
