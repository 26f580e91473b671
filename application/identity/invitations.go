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

// InviteInput invites an e-mail address into a workspace with a role.
type InviteInput struct {
	Workspace string
	Email     string
	Role      domain.Role
}

// Invite invites an address into a workspace (admins and owners; only
// owners may invite owners) and queues, in the same transaction, the mail
// that carries the invitation's link. The token is in that mail only;
// Keel keeps its hash. An address whose account is already a member gets
// domain.ErrAlreadyMember. Inviting an address that already has a pending
// invitation to the workspace resends it: the new invitation replaces the
// pending one, whose link stops working, so that one address never holds
// two valid links (with perhaps two roles); only owners may replace an
// invitation to the owner role, as only they may revoke it.
func (s *Service) Invite(ctx context.Context, p domain.Principal, in InviteInput) (_ domain.Invitation, err error) {
	ctx, end := usecase.Start(ctx, "identity.Invite")
	defer end(&err)
	email, err := domain.ParseEmail("email", in.Email)
	if err != nil {
		return domain.Invitation{}, err
	}
	var inv domain.Invitation
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, in.Workspace, domain.PermMembersWrite)
		if err != nil {
			return err
		}
		inv, err = s.invite(ctx, st, p, w, email, in.Role)
		return err
	})
	return inv, err
}

// invite does Invite's work inside the caller's transaction, once the
// caller may write w's members.
func (s *Service) invite(ctx context.Context, st ports.Stores, p domain.Principal, w domain.Workspace, email domain.Email, role domain.Role) (domain.Invitation, error) {
	if role == domain.RoleOwner {
		if err := s.ownersOnly(ctx, p, w.ID()); err != nil {
			return domain.Invitation{}, err
		}
	}
	switch u, err := st.Users().GetByEmail(ctx, email); {
	case err == nil:
		if _, err := st.Memberships().Get(ctx, w.ID(), u.ID()); err == nil {
			return domain.Invitation{}, domain.ErrAlreadyMember
		} else if !errors.Is(err, domain.ErrNotFound) {
			return domain.Invitation{}, err
		}
	case !errors.Is(err, domain.ErrNotFound):
		return domain.Invitation{}, err
	}
	now := s.now()
	replaced, err := s.replacePending(ctx, st, p, w, email, now)
	if err != nil {
		return domain.Invitation{}, err
	}
	token, hash := domain.NewInvitationToken()
	var by domain.UserID
	if p.Kind() == domain.UserPrincipal {
		by = p.User()
	}
	inv := domain.NewInvitation(w.ID(), email, role, by, hash, now)
	if err := st.Invitations().Add(ctx, inv); err != nil {
		return domain.Invitation{}, err
	}
	link := s.invitationLink(token)
	m, err := domain.NewMessage(domain.MessageInput{
		From: s.workspaces.MailFrom, To: []string{email.String()},
		Subject: fmt.Sprintf("You are invited to %s on Keel", w.Name()),
		Text:    fmt.Sprintf(invitationText, w.Name(), w.Slug(), role, link, int(domain.InvitationTTL.Hours()/24), token),
	}, now)
	if err != nil {
		return domain.Invitation{}, fmt.Errorf("compose invitation mail: %w", err)
	}
	if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, w.ID(), "", domain.KindInvitation, "", now)); err != nil {
		return domain.Invitation{}, fmt.Errorf("queue invitation mail: %w", err)
	}
	action, meta := "invitation.created", map[string]string{"email": email.String(), "role": role.String()}
	if len(replaced) > 0 {
		action, meta["replaces"] = "invitation.resent", strings.Join(replaced, ",")
	}
	return inv, s.audit(ctx, st, p, w.ID(), action, "invitation", inv.ID().String(), meta)
}

// replacePending revokes the pending invitations of email to w, which a new
// invitation replaces, and returns their IDs. The store locks the
// workspace first, so that of two concurrent invitations of the address
// the second replaces the first.
func (s *Service) replacePending(ctx context.Context, st ports.Stores, p domain.Principal, w domain.Workspace, email domain.Email, now time.Time) ([]string, error) {
	pending, err := st.Invitations().PendingFor(ctx, w.ID(), email, now)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, old := range pending {
		if old.Role() == domain.RoleOwner {
			if err := s.ownersOnly(ctx, p, w.ID()); err != nil {
				return nil, err
			}
		}
		if err := old.Revoke(now); err != nil {
			return nil, err
		}
		if err := st.Invitations().Update(ctx, old); err != nil {
			return nil, err
		}
		ids = append(ids, old.ID().String())
	}
	return ids, nil
}

// invitationText is the body of an invitation's mail. Its subject carries
// no token: the outbox lists subjects to the workspace's administrators,
// who must not be able to accept an invitation in the invitee's stead.
const invitationText = `You are invited to join the workspace %q (%s) on Keel as %s.

Accept the invitation here:

    %s

The link can be used once and expires in %d days. Through the API:

    POST /v1/invitations/accept
    {"token": "%s", "name": "…", "password": "…"}

(name and password create your account; leave them out if you already have
one and call with its session.)

If you did not expect this message, ignore it.
`

// invitationLink is the console page that accepts the invitation.
func (s *Service) invitationLink(token string) string {
	return strings.TrimRight(s.linkBase(), "/") + "/console/invitations/" + url.PathEscape(token)
}

// ListInvitations lists a workspace's pending invitations (viewers and up),
// oldest first.
func (s *Service) ListInvitations(ctx context.Context, p domain.Principal, ref string, page ports.Page) (_ []domain.Invitation, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ListInvitations")
	defer end(&err)
	var out []domain.Invitation
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermMembersRead)
		if err != nil {
			return err
		}
		out, next, err = st.Invitations().ListPending(ctx, w.ID(), s.now(), page)
		return err
	})
	return out, next, err
}

// RevokeInvitation withdraws a pending invitation (admins and owners; only
// owners for an invitation to the owner role); its link stops working.
// An invitation that is no longer pending is domain.ErrNotFound.
func (s *Service) RevokeInvitation(ctx context.Context, p domain.Principal, ref string, id domain.InvitationID) (err error) {
	ctx, end := usecase.Start(ctx, "identity.RevokeInvitation")
	defer end(&err)
	return s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermMembersWrite)
		if err != nil {
			return err
		}
		inv, err := st.Invitations().Get(ctx, w.ID(), id)
		if err != nil {
			return err
		}
		if inv.Role() == domain.RoleOwner {
			if err := s.ownersOnly(ctx, p, w.ID()); err != nil {
				return err
			}
		}
		if err := inv.Revoke(s.now()); err != nil {
			return err
		}
		if err := st.Invitations().Update(ctx, inv); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "invitation.revoked", "invitation", inv.ID().String(), map[string]string{"email": inv.Email().String()})
	})
}

// AcceptInput accepts an invitation. Name and Password create the account
// of an address that has none; they are ignored otherwise.
type AcceptInput struct {
	Token, Name, Password string
}

// Accepted is what accepting an invitation did: the workspace joined, the
// membership made and whether the account was created by it.
type Accepted struct {
	Workspace domain.Workspace
	Member    Member
	Created   bool
}

// errAcceptAsInvitee refuses to accept, for an address that has an account,
// without a session of that account: the token proves that its holder
// reads the mail, not that they are the account's owner.
var errAcceptAsInvitee = domain.ErrUnauthenticated.WithMessage("This address has an account: sign in as it, then accept the invitation with that session.")

// AcceptInvitation uses an invitation up. For an address with no account
// it creates one, with Name and Password (checked as setup checks them),
// and the membership; for an address with an account, the caller must be
// signed in as that account, and the membership is added. Unknown, used,
// revoked and expired tokens alike are domain.ErrInvitationGone. The
// membership emits member.added, like adding a member does.
func (s *Service) AcceptInvitation(ctx context.Context, p domain.Principal, in AcceptInput) (_ Accepted, err error) {
	ctx, end := usecase.Start(ctx, "identity.AcceptInvitation")
	defer end(&err)
	if !domain.IsInvitationToken(in.Token) {
		return Accepted{}, domain.ErrInvitationGone
	}
	hash := domain.HashSecret(in.Token)
	var (
		inv      domain.Invitation
		existing domain.User
		found    bool
	)
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if inv, err = pendingInvitation(ctx, st, hash, s.now()); err != nil {
			return err
		}
		existing, err = st.Users().GetByEmail(ctx, inv.Email())
		found = err == nil
		if errors.Is(err, domain.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return Accepted{}, err
	}
	var newUser domain.User
	if found {
		if p.Kind() != domain.UserPrincipal || p.User() != existing.ID() {
			return Accepted{}, errAcceptAsInvitee
		}
		if !existing.Active() {
			return Accepted{}, domain.E(domain.KindConflict, "user_disabled", "This account is disabled.")
		}
	} else {
		// The password is hashed before the transaction, which must not
		// wait on tens of milliseconds of work.
		probe, err := s.checkAccount(inv.Email().String(), in.Name, in.Password)
		if err != nil {
			return Accepted{}, err
		}
		pw, err := s.hasher.Hash(ctx, in.Password)
		if err != nil {
			return Accepted{}, fmt.Errorf("hash password: %w", err)
		}
		if newUser, err = domain.NewUser(domain.NewUserInput{Email: probe.Email().String(), Name: probe.Name(), PasswordHash: pw}, s.now()); err != nil {
			return Accepted{}, err
		}
	}
	var res Accepted
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		now := s.now()
		inv, err := pendingInvitation(ctx, st, hash, now)
		if err != nil {
			return err
		}
		u := existing
		if !found {
			if err := st.Users().Add(ctx, newUser); err != nil {
				return err
			}
			u = newUser
		}
		if err := inv.Accept(now); err != nil {
			return err
		}
		if err := st.Invitations().Update(ctx, inv); err != nil {
			return err
		}
		if err := st.Memberships().Add(ctx, domain.Membership{Workspace: inv.Workspace(), User: u.ID(), Role: inv.Role(), CreatedAt: domain.Timestamp(now)}); err != nil {
			return err
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		w, err := st.Workspaces().Get(ctx, inv.Workspace())
		if err != nil {
			return fmt.Errorf("load workspace of invitation %s: %w", inv.ID(), err)
		}
		res = Accepted{Workspace: w, Member: Member{User: u, Role: inv.Role()}, Created: !found}
		if err := addEvent(ctx, st, domain.MemberEvent(domain.EventMemberAdded, w.ID(), u, inv.Role(), now)); err != nil {
			return err
		}
		actor := domain.NewUserPrincipal(u.ID(), u.IsInstanceAdmin(), "").WithClient(p.Client())
		return s.audit(ctx, st, actor, w.ID(), "invitation.accepted", "invitation", inv.ID().String(),
			map[string]string{"role": inv.Role().String(), "account_created": fmt.Sprint(!found)})
	})
	if err != nil {
		return Accepted{}, err
	}
	s.reload(ctx)
	return res, nil
}

// pendingInvitation returns the pending invitation whose token hashes to
// hash, or domain.ErrInvitationGone.
func pendingInvitation(ctx context.Context, st ports.Stores, hash []byte, now time.Time) (domain.Invitation, error) {
	inv, err := st.Invitations().GetByTokenHash(ctx, hash)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && !inv.Pending(now)) {
		return domain.Invitation{}, domain.ErrInvitationGone
	}
	return inv, err
}
