package keelproc

import (
	"os"
	"testing"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/mailpit"
	"github.com/keelhq/keel/test/testdb"
)

// Main is the TestMain of a package that runs the keel binary against
// shared containers: it sets testcontainers' defaults, runs the tests,
// then stops the PostgreSQL and Mailpit containers the package started
// and removes the binary it built, and exits with the tests' status.
func Main(m *testing.M) {
	containers.SetDefaults()
	code := m.Run()
	_ = testdb.Stop()
	_ = mailpit.Stop()
	_ = RemoveBinary()
	os.Exit(code)
}
