// Package jsclient tests the TypeScript client in clients/js against the
// keel binary: it fills a fresh Keel through the API, then has npm install
// the client's locked dependencies and build it, check that its generated
// types match the current OpenAPI document, type-check its examples, and
// run its node tests against that Keel.
package jsclient

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
)

func TestMain(m *testing.M) {
	code := m.Run()
	_ = keelproc.RemoveBinary()
	os.Exit(code)
}

// npmTimeout bounds each npm step: installing from the registry, or from
// npm's cache when it holds the locked versions, takes well under a
// minute; only a hung network reaches it.
const npmTimeout = 5 * time.Minute

const password = "correct horse battery"

func TestTypeScriptClient(t *testing.T) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: scripts/test.sh installs Node.js and npm (apt-get install nodejs npm)", tool)
		}
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "clients", "js"))
	if err != nil {
		t.Fatal(err)
	}

	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": password, "name": "Ada"}, 201, &setup)
	tok := setup.Token
	p.MustCall(t, "POST", "/v1/workspaces", tok, map[string]any{"name": "Docs", "slug": "docs"}, 201, nil)
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/docs/forms", tok, map[string]any{
		"name": "Contact",
		"fields": []map[string]any{
			{"name": "name", "type": "text", "required": true},
			{"name": "email", "type": "email", "required": true},
			{"name": "message", "type": "textarea"},
		},
	}, 201, &form)
	var key struct{ Key string }
	p.MustCall(t, "POST", "/v1/workspaces/docs/api-keys", tok, map[string]any{"name": "node", "scopes": []string{"events:read"}}, 201, &key)
	var post struct{ ID, Slug string }
	p.MustCall(t, "POST", "/v1/workspaces/docs/entries", tok, map[string]any{"kind": "post", "title": "Hello from Keel", "body": "First *post*."}, 201, &post)
	p.MustCall(t, "POST", "/v1/workspaces/docs/entries/"+post.ID+"/publish", tok, nil, 200, nil)

	// npm ci installs exactly package-lock.json and builds dist/ (the
	// prepare script); the checks then run on what it built.
	npm(t, dir, nil, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	npm(t, dir, nil, "run", "check-generated")
	npm(t, dir, nil, "run", "typecheck")
	npm(t, dir, []string{
		"KEEL_URL=" + p.URL, "KEEL_API_KEY=" + key.Key,
		"KEEL_WORKSPACE=docs", "KEEL_FORM=" + form.ID, "KEEL_POST_SLUG=" + post.Slug,
	}, "test")
}

// npm runs npm with args in dir, with env added, and fails t with its
// output unless it succeeds.
func npm(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm %v: %v\n%s", args, err, out)
	}
	t.Logf("npm %v:\n%s", args, out)
}
