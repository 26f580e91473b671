// Package authz checks who may call each /v1 route: a matrix of every route
// the router serves against every kind of caller, each cell the status the
// README's access rules promise, run over SQLite and PostgreSQL through the
// real HTTP adapter, identity service, Casbin authorizer and sqlstore.
package authz

import (
	"context"
	"os"
	"testing"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.SetDefaults()
	code := m.Run()
	_ = testdb.Stop()
	os.Exit(code)
}

// migrate prepares the template database that every PostgreSQL fixture
// clones.
func migrate(ctx context.Context, url string) error {
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Migrate(ctx)
	return err
}
