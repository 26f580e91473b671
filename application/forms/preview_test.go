package forms_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func TestPreviewMailComposesWhatASubmissionWouldSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10)
	in := contactInput()
	in.Fields = append(in.Fields, domain.Field{Name: "topic", Type: domain.FieldSelect, Options: []string{"Sales", "Support"}})
	in.Notify.Subject = "{{.Fields.topic}} from {{.Fields.name}}"
	in.Autoresponder.HTML = "<p>Hi {{.Fields.name}}</p>"
	prev, err := f.svc.PreviewMail(t.Context(), f.owner, "site", in)
	if err != nil {
		t.Fatal(err)
	}
	if len(prev.Messages) != 2 || prev.Kinds[0] != domain.KindNotification || prev.Kinds[1] != domain.KindAutoresponder {
		t.Fatalf("preview: %d messages, kinds %v", len(prev.Messages), prev.Kinds)
	}
	notify, ar := prev.Messages[0], prev.Messages[1]
	if notify.Subject() != "Sales from Sample name" || !strings.Contains(notify.Text(), "message: Sample message,\nover two lines.") {
		t.Errorf("notification: %q\n%s", notify.Subject(), notify.Text())
	}
	if ar.To()[0].Address != "visitor@example.com" || ar.Text() != "Hi Sample name" || ar.HTML() != "<p>Hi Sample name</p>" {
		t.Errorf("autoresponse to %v: %q %q", ar.To(), ar.Text(), ar.HTML())
	}
	// Nothing was stored: no form, no message.
	if forms, _, err := f.svc.ListForms(t.Context(), f.owner, "site", ports.Page{Limit: 10}); err != nil || len(forms) != 0 {
		t.Errorf("forms after a preview: %d, %v", len(forms), err)
	}
	if out := f.outbox(t); len(out) != 0 {
		t.Errorf("%d messages queued by a preview", len(out))
	}
}

func TestPreviewMailRefusesWhatCreateFormRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10)
	in := contactInput()
	in.Notify.Subject = "{{range .Fields}}x{{end}}"
	_, err := f.svc.PreviewMail(t.Context(), f.owner, "site", in)
	var de *domain.Error
	if !errors.As(err, &de) || len(de.Fields) != 1 || de.Fields[0].Field != "notify.subject" || de.Fields[0].Code != "invalid_template" {
		t.Fatalf("err = %v, want invalid_template on notify.subject", err)
	}
	viewer := domain.NewUserPrincipal("usr_nobody", false, "ses_y")
	if _, err := f.svc.PreviewMail(t.Context(), viewer, "site", contactInput()); !errors.Is(err, domain.ErrNotFound) && !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("a stranger's preview: err = %v, want not found or forbidden", err)
	}
}
