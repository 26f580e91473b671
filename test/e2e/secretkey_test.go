package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/testdb"
)

// TestTwoFactorWorksWithoutSecretKeyOnSQLite runs the binary as a default
// install runs it, on SQLite with no KEEL_SECRET_KEY: a user enrols in
// two-factor authentication, and after a restart the same user's login
// takes a code, since the key file the first start created keeps sealing
// and opening the same secrets.
func TestTwoFactorWorksWithoutSecretKeyOnSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Empty values count as unset, whatever the test's own environment
	// holds: the default install is what is under test.
	env := []string{"KEEL_DATA_DIR=" + dir, "KEEL_SECRET_KEY=", "KEEL_DATABASE_URL="}
	p := keelproc.Serve(t, "keel", env)

	const password = "correct horse battery"
	var setup struct {
		Token string `json:"token"`
	}
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": password, "name": "Ada"}, 201, &setup)
	var enrol struct {
		Secret string `json:"secret"`
	}
	p.MustCall(t, "POST", "/v1/me/two-factor", setup.Token, map[string]any{"password": password}, 201, &enrol)
	code, err := totp.GenerateCode(enrol.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.MustCall(t, "POST", "/v1/me/two-factor/confirm", setup.Token, map[string]any{"code": code}, 200, nil)

	keyFile := filepath.Join(dir, "secret.key")
	info, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("no key file in the data directory: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", perm)
	}
	key, _ := os.ReadFile(keyFile)
	p.Stop(t)
	if strings.Contains(p.Out.String(), strings.TrimSpace(string(key))) {
		t.Error("the log reveals the secret key")
	}

	p = keelproc.Serve(t, "keel-restarted", env)
	var challenge struct {
		Code      string `json:"code"`
		Challenge string `json:"challenge"`
	}
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": password}, 401, &challenge)
	if challenge.Code != "second_factor_required" || challenge.Challenge == "" {
		t.Fatalf("login after the restart = %+v, want second_factor_required with a challenge", challenge)
	}
	// The confirming code's step is spent; the next one is within the
	// accepted skew.
	code, err = totp.GenerateCode(enrol.Secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		Token string `json:"token"`
	}
	p.MustCall(t, "POST", "/v1/auth/login/second-factor", "", map[string]any{"challenge": challenge.Challenge, "code": code}, 200, &login)
	if login.Token == "" {
		t.Fatal("the second factor answered no session token")
	}
	if after, _ := os.ReadFile(keyFile); string(after) != string(key) {
		t.Error("the restart replaced the key file")
	}
	p.Stop(t)
}

// TestPostgresWithoutSecretKeyWarns checks the other default: on
// PostgreSQL, whose nodes share no disk, no key file is made, two-factor
// enrolment stays off (503) and start-up says why in one warning.
func TestPostgresWithoutSecretKeyWarns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := keelproc.Serve(t, "keel", []string{"KEEL_DATABASE_URL=" + testdb.EmptyPostgres(t), "KEEL_DATA_DIR=" + dir, "KEEL_SECRET_KEY="})
	const warning = "two-factor authentication is off: KEEL_SECRET_KEY is not set; on PostgreSQL set the same secret on every node to turn it on"
	if l := p.Out.Find(warning); l == nil || l["level"] != "WARN" {
		t.Errorf("no start-up warning %q:\n%s", warning, p.Out)
	}
	if n := p.Out.Count(warning); n != 1 {
		t.Errorf("the warning was logged %d times, want once", n)
	}
	var setup struct {
		Token string `json:"token"`
	}
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &setup)
	p.MustCall(t, "POST", "/v1/me/two-factor", setup.Token, map[string]any{"password": "correct horse battery"}, 503, nil)
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); !os.IsNotExist(err) {
		t.Errorf("a key file was made for PostgreSQL (stat: %v)", err)
	}
	p.Stop(t)
}
