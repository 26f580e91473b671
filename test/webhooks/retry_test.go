package webhooks

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/mailpit"
)

// TestRetryUntilReceiverAnswers: a receiver answers 500, 500, then 200.
// Keel tries three times with the same webhook-id, each request signed
// so that the specification's library verifies it, and the delivery log
// shows the three attempts and one success.
func TestRetryUntilReceiverAnswers(t *testing.T) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := startServe(t, "serve", e.url(t))
			s := newSite(t, p)
			r := newReceiver(t)
			r.setRespond(func(a arrival) int {
				if a.n <= 2 {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			})
			w := s.addWebhook(t, p, r.url, true, "submission.created")
			r.setSecret(w.Secret)
			// The submission comes from a client that traces its
			// requests: its trace must continue into every attempt.
			tid := make([]byte, 16)
			_, _ = rand.Read(tid)
			traceID := hex.EncodeToString(tid)
			sub, err := s.submitTraced(t.Context(), p, 1, "00-"+traceID+"-00f067aa0ba902b7-01")
			if err != nil {
				t.Fatal(err)
			}

			got := r.waitFor(t, "three requests", 30*time.Second, func(as []arrival) bool { return len(as) >= 3 })
			for _, a := range got {
				checkArrival(t, a)
				if !strings.HasPrefix(a.traceparent, "00-"+traceID+"-") {
					t.Errorf("request %d: traceparent %q, want the submitting request's trace %s", a.n, a.traceparent, traceID)
				}
			}
			ids := byID(got)
			if len(ids) != 1 {
				t.Fatalf("%d webhook-ids over %d requests, want one: %v", len(ids), len(got), keys(ids))
			}
			ev := got[0].event
			var data struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(ev.Data, &data)
			if ev.Type != "submission.created" || ev.Workspace != s.wsID || data.ID != sub || ev.submissionN() != "1" {
				t.Errorf("event %s %s in %s, data %s: want submission.created of %s in %s", ev.ID, ev.Type, ev.Workspace, ev.Data, sub, s.wsID)
			}
			for _, a := range got[1:] {
				if string(a.body) != string(got[0].body) {
					t.Errorf("request %d's body differs from the first's:\n%s\n%s", a.n, a.body, got[0].body)
				}
			}

			sent := s.waitDeliveries(t, p, w.ID, 1, 30*time.Second)
			all := s.deliveries(t, p, w.ID, "")
			if len(sent) != 1 || len(all) != 1 {
				t.Fatalf("delivery log: %d sent of %d, want one delivery, sent", len(sent), len(all))
			}
			d := sent[0]
			if d.EventID != got[0].id || d.EventType != "submission.created" || d.WebhookID != w.ID || d.AttemptCount != 3 || d.DeliveredAt == nil || len(d.Attempts) != 3 {
				t.Fatalf("delivery %+v: want event %s, 3 attempts, delivered", d, got[0].id)
			}
			slices.SortFunc(d.Attempts, func(a, b attempt) int { return a.At.Compare(b.At) })
			var codes []int
			for i, a := range d.Attempts {
				code := 0
				if a.StatusCode != nil {
					code = *a.StatusCode
				}
				codes = append(codes, code)
				failed := a.Error != nil && *a.Error != ""
				if failed != (i < 2) || a.LatencyMS < 0 || a.At.IsZero() {
					t.Errorf("attempt %d: %+v: want an error on the two 500s only, a latency and a time", i+1, a)
				}
			}
			if !slices.Equal(codes, []int{500, 500, 200}) {
				t.Errorf("attempts' status codes %v, want [500 500 200]", codes)
			}
			if n := r.count(); n != 3 {
				t.Errorf("the receiver got %d requests, want 3", n)
			}
			p.Stop(t)
		})
	}
}

// TestReceiverDownDisablesEndpoint: a receiver answers 503 to everything.
// Once its endpoint has failed for KEEL_WEBHOOK_DISABLE_AFTER (1 s here)
// Keel disables it ("failing"), mails the workspace's owner, and sends
// it nothing more: later events are not delivered to it, although a
// healthy endpoint of the same workspace receives them.
func TestReceiverDownDisablesEndpoint(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := startServe(t, "serve", e.url(t), "KEEL_WEBHOOK_DISABLE_AFTER=1s", "KEEL_WEBHOOK_MAX_ATTEMPTS=100",
				"KEEL_SMTP_URL=smtp://"+mp.SMTPAddr+"?starttls=none", "KEEL_MAIL_FROM=Keel <webhooks@keel.test>")
			s := newSite(t, p)
			down := newReceiver(t)
			down.setRespond(func(arrival) int { return http.StatusServiceUnavailable })
			healthy := newReceiver(t)
			wd := s.addWebhook(t, p, down.url, true, "submission.created")
			down.setSecret(wd.Secret)
			wh := s.addWebhook(t, p, healthy.url, true, "*")
			healthy.setSecret(wh.Secret)

			s.mustSubmit(t, p, 1)
			var w webhook
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if w = s.webhook(t, p, wd.ID); !w.Enabled {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("endpoint still enabled 30 s after its receiver went down: %+v; %d requests", w, down.count())
				}
			}
			if w.DisabledReason == nil || *w.DisabledReason != "failing" || w.FailingSince == nil {
				t.Fatalf("disabled endpoint %+v: want disabled_reason failing and failing_since", w)
			}
			tried := down.all()
			if len(tried) < 2 {
				t.Fatalf("disabled after %d requests, want retries first", len(tried))
			}
			for _, a := range tried {
				checkArrival(t, a)
			}
			if first, last := tried[0].at, tried[len(tried)-1].at; last.Sub(first) < 900*time.Millisecond {
				t.Errorf("disabled after failing for %v, want at least the 1 s setting", last.Sub(first))
			}
			t.Logf("%s: disabled after %d requests over %v", e.name, len(tried), tried[len(tried)-1].at.Sub(tried[0].at).Round(time.Millisecond))

			// Nothing of the endpoint's is left to send, and its first
			// event's delivery ended without success.
			if pending := s.deliveries(t, p, wd.ID, "pending"); len(pending) != 0 {
				t.Errorf("disabled endpoint keeps %d deliveries pending", len(pending))
			}
			if sent := s.deliveries(t, p, wd.ID, "sent"); len(sent) != 0 {
				t.Errorf("disabled endpoint has %d deliveries sent", len(sent))
			}

			// The owner hears of it.
			msgs := mp.WaitForSearch(t, `to:"`+s.owner+`"`, 1, 30*time.Second)
			m := mp.Message(t, msgs[0].ID)
			if !strings.Contains(m.Text+m.HTML, wd.ID) && !strings.Contains(m.Text+m.HTML, down.url) {
				t.Errorf("the owner's mail %q names neither the endpoint %s nor its URL:\n%s", m.Subject, wd.ID, m.Text)
			}
			t.Logf("mail to the owner: %q", m.Subject)

			// Later events reach the healthy endpoint but not the
			// disabled one: once the healthy receiver has the third,
			// the dispatcher has had every chance to send them.
			before := down.count()
			for n := 2; n <= 4; n++ {
				s.mustSubmit(t, p, n)
			}
			healthy.waitFor(t, "four submission events", 30*time.Second, func(as []arrival) bool {
				ns := map[string]bool{}
				for _, a := range as {
					ns[a.event.submissionN()] = true
				}
				return ns["2"] && ns["3"] && ns["4"]
			})
			if after := down.count(); after != before {
				t.Errorf("the disabled endpoint received %d requests after it was disabled", after-before)
			}
			late := map[string]bool{}
			for _, a := range healthy.all() {
				if n := a.event.submissionN(); n == "2" || n == "3" || n == "4" {
					late[a.id] = true
				}
			}
			for _, d := range s.deliveries(t, p, wd.ID, "") {
				if !late[d.EventID] {
					continue
				}
				for _, a := range d.Attempts {
					if a.StatusCode != nil && *a.StatusCode != 0 {
						t.Errorf("delivery %s of a later event was attempted (%d) on the disabled endpoint", d.ID, *a.StatusCode)
					}
				}
				if d.Status == "sent" || d.Status == "pending" {
					t.Errorf("delivery %s of a later event is %s on the disabled endpoint", d.ID, d.Status)
				}
			}
			p.Stop(t)
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestReceiverAnswers checks what each kind of answer does to a delivery,
// on one event fanned out to an endpoint per case: a 2xx after 408, 409,
// 425, 429, 503 or a redirect is sent on the second attempt (the
// redirect not followed), another 4xx fails at once and leaves the
// endpoint enabled, 410 fails at once and disables the endpoint, and a
// refused connection is retried.
func TestReceiverAnswers(t *testing.T) {
	t.Parallel()
	type answerCase struct {
		first    int
		status   string // the delivery's, in the end
		attempts int
		disabled string // the endpoint's disabled_reason; "" while enabled
	}
	cases := []answerCase{
		{408, "sent", 2, ""}, {409, "sent", 2, ""}, {425, "sent", 2, ""}, {429, "sent", 2, ""}, {503, "sent", 2, ""},
		{302, "sent", 2, ""},
		{400, "failed", 1, ""}, {404, "failed", 1, ""}, {410, "failed", 1, "gone"},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			p := startServe(t, "serve", e.url(t))
			s := newSite(t, p)
			// A redirect's target: Keel must never call it.
			trap := newReceiver(t)
			rxs := make([]*receiver, len(cases))
			hooks := make([]webhook, len(cases))
			for i, c := range cases {
				r := newReceiver(t)
				r.setRespond(func(a arrival) int {
					if a.n == 1 {
						return c.first
					}
					return http.StatusOK
				})
				if c.first == 302 {
					r.setLocation(trap.url)
				}
				hooks[i] = s.addWebhook(t, p, r.url, true, "submission.created")
				r.setSecret(hooks[i].Secret)
				rxs[i] = r
			}
			// And a receiver that is not there: its port refuses
			// connections.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closedURL := "http://" + ln.Addr().String() + "/hooks/keel"
			_ = ln.Close()
			refused := s.addWebhook(t, p, closedURL, true, "submission.created")
			s.mustSubmit(t, p, 1)
			for i, c := range cases {
				var ds []delivery
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					ds = s.deliveries(t, p, hooks[i].ID, "")
					if len(ds) == 1 && ds[0].Status != "pending" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d first: deliveries %+v still pending after 30s", c.first, ds)
					}
				}
				d := ds[0]
				if d.Status != c.status || d.AttemptCount != c.attempts || rxs[i].count() != c.attempts {
					t.Errorf("%d first: delivery %s after %d attempts (%d requests), want %s after %d", c.first, d.Status, d.AttemptCount, rxs[i].count(), c.status, c.attempts)
				}
				if len(d.Attempts) > 0 && (d.Attempts[0].StatusCode == nil || *d.Attempts[0].StatusCode != c.first) {
					t.Errorf("%d first: attempts %+v, want the first with status_code %d", c.first, d.Attempts, c.first)
				}
				for _, a := range rxs[i].all() {
					checkArrival(t, a)
				}
				w := s.webhook(t, p, hooks[i].ID)
				reason := ""
				if w.DisabledReason != nil {
					reason = *w.DisabledReason
				}
				if reason != c.disabled || w.Enabled != (c.disabled == "") {
					t.Errorf("%d first: endpoint enabled %v, disabled_reason %q; want %q", c.first, w.Enabled, reason, c.disabled)
				}
			}
			if n := trap.count(); n != 0 {
				t.Errorf("a redirect was followed: its target got %d requests", n)
			}
			// A refused connection is retried, and logged without a
			// status code.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				ds := s.deliveries(t, p, refused.ID, "")
				if len(ds) == 1 && ds[0].AttemptCount >= 2 {
					d := ds[0]
					if d.Status != "pending" || d.NextAttemptAt == nil {
						t.Errorf("refused connection: delivery %s (next attempt %v), want pending, retried", d.Status, d.NextAttemptAt)
					}
					for _, a := range d.Attempts {
						if a.StatusCode != nil || a.Error == nil || *a.Error == "" {
							t.Errorf("refused connection: attempt %+v, want no status code and an error", a)
						}
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("refused connection: deliveries %+v, want one retried within 30s", ds)
				}
			}
			p.Stop(t)
		})
	}
}
