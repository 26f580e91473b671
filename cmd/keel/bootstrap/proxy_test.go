package bootstrap

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestTrustProxies: a request from a trusted proxy comes from the client
// the proxy names, the rightmost address in X-Forwarded-For that is not a
// trusted proxy itself; from anyone else, or with a header no proxy would
// write, it keeps the connection's address.
func TestTrustProxies(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"NoHeader", "10.0.0.2:5000", nil, "10.0.0.2:5000"},
		{"FromProxy", "10.0.0.2:5000", []string{"198.51.100.7"}, "198.51.100.7:5000"},
		{"FromClientItself", "203.0.113.5:5000", []string{"198.51.100.7"}, "203.0.113.5:5000"},
		{"SpoofedFirstHop", "10.0.0.2:5000", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7:5000"},
		{"ChainOfProxies", "10.0.0.2:5000", []string{"198.51.100.7, 10.0.0.9"}, "198.51.100.7:5000"},
		{"HeaderLines", "10.0.0.2:5000", []string{"6.6.6.6", "198.51.100.7,10.1.2.3"}, "198.51.100.7:5000"},
		{"OnlyProxies", "10.0.0.2:5000", []string{"10.0.0.9"}, "10.0.0.9:5000"},
		{"Malformed", "10.0.0.2:5000", []string{"198.51.100.7, not-an-address"}, "10.0.0.2:5000"},
		{"MalformedFurtherBack", "10.0.0.2:5000", []string{"junk, 198.51.100.7"}, "198.51.100.7:5000"},
		{"IPv6", "[fd00::1]:5000", []string{"[2001:db8::1]:4711"}, "[2001:db8::1]:5000"},
		{"IPv4Mapped", "[::ffff:10.0.0.2]:5000", []string{"::ffff:198.51.100.7"}, "198.51.100.7:5000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			h := trustProxies(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			r := httptest.NewRequest("GET", "/v1/instance", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Errorf("RemoteAddr %q, want %q", got, tc.want)
			}
			if r.RemoteAddr != tc.peer {
				t.Errorf("the server's request was changed to %q", r.RemoteAddr)
			}
		})
	}
}

func TestLoadTrustedProxies(t *testing.T) {
	t.Parallel()
	load := func(raw string) ([]netip.Prefix, error) {
		return loadTrustedProxies(pflag.NewFlagSet("serve", pflag.ContinueOnError), env(map[string]string{"KEEL_TRUSTED_PROXIES": raw}))
	}
	got, err := load(" 10.1.2.3/8, 192.0.2.1 ,::ffff:172.16.0.0/108,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("fd00::/8"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("network %d: %v, want %v", i, got[i], want[i])
		}
	}
	if got, err := load(""); err != nil || got != nil {
		t.Errorf("unset: %v, %v; want none", got, err)
	}
	for _, bad := range []string{"proxy.local", "10.0.0.0/33", "10.0.0.1,", "::ffff:0.0.0.0/90", strings.Repeat("10.0.0.1,", 64) + "10.0.0.1"} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "KEEL_TRUSTED_PROXIES") {
			t.Errorf("%q: err %v, want one naming KEEL_TRUSTED_PROXIES", bad, err)
		}
	}
}

// TestServeTrustsProxies: behind a trusted proxy each client the proxy
// names has its own submission budget per IP; without the setting, the
// header is ignored and everyone shares the proxy's.
func TestServeTrustsProxies(t *testing.T) {
	t.Parallel()
	for _, trusted := range []bool{true, false} {
		e := map[string]string{"KEEL_DATA_DIR": t.TempDir(), "KEEL_SUBMIT_PER_IP": "1"}
		if trusted {
			e["KEEL_TRUSTED_PROXIES"] = "127.0.0.0/8"
		}
		base := startServe(t, e)
		var setup struct {
			Token string `json:"token"`
		}
		callJSON(t, "POST", base+"/v1/setup", "", `{"email":"ada@example.com","password":"correct horse battery","name":"Ada"}`, http.StatusCreated, &setup)
		callJSON(t, "POST", base+"/v1/workspaces", setup.Token, `{"name":"Docs","slug":"docs"}`, http.StatusCreated, nil)
		var form struct {
			ID string `json:"id"`
		}
		callJSON(t, "POST", base+"/v1/workspaces/docs/forms", setup.Token, `{"name":"Contact","fields":[{"name":"message","type":"text"}]}`, http.StatusCreated, &form)
		submit := func(client string) int {
			req, err := http.NewRequest("POST", base+"/v1/forms/"+form.ID+"/submissions", strings.NewReader(`{"message":"hi"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", client)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		want := map[bool][3]int{true: {201, 201, 429}, false: {201, 429, 429}}[trusted]
		got := [3]int{submit("198.51.100.7"), submit("198.51.100.8"), submit("198.51.100.7")}
		if got != want {
			t.Errorf("trusted proxies %v: statuses %v, want %v", trusted, got, want)
		}
	}
}
