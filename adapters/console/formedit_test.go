package console

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// builderPost is what the form builder posts for a form named name with
// the rows given as name, label, type triples.
func builderPost(name string, rows ...string) url.Values {
	v := url.Values{"name": {name}, "status": {"open"}, "retain": {"0"}, "rows": {"0"}}
	for i := 0; i+2 < len(rows); i += 3 {
		p := "f" + strconv.Itoa(i/3) + "-"
		v.Set(p+"name", rows[i])
		v.Set(p+"label", rows[i+1])
		v.Set(p+"type", rows[i+2])
		v.Set("rows", strconv.Itoa(i/3+1))
	}
	return v
}

// inputValue finds the value an input with id holds in body.
func inputValue(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no input %s in:\n%s", id, body)
	}
	rest := body[i:]
	rest = rest[:strings.IndexByte(rest, '>')]
	_, v, ok := strings.Cut(rest, `value="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return html.UnescapeString(v)
}

func (f *fixture) onlyForm(t *testing.T) domain.Form {
	t.Helper()
	fs, _, err := f.forms.ListForms(t.Context(), f.admin, "site", ports.Page{Limit: 10})
	if err != nil || len(fs) != 1 {
		t.Fatalf("forms: %d, %v; want one", len(fs), err)
	}
	return fs[0]
}

func TestFormBuilderCreatesAForm(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", "/console/workspaces/site/forms", ck.Value, nil)
	if !strings.Contains(w.Body.String(), `href="/console/workspaces/site/forms/new"`) {
		t.Fatalf("an owner's forms list has no New form link:\n%s", w.Body)
	}
	w = f.do(t, "GET", "/console/workspaces/site/forms/new", ck.Value, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<label for="name">Name</label>`) {
		t.Fatalf("new form page: %d\n%s", w.Code, w.Body)
	}
	v := builderPost("Contact", "email", "E-mail", "email", "topic", "Topic", "select", "age", "Age", "number")
	v.Set("f0-required", "1")
	v.Set("f0-max-length", "200")
	v.Set("f1-options", "Sales\r\n\r\n Support \r\n")
	v.Set("f2-min", "18")
	v.Set("recipients", "team@example.com\n")
	v.Set("notify-subject", "From {{.Fields.email}}")
	v.Set("honeypot", "website")
	v.Set("origins", "https://example.com")
	v.Set("op", "save")
	w = f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", w.Code, w.Body)
	}
	form := f.onlyForm(t)
	if loc := w.Header().Get("Location"); loc != "/console/workspaces/site/forms/"+string(form.ID())+"/edit?saved=1" {
		t.Errorf("saved to %s", loc)
	}
	def := form.Definition()
	fs := def.Fields
	if len(fs) != 3 || fs[0].Name != "email" || !fs[0].Required || fs[0].MaxLength == nil || *fs[0].MaxLength != 200 ||
		fs[1].Type != domain.FieldSelect || strings.Join(fs[1].Options, "|") != "Sales|Support" || fs[2].Min == nil || *fs[2].Min != 18 {
		t.Errorf("fields %+v", fs)
	}
	if strings.Join(def.Notify.Recipients, ",") != "team@example.com" || def.Notify.Subject != "From {{.Fields.email}}" || def.Honeypot != "website" || def.AllowedOrigins[0] != "https://example.com" {
		t.Errorf("definition %+v", def)
	}
	w = f.do(t, "GET", "/console/workspaces/site/forms/"+string(form.ID())+"/edit?saved=1", ck.Value, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "The form is saved.") || inputValue(t, body, "f1-name") != "topic" || inputValue(t, body, "notify-subject") != "From {{.Fields.email}}" {
		t.Errorf("edit page after saving: %d\n%s", w.Code, body)
	}
}

func TestFormBuilderAddsMovesAndRemovesFieldsKeepingWhatWasTyped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	v := builderPost("Typed", "email", "E-mail", "email", "message", "Your message", "textarea")
	v.Set("recipients", "half typed")
	v.Set("op", "add")
	w := f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `id="f2-name"`) || strings.Contains(body, `id="f3-name"`) {
		t.Fatalf("add: %d, want a third empty row\n%s", w.Code, body)
	}
	// The buttons that post back bring the browser back where the change
	// is: the next new row, the moved row.
	for _, want := range []string{`value="add" formaction="/console/workspaces/site/forms/new#row-4"`, `value="down:0" formaction="/console/workspaces/site/forms/new#row-2"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if inputValue(t, body, "f1-label") != "Your message" || !strings.Contains(body, ">half typed</textarea>") {
		t.Errorf("add lost what was typed:\n%s", body)
	}
	v.Set("op", "down:0")
	w = f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...)
	if body := w.Body.String(); inputValue(t, body, "f0-name") != "message" || inputValue(t, body, "f1-name") != "email" {
		t.Errorf("down: rows are %q, %q", inputValue(t, body, "f0-name"), inputValue(t, body, "f1-name"))
	}
	v.Set("op", "up:1")
	w = f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...)
	if body := w.Body.String(); inputValue(t, body, "f0-name") != "message" {
		t.Errorf("up: first row is %q", inputValue(t, body, "f0-name"))
	}
	v.Set("recipients", "")
	v.Set("f0-remove", "1")
	v.Set("op", "save")
	if w := f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...); w.Code != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", w.Code, w.Body)
	}
	if fs := f.onlyForm(t).Fields(); len(fs) != 1 || fs[0].Name != "message" {
		t.Errorf("saved fields %+v, want message alone", fs)
	}
}

func TestFormBuilderShowsTheUseCasesErrorsNextToTheirInputs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	v := builderPost("Broken", "email", "E-mail", "email", "gone", "", "text", "email", "Again", "text", "pick", "Pick", "select")
	v.Set("f1-remove", "1")
	v.Set("f0-max-length", "lots")
	v.Set("op", "save")
	w := f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="f0-max-length-error">Enter a whole number.`) || inputValue(t, body, "f0-max-length") != "lots" {
		t.Fatalf("a mistyped number: %d\n%s", w.Code, body)
	}
	v.Set("f0-max-length", "20")
	v.Set("f3-min", "Inf")
	w = f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...)
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="f3-min-error">Enter a number.`) {
		t.Fatalf("an infinite minimum: %d\n%s", w.Code, body)
	}
	v.Del("f3-min")
	v.Set("recipients", "team@example.com\nnot an address")
	v.Set("notify-subject", "{{range .Fields}}x{{end}}")
	w = f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...)
	body = w.Body.String()
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("save: %d\n%s", w.Code, body)
	}
	// The removed row is not sent, so the use case's fields[1] is row 3.
	for _, want := range []string{
		`id="f2-name" name="f2-name" value="email" size="12" aria-invalid="true" aria-describedby="f2-name-error">`,
		`id="f2-name-error">Another field has this name.`,
		`id="f3-options-error">Give a select 1 to 200 options.`,
		`id="recipients-error">Line 2: Not an e-mail address.`,
		`id="notify-subject-error">`,
		`<a href="#f2-name">Field 3: Another field has this name.</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if inputValue(t, body, "f1-name") != "gone" || !strings.Contains(body, `id="f1-remove" name="f1-remove" value="1" checked`) {
		t.Errorf("the removed row is not kept as typed:\n%s", body)
	}
	if fs, _, _ := f.forms.ListForms(t.Context(), f.admin, "site", ports.Page{Limit: 10}); len(fs) != 0 {
		t.Errorf("%d forms after refusals", len(fs))
	}
}

func TestFormBuilderPreviewsTheMail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	v := builderPost("Contact", "name", "Name", "text", "email", "E-mail", "email")
	v.Set("recipients", "team@example.com")
	v.Set("notify-subject", "Hello from {{.Fields.name}}")
	v.Set("ar-enabled", "1")
	v.Set("ar-email-field", "email")
	v.Set("ar-subject", "Thanks, {{.Fields.name}}")
	v.Set("ar-text", "We got it.")
	v.Set("ar-html", "<p>We got it, {{.Fields.name}}</p>")
	v.Set("op", "preview")
	w := f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...)
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("preview: %d\n%s", w.Code, body)
	}
	for _, want := range []string{
		`<h3>Notification</h3>`, `<dd class="fb-subject">Hello from Sample Name</dd>`, "Name: Sample Name",
		`<h3>Autoresponse</h3>`, `<dd class="fb-subject">Thanks, Sample Name</dd>`, `&lt;p&gt;We got it, Sample Name&lt;/p&gt;`,
		`<dd>visitor@example.com</dd>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the preview lacks %s", want)
		}
	}
	if inputValue(t, body, "ar-subject") != "Thanks, {{.Fields.name}}" {
		t.Errorf("the preview lost what was typed")
	}
	if fs, _, _ := f.forms.ListForms(t.Context(), f.admin, "site", ports.Page{Limit: 10}); len(fs) != 0 {
		t.Errorf("%d forms after a preview", len(fs))
	}
}

func TestFormBuilderDoesNotSilentlyUndoAnotherSave(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, _ := f.newForm(t)
	_, ck := f.signIn(t, "ada@example.com", "")
	edit := "/console/workspaces/site/forms/" + string(form.ID()) + "/edit"
	body := f.do(t, "GET", edit, ck.Value, nil).Body.String()
	version := inputValue(t, body, "version")
	if version == "" {
		t.Fatalf("no version in the page")
	}
	// Someone else renames the form after the page was shown.
	if _, err := f.forms.UpdateForm(t.Context(), f.admin, "site", form.ID(), func(d *domain.FormInput) error { d.Name = "Theirs"; return nil }); err != nil {
		t.Fatal(err)
	}
	v := builderPost("Mine", "email", "E-mail", "email")
	v.Set("version", version)
	v.Set("op", "save")
	w := f.do(t, "POST", edit, ck.Value, v, sameOrigin...)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "Someone else saved this form") || inputValue(t, w.Body.String(), "name") != "Mine" {
		t.Fatalf("stale save: %d\n%s", w.Code, w.Body)
	}
	if got := f.onlyForm(t).Name(); got != "Theirs" {
		t.Fatalf("after the stale save the form is %q", got)
	}
	// Saving again, from the page that said so, replaces theirs.
	v.Set("version", inputValue(t, w.Body.String(), "version"))
	if w := f.do(t, "POST", edit, ck.Value, v, sameOrigin...); w.Code != http.StatusSeeOther {
		t.Fatalf("second save: %d\n%s", w.Code, w.Body)
	}
	if got := f.onlyForm(t); got.Name() != "Mine" || len(got.Fields()) != 1 {
		t.Errorf("after the second save: %q with %d fields", got.Name(), len(got.Fields()))
	}
}

func TestAViewerGetsNoFormBuilderAndItsForgedPostsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, _ := f.newForm(t)
	if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", Email: "bob@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	_, bob := f.signIn(t, "bob@example.com", "")
	base := "/console/workspaces/site/forms/"
	if body := f.do(t, "GET", "/console/workspaces/site/forms", bob.Value, nil).Body.String(); strings.Contains(body, "forms/new") {
		t.Errorf("a viewer's forms list links to the builder:\n%s", body)
	}
	if body := f.do(t, "GET", base+string(form.ID()), bob.Value, nil).Body.String(); strings.Contains(body, "/edit") || !strings.Contains(body, "/embed") {
		t.Errorf("a viewer's submissions page: want the embed link and no edit link:\n%s", body)
	}
	for _, path := range []string{base + "new", base + string(form.ID()) + "/edit"} {
		if w := f.do(t, "GET", path, bob.Value, nil); w.Code != http.StatusNotFound {
			t.Errorf("viewer GET %s: %d, want 404", path, w.Code)
		}
		v := builderPost("Forged", "email", "E-mail", "email")
		for _, op := range []string{"save", "preview", "add", "down:0"} {
			v.Set("op", op)
			if w := f.do(t, "POST", path, bob.Value, v, sameOrigin...); w.Code != http.StatusNotFound {
				t.Errorf("viewer POST %s op=%s: %d, want 404\n%s", path, op, w.Code, w.Body)
			}
		}
	}
	if got := f.onlyForm(t); got.Name() != "Contact us" || len(got.Fields()) != 2 {
		t.Errorf("after forged posts the form is %q with %d fields", got.Name(), len(got.Fields()))
	}
	if w := f.do(t, "GET", base+string(form.ID())+"/embed", bob.Value, nil); w.Code != http.StatusOK {
		t.Errorf("a viewer's embed page: %d", w.Code)
	}
	// A cross-site post is refused before any handler runs.
	_, ada := f.signIn(t, "ada@example.com", "")
	if w := f.do(t, "POST", base+"new", ada.Value, builderPost("X", "email", "E", "email"), "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusForbidden {
		t.Errorf("cross-site post: %d", w.Code)
	}
}

func TestEmbedSnippetsPostEveryFieldToTheForm(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.c.cfg.PublicURL = "https://keel.example.org/"
	form, err := f.forms.CreateForm(t.Context(), f.admin, "site", domain.FormInput{
		Name: "Quote", Honeypot: "website", Fields: []domain.Field{
			{Name: "email", Label: "E-mail <required>", Type: domain.FieldEmail, Required: true},
			{Name: "size", Type: domain.FieldSelect, Options: []string{"S", "M & L"}},
			{Name: "n", Type: domain.FieldNumber, Min: ptr(1.0), Max: ptr(9.5)},
			{Name: "note", Type: domain.FieldTextarea, MaxLength: ptr(500)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", "/console/workspaces/site/forms/"+string(form.ID())+"/embed", ck.Value, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("embed: %d\n%s", w.Code, w.Body)
	}
	body := html.UnescapeString(w.Body.String())
	id := "keel-" + string(form.ID())
	for _, want := range []string{
		`<form id="` + id + `" method="post" action="https://keel.example.org/v1/forms/` + string(form.ID()) + `/submissions">`,
		`<label for="` + id + `-email">E-mail &lt;required&gt;</label>`,
		`<input id="` + id + `-email" name="email" type="email" required autocomplete="email">`,
		`<option>M &amp; L</option>`,
		`type="number" step="any" min="1" max="9.5">`,
		`<textarea id="` + id + `-note" name="note" rows="5" maxlength="500"></textarea>`,
		`name="website" type="text" value="" tabindex="-1" autocomplete="off">`,
		`await fetch(form.action`, `res.headers.get("Retry-After")`,
		`data-copy="snippet-html"`, `data-copy="snippet-fetch"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the embed page lacks %s\n", want)
		}
	}
	// The page shows the snippets as text, never as markup of its own.
	if strings.Contains(w.Body.String(), "<form id=\""+id) || strings.Contains(w.Body.String(), "<script>") {
		t.Errorf("a snippet is not escaped:\n%s", w.Body)
	}
}

func ptr[T any](v T) *T { return &v }

// TestFormBuilderKeepsTheLinkLimit: the builder sets a form's own link
// limit, shows it again, refuses one out of bounds next to its input, and
// a save that leaves it empty goes back to the instance's limit; a save
// of other changes keeps it.
func TestFormBuilderKeepsTheLinkLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	v := builderPost("Links", "email", "E-mail", "email")
	v.Set("max-links", "10")
	v.Set("op", "save")
	if w := f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...); w.Code != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", w.Code, w.Body)
	}
	form := f.onlyForm(t)
	if got := form.Definition().MaxLinks; got == nil || *got != 10 {
		t.Fatalf("max_links = %v, want 10", got)
	}
	edit := "/console/workspaces/site/forms/" + string(form.ID()) + "/edit"
	body := f.do(t, "GET", edit, ck.Value, nil).Body.String()
	if inputValue(t, body, "max-links") != "10" {
		t.Errorf("the editor shows max-links %q, want 10", inputValue(t, body, "max-links"))
	}
	v.Set("version", inputValue(t, body, "version"))
	v.Set("max-links", "1001")
	w := f.do(t, "POST", edit, ck.Value, v, sameOrigin...)
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="max-links-error"`) {
		t.Errorf("max-links 1001: %d, want 422 next to the input\n%s", w.Code, body)
	}
	v.Set("max-links", "")
	if w := f.do(t, "POST", edit, ck.Value, v, sameOrigin...); w.Code != http.StatusSeeOther {
		t.Fatalf("save without a limit: %d\n%s", w.Code, w.Body)
	}
	if got := f.onlyForm(t).Definition().MaxLinks; got != nil {
		t.Errorf("max_links after an empty save = %d, want the instance's (nil)", *got)
	}
}
