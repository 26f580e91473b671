package sqlstore

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
)

// A backup is every row of every Keel table as JSON lines, one object per
// row keyed by column name, in a form that does not depend on the engine:
// the same logical data gives the same bytes on SQLite and PostgreSQL, so
// that a backup of either restores into the other. The kinds below are
// how each column's values are written:
//
//   - text: a JSON string, as stored (the JSON documents Keel keeps are
//     TEXT on both engines and are copied verbatim);
//   - int: a JSON number;
//   - bool: true or false (SQLite keeps 0 or 1);
//   - time: a string, UTC with six fractional digits, the precision Keel
//     stores (domain.Timestamp) and PostgreSQL keeps;
//   - blob: a string, standard base64;
//   - NULL: null, whatever the kind.
//
// The migrations' bookkeeping table is not copied: a backup records its
// schema version instead, and a restore rebuilds the table by migrating.
type columnKind int

const (
	kindText columnKind = iota
	kindInt
	kindBool
	kindTime
	kindBlob
)

func (k columnKind) String() string {
	return [...]string{"text", "int", "bool", "time", "blob"}[k]
}

// sqliteBooleans are SQLite's INTEGER columns that hold a boolean, which
// PostgreSQL declares BOOLEAN; the declared type alone cannot tell them
// from counts. TestBackupColumnKindsAgree compares every column's kind on
// both engines, so a new boolean column missing here fails it.
var sqliteBooleans = map[string]bool{
	"users.instance_admin":  true,
	"sessions.revoked":      true,
	"webhooks.enabled":      true,
	"submissions.mail_held": true,
}

// engineColumns are columns that only make sense on the engine that made
// them and are neither dumped nor loaded: SQLite's entries.seq is the
// rowid its full-text index points at (the insert trigger fills the index
// with the new rowid), and events.xact is PostgreSQL's transaction ID of
// the event's writer, a number another cluster would read as a
// transaction in its future. The loading engine fills both with their
// defaults. events.seq is dumped as the event's rank in feed order,
// (xact, seq), which keeps the feed's order across engines.
var engineColumns = map[string]bool{
	"entries.seq": true,
	"events.xact": true,
}

// backupOrder overrides the primary key as a table's row order where
// the key is an engine's own column: SQLite keys entries and events by
// seq, PostgreSQL by id. Events are written in feed order (dumpTable), in
// which their dumped seq rises.
var backupOrder = map[string][]string{
	"entries": {"id"},
	"events":  {"seq"},
}

// backupSkipTables are tables that hold no data of their own: goose's
// bookkeeping, which the schema version replaces, and SQLite's own.
func backupSkipTable(name string) bool {
	return name == "goose_db_version" || strings.HasPrefix(name, "sqlite_")
}

// backupColumn is one column of a table as a backup sees it.
type backupColumn struct {
	name string
	kind columnKind
}

// backupTable is one table: its columns sorted by name (the order of the
// JSON objects' keys), its primary key columns (a dump's row order) and
// the tables its foreign keys reference.
type backupTable struct {
	name    string
	columns []backupColumn
	pk      []string
	parents []string
	// serial names the column a PostgreSQL sequence fills, whose next
	// value a restore sets past the rows it loaded.
	serial []string
}

// BackupInfo describes a snapshot: where it came from and what it holds.
type BackupInfo struct {
	Engine        string // "sqlite" or "postgres"
	SchemaVersion int64  // the newest migration applied
	Tables        []BackupTableInfo
}

// BackupTableInfo is one table of a snapshot: its name and row count.
type BackupTableInfo struct {
	Name string
	Rows int64
}

// BackupSink receives a snapshot. Begin comes first, with every table's
// row count; then WriteTable once per table, parents before children,
// whose dump writes the table's rows as JSON lines to the writer it is
// given and returns the number written.
type BackupSink interface {
	Begin(info BackupInfo) error
	WriteTable(name string, dump func(w io.Writer) (int64, error)) error
}

// Backup writes a consistent snapshot of every table to sink: all of it is
// read in one read transaction, which sees the data committed when it
// began, whatever is written meanwhile. On SQLite (WAL) the snapshot is a
// deferred read transaction, which takes no write lock and does not stop
// writers; while it runs the WAL cannot be checkpointed past it and grows.
// On PostgreSQL it is a REPEATABLE READ READ ONLY transaction. Rows are
// streamed: memory does not grow with a table's size.
func (db *DB) Backup(ctx context.Context, sink BackupSink) (err error) {
	ctx, span := otel.Tracer("github.com/keelhq/keel/adapters/sqlstore").Start(ctx, "sqlstore.Backup")
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "backup failed")
		}
		span.End()
	}()
	q, done, err := db.snapshot(ctx)
	if err != nil {
		return err
	}
	defer done()
	tables, err := db.backupTables(ctx, q)
	if err != nil {
		return err
	}
	info := BackupInfo{Engine: db.d.name()}
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied = `+db.trueLiteral()).Scan(&info.SchemaVersion); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	for _, t := range tables {
		var n int64
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", t.name, err)
		}
		info.Tables = append(info.Tables, BackupTableInfo{Name: t.name, Rows: n})
	}
	span.SetAttributes(attribute.Int64("keel.schema_version", info.SchemaVersion))
	if err := sink.Begin(info); err != nil {
		return err
	}
	for _, t := range tables {
		if err := sink.WriteTable(t.name, func(w io.Writer) (int64, error) { return db.dumpTable(ctx, q, t, w) }); err != nil {
			return fmt.Errorf("back up %s: %w", t.name, err)
		}
	}
	return nil
}

func (db *DB) trueLiteral() string {
	if db.d.name() == "postgres" {
		return "TRUE"
	}
	return "1"
}

// snapshot opens the read transaction of a backup and returns its
// querier and the function that ends it.
func (db *DB) snapshot(ctx context.Context) (querier, func(), error) {
	if db.d.name() == "postgres" {
		tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return nil, nil, fmt.Errorf("begin snapshot: %w", err)
		}
		return tx, func() { _ = tx.Rollback() }, nil
	}
	// The DSN's _txlock=immediate would make BeginTx take the write lock
	// and stop every writer for the backup's whole length; a plain BEGIN
	// on one connection is deferred, and its first read fixes the
	// snapshot.
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connect for snapshot: %w", err)
	}
	// The pool's connections read with plain reads, not a memory map
	// (sqliteDSN): a backup reads every page once, and its memory stays
	// flat whatever the database's size.
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("begin snapshot: %w", err)
	}
	// The first read fixes the snapshot now, not at the first table.
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master").Scan(&n); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		_ = conn.Close()
		return nil, nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return conn, func() {
		ctx := context.WithoutCancel(ctx)
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		_ = conn.Close()
	}, nil
}

// dumpTable writes t's rows to w as JSON lines in primary key order and
// returns how many it wrote.
func (db *DB) dumpTable(ctx context.Context, q querier, t backupTable, w io.Writer) (int64, error) {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = quoteIdent(c.name)
	}
	order := make([]string, len(t.pk))
	for i, c := range t.pk {
		order[i] = quoteIdent(c)
		if db.d.name() == "postgres" && t.kindOf(c) == kindText {
			// SQLite compares text bytewise; so does the C collation,
			// whatever the database's own, so both engines write rows
			// in the same order.
			order[i] += ` COLLATE "C"`
		}
	}
	query := `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + quoteIdent(t.name) + ` ORDER BY ` + strings.Join(order, ", ")
	if t.name == "events" {
		query = `SELECT ` + strings.Join(slices.DeleteFunc(cols, func(c string) bool { return c == `"seq"` }), ", ") +
			`, ROW_NUMBER() OVER (ORDER BY xact, seq) AS seq FROM events ORDER BY xact, seq`
		// The select list's order must match t.columns: seq moved last.
		t.columns = append(slices.DeleteFunc(slices.Clone(t.columns), func(c backupColumn) bool { return c.name == "seq" }), backupColumn{"seq", kindInt})
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	// Keys in name order: sort the scanned values' places accordingly.
	place := make([]int, len(t.columns))
	for i := range place {
		place[i] = i
	}
	sort.Slice(place, func(a, b int) bool { return t.columns[place[a]].name < t.columns[place[b]].name })
	vals := make([]any, len(t.columns))
	ptrs := make([]any, len(t.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		line = append(line[:0], '{')
		for j, i := range place {
			c := t.columns[i]
			if j > 0 {
				line = append(line, ',')
			}
			line = appendJSONString(line, c.name)
			line = append(line, ':')
			if line, err = appendValue(line, c.kind, vals[i]); err != nil {
				return n, fmt.Errorf("column %s: %w", c.name, err)
			}
		}
		line = append(line, '}', '\n')
		if _, err := bw.Write(line); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

func (t backupTable) kindOf(col string) columnKind {
	for _, c := range t.columns {
		if c.name == col {
			return c.kind
		}
	}
	return kindText
}

// backupTimeLayout writes times in UTC with microseconds, always six
// digits, so that equal times are equal strings.
const backupTimeLayout = "2006-01-02T15:04:05.000000Z"

// appendValue appends v, as the driver scanned it, in its kind's JSON form.
func appendValue(b []byte, kind columnKind, v any) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	switch kind {
	case kindText:
		switch x := v.(type) {
		case string:
			return appendJSONString(b, x), nil
		case []byte:
			return appendJSONString(b, string(x)), nil
		}
	case kindInt:
		switch x := v.(type) {
		case int64:
			return strconv.AppendInt(b, x, 10), nil
		case int32:
			return strconv.AppendInt(b, int64(x), 10), nil
		}
	case kindBool:
		switch x := v.(type) {
		case bool:
			return strconv.AppendBool(b, x), nil
		case int64:
			return strconv.AppendBool(b, x != 0), nil
		}
	case kindTime:
		switch x := v.(type) {
		case time.Time:
			b = append(b, '"')
			b = x.UTC().AppendFormat(b, backupTimeLayout)
			return append(b, '"'), nil
		case string:
			t, err := parseStoredTime(x)
			if err != nil {
				return b, err
			}
			return appendValue(b, kind, t)
		}
	case kindBlob:
		var raw []byte
		switch x := v.(type) {
		case []byte:
			raw = x
		case string:
			raw = []byte(x)
		default:
			return b, fmt.Errorf("unexpected %T for a blob", v)
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, raw)
		return append(b, '"'), nil
	}
	return b, fmt.Errorf("unexpected %T for %s", v, kind)
}

// parseStoredTime reads a time SQLite returned as text, which happens for
// a value not written by the driver.
func parseStoredTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}

// appendJSONString appends s as a JSON string. Unlike encoding/json it
// leaves <, > and & alone, and, like it, replaces bytes that are not
// UTF-8 with U+FFFD: Keel's text comes from JSON and is valid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// backupTables lists Keel's tables with their columns, parents before
// children, read in q's transaction.
func (db *DB) backupTables(ctx context.Context, q querier) ([]backupTable, error) {
	var tables []backupTable
	var err error
	if db.d.name() == "postgres" {
		tables, err = postgresTables(ctx, q)
	} else {
		tables, err = sqliteTables(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	for i := range tables {
		if order, ok := backupOrder[tables[i].name]; ok {
			tables[i].pk = order
		}
		sort.Slice(tables[i].columns, func(a, b int) bool { return tables[i].columns[a].name < tables[i].columns[b].name })
	}
	return parentsFirst(tables)
}

// parentsFirst orders tables so that every table comes after the tables
// its foreign keys reference, by name where the keys leave a choice.
func parentsFirst(tables []backupTable) ([]backupTable, error) {
	sort.Slice(tables, func(a, b int) bool { return tables[a].name < tables[b].name })
	byName := map[string]bool{}
	for _, t := range tables {
		byName[t.name] = true
	}
	placed := map[string]bool{}
	var out []backupTable
	for len(out) < len(tables) {
		progress := false
		for _, t := range tables {
			if placed[t.name] {
				continue
			}
			ready := true
			for _, p := range t.parents {
				if p != t.name && byName[p] && !placed[p] {
					ready = false
				}
			}
			if ready {
				out, placed[t.name], progress = append(out, t), true, true
			}
		}
		if !progress {
			return nil, errors.New("foreign keys form a cycle")
		}
	}
	return out, nil
}

func sqliteTables(ctx context.Context, q querier) ([]backupTable, error) {
	names, err := queryStrings(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	virtual, err := queryStrings(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'`)
	if err != nil {
		return nil, err
	}
	var tables []backupTable
next:
	for _, name := range names {
		if backupSkipTable(name) {
			continue
		}
		// A virtual table (the full-text index) and its shadow tables
		// are derived from entries: the insert trigger rebuilds them.
		for _, v := range virtual {
			if name == v || strings.HasPrefix(name, v+"_") {
				continue next
			}
		}
		t := backupTable{name: name}
		rows, err := q.QueryContext(ctx, `SELECT name, type, pk, hidden FROM pragma_table_xinfo(?) ORDER BY pk, cid`, name)
		if err != nil {
			return nil, err
		}
		type pkCol struct {
			name string
			pos  int
		}
		var pks []pkCol
		for rows.Next() {
			var col, typ string
			var pk, hidden int
			if err := rows.Scan(&col, &typ, &pk, &hidden); err != nil {
				rows.Close()
				return nil, err
			}
			if pk > 0 {
				pks = append(pks, pkCol{col, pk})
			}
			if hidden != 0 || engineColumns[name+"."+col] {
				continue
			}
			t.columns = append(t.columns, backupColumn{col, sqliteKind(name, col, typ)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		sort.Slice(pks, func(a, b int) bool { return pks[a].pos < pks[b].pos })
		for _, p := range pks {
			t.pk = append(t.pk, p.name)
		}
		if len(t.pk) == 0 {
			return nil, fmt.Errorf("table %s has no primary key", name)
		}
		if t.parents, err = queryStrings(ctx, q, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, name); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, nil
}

func sqliteKind(table, col, typ string) columnKind {
	switch t := strings.ToUpper(typ); {
	case sqliteBooleans[table+"."+col] || t == "BOOLEAN":
		return kindBool
	case t == "TIMESTAMP" || t == "DATETIME":
		return kindTime
	case t == "BLOB":
		return kindBlob
	case strings.Contains(t, "INT"):
		return kindInt
	}
	return kindText
}

func postgresTables(ctx context.Context, q querier) ([]backupTable, error) {
	// UNLOGGED tables are left out: they hold state that PostgreSQL itself
	// empties after a crash (the rate limits that nodes share), which is
	// worth less than a restore's care and has no counterpart on SQLite.
	names, err := queryStrings(ctx, q, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p' ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	var tables []backupTable
	for _, name := range names {
		if backupSkipTable(name) {
			continue
		}
		t := backupTable{name: name}
		rows, err := q.QueryContext(ctx, `SELECT column_name, data_type, is_generated, COALESCE(column_default, '') FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var col, typ, generated, def string
			if err := rows.Scan(&col, &typ, &generated, &def); err != nil {
				rows.Close()
				return nil, err
			}
			if generated == "ALWAYS" || engineColumns[name+"."+col] {
				continue
			}
			if strings.HasPrefix(def, "nextval(") {
				t.serial = append(t.serial, col)
			}
			t.columns = append(t.columns, backupColumn{col, postgresKind(typ)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if t.pk, err = queryStrings(ctx, q, `SELECT a.attname FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
			WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass AND i.indisprimary
			ORDER BY array_position(i.indkey::int2[], a.attnum)`, name); err != nil {
			return nil, err
		}
		if len(t.pk) == 0 {
			return nil, fmt.Errorf("table %s has no primary key", name)
		}
		if t.parents, err = queryStrings(ctx, q, `SELECT DISTINCT confrelid::regclass::text FROM pg_constraint
			WHERE contype = 'f' AND conrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass`, name); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, nil
}

func postgresKind(typ string) columnKind {
	switch typ {
	case "boolean":
		return kindBool
	case "timestamp with time zone", "timestamp without time zone":
		return kindTime
	case "bytea":
		return kindBlob
	case "smallint", "integer", "bigint":
		return kindInt
	}
	return kindText
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// quoteIdent quotes a table or column name read from the schema.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// BackupSource is a backup being restored: its description and, per
// table, its rows as JSON lines. ReadTable calls load with the table's
// rows and returns load's error, or an error of its own when the rows
// read do not match what the backup recorded for them (a checksum, a
// count), in which case the restore rolls back.
type BackupSource interface {
	Info() BackupInfo
	ReadTable(name string, load func(r io.Reader) error) error
}

// ErrNotEmpty is Restore's refusal to write over a database that holds
// users, workspaces or submissions without RestoreOptions.Force.
var ErrNotEmpty = errors.New("the database is not empty (it holds users, workspaces or submissions)")

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Force empties Keel's tables, in the restore's transaction, instead
	// of refusing a database that is not empty.
	Force bool
	// Rows, when set, is called as rows are loaded, with how many more.
	Rows func(n int64)
}

// Restore loads a backup into this database and returns each table's row
// count. The database is migrated to the backup's schema version first
// (a new database gets its tables), then every table is emptied and
// loaded in one transaction, so that a failure leaves no half-restored
// data, and finally the newer migrations run, which upgrade a backup made
// by an older Keel. A database already past the backup's schema version
// is refused: its tables no longer have the backup's shape.
func (db *DB) Restore(ctx context.Context, src BackupSource, opts RestoreOptions) (_ []BackupTableInfo, err error) {
	ctx, span := otel.Tracer("github.com/keelhq/keel/adapters/sqlstore").Start(ctx, "sqlstore.Restore")
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "restore failed")
		}
		span.End()
	}()
	info := src.Info()
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	newest := p.ListSources()[len(p.ListSources())-1].Version
	if info.SchemaVersion > newest {
		return nil, fmt.Errorf("the backup's schema version %d is newer than this Keel's %d: restore it with the Keel that made it, or a newer one", info.SchemaVersion, newest)
	}
	current, err := db.schemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if current > info.SchemaVersion {
		return nil, fmt.Errorf("the database is at schema version %d, past the backup's %d: restore into a new, empty database, which the restore migrates itself", current, info.SchemaVersion)
	}
	if current < info.SchemaVersion {
		if _, err := p.UpTo(ctx, info.SchemaVersion); err != nil {
			return nil, fmt.Errorf("migrate to the backup's schema version %d: %w", info.SchemaVersion, err)
		}
	}
	var counts []BackupTableInfo
	err = db.restoreTx(ctx, func(tx *sql.Tx) error {
		var err error
		counts, err = db.load(ctx, tx, src, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := p.Up(ctx); err != nil {
		return counts, fmt.Errorf("restored, but migrating past the backup's schema version failed: %w", err)
	}
	return counts, nil
}

// MigrateTo applies the migrations up to and including version, for
// building a database as an older Keel left it.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrate %s to %d: %w", db.d.name(), version, err)
	}
	return nil
}

func (db *DB) schemaVersion(ctx context.Context) (int64, error) {
	p, err := db.provider()
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// restoreTx runs fn in one transaction outside the group commit, which
// is for short transactions: a restore may run for minutes.
func (db *DB) restoreTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin restore: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit restore: %w", err)
	}
	return nil
}

func (db *DB) load(ctx context.Context, tx *sql.Tx, src BackupSource, opts RestoreOptions) ([]BackupTableInfo, error) {
	tables, err := db.backupTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	info := src.Info()
	inBackup := map[string]bool{}
	for _, t := range info.Tables {
		inBackup[t.Name] = true
	}
	for _, t := range tables {
		if !inBackup[t.name] {
			return nil, fmt.Errorf("the backup has no table %s, which schema version %d has", t.name, info.SchemaVersion)
		}
		delete(inBackup, t.name)
	}
	for name := range inBackup {
		return nil, fmt.Errorf("the backup has a table %s, which schema version %d does not have", name, info.SchemaVersion)
	}
	var holds bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM workspaces) OR EXISTS (SELECT 1 FROM submissions)`).Scan(&holds); err != nil {
		return nil, fmt.Errorf("check that the database is empty: %w", err)
	}
	if holds && !opts.Force {
		return nil, ErrNotEmpty
	}
	// Even a database without users has rows a start-up or a migration
	// wrote (the instance's identity, the role permissions): the backup's
	// replace them.
	if db.d.name() == "postgres" {
		names := make([]string, len(tables))
		for i, t := range tables {
			names[i] = quoteIdent(t.name)
		}
		if _, err := tx.ExecContext(ctx, `TRUNCATE `+strings.Join(names, ", ")); err != nil {
			return nil, fmt.Errorf("empty the tables: %w", err)
		}
	} else {
		for i := len(tables) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(tables[i].name)); err != nil {
				return nil, fmt.Errorf("empty %s: %w", tables[i].name, err)
			}
		}
	}
	counts := make([]BackupTableInfo, 0, len(tables))
	for _, t := range tables {
		var n int64
		err := src.ReadTable(t.name, func(r io.Reader) error {
			var err error
			n, err = db.loadTable(ctx, tx, t, r, opts.Rows)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("restore %s: %w", t.name, err)
		}
		counts = append(counts, BackupTableInfo{Name: t.name, Rows: n})
		if db.d.name() == "postgres" {
			for _, col := range t.serial {
				if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(`+quoteIdent(col)+`) FROM `+quoteIdent(t.name)+`), 0) + 1, false)`, t.name, col); err != nil {
					return nil, fmt.Errorf("reset the sequence of %s.%s: %w", t.name, col, err)
				}
			}
		}
	}
	return counts, nil
}

// loadBatchParams bounds one INSERT's placeholders, well under SQLite's
// and PostgreSQL's limits, while saving most round trips.
const loadBatchParams = 900

// maxBackupLine bounds one row's JSON line: Keel bounds what it stores
// (bodies, submissions) far below it.
const maxBackupLine = 64 << 20

func (db *DB) loadTable(ctx context.Context, tx *sql.Tx, t backupTable, r io.Reader, progress func(int64)) (int64, error) {
	cols := make([]string, len(t.columns))
	index := make(map[string]int, len(t.columns))
	for i, c := range t.columns {
		cols[i] = quoteIdent(c.name)
		index[c.name] = i
	}
	perRow := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	insert := func(rows int) string {
		return db.d.rebind(`INSERT INTO ` + quoteIdent(t.name) + ` (` + strings.Join(cols, ", ") + `) VALUES ` + strings.TrimSuffix(strings.Repeat(perRow+", ", rows), ", "))
	}
	batch := max(1, loadBatchParams/len(cols))
	full, err := tx.PrepareContext(ctx, insert(batch))
	if err != nil {
		return 0, err
	}
	defer full.Close()
	args := make([]any, 0, batch*len(cols))
	var n int64
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		rows := len(args) / len(cols)
		var err error
		if rows == batch {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insert(rows), args...)
		}
		if err != nil {
			return err
		}
		if progress != nil {
			progress(int64(rows))
		}
		args = args[:0]
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxBackupLine)
	row := make([]any, len(cols))
	for sc.Scan() {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			return n, fmt.Errorf("row %d: %w", n+1, err)
		}
		clear(row)
		for k, raw := range obj {
			i, ok := index[k]
			if !ok {
				if engineColumns[t.name+"."+k] {
					continue
				}
				return n, fmt.Errorf("row %d: column %s is not in the table", n+1, k)
			}
			v, err := loadValue(t.columns[i].kind, raw)
			if err != nil {
				return n, fmt.Errorf("row %d: column %s: %w", n+1, k, err)
			}
			row[i] = v
		}
		args = append(args, row...)
		n++
		if len(args) == cap(args) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// loadValue turns a JSON value back into what the driver stores for kind.
func loadValue(kind columnKind, raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	switch kind {
	case kindInt:
		return strconv.ParseInt(string(raw), 10, 64)
	case kindBool:
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	switch kind {
	case kindTime:
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UTC(), err
	case kindBlob:
		return base64.StdEncoding.DecodeString(s)
	}
	return s, nil
}
