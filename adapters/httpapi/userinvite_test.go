package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestInviteUser invites a person (202, invited), which the users list
// shows; the invited account cannot log in (401, as a wrong password)
// until the mailed token sets its password; its address is then taken.
func TestInviteUser(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	post := func(path string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+f.token)
		return f.serve(req)
	}
	decodeProblem(t, post("/v1/users/invitations", map[string]any{"email": "owner@example.com", "name": "Owner"}), http.StatusConflict, "email_taken")
	decodeProblem(t, post("/v1/users/invitations", map[string]any{"email": "nobody", "name": "Nobody"}), http.StatusUnprocessableEntity, "validation_failed")
	u := decodeBody[userResponse](t, post("/v1/users/invitations", map[string]any{"email": "ivy@example.com", "name": "Ivy", "instance_admin": true}), http.StatusAccepted)
	if !u.Invited || u.Status != "active" || !u.InstanceAdmin || u.Email != "ivy@example.com" {
		t.Fatalf("invited user = %+v", u)
	}
	list := decodeBody[listResponse[userResponse]](t, f.api(t, http.MethodGet, "/v1/users", nil), http.StatusOK)
	invited := 0
	for _, l := range list.Data {
		if l.Invited {
			invited++
		}
	}
	if invited != 1 {
		t.Fatalf("users list = %+v, want one invited", list.Data)
	}
	decodeProblem(t, post("/v1/auth/login", map[string]string{"email": "ivy@example.com", "password": "correct horse battery"}), http.StatusUnauthorized, "invalid_credentials")

	var token string
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if sub := mailedResetToken.FindStringSubmatch(m.Message.Text()); sub != nil && m.Kind == domain.KindUserInvitation {
				token = sub[1]
			}
		}
		return err
	})
	if err != nil || token == "" {
		t.Fatalf("invitation mail: token %q, err %v", token, err)
	}
	if w := post("/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": "ivy's own passphrase"}); w.Code != http.StatusNoContent {
		t.Fatalf("confirm = %d %s", w.Code, w.Body)
	}
	got := decodeBody[loginResponse](t, post("/v1/auth/login", map[string]string{"email": "ivy@example.com", "password": "ivy's own passphrase"}), http.StatusOK)
	if got.User.Invited {
		t.Fatalf("after activation: %+v, want not invited", got.User)
	}
	decodeProblem(t, post("/v1/users/invitations", map[string]any{"email": "ivy@example.com", "name": "Ivy"}), http.StatusConflict, "email_taken")
}
