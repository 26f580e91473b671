package domain

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Webhook signing follows the Standard Webhooks specification
// (standardwebhooks.com), so that receivers can verify Keel's deliveries with
// any of its libraries: the signed content is the message id, the Unix
// timestamp in seconds and the body joined by dots, signed with HMAC-SHA256
// under each active secret.

// The Standard Webhooks headers. They are lower case, as the specification
// writes them; HTTP header names are case-insensitive.
const (
	WebhookIDHeader        = "webhook-id"
	WebhookTimestampHeader = "webhook-timestamp"
	WebhookSignatureHeader = "webhook-signature"
)

const (
	webhookSecretPrefix = "whsec_"
	// The specification asks for secrets of 24 to 64 random bytes; Keel
	// generates 32, as many as SHA-256's block of output.
	webhookSecretMinBytes = 24
	webhookSecretMaxBytes = 64
	webhookSecretNewBytes = 32
	// maxWebhookSignatureHeader bounds the header a verifier parses: a
	// sender has one signature per active secret, each 47 characters, so 4
	// KiB leaves room for many while a hostile header cannot make the
	// verifier compute more than a few dozen comparisons.
	maxWebhookSignatureHeader = 4096
	// maxWebhookID bounds the message id a verifier accepts; Keel's event
	// ids are about 30 characters.
	maxWebhookID = 256
)

// WebhookSecret is an endpoint's signing key: 24 to 64 random bytes, written
// whsec_<standard base64> on the wire and at rest. Its String method hides
// the key, so that logging a secret by mistake does not leak it; Text
// reveals it.
type WebhookSecret struct{ key string }

// ErrInvalidWebhookSecret is what ParseWebhookSecret returns for anything
// but whsec_ followed by the standard base64 of 24 to 64 bytes.
var ErrInvalidWebhookSecret = Invalid(FieldError{"secret", "invalid_webhook_secret", "A webhook secret is whsec_ followed by the base64 of 24 to 64 bytes."})

// ErrWebhookSignature is what VerifyWebhook returns when no signature
// matches, the headers are missing or malformed, or the timestamp is outside
// the tolerance: a receiver must drop such a message.
var ErrWebhookSignature = E(KindUnauthenticated, "invalid_webhook_signature", "The webhook signature does not verify.")

// NewWebhookSecret returns a new random secret of 32 bytes.
func NewWebhookSecret() WebhookSecret {
	b := make([]byte, webhookSecretNewBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return WebhookSecret{string(b)}
}

// ParseWebhookSecret reads a secret written by Text. The whsec_ prefix is
// required: without it a secret of another kind pasted by mistake would be
// accepted as a key.
func ParseWebhookSecret(s string) (WebhookSecret, error) {
	enc, ok := strings.CutPrefix(s, webhookSecretPrefix)
	// Checking the length first bounds the decoding work, whatever the input.
	if !ok || len(enc) > base64.StdEncoding.EncodedLen(webhookSecretMaxBytes) {
		return WebhookSecret{}, ErrInvalidWebhookSecret
	}
	b, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil || len(b) < webhookSecretMinBytes || len(b) > webhookSecretMaxBytes {
		return WebhookSecret{}, ErrInvalidWebhookSecret
	}
	return WebhookSecret{string(b)}, nil
}

// Text returns the secret as whsec_<base64>, to store it or show it to the
// endpoint's owner.
func (s WebhookSecret) Text() string {
	return webhookSecretPrefix + base64.StdEncoding.EncodeToString([]byte(s.key))
}

// String hides the key: fmt and slog print this instead of the secret.
func (s WebhookSecret) String() string { return webhookSecretPrefix + "[redacted]" }

// IsZero reports whether s is the zero value, which is no secret at all.
func (s WebhookSecret) IsZero() bool { return s.key == "" }

// sign returns the base64 of HMAC-SHA256 of id.timestamp.body under s.
func (s WebhookSecret) sign(id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(s.key))
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// WebhookHeaders are the values of the three Standard Webhooks headers of one
// delivery attempt.
type WebhookHeaders struct {
	ID        string // webhook-id: the event's id, the same on every retry
	Timestamp string // webhook-timestamp: Unix seconds of this attempt
	Signature string // webhook-signature: "v1,<base64>" per secret, space-separated
}

// SignWebhook signs body for message id at time at with each of secrets (one,
// or two while a rotation lets the previous secret keep signing), in the
// order given. A receiver accepts the message if any signature verifies
// under the secret it knows, so a rotation breaks no receiver. Zero secrets
// are skipped; with none left the signature is empty and verifies nowhere.
func SignWebhook(id string, at time.Time, body []byte, secrets ...WebhookSecret) WebhookHeaders {
	ts := strconv.FormatInt(at.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if !s.IsZero() {
			sigs = append(sigs, "v1,"+s.sign(id, ts, body))
		}
	}
	return WebhookHeaders{ID: id, Timestamp: ts, Signature: strings.Join(sigs, " ")}
}

// VerifyWebhook checks a received message as a Standard Webhooks receiver
// does: the timestamp must be within tolerance of now, either way, so that a
// captured message cannot be replayed later; and one v1 signature must match
// one of secrets. Signatures of other versions are ignored, as the
// specification asks. It returns nil or ErrWebhookSignature.
func VerifyWebhook(h WebhookHeaders, body []byte, now time.Time, tolerance time.Duration, secrets ...WebhookSecret) error {
	if h.ID == "" || len(h.ID) > maxWebhookID || h.Signature == "" || len(h.Signature) > maxWebhookSignatureHeader {
		return ErrWebhookSignature
	}
	// At most 19 digits: any longer overflows int64 anyway.
	if len(h.Timestamp) > 19 {
		return ErrWebhookSignature
	}
	sec, err := strconv.ParseInt(h.Timestamp, 10, 64)
	if err != nil {
		return ErrWebhookSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrWebhookSignature
	}
	// The expected values are computed once per secret, not once per
	// received signature, and compared in constant time.
	want := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		if !s.IsZero() {
			want = append(want, []byte(s.sign(h.ID, h.Timestamp, body)))
		}
	}
	for sig := range strings.SplitSeq(h.Signature, " ") {
		got, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue
		}
		for _, w := range want {
			if hmac.Equal([]byte(got), w) {
				return nil
			}
		}
	}
	return ErrWebhookSignature
}
