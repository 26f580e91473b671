// Package outbox checks the mail outbox's delivery guarantees end to end:
// the keel binary on PostgreSQL, mail over SMTP to Mailpit, a relay outage,
// a process killed with SIGKILL and two workers sharing one database.
//
// Every test tags its mail's subjects with a run-unique prefix, so tests
// running in parallel count only their own messages in the shared Mailpit.
package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
		if binDir, buildErr = os.MkdirTemp("", "keel-outbox-"); buildErr != nil {
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

// baseEnv is every keel process's configuration here. The retry base is
// the smallest allowed, so mail failed by an outage comes back in seconds;
// enough attempts that none dies of it; rate limits far above the tests'
// bursts from one IP.
func baseEnv(t *testing.T, dbURL, smtpAddr string) []string {
	return []string{
		"KEEL_DATABASE_URL=" + dbURL,
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SMTP_URL=smtp://" + smtpAddr + "?starttls=none",
		"KEEL_MAIL_FROM=Keel <outbox@keel.test>",
		"KEEL_MAIL_MAX_ATTEMPTS=30",
		"KEEL_MAIL_RETRY_BASE=1s",
		"KEEL_SUBMIT_PER_IP=1000000",
		"KEEL_SUBMIT_PER_FORM=1000000",
		"KEEL_IP_HASH_KEY=outbox-tests-ip-hash-key",
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
func startServe(t *testing.T, name, dbURL, smtpAddr string, env ...string) *proc {
	t.Helper()
	p := startProc(t, name, append(baseEnv(t, dbURL, smtpAddr), env...), "serve", "--http-addr", "127.0.0.1:0")
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

// startWorker starts `keel worker` and waits until it delivers.
func startWorker(t *testing.T, name, dbURL, smtpAddr string, env ...string) *proc {
	t.Helper()
	p := startProc(t, name, append(baseEnv(t, dbURL, smtpAddr), env...), "worker")
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
// no shutdown, no flush, leases and connections simply abandoned.
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
// test, so that posting goroutines can use it and a killed server's
// refusals can be counted.
func (p *proc) call(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
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
// IDs of the messages its messaging.Deliver spans sent when the process
// exports traces to stdout.
type output struct {
	mu        sync.Mutex
	partial   []byte
	logs      []map[string]any
	raw       strings.Builder // log lines only; spans would swamp it
	delivered []string        // keel.message.id of each successful Deliver span
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
		if json.Unmarshal(b, &s) != nil || s.Name != "messaging.Deliver" {
			return
		}
		attrs := map[string]any{}
		for _, a := range s.Attributes {
			attrs[a.Key] = a.Value.Value
		}
		if attrs["keel.message.status"] == "sent" {
			id, _ := attrs["keel.message.id"].(string)
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

// count returns how many log lines have msg.
func (o *output) count(msg string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, m := range o.logs {
		if m["msg"] == msg {
			n++
		}
	}
	return n
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

// site is an instance set up for a test: its administrator's token, a
// workspace, and a form whose notification's subject is tag-<n>, where n
// is the submission's one field.
type site struct {
	token, ws, form, tag string
}

func newSite(t *testing.T, p *proc, name string) site {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := site{ws: "site", tag: name + "-" + hex.EncodeToString(b)}
	var setup struct{ Token string }
	p.mustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "owner@site.test", "password": "correct horse battery", "name": "Owner"}, 201, &setup)
	s.token = setup.Token
	p.mustCall(t, "POST", "/v1/workspaces", s.token, map[string]any{"name": "Site", "slug": s.ws}, 201, nil)
	var form struct{ ID string }
	p.mustCall(t, "POST", "/v1/workspaces/"+s.ws+"/forms", s.token, map[string]any{
		"name":   "Load",
		"fields": []map[string]any{{"name": "n", "label": "N", "type": "text", "required": true}},
		// One notification per submission, no autoresponse: one message
		// per n.
		"notify": map[string]any{"recipients": []string{"team@site.test"}, "subject": s.tag + "-{{.Fields.n}}"},
	}, 201, &form)
	s.form = form.ID
	return s
}

// submit posts submission n as a script would: JSON, answered 201.
func (s site) submit(ctx context.Context, p *proc, n int) error {
	status, body, err := p.call(ctx, "POST", "/v1/forms/"+s.form+"/submissions", "", map[string]any{"n": fmt.Sprint(n)})
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("submission %d: %d %s", n, status, body)
	}
	var out struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.ID == "" || out.CreatedAt.IsZero() {
		return fmt.Errorf("submission %d: 201 with body %s", n, body)
	}
	return nil
}

// submitAll posts submissions 1..count from workers goroutines and returns
// the errors, which fail the test.
func (s site) submitAll(t *testing.T, p *proc, count, workers int) {
	t.Helper()
	ns := make(chan int)
	errs := make(chan error, count)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for n := range ns {
				if err := s.submit(t.Context(), p, n); err != nil {
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
		p.mustCall(t, "GET", path+sep+"limit=200&cursor="+cursor, token, nil, 200, &page)
		all = append(all, page.Data...)
		if page.NextCursor == nil {
			return all
		}
		cursor = *page.NextCursor
	}
}

type message struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Subject  string `json:"subject"`
	Attempts []struct {
		At    time.Time `json:"at"`
		Error *string   `json:"error"`
	} `json:"attempts"`
}

func (s site) messages(t *testing.T, p *proc, status string) []message {
	t.Helper()
	return list[message](t, p, s.token, "/v1/workspaces/"+s.ws+"/messages?status="+status)
}

// submissions returns the n of every stored submission.
func (s site) submissions(t *testing.T, p *proc) []int {
	t.Helper()
	subs := list[struct {
		Values map[string]any `json:"values"`
	}](t, p, s.token, "/v1/workspaces/"+s.ws+"/forms/"+s.form+"/submissions")
	ns := make([]int, 0, len(subs))
	for _, sub := range subs {
		var n int
		if _, err := fmt.Sscan(fmt.Sprint(sub.Values["n"]), &n); err != nil {
			t.Fatalf("submission values %v: no n", sub.Values)
		}
		ns = append(ns, n)
	}
	return ns
}

// waitOutbox polls until the workspace has no pending message, so every
// delivery's outcome is recorded and no resend is still to come.
func (s site) waitOutbox(t *testing.T, p *proc, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		pending := s.messages(t, p, "pending")
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still pending after %v, such as %+v", len(pending), timeout, pending[0])
		}
	}
}

// checkOutbox checks that every one of want messages is sent and none is
// pending, failed or dead.
func (s site) checkOutbox(t *testing.T, p *proc, want int) {
	t.Helper()
	for _, status := range []string{"pending", "failed", "dead"} {
		if ms := s.messages(t, p, status); len(ms) != 0 {
			t.Errorf("%d messages %s, want none; first: %+v", len(ms), status, ms[0])
		}
	}
	if sent := s.messages(t, p, "sent"); len(sent) != want {
		t.Errorf("%d messages sent, want %d", len(sent), want)
	}
}

// mail is what Mailpit holds of one test's messages: the copies of each
// n's notification.
type mail map[int][]mailpit.Summary

// tagged reads every message whose subject carries tag from Mailpit, all
// in one page: the helper's Search stops at 1000, and a count must see
// every duplicate.
func tagged(t *testing.T, mp *mailpit.Server, tag string) mail {
	t.Helper()
	q := `subject:"` + tag + `-"`
	resp, err := client.Get(mp.APIURL + "/api/v1/search?limit=100000&query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("mailpit search: %v", err)
	}
	defer resp.Body.Close()
	var page struct {
		MessagesCount int `json:"messages_count"`
		Messages      []mailpit.Summary
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit search: %s: %v", resp.Status, err)
	}
	if len(page.Messages) != page.MessagesCount {
		t.Fatalf("mailpit search returned %d of %d messages", len(page.Messages), page.MessagesCount)
	}
	m := mail{}
	for _, s := range page.Messages {
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(s.Subject, tag+"-"), "%d", &n); err != nil || !strings.HasPrefix(s.Subject, tag+"-") {
			t.Fatalf("mailpit: unexpected subject %q for tag %s", s.Subject, tag)
		}
		m[n] = append(m[n], s)
	}
	return m
}

// waitMail polls Mailpit until every n in want has arrived, and returns
// what it holds then.
func waitMail(t *testing.T, mp *mailpit.Server, tag string, want []int, timeout time.Duration) mail {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(250 * time.Millisecond) {
		got := tagged(t, mp, tag)
		var missing []int
		for _, n := range want {
			if len(got[n]) == 0 {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %d of %d notifications missing after %v, such as n=%d", len(missing), len(want), timeout, missing[0])
		}
	}
}

// duplicates returns the n that arrived more than once.
func (m mail) duplicates() []int {
	var ns []int
	for n, copies := range m {
		if len(copies) > 1 {
			ns = append(ns, n)
		}
	}
	return ns
}

func seq(count int) []int {
	ns := make([]int, count)
	for i := range ns {
		ns[i] = i + 1
	}
	return ns
}
