package bootstrap

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestServeWritesKeyUsage: authentication only reads, so an API key's
// last use reaches the database through serve's usage writer, by the
// time serve has stopped at the latest.
func TestServeWritesKeyUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"KEEL_HTTP_ADDR": "127.0.0.1:0", "KEEL_ADMIN_ADDR": "127.0.0.1:0", "KEEL_DATA_DIR": dir}
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, nil, &out, &out) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listeningAddr.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
		}
	}
	if base == "" {
		t.Fatalf("serve did not start:\n%s", out.String())
	}
	call := func(method, path, token, body string, want int) map[string]any {
		t.Helper()
		var v map[string]any
		callJSON(t, method, base+path, token, body, want, &v)
		return v
	}
	setup := call("POST", "/v1/setup", "", `{"email":"ada@example.com","password":"correct horse battery","name":"Ada"}`, 201)
	token, _ := setup["token"].(string)
	ws := call("POST", "/v1/workspaces", token, `{"name":"Docs","slug":"docs"}`, 201)
	key := call("POST", "/v1/workspaces/docs/api-keys", token, `{"name":"build","scopes":["forms:read"]}`, 201)
	call("GET", "/v1/workspaces/docs/forms", key["key"].(string), "", 200)
	stop()

	db, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(dir, "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var k domain.APIKey
	if err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		k, err = st.APIKeys().Get(ctx, domain.WorkspaceID(ws["id"].(string)), domain.APIKeyID(key["id"].(string)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if k.LastUsedAt() == nil {
		t.Fatal("the key's last use was never written")
	}
}
