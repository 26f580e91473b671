package webhooks

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/testdb"
)

// exampleDir holds the receivers the README shows.
const exampleDir = "../../examples/webhook-receiver"

// exampleReceiver is one of the example receivers, running: what it
// prints, line by line, and the URL it listens on.
type exampleReceiver struct {
	name  string
	url   string
	mu    sync.Mutex
	lines []string
	more  chan struct{}
	done  chan struct{}
}

// startExample runs cmd, an example receiver told its secret and to listen
// on a free loopback port, and waits for its "listening on" line.
func startExample(t *testing.T, name string, cmd *exec.Cmd) *exampleReceiver {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr keelproc.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	r := &exampleReceiver{name: name, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-r.done; _ = cmd.Wait() })
	line := r.waitLine(t, "listening on ", 60*time.Second)
	r.url = "http://" + strings.TrimPrefix(line, "listening on ") + "/hooks/keel"
	if stderr.Len() > 0 {
		t.Logf("%s stderr: %s", name, stderr.String())
	}
	return r
}

// waitLine returns the first line that starts with prefix, waiting for
// each new line, and fails t after timeout.
func (r *exampleReceiver) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		for _, l := range r.lines {
			if strings.HasPrefix(l, prefix) {
				r.mu.Unlock()
				return l
			}
		}
		lines := strings.Join(r.lines, "\n")
		r.mu.Unlock()
		select {
		case <-r.more:
		case <-r.done:
			t.Fatalf("%s exited before printing %q:\n%s", r.name, prefix, lines)
		case <-deadline:
			t.Fatalf("%s printed no %q within %v:\n%s", r.name, prefix, timeout, lines)
		}
	}
}

func (r *exampleReceiver) printed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// goReceiver builds examples/webhook-receiver/main.go, once, and runs it.
func goReceiver(t *testing.T, secret string) *exampleReceiver {
	t.Helper()
	goBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keel-webhook-receiver-")
		if err != nil {
			goBuildErr = err
			return
		}
		goReceiverBin = filepath.Join(dir, "webhook-receiver")
		out, err := exec.Command("go", "build", "-o", goReceiverBin, exampleDir).CombinedOutput()
		if err != nil {
			goBuildErr = fmt.Errorf("go build %s: %v\n%s", exampleDir, err, out)
		}
	})
	if goBuildErr != nil {
		t.Fatal(goBuildErr)
	}
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(goReceiverBin)) })
	cmd := exec.Command(goReceiverBin)
	cmd.Env = append(os.Environ(), "KEEL_WEBHOOK_SECRET="+secret, "LISTEN_ADDR=127.0.0.1:0")
	return startExample(t, "the Go receiver", cmd)
}

var (
	goBuildOnce   sync.Once
	goReceiverBin string
	goBuildErr    error
)

// jsReceiver runs examples/webhook-receiver/receiver.mjs with node, after
// installing its package from package-lock.json with npm ci when
// node_modules lacks it, as on a clean clone. Without node and npm the
// test fails, saying so, as test/webhooksig does.
func jsReceiver(t *testing.T, secret string) *exampleReceiver {
	t.Helper()
	npmOnce.Do(func() { npmErr = npmInstall() })
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	cmd := exec.Command("node", "receiver.mjs")
	cmd.Dir = exampleDir
	cmd.Env = append(os.Environ(), "KEEL_WEBHOOK_SECRET="+secret, "LISTEN_PORT=0")
	return startExample(t, "the JavaScript receiver", cmd)
}

var (
	npmOnce sync.Once
	npmErr  error
)

func npmInstall() error {
	if _, err := os.Stat(filepath.Join(exampleDir, "node_modules", "standardwebhooks", "package.json")); err == nil {
		return nil
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: this test runs the README's JavaScript webhook receiver and needs node and npm (Node 20 or later)", tool)
		}
	}
	// Two minutes bound an install that the registry never answers.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = exampleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in examples/webhook-receiver (installs standardwebhooks from package-lock.json): %v\n%s", err, out)
	}
	return nil
}

// TestExampleReceivers runs the README's two receivers, the Go one and
// the JavaScript one, each behind an endpoint of its own, and checks that
// each verifies what Keel really sends: a test event, a submission's
// event, a test event signed by the old and the new secret during a
// rotation, and a redelivery, which keeps its webhook-id and so is
// recognised as a duplicate. A request with a bad signature is refused.
func TestExampleReceivers(t *testing.T) {
	t.Parallel()
	p := startServe(t, "serve", testdb.SQLite(t))
	s := newSite(t, p)
	type endpoint struct {
		webhook
		rx *exampleReceiver
	}
	var eps []endpoint
	for _, start := range []func(*testing.T, string) *exampleReceiver{goReceiver, jsReceiver} {
		// The receiver needs the secret, which Keel gives only with a
		// new endpoint: create it disabled, start the receiver, then
		// point the endpoint at it.
		w := s.addWebhook(t, p, "http://127.0.0.1:9/not-yet", false, "submission.created")
		rx := start(t, w.Secret)
		var got webhook
		p.MustCall(t, "PATCH", "/v1/workspaces/"+s.ws+"/webhooks/"+w.ID, s.token, map[string]any{"url": rx.url, "enabled": true}, 200, &got)
		if !got.Enabled || got.URL != rx.url {
			t.Fatalf("PATCH answered %+v, want enabled with url %s", got, rx.url)
		}
		eps = append(eps, endpoint{w, rx})
	}

	for _, ep := range eps {
		p.MustCall(t, "POST", "/v1/workspaces/"+s.ws+"/webhooks/"+ep.ID+"/test", s.token, nil, 202, nil)
	}
	s.mustSubmit(t, p, 1)
	for _, ep := range eps {
		ep.rx.waitLine(t, "verified ", 30*time.Second)
		waitPrinted(t, ep.rx, 2, "verified ")
		var types []string
		for _, l := range ep.rx.printed() {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "verified" {
				types = append(types, f[2])
			}
		}
		if strings.Join(sorted(types), " ") != "submission.created webhook.test" {
			t.Errorf("%s verified %v, want webhook.test and submission.created", ep.rx.name, types)
		}
	}

	// A rotation: the receivers still hold the previous secret, which
	// keeps signing beside the new one for 24 hours.
	for _, ep := range eps {
		var rot webhook
		p.MustCall(t, "POST", "/v1/workspaces/"+s.ws+"/webhooks/"+ep.ID+"/rotate-secret", s.token, nil, 200, &rot)
		if rot.Secret == ep.Secret || !strings.HasPrefix(rot.Secret, "whsec_") || rot.PreviousSecretExpires == nil {
			t.Fatalf("rotate-secret answered %+v", rot)
		}
		p.MustCall(t, "POST", "/v1/workspaces/"+s.ws+"/webhooks/"+ep.ID+"/test", s.token, nil, 202, nil)
		waitPrinted(t, ep.rx, 3, "verified ")
	}

	// A redelivery has the delivery's webhook-id, which the receivers
	// have processed already.
	for _, ep := range eps {
		sent := s.waitDeliveries(t, p, ep.ID, 3, 30*time.Second)
		var sub delivery
		for _, d := range sent {
			if d.EventType == "submission.created" {
				sub = d
			}
		}
		if sub.ID == "" {
			t.Fatalf("%s: no submission.created in the delivery log %+v", ep.rx.name, sent)
		}
		p.MustCall(t, "POST", "/v1/workspaces/"+s.ws+"/webhooks/"+ep.ID+"/deliveries/"+sub.ID+"/redeliver", s.token, nil, 202, nil)
		if l := ep.rx.waitLine(t, "duplicate ", 30*time.Second); l != "duplicate "+sub.EventID {
			t.Errorf("%s printed %q after the redelivery, want duplicate %s", ep.rx.name, l, sub.EventID)
		}
	}

	// A forged request: a plausible body and headers, a wrong signature.
	for _, ep := range eps {
		before := len(ep.rx.printed())
		req, _ := http.NewRequest("POST", ep.rx.url, strings.NewReader(`{"id":"evt_forged","type":"submission.created","data":{}}`))
		req.Header.Set("webhook-id", "evt_forged")
		req.Header.Set("webhook-timestamp", fmt.Sprint(time.Now().Unix()))
		req.Header.Set("webhook-signature", "v1,"+strings.Repeat("A", 43)+"=")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s answered a forged request %d, want 400", ep.rx.name, resp.StatusCode)
		}
		if after := ep.rx.printed(); len(after) != before {
			t.Errorf("%s printed %q for a forged request", ep.rx.name, after[before:])
		}
	}
	p.Stop(t)
}

// waitPrinted waits until r has printed n lines starting with prefix.
func waitPrinted(t *testing.T, r *exampleReceiver, n int, prefix string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		got := 0
		for _, l := range r.printed() {
			if strings.HasPrefix(l, prefix) {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-r.more:
		case <-r.done:
			t.Fatalf("%s exited after %d lines %q, want %d", r.name, got, prefix, n)
		case <-deadline:
			t.Fatalf("%s printed %d lines %q within 30s, want %d:\n%s", r.name, got, prefix, n, strings.Join(r.printed(), "\n"))
		}
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestREADMEShowsExampleReceivers checks that the README shows the
// example receivers as they are, so that the code a reader copies is the
// code TestExampleReceivers runs.
func TestREADMEShowsExampleReceivers(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for file, lang := range map[string]string{"main.go": "go", "receiver.mjs": "js"} {
		code, err := os.ReadFile(filepath.Join(exampleDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(readme), "```"+lang+"\n"+string(code)+"```\n") {
			t.Errorf("README.md does not show examples/webhook-receiver/%s as it is, in a ```%s block", file, lang)
		}
	}
}
