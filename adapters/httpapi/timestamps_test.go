package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// anyTimestamp finds what looks like an RFC 3339 time in a body, however
// many fractional digits it has and whatever its offset.
var anyTimestamp = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)

// fixedTimestamp is the one shape Keel writes: UTC, six fractional digits.
var fixedTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)

// checkTimestamps fails on the timestamps of body that are not in
// domain.StampLayout, naming them once, and returns how many it found.
func checkTimestamps(t *testing.T, what, body string) int {
	t.Helper()
	found := anyTimestamp.FindAllString(body, -1)
	var bad []string
	for _, ts := range found {
		if !fixedTimestamp.MatchString(ts) && !slices.Contains(bad, ts) {
			bad = append(bad, ts)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: timestamps %q are not %s; body %.300s", what, bad, domain.StampLayout, body)
	}
	return len(found)
}

// TestEveryTimestampHasFixedWidth creates one resource of every kind at an
// instant whose fraction RFC3339Nano would shorten (.120000 as .12), reads
// every GET route under /v1 plus the answers of the writes that return a
// resource, and fails on any timestamp that is not RFC 3339 UTC with six
// fractional digits, event data and exports included. A GET route this
// test does not read fails it too, so that a new one is checked.
func TestEveryTimestampHasFixedWidth(t *testing.T) {
	t.Parallel()
	f := newFormsFixture(t, fixtureOptions{})
	f.clock.Add(120*time.Millisecond + 789*time.Nanosecond) // the nanoseconds are truncated away
	ws := acmeID(t, f)

	read := map[string]bool{} // route paths read
	// Members have no timestamp of their own.
	noTimestamps := map[string]bool{
		"POST /v1/workspaces/:ws/members": true, "PATCH /v1/workspaces/:ws/members/:user": true, "GET /v1/workspaces/:ws/members": true,
	}
	check := func(route string, w *httptest.ResponseRecorder, status int) {
		t.Helper()
		if w.Code != status {
			t.Fatalf("%s: status = %d, want %d; body %s", route, w.Code, status, w.Body)
		}
		read[route] = true
		if checkTimestamps(t, route, w.Body.String()) == 0 && !noTimestamps[route] {
			t.Errorf("%s: no timestamp in %s; the test no longer sees what it checks", route, w.Body)
		}
	}

	// Writes that answer a resource.
	w := f.withHeaders(t, http.MethodPost, "/v1/auth/login", `{"email":"owner@example.com","password":"correct horse battery"}`, "Content-Type", "application/json")
	check("POST /v1/auth/login", w, http.StatusOK)
	w = f.api(t, http.MethodPost, "/v1/users", map[string]any{"email": "ed@example.com", "password": "correct horse battery", "name": "Ed"})
	check("POST /v1/users", w, http.StatusCreated)
	user := decodeBody[userResponse](t, w, http.StatusCreated)
	check("POST /v1/workspaces/:ws/members", f.api(t, http.MethodPost, "/v1/workspaces/acme/members", map[string]any{"email": "ed@example.com", "role": "editor"}), http.StatusCreated)
	check("PATCH /v1/workspaces/:ws/members/:user", f.api(t, http.MethodPatch, "/v1/workspaces/acme/members/"+user.ID, map[string]any{"role": "admin"}), http.StatusOK)
	check("POST /v1/workspaces/:ws/invitations", f.api(t, http.MethodPost, "/v1/workspaces/acme/invitations", map[string]any{"email": "invitee@example.com", "role": "viewer"}), http.StatusCreated)

	w = f.api(t, http.MethodPost, "/v1/workspaces/acme/api-keys", map[string]any{"name": "CI", "scopes": []string{"forms:read"}, "expires_at": "2026-12-31T23:59:59.5+02:00"})
	check("POST /v1/workspaces/:ws/api-keys", w, http.StatusCreated)
	key := decodeBody[apiKeyResponse](t, w, http.StatusCreated)
	if want := "2026-12-31T21:59:59.500000Z"; !strings.Contains(w.Body.String(), `"expires_at":"`+want+`"`) {
		t.Errorf("expires_at given with an offset: %s, want %s", w.Body, want)
	}
	check("GET /v1/api-keys/current", f.withHeaders(t, http.MethodGet, "/v1/api-keys/current", "", "Authorization", "Bearer "+key.Key), http.StatusOK)
	check("POST /v1/workspaces/:ws/api-keys/:key/rotate", f.api(t, http.MethodPost, "/v1/workspaces/acme/api-keys/"+key.ID+"/rotate", nil), http.StatusOK)

	form := f.createForm(t, contactForm())
	check("PATCH /v1/workspaces/:ws/forms/:form", f.api(t, http.MethodPatch, "/v1/workspaces/acme/forms/"+form, map[string]any{"name": "Contact us"}), http.StatusOK)
	w = f.submitJSON(t, form, `{"name":"Ada","email":"ada@example.com","topics":["sales"]}`)
	check("POST /v1/forms/:form/submissions", w, http.StatusCreated)
	sub := decodeBody[submittedResponse](t, w, http.StatusCreated)
	check("PATCH /v1/workspaces/:ws/submissions/:id", f.api(t, http.MethodPatch, "/v1/workspaces/acme/submissions/"+sub.ID, map[string]any{"status": "read"}), http.StatusOK)

	check("PATCH /v1/workspaces/:ws/site", f.api(t, http.MethodPatch, "/v1/workspaces/acme/site", map[string]any{"post_permalink": "/posts/{slug}"}), http.StatusOK)
	f.publish(t, "post", "Hello")
	f.publish(t, "page", "About")
	entry := f.createEntry(t, map[string]any{"kind": "post", "title": "Later", "body": "text"})
	check("POST /v1/workspaces/:ws/entries/:id/publish", f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+entry.ID+"/publish",
		map[string]any{"publish_at": "2026-04-01T08:00:00+01:00"}), http.StatusOK)

	hook := f.createWebhook(t, "acme", map[string]any{"url": "https://hooks.example.com/keel", "events": []string{"*"}})
	check("PATCH /v1/workspaces/:ws/webhooks/:webhook", f.api(t, http.MethodPatch, "/v1/workspaces/acme/webhooks/"+hook.ID, map[string]any{"description": "CRM"}), http.StatusOK)
	check("POST /v1/workspaces/:ws/webhooks/:webhook/rotate-secret", f.api(t, http.MethodPost, "/v1/workspaces/acme/webhooks/"+hook.ID+"/rotate-secret", nil), http.StatusOK)
	w = f.api(t, http.MethodPost, "/v1/workspaces/acme/webhooks/"+hook.ID+"/test", nil)
	check("POST /v1/workspaces/:ws/webhooks/:webhook/test", w, http.StatusAccepted)
	d := decodeBody[deliveryResponse](t, w, http.StatusAccepted)
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		stored, err := st.Deliveries().Get(ctx, ws, domain.WebhookID(hook.ID), domain.DeliveryID(d.ID))
		if err != nil {
			return err
		}
		stored.Record(domain.DeliveryAttempt{At: f.clock.Now().Add(time.Second), StatusCode: 204, Latency: time.Millisecond}, domain.ClassifyResponse(204), domain.DefaultWebhookRetryPolicy)
		return st.Deliveries().Save(ctx, stored)
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every GET under /v1. The XML documents of the public site have
	// their own formats (RFC 3339 to the second in the feed, a date in
	// the sitemap), fixed-width too.
	base := "/v1/workspaces/acme"
	gets := map[string]string{
		"/v1/me":                                                    "/v1/me",
		"/v1/users":                                                 "/v1/users",
		"/v1/instance":                                              "/v1/instance",
		"/v1/audit-events":                                          "/v1/audit-events",
		"/v1/workspaces":                                            "/v1/workspaces",
		"/v1/workspaces/:ws":                                        base,
		"/v1/workspaces/:ws/members":                                base + "/members",
		"/v1/workspaces/:ws/invitations":                            base + "/invitations",
		"/v1/workspaces/:ws/api-keys":                               base + "/api-keys",
		"/v1/workspaces/:ws/audit-events":                           base + "/audit-events",
		"/v1/workspaces/:ws/site":                                   base + "/site",
		"/v1/workspaces/:ws/forms":                                  base + "/forms",
		"/v1/workspaces/:ws/forms/:form":                            base + "/forms/" + form,
		"/v1/workspaces/:ws/forms/:form/submissions":                base + "/forms/" + form + "/submissions",
		"/v1/workspaces/:ws/submissions/:id":                        base + "/submissions/" + sub.ID,
		"/v1/workspaces/:ws/entries":                                base + "/entries",
		"/v1/workspaces/:ws/entries/:id":                            base + "/entries/" + entry.ID,
		"/v1/workspaces/:ws/entries/:id/revisions":                  base + "/entries/" + entry.ID + "/revisions",
		"/v1/workspaces/:ws/events":                                 base + "/events",
		"/v1/workspaces/:ws/messages":                               base + "/messages",
		"/v1/workspaces/:ws/webhooks":                               base + "/webhooks",
		"/v1/workspaces/:ws/webhooks/:webhook":                      base + "/webhooks/" + hook.ID,
		"/v1/workspaces/:ws/webhooks/:webhook/deliveries":           base + "/webhooks/" + hook.ID + "/deliveries",
		"/v1/workspaces/:ws/webhooks/:webhook/deliveries/:delivery": base + "/webhooks/" + hook.ID + "/deliveries/" + d.ID,
		"/v1/sites/:site/posts":                                     "/v1/sites/acme/posts",
		"/v1/sites/:site/posts/:slug":                               "/v1/sites/acme/posts/hello",
		"/v1/sites/:site/pages/:slug":                               "/v1/sites/acme/pages/about",
	}
	// Two-factor authentication, once on, answers when it was turned on.
	enableTwoFactor(t, f)
	gets["/v1/me/two-factor"] = "/v1/me/two-factor"
	// Authors and the list of pages have timestamps; tags have none.
	gets["/v1/workspaces/:ws/authors"] = base + "/authors"
	gets["/v1/sites/:site/pages"] = "/v1/sites/acme/pages"
	gets["/v1/sites/:site/authors/:slug"] = "/v1/sites/acme/authors/owner"
	for _, route := range []string{"/v1/workspaces/:ws/tags", "/v1/sites/:site/tags", "/v1/sites/:site/tags/:slug"} {
		noTimestamps["GET "+route] = true
	}
	// A scheduled backup's run answers when it was scheduled, started and
	// finished.
	run := ports.BackupRun{ID: "bkr_1", ScheduledAt: f.clock.Now(), Node: "n", StartedAt: f.clock.Now(), File: "f.zip"}
	if _, err := f.db.ClaimBackupRun(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	done := f.clock.Now()
	run.FinishedAt, run.Status, run.Attempts = &done, "succeeded", 1
	if err := f.db.FinishBackupRun(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	gets["/v1/admin/backups"] = "/v1/admin/backups"
	// A preview link answers when it was made and when it ends, and the
	// entry it shows when it was updated; a workspace's locales have no
	// time.
	w = f.api(t, http.MethodPost, base+"/entries/"+entry.ID+"/preview-links", map[string]any{})
	check("POST /v1/workspaces/:ws/entries/:id/preview-links", w, http.StatusCreated)
	link := decodeBody[createdPreviewLinkResponse](t, w, http.StatusCreated)
	gets["/v1/workspaces/:ws/entries/:id/preview-links"] = base + "/entries/" + entry.ID + "/preview-links"
	gets["/v1/sites/:site/preview"] = "/v1/sites/acme/preview?token=" + link.Token
	gets["/v1/workspaces/:ws/locales"] = base + "/locales"
	noTimestamps["GET /v1/workspaces/:ws/locales"] = true
	// A media file answers when it was uploaded and changed; its public
	// URL answers its bytes.
	up := httptest.NewRequestWithContext(t.Context(), http.MethodPost, base+"/media?name=logo.png", bytes.NewReader(testPNG(t, 2, 2)))
	up.Header.Set("Content-Type", "image/png")
	up.Header.Set("Authorization", "Bearer "+f.token)
	w = f.serve(up)
	check("POST /v1/workspaces/:ws/media", w, http.StatusCreated)
	med := decodeBody[mediaResponse](t, w, http.StatusCreated)
	gets["/v1/workspaces/:ws/media"] = base + "/media"
	gets["/v1/workspaces/:ws/media/:id"] = base + "/media/" + med.ID
	noTimestamps["GET /v1/sites/:site/media/:id/:name"] = true
	for route, path := range gets {
		check("GET "+route, f.api(t, http.MethodGet, path, nil), http.StatusOK)
	}

	// A time read back from storage reads as it did when it was written,
	// the nanoseconds the clock had included.
	const written = "2026-03-02T09:00:00.120000Z"
	for _, path := range []string{base + "/submissions/" + sub.ID, base + "/api-keys"} {
		if body := f.api(t, http.MethodGet, path, nil).Body.String(); !strings.Contains(body, `"created_at":"`+written+`"`) {
			t.Errorf("GET %s: want created_at %s as written; body %.300s", path, written, body)
		}
	}
	if sub.CreatedAt.String() != written {
		t.Errorf("submission answered created_at %s, want %s", sub.CreatedAt, written)
	}
	for _, format := range []string{"csv", "jsonl"} {
		route := "/v1/workspaces/:ws/forms/:form/submissions/export"
		check("GET "+route+"?format="+format, f.api(t, http.MethodGet, base+"/forms/"+form+"/submissions/export?format="+format, nil), http.StatusOK)
		read["GET "+route] = true
	}

	// The change feed's data holds timestamps of its own: each kind of
	// event that carries one must have been read above.
	feed := f.api(t, http.MethodGet, base+"/events?limit=100", nil).Body.String()
	for _, typ := range []string{"submission.created", "submission.updated", "form.created", "post.published", "api_key.created"} {
		if !strings.Contains(feed, `"type":"`+typ+`"`) {
			t.Errorf("feed has no %s event: %s", typ, feed)
		}
	}
	for _, member := range []string{`"published_at":"`, `"expires_at":"`, `"updated_at":"`} {
		if !strings.Contains(feed, member) {
			t.Errorf("feed data has no %s…: %s", member, feed)
		}
	}

	// Routes without a JSON timestamp in their answer: the XML
	// documents, the published API document and its page.
	for _, name := range []string{"GET /v1/sites/:site/feed.xml", "GET /v1/sites/:site/sitemap.xml", "GET /v1/openapi.json", "GET /v1/openapi.yaml", "GET /v1/docs",
		"GET /v1/submission-files/:ws/:submission/:n"} { // a file, not JSON

		noTimestamps[name] = true
	}
	for _, r := range f.srv.Routes() {
		name := r.Method + " " + r.Path
		if r.Method != http.MethodGet || !strings.HasPrefix(r.Path, "/v1/") || read[name] || noTimestamps[name] || strings.HasPrefix(r.Path, "/v1/docs/") {
			continue
		}
		t.Errorf("%s is not read by this test: add it to gets, or to noTimestamps if it answers none", name)
	}
}
