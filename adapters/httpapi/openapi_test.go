package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/keelhq/keel/api"
)

// get sends a GET without credentials, with headers given as name, value.
func (f *formsFixture) get(t *testing.T, path string, kv ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	return f.serve(req)
}

// TestOpenAPIDocumentIsServed: /v1/openapi.json and /v1/openapi.yaml
// serve the embedded document to any origin, and say the same thing.
func TestOpenAPIDocumentIsServed(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})

	y := f.get(t, "/v1/openapi.yaml", "Origin", "https://tools.example")
	if y.Code != http.StatusOK || y.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("YAML: %d %q", y.Code, y.Header().Get("Content-Type"))
	}
	if y.Body.String() != string(api.YAML()) {
		t.Error("the YAML served is not api/openapi.yaml as written")
	}
	j := f.get(t, "/v1/openapi.json", "Origin", "https://tools.example")
	if j.Code != http.StatusOK || j.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("JSON: %d %q", j.Code, j.Header().Get("Content-Type"))
	}
	for _, w := range []*httptest.ResponseRecorder{y, j} {
		hd := w.Header()
		if hd.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(hd.Get("Access-Control-Expose-Headers"), "ETag") {
			t.Errorf("CORS: Allow-Origin %q, Expose-Headers %q", hd.Get("Access-Control-Allow-Origin"), hd.Get("Access-Control-Expose-Headers"))
		}
		if hd.Get("Cache-Control") != "public, no-cache" {
			t.Errorf("Cache-Control = %q", hd.Get("Cache-Control"))
		}
	}
	if y.Header().Get("ETag") == j.Header().Get("ETag") {
		t.Error("JSON and YAML share an ETag; a strong ETag names one representation")
	}

	// Decoded independently of api.ToJSON, both spellings are one value.
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(y.Body.Bytes(), &fromYAML); err != nil {
		t.Fatalf("YAML: %v", err)
	}
	if err := json.Unmarshal(j.Body.Bytes(), &fromJSON); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	roundTrip, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatalf("YAML as JSON: %v", err)
	}
	var yamlAsJSON any
	if err := json.Unmarshal(roundTrip, &yamlAsJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(yamlAsJSON, fromJSON) {
		t.Error("the JSON and YAML documents differ")
	}
	if doc, _ := fromJSON.(map[string]any); doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
}

// TestOpenAPIRevalidates: a client holding the current ETag gets 304 with
// no body, weak or in a list; an old ETag gets the document.
func TestOpenAPIRevalidates(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	for _, path := range []string{"/v1/openapi.json", "/v1/openapi.yaml", "/v1/docs", "/v1/docs/assets/swagger-ui-bundle.js"} {
		first := f.get(t, path)
		etag := first.Header().Get("ETag")
		if first.Code != http.StatusOK || !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
			t.Fatalf("%s: %d, ETag %q", path, first.Code, etag)
		}
		for _, inm := range []string{etag, "W/" + etag, `"old", ` + etag, "*"} {
			w := f.get(t, path, "If-None-Match", inm)
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
				t.Errorf("%s If-None-Match %s: %d, %d bytes, ETag %q; want 304, none, %s", path, inm, w.Code, w.Body.Len(), w.Header().Get("ETag"), etag)
			}
		}
		if w := f.get(t, path, "If-None-Match", `"old"`); w.Code != http.StatusOK || w.Body.String() != first.Body.String() {
			t.Errorf("%s with an old ETag: %d", path, w.Code)
		}
	}
}

// TestDocsPage: the reference page runs under a strict policy and loads
// only Keel's own assets, each of which is served.
func TestDocsPage(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	w := f.get(t, "/v1/docs")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("docs: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	hd := w.Header()
	csp := hd.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
		}
	}
	if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("X-Content-Type-Options %q, Referrer-Policy %q", hd.Get("X-Content-Type-Options"), hd.Get("Referrer-Policy"))
	}
	page := w.Body.String()
	if strings.Contains(page, "<script>") || strings.Contains(page, "<style") || strings.Contains(page, "style=") {
		t.Error("the page has inline script or style, which its policy refuses")
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	want := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	var assets int
	for _, m := range refs {
		ref := m[1]
		switch {
		case ref == "data:" || ref == "data:,", ref == "/v1/openapi.json":
			continue
		case !strings.HasPrefix(ref, "/v1/docs/assets/"):
			t.Errorf("the page refers to %s, outside Keel's assets", ref)
			continue
		}
		assets++
		a := f.get(t, ref)
		ct := want[ref[strings.LastIndex(ref, "."):]]
		if a.Code != http.StatusOK || a.Header().Get("Content-Type") != ct || a.Header().Get("X-Content-Type-Options") != "nosniff" || a.Body.Len() == 0 {
			t.Errorf("%s: %d %q, %d bytes", ref, a.Code, a.Header().Get("Content-Type"), a.Body.Len())
		}
	}
	if assets != 4 {
		t.Errorf("the page loads %d assets, want Swagger UI's script and stylesheet and its own", assets)
	}
	decodeProblemCode(t, f.get(t, "/v1/docs/assets/LICENSE"), http.StatusNotFound, "not_found")
	decodeProblemCode(t, f.get(t, "/v1/docs/assets/..%2fopenapi.go"), http.StatusNotFound, "not_found")
}

// TestOpenAPIErrorsCarryCORS: a tool on another origin that sends a stale
// token or a stray parameter reads the problem rather than "Failed to
// fetch".
func TestOpenAPIErrorsCarryCORS(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	for _, path := range []string{"/v1/openapi.json", "/v1/openapi.yaml"} {
		w := f.get(t, path, "Origin", "https://tools.example", "Authorization", "Bearer kss_"+strings.Repeat("0", 52))
		decodeProblemCode(t, w, http.StatusUnauthorized, "unauthenticated")
		if w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s 401: Access-Control-Allow-Origin %q, want *", path, w.Header().Get("Access-Control-Allow-Origin"))
		}
		w = f.invalid().get(t, path+"?v=2", "Origin", "https://tools.example")
		decodeProblemCode(t, w, http.StatusBadRequest, "unknown_parameter")
		if w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s 400: Access-Control-Allow-Origin %q, want *", path, w.Header().Get("Access-Control-Allow-Origin"))
		}
	}
}

// TestDocsAssetsGzip: a client that accepts gzip gets the page's assets
// compressed, under an ETag of their own; one that refuses it gets them
// as they are.
func TestDocsAssetsGzip(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	for _, path := range []string{"/v1/docs/assets/swagger-ui-bundle.js", "/v1/docs/assets/swagger-ui.css"} {
		plain := f.get(t, path)
		if plain.Header().Get("Content-Encoding") != "" || !strings.Contains(plain.Header().Get("Vary"), "Accept-Encoding") {
			t.Fatalf("%s without Accept-Encoding: Content-Encoding %q, Vary %q", path, plain.Header().Get("Content-Encoding"), plain.Header().Get("Vary"))
		}
		for _, ae := range []string{"gzip", "br, gzip;q=0.5", "deflate, GZIP"} {
			w := f.get(t, path, "Accept-Encoding", ae)
			if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "gzip" || w.Body.Len() >= plain.Body.Len() {
				t.Fatalf("%s, Accept-Encoding %s: %d, Content-Encoding %q, %d bytes of %d", path, ae, w.Code, w.Header().Get("Content-Encoding"), w.Body.Len(), plain.Body.Len())
			}
			zr, err := gzip.NewReader(w.Body)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(body, plain.Body.Bytes()) {
				t.Fatalf("%s gunzipped: %v, equal %v", path, err, bytes.Equal(body, plain.Body.Bytes()))
			}
			etag := w.Header().Get("ETag")
			if etag == plain.Header().Get("ETag") {
				t.Errorf("%s: the gzipped and plain bodies share the ETag %s", path, etag)
			}
			if nm := f.get(t, path, "Accept-Encoding", ae, "If-None-Match", etag); nm.Code != http.StatusNotModified {
				t.Errorf("%s gzipped with its ETag: %d, want 304", path, nm.Code)
			}
		}
		if w := f.get(t, path, "Accept-Encoding", "gzip;q=0, br"); w.Header().Get("Content-Encoding") != "" || w.Body.Len() != plain.Body.Len() {
			t.Errorf("%s, gzip;q=0: Content-Encoding %q", path, w.Header().Get("Content-Encoding"))
		}
	}
}
