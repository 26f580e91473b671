package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// The example of the Standard Webhooks specification's libraries; the
// official npm package gives the same signature (test/webhooksig checks
// Keel against it on random inputs too).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t *testing.T, s string) domain.WebhookSecret {
	t.Helper()
	sec, err := domain.ParseWebhookSecret(s)
	if err != nil {
		t.Fatalf("ParseWebhookSecret(%q): %v", s, err)
	}
	return sec
}

func TestSignWebhookMatchesTheSpecificationExample(t *testing.T) {
	t.Parallel()
	h := domain.SignWebhook(specID, time.Unix(specTimestamp, 0), []byte(specBody), mustSecret(t, specSecret))
	want := domain.WebhookHeaders{ID: specID, Timestamp: "1614265330", Signature: specSignature}
	if h != want {
		t.Fatalf("SignWebhook = %+v, want %+v", h, want)
	}
}

func TestSignWebhookSignsOncePerSecret(t *testing.T) {
	t.Parallel()
	old, cur := domain.NewWebhookSecret(), domain.NewWebhookSecret()
	h := domain.SignWebhook("evt_1", time.Unix(1700000000, 0), []byte("{}"), cur, old)
	sigs := strings.Split(h.Signature, " ")
	if len(sigs) != 2 || sigs[0] == sigs[1] {
		t.Fatalf("signature = %q, want two different v1 signatures", h.Signature)
	}
	for i, s := range []domain.WebhookSecret{cur, old} {
		if want := domain.SignWebhook("evt_1", time.Unix(1700000000, 0), []byte("{}"), s).Signature; sigs[i] != want {
			t.Errorf("signature %d = %q, want %q", i, sigs[i], want)
		}
	}
}

func TestWebhookSecretRoundTrip(t *testing.T) {
	t.Parallel()
	s := domain.NewWebhookSecret()
	text := s.Text()
	// 32 bytes are 44 base64 characters with padding.
	if !strings.HasPrefix(text, "whsec_") || len(text) != len("whsec_")+44 {
		t.Fatalf("Text() = %q, want whsec_ and 44 characters", text)
	}
	if got := mustSecret(t, text); got != s {
		t.Fatal("ParseWebhookSecret(Text()) differs from the secret")
	}
	if s == domain.NewWebhookSecret() {
		t.Fatal("two new secrets are equal")
	}
	if str := s.String(); strings.Contains(str, text[6:]) {
		t.Fatalf("String() = %q reveals the key", str)
	}
}

func TestParseWebhookSecretRefuses(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]string{
		"empty":          "",
		"no prefix":      specSecret[len("whsec_"):],
		"other prefix":   "whsk_" + specSecret[len("whsec_"):],
		"not base64":     "whsec_not*base64!",
		"url alphabet":   "whsec_" + strings.Repeat("_-", 16),
		"23 bytes":       "whsec_" + strings.Repeat("A", 30) + "A=", // 23 bytes
		"65 bytes":       "whsec_" + strings.Repeat("A", 84) + "AAA=",
		"huge":           "whsec_" + strings.Repeat("A", 1<<20),
		"missing padded": "whsec_" + strings.Repeat("A", 43),
	} {
		if _, err := domain.ParseWebhookSecret(s); !errors.Is(err, domain.ErrInvalidWebhookSecret) {
			t.Errorf("%s: ParseWebhookSecret(%.40q) = %v, want ErrInvalidWebhookSecret", name, s, err)
		}
	}
	// The bounds themselves are accepted.
	mustSecret(t, "whsec_"+strings.Repeat("A", 32))        // 24 bytes
	mustSecret(t, "whsec_"+strings.Repeat("A", 84)+"AA==") // 64 bytes
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	secret, other := mustSecret(t, specSecret), domain.NewWebhookSecret()
	at := time.Unix(specTimestamp, 0)
	good := domain.WebhookHeaders{ID: specID, Timestamp: "1614265330", Signature: specSignature}
	const tol = 5 * time.Minute
	if err := domain.VerifyWebhook(good, []byte(specBody), at, tol, secret); err != nil {
		t.Fatalf("VerifyWebhook(spec example) = %v", err)
	}
	// During a rotation the receiver may know either secret, and the header
	// may carry signatures of versions it does not know.
	rotated := domain.SignWebhook(specID, at, []byte(specBody), other, secret)
	rotated.Signature = "v2,abc " + rotated.Signature
	for _, s := range []domain.WebhookSecret{secret, other} {
		if err := domain.VerifyWebhook(rotated, []byte(specBody), at, tol, s); err != nil {
			t.Errorf("VerifyWebhook(rotated) = %v", err)
		}
	}
	with := func(f func(*domain.WebhookHeaders)) domain.WebhookHeaders { h := good; f(&h); return h }
	for name, c := range map[string]struct {
		h    domain.WebhookHeaders
		body string
		now  time.Time
	}{
		"tampered body":    {good, specBody + " ", at},
		"other id":         {with(func(h *domain.WebhookHeaders) { h.ID = "msg_other" }), specBody, at},
		"other timestamp":  {with(func(h *domain.WebhookHeaders) { h.Timestamp = "1614265331" }), specBody, at.Add(time.Second)},
		"too old":          {good, specBody, at.Add(tol + time.Second)},
		"too new":          {good, specBody, at.Add(-tol - time.Second)},
		"no id":            {with(func(h *domain.WebhookHeaders) { h.ID = "" }), specBody, at},
		"no signature":     {with(func(h *domain.WebhookHeaders) { h.Signature = "" }), specBody, at},
		"v2 only":          {with(func(h *domain.WebhookHeaders) { h.Signature = "v2" + specSignature[2:] }), specBody, at},
		"bad timestamp":    {with(func(h *domain.WebhookHeaders) { h.Timestamp = "16142653e3" }), specBody, at},
		"huge timestamp":   {with(func(h *domain.WebhookHeaders) { h.Timestamp = strings.Repeat("1", 40) }), specBody, at},
		"huge signature":   {with(func(h *domain.WebhookHeaders) { h.Signature = strings.Repeat("v1,x ", 1000) + specSignature }), specBody, at},
		"huge id":          {with(func(h *domain.WebhookHeaders) { h.ID = strings.Repeat("m", 257) }), specBody, at},
		"wrong secret key": {good, specBody, at},
	} {
		s := secret
		if name == "wrong secret key" {
			s = other
		}
		if err := domain.VerifyWebhook(c.h, []byte(c.body), c.now, tol, s); !errors.Is(err, domain.ErrWebhookSignature) {
			t.Errorf("%s: VerifyWebhook = %v, want ErrWebhookSignature", name, err)
		}
	}
}

// FuzzWebhookSignature checks, on any id, body and secret text, that
// parsing never panics, that what SignWebhook signs VerifyWebhook accepts,
// and that a changed body is refused.
func FuzzWebhookSignature(f *testing.F) {
	f.Add(specSecret, specID, []byte(specBody), int64(specTimestamp))
	f.Add("whsec_"+strings.Repeat("A", 32), "evt_1", []byte{}, int64(0))
	f.Add("whsec_", "", []byte{0xff, 0xfe}, int64(-1))
	f.Fuzz(func(t *testing.T, secretText, id string, body []byte, sec int64) {
		s, err := domain.ParseWebhookSecret(secretText)
		if err != nil {
			return
		}
		if again, err := domain.ParseWebhookSecret(s.Text()); err != nil || again != s {
			t.Fatalf("ParseWebhookSecret(Text()) = %v; want the same secret", err)
		}
		at := time.Unix(sec%(1<<40), 0)
		h := domain.SignWebhook(id, at, body, s)
		err = domain.VerifyWebhook(h, body, at, time.Minute, s)
		valid := id != "" && len(id) <= 256
		if valid && err != nil {
			t.Fatalf("VerifyWebhook(SignWebhook(%q)) = %v", id, err)
		}
		if !valid && err == nil {
			t.Fatalf("VerifyWebhook accepted the id %q", id)
		}
		if err := domain.VerifyWebhook(h, append(body, 'x'), at, time.Minute, s); err == nil {
			t.Fatal("VerifyWebhook accepted a changed body")
		}
	})
}
