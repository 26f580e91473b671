package bootstrap

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestPublicURLDefaultsToTheListeningAddress(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ addr, bound, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"127.0.0.1:0", "127.0.0.1:41234", "http://127.0.0.1:41234"},
		{":8080", "[::]:8080", "http://localhost:8080"},
		{"0.0.0.0:0", "0.0.0.0:5555", "http://localhost:5555"},
		{"[::]:8080", "[::]:8080", "http://localhost:8080"},
		{"[::1]:9000", "[::1]:9000", "http://[::1]:9000"},
		{"api.internal:80", "10.0.0.2:80", "http://api.internal:80"},
	} {
		bound, err := net.ResolveTCPAddr("tcp", tt.bound)
		if err != nil {
			t.Fatal(err)
		}
		if got := (contentConfig{}).publicURLFor(tt.addr, bound); got != tt.want {
			t.Errorf("publicURLFor(%q, %s) = %q, want %q", tt.addr, tt.bound, got, tt.want)
		}
	}
}

func TestPublicURLIsValidated(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://api.example.com":       "https://api.example.com",
		"https://api.example.com/":      "https://api.example.com",
		"http://example.com:8080/keel/": "http://example.com:8080/keel",
	} {
		c, err := loadContentConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), env(map[string]string{"KEEL_PUBLIC_URL": raw}))
		if err != nil || c.publicURL != want {
			t.Errorf("KEEL_PUBLIC_URL=%q: %q, %v; want %q", raw, c.publicURL, err, want)
		}
	}
	for _, raw := range []string{"api.example.com", "/v1", "ftp://example.com", "https://", "https://u:p@example.com",
		"https://example.com/?a=1", "https://example.com?", "https://example.com/#top", "https://example.com#", "mailto:a@example.com", "https://%zz"} {
		_, err := loadContentConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), env(map[string]string{"KEEL_PUBLIC_URL": raw}))
		if err == nil || !strings.HasPrefix(err.Error(), "KEEL_PUBLIC_URL (--public-url): ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("KEEL_PUBLIC_URL=%q: err = %v, want one line naming the setting", raw, err)
		}
	}
}

// TestFeedLinksFollowPublicURL runs serve with KEEL_PUBLIC_URL and reads
// the feed with a forged Host header: its links are on the configured URL.
// Then it changes the workspace's slug: the node that made the change
// answers for the new slug and no longer for the old one at once, not
// after its next poll of the change counter.
func TestFeedLinksFollowPublicURL(t *testing.T) {
	t.Parallel()
	base := startServe(t, map[string]string{"KEEL_DATA_DIR": t.TempDir(), "KEEL_PUBLIC_URL": "https://api.example.com/"})
	send := func(method, path, token, body string) (int, []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Host = "evil.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	call := func(method, path, token, body string) []byte {
		t.Helper()
		status, out := send(method, path, token, body)
		if status >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, status, out)
		}
		return out
	}
	var setup struct{ Token string }
	if err := json.Unmarshal(call(http.MethodPost, "/v1/setup", "", `{"email":"ada@example.com","password":"correct horse battery","name":"Ada"}`), &setup); err != nil {
		t.Fatal(err)
	}
	call(http.MethodPost, "/v1/workspaces", setup.Token, `{"name":"Docs","slug":"docs"}`)
	var entry struct{ ID string }
	if err := json.Unmarshal(call(http.MethodPost, "/v1/workspaces/docs/entries", setup.Token, `{"kind":"post","title":"Hello","body":"hi"}`), &entry); err != nil {
		t.Fatal(err)
	}
	call(http.MethodPost, "/v1/workspaces/docs/entries/"+entry.ID+"/publish", setup.Token, "{}")
	feed := string(call(http.MethodGet, "/v1/sites/docs/feed.xml", "", ""))
	for _, want := range []string{`href="https://api.example.com/v1/sites/docs/feed.xml"`, `href="https://api.example.com/v1/sites/docs/posts/hello"`} {
		if !strings.Contains(feed, want) {
			t.Errorf("the feed lacks %s:\n%s", want, feed)
		}
	}
	if strings.Contains(feed, "evil") {
		t.Errorf("the request's Host reached the feed:\n%s", feed)
	}

	call(http.MethodPatch, "/v1/workspaces/docs", setup.Token, `{"slug":"handbook"}`)
	if status, body := send(http.MethodGet, "/v1/sites/docs/feed.xml", "", ""); status != http.StatusNotFound {
		t.Errorf("the old slug's feed right after the change: %d, want 404\n%s", status, body)
	}
	if feed := string(call(http.MethodGet, "/v1/sites/handbook/feed.xml", "", "")); !strings.Contains(feed, `href="https://api.example.com/v1/sites/handbook/posts/hello"`) {
		t.Errorf("the new slug's feed:\n%s", feed)
	}
}
