package bootstrap

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listeningAddr = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)","admin_addr":"([^"]+)"`)

// startServe runs serve on port 0 until the test ends and returns its URL.
func startServe(t *testing.T, e map[string]string) string {
	t.Helper()
	base, _ := startServeAdmin(t, e)
	return base
}

// startServeAdmin runs serve as startServe does, its admin listener on
// port 0 too unless e says otherwise, and returns both URLs; the admin
// one is "off" when there is none.
func startServeAdmin(t *testing.T, e map[string]string) (base, admin string) {
	t.Helper()
	env := map[string]string{"KEEL_HTTP_ADDR": "127.0.0.1:0", "KEEL_ADMIN_ADDR": "127.0.0.1:0"}
	for k, v := range e {
		env[k] = v
	}
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, nil, &out, &out) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningAddr.FindStringSubmatch(out.String()); m != nil {
			if m[2] == "off" {
				return "http://" + m[1], "off"
			}
			return "http://" + m[1], "http://" + m[2]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("serve did not start:\n%s", out.String())
	return "", ""
}

func postJSON(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
