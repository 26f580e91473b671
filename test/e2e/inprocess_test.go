package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/keelhq/keel/cmd/keel/bootstrap"
	"github.com/keelhq/keel/test/keelproc"
)

// startInProcess runs bootstrap.Run, the same code as the binary, on port 0
// and returns its base URL, its log lines and a stop function that cancels
// the run and returns Run's error. Run writes its log lines synchronously
// to logs, so once stop has returned they are all there.
func startInProcess(t *testing.T, env map[string]string) (string, *keelproc.Output, func() error) {
	t.Helper()
	logs := keelproc.NewOutput()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var runErr error
	go func() {
		runErr = bootstrap.Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, nil, logs, logs)
		close(exited)
	}()
	line := logs.Wait("listening", 30*time.Second, exited)
	if line == nil {
		cancel()
		select {
		case <-exited:
			t.Fatalf("serve exited early: %v\n%s", runErr, logs)
		default:
			t.Fatalf("serve did not start:\n%s", logs)
		}
	}
	addr, _ := line["addr"].(string)
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case <-exited:
			return runErr
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30s")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + addr, logs, stop
}

func TestZeroConfigurationServesOnSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base, logs, stop := startInProcess(t, map[string]string{"KEEL_DATA_DIR": dir, "KEEL_HTTP_ADDR": "127.0.0.1:0"})

	resp, body := get(t, base+"/healthz")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Fatalf("healthz = %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, base+"/readyz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %d", resp.StatusCode)
	}
	resp, body = get(t, base+"/v1/instance")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id":"ins_`) {
		t.Fatalf("instance = %d %s", resp.StatusCode, body)
	}
	if l := logs.Find("listening"); l["database"] != "sqlite" {
		t.Fatalf("listening line = %v, want database sqlite", l)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
	if logs.Find("stopped") == nil {
		t.Fatalf("no stopped line:\n%s", logs)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	if err := db.QueryRow(`SELECT id FROM instance`).Scan(&id); err != nil || !strings.Contains(string(body), id) {
		t.Fatalf("instance row %q (%v) does not match the API's %s", id, err, body)
	}
}

// A request that is running when shutdown starts finishes and gets its
// answer; the server waits for it before closing the database.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base, logs, stop := startInProcess(t, map[string]string{"KEEL_DATA_DIR": dir, "KEEL_HTTP_ADDR": "127.0.0.1:0"})

	// The request is provably in flight once its handler runs. It asks
	// for "100 Continue" and holds its body back: Go's server sends that
	// interim answer only when the handler starts reading the body, and
	// the handler then waits for the body, which this test sends only
	// once shutdown is under way. POST /v1/setup reads a body and, on a
	// new instance, answers 201.
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	body := `{"email":"eve@example.com","password":"correct horse battery","name":"Eve"}`
	req, err := http.NewRequest(http.MethodPost, base+"/v1/setup", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "POST /v1/setup HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", host, len(body)); err != nil {
		t.Fatal(err)
	}
	replies := bufio.NewReader(conn)
	interim, err := http.ReadResponse(replies, req)
	if err != nil || interim.StatusCode != http.StatusContinue {
		t.Fatalf("before the body: %v, err %v; want 100 Continue", interim, err)
	}

	stopErr := make(chan error, 1)
	go func() { stopErr <- stop() }()
	// Shutdown has begun once it is logged, and its first step closes
	// the listener: wait for both rather than for time to pass.
	if logs.Wait("shutting down", 30*time.Second, nil) == nil {
		t.Fatalf("shutdown not logged:\n%s", logs)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts new connections during shutdown")
		}
	}
	select {
	case err := <-stopErr:
		t.Fatalf("serve stopped (%v) while a request was in flight", err)
	default:
	}

	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatalf("send the body during shutdown: %v", err)
	}
	resp, err := http.ReadResponse(replies, req)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request: status %d %s, want 201", resp.StatusCode, answer)
	}
	if err := <-stopErr; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if logs.Find("stopped") == nil {
		t.Fatalf("stop not logged:\n%s", logs)
	}
}
