// Package e2e runs Keel as its users do: the real composition root
// in-process on port 0, and the built binary against PostgreSQL in a
// container, driven over HTTP and stopped with signals.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// The keel binary is built once per test binary, on first use, and shared
// by every test that runs it: building it costs far more than any of them.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// keelBinary returns the path of the keel binary built from this tree.
func keelBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "keel-e2e-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "keel")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/keelhq/keel/cmd/keel").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// logLines collects the JSON log lines a server writes and tells when the
// "listening" line arrives, carrying the address it bound.
type logLines struct {
	mu        sync.Mutex
	lines     []map[string]any
	raw       strings.Builder
	listening chan string
	pw        *io.PipeWriter
}

func newLogLines() *logLines {
	pr, pw := io.Pipe()
	l := &logLines{listening: make(chan string, 1), pw: pw}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			l.mu.Lock()
			l.raw.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				l.lines = append(l.lines, m)
				if m["msg"] == "listening" {
					l.listening <- m["addr"].(string)
				}
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *logLines) Write(p []byte) (int, error) { return l.pw.Write(p) }

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

// find returns the first line whose msg is msg.
func (l *logLines) find(msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}

// await returns the first line whose msg is msg, waiting up to two
// seconds: a line written just before the server stopped may still be on
// its way through the pipe to the parser.
func (l *logLines) await(msg string) map[string]any {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := l.find(msg); m != nil || time.Now().After(deadline) {
			return m
		}
	}
}

func (l *logLines) waitListening(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-l.listening:
		return "http://" + addr
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not log listening:\n%s", l)
		return ""
	}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
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
