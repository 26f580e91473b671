// Package messaging delivers what the transactional outbox holds. Use
// cases in other contexts queue mail in their own transaction
// (ports.OutboxStore.Add); a Dispatcher sends it after commit, retries
// temporary failures with backoff and keeps every attempt. The Service
// lets workspace administrators see the outbox and retry what failed.
package messaging

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Config holds the messaging service's dependencies.
type Config struct {
	UoW        ports.UnitOfWork
	Authorizer ports.Authorizer
	Clock      ports.Clock
	// Wake, when set, is called after a retry commits, so that a
	// dispatcher in this process sends the message at once rather than at
	// its next poll (Dispatcher.Wake).
	Wake func()
}

// Service runs the messaging use cases.
type Service struct {
	uow   ports.UnitOfWork
	authz ports.Authorizer
	clock ports.Clock
	wake  func()
}

// NewService wires the messaging use cases.
func NewService(cfg Config) *Service {
	wake := cfg.Wake
	if wake == nil {
		wake = func() {}
	}
	return &Service{uow: cfg.UoW, authz: cfg.Authorizer, clock: cfg.Clock, wake: wake}
}

func (s *Service) now() time.Time { return s.clock.Now() }

// workspace finds the workspace a path names by ID or slug and checks that
// p holds perm there. A workspace p has no access to is reported exactly
// like one that does not exist. (The same rule as the identity context's;
// contexts do not import each other.)
func (s *Service) workspace(ctx context.Context, st ports.Stores, p domain.Principal, ref string, perm domain.Permission) (domain.Workspace, error) {
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
	if err := s.authz.Authorize(ctx, p, w.ID(), perm); err != nil {
		return domain.Workspace{}, err
	}
	return w, nil
}

// audit appends an event describing what p just did, inside the caller's
// transaction, so the record commits with the change or not at all.
func (s *Service) audit(ctx context.Context, st ports.Stores, p domain.Principal, ws domain.WorkspaceID, action, targetKind, targetID string, details map[string]string) error {
	kind, id := p.Actor()
	e := domain.NewAuditEvent(domain.AuditEvent{
		Workspace: ws, ActorKind: kind, ActorID: id, Action: action,
		TargetKind: targetKind, TargetID: targetID,
		IP: p.Client().IP, UserAgent: p.Client().UserAgent, Details: details,
	}, s.now())
	if err := st.Audit().Add(ctx, e); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}
