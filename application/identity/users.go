package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Me is the caller and where they belong.
type Me struct {
	User        domain.User
	Memberships []MembershipView
}

// MembershipView is a membership with its workspace.
type MembershipView struct {
	Workspace domain.Workspace
	Role      domain.Role
}

// Me returns the logged-in user and their memberships. API keys have no
// "me": they get domain.ErrForbidden.
func (s *Service) Me(ctx context.Context, p domain.Principal) (_ Me, err error) {
	ctx, end := usecase.Start(ctx, "identity.Me")
	defer end(&err)
	if err := requireUser(p); err != nil {
		return Me{}, err
	}
	var me Me
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if me.User, err = st.Users().Get(ctx, p.User()); err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		ms, err := st.Memberships().ListForUser(ctx, p.User())
		if err != nil {
			return fmt.Errorf("list memberships: %w", err)
		}
		for _, m := range ms {
			w, err := st.Workspaces().Get(ctx, m.Workspace)
			if err != nil {
				return fmt.Errorf("load workspace %s: %w", m.Workspace, err)
			}
			me.Memberships = append(me.Memberships, MembershipView{Workspace: w, Role: m.Role})
		}
		return nil
	})
	return me, err
}

// requireUser refuses anonymous callers (401) and API keys (403): some
// things only people do.
func requireUser(p domain.Principal) error {
	switch p.Kind() {
	case domain.UserPrincipal:
		return nil
	case domain.APIKeyPrincipal:
		return domain.ErrForbidden.WithMessage("Only people can do this, not API keys.")
	}
	return domain.ErrUnauthenticated
}

func requireInstanceAdmin(p domain.Principal) error {
	if err := requireUser(p); err != nil {
		return err
	}
	if !p.IsInstanceAdmin() {
		return domain.ErrForbidden.WithMessage("Only instance administrators can do this.")
	}
	return nil
}

// CreateUserInput creates a user account.
type CreateUserInput struct {
	Email, Password, Name string
	InstanceAdmin         bool
}

// CreateUser creates an account; instance administrators only.
func (s *Service) CreateUser(ctx context.Context, p domain.Principal, in CreateUserInput) (_ domain.User, err error) {
	ctx, end := usecase.Start(ctx, "identity.CreateUser")
	defer end(&err)
	if err := requireInstanceAdmin(p); err != nil {
		return domain.User{}, err
	}
	return s.createUser(ctx, p, in)
}

// CreateUserFromCLI creates an account from the command line (keel admin
// create), which runs with the operator's authority over the database.
func (s *Service) CreateUserFromCLI(ctx context.Context, in CreateUserInput) (_ domain.User, err error) {
	ctx, end := usecase.Start(ctx, "identity.CreateUserFromCLI")
	defer end(&err)
	return s.createUser(ctx, domain.AnonymousPrincipal.WithClient(domain.Client{UserAgent: "keel admin create"}), in)
}

func (s *Service) createUser(ctx context.Context, p domain.Principal, in CreateUserInput) (domain.User, error) {
	if _, err := s.checkAccount(in.Email, in.Name, in.Password); err != nil {
		return domain.User{}, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return domain.User{}, fmt.Errorf("hash password: %w", err)
	}
	u, err := domain.NewUser(domain.NewUserInput{Email: in.Email, Name: in.Name, PasswordHash: hash, InstanceAdmin: in.InstanceAdmin}, s.now())
	if err != nil {
		return domain.User{}, err
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if err := st.Users().Add(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, st, p, "", "user.created", "user", string(u.ID()), map[string]string{"email": u.Email().String()})
	})
	return u, err
}

// checkAccount validates a new account's e-mail, name and password, all
// before any hashing or transaction, and reports every invalid field at
// once. The password is checked against the e-mail and name as typed
// when they do not parse.
func (s *Service) checkAccount(email, name, password string) (domain.User, error) {
	var fields []domain.FieldError
	u, err := domain.NewUser(domain.NewUserInput{Email: email, Name: name}, s.now())
	var de *domain.Error
	if errors.As(err, &de) {
		fields = append(fields, de.Fields...)
	} else if err != nil {
		return domain.User{}, err
	}
	if err := domain.CheckPassword("password", password, domain.Email(strings.ToLower(strings.TrimSpace(email))), name); errors.As(err, &de) {
		fields = append(fields, de.Fields...)
	} else if err != nil {
		return domain.User{}, err
	}
	if len(fields) > 0 {
		return domain.User{}, domain.Invalid(fields...)
	}
	return u, nil
}

// ListUsers lists every account; instance administrators only.
func (s *Service) ListUsers(ctx context.Context, p domain.Principal, page ports.Page) (_ []domain.User, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ListUsers")
	defer end(&err)
	if err := requireInstanceAdmin(p); err != nil {
		return nil, "", err
	}
	var users []domain.User
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		users, next, err = st.Users().List(ctx, page)
		return err
	})
	return users, next, err
}

// UpdateUserInput changes an account; nil fields stay as they are.
type UpdateUserInput struct {
	ID     domain.UserID
	Status *domain.UserStatus
	// CanCreateWorkspaces grants or withdraws the leave to create
	// workspaces, which matters when only administrators may.
	CanCreateWorkspaces *bool
}

// UpdateUser disables or re-enables an account, or lets it create
// workspaces; instance administrators only. Disabling ends the user's sessions at once and makes their API
// keys unusable. Administrators cannot disable themselves, which would
// lock an instance with one administrator out.
func (s *Service) UpdateUser(ctx context.Context, p domain.Principal, in UpdateUserInput) (_ domain.User, err error) {
	ctx, end := usecase.Start(ctx, "identity.UpdateUser")
	defer end(&err)
	if err := requireInstanceAdmin(p); err != nil {
		return domain.User{}, err
	}
	var u domain.User
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if u, err = st.Users().Get(ctx, in.ID); err != nil {
			return err
		}
		if c := in.CanCreateWorkspaces; c != nil && *c != u.CanCreateWorkspaces() {
			u.SetCanCreateWorkspaces(*c)
			if err := st.Users().Update(ctx, u); err != nil {
				return fmt.Errorf("save user: %w", err)
			}
			action := "user.workspace_creation_allowed"
			if !*c {
				action = "user.workspace_creation_withdrawn"
			}
			if err := s.audit(ctx, st, p, "", action, "user", string(u.ID()), nil); err != nil {
				return err
			}
		}
		if in.Status == nil || *in.Status == u.Status() {
			return nil
		}
		if u.ID() == p.User() && *in.Status == domain.UserDisabled {
			return domain.E(domain.KindConflict, "cannot_disable_self", "You cannot disable your own account.")
		}
		u.SetStatus(*in.Status)
		if err := st.Users().Update(ctx, u); err != nil {
			return fmt.Errorf("save user: %w", err)
		}
		action := "user.enabled"
		if *in.Status == domain.UserDisabled {
			action = "user.disabled"
			if err := st.Sessions().RevokeUser(ctx, u.ID()); err != nil {
				return fmt.Errorf("revoke sessions: %w", err)
			}
		}
		if err := credentialsChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, p, "", action, "user", string(u.ID()), nil)
	})
	if err == nil {
		s.creds.forgetWhere(func(c domain.Principal) bool { return c.User() == u.ID() })
	}
	return u, err
}

// NeedsSetup reports whether the instance has no users yet, so the server
// can say how to create the first administrator.
func (s *Service) NeedsSetup(ctx context.Context) (_ bool, err error) {
	ctx, end := usecase.Start(ctx, "identity.NeedsSetup")
	defer end(&err)
	var exists bool
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		exists, err = st.Users().Any(ctx)
		return err
	})
	return !exists, err
}
