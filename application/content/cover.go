package content

import (
	"context"
	"slices"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// checkCover returns nil when id is "" or names an image of ws's media
// library, domain.ErrCoverNotFound when no file of ws has the ID (another
// workspace's file included), and domain.ErrCoverNotImage for a PDF. It
// only reads, inside the write's transaction, so a file deleted meanwhile
// cannot become a cover.
func checkCover(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, id domain.MediaID) error {
	if id == "" {
		return nil
	}
	if !domain.ValidID(domain.PrefixMedia, string(id)) {
		return domain.ErrCoverNotFound
	}
	m, err := st.Media().Get(ctx, ws, id)
	if domain.KindOf(err) == domain.KindNotFound {
		return domain.ErrCoverNotFound
	}
	if err != nil {
		return err
	}
	if !domain.IsImageType(m.ContentType()) {
		return domain.ErrCoverNotImage
	}
	return nil
}

// Covers returns the media records of the covers of es, by ID, for the
// public reads to describe each cover. A cover deleted since the entries
// were read is missing from the map. A page of entries has at most
// ports.MaxPageLimit covers, each read by its primary key, and the public
// cache keeps the response that uses them.
func (s *Service) Covers(ctx context.Context, ws domain.WorkspaceID, es []domain.Entry) (_ map[domain.MediaID]domain.Media, err error) {
	ctx, end := usecase.Start(ctx, "content.Covers")
	defer end(&err)
	out := map[domain.MediaID]domain.Media{}
	var ids []domain.MediaID
	for _, e := range es {
		if id := e.CoverMedia(); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		for _, id := range ids {
			m, err := st.Media().Get(ctx, ws, id)
			if domain.KindOf(err) == domain.KindNotFound {
				continue
			}
			if err != nil {
				return err
			}
			out[id] = m
		}
		return nil
	})
	return out, err
}
