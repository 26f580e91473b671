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

// TestSpamReasonAndLinkLimitAPI: a form's max_links is set, bounded and
// reset through the API; a spam submission says why it is spam, and a
// submission with six links under a limit of 10 is not spam.
func TestSpamReasonAndLinkLimitAPI(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	def := contactForm()
	def["max_links"] = 2
	created := decodeBody[formResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/forms", def), http.StatusCreated)
	if created.MaxLinks == nil || *created.MaxLinks != 2 {
		t.Fatalf("created max_links = %v, want 2", created.MaxLinks)
	}
	form := "/v1/workspaces/acme/forms/" + created.ID
	links := func(n int) string { return strings.Repeat("see https://docs.example/page ", n) }
	submit := func(body string) submissionResponse {
		t.Helper()
		s := decodeBody[submittedResponse](t, f.submitJSON(t, created.ID, body), http.StatusCreated)
		return decodeBody[submissionResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/submissions/"+s.ID, nil), http.StatusOK)
	}
	got := submit(`{"name":"Ada","email":"ada@example.com","message":"` + links(3) + `"}`)
	if got.Status != "spam" || got.Spam == nil || got.Spam.Reason != "links" || got.Spam.Detail != "3 links; the limit is 2." {
		t.Errorf("three links over a limit of 2: %s %+v, want spam for links", got.Status, got.Spam)
	}
	honey := submit(`{"name":"Bot","email":"bot@example.com","website":"x"}`)
	if honey.Spam == nil || honey.Spam.Reason != "honeypot" {
		t.Errorf("honeypot: %+v", honey.Spam)
	}

	decodeProblem(t, f.invalid().api(t, http.MethodPatch, form, map[string]any{"max_links": 1001}), http.StatusUnprocessableEntity, "validation_failed")
	decodeProblem(t, f.invalid().api(t, http.MethodPatch, form, map[string]any{"max_links": -1}), http.StatusUnprocessableEntity, "validation_failed")
	if p := decodeBody[formResponse](t, f.api(t, http.MethodPatch, form, map[string]any{"max_links": 10}), http.StatusOK); p.MaxLinks == nil || *p.MaxLinks != 10 {
		t.Fatalf("PATCH max_links 10: %v", p.MaxLinks)
	}
	six := submit(`{"name":"Ada","email":"ada@example.com","message":"` + links(6) + `"}`)
	if six.Status != "new" || six.Spam != nil {
		t.Errorf("six links under a limit of 10: %s %+v, want new without a spam reason", six.Status, six.Spam)
	}
	manual := decodeBody[submissionResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme/submissions/"+six.ID, map[string]string{"status": "spam"}), http.StatusOK)
	if manual.Spam == nil || manual.Spam.Reason != "manual" {
		t.Errorf("filed as spam by hand: %+v, want manual", manual.Spam)
	}
	back := decodeBody[submissionResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/submissions/"+got.ID+"/not-spam", nil), http.StatusOK)
	if back.Status != "new" || back.Spam != nil {
		t.Errorf("marked not spam: %s %+v", back.Status, back.Spam)
	}
	if p := decodeBody[formResponse](t, f.api(t, http.MethodPatch, form, map[string]any{"max_links": nil}), http.StatusOK); p.MaxLinks != nil {
		t.Errorf("PATCH max_links null: %v, want null (the instance's)", *p.MaxLinks)
	}
}
