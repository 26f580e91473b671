package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keelhq/keel/api"
)

// TestJSONIsTheDocument checks that the served JSON says what the YAML
// says: OpenAPI 3.1, with every path the YAML has.
func TestJSONIsTheDocument(t *testing.T) {
	t.Parallel()
	raw, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the JSON document does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	for _, line := range strings.Split(string(api.YAML()), "\n") {
		if p, ok := strings.CutPrefix(line, "  /"); ok && strings.HasSuffix(p, ":") {
			if _, ok := doc.Paths["/"+strings.TrimSuffix(p, ":")]; !ok {
				t.Errorf("path /%s is in the YAML, not in the JSON", strings.TrimSuffix(p, ":"))
			}
		}
	}
}

// TestToJSON pins the conversion: key order kept, YAML's scalar types
// mapped to JSON's, quoted numbers (response codes) kept as strings, and
// HTML characters left as written.
func TestToJSON(t *testing.T) {
	t.Parallel()
	src := `z: 1
a:
  "200": {description: "<ok> & fine"}
  list: [true, null, 1.5, "2", ~]
b: &x {k: v}
c: *x
`
	got, err := api.ToJSON([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"z":1,"a":{"200":{"description":"<ok> & fine"},"list":[true,null,1.5,"2",null]},"b":{"k":"v"},"c":{"k":"v"}}`
	if string(got) != want {
		t.Errorf("ToJSON =\n%s\nwant\n%s", got, want)
	}
	if !json.Valid(got) {
		t.Error("not valid JSON")
	}
}

// TestToJSONRefuses checks that what JSON cannot say is an error rather
// than a silently different document.
func TestToJSONRefuses(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"a: 1\na: 2\n",       // duplicate key
		"? [a, b]\n: 1\n",    // a key that is not a scalar
		"a: !!binary aGk=\n", // a tag JSON has no type for
		"a: [\n",             // not YAML
		"a: 1\n---\nb: 2\n",  // two documents
	} {
		if out, err := api.ToJSON([]byte(src)); err == nil {
			t.Errorf("ToJSON(%q) = %s, want an error", src, out)
		}
	}
}
