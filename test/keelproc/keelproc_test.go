package keelproc

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	_ = RemoveBinary()
	os.Exit(code)
}

// TestServeAndStop runs the real binary on embedded SQLite: Serve must
// wake on the listening line, which comes well after it starts waiting,
// and find the port, and Stop must see a clean exit.
func TestServeAndStop(t *testing.T) {
	t.Parallel()
	p := Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	if l := p.Out.Find("listening"); l == nil || p.URL != "http://"+l["addr"].(string) {
		t.Fatalf("URL %q, listening line %v", p.URL, l)
	}
	var health struct{ Status string }
	p.MustCall(t, "GET", "/healthz", "", nil, 200, &health)
	if health.Status != "ok" {
		t.Fatalf("healthz status %q, want ok", health.Status)
	}
	p.Stop(t)
}

// TestKill checks that Kill ends a process that would otherwise run on,
// and that the test can read what it wrote until then.
func TestKill(t *testing.T) {
	t.Parallel()
	p := Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	p.Kill(t)
	if p.Out.Find("stopped") != nil {
		t.Fatalf("a killed process logged stopped:\n%s", p.Out)
	}
	if _, _, err := p.Call(t.Context(), "GET", "/healthz", "", nil); err == nil {
		t.Fatal("a killed server still answers")
	}
}
