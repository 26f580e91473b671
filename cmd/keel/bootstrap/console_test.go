package bootstrap

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestConsoleSecureCookiesSetting(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{"": false, "false": false, "true": true} {
		got, err := loadConsoleSecureCookies(pflag.NewFlagSet("t", pflag.ContinueOnError), env(map[string]string{"KEEL_CONSOLE_SECURE_COOKIES": raw}))
		if err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", raw, got, err, want)
		}
	}
	_, err := loadConsoleSecureCookies(pflag.NewFlagSet("t", pflag.ContinueOnError), env(map[string]string{"KEEL_CONSOLE_SECURE_COOKIES": "yes"}))
	if err == nil || !strings.Contains(err.Error(), "KEEL_CONSOLE_SECURE_COOKIES") {
		t.Errorf("yes: %v, want an error naming the setting", err)
	}
}

func TestWithConsoleLeavesTheAPIPathsAlone(t *testing.T) {
	t.Parallel()
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(name)) })
	}
	h := withConsole(named("console"), named("api"))
	for path, want := range map[string]string{
		"/console": "console", "/console/": "console", "/console/sign-in": "console",
		"/consoles": "api", "/v1/me": "api", "/v1//me": "api", "/v1/../console/": "api", "/healthz": "api",
	} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://keel.test/", nil)
		req.URL.Path = path
		h.ServeHTTP(w, req)
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("%s: %d %q, want %s", path, w.Code, w.Body, want)
		}
	}
}
