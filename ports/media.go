package ports

import (
	"context"

	"github.com/keelhq/keel/domain"
)

// MediaFilter narrows a list of media files: Type is a content type or
// its start ("image/"), Search a part of the name (case-insensitive).
type MediaFilter struct {
	Type   string
	Search string
}

// MediaStore keeps the records of a workspace's media library; the bytes
// are in the BlobStore.
type MediaStore interface {
	// Add stores a new media file.
	Add(ctx context.Context, m domain.Media) error
	// Get returns the media file of ws with the ID; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, id domain.MediaID) (domain.Media, error)
	// List returns media files of ws that match f, newest first.
	List(ctx context.Context, ws domain.WorkspaceID, f MediaFilter, p Page) ([]domain.Media, string, error)
	// Update saves the details (alt, caption, focal point, updated_at)
	// and variants of a media file; domain.ErrNotFound.
	Update(ctx context.Context, m domain.Media) error
	// Delete removes the record and clears it from the covers of entries;
	// domain.ErrNotFound.
	Delete(ctx context.Context, ws domain.WorkspaceID, id domain.MediaID) error
	// TotalSize returns the sum of the sizes of ws's media files.
	TotalSize(ctx context.Context, ws domain.WorkspaceID) (int64, error)
	// UsedByPublished reports whether a published entry of ws has the file
	// as cover or names its ID in its body.
	UsedByPublished(ctx context.Context, ws domain.WorkspaceID, id domain.MediaID) (bool, error)
}
