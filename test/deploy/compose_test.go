package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeCommand returns how to run Compose here: the docker compose
// plugin where it is installed, else Debian's docker-compose, which make
// test installs when neither is present.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	t.Fatal("neither docker compose nor docker-compose is installed: apt-get install docker-compose (make test does)")
	return nil
}

// composeService is what the test reads of a service in the normalised
// file that compose config prints.
type composeService struct {
	Image       string
	Command     []string
	Environment map[string]string
	Ports       []any
	Healthcheck *struct {
		Test    []string
		Disable bool
	}
}

// TestComposeFile: deploy/compose.yaml is valid for Compose, runs two
// serve nodes with the dispatcher off and one worker without the HTTP
// health check on the image make image builds, sets only settings Keel
// has, publishes every port on loopback only, and its proxy sends to both
// nodes.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	cmd := composeCommand(t)
	c := exec.Command(cmd[0], append(cmd[1:], "-f", "../../deploy/compose.yaml", "config")...)
	c.Env = append(os.Environ(), "KEEL_SECRET_KEY=test-secret-key-0123456789abcdef0123", "KEEL_IP_HASH_KEY=test-ip-hash-key-0123", "POSTGRES_PASSWORD=test")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(cmd, " "), err, stderr.String())
	}
	var file struct {
		Services map[string]composeService
	}
	if err := yaml.Unmarshal(out, &file); err != nil {
		t.Fatalf("parse the normalised compose file: %v\n%s", err, out)
	}

	known := readmeSettings(t)
	for _, name := range []string{"keel-1", "keel-2", "worker"} {
		s, ok := file.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if s.Image != "local/keel:latest" {
			t.Errorf("%s runs %q, want local/keel:latest (make image)", name, s.Image)
		}
		for k := range s.Environment {
			if strings.HasPrefix(k, "KEEL_") && !known[k] {
				t.Errorf("%s sets %s, which is no setting in README's configuration table", name, k)
			}
		}
		for _, k := range []string{"KEEL_DATABASE_URL", "KEEL_SMTP_URL"} {
			if v := s.Environment[k]; v == "" {
				t.Errorf("%s has no %s", name, k)
			}
		}
	}
	for _, name := range []string{"keel-1", "keel-2"} {
		s := file.Services[name]
		if strings.Join(s.Command, " ") != "serve" || s.Environment["KEEL_DISPATCHER"] != "off" {
			t.Errorf("%s: command %v, KEEL_DISPATCHER=%q; want serve with the dispatcher off", name, s.Command, s.Environment["KEEL_DISPATCHER"])
		}
		for _, k := range []string{"KEEL_PUBLIC_URL", "KEEL_TRUSTED_PROXIES", "KEEL_SECRET_KEY", "KEEL_IP_HASH_KEY"} {
			if s.Environment[k] == "" {
				t.Errorf("%s behind the TLS proxy has no %s", name, k)
			}
		}
		if s.Environment["KEEL_CONSOLE_SECURE_COOKIES"] != "true" {
			t.Errorf("%s: KEEL_CONSOLE_SECURE_COOKIES=%q behind a TLS proxy, want true", name, s.Environment["KEEL_CONSOLE_SECURE_COOKIES"])
		}
		if len(s.Ports) > 0 {
			t.Errorf("%s publishes %v: the nodes are reached through the proxy only", name, s.Ports)
		}
	}
	if w := file.Services["worker"]; strings.Join(w.Command, " ") != "worker" || w.Healthcheck == nil ||
		!(w.Healthcheck.Disable || strings.Join(w.Healthcheck.Test, " ") == "NONE") {
		t.Errorf("worker: command %v, healthcheck %+v; want worker with the image's HTTP check off", w.Command, w.Healthcheck)
	}
	for name, s := range file.Services {
		for _, p := range s.Ports {
			if ip := hostIP(p); ip != "127.0.0.1" {
				t.Errorf("%s publishes %v on %q, want 127.0.0.1 only", name, p, ip)
			}
		}
	}
	if len(file.Services["proxy"].Ports) == 0 {
		t.Error("the proxy publishes no port")
	}

	caddy, err := os.ReadFile("../../deploy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*reverse_proxy keel-1:8080 keel-2:8080 `).Match(caddy) {
		t.Error("the Caddyfile does not proxy to keel-1:8080 and keel-2:8080")
	}
}

// hostIP reads the host address of a published port in either form
// compose config prints: "127.0.0.1:8443:8443/tcp" or {host_ip: …}.
func hostIP(p any) string {
	switch v := p.(type) {
	case string:
		parts := strings.Split(v, ":")
		if len(parts) == 3 {
			return parts[0]
		}
		return ""
	case map[string]any:
		s, _ := v["host_ip"].(string)
		return s
	}
	return fmt.Sprint(p)
}

// readmeSettings returns the variables in the README's configuration
// table, which TestREADMEListsEverySetting keeps equal to Keel's settings.
func readmeSettings(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(KEEL_[A-Z0-9_]+)` \\| `--").FindAllSubmatch(readme, -1) {
		known[string(m[1])] = true
	}
	if len(known) < 20 {
		t.Fatalf("found only %d settings in README.md's configuration table", len(known))
	}
	return known
}
