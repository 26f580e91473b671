package forms

import (
	"context"
	"fmt"

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
}

// Submitted is the stored submission and its form, whose redirects and
// origins the HTTP adapter needs to answer the browser. A refused
// submission comes back with its form alone, when the form was found.
type Submitted struct {
	Submission domain.Submission
	Form       domain.Form
}

// Submit stores a visitor's submission and queues its mail in one
// transaction; nothing is sent inside the request. Spam (a filled
// honeypot, too many links, a too-quick fill) is stored with status spam
// and no mail, and answered like a real submission. Submissions are
// throttled per client IP and per form (domain.ErrRateLimited).
func (s *Service) Submit(ctx context.Context, in SubmitInput) (_ Submitted, err error) {
	ctx, end := usecase.Start(ctx, "forms.Submit")
	defer end(&err)
	if !domain.ValidID(domain.PrefixForm, string(in.Form)) {
		return Submitted{}, errNoSuchForm
	}
	if ok, wait := s.perIP.Allow(ctx, "ip:"+in.ClientIP); !ok {
		return Submitted{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	if ok, wait := s.perForm.Allow(ctx, "form:"+string(in.Form)); !ok {
		return Submitted{}, domain.ErrRateLimited.WithRetryAfter(wait)
	}
	// The request's trace context rides along with each queued message, so
	// that its delivery, minutes later and maybe on another node, joins
	// this request's trace.
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	traceParent := carrier.Get("traceparent")

	var out Submitted
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		f, err := st.Forms().GetPublic(ctx, in.Form)
		if err != nil {
			return err
		}
		out.Form = f
		now := s.now()
		meta := domain.SubmissionMeta{IPHash: s.hashIP(in.ClientIP), UserAgent: in.UserAgent, Referrer: in.Referrer, Origin: in.Origin}
		sub, err := f.Accept(in.Raw, meta, s.spam, now)
		if err != nil {
			return err
		}
		if err := st.Submissions().Add(ctx, sub); err != nil {
			return fmt.Errorf("add submission: %w", err)
		}
		from, err := s.sender(ctx, st, f, sub)
		if err != nil {
			return err
		}
		msgs, kinds, err := f.Mail(sub, from, now)
		if err != nil {
			return err
		}
		for i, m := range msgs {
			if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, f.Workspace(), sub.ID(), kinds[i], traceParent, now)); err != nil {
				return fmt.Errorf("queue %s: %w", kinds[i], err)
			}
		}
		out.Submission = sub
		return nil
	})
	if err != nil {
		// The form, when it was found, goes back with the refusal: the
		// caller needs its error redirect and allowed origins to answer.
		return Submitted{Form: out.Form}, err
	}
	s.wake()
	return out, nil
}

// sender returns the From of sub's mail: its workspace's sender, or the
// instance's. The public endpoint knows only the form, so this costs one
// read by primary key in the submission's transaction, skipped for spam,
// which sends nothing, and for a form that mails no one.
func (s *Service) sender(ctx context.Context, st ports.Stores, f domain.Form, sub domain.Submission) (string, error) {
	if sub.IsSpam() || !f.SendsMail() {
		return s.from, nil
	}
	w, err := st.Workspaces().Get(ctx, f.Workspace())
	if err != nil {
		return "", fmt.Errorf("get workspace %s: %w", f.Workspace(), err)
	}
	return w.Sender(s.from), nil
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
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		f, err = st.Forms().GetPublic(ctx, id)
		return err
	})
	return f, err
}
