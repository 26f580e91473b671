package sqlstore_test

import (
	"regexp"
	"testing"

	"github.com/keelhq/keel/adapters/sqlstore"
)

// TestPruneQueriesUseIndexes checks that pruning sent mail reads a range of
// the (status, next_attempt_at) index rather than every sent message: a
// batch must cost about the rows it deletes, or pruning a large outbox
// would hold SQLite's writer, and every writer queued behind it, for a
// scan.
func TestPruneQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	engines := map[string]struct {
		open func(*testing.T) *sqlstore.DB
		want *regexp.Regexp // the index, searched by status and a range of next_attempt_at
	}{
		"sqlite":   {openSQLite, regexp.MustCompile(`USING INDEX outbox_messages_due \(status=\? AND next_attempt_at<\?\)`)},
		"postgres": {openPostgres, regexp.MustCompile(`Index Scan using outbox_messages_due on outbox_messages\b.*\n\s*Index Cond: \(\(status = 'sent'::text\) AND \(next_attempt_at < `)},
	}
	for name, e := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			plan, err := e.open(t).PrunePlan(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !e.want.MatchString(plan) {
				t.Errorf("plan of DeleteSentBefore does not search outbox_messages_due by status and next_attempt_at:\n%s", plan)
			}
		})
	}
}
