// Package secrets checks Keel's promise that no secret (password, session
// token, API key) ever appears in logs, traces, errors or list responses.
// It runs the real composition root in-process with debug logging and the
// stdout span exporter, drives every identity use case over HTTP with
// secrets made for the run, and then searches everything Keel wrote or
// answered for them.
//
// bootstrap.Run installs OpenTelemetry's global providers and the test
// replaces slog's default logger, so the tests here do not run in
// parallel, and nothing else belongs in this package.
package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/cmd/keel/bootstrap"
)

// TestNoSecretLeaks is the scenario: setup, users, logins good and bad,
// workspaces, API keys, listings, logout, revocation and keel admin create;
// then the search.
func TestNoSecretLeaks(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"KEEL_DATA_DIR":       dir,
		"KEEL_HTTP_ADDR":      "127.0.0.1:0",
		"KEEL_LOG_LEVEL":      "debug",
		"KEEL_TRACE_EXPORTER": "stdout",
	}
	getenv := func(k string) string { return env[k] }

	// Libraries and adapters not handed Keel's logger write to slog's
	// default: capture that too.
	fallback := &capture{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(fallback, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	out, errOut := newCapture(), &capture{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- bootstrap.Run(ctx, []string{"serve"}, getenv, nil, out, errOut) }()
	var base string
	select {
	case addr := <-out.listening:
		base = "http://" + addr
	case err := <-served:
		t.Fatalf("serve exited early: %v\n%s", err, out)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start:\n%s", out)
	}

	s := &secrets{}
	p1 := s.add("P1 setup password", "pw1-"+random(12))
	p2 := s.add("P2 user password", "pw2-"+random(12))
	p3 := s.add("P3 admin create password", "pw3-"+random(12))
	p4 := s.add("P4 refused admin create password", "pw4-"+random(12))
	w1 := s.add("W1 wrong password", "wrong-"+random(12))
	w2 := s.add("W2 wrong password like an API key", "keel_"+random(5)+"_"+random(32))
	s.add("W2 secret part", w2[len("keel_")+8+1:])
	w3 := s.add("W3 wrong password like a session token", "kss_"+random(32))
	w4 := s.add("W4 password typed as the e-mail", "oops-"+random(12))
	w5 := s.add("W5 password of a malformed request", "bad-json-"+random(12))
	w6 := s.add("W6 password of an invalid new user", "invalid-"+random(12))
	b1 := s.add("B1 bogus bearer like an API key", "keel_"+random(5)+"_"+random(32))
	s.add("B1 secret part", b1[len("keel_")+8+1:])
	b2 := s.add("B2 basic auth password", "basic-"+random(12))
	s.add("B2 basic auth credentials, encoded", base64.StdEncoding.EncodeToString([]byte("ada@example.com:"+b2)))

	c := &client{t: t, base: base}

	// Setup and users.
	var setup struct {
		Token string `json:"token"`
	}
	c.do("setup", "POST", "/v1/setup", "", body("email", "ada@example.com", "password", p1, "name", "Ada"), 201, &setup)
	t0 := s.add("T0 setup session token", setup.Token)
	s.add("T0 secret part", strings.TrimPrefix(t0, "kss_"))
	s.allow("setup", "T0 setup session token", "T0 secret part")
	c.do("setup again", "POST", "/v1/setup", "", body("email", "eve@example.com", "password", p1, "name", "Eve"), 409, nil)
	c.do("create user", "POST", "/v1/users", t0, body("email", "carol@example.com", "password", p2, "name", "Carol"), 201, nil)
	c.do("create invalid user", "POST", "/v1/users", t0, body("email", "not an e-mail", "password", w6, "name", "X"), 422, nil)
	c.do("create duplicate user", "POST", "/v1/users", t0, body("email", "carol@example.com", "password", w6, "name", "C"), 409, nil)

	// Logins, good and bad.
	var login struct {
		Token string `json:"token"`
	}
	c.do("login", "POST", "/v1/auth/login", "", body("email", "carol@example.com", "password", p2), 200, &login)
	tok := s.add("T session token", login.Token)
	s.add("T secret part", strings.TrimPrefix(tok, "kss_"))
	s.allow("login", "T session token", "T secret part")
	for i, pw := range []string{w1, w2, w3} {
		c.do(fmt.Sprintf("wrong password %d", i+1), "POST", "/v1/auth/login", "", body("email", "carol@example.com", "password", pw), 401, nil)
	}
	c.do("unknown e-mail", "POST", "/v1/auth/login", "", body("email", "nobody@example.com", "password", w1), 401, nil)
	c.do("password as e-mail", "POST", "/v1/auth/login", "", body("email", w4, "password", w4), 401, nil)
	c.doRaw("malformed login", "POST", "/v1/auth/login", nil, `{"email":"carol@example.com","password":"`+w5+`"`, 400)
	c.doRaw("mistyped login", "POST", "/v1/auth/login", nil, `{"email":"carol@example.com","passwd":"`+w5+`"}`, 422)
	c.doRaw("login with a list", "POST", "/v1/auth/login", nil, `{"email":"carol@example.com","password":["`+w5+`"]}`, 422)

	// Workspaces and API keys.
	var ws struct {
		ID string `json:"id"`
	}
	c.do("create workspace", "POST", "/v1/workspaces", t0, body("name", "Docs", "slug", "docs"), 201, &ws)
	wsPath := "/v1/workspaces/" + ws.ID
	c.do("add member", "POST", wsPath+"/members", t0, map[string]any{"email": "carol@example.com", "role": "viewer"}, 201, nil)
	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	c.do("create key", "POST", wsPath+"/api-keys", t0, map[string]any{"name": "build", "scopes": []string{"content:read", "members:read"}}, 201, &key)
	k := s.add("K API key", key.Key)
	prefix, secret, ok := strings.Cut(strings.TrimPrefix(k, "keel_"), "_")
	if !ok || !strings.HasPrefix(k, "keel_") {
		t.Fatalf("API key %q is not keel_<prefix>_<secret>", k)
	}
	s.add("K secret part", secret)
	s.allow("create key", "K API key", "K secret part")
	c.do("use key", "GET", wsPath, k, nil, 200, nil)
	c.do("use key: workspaces", "GET", "/v1/workspaces", k, nil, 200, nil)
	c.do("use key: members", "GET", wsPath+"/members", k, nil, 200, nil)
	c.do("use key: forbidden", "GET", wsPath+"/api-keys", k, nil, 403, nil)
	var keys struct {
		Data []struct {
			Prefix string `json:"prefix"`
		} `json:"data"`
	}
	c.do("list keys", "GET", wsPath+"/api-keys", t0, nil, 200, &keys)
	if len(keys.Data) != 1 || keys.Data[0].Prefix != prefix {
		t.Errorf("key list %+v, want one key with prefix %s", keys.Data, prefix)
	}
	c.do("list users", "GET", "/v1/users", t0, nil, 200, nil)
	c.do("me", "GET", "/v1/me", tok, nil, 200, nil)
	c.do("me by key", "GET", "/v1/me", k, nil, 403, nil)

	// Bad credentials of every shape.
	c.do("bogus key", "GET", "/v1/me", b1, nil, 401, nil)
	c.doRaw("basic auth", "GET", "/v1/me", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("ada@example.com:"+b2))}}, "", 401)
	c.doRaw("token without scheme", "GET", "/v1/me", http.Header{"Authorization": {b1}}, "", 401)
	// A token in the query is never a credential: /v1/me reads no query
	// parameter, so it is refused as unknown (naming the parameter, never
	// its value) before authentication runs.
	c.doRaw("token as a query parameter", "GET", "/v1/me?access_token="+b1, nil, "", 400)

	// Logout, revocation.
	c.do("logout", "POST", "/v1/auth/logout", tok, nil, 204, nil)
	c.do("me after logout", "GET", "/v1/me", tok, nil, 401, nil)
	c.do("revoke key", "DELETE", wsPath+"/api-keys/"+key.ID, t0, nil, 204, nil)
	c.do("use revoked key", "GET", wsPath, k, nil, 401, nil)
	c.do("list audit events", "GET", wsPath+"/audit-events", t0, nil, 200, nil)

	// keel admin create, on the same database while the server runs.
	var cliOut, cliErr bytes.Buffer
	adminArgs := []string{"admin", "create", "--email", "ops@example.com", "--password-stdin"}
	if err := bootstrap.Run(ctx, adminArgs, getenv, strings.NewReader(p3+"\n"), &cliOut, &cliErr); err != nil {
		t.Fatalf("keel admin create: %v\n%s", err, cliErr.String())
	}
	var runErrs []string
	for _, tc := range []struct{ name, email, pw string }{
		{"duplicate administrator", "ops@example.com", p4},
		{"invalid administrator", "not an e-mail", p4},
		{"short password", "short@example.com", "short"},
	} {
		err := bootstrap.Run(ctx, []string{"admin", "create", "--email", tc.email, "--password-stdin"}, getenv, strings.NewReader(tc.pw+"\n"), &cliOut, &cliErr)
		if err == nil {
			t.Fatalf("keel admin create (%s) succeeded", tc.name)
		}
		runErrs = append(runErrs, err.Error())
		t.Logf("keel admin create refused the %s: %v", tc.name, err)
	}
	var ops struct {
		Token string `json:"token"`
	}
	c.do("login ops", "POST", "/v1/auth/login", "", body("email", "ops@example.com", "password", p3), 200, &ops)
	s.add("T3 admin create's session token", ops.Token)
	s.add("T3 secret part", strings.TrimPrefix(ops.Token, "kss_"))
	s.allow("login ops", "T3 admin create's session token", "T3 secret part")
	c.do("list users again", "GET", "/v1/users", ops.Token, nil, 200, nil)

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s")
	}

	// The search. The tokens were allowed only in the one response that
	// handed each out; the passwords nowhere.
	logs, spans := splitOutput(t, out.String())
	places := []place{
		{"server's log lines", logs, nil},
		{"server's spans", spans, nil},
		{"server stderr", errOut.String(), nil},
		{"slog default logger", fallback.String(), nil},
		{"keel admin create stdout", cliOut.String(), nil},
		{"keel admin create stderr", cliErr.String(), nil},
		{"errors returned by Run", strings.Join(runErrs, "\n"), nil},
	}
	// At rest only hashes: the database, its WAL, mail.
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		places = append(places, place{"data file " + d.Name(), string(b), nil})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range c.exchanges {
		places = append(places, place{"response to " + ex.name, ex.text(), s.allowed[ex.name]})
	}
	for _, pl := range places {
		for _, sec := range s.list {
			if pl.allows[sec.name] {
				continue
			}
			text := strings.ToLower(pl.text)
			if i := strings.Index(text, strings.ToLower(sec.value)); i >= 0 {
				t.Errorf("%s appears in the %s: …%s…", sec.name, pl.name, excerpt(text, i, len(sec.value)))
			}
		}
	}
	for name, allowed := range s.allowed {
		ex := c.find(name)
		for sec := range allowed {
			if !strings.Contains(ex.text(), s.value(sec)) {
				t.Errorf("the response to %s does not hold %s: the check is broken", name, sec)
			}
		}
	}

	checkSpans(t, spans)
	if n := strings.Count(logs, `"msg":"request"`); n < len(c.exchanges) {
		t.Errorf("%d access log lines for %d requests: the logs were not all captured", n, len(c.exchanges))
	}
	for _, pl := range places {
		if !strings.HasPrefix(pl.name, "response to ") {
			t.Logf("searched %7d bytes: %s", len(pl.text), pl.name)
		}
	}
	t.Logf("searched %d responses for %d secrets", len(c.exchanges), len(s.list))
}

// splitOutput separates the server's standard output, a stream of JSON
// values, into log lines and the stdout exporter's spans, one a line.
func splitOutput(t *testing.T, stdout string) (logs, spans string) {
	t.Helper()
	var lb, sb strings.Builder
	dec := json.NewDecoder(strings.NewReader(stdout))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("stdout is not a stream of JSON values: %v", err)
		}
		var probe struct {
			Msg         *string
			SpanContext json.RawMessage
		}
		_ = json.Unmarshal(raw, &probe)
		switch {
		case probe.SpanContext != nil:
			sb.Write(raw)
			sb.WriteByte('\n')
		case probe.Msg != nil:
			lb.Write(raw)
			lb.WriteByte('\n')
		default:
			t.Fatalf("stdout holds a JSON value that is neither a log line nor a span: %s", raw)
		}
	}
	return lb.String(), sb.String()
}

// checkSpans checks that no attribute, of a span or of its events,
// records an Authorization header or other credentials, and that spans
// were recorded at all, so that the search for secrets covered them.
func checkSpans(t *testing.T, spans string) {
	t.Helper()
	type kv struct {
		Key   string
		Value struct{ Value any }
	}
	type span struct {
		Name       string
		Attributes []kv
		Events     []struct {
			Name       string
			Attributes []kv
		}
	}
	names := map[string]int{}
	keys := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(spans), "\n") {
		var sp span
		if err := json.Unmarshal([]byte(line), &sp); err != nil {
			t.Fatalf("span %s: %v", line, err)
		}
		names[sp.Name]++
		attrs := sp.Attributes
		for _, e := range sp.Events {
			attrs = append(attrs, e.Attributes...)
		}
		for _, a := range attrs {
			keys[a.Key] = true
			k, v := strings.ToLower(a.Key), fmt.Sprint(a.Value.Value)
			if strings.Contains(k, "authorization") || strings.Contains(k, "cookie") || strings.Contains(k, "password") || strings.Contains(k, "token") {
				t.Errorf("span %s records %s = %q", sp.Name, a.Key, v)
			}
			if strings.Contains(strings.ToLower(v), "bearer ") || strings.Contains(strings.ToLower(v), "basic ") {
				t.Errorf("span %s records credentials in %s = %q", sp.Name, a.Key, v)
			}
		}
	}
	for _, want := range []string{"identity.Setup", "identity.Login", "identity.Logout", "identity.CreateAPIKey", "identity.AuthenticateAPIKey", "identity.AuthenticateSession", "identity.CreateUserFromCLI"} {
		if names[want] == 0 {
			t.Errorf("no %s span among %d span names: the spans were not all captured", want, len(names))
		}
	}
	if !keys["http.route"] || !keys["user_agent.original"] {
		t.Errorf("no HTTP server span attributes among %v", sortedKeys(keys))
	}
	t.Logf("%d kinds of span checked; attribute keys seen: %s", len(names), strings.Join(sortedKeys(keys), " "))
}

// secrets are the values that must not leak, and where each may appear.
type secrets struct {
	list    []secret
	allowed map[string]map[string]bool // exchange name → secret names it may hold
}

type secret struct{ name, value string }

func (s *secrets) add(name, value string) string {
	if len(value) < 10 {
		panic("secret " + name + " is too short to search for: " + value)
	}
	s.list = append(s.list, secret{name, value})
	return value
}

func (s *secrets) allow(exchange string, names ...string) {
	if s.allowed == nil {
		s.allowed = map[string]map[string]bool{}
	}
	if s.allowed[exchange] == nil {
		s.allowed[exchange] = map[string]bool{}
	}
	for _, n := range names {
		s.allowed[exchange][n] = true
	}
}

func (s *secrets) value(name string) string {
	for _, sec := range s.list {
		if sec.name == name {
			return sec.value
		}
	}
	panic("no secret " + name)
}

// place is somewhere Keel wrote, and the secrets it may hold.
type place struct {
	name   string
	text   string
	allows map[string]bool
}

// client sends requests and keeps every answer for the search.
type client struct {
	t         *testing.T
	base      string
	exchanges []exchange
}

type exchange struct {
	name   string
	status int
	header http.Header
	body   []byte
}

// text is the response as the search sees it: headers and body.
func (e exchange) text() string {
	var b strings.Builder
	_ = e.header.Write(&b)
	b.Write(e.body)
	return b.String()
}

func (c *client) find(name string) exchange {
	for _, e := range c.exchanges {
		if e.name == name {
			return e
		}
	}
	c.t.Fatalf("no exchange %q", name)
	return exchange{}
}

// do sends a JSON body (none when nil) with a bearer token (none when
// empty), checks the status and decodes the answer into into, if not nil.
func (c *client) do(name, method, path, token string, in any, want int, into any) {
	c.t.Helper()
	var raw string
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			c.t.Fatal(err)
		}
		raw = string(b)
	}
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ex := c.doRaw(name, method, path, h, raw, want)
	if into != nil {
		if err := json.Unmarshal(ex.body, into); err != nil {
			c.t.Fatalf("%s: decode %s: %v", name, ex.body, err)
		}
	}
}

func (c *client) doRaw(name, method, path string, h http.Header, raw string, want int) exchange {
	c.t.Helper()
	var rd io.Reader
	if raw != "" {
		rd = strings.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if raw != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s: %s %s: %v", name, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s: read: %v", name, err)
	}
	ex := exchange{name: name, status: resp.StatusCode, header: resp.Header, body: b}
	c.exchanges = append(c.exchanges, ex)
	if resp.StatusCode != want {
		c.t.Fatalf("%s: %s %s = %d %s, want %d", name, method, path, resp.StatusCode, b, want)
	}
	return ex
}

// body builds a JSON object from alternating keys and values.
func body(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// random returns n random bytes in lower-case base32: letters and digits,
// which no JSON, URL or header encoding changes.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(strings.TrimRight(base32.StdEncoding.EncodeToString(b), "="))
}

func excerpt(s string, i, n int) string {
	from, to := max(0, i-80), min(len(s), i+n+80)
	return s[from:to]
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// capture is an io.Writer that keeps everything written, safe for the
// concurrent writes of a server, and reports the address of the first
// "listening" log line.
type capture struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	scanned   int
	listening chan string // nil: not looked for
	heard     bool
}

func newCapture() *capture { return &capture{listening: make(chan string, 1)} }

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.listening == nil || c.heard {
		return len(p), nil
	}
	for {
		rest := c.buf.Bytes()[c.scanned:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return len(p), nil
		}
		c.scanned += nl + 1
		var line struct{ Msg, Addr string }
		if json.Unmarshal(rest[:nl], &line) == nil && line.Msg == "listening" {
			c.listening <- line.Addr
			c.heard = true
			return len(p), nil
		}
	}
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
