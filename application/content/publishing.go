package content

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// PublishEntry publishes an entry now, or schedules it when at is in the
// future (editors and up). Publication queues the "<kind>.published"
// event in the same transaction, so partners hear of it exactly once.
//
// An at in the past (beyond domain.PublishGrace) dates the entry then:
// that needs domain.PermContentImport, since it rewrites the site's
// history, and is audited as entry.backdated; without the permission it
// is domain.ErrPublishAtInPast, where it used to publish now silently.
func (s *Service) PublishEntry(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, at *time.Time, ifMatch *int) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.PublishEntry")
	defer end(&err)
	return s.transition(ctx, p, wsRef, id, ifMatch, func(ctx context.Context, st ports.Stores, e *domain.Entry, now time.Time) (bool, bool, error) {
		if !domain.IsBackdate(at, now) {
			published, err := e.Publish(at, now)
			return published, published, err
		}
		if err := s.mayImport(ctx, p, e.Workspace()); err != nil {
			return false, false, err
		}
		if err := e.PublishBackdated(*at, now); err != nil {
			return false, false, err
		}
		details := map[string]string{"published_at": e.PublishedAt().Format(time.RFC3339)}
		return true, true, s.audit(ctx, st, p, e.Workspace(), "entry.backdated", e.ID().String(), details)
	})
}

// mayImport authorizes p to date entries in the past in ws, and answers
// domain.ErrPublishAtInPast when it may not, which says what is missing.
func (s *Service) mayImport(ctx context.Context, p domain.Principal, ws domain.WorkspaceID) error {
	err := s.authz.Authorize(ctx, p, ws, domain.PermContentImport)
	if errors.Is(err, domain.ErrForbidden) {
		return domain.ErrPublishAtInPast
	}
	return err
}

// audit records what p just did to an entry in the caller's transaction;
// see usecase.Audit.
func (s *Service) audit(ctx context.Context, st ports.Stores, p domain.Principal, ws domain.WorkspaceID, action, entryID string, details map[string]string) error {
	return usecase.Audit(ctx, st, p, ws, action, "entry", entryID, details, s.now())
}

// UnpublishEntry takes a published entry back to draft or into the
// archive, or cancels a schedule (editors and up). Leaving the site queues
// the "<kind>.unpublished" event.
func (s *Service) UnpublishEntry(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, to domain.EntryStatus, ifMatch *int) (_ domain.Entry, err error) {
	ctx, end := usecase.Start(ctx, "content.UnpublishEntry")
	defer end(&err)
	return s.transition(ctx, p, wsRef, id, ifMatch, func(_ context.Context, _ ports.Stores, e *domain.Entry, now time.Time) (bool, bool, error) {
		was, err := e.Unpublish(to, now)
		return was, false, err
	})
}

// transition runs one step of the publication state machine. step reports
// whether the public site changed and, if so, whether the entry is now
// published (the event's verb).
func (s *Service) transition(ctx context.Context, p domain.Principal, wsRef string, id domain.EntryID, ifMatch *int, step func(context.Context, ports.Stores, *domain.Entry, time.Time) (changed, published bool, err error)) (domain.Entry, error) {
	var (
		e       domain.Entry
		changed bool
	)
	err := s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		var err error
		if e, err = s.entryToWrite(ctx, st, p, wsRef, id, ifMatch); err != nil {
			return err
		}
		prev, now := e.Version(), s.now()
		var published bool
		if changed, published, err = step(ctx, st, &e, now); err != nil {
			return err
		}
		if err := st.Entries().Update(ctx, e, prev); err != nil {
			return err
		}
		if !changed {
			return nil
		}
		if err := st.Events().Add(ctx, domain.EntryEvent(e, published, now)); err != nil {
			return fmt.Errorf("queue event: %w", err)
		}
		return publicChange(ctx, st)
	})
	if err == nil && changed {
		s.changed()
	}
	return e, err
}

// PublishDue publishes the scheduled entries whose time has come, at most
// limit of them, and returns how many it published. Several nodes may run
// it at once: each entry is claimed by one transaction, so it is
// published, and its event queued, exactly once.
func (s *Service) PublishDue(ctx context.Context, limit int) (n int, err error) {
	ctx, end := usecase.Start(ctx, "content.PublishDue")
	defer end(&err)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		n = 0
		now := s.now()
		due, err := st.Entries().ClaimDue(ctx, now, limit)
		if err != nil {
			return fmt.Errorf("claim due entries: %w", err)
		}
		for _, e := range due {
			prev := e.Version()
			if !e.PublishIfDue(now) {
				continue
			}
			if err := st.Entries().Update(ctx, e, prev); err != nil {
				return fmt.Errorf("publish %s: %w", e.ID(), err)
			}
			if err := st.Events().Add(ctx, domain.EntryEvent(e, true, now)); err != nil {
				return fmt.Errorf("queue event: %w", err)
			}
			n++
		}
		if n == 0 {
			return nil
		}
		return publicChange(ctx, st)
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.changed()
	}
	return n, nil
}
