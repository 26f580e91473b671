// Package content holds the use cases of posts and pages: what editors
// write, revise, schedule and publish, the scheduler that publishes on
// time, and the public reads that serve published content to browsers.
package content

import (
	"context"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Config holds the content service's dependencies.
type Config struct {
	UoW        ports.UnitOfWork
	Authorizer ports.Authorizer
	Clock      ports.Clock
	Renderer   ports.Renderer
	// PublicChanged, if set, is called after a commit that changed public
	// content, so this node's cache forgets it at once; other nodes learn
	// it from PublicCounter.
	PublicChanged func()
}

// Service runs the content use cases.
type Service struct {
	uow     ports.UnitOfWork
	authz   ports.Authorizer
	clock   ports.Clock
	render  ports.Renderer
	changed func()
}

// NewService wires the content use cases.
func NewService(cfg Config) *Service {
	if cfg.PublicChanged == nil {
		cfg.PublicChanged = func() {}
	}
	return &Service{uow: cfg.UoW, authz: cfg.Authorizer, clock: cfg.Clock, render: cfg.Renderer, changed: cfg.PublicChanged}
}

func (s *Service) now() time.Time { return s.clock.Now() }

var errNoSuchEntry = domain.ErrNotFound.WithMessage("No such entry.")

// getEntry reads an entry of ws, treating a malformed ID as absent.
func getEntry(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, id domain.EntryID) (domain.Entry, error) {
	if !domain.ValidID(domain.PrefixEntry, string(id)) {
		return domain.Entry{}, errNoSuchEntry
	}
	return st.Entries().Get(ctx, ws, id)
}

// entryToWrite authorizes p to write content in the workspace and reads
// the entry, refusing a stale ifMatch: the start of every write.
func (s *Service) entryToWrite(ctx context.Context, st ports.Stores, p domain.Principal, wsRef string, id domain.EntryID, ifMatch *int) (domain.Entry, error) {
	w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentWrite)
	if err != nil {
		return domain.Entry{}, err
	}
	e, err := getEntry(ctx, st, w.ID(), id)
	if err != nil {
		return domain.Entry{}, err
	}
	return e, checkVersion(e, ifMatch)
}

// checkVersion refuses a write based on a stale read: ifMatch is the
// version the client last saw, nil when it sent no If-Match.
func checkVersion(e domain.Entry, ifMatch *int) error {
	if ifMatch != nil && *ifMatch != e.Version() {
		return domain.ErrVersionConflict
	}
	return nil
}

// publicChange records, in the caller's transaction, that the public API
// must forget what it cached.
func publicChange(ctx context.Context, st ports.Stores) error {
	_, err := st.Instance().BumpCounter(ctx, ports.PublicContentCounter)
	return err
}

// workspace resolves and authorizes a workspace reference; see
// usecase.Workspace.
func (s *Service) workspace(ctx context.Context, st ports.Stores, p domain.Principal, ref string, perm domain.Permission) (domain.Workspace, error) {
	return usecase.Workspace(ctx, st, s.authz, p, ref, perm)
}
