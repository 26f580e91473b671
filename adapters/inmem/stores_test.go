package inmem_test

import (
	"testing"

	"github.com/keelhq/keel/adapters/inmem"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/ports/porttest"
)

func TestStores(t *testing.T) {
	porttest.Stores(t, func(*testing.T) ports.UnitOfWork { return inmem.NewDB() })
}
