package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/ratelimit"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// post sends body to the public endpoint of form with the given content
// type and headers (name, value pairs), anonymously.
func (f *formsFixture) post(t testing.TB, form, contentType string, body io.Reader, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/forms/"+form+"/submissions", body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return f.serve(req)
}

func (f *formsFixture) postForm(t testing.TB, form string, values string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return f.post(t, form, "application/x-www-form-urlencoded", strings.NewReader(values), headers...)
}

// multipartBody encodes text parts in order, then file parts.
func multipartBody(t testing.TB, fields [][2]string, files map[string]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range fields {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		w, err := mw.CreateFormFile(name, "cv.pdf")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(content))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

// listStatuses returns the statuses of a form's submissions, newest first.
func (f *formsFixture) listStatuses(t testing.TB, form string) []string {
	t.Helper()
	l := decodeBody[listResponse[submissionResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/forms/"+form+"/submissions", nil), http.StatusOK)
	var out []string
	for _, s := range l.Data {
		out = append(out, s.Status)
	}
	return out
}

func withRedirects(def map[string]any) map[string]any {
	def["redirects"] = map[string]any{"success": "https://site.example/thanks", "error": "https://site.example/oops?lang=en"}
	return def
}

func TestSubmitJSON(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, contactForm())
	w := f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com","topics":["sales"],"consent":false,"message":42}`)
	got := decodeBody[submittedResponse](t, w, http.StatusCreated)
	if !strings.HasPrefix(got.ID, "sub") || !got.CreatedAt.Equal(f.clock.Now()) {
		t.Fatalf("201 body = %s", w.Body)
	}
	sub := decodeBody[submissionResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/submissions/"+got.ID, nil), http.StatusOK)
	if _, ticked := sub.Values["consent"]; ticked || sub.Values["message"] != "42" {
		t.Fatalf("values = %#v: false must leave a checkbox unticked, numbers keep their text", sub.Values)
	}
	if w.Header().Get("Vary") != "Origin" || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("headers without Origin = %v", w.Header())
	}

	p := decodeProblem(t, f.submitJSON(t, id, `{"name":"","email":"nope","topics":["other"]}`), http.StatusUnprocessableEntity, "validation_failed")
	codes := map[string]string{}
	for _, e := range p.Errors {
		codes[e.Field] = e.Code
	}
	if codes["name"] != "required" || codes["email"] != "invalid_email" || codes["topics"] != "invalid_option" || len(codes) != 3 {
		t.Fatalf("errors = %+v", p.Errors)
	}
	p = decodeProblem(t, f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com","phone":"1","fax":"2"}`), http.StatusUnprocessableEntity, "unknown_field")
	if len(p.Errors) != 2 || p.Errors[0].Field != "phone" || p.Errors[1].Field != "fax" {
		t.Fatalf("unknown_field errors = %+v, want phone then fax (arrival order)", p.Errors)
	}
	p = decodeProblem(t, f.invalid().submitJSON(t, id, `{"name":{"first":"Ada"},"email":null,"topics":[["a"]],"message":"ok"}`), http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 3 || p.Errors[0].Code != "invalid_type" {
		t.Fatalf("type errors = %+v", p.Errors)
	}
}

// TestSubmitMultiselectIsAlwaysAList checks that a multiselect with one
// chosen option reads as a one-element array, not a string, whichever
// decoder delivered it, in the single submission and in the listing.
func TestSubmitMultiselectIsAlwaysAList(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, contactForm())
	ct, body := multipartBody(t, [][2]string{{"name", "Ada"}, {"email", "ada@example.com"}, {"topics", "sales"}}, nil)
	for _, tc := range []struct {
		name string
		post func() *httptest.ResponseRecorder
	}{
		{"urlencoded", func() *httptest.ResponseRecorder {
			return f.postForm(t, id, "name=Ada&email=ada%40example.com&topics=sales")
		}},
		{"multipart", func() *httptest.ResponseRecorder { return f.post(t, id, ct, body) }},
		{"JSON array", func() *httptest.ResponseRecorder {
			return f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com","topics":["sales"]}`)
		}},
		{"JSON string", func() *httptest.ResponseRecorder {
			return f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com","topics":"sales"}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeBody[submittedResponse](t, tc.post(), http.StatusCreated)
			sub := decodeBody[submissionResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/submissions/"+got.ID, nil), http.StatusOK)
			if topics, ok := sub.Values["topics"].([]any); !ok || len(topics) != 1 || topics[0] != "sales" {
				t.Errorf("GET topics = %#v, want [sales]", sub.Values["topics"])
			}
			if name, ok := sub.Values["name"].(string); !ok || name != "Ada" {
				t.Errorf("GET name = %#v, want the string Ada", sub.Values["name"])
			}
			l := decodeBody[listResponse[submissionResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions?limit=1", nil), http.StatusOK)
			if len(l.Data) != 1 || l.Data[0].ID != got.ID {
				t.Fatalf("list = %+v, want %s first", l.Data, got.ID)
			}
			if topics, ok := l.Data[0].Values["topics"].([]any); !ok || len(topics) != 1 || topics[0] != "sales" {
				t.Errorf("listed topics = %#v, want [sales]", l.Data[0].Values["topics"])
			}
		})
		f.clock.Add(time.Second) // newest first: the next submission leads the listing
	}
}

func TestSubmitBrowserWithRedirects(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, withRedirects(contactForm()))

	w := f.postForm(t, id, "name=Ada&email=ada%40example.com&topics=sales&topics=support&website=", "Accept", browserAccept)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://site.example/thanks" {
		t.Fatalf("success = %d %v %s", w.Code, w.Header(), w.Body)
	}

	w = f.postForm(t, id, "name=&email=nope", "Accept", browserAccept)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("invalid = %d %s", w.Code, w.Body)
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || loc.Host != "site.example" || loc.Path != "/oops" {
		t.Fatalf("Location = %q", w.Header().Get("Location"))
	}
	if q := loc.Query(); q.Get("error") != "validation_failed" || q.Get("fields") != "name:required,email:invalid" || q.Get("lang") != "en" {
		t.Fatalf("error redirect query = %v", q)
	}

	w = f.postForm(t, id, "name=Ada&email=ada%40example.com&bogus=1&bogus=2", "Accept", browserAccept)
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.Contains(loc, "error=unknown_field") || !strings.Contains(loc, "fields=bogus") {
		t.Fatalf("unknown field = %d %q", w.Code, loc)
	}

	// The same form post without Accept: text/html is an API call.
	w = f.postForm(t, id, "name=Ada&email=ada%40example.com")
	decodeBody[submittedResponse](t, w, http.StatusCreated)
	decodeProblem(t, f.postForm(t, id, "name=&email=ada%40example.com"), http.StatusUnprocessableEntity, "validation_failed")

	// Multipart text parts take the same path, in order.
	ct, body := multipartBody(t, [][2]string{{"name", "Ada"}, {"email", "ada@example.com"}, {"topics", "sales"}, {"topics", "support"}}, nil)
	if w := f.post(t, id, ct, body, "Accept", browserAccept); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://site.example/thanks" {
		t.Fatalf("multipart = %d %v", w.Code, w.Header())
	}

	// A closed form sends the browser to the error page too.
	f.api(t, http.MethodPatch, "/v1/workspaces/acme/forms/"+id, map[string]any{"status": "closed"})
	w = f.postForm(t, id, "name=Ada&email=ada%40example.com", "Accept", browserAccept)
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.Contains(loc, "error=form_closed") {
		t.Fatalf("closed = %d %q", w.Code, loc)
	}
}

func TestSubmitBrowserPages(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	def := contactForm()
	def["name"] = "Contact <b>us</b>"
	id := f.createForm(t, def)

	w := f.postForm(t, id, "name=Ada&email=ada%40example.com", "Accept", browserAccept)
	body := w.Body.String()
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.Contains(body, "Thank you") || !strings.Contains(body, "Contact &lt;b&gt;us&lt;/b&gt;") {
		t.Fatalf("thank-you page = %d %v\n%s", w.Code, w.Header(), body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
	for _, external := range []string{"http://", "https://", "<script", "<link", "<img"} {
		if strings.Contains(body, external) {
			t.Fatalf("page holds %q:\n%s", external, body)
		}
	}

	w = f.postForm(t, id, "name=&email=nope", "Accept", browserAccept)
	body = w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "<strong>Your name</strong>") || !strings.Contains(body, "<strong>E-mail</strong>") || !strings.Contains(body, "Enter an e-mail address.") {
		t.Fatalf("error page = %d\n%s", w.Code, body)
	}

	// Unknown names come from the client: the page escapes them. (Two,
	// since one alone is taken for the submit button's and ignored.)
	w = f.postForm(t, id, "name=Ada&email=ada%40example.com&%3Cscript%3Ealert(1)%3C%2Fscript%3E=x&send=", "Accept", browserAccept)
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity || strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Fatalf("unknown field page = %d\n%s", w.Code, body)
	}

	w = f.postForm(t, "frm_0000000000000000000000000", "name=Ada", "Accept", browserAccept)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "Form not found") {
		t.Fatalf("unknown form page = %d\n%s", w.Code, w.Body)
	}
	f.api(t, http.MethodPatch, "/v1/workspaces/acme/forms/"+id, map[string]any{"status": "closed"})
	if w := f.postForm(t, id, "name=Ada&email=ada%40example.com", "Accept", browserAccept); w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "This form is closed") {
		t.Fatalf("closed page = %d\n%s", w.Code, w.Body)
	}
}

func TestSubmitHoneypot(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, withRedirects(contactForm()))
	real := f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com","website":""}`)
	bot := f.submitJSON(t, id, `{"name":"Bot","email":"bot@example.com","website":"http://spam.example"}`)
	// Location differs only in the submission's ID, which has the same
	// shape in both.
	sameHeaders := func(a, b http.Header) bool {
		a, b = a.Clone(), b.Clone()
		a.Del(requestIDHeader)
		b.Del(requestIDHeader)
		la, lb := a.Get("Location"), b.Get("Location")
		a.Del("Location")
		b.Del("Location")
		return fmt.Sprint(a) == fmt.Sprint(b) && len(la) == len(lb) && path.Dir(la) == path.Dir(lb) && la != ""
	}
	if real.Code != http.StatusCreated || bot.Code != real.Code || !sameHeaders(real.Header(), bot.Header()) {
		t.Fatalf("real = %d %v, bot = %d %v", real.Code, real.Header(), bot.Code, bot.Header())
	}
	realBody := decodeBody[submittedResponse](t, real, http.StatusCreated)
	botBody := decodeBody[submittedResponse](t, bot, http.StatusCreated)
	if len(realBody.ID) != len(botBody.ID) || botBody.CreatedAt.IsZero() {
		t.Fatalf("bodies differ in shape: %s vs %s", real.Body, bot.Body)
	}
	w := f.postForm(t, id, "name=Bot&email=bot%40example.com&website=x", "Accept", browserAccept)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://site.example/thanks" {
		t.Fatalf("browser bot = %d %v", w.Code, w.Header())
	}
	if got := f.listStatuses(t, id); fmt.Sprint(got) != "[spam spam new]" {
		t.Fatalf("statuses = %v", got)
	}
}

func TestSubmitRefusals(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, contactForm())
	decodeProblem(t, f.submitJSON(t, "frm_0000000000000000000000000", `{"name":"Ada"}`), http.StatusNotFound, "not_found")
	decodeProblem(t, f.submitJSON(t, "nonsense", `{"name":"Ada"}`), http.StatusNotFound, "not_found")
	p := decodeProblem(t, f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com","nickname":"A"}`), http.StatusUnprocessableEntity, "unknown_field")
	if len(p.Errors) != 1 || p.Errors[0].Field != "nickname" {
		t.Fatalf("errors = %+v", p.Errors)
	}
	ct, body := multipartBody(t, [][2]string{{"name", "Ada"}}, map[string]string{"cv": "%PDF"})
	p = decodeProblem(t, f.post(t, id, ct, body), http.StatusUnsupportedMediaType, "unsupported_media_type")
	if !strings.Contains(p.Detail, "This Keel stores no files") {
		t.Fatalf("detail = %q", p.Detail)
	}
	// An empty file input is still a file input.
	raw := "--b\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n--b--\r\n"
	decodeProblem(t, f.post(t, id, "multipart/form-data; boundary=b", strings.NewReader(raw)), http.StatusUnsupportedMediaType, "unsupported_media_type")

	f.api(t, http.MethodPatch, "/v1/workspaces/acme/forms/"+id, map[string]any{"status": "closed"})
	decodeProblem(t, f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com"}`), http.StatusGone, "form_closed")
}

func TestSubmitRateLimited(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{perIP: ratelimit.NewRateLimiter(1.0/60, 1, time.Now)})
	id := f.createForm(t, withRedirects(contactForm()))
	decodeBody[submittedResponse](t, f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com"}`), http.StatusCreated)
	w := f.submitJSON(t, id, `{"name":"Ada","email":"ada@example.com"}`)
	decodeProblem(t, w, http.StatusTooManyRequests, "rate_limited")
	if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After = %q", w.Header().Get("Retry-After"))
	}
	// A browser goes to the form's error page, told how long to wait.
	w = f.postForm(t, id, "name=Ada&email=ada%40example.com", "Accept", browserAccept)
	loc, err := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || err != nil || loc.Path != "/oops" || loc.Query().Get("error") != "rate_limited" ||
		loc.Query().Get("retry_after") != w.Header().Get("Retry-After") || w.Header().Get("Retry-After") == "" {
		t.Fatalf("browser rate limit = %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	// Without an error redirect, Keel's page says so and for how long.
	plain := f.createForm(t, contactForm())
	f.postForm(t, plain, "name=Ada&email=ada%40example.com", "Accept", browserAccept)
	w = f.postForm(t, plain, "name=Ada&email=ada%40example.com", "Accept", browserAccept)
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "Too many submissions") ||
		!strings.Contains(w.Body.String(), "Please wait "+w.Header().Get("Retry-After")+" seconds") {
		t.Fatalf("browser rate limit page = %d %v\n%s", w.Code, w.Header(), w.Body)
	}
}

func TestSubmitCORS(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	id := f.createForm(t, contactForm())
	preflight := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodOptions, "/v1/forms/"+id+"/submissions", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		return f.serve(req)
	}
	w := preflight("https://site.example")
	h := w.Header()
	if w.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://site.example" || h.Get("Access-Control-Allow-Methods") != "POST" ||
		h.Get("Access-Control-Allow-Headers") != "Content-Type, Idempotency-Key" || h.Get("Access-Control-Max-Age") == "" || !strings.Contains(h.Get("Vary"), "Origin") {
		t.Fatalf("allowed preflight = %d %v", w.Code, h)
	}
	w = preflight("https://evil.example")
	if w.Code != http.StatusNoContent {
		t.Fatalf("refused preflight = %d", w.Code)
	}
	for name := range w.Header() {
		if strings.HasPrefix(name, "Access-Control-") {
			t.Fatalf("refused preflight has %s: %v", name, w.Header())
		}
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodOptions, "/v1/forms/frm_0000000000000000000000000/submissions", nil)
	req.Header.Set("Origin", "https://site.example")
	decodeProblem(t, f.serve(req), http.StatusNotFound, "not_found")

	ok := `{"name":"Ada","email":"ada@example.com"}`
	if w := f.submitJSON(t, id, ok, "Origin", "https://site.example"); w.Code != http.StatusCreated ||
		w.Header().Get("Access-Control-Allow-Origin") != "https://site.example" || w.Header().Get("Vary") != "Origin" {
		t.Fatalf("allowed POST = %d %v", w.Code, w.Header())
	}
	// A script on an allowed origin must be able to read the field errors.
	if w := f.submitJSON(t, id, `{"name":""}`, "Origin", "https://site.example"); w.Code != http.StatusUnprocessableEntity ||
		w.Header().Get("Access-Control-Allow-Origin") != "https://site.example" {
		t.Fatalf("allowed 422 = %d %v", w.Code, w.Header())
	}
	for _, body := range []string{ok, `{"name":""}`} {
		w := f.submitJSON(t, id, body, "Origin", "https://evil.example")
		for name := range w.Header() {
			if strings.HasPrefix(name, "Access-Control-") {
				t.Fatalf("POST from a refused origin has %s: %v", name, w.Header())
			}
		}
	}
}

// TestSubmitBadInput is the table of malformed requests: each a problem
// document with its own status and code.
func TestSubmitBadInput(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{maxBodyBytes: 4096})
	def := contactForm()
	def["fields"] = append(def["fields"].([]map[string]any), map[string]any{"name": "short", "type": "text", "max_length": 5})
	id := f.createForm(t, def)

	manyJSON := func() string {
		var b strings.Builder
		b.WriteString("{")
		for i := range 201 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"f%d":"x"`, i)
		}
		return b.String() + "}"
	}()
	manyForm := func() string {
		var parts []string
		for i := range 201 {
			parts = append(parts, fmt.Sprintf("f%d=x", i))
		}
		return strings.Join(parts, "&")
	}()
	big := strings.Repeat("x", 5000)
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) } // unknown length

	cases := []struct {
		name, contentType string
		body              io.Reader
		status            int
		code              string
	}{
		{"no content type", "", strings.NewReader(`{}`), http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"text/plain", "text/plain", strings.NewReader("name=Ada"), http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"bad media type", "application/", strings.NewReader(`{}`), http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"malformed JSON", "application/json", strings.NewReader(`{"name":`), http.StatusBadRequest, "malformed_json"},
		{"JSON array", "application/json", strings.NewReader(`["name"]`), http.StatusBadRequest, "malformed_json"},
		{"JSON trailing data", "application/json", strings.NewReader(`{"name":"Ada"} {}`), http.StatusBadRequest, "malformed_json"},
		{"empty JSON", "application/json", strings.NewReader(``), http.StatusBadRequest, "malformed_json"},
		{"invalid UTF-8 JSON", "application/json", strings.NewReader("{\"name\":\"\xff\"}"), http.StatusBadRequest, "invalid_utf8"},
		{"invalid UTF-8 form value", "application/x-www-form-urlencoded", strings.NewReader("name=%FF"), http.StatusBadRequest, "invalid_utf8"},
		{"invalid UTF-8 form name", "application/x-www-form-urlencoded", strings.NewReader("%C3%28=x"), http.StatusBadRequest, "invalid_utf8"},
		{"invalid UTF-8 multipart", "multipart/form-data; boundary=b", strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n\xfe\r\n--b--\r\n"), http.StatusBadRequest, "invalid_utf8"},
		{"bad escape", "application/x-www-form-urlencoded", strings.NewReader("name=%zz"), http.StatusBadRequest, "malformed_form"},
		{"semicolon", "application/x-www-form-urlencoded", strings.NewReader("name=a;b"), http.StatusBadRequest, "malformed_form"},
		{"no boundary", "multipart/form-data", strings.NewReader("x"), http.StatusBadRequest, "malformed_form"},
		{"truncated multipart", "multipart/form-data; boundary=b", strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAda"), http.StatusBadRequest, "malformed_form"},
		{"oversize JSON", "application/json", strings.NewReader(`{"name":"` + big + `"}`), http.StatusRequestEntityTooLarge, "body_too_large"},
		{"oversize chunked JSON", "application/json", chunked(`{"name":"` + big + `"}`), http.StatusRequestEntityTooLarge, "body_too_large"},
		{"oversize chunked form", "application/x-www-form-urlencoded", chunked("name=" + big), http.StatusRequestEntityTooLarge, "body_too_large"},
		{"oversize chunked multipart", "multipart/form-data; boundary=b", chunked("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n" + big + "\r\n--b--\r\n"), http.StatusRequestEntityTooLarge, "body_too_large"},
		{"too many JSON fields", "application/json", strings.NewReader(manyJSON), http.StatusUnprocessableEntity, "too_many_fields"},
		{"too many form fields", "application/x-www-form-urlencoded", strings.NewReader(manyForm), http.StatusUnprocessableEntity, "too_many_fields"},
		{"value over max_length", "application/json", strings.NewReader(`{"name":"Ada","email":"ada@example.com","short":"toolong"}`), http.StatusUnprocessableEntity, "validation_failed"},
		{"value over max_length (form)", "application/x-www-form-urlencoded", strings.NewReader("name=Ada&email=ada%40example.com&short=toolong"), http.StatusUnprocessableEntity, "validation_failed"},
		{"nested object", "application/json", strings.NewReader(`{"name":{"x":1},"email":"ada@example.com"}`), http.StatusUnprocessableEntity, "validation_failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := decodeProblem(t, f.invalid().post(t, id, tc.contentType, tc.body), tc.status, tc.code) // malformed on purpose
			if tc.code == "validation_failed" && len(p.Errors) == 0 {
				t.Fatalf("no field errors: %+v", p)
			}
		})
	}
}

func TestAcceptsHTML(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]bool{
		browserAccept:                         true,
		"text/html":                           true,
		"application/xhtml+xml;q=0.5":         true,
		"text/html;q=0, application/json":     false,
		"*/*":                                 false,
		"":                                    false,
		"application/json":                    false,
		"text/html;q=bogus":                   false,
		"application/json, TEXT/HTML;level=1": true,
	} {
		if got := acceptsHTML(accept); got != want {
			t.Errorf("acceptsHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}
