package forms

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchSubmission = domain.ErrNotFound.WithMessage("No such submission.")

// ListSubmissions lists a form's submissions, newest first (viewers and up).
func (s *Service) ListSubmissions(ctx context.Context, p domain.Principal, wsRef string, form domain.FormID, filter ports.SubmissionFilter, page ports.Page) (_ []domain.Submission, next string, err error) {
	ctx, end := usecase.Start(ctx, "forms.ListSubmissions")
	defer end(&err)
	var subs []domain.Submission
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermSubmissionsRead)
		if err != nil {
			return err
		}
		if _, err := getForm(ctx, st, w.ID(), form); err != nil {
			return err
		}
		subs, next, err = st.Submissions().List(ctx, w.ID(), form, filter, page)
		return err
	})
	return subs, next, err
}

func getSubmission(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, id domain.SubmissionID) (domain.Submission, error) {
	if !domain.ValidID(domain.PrefixSubmission, string(id)) {
		return domain.Submission{}, errNoSuchSubmission
	}
	return st.Submissions().Get(ctx, ws, id)
}

// GetSubmission returns one submission (viewers and up).
func (s *Service) GetSubmission(ctx context.Context, p domain.Principal, wsRef string, id domain.SubmissionID) (_ domain.Submission, err error) {
	ctx, end := usecase.Start(ctx, "forms.GetSubmission")
	defer end(&err)
	var sub domain.Submission
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermSubmissionsRead)
		if err != nil {
			return err
		}
		sub, err = getSubmission(ctx, st, w.ID(), id)
		return err
	})
	return sub, err
}

// UpdateSubmissionStatus files a submission (editors and up) and records
// the change in the audit log: its form and the old and new status, never
// what it says. Spam leaves spam only through NotSpam.
func (s *Service) UpdateSubmissionStatus(ctx context.Context, p domain.Principal, wsRef string, id domain.SubmissionID, to domain.SubmissionStatus) (_ domain.Submission, err error) {
	ctx, end := usecase.Start(ctx, "forms.UpdateSubmissionStatus")
	defer end(&err)
	var sub domain.Submission
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermSubmissionsWrite)
		if err != nil {
			return err
		}
		if sub, err = getSubmission(ctx, st, w.ID(), id); err != nil {
			return err
		}
		from := sub.Status()
		if err := sub.SetStatus(to, s.now()); err != nil {
			return err
		}
		if err := st.Submissions().Update(ctx, sub); err != nil {
			return err
		}
		if err := addEvent(ctx, st, domain.SubmissionEvent(domain.EventSubmissionUpdated, sub, s.now())); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "submission.status_changed", "submission", string(id), map[string]string{
			"form": string(sub.Form()), "from": from.String(), "to": to.String(),
		})
	})
	return sub, err
}

// DeleteSubmission deletes a submission and its queued mail (editors and
// up) and records it in the audit log with its form and status, never
// what it said.
func (s *Service) DeleteSubmission(ctx context.Context, p domain.Principal, wsRef string, id domain.SubmissionID) (err error) {
	ctx, end := usecase.Start(ctx, "forms.DeleteSubmission")
	defer end(&err)
	var deleted []domain.SubmissionRef
	defer func() {
		if err == nil {
			s.deleteFiles(ctx, deleted)
		}
	}()
	return s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermSubmissionsWrite)
		if err != nil {
			return err
		}
		sub, err := getSubmission(ctx, st, w.ID(), id)
		if err != nil {
			return err
		}
		if err := st.Submissions().Delete(ctx, w.ID(), id); err != nil {
			return err
		}
		if err := addDeletedEvents(ctx, st, []domain.SubmissionRef{sub.Ref()}, s.now()); err != nil {
			return err
		}
		deleted = []domain.SubmissionRef{sub.Ref()}
		return s.audit(ctx, st, p, w.ID(), "submission.deleted", "submission", string(id), map[string]string{
			"form": string(sub.Form()), "status": sub.Status().String(),
		})
	})
}

// exportBatch is how many submissions an export reads per batch: small
// enough that no read holds the database for long, large enough that the
// round trips do not dominate.
const exportBatch = 500

// ExportSubmissions streams every submission of a form, newest first, to
// write, one short read per batch, so that memory stays flat and the
// database is never held for the whole export (viewers and up). start is
// called once with the form, before the first row, so the caller can write
// a header.
func (s *Service) ExportSubmissions(ctx context.Context, p domain.Principal, wsRef string, form domain.FormID, start func(domain.Form) error, write func(domain.Submission) error) (err error) {
	ctx, end := usecase.Start(ctx, "forms.ExportSubmissions")
	defer end(&err)
	var ws domain.WorkspaceID
	var f domain.Form
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermSubmissionsRead)
		if err != nil {
			return err
		}
		ws = w.ID()
		f, err = getForm(ctx, st, ws, form)
		return err
	})
	if err != nil {
		return err
	}
	if err := start(f); err != nil {
		return err
	}
	page := ports.Page{Limit: exportBatch}
	for {
		var batch []domain.Submission
		var next string
		err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
			batch, next, err = st.Submissions().List(ctx, ws, form, ports.SubmissionFilter{}, page)
			return err
		})
		if err != nil {
			return fmt.Errorf("read submissions: %w", err)
		}
		for _, sub := range batch {
			if err := write(sub); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}

// Erased counts what an erasure removed.
type Erased struct {
	Submissions, Messages int
}

// Erase deletes every submission of the workspace that holds the address
// and every unsent message to it, and records the erasure in the audit log
// with the counts but not the address (admins and owners, and keys with
// the submissions:erase scope made by one: it crosses forms).
func (s *Service) Erase(ctx context.Context, p domain.Principal, wsRef, email string) (_ Erased, err error) {
	ctx, end := usecase.Start(ctx, "forms.Erase")
	defer end(&err)
	var out Erased
	var erased []domain.SubmissionRef
	defer func() {
		if err == nil {
			s.deleteFiles(ctx, erased)
		}
	}()
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermSubmissionsErase)
		if err != nil {
			return err
		}
		addr, err := domain.ParseEmail("email", email)
		if err != nil {
			return err
		}
		if out.Messages, err = st.Outbox().DeletePendingTo(ctx, w.ID(), addr); err != nil {
			return fmt.Errorf("erase messages: %w", err)
		}
		refs, err := st.Submissions().DeleteMatching(ctx, w.ID(), addr)
		if err != nil {
			return fmt.Errorf("erase submissions: %w", err)
		}
		out.Submissions = len(refs)
		erased = refs
		if err := addDeletedEvents(ctx, st, refs, s.now()); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "data.erased", "email", "", map[string]string{
			"submissions": strconv.Itoa(out.Submissions), "messages": strconv.Itoa(out.Messages),
		})
	})
	return out, err
}

// retentionBatch bounds one retention transaction.
const retentionBatch = 1000

// ApplyRetention deletes submissions older than their form's retention
// days, in bounded batches, and returns how many it deleted. It is a
// background job: it runs with the system's authority, not a caller's.
func (s *Service) ApplyRetention(ctx context.Context) (deleted int, err error) {
	ctx, end := usecase.Start(ctx, "forms.ApplyRetention")
	defer end(&err)
	var fs []domain.Form
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		fs, err = st.Forms().WithRetention(ctx)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, f := range fs {
		cutoff := s.now().Add(-time.Duration(f.RetentionDays()) * 24 * time.Hour)
		for {
			var refs []domain.SubmissionRef
			err := s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
				refs, err = st.Submissions().DeleteOlderThan(ctx, f.ID(), cutoff, retentionBatch)
				if err != nil {
					return err
				}
				return addDeletedEvents(ctx, st, refs, s.now())
			})
			if err != nil {
				return deleted, fmt.Errorf("retention of form %s: %w", f.ID(), err)
			}
			n := len(refs)
			if f.HasFileFields() {
				s.deleteFiles(ctx, refs)
			}
			deleted += n
			if n < retentionBatch {
				break
			}
		}
	}
	return deleted, nil
}

// addEvent writes e to the change feed in the caller's transaction.
func addEvent(ctx context.Context, st ports.Stores, e domain.Event) error {
	if err := st.Events().Add(ctx, e); err != nil {
		return fmt.Errorf("add event %s: %w", e.Type, err)
	}
	return nil
}

// addDeletedEvents writes one submission.deleted event per deleted
// submission, however it went: deletion, erasure or retention, and
// redacts the submission's earlier events, which carried what the person
// sent: the feed keeps it no longer than the submission. Spam has none:
// partners never heard of it.
func addDeletedEvents(ctx context.Context, st ports.Stores, refs []domain.SubmissionRef, now time.Time) error {
	for _, r := range refs {
		if r.Spam {
			continue
		}
		// The deletion's data is all the feed keeps of the submission.
		del := domain.SubmissionDeletedEvent(r, now)
		if _, err := st.Events().Redact(ctx, r.Workspace, string(r.ID), del.Data); err != nil {
			return fmt.Errorf("redact events of submission %s: %w", r.ID, err)
		}
		if err := addEvent(ctx, st, del); err != nil {
			return err
		}
	}
	return nil
}
