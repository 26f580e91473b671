// Package outbox checks the mail outbox's delivery guarantees end to end:
// the keel binary on PostgreSQL, mail over SMTP to Mailpit, a relay outage,
// a process killed with SIGKILL and two workers sharing one database.
//
// Every test tags its mail's subjects with a run-unique prefix, so tests
// running in parallel count only their own messages in the shared Mailpit.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/mailpit"
)

func TestMain(m *testing.M) {
	keelproc.Main(m)
}

// baseEnv is every keel process's configuration here. The retry base is
// the smallest allowed, so mail failed by an outage comes back in seconds;
// enough attempts that none dies of it; rate limits far above the tests'
// bursts from one IP.
func baseEnv(t *testing.T, dbURL, smtpAddr string) []string {
	return []string{
		"KEEL_DATABASE_URL=" + dbURL,
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SMTP_URL=smtp://" + smtpAddr + "?starttls=none",
		"KEEL_MAIL_FROM=Keel <outbox@keel.test>",
		"KEEL_MAIL_MAX_ATTEMPTS=30",
		"KEEL_MAIL_RETRY_BASE=1s",
		"KEEL_SUBMIT_PER_IP=1000000",
		"KEEL_SUBMIT_PER_FORM=1000000",
		"KEEL_IP_HASH_KEY=outbox-tests-ip-hash-key",
		"KEEL_SHUTDOWN_TIMEOUT=10s",
	}
}

// startServe starts `keel serve` and waits until it answers /readyz.
func startServe(t *testing.T, name, dbURL, smtpAddr string, env ...string) *keelproc.Proc {
	t.Helper()
	return keelproc.Serve(t, name, append(baseEnv(t, dbURL, smtpAddr), env...))
}

// startWorker starts `keel worker` and waits until it delivers.
func startWorker(t *testing.T, name, dbURL, smtpAddr string, env ...string) *keelproc.Proc {
	t.Helper()
	return keelproc.Worker(t, name, append(baseEnv(t, dbURL, smtpAddr), env...))
}

// sent returns the IDs of the messages w's messaging.Deliver spans say it
// sent; w exports them only with KEEL_TRACE_EXPORTER=stdout.
func sent(w *keelproc.Proc) []string {
	return w.Out.SpanValues("messaging.Deliver", "keel.message.id", "keel.message.status", "sent")
}

// client reads Mailpit's API.
var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
}

// site is keelproc's Site, whose form's notification subject is
// Tag-<n>, where n is the submission's one field.
type site struct{ keelproc.Site }

func newSite(t *testing.T, p *keelproc.Proc, name string) site {
	t.Helper()
	return site{keelproc.NewSite(t, p, name, "-{{.Fields.n}}")}
}

// submit posts submission n as a script would: JSON, answered 201.
func (s site) submit(ctx context.Context, p *keelproc.Proc, n int) error {
	status, body, err := p.Call(ctx, "POST", "/v1/forms/"+s.Form+"/submissions", "", map[string]any{"n": fmt.Sprint(n)})
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("submission %d: %d %s", n, status, body)
	}
	var out struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.ID == "" || out.CreatedAt.IsZero() {
		return fmt.Errorf("submission %d: 201 with body %s", n, body)
	}
	return nil
}

// submitAll posts submissions 1..count from workers goroutines and returns
// the errors, which fail the test.
func (s site) submitAll(t *testing.T, p *keelproc.Proc, count, workers int) {
	t.Helper()
	keelproc.Parallel(t, count, workers, func(n int) error { return s.submit(t.Context(), p, n) })
}

// list reads every page of a list endpoint into a slice of T.
func list[T any](t *testing.T, p *keelproc.Proc, token, path string) []T {
	t.Helper()
	return keelproc.List[T](t, p, token, path, 200)
}

type message struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Subject  string `json:"subject"`
	Attempts []struct {
		At    time.Time `json:"at"`
		Error *string   `json:"error"`
	} `json:"attempts"`
}

func (s site) messages(t *testing.T, p *keelproc.Proc, status string) []message {
	t.Helper()
	return list[message](t, p, s.Token, "/v1/workspaces/"+s.WS+"/messages?status="+status)
}

// submissions returns the n of every stored submission.
func (s site) submissions(t *testing.T, p *keelproc.Proc) []int {
	t.Helper()
	subs := list[struct {
		Values map[string]any `json:"values"`
	}](t, p, s.Token, "/v1/workspaces/"+s.WS+"/forms/"+s.Form+"/submissions")
	ns := make([]int, 0, len(subs))
	for _, sub := range subs {
		var n int
		if _, err := fmt.Sscan(fmt.Sprint(sub.Values["n"]), &n); err != nil {
			t.Fatalf("submission values %v: no n", sub.Values)
		}
		ns = append(ns, n)
	}
	return ns
}

// waitOutbox polls until the workspace has no pending message, so every
// delivery's outcome is recorded and no resend is still to come.
func (s site) waitOutbox(t *testing.T, p *keelproc.Proc, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		pending := s.messages(t, p, "pending")
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still pending after %v, such as %+v", len(pending), timeout, pending[0])
		}
	}
}

// checkOutbox checks that every one of want messages is sent and none is
// pending, failed or dead.
func (s site) checkOutbox(t *testing.T, p *keelproc.Proc, want int) {
	t.Helper()
	for _, status := range []string{"pending", "failed", "dead"} {
		if ms := s.messages(t, p, status); len(ms) != 0 {
			t.Errorf("%d messages %s, want none; first: %+v", len(ms), status, ms[0])
		}
	}
	if sent := s.messages(t, p, "sent"); len(sent) != want {
		t.Errorf("%d messages sent, want %d", len(sent), want)
	}
}

// mail is what Mailpit holds of one test's messages: the copies of each
// n's notification.
type mail map[int][]mailpit.Summary

// tagged reads every message whose subject carries tag from Mailpit, all
// in one page: the helper's Search stops at 1000, and a count must see
// every duplicate.
func tagged(t *testing.T, mp *mailpit.Server, tag string) mail {
	t.Helper()
	q := `subject:"` + tag + `-"`
	resp, err := client.Get(mp.APIURL + "/api/v1/search?limit=100000&query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("mailpit search: %v", err)
	}
	defer resp.Body.Close()
	var page struct {
		MessagesCount int `json:"messages_count"`
		Messages      []mailpit.Summary
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit search: %s: %v", resp.Status, err)
	}
	if len(page.Messages) != page.MessagesCount {
		t.Fatalf("mailpit search returned %d of %d messages", len(page.Messages), page.MessagesCount)
	}
	m := mail{}
	for _, s := range page.Messages {
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(s.Subject, tag+"-"), "%d", &n); err != nil || !strings.HasPrefix(s.Subject, tag+"-") {
			t.Fatalf("mailpit: unexpected subject %q for tag %s", s.Subject, tag)
		}
		m[n] = append(m[n], s)
	}
	return m
}

// waitMail polls Mailpit until every n in want has arrived, and returns
// what it holds then.
func waitMail(t *testing.T, mp *mailpit.Server, tag string, want []int, timeout time.Duration) mail {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(250 * time.Millisecond) {
		got := tagged(t, mp, tag)
		var missing []int
		for _, n := range want {
			if len(got[n]) == 0 {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %d of %d notifications missing after %v, such as n=%d", len(missing), len(want), timeout, missing[0])
		}
	}
}

// duplicates returns the n that arrived more than once.
func (m mail) duplicates() []int {
	var ns []int
	for n, copies := range m {
		if len(copies) > 1 {
			ns = append(ns, n)
		}
	}
	return ns
}

func seq(count int) []int {
	ns := make([]int, count)
	for i := range ns {
		ns[i] = i + 1
	}
	return ns
}
