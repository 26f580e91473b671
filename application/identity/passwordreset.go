package identity

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// RequestPasswordReset mails the account with the address, if there is an
// active one, a link that sets its password, usable once within an hour.
// It returns nil whatever the address, so that nobody learns which
// addresses have accounts, and does the same work either way as far as
// it can: a token is made and hashed and the mail composed for every
// address, and one transaction writes an audit event; for an account it
// also writes the reset and the mail, two more rows in that transaction
// (README, "Password reset", gives the difference this leaves). Requests
// are limited per client IP and per address (domain.ErrRateLimited),
// the same for addresses with and without accounts.
func (s *Service) RequestPasswordReset(ctx context.Context, p domain.Principal, address string) (err error) {
	ctx, end := usecase.Start(ctx, "identity.RequestPasswordReset")
	defer end(&err)
	if ok, wait := s.resetPerIP.Allow(ctx, "reset-ip:"+p.Client().IP); !ok {
		return domain.ErrRateLimited.WithRetryAfter(wait)
	}
	email, err := domain.ParseEmail("email", address)
	if err != nil {
		return nil // no account has it: nothing to mail, and nothing to say
	}
	if ok, wait := s.resetPerAddress.Allow(ctx, "reset-address:"+email.String()); !ok {
		return domain.ErrRateLimited.WithRetryAfter(wait)
	}
	now := s.now()
	token, hash := domain.NewPasswordResetToken()
	m, err := domain.NewMessage(domain.MessageInput{
		From: s.workspaces.MailFrom, To: []string{email.String()},
		Subject: "Reset your Keel password",
		Text:    fmt.Sprintf(passwordResetText, s.resetLink(token), int(domain.PasswordResetTTL.Minutes()), token),
	}, now)
	if err != nil {
		return fmt.Errorf("compose password reset mail: %w", err)
	}
	return s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		u, err := st.Users().GetByEmail(ctx, email)
		switch {
		// An enabled invited account may ask too: the reset sets its first
		// password.
		case errors.Is(err, domain.ErrNotFound) || (err == nil && u.Status() != domain.UserActive):
			reason := "unknown_email"
			if err == nil {
				reason = "disabled"
			}
			return s.audit(ctx, st, p, "", "password_reset.refused", "user", "", map[string]string{"reason": reason})
		case err != nil:
			return err
		}
		r := domain.NewPasswordReset(u.ID(), hash, now)
		if err := st.PasswordResets().Add(ctx, r); err != nil {
			return err
		}
		if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, "", "", domain.KindPasswordReset, "", now)); err != nil {
			return fmt.Errorf("queue password reset mail: %w", err)
		}
		return s.audit(ctx, st, p, "", "password_reset.requested", "user", u.ID().String(), nil)
	})
}

// passwordResetText is the body of a password reset's mail; its subject
// carries no token.
const passwordResetText = `Someone, probably you, asked to reset the password of your Keel account.

Choose a new password here:

    %s

The link can be used once and expires in %d minutes; using it signs your
account out everywhere. Through the API:

    POST /v1/auth/password-reset/confirm
    {"token": "%s", "password": "…"}

If you did not ask for this, ignore this message: your password stays as it is.
`

// resetLink is the console page that sets a new password.
func (s *Service) resetLink(token string) string {
	return strings.TrimRight(s.linkBase(), "/") + "/console/password-reset/" + url.PathEscape(token)
}

// ConfirmPasswordReset sets the password of the reset's account, checked
// as setup checks passwords and hashed before the transaction, spends the
// token, and ends every session of the account and its pending e-mail
// changes (see ChangePassword). Unknown, used and expired
// tokens alike are domain.ErrPasswordResetUnusable. The account's API keys
// are untouched: they belong to its workspaces.
func (s *Service) ConfirmPasswordReset(ctx context.Context, p domain.Principal, token, password string) (err error) {
	ctx, end := usecase.Start(ctx, "identity.ConfirmPasswordReset")
	defer end(&err)
	if !domain.IsPasswordResetToken(token) {
		return domain.ErrPasswordResetUnusable
	}
	hash := domain.HashSecret(token)
	var u domain.User
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		r, err := usableReset(ctx, st, hash, s.now())
		if err != nil {
			return err
		}
		u, err = st.Users().Get(ctx, r.User())
		return err
	})
	if err != nil {
		return err
	}
	if err := domain.CheckPassword("password", password, u.Email(), u.Name()); err != nil {
		return err
	}
	pw, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		now := s.now()
		r, err := usableReset(ctx, st, hash, now)
		if err != nil {
			return err
		}
		if err := r.Use(now); err != nil {
			return err
		}
		if err := st.PasswordResets().Update(ctx, r); err != nil {
			return err
		}
		u, err := st.Users().Get(ctx, r.User())
		if err != nil {
			return err
		}
		invited := u.Invited()
		u.SetPasswordHash(pw) // an invited account is active from here on
		if err := st.Users().Update(ctx, u); err != nil {
			return fmt.Errorf("save reset password: %w", err)
		}
		if invited {
			actor := domain.NewUserPrincipal(u.ID(), u.IsInstanceAdmin(), "").WithClient(p.Client())
			if err := s.audit(ctx, st, actor, "", "user.activated", "user", u.ID().String(), nil); err != nil {
				return err
			}
		}
		if err := st.Sessions().RevokeUser(ctx, u.ID()); err != nil {
			return err
		}
		// As a password change does: a change of address asked for with
		// the old password, or from a session just ended, dies too.
		if err := st.EmailChanges().EndPending(ctx, u.ID(), now); err != nil {
			return err
		}
		actor := domain.NewUserPrincipal(u.ID(), u.IsInstanceAdmin(), "").WithClient(p.Client())
		if err := credentialsChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, actor, "", "password_reset.completed", "user", u.ID().String(), nil)
	})
	if err == nil {
		s.creds.forgetWhere(func(c domain.Principal) bool { return c.Session() != "" && c.User() == u.ID() })
	}
	return err
}

// usableReset returns the usable reset whose token hashes to hash, or
// domain.ErrPasswordResetUnusable.
func usableReset(ctx context.Context, st ports.Stores, hash []byte, now time.Time) (domain.PasswordReset, error) {
	r, err := st.PasswordResets().GetByTokenHash(ctx, hash)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && !r.Usable(now)) {
		return domain.PasswordReset{}, domain.ErrPasswordResetUnusable
	}
	return r, err
}
