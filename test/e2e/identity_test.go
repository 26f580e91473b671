package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/testdb"
)

// propagationLimit is the README's promise: revoked, expired and disabled
// credentials and changed memberships take effect on every node within one
// second.
const propagationLimit = time.Second

// TestPolicyReloadAcrossTwoNodes runs two keel binaries on one PostgreSQL
// database, as a deployment behind a load balancer does, changes access on
// node A and checks that node B enforces each change within a second: the
// Casbin policy poller for memberships and roles, the credential cache for
// revoked keys and disabled users.
func TestPolicyReloadAcrossTwoNodes(t *testing.T) {
	t.Parallel()
	dbURL := testdb.EmptyPostgres(t)
	// Both start at once on the empty database: the migration lock must
	// let one migrate while the other waits.
	a := startClusterNode(t, dbURL, "A")
	b := startClusterNode(t, dbURL, "B")
	a.waitListening(t)
	b.waitListening(t)

	const password = "correct horse battery"
	var setup struct {
		Token string `json:"token"`
	}
	a.mustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": password, "name": "Ada"}, 201, &setup)
	admin := setup.Token
	var ws struct {
		ID string `json:"id"`
	}
	a.mustCall(t, "POST", "/v1/workspaces", admin, map[string]any{"name": "Docs site", "slug": "docs"}, 201, &ws)
	var bob struct {
		ID string `json:"id"`
	}
	a.mustCall(t, "POST", "/v1/users", admin, map[string]any{"email": "bob@example.com", "password": password, "name": "Bob"}, 201, &bob)
	bobLogin := func() string {
		var res struct {
			Token string `json:"token"`
		}
		b.mustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": "bob@example.com", "password": password}, 200, &res)
		return res.Token
	}
	bobTok := bobLogin()
	wsPath := "/v1/workspaces/" + ws.ID
	b.mustCall(t, "GET", wsPath, bobTok, nil, 404, nil)

	latencies := map[string]time.Duration{}
	record := func(m map[string]time.Duration) {
		for k, v := range m {
			latencies[k] = v
		}
	}

	// A membership added on A opens the workspace on B.
	a.mustCall(t, "POST", wsPath+"/members", admin, map[string]any{"user_id": bob.ID, "role": "editor"}, 201, nil)
	record(b.await(t, probe{what: "member added (404 → 200)", method: "GET", path: wsPath, tok: bobTok, want: 200}))
	b.mustCall(t, "POST", wsPath+"/api-keys", bobTok, apiKeyBody("editor probe"), 403, nil)

	// A promotion on A lets bob manage API keys on B; a demotion takes
	// that away again.
	a.mustCall(t, "PATCH", wsPath+"/members/"+bob.ID, admin, map[string]any{"role": "admin"}, 200, nil)
	var bobKey struct {
		Key string `json:"key"`
	}
	record(b.await(t, probe{what: "promoted to admin (403 → 201)", method: "POST", path: wsPath + "/api-keys", tok: bobTok,
		body: apiKeyBody("bob's key"), want: 201, into: &bobKey}))
	a.mustCall(t, "PATCH", wsPath+"/members/"+bob.ID, admin, map[string]any{"role": "viewer"}, 200, nil)
	record(b.await(t, probe{what: "demoted to viewer (201 → 403)", method: "POST", path: wsPath + "/api-keys", tok: bobTok,
		body: apiKeyBody("viewer probe"), want: 403}))
	b.mustCall(t, "GET", wsPath, bobTok, nil, 200, nil) // a viewer still reads

	// A key made on A works on B until A revokes it.
	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	a.mustCall(t, "POST", wsPath+"/api-keys", admin, apiKeyBody("build"), 201, &key)
	// A new key is a policy change too: B knows it after its next poll.
	record(b.await(t, probe{what: "API key created (404 → 200)", method: "GET", path: wsPath, tok: key.Key, want: 200}))
	// B verifies the key afresh just before the revocation, so that its
	// credential cache keeps it longest: the worst case.
	time.Sleep(propagationLimit + 100*time.Millisecond)
	b.mustCall(t, "GET", wsPath, key.Key, nil, 200, nil)
	a.mustCall(t, "DELETE", wsPath+"/api-keys/"+key.ID, admin, nil, 204, nil)
	record(b.await(t, probe{what: "API key revoked (200 → 401)", method: "GET", path: wsPath, tok: key.Key, want: 401}))

	// Disabling bob on A ends, on B, his session and the key he made,
	// both freshly verified there.
	bobTok2 := bobLogin()
	b.mustCall(t, "GET", "/v1/me", bobTok2, nil, 200, nil)
	b.mustCall(t, "GET", wsPath, bobKey.Key, nil, 200, nil)
	a.mustCall(t, "PATCH", "/v1/users/"+bob.ID, admin, map[string]any{"status": "disabled"}, 200, nil)
	record(b.await(t,
		probe{what: "user disabled: session (200 → 401)", method: "GET", path: "/v1/me", tok: bobTok2, want: 401},
		probe{what: "user disabled: their key (200 → 401)", method: "GET", path: wsPath, tok: bobKey.Key, want: 401},
	))
	b.mustCall(t, "GET", "/v1/me", bobTok, nil, 401, nil)

	for _, what := range slices.Sorted(maps.Keys(latencies)) {
		t.Logf("node B enforced %-40s first seen by a request sent %4d ms after node A answered", what+":", latencies[what].Milliseconds())
	}
	a.stop(t)
	b.stop(t)
}

func apiKeyBody(name string) map[string]any {
	return map[string]any{"name": name, "scopes": []string{"content:read"}}
}

// clusterNode is one keel serving on a loopback port: a binary, or, with
// no proc, the in-process server, of which call needs only the name and
// the base URL.
type clusterNode struct {
	name string
	base string
	// public is the KEEL_PUBLIC_URL the node builds its links on, when
	// the test sets one.
	public string
	proc   *keelproc.Proc
}

// links is the base URL of the links the node's answers hold.
func (n *clusterNode) links() string {
	if n.public != "" {
		return n.public
	}
	return n.base
}

// startClusterNode starts `keel serve` against dbURL
// with the extra environment variables env ("KEY=value").
func startClusterNode(t *testing.T, dbURL, name string, env ...string) *clusterNode {
	t.Helper()
	env = append([]string{"KEEL_DATABASE_URL=" + dbURL, "KEEL_DATA_DIR=" + t.TempDir()}, env...)
	return &clusterNode{name: name, proc: keelproc.Start(t, "node "+name, env, "serve", "--http-addr", "127.0.0.1:0")}
}

func (n *clusterNode) waitListening(t *testing.T) {
	t.Helper()
	n.proc.WaitReady(t)
	n.base = n.proc.URL
}

// stop sends SIGTERM and checks that the node exits cleanly: status 0, a
// stopped line, nothing on stderr.
func (n *clusterNode) stop(t *testing.T) {
	t.Helper()
	n.proc.Stop(t)
}

// call sends a JSON request (no body when body is nil) with a bearer token
// (none when token is empty) and returns the status and body.
func (n *clusterNode) call(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	resp, out := n.fetch(t, method, path, token, nil, body)
	return resp.StatusCode, out
}

// mustCall is call that fails the test unless the status is want, and
// decodes the body into into when it is not nil.
func (n *clusterNode) mustCall(t *testing.T, method, path, token string, body any, want int, into any) {
	t.Helper()
	status, out := n.call(t, method, path, token, body)
	if status != want {
		t.Fatalf("node %s: %s %s = %d %s, want %d", n.name, method, path, status, out, want)
	}
	if into != nil {
		if err := json.Unmarshal(out, into); err != nil {
			t.Fatalf("node %s: %s %s: decode %s: %v", n.name, method, path, out, err)
		}
	}
}

// probe is a request and the status it must come to answer.
type probe struct {
	what              string
	method, path, tok string
	body              any
	want              int
	into              any // decodes the wanted answer when not nil
}

// await repeats each probe's request until it answers as wanted and
// returns, per probe, how long that took from the call. The changes the
// probes wait for must apply within propagationLimit: every request that
// reaches the node from then on must see them, so the last round of
// requests is sent at the limit.
func (n *clusterNode) await(t *testing.T, probes ...probe) map[string]time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(propagationLimit)
	took := map[string]time.Duration{}
	last := make([]string, len(probes))
	trail := make([][]string, len(probes)) // each change of answer, and when
	answered := make([]int, len(probes))
	for final := false; !final && len(took) < len(probes); {
		final = !time.Now().Before(deadline)
		for i, p := range probes {
			if _, done := took[p.what]; done {
				continue
			}
			sent := time.Since(start)
			status, out := n.call(t, p.method, p.path, p.tok, p.body)
			if status != answered[i] {
				answered[i] = status
				trail[i] = append(trail[i], fmt.Sprintf("%d at %d ms", status, sent.Milliseconds()))
			}
			if status != p.want {
				last[i] = fmt.Sprintf("%d %s", status, out)
				continue
			}
			took[p.what] = sent
			if p.into != nil {
				if err := json.Unmarshal(out, p.into); err != nil {
					t.Fatalf("node %s: %s %s: decode %s: %v", n.name, p.method, p.path, out, err)
				}
			}
		}
		time.Sleep(min(5*time.Millisecond, time.Until(deadline)))
	}
	for i, p := range probes {
		if _, done := took[p.what]; done {
			continue
		}
		// Say how late it was, if it came at all, so a failure tells a
		// slow reload from a missing one.
		late := "not within 10s"
		for time.Since(start) < 10*time.Second {
			if s, _ := n.call(t, p.method, p.path, p.tok, p.body); s == p.want {
				late = "after " + time.Since(start).Round(time.Millisecond).String()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("node %s, %s: %s %s still answered %s %v after the change, want %d; it came %s",
			n.name, p.what, p.method, p.path, last[i], propagationLimit, p.want, late)
	}
	for i, p := range probes {
		t.Logf("node %s, %s: %s", n.name, p.what, strings.Join(trail[i], ", "))
	}
	if len(took) < len(probes) {
		t.FailNow()
	}
	return took
}
