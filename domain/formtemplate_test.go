package domain_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keelhq/keel/domain"
)

func templateError(err error, field string) (string, bool) {
	var de *domain.Error
	if !errors.As(err, &de) {
		return "", false
	}
	for _, f := range de.Fields {
		if f.Field == field && f.Code == "invalid_template" {
			return f.Message, true
		}
	}
	return "", false
}

// TestTemplatesAreSubstitutionOnly: a template may hold text and plain
// references to the submission; anything that loops, branches, calls,
// declares or defines is refused at save, with the construct named.
func TestTemplatesAreSubstitutionOnly(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"",
		"Plain text",
		"{{.FormName}} {{.SubmissionID}} {{.CreatedAt}} {{.Fields.name}} {{.Fields.unknown}}",
		`{{index .Fields "my-field.x"}}{{/* a comment */}}`,
		"{{- .Fields.name -}}",
	} {
		in := contactForm()
		in.Notify.Subject, in.Autoresponder.Text, in.Autoresponder.HTML = src, "x"+src, "<p>"+src+"</p>"
		if _, err := domain.NewForm("ws_x", in, now); err != nil {
			t.Errorf("template %q refused: %v", src, err)
		}
	}
	for src, named := range map[string]string{
		"{{range 250000000}}{{end}}x":      "{{range}}",
		"{{range $i := 5}}{{end}}":         "{{range}}",
		"{{if .Fields.name}}y{{end}}":      "{{if}}",
		"{{with .Fields}}{{.name}}{{end}}": "{{with}}",
		`{{define "x"}}a{{end}}`:           "{{define}}",
		`{{block "x" .}}a{{end}}`:          "{{block}}",
		`{{template "x"}}`:                 "{{template}}",
		"{{$x := .FormName}}":              "$x",
		"{{.Fields.name | printf \"%q\"}}": "printf",
		`{{printf "%0999999d" 1}}`:         "printf",
		"{{len .Fields}}":                  "len",
		"{{.Fields}}":                      "{{.Fields}}",
		"{{.}}":                            "{{.}}",
		"{{.Fields.name.x}}":               ".Fields.name.x",
		`{{index .Fields "a" "b"}}`:        "index",
		`{{"literal"}}`:                    `"literal"`,
		"{{.FormName.Foo}}":                ".FormName.Foo",
		strings.Repeat("a", 1001):          "at most 1000 bytes",
	} {
		in := contactForm()
		in.Notify.Subject = src
		_, err := domain.NewForm("ws_x", in, now)
		msg, ok := templateError(err, "notify.subject")
		if !ok || !strings.Contains(msg, named) {
			t.Errorf("subject %.40q: err %v (message %q), want invalid_template naming %s", src, err, msg, named)
		}
	}
	in := contactForm()
	in.Autoresponder.HTML = "<p>" + strings.Repeat("{{.FormName}}", 101)
	if _, ok := templateError(mustFail(t, in), "autoresponder.html"); !ok {
		t.Error("an HTML body with 101 references was accepted")
	}
	in = contactForm()
	in.Autoresponder.Text = strings.Repeat("a", domain.MaxBodyTemplateLen+1)
	if _, ok := templateError(mustFail(t, in), "autoresponder.text"); !ok {
		t.Error("a text body over the source limit was accepted")
	}
	in = contactForm()
	in.Autoresponder.HTML = `<a href="{{.Fields.name}}`
	if _, ok := templateError(mustFail(t, in), "autoresponder.html"); !ok {
		t.Error("an HTML body that fails to escape was accepted")
	}
}

func mustFail(t *testing.T, in domain.FormInput) error {
	t.Helper()
	_, err := domain.NewForm("ws_x", in, now)
	if err == nil {
		t.Fatal("NewForm accepted the form")
	}
	return err
}

// TestRenderedMailIsBounded: the largest submission through the most
// references gives a subject of at most MaxSubjectLen characters and
// bodies of at most MaxBodyLen bytes, cut on a character boundary (and,
// in HTML, outside a tag), and escaping still applies.
func TestRenderedMailIsBounded(t *testing.T) {
	t.Parallel()
	in := contactForm()
	in.Fields[6].MaxLength = nil // message: the longest value allowed
	refs := strings.Repeat("{{.Fields.message}}", domain.MaxTemplateRefs)
	in.Notify.Subject = "é" + strings.Repeat("{{.Fields.message}}", 50)
	in.Autoresponder.Subject = in.Notify.Subject
	in.Autoresponder.Text = "é" + refs
	in.Autoresponder.HTML = "<p>{{.Fields.message}}</p>" + strings.Repeat(`<b title="{{.Fields.message}}">{{.Fields.message}}</b>`, domain.MaxTemplateRefs/2-1)
	f, err := domain.NewForm("ws_x", in, now)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("€<", domain.MaxFieldValueLen/2) // 3-byte characters and markup
	raw := domain.RawSubmission{
		Fields: map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}, "message": {long}},
		Order:  []string{"name", "email", "message"},
	}
	s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil {
		t.Fatal(err)
	}
	msgs, kinds, err := f.Mail(s, "keel@example.com", now)
	if err != nil || len(msgs) != 2 || kinds[1] != domain.KindAutoresponder {
		t.Fatalf("Mail = %d messages %v, %v", len(msgs), kinds, err)
	}
	for _, m := range msgs {
		if n := utf8.RuneCountInString(m.Subject()); n != domain.MaxSubjectLen || !utf8.ValidString(m.Subject()) {
			t.Errorf("subject of %d characters (valid UTF-8: %v), want %d", n, utf8.ValidString(m.Subject()), domain.MaxSubjectLen)
		}
	}
	ar := msgs[1]
	for name, body := range map[string]string{"text": ar.Text(), "html": ar.HTML()} {
		if len(body) > domain.MaxBodyLen || len(body) < domain.MaxBodyLen-100 || !utf8.ValidString(body) {
			t.Errorf("%s body of %d bytes (valid UTF-8: %v), want at most %d and about that", name, len(body), utf8.ValidString(body), domain.MaxBodyLen)
		}
	}
	html := ar.HTML()
	if strings.Contains(html, "€<") || !strings.Contains(html, "€&lt;") {
		t.Errorf("HTML body not escaped: %.80q", html)
	}
	if i := strings.LastIndexByte(html, '<'); i >= 0 && !strings.Contains(html[i:], ">") {
		t.Errorf("HTML body ends within a tag: %q", html[i:])
	}
}

// TestStoredFormWithLegacyTemplatesKeepsAccepting: a form stored before
// the rules, whose templates loop, still takes submissions: its
// notification goes out with the default subject, its autoresponder is
// not sent (rather than run), and Warnings says so. Saving it again
// requires fixing the templates.
func TestStoredFormWithLegacyTemplatesKeepsAccepting(t *testing.T) {
	t.Parallel()
	in := contactForm()
	in.Notify.Subject = "{{range 250000000}}{{end}}x"
	in.Autoresponder.Text = "{{range 2500000}}AAAAAAAAAAAAAAAAAAAA{{end}}"
	in.Fields[5].Pattern = `(\w+\s?){1,1000}x`
	f, err := domain.RehydrateForm("frm_old", "ws_x", in, now, now)
	if err != nil {
		t.Fatalf("RehydrateForm: %v", err)
	}
	w := strings.Join(f.Warnings(), "\n")
	for _, want := range []string{"notify.subject", "autoresponder.text", "fields[5].pattern"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q do not name %s", w, want)
		}
	}
	raw := domain.RawSubmission{
		Fields: map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}, "code": {strings.Repeat("a", 1000)}},
		Order:  []string{"name", "email", "code"},
	}
	s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	msgs, kinds, err := f.Mail(s, "keel@example.com", now)
	if err != nil || len(msgs) != 1 || kinds[0] != domain.KindNotification {
		t.Fatalf("Mail = %v %v, want the notification alone", kinds, err)
	}
	if got := msgs[0].Subject(); got != "New submission: Contact" {
		t.Errorf("subject %q, want the default", got)
	}
	if err := f.Replace(in, now); err == nil {
		t.Error("saving the form again with its old templates succeeded")
	}
	if fresh, _ := domain.NewForm("ws_x", contactForm(), now); len(fresh.Warnings()) != 0 {
		t.Errorf("a new form has warnings %q", fresh.Warnings())
	}
}
