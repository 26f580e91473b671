package webhooksig

import (
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keelhq/keel/domain"
)

// TestGoModuleVerifiesKeelSignatures is a second independent verifier: the
// specification's own Go library, which a Go receiver would use. It must
// accept Keel's signature under the one secret, under either secret of a
// rotation, and refuse a tampered body or an unrelated secret.
func TestGoModuleVerifiesKeelSignatures(t *testing.T) {
	t.Parallel()
	verifier := func(s domain.WebhookSecret) *standardwebhooks.Webhook {
		t.Helper()
		wh, err := standardwebhooks.NewWebhook(s.Text())
		if err != nil {
			t.Fatalf("standardwebhooks.NewWebhook: %v", err)
		}
		return wh
	}
	header := func(h domain.WebhookHeaders) http.Header {
		hh := http.Header{}
		hh.Set(domain.WebhookIDHeader, h.ID)
		hh.Set(domain.WebhookTimestampHeader, h.Timestamp)
		hh.Set(domain.WebhookSignatureHeader, h.Signature)
		return hh
	}
	now := time.Now()
	for _, n := range []int{24, 32, 64} {
		s := randomSecret(t, n)
		for _, body := range bodies {
			h := domain.SignWebhook("evt_go", now, []byte(body), s)
			if err := verifier(s).Verify([]byte(body), header(h)); err != nil {
				t.Errorf("%d-byte secret, body %.20q: Verify = %v", n, body, err)
			}
			if err := verifier(s).Verify([]byte(body+"x"), header(h)); err == nil {
				t.Errorf("%d-byte secret, body %.20q: Verify accepted a tampered body", n, body)
			}
		}
	}
	prev, next, stranger := domain.NewWebhookSecret(), domain.NewWebhookSecret(), domain.NewWebhookSecret()
	body := []byte(bodies[0])
	h := domain.SignWebhook("evt_rotation", now, body, next, prev)
	if n := len(strings.Split(h.Signature, " ")); n != 2 {
		t.Fatalf("rotation header %q has %d signatures, want 2", h.Signature, n)
	}
	for name, s := range map[string]domain.WebhookSecret{"new": next, "previous": prev} {
		if err := verifier(s).Verify(body, header(h)); err != nil {
			t.Errorf("rotation, %s secret: Verify = %v", name, err)
		}
	}
	if err := verifier(stranger).Verify(body, header(h)); err == nil {
		t.Error("rotation: Verify accepted an unrelated secret")
	}
}
