// Package webhooksig checks Keel's webhook signatures against the official
// Standard Webhooks implementation, the npm package standardwebhooks run by
// node (verify.mjs), so that Keel's signer is never its own only judge. The
// package is pinned by package-lock.json and installed with npm ci into
// node_modules here when it is missing; without node and npm the test fails,
// saying so, rather than skip.
package webhooksig

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

type verifyCase struct {
	Secret    string `json:"secret"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Signature string `json:"signature"`
	Body      string `json:"body"`
}

type signCase struct {
	Secret    string `json:"secret"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Body      string `json:"body"`
}

type verdict struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// npmPackage installs the pinned package when node_modules lacks it, as on
// a clean clone. npm ci installs exactly the lock file's versions and
// integrity hashes, so every machine runs the same verifier. It runs once
// per test binary: npm ci empties node_modules first, so a second install
// beside a running verifier would pull the package from under it.
func npmPackage(t *testing.T) {
	t.Helper()
	installOnce.Do(func() { installErr = install() })
	if installErr != nil {
		t.Fatal(installErr)
	}
}

var (
	installOnce sync.Once
	installErr  error
)

func install() error {
	if _, err := os.Stat(filepath.Join("node_modules", "standardwebhooks", "package.json")); err == nil {
		return nil
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: this test verifies Keel's webhook signatures with the npm package standardwebhooks and needs node and npm (Node 20 or later)", tool)
		}
	}
	// Two minutes bound an install that the registry never answers.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts").CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm ci in test/webhooksig (installs standardwebhooks from package-lock.json): %v\n%s", err, out)
	}
	return nil
}

// runNode sends the cases to verify.mjs in one node process and returns its
// verdicts and signatures, in the order of the cases.
func runNode(t *testing.T, verify []verifyCase, sign []signCase) ([]verdict, []string) {
	t.Helper()
	npmPackage(t)
	in, err := json.Marshal(map[string]any{"verify": verify, "sign": sign})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "node", "verify.mjs")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.mjs: %v\n%s", err, stderr.String())
	}
	var res struct {
		Verify []verdict `json:"verify"`
		Sign   []string  `json:"sign"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node verify.mjs wrote %q: %v", out, err)
	}
	if len(res.Verify) != len(verify) || len(res.Sign) != len(sign) {
		t.Fatalf("node answered %d verdicts and %d signatures for %d and %d cases", len(res.Verify), len(res.Sign), len(verify), len(sign))
	}
	return res.Verify, res.Sign
}

// randomSecret returns a secret of n random bytes, written as the
// specification does; Keel's own NewWebhookSecret always uses 32.
func randomSecret(t *testing.T, n int) domain.WebhookSecret {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	s, err := domain.ParseWebhookSecret("whsec_" + base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bodies are what deliveries carry: JSON, with characters beyond ASCII so
// that both sides must sign the same UTF-8 bytes, an empty body, and one
// large enough to span many hash blocks.
var bodies = []string{
	`{"type":"submission.created","data":{"name":"Zoë Ångström","message":"日本語 ✓ 😀"}}`,
	``,
	`{"type":"webhook.test","data":{}}`,
	`{"big":"` + strings.Repeat("x", 70_000) + `"}`,
}

// TestNodeVerifiesKeelSignatures signs with Keel and verifies with the npm
// package: one secret of each permitted length, a rotation's two secrets
// (each alone must verify the two-signature header), and tampered messages,
// which it must refuse.
func TestNodeVerifiesKeelSignatures(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var cases []verifyCase
	var want []bool
	var names []string
	add := func(name string, c verifyCase, ok bool) {
		names, cases, want = append(names, name), append(cases, c), append(want, ok)
	}
	for i, n := range []int{24, 32, 48, 64} {
		s := randomSecret(t, n)
		body := bodies[i%len(bodies)]
		id := fmt.Sprintf("evt_%d", i)
		h := domain.SignWebhook(id, now, []byte(body), s)
		c := verifyCase{Secret: s.Text(), ID: h.ID, Timestamp: h.Timestamp, Signature: h.Signature, Body: body}
		add(fmt.Sprintf("%d-byte secret", n), c, true)
		tampered := c
		tampered.Body = body + " "
		add(fmt.Sprintf("%d-byte secret, tampered body", n), tampered, false)
		otherID := c
		otherID.ID = id + "x"
		add(fmt.Sprintf("%d-byte secret, other id", n), otherID, false)
		otherTime := c
		otherTime.Timestamp = strconv.FormatInt(now.Unix()+1, 10)
		add(fmt.Sprintf("%d-byte secret, other timestamp", n), otherTime, false)
	}
	// A rotation: the new secret signs beside the previous one, and a
	// receiver that knows only one of them accepts the message.
	prev, next, stranger := domain.NewWebhookSecret(), domain.NewWebhookSecret(), domain.NewWebhookSecret()
	body := bodies[0]
	h := domain.SignWebhook("evt_rotation", now, []byte(body), next, prev)
	if n := len(strings.Split(h.Signature, " ")); n != 2 {
		t.Fatalf("rotation header %q has %d signatures, want 2", h.Signature, n)
	}
	for name, s := range map[string]domain.WebhookSecret{"rotation, new secret": next, "rotation, previous secret": prev} {
		add(name, verifyCase{Secret: s.Text(), ID: h.ID, Timestamp: h.Timestamp, Signature: h.Signature, Body: body}, true)
	}
	add("rotation, unrelated secret", verifyCase{Secret: stranger.Text(), ID: h.ID, Timestamp: h.Timestamp, Signature: h.Signature, Body: body}, false)
	add("rotation, tampered body", verifyCase{Secret: prev.Text(), ID: h.ID, Timestamp: h.Timestamp, Signature: h.Signature, Body: body[1:]}, false)

	got, _ := runNode(t, cases, nil)
	for i, v := range got {
		if v.OK != want[i] {
			t.Errorf("%s: standardwebhooks verified = %v (%s), want %v", names[i], v.OK, v.Error, want[i])
		}
	}
}

// TestKeelVerifiesNodeSignatures is the other way round: the npm package
// signs, Keel's SignWebhook must produce the same signature, and Keel's
// VerifyWebhook must accept it, alone or in a rotation header, and refuse a
// tampered body.
func TestKeelVerifiesNodeSignatures(t *testing.T) {
	t.Parallel()
	now := time.Now()
	secrets := []domain.WebhookSecret{randomSecret(t, 24), randomSecret(t, 32), randomSecret(t, 64)}
	ts := strconv.FormatInt(now.Unix(), 10)
	var cases []signCase
	for i, s := range secrets {
		for j, body := range bodies {
			cases = append(cases, signCase{Secret: s.Text(), ID: fmt.Sprintf("msg_%d_%d", i, j), Timestamp: ts, Body: body})
		}
	}
	_, sigs := runNode(t, nil, cases)
	for k, c := range cases {
		s := secrets[k/len(bodies)]
		h := domain.WebhookHeaders{ID: c.ID, Timestamp: c.Timestamp, Signature: sigs[k]}
		if own := domain.SignWebhook(c.ID, now, []byte(c.Body), s).Signature; own != sigs[k] {
			t.Errorf("%s: Keel signs %q, standardwebhooks %q", c.ID, own, sigs[k])
		}
		if err := domain.VerifyWebhook(h, []byte(c.Body), now, 5*time.Minute, s); err != nil {
			t.Errorf("%s: VerifyWebhook(standardwebhooks signature) = %v", c.ID, err)
		}
		if err := domain.VerifyWebhook(h, []byte(c.Body+"x"), now, 5*time.Minute, s); err == nil {
			t.Errorf("%s: VerifyWebhook accepted a tampered body", c.ID)
		}
	}
	// Node signs message 0 under secret 1 too: with its signature under
	// secret 0 that makes a rotation header, which Keel accepts under
	// either secret alone and refuses under an unrelated one.
	_, more := runNode(t, nil, []signCase{{Secret: secrets[1].Text(), ID: cases[0].ID, Timestamp: ts, Body: cases[0].Body}})
	rot := domain.WebhookHeaders{ID: cases[0].ID, Timestamp: ts, Signature: sigs[0] + " " + more[0]}
	for i, s := range secrets[:2] {
		if err := domain.VerifyWebhook(rot, []byte(cases[0].Body), now, 5*time.Minute, s); err != nil {
			t.Errorf("rotation header, secret %d: VerifyWebhook = %v", i, err)
		}
	}
	if err := domain.VerifyWebhook(rot, []byte(cases[0].Body), now, 5*time.Minute, secrets[2]); err == nil {
		t.Error("rotation header: VerifyWebhook accepted an unrelated secret")
	}
}
