package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestNotSpamAPI: POST …/not-spam files a spam submission as new and
// queues the notification its spam verdict held back, once; the outbox
// and the audit log show it, and PATCH still refuses to take spam out of
// spam.
func TestNotSpamAPI(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	form := f.createForm(t, contactForm())
	spam := decodeBody[submittedResponse](t, f.submitJSON(t, form, `{"name":"Spam","email":"spam@example.com","website":"http://x"}`), http.StatusCreated)
	path := "/v1/workspaces/acme/submissions/" + spam.ID
	notifications := func() int {
		t.Helper()
		l := decodeBody[listResponse[messageResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/messages", nil), http.StatusOK)
		n := 0
		for _, m := range l.Data {
			if m.SubmissionID != nil && *m.SubmissionID == spam.ID && m.Kind == "notification" {
				n++
			}
		}
		return n
	}
	if got := decodeBody[submissionResponse](t, f.api(t, http.MethodGet, path, nil), http.StatusOK); got.Status != "spam" || notifications() != 0 {
		t.Fatalf("honeypot submission: status %s, %d notifications; want spam and none", got.Status, notifications())
	}
	decodeProblem(t, f.api(t, http.MethodPatch, path, map[string]string{"status": "new"}), http.StatusConflict, "submission_is_spam")

	for range 2 {
		if got := decodeBody[submissionResponse](t, f.api(t, http.MethodPost, path+"/not-spam", nil), http.StatusOK); got.Status != "new" || got.ID != spam.ID {
			t.Fatalf("POST not-spam = %+v, want it new", got)
		}
		if n := notifications(); n != 1 {
			t.Fatalf("%d notifications queued, want the held one, once", n)
		}
	}
	audit := f.api(t, http.MethodGet, "/v1/workspaces/acme/audit-events", nil).Body.String()
	if strings.Count(audit, `"submission.not_spam"`) != 1 || strings.Contains(audit, "spam@example.com") {
		t.Errorf("audit log %s: want one submission.not_spam event without the submitter's address", audit)
	}
	if w := f.api(t, http.MethodDelete, path, nil); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", w.Code, w.Body)
	}
	decodeProblem(t, f.api(t, http.MethodPost, path+"/not-spam", nil), http.StatusNotFound, "not_found")
	audit = f.api(t, http.MethodGet, "/v1/workspaces/acme/audit-events", nil).Body.String()
	if !strings.Contains(audit, `"submission.deleted"`) {
		t.Errorf("audit log %s lacks submission.deleted", audit)
	}
}
