// Package system holds the use cases about the installation itself: its
// identity and whether it is ready to serve.
package system

import (
	"context"
	"errors"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Service runs the system use cases.
type Service struct {
	uow     ports.UnitOfWork
	ping    ports.Pinger
	clock   ports.Clock
	backups ports.BackupLog // nil: no scheduled backups to list
}

// NewService wires the system use cases to their ports.
func NewService(uow ports.UnitOfWork, ping ports.Pinger, clock ports.Clock, opts ...Option) *Service {
	s := &Service{uow: uow, ping: ping, clock: clock}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Instance returns the installation's identity, creating it on the very
// first call against a new database. Every node gets the same answer.
// Once the instance exists, which is every call but a fresh install's
// first, it is only read, on the read path: on SQLite a write transaction
// would queue behind every writer for a value that never changes.
func (s *Service) Instance(ctx context.Context) (inst domain.Instance, err error) {
	ctx, end := usecase.Start(ctx, "system.Instance")
	defer end(&err)
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		inst, err = st.Instance().Get(ctx)
		return err
	})
	if !errors.Is(err, domain.ErrNotFound) {
		return inst, err
	}
	// Ensure, not an insert: another node, or a concurrent request, may
	// store its instance between the read above and this transaction, and
	// everyone must agree on the one stored first.
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		inst, err = st.Instance().Ensure(ctx, domain.NewInstance(s.clock.Now()))
		return err
	})
	return inst, err
}

// readyTimeout bounds a readiness check: a database that keeps its
// connections but does not answer (a frozen server, packets dropped) must
// make the node unready within a load balancer's probe timeout, rather
// than hang the probe as long as the database hangs.
const readyTimeout = 2 * time.Second

// Ready returns nil when the node can serve requests, and a
// domain.KindUnavailable error naming no internals when it cannot,
// within readyTimeout.
func (s *Service) Ready(ctx context.Context) (err error) {
	ctx, end := usecase.Start(ctx, "system.Ready")
	defer end(&err)
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return s.ping.Ping(ctx)
}
