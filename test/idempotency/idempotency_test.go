// Package idempotency checks Idempotency-Key end to end: the keel binary,
// two nodes on one PostgreSQL, mail over SMTP to Mailpit, concurrent
// retries of one submission, and a node killed with SIGKILL between the
// commit of a request and its answer.
//
// The binary is built with -tags keelfault, whose hook kills the process
// at that point when KEEL_FAULT_KILL_AFTER_COMMIT=1; without the variable
// it behaves as the production binary.
package idempotency

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/mailpit"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	keelproc.Tags = "keelfault"
	keelproc.Main(m)
}

// concurrent is how many identical requests race with one key.
const concurrent = 50

// env is every node's configuration: one database and relay, one IP hash
// key (anonymous keys are scoped by it, so the nodes must share it), and
// rate limits far above the tests' bursts from one address.
func env(t *testing.T, dbURL, smtpAddr string, more ...string) []string {
	return append([]string{
		"KEEL_DATABASE_URL=" + dbURL,
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SMTP_URL=smtp://" + smtpAddr + "?tls=none",
		"KEEL_MAIL_FROM=Keel <idempotency@keel.test>",
		"KEEL_MAIL_RETRY_BASE=1s",
		"KEEL_IP_HASH_KEY=idempotency-tests-ip-hash-key",
		"KEEL_SUBMIT_PER_IP=1000000",
		"KEEL_SUBMIT_PER_FORM=1000000",
		"KEEL_RATE_LIMIT_ANONYMOUS=0",
	}, more...)
}

// serveAll starts the nodes together, as a deployment would on an empty
// database, and waits until each is ready.
func serveAll(t *testing.T, envs map[string][]string) map[string]*keelproc.Proc {
	t.Helper()
	ps := map[string]*keelproc.Proc{}
	for name, e := range envs {
		ps[name] = keelproc.Start(t, name, e, "serve", "--http-addr", "127.0.0.1:0")
	}
	for _, p := range ps {
		p.WaitReady(t)
	}
	return ps
}

// site is keelproc's Site, whose form's notification subject is the
// test's unique tag, so that the test counts only its own mail.
type site struct{ keelproc.Site }

func newSite(t *testing.T, p *keelproc.Proc, name string) site {
	t.Helper()
	return site{keelproc.NewSite(t, p, name, "")}
}

// answer is one response as the client saw it.
type answer struct {
	status   int
	replayed string
	location string
	body     []byte
	err      error
}

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: concurrent, IdleConnTimeout: 30 * time.Second},
}

// submit posts the test's one submission to p with key, as a script
// retrying it would.
func (s site) submit(ctx context.Context, p *keelproc.Proc, key string) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/v1/forms/"+s.Form+"/submissions", bytes.NewReader([]byte(`{"n":"1"}`)))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed"), location: resp.Header.Get("Location"), body: body, err: err}
}

// race posts the submission with key concurrent times at once, spread
// over nodes in turn, and returns the answers.
func (s site) race(t *testing.T, key string, nodes ...*keelproc.Proc) []answer {
	t.Helper()
	answers := make([]answer, concurrent)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			answers[i] = s.submit(t.Context(), nodes[i%len(nodes)], key)
		})
	}
	close(start)
	wg.Wait()
	return answers
}

// code reads a problem's code.
func code(body []byte) string {
	var p struct{ Code string }
	_ = json.Unmarshal(body, &p)
	return p.Code
}

// submissions counts the form's stored submissions.
func (s site) submissions(t *testing.T, p *keelproc.Proc) int {
	t.Helper()
	return len(keelproc.List[struct {
		ID string `json:"id"`
	}](t, p, s.Token, "/v1/workspaces/"+s.WS+"/forms/"+s.Form+"/submissions", 100))
}

// mailOnce waits until the workspace's outbox has sent everything it
// holds, then checks that Mailpit got the test's notification exactly
// once.
func (s site) mailOnce(t *testing.T, p *keelproc.Proc, mp *mailpit.Server) {
	t.Helper()
	mp.WaitForSearch(t, `subject:"`+s.Tag+`"`, 1, 60*time.Second)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		pending := keelproc.List[struct {
			ID string `json:"id"`
		}](t, p, s.Token, "/v1/workspaces/"+s.WS+"/messages?status=pending", 100)
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still pending after 60s", len(pending))
		}
	}
	sent := keelproc.List[struct {
		ID string `json:"id"`
	}](t, p, s.Token, "/v1/workspaces/"+s.WS+"/messages?status=sent", 100)
	if got := mp.Search(t, `subject:"`+s.Tag+`"`); len(got) != 1 || len(sent) != 1 {
		t.Fatalf("Mailpit holds %d notifications and the outbox sent %d, want exactly 1 each", len(got), len(sent))
	}
}

// TestConcurrentRetriesOnTwoNodes posts one submission 50 times at once
// with one key, over two nodes: exactly one submission and one e-mail
// result, one request answers 201, and every other answer is a byte for
// byte replay of it or 409 idempotency_in_progress.
func TestConcurrentRetriesOnTwoNodes(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	dbURL := testdb.EmptyPostgres(t)
	nodes := serveAll(t, map[string][]string{"A": env(t, dbURL, mp.SMTPAddr), "B": env(t, dbURL, mp.SMTPAddr)})
	a, b := nodes["A"], nodes["B"]
	s := newSite(t, a, "race")

	answers := s.race(t, "order-7f3a9c", a, b)
	var first *answer
	replays, inProgress := 0, 0
	for i := range answers {
		ans := &answers[i]
		switch {
		case ans.err != nil:
			t.Fatalf("request %d: %v", i, ans.err)
		case ans.status == http.StatusCreated && ans.replayed == "":
			if first != nil {
				t.Fatalf("two requests ran: %s and %s", first.body, ans.body)
			}
			first = ans
		case ans.status == http.StatusCreated && ans.replayed == "true":
			replays++
		case ans.status == http.StatusConflict && code(ans.body) == "idempotency_in_progress":
			inProgress++
		default:
			t.Fatalf("request %d: %d (replayed %q) %s", i, ans.status, ans.replayed, ans.body)
		}
	}
	if first == nil {
		t.Fatal("no request answered 201 without Idempotent-Replayed")
	}
	for i, ans := range answers {
		if ans.replayed == "true" && (!bytes.Equal(ans.body, first.body) || ans.location != first.location) {
			t.Fatalf("replay %d = %s (Location %s), want %s (Location %s) byte for byte", i, ans.body, ans.location, first.body, first.location)
		}
	}
	t.Logf("%d requests: 1 ran, %d replays, %d in progress", concurrent, replays, inProgress)

	// Once the first is answered, every retry, on either node, replays it.
	for _, p := range []*keelproc.Proc{a, b} {
		again := s.submit(t.Context(), p, "order-7f3a9c")
		if again.err != nil || again.status != http.StatusCreated || again.replayed != "true" || !bytes.Equal(again.body, first.body) {
			t.Fatalf("retry on %s after the race: %d %q %s %v; want the first answer replayed", p.Name, again.status, again.replayed, again.body, again.err)
		}
	}
	if n := s.submissions(t, a); n != 1 {
		t.Fatalf("%d submissions stored, want 1", n)
	}
	s.mailOnce(t, a, mp)
}

// TestKillBetweenCommitAndResponse kills a node with SIGKILL after its
// request committed and before the answer was stored or sent. The
// submission and its e-mail are there exactly once; the answer is lost
// for good, so every retry, on either node and after the restart, is 409
// idempotency_in_progress rather than a second submission.
func TestKillBetweenCommitAndResponse(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	dbURL := testdb.EmptyPostgres(t)
	// K delivers nothing, so that its death cannot interrupt a send,
	// which the outbox would repeat: A delivers the notification.
	nodes := serveAll(t, map[string][]string{
		"A": env(t, dbURL, mp.SMTPAddr),
		"K": env(t, dbURL, mp.SMTPAddr, "KEEL_FAULT_KILL_AFTER_COMMIT=1", "KEEL_DISPATCHER=off"),
	})
	a, k := nodes["A"], nodes["K"]
	s := newSite(t, a, "kill")

	const key = "order-kill-1"
	if ans := s.submit(t.Context(), k, key); ans.err == nil {
		t.Fatalf("K answered %d %s; want it killed before answering", ans.status, ans.body)
	}
	if n := s.submissions(t, a); n != 1 {
		t.Fatalf("%d submissions stored after the kill, want the committed 1", n)
	}

	k2 := keelproc.Serve(t, "K2", env(t, dbURL, mp.SMTPAddr))
	for i, ans := range s.race(t, key, a, k2) {
		if ans.err != nil || ans.status != http.StatusConflict || code(ans.body) != "idempotency_in_progress" {
			t.Fatalf("retry %d after the kill: %d %s %v; want 409 idempotency_in_progress", i, ans.status, ans.body, ans.err)
		}
	}
	if n := s.submissions(t, a); n != 1 {
		t.Fatalf("%d submissions stored after the retries, want 1", n)
	}
	s.mailOnce(t, a, mp)
}
