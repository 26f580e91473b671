// Package keelproc runs the real keel binary in end-to-end tests, as an
// operator runs it: built from this tree, configured only by environment
// variables and flags, observed only through its JSON log lines and its
// HTTP API, and stopped with signals.
//
// The binary is built once per test binary, on first use, into a
// temporary directory that RemoveBinary deletes: TestMain calls it after
// m.Run, when no test can ask for the binary any more. Every wait on a
// process watches its output or its exit rather than sleeping, and fails
// the test with what the process wrote.
package keelproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keelhq/keel/api/openapitest"
)

// Start-up and shutdown limits: far above what keel needs on a loaded
// machine, so that only a hung process fails on them.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 30 * time.Second
)

// Tags are the build tags of the binary Binary builds, such as
// "keelfault" for test/idempotency's fault hook. Set them in TestMain,
// before any test asks for the binary; "" builds the production binary.
var Tags string

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// Binary returns the path of the keel binary built from this tree. The
// first call builds it; later ones, in any test of the binary, share it,
// since building costs far more than most tests that run it.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "keelproc-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "keel")
		args := []string{"build", "-o", binPath}
		if Tags != "" {
			args = append(args, "-tags", Tags)
		}
		if out, err := exec.Command("go", append(args, "github.com/keelhq/keel/cmd/keel")...).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// RemoveBinary deletes the built binary, if any. TestMain calls it after
// m.Run; a test that asked for the binary afterwards would find it gone.
func RemoveBinary() error {
	if binDir == "" {
		return nil
	}
	return os.RemoveAll(binDir)
}

// Proc is one running keel process.
type Proc struct {
	// Name tells processes apart in failure messages ("worker1").
	Name string
	// URL is serve's base URL, http://127.0.0.1:port, once WaitReady has
	// returned.
	URL string
	// AdminURL is the base URL of the admin listener (/metrics,
	// /debug/pprof/) once WaitReady or Worker has returned, or "" when
	// the process runs none.
	AdminURL string
	// Out holds the process's standard output.
	Out *Output

	// client checks every exchange against the OpenAPI document and
	// reports a mismatch on the test that started the process.
	client *http.Client

	cmd    *exec.Cmd
	stderr *SyncBuffer
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// Start starts the keel binary with args and with env ("KEY=value")
// added to the test process's environment, and returns without waiting
// for anything: tests that start several processes at once (two nodes
// migrating one empty database, say) wait for each afterwards. A process
// still running when t ends is killed.
func Start(t *testing.T, name string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, Out: NewOutput(), stderr: &SyncBuffer{}, exited: make(chan struct{})}
	p.client = &http.Client{Timeout: clientTimeout, Transport: openapitest.Transport(t, transport)}
	p.cmd = exec.Command(Binary(t), args...)
	// Each process gets an admin listener on a free port of its own unless
	// the test chooses: on the default port, processes started in parallel
	// would take turns at it.
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "KEEL_ADMIN_ADDR=") }) {
		env = append(slices.Clip(env), "KEEL_ADMIN_ADDR=127.0.0.1:0")
	}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.Out, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	// Wait returns once the process has exited and its output is copied,
	// so after exited every line it wrote is in Out.
	go func() { p.err = p.cmd.Wait(); p.Out.flush(); close(p.exited) }()
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

// Serve starts `keel serve` on a free loopback port, with args after the
// address flag, and returns once it is ready.
func Serve(t *testing.T, name string, env []string, args ...string) *Proc {
	t.Helper()
	p := Start(t, name, env, append([]string{"serve", "--http-addr", "127.0.0.1:0"}, args...)...)
	p.WaitReady(t)
	return p
}

// Worker starts `keel worker` and returns once it logs "delivering mail",
// its first line once its dispatchers run.
func Worker(t *testing.T, name string, env []string, args ...string) *Proc {
	t.Helper()
	p := Start(t, name, env, append([]string{"worker"}, args...)...)
	p.setAdminURL(p.WaitLog(t, "delivering mail", startTimeout))
	return p
}

// setAdminURL reads the admin listener's address from a start-up line.
func (p *Proc) setAdminURL(line map[string]any) {
	if addr, _ := line["admin_addr"].(string); addr != "" && addr != "off" {
		p.AdminURL = "http://" + addr
	}
}

// Metrics returns the process's metrics in Prometheus text, read from its
// admin listener, and fails t when it runs none or the read fails. The
// admin listener is not the API, so the exchange is not checked against
// the OpenAPI document.
func (p *Proc) Metrics(t *testing.T) string {
	t.Helper()
	if p.AdminURL == "" {
		t.Fatalf("%s runs no admin listener", p.Name)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, p.AdminURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: clientTimeout, Transport: transport}).Do(req)
	if err != nil {
		t.Fatalf("%s: GET /metrics: %v", p.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /metrics = %d, %v: %.500s", p.Name, resp.StatusCode, err, body)
	}
	return string(body)
}

// WaitReady waits for serve's "listening" line, sets URL from the address
// it names (the port the kernel chose for :0), and then waits until
// /readyz answers 200: listening comes before the server accepts.
// Readiness can only be polled, another process's state being invisible
// otherwise.
func (p *Proc) WaitReady(t *testing.T) {
	t.Helper()
	line := p.WaitLog(t, "listening", startTimeout)
	addr, _ := line["addr"].(string)
	p.URL = "http://" + addr
	p.setAdminURL(line)
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(20 * time.Millisecond) {
		if status, _, err := p.Call(t.Context(), "GET", "/readyz", "", nil); err == nil && status == http.StatusOK {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) before it was ready\nstderr: %s\nstdout:\n%s", p.Name, p.err, p.stderr, p.Out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready within %v:\n%s", p.Name, startTimeout, p.Out)
		}
	}
}

// WaitLog returns the process's first log line whose msg is msg as soon
// as it is written, and fails t if the process exits first or timeout
// passes.
func (p *Proc) WaitLog(t *testing.T, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	if line := p.Out.Wait(msg, timeout, p.exited); line != nil {
		return line
	}
	select {
	case <-p.exited:
		t.Fatalf("%s exited (%v) before logging %q\nstderr: %s\nstdout:\n%s", p.Name, p.err, msg, p.stderr, p.Out)
	default:
		t.Fatalf("%s logged no %q within %v:\n%s", p.Name, msg, timeout, p.Out)
	}
	return nil
}

// Kill ends the process with SIGKILL, as a crash or the OOM killer would:
// no shutdown, no flush, leases and connections simply abandoned.
func (p *Proc) Kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.Name, err)
	}
	<-p.exited
}

// Stop sends SIGTERM and checks a clean exit, what an operator expects of
// a graceful shutdown: status 0, a "stopped" line, nothing on stderr.
func (p *Proc) Stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal %s: %v", p.Name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("%s did not exit within %v of SIGTERM", p.Name, stopTimeout)
	}
	if p.err != nil || p.Out.Find("stopped") == nil || p.stderr.Len() > 0 {
		t.Fatalf("%s after SIGTERM: exit %v\nstderr: %s\nstdout:\n%s", p.Name, p.err, p.stderr, p.Out)
	}
}

// transport is shared by every process's calls, so that goroutines
// posting in parallel reuse connections rather than exhaust loopback
// ports.
var transport = &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}

const clientTimeout = 30 * time.Second

// Call sends a JSON request to serve (no body when body is nil) with a
// bearer token (none when token is empty) and the header fields given as
// name, value pairs ("traceparent", tp). It returns
// an error rather than failing a test, so that posting goroutines can use
// it and a killed server's refusals can be counted.
//
// Every request and response is checked against the OpenAPI document
// (api/openapitest), and a mismatch fails the test that started p: what
// the end-to-end tests see is what the contract promises. A request that
// is wrong on purpose passes openapitest.InvalidHeader, "1" among the
// header fields, so that only its response is checked.
func (p *Proc) Call(ctx context.Context, method, path, token string, body any, header ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// MustCall is Call that fails t unless the status is want, and decodes
// the body into into when it is not nil.
func (p *Proc) MustCall(t *testing.T, method, path, token string, body any, want int, into any) {
	t.Helper()
	status, out, err := p.Call(t.Context(), method, path, token, body)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", p.Name, method, path, err)
	}
	if status != want {
		t.Fatalf("%s: %s %s = %d %s, want %d", p.Name, method, path, status, out, want)
	}
	if into != nil {
		if err := json.Unmarshal(out, into); err != nil {
			t.Fatalf("%s: %s %s: decode %s: %v", p.Name, method, path, out, err)
		}
	}
}
