package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Member is a membership with its user.
type Member struct {
	User domain.User
	Role domain.Role
}

// ListMembers lists a workspace's members (viewers and up).
func (s *Service) ListMembers(ctx context.Context, p domain.Principal, ref string, page ports.Page) (_ []Member, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ListMembers")
	defer end(&err)
	var out []Member
	// Users are never deleted, so a member removed between the listing
	// and a user's lookup is still found.
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermMembersRead)
		if err != nil {
			return err
		}
		ms, n, err := st.Memberships().List(ctx, w.ID(), page)
		if err != nil {
			return fmt.Errorf("list members: %w", err)
		}
		next = n
		for _, m := range ms {
			u, err := st.Users().Get(ctx, m.User)
			if err != nil {
				return fmt.Errorf("load member %s: %w", m.User, err)
			}
			out = append(out, Member{User: u, Role: m.Role})
		}
		return nil
	})
	return out, next, err
}

// AddMemberInput names the user to add by ID or e-mail, and their role.
type AddMemberInput struct {
	Workspace string
	UserID    domain.UserID
	Email     string
	Role      domain.Role
}

var errOwnersOnly = domain.ErrForbidden.WithMessage("Only owners can grant or take the owner role.")

// AddMember adds an existing user to a workspace (admins and owners; only
// owners may add owners). An account still invited to the instance, with
// no password yet, is refused with user_invited.
func (s *Service) AddMember(ctx context.Context, p domain.Principal, in AddMemberInput) (_ Member, err error) {
	ctx, end := usecase.Start(ctx, "identity.AddMember")
	defer end(&err)
	m, inv, err := s.addMember(ctx, p, in, false)
	if err == nil && inv != nil {
		err = fmt.Errorf("add member: unexpected invitation %s", inv.ID())
	}
	return m, err
}

// AddMemberOrInvite is AddMember, except that an e-mail address with no
// account, or whose account is still invited to the instance, gets an
// invitation (see Invite) instead of domain.ErrNotFound or user_invited:
// then the Member is zero and the invitation is returned.
func (s *Service) AddMemberOrInvite(ctx context.Context, p domain.Principal, in AddMemberInput) (_ Member, _ *domain.Invitation, err error) {
	ctx, end := usecase.Start(ctx, "identity.AddMemberOrInvite")
	defer end(&err)
	return s.addMember(ctx, p, in, in.Email != "" && in.UserID == "")
}

func (s *Service) addMember(ctx context.Context, p domain.Principal, in AddMemberInput, orInvite bool) (Member, *domain.Invitation, error) {
	var (
		m   Member
		inv *domain.Invitation
	)
	err := s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, in.Workspace, domain.PermMembersWrite)
		if err != nil {
			return err
		}
		if in.Role == domain.RoleOwner {
			if err := s.ownersOnly(ctx, p, w.ID()); err != nil {
				return err
			}
		}
		u, err := s.findUser(ctx, st, in.UserID, in.Email)
		// An account still waiting for its first password is not yet a
		// person who can use a membership: by e-mail it is invited to the
		// workspace like an address with no account, and the membership
		// waits for the invitation's acceptance.
		waiting := err == nil && u.Invited() && u.Status() == domain.UserActive
		if orInvite && (errors.Is(err, errNoSuchUser) || waiting) {
			email, err := domain.ParseEmail("email", in.Email)
			if err != nil {
				return err
			}
			i, err := s.invite(ctx, st, p, w, email, in.Role)
			inv = &i
			return err
		}
		if err != nil {
			return err
		}
		if u.Status() != domain.UserActive {
			return domain.E(domain.KindConflict, "user_disabled", "This account is disabled.")
		}
		if waiting {
			return errUserInvited
		}
		if err := st.Memberships().Add(ctx, domain.Membership{Workspace: w.ID(), User: u.ID(), Role: in.Role, CreatedAt: domain.Timestamp(s.now())}); err != nil {
			return err
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		m = Member{User: u, Role: in.Role}
		if err := addEvent(ctx, st, domain.MemberEvent(domain.EventMemberAdded, w.ID(), u, in.Role, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "member.added", "user", string(u.ID()), map[string]string{"role": in.Role.String()})
	})
	if err != nil {
		return Member{}, nil, err
	}
	if inv == nil {
		s.reload(ctx)
	}
	return m, inv, nil
}

// errUserInvited refuses to add by ID an account that has not yet set its
// first password; adding it by e-mail invites it instead.
var errUserInvited = domain.E(domain.KindConflict, "user_invited", "This account has not accepted its invitation yet; add it by e-mail to invite it to the workspace.")

var errNoSuchUser = domain.ErrNotFound.WithMessage("No user has this ID or e-mail address.")

func (s *Service) findUser(ctx context.Context, st ports.Stores, id domain.UserID, email string) (domain.User, error) {
	var (
		u   domain.User
		err error
	)
	switch {
	case id != "" && email != "":
		return u, domain.Invalid(domain.FieldError{Field: "user_id", Code: "ambiguous", Message: "Give user_id or email, not both."})
	case id != "":
		u, err = st.Users().Get(ctx, id)
	case email != "":
		var e domain.Email
		if e, err = domain.ParseEmail("email", email); err != nil {
			return u, err
		}
		u, err = st.Users().GetByEmail(ctx, e)
	default:
		return u, domain.Invalid(domain.FieldError{Field: "user_id", Code: "required", Message: "Give user_id or email."})
	}
	if errors.Is(err, domain.ErrNotFound) {
		return u, errNoSuchUser
	}
	return u, err
}

func (s *Service) ownersOnly(ctx context.Context, p domain.Principal, ws domain.WorkspaceID) error {
	err := s.authz.Authorize(ctx, p, ws, domain.PermOwnersWrite)
	if errors.Is(err, domain.ErrForbidden) {
		return errOwnersOnly
	}
	return err
}

// keepAnOwner refuses a change that would leave ws without an owner. The
// count locks the owners' rows, so two concurrent demotions of the last two
// owners cannot both pass.
func keepAnOwner(ctx context.Context, st ports.Stores, ws domain.WorkspaceID) error {
	n, err := st.Memberships().CountOwners(ctx, ws)
	if err != nil {
		return fmt.Errorf("count owners: %w", err)
	}
	if n <= 1 {
		return domain.ErrLastOwner
	}
	return nil
}

// ChangeMemberInput changes a member's role.
type ChangeMemberInput struct {
	Workspace string
	User      domain.UserID
	Role      domain.Role
}

// ChangeMember changes a member's role (admins and owners; only owners may
// grant or take the owner role; the last owner stays an owner).
func (s *Service) ChangeMember(ctx context.Context, p domain.Principal, in ChangeMemberInput) (_ Member, err error) {
	ctx, end := usecase.Start(ctx, "identity.ChangeMember")
	defer end(&err)
	var m Member
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, in.Workspace, domain.PermMembersWrite)
		if err != nil {
			return err
		}
		cur, err := st.Memberships().Get(ctx, w.ID(), in.User)
		if err != nil {
			return err
		}
		u, err := st.Users().Get(ctx, in.User)
		if err != nil {
			return fmt.Errorf("load member: %w", err)
		}
		m = Member{User: u, Role: in.Role}
		if cur.Role == in.Role {
			return nil
		}
		if cur.Role == domain.RoleOwner || in.Role == domain.RoleOwner {
			if err := s.ownersOnly(ctx, p, w.ID()); err != nil {
				return err
			}
		}
		if cur.Role == domain.RoleOwner {
			if err := keepAnOwner(ctx, st, w.ID()); err != nil {
				return err
			}
		}
		if err := st.Memberships().SetRole(ctx, w.ID(), in.User, in.Role); err != nil {
			return err
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		if err := addEvent(ctx, st, domain.MemberEvent(domain.EventMemberRoleChanged, w.ID(), u, in.Role, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "member.changed", "user", string(in.User), map[string]string{"from": cur.Role.String(), "to": in.Role.String()})
	})
	if err != nil {
		return Member{}, err
	}
	s.reload(ctx)
	return m, nil
}

// RemoveMember takes a user out of a workspace (admins and owners; only
// owners remove owners; anyone may leave; the last owner stays).
func (s *Service) RemoveMember(ctx context.Context, p domain.Principal, ref string, user domain.UserID) (err error) {
	ctx, end := usecase.Start(ctx, "identity.RemoveMember")
	defer end(&err)
	var revoked []domain.APIKeyID
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		revoked = revoked[:0] // the transaction may run again
		perm := domain.PermMembersWrite
		leaving := p.Kind() == domain.UserPrincipal && p.User() == user
		if leaving {
			perm = domain.PermWorkspaceRead
		}
		w, err := s.workspace(ctx, st, p, ref, perm)
		if err != nil {
			return err
		}
		cur, err := st.Memberships().Get(ctx, w.ID(), user)
		if err != nil {
			return err
		}
		if cur.Role == domain.RoleOwner {
			if !leaving {
				if err := s.ownersOnly(ctx, p, w.ID()); err != nil {
					return err
				}
			}
			if err := keepAnOwner(ctx, st, w.ID()); err != nil {
				return err
			}
		}
		if err := st.Memberships().Remove(ctx, w.ID(), user); err != nil {
			return err
		}
		// The member's keys act with their role, so they stop with the
		// membership; revoking them, rather than leaving them without a
		// role, keeps a later re-adding from bringing them back.
		keys, err := st.APIKeys().RevokeCreatedBy(ctx, w.ID(), user, s.now())
		if err != nil {
			return err
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		for _, k := range keys {
			revoked = append(revoked, k.ID())
			if err := s.audit(ctx, st, p, w.ID(), "api_key.revoked", "api_key", string(k.ID()), map[string]string{"name": k.Name(), "reason": "member_removed"}); err != nil {
				return err
			}
			if err := addEvent(ctx, st, domain.APIKeyEvent(domain.EventAPIKeyRevoked, k, s.now())); err != nil {
				return err
			}
		}
		if err := addEvent(ctx, st, domain.MemberRemovedEvent(w.ID(), user, cur.Role, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "member.removed", "user", string(user), map[string]string{"role": cur.Role.String()})
	})
	if err != nil {
		return err
	}
	s.creds.forgetWhere(func(c domain.Principal) bool { return slices.Contains(revoked, c.APIKey()) })
	s.reload(ctx)
	return nil
}
