package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keelhq/keel/api"
)

// ginParam is a path parameter as gin spells it: :name, or *name for the
// rest of the path.
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// openAPIPath spells a gin route's path as the OpenAPI document does.
func openAPIPath(ginPath string) string {
	return ginParam.ReplaceAllString(ginPath, "{$1}")
}

// TestEveryRouteHasAnOperation fails when a route the full server serves
// (the /v1 API, the probes, /metrics) has no operation in the OpenAPI
// document (api/openapi.yaml), and when an operation names a method and
// path no route serves, listing every mismatch: the document is the
// contract partners build on, so it may neither hide a route nor promise
// one that does not exist.
func TestEveryRouteHasAnOperation(t *testing.T) {
	t.Parallel()
	doc, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	// The forms fixture wires every service, as bootstrap does, so every
	// route registers but /metrics, which a server has when it is given
	// a metrics handler; routes only register, so nothing else is needed.
	f := newFormsFixture(t, fixtureOptions{})
	withMetrics := New(Config{Logger: slog.New(slog.DiscardHandler), Metrics: http.NotFoundHandler()})
	routes := append(f.srv.Routes(), withMetrics.Routes()...)
	if !slices.Contains(routes, Route{Method: http.MethodGet, Path: "/v1/workspaces/:ws/forms/:form"}) {
		t.Fatal("the server did not register every service's routes")
	}
	missing, extra, err := compareOperations(routes, doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range missing {
		t.Errorf("%s is served but has no operation in api/openapi.yaml: document it", op)
	}
	for _, op := range extra {
		t.Errorf("api/openapi.yaml describes %s, which no route serves: remove it or add the route", op)
	}
}

// compareOperations returns the routes that have no operation in doc (an
// OpenAPI document in JSON) and the operations that have no route, each
// as "METHOD /path" in the document's spelling, sorted.
func compareOperations(routes []Route, doc []byte) (missing, extra []string, err error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, nil, fmt.Errorf("read the OpenAPI document: %w", err)
	}
	operations := map[Route]bool{}
	for path, item := range d.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				operations[Route{Method: strings.ToUpper(method), Path: path}] = true
			}
		}
	}
	served := map[Route]bool{}
	for _, r := range routes {
		op := Route{Method: r.Method, Path: openAPIPath(r.Path)}
		if served[op] {
			continue
		}
		served[op] = true
		if !operations[op] {
			missing = append(missing, op.Method+" "+op.Path)
		}
	}
	for op := range operations {
		if !served[op] {
			extra = append(extra, op.Method+" "+op.Path)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra, nil
}

// TestCompareOperations checks that the coverage test sees a mismatch
// either way, and none where routes and operations agree.
func TestCompareOperations(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"paths":{
		"/v1/forms/{form}/submissions":{"post":{},"options":{},"parameters":[]},
		"/v1/gone":{"get":{}, "summary":"not a method"}}}`)
	routes := []Route{
		{http.MethodPost, "/v1/forms/:form/submissions"},
		{http.MethodOptions, "/v1/forms/:form/submissions"},
		{http.MethodGet, "/v1/docs/assets/*file"},
		{http.MethodGet, "/v1/docs/assets/*file"},
	}
	missing, extra, err := compareOperations(routes, doc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{"GET /v1/docs/assets/{file}"}) || !slices.Equal(extra, []string{"GET /v1/gone"}) {
		t.Errorf("missing %q, extra %q; want [GET /v1/docs/assets/{file}] and [GET /v1/gone]", missing, extra)
	}
}

// TestOpenAPIPath checks the spelling the coverage test compares with.
func TestOpenAPIPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/v1/workspaces/:ws/forms/:form": "/v1/workspaces/{ws}/forms/{form}",
		"/v1/docs/assets/*file":          "/v1/docs/assets/{file}",
		"/v1/me":                         "/v1/me",
		http.MethodGet:                   http.MethodGet,
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}
