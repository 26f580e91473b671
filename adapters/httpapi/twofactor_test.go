package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/domain"
)

// testSealer seals the fixture's two-factor secrets.
var testSealer = func() *domain.SecretSealer {
	s, err := domain.NewSecretSealer(strings.Repeat("k", domain.MinSecretKeyLen))
	if err != nil {
		panic(err)
	}
	return s
}()

// TestTwoFactor enrols the owner through the API, then logs in with the
// password (401 second_factor_required with a challenge) and finishes with
// a code computed by pquerna/otp, then with a recovery code; a used code
// and a used challenge are refused, and turning it off needs the password.
func TestTwoFactor(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	post := func(path string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return f.serve(req)
	}
	code := func(secret string) string {
		c, err := totp.GenerateCode(secret, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if st := decodeBody[twoFactorResponse](t, f.api(t, http.MethodGet, "/v1/me/two-factor", nil), http.StatusOK); !st.Available || st.Enabled || st.Pending {
		t.Fatalf("status before = %+v", st)
	}
	// Starting needs the password: a stolen session cannot enrol.
	p := decodeProblem(t, f.api(t, http.MethodPost, "/v1/me/two-factor", map[string]string{"password": ""}), http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Field != "password" || p.Errors[0].Code != "required" {
		t.Fatalf("start without a password: errors = %+v, want password required", p.Errors)
	}
	p = decodeProblem(t, f.api(t, http.MethodPost, "/v1/me/two-factor", map[string]string{"password": "wrong password!"}), http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Field != "password" || p.Errors[0].Code != "wrong_password" {
		t.Fatalf("start with a wrong password: errors = %+v, want password wrong_password", p.Errors)
	}
	// A session opened before the enrolment ends when it is turned on.
	other := decodeBody[loginResponse](t, post("/v1/auth/login", map[string]string{"email": "owner@example.com", "password": "correct horse battery"}), http.StatusOK)
	e := decodeBody[twoFactorEnrolmentResponse](t, f.api(t, http.MethodPost, "/v1/me/two-factor", map[string]string{"password": "correct horse battery"}), http.StatusCreated)
	if !strings.Contains(e.OTPAuthURI, "secret="+e.Secret) {
		t.Fatalf("enrolment = %+v", e)
	}
	decodeProblem(t, f.api(t, http.MethodPost, "/v1/me/two-factor/confirm", map[string]string{"code": "000000"}), http.StatusUnprocessableEntity, "validation_failed")
	rc := decodeBody[recoveryCodesResponse](t, f.api(t, http.MethodPost, "/v1/me/two-factor/confirm", map[string]string{"code": code(e.Secret)}), http.StatusOK)
	if len(rc.RecoveryCodes) != 10 {
		t.Fatalf("recovery codes = %v", rc.RecoveryCodes)
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+other.Token)
	decodeProblem(t, f.serve(req), http.StatusUnauthorized, "unauthenticated")
	decodeBody[twoFactorResponse](t, f.api(t, http.MethodGet, "/v1/me/two-factor", nil), http.StatusOK)
	decodeProblem(t, f.api(t, http.MethodPost, "/v1/me/two-factor", map[string]string{"password": "correct horse battery"}), http.StatusConflict, "two_factor_enabled")

	decodeProblem(t, post("/v1/auth/login", map[string]string{"email": "owner@example.com", "password": "wrong password!"}), http.StatusUnauthorized, "invalid_credentials")
	login := func() string {
		t.Helper()
		p := decodeProblem(t, post("/v1/auth/login", map[string]string{"email": "owner@example.com", "password": "correct horse battery"}), http.StatusUnauthorized, "second_factor_required")
		if !domain.IsLoginChallengeToken(p.Challenge) || p.ChallengeExpiresAt == nil || !p.ChallengeExpiresAt.Equal(f.clock.Now().Add(5*time.Minute)) {
			t.Fatalf("second_factor_required problem = %+v, want a challenge", p)
		}
		return p.Challenge
	}
	ch := login()
	// The code that confirmed the enrolment is spent.
	decodeProblem(t, post("/v1/auth/login/second-factor", map[string]string{"challenge": ch, "code": code(e.Secret)}), http.StatusUnauthorized, "invalid_second_factor")
	f.clock.Add(30 * time.Second)
	c := code(e.Secret)
	res := decodeBody[loginResponse](t, post("/v1/auth/login/second-factor", map[string]string{"challenge": ch, "code": c}), http.StatusOK)
	if !domain.IsSessionToken(res.Token) {
		t.Fatalf("login = %+v", res)
	}
	decodeProblem(t, post("/v1/auth/login/second-factor", map[string]string{"challenge": ch, "code": c}), http.StatusUnauthorized, "login_challenge_unusable")
	ch = login()
	decodeProblem(t, post("/v1/auth/login/second-factor", map[string]string{"challenge": ch, "code": c}), http.StatusUnauthorized, "invalid_second_factor")
	decodeBody[loginResponse](t, post("/v1/auth/login/second-factor", map[string]string{"challenge": ch, "recovery_code": rc.RecoveryCodes[0]}), http.StatusOK)

	fresh := decodeBody[recoveryCodesResponse](t, f.api(t, http.MethodPost, "/v1/me/two-factor/recovery-codes", map[string]string{"password": "correct horse battery"}), http.StatusOK)
	if len(fresh.RecoveryCodes) != 10 || fresh.RecoveryCodes[0] == rc.RecoveryCodes[0] {
		t.Fatalf("regenerated = %v", fresh.RecoveryCodes)
	}
	decodeProblem(t, f.api(t, http.MethodPost, "/v1/me/two-factor/disable", map[string]string{"password": "wrong password!"}), http.StatusUnprocessableEntity, "validation_failed")
	if w := f.api(t, http.MethodPost, "/v1/me/two-factor/disable", map[string]string{"password": "correct horse battery"}); w.Code != http.StatusNoContent {
		t.Fatalf("disable = %d %s", w.Code, w.Body)
	}
	decodeProblem(t, f.api(t, http.MethodPost, "/v1/me/two-factor/disable", map[string]string{"password": "correct horse battery"}), http.StatusConflict, "two_factor_not_enabled")
	decodeBody[loginResponse](t, post("/v1/auth/login", map[string]string{"email": "owner@example.com", "password": "correct horse battery"}), http.StatusOK)
}

// enableTwoFactor turns two-factor authentication on for the fixture's
// owner; the owner's session stays valid, and the owner's next login
// needs a code.
func enableTwoFactor(t *testing.T, f *formsFixture) {
	t.Helper()
	e := decodeBody[twoFactorEnrolmentResponse](t, f.api(t, http.MethodPost, "/v1/me/two-factor", map[string]string{"password": "correct horse battery"}), http.StatusCreated)
	c, err := totp.GenerateCode(e.Secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	decodeBody[recoveryCodesResponse](t, f.api(t, http.MethodPost, "/v1/me/two-factor/confirm", map[string]string{"code": c}), http.StatusOK)
}

// TestSecondFactorLockout: the fifth wrong code in a row locks code entry
// for the account, the right code too, with 429 rate_limited and
// Retry-After, as the other throttles answer.
func TestSecondFactorLockout(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	enableTwoFactor(t, f)
	post := func(path string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return f.serve(req)
	}
	p := decodeProblem(t, post("/v1/auth/login", map[string]string{"email": "owner@example.com", "password": "correct horse battery"}), http.StatusUnauthorized, "second_factor_required")
	for range 5 {
		decodeProblem(t, post("/v1/auth/login/second-factor", map[string]string{"challenge": p.Challenge, "recovery_code": "aaaa-bbbb-cccc-dddd"}), http.StatusUnauthorized, "invalid_second_factor")
	}
	p = decodeProblem(t, post("/v1/auth/login", map[string]string{"email": "owner@example.com", "password": "correct horse battery"}), http.StatusUnauthorized, "second_factor_required")
	w := post("/v1/auth/login/second-factor", map[string]string{"challenge": p.Challenge, "code": "123456"})
	decodeProblem(t, w, http.StatusTooManyRequests, "rate_limited")
	if got := w.Header().Get("Retry-After"); got != "60" {
		t.Fatalf("Retry-After = %q, want 60", got)
	}
}
