package httpapi

import (
	"encoding/json"
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
// (the /v1 API, the probes, /metrics) has no operation in the OpenAPI document (api/openapi.yaml), and
// when an operation names a method and path no route serves, listing every
// mismatch: the document is the contract partners build on, so it may
// neither hide a route nor promise one that does not exist.
func TestEveryRouteHasAnOperation(t *testing.T) {
	t.Parallel()
	doc, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("read the OpenAPI document: %v", err)
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

	// The forms fixture wires every service, as bootstrap does, so every
	// route registers but /metrics, which a server has when it is given
	// a metrics handler; routes only register, so nothing else is needed.
	f := newFormsFixture(t, fixtureOptions{})
	withMetrics := New(Config{Logger: slog.New(slog.DiscardHandler), Metrics: http.NotFoundHandler()})
	routes := map[Route]bool{}
	var missing []string
	for _, r := range append(f.srv.Routes(), withMetrics.Routes()...) {
		op := Route{Method: r.Method, Path: openAPIPath(r.Path)}
		if routes[op] {
			continue
		}
		routes[op] = true
		if !operations[op] {
			missing = append(missing, op.Method+" "+op.Path)
		}
	}
	var extra []string
	for op := range operations {
		if !routes[op] {
			extra = append(extra, op.Method+" "+op.Path)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	for _, op := range missing {
		t.Errorf("%s is served but has no operation in api/openapi.yaml: document it", op)
	}
	for _, op := range extra {
		t.Errorf("api/openapi.yaml describes %s, which no route serves: remove it or add the route", op)
	}
	if !routes[Route{Method: http.MethodGet, Path: "/v1/workspaces/{ws}/forms/{form}"}] {
		t.Fatal("the server did not register every service's routes")
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
