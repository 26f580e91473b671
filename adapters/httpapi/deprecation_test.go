package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/api"
)

// TestDeprecatedOperationAnnouncesItself calls the deprecated spelling of
// webhook secret rotation: it still works, and its answers, a refusal
// included, carry Deprecation, Sunset and the links to the reference and
// to the successor, which answers the same without them.
func TestDeprecatedOperationAnnouncesItself(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	hook := f.createWebhook(t, "acme", map[string]any{"url": "https://hooks.example.com/keel", "events": []string{"*"}})
	base := "/v1/workspaces/acme/webhooks/" + hook.ID
	announces := func(t *testing.T, w *httptest.ResponseRecorder) {
		t.Helper()
		hd := w.Header()
		if got := hd.Get("Deprecation"); got != "@1796256000" { // 2026-12-03T00:00:00Z
			t.Errorf("Deprecation = %q, want @1796256000", got)
		}
		if got := hd.Get("Sunset"); got != "Thu, 03 Jun 2027 00:00:00 GMT" {
			t.Errorf("Sunset = %q, want Thu, 03 Jun 2027 00:00:00 GMT", got)
		}
		want := []string{`</v1/docs>; rel="deprecation"; type="text/html"`, "<" + base + `/rotate>; rel="successor-version"`}
		if got := hd.Values("Link"); !slices.Equal(got, want) {
			t.Errorf("Link = %q, want %q", got, want)
		}
	}

	w := f.api(t, http.MethodPost, base+"/rotate-secret", nil)
	old := decodeBody[rotateSecretResponse](t, w, http.StatusOK)
	announces(t, w)
	w = f.api(t, http.MethodPost, base+"/rotate", nil)
	successor := decodeBody[rotateSecretResponse](t, w, http.StatusOK)
	if successor.ID != hook.ID || successor.Secret == old.Secret || !strings.HasPrefix(successor.Secret, "whsec_") {
		t.Errorf("rotate = %+v after rotate-secret %+v: want the endpoint with another new secret", successor, old)
	}
	if got := keysOf(t, w.Body.Bytes()); !slices.Equal(got, keysOf(t, f.api(t, http.MethodPost, base+"/rotate-secret", nil).Body.Bytes())) {
		t.Errorf("rotate answers members %v, unlike rotate-secret", got)
	}
	for _, h := range []string{"Deprecation", "Sunset", "Link"} {
		if v := w.Header().Values(h); v != nil {
			t.Errorf("the successor answers %s: %q", h, v)
		}
	}

	// Refusals say it too: a client that only ever sees an error still
	// learns that the operation is going away.
	w = f.api(t, http.MethodPost, "/v1/workspaces/acme/webhooks/whk_missing/rotate-secret", nil)
	decodeProblemCode(t, w, http.StatusNotFound, "not_found")
	if got := w.Header().Get("Deprecation"); got != "@1796256000" {
		t.Errorf("404: Deprecation = %q", got)
	}
	w = f.invalid().api(t, http.MethodPost, base+"/rotate-secret?force=1", nil)
	decodeProblemCode(t, w, http.StatusBadRequest, "unknown_parameter")
	announces(t, w)
}

// TestDeprecationsKeepTheirPromises checks every entry of deprecated: it
// names a route the server serves, its successor is served with the same
// method and is not deprecated itself, and its sunset is at least six
// months after its deprecation, as the README promises.
func TestDeprecationsKeepTheirPromises(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	served := map[Route]bool{}
	for _, r := range f.srv.Routes() {
		served[r] = true
	}
	if len(deprecated) == 0 {
		t.Fatal("no deprecated operation: the marker would go untested")
	}
	for r, d := range deprecated {
		if !served[r] {
			t.Errorf("%s %s is deprecated but not served: remove it from deprecated when its route goes", r.Method, r.Path)
		}
		if next := (Route{r.Method, d.successor}); !served[next] || deprecated[next] != nil {
			t.Errorf("%s %s: successor %s is not served, or deprecated too", r.Method, r.Path, d.successor)
		}
		if d.sunset.Before(d.since.AddDate(0, 6, 0)) {
			t.Errorf("%s %s: sunset %s is less than six months after %s", r.Method, r.Path, d.sunset, d.since)
		}
		if d.since.Location() != time.UTC || d.since.Truncate(24*time.Hour) != d.since || d.sunset.Truncate(24*time.Hour) != d.sunset {
			t.Errorf("%s %s: want days in UTC, got %s and %s", r.Method, r.Path, d.since, d.sunset)
		}
	}
}

// TestDeprecatedRoutesMatchTheDocument fails unless the operations the
// OpenAPI document marks deprecated: true are exactly the routes that
// announce their deprecation, so that neither a reader of the document
// nor a client reading headers misses one.
func TestDeprecatedRoutesMatchTheDocument(t *testing.T) {
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
	var inDocument []string
	for path, item := range d.Paths {
		for method, raw := range item {
			var op struct {
				Deprecated bool `json:"deprecated"`
			}
			if json.Unmarshal(raw, &op) == nil && op.Deprecated { // path-level members (parameters) are not objects with deprecated
				inDocument = append(inDocument, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var inCode []string
	for r := range deprecated {
		inCode = append(inCode, r.Method+" "+openAPIPath(r.Path))
	}
	slices.Sort(inDocument)
	slices.Sort(inCode)
	if !slices.Equal(inDocument, inCode) {
		t.Errorf("deprecated: true in api/openapi.yaml on %q, but the routes announcing a deprecation (deprecation.go) are %q", inDocument, inCode)
	}
}
