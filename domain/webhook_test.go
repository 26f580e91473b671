package domain_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

var webhookNow = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func newWebhook(t *testing.T, in domain.WebhookInput) domain.Webhook {
	t.Helper()
	w, err := domain.NewWebhook("wsp_1", in, false, webhookNow)
	if err != nil {
		t.Fatalf("NewWebhook(%+v): %v", in, err)
	}
	return w
}

func TestNewWebhookAcceptsAnHTTPSURLAndSortsItsEvents(t *testing.T) {
	w := newWebhook(t, domain.WebhookInput{
		URL:    " https://hooks.example.com/keel?x=1 ",
		Events: []string{"submission.deleted", "submission.created", "submission.created"},
	})
	if w.URL() != "https://hooks.example.com/keel?x=1" {
		t.Errorf("URL = %q", w.URL())
	}
	if got := strings.Join(w.Events(), ","); got != "submission.created,submission.deleted" {
		t.Errorf("events = %s, want sorted without the duplicate", got)
	}
	if !w.Enabled() || w.DisabledReason() != "" {
		t.Errorf("a new endpoint is enabled by default: %v %q", w.Enabled(), w.DisabledReason())
	}
	if !strings.HasPrefix(w.Secret().Text(), "whsec_") {
		t.Errorf("secret %q is not whsec_…", w.Secret().Text())
	}
	if !strings.HasPrefix(string(w.ID()), domain.PrefixWebhook+"_") {
		t.Errorf("id %q", w.ID())
	}
}

func TestNewWebhookRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		events    []string
		allowHTTP bool
		field     string
		code      string
	}{
		{"no url", "", []string{"*"}, false, "url", "required"},
		{"http by default", "http://hooks.example.com/", []string{"*"}, false, "url", "insecure_url"},
		{"other scheme", "ftp://hooks.example.com/", []string{"*"}, true, "url", "insecure_url"},
		{"relative", "/hooks", []string{"*"}, false, "url", "invalid_url"},
		{"credentials", "https://user:pw@hooks.example.com/", []string{"*"}, false, "url", "invalid_url"},
		{"fragment", "https://hooks.example.com/#x", []string{"*"}, false, "url", "invalid_url"},
		{"too long", "https://hooks.example.com/" + strings.Repeat("a", 2000), []string{"*"}, false, "url", "too_long"},
		{"no events", "https://hooks.example.com/", nil, false, "events", "required"},
		{"unknown event", "https://hooks.example.com/", []string{"submission.creatd"}, false, "events", "unknown_value"},
		{"test event", "https://hooks.example.com/", []string{domain.EventWebhookTest}, false, "events", "unknown_value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := domain.NewWebhook("wsp_1", domain.WebhookInput{URL: tc.url, Events: tc.events}, tc.allowHTTP, webhookNow)
			if !hasFieldError(err, tc.field, tc.code) {
				t.Fatalf("err = %v, want %s %s", err, tc.field, tc.code)
			}
		})
	}
	if _, err := domain.NewWebhook("wsp_1", domain.WebhookInput{URL: "http://127.0.0.1:9/", Events: []string{"*"}}, true, webhookNow); err != nil {
		t.Errorf("http:// when allowed: %v", err)
	}
}

func hasFieldError(err error, field, code string) bool {
	var de *domain.Error
	if !errors.As(err, &de) {
		return false
	}
	for _, f := range de.Fields {
		if f.Field == field && f.Code == code {
			return true
		}
	}
	return false
}

func TestWebhookSubscribes(t *testing.T) {
	all := newWebhook(t, domain.WebhookInput{URL: "https://h.example/", Events: []string{"form.created", "*"}})
	if got := all.Events(); len(got) != 1 || got[0] != "*" {
		t.Errorf(`"*" with others = %v, want just "*"`, got)
	}
	some := newWebhook(t, domain.WebhookInput{URL: "https://h.example/", Events: []string{"form.created"}})
	for _, tc := range []struct {
		w    domain.Webhook
		typ  string
		want bool
	}{
		{all, "submission.created", true},
		{all, domain.EventWebhookTest, false},
		{some, "form.created", true},
		{some, "form.deleted", false},
		{some, domain.EventWebhookTest, false},
	} {
		if got := tc.w.Subscribes(tc.typ); got != tc.want {
			t.Errorf("%v.Subscribes(%s) = %v", tc.w.Events(), tc.typ, got)
		}
	}
}

func TestRotateSecretKeepsThePreviousSigningFor24Hours(t *testing.T) {
	w := newWebhook(t, domain.WebhookInput{URL: "https://h.example/", Events: []string{"*"}})
	first := w.Secret()
	w.RotateSecret(webhookNow)
	if w.Secret() == first {
		t.Fatal("rotation kept the secret")
	}
	if got := w.Secrets(webhookNow.Add(23 * time.Hour)); len(got) != 2 || got[0] != w.Secret() || got[1] != first {
		t.Errorf("within the overlap: %d secrets, want the new then the previous", len(got))
	}
	if got := w.Secrets(webhookNow.Add(24 * time.Hour)); len(got) != 1 || got[0] != w.Secret() {
		t.Errorf("after the overlap: %d secrets, want the new one only", len(got))
	}
	second := w.Secret()
	w.RotateSecret(webhookNow.Add(time.Hour))
	if got := w.Secrets(webhookNow.Add(2 * time.Hour)); len(got) != 2 || got[1] != second {
		t.Errorf("a second rotation signs with the two newest secrets, got %d", len(got))
	}
}

func TestWebhookIsDisabledWhenGoneOrFailingTooLong(t *testing.T) {
	w := newWebhook(t, domain.WebhookInput{URL: "https://h.example/", Events: []string{"*"}})
	if w.DeliveryFailed(false, time.Hour, webhookNow) {
		t.Fatal("the first failure disabled the endpoint")
	}
	if w.DeliveryFailed(false, time.Hour, webhookNow.Add(59*time.Minute)) || !w.Enabled() {
		t.Fatal("disabled before an hour of failures")
	}
	if !w.DeliverySucceeded() || w.FailingSince() != nil {
		t.Fatal("a success did not clear the failure")
	}
	if w.DeliverySucceeded() {
		t.Error("a second success reported a change")
	}
	w.DeliveryFailed(false, time.Hour, webhookNow.Add(2*time.Hour))
	if !w.DeliveryFailed(false, time.Hour, webhookNow.Add(3*time.Hour)) || w.Enabled() || w.DisabledReason() != domain.WebhookDisabledFailing {
		t.Fatalf("an hour of failures: enabled %v, reason %q", w.Enabled(), w.DisabledReason())
	}
	if w.DeliveryFailed(true, time.Hour, webhookNow.Add(4*time.Hour)) {
		t.Error("a disabled endpoint was disabled again")
	}

	g := newWebhook(t, domain.WebhookInput{URL: "https://h.example/", Events: []string{"*"}})
	if !g.DeliveryFailed(true, time.Hour, webhookNow) || g.DisabledReason() != domain.WebhookDisabledGone {
		t.Fatalf("410: reason %q", g.DisabledReason())
	}
	on := true
	if err := g.Update(domain.WebhookPatch{Enabled: &on}, false, webhookNow); err != nil {
		t.Fatal(err)
	}
	if !g.Enabled() || g.DisabledReason() != "" || g.FailingSince() != nil {
		t.Errorf("re-enabled: enabled %v, reason %q, failing since %v", g.Enabled(), g.DisabledReason(), g.FailingSince())
	}
}

func TestUpdateIsAllOrNothing(t *testing.T) {
	w := newWebhook(t, domain.WebhookInput{URL: "https://h.example/", Events: []string{"*"}, Description: "old"})
	bad, desc := "http://h.example/", "new"
	if err := w.Update(domain.WebhookPatch{URL: &bad, Description: &desc}, false, webhookNow); !hasFieldError(err, "url", "insecure_url") {
		t.Fatalf("err = %v", err)
	}
	if w.URL() != "https://h.example/" || w.Description() != "old" {
		t.Errorf("a refused update changed the endpoint: %q %q", w.URL(), w.Description())
	}
}

func TestClassifyResponse(t *testing.T) {
	for status, want := range map[int]domain.DeliveryOutcome{
		200: domain.DeliveryOK, 204: domain.DeliveryOK, 299: domain.DeliveryOK,
		301: domain.DeliveryRetry, 408: domain.DeliveryRetry, 409: domain.DeliveryRetry, 425: domain.DeliveryRetry,
		429: domain.DeliveryRetry, 500: domain.DeliveryRetry, 503: domain.DeliveryRetry,
		400: domain.DeliveryFinal, 401: domain.DeliveryFinal, 404: domain.DeliveryFinal, 413: domain.DeliveryFinal,
		410: domain.DeliveryGone,
	} {
		if got := domain.ClassifyResponse(status); got != want {
			t.Errorf("ClassifyResponse(%d) = %d, want %d", status, got, want)
		}
	}
}

func testDelivery() domain.WebhookDelivery {
	e := domain.NewEvent("wsp_1", "form.created", "frm_1", map[string]any{"id": "frm_1"}, webhookNow)
	return domain.NewDelivery(e, "whk_1", "", webhookNow)
}

func TestDeliveryRetriesByThePolicyThenDies(t *testing.T) {
	p := domain.RetryPolicy{MaxAttempts: 3, Base: time.Second, Max: time.Minute}
	d := testDelivery()
	at := webhookNow
	for i := 1; i <= 2; i++ {
		d.Record(domain.DeliveryAttempt{At: at, StatusCode: 500, Error: "500"}, domain.DeliveryRetry, p)
		if d.Status != domain.OutboxPending {
			t.Fatalf("attempt %d: status %s", i, d.Status)
		}
		wait := d.NextAttemptAt.Sub(at)
		if nominal := time.Duration(1<<(i-1)) * time.Second; wait < nominal/2 || wait > nominal {
			t.Errorf("attempt %d: next in %s, want within the upper half of %s", i, wait, nominal)
		}
		at = d.NextAttemptAt
	}
	d.Record(domain.DeliveryAttempt{At: at, Error: "timeout"}, domain.DeliveryRetry, p)
	if d.Status != domain.OutboxDead || d.AttemptCount != 3 {
		t.Fatalf("after 3 attempts: %s, %d attempts", d.Status, d.AttemptCount)
	}
	if err := d.Redeliver(at); err != nil {
		t.Fatal(err)
	}
	d.Record(domain.DeliveryAttempt{At: at, Error: "timeout"}, domain.DeliveryRetry, p)
	if d.Status != domain.OutboxPending {
		t.Errorf("a redelivery gets a new budget, got %s", d.Status)
	}
	if err := d.Redeliver(at); !domain.ErrDeliveryPending.Is(err) {
		t.Errorf("redelivering a pending delivery: %v", err)
	}
	d.Record(domain.DeliveryAttempt{At: at, StatusCode: 200}, domain.DeliveryOK, p)
	if d.Status != domain.OutboxSent || d.DeliveredAt == nil || d.AttemptCount != 5 {
		t.Errorf("after a 2xx: %s, delivered %v, %d attempts", d.Status, d.DeliveredAt, d.AttemptCount)
	}
}

func TestDeliveryLogIsBounded(t *testing.T) {
	d := testDelivery()
	p := domain.RetryPolicy{MaxAttempts: 1000, Base: time.Second, Max: time.Second}
	for i := range 40 {
		d.Record(domain.DeliveryAttempt{At: webhookNow.Add(time.Duration(i) * time.Second), StatusCode: 500, Body: strings.Repeat("é", 1000)}, domain.DeliveryRetry, p)
	}
	if len(d.Attempts) != domain.MaxDeliveryAttemptsKept || d.AttemptCount != 40 {
		t.Fatalf("kept %d attempts of %d", len(d.Attempts), d.AttemptCount)
	}
	if !d.Attempts[len(d.Attempts)-1].At.Equal(webhookNow.Add(39 * time.Second)) {
		t.Error("the latest attempt was not kept")
	}
	if b := d.Attempts[0].Body; len(b) > domain.MaxDeliveryBodyLog || !strings.HasPrefix(b, "é") || strings.ContainsRune(b, '\uFFFD') {
		t.Errorf("body kept as %d bytes, cut inside a character: %v", len(b), strings.ContainsRune(b, '\uFFFD'))
	}
	d.Record(domain.DeliveryAttempt{At: webhookNow, StatusCode: 404}, domain.DeliveryFinal, p)
	if d.Status != domain.OutboxFailed {
		t.Errorf("a 404 left the delivery %s", d.Status)
	}
}

func TestWebhookPayloadIsTheFeedShape(t *testing.T) {
	e := domain.NewEvent("wsp_1", "form.created", "frm_1", map[string]any{"id": "frm_1"}, webhookNow)
	var got map[string]any
	if err := json.Unmarshal(domain.WebhookPayload(e), &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != string(e.ID) || got["type"] != "form.created" || got["workspace"] != "wsp_1" ||
		got["created_at"] != "2026-12-03T12:00:00.000000Z" || got["data"].(map[string]any)["id"] != "frm_1" || len(got) != 5 {
		t.Errorf("payload = %v", got)
	}
}
