// Package authz checks who may call each /v1 route: a matrix of every route
// the router serves against every kind of caller, each cell the status the
// README's access rules promise, run over SQLite and PostgreSQL through the
// real HTTP adapter, identity service, Casbin authorizer and sqlstore.
package authz

import (
	"testing"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.Main(m, testdb.Stop)
}
