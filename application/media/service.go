// Package media holds the use cases of a workspace's media library:
// uploads whose type is sniffed and whose metadata is stripped, their
// details, and the public delivery of files and of their width variants,
// made once on demand.
package media

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Defaults of the library's limits.
const (
	DefaultMaxFileSize      = 25 << 20 // 25 MiB
	DefaultMaxWorkspaceSize = 1 << 30  // 1 GiB
	DefaultVariantTimeout   = 20 * time.Second
)

// headerBytes is how much of an image Dimensions may read: the header of
// a JPEG whose metadata was stripped is in its first few kilobytes, and
// one with kept metadata has at most a few 64 KiB segments before it.
const headerBytes = 1 << 20

// Config holds the media service's dependencies and limits.
type Config struct {
	UoW        ports.UnitOfWork
	Authorizer ports.Authorizer
	Clock      ports.Clock
	Blobs      ports.BlobStore
	Images     ports.ImageProcessor
	Log        *slog.Logger
	// MaxFileSize bounds one file and MaxWorkspaceSize the sum of a
	// workspace's files, in bytes; zero takes the defaults.
	MaxFileSize, MaxWorkspaceSize int64
	// VariantWorkers bounds the variants made at once across all
	// workspaces (GOMAXPROCS when zero), and VariantTimeout the time one
	// may wait and take, so a visitor asking for many cannot starve the
	// rest of the server.
	VariantWorkers int
	VariantTimeout time.Duration
	// PublicChanged, when not nil, is called after a change that public
	// responses show (a published entry's cover deleted or described
	// anew), to empty this node's cache of them at once; other nodes see
	// ports.PublicContentCounter move.
	PublicChanged func()
}

// Service runs the media use cases.
type Service struct {
	uow      ports.UnitOfWork
	authz    ports.Authorizer
	clock    ports.Clock
	blobs    ports.BlobStore
	images   ports.ImageProcessor
	log      *slog.Logger
	maxFile  int64
	maxTotal int64
	workers  chan struct{}
	timeout  time.Duration
	flight   singleflight.Group
	files    fileCache
	changed  func()
}

// NewService wires the media use cases.
func NewService(cfg Config) *Service {
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	if cfg.MaxWorkspaceSize <= 0 {
		cfg.MaxWorkspaceSize = DefaultMaxWorkspaceSize
	}
	if cfg.VariantWorkers <= 0 {
		cfg.VariantWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.VariantTimeout <= 0 {
		cfg.VariantTimeout = DefaultVariantTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PublicChanged == nil {
		cfg.PublicChanged = func() {}
	}
	return &Service{uow: cfg.UoW, authz: cfg.Authorizer, clock: cfg.Clock, blobs: cfg.Blobs, images: cfg.Images, log: cfg.Log,
		maxFile: cfg.MaxFileSize, maxTotal: cfg.MaxWorkspaceSize, workers: make(chan struct{}, cfg.VariantWorkers), timeout: cfg.VariantTimeout,
		changed: cfg.PublicChanged}
}

// MaxFileSize is the largest file an upload may hold.
func (s *Service) MaxFileSize() int64 { return s.maxFile }

var errNoSuchMedia = domain.ErrNotFound.WithMessage("No such media file.")

func getMedia(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, id domain.MediaID) (domain.Media, error) {
	if !domain.ValidID(domain.PrefixMedia, string(id)) {
		return domain.Media{}, errNoSuchMedia
	}
	m, err := st.Media().Get(ctx, ws, id)
	if domain.KindOf(err) == domain.KindNotFound {
		return domain.Media{}, errNoSuchMedia
	}
	return m, err
}

// Upload is a file to add to the library.
type Upload struct {
	Name string
	Body io.Reader
	// KeepMetadata, when set, says for this upload whether a JPEG keeps
	// its EXIF, XMP and IPTC segments, GPS positions included; nil
	// follows the workspace's site setting, which strips them unless it
	// says keep (domain.SiteSettings.MediaKeepMetadata).
	KeepMetadata *bool
}

// limited counts and hashes what passes and fails once more than limit
// bytes did, so the blob store never keeps an oversized file.
type limited struct {
	r     io.Reader
	n     int64
	limit int64
	over  error
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return 0, l.over
	}
	return n, err
}

// Upload stores a file in the workspace's library (editors and up). Its
// type is sniffed from its bytes; SVG and anything not listed in
// domain.MediaTypes are refused before anything is stored. The bytes go
// to the blob store as they arrive, never whole in memory, and before
// the record's transaction; a refusal after that (too many pixels, a
// full library) deletes the blob again.
func (s *Service) Upload(ctx context.Context, p domain.Principal, wsRef string, u Upload) (_ domain.Media, err error) {
	ctx, end := usecase.Start(ctx, "media.Upload")
	defer end(&err)
	var (
		w     domain.Workspace
		total int64
		keep  bool
	)
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		if w, err = usecase.Workspace(ctx, st, s.authz, p, wsRef, domain.PermMediaWrite); err != nil {
			return err
		}
		if u.KeepMetadata != nil {
			keep = *u.KeepMetadata
		} else {
			site, err := st.Sites().Get(ctx, w.ID())
			if err != nil {
				return err
			}
			keep = site.MediaKeepMetadata()
		}
		total, err = st.Media().TotalSize(ctx, w.ID())
		return err
	})
	if err != nil {
		return domain.Media{}, err
	}
	if total >= s.maxTotal {
		return domain.Media{}, domain.ErrMediaQuota
	}
	br := bufio.NewReaderSize(u.Body, 4096)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return domain.Media{}, err
	}
	ct, err := domain.SniffMedia(head)
	if err != nil {
		return domain.Media{}, err
	}
	lim := &limited{r: br, limit: s.maxFile, over: domain.ErrMediaTooLarge}
	if room := s.maxTotal - total; room < lim.limit {
		lim.limit, lim.over = room, domain.ErrMediaQuota
	}
	now := s.clock.Now()
	id := domain.NewMediaID(now)
	key := domain.MediaKey(w.ID(), id, 0)
	var body io.Reader = lim
	if !keep && ct == domain.MediaJPEG {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(s.images.StripMetadata(ct, pw, lim)) }()
		defer pr.Close()
		body = pr
	}
	// The digest and size are of the stored bytes: hash after stripping.
	h := sha256.New()
	stored := &counter{}
	info, err := s.blobs.Put(ctx, key, ct, -1, io.TeeReader(body, io.MultiWriter(h, stored)))
	if lim.n > lim.limit {
		err = lim.over
	}
	if err != nil {
		s.forget(ctx, key)
		return domain.Media{}, err
	}
	if info.Size != stored.n {
		s.forget(ctx, key)
		return domain.Media{}, ports.ErrBlobSize
	}
	// Safe to delete on any refusal from here on: the key is new.
	m, err := s.record(ctx, p, w, id, u.Name, ct, stored.n, hex.EncodeToString(h.Sum(nil)), now)
	if err != nil {
		s.forget(ctx, key)
		return domain.Media{}, err
	}
	return m, nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// record measures a stored upload and adds its record.
func (s *Service) record(ctx context.Context, p domain.Principal, w domain.Workspace, id domain.MediaID, name, ct string, size int64, digest string, now time.Time) (domain.Media, error) {
	if size == 0 {
		return domain.Media{}, domain.ErrMediaEmpty
	}
	width, height, err := s.dimensions(ctx, domain.MediaKey(w.ID(), id, 0), ct)
	if err != nil {
		return domain.Media{}, err
	}
	m, err := domain.NewMedia(w.ID(), p, domain.MediaUpload{ID: id, Name: name, ContentType: ct, Size: size, Width: width, Height: height, SHA256: digest}, now)
	if err != nil {
		return domain.Media{}, err
	}
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		// Another upload may have landed since the check before the
		// upload: the sum is checked again where it is written.
		total, err := st.Media().TotalSize(ctx, w.ID())
		if err != nil {
			return err
		}
		if total+size > s.maxTotal {
			return domain.ErrMediaQuota
		}
		if err := st.Media().Add(ctx, m); err != nil {
			return err
		}
		return usecase.Audit(ctx, st, p, w.ID(), "media.uploaded", "media", id.String(),
			map[string]string{"name": m.Name(), "content_type": ct, "size": strconv.FormatInt(size, 10)}, now)
	})
	return m, err
}

// dimensions reads the stored image's header and refuses one of more than
// domain.MaxMediaPixels, before anything decodes it.
func (s *Service) dimensions(ctx context.Context, key, ct string) (int, int, error) {
	if !domain.IsImageType(ct) {
		return 0, 0, nil
	}
	rc, _, err := s.blobs.Get(ctx, key, 0, headerBytes)
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	width, height, err := s.images.Dimensions(ct, rc)
	if err != nil {
		return 0, 0, err
	}
	if int64(width)*int64(height) > domain.MaxMediaPixels {
		return 0, 0, domain.ErrMediaPixels
	}
	return width, height, nil
}

// forget deletes a blob that no record will name, even when ctx ended.
func (s *Service) forget(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.blobs.Delete(ctx, key); err != nil {
		s.log.WarnContext(ctx, "media: cannot delete an unrecorded blob", "key", key, "err", err)
	}
}

// Get returns a media file of the workspace (editors and up).
func (s *Service) Get(ctx context.Context, p domain.Principal, wsRef string, id domain.MediaID) (_ domain.Media, err error) {
	ctx, end := usecase.Start(ctx, "media.Get")
	defer end(&err)
	var m domain.Media
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := usecase.Workspace(ctx, st, s.authz, p, wsRef, domain.PermMediaRead)
		if err != nil {
			return err
		}
		m, err = getMedia(ctx, st, w.ID(), id)
		return err
	})
	return m, err
}

// Listed is a page of media files and the site slug their URLs use.
type Listed struct {
	Media []domain.Media
	Next  string
	Site  string
}

// List lists the workspace's media files, newest first (editors and up).
func (s *Service) List(ctx context.Context, p domain.Principal, wsRef string, f ports.MediaFilter, page ports.Page) (_ Listed, err error) {
	ctx, end := usecase.Start(ctx, "media.List")
	defer end(&err)
	var out Listed
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := usecase.Workspace(ctx, st, s.authz, p, wsRef, domain.PermMediaRead)
		if err != nil {
			return err
		}
		out.Site = w.Slug()
		out.Media, out.Next, err = st.Media().List(ctx, w.ID(), f, page)
		return err
	})
	return out, err
}

// Site returns the slug of the workspace's site, which media URLs use,
// to a caller who holds perm (media:read, or media:write after a write).
func (s *Service) Site(ctx context.Context, p domain.Principal, wsRef string, perm domain.Permission) (_ string, err error) {
	var slug string
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := usecase.Workspace(ctx, st, s.authz, p, wsRef, perm)
		slug = w.Slug()
		return err
	})
	return slug, err
}

// Update changes a media file's alt text, caption and focal point
// (editors and up), audited with the fields changed.
func (s *Service) Update(ctx context.Context, p domain.Principal, wsRef string, id domain.MediaID, c domain.MediaChange) (_ domain.Media, err error) {
	ctx, end := usecase.Start(ctx, "media.Update")
	defer end(&err)
	var (
		m    domain.Media
		used bool
	)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := usecase.Workspace(ctx, st, s.authz, p, wsRef, domain.PermMediaWrite)
		if err != nil {
			return err
		}
		if m, err = getMedia(ctx, st, w.ID(), id); err != nil {
			return err
		}
		now := s.clock.Now()
		changed, err := m.Apply(c, now)
		if err != nil || !changed {
			return err
		}
		if err := st.Media().Update(ctx, m); err != nil {
			return err
		}
		// A published entry's cover shows its alt text, caption and
		// focal point in public responses, which must be made anew.
		if used, err = publicUse(ctx, st, w.ID(), id); err != nil {
			return err
		}
		details := map[string]string{}
		if c.Alt != nil {
			details["alt"] = m.Alt()
		}
		if c.Caption != nil {
			details["caption"] = m.Caption()
		}
		if c.Focal != nil || c.ClearFocal {
			details["focal_point"] = "changed"
		}
		return usecase.Audit(ctx, st, p, w.ID(), "media.updated", "media", id.String(), details, now)
	})
	if err == nil && used {
		s.changed()
	}
	return m, err
}

// publicUse reports whether a published entry of ws uses the file, and
// if so moves ports.PublicContentCounter, so that every node's cache of
// public responses is made anew when the transaction commits.
func publicUse(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, id domain.MediaID) (bool, error) {
	used, err := st.Media().UsedByPublished(ctx, ws, id)
	if err != nil || !used {
		return false, err
	}
	if _, err := st.Instance().BumpCounter(ctx, ports.PublicContentCounter); err != nil {
		return false, err
	}
	return true, nil
}

// Delete deletes a media file and its variants (editors and up). A file
// that a published entry uses, as cover or in its body, is
// domain.ErrMediaInUse unless force; forced, the entries lose the cover
// and their bodies keep a link that answers 404.
func (s *Service) Delete(ctx context.Context, p domain.Principal, wsRef string, id domain.MediaID, force bool) (err error) {
	ctx, end := usecase.Start(ctx, "media.Delete")
	defer end(&err)
	var (
		m    domain.Media
		used bool
	)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := usecase.Workspace(ctx, st, s.authz, p, wsRef, domain.PermMediaWrite)
		if err != nil {
			return err
		}
		if m, err = getMedia(ctx, st, w.ID(), id); err != nil {
			return err
		}
		if used, err = st.Media().UsedByPublished(ctx, w.ID(), id); err != nil {
			return err
		}
		if used && !force {
			return domain.ErrMediaInUse
		}
		if used {
			// Forced: published covers become null in public responses.
			if _, err := st.Instance().BumpCounter(ctx, ports.PublicContentCounter); err != nil {
				return err
			}
		}
		if err := st.Media().Delete(ctx, w.ID(), id); err != nil {
			return err
		}
		return usecase.Audit(ctx, st, p, w.ID(), "media.deleted", "media", id.String(),
			map[string]string{"name": m.Name(), "forced": strconv.FormatBool(used)}, s.clock.Now())
	})
	if err != nil {
		return err
	}
	s.files.forget(id)
	if used {
		s.changed()
	}
	// The record is gone, so no URL serves the blobs any more; a blob
	// left by a failed delete here is unreachable and only takes space.
	for _, w := range append([]int{0}, domain.VariantWidths...) {
		s.forget(ctx, domain.MediaKey(m.Workspace(), m.ID(), w))
	}
	return nil
}
