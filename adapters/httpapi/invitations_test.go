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

var mailedInvitationToken = regexp.MustCompile(`/console/invitations/(kin_[0-9a-z]+)`)

// TestInvitations invites an address, lists the invitation without its
// token, accepts it anonymously with a name and password, signs in as the
// new account, and checks that a used or revoked token gets one answer.
func TestInvitations(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	inv := decodeBody[invitationResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/invitations", map[string]any{"email": "grace@example.com", "role": "editor"}), http.StatusCreated)
	if inv.Email != "grace@example.com" || inv.Role != "editor" || inv.ExpiresAt.Sub(inv.CreatedAt.Time) != 7*24*time.Hour {
		t.Fatalf("invitation = %+v", inv)
	}
	list := decodeBody[listResponse[invitationResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/invitations", nil), http.StatusOK)
	if len(list.Data) != 1 || list.Data[0].ID != inv.ID {
		t.Fatalf("list = %+v", list)
	}
	token := f.mailedToken(t, "grace@example.com")

	accept := func(body map[string]any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/invitations/accept", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return f.serve(req)
	}
	got := decodeBody[acceptedResponse](t, accept(map[string]any{"token": token, "name": "Grace", "password": "correct horse battery"}), http.StatusOK)
	if !got.AccountCreated || got.Member.Email != "grace@example.com" || got.Member.Role != "editor" || got.Workspace.Slug != "acme" {
		t.Fatalf("accepted = %+v", got)
	}
	body, _ := json.Marshal(map[string]string{"email": "grace@example.com", "password": "correct horse battery"})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	decodeBody[loginResponse](t, f.serve(req), http.StatusOK)
	decodeProblem(t, accept(map[string]any{"token": token, "name": "Grace", "password": "correct horse battery"}), http.StatusNotFound, "invitation_unusable")

	other := decodeBody[invitationResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/invitations", map[string]any{"email": "hopper@example.com", "role": "viewer"}), http.StatusCreated)
	otherToken := f.mailedToken(t, "hopper@example.com")
	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/invitations/"+other.ID, nil); w.Code != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", w.Code, w.Body)
	}
	decodeProblem(t, f.api(t, http.MethodDelete, "/v1/workspaces/acme/invitations/"+other.ID, nil), http.StatusNotFound, "not_found")
	decodeProblem(t, accept(map[string]any{"token": otherToken, "name": "Hopper", "password": "correct horse battery"}), http.StatusNotFound, "invitation_unusable")
	if list := decodeBody[listResponse[invitationResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/invitations", nil), http.StatusOK); len(list.Data) != 0 {
		t.Fatalf("pending after acceptance and revocation = %+v", list.Data)
	}
	decodeProblem(t, f.api(t, http.MethodPost, "/v1/workspaces/acme/invitations", map[string]any{"email": "grace@example.com", "role": "viewer"}), http.StatusConflict, "already_member")
}

// TestAddingAMemberByAnUnknownAddressInvites checks that POST …/members
// with an e-mail address that has no account answers 202 with an
// invitation, mailed like any other, instead of 404.
func TestAddingAMemberByAnUnknownAddressInvites(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	w := f.api(t, http.MethodPost, "/v1/workspaces/acme/members", map[string]any{"email": "lovelace@example.com", "role": "viewer"})
	inv := decodeBody[invitationResponse](t, w, http.StatusAccepted)
	if inv.Email != "lovelace@example.com" || inv.Role != "viewer" || w.Header().Get("Location") != "/v1/workspaces/acme/invitations/"+inv.ID {
		t.Fatalf("202 = %+v, Location %q", inv, w.Header().Get("Location"))
	}
	f.mailedToken(t, "lovelace@example.com")
	// A user ID that does not exist is still 404: there is no one to mail.
	decodeProblem(t, f.api(t, http.MethodPost, "/v1/workspaces/acme/members", map[string]any{"user_id": "usr_nobody", "role": "viewer"}), http.StatusNotFound, "not_found")
}

// mailedToken returns the token of the latest invitation mail to addr in
// the outbox.
func (f *formsFixture) mailedToken(t *testing.T, addr string) string {
	t.Helper()
	var token string
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if m.Kind == domain.KindInvitation && m.Message.To()[0].Address == addr {
				if sub := mailedInvitationToken.FindStringSubmatch(m.Message.Text()); sub != nil {
					token = sub[1]
				}
			}
		}
		return err
	})
	if err != nil || token == "" {
		t.Fatalf("no invitation mail to %s (err %v)", addr, err)
	}
	return token
}
