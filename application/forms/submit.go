package forms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// SubmitInput is a visitor's submission as the HTTP adapter decoded it.
type SubmitInput struct {
	Form      domain.FormID
	Raw       domain.RawSubmission
	ClientIP  string
	UserAgent string
	Referrer  string
	Origin    string
	// Uploads holds the files the request stored before Submit ran; a
	// refused submission deletes them.
	Uploads *Uploads
}

// Submitted is the stored submission and its form, whose redirects and
// origins the HTTP adapter needs to answer the browser. A refused
// submission comes back with its form alone, when the form was found.
type Submitted struct {
	Submission domain.Submission
	Form       domain.Form
}

// Submit stores a visitor's submission and queues its mail; nothing is
// sent inside the request. Spam (a filled honeypot, too many links, a
// too-quick fill) is stored with status spam and no mail, and answered
// like a real submission. Submissions are throttled per client IP and per
// form (domain.ErrRateLimited), autoresponses per recipient address.
//
// Everything whose cost the visitor or the form's author controls runs
// outside any transaction: the form and its workspace's sender are read
// through ReadOnly (or taken from the service's cache of parsed forms),
// the submission is validated (patterns included) and its mail rendered,
// and only then does one short transaction check that the form still
// exists unchanged, add the submission and queue its messages.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (_ Submitted, err error) {
	ctx, end := usecase.Start(ctx, "forms.Submit")
	defer end(&err)
	// The files were stored before the transaction; a submission that
	// did not commit (invalid, rate-limited, closed, a failed
	// transaction) must not leave them behind.
	defer func() {
		if err != nil {
			in.Uploads.Discard(ctx)
		}
	}()
	if !domain.ValidID(domain.PrefixForm, string(in.Form)) {
		return Submitted{}, errNoSuchForm
	}
	if ok, wait := s.perIP.Allow(ctx, "ip:"+in.ClientIP); !ok {
		return Submitted{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	if ok, wait := s.perForm.Allow(ctx, "form:"+string(in.Form)); !ok {
		return Submitted{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	// A cached form is checked against its updated_at in the transaction;
	// when it changed there, the submission starts again from a fresh read
	// (once: a fresh form is only checked to exist, as it was just read).
	cached := true
	for {
		out, err := s.submit(ctx, in, cached)
		if errors.Is(err, errStaleForm) {
			s.formCache.drop(in.Form)
			cached = false
			continue
		}
		return out, err
	}
}

// errStaleForm says the cached form was edited since it was cached.
var errStaleForm = errors.New("form changed since it was cached")

// submit is Submit after its rate limits, with the form from the cache
// when cached allows it.
func (s *Service) submit(ctx context.Context, in SubmitInput, cached bool) (Submitted, error) {
	f, from, hit := s.formCache.get(in.Form, s.now())
	if !cached || !hit {
		var err error
		if f, from, err = s.readForm(ctx, in.Form); err != nil {
			return Submitted{}, err
		}
		hit = false
	}
	// The form goes back with a refusal too: the caller needs its error
	// redirect and allowed origins to answer.
	out := Submitted{Form: f}
	for _, w := range f.Warnings() {
		s.log.WarnContext(ctx, "stored form breaks today's template or pattern rules", "form", f.ID().String(), "warning", w)
	}
	now := s.now()
	meta := domain.SubmissionMeta{IPHash: s.hashIP(in.ClientIP), UserAgent: in.UserAgent, Referrer: in.Referrer, Origin: in.Origin}
	sub, err := f.Accept(in.Uploads.raw(in.Raw), meta, s.spam, now)
	if err != nil {
		return out, err
	}
	mail, err := s.composeMail(ctx, f, sub, from, now)
	if err != nil {
		return out, err
	}

	// Submissions share transactions where the storage can (on
	// PostgreSQL, a commit and one insert per batch instead of per
	// submission): the transaction below only reads and adds rows.
	err = usecase.SharedTx(s.uow)(ctx, func(ctx context.Context, st ports.Stores) error {
		// A form deleted since it was read must not gain a submission;
		// the foreign key would refuse it too, but as an internal error.
		at, err := st.Forms().UpdatedAt(ctx, f.Workspace(), f.ID())
		if err != nil {
			return err
		}
		if hit && !at.Equal(f.UpdatedAt()) {
			return errStaleForm
		}
		// Spam is kept out of the feed as it is kept out of the inbox. The
		// event goes first: it looks up the workspace's webhooks, and on
		// PostgreSQL every insert after that lookup travels to the server
		// with the commit, in one statement.
		if sub.Status() != domain.SubmissionSpam {
			if err := addEvent(ctx, st, domain.SubmissionEvent(domain.EventSubmissionCreated, sub, now)); err != nil {
				return err
			}
		}
		if err := st.Submissions().Add(ctx, sub); err != nil {
			return fmt.Errorf("add submission: %w", err)
		}
		return mail.queue(ctx, st, f, sub, now)
	})
	if err != nil {
		return out, err
	}
	if !hit {
		s.formCache.put(f, from, now)
	}
	if name := sub.IgnoredField(); name != "" {
		// The name only, never the value: the log line, with the trace
		// ID ctx gives it, points at a misspelt input without copying
		// what the visitor typed.
		s.log.InfoContext(ctx, "submission: a field the form does not define was taken for the submit button and ignored",
			"form", f.ID().String(), "submission", string(sub.ID()), "field", name)
	}
	s.wake()
	out.Submission = sub
	return out, nil
}

// readForm reads the form id and, when it sends mail, its workspace's
// sender, outside any transaction.
func (s *Service) readForm(ctx context.Context, id domain.FormID) (f domain.Form, from string, err error) {
	from = s.from
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if f, err = st.Forms().GetPublic(ctx, id); err != nil {
			return err
		}
		if f.SendsMail() {
			w, err := st.Workspaces().Get(ctx, f.Workspace())
			if err != nil {
				return fmt.Errorf("get workspace %s: %w", f.Workspace(), err)
			}
			from = w.Sender(s.from)
		}
		return nil
	})
	return f, from, err
}

// composeMail renders the notification and autoresponse a clean
// submission causes (none for spam), outside any transaction: the form's
// author wrote the templates and the visitor the values. It drops an
// autoresponse whose recipient had its share (limitAutoresponses) and
// keeps the caller's trace context for the messages.
func (s *Service) composeMail(ctx context.Context, f domain.Form, sub domain.Submission, from string, now time.Time) (queuedMail, error) {
	msgs, kinds, err := f.Mail(sub, from, now, s.notificationLink)
	if err != nil {
		return queuedMail{}, err
	}
	msgs, kinds = s.limitAutoresponses(ctx, f, msgs, kinds)
	// The request's trace context rides along with each queued message, so
	// that its delivery, minutes later and maybe on another node, joins
	// this request's trace.
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return queuedMail{msgs: msgs, kinds: kinds, traceParent: carrier.Get("traceparent")}, nil
}

// queuedMail is the mail composeMail rendered for one submission.
type queuedMail struct {
	msgs        []domain.Message
	kinds       []string
	traceParent string
}

// queue adds the messages to the outbox in the caller's transaction.
func (m queuedMail) queue(ctx context.Context, st ports.Stores, f domain.Form, sub domain.Submission, now time.Time) error {
	for i, msg := range m.msgs {
		if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(msg, f.Workspace(), sub.ID(), m.kinds[i], m.traceParent, now)); err != nil {
			return fmt.Errorf("queue %s: %w", m.kinds[i], err)
		}
	}
	return nil
}

// limitAutoresponses drops the autoresponse of a submission whose
// recipient had its share: an anonymous visitor chooses that address, and
// without a limit could have Keel mail anyone any number of times. The
// submission and its notification go ahead; only the autoresponse is
// skipped, and counted.
func (s *Service) limitAutoresponses(ctx context.Context, f domain.Form, msgs []domain.Message, kinds []string) ([]domain.Message, []string) {
	for i := 0; i < len(msgs); i++ {
		if kinds[i] != domain.KindAutoresponder {
			continue
		}
		to := msgs[i].To()
		if len(to) == 0 {
			continue
		}
		if ok, _ := s.perRecipient.Allow(ctx, "autoresponder:"+strings.ToLower(to[0].Address)); ok {
			continue
		}
		// A flood with one address skips one a submission: counted
		// (AutoresponsesSkipped), and logged only at debug level, so that
		// it does not also flood the log.
		s.log.DebugContext(ctx, "autoresponse skipped: its recipient had its share", "form", f.ID().String(), "workspace", f.Workspace().String())
		s.autoresponsesSkipped.Add(1)
		msgs, kinds = slices.Delete(msgs, i, i+1), slices.Delete(kinds, i, i+1)
		i--
	}
	return msgs, kinds
}

// PublicForm returns a form for the public endpoint's CORS preflight,
// which must answer before any submission is made.
func (s *Service) PublicForm(ctx context.Context, id domain.FormID) (_ domain.Form, err error) {
	ctx, end := usecase.Start(ctx, "forms.PublicForm")
	defer end(&err)
	if !domain.ValidID(domain.PrefixForm, string(id)) {
		return domain.Form{}, errNoSuchForm
	}
	var f domain.Form
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		f, err = st.Forms().GetPublic(ctx, id)
		return err
	})
	return f, err
}
