package domain_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func contactForm() domain.FormInput {
	return domain.FormInput{
		Name: "Contact",
		Fields: []domain.Field{
			{Name: "name", Label: "Your name", Type: domain.FieldText, Required: true, MaxLength: ptr(50)},
			{Name: "email", Label: "E-mail", Type: domain.FieldEmail, Required: true},
			{Name: "age", Type: domain.FieldNumber, Min: ptr(0.0), Max: ptr(150.0)},
			{Name: "topic", Type: domain.FieldSelect, Options: []string{"sales", "support"}},
			{Name: "tags", Type: domain.FieldMultiselect, Options: []string{"a", "b", "c"}},
			{Name: "code", Type: domain.FieldText, Pattern: `[A-Z]{3}-\d+`},
			{Name: "message", Type: domain.FieldTextarea},
			{Name: "agree", Type: domain.FieldCheckbox},
		},
		Notify:        domain.Notify{Recipients: []string{"team@example.com"}, Subject: "New message from {{.Fields.name}}"},
		Autoresponder: domain.Autoresponder{Enabled: true, EmailField: "email", Subject: "Thanks {{.Fields.name}}", Text: "We got it.", HTML: "<p>Thanks, {{.Fields.name}}</p>"},
		Honeypot:      "website",
	}
}

func fieldsOf(err error) []string {
	var de *domain.Error
	if !errors.As(err, &de) {
		return nil
	}
	var out []string
	for _, f := range de.Fields {
		out = append(out, f.Field+":"+f.Code)
	}
	return out
}

func TestNewFormReportsEveryProblem(t *testing.T) {
	t.Parallel()
	in := contactForm()
	in.Fields = append(in.Fields,
		domain.Field{Name: "name", Type: domain.FieldText},             // duplicate
		domain.Field{Name: "x", Type: domain.FieldType{}},              // unknown type
		domain.Field{Name: "y", Type: domain.FieldText, Pattern: "(["}, // bad pattern
		domain.Field{Name: "z", Type: domain.FieldSelect},              // no options
	)
	in.Notify.Subject = "{{.Fields.name"
	in.Redirects.Success = "javascript:alert(1)"
	in.AllowedOrigins = []string{"https://example.com/path"}
	_, err := domain.NewForm("ws_x", in, now)
	got := fieldsOf(err)
	for _, want := range []string{
		"fields[8].name:duplicate", "fields[9].type:unknown_type", "fields[10].pattern:invalid_pattern",
		"fields[11].options:required", "notify.subject:invalid_template", "redirects.success:invalid_url",
		"allowed_origins[0]:invalid_origin",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s in %v", want, got)
		}
	}
}

func TestAcceptNormalisesAndValidates(t *testing.T) {
	t.Parallel()
	f, err := domain.NewForm("ws_x", contactForm(), now)
	if err != nil {
		t.Fatal(err)
	}
	raw := domain.RawSubmission{Fields: map[string][]string{
		"name": {"  Ada  "}, "email": {"Ada.L@EXAMPLE.COM "}, "age": {"036.50"}, "topic": {"sales"},
		"tags": {"a", "c"}, "code": {"ABC-12"}, "message": {"line1\r\nline2"}, "agree": {"on"},
	}, Order: []string{"name", "email", "age", "topic", "tags", "code", "message", "agree"}}
	s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{"name": "Ada", "email": "Ada.L@example.com", "age": "36.5", "message": "line1\nline2", "agree": "true"} {
		if got := s.Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if s.Status() != domain.SubmissionNew {
		t.Errorf("status = %v", s.Status())
	}

	bad := []struct {
		field, value, code string
	}{
		{"name", strings.Repeat("x", 51), "too_long"},
		{"email", "not-an-email", "invalid_email"},
		{"age", "151", "out_of_range"},
		{"age", "NaN", "invalid_number"},
		{"topic", "other", "invalid_option"},
		{"code", "abc-12", "pattern_mismatch"},
		{"name", "", "required"},
	}
	for _, b := range bad {
		r := domain.RawSubmission{Fields: map[string][]string{"name": {"Ada"}, "email": {"a@example.com"}}, Order: []string{"name", "email", b.field}}
		r.Fields[b.field] = []string{b.value}
		_, err := f.Accept(r, domain.SubmissionMeta{}, domain.SpamRules{}, now)
		if !slices.Contains(fieldsOf(err), b.field+":"+b.code) {
			t.Errorf("%s=%q: errors %v, want %s", b.field, b.value, fieldsOf(err), b.code)
		}
	}
}

func TestAcceptUnknownFieldsAndSpam(t *testing.T) {
	t.Parallel()
	f, _ := domain.NewForm("ws_x", contactForm(), now)
	base := func() domain.RawSubmission {
		return domain.RawSubmission{Fields: map[string][]string{"name": {"Ada"}, "email": {"a@example.com"}}, Order: []string{"name", "email"}}
	}
	r := base()
	r.Fields["evil"], r.Order = []string{"x"}, append(r.Order, "evil")
	if _, err := f.Accept(r, domain.SubmissionMeta{}, domain.SpamRules{}, now); !errors.Is(err, domain.ErrUnknownField) || !slices.Contains(fieldsOf(err), "evil:unknown_field") {
		t.Fatalf("unknown field = %v", err)
	}
	r = base()
	r.Fields["website"], r.Order = []string{"http://spam"}, append(r.Order, "website")
	if s, err := f.Accept(r, domain.SubmissionMeta{}, domain.SpamRules{}, now); err != nil || !s.IsSpam() {
		t.Fatalf("honeypot: %v spam=%v", err, s.IsSpam())
	}
	r = base()
	r.Fields["message"], r.Order = []string{"see http://a http://b www.c"}, append(r.Order, "message")
	if s, _ := f.Accept(r, domain.SubmissionMeta{}, domain.SpamRules{MaxLinks: 2}, now); !s.IsSpam() {
		t.Fatal("three links with MaxLinks 2 not spam")
	}
	rules := domain.SpamRules{MinFillTime: 3 * time.Second, TimestampField: "_ts"}
	r = base()
	r.Fields["_ts"], r.Order = []string{"1764072000000"}, append(r.Order, "_ts") // = now in ms: filled in 0 s
	if s, _ := f.Accept(r, domain.SubmissionMeta{}, rules, time.UnixMilli(1764072001000)); !s.IsSpam() {
		t.Fatal("filled in 1 s with a 3 s minimum not spam")
	}
	if s, _ := f.Accept(r, domain.SubmissionMeta{}, rules, time.UnixMilli(1764072010000)); s.IsSpam() {
		t.Fatal("filled in 10 s marked spam")
	}
	closed := contactForm()
	closed.Status = "closed"
	cf, _ := domain.NewForm("ws_x", closed, now)
	if _, err := cf.Accept(base(), domain.SubmissionMeta{}, domain.SpamRules{}, now); !errors.Is(err, domain.ErrFormClosed) {
		t.Fatalf("closed form = %v", err)
	}
}

func TestMailComposesNotificationAndAutoresponder(t *testing.T) {
	t.Parallel()
	f, _ := domain.NewForm("ws_x", contactForm(), now)
	raw := domain.RawSubmission{Fields: map[string][]string{"name": {"Ada\r\nBcc: x@evil.com"}, "email": {"ada@example.com"}}, Order: []string{"name", "email"}}
	s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil {
		t.Fatal(err)
	}
	msgs, kinds, err := f.Mail(s, "Keel <keel@example.com>", now)
	if err != nil || len(msgs) != 2 || kinds[0] != domain.KindNotification || kinds[1] != domain.KindAutoresponder {
		t.Fatalf("Mail = %d %v %v", len(msgs), kinds, err)
	}
	n := msgs[0]
	if r, ok := n.ReplyTo(); !ok || r.Address != "ada@example.com" || n.To()[0].Address != "team@example.com" {
		t.Fatalf("notification = %+v", n)
	}
	if strings.ContainsAny(n.Subject(), "\r\n") || !strings.HasPrefix(n.Subject(), "New message from Ada") {
		t.Fatalf("subject = %q", n.Subject())
	}
	if !strings.Contains(n.Text(), "Your name: Ada") {
		t.Fatalf("text = %q", n.Text())
	}
	ar := msgs[1]
	if ar.To()[0].Address != "ada@example.com" || !strings.Contains(ar.HTML(), "<p>Thanks, Ada") {
		t.Fatalf("autoresponder = %+v", ar)
	}
	spam := s
	_ = spam.SetStatus(domain.SubmissionSpam, now)
	if msgs, _, _ := f.Mail(spam, "keel@example.com", now); len(msgs) != 0 {
		t.Fatal("spam causes mail")
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	p := domain.DefaultRetryPolicy
	var total time.Duration
	for n := 1; n < p.MaxAttempts; n++ {
		d := p.Delay(n)
		max := p.Base << (n - 1)
		if max > p.Max {
			max = p.Max
		}
		if d < max/2 || d > max {
			t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, d, max/2, max)
		}
		total += max
	}
	if total < 12*time.Hour || total > 48*time.Hour {
		t.Fatalf("12 attempts span up to %v, want about a day", total)
	}
	m, _ := domain.NewMessage(domain.MessageInput{From: "a@example.com", To: []string{"b@example.com"}, Text: "x"}, now)
	o := domain.NewOutboxMessage(m, "ws_x", "", domain.KindNotification, "", now)
	for i := 0; i < p.MaxAttempts; i++ {
		o.Failed(errors.New("421 try later"), true, p, now)
	}
	if o.Status != domain.OutboxDead || len(o.Attempts) != p.MaxAttempts {
		t.Fatalf("after %d temporary failures: %v with %d attempts", p.MaxAttempts, o.Status, len(o.Attempts))
	}
	if err := o.Retry(now); err != nil || o.Status != domain.OutboxPending {
		t.Fatalf("Retry dead = %v, %v", err, o.Status)
	}
	o.Sent(now)
	if err := o.Retry(now); err == nil {
		t.Fatal("retrying a sent message succeeded")
	}
}

func TestTemplatesThatFailWhenRunAreRefused(t *testing.T) {
	t.Parallel()
	in := contactForm()
	in.Notify.Subject = "{{.FormName.Foo}}"
	_, err := domain.NewForm("ws_x", in, now)
	if !slices.Contains(fieldsOf(err), "notify.subject:invalid_template") {
		t.Fatalf("a subject that fails when run = %v, want invalid_template", err)
	}
}
