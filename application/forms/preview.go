package forms

import (
	"context"
	"strconv"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// MailPreview is the mail a submission to a form would cause, composed
// from sample values: each message with its kind (domain.KindNotification,
// domain.KindAutoresponder), and the sample values it was made from.
type MailPreview struct {
	Messages []domain.Message
	Kinds    []string
	Sample   []domain.Value
}

// PreviewMail shows the editors of a form (editors and up) the mail that a
// submission to the definition in, which need not be saved, would cause:
// it checks in as CreateForm does, makes a submission of sample values for
// its fields, and composes its mail with domain.Form.Mail, the code Submit
// queues mail with, from the sender Submit would use. So a preview shows
// the subjects and bodies exactly as recipients would get them, cut off at
// the same limits. Nothing is stored or sent, and no write transaction is
// opened: the work is the template author's to choose (see CreateForm).
func (s *Service) PreviewMail(ctx context.Context, p domain.Principal, wsRef string, in domain.FormInput) (_ MailPreview, err error) {
	ctx, end := usecase.Start(ctx, "forms.PreviewMail")
	defer end(&err)
	var w domain.Workspace
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		w, err = s.workspace(ctx, st, p, wsRef, domain.PermFormsWrite)
		return err
	})
	if err != nil {
		return MailPreview{}, err
	}
	now := s.now()
	f, err := domain.NewForm(w.ID(), in, now)
	if err != nil {
		return MailPreview{}, err
	}
	values := sampleValues(f.Fields(), now)
	sub := domain.RehydrateSubmission(domain.SubmissionID(domain.NewID(domain.PrefixSubmission, now)), f.ID(), w.ID(), values, domain.SubmissionNew, domain.SubmissionMeta{}, now, now)
	msgs, kinds, err := f.Mail(sub, w.Sender(s.from), now)
	if err != nil {
		return MailPreview{}, err
	}
	return MailPreview{Messages: msgs, Kinds: kinds, Sample: values}, nil
}

// SpamRules are the instance's spam rules, which a page embedding a form
// needs to know: the name of the timing field and its minimum.
func (s *Service) SpamRules() domain.SpamRules { return s.spam }

// sampleValues gives each field a value of its type that a visitor could
// have sent, so that a preview reads like real mail: the first options of
// a select, the lower bound of a number, the field's label in a text.
func sampleValues(fields []domain.Field, now time.Time) []domain.Value {
	var out []domain.Value
	for _, fd := range fields {
		label := fd.Label
		if label == "" {
			label = fd.Name
		}
		v := domain.Value{Field: fd.Name}
		switch fd.Type {
		case domain.FieldEmail:
			v.Values = []string{"visitor@example.com"}
		case domain.FieldNumber:
			n := 42.0
			switch {
			case fd.Min != nil:
				n = *fd.Min
			case fd.Max != nil:
				n = *fd.Max
			}
			v.Values = []string{strconv.FormatFloat(n, 'f', -1, 64)}
		case domain.FieldURL:
			v.Values = []string{"https://example.com/"}
		case domain.FieldTel:
			v.Values = []string{"+1 555 0100"}
		case domain.FieldDate:
			v.Values = []string{now.UTC().Format(time.DateOnly)}
		case domain.FieldSelect:
			v.Values = fd.Options[:min(1, len(fd.Options))]
		case domain.FieldMultiselect:
			v.Values, v.List = fd.Options[:min(2, len(fd.Options))], true
		case domain.FieldCheckbox:
			v.Values = []string{"true"}
		case domain.FieldTextarea:
			v.Values = []string{"Sample " + label + ",\nover two lines."}
		default:
			v.Values = []string{"Sample " + label}
		}
		out = append(out, v)
	}
	return out
}
