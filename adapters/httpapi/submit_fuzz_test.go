package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The fuzz targets post arbitrary bodies to the public endpoint, the one
// route anyone on the internet can reach. Whatever the body, the answer is
// never a panic and never a 5xx, and an error is a problem document or,
// for a browser, an HTML page or a redirect. Seed corpora live in
// testdata/fuzz/<target>/.

// fuzzFixture is a server with a form that has every field type, a
// honeypot and, in the second form, redirects.
func fuzzFixture(f *testing.F) (fx *formsFixture, plain, redirecting string) {
	fx = newFormsFixture(f, fixtureOptions{maxBodyBytes: 64 << 10})
	def := func() map[string]any {
		return map[string]any{
			"name": "Everything",
			"fields": []map[string]any{
				{"name": "name", "type": "text", "required": true, "max_length": 50, "pattern": "[A-Za-z ]+"},
				{"name": "email", "type": "email"},
				{"name": "topics", "type": "multiselect", "options": []string{"a", "b"}},
				{"name": "consent", "type": "checkbox"},
				{"name": "message", "type": "textarea", "min_length": 2},
				{"name": "age", "type": "number", "min": 0, "max": 150},
				{"name": "site", "type": "url"},
				{"name": "tel", "type": "tel"},
				{"name": "day", "type": "date"},
				{"name": "plan", "type": "select", "options": []string{"free", "pro"}},
				{"name": "ref", "type": "hidden"},
			},
			"notify":          map[string]any{"recipients": []string{"team@example.com"}, "subject": "{{.Fields.name}}"},
			"autoresponder":   map[string]any{"enabled": true, "email_field": "email", "subject": "Thanks {{.Fields.name}}", "text": "Hi", "html": "<p>{{.Fields.message}}</p>"},
			"allowed_origins": []string{"*"},
			"honeypot":        "website",
		}
	}
	plain = fx.createForm(f, def())
	redirecting = fx.createForm(f, withRedirects(def()))
	return fx, plain, redirecting
}

// checkAnswer fails on a 5xx and on an error that is neither a problem
// document nor a browser's page or redirect.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder, browser bool) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ct := w.Header().Get("Content-Type")
	switch {
	case w.Code == http.StatusSeeOther:
		if !browser || w.Header().Get("Location") == "" {
			t.Fatalf("303 to %q for a non-browser", w.Header().Get("Location"))
		}
	case w.Code >= 400 && !(ct == "application/problem+json" || browser && ct == "text/html; charset=utf-8"):
		t.Fatalf("status %d with Content-Type %q", w.Code, ct)
	}
}

func FuzzSubmitJSON(f *testing.F) {
	fx, form, _ := fuzzFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAnswer(t, fx.post(t, form, "application/json", bytes.NewReader(body)), false)
	})
}

func FuzzSubmitForm(f *testing.F) {
	fx, plain, redirecting := fuzzFixture(f)
	f.Fuzz(func(t *testing.T, body []byte, browser, redirect bool) {
		form := plain
		if redirect {
			form = redirecting
		}
		var headers []string
		if browser {
			headers = []string{"Accept", browserAccept, "Origin", "https://site.example"}
		}
		checkAnswer(t, fx.post(t, form, "application/x-www-form-urlencoded", bytes.NewReader(body), headers...), browser)
	})
}

func FuzzSubmitMultipart(f *testing.F) {
	fx, plain, redirecting := fuzzFixture(f)
	f.Fuzz(func(t *testing.T, boundary string, body []byte, browser bool) {
		form, headers := plain, []string(nil)
		if browser {
			form, headers = redirecting, []string{"Accept", browserAccept}
		}
		checkAnswer(t, fx.post(t, form, "multipart/form-data; boundary="+boundary, bytes.NewReader(body), headers...), browser)
	})
}
