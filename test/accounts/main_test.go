// Package accounts checks the account flows end to end: the keel binary on
// PostgreSQL, its mail over SMTP to Mailpit, and the links in that mail
// used as a person would use them.
package accounts

import (
	"os"
	"testing"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/mailpit"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.SetDefaults()
	code := m.Run()
	_ = testdb.Stop()
	_ = mailpit.Stop()
	_ = keelproc.RemoveBinary()
	os.Exit(code)
}
