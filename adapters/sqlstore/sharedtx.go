package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keelhq/keel/ports"
)

// Shared transactions on PostgreSQL (WithinSharedTx).
//
// On PostgreSQL a small write transaction costs more in statements than in
// work: BEGIN, COMMIT with its WAL flush, and a round trip, a bind and an
// execute for each statement between them, each paid by Keel and by the
// server in CPU (BENCHMARKS.md, "What the profiles say"). So concurrent
// WithinSharedTx calls share transactions, the way SQLite's group commit
// shares them (groupcommit.go, whose queue, leadership and turns this file
// reuses): the first caller leads, begins a transaction, runs its own fn
// and then the fn of each caller that queued meanwhile, one after the
// other, and commits once for all of them. Three things make a shared
// transaction cheaper than its calls alone, not merely fewer commits:
//
//   - No savepoints. Each call holds back its inserts (pipeline) until the
//     batch commits, so a call that fails before anything of its own
//     reached the server is undone by dropping what it holds, without a
//     statement; the held inserts of all the calls that succeeded go to
//     the server just before COMMIT as one statement, the rows of the
//     same table merged into one multi-row INSERT.
//   - Reads remembered. Within a batch, the reads that stores mark with
//     remember (a form's updated_at, a workspace's webhooks) are run once
//     per key and their result reused by the later calls, until any call
//     writes something other than a held insert. Every call of a batch
//     had started before the batch's first statement, so a remembered
//     read still happened while each call that uses it was in progress.
//   - No BEGIN and no COMMIT when none is needed. The transaction begins
//     with the first statement that is not a remembered read; a batch
//     of submissions has none, so its remembered reads run on the pool
//     and its held inserts, one statement, go alone: PostgreSQL runs a
//     statement outside a transaction block in a transaction of its
//     own, which stores all of it or nothing: two round trips of five
//     fewer (BENCHMARKS.md, "A batch without BEGIN"). When that statement
//     fails at the server, nothing was stored and the calls run alone;
//     when the connection fails under it, its outcome is unknown, as a
//     COMMIT's would be, and its callers get the error.
//   - Anything unusual falls back to WithinTx's own transactions. When a statement
//     fails (PostgreSQL has then aborted the whole transaction), when a
//     call fails after its own writes reached the server, or when the
//     final insert or COMMIT reports that nothing was stored, the batch is
//     rolled back and each of its calls that had not failed on its own
//     runs again alone, in a transaction of its own (withinTxOnce), which
//     ports.UnitOfWork allows. So a call whose check fails, or whose
//     insert breaks a constraint, returns the error it returns alone, and
//     the others commit.
//
// Every caller whose fn succeeded returns only after the shared COMMIT did,
// so nothing is acknowledged before it is stored, and a submission's rows
// commit with its outbox messages or not at all, as before.

// errRunAlone tells a caller that its batch could not commit its work for
// a reason that need not be its own: it runs fn again in a transaction of
// its own.
var errRunAlone = errors.New("shared transaction abandoned")

// maxSharedParams bounds the parameters of one statement of a batch's
// held inserts; PostgreSQL allows 65,535.
const maxSharedParams = 30000

// WithinSharedTx implements ports.SharedUnitOfWork. On PostgreSQL
// concurrent calls share transactions (see the top of this file); on
// SQLite it is WithinTx, whose group commit already shares them.
func (db *DB) WithinSharedTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if db.d.name() != "postgres" {
		return db.WithinTx(ctx, fn)
	}
	return db.withinTx(ctx, fn, func(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
		err := db.sharedTx(ctx, fn)
		if errors.Is(err, errRunAlone) {
			return db.withinTxOnce(ctx, fn)
		}
		return err
	})
}

var _ ports.SharedUnitOfWork = (*DB)(nil)

// sharedTx runs fn once in a shared transaction and returns its result
// after the commit, or errRunAlone.
func (db *DB) sharedTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &txCall{ctx: ctx, fn: fn, wake: make(chan signal, 1), ran: make(chan bool, 1)}
	g := db.lane()
	if g.join(c) {
		// As in groupTx: requests already runnable get to queue first.
		runtime.Gosched()
		return db.leadShared(g, c)
	}
	for {
		switch c.await(g) {
		case sigLead:
			return db.leadShared(g, c)
		case sigRun:
			c.run()
		case sigDone:
			return c.err
		}
	}
}

// sharedLanes is how many batches run at once. One batch at a time left
// the server idle while Keel ran a batch's calls, and Keel idle while the
// server ran its statements; on a busy machine each of a batch's five
// round trips waits for a CPU, so a lone batch took 20 ms or more
// (BENCHMARKS.md). Each lane's batch holds one connection of the pool.
const sharedLanes = 2

// lane returns the queue a call joins: the first that no batch holds,
// so that the call starts at once, else the shortest.
func (db *DB) lane() *group {
	best, fewest := &db.shared[0], -1
	for i := range db.shared {
		g := &db.shared[i]
		g.mu.Lock()
		leading, n := g.leading, len(g.queue)
		g.mu.Unlock()
		if !leading {
			return g
		}
		if fewest < 0 || n < fewest {
			best, fewest = g, n
		}
	}
	return best
}

// sharedBatch is one shared transaction and the calls it serves, calls[0]
// being the leader's own.
type sharedBatch struct {
	db    *DB
	g     *group // the lane whose queue the calls came from
	calls []*txCall
	// qs holds each call's querier once it has run, nil before.
	qs []*sharedQuerier
	tx *sql.Tx
	// ctx bounds the batch's statements: the leader's values without its
	// cancellation (a batch must not end with one of its callers), and
	// the database's timeout (WithTimeout) so that a frozen server ends
	// the batch rather than holding it forever.
	ctx    context.Context
	cancel context.CancelFunc
	// failed is set once the transaction cannot commit what its calls
	// did: every call not settled by its own error then runs alone.
	failed bool
	// memo holds what remember read in this transaction, and reading is
	// set while remember reads.
	memo    map[string]any
	reading bool
	// running is the call whose fn the leader runs inline, so that finish
	// can tell that it panicked.
	running *txCall
}

// leadShared runs a batch with own first and returns own's result once
// the batch has committed. If own's fn panics, the deferred finish still
// runs the other calls, commits and hands leadership over.
func (db *DB) leadShared(g *group, own *txCall) error {
	calls := g.take(own)
	b := &sharedBatch{db: db, g: g, calls: calls, qs: make([]*sharedQuerier, len(calls))}
	func() {
		defer b.finish()
		b.begin()
		b.step(0, b.runInline)
	}()
	return own.err
}

func (b *sharedBatch) begin() {
	b.ctx, b.cancel = context.WithoutCancel(b.calls[0].ctx), func() {}
	if b.db.timeout > 0 {
		b.ctx, b.cancel = context.WithTimeout(b.ctx, b.db.timeout)
	}
}

// beginTx begins the batch's transaction unless it has begun. A batch
// whose statements are remembered reads and held inserts never begins
// one (see the top of this file); the first statement that needs it does.
func (b *sharedBatch) beginTx() error {
	switch {
	case b.tx != nil:
		return nil
	case b.failed:
		return errRunAlone
	}
	tx, err := b.db.sql.BeginTx(b.ctx, nil)
	if err != nil {
		b.failed = true
		return err
	}
	b.tx = tx
	return nil
}

// querier is what a call's statements run on: the batch's transaction
// once it has begun, the pool before.
func (b *sharedBatch) querier() querier {
	if b.tx != nil {
		return b.tx
	}
	return b.db.sql
}

// step runs call i's fn through run and settles what becomes of it.
func (b *sharedBatch) step(i int, run func(*txCall) bool) {
	c := b.calls[i]
	if i > 0 && !c.claim() {
		return // its caller left before its turn, with its context's error
	}
	if b.failed {
		c.err = errRunAlone
		return
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return
	}
	q := &sharedQuerier{b: b, p: &pipeline{tx: b.querier()}}
	b.qs[i] = q
	c.st = &stores{q: q, d: b.db.d, writing: true, shared: b}
	b.running = c
	returned := run(c)
	b.running = nil
	switch {
	case b.failed:
		// A statement failed, this call's or one it caused to flush:
		// the transaction is aborted, and this call learns alone
		// whether the failure is its own.
		c.err = errRunAlone
	case !returned:
		b.drop(i)
	case c.err != nil:
		if isServerError(c.err) {
			b.failed, c.err = true, errRunAlone
			return
		}
		b.drop(i)
	case c.ctx.Err() != nil:
		// The caller gave up while fn ran: nobody would learn of the
		// write, so it does not happen.
		c.err = c.ctx.Err()
		b.drop(i)
	default:
		c.ok = true
	}
}

// drop undoes call i, which did not succeed: what it holds back is never
// sent, and if something of its own already reached the server the batch
// is abandoned, as only a rollback undoes that.
func (b *sharedBatch) drop(i int) {
	if b.qs[i].wrote {
		b.failed = true
	}
	b.qs[i].p.pending = nil
}

// isServerError reports whether err came from PostgreSQL, which aborts the
// transaction on any error of a statement.
func isServerError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

func (b *sharedBatch) runInline(c *txCall) bool {
	c.err = c.fn(stmtContext(c.ctx), c.st)
	return true
}

func (b *sharedBatch) runQueued(c *txCall) bool {
	c.wake <- sigRun
	return <-c.ran
}

// finish runs the queued calls, commits, hands leadership over and tells
// every queued caller its result. It runs deferred, so also while the
// leader's own fn panics.
func (b *sharedBatch) finish() {
	if c := b.running; c != nil {
		b.running = nil
		c.err = errors.New("transaction function panicked")
		b.drop(0)
	}
	for i := 1; i < len(b.calls); i++ {
		b.step(i, b.runQueued)
	}
	b.commit()
	b.g.handOver()
	for _, c := range b.calls[1:] {
		c.wake <- sigDone
	}
}

// commit sends the held inserts of the calls that succeeded and commits
// them, or rolls back and has them run alone when the batch failed. A
// batch that began no transaction and whose inserts fit in one statement
// sends that statement alone: PostgreSQL runs it in a transaction of its
// own, which commits or stores nothing, so a batch of submissions costs
// no BEGIN and no COMMIT.
func (b *sharedBatch) commit() {
	defer b.cancel()
	committed := false
	if !b.failed && b.anyOK() {
		var held []heldInsert
		for i, c := range b.calls {
			if c.ok {
				held = append(held, b.qs[i].p.pending...)
			}
		}
		stmts := insertStatements(held)
		var err error
		switch {
		case b.tx == nil && len(stmts) <= 1:
			err = b.commitAlone(stmts)
			if err != nil && !isServerError(err) && !pgconn.SafeToRetry(err) {
				b.unknown(err)
				return
			}
		default:
			err = b.beginTx()
			if err == nil {
				err = b.insert(stmts)
			}
			if err == nil {
				err = b.tx.Commit()
				if err != nil && !errors.Is(err, pgx.ErrTxCommitRollback) {
					b.unknown(err)
					return
				}
			}
		}
		committed = err == nil
		b.failed = err != nil
	}
	if !committed && b.tx != nil {
		_ = b.tx.Rollback()
	}
	queued := false
	for _, c := range b.calls {
		if c.ok && b.failed {
			c.ok, c.err = false, errRunAlone
		}
		queued = queued || c.ok && c.st.queued
	}
	if queued {
		b.db.notifyQueued()
	}
}

// unknown gives each call that succeeded err, from a commit whose outcome
// is unknown, as a transaction alone would: a second try might store its
// work twice.
func (b *sharedBatch) unknown(err error) {
	err = fmt.Errorf("commit: %w", err)
	for _, c := range b.calls {
		if c.ok {
			c.ok, c.err = false, err
		}
	}
}

func (b *sharedBatch) anyOK() bool {
	for _, c := range b.calls {
		if c.ok {
			return true
		}
	}
	return false
}

// insertStatements merges the held inserts, those into the same table
// into one multi-row INSERT, and groups them into as few statements as
// the parameters allow, each a list that one flush sends.
func insertStatements(held []heldInsert) [][]heldInsert {
	merged := mergeInserts(held)
	var stmts [][]heldInsert
	for len(merged) > 0 {
		n, params := 0, 0
		for n < len(merged) && n < maxHeldInserts && (n == 0 || params+len(merged[n].args) <= maxSharedParams) {
			params += len(merged[n].args)
			n++
		}
		stmts = append(stmts, merged[:n:n])
		merged = merged[n:]
	}
	return stmts
}

// commitAlone sends the batch's one statement, if any, outside a
// transaction.
func (b *sharedBatch) commitAlone(stmts [][]heldInsert) error {
	if len(stmts) == 0 {
		return nil
	}
	p := &pipeline{tx: b.db.sql, pending: stmts[0]}
	return p.flush(b.ctx)
}

// insert sends the statements in the batch's transaction.
func (b *sharedBatch) insert(stmts [][]heldInsert) error {
	for _, held := range stmts {
		p := &pipeline{tx: b.tx, pending: held}
		if err := p.flush(b.ctx); err != nil {
			return err
		}
	}
	return nil
}

// mergeInserts joins the inserts that differ only in their VALUES rows
// into one, in the order each first appears, so that a table's rows go in
// before those of a table whose first row came later. Rows of one table
// keep their order, and with it the order in which their defaults (the
// feed's sequence) are drawn.
func mergeInserts(held []heldInsert) []heldInsert {
	type group struct {
		query strings.Builder
		args  []any
	}
	var groups []*group
	byPrefix := map[string]*group{}
	for _, in := range held {
		prefix, rows, ok := splitValues(in.query)
		g := byPrefix[prefix]
		if !ok || g == nil || len(g.args)+len(in.args) > maxSharedParams {
			g = &group{}
			g.query.WriteString(in.query)
			g.args = append(g.args, in.args...)
			groups = append(groups, g)
			if ok {
				byPrefix[prefix] = g
			}
			continue
		}
		g.query.WriteString(", ")
		renumber(&g.query, rows, len(g.args))
		g.args = append(g.args, in.args...)
	}
	out := make([]heldInsert, len(groups))
	for i, g := range groups {
		out[i] = heldInsert{query: g.query.String(), args: g.args}
	}
	return out
}

// splitValues splits an INSERT … VALUES (…), … statement into what comes
// before its rows and its rows; ok is false for any other statement, or
// one with anything but placeholders in its rows, which is not merged.
func splitValues(query string) (prefix, rows string, ok bool) {
	const values = " VALUES "
	i := strings.LastIndex(query, values)
	if i < 0 || !strings.HasPrefix(query, "INSERT INTO ") {
		return "", "", false
	}
	prefix, rows = query[:i+len(values)], query[i+len(values):]
	for _, r := range rows {
		if !strings.ContainsRune("$0123456789(), \n\t", r) {
			return "", "", false
		}
	}
	return prefix, rows, true
}

// sharedQuerier is one call's view of a shared transaction: its own held
// inserts, and statements that run with the batch's deadline and the
// caller's values (its span).
type sharedQuerier struct {
	b *sharedBatch
	p *pipeline
	// wrote is set once something of this call's own reached the server
	// before the commit, which only a rollback could undo.
	wrote bool
}

func (q *sharedQuerier) ctx(ctx context.Context) context.Context {
	return callContext{Context: q.b.ctx, values: ctx}
}

// writes marks a statement that changes what the transaction holds: the
// call can no longer be undone by dropping its held inserts, what the
// batch remembered may no longer be what a read would find, and the
// statement runs in the batch's transaction, which it begins if need be.
func (q *sharedQuerier) writes() error {
	q.wrote = true
	clear(q.b.memo)
	if err := q.b.beginTx(); err != nil {
		return err
	}
	q.p.tx = q.b.tx
	return nil
}

// query readies q for a query. Only a read that remember marked may run
// on the pool before the transaction begins, and leaves the call as it
// was. Any other query may change rows (INSERT … RETURNING, a WITH that
// writes) or lock them, so it counts as a write and runs in the
// transaction; so does one after held inserts, which it must see.
func (q *sharedQuerier) query() error {
	if q.b.reading && len(q.p.pending) == 0 {
		return nil
	}
	return q.writes()
}

// note marks the batch failed when a statement failed: PostgreSQL has
// then aborted the transaction.
func (q *sharedQuerier) note(err error) error {
	if err != nil {
		q.b.failed = true
	}
	return err
}

// add holds an insert back; pipeline.add may first send the call's held
// inserts, which writes.
func (q *sharedQuerier) add(ctx context.Context, query string, args []any, event bool) error {
	if event && q.p.events > 0 || len(q.p.pending) == maxHeldInserts {
		if err := q.writes(); err != nil {
			return q.note(err)
		}
	}
	return q.note(q.p.add(q.ctx(ctx), query, args, event))
}

func (q *sharedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := q.writes(); err != nil {
		return nil, q.note(err)
	}
	res, err := q.p.ExecContext(q.ctx(ctx), query, args...)
	return res, q.note(err)
}

func (q *sharedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := q.query(); err != nil {
		return nil, q.note(err)
	}
	rows, err := q.p.QueryContext(q.ctx(ctx), query, args...)
	return rows, q.note(err)
}

func (q *sharedQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if err := q.query(); err != nil {
		_ = q.note(err)
		// database/sql checks a query's context before it takes a
		// connection, so this row carries the context's error and sends
		// nothing; the batch has failed, and the call runs again alone.
		done, cancel := context.WithCancel(ctx)
		cancel()
		return q.b.db.sql.QueryRowContext(done, query, args...)
	}
	row := q.p.QueryRowContext(q.ctx(ctx), query, args...)
	_ = q.note(row.Err())
	return row
}

// callContext is the context of a call's statements in a shared
// transaction: the batch's deadline and cancellation, the call's values.
type callContext struct {
	context.Context
	values context.Context
}

func (c callContext) Value(key any) any { return c.values.Value(key) }

// remember returns load's result, read once per key in a shared
// transaction (see the top of this file) and at every call elsewhere.
// load must be a read whose result depends only on key, and T a value the
// callers only read. In a shared transaction that has not begun, load
// runs on the pool: under READ COMMITTED, PostgreSQL's default and Keel's,
// each statement reads its own snapshot, so it finds what it would in
// the transaction before its first write.
func remember[T any](s *stores, key string, load func() (T, error)) (T, error) {
	b := s.shared
	if b == nil {
		return load()
	}
	if v, ok := b.memo[key]; ok {
		return v.(T), nil
	}
	b.reading = true
	v, err := func() (T, error) {
		defer func() { b.reading = false }()
		return load()
	}()
	if err == nil {
		b.keep(key, v)
	}
	return v, err
}

// keep has the batch remember v under key, as remember does with what it
// read; v must be what remember's load for key would return.
func (b *sharedBatch) keep(key string, v any) {
	if b.memo == nil {
		b.memo = map[string]any{}
	}
	b.memo[key] = v
}
