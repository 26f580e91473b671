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
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	keelproc.Main(m)
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

// startServe starts `keel serve` and waits until it answers /readyz.
func startServe(t *testing.T, name, dbURL string, env ...string) *keelproc.Proc {
	t.Helper()
	return keelproc.Serve(t, name, append(baseEnv(t, dbURL), env...))
}

// startWorker starts `keel worker` and waits for its first log line
// after start-up, "delivering mail", which it writes once its
// dispatchers run.
func startWorker(t *testing.T, name, dbURL string, env ...string) *keelproc.Proc {
	t.Helper()
	return keelproc.Worker(t, name, append(baseEnv(t, dbURL), env...))
}

// sent returns the IDs of the deliveries w's messaging.DeliverWebhook
// spans say it sent; w exports them only with KEEL_TRACE_EXPORTER=stdout.
func sent(w *keelproc.Proc) []string {
	return w.Out.SpanValues("messaging.DeliverWebhook", "keel.delivery.id", "keel.delivery.status", "sent")
}

// client sends the tests' own requests to receivers.
var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
}

// site is an instance set up for a test: its owner, whose address is
// unique to the run so that the shared Mailpit's search finds only this
// test's mail, a workspace and a form with one field, n.
type site struct {
	token, owner, ws, wsID, form string
}

func newSite(t *testing.T, p *keelproc.Proc) site {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := site{ws: "site", owner: "owner-" + hex.EncodeToString(b) + "@site.test"}
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": s.owner, "password": "correct horse battery", "name": "Owner"}, 201, &setup)
	s.token = setup.Token
	var ws struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces", s.token, map[string]any{"name": "Site", "slug": s.ws}, 201, &ws)
	s.wsID = ws.ID
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/"+s.ws+"/forms", s.token, map[string]any{
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
func (s site) addWebhook(t *testing.T, p *keelproc.Proc, url string, enabled bool, events ...string) webhook {
	t.Helper()
	var w webhook
	p.MustCall(t, "POST", "/v1/workspaces/"+s.ws+"/webhooks", s.token, map[string]any{
		"url": url, "events": events, "description": "test receiver", "enabled": enabled,
	}, 201, &w)
	if w.ID == "" || !strings.HasPrefix(w.Secret, "whsec_") || w.Enabled != enabled {
		t.Fatalf("POST webhooks answered %+v", w)
	}
	return w
}

func (s site) webhook(t *testing.T, p *keelproc.Proc, id string) webhook {
	t.Helper()
	var w webhook
	p.MustCall(t, "GET", "/v1/workspaces/"+s.ws+"/webhooks/"+id, s.token, nil, 200, &w)
	return w
}

// submit posts submission n as a script would: JSON, answered 201. It
// returns the submission's ID.
func (s site) submit(ctx context.Context, p *keelproc.Proc, n int) (string, error) {
	return s.submitTraced(ctx, p, n, "")
}

// submitTraced is submit with a traceparent header, when it is not "".
func (s site) submitTraced(ctx context.Context, p *keelproc.Proc, n int, traceparent string) (string, error) {
	var header []string
	if traceparent != "" {
		header = []string{"traceparent", traceparent}
	}
	status, body, err := p.Call(ctx, "POST", "/v1/forms/"+s.form+"/submissions", "", map[string]any{"n": fmt.Sprint(n)}, header...)
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

func (s site) mustSubmit(t *testing.T, p *keelproc.Proc, n int) string {
	t.Helper()
	id, err := s.submit(t.Context(), p, n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// submitAll posts submissions 1..count from workers goroutines and fails
// the test on any error.
func (s site) submitAll(t *testing.T, p *keelproc.Proc, count, workers int) {
	t.Helper()
	keelproc.Parallel(t, count, workers, func(n int) error {
		_, err := s.submit(t.Context(), p, n)
		return err
	})
}

// list reads every page of a list endpoint into a slice of T.
func list[T any](t *testing.T, p *keelproc.Proc, token, path string) []T {
	t.Helper()
	return keelproc.List[T](t, p, token, path, 100)
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
func (s site) deliveries(t *testing.T, p *keelproc.Proc, id, status string) []delivery {
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
func (s site) waitDeliveries(t *testing.T, p *keelproc.Proc, id string, want int, timeout time.Duration) []delivery {
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
