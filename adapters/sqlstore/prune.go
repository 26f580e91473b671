package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
)

// DeleteSentBefore deletes one batch of old sent mail. A sent message's
// next_attempt_at is the due time of its last attempt, which came at or
// before it was sent, so the condition on it only narrows the range read
// from the (status, next_attempt_at) index to the messages due before t;
// sent_at decides. A batch thus reads about the rows it deletes, however
// many newer messages the table holds, and no index is added for it.
// On PostgreSQL the subquery skips rows another pruner holds, so that two
// nodes pruning at once take different rows rather than wait for each
// other.
func (s outboxStore) DeleteSentBefore(ctx context.Context, t time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	t = domain.Timestamp(t)
	res, err := s.q.ExecContext(ctx, deleteSentQuery(s.d), t, t, limit)
	if err != nil {
		return 0, fmt.Errorf("delete mail sent before %s: %w", t, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete mail sent before %s: rows affected: %w", t, err)
	}
	return int(n), nil
}

// deleteSentQuery is DeleteSentBefore's statement, which takes the cutoff
// twice and the limit; TestPruneQueriesUseIndexes reads its plan.
func deleteSentQuery(d dialect) string {
	return d.rebind(`DELETE FROM outbox_messages WHERE id IN (
		SELECT id FROM outbox_messages WHERE status = 'sent' AND next_attempt_at < ? AND sent_at < ?
		ORDER BY next_attempt_at LIMIT ?` + d.skipLocked() + `)`)
}
