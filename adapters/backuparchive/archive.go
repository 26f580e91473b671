// Package backuparchive reads and writes Keel's backup archives: one zip
// file holding manifest.json and, per table, tables/<name>.jsonl, the
// table's rows as JSON lines. The manifest records where the backup came
// from (Keel's version, the schema version, the engine, when) and, for
// every table, its row count and the SHA-256 of its file, which Verify and
// every read check. Since format 2 the archive also holds files of the
// blob store (media, submissions' files) as blobs/<key>, each listed in the
// manifest's blobs with its size, SHA-256 and content type, and names the
// blobs the data referred to that were gone when they were copied. A
// format 1 archive has no blobs and reads as before.
//
// Zip rather than tar: a zip is written as a stream (each file's size and
// CRC follow its data), so a table of any size goes in without being held
// in memory or spooled to disk first, and it is read by random access, so
// a restore reads the manifest before any table. Each table is deflated;
// a blob is deflated unless its type is one that is compressed already
// (images, audio, video, archives), which deflating only slows.
package backuparchive

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/keelhq/keel/ports"
)

// FormatVersion is the archive layout this package writes; readers refuse
// a newer one. Format 2 added blobs; format 1 archives have none.
const FormatVersion = 2

// manifestName is the manifest's path in the archive.
const manifestName = "manifest.json"

// maxManifestBytes bounds the manifest read before anything is trusted.
// Each blob takes about 350 bytes of it, so an archive holds up to about
// 190,000 blobs; a Writer refuses to write a larger manifest rather than
// make an archive no reader opens.
const maxManifestBytes = 64 << 20

// maxMissingBlobs bounds the missing blobs a manifest names.
const maxMissingBlobs = 100_000

// Manifest describes an archive.
type Manifest struct {
	Format        int       `json:"format"`
	KeelVersion   string    `json:"keel_version"`
	Engine        string    `json:"engine"`
	SchemaVersion int64     `json:"schema_version"`
	CreatedAt     time.Time `json:"created_at"`
	// SecretKey fingerprints the sealing key the instance had when the
	// backup was made (empty when it had none), so that a restore can warn
	// when the target's key cannot open the sealed two-factor secrets. The
	// key itself is never in an archive.
	SecretKey string  `json:"secret_key_fingerprint,omitempty"`
	Tables    []Table `json:"tables"`
	Blobs     []Blob  `json:"blobs"`
	// MissingBlobs are the keys of blobs the backed-up rows referred to
	// that were gone when the backup copied them: their rows were deleted
	// after the snapshot began, and a restore brings back those rows
	// without their files.
	MissingBlobs []string `json:"missing_blobs,omitempty"`
}

// Table is one table's file in the archive.
type Table struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Blob is a file of the blob store in the archive: its key, its file in
// the archive (blobs/<key>), its content type, size and SHA-256.
type Blob struct {
	Key         string `json:"key"`
	File        string `json:"file"`
	ContentType string `json:"content_type,omitempty"`
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256"`
}

// blobPrefix holds the blobs' files in the archive.
const blobPrefix = "blobs/"

// Writer writes an archive to a temporary file beside its destination and
// moves it into place only when Close has written the manifest, so that a
// failed backup never leaves a file that looks like one.
type Writer struct {
	path, tmp string
	f         *os.File
	zw        *zip.Writer
	tables    []Table
	blobs     []Blob
	blobKeys  map[string]bool
	// Rows, when set, is called as rows are written, with how many more.
	Rows func(n int64)
	// BlobBytes, when set, is called as blobs are written, with how many
	// more bytes.
	BlobBytes func(n int64)
}

// Create starts an archive at path. The file is mode 0600: it holds
// password hashes and everything people submitted.
func Create(path string) (*Writer, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create backup file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("create backup file: %w", err)
	}
	return &Writer{path: path, tmp: f.Name(), f: f, zw: zip.NewWriter(f), blobKeys: map[string]bool{}}, nil
}

// AddTable writes one table's file; write writes its rows as JSON lines
// and returns how many. The file's checksum and size are computed as it
// streams.
func (w *Writer) AddTable(name string, write func(io.Writer) (int64, error)) error {
	file := "tables/" + name + ".jsonl"
	zf, err := w.zw.CreateHeader(&zip.FileHeader{Name: file, Method: zip.Deflate, Modified: time.Now()})
	if err != nil {
		return err
	}
	c := &counter{w: zf, h: sha256.New(), rows: w.Rows}
	n, err := write(c)
	if err != nil {
		return err
	}
	if n != c.lines {
		return fmt.Errorf("table %s: %d rows written in %d lines", name, n, c.lines)
	}
	w.tables = append(w.tables, Table{Name: name, File: file, Rows: n, Bytes: c.bytes, SHA256: hex.EncodeToString(c.h.Sum(nil))})
	return nil
}

// AddBlob copies a blob of size bytes from r into the archive as it
// streams, never holding it whole, and records its size, SHA-256 and
// contentType. A reader that ends short of size or holds more is an
// error: the archive would then hold something else than the store did.
// After an error the Writer must be aborted, since the zip holds a part
// of the file.
func (w *Writer) AddBlob(key, contentType string, size int64, r io.Reader) error {
	if err := ports.CheckBlobKey(key); err != nil {
		return fmt.Errorf("blob %q: %w", key, err)
	}
	if size < 0 {
		return fmt.Errorf("blob %s: unknown size", key)
	}
	if w.blobKeys[key] {
		return fmt.Errorf("blob %s added twice", key)
	}
	file := blobPrefix + key
	method := zip.Deflate
	if compressed(contentType) {
		method = zip.Store
	}
	zf, err := w.zw.CreateHeader(&zip.FileHeader{Name: file, Method: method, Modified: time.Now()})
	if err != nil {
		return err
	}
	c := &counter{w: zf, h: sha256.New()}
	n, err := io.Copy(c, io.TeeReader(io.LimitReader(r, size+1), progressWriter(w.BlobBytes)))
	if err != nil {
		return fmt.Errorf("blob %s: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("blob %s: read %d bytes of a blob of %d", key, n, size)
	}
	w.blobKeys[key] = true
	w.blobs = append(w.blobs, Blob{Key: key, File: file, ContentType: contentType, Bytes: n, SHA256: hex.EncodeToString(c.h.Sum(nil))})
	return nil
}

// compressed says whether a content type's bytes are compressed already.
func compressed(contentType string) bool {
	ct, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	switch {
	case ct == "image/svg+xml", ct == "image/bmp":
		return false
	case strings.HasPrefix(ct, "image/"), strings.HasPrefix(ct, "audio/"), strings.HasPrefix(ct, "video/"):
		return true
	}
	switch ct {
	case "application/zip", "application/gzip", "application/x-gzip", "application/x-7z-compressed", "application/x-xz",
		"application/zstd", "application/pdf", "application/x-bzip2":
		return true
	}
	return false
}

// progressWriter counts the bytes written to it for fn; nil does nothing.
type progressWriter func(n int64)

func (p progressWriter) Write(b []byte) (int, error) {
	if p != nil && len(b) > 0 {
		p(int64(len(b)))
	}
	return len(b), nil
}

// Close writes the manifest, m with the tables and blobs added, and moves
// the archive into place. It returns the manifest written.
func (w *Writer) Close(m Manifest) (Manifest, error) {
	m.Format = FormatVersion
	m.Tables = w.tables
	m.Blobs = w.blobs
	if m.Blobs == nil {
		m.Blobs = []Blob{}
	}
	if len(m.MissingBlobs) > maxMissingBlobs {
		w.Abort()
		return m, fmt.Errorf("write backup file: %d missing blobs, more than a manifest names (%d)", len(m.MissingBlobs), maxMissingBlobs)
	}
	err := w.writeManifest(m)
	if err == nil {
		err = w.zw.Close()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.tmp, w.path)
	}
	if err != nil {
		_ = os.Remove(w.tmp)
		return m, fmt.Errorf("write backup file: %w", err)
	}
	return m, nil
}

func (w *Writer) writeManifest(m Manifest) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if len(raw)+1 > maxManifestBytes {
		return fmt.Errorf("the manifest of %d tables and %d blobs takes %d bytes, more than a reader takes (%d)", len(m.Tables), len(m.Blobs), len(raw)+1, maxManifestBytes)
	}
	zf, err := w.zw.CreateHeader(&zip.FileHeader{Name: manifestName, Method: zip.Deflate, Modified: time.Now()})
	if err != nil {
		return err
	}
	_, err = zf.Write(append(raw, '\n'))
	return err
}

// Abort removes the unfinished archive.
func (w *Writer) Abort() {
	_ = w.f.Close()
	_ = os.Remove(w.tmp)
}

// counter hashes, sizes and counts the lines of what passes through it.
type counter struct {
	w            io.Writer
	h            hash.Hash
	bytes, lines int64
	rows         func(int64)
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.bytes += int64(n)
	lines := int64(bytes.Count(p[:n], []byte{'\n'}))
	c.lines += lines
	if c.rows != nil && lines > 0 {
		c.rows(lines)
	}
	return n, err
}

// Reader is an open archive whose manifest has been read and checked for
// shape; its tables' and blobs' checksums are checked as they are read
// (Table, Blob) or all at once (Verify).
type Reader struct {
	f        *os.File
	zr       *zip.Reader
	files    map[string]*zip.File
	blobs    map[string]int // the manifest's blobs by key
	Manifest Manifest
	// Bytes, when set, is called as table and blob data is read, with how
	// many more bytes.
	Bytes func(n int64)
}

// Open opens the archive at path and reads its manifest. A file that is
// not a whole zip (a truncated copy), has no manifest, or whose manifest
// is malformed or lists files the archive lacks is refused here.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s is not a readable Keel backup (truncated or not a zip archive): %w", path, err)
	}
	r := &Reader{f: f, zr: zr, files: map[string]*zip.File{}}
	for _, zf := range zr.File {
		r.files[zf.Name] = zf
	}
	if err := r.readManifest(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Close closes the archive's file.
func (r *Reader) Close() error { return r.f.Close() }

func (r *Reader) readManifest() error {
	zf := r.files[manifestName]
	if zf == nil {
		return errors.New("no manifest.json: not a Keel backup")
	}
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	if len(raw) > maxManifestBytes {
		return fmt.Errorf("manifest is larger than %d MiB", maxManifestBytes>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("malformed manifest: %w", err)
	}
	switch {
	case m.Format < 1 || m.Format > FormatVersion:
		return fmt.Errorf("archive format %d: this Keel reads format %d", m.Format, FormatVersion)
	case m.Engine != "sqlite" && m.Engine != "postgres":
		return fmt.Errorf("manifest: unknown engine %q", m.Engine)
	case m.SchemaVersion < 1:
		return fmt.Errorf("manifest: schema version %d", m.SchemaVersion)
	case m.Format < 2 && len(m.Blobs) > 0:
		return errors.New("manifest: a format 1 archive lists blobs")
	case len(m.MissingBlobs) > maxMissingBlobs:
		return fmt.Errorf("manifest: %d missing blobs, more than %d", len(m.MissingBlobs), maxMissingBlobs)
	}
	seen := map[string]bool{}
	for _, t := range m.Tables {
		if seen[t.Name] {
			return fmt.Errorf("manifest lists table %s twice", t.Name)
		}
		seen[t.Name] = true
		if t.File != "tables/"+t.Name+".jsonl" || r.files[t.File] == nil {
			return fmt.Errorf("manifest: table %s's file %q is not in the archive", t.Name, t.File)
		}
		if t.Rows < 0 || t.Bytes < 0 || len(t.SHA256) != 64 {
			return fmt.Errorf("manifest: table %s: malformed count, size or checksum", t.Name)
		}
	}
	// A blob's key is checked as the blob store checks it, so that a
	// restore never hands a store a key that climbs out of it.
	r.blobs = make(map[string]int, len(m.Blobs))
	for i, b := range m.Blobs {
		if err := ports.CheckBlobKey(b.Key); err != nil {
			return fmt.Errorf("manifest: blob %q: not a valid key", b.Key)
		}
		if _, dup := r.blobs[b.Key]; dup {
			return fmt.Errorf("manifest lists blob %s twice", b.Key)
		}
		r.blobs[b.Key] = i
		if b.File != blobPrefix+b.Key || r.files[b.File] == nil {
			return fmt.Errorf("manifest: blob %s's file %q is not in the archive", b.Key, b.File)
		}
		if b.Bytes < 0 || len(b.SHA256) != 64 || len(b.ContentType) > 255 {
			return fmt.Errorf("manifest: blob %s: malformed size, checksum or content type", b.Key)
		}
	}
	r.Manifest = m
	return nil
}

// Verify reads every table's and every blob's file and checks its
// checksum and size, and a table's row count, against the manifest. It
// returns the first mismatch.
func (r *Reader) Verify() error {
	for _, t := range r.Manifest.Tables {
		if err := r.Table(t.Name, func(io.Reader) error { return nil }); err != nil {
			return err
		}
	}
	for _, b := range r.Manifest.Blobs {
		if err := r.Blob(b.Key, func(io.Reader) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// Blob calls fn with the bytes of the blob key and then checks what was
// read (fn's reads and the rest of the file) against the manifest, as
// Table does. A caller that stores what fn reads must keep it only when
// Blob returns nil.
func (r *Reader) Blob(key string, fn func(io.Reader) error) error {
	i, ok := r.blobs[key]
	if !ok {
		return fmt.Errorf("the backup has no blob %s", key)
	}
	b := r.Manifest.Blobs[i]
	rc, err := r.files[b.File].Open()
	if err != nil {
		return fmt.Errorf("blob %s: %w", key, err)
	}
	defer rc.Close()
	c := &readCounter{r: io.LimitReader(rc, b.Bytes+1), h: sha256.New(), progress: r.Bytes}
	if err := fn(c); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return fmt.Errorf("blob %s is damaged: %w", key, err)
	}
	sum := hex.EncodeToString(c.h.Sum(nil))
	switch {
	case sum != b.SHA256:
		return fmt.Errorf("blob %s is damaged: its SHA-256 is %s, the manifest says %s", key, sum, b.SHA256)
	case c.bytes != b.Bytes:
		return fmt.Errorf("blob %s is damaged: %d bytes, the manifest says %d", key, c.bytes, b.Bytes)
	}
	return nil
}

// BlobBytes is the size of every blob in the archive.
func (m Manifest) BlobBytes() int64 {
	var n int64
	for _, b := range m.Blobs {
		n += b.Bytes
	}
	return n
}

// Table calls fn with the rows of table name and then checks what was
// read (fn's reads and the rest of the file, which Table reads after fn)
// against the manifest. fn's error comes first; a mismatch is an error
// naming the table.
func (r *Reader) Table(name string, fn func(io.Reader) error) error {
	var t *Table
	for i := range r.Manifest.Tables {
		if r.Manifest.Tables[i].Name == name {
			t = &r.Manifest.Tables[i]
		}
	}
	if t == nil {
		return fmt.Errorf("the backup has no table %s", name)
	}
	rc, err := r.files[t.File].Open()
	if err != nil {
		return fmt.Errorf("table %s: %w", name, err)
	}
	defer rc.Close()
	// A file is read no further than one byte past the size its manifest
	// gives, so that a damaged or hostile archive whose file inflates to far
	// more is refused after that byte instead of after all of it.
	c := &readCounter{r: io.LimitReader(rc, t.Bytes+1), h: sha256.New(), progress: r.Bytes}
	if err := fn(c); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return fmt.Errorf("table %s is damaged: %w", name, err)
	}
	sum := hex.EncodeToString(c.h.Sum(nil))
	switch {
	case sum != t.SHA256:
		return fmt.Errorf("table %s is damaged: its SHA-256 is %s, the manifest says %s", name, sum, t.SHA256)
	case c.bytes != t.Bytes:
		return fmt.Errorf("table %s is damaged: %d bytes, the manifest says %d", name, c.bytes, t.Bytes)
	case c.lines != t.Rows:
		return fmt.Errorf("table %s is damaged: %d rows, the manifest says %d", name, c.lines, t.Rows)
	}
	return nil
}

// TableNames lists the manifest's tables, sorted.
func (r *Reader) TableNames() []string {
	names := make([]string, len(r.Manifest.Tables))
	for i, t := range r.Manifest.Tables {
		names[i] = t.Name
	}
	sort.Strings(names)
	return names
}

type readCounter struct {
	r            io.Reader
	h            hash.Hash
	bytes, lines int64
	progress     func(int64)
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.bytes += int64(n)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	if c.progress != nil && n > 0 {
		c.progress(int64(n))
	}
	return n, err
}
