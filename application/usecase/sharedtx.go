package usecase

import (
	"context"

	"github.com/keelhq/keel/ports"
)

// SharedTx returns uow's WithinSharedTx where the storage offers it
// (ports.SharedUnitOfWork), and its WithinTx otherwise: for a transaction
// that only reads and adds or updates its own rows, and may then share a
// commit with others that end together (on PostgreSQL one flush of the
// log for all of them).
func SharedTx(uow ports.UnitOfWork) func(context.Context, func(context.Context, ports.Stores) error) error {
	if shared, ok := uow.(ports.SharedUnitOfWork); ok {
		return shared.WithinSharedTx
	}
	return uow.WithinTx
}
