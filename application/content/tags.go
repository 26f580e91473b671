package content

import (
	"context"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchTag = domain.ErrNotFound.WithMessage("No such tag.")

// TagEdit changes a tag: the fields that are not nil. A new name must
// keep the tag's slug (domain.Tag.Rename).
type TagEdit struct {
	Name, Description *string
}

// UpdateTag renames or describes a tag (editors and up), writes the new
// name into the posts that carry it, and audits it as tag.updated.
func (s *Service) UpdateTag(ctx context.Context, p domain.Principal, wsRef, slug string, edit TagEdit) (_ domain.TagCount, err error) {
	ctx, end := usecase.Start(ctx, "content.UpdateTag")
	defer end(&err)
	var (
		t   domain.Tag
		out domain.TagCount
	)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentWrite)
		if err != nil {
			return err
		}
		if t, err = st.Tags().Get(ctx, w.ID(), slug); err != nil {
			if domain.KindOf(err) == domain.KindNotFound {
				return errNoSuchTag
			}
			return err
		}
		if edit.Name != nil {
			if err := t.Rename(*edit.Name); err != nil {
				return err
			}
		}
		if edit.Description != nil {
			if err := t.Describe(*edit.Description); err != nil {
				return err
			}
		}
		if err := st.Tags().Put(ctx, t, s.now()); err != nil {
			return err
		}
		if err := usecase.Audit(ctx, st, p, w.ID(), "tag.updated", "tag", t.Slug, map[string]string{"name": t.Name}, s.now()); err != nil {
			return err
		}
		if out, err = st.Tags().Count(ctx, w.ID(), t.Slug); err != nil {
			return err
		}
		return publicChange(ctx, st)
	})
	if err == nil {
		s.changed()
	}
	return out, err
}

// ListTags lists the workspace's tags by slug with their published post
// counts, unused tags included (viewers and up).
func (s *Service) ListTags(ctx context.Context, p domain.Principal, wsRef string, page ports.Page) (_ []domain.TagCount, next string, err error) {
	ctx, end := usecase.Start(ctx, "content.ListTags")
	defer end(&err)
	var ts []domain.TagCount
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentRead)
		if err != nil {
			return err
		}
		ts, next, err = st.Tags().List(ctx, w.ID(), false, page)
		return err
	})
	return ts, next, err
}

// PublicTags lists the tags of ws that published posts carry, by slug,
// with how many each: a tag only drafts carry would tell of unpublished
// work.
func (s *Service) PublicTags(ctx context.Context, ws domain.WorkspaceID, page ports.Page) (_ []domain.TagCount, next string, err error) {
	ctx, end := usecase.Start(ctx, "content.PublicTags")
	defer end(&err)
	var ts []domain.TagCount
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		ts, next, err = st.Tags().List(ctx, ws, true, page)
		return err
	})
	return ts, next, err
}

// PublicTag returns a tag of ws with its published post count; a tag no
// published post carries is not found, as in PublicTags.
func (s *Service) PublicTag(ctx context.Context, ws domain.WorkspaceID, slug string) (_ domain.TagCount, err error) {
	ctx, end := usecase.Start(ctx, "content.PublicTag")
	defer end(&err)
	var c domain.TagCount
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		c, err = st.Tags().Count(ctx, ws, slug)
		if domain.KindOf(err) == domain.KindNotFound || (err == nil && c.Posts == 0) {
			return errNoSuchTag
		}
		return err
	})
	return c, err
}
