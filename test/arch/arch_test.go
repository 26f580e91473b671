// Package arch checks Keel's dependency rule: the hexagon's layers import
// only inward, and adapters never import each other. Test files follow the
// same rule, with the few fixtures listed in testFixtures.
package arch

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/keelhq/keel"

type pkg struct {
	ImportPath                string
	Imports                   []string
	TestImports, XTestImports []string
	Standard                  bool
}

// TestDependencyRule lists every package of the module with go list and
// checks each import against forbidden. Run with -count=1: the test cache
// cannot see what go list reads.
func TestDependencyRule(t *testing.T) {
	t.Parallel()
	std, ours := loadPackages(t)
	for _, p := range ours {
		for _, imp := range p.Imports {
			if why := forbidden(p.ImportPath, imp, std[imp]); why != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
			}
		}
	}
}

// TestTestDependencyRule checks the imports of every package's test
// files, internal and external, against forbiddenInTest.
func TestTestDependencyRule(t *testing.T) {
	t.Parallel()
	std, ours := loadPackages(t)
	used := map[string]bool{}
	for _, p := range ours {
		for _, imp := range slices.Concat(p.TestImports, p.XTestImports) {
			used[rel(p.ImportPath)+" "+rel(imp)] = true
			if why := forbiddenInTest(p.ImportPath, imp, std[imp]); why != "" {
				t.Errorf("tests of %s import %s: %s", p.ImportPath, imp, why)
			}
		}
	}
	// An exception nobody needs any more would quietly widen the rule.
	for from, imps := range pendingFixtures {
		for _, imp := range imps {
			if !used[from+" "+imp] {
				t.Errorf("tests of %s no longer import %s: delete it from pendingFixtures", from, imp)
			}
		}
	}
}

// TestBinaryWithoutOpenAPIValidation checks that the keel binary links no
// OpenAPI library: validating requests and responses against the contract
// is a test-only middleware and must cost production nothing.
func TestBinaryWithoutOpenAPIValidation(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", module+"/cmd/keel").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"/adapters/httpapi") {
		t.Fatalf("go list found no HTTP adapter among the binary's %d packages", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/getkin/") || strings.HasPrefix(d, module+"/api/openapitest") {
			t.Errorf("the keel binary links %s, which only tests may", d)
		}
	}
}

var (
	listOnce  sync.Once
	listStd   map[string]bool
	listOurs  []pkg
	listError string
)

// loadPackages runs go list once for both tests: every package of the
// module, and every package they and their tests depend on, so that std
// knows the standard packages only tests import ("testing", say).
func loadPackages(t *testing.T) (map[string]bool, []pkg) {
	t.Helper()
	listOnce.Do(func() {
		cmd := exec.Command("go", "list", "-deps", "-test", "-json", module+"/...")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			listError = "go list: " + err.Error() + "\n" + stderr.String()
			return
		}
		listStd = map[string]bool{}
		for dec := json.NewDecoder(bytes.NewReader(out)); dec.More(); {
			var p pkg
			if err := dec.Decode(&p); err != nil {
				listError = err.Error()
				return
			}
			listStd[p.ImportPath] = p.Standard
			// -test adds the test variants ("p [p.test]") and the test
			// mains ("p.test"); the plain package carries the test imports.
			variant := strings.Contains(p.ImportPath, " ") || strings.HasSuffix(p.ImportPath, ".test")
			if strings.HasPrefix(p.ImportPath, module+"/") && !variant {
				listOurs = append(listOurs, p)
			}
		}
	})
	if listError != "" {
		t.Fatal(listError)
	}
	if len(listOurs) < 5 {
		t.Fatalf("go list found only %d of our packages", len(listOurs))
	}
	return listStd, listOurs
}

func rel(p string) string   { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }
func layer(p string) string { l, _, _ := strings.Cut(p, "/"); return l }

// forbidden returns why from may not import imp, or "" when it may.
func forbidden(from, imp string, impIsStd bool) string {
	f, i := rel(from), rel(imp)
	ownImport := strings.HasPrefix(imp, module+"/")

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
	case "api":
		// The contract is embedded in the binary: the document's package
		// may use only the YAML library that converts it to JSON. Its
		// test helpers (api/openapitest) validate against it and are
		// imported only by tests, so they may use an OpenAPI library.
		if f == "api" && !impIsStd && imp != "go.yaml.in/yaml/v3" {
			return "api may import only the standard library and go.yaml.in/yaml/v3"
		}
		if ownImport && i != "api" {
			return "api's packages may import only api of ours"
		}
	case "adapters":
		if ownImport && layer(i) == "api" && (adapter(f) != "httpapi" || i != "api") {
			return "only the HTTP adapter serves the contract, and validation is test-only"
		}
		// adapters/internal holds building blocks several adapters share
		// (composing a MIME message, say); they are not adapters themselves.
		if ownImport && layer(i) == "adapters" && adapter(f) != adapter(i) && adapter(i) != "internal" {
			return "adapters must not import each other"
		}
		// The console is the second driving adapter: server-rendered
		// pages over the same use cases.
		if ownImport && layer(i) == "application" && adapter(f) != "httpapi" && adapter(f) != "console" {
			return "only the HTTP adapter and the console drive the application"
		}
		if ownImport && (layer(i) == "cmd" || layer(i) == "test") {
			return "adapters must not import the binary or test helpers"
		}
	}
	return ""
}

// testFixtures is what test files may import of ours beyond what their
// package's code may: by layer ("application", "adapters"), or by adapter
// ("adapters/httpapi"). Tests above storage run on the real engine
// (sqlstore over SQLite, a template copy from sqlitetest), the real
// authorizer, hasher, rate limiters and blob store, and doubles only of outside
// systems (inmem's mailer); contract suites run on containers. Nothing
// else is a fixture: an application test does not drive HTTP, and a
// domain test imports nothing of ours but domain.
var testFixtures = map[string][]string{
	"application": {
		"adapters/sqlstore", "adapters/sqlstore/sqlitetest",
		"adapters/casbinauthz", "adapters/argon2id", "adapters/ratelimit",
		"adapters/blobfs", // the real blob store, in a temporary directory
		"adapters/inmem",  // the mailer double
	},
	"adapters": {
		"adapters/sqlstore", "adapters/sqlstore/sqlitetest",
		"test/containers", "test/mailpit", "test/s3server", "test/testdb",
	},
	// The HTTP tests wire the services as bootstrap does.
	// They validate every request and response against the contract.
	// The media library's files go to a temporary directory (blobfs),
	// through the real image code (mediaimage).
	"adapters/httpapi": {"adapters/casbinauthz", "adapters/argon2id", "adapters/ratelimit", "adapters/markdown", "api/openapitest",
		"adapters/blobfs", "adapters/mediaimage"},
	// The console's tests wire the services as bootstrap does.
	"adapters/console": {"adapters/casbinauthz", "adapters/argon2id", "adapters/ratelimit", "adapters/markdown"},
}

// pendingFixtures are test imports that testFixtures does not allow and
// that only await the move of every test above storage to sqlitetest
// (issue 10, section 1); delete each entry when its tests are converted.
var pendingFixtures = map[string][]string{}

// forbiddenInTest returns why the test files of from may not import imp,
// or "" when they may: what the package's code may import, its fixtures,
// and, in application tests, the OpenTelemetry SDK, to observe spans and
// metrics.
func forbiddenInTest(from, imp string, impIsStd bool) string {
	if imp == from {
		return "" // an external test package (package x_test) imports the package it tests
	}
	why := forbidden(from, imp, impIsStd)
	if why == "" {
		return ""
	}
	f, i := rel(from), rel(imp)
	if strings.HasPrefix(imp, module+"/") {
		for _, key := range []string{layer(f), layer(f) + "/" + adapter(f)} {
			if slices.Contains(testFixtures[key], i) {
				return ""
			}
		}
		if slices.Contains(pendingFixtures[f], i) {
			return ""
		}
		return why + ", and tests may not either (testFixtures)"
	}
	if layer(f) == "application" && strings.HasPrefix(imp, "go.opentelemetry.io/otel/sdk") {
		return ""
	}
	return why
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
