package bootstrap

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func TestBadMailSettingsAreOneLineNamingTheSetting(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cmd, env, value, detail string
	}{
		{"serve", "KEEL_MAIL_FROM", "not an address", "not an address"},
		{"serve", "KEEL_MAIL_MAX_ATTEMPTS", "0", "from 1 to 100"},
		{"serve", "KEEL_MAIL_MAX_ATTEMPTS", "lots", "lots"},
		{"serve", "KEEL_DISPATCHER", "sometimes", "on or off"},
		{"worker", "KEEL_MAIL_MAX_ATTEMPTS", "101", "from 1 to 100"},
		{"worker", "KEEL_SHUTDOWN_TIMEOUT", "soon", "soon"},
	} {
		t.Run(tt.cmd+" "+tt.env+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"KEEL_DATA_DIR": t.TempDir(), "KEEL_HTTP_ADDR": "127.0.0.1:0", tt.env: tt.value}
			_, _, err := run(t, t.Context(), []string{tt.cmd}, e)
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), tt.env+" ") || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("%s with %s=%q: %v; want one line naming the setting and %q", tt.cmd, tt.env, tt.value, err, tt.detail)
			}
		})
	}
}

// outboxFixture is a migrated SQLite database in a data directory with a
// workspace whose outbox the test fills.
type outboxFixture struct {
	dir string
	db  *sqlstore.DB
	ws  domain.Workspace
}

func newOutboxFixture(t *testing.T) outboxFixture {
	t.Helper()
	f := outboxFixture{dir: t.TempDir()}
	var err error
	if f.db, err = sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(f.dir, "keel.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.db.Close() })
	if _, err := f.db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if f.ws, err = domain.NewWorkspace("Docs", "docs", time.Now()); err != nil {
		t.Fatal(err)
	}
	f.tx(t, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Add(ctx, f.ws) })
	return f
}

func (f outboxFixture) tx(t *testing.T, fn func(context.Context, ports.Stores) error) {
	t.Helper()
	if err := f.db.WithinTx(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// queue adds a message to the workspace's outbox, as a use case would.
func (f outboxFixture) queue(t *testing.T) string {
	t.Helper()
	m, err := domain.NewMessage(domain.MessageInput{From: "Keel <keel@localhost>", To: []string{"team@example.com"}, Subject: "New submission", Text: "Hello"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.tx(t, func(ctx context.Context, st ports.Stores) error {
		return st.Outbox().Add(ctx, domain.NewOutboxMessage(m, f.ws.ID(), "", domain.KindNotification, "", time.Now()))
	})
	return m.ID()
}

func (f outboxFixture) status(t *testing.T, id string) domain.OutboxStatus {
	t.Helper()
	var m domain.OutboxMessage
	f.tx(t, func(ctx context.Context, st ports.Stores) (err error) {
		m, err = st.Outbox().Get(ctx, f.ws.ID(), id)
		return err
	})
	return m.Status
}

// waitForMail waits until the console mailer has written id's file.
func (f outboxFixture) waitForMail(t *testing.T, id string) {
	t.Helper()
	path := filepath.Join(f.dir, "mail", id+".eml")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil {
			if !strings.Contains(string(b), "Message-ID: <"+id+"@keel>") {
				t.Fatalf("%s has no stable Message-ID:\n%s", path, b)
			}
			return
		}
	}
	t.Fatalf("%s was not delivered", id)
}

func TestServeDeliversQueuedMailAndListsIt(t *testing.T) {
	t.Parallel()
	f := newOutboxFixture(t)
	e := map[string]string{"KEEL_DATA_DIR": f.dir}
	if _, _, err := runWithInput(t, t.Context(), []string{"admin", "create", "--email", "ops@example.com", "--password-stdin"}, e, "correct horse battery\n"); err != nil {
		t.Fatal(err)
	}
	base, admin := startServeAdmin(t, e)

	var login struct{ Token string }
	callJSON(t, "POST", base+"/v1/auth/login", "", `{"email":"ops@example.com","password":"correct horse battery"}`, 200, &login)
	// The instance administrator is in no workspace: make them owner of one.
	var w struct{ ID string }
	callJSON(t, "POST", base+"/v1/workspaces", login.Token, `{"name":"Site","slug":"site"}`, 201, &w)
	f.ws = domain.RehydrateWorkspace(domain.WorkspaceID(w.ID), "Site", "site", "", domain.StoredSender{Status: domain.SenderNone}, []string{domain.AnyOrigin}, time.Now())
	id := f.queue(t)
	f.waitForMail(t, id)
	for deadline := time.Now().Add(5 * time.Second); f.status(t, id) != domain.OutboxSent && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}

	var list struct {
		Data []struct {
			ID, Kind, Status, Subject string
			To                        []string
			SubmissionID              *string `json:"submission_id"`
			Attempts                  []struct {
				At    time.Time
				Error *string
			}
			NextAttemptAt *time.Time `json:"next_attempt_at"`
			SentAt        *time.Time `json:"sent_at"`
		}
		NextCursor *string `json:"next_cursor"`
	}
	callJSON(t, "GET", base+"/v1/workspaces/site/messages?status=sent", login.Token, "", 200, &list)
	if len(list.Data) != 1 || list.NextCursor != nil {
		t.Fatalf("sent messages = %+v", list)
	}
	m := list.Data[0]
	if m.ID != id || m.Kind != "notification" || m.Status != "sent" || m.Subject != "New submission" || len(m.To) != 1 || m.To[0] != "team@example.com" ||
		m.SubmissionID != nil || len(m.Attempts) != 1 || m.Attempts[0].Error != nil || m.NextAttemptAt != nil || m.SentAt == nil {
		t.Fatalf("message = %+v", m)
	}
	callJSON(t, "GET", base+"/v1/workspaces/site/messages?status=dead", login.Token, "", 200, &list)
	if len(list.Data) != 0 {
		t.Fatalf("dead messages = %+v, want none", list.Data)
	}
	callJSON(t, "GET", base+"/v1/workspaces/site/messages?status=lost", login.Token, "", 422, nil)
	callJSON(t, "POST", base+"/v1/workspaces/site/messages/"+id+"/retry", login.Token, "", 409, nil)

	_, metrics := getWithToken(t, admin+"/metrics", "")
	for _, name := range []string{`keel_mail_sent_total{kind="notification"`, `keel_mail_queue_latency_seconds_count{kind="notification"`} {
		if !strings.Contains(metrics, name) {
			t.Errorf("GET /metrics has no %s", name)
		}
	}
}

func TestWorkerDeliversWhatServeLeaves(t *testing.T) {
	t.Parallel()
	f := newOutboxFixture(t)
	id := f.queue(t)
	// serveOnce returns once every job serve ran has stopped, and the
	// runner that ran them is the only place serve starts a loop: the
	// list of stopped jobs is everything serve ran.
	logs := serveOnce(t, map[string]string{"KEEL_DATA_DIR": f.dir, "KEEL_DISPATCHER": "off"})
	if jobs := stoppedJobs(t, logs); slices.Contains(jobs, "dispatcher") || !slices.Contains(jobs, "http server") {
		t.Fatalf("with KEEL_DISPATCHER=off serve ran %v; want no dispatcher", jobs)
	}
	if st := f.status(t, id); st != domain.OutboxPending {
		t.Fatalf("with KEEL_DISPATCHER=off serve delivered: status %s", st)
	}

	ctx, cancel := context.WithCancel(t.Context())
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"worker"}, env(map[string]string{"KEEL_DATA_DIR": f.dir, "KEEL_ADMIN_ADDR": "127.0.0.1:0"}), nil, &out, &out)
	}()
	f.waitForMail(t, id)
	for deadline := time.Now().Add(5 * time.Second); f.status(t, id) != domain.OutboxSent && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if st := f.status(t, id); st != domain.OutboxSent {
		t.Fatalf("after the worker ran: status %s", st)
	}
	// The worker's metrics are on its admin listener, which its start-up
	// line names. The counter follows the send, so it is polled for.
	m := regexp.MustCompile(`"msg":"delivering mail","admin_addr":"([^"]+)"`).FindStringSubmatch(out.String())
	if m == nil || m[1] == "off" {
		t.Fatalf("worker logged no admin listener:\n%s", out.String())
	}
	var metrics string
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(metrics, `keel_mail_sent_total{kind="notification"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("worker's GET /metrics has no keel_mail_sent_total:\n%.2000s", metrics)
		}
		_, metrics = getWithToken(t, "http://"+m[1]+"/metrics", "")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("worker did not stop:\n%s", out.String())
	}
	for _, msg := range []string{`"msg":"delivering mail"`, `"msg":"stopped"`} {
		if !strings.Contains(out.String(), msg) {
			t.Errorf("worker log has no %s:\n%s", msg, out.String())
		}
	}
}

// callJSON makes a request and checks its status; into, if not nil,
// receives the decoded body.
func callJSON(t *testing.T, method, url, token, body string, want int, into any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}
