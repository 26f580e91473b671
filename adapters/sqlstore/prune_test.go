package sqlstore_test

import (
	"regexp"
	"testing"

	"github.com/keelhq/keel/adapters/sqlstore"
)

// TestPruneQueriesUseIndexes checks that pruning reads a range of an index
// rather than the whole table: sent mail a range of the (status,
// next_attempt_at) index, ended webhook deliveries each endpoint's range
// of their key. A batch must cost about the rows it deletes, or pruning a
// large table would hold SQLite's writer, and every writer queued behind
// it, for a scan.
func TestPruneQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	engines := map[string]struct {
		open func(*testing.T) *sqlstore.DB
		want map[string]*regexp.Regexp
	}{
		"sqlite": {openSQLite, map[string]*regexp.Regexp{
			"sent":       regexp.MustCompile(`USING INDEX outbox_messages_due \(status=\? AND next_attempt_at<\?\)`),
			"deliveries": regexp.MustCompile(`(?m)^SCAN w\b.*\n^SEARCH d USING PRIMARY KEY \(webhook_id=\? AND id<\?\)`),
		}},
		"postgres": {openPostgres, map[string]*regexp.Regexp{
			"sent": regexp.MustCompile(`Index Scan using outbox_messages_due on outbox_messages\b.*\n\s*Index Cond: \(\(status = 'sent'::text\) AND \(next_attempt_at < `),
			// With statistics PostgreSQL picks its own join order; either
			// way the key serves the ID bound.
			"deliveries": regexp.MustCompile(`(?s)webhook_deliveries_pkey.*Index Cond: \(+(webhook_id = .*\) AND \()?id < '`),
		}},
	}
	for name, e := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := e.open(t)
			for which, want := range e.want {
				plan, err := db.PrunePlan(t.Context(), which)
				if err != nil {
					t.Fatal(err)
				}
				if !want.MatchString(plan) {
					t.Errorf("plan of the %s pruning statement does not match %s:\n%s", which, want, plan)
				}
			}
		})
	}
}
