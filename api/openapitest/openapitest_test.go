package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/keelhq/keel/api/openapitest"
)

// recordingT is a testing.TB that keeps what the validator reports, so a
// test can check that a mismatch fails (calling any other method panics).
type recordingT struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingT) Helper() {}

func (r *recordingT) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingT) reports() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errors, "\n")
}

func fixture(t *testing.T) *openapitest.Validator {
	t.Helper()
	doc, err := os.ReadFile("testdata/things.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := openapitest.New(doc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// exchange is one request and the answer the fake server gives it.
type exchange struct {
	name                string
	method, path, body  string
	auth, invalid       bool
	status              int
	contentType, answer string
	location            bool
	want                string // a substring of the report; empty: no report
}

const thing = `{"id":"thg_1","name":"A","note":null}`

var exchanges = []exchange{
	{name: "Valid", method: "GET", path: "/v1/things/thg_1", auth: true, status: 200, contentType: "application/json", answer: thing},
	{name: "ValidCreate", method: "POST", path: "/v1/things", body: `{"name":"A"}`, auth: true, status: 201, contentType: "application/json", answer: thing, location: true},
	{name: "ValidProblem", method: "GET", path: "/v1/things/thg_2", auth: true, status: 404, contentType: "application/problem+json", answer: `{"status":404,"code":"not_found"}`},
	{name: "ValidPublic", method: "GET", path: "/v1/public", status: 200, contentType: "text/html; charset=utf-8", answer: "<p>hi</p>"},
	{name: "ValidFreeFormQuery", method: "GET", path: "/v1/public?utm_source=news&ref=a", status: 200, contentType: "text/html", answer: "<p>hi</p>"},
	{name: "ValidNoContent", method: "DELETE", path: "/v1/things/thg_1", auth: true, status: 204},
	{name: "NullableIsJSONSchema2020", method: "GET", path: "/v1/things/thg_1", auth: true, status: 200, contentType: "application/json", answer: `{"id":"thg_1","name":"A","note":"n"}`},

	{name: "UndocumentedStatus", method: "GET", path: "/v1/things/thg_1", auth: true, status: 409, contentType: "application/problem+json", answer: `{"status":409,"code":"conflict"}`, want: "status is not supported"},
	{name: "WrongBodyType", method: "GET", path: "/v1/things/thg_1", auth: true, status: 200, contentType: "application/json", answer: `{"id":1,"name":"A","note":null}`, want: "doesn't match schema"},
	{name: "WrongTypeArray", method: "GET", path: "/v1/things/thg_1", auth: true, status: 200, contentType: "application/json", answer: `{"id":"thg_1","name":"A","note":3}`, want: "doesn't match schema"},
	{name: "WrongContentType", method: "GET", path: "/v1/things/thg_1", auth: true, status: 200, contentType: "text/plain", answer: thing, want: "Content-Type"},
	{name: "WrongProblem", method: "GET", path: "/v1/things/thg_2", auth: true, status: 404, contentType: "application/problem+json", answer: `{"status":"404"}`, want: "doesn't match schema"},
	{name: "MissingHeader", method: "POST", path: "/v1/things", body: `{"name":"A"}`, auth: true, status: 201, contentType: "application/json", answer: thing, want: `"Location" missing`},
	{name: "UndocumentedBody", method: "DELETE", path: "/v1/things/thg_1", auth: true, status: 409, contentType: "application/json", answer: `{}`, want: "does not describe"},
	{name: "UnknownPath", method: "GET", path: "/v1/widgets", auth: true, status: 404, contentType: "application/problem+json", answer: `{"status":404,"code":"not_found"}`, want: "no operation"},
	{name: "UnknownMethod", method: "PUT", path: "/v1/things/thg_1", auth: true, status: 405, contentType: "application/problem+json", answer: `{"status":405,"code":"method_not_allowed"}`, want: "no operation"},
	{name: "BadPathParameter", method: "GET", path: "/v1/things/x", auth: true, status: 404, contentType: "application/problem+json", answer: `{"status":404,"code":"not_found"}`, want: "parameter \"id\""},
	{name: "BadQueryParameter", method: "GET", path: "/v1/things/thg_1?expand=maybe", auth: true, status: 200, contentType: "application/json", answer: thing, want: "parameter \"expand\""},
	{name: "UndeclaredQueryParameter", method: "GET", path: "/v1/things/thg_1?sort=name&b=1", auth: true, status: 200, contentType: "application/json", answer: thing, want: "query parameters b, sort are not declared"},
	{name: "UnknownField", method: "POST", path: "/v1/things", body: `{"name":"A","colour":"red"}`, auth: true, status: 201, contentType: "application/json", answer: thing, location: true, want: "request body has an error"},
	{name: "NoCredentials", method: "GET", path: "/v1/things/thg_1", status: 200, contentType: "application/json", answer: thing, want: "security requirement"},
	{name: "UnlistedProblemCode", method: "GET", path: "/v1/things/thg_2", auth: true, status: 404, contentType: "application/problem+json", answer: `{"status":404,"code":"gone"}`, want: `code "gone", which the document does not list`},
	{name: "BodyWhereNone", method: "DELETE", path: "/v1/things/thg_1", body: `{"x":1}`, auth: true, status: 204, want: "request body not allowed"},

	{name: "MarkedInvalidChecksResponseOnly", method: "POST", path: "/v1/things", body: `{"colour":"red"}`, invalid: true, status: 422, contentType: "application/problem+json", answer: `{"status":422,"code":"unknown_field"}`},
	{name: "MarkedInvalidUnknownPath", method: "GET", path: "/v1/things/thg_1/parts", invalid: true, status: 404, contentType: "application/problem+json", answer: `{"status":404,"code":"not_found"}`},
	{name: "MarkedInvalidWrongResponse", method: "POST", path: "/v1/things", body: `{}`, invalid: true, status: 400, contentType: "application/problem+json", answer: `{"status":400,"code":"malformed_json"}`, want: "status is not supported"},
}

// server answers every request as ex says and fails t when the marker
// reaches it or the body it reads is not the one sent.
func server(t *testing.T, ex exchange) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(openapitest.InvalidHeader) != "" {
			t.Errorf("the server saw %s", openapitest.InvalidHeader)
		}
		var b []byte
		if r.Body != nil { // http.NewRequest leaves it nil; a server never does
			b, _ = io.ReadAll(r.Body)
		}
		if string(b) != ex.body {
			t.Errorf("the server read body %q, want %q", b, ex.body)
		}
		if ex.contentType != "" {
			w.Header().Set("Content-Type", ex.contentType)
		}
		if ex.location {
			w.Header().Set("Location", "/v1/things/thg_1")
		}
		w.WriteHeader(ex.status)
		_, _ = io.WriteString(w, ex.answer)
	})
}

func request(t *testing.T, base string, ex exchange) *http.Request {
	var body io.Reader
	if ex.body != "" {
		body = strings.NewReader(ex.body)
	}
	r, err := http.NewRequest(ex.method, base+ex.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ex.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if ex.auth {
		r.Header.Set("Authorization", "Bearer kss_x")
	}
	if ex.invalid {
		openapitest.MarkInvalid(r)
	}
	return r
}

func check(t *testing.T, ex exchange, rt *recordingT, status int, body string) {
	t.Helper()
	if status != ex.status || body != ex.answer {
		t.Errorf("client got %d %q, want %d %q", status, body, ex.status, ex.answer)
	}
	got := rt.reports()
	switch {
	case ex.want == "" && got != "":
		t.Errorf("unexpected report:\n%s", got)
	case ex.want != "" && !strings.Contains(got, ex.want):
		t.Errorf("report %q does not contain %q", got, ex.want)
	case ex.want != "" && !strings.Contains(got, ex.method+" "+ex.path):
		t.Errorf("report %q does not name the request %s %s", got, ex.method, ex.path)
	}
}

func TestHandler(t *testing.T) {
	v := fixture(t)
	for _, ex := range exchanges {
		t.Run(ex.name, func(t *testing.T) {
			rt := &recordingT{}
			w := httptest.NewRecorder()
			v.Handler(rt, server(t, ex)).ServeHTTP(w, request(t, "", ex))
			check(t, ex, rt, w.Code, w.Body.String())
		})
	}
}

func TestTransport(t *testing.T) {
	v := fixture(t)
	for _, ex := range exchanges {
		t.Run(ex.name, func(t *testing.T) {
			srv := httptest.NewServer(server(t, ex))
			defer srv.Close()
			rt := &recordingT{}
			c := &http.Client{Transport: v.Transport(rt, nil)}
			req := request(t, srv.URL, ex)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			check(t, ex, rt, resp.StatusCode, string(b))
			if ex.invalid && req.Header.Get(openapitest.InvalidHeader) == "" {
				t.Error("Transport removed the marker from the caller's request")
			}
		})
	}
}

// TestWithInvalid checks that a context marks a request as a header does.
func TestWithInvalid(t *testing.T) {
	v := fixture(t)
	ex := exchanges[len(exchanges)-3] // MarkedInvalidChecksResponseOnly
	ex.invalid = false
	rt := &recordingT{}
	w := httptest.NewRecorder()
	r := request(t, "", ex)
	v.Handler(rt, server(t, ex)).ServeHTTP(w, r.WithContext(openapitest.WithInvalid(r.Context())))
	check(t, ex, rt, w.Code, w.Body.String())
}

// TestKeelDocument checks that Keel's own document loads and validates.
func TestKeelDocument(t *testing.T) {
	openapitest.Keel(t)
}

// TestHandlerPassesFlushesOn checks that a streaming handler (an export)
// reaches the client as it writes, not only once it returns.
func TestHandlerPassesFlushesOn(t *testing.T) {
	v := fixture(t)
	rt := &recordingT{}
	w := httptest.NewRecorder()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<p>")
		// gin flushes through a type assertion, not a ResponseController.
		f, ok := w.(http.Flusher)
		if !ok {
			t.Fatal("the wrapped writer is no http.Flusher")
		}
		f.Flush()
		_, _ = io.WriteString(w, "hi</p>")
	})
	v.Handler(rt, h).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/public", nil))
	if !w.Flushed || w.Body.String() != "<p>hi</p>" || rt.reports() != "" {
		t.Errorf("flushed %v, body %q, reports %q", w.Flushed, w.Body.String(), rt.reports())
	}
}

// TestConcurrentExchanges runs every exchange on several goroutines at
// once through one fresh validator, as parallel tests and load helpers
// do: under -race (make test) it fails if checking shares state unsafely,
// the schemas' first compilation included.
func TestConcurrentExchanges(t *testing.T) {
	v := fixture(t)
	var wg sync.WaitGroup
	for _, ex := range exchanges {
		for range 4 {
			wg.Go(func() {
				rt := &recordingT{}
				w := httptest.NewRecorder()
				v.Handler(rt, server(t, ex)).ServeHTTP(w, request(t, "", ex))
				if got := rt.reports(); (ex.want == "") != (got == "") {
					t.Errorf("%s: reports %q, want one containing %q", ex.name, got, ex.want)
				}
			})
		}
	}
	wg.Wait()
}
