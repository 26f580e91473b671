package domain

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters: those every authenticator app assumes when an
// otpauth:// URI names none (RFC 6238 with HMAC-SHA1), so that any app
// can be used.
const (
	TOTPDigits = 6
	TOTPPeriod = 30 * time.Second
	// TOTPSkew is how many periods a code may be early or late, to allow
	// for a phone's clock and the time it takes to type the code.
	TOTPSkew = 1
	// TOTPSecretBytes is the secret's size: 160 bits, the length of an
	// HMAC-SHA1 output, as RFC 4226 recommends.
	TOTPSecretBytes = 20
)

// totpEncoding is how secrets are shown and put in otpauth:// URIs:
// unpadded base32, which authenticator apps expect.
var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a new random TOTP secret.
func NewTOTPSecret() []byte {
	b := make([]byte, TOTPSecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return b
}

// EncodeTOTPSecret spells a secret as a person types it into an app.
func EncodeTOTPSecret(secret []byte) string { return totpEncoding.EncodeToString(secret) }

// TOTPURI is the otpauth:// URI that a QR code carries to an
// authenticator app: the label "issuer:account" and the secret, with the
// default algorithm, digits and period spelled out for apps that ask.
func TOTPURI(issuer, account string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", EncodeTOTPSecret(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(TOTPDigits))
	q.Set("period", fmt.Sprint(int(TOTPPeriod.Seconds())))
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// HOTP is RFC 4226's HMAC-based one-time password: the HMAC-SHA1 of the
// counter, dynamically truncated to digits decimal digits.
func HOTP(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// TOTPStep is RFC 6238's time step T of t: whole periods since the Unix
// epoch.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCode is the code an authenticator app shows at t.
func TOTPCode(secret []byte, t time.Time) string {
	return HOTP(secret, uint64(TOTPStep(t)), TOTPDigits)
}

// MatchTOTP finds the time step, within TOTPSkew of now's, whose code is
// code, and that is later than lastStep, the step of the last code the
// account used: a code works once, and never after a later one. It
// returns the step and true, or 0 and false. Spaces in code are ignored,
// since apps show codes as "123 456".
func MatchTOTP(secret []byte, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != TOTPDigits || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := TOTPStep(now)
	found, ok := int64(0), 0
	// Every candidate is computed and compared, so the time taken does
	// not tell which step matched.
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		eq := subtle.ConstantTimeCompare([]byte(HOTP(secret, uint64(s), TOTPDigits)), []byte(code))
		if eq == 1 && s > lastStep && ok == 0 {
			found, ok = s, 1
		}
	}
	return found, ok == 1
}
