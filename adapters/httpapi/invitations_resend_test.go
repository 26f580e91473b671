package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestInvitingAgainResends checks, through the API and against its
// contract (the fixture checks every answer with api/openapi.yaml), that
// a second POST …/invitations for an address with a pending invitation
// answers 201 with a new invitation, which is the only one listed, and
// that the first one's mailed link no longer works while the new one does.
func TestInvitingAgainResends(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	first := decodeBody[invitationResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/invitations", map[string]any{"email": "grace@example.com", "role": "viewer"}), http.StatusCreated)
	firstToken := f.mailedToken(t, "grace@example.com")
	second := decodeBody[invitationResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/invitations", map[string]any{"email": "grace@example.com", "role": "editor"}), http.StatusCreated)
	secondToken := f.mailedToken(t, "grace@example.com")
	if second.ID == first.ID || second.Role != "editor" || secondToken == firstToken {
		t.Fatalf("resent invitation %+v (token reused: %v), want a new editor's invitation", second, secondToken == firstToken)
	}
	list := decodeBody[listResponse[invitationResponse]](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/invitations", nil), http.StatusOK)
	if len(list.Data) != 1 || list.Data[0].ID != second.ID {
		t.Fatalf("pending = %+v, want only %s", list.Data, second.ID)
	}
	accept := func(token string) *httptest.ResponseRecorder {
		b, _ := json.Marshal(map[string]any{"token": token, "name": "Grace", "password": "correct horse battery"})
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/invitations/accept", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return f.serve(req)
	}
	decodeProblem(t, accept(firstToken), http.StatusNotFound, "invitation_unusable")
	if got := decodeBody[acceptedResponse](t, accept(secondToken), http.StatusOK); got.Member.Role != "editor" {
		t.Fatalf("accepted = %+v, want an editor", got)
	}
}
