package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestFormNotifyAttachLimit: notify.attach_files_max_bytes is 0 unless
// set, a PATCH sets it and leaves the rest of notify alone, and a value
// over 10 MiB, which the document does not allow, is 422 naming it.
func TestFormNotifyAttachLimit(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	created := decodeBody[formResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/forms", contactForm()), http.StatusCreated)
	if created.Notify.AttachFilesMaxBytes != 0 {
		t.Fatalf("a new form attaches up to %d bytes, want 0", created.Notify.AttachFilesMaxBytes)
	}
	path := "/v1/workspaces/acme/forms/" + created.ID
	patched := decodeBody[formResponse](t, f.api(t, http.MethodPatch, path, map[string]any{"notify": map[string]any{"attach_files_max_bytes": 4096}}), http.StatusOK)
	if patched.Notify.AttachFilesMaxBytes != 4096 || patched.Notify.Subject != created.Notify.Subject {
		t.Fatalf("after PATCH notify = %+v", patched.Notify)
	}
	w := f.invalid().api(t, http.MethodPatch, path, map[string]any{"notify": map[string]any{"attach_files_max_bytes": 10<<20 + 1}})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "notify.attach_files_max_bytes") {
		t.Fatalf("over the maximum: %d %s", w.Code, w.Body)
	}
}
