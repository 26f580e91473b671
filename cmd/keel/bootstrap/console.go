package bootstrap

import (
	"net/http"
	"strings"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/adapters/console"
)

var sConsoleSecureCookies = setting{"console-secure-cookies", "KEEL_CONSOLE_SECURE_COOKIES", "false", "true: the console's session cookie is Secure even on plain HTTP, for deployments behind a TLS-terminating proxy (over HTTPS it always is)"}

// loadConsoleSecureCookies reads whether the console marks its cookie
// Secure on requests that reached Keel over plain HTTP.
func loadConsoleSecureCookies(fs *pflag.FlagSet, getenv func(string) string) (bool, error) {
	switch raw := value(fs, getenv, sConsoleSecureCookies); raw {
	case "true", "false":
		return raw == "true", nil
	default:
		return false, sConsoleSecureCookies.errorf("want true or false, got %q", raw)
	}
}

// withConsole sends /console and the paths below /console/ to the web
// console and every other request to the API, untouched: the prefix is
// tested on the path as it came, with no cleaning or redirect of the
// API's paths (which an http.ServeMux in front would add).
func withConsole(web, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(console.Prefix, "/") || strings.HasPrefix(r.URL.Path, console.Prefix) {
			web.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
