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

var mailedResetToken = regexp.MustCompile(`/console/password-reset/(kpr_[0-9a-z]+)`)

// TestPasswordReset asks for resets of an account's address and of an
// unknown one (202 both, one mail), sets a new password with the mailed
// token (204), and checks that the old session is refused and the token
// spent.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	post := func(path string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return f.serve(req)
	}
	for _, addr := range []string{"owner@example.com", "nobody@example.com"} {
		if w := post("/v1/auth/password-reset", map[string]string{"email": addr}); w.Code != http.StatusAccepted || w.Body.Len() != 0 {
			t.Fatalf("reset of %s = %d %q, want 202 and no body", addr, w.Code, w.Body)
		}
	}
	var tokens []string
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if sub := mailedResetToken.FindStringSubmatch(m.Message.Text()); m.Kind == domain.KindPasswordReset && sub != nil {
				if m.Message.To()[0].Address != "owner@example.com" {
					t.Errorf("reset mail to %v", m.Message.To())
				}
				tokens = append(tokens, sub[1])
			}
		}
		return err
	})
	if err != nil || len(tokens) != 1 {
		t.Fatalf("reset mails = %v (err %v), want one", tokens, err)
	}
	decodeProblem(t, post("/v1/auth/password-reset/confirm", map[string]string{"token": tokens[0], "password": "short"}), http.StatusUnprocessableEntity, "validation_failed")
	if w := post("/v1/auth/password-reset/confirm", map[string]string{"token": tokens[0], "password": "a brand new passphrase"}); w.Code != http.StatusNoContent {
		t.Fatalf("confirm = %d %s", w.Code, w.Body)
	}
	decodeProblem(t, f.api(t, http.MethodGet, "/v1/me", nil), http.StatusUnauthorized, "unauthenticated")
	decodeProblem(t, post("/v1/auth/password-reset/confirm", map[string]string{"token": tokens[0], "password": "a brand new passphrase"}), http.StatusNotFound, "password_reset_unusable")
	decodeBody[loginResponse](t, post("/v1/auth/login", map[string]string{"email": "owner@example.com", "password": "a brand new passphrase"}), http.StatusOK)
}
