package console

import (
	"net/http"
	"strings"
	"testing"
)

// TestFormBuilderKeepsTheAttachLimit: the builder sets a form's
// notify.attach_files_max_bytes, shows it again, keeps it across an edit
// that does not touch it, and puts the use case's refusal of a value over
// the maximum next to its input.
func TestFormBuilderKeepsTheAttachLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	v := builderPost("Attach", "email", "E-mail", "email")
	v.Set("notify-attach", "4096")
	v.Set("op", "save")
	if w := f.do(t, "POST", "/console/workspaces/site/forms/new", ck.Value, v, sameOrigin...); w.Code != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", w.Code, w.Body)
	}
	form := f.onlyForm(t)
	if got := form.Definition().Notify.AttachFilesMaxBytes; got != 4096 {
		t.Fatalf("attach_files_max_bytes = %d, want 4096", got)
	}
	edit := "/console/workspaces/site/forms/" + string(form.ID()) + "/edit"
	body := f.do(t, "GET", edit, ck.Value, nil).Body.String()
	if got := inputValue(t, body, "notify-attach"); got != "4096" {
		t.Fatalf("the editor shows notify-attach %q, want 4096", got)
	}
	v.Set("version", inputValue(t, body, "version"))
	v.Set("name", "Attach files")
	if w := f.do(t, "POST", edit, ck.Value, v, sameOrigin...); w.Code != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", w.Code, w.Body)
	}
	if got := f.onlyForm(t).Definition().Notify.AttachFilesMaxBytes; got != 4096 {
		t.Errorf("after an edit attach_files_max_bytes = %d, want 4096", got)
	}
	body = f.do(t, "GET", edit, ck.Value, nil).Body.String()
	v.Set("version", inputValue(t, body, "version"))
	v.Set("notify-attach", "20000000")
	w := f.do(t, "POST", edit, ck.Value, v, sameOrigin...)
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="notify-attach-error"`) {
		t.Errorf("notify-attach over the maximum: %d, want 422 next to the input\n%s", w.Code, body)
	}
}
