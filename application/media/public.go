package media

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// File is a stored file to serve: the original or one of its variants.
type File struct {
	Key         string
	ContentType string
	Size        int64
	Name        string
	ETag        string // strong: the digest of the original, and the width
	ModTime     time.Time
}

var errNoSuchSite = domain.ErrNotFound.WithMessage("No such site.")

// Public returns the file a public media URL names: the original when
// width is 0, else its variant of that width, made now if it was never
// made. Anyone may read it: the unguessable ID is the only key, whether
// or not a published entry uses the file.
func (s *Service) Public(ctx context.Context, site string, id domain.MediaID, width int) (out File, err error) {
	ctx, end := usecase.Start(ctx, "media.Public")
	defer end(&err)
	if width != 0 {
		if err := domain.CheckVariantWidth(width); err != nil {
			return File{}, err
		}
	}
	ck := fileKey{site, id, width}
	if f, ok := s.files.get(ck, s.clock.Now()); ok {
		return f, nil
	}
	defer func() {
		if err == nil {
			s.files.put(ck, out, s.clock.Now())
		}
	}()
	if _, perr := domain.ParseSlug(site); perr != nil {
		return File{}, errNoSuchSite
	}
	var m domain.Media
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := st.Workspaces().GetBySlug(ctx, site)
		if domain.KindOf(err) == domain.KindNotFound {
			return errNoSuchSite
		}
		if err != nil {
			return err
		}
		m, err = getMedia(ctx, st, w.ID(), id)
		return err
	})
	if err != nil {
		return File{}, err
	}
	etag := `"` + m.SHA256()[:min(32, len(m.SHA256()))]
	if width == 0 {
		return File{Key: m.BlobKey(), ContentType: m.ContentType(), Size: m.Size(), Name: m.Name(), ETag: etag + `"`, ModTime: m.CreatedAt()}, nil
	}
	if !domain.HasVariants(m.ContentType()) {
		return File{}, domain.ErrNoVariants
	}
	key := domain.MediaKey(m.Workspace(), m.ID(), width)
	f := File{Key: key, ContentType: domain.VariantType(m.ContentType()), Name: m.Name(), ETag: etag + "-w" + itoa(width) + `"`, ModTime: m.CreatedAt()}
	if m.HasVariant(width) {
		info, err := s.blobs.Stat(ctx, key)
		if err == nil {
			f.Size = info.Size
			return f, nil
		}
		if domain.KindOf(err) != domain.KindNotFound {
			return File{}, err
		}
		// Recorded but gone (a restore without blobs): make it again.
	}
	size, err := s.variant(ctx, m, width)
	if err != nil {
		return File{}, err
	}
	f.Size = size
	return f, nil
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

var errBusy = domain.E(domain.KindUnavailable, "media_busy", "Too many image variants are being made; try again shortly.")

// variant makes the variant of m of the width once: concurrent requests
// for it wait for the same work. At most VariantWorkers are made at a
// time, each within VariantTimeout, and the work goes on for the others
// when the request that started it goes away.
func (s *Service) variant(ctx context.Context, m domain.Media, width int) (int64, error) {
	key := domain.MediaKey(m.Workspace(), m.ID(), width)
	ch := s.flight.DoChan(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		select {
		case s.workers <- struct{}{}:
			defer func() { <-s.workers }()
		case <-ctx.Done():
			return int64(0), errBusy.WithRetryAfter(time.Second)
		}
		return s.makeVariant(ctx, m, width, key)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return 0, r.Err
		}
		return r.Val.(int64), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// variantBufferCap bounds the encoded variant held before it is stored:
// a 1920-pixel-wide JPEG is a few hundred kilobytes, a PNG a few
// megabytes.
func (s *Service) makeVariant(ctx context.Context, m domain.Media, width int, key string) (_ int64, err error) {
	ctx, end := usecase.Start(ctx, "media.MakeVariant")
	defer end(&err)
	if int64(m.Width())*int64(m.Height()) > domain.MaxMediaPixels || m.Width() == 0 {
		return 0, domain.ErrMediaPixels
	}
	rc, _, err := s.blobs.Get(ctx, m.BlobKey(), 0, -1)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if err := s.images.Resize(ctx, m.ContentType(), rc, width, &buf); err != nil {
		return 0, err
	}
	size := int64(buf.Len())
	if _, err := s.blobs.Put(ctx, key, domain.VariantType(m.ContentType()), size, &buf); err != nil {
		return 0, err
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		cur, err := st.Media().Get(ctx, m.Workspace(), m.ID())
		if err != nil || cur.HasVariant(width) {
			return err
		}
		cur.AddVariant(width)
		return st.Media().Update(ctx, cur)
	})
	if domain.KindOf(err) == domain.KindNotFound {
		// Deleted meanwhile: its blobs go too.
		s.forget(ctx, key)
		return 0, errNoSuchMedia
	}
	return size, err
}

// fileKey names what a public media URL serves.
type fileKey struct {
	site  string
	id    domain.MediaID
	width int
}

// fileCache remembers, for fileTTL, the files public URLs resolved to, so
// that a busy image skips the database and the store's stat. A file never
// changes under its URL; a deleted one is forgotten on its node at once
// and elsewhere within fileTTL, and meanwhile its blob is gone, which the
// HTTP layer answers as 404 before it sends anything.
type fileCache struct {
	mu sync.Mutex
	m  map[fileKey]cachedFile
}

type cachedFile struct {
	f   File
	exp time.Time
}

const (
	fileTTL      = 30 * time.Second
	maxFileCache = 10_000
)

func (c *fileCache) get(k fileKey, now time.Time) (File, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.After(e.exp) {
		return File{}, false
	}
	return e.f, true
}

func (c *fileCache) put(k fileKey, f File, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxFileCache {
		c.m = make(map[fileKey]cachedFile) // crude but bounded: start over
	}
	c.m[k] = cachedFile{f, now.Add(fileTTL)}
}

// forget drops every cached file of the media file id.
func (c *fileCache) forget(id domain.MediaID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.id == id {
			delete(c.m, k)
		}
	}
}
