// Package messaging delivers what the transactional outbox holds. Use
// cases in other contexts queue mail in their own transaction
// (ports.OutboxStore.Add); a Dispatcher sends it after commit, retries
// temporary failures with backoff and keeps every attempt. The Service
// lets workspace administrators see the outbox and retry what failed.
package messaging

import (
	"context"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Config holds the messaging service's dependencies.
type Config struct {
	UoW        ports.UnitOfWork
	Authorizer ports.Authorizer
	Clock      ports.Clock
	// EventRetention is how long the change feed keeps an event; 0 keeps
	// events forever.
	EventRetention time.Duration
	// AllowHTTP accepts http:// webhook URLs as well as https:// ones:
	// for development and tests against a local receiver
	// (KEEL_WEBHOOK_ALLOW_HTTP).
	AllowHTTP bool
	// Wake, when set, is called after a retry, a webhook test or a
	// redelivery commits, so that a dispatcher in this process sends at
	// once rather than at its next poll (Dispatcher.Wake).
	Wake func()
}

// Service runs the messaging use cases.
type Service struct {
	uow            ports.UnitOfWork
	authz          ports.Authorizer
	clock          ports.Clock
	wake           func()
	eventRetention time.Duration
	allowHTTP      bool
}

// NewService wires the messaging use cases.
func NewService(cfg Config) *Service {
	wake := cfg.Wake
	if wake == nil {
		wake = func() {}
	}
	return &Service{uow: cfg.UoW, authz: cfg.Authorizer, clock: cfg.Clock, wake: wake, eventRetention: cfg.EventRetention, allowHTTP: cfg.AllowHTTP}
}

func (s *Service) now() time.Time { return s.clock.Now() }

// workspace resolves and authorizes a workspace reference; see
// usecase.Workspace.
func (s *Service) workspace(ctx context.Context, st ports.Stores, p domain.Principal, ref string, perm domain.Permission) (domain.Workspace, error) {
	return usecase.Workspace(ctx, st, s.authz, p, ref, perm)
}

// audit records what p just did in the caller's transaction; see
// usecase.Audit.
func (s *Service) audit(ctx context.Context, st ports.Stores, p domain.Principal, ws domain.WorkspaceID, action, targetKind, targetID string, details map[string]string) error {
	return usecase.Audit(ctx, st, p, ws, action, targetKind, targetID, details, s.now())
}
