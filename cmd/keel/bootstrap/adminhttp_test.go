package bootstrap

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// getWithToken makes a GET with an optional bearer token and returns the
// status and the body.
func getWithToken(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminListener: the metrics and the profiles are on the admin
// listener only; the public listener answers 404 for both.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	base, admin := startServeAdmin(t, map[string]string{"KEEL_DATA_DIR": t.TempDir()})
	if admin == "off" {
		t.Fatal("serve started no admin listener")
	}
	getWithToken(t, base+"/healthz", "") // a request for the metrics to count
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
		if status, body := getWithToken(t, base+path, ""); status != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
			t.Errorf("public GET %s = %d %.200s, want a 404 problem", path, status, body)
		}
	}
	if status, body := getWithToken(t, admin+"/metrics", ""); status != http.StatusOK || !strings.Contains(body, `http_server_request_duration_seconds_count{`) ||
		!strings.Contains(body, `go_goroutines `) {
		t.Errorf("admin GET /metrics = %d, want 200 with the request and Go metrics:\n%.2000s", status, body)
	} else if !regexp.MustCompile(`(?m)^keel_forms_autoresponses_skipped_total(\{[^}]*\})? 0$`).MatchString(body) {
		t.Errorf("admin GET /metrics has no keel_forms_autoresponses_skipped_total at 0:\n%.3000s", body)
	}
	// Every retention job counts what it deletes from its first run, at
	// start: the mail prune job, which serve's dispatcher brings, and the
	// jobs of submissions, events and Idempotency-Keys.
	pruned := regexp.MustCompile(`(?m)^keel_retention_pruned_total\{.*what="([a-z_]+)".*\} \d+$`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body := getWithToken(t, admin+"/metrics", "")
		var whats []string
		for _, m := range pruned.FindAllStringSubmatch(body, -1) {
			whats = append(whats, m[1])
		}
		slices.Sort(whats)
		if want := []string{"events", "idempotency_keys", "sent_mail", "submissions"}; slices.Equal(whats, want) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("admin GET /metrics counts keel_retention_pruned_total for %v, want %v:\n%.3000s", whats, want, body)
		}
	}
	if status, body := getWithToken(t, admin+"/debug/pprof/", ""); status != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("admin GET /debug/pprof/ = %d %.300s, want the profiles' index", status, body)
	}
	if status, body := getWithToken(t, admin+"/debug/pprof/goroutine?debug=1", ""); status != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("admin GET /debug/pprof/goroutine = %d %.300s, want the goroutine profile", status, body)
	}
	if status, body := getWithToken(t, admin+"/debug/pprof/profile?seconds=1", ""); status != http.StatusOK || len(body) == 0 {
		t.Errorf("admin GET /debug/pprof/profile = %d with %d bytes, want a CPU profile", status, len(body))
	}
	if status, _ := getWithToken(t, admin+"/v1/instance", ""); status != http.StatusNotFound {
		t.Errorf("admin GET /v1/instance = %d, want 404: the admin listener serves no API", status)
	}
}

// TestMetricsTokenOpensPublicMetrics: with KEEL_METRICS_TOKEN the public
// listener serves the metrics to that bearer token only, and
// KEEL_ADMIN_ADDR=off leaves the admin listener out.
func TestMetricsTokenOpensPublicMetrics(t *testing.T) {
	t.Parallel()
	const token = "scrape-0123456789abcdef"
	base, admin := startServeAdmin(t, map[string]string{"KEEL_DATA_DIR": t.TempDir(), "KEEL_METRICS_TOKEN": token, "KEEL_ADMIN_ADDR": "off"})
	if admin != "off" {
		t.Errorf("KEEL_ADMIN_ADDR=off: admin listener on %s", admin)
	}
	if status, body := getWithToken(t, base+"/metrics", token); status != http.StatusOK || !strings.Contains(body, "go_goroutines ") {
		t.Errorf("public GET /metrics with the token = %d %.300s, want 200 and the metrics", status, body)
	}
	for _, bad := range []string{"", token[1:], token + "0"} {
		if status, body := getWithToken(t, base+"/metrics", bad); status != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthenticated"`) {
			t.Errorf("public GET /metrics with token %q = %d %.300s, want a 401 problem", bad, status, body)
		}
	}
	if status, _ := getWithToken(t, base+"/debug/pprof/", token); status != http.StatusNotFound {
		t.Errorf("public GET /debug/pprof/ with the token = %d, want 404: the token opens the metrics only", status)
	}
}
