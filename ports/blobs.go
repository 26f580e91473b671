package ports

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
)

// BlobStore keeps files (media, uploads, backup archives) on the local disk
// or in an S3-compatible bucket. Keys are made by Keel, never taken from a
// user: every method first checks its key with CheckBlobKey, so a key that
// could climb out of the store ("..") or name something odd never reaches a
// filesystem or a bucket. Keys must not nest: the key "a" and the key "a/b"
// cannot both exist on the filesystem.
//
// Every method returns domain.ErrNotFound for a blob that does not exist,
// ErrBlobKey for a key CheckBlobKey refuses, the context's error when ctx
// ends first, and a domain.KindUnavailable error when the backend cannot be
// reached.
type BlobStore interface {
	// Put stores the bytes of r under key with its content type, replacing
	// any blob there. size is the number of bytes r holds, or -1 when it is
	// unknown; a reader that ends short of size or holds more is refused
	// with ErrBlobSize, and nothing is stored. Put streams: it never holds
	// the whole blob in memory. Readers see the old blob or the new one,
	// never a part of either, and a failed Put leaves the old blob.
	Put(ctx context.Context, key, contentType string, size int64, r io.Reader) (BlobInfo, error)

	// Get returns length bytes of the blob from offset (length -1: to the
	// end; a length past the end stops at the end) and the blob's info.
	// An offset past the end is ErrBlobRange. The caller closes the reader.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, BlobInfo, error)

	// Stat returns the blob's info.
	Stat(ctx context.Context, key string) (BlobInfo, error)

	// Delete removes the blob. Deleting a blob that does not exist is not
	// an error, so a retried clean-up succeeds.
	Delete(ctx context.Context, key string) error

	// List returns up to limit blobs whose keys start with prefix and sort
	// after the key after ("" for the first page), in byte order of their
	// keys, and the key to pass as after for the next page, "" when there
	// is none. limit is 1 to MaxBlobListLimit. prefix need not end at a
	// "/" but must be "" or a valid key prefix (CheckBlobPrefix).
	List(ctx context.Context, prefix, after string, limit int) (blobs []BlobInfo, next string, err error)

	// SignedURL returns a URL that fetches the blob without credentials
	// until ttl (1 second to 7 days) passes, or ErrBlobSignedURLUnsupported
	// when the backend has no such thing (the filesystem): the caller then
	// serves the blob itself. It does not check that the blob exists.
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Key         string
	Size        int64
	ContentType string    // as given to Put; "application/octet-stream" when none was
	ModTime     time.Time // when it was last written, as the backend records it
}

// Limits of the blob store's arguments.
const (
	MaxBlobKeyBytes     = 512 // S3 allows 1,024; half leaves room for a prefix of the bucket
	MaxBlobSegmentBytes = 128 // under every filesystem's limit on a name (255)
	MaxBlobListLimit    = 1000
	MaxBlobURLTTL       = 7 * 24 * time.Hour // S3's longest presigned URL
)

// DefaultBlobContentType is the content type of a blob put without one.
const DefaultBlobContentType = "application/octet-stream"

// Errors of the blob store. Keel makes the keys and sizes, so a bad one is
// a bug: these are internal errors, and callers tell them apart with
// errors.Is.
var (
	ErrBlobKey                  = domain.E(domain.KindInternal, "invalid_blob_key", "The blob key is not valid.")
	ErrBlobSize                 = domain.E(domain.KindInternal, "blob_size_mismatch", "The blob's bytes do not match its declared size.")
	ErrBlobRange                = domain.E(domain.KindInvalid, "range_not_satisfiable", "The range starts past the end of the file.")
	ErrBlobSignedURLUnsupported = domain.E(domain.KindInternal, "signed_url_unsupported", "This blob store cannot sign URLs.")
)

// CheckBlobKey returns nil for a valid key and ErrBlobKey otherwise. A
// valid key is 1 to MaxBlobKeyBytes bytes of segments joined by "/"; each
// segment is 1 to MaxBlobSegmentBytes of a-z, 0-9, ".", "_" and "-", and
// does not start with "." (so neither "." nor ".." is one, and the
// filesystem store's temporary files, which start with ".", never collide
// with a key). Lower case only: keys stay distinct on case-insensitive
// filesystems.
func CheckBlobKey(key string) error {
	if len(key) == 0 || len(key) > MaxBlobKeyBytes {
		return ErrBlobKey
	}
	for seg := range strings.SplitSeq(key, "/") {
		if !validBlobSegment(seg, false) {
			return ErrBlobKey
		}
	}
	return nil
}

// CheckBlobPrefix returns nil when prefix is "" or could start a valid key:
// a list of whole segments, each ending in "/", and then the start of one,
// which may be empty.
func CheckBlobPrefix(prefix string) error {
	if len(prefix) > MaxBlobKeyBytes {
		return ErrBlobKey
	}
	segs := strings.Split(prefix, "/")
	for i, seg := range segs {
		if last := i == len(segs)-1; !validBlobSegment(seg, last) {
			return ErrBlobKey
		}
	}
	return nil
}

// CheckBlobList returns nil when a List call's arguments are valid: a
// prefix CheckBlobPrefix takes, an after that is "" or a valid key, and a
// limit from 1 to MaxBlobListLimit. Every BlobStore's List checks them so.
func CheckBlobList(prefix, after string, limit int) error {
	if err := CheckBlobPrefix(prefix); err != nil {
		return err
	}
	if after != "" {
		if err := CheckBlobKey(after); err != nil {
			return err
		}
	}
	if limit < 1 || limit > MaxBlobListLimit {
		return ErrBlobKey.WithCause(fmt.Errorf("list limit %d outside 1 to %d", limit, MaxBlobListLimit))
	}
	return nil
}

func validBlobSegment(seg string, partial bool) bool {
	if len(seg) > MaxBlobSegmentBytes || (len(seg) == 0 && !partial) || (len(seg) > 0 && seg[0] == '.') {
		return false
	}
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
