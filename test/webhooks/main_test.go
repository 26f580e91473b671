// Package webhooks checks issue 11's webhook guarantees on the real keel
// binary: retries until a receiver answers, endpoints disabled when their
// receiver stays down (and their owners told by mail), a process killed
// with SIGKILL in the middle of 1,000 deliveries, two workers sharing one
// PostgreSQL, and the example receivers of examples/webhook-receiver, which
// the README shows, verifying real deliveries.
//
// The receivers run in this test process, on loopback only, and verify
// every signature with the specification's own Go library
// (github.com/standard-webhooks/standard-webhooks/libraries/go), never
// with Keel's signer.
package webhooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/mailpit"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.SetDefaults()
	code := m.Run()
	_ = testdb.Stop()
	_ = mailpit.Stop()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// The keel binary, built once per test binary by keelBinary. TestMain
// removes it after m.Run, when no test can build it any more.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func keelBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "keel-webhooks-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "keel")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/keelhq/keel/cmd/keel").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// engine is a database a test runs on: a fresh one per call.
type engine struct {
	name string
	url  func(t *testing.T) string
}

var engines = []engine{
	{"SQLite", testdb.SQLite},
	{"PostgreSQL", testdb.EmptyPostgres},
}

// baseEnv is every keel process's configuration here: receivers on
// loopback over plain HTTP are allowed, as the README says for
// development; retries come back within milliseconds rather than 30 s;
// the submission rate limits are far above the tests' bursts from one IP.
func baseEnv(t *testing.T, dbURL string) []string {
	return []string{
		"KEEL_DATABASE_URL=" + dbURL,
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8",
		"KEEL_WEBHOOK_ALLOW_HTTP=true",
		"KEEL_WEBHOOK_RETRY_BASE=50ms",
		"KEEL_SUBMIT_PER_IP=1000000",
		"KEEL_SUBMIT_PER_FORM=1000000",
		"KEEL_IP_HASH_KEY=webhooks-tests-ip-hash-key",
		"KEEL_SHUTDOWN_TIMEOUT=10s",
	}
}

// proc is one keel process: `keel serve` on a loopback port or `keel
// worker`.
type proc struct {
	name   string
	base   string // serve's URL, once listening
	cmd    *exec.Cmd
	out    *output
	stderr *lockedBuffer
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// startServe starts `keel serve` and waits until it answers /readyz.
func startServe(t *testing.T, name, dbURL string, env ...string) *proc {
	t.Helper()
	p := startProc(t, name, append(baseEnv(t, dbURL), env...), "serve", "--http-addr", "127.0.0.1:0")
	line := p.waitLog(t, "listening", 30*time.Second)
	addr, _ := line["addr"].(string)
	p.base = "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, _, err := p.call(t.Context(), "GET", "/readyz", "", nil); err == nil && status == http.StatusOK {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready within 10s:\n%s", name, p.out)
		}
	}
}

// startWorker starts `keel worker` and waits for its first log line
// after start-up, "delivering mail", which it writes once its
// dispatchers run.
func startWorker(t *testing.T, name, dbURL string, env ...string) *proc {
	t.Helper()
	p := startProc(t, name, append(baseEnv(t, dbURL), env...), "worker")
	p.waitLog(t, "delivering mail", 30*time.Second)
	return p
}

func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &output{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(keelBinary(t), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); p.out.flush(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *proc) waitLog(t *testing.T, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		if line := p.out.find(msg); line != nil {
			return line
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) before logging %q\nstderr: %s\nstdout:\n%s", p.name, p.err, msg, p.stderr, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged no %q within %v:\n%s", p.name, msg, timeout, p.out)
		}
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would:
// no shutdown, leases and connections simply abandoned.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.exited
}

// stop sends SIGTERM and checks a clean exit: status 0, a stopped line,
// nothing on stderr.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30s of SIGTERM", p.name)
	}
	if p.err != nil || p.out.find("stopped") == nil || p.stderr.Len() > 0 {
		t.Fatalf("%s after SIGTERM: exit %v\nstderr: %s\nstdout:\n%s", p.name, p.err, p.stderr, p.out)
	}
}

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
}

// call sends a JSON request (no body when body is nil) with a bearer token
// (none when token is empty). It returns an error rather than failing a
// test, so that posting goroutines can use it.
func (p *proc) call(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
	return p.callTraced(ctx, method, path, token, "", body)
}

// callTraced is call with a W3C traceparent header, as a client that
// traces its own requests sends, when traceparent is not "".
func (p *proc) callTraced(ctx context.Context, method, path, token, traceparent string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// mustCall is call that fails t unless the status is want, and decodes the
// body into into when it is not nil.
func (p *proc) mustCall(t *testing.T, method, path, token string, body any, want int, into any) {
	t.Helper()
	status, out, err := p.call(t.Context(), method, path, token, body)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", p.name, method, path, err)
	}
	if status != want {
		t.Fatalf("%s: %s %s = %d %s, want %d", p.name, method, path, status, out, want)
	}
	if into != nil {
		if err := json.Unmarshal(out, into); err != nil {
			t.Fatalf("%s: %s %s: decode %s: %v", p.name, method, path, out, err)
		}
	}
}

// output keeps a process's standard output: its JSON log lines, and the
// IDs of the deliveries its messaging.DeliverWebhook spans say it sent
// when the process exports traces to stdout.
type output struct {
	mu        sync.Mutex
	partial   []byte
	logs      []map[string]any
	raw       strings.Builder // log lines only; spans would swamp it
	delivered []string        // keel.delivery.id of each messaging.DeliverWebhook span that sent
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.line(o.partial[:i])
		o.partial = o.partial[i+1:]
	}
	return len(b), nil
}

func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.partial) > 0 {
		o.line(o.partial)
		o.partial = nil
	}
}

// span is the part of a stdouttrace span the tests read.
type span struct {
	Name       string
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (o *output) line(b []byte) {
	if bytes.HasPrefix(b, []byte(`{"Name":`)) {
		var s span
		if json.Unmarshal(b, &s) != nil {
			return
		}
		if s.Name != "messaging.DeliverWebhook" {
			return
		}
		attrs := map[string]any{}
		for _, a := range s.Attributes {
			attrs[a.Key] = a.Value.Value
		}
		if attrs["keel.delivery.status"] == "sent" {
			id, _ := attrs["keel.delivery.id"].(string)
			o.delivered = append(o.delivered, id)
		}
		return
	}
	o.raw.Write(b)
	o.raw.WriteByte('\n')
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		o.logs = append(o.logs, m)
	}
}

func (o *output) find(msg string) map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.logs {
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}

func (o *output) sent() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.delivered...)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.raw.String()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// site is an instance set up for a test: its owner, whose address is
// unique to the run so that the shared Mailpit's search finds only this
// test's mail, a workspace and a form with one field, n.
type site struct {
	token, owner, ws, wsID, form string
}

func newSite(t *testing.T, p *proc) site {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := site{ws: "site", owner: "owner-" + hex.EncodeToString(b) + "@site.test"}
	var setup struct{ Token string }
	p.mustCall(t, "POST", "/v1/setup", "", map[string]any{"email": s.owner, "password": "correct horse battery", "name": "Owner"}, 201, &setup)
	s.token = setup.Token
	var ws struct{ ID string }
	p.mustCall(t, "POST", "/v1/workspaces", s.token, map[string]any{"name": "Site", "slug": s.ws}, 201, &ws)
	s.wsID = ws.ID
	var form struct{ ID string }
	p.mustCall(t, "POST", "/v1/workspaces/"+s.ws+"/forms", s.token, map[string]any{
		"name":   "Load",
		"fields": []map[string]any{{"name": "n", "label": "N", "type": "text", "required": true}},
	}, 201, &form)
	s.form = form.ID
	return s
}

// webhook is an endpoint as the API shows it.
type webhook struct {
	ID                    string     `json:"id"`
	URL                   string     `json:"url"`
	Events                []string   `json:"events"`
	Enabled               bool       `json:"enabled"`
	DisabledReason        *string    `json:"disabled_reason"`
	FailingSince          *time.Time `json:"failing_since"`
	Secret                string     `json:"secret"`
	PreviousSecretExpires *time.Time `json:"previous_secret_expires_at"`
}

// addWebhook creates an endpoint for url subscribed to events and
// returns it with its secret.
func (s site) addWebhook(t *testing.T, p *proc, url string, enabled bool, events ...string) webhook {
	t.Helper()
	var w webhook
	p.mustCall(t, "POST", "/v1/workspaces/"+s.ws+"/webhooks", s.token, map[string]any{
		"url": url, "events": events, "description": "test receiver", "enabled": enabled,
	}, 201, &w)
	if w.ID == "" || !strings.HasPrefix(w.Secret, "whsec_") || w.Enabled != enabled {
		t.Fatalf("POST webhooks answered %+v", w)
	}
	return w
}

func (s site) webhook(t *testing.T, p *proc, id string) webhook {
	t.Helper()
	var w webhook
	p.mustCall(t, "GET", "/v1/workspaces/"+s.ws+"/webhooks/"+id, s.token, nil, 200, &w)
	return w
}

// submit posts submission n as a script would: JSON, answered 201. It
// returns the submission's ID.
func (s site) submit(ctx context.Context, p *proc, n int) (string, error) {
	return s.submitTraced(ctx, p, n, "")
}

// submitTraced is submit with a traceparent header, when it is not "".
func (s site) submitTraced(ctx context.Context, p *proc, n int, traceparent string) (string, error) {
	status, body, err := p.callTraced(ctx, "POST", "/v1/forms/"+s.form+"/submissions", "", traceparent, map[string]any{"n": fmt.Sprint(n)})
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("submission %d: %d %s", n, status, body)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("submission %d: 201 with body %s", n, body)
	}
	return out.ID, nil
}

func (s site) mustSubmit(t *testing.T, p *proc, n int) string {
	t.Helper()
	id, err := s.submit(t.Context(), p, n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// submitAll posts submissions 1..count from workers goroutines and fails
// the test on any error.
func (s site) submitAll(t *testing.T, p *proc, count, workers int) {
	t.Helper()
	ns := make(chan int)
	errs := make(chan error, count)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for n := range ns {
				if _, err := s.submit(t.Context(), p, n); err != nil {
					errs <- err
				}
			}
		})
	}
	for n := 1; n <= count; n++ {
		ns <- n
	}
	close(ns)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// list reads every page of a list endpoint into a slice of T.
func list[T any](t *testing.T, p *proc, token, path string) []T {
	t.Helper()
	var all []T
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for cursor := ""; ; {
		var page struct {
			Data       []T     `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		p.mustCall(t, "GET", path+sep+"limit=100&cursor="+cursor, token, nil, 200, &page)
		all = append(all, page.Data...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all
		}
		cursor = *page.NextCursor
	}
}

// delivery is one entry of an endpoint's delivery log.
type delivery struct {
	ID            string     `json:"id"`
	WebhookID     string     `json:"webhook_id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status"`
	AttemptCount  int        `json:"attempt_count"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	CreatedAt     time.Time  `json:"created_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	Attempts      []attempt  `json:"attempts"`
}

// attempt is one try of a delivery, as its log shows it.
type attempt struct {
	At           time.Time `json:"at"`
	StatusCode   *int      `json:"status_code"`
	LatencyMS    float64   `json:"latency_ms"`
	Error        *string   `json:"error"`
	ResponseBody *string   `json:"response_body"`
}

// deliveries returns endpoint id's delivery log, only those in status
// when it is not "".
func (s site) deliveries(t *testing.T, p *proc, id, status string) []delivery {
	t.Helper()
	path := "/v1/workspaces/" + s.ws + "/webhooks/" + id + "/deliveries"
	if status != "" {
		path += "?status=" + status
	}
	return list[delivery](t, p, s.token, path)
}

// waitDeliveries polls endpoint id's log until none is pending and want
// are sent, and returns the sent ones: only then is every outcome
// recorded and no retry still to come.
func (s site) waitDeliveries(t *testing.T, p *proc, id string, want int, timeout time.Duration) []delivery {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		pending := s.deliveries(t, p, id, "pending")
		var sent []delivery
		if len(pending) == 0 {
			sent = s.deliveries(t, p, id, "sent")
			if len(sent) >= want {
				return sent
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d deliveries pending, %d sent, want none pending and %d sent", timeout, len(pending), len(sent), want)
		}
	}
}
