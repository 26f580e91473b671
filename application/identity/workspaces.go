package identity

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// CreateWorkspaceInput names a new workspace. MailFrom is the sender of
// its mail; "" uses the instance's.
type CreateWorkspaceInput struct {
	Name, Slug string
	MailFrom   string
	// PublicOrigins may read the public content API; nil keeps the
	// default, any origin.
	PublicOrigins *[]string
}

// CreateWorkspace creates a workspace whose first owner is the caller. Any
// logged-in person may; API keys may not.
func (s *Service) CreateWorkspace(ctx context.Context, p domain.Principal, in CreateWorkspaceInput) (_ domain.Workspace, err error) {
	ctx, end := usecase.Start(ctx, "identity.CreateWorkspace")
	defer end(&err)
	if err := requireUser(p); err != nil {
		return domain.Workspace{}, err
	}
	w, err := domain.NewWorkspace(in.Name, in.Slug, s.now())
	if err != nil {
		return domain.Workspace{}, err
	}
	if err := w.Update(domain.WorkspaceChange{MailFrom: &in.MailFrom, PublicOrigins: in.PublicOrigins}); err != nil {
		return domain.Workspace{}, err
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if err := st.Workspaces().Add(ctx, w); err != nil {
			return err
		}
		m := domain.Membership{Workspace: w.ID(), User: p.User(), Role: domain.RoleOwner, CreatedAt: domain.Timestamp(s.now())}
		if err := st.Memberships().Add(ctx, m); err != nil {
			return fmt.Errorf("add owner: %w", err)
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "workspace.created", "workspace", string(w.ID()), map[string]string{"slug": w.Slug()})
	})
	if err != nil {
		return domain.Workspace{}, err
	}
	return w, s.reload(ctx)
}

// ListWorkspaces lists the caller's workspaces: a person's memberships, or
// an API key's own workspace.
func (s *Service) ListWorkspaces(ctx context.Context, p domain.Principal, page ports.Page) (_ []domain.Workspace, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ListWorkspaces")
	defer end(&err)
	var ws []domain.Workspace
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		switch p.Kind() {
		case domain.UserPrincipal:
			ws, next, err = st.Workspaces().ListForUser(ctx, p.User(), page)
			return err
		case domain.APIKeyPrincipal:
			w, err := s.workspace(ctx, st, p, string(p.KeyWorkspace()), domain.PermWorkspaceRead)
			if err != nil {
				return err
			}
			ws = []domain.Workspace{w}
			return nil
		}
		return domain.ErrUnauthenticated
	})
	return ws, next, err
}

// GetWorkspace returns a workspace by ID or slug.
func (s *Service) GetWorkspace(ctx context.Context, p domain.Principal, ref string) (_ domain.Workspace, err error) {
	ctx, end := usecase.Start(ctx, "identity.GetWorkspace")
	defer end(&err)
	var w domain.Workspace
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		w, err = s.workspace(ctx, st, p, ref, domain.PermWorkspaceRead)
		return err
	})
	return w, err
}

// UpdateWorkspaceInput changes a workspace's settings; nil fields stay as
// they are, and a MailFrom of "" returns to the instance's sender.
type UpdateWorkspaceInput struct {
	Ref           string
	Name, Slug    *string
	MailFrom      *string
	PublicOrigins *[]string
}

// UpdateWorkspace renames a workspace, changes its slug or the sender of
// its mail (admins, owners).
func (s *Service) UpdateWorkspace(ctx context.Context, p domain.Principal, in UpdateWorkspaceInput) (_ domain.Workspace, err error) {
	ctx, end := usecase.Start(ctx, "identity.UpdateWorkspace")
	defer end(&err)
	var w domain.Workspace
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if w, err = s.workspace(ctx, st, p, in.Ref, domain.PermWorkspaceWrite); err != nil {
			return err
		}
		before := w
		if err := w.Update(domain.WorkspaceChange{Name: in.Name, Slug: in.Slug, MailFrom: in.MailFrom, PublicOrigins: in.PublicOrigins}); err != nil {
			return err
		}
		if err := st.Workspaces().Update(ctx, w); err != nil {
			return err
		}
		// The public API's cached responses are keyed by slug and carry
		// the CORS decision, and feeds show the name.
		if w.Slug() != before.Slug() || w.Name() != before.Name() || !slices.Equal(w.PublicOrigins(), before.PublicOrigins()) {
			if err := publicContentChanged(ctx, st); err != nil {
				return err
			}
		}
		return s.audit(ctx, st, p, w.ID(), "workspace.updated", "workspace", string(w.ID()), map[string]string{
			"name": w.Name(), "slug": w.Slug(), "mail_from": w.MailFrom(), "public_origins": strings.Join(w.PublicOrigins(), " "),
		})
	})
	return w, err
}

// DeleteWorkspace deletes a workspace with everything in it (owners only).
// Its audit events are kept.
func (s *Service) DeleteWorkspace(ctx context.Context, p domain.Principal, ref string) (err error) {
	ctx, end := usecase.Start(ctx, "identity.DeleteWorkspace")
	defer end(&err)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermWorkspaceDelete)
		if err != nil {
			return err
		}
		if err := st.Workspaces().Delete(ctx, w.ID()); err != nil {
			return fmt.Errorf("delete workspace: %w", err)
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		if err := publicContentChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "workspace.deleted", "workspace", string(w.ID()), map[string]string{"slug": w.Slug()})
	})
	if err != nil {
		return err
	}
	return s.reload(ctx)
}

// publicContentChanged tells every node's public content cache, in the
// caller's transaction, that what it holds may be stale.
func publicContentChanged(ctx context.Context, st ports.Stores) error {
	if _, err := st.Instance().BumpCounter(ctx, ports.PublicContentCounter); err != nil {
		return fmt.Errorf("bump %s: %w", ports.PublicContentCounter, err)
	}
	return nil
}
