package bootstrap

import (
	"testing"

	"github.com/spf13/pflag"
)

// TestRateLimitStore: the limits are shared on PostgreSQL unless told
// local, never on SQLite, and any other store is refused by name.
func TestRateLimitStore(t *testing.T) {
	const pg = "postgres://keel@127.0.0.1/keel"
	for _, c := range []struct {
		url, store string
		shared     bool
		fails      bool
	}{
		{pg, "", true, false},
		{"postgresql://keel@127.0.0.1/keel", "", true, false},
		{pg, "postgres", true, false},
		{pg, "local", false, false},
		{"", "", false, false},
		{"sqlite:/tmp/keel.db", "local", false, false},
		{"sqlite:/tmp/keel.db", "postgres", false, true},
		{pg, "redis", false, true},
	} {
		rc, err := loadRateLimitConfig(pflag.NewFlagSet("t", pflag.ContinueOnError),
			env(map[string]string{"KEEL_DATABASE_URL": c.url, "KEEL_RATE_LIMIT_STORE": c.store}))
		if (err != nil) != c.fails || rc.shared != c.shared {
			t.Errorf("KEEL_DATABASE_URL=%q KEEL_RATE_LIMIT_STORE=%q: shared %v, err %v; want shared %v, failing %v", c.url, c.store, rc.shared, err, c.shared, c.fails)
		}
	}
}
