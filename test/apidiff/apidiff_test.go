// Package apidiff proves make api-diff: it runs the same command on
// copies of the OpenAPI document changed the ways a client would notice,
// and on the document as it is against the last release.
package apidiff

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/keelhq/keel/api"
)

// root is the repository, where make runs.
var root = filepath.Join("..", "..")

// apiDiff runs make api-diff on revision against base (empty: the last
// release) and returns its output and whether it passed.
func apiDiff(t *testing.T, revision, base string) (string, bool) {
	t.Helper()
	args := []string{"-s", "api-diff"}
	if revision != "" {
		args = append(args, "API_REVISION="+revision)
	}
	if base != "" {
		args = append(args, "API_BASE="+base)
	}
	cmd := exec.CommandContext(t.Context(), "make", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return string(out), err == nil
}

// document is api/openapi.yaml as a YAML tree that the cases edit.
func document(t *testing.T) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(api.YAML(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// write saves doc in the test's directory and returns its absolute path.
func write(t *testing.T, name string, doc *yaml.Node) string {
	t.Helper()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// get returns the value under key in mapping m, or fails t.
func get(t *testing.T, m *yaml.Node, keys ...string) *yaml.Node {
	t.Helper()
	for _, key := range keys {
		var found *yaml.Node
		for i := 0; m.Kind == yaml.MappingNode && i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				found = m.Content[i+1]
			}
		}
		if found == nil {
			t.Fatalf("the document has no %q (in %v)", key, keys)
		}
		m = found
	}
	return m
}

// remove deletes key from mapping m, or fails t.
func remove(t *testing.T, m *yaml.Node, key string) {
	t.Helper()
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
	t.Fatalf("the document has no %q to remove", key)
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

func TestAPIDiff(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not on PATH")
	}
	unchanged := write(t, "unchanged.yaml", document(t))

	t.Run("the document against itself passes", func(t *testing.T) {
		if out, ok := apiDiff(t, "api/openapi.yaml", unchanged); !ok {
			t.Fatalf("failed:\n%s", out)
		}
	})

	t.Run("the document against the last release passes", func(t *testing.T) {
		if out, ok := apiDiff(t, "", ""); !ok {
			t.Fatalf("api/openapi.yaml breaks a client of the last release; restore what it removed or narrowed, "+
				"or deprecate first (README, Versioning):\n%s", out)
		}
	})

	t.Run("a removed operation fails", func(t *testing.T) {
		doc := document(t)
		remove(t, get(t, doc, "paths"), "/v1/instance")
		out, ok := apiDiff(t, write(t, "removed.yaml", doc), unchanged)
		if ok || !strings.Contains(out, "api-path-removed") || !strings.Contains(out, "GET /v1/instance") {
			t.Fatalf("passed=%v, want a failure naming GET /v1/instance's removal:\n%s", ok, out)
		}
	})

	t.Run("a new required request field fails", func(t *testing.T) {
		doc := document(t)
		schema := get(t, doc, "paths", "/v1/workspaces", "post", "requestBody", "content", "application/json", "schema")
		if ref := schema.Content; len(ref) == 2 && ref[0].Value == "$ref" {
			name := strings.TrimPrefix(ref[1].Value, "#/components/schemas/")
			schema = get(t, doc, "components", "schemas", name)
		}
		props := get(t, schema, "properties")
		props.Content = append(props.Content, scalar("region"), &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{scalar("type"), scalar("string")}})
		var required *yaml.Node
		for i := 0; i+1 < len(schema.Content); i += 2 {
			if schema.Content[i].Value == "required" {
				required = schema.Content[i+1]
			}
		}
		if required == nil {
			required = &yaml.Node{Kind: yaml.SequenceNode}
			schema.Content = append(schema.Content, scalar("required"), required)
		}
		required.Content = append(required.Content, scalar("region"))
		out, ok := apiDiff(t, write(t, "required.yaml", doc), unchanged)
		if ok || !strings.Contains(out, "new-required-request-property") || !strings.Contains(out, "region") {
			t.Fatalf("passed=%v, want a failure naming the new required field region:\n%s", ok, out)
		}
	})

	t.Run("a new value in a documented set passes", func(t *testing.T) {
		doc := document(t)
		enum := get(t, doc, "components", "schemas", "EventType", "enum")
		enum.Content = append(enum.Content, scalar("invoice.paid"))
		out, ok := apiDiff(t, write(t, "enum.yaml", doc), unchanged)
		if !ok || !strings.Contains(out, "invoice.paid") {
			t.Fatalf("passed=%v, want a pass that warns about the new event type:\n%s", ok, out)
		}
	})

	t.Run("a change outside /v1 passes", func(t *testing.T) {
		doc := document(t)
		remove(t, get(t, doc, "paths"), "/metrics")
		if out, ok := apiDiff(t, write(t, "metrics.yaml", doc), unchanged); !ok {
			t.Fatalf("removing /metrics, which is for operators, failed:\n%s", out)
		}
	})
}
