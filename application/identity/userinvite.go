package identity

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// InviteUserInput invites a person to the instance.
type InviteUserInput struct {
	Email, Name   string
	InstanceAdmin bool
}

// InviteUser creates an account without a password for a person and mails
// them a link, usable once within domain.InvitationResetTTL, that sets
// their first password (a password reset: /console/password-reset/{token}
// or POST /v1/auth/password-reset/confirm); until then the account cannot
// sign in. Instance administrators only. An address another account has
// is domain.ErrEmailTaken, unless that account is itself still invited:
// then the invitation is sent again, with a new link, and the old links
// stop working. The token is made and the mail composed before the one
// transaction, which writes the account, the reset, the mail and the
// audit event user.invited.
func (s *Service) InviteUser(ctx context.Context, p domain.Principal, in InviteUserInput) (_ domain.User, err error) {
	ctx, end := usecase.Start(ctx, "identity.InviteUser")
	defer end(&err)
	if err := requireInstanceAdmin(p); err != nil {
		return domain.User{}, err
	}
	u, err := domain.NewUser(domain.NewUserInput{Email: in.Email, Name: in.Name, InstanceAdmin: in.InstanceAdmin}, s.now())
	if err != nil {
		return domain.User{}, err
	}
	now := s.now()
	token, hash := domain.NewPasswordResetToken()
	m, err := domain.NewMessage(domain.MessageInput{
		From: s.workspaces.MailFrom, To: []string{u.Email().String()},
		Subject: "You are invited to Keel",
		Text:    fmt.Sprintf(userInvitationText, u.Name(), s.resetLink(token), int(domain.InvitationResetTTL.Hours()/24), token),
	}, now)
	if err != nil {
		return domain.User{}, fmt.Errorf("compose invitation mail: %w", err)
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		action, details := "user.invited", map[string]string{"email": u.Email().String()}
		existing, err := st.Users().GetByEmail(ctx, u.Email())
		switch {
		case err == nil && !existing.Invited():
			return domain.ErrEmailTaken
		case err == nil:
			// Invited again: the same account, a new link, the old ones
			// spent, and the name and administrator flag the new
			// invitation asks for; the audit entry says what changed.
			action = "user.invitation_resent"
			changedDetails(details, existing, u)
			if existing.Name() != u.Name() || existing.IsInstanceAdmin() != u.IsInstanceAdmin() {
				existing.Reinvite(u)
				if err := st.Users().Update(ctx, existing); err != nil {
					return err
				}
			}
			u = existing
			if err := st.PasswordResets().SpendForUser(ctx, u.ID(), domain.Timestamp(now)); err != nil {
				return err
			}
		case errors.Is(err, domain.ErrNotFound):
			if err := st.Users().Add(ctx, u); err != nil {
				return err
			}
		default:
			return err
		}
		if err := st.PasswordResets().Add(ctx, domain.NewInvitationReset(u.ID(), hash, now)); err != nil {
			return err
		}
		if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, "", "", domain.KindUserInvitation, "", now)); err != nil {
			return fmt.Errorf("queue invitation mail: %w", err)
		}
		return s.audit(ctx, st, p, "", action, "user", u.ID().String(), details)
	})
	return u, err
}

// changedDetails adds to an invitation's audit details the name and
// administrator flag that a new invitation changes, each with its
// previous value.
func changedDetails(details map[string]string, before, after domain.User) {
	if before.Name() != after.Name() {
		details["name"], details["previous_name"] = after.Name(), before.Name()
	}
	if before.IsInstanceAdmin() != after.IsInstanceAdmin() {
		details["instance_admin"], details["previous_instance_admin"] = strconv.FormatBool(after.IsInstanceAdmin()), strconv.FormatBool(before.IsInstanceAdmin())
	}
}

// userInvitationText is the body of an invitation's mail; its subject
// carries no token.
const userInvitationText = `Hello %s,

An administrator of Keel made you an account. Choose your password here:

    %s

The link can be used once and expires in %d days. Through the API:

    POST /v1/auth/password-reset/confirm
    {"token": "%s", "password": "…"}

If you did not expect this, ignore this message: the account stays unusable.
`
