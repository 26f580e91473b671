package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PrunePlan returns the engine's plan of a pruning statement, "sent" for
// DeleteSentBefore's and "deliveries" for the one retention deletes ended
// webhook deliveries with, one line per step. PostgreSQL is told to avoid
// sequential scans, since on a test's few rows it would rightly prefer
// one: the plan then shows whether an index can serve the statement,
// which is what a large table needs.
func (db *DB) PrunePlan(ctx context.Context, which string) (string, error) {
	query, args := deleteSentQuery(db.d), []any{time.Now(), time.Now(), 500}
	if which == "deliveries" {
		query, args = deleteEndedQuery(db.d), []any{idBefore("dlv", time.Now()), time.Now(), 500}
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback() }()
	explain := "EXPLAIN "
	if db.d.name() == "sqlite" {
		explain = "EXPLAIN QUERY PLAN "
	} else if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		return "", err
	}
	rows, err := tx.QueryContext(ctx, explain+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		lines = append(lines, fmt.Sprint(vals[len(vals)-1])) // the step's text
	}
	return strings.Join(lines, "\n"), rows.Err()
}
