package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// keysOf returns the member names of a JSON object, sorted.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var (
	webhookKeys  = []string{"created_at", "description", "disabled_reason", "enabled", "events", "failing_since", "id", "updated_at", "url"}
	deliveryKeys = []string{"attempt_count", "attempts", "created_at", "delivered_at", "event_id", "event_type", "id", "next_attempt_at", "status", "webhook_id"}
)

func withKeys(keys []string, more ...string) []string {
	return slices.Sorted(slices.Values(append(slices.Clone(keys), more...)))
}

func (f *formsFixture) createWebhook(t *testing.T, ws string, body any) createdWebhookResponse {
	t.Helper()
	return decodeBody[createdWebhookResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/"+ws+"/webhooks", body), http.StatusCreated)
}

// TestWebhookEndpoints: create answers 201 with a Location and the
// secret, which no read shows again; list, get, patch and delete answer
// as documented, with the documented JSON members.
func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	w := f.api(t, http.MethodPost, "/v1/workspaces/acme/webhooks", map[string]any{
		"url": "https://hooks.example.com/keel", "events": []string{"submission.created", "form.deleted"}, "description": "CRM",
	})
	created := decodeBody[createdWebhookResponse](t, w, http.StatusCreated)
	if loc := w.Header().Get("Location"); loc != "/v1/workspaces/acme/webhooks/"+created.ID {
		t.Errorf("Location = %q, want the webhook's path", loc)
	}
	if got := keysOf(t, w.Body.Bytes()); !slices.Equal(got, withKeys(webhookKeys, "secret")) {
		t.Errorf("created webhook members = %v", got)
	}
	if _, err := domain.ParseWebhookSecret(created.Secret); err != nil {
		t.Errorf("secret %q: %v", created.Secret, err)
	}
	if created.URL != "https://hooks.example.com/keel" || !slices.Equal(created.Events, []string{"form.deleted", "submission.created"}) ||
		created.Description != "CRM" || !created.Enabled || created.DisabledReason != nil || created.FailingSince != nil || created.CreatedAt.IsZero() {
		t.Errorf("created = %+v", created)
	}
	path := "/v1/workspaces/acme/webhooks/" + created.ID

	w = f.api(t, http.MethodGet, path, nil)
	if got := keysOf(t, w.Body.Bytes()); w.Code != http.StatusOK || !slices.Equal(got, webhookKeys) {
		t.Errorf("GET webhook: %d, members %v; want no secret", w.Code, got)
	}
	w = f.api(t, http.MethodGet, "/v1/workspaces/acme/webhooks", nil)
	list := decodeBody[struct {
		Data       []json.RawMessage `json:"data"`
		NextCursor *string           `json:"next_cursor"`
	}](t, w, http.StatusOK)
	if len(list.Data) != 1 || list.NextCursor != nil || !slices.Equal(keysOf(t, list.Data[0]), webhookKeys) {
		t.Errorf("list = %s", w.Body)
	}

	f.clock.Add(time.Minute)
	w = f.api(t, http.MethodPatch, path, map[string]any{"description": "CRM v2", "enabled": false})
	patched := decodeBody[webhookResponse](t, w, http.StatusOK)
	if patched.Description != "CRM v2" || patched.Enabled || patched.DisabledReason == nil || *patched.DisabledReason != "manual" ||
		patched.URL != created.URL || !patched.UpdatedAt.Equal(f.clock.Now()) || slices.Contains(keysOf(t, w.Body.Bytes()), "secret") {
		t.Errorf("patched = %s", w.Body)
	}
	patched = decodeBody[webhookResponse](t, f.api(t, http.MethodPatch, path, map[string]any{"enabled": true}), http.StatusOK)
	if !patched.Enabled || patched.DisabledReason != nil || patched.Description != "CRM v2" {
		t.Errorf("re-enabled = %+v", patched)
	}

	if w := f.api(t, http.MethodDelete, path, nil); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	decodeProblem(t, f.api(t, http.MethodGet, path, nil), http.StatusNotFound, "not_found")
	decodeProblem(t, f.api(t, http.MethodDelete, path, nil), http.StatusNotFound, "not_found")
}

// TestWebhookValidation: bad URLs and event lists are 422 with the field
// and its code; unknown members and wrong types are 400, as for every
// other body.
func TestWebhookValidation(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	for _, tc := range []struct {
		body        map[string]any
		field, code string
	}{
		{map[string]any{"url": "http://hooks.example.com/keel", "events": []string{"*"}}, "url", "insecure_url"},
		{map[string]any{"url": "https://user:secret@hooks.example.com/keel", "events": []string{"*"}}, "url", "invalid_url"},
		{map[string]any{"url": "hooks.example.com/keel", "events": []string{"*"}}, "url", "invalid_url"},
		{map[string]any{"url": "https://hooks.example.com/keel", "events": []string{"submission.exploded"}}, "events", "unknown_value"},
		{map[string]any{"url": "https://hooks.example.com/keel", "events": []string{}}, "events", "required"},
		{map[string]any{"url": "https://hooks.example.com/keel"}, "events", "required"},
	} {
		p := decodeProblem(t, f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/webhooks", tc.body), http.StatusUnprocessableEntity, "validation_failed")
		if !slices.ContainsFunc(p.Errors, func(e problemField) bool { return e.Field == tc.field && e.Code == tc.code }) {
			t.Errorf("%v: errors %+v, want %s on %s", tc.body, p.Errors, tc.code, tc.field)
		}
	}
	decodeProblem(t, f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/webhooks", map[string]any{"url": "https://a.example", "events": []string{"*"}, "secret": "whsec_mine"}),
		http.StatusUnprocessableEntity, "unknown_field")
	decodeProblem(t, f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/webhooks", map[string]any{"url": "https://a.example", "events": "*"}),
		http.StatusUnprocessableEntity, "invalid_type")

	hook := f.createWebhook(t, "acme", map[string]any{"url": "https://a.example/hook", "events": []string{"*"}})
	path := "/v1/workspaces/acme/webhooks/" + hook.ID
	p := decodeProblem(t, f.api(t, http.MethodPatch, path, map[string]any{"url": "http://a.example/hook"}), http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Field != "url" || p.Errors[0].Code != "insecure_url" {
		t.Errorf("PATCH http:// errors = %+v", p.Errors)
	}
	p = decodeProblem(t, f.api(t, http.MethodPatch, path, map[string]any{"events": nil}), http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Field != "events" || p.Errors[0].Code != "required" {
		t.Errorf("PATCH events: null errors = %+v", p.Errors)
	}
	decodeProblem(t, f.invalid().api(t, http.MethodPatch, path, map[string]any{"enabled": "yes"}), http.StatusUnprocessableEntity, "invalid_type")
	if got := decodeBody[webhookResponse](t, f.api(t, http.MethodGet, path, nil), http.StatusOK); got.URL != "https://a.example/hook" {
		t.Errorf("refused patches changed the URL to %q", got.URL)
	}
}

// TestWebhookOfAnotherWorkspaceIsNotFound: an ID from another workspace
// is 404 on every route of this one.
func TestWebhookOfAnotherWorkspaceIsNotFound(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	decodeBody[workspaceResponse](t, f.api(t, http.MethodPost, "/v1/workspaces", map[string]string{"name": "Other", "slug": "other"}), http.StatusCreated)
	theirs := f.createWebhook(t, "other", map[string]any{"url": "https://other.example/hook", "events": []string{"*"}})
	d := decodeBody[deliveryResponse](t, f.api(t, http.MethodPost, "/v1/workspaces/other/webhooks/"+theirs.ID+"/test", nil), http.StatusAccepted)
	mine := "/v1/workspaces/acme/webhooks/" + theirs.ID
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, mine}, {http.MethodPatch, mine}, {http.MethodDelete, mine},
		{http.MethodPost, mine + "/test"}, {http.MethodPost, mine + "/rotate-secret"},
		{http.MethodGet, mine + "/deliveries"}, {http.MethodGet, mine + "/deliveries/" + d.ID},
		{http.MethodPost, mine + "/deliveries/" + d.ID + "/redeliver"},
	} {
		var body any
		if r.method == http.MethodPatch {
			body = map[string]any{"description": "mine now"}
		}
		decodeProblem(t, f.api(t, r.method, r.path, body), http.StatusNotFound, "not_found")
	}
	if got := decodeBody[webhookResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/other/webhooks/"+theirs.ID, nil), http.StatusOK); got.Description != "" {
		t.Errorf("the other workspace's webhook changed: %+v", got)
	}
}

// TestWebhookTestRotateAndDeliveries: test queues a delivery (202) that
// the log lists; redelivering it while pending is 409; an ended one is
// queued again (202) with its attempts as documented; rotation answers
// the new secret and when the previous one stops signing.
func TestWebhookTestRotateAndDeliveries(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	hook := f.createWebhook(t, "acme", map[string]any{"url": "https://hooks.example.com/keel", "events": []string{"*"}})
	base := "/v1/workspaces/acme/webhooks/" + hook.ID

	w := f.api(t, http.MethodPost, base+"/test", nil)
	d := decodeBody[deliveryResponse](t, w, http.StatusAccepted)
	if got := keysOf(t, w.Body.Bytes()); !slices.Equal(got, deliveryKeys) {
		t.Errorf("delivery members = %v", got)
	}
	if d.WebhookID != hook.ID || d.EventType != "webhook.test" || d.Status != "pending" || d.AttemptCount != 0 ||
		d.NextAttemptAt == nil || d.DeliveredAt != nil || d.Attempts == nil || len(d.Attempts) != 0 || !strings.HasPrefix(d.EventID, "evt_") {
		t.Errorf("queued delivery = %s", w.Body)
	}
	pending := decodeBody[listResponse[deliveryResponse]](t, f.api(t, http.MethodGet, base+"/deliveries?status=pending", nil), http.StatusOK)
	if len(pending.Data) != 1 || pending.Data[0].ID != d.ID {
		t.Errorf("pending deliveries = %+v", pending.Data)
	}
	if sent := decodeBody[listResponse[deliveryResponse]](t, f.api(t, http.MethodGet, base+"/deliveries?status=sent", nil), http.StatusOK); len(sent.Data) != 0 {
		t.Errorf("sent deliveries = %+v, want none", sent.Data)
	}
	decodeProblem(t, f.invalid().api(t, http.MethodGet, base+"/deliveries?status=lost", nil), http.StatusUnprocessableEntity, "validation_failed")
	decodeProblem(t, f.api(t, http.MethodPost, base+"/deliveries/"+d.ID+"/redeliver", nil), http.StatusConflict, "delivery_pending")

	// The receiver's address was refused, then it answered 410: the
	// delivery ended, and the log shows both attempts.
	ws := acmeID(t, f)
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		stored, err := st.Deliveries().Get(ctx, ws, domain.WebhookID(hook.ID), domain.DeliveryID(d.ID))
		if err != nil {
			return err
		}
		stored.Record(domain.DeliveryAttempt{At: f.clock.Now(), Latency: 3250 * time.Microsecond, Error: "connection refused"},
			domain.DeliveryRetry, domain.DefaultWebhookRetryPolicy)
		stored.Record(domain.DeliveryAttempt{At: f.clock.Now().Add(time.Minute), StatusCode: 410, Latency: 1500 * time.Millisecond, Error: "410 Gone", Body: "gone for good"},
			domain.ClassifyResponse(410), domain.DefaultWebhookRetryPolicy)
		return st.Deliveries().Save(ctx, stored)
	})
	if err != nil {
		t.Fatal(err)
	}
	w = f.api(t, http.MethodGet, base+"/deliveries/"+d.ID, nil)
	var raw struct {
		Status        string            `json:"status"`
		AttemptCount  int               `json:"attempt_count"`
		NextAttemptAt *time.Time        `json:"next_attempt_at"`
		Attempts      []json.RawMessage `json:"attempts"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil || w.Code != http.StatusOK {
		t.Fatalf("GET delivery: %d %s", w.Code, w.Body)
	}
	if raw.Status != "failed" || raw.AttemptCount != 2 || raw.NextAttemptAt != nil || len(raw.Attempts) != 2 {
		t.Fatalf("ended delivery = %s", w.Body)
	}
	var first, second map[string]any
	_ = json.Unmarshal(raw.Attempts[0], &first)
	_ = json.Unmarshal(raw.Attempts[1], &second)
	if first["status_code"] != nil || first["error"] != "connection refused" || first["latency_ms"] != 3.25 || first["response_body"] != "" {
		t.Errorf("attempt without a response = %s", raw.Attempts[0])
	}
	if second["status_code"] != 410.0 || second["error"] != "410 Gone" || second["latency_ms"] != 1500.0 || second["response_body"] != "gone for good" {
		t.Errorf("attempt answered 410 = %s", raw.Attempts[1])
	}
	if got := keysOf(t, raw.Attempts[0]); !slices.Equal(got, []string{"at", "error", "latency_ms", "response_body", "status_code"}) {
		t.Errorf("attempt members = %v", got)
	}

	f.clock.Add(time.Hour)
	again := decodeBody[deliveryResponse](t, f.api(t, http.MethodPost, base+"/deliveries/"+d.ID+"/redeliver", nil), http.StatusAccepted)
	if again.ID != d.ID || again.EventID != d.EventID || again.Status != "pending" || again.NextAttemptAt == nil ||
		!again.NextAttemptAt.Equal(f.clock.Now()) || len(again.Attempts) != 2 {
		t.Errorf("redelivered = %+v", again)
	}

	now := f.clock.Now()
	w = f.api(t, http.MethodPost, base+"/rotate-secret", nil)
	rotated := decodeBody[rotateSecretResponse](t, w, http.StatusOK)
	if got := keysOf(t, w.Body.Bytes()); !slices.Equal(got, withKeys(webhookKeys, "secret", "previous_secret_expires_at")) {
		t.Errorf("rotation members = %v", got)
	}
	if rotated.Secret == hook.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") || !rotated.PreviousSecretExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Errorf("rotation = new secret %v, previous expires %s", rotated.Secret != hook.Secret, rotated.PreviousSecretExpiresAt)
	}
	if got := keysOf(t, f.api(t, http.MethodGet, base, nil).Body.Bytes()); slices.Contains(got, "secret") {
		t.Errorf("GET after rotation shows %v", got)
	}

	decodeBody[webhookResponse](t, f.api(t, http.MethodPatch, base, map[string]any{"enabled": false}), http.StatusOK)
	decodeProblem(t, f.api(t, http.MethodPost, base+"/test", nil), http.StatusConflict, "webhook_disabled")
}

// acmeID is the ID of the fixture's workspace, which the stores need.
func acmeID(t *testing.T, f *formsFixture) domain.WorkspaceID {
	t.Helper()
	ws := decodeBody[workspaceResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme", nil), http.StatusOK)
	return domain.WorkspaceID(ws.ID)
}
