package identity_test

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/domain"
)

// The domain's TOTP checked against pquerna/otp, an implementation it
// shares nothing with. The test lives here because domain's tests may
// import only the standard library (test/arch).

// TestTOTPAgainstPquerna compares Keel's codes with an independent
// implementation's, at many times, and checks that Keel accepts them.
func TestTOTPAgainstPquerna(t *testing.T) {
	t.Parallel()
	secret := domain.NewTOTPSecret()
	enc := domain.EncodeTOTPSecret(secret)
	for i := range 200 {
		at := time.Unix(1_700_000_000+int64(i)*7919, 0)
		theirs, err := totp.GenerateCodeCustom(enc, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		if ours := domain.TOTPCode(secret, at); ours != theirs {
			t.Fatalf("at %s: ours %s, pquerna/otp %s", at, ours, theirs)
		}
		if step, ok := domain.MatchTOTP(secret, theirs, at, 0); !ok || step != domain.TOTPStep(at) {
			t.Fatalf("at %s: MatchTOTP(%s) = %d, %v", at, theirs, step, ok)
		}
	}
}

func TestTOTPURI(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	uri := domain.TOTPURI("Keel", "ada@example.com", secret)
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		t.Fatal(err)
	}
	if key.Secret() != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || key.Issuer() != "Keel" || key.AccountName() != "ada@example.com" || key.Type() != "totp" {
		t.Errorf("URI %s parses as secret %s issuer %s account %s type %s", uri, key.Secret(), key.Issuer(), key.AccountName(), key.Type())
	}
}
