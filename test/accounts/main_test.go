// Package accounts checks the account flows end to end: the keel binary on
// PostgreSQL, its mail over SMTP to Mailpit, and the links in that mail
// used as a person would use them.
package accounts

import (
	"testing"

	"github.com/keelhq/keel/test/keelproc"
)

func TestMain(m *testing.M) {
	keelproc.Main(m)
}
