package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/keelhq/keel/adapters/backuparchive"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/ports"
)

// sealedTables are the tables whose rows hold secrets sealed under the
// instance's secret key, which a backup does not carry.
var sealedTables = []string{"two_factor"}

func newBackupCommand(getenv func(string) string) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a consistent backup of the database and its files to one archive file",
		Long: `Backup reads every table in one read transaction, a snapshot of the data
committed when it starts, while Keel keeps serving and writing, and writes it
to FILE: a zip archive of JSON lines per table, the files of the blob store
(KEEL_BLOB_URL) that the snapshot's rows name (media and their variants,
submissions' files), and a manifest with the Keel and schema versions, the
engine, row counts, sizes and SHA-256 checksums. A file whose row was deleted
after the snapshot began may be gone when it is copied: the manifest lists it
as missing, with a warning. "keel restore" loads the archive into an empty
database of either engine and any blob store. The secret key (KEEL_SECRET_KEY
or secret.key) is not in the archive: keep it apart.`,
		Example: `  keel backup --out keel-2026-12-03.zip
  keel backup verify keel-2026-12-03.zip`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			return runBackup(cmd, getenv, out)
		},
	}
	addFlags(cmd.Flags(), sDataDir, sDatabaseURL, sBlobURL, sLogLevel, sSecretKey)
	cmd.Flags().StringVar(&out, "out", "", "archive to write (replaced only once it is complete)")
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a backup archive's manifest and every table's and file's checksum",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := backuparchive.Open(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			bar := newProgress(cmd.ErrOrStderr(), totalBytes(r.Manifest)+r.Manifest.BlobBytes(), "verifying", true)
			r.Bytes = bar.add
			err = r.Verify()
			bar.finish()
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			m := r.Manifest
			fmt.Fprintf(cmd.OutOrStdout(), "%s is intact: Keel %s, %s, schema version %d, made %s, %d rows in %d tables, %d files of %d bytes\n",
				args[0], m.KeelVersion, m.Engine, m.SchemaVersion, m.CreatedAt.UTC().Format(time.RFC3339), totalRows(m), len(m.Tables), len(m.Blobs), m.BlobBytes())
			if len(m.MissingBlobs) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d files the rows name were gone when the backup was made\n", len(m.MissingBlobs))
			}
			return nil
		},
	}
	cmd.AddCommand(verify)
	return cmd
}

func newRestoreCommand(getenv func(string) string) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Load a backup archive into an empty database and blob store",
		Long: `Restore checks the archive's manifest and every checksum, of tables and
files, before it writes anything, then loads it into the database that
KEEL_DATABASE_URL names (or SQLite in the data directory), SQLite or
PostgreSQL whichever made the backup, and its files into the blob store that
KEEL_BLOB_URL names (a directory or S3, whichever made the backup): it
creates the schema at the backup's version, and in one transaction empties
the tables, writes every file, loads every table and commits, then runs the
newer migrations. A database that holds users, workspaces or submissions, or
a blob store that holds files (other than scheduled backups) while the
archive has some, is refused unless --force, which empties Keel's tables in
that transaction first and replaces the files the archive holds; other files
already in the blob store are left there. Stop every keel process using the
database first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestore(cmd, getenv, args[0], force)
		},
	}
	addFlags(cmd.Flags(), sDataDir, sDatabaseURL, sBlobURL, sLogLevel, sSecretKey)
	cmd.Flags().BoolVar(&force, "force", false, "empty a database that is not empty, and write over a blob store that is not, instead of refusing them")
	return cmd
}

func runBackup(cmd *cobra.Command, getenv func(string) string, out string) error {
	db, err := openStore(cmd, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	fp, err := secretKeyFingerprint(cmd.Flags(), getenv)
	if err != nil {
		return err
	}
	// The blob store is opened only when a row names a file, so that a
	// backup of data without files needs no blob store setting to work
	// and creates no blob directory.
	blobs := func() (ports.BlobStore, error) {
		store, _, err := openCommandBlobStore(cmd, getenv)
		return store, err
	}
	started := time.Now()
	m, err := writeBackup(cmd.Context(), db, blobs, out, fp, cmd.ErrOrStderr(), nil)
	if err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d rows in %d tables, schema version %d, %d files of %d bytes (%d missing), %d bytes, in %s\n",
		out, totalRows(m), len(m.Tables), m.SchemaVersion, len(m.Blobs), m.BlobBytes(), len(m.MissingBlobs), st.Size(), time.Since(started).Round(time.Millisecond))
	return nil
}

// archiveSink writes a snapshot from sqlstore into an archive.
type archiveSink struct {
	w       *backuparchive.Writer
	stderr  io.Writer
	info    sqlstore.BackupInfo
	started time.Time
	bar     *progress
	// refs gathers the blob keys the snapshot's rows name.
	refs blobRefSet
}

func (s *archiveSink) Begin(info sqlstore.BackupInfo) error {
	s.info, s.started = info, time.Now()
	var rows int64
	for _, t := range info.Tables {
		rows += t.Rows
	}
	s.bar = newProgress(s.stderr, rows, "backing up", false)
	s.w.Rows = s.bar.add
	return nil
}

func (s *archiveSink) WriteTable(name string, dump func(io.Writer) (int64, error)) error {
	return s.w.AddTable(name, s.refs.scan(name, dump))
}

func runRestore(cmd *cobra.Command, getenv func(string) string, file string, force bool) error {
	r, err := backuparchive.Open(file)
	if err != nil {
		return err
	}
	defer r.Close()
	m := r.Manifest
	// Every checksum is checked before the database is even opened, so a
	// damaged archive changes nothing.
	bar := newProgress(cmd.ErrOrStderr(), totalBytes(m)+m.BlobBytes(), "verifying", true)
	r.Bytes = bar.add
	err = r.Verify()
	bar.finish()
	r.Bytes = nil
	if err != nil {
		return fmt.Errorf("%s: %w; nothing was written", file, err)
	}
	fp, err := secretKeyFingerprint(cmd.Flags(), getenv)
	if err != nil {
		return err
	}
	// An archive without files leaves the blob store alone, unopened.
	var blobs ports.BlobStore
	blobWhere := "no blob store"
	if len(m.Blobs) > 0 {
		if blobs, blobWhere, err = openCommandBlobStore(cmd, getenv); err != nil {
			return err
		}
	}
	if blobs != nil && !force {
		holds, err := blobStoreHolds(cmd.Context(), blobs)
		if err != nil {
			return fmt.Errorf("restore: %w; nothing was written", err)
		}
		if holds {
			return fmt.Errorf("restore: the blob store %s is not empty (it holds files); nothing was written: restore into an empty blob store, or pass --force to write the archive's files over it", blobWhere)
		}
	}
	db, err := openStore(cmd, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	started := time.Now()
	src := &archiveSource{ctx: cmd.Context(), r: r, blobs: blobs, stderr: cmd.ErrOrStderr()}
	bar = newProgress(cmd.ErrOrStderr(), totalRows(m), "restoring", false)
	counts, err := db.Restore(cmd.Context(), src, sqlstore.RestoreOptions{Force: force, Rows: bar.add})
	bar.finish()
	if errors.Is(err, sqlstore.ErrNotEmpty) {
		return fmt.Errorf("restore: %w; nothing was written: restore into an empty database, or pass --force to replace its data", err)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	var rows int64
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%d\n", c.Name, c.Rows)
		rows += c.Rows
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "restored %d rows and %d files of %d bytes from %s (Keel %s, %s, schema version %d) into %s and %s in %s\n",
		rows, len(m.Blobs), m.BlobBytes(), file, m.KeelVersion, m.Engine, m.SchemaVersion, db.Dialect(), blobWhere, time.Since(started).Round(time.Millisecond))
	if len(m.MissingBlobs) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d files the restored rows name were gone when the backup was made (their rows were being deleted); they are not in the blob store\n", len(m.MissingBlobs))
	}
	if sealed := sealedRows(m); sealed > 0 && fp != m.SecretKey {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d sealed two-factor secrets were written under a secret key (fingerprint %q) that differs from this instance's (%q): "+
			"set KEEL_SECRET_KEY, or on SQLite secret.key in the data directory, to the backed-up instance's key before keel serve, "+
			"or those accounts can sign in only with a recovery code\n", sealed, m.SecretKey, fp)
	}
	return nil
}

// archiveSource hands an archive's tables to sqlstore.Restore, and writes
// its blobs into the blob store when the first table is asked for: inside
// the restore's transaction, once the database has been found empty (or
// --force given) and before any row is loaded, so that a refused restore
// writes no file, and a failed write of a file rolls the tables back:
// blobs are in place before the rows that name them commit, as Keel
// writes them.
type archiveSource struct {
	ctx    context.Context
	r      *backuparchive.Reader
	blobs  ports.BlobStore
	stderr io.Writer
	wrote  bool
}

func (s *archiveSource) Info() sqlstore.BackupInfo {
	m := s.r.Manifest
	info := sqlstore.BackupInfo{Engine: m.Engine, SchemaVersion: m.SchemaVersion}
	for _, t := range m.Tables {
		info.Tables = append(info.Tables, sqlstore.BackupTableInfo{Name: t.Name, Rows: t.Rows})
	}
	return info
}

func (s *archiveSource) ReadTable(name string, load func(io.Reader) error) error {
	if !s.wrote {
		s.wrote = true
		if n := len(s.r.Manifest.Blobs); n > 0 {
			// The rows' bar pauses while the files' bar runs: two bars
			// at once would garble a terminal.
			bar := newProgress(s.stderr, int64(n), "restoring files", false)
			bar.unit = "files"
			err := restoreBlobs(s.ctx, s.blobs, s.r, bar)
			bar.finish()
			if err != nil {
				return err
			}
		}
	}
	return s.r.Table(name, load)
}

func totalRows(m backuparchive.Manifest) int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Rows
	}
	return n
}

func totalBytes(m backuparchive.Manifest) int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Bytes
	}
	return n
}

func sealedRows(m backuparchive.Manifest) int64 {
	var n int64
	for _, t := range m.Tables {
		for _, s := range sealedTables {
			if t.Name == s {
				n += t.Rows
			}
		}
	}
	return n
}

// secretKeyFingerprint names the instance's secret key without revealing
// it: the first 8 bytes of a SHA-256 of the key under a fixed label, or ""
// when there is no key. It reads KEEL_SECRET_KEY or, on SQLite, secret.key
// in the data directory, and never creates the file, as serve would. The
// archive's sealed secrets already let whoever holds it test a guessed
// key, so the fingerprint reveals nothing more.
func secretKeyFingerprint(flags *pflag.FlagSet, getenv func(string) string) (string, error) {
	key := value(flags, getenv, sSecretKey)
	if key == "" {
		sc, err := loadStoreConfig(flags, getenv)
		if err != nil {
			return "", err
		}
		if isPostgres(sc.databaseURL) {
			return "", nil
		}
		key, err = readKeyFile(filepath.Join(sc.dataDir, secretKeyFile))
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", sSecretKey.errorf("%v", err)
		}
	}
	sum := sha256.Sum256([]byte("keel secret key fingerprint\x00" + key))
	return hex.EncodeToString(sum[:8]), nil
}

// progress shows long work: a progress bar when w is a terminal, and
// otherwise a plain line every few seconds, which logs and CI keep
// readable.
type progress struct {
	bar         *progressbar.ProgressBar
	w           io.Writer
	what        string
	total, done atomic.Int64
	last        atomic.Int64 // UnixNano of the last plain line
	bytes       bool
	unit        string // what a plain line counts, when not rows or bytes
}

// progressEvery is how often a plain progress line is written.
const progressEvery = 5 * time.Second

func newProgress(w io.Writer, total int64, what string, bytes bool) *progress {
	p := &progress{w: w, what: what, bytes: bytes}
	p.total.Store(total)
	p.last.Store(time.Now().UnixNano())
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts := []progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionClearOnFinish()}
		if bytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		}
		p.bar = progressbar.NewOptions64(total, opts...)
	}
	return p
}

// onTerminal says whether p draws a bar rather than plain lines.
func (p *progress) onTerminal() bool { return p != nil && p.bar != nil }

func (p *progress) add(n int64) {
	if p == nil {
		return
	}
	done := p.done.Add(n)
	if p.bar != nil {
		_ = p.bar.Add64(n)
		return
	}
	now := time.Now().UnixNano()
	if last := p.last.Load(); now-last >= int64(progressEvery) && p.last.CompareAndSwap(last, now) {
		unit := "rows"
		if p.bytes {
			unit = "bytes"
		}
		if p.unit != "" {
			unit = p.unit
		}
		fmt.Fprintf(p.w, "%s: %d of %d %s\n", p.what, done, p.total.Load(), unit)
	}
}

func (p *progress) finish() {
	if p != nil && p.bar != nil {
		_ = p.bar.Finish()
	}
}
