package console

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A console request is one server span named by its route and one access
// log line that carries the span's trace id, as an API request is.
func TestEveryRequestIsTracedAndLogged(t *testing.T) {
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	spans := tracetest.NewSpanRecorder()
	var logs bytes.Buffer
	cfg := f.c.cfg
	cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	c := New(cfg)

	req := httptest.NewRequest(http.MethodGet, "/console/workspaces/site", nil)
	req.AddCookie(ck)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("overview = %d", w.Code)
	}
	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended, want the request's one", len(ended))
	}
	span := ended[0]
	if span.Name() != "GET /console/workspaces/{ws}" {
		t.Errorf("span name %q, want the route", span.Name())
	}
	attrs := attribute.NewSet(span.Attributes()...)
	if v, _ := attrs.Value("http.response.status_code"); v.AsInt64() != 200 {
		t.Errorf("span status code %v", v)
	}
	var line struct {
		Msg, Route, TraceID string
		Status              int
	}
	for l := range strings.Lines(logs.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			line.Msg, _ = m["msg"].(string)
			line.Route, _ = m["route"].(string)
			line.TraceID, _ = m["trace_id"].(string)
			s, _ := m["status"].(float64)
			line.Status = int(s)
		}
	}
	if line.Msg == "" || line.Route != "/console/workspaces/{ws}" || line.Status != 200 || line.TraceID != span.SpanContext().TraceID().String() {
		t.Errorf("access log line %+v, want the route, status 200 and trace %s:\n%s", line, span.SpanContext().TraceID(), logs.String())
	}
}

// A handler's panic is a logged 500, not a dropped connection.
func TestAPanicIsAnInternalError(t *testing.T) {
	var logs bytes.Buffer
	o := newObserver(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	w := httptest.NewRecorder()
	o.serve(w, httptest.NewRequest(http.MethodGet, "/console/boom", nil), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic answered %d %q, want a 500 that says nothing of the cause", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "console: panic") || !strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("the panic and its 500 are not logged:\n%s", logs.String())
	}
}

// The secret of a mailed link never reaches the logs or the traces.
func TestMailedLinksSecretsAreNotLogged(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	var logs bytes.Buffer
	o := newObserver(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))})
	for _, path := range []string{"/console/password-reset/kpr_SECRET1", "/console/invitations/kin_SECRET2", "/console/email-change/kec_SECRET3"} {
		o.serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil), http.NotFoundHandler())
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Errorf("a mailed link's secret is logged:\n%s", logs.String())
	}
	for _, s := range spans.Ended() {
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.String(), "SECRET") {
				t.Errorf("span %q holds %s=%s", s.Name(), a.Key, a.Value.String())
			}
		}
	}
}
