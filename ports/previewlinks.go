package ports

import (
	"context"
	"time"

	"github.com/keelhq/keel/domain"
)

// PreviewLinkStore keeps the preview links of entries.
type PreviewLinkStore interface {
	// Add stores a new link; its entry must exist.
	Add(ctx context.Context, l domain.PreviewLink) error
	// Get returns the link of ws with the ID; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, id domain.PreviewLinkID) (domain.PreviewLink, error)
	// ByTokenHash returns the link whose token has the hash, of any
	// workspace and in any state; domain.ErrNotFound.
	ByTokenHash(ctx context.Context, hash []byte) (domain.PreviewLink, error)
	// List returns the links of an entry of ws, newest first, revoked and
	// expired ones too; none for an entry that is not ws's.
	List(ctx context.Context, ws domain.WorkspaceID, entry domain.EntryID, p Page) ([]domain.PreviewLink, string, error)
	// CountActive counts the links of an entry of ws that are neither
	// revoked nor expired at now.
	CountActive(ctx context.Context, ws domain.WorkspaceID, entry domain.EntryID, now time.Time) (int, error)
	// Update saves the link's revocation; domain.ErrNotFound.
	Update(ctx context.Context, l domain.PreviewLink) error
}
