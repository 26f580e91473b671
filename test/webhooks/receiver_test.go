package webhooks

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// arrival is one request a receiver got: its Standard Webhooks headers,
// its body, whether the specification's Go library verified it, and the
// event the body carries.
type arrival struct {
	n           int // 1 for the receiver's first request
	at          time.Time
	id          string // webhook-id
	timestamp   string
	signature   string
	traceparent string
	body        []byte
	verifyErr   error
	event       event
}

// event is a delivery's body: the event as the change feed shows it.
type event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Workspace string          `json:"workspace"`
	Data      json.RawMessage `json:"data"`
}

// submissionN returns the n a submission event's data carries, or "".
func (e event) submissionN() string {
	var d struct {
		Values map[string]any `json:"values"`
	}
	_ = json.Unmarshal(e.Data, &d)
	n, _ := d.Values["n"].(string)
	return n
}

// receiver is a webhook endpoint on loopback. It verifies every request
// with the secret it was given, records it, and answers what respond
// says; respond may block, to hold a request in flight.
type receiver struct {
	srv *httptest.Server
	url string

	mu       sync.Mutex
	secret   string
	arrivals []arrival
	respond  func(a arrival) int
	location string        // the Location of 3xx answers
	changed  chan struct{} // a buffered nudge after each arrival
}

// newReceiver starts a receiver that answers 204 until told otherwise.
func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{respond: func(arrival) int { return http.StatusNoContent }, changed: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve)) // 127.0.0.1:0
	r.url = r.srv.URL + "/hooks/keel"
	t.Cleanup(r.srv.Close)
	return r
}

// setSecret gives the receiver the endpoint's secret, which Keel only
// shows once the endpoint exists, with r.url in it.
func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

func (r *receiver) setRespond(f func(a arrival) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = f
}

// setLocation makes the receiver's 3xx answers redirect to url.
func (r *receiver) setLocation(url string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.location = url
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a := arrival{at: time.Now(), id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
		signature: req.Header.Get("webhook-signature"), traceparent: req.Header.Get("traceparent"), body: body}
	_ = json.Unmarshal(body, &a.event)
	r.mu.Lock()
	wh, err := standardwebhooks.NewWebhook(r.secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	a.verifyErr = err
	a.n = len(r.arrivals) + 1
	r.arrivals = append(r.arrivals, a)
	respond, location := r.respond, r.location
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	status := respond(a)
	if status/100 == 3 && location != "" {
		w.Header().Set("Location", location)
	}
	w.WriteHeader(status)
}

// all returns a copy of every arrival so far.
func (r *receiver) all() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.arrivals...)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.arrivals)
}

// waitFor returns the arrivals once cond holds for them, waiting for each
// arrival rather than polling, and fails t after timeout.
func (r *receiver) waitFor(t *testing.T, what string, timeout time.Duration, cond func([]arrival) bool) []arrival {
	t.Helper()
	deadline := time.After(timeout)
	for {
		got := r.all()
		if cond(got) {
			return got
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("receiver: %s not seen within %v; %d requests arrived", what, timeout, len(got))
		}
	}
}

// byID groups arrivals by webhook-id.
func byID(as []arrival) map[string][]arrival {
	m := map[string][]arrival{}
	for _, a := range as {
		m[a.id] = append(m[a.id], a)
	}
	return m
}

var traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// checkArrival checks what every delivery must be: verified by the
// specification's library, its webhook-id the event's id, and a W3C
// traceparent.
func checkArrival(t *testing.T, a arrival) {
	t.Helper()
	if a.verifyErr != nil {
		t.Errorf("request %d (webhook-id %s): standardwebhooks refused it: %v\nsignature %s\nbody %s", a.n, a.id, a.verifyErr, a.signature, a.body)
	}
	if a.id == "" || a.event.ID != a.id {
		t.Errorf("request %d: webhook-id %q, body id %q: want the event's id in both", a.n, a.id, a.event.ID)
	}
	if !traceparentRE.MatchString(a.traceparent) {
		t.Errorf("request %d: traceparent %q, want a W3C traceparent", a.n, a.traceparent)
	}
}
