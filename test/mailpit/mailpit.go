// Package mailpit runs one Mailpit container per test binary and reads what
// it received through Mailpit's HTTP API, so mail adapters and end-to-end
// tests can check the messages Keel really sent over SMTP.
//
// The server is shared by every test in the binary: parallel tests should
// send to recipients of their own and use Search rather than Messages and
// DeleteAll, which see and remove every test's mail.
package mailpit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keelhq/keel/test/containers"
)

// Server is a running Mailpit.
type Server struct {
	// SMTPAddr is host:port of the SMTP listener; it accepts any
	// credentials, or none, without TLS.
	SMTPAddr string
	// APIURL is the base URL of the HTTP API, without a trailing slash.
	APIURL string

	ctr    testcontainers.Container
	client *http.Client
}

// Summary is one entry of Mailpit's message list.
type Summary struct {
	ID        string
	MessageID string
	From      *mail.Address
	To        []*mail.Address
	Cc        []*mail.Address
	Subject   string
	Created   time.Time
	Snippet   string
}

// Message is one message as Mailpit parsed it. Headers holds the raw headers
// (Message-ID, Reply-To, List-Unsubscribe...) by canonical name.
type Message struct {
	ID          string
	MessageID   string
	From        *mail.Address
	To          []*mail.Address
	Cc          []*mail.Address
	Bcc         []*mail.Address
	ReplyTo     []*mail.Address
	ReturnPath  string
	Subject     string
	Date        time.Time
	Text        string
	HTML        string
	Attachments []Attachment
	Headers     map[string][]string `json:"-"`
}

// Attachment describes one attached file.
type Attachment struct {
	PartID      string
	FileName    string
	ContentType string
	Size        uint64
}

// The binary's server. Stop runs after m.Run, when no test can call Start,
// so once.Do is the only synchronisation needed.
var (
	once     sync.Once
	server   *Server
	startErr error
)

// Start returns the binary's Mailpit, starting it on first use. It fails t
// when the image is missing (run make images) or the container cannot start.
func Start(t testing.TB) *Server {
	t.Helper()
	// The container outlives the test that starts it, hence Background.
	once.Do(func() { server, startErr = start(context.Background()) })
	if startErr != nil {
		t.Fatalf("start mailpit: %v", startErr)
	}
	return server
}

func start(ctx context.Context) (*Server, error) {
	image := containers.MailpitImage()
	if err := containers.RequireImage(ctx, image); err != nil {
		return nil, err
	}
	ctr, err := testcontainers.Run(ctx, image,
		containers.LoopbackPorts("1025/tcp", "8025/tcp"),
		containers.ProcessLabel(),
		testcontainers.WithExposedPorts("1025/tcp", "8025/tcp"),
		testcontainers.WithEnv(map[string]string{
			// Every SMTP greeting would otherwise wait 10 s on a
			// reverse-DNS lookup that cannot succeed.
			"MP_SMTP_DISABLE_RDNS": "true",
			// Mail adapters configured with credentials must work too.
			"MP_SMTP_AUTH_ACCEPT_ANY":     "true",
			"MP_SMTP_AUTH_ALLOW_INSECURE": "true",
			// By default Mailpit deletes all but the newest 500
			// messages every minute: a test that sends more, or
			// shares the server with one that does, would lose mail.
			"MP_MAX_MESSAGES": "0",
		}),
		// The image holds only the binary: no shell for the internal
		// port check.
		testcontainers.WithWaitStrategy(
			wait.ForListeningPort("1025/tcp").SkipInternalCheck(),
			wait.ForHTTP("/api/v1/messages").WithPort("8025/tcp"),
		),
	)
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return nil, fmt.Errorf("run %s: %w", image, err)
	}
	smtpAddr, err := ctr.PortEndpoint(ctx, "1025/tcp", "")
	if err == nil {
		var api string
		api, err = ctr.PortEndpoint(ctx, "8025/tcp", "http")
		if err == nil {
			return &Server{SMTPAddr: smtpAddr, APIURL: api, ctr: ctr, client: &http.Client{Timeout: 10 * time.Second}}, nil
		}
	}
	_ = testcontainers.TerminateContainer(ctr)
	return nil, fmt.Errorf("mapped ports of %s: %w", image, err)
}

// Stop terminates the binary's Mailpit, if it started. Call it in TestMain
// after m.Run: without Ryuk nothing else removes the container.
func Stop() error {
	if server == nil {
		return nil
	}
	err := testcontainers.TerminateContainer(server.ctr, testcontainers.StopTimeout(time.Second))
	server = nil
	return err
}

// Messages returns the newest messages first, up to 1000: every message the
// server holds in any realistic test.
func (s *Server) Messages(t testing.TB) []Summary {
	t.Helper()
	var page struct{ Messages []Summary }
	s.get(t, "/api/v1/messages?limit=1000", &page)
	return page.Messages
}

// Search returns the messages that match a Mailpit search query, such as
// `to:"ann@example.com"` or `subject:"Welcome"`, newest first.
func (s *Server) Search(t testing.TB, query string) []Summary {
	t.Helper()
	var page struct{ Messages []Summary }
	s.get(t, "/api/v1/search?limit=1000&query="+url.QueryEscape(query), &page)
	return page.Messages
}

// Message returns the message with Mailpit's ID id (Summary.ID, not the
// Message-ID header), with its headers.
func (s *Server) Message(t testing.TB, id string) Message {
	t.Helper()
	var m Message
	s.get(t, "/api/v1/message/"+url.PathEscape(id), &m)
	s.get(t, "/api/v1/message/"+url.PathEscape(id)+"/headers", &m.Headers)
	return m
}

// Part returns the bytes of one part of a message, such as an attached
// file (Attachment.PartID), decoded from its transfer encoding.
func (s *Server) Part(t testing.TB, id, partID string) []byte {
	t.Helper()
	return s.do(t, http.MethodGet, "/api/v1/message/"+url.PathEscape(id)+"/part/"+url.PathEscape(partID))
}

// DeleteAll removes every message, including other tests' messages.
func (s *Server) DeleteAll(t testing.TB) {
	t.Helper()
	s.do(t, http.MethodDelete, "/api/v1/messages")
}

// WaitFor polls until the server holds at least n messages and returns
// them, newest first; it fails t after timeout. Mail adapters deliver
// synchronously, but end-to-end tests send from the outbox worker.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Summary {
	t.Helper()
	return s.poll(t, n, timeout, "", s.Messages)
}

// WaitForSearch is WaitFor over the messages that match query, for tests
// that share the server with parallel ones.
func (s *Server) WaitForSearch(t testing.TB, query string, n int, timeout time.Duration) []Summary {
	t.Helper()
	return s.poll(t, n, timeout, query, func(t testing.TB) []Summary { return s.Search(t, query) })
}

func (s *Server) poll(t testing.TB, n int, timeout time.Duration, query string, list func(testing.TB) []Summary) []Summary {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := list(t)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			what := "messages"
			if query != "" {
				what = fmt.Sprintf("messages matching %q", query)
			}
			t.Fatalf("mailpit: %d %s after %v, want at least %d", len(got), what, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) get(t testing.TB, path string, into any) {
	t.Helper()
	body := s.do(t, http.MethodGet, path)
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("mailpit: decode GET %s: %v", path, err)
	}
}

func (s *Server) do(t testing.TB, method, path string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.APIURL+path, nil)
	if err != nil {
		t.Fatalf("mailpit: %s %s: %v", method, path, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("mailpit: %s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("mailpit: read %s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	return data
}
