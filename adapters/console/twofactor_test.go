package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/domain"
)

// testSealer lets the fixture's people enrol in two-factor authentication.
var testSealer = func() *domain.SecretSealer {
	s, err := domain.NewSecretSealer(strings.Repeat("c", domain.MinSecretKeyLen))
	if err != nil {
		panic(err)
	}
	return s
}()

var (
	secretField    = regexp.MustCompile(`id="totp-secret" value="([A-Z2-7]+)"`)
	challengeField = regexp.MustCompile(`name="challenge" value="(klc_[0-9a-z]+)"`)
	recoveryCode   = regexp.MustCompile(`<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code></li>`)
)

// Enrolment shows the secret with a QR code, a code confirms it and the
// recovery codes show once; signing in then asks for a code, which works
// once, or a recovery code; turning it off needs the password.
func TestTwoFactorInTheConsole(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	same := []string{"Sec-Fetch-Site", "same-origin"}
	wantBody(t, f.do(t, "GET", "/console/account", ck.Value, nil), http.StatusOK, `href="/console/account/two-factor"`)
	wantBody(t, f.do(t, "GET", "/console/account/two-factor", ck.Value, nil), http.StatusOK, "<strong>Off</strong>", `action="/console/account/two-factor/start"`, `aria-current="page">Account`)

	wantBody(t, f.do(t, "GET", "/console/account/two-factor", ck.Value, nil), http.StatusOK, `<label for="start_password">Your password</label>`)
	// Starting needs the password: a stolen session cannot enrol.
	wantBody(t, f.do(t, "POST", "/console/account/two-factor/start", ck.Value, url.Values{}, same...), http.StatusUnprocessableEntity, "Give your password.")
	wantBody(t, f.do(t, "POST", "/console/account/two-factor/start", ck.Value, url.Values{"password": {"wrong password!"}}, same...), http.StatusUnprocessableEntity, "The password is wrong.", "<strong>Off</strong>")
	_, older := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "POST", "/console/account/two-factor/start", ck.Value, url.Values{"password": {password}}, same...)
	wantBody(t, w, http.StatusOK, `<svg class="qr"`, `role="img"`, `name="uri" value="otpauth://totp/Keel:ada@example.com?`)
	m := secretField.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no secret on the enrolment page:\n%s", w.Body)
	}
	secret := m[1]
	code := func(skew time.Duration) string {
		c, err := totp.GenerateCode(secret, time.Now().Add(skew))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	form := url.Values{"secret": {secret}, "uri": {"otpauth://totp/Keel:ada@example.com?secret=" + secret}}
	form.Set("code", "000000")
	wantBody(t, f.do(t, "POST", "/console/account/two-factor/confirm", ck.Value, form, same...), http.StatusUnprocessableEntity, "The code is wrong or expired", `id="totp-secret" value="`+secret+`"`)
	form.Set("code", code(0))
	w = f.do(t, "POST", "/console/account/two-factor/confirm", ck.Value, form, same...)
	codes := recoveryCode.FindAllStringSubmatch(w.Body.String(), -1)
	if w.Code != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirm = %d with %d recovery codes:\n%s", w.Code, len(codes), w.Body)
	}
	wantBody(t, f.do(t, "GET", "/console/account/two-factor", ck.Value, nil), http.StatusOK, "<strong>On</strong>", `id="recovery-codes-left">10<`)
	// Turning it on signed the account's other sessions out.
	if w := f.do(t, "GET", "/console/workspaces", older.Value, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("a session opened before enrolment = %d, want a redirect to sign in", w.Code)
	}

	// The password alone no longer signs in: the code step does.
	challenge := func() string {
		t.Helper()
		w, c := f.signIn(t, "ada@example.com", "")
		m := challengeField.FindStringSubmatch(w.Body.String())
		if w.Code != http.StatusOK || c != nil || m == nil {
			t.Fatalf("sign-in with the password = %d, cookie %v:\n%s", w.Code, c, w.Body)
		}
		return m[1]
	}
	second := func(ch, code, rc string) *http.Cookie {
		t.Helper()
		w := f.do(t, "POST", "/console/sign-in/second-factor", "", url.Values{"challenge": {ch}, "code": {code}, "recovery_code": {rc}}, same...)
		for _, c := range w.Result().Cookies() {
			if c.Name == CookieName && c.Value != "" {
				if w.Code != http.StatusSeeOther || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
					t.Fatalf("second step = %d, cookie %+v", w.Code, c)
				}
				return c
			}
		}
		wantBody(t, w, http.StatusUnauthorized, "The code is wrong, expired or was already used.", `name="challenge" value="`+ch+`"`)
		return nil
	}
	ch := challenge()
	if second(ch, code(0), "") != nil {
		t.Fatal("the code that confirmed the enrolment signed in")
	}
	next := code(domain.TOTPPeriod)
	signed := second(ch, next, "")
	if signed == nil || signed.Value == ck.Value {
		t.Fatalf("the next code did not sign in with a new session: %v", signed)
	}
	wantBody(t, f.do(t, "GET", "/console/workspaces", signed.Value, nil), http.StatusOK)
	if second(challenge(), next, "") != nil {
		t.Fatal("a used code signed in again")
	}
	if second(challenge(), "", codes[0][1]) == nil {
		t.Fatal("a recovery code did not sign in")
	}
	if second(challenge(), "", codes[0][1]) != nil {
		t.Fatal("a used recovery code signed in again")
	}

	wantBody(t, f.do(t, "POST", "/console/account/two-factor/disable", ck.Value, url.Values{"password": {"wrong password!"}}, same...), http.StatusUnprocessableEntity, "The password is wrong.")
	w = f.do(t, "POST", "/console/account/two-factor/disable", ck.Value, url.Values{"password": {password}}, same...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/account/two-factor?done=off" {
		t.Fatalf("disable = %d %s", w.Code, w.Header().Get("Location"))
	}
	if w, c := f.signIn(t, "ada@example.com", ""); w.Code != http.StatusSeeOther || c == nil {
		t.Fatalf("sign-in after turning it off = %d", w.Code)
	}
}

// A made-up challenge sends the user back to the password.
func TestSecondFactorWithAnUnusableChallenge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.do(t, "POST", "/console/sign-in/second-factor", "", url.Values{"challenge": {"klc_nope"}, "code": {"123456"}}, "Sec-Fetch-Site", "same-origin")
	wantBody(t, w, http.StatusUnauthorized, "This sign-in expired", `action="/console/sign-in"`)
}

// The sign-in's code step refuses codes once wrong ones locked code entry
// for the account: 429 with Retry-After and the step again, which says
// how long to wait.
func TestSecondFactorLockoutInTheConsole(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	e, err := f.ids.StartTwoFactor(t.Context(), f.admin, password)
	if err != nil {
		t.Fatal(err)
	}
	c, err := totp.GenerateCode(e.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ids.ConfirmTwoFactor(t.Context(), f.admin, c); err != nil {
		t.Fatal(err)
	}
	w, _ := f.signIn(t, "ada@example.com", "")
	m := challengeField.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no code step after the password:\n%s", w.Body)
	}
	same := []string{"Sec-Fetch-Site", "same-origin"}
	for range 5 {
		wantBody(t, f.do(t, "POST", "/console/sign-in/second-factor", "", url.Values{"challenge": {m[1]}, "recovery_code": {"aaaa-bbbb-cccc-dddd"}}, same...), http.StatusUnauthorized, "The code is wrong")
	}
	w, _ = f.signIn(t, "ada@example.com", "")
	if m = challengeField.FindStringSubmatch(w.Body.String()); m == nil {
		t.Fatalf("no code step after the password:\n%s", w.Body)
	}
	w = f.do(t, "POST", "/console/sign-in/second-factor", "", url.Values{"challenge": {m[1]}, "code": {"123456"}}, same...)
	wantBody(t, w, http.StatusTooManyRequests, "Too many attempts", `name="challenge" value="`+m[1]+`"`)
	if w.Header().Get("Retry-After") == "" {
		t.Error("the refusal has no Retry-After")
	}
}
