package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var mailedEmailChangeToken = regexp.MustCompile(`/console/email-change/(kec_[0-9a-z]+)`)

// TestChangePassword refuses a wrong current password (422 naming the
// field), then changes it (204): the calling session keeps working, a
// second session ends, and the new password logs in.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	post := func(path, token string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return f.serve(req)
	}
	other := decodeBody[loginResponse](t, post("/v1/auth/login", "", map[string]string{"email": "owner@example.com", "password": "correct horse battery"}), http.StatusOK)
	p := decodeProblem(t, post("/v1/me/password", f.token, map[string]string{"current_password": "wrong", "new_password": "a brand new passphrase"}), http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Field != "current_password" || p.Errors[0].Code != "password_wrong" {
		t.Errorf("errors = %+v, want current_password password_wrong", p.Errors)
	}
	if w := post("/v1/me/password", f.token, map[string]string{"current_password": "correct horse battery", "new_password": "a brand new passphrase"}); w.Code != http.StatusNoContent {
		t.Fatalf("change = %d %s", w.Code, w.Body)
	}
	if w := f.api(t, http.MethodGet, "/v1/me", nil); w.Code != http.StatusOK {
		t.Errorf("the calling session after the change: %d", w.Code)
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+other.Token)
	decodeProblem(t, f.serve(req), http.StatusUnauthorized, "unauthenticated")
	decodeBody[loginResponse](t, post("/v1/auth/login", "", map[string]string{"email": "owner@example.com", "password": "a brand new passphrase"}), http.StatusOK)
}

// TestChangeEmail asks for a new address (202), confirms it with the
// mailed token (204) and logs in with it; the used token is 404.
func TestChangeEmail(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	post := func(path string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+f.token)
		return f.serve(req)
	}
	p := decodeProblem(t, post("/v1/me/email", map[string]string{"email": "owner@example.com", "password": "correct horse battery"}), http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Code != "email_unchanged" {
		t.Errorf("errors = %+v, want email_unchanged", p.Errors)
	}
	if w := post("/v1/me/email", map[string]string{"email": "owner@example.org", "password": "correct horse battery"}); w.Code != http.StatusAccepted || w.Body.Len() != 0 {
		t.Fatalf("change = %d %q, want 202 and no body", w.Code, w.Body)
	}
	var token string
	notices := 0
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			switch to := m.Message.To()[0].Address; {
			case m.Kind == domain.KindEmailChange && to == "owner@example.org":
				if sub := mailedEmailChangeToken.FindStringSubmatch(m.Message.Text()); sub != nil {
					token = sub[1]
				}
			case m.Kind == domain.KindEmailChangeNotice && to == "owner@example.com":
				notices++
			}
		}
		return err
	})
	if err != nil || token == "" || notices != 1 {
		t.Fatalf("mail: token %q, %d notices, err %v", token, notices, err)
	}
	decodeProblem(t, post("/v1/auth/email-change/confirm", map[string]string{"token": "kec_nope"}), http.StatusNotFound, "email_change_unusable")
	if w := post("/v1/auth/email-change/confirm", map[string]string{"token": token}); w.Code != http.StatusNoContent {
		t.Fatalf("confirm = %d %s", w.Code, w.Body)
	}
	decodeProblem(t, post("/v1/auth/email-change/confirm", map[string]string{"token": token}), http.StatusNotFound, "email_change_unusable")
	decodeBody[loginResponse](t, post("/v1/auth/login", map[string]string{"email": "owner@example.org", "password": "correct horse battery"}), http.StatusOK)
}

// TestChangeEmailIsLimited: a fourth request naming one address within
// the hour is 429 rate_limited with Retry-After, as other throttles are.
func TestChangeEmailIsLimited(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	post := func() *httptest.ResponseRecorder {
		b, _ := json.Marshal(map[string]string{"email": "victim@example.net", "password": "correct horse battery"})
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/me/email", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+f.token)
		return f.serve(req)
	}
	for i := range 3 {
		if w := post(); w.Code != http.StatusAccepted {
			t.Fatalf("request %d = %d %s", i+1, w.Code, w.Body)
		}
	}
	w := post()
	decodeProblem(t, w, http.StatusTooManyRequests, "rate_limited")
	if got := w.Header().Get("Retry-After"); got != "1200" {
		t.Fatalf("Retry-After = %q, want 1200", got)
	}
}
