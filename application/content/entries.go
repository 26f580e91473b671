package content

import (
	"context"
	"errors"
	"fmt"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// CreateInput is a new entry as an editor writes it.
type CreateInput struct {
	Kind    string
	Content domain.EntryContent
	// Translation, when it names a locale or an entry, is set as
	// SetTranslation would, in the creating transaction.
	Translation TranslationInput
}

// CreateEntry writes a draft (editors and up) and keeps its first
// revision. The author is the user acting, or the user who made the API
// key. A locale and the entry it translates, when given, are checked and
// audited as SetTranslation does (domain.ErrTranslationLocaleTaken).
func (s *Service) CreateEntry(ctx context.Context, p domain.Principal, wsRef string, in CreateInput) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.CreateEntry")
	defer end(&err)
	kind, err := domain.ParseEntryKind(in.Kind)
	if err != nil {
		return domain.Entry{}, err
	}
	locale, err := domain.ParseLocale("locale", in.Translation.Locale)
	if err != nil {
		return domain.Entry{}, err
	}
	// The body costs what its author makes it cost to render, so it is
	// rendered only for a caller allowed to write here, and outside the
	// write transaction, which would hold up every other writer meanwhile.
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		_, err := s.workspace(ctx, st, p, wsRef, domain.PermContentWrite)
		return err
	})
	if err != nil {
		return domain.Entry{}, err
	}
	rendered := s.render.Render(in.Content.Body)
	var e domain.Entry
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		// Authorized again: the membership may have gone while rendering.
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentWrite)
		if err != nil {
			return err
		}
		if e, err = domain.NewEntry(w.ID(), p.User(), kind, in.Content, rendered, s.now()); err != nil {
			return err
		}
		if err := checkCover(ctx, st, w.ID(), e.CoverMedia()); err != nil {
			return err
		}
		translated, err := translateNew(ctx, st, &e, locale, in.Translation.TranslationOf)
		if err != nil {
			return err
		}
		if _, err := s.EnsureAuthor(ctx, st, w.ID(), p.User()); err != nil {
			return fmt.Errorf("author of %s: %w", e.ID(), err)
		}
		if err := st.Entries().Add(ctx, e); err != nil {
			return err
		}
		if err := addRevision(ctx, st, e, p); err != nil {
			return err
		}
		if translated {
			return s.auditTranslation(ctx, st, p, e)
		}
		return nil
	})
	return e, err
}

func addRevision(ctx context.Context, st ports.Stores, e domain.Entry, p domain.Principal) error {
	if err := st.Entries().AddRevision(ctx, domain.NewRevision(e, p)); err != nil {
		return fmt.Errorf("add revision %d of %s: %w", e.Version(), e.ID(), err)
	}
	return nil
}

// ListEntries lists a workspace's entries of every status (viewers and up).
func (s *Service) ListEntries(ctx context.Context, p domain.Principal, wsRef string, f ports.EntryFilter, page ports.Page) (_ []domain.Entry, next string, err error) {
	ctx, end := usecase.Start(ctx, "content.ListEntries")
	defer end(&err)
	var es []domain.Entry
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentRead)
		if err != nil {
			return err
		}
		es, next, err = st.Entries().List(ctx, w.ID(), f, page)
		return err
	})
	return es, next, err
}

// GetEntry returns one entry of any status (viewers and up).
func (s *Service) GetEntry(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.GetEntry")
	defer end(&err)
	var e domain.Entry
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentRead)
		if err != nil {
			return err
		}
		e, err = getEntry(ctx, st, w.ID(), id)
		return err
	})
	return e, err
}

// UpdateEntry applies an editor's patch (editors and up) and keeps the
// result as a revision. ifMatch, when not nil, is the version the editor
// saw: a different stored version is a domain.ErrVersionConflict, and
// so is a concurrent save that lands between this read and this write.
func (s *Service) UpdateEntry(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, ifMatch *int, patch domain.EntryPatch) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.UpdateEntry")
	defer end(&err)
	return s.revise(ctx, p, wsRef, id, ifMatch, func(_ context.Context, _ ports.Stores, e domain.Entry) (domain.EntryContent, error) {
		return patch.Apply(e.Content()), nil
	})
}

// reviseAttempts bounds how often revise renders again because the entry's
// body changed between its read and its write.
const reviseAttempts = 3

// errStaleRender says that the body revise rendered is no longer the body
// it would save: another save landed in between.
var errStaleRender = errors.New("the entry changed while its body was rendered")

// revise replaces an entry's content with what change derives from it,
// renders the body again when it changed, and keeps a revision. When other
// saves keep changing the body under it, it gives up with
// domain.ErrVersionConflict rather than render without end.
func (s *Service) revise(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, ifMatch *int, change func(context.Context, ports.Stores, domain.Entry) (domain.EntryContent, error)) (domain.Entry, error) {
	for i := 1; ; i++ {
		e, err := s.reviseOnce(ctx, p, wsRef, id, ifMatch, change)
		if !errors.Is(err, errStaleRender) {
			return e, err
		}
		if i == reviseAttempts {
			return domain.Entry{}, domain.ErrVersionConflict
		}
	}
}

// reviseOnce authorizes, reads the entry and derives its new content on
// the read path, renders the body outside any transaction (its cost is
// the author's to choose), and only then writes, after checking that the
// body it rendered is still the one to save.
func (s *Service) reviseOnce(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, ifMatch *int, change func(context.Context, ports.Stores, domain.Entry) (domain.EntryContent, error)) (domain.Entry, error) {
	var base domain.Entry
	var body string
	err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		var err error
		if base, err = s.entryToWrite(ctx, st, p, wsRef, id, ifMatch); err != nil {
			return err
		}
		c, err := change(ctx, st, base)
		body = c.Body
		return err
	})
	if err != nil {
		return domain.Entry{}, err
	}
	rendered := base.Rendered()
	if body != base.Body() {
		rendered = s.render.Render(body)
	}
	var e domain.Entry
	published := false
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		var err error
		if e, err = s.entryToWrite(ctx, st, p, wsRef, id, ifMatch); err != nil {
			return err
		}
		c, err := change(ctx, st, e)
		if err != nil {
			return err
		}
		if c.Body != body {
			return errStaleRender
		}
		if c.CoverMedia != e.CoverMedia() {
			if err := checkCover(ctx, st, e.Workspace(), c.CoverMedia); err != nil {
				return err
			}
		}
		r := rendered
		if c.Body == e.Body() {
			r = e.Rendered()
		}
		prev := e.Version()
		if err := e.Revise(c, r, s.now()); err != nil {
			return err
		}
		if err := st.Entries().Update(ctx, e, prev); err != nil {
			return err
		}
		if published = e.IsPublished(); published {
			if err := publicChange(ctx, st); err != nil {
				return err
			}
		}
		if err := st.Events().Add(ctx, domain.EntryUpdatedEvent(e, s.now())); err != nil {
			return fmt.Errorf("queue event: %w", err)
		}
		return addRevision(ctx, st, e, p)
	})
	if err == nil && published {
		s.changed()
	}
	return e, err
}

// DeleteEntry deletes an entry with its revisions (editors and up). A
// published entry leaves the public API, and its unpublished event is
// queued for partners.
func (s *Service) DeleteEntry(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, ifMatch *int) (err error) {
	ctx, end := usecase.Start(ctx, "content.DeleteEntry")
	defer end(&err)
	published := false
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		e, err := s.entryToWrite(ctx, st, p, wsRef, id, ifMatch)
		if err != nil {
			return err
		}
		if err := st.Entries().Delete(ctx, e.Workspace(), id); err != nil {
			return err
		}
		if published = e.IsPublished(); published {
			// The event tells partners the entry left the site; its status
			// says draft, as it would after an unpublish.
			if _, err := e.Unpublish(domain.EntryDraft, s.now()); err != nil {
				return err
			}
			if err := st.Events().Add(ctx, domain.EntryEvent(e, false, s.now())); err != nil {
				return fmt.Errorf("queue event: %w", err)
			}
			if err := publicChange(ctx, st); err != nil {
				return err
			}
		}
		if err := st.Events().Add(ctx, domain.EntryDeletedEvent(e, s.now())); err != nil {
			return fmt.Errorf("queue event: %w", err)
		}
		return usecase.Audit(ctx, st, p, e.Workspace(), "entry.deleted", e.Kind().String(), string(id), map[string]string{"slug": e.Slug()}, s.now())
	})
	if err == nil && published {
		s.changed()
	}
	return err
}
