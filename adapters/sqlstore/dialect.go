package sqlstore

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keelhq/keel/domain"
)

// dialect is the narrow seam between SQLite and PostgreSQL. Only add to it
// when a real difference between the two engines forces it; everything else
// is portable SQL written once.
type dialect interface {
	name() string                   // "sqlite" or "postgres": also the migrations folder
	driver() string                 // the database/sql driver name
	goose() goose.Dialect           // which SQL goose speaks for its version table
	rebind(query string) string     // "?" placeholders to the engine's own
	uniqueViolation(err error) bool // a UNIQUE or PRIMARY KEY constraint failed
	retryable(err error) bool       // the transaction may succeed if run again
	lockRows() string               // the suffix that locks a SELECT's rows until commit
	skipLocked() string             // lockRows, passing over rows another transaction holds
	// orderedScan is a statement, or "", that makes the rest of a
	// transaction read a queue's head through its ordered index however
	// stale the table's statistics (outboxStore.Claim).
	orderedScan() string
	// feedHorizon is a condition, " AND ...", on the events table that
	// keeps the events no running transaction can still precede in feed
	// order, (xact, seq): a reader that resumes after the last one it saw
	// then never misses an event that commits later.
	feedHorizon() string
	// search is full-text search, which each engine spells its own way:
	// from is a FROM clause of "entries e" and the index, match keeps the
	// entries whose search_text has every one of words (from
	// domain.SearchQuery) as a word prefix, and score ranks them, higher
	// better. One placeholder,
	// in from or in match, takes arg; callers put both before their own.
	search(words []string) (from, match, score, arg string)
	// outage is ErrDatabaseUnavailable or ErrStorageFull when err means
	// that the database cannot be used now but will be later, nil when it
	// does not (outage.go).
	outage(err error) *domain.Error
}

// dialectFor picks the dialect for a database URL and returns the DSN its
// driver wants. It accepts postgres:// and postgresql:// URLs (handed to pgx
// unchanged) and sqlite:PATH, sqlite://PATH or file:PATH for SQLite.
func dialectFor(rawURL string) (dialect, string, error) {
	scheme, rest, ok := strings.Cut(rawURL, ":")
	if !ok {
		return nil, "", errors.New("missing scheme: want postgres://… or sqlite:PATH")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		if _, err := url.Parse(rawURL); err != nil {
			return nil, "", fmt.Errorf("parse PostgreSQL URL: %s", redactedURLError(err))
		}
		return postgres{}, rawURL, nil
	case "sqlite", "file":
		path := strings.TrimPrefix(rest, "//")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" {
			return nil, "", errors.New("missing SQLite file path")
		}
		return sqliteDialect{}, sqliteDSN(path), nil
	}
	return nil, "", fmt.Errorf("unsupported scheme %q: want postgres or sqlite", scheme)
}

// redactedURLError drops the URL text net/url puts in its errors, which
// would otherwise carry the password into logs.
func redactedURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "malformed URL"
}

// sqliteDSN sets every pragma in the DSN rather than with an Exec after
// opening: database/sql keeps a pool, and a pragma run once reaches only
// one of its connections. synchronous=NORMAL in WAL mode writes each
// commit to the WAL without waiting for the disk: a crash of Keel, even
// kill -9, loses nothing committed, while a power loss or kernel crash may
// lose the last commits. FULL waits for the disk on every commit and more
// than halved submission throughput; deployments that need power-loss
// durability run PostgreSQL. _txlock=immediate takes the write lock at BEGIN,
// so two writers wait on busy_timeout instead of deadlocking on upgrade.
// temp_store=MEMORY keeps the statement journal, where SQLite saves the
// pages a savepoint changes, in memory: group commit (groupcommit.go) runs
// every call in a savepoint, and the journal spilled to a temporary file
// past 64 KiB, whose writes cost a noticeable share of a submission's CPU
// (BENCHMARKS.md).
// mmap_size=0 reads the database with pread into each connection's page
// cache (2 MB, SQLite's default) rather than through a memory map: the
// kernel counts a mapped page in the resident memory once per connection
// that maps it, and maps up to 16 cached pages around each one read, so
// eight connections that each mapped the database held its whole file
// several times over, over 1 GB for a 200 MB database (BENCHMARKS.md,
// "Issue 14: resident memory"). Only the search pool maps it
// (sqliteSearchDSN).
func sqliteDSN(path string) string {
	return sqliteDSNWith(path, "mmap_size(0)")
}

// sqliteSearchMmapSize is the default memory map of the search pool's
// connections (WithSearchMmapSize): a full-text search reads its matches'
// rows whole, and read with pread it cost half as much CPU again as
// through the map.
const sqliteSearchMmapSize = 512 << 20

// sqliteSearchDSN is sqliteDSN for the pool that runs full-text searches
// (DB.searchSQL): it maps up to mmapSize bytes of the database, and
// query_only(1) keeps its connections from writing, which they have no
// reason to do.
func sqliteSearchDSN(path string, mmapSize int64) string {
	return sqliteDSNWith(path, "mmap_size("+strconv.FormatInt(mmapSize, 10)+")", "query_only(1)")
}

func sqliteDSNWith(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range append([]string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)", "temp_store(MEMORY)"}, pragmas...) {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	return "file:" + filepath.ToSlash(path) + "?" + q.Encode()
}

type sqliteDialect struct{}

func (sqliteDialect) name() string           { return "sqlite" }
func (sqliteDialect) driver() string         { return "sqlite" }
func (sqliteDialect) goose() goose.Dialect   { return goose.DialectSQLite3 }
func (sqliteDialect) rebind(q string) string { return q }
func (sqliteDialect) uniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}
func (sqliteDialect) retryable(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// lockRows is empty: SQLite has no row locks, and _txlock=immediate makes
// every transaction hold the database's write lock from BEGIN.
func (sqliteDialect) lockRows() string { return "" }

// skipLocked is empty for the same reason: a claim holds the write lock
// from BEGIN, so claims run one after the other and each sees the leases
// the ones before it committed.
func (sqliteDialect) skipLocked() string { return "" }

// orderedScan is empty: SQLite reads an ordered index for ORDER BY ...
// LIMIT without being told.
func (sqliteDialect) orderedScan() string { return "" }

// feedHorizon is empty: SQLite commits one writer at a time, so an event is
// visible only after every event inserted before it.
func (sqliteDialect) feedHorizon() string { return "" }

// search matches the words as quoted prefix phrases, "creme"* AND
// "bru"*, in the FTS5 index; quoting keeps FTS5's operators (OR, NEAR,
// column filters) out of reach, although SearchWords's letters and digits
// could not spell one anyway. bm25 is lower for better matches.
func (sqliteDialect) search(words []string) (string, string, string, string) {
	terms := make([]string, len(words))
	for i, w := range words {
		terms[i] = `"` + w + `"*`
	}
	// INDEXED BY: without ANALYZE's statistics SQLite would read each
	// match's row by its rowid, overflow pages and all, to test the
	// filter, rather than the entries_search_filter index that holds it.
	return ` entries e INDEXED BY entries_search_filter JOIN entries_fts ON entries_fts.rowid = e.seq`, `entries_fts MATCH ?`, `-bm25(entries_fts)`, strings.Join(terms, " AND ")
}

type postgres struct{}

func (postgres) name() string         { return "postgres" }
func (postgres) driver() string       { return "pgx" }
func (postgres) goose() goose.Dialect { return goose.DialectPostgres }

// rebind turns "?" into "$1", "$2"… outside string literals. Queries in this
// package never put a "?" inside a literal, but the check keeps a future one
// from becoming a silent bug.
func (postgres) rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (postgres) uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (postgres) lockRows() string { return " FOR UPDATE" }

// skipLocked lets concurrent claims take disjoint rows instead of queueing
// behind each other: a row another claim has locked is passed over, and
// once that claim commits its lease excludes the row anyway.
func (postgres) skipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// orderedScan turns bitmap scans off for the transaction. A queue grows
// fastest in a burst, long after the statistics were taken: the planner
// then expects a few due rows, reads them all through a bitmap scan and
// sorts them, where walking the index in order would stop after the first
// few. With 9,500 messages queued that was 21 ms a claim against 0.5 ms
// (BENCHMARKS.md, issue 14), and it grows with the queue.
func (postgres) orderedScan() string { return "SET LOCAL enable_bitmapscan = off" }

// feedHorizon shows only events written by transactions older than the
// oldest one still running. xact is assigned when a transaction first
// writes, and a transaction running now, or starting later, has an ID at
// least this snapshot's xmin: whatever it commits sorts after every event
// shown. Read-only transactions take no ID and hold nothing back.
func (postgres) feedHorizon() string {
	return " AND xact < pg_snapshot_xmin(pg_current_snapshot())"
}

// search casts 'creme':* & 'bru':* to a tsquery directly instead of
// calling to_tsquery, whose parser and dictionary would change the words;
// they hold letters, digits and marks only, so the quotes need no
// escaping. The query is a one-row subquery so that it is written once.
func (postgres) search(words []string) (string, string, string, string) {
	terms := make([]string, len(words))
	for i, w := range words {
		terms[i] = `'` + w + `':*`
	}
	return ` entries e, (SELECT CAST(? AS tsquery) AS q) s`, `e.search_vector @@ s.q`, `ts_rank(e.search_vector, s.q)`, strings.Join(terms, " & ")
}

func (postgres) retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
