package ports

import (
	"context"
	"time"

	"github.com/keelhq/keel/domain"
)

// ImportStore remembers which entry each imported item became, by the
// item's stable source ID (domain.ImportedEntry.Source), which is what
// makes a second import of the same export change nothing.
type ImportStore interface {
	// Imported returns, of sources, those already imported into ws, each
	// with the entry it became. At most MaxPageLimit sources.
	Imported(ctx context.Context, ws domain.WorkspaceID, sources []string) (map[string]domain.EntryID, error)
	// Add records that source became the entry id, which must exist;
	// domain.ErrImportedTwice when ws has the source already.
	Add(ctx context.Context, ws domain.WorkspaceID, source string, id domain.EntryID, now time.Time) error
	// SlugsTaken returns which of slugs the entries of ws and kind use.
	// At most MaxPageLimit slugs.
	SlugsTaken(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, slugs []string) (map[string]bool, error)
}
