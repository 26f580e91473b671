package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// pipeline is a PostgreSQL write transaction that holds back the inserts
// whose outcome nobody reads (insertLater) and sends them, when the
// transaction next reads, writes otherwise or commits, as one statement: a
// WITH of data-modifying statements. Each statement costs a round trip to
// the server and a bind and execute there, so a submission's four inserts
// (the submission, its change-feed event and its two messages) cost one
// instead of four.
//
// The rows are in place before any later statement of the transaction
// runs, so reads see them as before; foreign keys between rows of one
// flush hold, as PostgreSQL checks them at the end of the whole
// statement. An insert's failure surfaces at the flush: as the error of
// the statement that caused it, and always at commit (WithinTx).
type pipeline struct {
	tx      querier // the transaction; in a shared batch before it begins one, the pool (sharedtx.go)
	pending []heldInsert
	// events counts the held inserts into events: the sub-statements of
	// one WITH run in no order that PostgreSQL promises, and the feed is
	// ordered by the sequence its inserts draw, so two never share one.
	events int
	// err is the first failed flush's error: the transaction is aborted
	// by then, and every later statement fails for that reason alone.
	err error
}

// heldInsert is an INSERT statement with PostgreSQL's $n placeholders.
type heldInsert struct {
	query string
	args  []any
}

// maxHeldInserts bounds one flush; PostgreSQL allows 65,535 parameters in
// a statement, and no transaction holds back nearly this many.
const maxHeldInserts = 32

func (p *pipeline) add(ctx context.Context, query string, args []any, event bool) error {
	if event && p.events > 0 || len(p.pending) == maxHeldInserts {
		if err := p.flush(ctx); err != nil {
			return err
		}
	}
	p.pending = append(p.pending, heldInsert{query: query, args: args})
	if event {
		p.events++
	}
	return nil
}

// flush sends the held inserts, one alone as it is.
func (p *pipeline) flush(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	if len(p.pending) == 0 {
		return nil
	}
	query, args := p.pending[0].query, p.pending[0].args
	if len(p.pending) > 1 {
		query, args = withStatement(p.pending)
	}
	p.pending, p.events = p.pending[:0], 0
	if _, err := p.tx.ExecContext(ctx, query, args...); err != nil {
		p.err = fmt.Errorf("held inserts: %w", err)
		return p.err
	}
	return nil
}

// withStatement joins inserts into one statement: all but the last as
// the WITH's sub-statements, the last as its main statement, each one's
// placeholders renumbered after those before it.
func withStatement(ins []heldInsert) (string, []any) {
	var b strings.Builder
	var args []any
	for i, in := range ins {
		switch {
		case i == 0:
			b.WriteString("WITH h0 AS (")
		case i < len(ins)-1:
			b.WriteString("), h" + strconv.Itoa(i) + " AS (")
		default:
			b.WriteString(") ")
		}
		renumber(&b, in.query, len(args))
		args = append(args, in.args...)
	}
	return b.String(), args
}

// renumber writes query with each placeholder $n as $(n+offset). The
// held statements are Keel's own, with no $ anywhere but in placeholders.
func renumber(b *strings.Builder, query string, offset int) {
	for {
		i := strings.IndexByte(query, '$')
		if i < 0 {
			b.WriteString(query)
			return
		}
		b.WriteString(query[:i+1])
		query = query[i+1:]
		j := 0
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(query[:j])
		b.WriteString(strconv.Itoa(n + offset))
		query = query[j:]
	}
}

func (p *pipeline) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.tx.ExecContext(ctx, query, args...)
}

func (p *pipeline) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext cannot return a flush's error itself, but the
// transaction is aborted then, so the row's Scan fails, and WithinTx
// reports the flush's error.
func (p *pipeline) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	_ = p.flush(ctx)
	return p.tx.QueryRowContext(ctx, query, args...)
}

// insertHolder is a querier that can hold inserts back: a pipeline, or one
// call's view of a shared transaction (sharedQuerier).
type insertHolder interface {
	add(ctx context.Context, query string, args []any, event bool) error
}

// insertLater runs an INSERT whose outcome the caller does not read: held
// back in a PostgreSQL write transaction (pipeline), at once elsewhere.
// event marks an insert into events. query has ? placeholders.
func (s *stores) insertLater(ctx context.Context, query string, event bool, args ...any) error {
	query = s.d.rebind(query)
	if h, ok := s.q.(insertHolder); ok {
		return h.add(ctx, query, args, event)
	}
	_, err := s.q.ExecContext(ctx, query, args...)
	return err
}
