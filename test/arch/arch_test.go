// Package arch checks Keel's dependency rule: the hexagon's layers import
// only inward, and adapters never import each other.
package arch

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/keelhq/keel"

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// TestDependencyRule lists every package of the module with go list and
// checks each import against forbidden. Run with -count=1: the test cache
// cannot see what go list reads.
func TestDependencyRule(t *testing.T) {
	t.Parallel()
	std, ours := loadPackages(t, module+"/...")
	if len(ours) < 5 {
		t.Fatalf("go list found only %d of our packages", len(ours))
	}
	for _, p := range ours {
		for _, imp := range p.Imports {
			if why := forbidden(p.ImportPath, imp, std[imp]); why != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
			}
		}
	}
}

func loadPackages(t *testing.T, pattern string) (map[string]bool, []pkg) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", pattern)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	std, ours := map[string]bool{}, []pkg{}
	for dec := json.NewDecoder(bytes.NewReader(out)); dec.More(); {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		std[p.ImportPath] = p.Standard
		if strings.HasPrefix(p.ImportPath, module+"/") {
			ours = append(ours, p)
		}
	}
	return std, ours
}

// forbidden returns why from may not import imp, or "" when it may.
func forbidden(from, imp string, impIsStd bool) string {
	rel := func(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }
	f, i := rel(from), rel(imp)
	ownImport := strings.HasPrefix(imp, module+"/")
	layer := func(p string) string { l, _, _ := strings.Cut(p, "/"); return l }

	switch layer(f) {
	case "domain":
		if !impIsStd && !(ownImport && layer(i) == "domain") {
			return "domain may import only the standard library"
		}
	case "ports":
		switch {
		case impIsStd, ownImport && layer(i) == "domain":
		case ownImport && f == "ports/porttest" && i == "ports":
		default:
			return "ports may import only domain and the standard library"
		}
	case "application":
		if ownImport {
			switch layer(i) {
			case "domain", "ports":
			case "application":
				// A context may use the shared use-case span package, but
				// never another context: contexts talk through ports.
				if i != "application/usecase" && boundedContext(f) != boundedContext(i) {
					return "application contexts must not import each other"
				}
			default:
				return "application may import only domain, ports and application/usecase"
			}
			return ""
		}
		for _, bad := range []string{"github.com/gin-gonic/", "github.com/casbin/", "database/sql", "go.opentelemetry.io/otel/sdk", "net/http"} {
			if imp == bad || strings.HasPrefix(imp, bad) {
				return "application must not depend on " + bad
			}
		}
	case "adapters":
		// adapters/internal holds building blocks several adapters share
		// (composing a MIME message, say); they are not adapters themselves.
		if ownImport && layer(i) == "adapters" && adapter(f) != adapter(i) && adapter(i) != "internal" {
			return "adapters must not import each other"
		}
		if ownImport && layer(i) == "application" && adapter(f) != "httpapi" {
			return "only the HTTP adapter drives the application"
		}
		if ownImport && (layer(i) == "cmd" || layer(i) == "test") {
			return "adapters must not import the binary or test helpers"
		}
	}
	return ""
}

// boundedContext names an application package's bounded context.
func boundedContext(p string) string { return strings.Split(p, "/")[1] }

// adapter names an adapter package's adapter.
func adapter(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return p
	}
	return parts[1]
}
