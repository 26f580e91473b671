package content

import (
	"context"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchRevision = domain.ErrNotFound.WithMessage("No such revision.")

// ListRevisions lists an entry's saves, newest first (viewers and up).
func (s *Service) ListRevisions(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, page ports.Page) (_ []domain.Revision, next string, err error) {
	ctx, end := usecase.Start(ctx, "content.ListRevisions")
	defer end(&err)
	var rs []domain.Revision
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentRead)
		if err != nil {
			return err
		}
		if _, err := getEntry(ctx, st, w.ID(), id); err != nil {
			return err
		}
		rs, next, err = st.Entries().Revisions(ctx, w.ID(), id, page)
		return err
	})
	return rs, next, err
}

// RestoreRevision puts an earlier save's content back (editors and up).
// The restore is itself a save: it makes a new version and a new
// revision, so it can be undone the same way. The publication status is
// not part of a revision and does not change.
func (s *Service) RestoreRevision(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, version int, ifMatch *int) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.RestoreRevision")
	defer end(&err)
	return s.revise(ctx, p, wsRef, id, ifMatch, func(ctx context.Context, st ports.Stores, e domain.Entry) (domain.EntryContent, error) {
		r, err := st.Entries().Revision(ctx, e.Workspace(), e.ID(), version)
		if domain.KindOf(err) == domain.KindNotFound {
			return domain.EntryContent{}, errNoSuchRevision
		}
		if err != nil {
			return domain.EntryContent{}, err
		}
		// A cover deleted from the media library since that save is not
		// restored: the entry then has none, as the deletion left it.
		c := r.Content
		switch err := checkCover(ctx, st, e.Workspace(), c.CoverMedia); {
		case domain.KindOf(err) == domain.KindInvalid:
			c.CoverMedia = ""
		case err != nil:
			return domain.EntryContent{}, err
		}
		return c, nil
	})
}

// GetRevision returns one save of an entry (viewers and up), so that it
// can be read and compared without paging through the others.
func (s *Service) GetRevision(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, version int) (_ domain.Revision, err error) {
	ctx, end := usecase.Start(ctx, "content.GetRevision")
	defer end(&err)
	var r domain.Revision
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentRead)
		if err != nil {
			return err
		}
		if _, err := getEntry(ctx, st, w.ID(), id); err != nil {
			return err
		}
		r, err = st.Entries().Revision(ctx, w.ID(), id, version)
		if domain.KindOf(err) == domain.KindNotFound {
			return errNoSuchRevision
		}
		return err
	})
	return r, err
}
