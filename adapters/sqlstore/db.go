// Package sqlstore implements Keel's storage ports on SQLite (embedded, the
// zero-configuration default) and PostgreSQL, with one set of portable SQL
// statements and a narrow dialect seam. Every statement is traced through
// otelsql; schema changes are goose migrations embedded per dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/uptrace/opentelemetry-go-extra/otelsql"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

//go:embed migrations
var migrations embed.FS

// DB is an open Keel database. It implements ports.UnitOfWork,
// ports.Pinger and ports.CounterWatcher and is safe for concurrent use.
type DB struct {
	sql *sql.DB
	d   dialect
	// group queues this process's SQLite write transactions and runs
	// the ones that queue together in one transaction (groupcommit.go).
	// Each transaction takes the database's write lock at BEGIN; without
	// the queue, concurrent ones wait in SQLite's busy handler, which
	// sleeps in growing steps, so a few unlucky writers wait far longer
	// than the rest (BENCHMARKS.md). Other processes on the same file
	// still wait through busy_timeout.
	group group
	// shared queues the PostgreSQL transactions of WithinSharedTx and
	// runs the ones that queue together in one transaction
	// (sharedtx.go), in sharedLanes queues whose batches run side by
	// side; empty on SQLite.
	shared []group
	// saver stores the responses of Idempotency-Keys in batches
	// (idempotencysaver.go).
	saver responseSaver
	// searches bounds the full-text searches that run at once on SQLite
	// to the CPUs (see entryStore.search); nil on PostgreSQL.
	searches chan struct{}
	// searchSQL is SQLite's pool for the full-text searches that run
	// outside a transaction, one connection per CPU, as many as searches
	// lets run, each with a memory map of the database (sqliteSearchDSN);
	// searchStmts is its statement cache. The main pool has no map: the
	// kernel counts a mapped page in the resident memory once per
	// connection, and eight connections that each mapped the database
	// held it several times over (BENCHMARKS.md, "Issue 14: resident
	// memory"). Nil on PostgreSQL and for an in-memory database, which a
	// second pool would not share.
	searchSQL   *sql.DB
	searchStmts stmtCache
	// deliveriesQueued is WithDeliveriesQueued's fn, or nil.
	deliveriesQueued func()
	// dsn is what the driver was opened with: WatchCounters opens its
	// own connection with it, outside the pool (notify.go).
	dsn string
	// timeout bounds each WithinTx and ReadOnly (WithTimeout); 0 for
	// none.
	timeout time.Duration
}

var (
	_ ports.UnitOfWork = (*DB)(nil)
	_ ports.Pinger     = (*DB)(nil)
)

// Option configures Open.
type Option func(*options)

type options struct {
	tp               trace.TracerProvider
	otel             []otelsql.Option
	maxOpenConns     int
	deliveriesQueued func()
	timeout          time.Duration
	searchMmapSize   int64
}

// WithTracerProvider sends SQL spans to tp instead of the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// WithMeterProvider reports SQL timings and pool statistics to mp instead of
// the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.otel = append(o.otel, otelsql.WithMeterProvider(mp)) }
}

// WithDeliveriesQueued calls fn after each commit of a transaction that
// queued a webhook delivery (an event's fan-out, DeliveryStore.Add, or a
// redelivery's Save), never after a rollback, so that the process's
// dispatcher claims it at once rather than at its next poll. fn must not
// block: it runs on the committing caller's goroutine, on SQLite once for
// a whole group commit.
func WithDeliveriesQueued(fn func()) Option {
	return func(o *options) { o.deliveriesQueued = fn }
}

// WithTimeout bounds the database work of each WithinTx and ReadOnly call
// to d (0, the default, for none). A PostgreSQL server that is frozen
// keeps its connections open but never answers, and nothing else would
// end a query's wait: pgx closes a connection whose query's context ends,
// which frees the caller. A call that runs out of d returns
// ErrDatabaseUnavailable; one whose caller's own context ends returns
// that context's error, as before. On SQLite a write transaction shared
// by a group commit runs without its callers' cancellation
// (groupcommit.go), and busy_timeout bounds its waits instead.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithSearchMmapSize sets the memory map of SQLite's search pool
// (DB.searchSQL) to n bytes of the database, 512 MiB by default; 0 turns
// it off, and searches then read with pread as the main pool does. The
// map spares a search about a third of its CPU, but the kernel counts its
// pages in the resident memory once per search connection, up to the
// database's size each. PostgreSQL ignores it.
func WithSearchMmapSize(n int64) Option {
	return func(o *options) { o.searchMmapSize = n }
}

// WithMaxOpenConns bounds the connection pool.
func WithMaxOpenConns(n int) Option {
	return func(o *options) { o.maxOpenConns = n }
}

// Open connects to the database at rawURL (postgres://… or sqlite:PATH) and
// checks that it answers. It does not migrate: call Migrate. A database
// that does not answer within the context's deadline returns a
// domain.KindUnavailable error.
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	d, dsn, err := dialectFor(rawURL)
	if err != nil {
		return nil, err
	}
	o := options{maxOpenConns: 20, searchMmapSize: sqliteSearchMmapSize}
	if d.name() == "sqlite" {
		// SQLite has one writer at a time; a few connections serve
		// concurrent readers in WAL mode without piling up writers.
		o.maxOpenConns = 8
		path := sqlitePath(dsn)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.tp == nil {
		o.tp = otel.GetTracerProvider()
	}
	otelOpts := append([]otelsql.Option{otelsql.WithDBSystem(d.name()), otelsql.WithTracerProvider(childSpansOnly{tp: o.tp})}, o.otel...)
	db, err := otelsql.Open(d.driver(), dsn, otelOpts...)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.name(), err)
	}
	db.SetMaxOpenConns(o.maxOpenConns)
	db.SetMaxIdleConns(o.maxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	otelsql.ReportDBStatsMetrics(db, otelOpts...)
	s := &DB{sql: db, d: d, deliveriesQueued: o.deliveriesQueued, dsn: dsn, timeout: o.timeout}
	if d.name() == "postgres" {
		s.shared = make([]group, sharedLanes)
	}
	if d.name() == "sqlite" {
		s.searches = make(chan struct{}, runtime.GOMAXPROCS(0))
		if path := sqlitePath(dsn); path != ":memory:" {
			if s.searchSQL, err = openSearchPool(path, cap(s.searches), max(o.searchMmapSize, 0), otelOpts); err != nil {
				_ = db.Close()
				return nil, err
			}
		}
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// searchIdleTime is how long a search connection stays open unused. Closing
// it unmaps the database: after a burst of searches, the resident memory
// falls back within about this time instead of keeping every page the
// searches read.
const searchIdleTime = time.Minute

// openSearchPool opens SQLite's search pool (DB.searchSQL) of n
// connections on the database file at path, each mapping up to mmapSize
// bytes of it. It connects lazily, on the first search.
func openSearchPool(path string, n int, mmapSize int64, otelOpts []otelsql.Option) (*sql.DB, error) {
	db, err := otelsql.Open("sqlite", sqliteSearchDSN(path, mmapSize), otelOpts...)
	if err != nil {
		return nil, fmt.Errorf("open sqlite search pool: %w", err)
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(searchIdleTime)
	return db, nil
}

// createPrivate creates an empty SQLite database file with mode 0600
// unless one exists. SQLite itself would create it 0644, readable by every
// local user in a directory they may enter, and it gives the -wal and -shm
// files it creates later the database file's mode: this one mode keeps the
// password hashes, sessions and submissions in all three private. A file
// that exists keeps the mode its operator gave it.
func createPrivate(path string) error {
	if path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func sqlitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return filepath.FromSlash(p)
}

// Dialect names the engine: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.name() }

// Close closes the pools, waiting for queries in progress.
func (db *DB) Close() error {
	if db.searchSQL != nil {
		_ = db.searchSQL.Close()
	}
	return db.sql.Close()
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return domain.ErrUnavailable.WithMessage("The database is unavailable.").WithCause(fmt.Errorf("ping %s: %w", db.d.name(), err))
	}
	return nil
}

// Warm opens the pool's connections to PostgreSQL before the load that
// would open them: each costs a SCRAM authentication, on both sides, and
// a node that met its first burst with an empty pool opened twenty at
// once while the burst's requests waited, up to 0.4 s (BENCHMARKS.md,
// "The first second"). It returns once they are open or ctx ends; they
// close again after five minutes unused. On SQLite it does nothing.
func (db *DB) Warm(ctx context.Context) {
	if db.d.name() != "postgres" {
		return
	}
	n := db.sql.Stats().MaxOpenConnections
	conns := make(chan *sql.Conn, n)
	var wg sync.WaitGroup
	for range n {
		// Each holds its connection until all are open, so that
		// each opens one of its own.
		wg.Go(func() {
			if c, err := db.sql.Conn(ctx); err == nil {
				conns <- c
			}
		})
	}
	wg.Wait()
	close(conns)
	for c := range conns {
		_ = c.Close()
	}
}

// Stats reports the connection pool's statistics.
func (db *DB) Stats() sql.DBStats { return db.sql.Stats() }

// ReadOnly runs fn on the pool without a transaction: each statement sees
// the data committed when it starts, and none takes SQLite's write lock.
//
// On SQLite the statements come from the stmtCache the write transactions
// use, prepared once per connection, so that a full-text search is not
// compiled again on every request (BENCHMARKS.md, "Where search's time
// goes").
//
// An outage of the database (outage.go) returns a domain.KindUnavailable
// error, as WithinTx does.
func (db *DB) ReadOnly(ctx context.Context, fn func(context.Context, ports.Stores) error) (err error) {
	ctx, done := db.bound(ctx)
	defer func() { err = done(err) }()
	if db.d.name() == "sqlite" {
		st := &stores{q: cachedPool{db: db.sql, cache: &db.group.stmts}, d: db.d, searches: db.searches}
		if db.searchSQL != nil {
			st.searchPool = cachedPool{db: db.searchSQL, cache: &db.searchStmts}
		}
		return db.outage(fn(ctx, st))
	}
	return db.outage(fn(ctx, &stores{q: db.sql, d: db.d}))
}

// cachedPool runs statements on the pool through a stmtCache, as cachedTx
// does in a transaction.
type cachedPool struct {
	db    *sql.DB
	cache *stmtCache
}

func (q cachedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := q.cache.get(q.db, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return q.db.ExecContext(ctx, query, args...)
}

func (q cachedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := q.cache.get(q.db, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return q.db.QueryContext(ctx, query, args...)
}

func (q cachedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := q.cache.get(q.db, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}

// WithinTx runs fn in a transaction and commits it when fn returns nil. A
// serialization failure or deadlock (PostgreSQL) or a busy database
// (SQLite) reruns fn, at most three times in all, with a short backoff.
//
// On SQLite, calls that arrive while another transaction runs share the
// next one, each fn in its own savepoint (groupcommit.go): fn's own error
// undoes only its work, and WithinTx returns nil only after the shared
// commit.
//
// fn must not call WithinTx on the same DB with the context it was given:
// on SQLite the inner call would wait for the outer one to commit, which
// waits for fn, and on PostgreSQL it would open a second, independent
// transaction that commits even when the outer one rolls back. Such a
// call returns errNestedTx at once instead, an internal error.
//
// A pending ports.IdempotencyClaim on ctx is inserted in the transaction
// that commits fn's work, as ports.IdempotencyClaim describes.
//
// An outage of the database returns a domain.KindUnavailable error
// (outage.go) rather than an internal one: PostgreSQL unreachable or
// restarting, or the disk full.
func (db *DB) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	once := db.withinTxOnce
	if db.d.name() == "sqlite" {
		once = db.groupTx
	}
	return db.withinTx(ctx, fn, once)
}

// withinTx is WithinTx with once running each attempt: WithinTx's own
// transactions, or WithinSharedTx's shared ones.
func (db *DB) withinTx(ctx context.Context, fn func(context.Context, ports.Stores) error, once func(context.Context, func(context.Context, ports.Stores) error) error) (err error) {
	if ctx.Value(inTxKey{}) == db {
		return errNestedTx
	}
	ctx, done := db.bound(ctx)
	defer func() { err = done(err) }()
	ctx = context.WithValue(ctx, inTxKey{}, db)
	// A pending idempotency claim on ctx is inserted at the end of fn's
	// work, in its transaction (idempotency.go).
	fn, claim := withClaim(ctx, fn)
	const attempts = 3
	for i := 1; ; i++ {
		err := once(ctx, fn)
		if err == nil && claim != nil {
			claim.MarkCommitted()
		}
		if err == nil || i == attempts || !(db.d.retryable(err) || errors.Is(err, errBatchAborted)) {
			return db.outage(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i*i) * 20 * time.Millisecond):
		}
	}
}

// inTxKey marks the context WithinTx passes to fn with the DB whose
// transaction fn runs in, so that a nested call on that DB is caught.
type inTxKey struct{}

// errNestedTx names the mistake of calling WithinTx from inside another
// WithinTx's fn: pass the outer fn's stores down instead.
var errNestedTx = errors.New("sqlstore: WithinTx called inside another WithinTx's fn on the same database; use the outer transaction's stores")

// withinTxOnce runs fn in a transaction of its own: PostgreSQL runs
// concurrent transactions side by side.
func (db *DB) withinTxOnce(ctx context.Context, fn func(context.Context, ports.Stores) error) (err error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	p := &pipeline{tx: tx}
	st := &stores{q: p, d: db.d, searches: db.searches, writing: true}
	err = fn(ctx, st)
	if err == nil {
		err = p.flush(ctx)
	}
	if p.err != nil {
		// The statement fn saw fail may have failed only because a held
		// insert had aborted the transaction before it.
		return p.err
	}
	if err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if st.queued {
		db.notifyQueued()
	}
	return nil
}

// notifyQueued tells WithDeliveriesQueued's fn that a commit queued
// webhook deliveries.
func (db *DB) notifyQueued() {
	if db.deliveriesQueued != nil {
		db.deliveriesQueued()
	}
}

// Migration is the state of one schema migration. Took is how long
// applying it took, set only on those Migrate has just applied.
type Migration struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
	Took      time.Duration
}

// Migrate applies every pending migration and returns the ones it applied.
// On PostgreSQL an advisory lock makes nodes that start together migrate
// one after the other instead of racing.
func (db *DB) Migrate(ctx context.Context) ([]Migration, error) {
	return db.MigrateEach(ctx, nil, nil)
}

// MigrateEach is Migrate that reports as it goes, for a progress bar or a
// log line per migration: pending (if not nil) is told how many
// migrations are pending before the first runs, and applied (if not nil)
// is called after each one with its duration. Without either it applies
// them all in one run; with one it applies them one at a time, each in
// its own run that takes the PostgreSQL lock again, so that a long
// migration is reported when it ends rather than with the last.
func (db *DB) MigrateEach(ctx context.Context, pending func(n int), applied func(Migration)) ([]Migration, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	var done []Migration
	add := func(r *goose.MigrationResult) {
		m := Migration{Version: r.Source.Version, Name: filepath.Base(r.Source.Path), Applied: true, Took: r.Duration}
		done = append(done, m)
		if applied != nil {
			applied(m)
		}
	}
	if pending == nil && applied == nil {
		results, err := p.Up(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate %s: %w", db.d.name(), err)
		}
		for _, r := range results {
			add(r)
		}
		return done, nil
	}
	if pending != nil {
		st, err := p.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate %s: %w", db.d.name(), err)
		}
		n := 0
		for _, s := range st {
			if s.State == goose.StatePending {
				n++
			}
		}
		pending(n)
	}
	for {
		r, err := p.UpByOne(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			return done, nil
		}
		if err != nil {
			return done, fmt.Errorf("migrate %s: %w", db.d.name(), err)
		}
		add(r)
	}
}

// MigrationStatus lists every known migration and whether it is applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]Migration, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, 0, len(st))
	for _, s := range st {
		out = append(out, Migration{
			Version:   s.Source.Version,
			Name:      filepath.Base(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

func (db *DB) provider() (*goose.Provider, error) {
	dir, err := fs.Sub(migrations, "migrations/"+db.d.name())
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", db.d.name(), err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if db.d.name() == "postgres" {
		opts = append(opts, goose.WithSessionLocker(advisoryLock{}))
	}
	p, err := goose.NewProvider(db.d.goose(), db.sql, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// querier is what stores need from a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stores hands out the stores of one transaction.
type stores struct {
	q        querier
	d        dialect
	searches chan struct{} // nil: searches run unbounded
	// searchPool runs full-text searches in place of q when not nil: SQLite's
	// search pool (DB.searchSQL), outside a transaction.
	searchPool querier
	// queued is set once the transaction's work queued a webhook
	// delivery, so that its commit wakes the dispatcher.
	queued bool
	// writing is set in a PostgreSQL write transaction, where reads that
	// decide a write lock the rows they read (forUpdate). SQLite's write
	// transactions hold the database's write lock from BEGIN.
	writing bool
	// shared is the shared transaction these stores are one call's view
	// of (sharedtx.go), nil elsewhere.
	shared *sharedBatch
}

// forUpdate is the suffix that locks the row a read decides a write on,
// in a PostgreSQL write transaction: FOR NO KEY UPDATE, which waits for
// other writers of the row but not for the FOR KEY SHARE lock that the
// foreign key check of an insert referencing it takes.
func (s *stores) forUpdate() string {
	if !s.writing {
		return ""
	}
	return " FOR NO KEY UPDATE"
}

func (s *stores) Instance() ports.InstanceStore            { return instanceStore{s} }
func (s *stores) Users() ports.UserStore                   { return userStore{s} }
func (s *stores) Workspaces() ports.WorkspaceStore         { return workspaceStore{s} }
func (s *stores) Memberships() ports.MembershipStore       { return membershipStore{s} }
func (s *stores) Sessions() ports.SessionStore             { return sessionStore{s} }
func (s *stores) APIKeys() ports.APIKeyStore               { return apiKeyStore{s} }
func (s *stores) Audit() ports.AuditStore                  { return auditStore{s} }
func (s *stores) Policies() ports.PolicyStore              { return policyStore{s} }
func (s *stores) Forms() ports.FormStore                   { return formStore{s} }
func (s *stores) Submissions() ports.SubmissionStore       { return submissionStore{s} }
func (s *stores) Outbox() ports.OutboxStore                { return outboxStore{s} }
func (s *stores) Entries() ports.EntryStore                { return entryStore{s} }
func (s *stores) Authors() ports.AuthorStore               { return authorStore{s} }
func (s *stores) Tags() ports.TagStore                     { return tagStore{s} }
func (s *stores) Events() ports.EventStore                 { return eventStore{s} }
func (s *stores) Webhooks() ports.WebhookStore             { return webhookStore{s} }
func (s *stores) Deliveries() ports.DeliveryStore          { return deliveryStore{s} }
func (s *stores) Invitations() ports.InvitationStore       { return invitationStore{s} }
func (s *stores) PasswordResets() ports.PasswordResetStore { return passwordResetStore{s} }
func (s *stores) EmailChanges() ports.EmailChangeStore     { return emailChangeStore{s} }

// errNoRows is checked with errors.Is where a missing row is expected.
var errNoRows = sql.ErrNoRows

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
