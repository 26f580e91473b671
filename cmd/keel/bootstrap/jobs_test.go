package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// logWatch collects a process's JSON log lines and closes listening when
// the "listening" line arrives. The process's writer hands it whole
// lines, one per Write.
type logWatch struct {
	mu        sync.Mutex
	b         bytes.Buffer
	listening chan struct{}
	once      sync.Once
}

func newLogWatch() *logWatch { return &logWatch{listening: make(chan struct{})} }

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte(`"msg":"listening"`)) {
		w.once.Do(func() { close(w.listening) })
	}
	return w.b.Write(p)
}

// messages returns the logged lines whose msg is msg, in order.
func (w *logWatch) messages(t *testing.T, msg string) []map[string]any {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(w.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue // the console mailer's output, say
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// serveOnce runs keel serve with e until it listens, then stops it and
// returns its log once it has returned: every job it ran has stopped.
func serveOnce(t *testing.T, e map[string]string) *logWatch {
	t.Helper()
	env := map[string]string{"KEEL_HTTP_ADDR": "127.0.0.1:0", "KEEL_ADMIN_ADDR": "127.0.0.1:0"}
	for k, v := range e {
		env[k] = v
	}
	logs := newLogWatch()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, nil, logs, logs) }()
	select {
	case <-logs.listening:
	case err := <-done:
		t.Fatalf("serve returned before listening: %v\n%s", err, logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not start:\n%s", logs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve = %v after its context ended, want nil\n%s", err, logs)
	}
	return logs
}

// stoppedJobs lists the jobs whose stop serve logged, sorted.
func stoppedJobs(t *testing.T, logs *logWatch) []string {
	t.Helper()
	var names []string
	for _, m := range logs.messages(t, "job stopped") {
		name, _ := m["job"].(string)
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Serve's background loops all run under its job runner: cancelling
// serve's context stops every one of them, and serve returns only once
// they have returned.
func TestServeStopsEveryJob(t *testing.T) {
	t.Parallel()
	logs := serveOnce(t, map[string]string{"KEEL_DATA_DIR": t.TempDir()})
	want := []string{"admin server", "blob sweep", "cache invalidation", "change watch", "dispatcher", "http server", "idempotency purge", "mail prune", "media file sweep", "policy poller", "retention", "scheduler", "submission file sweep", "usage writer"}
	if got := stoppedJobs(t, logs); !slices.Equal(got, want) {
		t.Fatalf("serve stopped the jobs %v, want %v\n%s", got, want, logs)
	}
	if len(logs.messages(t, "stopped")) != 1 {
		t.Fatalf("serve did not log stopped:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `"msg":"shutting down"`) {
		t.Errorf("serve did not log shutting down:\n%s", logs)
	}
}
