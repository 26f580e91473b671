package e2e

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/keelhq/keel/cmd/keel/bootstrap"
)

// startInProcess runs bootstrap.Run, the same code as the binary, on port 0
// and returns its base URL and a stop function that cancels the run and
// returns Run's error.
func startInProcess(t *testing.T, env map[string]string) (string, *logLines, func() error) {
	t.Helper()
	logs := newLogLines()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bootstrap.Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, nil, logs, logs)
	}()
	var base string
	select {
	case base = <-logs.listening:
		base = "http://" + base
	case err := <-done:
		cancel()
		t.Fatalf("serve exited early: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start:\n%s", logs)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30s")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return base, logs, stop
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
	if l := logs.find("listening"); l["database"] != "sqlite" {
		t.Fatalf("listening line = %v, want database sqlite", l)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
	if logs.await("stopped") == nil {
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

	// Hold SQLite's write lock so that GET /v1/instance, which writes,
	// waits inside its transaction: a request provably in flight.
	locker, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "keel.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	conn, err := locker.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		status int
		err    error
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/v1/instance")
		if err != nil {
			answered <- result{err: err}
			return
		}
		resp.Body.Close()
		answered <- result{status: resp.StatusCode}
	}()
	time.Sleep(300 * time.Millisecond) // let the request reach the lock

	stopErr := make(chan error, 1)
	go func() { stopErr <- stop() }()
	// Shutdown has begun once it is logged, and its first step closes
	// the listener: wait for both rather than for time to pass.
	if logs.await("shutting down") == nil {
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
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}

	if r := <-answered; r.err != nil || r.status != http.StatusOK {
		t.Fatalf("in-flight request: status %d, err %v", r.status, r.err)
	}
	if err := <-stopErr; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if logs.await("shutting down") == nil || logs.await("stopped") == nil {
		t.Fatalf("shutdown not logged:\n%s", logs)
	}
}
