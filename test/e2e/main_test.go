// Package e2e runs Keel as its users do: the real composition root
// in-process on port 0, and the built binary against PostgreSQL in a
// container, driven over HTTP and stopped with signals.
package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/keelhq/keel/test/keelproc"
)

func TestMain(m *testing.M) {
	keelproc.Main(m)
}

// get fetches url, checked against the OpenAPI document, with the header
// fields given as name, value pairs.
func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := checkedClient(t).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

// problemBody is the part of a problem document the tests check.
type problemBody struct {
	Type    string `json:"type"`
	Status  int    `json:"status"`
	Code    string `json:"code"`
	TraceID string `json:"trace_id"`
}

func expectProblem(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s %s, want %d problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), body, status)
	}
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil || p.Code != code || p.Status != status || len(p.TraceID) != 32 {
		t.Fatalf("problem %s (%v), want code %s", body, err, code)
	}
}
