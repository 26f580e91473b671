package client_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// directive is doc.go's go:generate line, which this test reruns so that
// make generate and the check can never disagree on the command.
var directive = regexp.MustCompile(`(?m)^//go:generate (.+)$`)

// TestGeneratedClientIsCurrent regenerates the client from
// api/openapi.yaml into a temporary directory and fails when it differs
// from the committed client.gen.go: a change to the document must come
// with make generate. The generator is fetched through the Go module
// proxy at the pinned version (go run also asks the proxy whether the
// module is deprecated, so GOPROXY=off does not do); nothing else is
// needed.
func TestGeneratedClientIsCurrent(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	m := directive.FindSubmatch(src)
	if m == nil {
		t.Fatal("doc.go has no go:generate line")
	}
	args := strings.Fields(string(m[1]))
	out := filepath.Join(t.TempDir(), "client.gen.go")
	replaced := false
	for i := range args[:len(args)-1] {
		if args[i] == "-o" {
			args[i+1], replaced = out, true
		}
	}
	if !replaced || args[0] != "go" {
		t.Fatalf("doc.go's go:generate line %q does not run go with -o", m[1])
	}
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("client/client.gen.go is stale: api/openapi.yaml generates something else (%d bytes, committed %d, first difference at line %d); run make generate and commit the result",
			len(want), len(got), firstDifference(got, want))
	}
}

// firstDifference returns the first line (from 1) on which a and b differ.
func firstDifference(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
