package console

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/test/keelproc"
)

// relay is an SMTP address that fails the way a relay that is down
// does: at first it closes every connection at once, which Keel counts as
// a temporary failure; once hold is set it accepts and says nothing, so
// that an attempt stays in flight, and its message pending, until the
// test ends.
type relay struct {
	ln   net.Listener
	hold atomic.Bool
	mu   sync.Mutex
	held []net.Conn
}

func newRelay(t *testing.T) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !r.hold.Load() {
				_ = c.Close()
				continue
			}
			r.mu.Lock()
			r.held = append(r.held, c)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.held {
			_ = c.Close()
		}
	})
	return r
}

// delivery is what the webhook receiver got.
type delivery struct {
	Header http.Header
	Body   []byte
}

// TestWebhooksAndMailInABrowser creates a webhook endpoint in the
// console, checks the secret it shows once signs what the receiver gets,
// sends a test event and sees it sent in the delivery log and on the
// delivery's page; then finds a submission's notification dead on the
// mail page (the relay is down and a message has one attempt) and
// retries it, which makes it pending again.
func TestWebhooksAndMailInABrowser(t *testing.T) {
	got := make(chan delivery, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
		_, _ = io.WriteString(w, "<b>thanks</b>")
	}))
	t.Cleanup(receiver.Close)
	smtp := newRelay(t)
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8", "KEEL_WEBHOOK_ALLOW_HTTP=true",
		"KEEL_SMTP_URL=smtp://" + smtp.ln.Addr().String() + "?tls=none&timeout=60s",
		"KEEL_MAIL_MAX_ATTEMPTS=1",
	})
	token := setupSite(t, p)
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/forms", token, map[string]any{
		"name":   "Contact the harbour",
		"fields": []map[string]any{{"name": "email", "label": "E-mail", "type": "email", "required": true}},
		"notify": map[string]any{"recipients": []string{"harbourmaster@example.com"}, "subject": "Boat enquiry"},
	}, 201, &form)
	b := newTab(t, pageTimeout, 360, 800, screenshotDir(t), nil)
	ctx, shot := b.ctx, b.shot
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	b.signIn(p.URL, ownerEmail, ownerPassword)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/webhooks"]`)),
		chromedp.Click(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/webhooks"]`)),
		chromedp.WaitVisible(chromedp.ID("url")),
		chromedp.SendKeys(chromedp.ID("url"), receiver.URL+"/hooks/keel"),
		chromedp.SendKeys(chromedp.ID("description"), "Harbour CRM"),
		chromedp.Click(chromedp.ID("ev-submission-created")),
		chromedp.Click(chromedp.CSS(`form[action="/console/workspaces/site/webhooks"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
	); err != nil {
		t.Fatalf("create an endpoint: %v", err)
	}
	secretText, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("secret")))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := domain.ParseWebhookSecret(secretText)
	if err != nil {
		t.Fatalf("the page shows %q, not a secret: %v", secretText, err)
	}
	// console.js shows the Copy button, hidden without it, and copies the
	// secret once the page may write the clipboard, as a user's click on
	// the browser's prompt would allow.
	b.grantClipboard(p.URL)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`button[data-copy="secret"]`)), chromedp.Click(chromedp.CSS(`button[data-copy="secret"]`))); err != nil {
		t.Fatalf("click Copy: %v", err)
	}
	copied, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelector('button[data-copy="secret"] + [role="status"]').textContent`,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || copied != "Copied" {
		t.Errorf("after Copy the page says %q (%v), want Copied", copied, err)
	} else if clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err != nil || clip != secretText {
		t.Errorf("the clipboard holds %q (%v), want the secret", clip, err)
	}
	shot("webhook-secret.png")

	// The endpoint's page: send a test event; the receiver gets it,
	// signed with the secret the page showed.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`main a[href^="/console/workspaces/site/webhooks/whk_"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/test"] button`)),
		chromedp.Click(chromedp.CSS(`form[action$="/test"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#deliveries ~ .scroll table`)),
	); err != nil {
		t.Fatalf("send a test event: %v", err)
	}
	var d delivery
	select {
	case d = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver got no delivery within 30 s")
	}
	h := domain.WebhookHeaders{ID: d.Header.Get("webhook-id"), Timestamp: d.Header.Get("webhook-timestamp"), Signature: d.Header.Get("webhook-signature")}
	if err := domain.VerifyWebhook(h, d.Body, time.Now(), 5*time.Minute, secret); err != nil {
		t.Errorf("the delivery does not verify with the secret the console showed: %v", err)
	}
	if !strings.Contains(string(d.Body), `"type":"webhook.test"`) {
		t.Errorf("the receiver got %s, want a webhook.test event", d.Body)
	}
	// Keel records the outcome after the receiver answers: reload the
	// log until it shows the delivery sent.
	hookURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	// Without its #deliveries a navigation loads the page again, where
	// one to the same URL with it would only scroll.
	hookURL, _, _ = strings.Cut(hookURL, "#")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err := chromedp.Do(ctx, chromedp.Navigate(hookURL), chromedp.WaitVisible(chromedp.ID("deliveries"))); err != nil {
			t.Fatal(err)
		}
		sent, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("tbody .status-sent") !== null`))
		if err != nil {
			t.Fatal(err)
		}
		if sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery log shows no sent delivery after 30 s:\n%s", text("#deliveries ~ .scroll"))
		}
		time.Sleep(200 * time.Millisecond) // polling the other process
	}
	if log := text("#deliveries ~ .scroll tbody"); !strings.Contains(log, "webhook.test") || !strings.Contains(log, "sent") {
		t.Errorf("the delivery log shows %q", log)
	}
	shot("webhook.png")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`tbody a[href*="/deliveries/dlv_"]`)),
		chromedp.WaitVisible(chromedp.ID("attempts")),
	); err != nil {
		t.Fatalf("open the delivery: %v", err)
	}
	if st := text("#status"); st != "sent" {
		t.Errorf("the delivery's page says %q, want sent", st)
	}
	// What the receiver answered is shown as text, not markup.
	if body := text("pre.excerpt"); body != "<b>thanks</b>" {
		t.Errorf("the attempt shows the receiver's answer as %q", body)
	}
	if a := text(".attempts li"); !strings.Contains(a, "HTTP 200") {
		t.Errorf("the attempt reads %q", a)
	}
	shot("webhook-delivery.png")

	// Mail: the submission's notification meets a relay that is down, and
	// with one attempt allowed it is dead at once.
	p.MustCall(t, "POST", "/v1/forms/"+form.ID+"/submissions", "", map[string]any{"email": "visitor@example.com"}, 201, nil)
	var msgID string
	for deadline := time.Now().Add(30 * time.Second); msgID == ""; time.Sleep(100 * time.Millisecond) { // polling the other process
		var list struct{ Data []struct{ ID string } }
		p.MustCall(t, "GET", "/v1/workspaces/site/messages?status=dead", token, nil, 200, &list)
		if len(list.Data) > 0 {
			msgID = list.Data[0].ID
		}
		if msgID == "" && time.Now().After(deadline) {
			t.Fatal("the notification is not dead after 30 s")
		}
	}
	smtp.hold.Store(true) // the retry's attempt now hangs: the message stays pending
	row := fmt.Sprintf("#msg-%s", msgID)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/outbox"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+" .status-dead")),
	); err != nil {
		t.Fatalf("open the mail page: %v", err)
	}
	for _, want := range []string{"harbourmaster@example.com", "Boat enquiry", "notification"} {
		if r := text(row); !strings.Contains(r, want) {
			t.Errorf("the message's row %q lacks %q", r, want)
		}
	}
	shot("outbox.png")
	if err := chromedp.Do(ctx,
		// The retry goes back to the mail page, where the row is pending
		// (the page before showed it dead).
		chromedp.Click(chromedp.CSS(row+` form[action$="/retry"] button`)),
		chromedp.WaitVisible(chromedp.CSS(row+" .status-pending")),
	); err != nil {
		t.Fatalf("retry the dead message: %v\n%s", err, text("main"))
	}
	if r := text(row); strings.Contains(r, "Retry") {
		t.Errorf("a pending message offers Retry: %q", r)
	}
	var pending struct{ Data []struct{ ID string } }
	p.MustCall(t, "GET", "/v1/workspaces/site/messages?status=pending", token, nil, 200, &pending)
	if len(pending.Data) != 1 || pending.Data[0].ID != msgID {
		t.Errorf("through the API the pending messages are %+v, want %s", pending.Data, msgID)
	}
}
