package nodes

import (
	"net/http"
	"testing"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/testdb"
)

// TestNodesShareOneBudgetPostgres: with an anonymous quota of 10 a
// minute, requests spread over two nodes are refused from the 11th on,
// not from the 21st; and failed logins for one account, spread over
// both, reach the throttle's growing delay as they do on one node.
func TestNodesShareOneBudgetPostgres(t *testing.T) {
	url := testdb.EmptyPostgres(t)
	env := append(nodeEnv(t, url), "KEEL_RATE_LIMIT_ANONYMOUS=10")
	a := keelproc.Serve(t, "A", env)
	b := keelproc.Serve(t, "B", env)
	nodes := []*keelproc.Proc{a, b}
	site := keelproc.NewSite(t, a, "limits", "")

	posts := "/v1/sites/" + site.WS + "/posts"
	for i := range 10 {
		nodes[i%2].MustCall(t, "GET", posts, "", nil, http.StatusOK, nil)
	}
	for _, p := range nodes {
		status, body, err := p.Call(t.Context(), "GET", posts, "", nil)
		if err != nil || status != http.StatusTooManyRequests {
			t.Fatalf("%s: 11th request of the minute over both nodes answered %d (%v) %s, want 429", p.Name, status, err, body)
		}
	}

	// Login throttling: 5 failures in a row for one account and address
	// are free; the 6th sets a wait, which the next attempt meets on
	// whichever node it reaches.
	wrong := map[string]any{"email": "owner@site.test", "password": "not the password at all"}
	for i := range 6 {
		nodes[i%2].MustCall(t, "POST", "/v1/auth/login", "", wrong, http.StatusUnauthorized, nil)
	}
	for _, p := range nodes {
		status, body, err := p.Call(t.Context(), "POST", "/v1/auth/login", "", wrong)
		if err != nil || status != http.StatusTooManyRequests {
			t.Fatalf("%s: login after 6 failures over both nodes answered %d (%v) %s, want 429", p.Name, status, err, body)
		}
	}
}
