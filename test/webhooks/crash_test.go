package webhooks

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keelhq/keel/test/testdb"
)

// concurrency is KEEL_WEBHOOK_CONCURRENCY in the crash test, and
// perEndpoint the deliveries one endpoint may hold in flight, which the
// README gives: at most min(concurrency, perEndpoint) deliveries of the
// test's one endpoint are in flight in one process, which bounds the
// duplicates a kill can cause.
const (
	concurrency = 16
	perEndpoint = 4
)

// TestKillDuringDeliveries queues 1,000 events on SQLite, starts a keel
// that delivers them and kills it with SIGKILL part way through, while
// the receiver holds some requests unanswered, then restarts it. Every
// event must arrive at least once, each under one webhook-id, and the
// only events that arrive twice are ones the killed process had sent
// before the kill without recording the answer, sent again after their
// lease: at most as many as it had in flight (the README's at-least-once
// window). Every request the killed process had sent without an answer
// must be sent again by the restarted one.
//
// Each request is attributed to the process that sent it by what it
// carries, never by when the receiver read it: a request the killed
// process wrote just before it died may be read after the restart has
// begun. See sender.
func TestKillDuringDeliveries(t *testing.T) {
	t.Parallel()
	const count, answered = 1000, 300
	dbURL := testdb.SQLite(t)
	env := []string{fmt.Sprintf("KEEL_WEBHOOK_CONCURRENCY=%d", concurrency)}

	// The events are queued first, by a serve that delivers nothing,
	// so that the kill surely lands in the middle of the deliveries.
	a := startServe(t, "queue", dbURL, append(env, "KEEL_DISPATCHER=off")...)
	s := newSite(t, a)
	r := newReceiver(t)
	w := s.addWebhook(t, a, r.url, true, "submission.created")
	r.setSecret(w.Secret)
	s.submitAll(t, a, count, 8)
	a.Stop(t)

	// The receiver answers the first 300 requests at once and then holds
	// every request until the kill: those are surely in flight.
	release := make(chan struct{})
	held := make(chan struct{}, count)
	r.setRespond(func(a arrival) int {
		if a.n > answered {
			held <- struct{}{}
			<-release
		}
		return http.StatusOK
	})
	// B samples every span and C none, so the traceparent each passes on
	// to the receiver says which of them sent the request; C's "none" is
	// explicit so that an exporter in the test's own environment cannot
	// make it sample too.
	b := startServe(t, killed, dbURL, append(env, "KEEL_TRACE_EXPORTER=stdout", "OTEL_TRACES_SAMPLER=always_on")...)
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatalf("no request beyond the first %d within 60s; %d arrived", answered, r.count())
	}
	b.Kill(t)
	close(release)
	atKill := r.all()
	t.Logf("killed after the receiver had read %d requests, %d of them held unanswered", len(atKill), len(atKill)-answered)
	if len(byID(atKill)) >= count {
		t.Fatalf("every event had arrived before the kill: the test must kill during the deliveries")
	}

	c := startServe(t, restarted, dbURL, append(env, "KEEL_TRACE_EXPORTER=none")...)
	restartedAt := time.Now()
	// Deliveries the killed process held keep their 30 s lease; allow
	// for it and for the retries after.
	const leaseWait = 90 * time.Second
	r.waitFor(t, fmt.Sprintf("all %d events", count), leaseWait, func(as []arrival) bool { return len(byID(as)) >= count })
	delivered := time.Since(restartedAt)
	sent := s.waitDeliveries(t, c, w.ID, count, leaseWait)
	if len(sent) != count {
		t.Errorf("%d deliveries sent, want %d", len(sent), count)
	}
	for _, st := range []string{"failed", "dead"} {
		if ds := s.deliveries(t, c, w.ID, st); len(ds) != 0 {
			t.Errorf("%d deliveries %s, want none; first: %+v", len(ds), st, ds[0])
		}
	}

	got := r.all()
	ids := byID(got)
	perN := map[string]map[string]bool{} // submission n -> webhook-ids
	for _, a := range got {
		checkArrival(t, a)
		n := a.event.submissionN()
		if perN[n] == nil {
			perN[n] = map[string]bool{}
		}
		perN[n][a.id] = true
	}
	for n := 1; n <= count; n++ {
		if len(perN[fmt.Sprint(n)]) != 1 {
			t.Errorf("submission %d arrived under %d webhook-ids, want 1", n, len(perN[fmt.Sprint(n)]))
		}
	}
	var dups []string
	sentBy := map[string]int{} // process -> requests
	for id, as := range ids {
		from := map[string]int{} // process -> requests for this event
		heldByB := false
		for _, a := range as {
			who := sender(a)
			from[who]++
			sentBy[who]++
			// The receiver answered B's requests past the first 300 only
			// once B was dead, so B recorded none of them.
			heldByB = heldByB || (who == killed && a.n > answered)
		}
		if heldByB && from[restarted] == 0 {
			t.Errorf("%s was in flight in the killed process and never sent again by the restarted one", id)
		}
		if len(as) == 1 {
			continue
		}
		dups = append(dups, id)
		// The documented window: the receiver had the event from the
		// killed process, which never recorded its answer, and had it
		// again from the restarted one. Neither process sends an event
		// twice itself.
		if len(as) != 2 || from[killed] != 1 || from[restarted] != 1 {
			t.Errorf("%s arrived %d times, %d from the killed process and %d from the restarted one: not the at-least-once window of the kill",
				id, len(as), from[killed], from[restarted])
		}
	}
	if n := sentBy[unknownSender]; n != 0 {
		t.Errorf("%d requests without a traceparent that names their sender", n)
	}
	slices.Sort(dups)
	if len(dups) > min(concurrency, perEndpoint) {
		t.Errorf("%d events arrived twice, more than the %d deliveries of one endpoint one process has in flight", len(dups), min(concurrency, perEndpoint))
	}
	t.Logf("all %d events arrived within %v of the restart (%d requests, %d from the killed process, %d from the restarted one); %d arrived twice, each with the same webhook-id: %v",
		count, delivered.Round(time.Millisecond), len(got), sentBy[killed], sentBy[restarted], len(dups), dups)
	c.Stop(t)
}

// The processes of TestKillDuringDeliveries that deliver, as sender names
// them.
const (
	killed        = "B"
	restarted     = "C"
	unknownSender = "?"
)

// sender names the process of TestKillDuringDeliveries that sent a. B
// samples every span and C none, and each passes its delivery span on to
// the receiver as traceparent, whose trace-flags' low bit says whether
// the span was sampled: set, B sent a; clear, C did. The flag travels in
// the request, so a request B wrote just before it died is B's however
// late the receiver reads it. A request with no valid traceparent, which
// checkArrival reports too, is unknownSender's.
func sender(a arrival) string {
	if !traceparentRE.MatchString(a.traceparent) {
		return unknownSender
	}
	flags, err := strconv.ParseUint(a.traceparent[len(a.traceparent)-2:], 16, 8)
	if err != nil {
		return unknownSender
	}
	if flags&1 == 1 {
		return killed
	}
	return restarted
}

// TestTwoWorkers runs keel serve without a dispatcher and two keel worker
// processes on one PostgreSQL, posts 1,000 submissions and checks that
// each event reaches each of 4 endpoints exactly once. One endpoint holds
// at most 4 deliveries in flight, whichever process holds them, so with
// one endpoint the first worker to claim would leave the other little to
// do; four give both workers work at once, which is what this test is
// about. Each worker exports its traces to stdout, so its
// messaging.DeliverWebhook spans tell which deliveries it sent.
func TestTwoWorkers(t *testing.T) {
	t.Parallel()
	const count, endpoints = 1000, 4
	dbURL := testdb.EmptyPostgres(t)
	p := startServe(t, "serve", dbURL, "KEEL_DISPATCHER=off")
	s := newSite(t, p)
	rs := make([]*receiver, endpoints)
	ws := make([]webhook, endpoints)
	for i := range rs {
		rs[i] = newReceiver(t)
		ws[i] = s.addWebhook(t, p, rs[i].url, true, "submission.created")
		rs[i].setSecret(ws[i].Secret)
	}
	// The serve node records no spans, so the traceparent it queues
	// says "not sampled", which the SDK's default parent-based sampler
	// would follow: always_on makes the workers record every delivery.
	// Each delivery makes several spans (its SQL too), and the SDK's
	// batch processor drops spans silently once its queue (2,048 by
	// default) is full, which a loaded machine's slower stdout reaches:
	// the queue is made large enough to keep every span of the run.
	traces := []string{"KEEL_TRACE_EXPORTER=stdout", "OTEL_TRACES_SAMPLER=always_on", "OTEL_BSP_MAX_QUEUE_SIZE=1000000"}
	w1 := startWorker(t, "worker1", dbURL, traces...)
	w2 := startWorker(t, "worker2", dbURL, traces...)

	start := time.Now()
	s.submitAll(t, p, count, 8)
	posted := time.Since(start)
	for i, r := range rs {
		r.waitFor(t, fmt.Sprintf("all %d events at endpoint %d", count, i+1), 90*time.Second, func(as []arrival) bool { return len(byID(as)) >= count })
	}
	delivered := time.Since(start)
	for _, w := range ws {
		s.waitDeliveries(t, p, w.ID, count, 30*time.Second)
	}

	for i, r := range rs {
		got := r.all()
		ns := map[string]int{}
		for id, as := range byID(got) {
			if len(as) != 1 {
				t.Errorf("endpoint %d: %s arrived %d times, want once", i+1, id, len(as))
			}
			checkArrival(t, as[0])
			ns[as[0].event.submissionN()]++
		}
		for n := 1; n <= count; n++ {
			if ns[fmt.Sprint(n)] != 1 {
				t.Errorf("endpoint %d: submission %d: %d events delivered, want 1", i+1, n, ns[fmt.Sprint(n)])
			}
		}
		if len(got) != count {
			t.Errorf("endpoint %d: %d requests for %d events, want one each", i+1, len(got), count)
		}
	}
	// Stopping flushes the workers' traces.
	w1.Stop(t)
	w2.Stop(t)
	sent1, sent2 := sent(w1), sent(w2)
	seen := map[string]int{}
	for _, id := range append(slices.Clone(sent1), sent2...) {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("delivery %s sent %d times by the workers", id, n)
		}
	}
	if len(sent1)+len(sent2) != endpoints*count || len(sent1) == 0 || len(sent2) == 0 {
		t.Errorf("worker1 sent %d, worker2 %d: want %d between them, and some by each", len(sent1), len(sent2), endpoints*count)
	}
	t.Logf("%d submissions posted in %v; all %d events delivered once to each of %d endpoints %v after the first post; worker1 sent %d, worker2 %d",
		count, posted.Round(time.Millisecond), count, endpoints, delivered.Round(time.Millisecond), len(sent1), len(sent2))
	p.Stop(t)
}
