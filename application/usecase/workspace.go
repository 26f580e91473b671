package usecase

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Workspace finds the workspace a path names by ID or slug and checks that
// p holds perm there. Anonymous callers get domain.ErrUnauthenticated; a
// workspace p has no access to is reported exactly like one that does not
// exist (domain.ErrNotFound), so its existence is not revealed. Every
// context's workspace-scoped use cases start with it.
func Workspace(ctx context.Context, st ports.Stores, authz ports.Authorizer, p domain.Principal, ref string, perm domain.Permission) (domain.Workspace, error) {
	if p.IsAnonymous() {
		return domain.Workspace{}, domain.ErrUnauthenticated
	}
	var (
		w   domain.Workspace
		err error
	)
	if domain.ValidID(domain.PrefixWorkspace, ref) {
		w, err = st.Workspaces().Get(ctx, domain.WorkspaceID(ref))
	} else if _, perr := domain.ParseSlug(ref); perr == nil {
		w, err = st.Workspaces().GetBySlug(ctx, ref)
	} else {
		err = domain.ErrNotFound
	}
	if err != nil {
		return domain.Workspace{}, err
	}
	if err := authz.Authorize(ctx, p, w.ID(), perm); err != nil {
		return domain.Workspace{}, err
	}
	return w, nil
}

// Audit appends an event describing what p just did, inside the caller's
// transaction, so the record commits with the change or not at all.
func Audit(ctx context.Context, st ports.Stores, p domain.Principal, ws domain.WorkspaceID, action, targetKind, targetID string, details map[string]string, now time.Time) error {
	kind, id := p.Actor()
	e := domain.NewAuditEvent(domain.AuditEvent{
		Workspace: ws, ActorKind: kind, ActorID: id, Action: action,
		TargetKind: targetKind, TargetID: targetID,
		IP: p.Client().IP, UserAgent: p.Client().UserAgent, Details: details,
	}, now)
	if err := st.Audit().Add(ctx, e); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}
