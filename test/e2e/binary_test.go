package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/api/openapitest"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/testdb"
)

// TestBinaryAgainstPostgres builds the real keel binary, runs it against
// PostgreSQL in a container as an operator would, and stops it with SIGTERM.
func TestBinaryAgainstPostgres(t *testing.T) {
	t.Parallel()
	p := keelproc.Serve(t, "keel", []string{"KEEL_DATABASE_URL=" + testdb.EmptyPostgres(t), "KEEL_DATA_DIR=" + t.TempDir()},
		"--max-body-bytes", "1024")
	base := p.URL
	if l := p.Out.Find("listening"); l["database"] != "postgres" {
		t.Fatalf("listening line = %v, want database postgres", l)
	}
	if p.Out.Find("migration applied") == nil {
		t.Fatalf("no migration logged on an empty database:\n%s", p.Out)
	}

	resp, body := get(t, base+"/healthz")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Fatalf("healthz = %d %s", resp.StatusCode, body)
	}
	get(t, base+"/v1/instance")
	// The metrics are on the admin listener; the public one has none.
	metrics := p.Metrics(t)
	for _, want := range []string{
		`http_server_request_duration_seconds_count{`,
		`http_route="/healthz"`,
		`http_response_status_code="200"`,
		`go_sql_connections_open{db_system="postgres"`,
		`go_sql_query_timing`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, body = get(t, base+"/metrics", openapitest.InvalidHeader, "1") // without the metrics token, on purpose
	expectProblem(t, resp, body, 404, "not_found")
	resp, body = get(t, base+"/v1/no-such-thing", openapitest.InvalidHeader, "1") // no such operation, on purpose
	expectProblem(t, resp, body, 404, "not_found")

	req := strings.NewReader(strings.Repeat("x", 2048))
	post, err := httpPost(base+"/v1/instance", req)
	if err != nil {
		t.Fatal(err)
	}
	expectProblem(t, post.resp, post.body, 413, "body_too_large")

	p.Stop(t)
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := httpClient.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/readyz never answered 200", base)
}

// TestBinaryBadConfigExitsWithOneLine checks what an operator sees when a
// setting is wrong: exit status 1 and a single line, no stack trace.
func TestBinaryBadConfigExitsWithOneLine(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(keelproc.Binary(t), "serve")
	cmd.Env = append(os.Environ(), "KEEL_LOG_LEVEL=loud", "KEEL_DATA_DIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1", err)
	}
	out := stderr.String()
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "keel: KEEL_LOG_LEVEL") || strings.Contains(out, "goroutine") {
		t.Fatalf("stderr = %q, want one line naming KEEL_LOG_LEVEL", out)
	}
}
