// Package authz checks who may call each /v1 route: a matrix of every route
// the router serves against every kind of caller, each cell the status the
// README's access rules promise, run over SQLite and PostgreSQL through the
// real HTTP adapter, identity service, Casbin authorizer and sqlstore.
package authz

import (
	"flag"
	"testing"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/testdb"
)

// cellsAtOnce is how many cells run at once unless -parallel says
// otherwise. A cell mostly waits for its copy of a template database (a
// CREATE DATABASE on PostgreSQL, one after the other) rather than
// computing, so go test's default of one per CPU left the machine idle:
// on two CPUs the package took 268 s with 8 at once against 932 s with 2,
// for the same 142 s of CPU.
const cellsAtOnce = "8"

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", cellsAtOnce); err != nil {
			panic(err)
		}
	}
	containers.Main(m, testdb.Stop)
}
