package porttest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// spamAndSummaries checks what marking spam not spam and a workspace's
// overview need of the stores: the held-mail flag, the row lock that
// makes marking not spam queue the held mail once, the newest
// submissions across forms and the outbox's health.
func spamAndSummaries(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("MailHeldRoundTrips", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f := addForm(t, uow, ws.ID(), fullForm())
		spam := addSubmission(t, uow, accept(t, f, t0, "email", "bot@example.com", "agree", "on", "website", "http://spam.example"))
		clean := addSubmission(t, uow, accept(t, f, t0, "email", "ada@example.com", "agree", "on"))
		if got := getSubmission(t, uow, ws.ID(), spam.ID()); !got.IsSpam() || !got.MailHeld() {
			t.Fatalf("spam as stored: status %s held %v, want spam held", got.Status(), got.MailHeld())
		}
		if got := getSubmission(t, uow, ws.ID(), clean.ID()); got.MailHeld() {
			t.Fatal("a clean submission is stored with its mail held")
		}
		if _, err := spam.NotSpam(domain.SubmissionRead, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Submissions().Update(ctx, spam) })
		if got := getSubmission(t, uow, ws.ID(), spam.ID()); submissionView(got) != submissionView(spam) || got.MailHeld() {
			t.Errorf("after NotSpam and Update: %s held %v\nwant %s held false", submissionView(got), got.MailHeld(), submissionView(spam))
		}
	})
	// A form's own link threshold and a spam submission's reason are
	// stored and read back; filing by hand and marking not spam change
	// the reason in the row too.
	t.Run("SpamReasonAndLinkLimitRoundTrip", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		in, ten := fullForm(), 10
		in.MaxLinks = &ten
		f := addForm(t, uow, ws.ID(), in)
		got := getForm(t, uow, ws.ID(), f.ID())
		if formView(got) != formView(f) || got.Definition().MaxLinks == nil || *got.Definition().MaxLinks != 10 {
			t.Fatalf("form as stored:\n%s\nwant\n%s", formView(got), formView(f))
		}
		links := func(n int) string { return strings.Repeat("see https://example.com/page ", n) }
		// The instance's rule would call six links spam; the form's does not.
		six, err := got.Accept(rawOf("email", "ada@example.com", "agree", "on", "message", links(6)), domain.SubmissionMeta{}, domain.SpamRules{MaxLinks: 2}, t0)
		if err != nil || six.IsSpam() {
			t.Fatalf("six links under a limit of 10: %v spam=%v, want clean", err, six.IsSpam())
		}
		many, err := got.Accept(rawOf("email", "bot@example.com", "agree", "on", "message", links(11)), domain.SubmissionMeta{}, domain.SpamRules{MaxLinks: 2}, t0)
		if err != nil {
			t.Fatal(err)
		}
		honey := accept(t, f, t0, "email", "bot@example.com", "agree", "on", "website", "x")
		for _, s := range []domain.Submission{six, many, honey} {
			addSubmission(t, uow, s)
			if got := getSubmission(t, uow, ws.ID(), s.ID()); submissionView(got) != submissionView(s) {
				t.Errorf("as stored:\n%s\nwant\n%s", submissionView(got), submissionView(s))
			}
		}
		if r := getSubmission(t, uow, ws.ID(), many.ID()).SpamReason(); r.Cause != domain.SpamLinks || !strings.Contains(r.Detail, "11 links") {
			t.Errorf("eleven links: reason %+v, want links with the count", r)
		}
		if r := getSubmission(t, uow, ws.ID(), honey.ID()).SpamReason(); r.Cause != domain.SpamHoneypot {
			t.Errorf("honeypot: reason %+v", r)
		}
		if err := six.SetStatus(domain.SubmissionSpam, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := many.NotSpam(domain.SubmissionNew, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		for _, s := range []domain.Submission{six, many} {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Submissions().Update(ctx, s) })
			if got := getSubmission(t, uow, ws.ID(), s.ID()); submissionView(got) != submissionView(s) {
				t.Errorf("after Update:\n%s\nwant\n%s", submissionView(got), submissionView(s))
			}
		}
		if r := getSubmission(t, uow, ws.ID(), six.ID()).SpamReason(); r.Cause != domain.SpamManual {
			t.Errorf("filed as spam by hand: reason %+v, want manual", r)
		}
		if r := getSubmission(t, uow, ws.ID(), many.ID()).SpamReason(); !r.IsZero() {
			t.Errorf("marked not spam: reason %+v, want none", r)
		}
	})
	// Two transactions that each read spam and mark it not spam would
	// both queue its held mail: Get in a write transaction must make the
	// second one see the first one's change. Each worker that reads spam
	// waits for the others to read too, or for a moment when they cannot
	// (blocked by the first one's lock), so that without the lock all of
	// them read spam.
	t.Run("ConcurrentNotSpamQueuesOnce", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f := addForm(t, uow, ws.ID(), fullForm())
		spam := addSubmission(t, uow, accept(t, f, t0, "email", "bot@example.com", "agree", "on", "website", "http://spam.example"))
		const workers = 4
		var arrived atomic.Int32
		all := make(chan struct{})
		var msgs []domain.OutboxMessage
		for w := range workers {
			msgs = append(msgs, newOutboxMessage(t, ws.ID(), spam.ID(), fmt.Sprintf("w%d@example.com", w)))
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
					sub, err := st.Submissions().Get(ctx, ws.ID(), spam.ID())
					if err != nil || !sub.IsSpam() {
						return err
					}
					if arrived.Add(1) == workers {
						close(all)
					}
					select {
					case <-all:
					case <-time.After(300 * time.Millisecond):
					}
					held, err := sub.NotSpam(domain.SubmissionNew, t0.Add(time.Minute))
					if err != nil || !held {
						return err
					}
					if err := st.Submissions().Update(ctx, sub); err != nil {
						return err
					}
					return st.Outbox().Add(ctx, msgs[w])
				})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
				}
			})
		}
		wg.Wait()
		var ms []domain.OutboxMessage
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			ms, _, err = st.Outbox().List(ctx, ws.ID(), nil, ports.Page{Limit: ports.MaxPageLimit})
			return err
		})
		if len(ms) != 1 {
			t.Errorf("%d messages queued, want 1", len(ms))
		}
	})
	t.Run("RecentAcrossForms", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		a, b := addForm(t, uow, ws.ID(), simpleForm("Contact")), addForm(t, uow, ws.ID(), simpleForm("Quote"))
		theirs := addForm(t, uow, other.ID(), simpleForm("Theirs"))
		var want []string
		for i, f := range []domain.Form{a, b, a, b, a} {
			s := addSubmission(t, uow, accept(t, f, t0.Add(time.Duration(i)*time.Minute), "email", "x@example.com"))
			want = append([]string{fmt.Sprintf("%s %s %q new %s", s.ID(), f.ID(), f.Name(), stamp(s.CreatedAt()))}, want...)
		}
		addSubmission(t, uow, accept(t, theirs, t0.Add(time.Hour), "email", "y@example.com"))
		view := func(rs []ports.RecentSubmission) []string {
			return idsOf(rs, func(r ports.RecentSubmission) string {
				return fmt.Sprintf("%s %s %q %s %s", r.ID, r.Form, r.FormName, r.Status, stamp(r.CreatedAt))
			})
		}
		for _, limit := range []int{3, 10, 0} {
			var rs []ports.RecentSubmission
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				rs, err = st.Submissions().Recent(ctx, ws.ID(), limit)
				return err
			})
			got, w := view(rs), want[:min(limit, len(want))]
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("Recent(%d) =\n%q\nwant\n%q", limit, got, w)
			}
		}
	})
	t.Run("OutboxHealth", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other, empty := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other"), addWorkspace(t, uow, "empty")
		at := func(d time.Duration, st domain.OutboxStatus) func(*domain.OutboxMessage) {
			return func(m *domain.OutboxMessage) { m.CreatedAt, m.Status = domain.Timestamp(t0.Add(d)), st }
		}
		addMessage(t, uow, ws.ID(), "", "a@example.com", at(2*time.Minute, domain.OutboxPending))
		addMessage(t, uow, ws.ID(), "", "b@example.com", at(time.Minute, domain.OutboxPending))
		addMessage(t, uow, ws.ID(), "", "c@example.com", at(0, domain.OutboxSent))
		addMessage(t, uow, ws.ID(), "", "d@example.com", at(0, domain.OutboxDead))
		addMessage(t, uow, ws.ID(), "", "e@example.com", at(0, domain.OutboxDead))
		addMessage(t, uow, ws.ID(), "", "f@example.com", at(0, domain.OutboxFailed))
		addMessage(t, uow, other.ID(), "", "g@example.com", at(-time.Hour, domain.OutboxPending))
		health := func(w domain.WorkspaceID) (h ports.OutboxHealth) {
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				h, err = st.Outbox().Health(ctx, w)
				return err
			})
			return h
		}
		view := func(h ports.OutboxHealth) string {
			oldest := "none"
			if !h.OldestPending.IsZero() {
				oldest = stamp(h.OldestPending)
			}
			return fmt.Sprintf("pending=%d failed=%d dead=%d oldest=%s", h.Pending, h.Failed, h.Dead, oldest)
		}
		if got, want := view(health(ws.ID())), fmt.Sprintf("pending=2 failed=1 dead=2 oldest=%s", stamp(domain.Timestamp(t0.Add(time.Minute)))); got != want {
			t.Errorf("Health = %s, want %s", got, want)
		}
		if got, want := view(health(empty.ID())), "pending=0 failed=0 dead=0 oldest=none"; got != want {
			t.Errorf("Health(empty) = %s, want %s", got, want)
		}
	})
}
