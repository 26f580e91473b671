package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/ports"
)

// idemPost posts body as JSON to path with an Idempotency-Key, as the
// fixture's owner when token is set, anonymously from 192.0.2.1 (or from
// the address in kv's "remote") otherwise.
func (f *formsFixture) idemPost(t *testing.T, path, key, body, token string, kv ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	req.RemoteAddr = "192.0.2.1:1234"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "remote" {
			req.RemoteAddr = kv[i+1]
			continue
		}
		req.Header.Set(kv[i], kv[i+1])
	}
	return f.serve(req)
}

const idemSubmission = `{"name":"Ada","email":"ada@example.com"}`

func TestIdempotencyReplaysTheFirstResponse(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	form := f.createForm(t, contactForm())
	path := "/v1/forms/" + form + "/submissions"

	first := f.idemPost(t, path, "key-1", idemSubmission, "", "Origin", "https://site.example")
	if first.Code != http.StatusCreated || first.Header().Get(replayedHeader) != "" {
		t.Fatalf("first: %d, %s=%q; want 201, not replayed; body %s", first.Code, replayedHeader, first.Header().Get(replayedHeader), first.Body)
	}
	for range 2 {
		again := f.idemPost(t, path, "key-1", idemSubmission, "", "Origin", "https://site.example")
		if again.Code != first.Code || again.Body.String() != first.Body.String() {
			t.Fatalf("replay: %d %s; want %d %s byte for byte", again.Code, again.Body, first.Code, first.Body)
		}
		for _, h := range []string{"Location", "Content-Type", "Cache-Control"} {
			if again.Header().Get(h) != first.Header().Get(h) {
				t.Errorf("replay %s = %q, want %q", h, again.Header().Get(h), first.Header().Get(h))
			}
		}
		if again.Header().Get(replayedHeader) != "true" {
			t.Errorf("replay %s = %q, want true", replayedHeader, again.Header().Get(replayedHeader))
		}
		if again.Header().Get("Access-Control-Allow-Origin") != "https://site.example" ||
			!strings.Contains(again.Header().Get("Access-Control-Expose-Headers"), replayedHeader) {
			t.Errorf("replay CORS: Allow-Origin %q, Expose %q; want the origin and %s exposed",
				again.Header().Get("Access-Control-Allow-Origin"), again.Header().Get("Access-Control-Expose-Headers"), replayedHeader)
		}
	}
	if got := f.listStatuses(t, form); len(got) != 1 {
		t.Fatalf("%d submissions stored, want 1", len(got))
	}

	// Another key is another request.
	if w := f.idemPost(t, path, "key-2", idemSubmission, ""); w.Code != http.StatusCreated || w.Body.String() == first.Body.String() {
		t.Fatalf("new key: %d %s, want a new 201", w.Code, w.Body)
	}
	if got := f.listStatuses(t, form); len(got) != 2 {
		t.Fatalf("%d submissions stored, want 2", len(got))
	}
}

func TestIdempotencyKeyReusedForAnotherRequest(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	form := f.createForm(t, contactForm())
	other := f.createForm(t, contactForm())
	path := "/v1/forms/" + form + "/submissions"
	if w := f.idemPost(t, path, "k", idemSubmission, ""); w.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	for name, w := range map[string]*httptest.ResponseRecorder{
		"another body":  f.idemPost(t, path, "k", `{"name":"Bob","email":"bob@example.com"}`, ""),
		"another path":  f.idemPost(t, "/v1/forms/"+other+"/submissions", "k", idemSubmission, ""),
		"another query": f.idemPost(t, path+"?utm_source=x", "k", idemSubmission, ""),
	} {
		t.Run(name, func(t *testing.T) { decodeProblemCode(t, w, http.StatusUnprocessableEntity, "idempotency_key_reused") })
	}
	if got := f.listStatuses(t, form); len(got) != 1 {
		t.Fatalf("%d submissions stored, want 1", len(got))
	}
	// The refusal comes before the work: the other form, which the reused
	// key's request was for, stored nothing.
	if got := f.listStatuses(t, other); len(got) != 0 {
		t.Fatalf("%d submissions stored in the other form, want none", len(got))
	}
}

func TestIdempotencyKeyMustBePrintableASCII(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	form := f.createForm(t, contactForm())
	path := "/v1/forms/" + form + "/submissions"
	for name, key := range map[string]string{
		"empty":     "",
		"too long":  strings.Repeat("k", 256),
		"non-ASCII": "clé",
		"control":   "a\x7fb",
	} {
		t.Run(name, func(t *testing.T) {
			decodeProblemCode(t, f.idemPost(t, path, key, idemSubmission, ""), http.StatusBadRequest, "invalid_idempotency_key")
		})
	}
	t.Run("two values", func(t *testing.T) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, strings.NewReader(idemSubmission))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Add("Idempotency-Key", "a")
		req.Header.Add("Idempotency-Key", "b")
		decodeProblemCode(t, f.serve(req), http.StatusBadRequest, "invalid_idempotency_key")
	})
	if w := f.idemPost(t, path, strings.Repeat("k", 255), idemSubmission, ""); w.Code != http.StatusCreated {
		t.Fatalf("255-character key: %d %s, want 201", w.Code, w.Body)
	}
	if got := f.listStatuses(t, form); len(got) != 1 {
		t.Fatalf("%d submissions stored, want only the valid key's", len(got))
	}
}

// A request refused before its transaction wrote nothing and leaves no
// key: its retry, corrected, runs.
func TestIdempotencyRefusalBeforeTheTransactionLeavesNoKey(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	form := f.createForm(t, contactForm())
	path := "/v1/forms/" + form + "/submissions"
	decodeProblemCode(t, f.idemPost(t, path, "k", `{"name":"Ada"}`, ""), http.StatusUnprocessableEntity, "validation_failed")
	if w := f.idemPost(t, path, "k", idemSubmission, ""); w.Code != http.StatusCreated || w.Header().Get(replayedHeader) != "" {
		t.Fatalf("corrected retry: %d %s, want a fresh 201", w.Code, w.Body)
	}
}

// Keys are scoped per credential: the same key from two API keys, or
// from two anonymous clients, names two requests.
func TestIdempotencyKeysAreScopedPerCredential(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	a, b := f.createKey(t, "forms:write", "forms:read"), f.createKey(t, "forms:write", "forms:read")
	body := `{"name":"Contact","fields":[{"name":"email","type":"email","required":true}]}`
	path := "/v1/workspaces/acme/forms"
	fromA := f.idemPost(t, path, "same", body, a.Key)
	fromB := f.idemPost(t, path, "same", body, b.Key)
	ra, rb := decodeBody[formResponse](t, fromA, http.StatusCreated), decodeBody[formResponse](t, fromB, http.StatusCreated)
	if ra.ID == rb.ID || fromB.Header().Get(replayedHeader) != "" {
		t.Fatalf("two API keys with one Idempotency-Key made forms %s and %s (replayed %q); want two forms",
			ra.ID, rb.ID, fromB.Header().Get(replayedHeader))
	}
	if again := f.idemPost(t, path, "same", body, a.Key); again.Body.String() != fromA.Body.String() {
		t.Fatalf("replay for key A = %s, want %s", again.Body, fromA.Body)
	}

	form := f.createForm(t, contactForm())
	sub := "/v1/forms/" + form + "/submissions"
	one := f.idemPost(t, sub, "same", idemSubmission, "", "remote", "192.0.2.1:1000")
	two := f.idemPost(t, sub, "same", idemSubmission, "", "remote", "198.51.100.7:1000")
	if one.Code != http.StatusCreated || two.Code != http.StatusCreated || one.Body.String() == two.Body.String() {
		t.Fatalf("two clients: %d %s and %d %s, want two submissions", one.Code, one.Body, two.Code, two.Body)
	}
}

// hookedStore lets a test see lookups, miss one and fail saves.
type hookedStore struct {
	ports.IdempotencyStore
	lookups int
	saveErr error
}

func (s *hookedStore) GetIdempotency(ctx context.Context, k ports.IdempotencyKey, now time.Time) (ports.IdempotencyRecord, error) {
	s.lookups++
	return s.IdempotencyStore.GetIdempotency(ctx, k, now)
}

func (s *hookedStore) SaveIdempotentResponse(ctx context.Context, k ports.IdempotencyKey, status int, response []byte) error {
	if s.saveErr != nil {
		return s.saveErr
	}
	return s.IdempotencyStore.SaveIdempotentResponse(ctx, k, status, response)
}

// A key committed without a stored response (its process died between
// the two, or the save failed) answers 409 with Retry-After: the change
// is there, its answer is not.
func TestIdempotencyCommittedWithoutResponseIsInProgress(t *testing.T) {
	hooked := &hookedStore{saveErr: errors.New("disk full")}
	f := newFormsFixture(t, fixtureOptions{idempotency: hooked})
	hooked.IdempotencyStore = f.db
	form := f.createForm(t, contactForm())
	path := "/v1/forms/" + form + "/submissions"
	if w := f.idemPost(t, path, "k", idemSubmission, ""); w.Code != http.StatusCreated {
		t.Fatalf("first: %d %s; the client gets its answer although it was not stored", w.Code, w.Body)
	}
	if !strings.Contains(f.logs.String(), "response not stored") {
		t.Errorf("the failed save is not logged: %s", f.logs)
	}
	w := f.idemPost(t, path, "k", idemSubmission, "")
	decodeProblemCode(t, w, http.StatusConflict, "idempotency_in_progress")
	if w.Header().Get("Retry-After") == "" {
		t.Error("409 without Retry-After")
	}
	if got := f.listStatuses(t, form); len(got) != 1 {
		t.Fatalf("%d submissions stored, want 1", len(got))
	}
	// The key expires: then it is free again.
	f.clock.Add(DefaultIdempotencyTTL)
	hooked.saveErr = nil
	if w := f.idemPost(t, path, "k", idemSubmission, ""); w.Code != http.StatusCreated || w.Header().Get(replayedHeader) != "" {
		t.Fatalf("after expiry: %d %s, want a fresh 201", w.Code, w.Body)
	}
}

// A twin arriving while the first request runs on the same node is
// answered 409 at once, without running its use case.
func TestIdempotencyConcurrentTwinIsInProgress(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	form := f.createForm(t, contactForm())
	path := "/v1/forms/" + form + "/submissions"

	release := sqlitetest.HoldWrite(t, f.db) // the first request waits in its transaction
	firstDone := make(chan *httptest.ResponseRecorder, 1)
	go func() { firstDone <- f.idemPost(t, path, "k", idemSubmission, "") }()
	// The first request is in flight once its key is.
	deadline := time.Now().Add(10 * time.Second)
	for f.srv.idem.inFlightCount() == 0 {
		if time.Now().After(deadline) {
			release()
			t.Fatal("the first request never took its key")
		}
		runtime.Gosched()
	}
	decodeProblemCode(t, f.idemPost(t, path, "k", idemSubmission, ""), http.StatusConflict, "idempotency_in_progress")
	release()
	if w := <-firstDone; w.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	if got := f.listStatuses(t, form); len(got) != 1 {
		t.Fatalf("%d submissions stored, want 1", len(got))
	}
}

func (h *idempotent) inFlightCount() int {
	n := 0
	h.inFlight.Range(func(any, any) bool { n++; return true })
	return n
}

// Stored responses are sealed with a key derived from the
// Idempotency-Key, which the database does not hold: an API key's secret,
// shown once, is not in the database in the clear.
func TestIdempotencyStoredResponseIsSealed(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	w := f.idemPost(t, "/v1/workspaces/acme/api-keys", "create-key", `{"name":"CI","scopes":["forms:read"]}`, f.token)
	created := decodeBody[apiKeyResponse](t, w, http.StatusCreated)
	me := decodeBody[struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}](t, f.api(t, http.MethodGet, "/v1/me", nil), http.StatusOK)
	rec, err := f.db.GetIdempotency(t.Context(), ports.IdempotencyKey{Scope: "user:" + me.User.ID, Key: hashIdempotencyKey("create-key")}, f.clock.Now())
	if err != nil {
		t.Fatalf("stored key: %v", err)
	}
	if rec.Status != http.StatusCreated || len(rec.Response) == 0 || strings.Contains(string(rec.Response), created.Key) || strings.Contains(string(rec.Response), created.ID) {
		t.Fatalf("stored response: status %d, %d bytes, holding the secret or the ID in the clear: %v", rec.Status, len(rec.Response),
			strings.Contains(string(rec.Response), created.Key))
	}
	if again := f.idemPost(t, "/v1/workspaces/acme/api-keys", "create-key", `{"name":"CI","scopes":["forms:read"]}`, f.token); again.Body.String() != w.Body.String() {
		t.Fatalf("replay = %s, want %s", again.Body, w.Body)
	}
}

// A twin that committed while this request ran (on another node, say)
// makes this request's transaction roll back: the request answers with
// the twin's stored response, and its own work is not stored. No key is
// looked up before a request runs, so a plain retry takes this path too.
func TestIdempotencyTwinCommittedFirstIsReplayed(t *testing.T) {
	hooked := &hookedStore{}
	f := newFormsFixture(t, fixtureOptions{idempotency: hooked})
	hooked.IdempotencyStore = f.db
	form := f.createForm(t, contactForm())
	path := "/v1/forms/" + form + "/submissions"
	first := f.idemPost(t, path, "k", idemSubmission, "")
	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	if hooked.lookups != 0 {
		t.Errorf("the first request looked its key up %d times; a request that commits its key needs no lookup", hooked.lookups)
	}
	twin := f.idemPost(t, path, "k", idemSubmission, "")
	if twin.Code != http.StatusCreated || twin.Header().Get(replayedHeader) != "true" || twin.Body.String() != first.Body.String() {
		t.Fatalf("twin: %d %q %s; want the first answer replayed", twin.Code, twin.Header().Get(replayedHeader), twin.Body)
	}
	if got := f.listStatuses(t, form); len(got) != 1 {
		t.Fatalf("%d submissions stored, want 1: the twin's must roll back", len(got))
	}
}

// A retry whose use case fails because the first try's work stands in
// its way (a workspace's slug is taken by the workspace the first try
// created) gets the first try's answer, not its own error.
func TestIdempotencyRetryBlockedByItsFirstTryIsReplayed(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	first := f.idemPost(t, "/v1/workspaces", "ws-1", `{"name":"Shop","slug":"shop"}`, f.token)
	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	again := f.idemPost(t, "/v1/workspaces", "ws-1", `{"name":"Shop","slug":"shop"}`, f.token)
	if again.Code != http.StatusCreated || again.Header().Get(replayedHeader) != "true" || again.Body.String() != first.Body.String() {
		t.Fatalf("retry: %d %q %s; want the first answer replayed", again.Code, again.Header().Get(replayedHeader), again.Body)
	}
	// Without the key, the same request is refused as it should be.
	if w := f.api(t, http.MethodPost, "/v1/workspaces", map[string]string{"name": "Shop", "slug": "shop"}); w.Code != http.StatusConflict {
		t.Fatalf("without a key: %d %s, want 409", w.Code, w.Body)
	}
}
