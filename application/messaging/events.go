package messaging

import (
	"context"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// MaxEventPage bounds a page of the change feed: events carry whole
// resources, so a page stays small enough to read in one go.
const MaxEventPage = 100

// ListEvents reads the change feed of a workspace: the events after the
// cursor page.After, oldest first, of type typ when it is not "" (admins
// and owners, and keys with events:read: the feed carries submissions,
// members and API keys alike). A reader that keeps the last ID it saw and
// asks for what follows never misses an event and never sees one twice;
// a cursor retention has deleted is domain.ErrCursorExpired.
func (s *Service) ListEvents(ctx context.Context, p domain.Principal, ref, typ string, page ports.Page) (_ []domain.Event, next string, err error) {
	ctx, end := usecase.Start(ctx, "messaging.ListEvents")
	defer end(&err)
	if typ != "" {
		if typ, err = domain.ParseEventType(typ); err != nil {
			return nil, "", err
		}
	}
	if page.Limit > MaxEventPage {
		page.Limit = MaxEventPage
	}
	var evs []domain.Event
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermEventsRead)
		if err != nil {
			return err
		}
		evs, next, err = st.Events().List(ctx, w.ID(), typ, page)
		return err
	})
	return evs, next, err
}
