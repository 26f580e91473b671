package domain_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestHOTPRFC6238 checks RFC 6238's test vectors (Appendix B, the SHA1
// column): 8 digits under the 20-byte ASCII key "12345678901234567890".
func TestHOTPRFC6238(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		step := domain.TOTPStep(time.Unix(c.unix, 0))
		if got := domain.HOTP(key, uint64(step), 8); got != c.want {
			t.Errorf("T=%d: HOTP = %s, want %s", c.unix, got, c.want)
		}
	}
}

// TestHOTPRFC4226 checks RFC 4226's Appendix D values (6 digits).
func TestHOTPRFC4226(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := domain.HOTP(key, uint64(i), 6); got != w {
			t.Errorf("counter %d: HOTP = %s, want %s", i, got, w)
		}
	}
}

// TestMatchTOTPWindow: codes of the previous, current and next steps
// match; two steps away, a used step, an earlier one, and malformed codes
// do not.
func TestMatchTOTPWindow(t *testing.T) {
	t.Parallel()
	secret := domain.NewTOTPSecret()
	now := time.Unix(1_800_000_015, 0)
	cur := domain.TOTPStep(now)
	code := func(step int64) string { return domain.HOTP(secret, uint64(step), 6) }
	for _, c := range []struct {
		name     string
		code     string
		last     int64
		wantStep int64
		ok       bool
	}{
		{"current", code(cur), 0, cur, true},
		{"previous", code(cur - 1), 0, cur - 1, true},
		{"next", code(cur + 1), 0, cur + 1, true},
		{"spaced", code(cur)[:3] + " " + code(cur)[3:], 0, cur, true},
		{"two early", code(cur - 2), 0, 0, false},
		{"two late", code(cur + 2), 0, 0, false},
		{"used", code(cur), cur, 0, false},
		{"older than used", code(cur - 1), cur, 0, false},
		{"after used", code(cur + 1), cur, cur + 1, true},
		{"short", code(cur)[:5], 0, 0, false},
		{"letters", "12345a", 0, 0, false},
		{"empty", "", 0, 0, false},
	} {
		step, ok := domain.MatchTOTP(secret, c.code, now, c.last)
		if ok != c.ok || step != c.wantStep {
			t.Errorf("%s: MatchTOTP = %d, %v; want %d, %v", c.name, step, ok, c.wantStep, c.ok)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	codes, hashes := domain.NewRecoveryCodes()
	if len(codes) != domain.RecoveryCodeCount || len(hashes) != domain.RecoveryCodeCount {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	tf := domain.NewTwoFactor("usr_1", []byte("sealed"), time.Unix(0, 0))
	if err := tf.Confirm(5, hashes, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := tf.UseRecoveryCode(strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))); err != nil {
		t.Fatalf("a code typed in capitals with spaces: %v", err)
	}
	if err := tf.UseRecoveryCode(codes[3]); err == nil {
		t.Fatal("a used recovery code was accepted again")
	}
	if tf.RecoveryCodesLeft() != domain.RecoveryCodeCount-1 {
		t.Fatalf("%d codes left", tf.RecoveryCodesLeft())
	}
	if err := tf.UseStep(5); err == nil {
		t.Fatal("the confirming code's step was accepted again")
	}
	if err := tf.Confirm(6, hashes, time.Unix(2, 0)); err == nil {
		t.Fatal("confirmed twice")
	}
}

func TestLoginChallenge(t *testing.T) {
	t.Parallel()
	token, hash := domain.NewLoginChallengeToken()
	if !domain.IsLoginChallengeToken(token) || domain.IsLoginChallengeToken(token[:len(token)-1]) {
		t.Fatalf("IsLoginChallengeToken(%q) is wrong", token)
	}
	t0 := time.Unix(1_800_000_000, 0)
	c := domain.NewLoginChallenge("usr_1", hash, t0)
	for range domain.LoginChallengeMaxAttempts - 1 {
		c.Fail()
	}
	if !c.Usable(t0) {
		t.Fatal("unusable before its last attempt")
	}
	if c.Usable(t0.Add(domain.LoginChallengeTTL)) {
		t.Fatal("usable after its TTL")
	}
	c.Fail()
	if c.Use(t0) == nil {
		t.Fatal("usable after the maximum of wrong codes")
	}
}

func TestSecretSealer(t *testing.T) {
	t.Parallel()
	if _, err := domain.NewSecretSealer("short"); err == nil {
		t.Fatal("a short key was accepted")
	}
	s, err := domain.NewSecretSealer(strings.Repeat("k", 32))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("the secret")
	sealed := s.Seal(plain, "usr_1")
	if bytes.Contains(sealed, plain) {
		t.Fatal("the sealed value holds the secret in clear")
	}
	if got, err := s.Open(sealed, "usr_1"); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "usr_2"); err == nil {
		t.Fatal("opened for another owner")
	}
	other, _ := domain.NewSecretSealer(strings.Repeat("x", 32))
	if _, err := other.Open(sealed, "usr_1"); err == nil {
		t.Fatal("opened under another key")
	}
}
