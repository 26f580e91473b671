package bootstrap

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/domain"
)

// resolveIn resolves the secret key as serve would with env and the store
// configuration sc.
func resolveIn(t *testing.T, env map[string]string, sc storeConfig) (*domain.SecretSealer, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	addFlags(fs, settings...)
	return resolveSecretKey(fs, func(k string) string { return env[k] }, sc)
}

func sqliteIn(dir string) storeConfig {
	return storeConfig{dataDir: dir, databaseURL: "sqlite:" + filepath.Join(dir, "keel.db")}
}

func TestSecretKeyFileIsCreatedOnFirstStart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keel-data") // not there yet
	s, err := resolveIn(t, nil, sqliteIn(dir))
	if err != nil || s == nil {
		t.Fatalf("resolve = %v, %v; want a sealer from a new key file", s, err)
	}
	path := filepath.Join(dir, secretKeyFile)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", perm)
	}
	b, _ := os.ReadFile(path)
	if raw, err := hex.DecodeString(strings.TrimSuffix(string(b), "\n")); err != nil || len(raw) != 32 {
		t.Errorf("key file holds %q, want 32 bytes in hexadecimal and a newline", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %v, want only %s (no temporary file left)", entries, secretKeyFile)
	}
	other := filepath.Join(t.TempDir(), "other")
	if _, err := resolveIn(t, nil, sqliteIn(other)); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(filepath.Join(other, secretKeyFile)); bytes.Equal(b, b2) {
		t.Error("two data directories got the same key: it is not random")
	}
}

func TestSecretKeyFileIsReusedAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := resolveIn(t, nil, sqliteIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, secretKeyFile))
	sealed := first.Seal([]byte("totp secret"), "user-1")

	second, err := resolveIn(t, nil, sqliteIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := second.Open(sealed, "user-1"); err != nil || string(plain) != "totp secret" {
		t.Fatalf("after a restart Open = %q, %v; want the secret sealed before it", plain, err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, secretKeyFile)); !bytes.Equal(before, after) {
		t.Error("a restart rewrote the key file")
	}
	// The file's content is a valid KEEL_SECRET_KEY that opens the same
	// secrets, which is how an operator moves to the setting.
	viaEnv, err := resolveIn(t, map[string]string{"KEEL_SECRET_KEY": strings.TrimSpace(string(before))}, sqliteIn(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viaEnv.Open(sealed, "user-1"); err != nil {
		t.Errorf("KEEL_SECRET_KEY set to the file's content does not open its secrets: %v", err)
	}
}

func TestSecretKeyFileCreatedOnceByConcurrentStarts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), secretKeyFile)
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := readOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatalf("processes starting at once got different keys: %q", keys)
		}
	}
	// A process that found no file, then lost the race to create it,
	// must not replace the winner's key, which may already seal secrets.
	if err := createKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if k, err := readKeyFile(path); err != nil || k != keys[0] {
		t.Errorf("a late creation replaced the key file: %q, %v; want %q", k, err, keys[0])
	}
}

func TestSecretKeyFileReadableByOthersIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := resolveIn(t, nil, sqliteIn(dir)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, secretKeyFile)
	key, _ := os.ReadFile(path)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		s, err := resolveIn(t, nil, sqliteIn(dir))
		if err == nil || s != nil {
			t.Fatalf("mode %04o: resolve = %v, %v; want a refusal", mode, s, err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "KEEL_SECRET_KEY ") || !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
			t.Errorf("mode %04o: error = %q, want it to name the setting, the file and the fix", mode, msg)
		}
		if strings.Contains(msg, strings.TrimSpace(string(key))) {
			t.Errorf("error reveals the key: %q", msg)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveIn(t, nil, sqliteIn(dir)); err != nil {
		t.Errorf("a key file only its owner may read (0400) is refused: %v", err)
	}
}

func TestMalformedSecretKeyFileIsRefused(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"empty":     "",
		"too short": strings.Repeat("ab", 16) + "\n",
		"too long":  strings.Repeat("ab", 33) + "\n",
		"not hex":   strings.Repeat("zz", 32) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, secretKeyFile)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := resolveIn(t, nil, sqliteIn(dir))
			if err == nil || s != nil {
				t.Fatalf("resolve = %v, %v; want a refusal", s, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "KEEL_SECRET_KEY ") || !strings.Contains(msg, path) || !strings.Contains(msg, "malformed") {
				t.Errorf("error = %q, want it to name the setting and the file and say it is malformed", msg)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Errorf("the malformed file was replaced by %q", b)
			}
		})
	}
}

func TestSecretKeySettingWinsOverTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := resolveIn(t, map[string]string{"KEEL_SECRET_KEY": strings.Repeat("k", 40)}, sqliteIn(dir))
	if err != nil || s == nil {
		t.Fatalf("resolve = %v, %v; want the setting's sealer", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, secretKeyFile)); !os.IsNotExist(err) {
		t.Errorf("a key file was created although KEEL_SECRET_KEY is set (stat: %v)", err)
	}
}

func TestPostgresWithoutSecretKeyLeavesTwoFactorOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sc := storeConfig{dataDir: dir, databaseURL: "postgres://keel@db.example.com/keel"}
	s, err := resolveIn(t, nil, sc)
	if err != nil || s != nil {
		t.Fatalf("resolve = %v, %v; want no sealer and no error", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, secretKeyFile)); !os.IsNotExist(err) {
		t.Errorf("a key file was created for PostgreSQL, whose other nodes could not read it (stat: %v)", err)
	}
	sc.databaseURL = "postgresql://keel@db.example.com/keel"
	if s, err := resolveIn(t, map[string]string{"KEEL_SECRET_KEY": strings.Repeat("k", 40)}, sc); err != nil || s == nil {
		t.Errorf("with KEEL_SECRET_KEY on PostgreSQL: resolve = %v, %v; want a sealer", s, err)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	warnNoSecretKey(log, s)
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "KEEL_SECRET_KEY") {
		t.Errorf("no warning naming KEEL_SECRET_KEY: %s", logs.String())
	}
	logs.Reset()
	sealer, _ := domain.NewSecretSealer(strings.Repeat("k", 40))
	warnNoSecretKey(log, sealer)
	if logs.Len() != 0 {
		t.Errorf("a warning although a key is set: %s", logs.String())
	}
}
