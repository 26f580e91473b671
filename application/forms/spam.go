package forms

import (
	"context"
	"fmt"
	"strconv"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// NotSpam files a spam submission as new: the spam filter, or whoever
// marked it, was wrong (editors and up). When the filter caught it on
// arrival, its notification and autoresponse were never queued, and the
// submission was kept out of the change feed; NotSpam then queues that
// mail, rendered and limited as Submit does, and writes the
// submission.created event Submit would have, in the transaction that
// files it. A submission marked spam after it arrived had its mail queued
// already and gets submission.updated. Either way the audit log records
// who did it. A submission that is not spam (marked not spam already, by
// this call or a concurrent one) is returned as it is, with nothing
// queued or written: the held mail goes out once.
func (s *Service) NotSpam(ctx context.Context, p domain.Principal, wsRef string, id domain.SubmissionID) (_ domain.Submission, err error) {
	ctx, end := usecase.Start(ctx, "forms.NotSpam")
	defer end(&err)
	var (
		w   domain.Workspace
		f   domain.Form
		sub domain.Submission
	)
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if w, err = s.workspace(ctx, st, p, wsRef, domain.PermSubmissionsWrite); err != nil {
			return err
		}
		if sub, err = getSubmission(ctx, st, w.ID(), id); err != nil || !sub.IsSpam() {
			return err
		}
		f, err = getForm(ctx, st, w.ID(), sub.Form())
		return err
	})
	if err != nil || !sub.IsSpam() {
		return sub, err
	}
	// The mail is rendered before the transaction, from the submission as
	// it was read; held mail is never held again, so the transaction below
	// queues it only if the submission still holds it.
	now := s.now()
	clean := sub
	held, err := clean.NotSpam(domain.SubmissionNew, now)
	if err != nil {
		return sub, err
	}
	var mail queuedMail
	if held {
		if mail, err = s.composeMail(ctx, f, clean, w.Sender(s.from), now); err != nil {
			return sub, err
		}
	}
	queued := 0
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		queued = 0
		cur, err := getSubmission(ctx, st, w.ID(), id) // locked: see SubmissionStore.Get
		if err != nil {
			return err
		}
		if !cur.IsSpam() {
			sub = cur
			return nil
		}
		held, err := cur.NotSpam(domain.SubmissionNew, now)
		if err != nil {
			return err
		}
		if err := st.Submissions().Update(ctx, cur); err != nil {
			return fmt.Errorf("update submission %s: %w", id, err)
		}
		event := domain.EventSubmissionUpdated
		if held {
			event = domain.EventSubmissionCreated
			if err := mail.queue(ctx, st, f, cur, now); err != nil {
				return err
			}
			queued = len(mail.msgs)
		}
		if err := addEvent(ctx, st, domain.SubmissionEvent(event, cur, now)); err != nil {
			return err
		}
		sub = cur
		return s.audit(ctx, st, p, w.ID(), "submission.not_spam", "submission", string(id), map[string]string{
			"form": string(cur.Form()), "from": domain.SubmissionSpam.String(), "to": cur.Status().String(), "mail_queued": strconv.Itoa(queued),
		})
	})
	if err != nil {
		return domain.Submission{}, err
	}
	if queued > 0 {
		s.wake()
	}
	return sub, nil
}

// RecentSubmissions returns the newest n submissions of a workspace across
// its forms, newest first, with their forms' names and without their
// values (viewers and up), for the console's overview. n is clamped to
// 1..ports.MaxPageLimit.
func (s *Service) RecentSubmissions(ctx context.Context, p domain.Principal, wsRef string, n int) (_ []ports.RecentSubmission, err error) {
	ctx, end := usecase.Start(ctx, "forms.RecentSubmissions")
	defer end(&err)
	var rs []ports.RecentSubmission
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermSubmissionsRead)
		if err != nil {
			return err
		}
		rs, err = st.Submissions().Recent(ctx, w.ID(), min(max(n, 1), ports.MaxPageLimit))
		return err
	})
	return rs, err
}
