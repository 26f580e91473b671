// Package blobs3 is ports.BlobStore on any S3-compatible object store
// (Amazon S3, SeaweedFS, MinIO, Ceph, R2...), through minio-go.
//
// A store is a bucket and a key prefix in it: the blob "a/b" of a store
// with the prefix "keel/" is the object "keel/a/b". Objects are written in
// one PUT, or in a multipart upload of PartBytes parts when they are larger
// or their size is unknown; either way S3 shows the whole object or none of
// it, and memory holds one part at most.
package blobs3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// PartBytes is the size of a multipart upload's parts, and so the memory a
// Put of a large or unknown-sized blob holds. With S3's limit of 10,000
// parts it allows blobs of 80 GB, far beyond any file Keel keeps.
const PartBytes = 8 << 20

var _ ports.BlobStore = (*Store)(nil)

// Config says where the store is.
type Config struct {
	Bucket string
	Prefix string // "" or ends in "/"
	// Endpoint is the server's base URL (http://127.0.0.1:9000); empty
	// means Amazon S3.
	Endpoint string
	Region   string // empty lets the client find the bucket's region
	// The credentials that sign the requests, which the composition root
	// reads from the standard AWS variables (AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Without an access key the
	// requests go unsigned, which only a public bucket accepts. Instance
	// roles are not looked up: that would ask an address off this host.
	AccessKeyID, SecretAccessKey, SessionToken string
	// PathStyle addresses the bucket in the path (host/bucket/key) rather
	// than the host name (bucket.host/key); most S3-compatible servers
	// need it, and it is the default for any endpoint but Amazon's.
	PathStyle bool
}

// ParseURL reads the store's setting, s3://bucket/prefix?endpoint=…&region=…
// (and path_style=true|false). Its errors never repeat the URL, which is
// only configuration, but they name the part at fault.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, errors.New("cannot parse the URL")
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("unsupported scheme %q (want s3)", u.Scheme)
	}
	if u.User != nil {
		return Config{}, errors.New("credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	c := Config{Bucket: u.Host}
	if c.Bucket == "" {
		return Config{}, errors.New("the URL names no bucket (s3://bucket/prefix)")
	}
	if !validBucket(c.Bucket) {
		return Config{}, fmt.Errorf("bucket name %q is not valid (3 to 63 of a-z, 0-9, '.' and '-')", c.Bucket)
	}
	c.Prefix = strings.Trim(u.Path, "/")
	if c.Prefix != "" {
		if err := ports.CheckBlobKey(c.Prefix); err != nil {
			return Config{}, fmt.Errorf("prefix %q is not valid (segments of a-z, 0-9, '.', '_' and '-')", c.Prefix)
		}
		c.Prefix += "/"
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "path_style":
		default:
			return Config{}, fmt.Errorf("unknown parameter %q (want endpoint, region or path_style)", k)
		}
	}
	c.Region = q.Get("region")
	if ep := q.Get("endpoint"); ep != "" {
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		e, err := url.Parse(ep)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.User != nil {
			return Config{}, errors.New("endpoint must be http(s)://host[:port] with no path")
		}
		c.Endpoint = e.Scheme + "://" + e.Host
		c.PathStyle = true
	}
	switch ps := q.Get("path_style"); ps {
	case "":
	case "true", "false":
		c.PathStyle = ps == "true"
	default:
		return Config{}, fmt.Errorf("path_style must be true or false, got %q", ps)
	}
	return c, nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Store is a ports.BlobStore in an S3 bucket.
type Store struct {
	c      *minio.Client
	core   minio.Core
	bucket string
	prefix string
	where  string // bucket and endpoint, for errors
	tracer trace.Tracer
}

// New returns the store. It does not connect: Check does.
func New(cfg Config) (*Store, error) {
	endpoint, secure := "s3.amazonaws.com", true
	if cfg.Endpoint != "" {
		e, err := url.Parse(cfg.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("endpoint: %w", err)
		}
		endpoint, secure = e.Host, e.Scheme == "https"
	}
	creds := credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    transport(),
		// Three tries, not the client's ten: a transient error still
		// gets its retries, while a store that is down fails a request
		// in about a second rather than hold it for several.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client: %w", err)
	}
	return &Store{
		c:      c,
		core:   minio.Core{Client: c},
		bucket: cfg.Bucket,
		prefix: cfg.Prefix,
		where:  fmt.Sprintf("bucket %s at %s", cfg.Bucket, endpoint),
		tracer: otel.Tracer("github.com/keelhq/keel/adapters/blobs3"),
	}, nil
}

// transport bounds the connection set-up, so an unreachable endpoint fails
// in seconds; a transfer itself runs as long as its context allows.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.MaxIdleConnsPerHost = 32
	return t
}

// Check returns nil when the bucket exists and the credentials may read
// it, and an error that says which is wrong otherwise: keel serve calls it
// at start so a wrong setting fails there, not on the first upload.
func (s *Store) Check(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == minio.AccessDenied || r.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%s: access denied: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy", s.where)
		}
		return fmt.Errorf("%s is unreachable: %w", s.where, err)
	}
	if !ok {
		return fmt.Errorf("%s does not exist", s.where)
	}
	return nil
}

func (s *Store) start(ctx context.Context, op, key string) (context.Context, func(*error)) {
	ctx, span := s.tracer.Start(ctx, "blobs3."+op, trace.WithAttributes(
		attribute.String("keel.blob.key", key), attribute.String("aws.s3.bucket", s.bucket)))
	return ctx, func(err *error) {
		if *err != nil && !errors.Is(*err, domain.ErrNotFound) {
			span.RecordError(*err)
			span.SetStatus(codes.Error, op+" failed")
		}
		span.End()
	}
}

// fail translates a client error: the context's own error when it ended,
// ErrNotFound for a missing object, unavailable when the server cannot be
// reached or answers 5xx.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket:
		return domain.ErrNotFound
	case r.StatusCode >= 500:
		return domain.ErrUnavailable.WithCause(fmt.Errorf("%s %s: %w", op, s.where, err))
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) {
		return domain.ErrUnavailable.WithCause(fmt.Errorf("%s %s: %w", op, s.where, err))
	}
	return fmt.Errorf("%s %s: %w", op, s.where, err)
}

// Put uploads in one PUT, or a multipart upload when the blob is larger
// than a part or of unknown size. The reader is wrapped to enforce the
// declared size: a short or long reader fails the request before S3
// completes the object.
func (s *Store) Put(ctx context.Context, key, contentType string, size int64, r io.Reader) (_ ports.BlobInfo, err error) {
	ctx, end := s.start(ctx, "Put", key)
	defer end(&err)
	if err := ports.CheckBlobKey(key); err != nil {
		return ports.BlobInfo{}, err
	}
	if size < -1 {
		return ports.BlobInfo{}, ports.ErrBlobSize
	}
	if contentType == "" {
		contentType = ports.DefaultBlobContentType
	}
	if err := ctx.Err(); err != nil {
		return ports.BlobInfo{}, err
	}
	src := &exactReader{r: r, left: size}
	info, err := s.c.PutObject(ctx, s.bucket, s.prefix+key, src, size, minio.PutObjectOptions{
		ContentType: contentType,
		PartSize:    PartBytes,
	})
	if src.err != nil {
		return ports.BlobInfo{}, src.err
	}
	if err != nil {
		return ports.BlobInfo{}, s.fail(ctx, "put", err)
	}
	mod := info.LastModified
	if mod.IsZero() {
		mod = time.Now()
	}
	return ports.BlobInfo{Key: key, Size: info.Size, ContentType: contentType, ModTime: mod.UTC()}, nil
}

// Get asks for the range alone; S3 answers 416 for a range that starts at
// or past the end, so that case costs a Stat to tell the empty range at
// the end from one past it.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (_ io.ReadCloser, _ ports.BlobInfo, err error) {
	ctx, end := s.start(ctx, "Get", key)
	defer end(&err)
	if err := ports.CheckBlobKey(key); err != nil {
		return nil, ports.BlobInfo{}, err
	}
	if offset < 0 || length < -1 {
		return nil, ports.BlobInfo{}, ports.ErrBlobRange
	}
	if err := ctx.Err(); err != nil {
		return nil, ports.BlobInfo{}, err
	}
	if length == 0 {
		return s.emptyRange(ctx, key, offset)
	}
	opts := minio.GetObjectOptions{}
	if offset > 0 || length > 0 {
		last := int64(0) // SetRange's 0 means "to the end"
		if length > 0 {
			last = offset + length - 1
		}
		if err := opts.SetRange(offset, last); err != nil {
			return nil, ports.BlobInfo{}, ports.ErrBlobRange.WithCause(err)
		}
	}
	body, oi, h, err := s.core.GetObject(ctx, s.bucket, s.prefix+key, opts)
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return s.emptyRange(ctx, key, offset)
		}
		return nil, ports.BlobInfo{}, s.fail(ctx, "get", err)
	}
	info := s.info(key, oi)
	if cr := h.Get("Content-Range"); cr != "" {
		// bytes first-last/total: the object's size is the total.
		_, total, _ := strings.Cut(cr, "/")
		if n, err := strconv.ParseInt(total, 10, 64); err == nil {
			info.Size = n
		}
	}
	return &ctxBody{ctx: ctx, rc: body}, info, nil
}

// emptyRange answers a range of no bytes at offset: an empty reader when
// offset is within the blob or at its end, ErrBlobRange past it.
func (s *Store) emptyRange(ctx context.Context, key string, offset int64) (io.ReadCloser, ports.BlobInfo, error) {
	info, err := s.stat(ctx, key)
	if err != nil {
		return nil, ports.BlobInfo{}, err
	}
	if offset > info.Size {
		return nil, ports.BlobInfo{}, ports.ErrBlobRange
	}
	return io.NopCloser(bytes.NewReader(nil)), info, nil
}

// Stat is a HEAD of the object.
func (s *Store) Stat(ctx context.Context, key string) (_ ports.BlobInfo, err error) {
	ctx, end := s.start(ctx, "Stat", key)
	defer end(&err)
	if err := ports.CheckBlobKey(key); err != nil {
		return ports.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ports.BlobInfo{}, err
	}
	return s.stat(ctx, key)
}

func (s *Store) stat(ctx context.Context, key string) (ports.BlobInfo, error) {
	oi, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return ports.BlobInfo{}, s.fail(ctx, "stat", err)
	}
	return s.info(key, oi), nil
}

func (s *Store) info(key string, oi minio.ObjectInfo) ports.BlobInfo {
	ct := oi.ContentType
	if ct == "" {
		ct = ports.DefaultBlobContentType
	}
	return ports.BlobInfo{Key: key, Size: oi.Size, ContentType: ct, ModTime: oi.LastModified.UTC()}
}

// Delete removes the object; S3 answers a delete of a missing object with
// success, as the port wants.
func (s *Store) Delete(ctx context.Context, key string) (err error) {
	ctx, end := s.start(ctx, "Delete", key)
	defer end(&err)
	if err := ports.CheckBlobKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(s.fail(ctx, "delete", err), domain.ErrNotFound) {
			return nil
		}
		return s.fail(ctx, "delete", err)
	}
	return nil
}

// List asks for limit+1 keys (S3 returns them in byte order), the one past
// the page telling whether another follows: usually one request. List
// results carry no content type: S3 lists do not hold it.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) (_ []ports.BlobInfo, _ string, err error) {
	ctx, end := s.start(ctx, "List", prefix)
	defer end(&err)
	if err := ports.CheckBlobList(prefix, after, limit); err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	startAfter := ""
	if after != "" {
		startAfter = s.prefix + after
	}
	// The listing runs in a goroutine of the client's; cancelling its
	// context stops it once the page is full.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []ports.BlobInfo
	for o := range s.c.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{
		Prefix: s.prefix + prefix, StartAfter: startAfter, Recursive: true, MaxKeys: limit + 1,
	}) {
		if o.Err != nil {
			return nil, "", s.fail(ctx, "list", o.Err)
		}
		key := strings.TrimPrefix(o.Key, s.prefix)
		if ports.CheckBlobKey(key) != nil {
			continue // an object Keel did not write
		}
		out = append(out, ports.BlobInfo{Key: key, Size: o.Size, ModTime: o.LastModified.UTC()})
		if len(out) > limit {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Key
	}
	return out, next, nil
}

// SignedURL presigns a GET of the object.
func (s *Store) SignedURL(ctx context.Context, key string, ttl time.Duration) (_ string, err error) {
	ctx, end := s.start(ctx, "SignedURL", key)
	defer end(&err)
	if err := ports.CheckBlobKey(key); err != nil {
		return "", err
	}
	if ttl < time.Second || ttl > ports.MaxBlobURLTTL {
		return "", fmt.Errorf("signed URL lifetime %v outside 1s to %v", ttl, ports.MaxBlobURLTTL)
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, s.prefix+key, ttl, nil)
	if err != nil {
		return "", s.fail(ctx, "sign", err)
	}
	return u.String(), nil
}

// exactReader passes on the bytes of r and fails with ErrBlobSize when r
// ends short of left or holds more. It looks one byte ahead before handing
// out the last declared bytes, because the client stops reading once it
// has them: an extra byte found only afterwards would be too late to stop
// the upload.
type exactReader struct {
	r    io.Reader
	left int64 // -1: unknown size
	err  error // the size mismatch, once seen
	peek [1]byte
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left < 0 {
		return e.r.Read(p)
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left > 0 {
		if errors.Is(err, io.EOF) {
			e.err = ports.ErrBlobSize.WithCause(fmt.Errorf("the reader ended %d bytes short", e.left))
			return n, e.err
		}
		return n, err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	if !errors.Is(err, io.EOF) {
		if m, _ := io.ReadFull(e.r, e.peek[:]); m > 0 {
			e.err = ports.ErrBlobSize.WithCause(errors.New("the reader holds more than its declared size"))
			return n, e.err
		}
	}
	return n, nil
}

// ctxBody stops a download once ctx ends, as the client's own body does
// only on its next network read.
type ctxBody struct {
	ctx context.Context
	rc  io.ReadCloser
}

func (b *ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.rc.Read(p)
}

func (b *ctxBody) Close() error { return b.rc.Close() }
