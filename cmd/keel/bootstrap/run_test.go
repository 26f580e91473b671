package bootstrap

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// env turns a map into a getenv function.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func run(t *testing.T, ctx context.Context, args []string, e map[string]string) (stdout, stderr string, err error) {
	t.Helper()
	return runWithInput(t, ctx, args, e, "")
}

func runWithInput(t *testing.T, ctx context.Context, args []string, e map[string]string, stdin string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = Run(ctx, args, env(e), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestBadConfigurationIsOneLineNamingTheSetting(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Cleanup, not defer: the parallel subtests run after this function returns.
	t.Cleanup(func() { _ = busy.Close() })

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		setting string
		detail  string
	}{
		{"unknown log level", nil, map[string]string{"KEEL_LOG_LEVEL": "loud"}, "KEEL_LOG_LEVEL", "loud"},
		{"log level offset", nil, map[string]string{"KEEL_LOG_LEVEL": "info+2"}, "KEEL_LOG_LEVEL", "unknown level"},
		{"unparsable database URL", nil, map[string]string{"KEEL_DATABASE_URL": "postgres://keel:pw@%zz/db"}, "KEEL_DATABASE_URL", "cannot parse"},
		{"unsupported database", nil, map[string]string{"KEEL_DATABASE_URL": "mysql://db/keel"}, "KEEL_DATABASE_URL", "mysql"},
		{"database without host", nil, map[string]string{"KEEL_DATABASE_URL": "postgres:///keel"}, "KEEL_DATABASE_URL", "no host"},
		{"database unreachable", nil, map[string]string{"KEEL_DATABASE_URL": "postgres://keel:topsecret@127.0.0.1:1/keel?connect_timeout=2&sslmode=disable"}, "KEEL_DATABASE_URL", "unreachable"},
		{"address without port", nil, map[string]string{"KEEL_HTTP_ADDR": "localhost"}, "KEEL_HTTP_ADDR", "host:port"},
		{"port out of range", []string{"--http-addr", "127.0.0.1:70000"}, nil, "KEEL_HTTP_ADDR", "bad port"},
		{"port in use", nil, map[string]string{"KEEL_HTTP_ADDR": busy.Addr().String()}, "KEEL_HTTP_ADDR", "address already in use"},
		{"body limit not a number", nil, map[string]string{"KEEL_MAX_BODY_BYTES": "1MB"}, "KEEL_MAX_BODY_BYTES", "1MB"},
		{"body limit negative", nil, map[string]string{"KEEL_MAX_BODY_BYTES": "-1"}, "KEEL_MAX_BODY_BYTES", "positive"},
		{"unknown trace exporter", nil, map[string]string{"KEEL_TRACE_EXPORTER": "jaeger"}, "KEEL_TRACE_EXPORTER", "jaeger"},
		{"bad SMTP URL", nil, map[string]string{"KEEL_SMTP_URL": "smtp://user:topsecret@/"}, "KEEL_SMTP_URL", ""},
		{"bad SMTP TLS mode", nil, map[string]string{"KEEL_SMTP_URL": "smtp://user:topsecret@mail.example.com:587?tls=required"}, "KEEL_SMTP_URL", `tls="required": want starttls, implicit or none`},
		{"bad shutdown timeout", nil, map[string]string{"KEEL_SHUTDOWN_TIMEOUT": "soon"}, "KEEL_SHUTDOWN_TIMEOUT", "soon"},
		{"event retention too short", []string{"--event-retention", "10m"}, nil, "KEEL_EVENT_RETENTION", "at least 1h"},
		{"idempotency TTL too short", []string{"--idempotency-ttl", "30s"}, nil, "KEEL_IDEMPOTENCY_TTL", "from 1m to 720h"},
		{"idempotency TTL too long", nil, map[string]string{"KEEL_IDEMPOTENCY_TTL": "1000h"}, "KEEL_IDEMPOTENCY_TTL", `"1000h"`},
		{"negative rate limit", nil, map[string]string{"KEEL_RATE_LIMIT_API_KEY": "-1"}, "KEEL_RATE_LIMIT_API_KEY", "0 (no limit)"},
		{"rate limit not a number", []string{"--rate-limit-anonymous", "lots"}, nil, "KEEL_RATE_LIMIT_ANONYMOUS", `"lots"`},
		{"negative submission limit", nil, map[string]string{"KEEL_SUBMIT_PER_IP": "-5"}, "KEEL_SUBMIT_PER_IP", "0 (none) or more"},
		{"no autoresponse limit", nil, map[string]string{"KEEL_AUTORESPONDER_PER_ADDRESS": "0"}, "KEEL_AUTORESPONDER_PER_ADDRESS", "positive"},
		{"admin address without port", nil, map[string]string{"KEEL_ADMIN_ADDR": "localhost"}, "KEEL_ADMIN_ADDR", "host:port or off"},
		{"admin port in use", nil, map[string]string{"KEEL_ADMIN_ADDR": busy.Addr().String()}, "KEEL_ADMIN_ADDR", "address already in use"},
		{"short metrics token", nil, map[string]string{"KEEL_METRICS_TOKEN": "short"}, "KEEL_METRICS_TOKEN", "16 to 1024 characters"},
		{"sent mail retention too short", []string{"--retain-sent-mail", "10m"}, nil, "KEEL_RETAIN_SENT_MAIL", "at least 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"KEEL_DATA_DIR": t.TempDir(), "KEEL_HTTP_ADDR": "127.0.0.1:0"}
			for k, v := range tt.env {
				e[k] = v
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, _, err := run(t, ctx, append([]string{"serve"}, tt.args...), e)
			if err == nil {
				t.Fatal("serve started with bad configuration")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, tt.setting+" ") || !strings.Contains(msg, tt.detail) {
				t.Errorf("error = %q, want it to start with %s and mention %q", msg, tt.setting, tt.detail)
			}
			if strings.Contains(msg, "topsecret") {
				t.Errorf("error leaks a password: %q", msg)
			}
		})
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	t.Parallel()
	_, _, err := run(t, t.Context(), []string{"serve", "--log-level", "verbose"}, map[string]string{"KEEL_LOG_LEVEL": "debug"})
	if err == nil || !strings.Contains(err.Error(), `"verbose"`) {
		t.Fatalf("flag did not win over the environment: %v", err)
	}
	_, _, err = run(t, t.Context(), []string{"serve", "--log-level", "debug", "--trace-exporter", "nope"}, map[string]string{"KEEL_LOG_LEVEL": "verbose"})
	if err == nil || !strings.Contains(err.Error(), "KEEL_TRACE_EXPORTER") {
		t.Fatalf("a valid flag should hide the bad environment value; got %v", err)
	}
}

func TestMigrateUpAndStatus(t *testing.T) {
	t.Parallel()
	e := map[string]string{"KEEL_DATA_DIR": t.TempDir()}
	out, _, err := run(t, t.Context(), []string{"migrate", "status"}, e)
	if err != nil || !regexp.MustCompile(`00001\s+00001_instance\.sql\s+pending`).MatchString(out) {
		t.Fatalf("status before up: %v\n%s", err, out)
	}
	out, _, err = run(t, t.Context(), []string{"migrate", "up"}, e)
	if err != nil || !strings.Contains(out, "applied 00001 00001_instance.sql") {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	out, _, err = run(t, t.Context(), []string{"migrate", "up"}, e)
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate up: %v\n%s", err, out)
	}
	out, _, err = run(t, t.Context(), []string{"migrate", "status"}, e)
	if err != nil || !regexp.MustCompile(`00001\s+00001_instance\.sql\s+applied\s+\d{4}-`).MatchString(out) {
		t.Fatalf("status after up: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(e["KEEL_DATA_DIR"], "keel.db")); err != nil {
		t.Fatalf("default SQLite file not in the data directory: %v", err)
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, t.Context(), []string{"version"}, nil)
	if err != nil || !strings.HasPrefix(out, "keel ") {
		t.Fatalf("version = %q, %v", out, err)
	}
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"migrate", "status", "--help"}} {
		out, _, err := run(t, t.Context(), args, nil)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	out, _, _ = run(t, t.Context(), []string{"serve", "--help"}, nil)
	for _, s := range settings {
		if !strings.Contains(out, "--"+s.flag) || !strings.Contains(out, s.env) {
			t.Errorf("serve --help does not document --%s / %s", s.flag, s.env)
		}
	}
}

func TestUnknownCommandFails(t *testing.T) {
	t.Parallel()
	if _, _, err := run(t, t.Context(), []string{"serv"}, nil); err == nil {
		t.Fatal("unknown command succeeded")
	}
}

// TestREADMEListsEverySetting keeps the README's configuration table in
// step with the code.
func TestREADMEListsEverySetting(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		row := regexp.MustCompile("(?m)^\\|\\s*`" + s.env + "`\\s*\\|\\s*`--" + s.flag + "`")
		if !row.Match(readme) {
			t.Errorf("README.md has no configuration row for %s / --%s", s.env, s.flag)
		}
	}
}

func TestAdminCreate(t *testing.T) {
	t.Parallel()
	e := map[string]string{"KEEL_DATA_DIR": t.TempDir()}
	out, _, err := runWithInput(t, t.Context(), []string{"admin", "create", "--email", "Ops@Example.com", "--password-stdin"}, e, "correct horse battery\n")
	if err != nil || !strings.Contains(out, "created instance administrator ops@example.com") {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	_, _, err = runWithInput(t, t.Context(), []string{"admin", "create", "--email", "ops@example.com", "--password-stdin"}, e, "correct horse battery\n")
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second admin create with the same e-mail = %v, want a conflict", err)
	}
	_, _, err = runWithInput(t, t.Context(), []string{"admin", "create", "--email", "x@example.com", "--password-stdin"}, e, "short\n")
	if err == nil || !strings.Contains(err.Error(), "at least 10") || strings.Contains(err.Error(), "short") {
		t.Fatalf("weak password = %v, want the rule without the password", err)
	}
	_, _, err = runWithInput(t, t.Context(), []string{"admin", "create", "--email", "x@example.com"}, e, "")
	if err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("no terminal and no --password-stdin = %v", err)
	}
	// The administrator can log in: setup is closed, login works.
	base := startServe(t, e)
	resp := postJSON(t, base+"/v1/setup", `{"email":"y@example.com","password":"correct horse battery","name":"Y"}`)
	if resp != 409 {
		t.Fatalf("setup after admin create = %d, want 409", resp)
	}
	if resp := postJSON(t, base+"/v1/auth/login", `{"email":"ops@example.com","password":"correct horse battery"}`); resp != 200 {
		t.Fatalf("login as the created administrator = %d, want 200", resp)
	}
}
