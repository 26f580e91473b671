// Package blobfs is ports.BlobStore on the local filesystem, under a
// directory of its own (blobs/ in the data directory by default).
//
// A blob is one file at the path its key names. The file starts with a
// header of HeaderBytes that holds the content type, so a blob and its type
// are written, renamed into place and removed together, and a blob's size
// is its file's size less the header, read without opening it. Writes go
// to a temporary file in the blob's directory, are synced, then renamed
// over the old file: readers see the old blob or the new one, and a crash
// leaves at most a temporary file (whose name starts with ".", which no key
// can) that Sweep removes.
//
// Keys are checked with ports.CheckBlobKey before they become paths: no
// "..", no leading "/", no characters a filesystem treats specially, so
// nothing a user typed can reach the filesystem through this store.
package blobfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// HeaderBytes is the size of the header in front of every blob's bytes:
// magic, the content type, a newline, then zero padding.
const HeaderBytes = 256

// magic starts every blob file; its version number changes with the layout.
const magic = "keelblob1\n"

// maxContentType is the longest content type a header holds. Content types
// come from Keel (sniffed, or one of a fixed set), so a longer one is a bug.
const maxContentType = HeaderBytes - len(magic) - 1

// tempPrefix starts the temporary files of Put; no key segment starts
// with ".", so List never shows them and a key never names one.
const tempPrefix = ".tmp-"

var _ ports.BlobStore = (*Store)(nil)

// Store is a ports.BlobStore in a directory.
type Store struct {
	root   string // absolute and clean
	tracer trace.Tracer
}

// New returns the store rooted at dir, creating it (mode 0700) if needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create blob directory: %w", err)
	}
	return &Store{root: abs, tracer: otel.Tracer("github.com/keelhq/keel/adapters/blobfs")}, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// path maps a checked key to its file. The key's charset has no separator
// but "/", so the join cannot leave root; the prefix check says so again,
// in case a later change to CheckBlobKey forgets it.
func (s *Store) path(key string) (string, error) {
	if err := ports.CheckBlobKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(s.root, filepath.FromSlash(key))
	if !strings.HasPrefix(p, s.root+string(filepath.Separator)) {
		return "", ports.ErrBlobKey
	}
	return p, nil
}

func (s *Store) start(ctx context.Context, op, key string) (context.Context, func(*error)) {
	ctx, span := s.tracer.Start(ctx, "blobfs."+op, trace.WithAttributes(attribute.String("keel.blob.key", key)))
	return ctx, func(err *error) {
		if *err != nil && !errors.Is(*err, domain.ErrNotFound) {
			span.RecordError(*err)
			span.SetStatus(codes.Error, op+" failed")
		}
		span.End()
	}
}

// Put writes the blob to a temporary file beside its final path, syncs it,
// renames it into place and syncs the directory, so the blob survives a
// crash once Put returns and a crash before leaves the old blob.
func (s *Store) Put(ctx context.Context, key, contentType string, size int64, r io.Reader) (_ ports.BlobInfo, err error) {
	ctx, end := s.start(ctx, "Put", key)
	defer end(&err)
	p, err := s.path(key)
	if err != nil {
		return ports.BlobInfo{}, err
	}
	if contentType == "" {
		contentType = ports.DefaultBlobContentType
	}
	header, err := encodeHeader(contentType)
	if err != nil {
		return ports.BlobInfo{}, err
	}
	if size < -1 {
		return ports.BlobInfo{}, ports.ErrBlobSize
	}
	if err := ctx.Err(); err != nil {
		return ports.BlobInfo{}, err
	}
	dir := filepath.Dir(p)
	f, err := s.createTemp(dir)
	if err != nil {
		return ports.BlobInfo{}, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(header); err != nil {
		return ports.BlobInfo{}, fmt.Errorf("write blob: %w", err)
	}
	src := &ctxReader{ctx: ctx, r: r}
	var n int64
	if size >= 0 {
		// One byte more than declared tells a reader that holds more.
		n, err = io.Copy(f, io.LimitReader(src, size+1))
	} else {
		n, err = io.Copy(f, src)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ports.BlobInfo{}, ctx.Err()
		}
		return ports.BlobInfo{}, fmt.Errorf("write blob: %w", err)
	}
	if size >= 0 && n != size {
		return ports.BlobInfo{}, ports.ErrBlobSize.WithCause(fmt.Errorf("read %d bytes or more, want %d", n, size))
	}
	if err := f.Sync(); err != nil {
		return ports.BlobInfo{}, fmt.Errorf("sync blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return ports.BlobInfo{}, fmt.Errorf("close blob: %w", err)
	}
	// The last moment to give up: after the rename the blob is stored.
	if err := ctx.Err(); err != nil {
		return ports.BlobInfo{}, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return ports.BlobInfo{}, fmt.Errorf("rename blob into place: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return ports.BlobInfo{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return ports.BlobInfo{}, fmt.Errorf("stat blob: %w", err)
	}
	return ports.BlobInfo{Key: key, Size: n, ContentType: contentType, ModTime: st.ModTime().UTC()}, nil
}

// createTemp creates the temporary file in dir, making dir first. Delete
// removes directories it leaves empty, so one may vanish between MkdirAll
// and CreateTemp: a few tries outlast any such race.
func (s *Store) createTemp(dir string) (*os.File, error) {
	var err error
	for range 5 {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create blob directory: %w", err)
		}
		var f *os.File
		if f, err = os.CreateTemp(dir, tempPrefix+"*"); err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, fmt.Errorf("create temporary blob: %w", err)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open blob directory: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync blob directory: %w", err)
	}
	return nil
}

// Get opens the blob and reads its header; the reader it returns reads
// the file from the range's start, so a range costs a seek, not a scan.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (_ io.ReadCloser, _ ports.BlobInfo, err error) {
	ctx, end := s.start(ctx, "Get", key)
	defer end(&err)
	p, err := s.path(key)
	if err != nil {
		return nil, ports.BlobInfo{}, err
	}
	if offset < 0 || length < -1 {
		return nil, ports.BlobInfo{}, ports.ErrBlobRange
	}
	if err := ctx.Err(); err != nil {
		return nil, ports.BlobInfo{}, err
	}
	f, err := openRead(p)
	if err != nil {
		return nil, ports.BlobInfo{}, notFound(err)
	}
	// The header is read with Read, which leaves the file at the blob's
	// first byte: a read from the start, what serving a file asks for,
	// needs no seek.
	info, err := readInfo(f, key, true)
	if err != nil {
		_ = f.Close()
		return nil, ports.BlobInfo{}, err
	}
	if offset > info.Size {
		_ = f.Close()
		return nil, ports.BlobInfo{}, ports.ErrBlobRange
	}
	n := info.Size - offset
	if length >= 0 && length < n {
		n = length
	}
	if offset > 0 {
		if _, err := f.Seek(HeaderBytes+offset, io.SeekStart); err != nil {
			_ = f.Close()
			return nil, ports.BlobInfo{}, fmt.Errorf("seek blob: %w", err)
		}
	}
	lr := &io.LimitedReader{R: f, N: n}
	return &fileReader{r: ctxReader{ctx: ctx, r: lr}, lr: lr, f: f}, info, nil
}

// Stat reads the blob's header.
func (s *Store) Stat(ctx context.Context, key string) (_ ports.BlobInfo, err error) {
	ctx, end := s.start(ctx, "Stat", key)
	defer end(&err)
	p, err := s.path(key)
	if err != nil {
		return ports.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ports.BlobInfo{}, err
	}
	f, err := openRead(p)
	if err != nil {
		return ports.BlobInfo{}, notFound(err)
	}
	defer func() { _ = f.Close() }()
	return readInfo(f, key, false)
}

// Delete removes the blob's file, then the directories it leaves empty, up
// to the root: a deleted workspace's media leave no tree of empty folders.
func (s *Store) Delete(ctx context.Context, key string) (err error) {
	ctx, end := s.start(ctx, "Delete", key)
	defer end(&err)
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if st, err := os.Lstat(p); err == nil && !st.Mode().IsRegular() {
		return nil // a directory of other keys, not a blob
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob: %w", err)
	}
	// Removing a directory fails while it holds anything, a concurrent
	// Put's temporary file included, so this never removes a live blob.
	for dir := filepath.Dir(p); dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// List walks the directories the prefix can reach in the keys' byte order:
// each directory's entries are sorted with a "/" after every directory's
// name, which is where that directory's keys fall among its siblings, so
// the walk can stop after limit keys and skip directories wholly before
// after.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) (_ []ports.BlobInfo, _ string, err error) {
	ctx, end := s.start(ctx, "List", prefix)
	defer end(&err)
	if err := ports.CheckBlobList(prefix, after, limit); err != nil {
		return nil, "", err
	}
	base := prefix[:strings.LastIndex(prefix, "/")+1] // the whole segments
	var out []ports.BlobInfo
	errStop := errors.New("stop")
	var walk func(rel string) error
	walk = func(rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		type item struct {
			name string // with a "/" after a directory's
			ent  fs.DirEntry
		}
		items := make([]item, 0, len(entries))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || ports.CheckBlobKey(e.Name()) != nil {
				continue // temporary files, and anything Keel did not write
			}
			name := e.Name()
			if e.IsDir() {
				name += "/"
			}
			items = append(items, item{name, e})
		}
		slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.name, b.name) })
		for _, it := range items {
			full := rel + it.name
			if it.ent.IsDir() {
				// Every key below starts with full.
				if !strings.HasPrefix(full, prefix) && !strings.HasPrefix(prefix, full) {
					continue
				}
				if after != "" && full < after && !strings.HasPrefix(after, full) {
					continue
				}
				if err := walk(full); err != nil {
					return err
				}
				continue
			}
			if !it.ent.Type().IsRegular() || !strings.HasPrefix(full, prefix) || full <= after {
				continue
			}
			st, err := it.ent.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since ReadDir
			}
			if err != nil {
				return fmt.Errorf("list blobs: %w", err)
			}
			if st.Size() < HeaderBytes {
				continue // not a blob of ours
			}
			out = append(out, ports.BlobInfo{Key: full, Size: st.Size() - HeaderBytes, ModTime: st.ModTime().UTC()})
			if len(out) > limit {
				return errStop
			}
		}
		return nil
	}
	if err := walk(base); err != nil && !errors.Is(err, errStop) {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Key
	}
	return out, next, nil
}

// SignedURL is not supported: a directory has no URL of its own, so Keel
// serves the blob itself.
func (s *Store) SignedURL(_ context.Context, key string, _ time.Duration) (string, error) {
	if err := ports.CheckBlobKey(key); err != nil {
		return "", err
	}
	return "", ports.ErrBlobSignedURLUnsupported
}

// Sweep removes temporary files that a crash in the middle of a Put left,
// those last written more than age ago, and returns how many it removed.
// A Put writes its file as its bytes arrive, so younger ones may belong to
// a Put still running.
func (s *Store) Sweep(ctx context.Context, age time.Duration, now time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil || now.Sub(st.ModTime()) < age {
			return nil //nolint:nilerr // gone since the walk saw it, or young
		}
		if os.Remove(p) == nil {
			n++
		}
		return nil
	})
	return n, err
}

func encodeHeader(contentType string) ([]byte, error) {
	if len(contentType) > maxContentType {
		return nil, fmt.Errorf("content type of %d bytes, at most %d", len(contentType), maxContentType)
	}
	for i := 0; i < len(contentType); i++ {
		if c := contentType[i]; c < 0x20 || c > 0x7e {
			return nil, errors.New("content type holds a control or non-ASCII byte")
		}
	}
	h := make([]byte, HeaderBytes)
	copy(h, magic)
	copy(h[len(magic):], contentType)
	h[len(magic)+len(contentType)] = '\n'
	return h, nil
}

// readInfo reads the header of an open blob file and its size; with
// advance it reads the header from the file's offset, at its start, and
// leaves the file at the blob's first byte, else it leaves the offset be.
func readInfo(f *os.File, key string, advance bool) (ports.BlobInfo, error) {
	st, err := f.Stat()
	if err != nil {
		return ports.BlobInfo{}, fmt.Errorf("stat blob: %w", err)
	}
	if !st.Mode().IsRegular() {
		return ports.BlobInfo{}, domain.ErrNotFound // a directory of other keys
	}
	var h [HeaderBytes]byte
	if advance {
		_, err = io.ReadFull(f, h[:])
	} else {
		_, err = f.ReadAt(h[:], 0)
	}
	if err != nil {
		return ports.BlobInfo{}, fmt.Errorf("read blob header of %s: %w", key, err)
	}
	ct, _, ok := bytes.Cut(h[len(magic):], []byte{'\n'})
	if !bytes.HasPrefix(h[:], []byte(magic)) || !ok {
		return ports.BlobInfo{}, fmt.Errorf("blob %s has no header: not written by Keel", key)
	}
	return ports.BlobInfo{Key: key, Size: st.Size() - HeaderBytes, ContentType: string(ct), ModTime: st.ModTime().UTC()}, nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return domain.ErrNotFound
	}
	return fmt.Errorf("open blob: %w", err)
}

// ctxReader stops reading once ctx ends, so a cancelled request stops a
// long copy at the next read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type fileReader struct {
	r  ctxReader
	lr *io.LimitedReader // r's reader: the file, limited to the range
	f  *os.File
}

func (f *fileReader) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *fileReader) Close() error               { return f.f.Close() }

// WriteTo hands the open file, limited to the range, to a writer that can
// send a file itself: net/http's response sends it with sendfile(2), so a
// served blob goes from the page cache to the socket without being copied
// through this process. Such a writer reads the file itself, so ctx is
// checked once, before: a copy to a socket ends when its connection does,
// and one to a file or to memory goes at the disk's speed. Any other
// writer gets the bytes through Read, which checks ctx each time.
func (f *fileReader) WriteTo(w io.Writer) (int64, error) {
	if err := f.r.ctx.Err(); err != nil {
		return 0, err
	}
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(f.lr)
	}
	return io.Copy(w, &f.r)
}
