package messaging

import (
	"context"
	"fmt"

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

// eventRetentionBatch bounds one retention transaction.
const eventRetentionBatch = 1000

// ApplyEventRetention deletes the events older than the configured
// retention, in bounded batches, and returns how many it deleted. Each
// workspace keeps its last event, however old, so that a partner that has
// read everything keeps a valid cursor. It is a background job: it runs
// with the system's authority, not a caller's.
func (s *Service) ApplyEventRetention(ctx context.Context) (deleted int, err error) {
	ctx, end := usecase.Start(ctx, "messaging.ApplyEventRetention")
	defer end(&err)
	if s.eventRetention <= 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-s.eventRetention)
	for {
		var n int
		err := s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
			n, err = st.Events().DeleteCreatedBefore(ctx, cutoff, eventRetentionBatch)
			return err
		})
		if err != nil {
			return deleted, fmt.Errorf("event retention: %w", err)
		}
		deleted += n
		if n < eventRetentionBatch {
			return deleted, nil
		}
	}
}
