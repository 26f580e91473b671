package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/inmem"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// clock is the tests' time, which only the tests move.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is a SQLite database of its own holding one workspace with a form, and
// the dispatcher's collaborators.
type fixture struct {
	db     *sqlstore.DB
	clock  *clock
	mailer *inmem.Mailer
	ws     domain.Workspace
	form   domain.Form
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{db: sqlitetest.New(t), clock: &clock{now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}, mailer: inmem.NewMailer()}
	var err error
	if f.ws, err = domain.NewWorkspace("Docs", "docs", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.form, err = domain.NewForm(f.ws.ID(), domain.FormInput{
		Name:   "Contact",
		Fields: []domain.Field{{Name: "email", Type: domain.FieldEmail, Required: true}, {Name: "message", Type: domain.FieldTextarea}},
		Notify: domain.Notify{Recipients: []string{"team@example.com"}, Subject: "New message from {{.Fields.email}}"},
		Autoresponder: domain.Autoresponder{
			Enabled: true, EmailField: "email", Subject: "Thanks", Text: "We got your message.", HTML: "<p>We got your message.</p>",
		},
	}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.tx(t, func(ctx context.Context, st ports.Stores) error {
		return errors.Join(st.Workspaces().Add(ctx, f.ws), st.Forms().Add(ctx, f.form))
	})
	return f
}

func (f *fixture) tx(t testing.TB, fn func(context.Context, ports.Stores) error) {
	t.Helper()
	if err := f.db.WithinTx(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// submit accepts a submission from sender and queues the mail it causes,
// as the forms context does: in one transaction with the submission.
// traceParent is stored on each message. It returns the messages' IDs.
func (f *fixture) submit(t testing.TB, sender, traceParent string) []string {
	t.Helper()
	now := f.clock.Now()
	sub, err := f.form.Accept(domain.RawSubmission{
		Fields: map[string][]string{"email": {sender}, "message": {"Hello"}}, Order: []string{"email", "message"},
	}, domain.SubmissionMeta{}, domain.SpamRules{}, now)
	if err != nil {
		t.Fatal(err)
	}
	msgs, kinds, err := f.form.Mail(sub, "Keel <keel@example.com>", now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	f.tx(t, func(ctx context.Context, st ports.Stores) error {
		if err := st.Submissions().Add(ctx, sub); err != nil {
			return err
		}
		for i, m := range msgs {
			if err := st.Outbox().Add(ctx, domain.NewOutboxMessage(m, f.ws.ID(), sub.ID(), kinds[i], traceParent, now)); err != nil {
				return err
			}
			ids = append(ids, m.ID())
		}
		return nil
	})
	return ids
}

// message reads one message back.
func (f *fixture) message(t *testing.T, id string) domain.OutboxMessage {
	t.Helper()
	var m domain.OutboxMessage
	f.tx(t, func(ctx context.Context, st ports.Stores) (err error) {
		m, err = st.Outbox().Get(ctx, f.ws.ID(), id)
		return err
	})
	return m
}

func (f *fixture) dispatcher(t testing.TB, cfg messaging.DispatcherConfig) *messaging.Dispatcher {
	t.Helper()
	cfg.Clock = f.clock
	if cfg.UoW == nil {
		cfg.UoW = f.db
	}
	if cfg.Mailer == nil {
		cfg.Mailer = f.mailer
	}
	d, err := messaging.NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dispatch steps d once and checks how many messages it claimed.
func dispatch(t *testing.T, d *messaging.Dispatcher, want int) {
	t.Helper()
	n, err := d.DispatchDue(t.Context())
	if err != nil {
		t.Fatalf("DispatchDue: %v", err)
	}
	if n != want {
		t.Fatalf("DispatchDue claimed %d messages, want %d", n, want)
	}
}

func TestDispatcherDeliversPendingMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.submit(t, "ada@example.com", "")
	if len(ids) != 2 {
		t.Fatalf("a submission queued %d messages, want a notification and an autoresponse", len(ids))
	}
	d := f.dispatcher(t, messaging.DispatcherConfig{})
	dispatch(t, d, 2)
	dispatch(t, d, 0)

	sent := map[string]bool{}
	for _, m := range f.mailer.Sent() {
		sent[m.ID()] = true
	}
	for _, id := range ids {
		m := f.message(t, id)
		if !sent[id] || m.Status != domain.OutboxSent || m.SentAt == nil || !m.SentAt.Equal(f.clock.Now()) {
			t.Errorf("message %s: sent %v, status %s, sent at %v", id, sent[id], m.Status, m.SentAt)
		}
		if len(m.Attempts) != 1 || m.Attempts[0].Error != "" {
			t.Errorf("message %s: attempts %+v, want one successful", id, m.Attempts)
		}
	}
}

func TestTemporaryFailureIsRetriedAfterBackoff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	policy := domain.RetryPolicy{MaxAttempts: 5, Base: time.Minute, Max: time.Hour}
	d := f.dispatcher(t, messaging.DispatcherConfig{Policy: policy})
	ids := f.submit(t, "ada@example.com", "")
	f.mailer.FailNext(2)
	dispatch(t, d, 2)

	for _, id := range ids {
		m := f.message(t, id)
		wait := m.NextAttemptAt.Sub(f.clock.Now())
		if m.Status != domain.OutboxPending || len(m.Attempts) != 1 || m.Attempts[0].Error == "" {
			t.Fatalf("after a temporary failure: status %s, attempts %+v", m.Status, m.Attempts)
		}
		if wait < policy.Base/2 || wait > policy.Base {
			t.Fatalf("next attempt in %s, want the first backoff, %s to %s", wait, policy.Base/2, policy.Base)
		}
	}
	dispatch(t, d, 0) // not due yet
	f.clock.Add(policy.Base)
	dispatch(t, d, 2)
	for _, id := range ids {
		m := f.message(t, id)
		if m.Status != domain.OutboxSent || len(m.Attempts) != 2 || m.Attempts[0].Error == "" || m.Attempts[1].Error != "" {
			t.Fatalf("after the retry: status %s, attempts %+v", m.Status, m.Attempts)
		}
	}
	if n := len(f.mailer.Sent()); n != 2 {
		t.Fatalf("the relay accepted %d messages, want 2", n)
	}
}

func TestOutOfAttemptsIsDead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	policy := domain.RetryPolicy{MaxAttempts: 3, Base: time.Second, Max: time.Second}
	d := f.dispatcher(t, messaging.DispatcherConfig{Policy: policy})
	ids := f.submit(t, "ada@example.com", "")
	f.mailer.FailNext(1000)
	for range policy.MaxAttempts {
		dispatch(t, d, 2)
		f.clock.Add(policy.Max)
	}
	dispatch(t, d, 0)
	for _, id := range ids {
		m := f.message(t, id)
		if m.Status != domain.OutboxDead || len(m.Attempts) != policy.MaxAttempts {
			t.Fatalf("status %s after %d attempts, want dead after %d", m.Status, len(m.Attempts), policy.MaxAttempts)
		}
		for _, a := range m.Attempts {
			if a.Error == "" {
				t.Fatalf("attempt without its error: %+v", m.Attempts)
			}
		}
	}
}

// rejectingMailer refuses every message for good, as a 5xx reply does.
type rejectingMailer struct{}

func (rejectingMailer) Send(_ context.Context, m domain.Message) error {
	return fmt.Errorf("send message %s: 550 mailbox unavailable", m.ID())
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	d := f.dispatcher(t, messaging.DispatcherConfig{Mailer: rejectingMailer{}})
	ids := f.submit(t, "ada@example.com", "")
	dispatch(t, d, 2)
	f.clock.Add(48 * time.Hour)
	dispatch(t, d, 0)
	m := f.message(t, ids[0])
	if m.Status != domain.OutboxFailed || len(m.Attempts) != 1 || m.Attempts[0].Error != "send message "+ids[0]+": 550 mailbox unavailable" {
		t.Fatalf("status %s, attempts %+v; want failed with the relay's reply", m.Status, m.Attempts)
	}
}

// slowMailer delays every send, so that concurrent dispatchers overlap.
type slowMailer struct{ *inmem.Mailer }

func (s slowMailer) Send(ctx context.Context, m domain.Message) error {
	time.Sleep(time.Millisecond)
	return s.Mailer.Send(ctx, m)
}

func TestDispatchersNeverSendAMessageTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []string
	for i := range 30 {
		ids = append(ids, f.submit(t, fmt.Sprintf("visitor%d@example.com", i), "")...)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	var watches []*claimWatch
	for range 3 {
		w := watchClaims(f.db)
		watches = append(watches, w)
		d := f.dispatcher(t, messaging.DispatcherConfig{UoW: w, Mailer: slowMailer{f.mailer}, Concurrency: 4, PollInterval: time.Millisecond})
		wg.Go(func() {
			if err := d.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	// Once a claim finds nothing, every message is leased or sent, and
	// the clock stands still, so no lease expires: a later claim that
	// returned a message would return it a second time. Each dispatcher
	// then looks once more, and Run waits for its sends in flight.
	for i := 0; ; i++ {
		j, n := watches[0].waitClaim(t, i)
		if n == 0 {
			break
		}
		i = j
	}
	for k, w := range watches {
		if _, n := w.waitClaim(t, w.mark()); n != 0 {
			t.Errorf("dispatcher %d claimed %d messages after the outbox was empty", k, n)
		}
	}
	cancel()
	wg.Wait()

	count := map[string]int{}
	for _, m := range f.mailer.Sent() {
		count[m.ID()]++
	}
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("message %s sent %d times, want once", id, count[id])
		}
		if m := f.message(t, id); m.Status != domain.OutboxSent || len(m.Attempts) != 1 {
			t.Errorf("message %s: status %s, attempts %d", id, m.Status, len(m.Attempts))
		}
	}
}

// stuckMailer holds the first message it is given until released and
// sends the others at once.
type stuckMailer struct {
	*inmem.Mailer
	first   sync.Once
	stuck   chan string // the held message's ID
	release chan struct{}
}

func (s *stuckMailer) Send(ctx context.Context, m domain.Message) error {
	held := false
	s.first.Do(func() { held = true })
	if held {
		s.stuck <- m.ID()
		<-s.release
	}
	return s.Mailer.Send(ctx, m)
}

// TestSlowSendDoesNotHoldBackTheOthers: the dispatcher keeps its other
// slots busy while one send hangs, rather than wait for it to claim again.
func TestSlowSendDoesNotHoldBackTheOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []string
	for i := range 20 {
		ids = append(ids, f.submit(t, fmt.Sprintf("visitor%d@example.com", i), "")...)
	}
	s := &stuckMailer{Mailer: f.mailer, stuck: make(chan string, 1), release: make(chan struct{})}
	d := f.dispatcher(t, messaging.DispatcherConfig{Mailer: s, Concurrency: 4, PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stuck := <-s.stuck
	deadline := time.Now().Add(5 * time.Second)
	for len(f.mailer.Sent()) < len(ids)-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := len(f.mailer.Sent()); n != len(ids)-1 {
		t.Errorf("sent %d of the %d other messages while one send hung", n, len(ids)-1)
	}
	close(s.release)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if m := f.message(t, stuck); m.Status != domain.OutboxSent {
		t.Errorf("the slow message: status %s, want sent", m.Status)
	}
}

func TestExpiredLeaseIsClaimedAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.submit(t, "ada@example.com", "")
	// A dispatcher claims both messages and dies before saving anything.
	f.tx(t, func(ctx context.Context, st ports.Stores) error {
		_, err := st.Outbox().Claim(ctx, f.clock.Now(), messaging.DefaultLease, 10)
		return err
	})
	d := f.dispatcher(t, messaging.DispatcherConfig{})
	dispatch(t, d, 0)
	f.clock.Add(messaging.DefaultLease - time.Second)
	dispatch(t, d, 0)
	f.clock.Add(time.Second)
	dispatch(t, d, len(ids))
	if m := f.message(t, ids[0]); m.Status != domain.OutboxSent {
		t.Fatalf("after the lease expired: status %s, want sent", m.Status)
	}
}

func TestWakeDeliversWithoutWaitingForThePoll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := watchClaims(f.db)
	// The gate is open: it only tells the test that a send has begun.
	open := make(chan struct{})
	close(open)
	g := gateMailer{Mailer: f.mailer, started: make(chan struct{}, 10), release: open}
	d := f.dispatcher(t, messaging.DispatcherConfig{UoW: w, Mailer: g, PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	// Run's first look finds nothing; the next comes in an hour, unless
	// Wake brings it forward.
	if _, n := w.waitClaim(t, 0); n != 0 {
		t.Fatalf("the first claim found %d messages in an empty outbox", n)
	}
	next := w.mark()
	ids := f.submit(t, "ada@example.com", "")
	d.Wake()
	if _, n := w.waitClaim(t, next); n != len(ids) {
		t.Fatalf("the claim after Wake found %d messages, want %d", n, len(ids))
	}
	// The watch sees the claim inside its transaction, before the commit
	// and before Run starts the sends; a stop before then would leave the
	// messages to the next claim after their lease. So the test stops Run
	// only once every send has begun.
	for range ids {
		select {
		case <-g.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the claimed messages were not sent without a poll")
		}
	}
	cancel() // Run returns once the sends it started are done
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(f.mailer.Sent()); n != len(ids) {
		t.Fatalf("sent %d of %d messages after Wake", n, len(ids))
	}
}

// gateMailer holds every send until released, to stop a dispatcher
// mid-send.
type gateMailer struct {
	*inmem.Mailer
	started chan struct{}
	release chan struct{}
}

func (g gateMailer) Send(ctx context.Context, m domain.Message) error {
	g.started <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	return g.Mailer.Send(ctx, m)
}

func TestStopFinishesSendsInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := gateMailer{Mailer: f.mailer, started: make(chan struct{}, 2), release: make(chan struct{})}
	d := f.dispatcher(t, messaging.DispatcherConfig{Mailer: g})
	ids := f.submit(t, "ada@example.com", "")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-g.started
	<-g.started
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned with sends in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, id := range ids {
		if m := f.message(t, id); m.Status != domain.OutboxSent {
			t.Fatalf("message %s: status %s after a stop mid-send, want sent", id, m.Status)
		}
	}
}

func TestStopCancelsSendsAfterTheDrainTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := gateMailer{Mailer: f.mailer, started: make(chan struct{}, 2), release: make(chan struct{})}
	d := f.dispatcher(t, messaging.DispatcherConfig{Mailer: g, DrainTimeout: 10 * time.Millisecond})
	ids := f.submit(t, "ada@example.com", "")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-g.started
	<-g.started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still waits for sends past the drain timeout")
	}
	for _, id := range ids {
		// The cut-off send is a temporary failure: retried later.
		if m := f.message(t, id); m.Status != domain.OutboxPending || len(m.Attempts) != 1 || m.Attempts[0].Error == "" {
			t.Fatalf("message %s: status %s, attempts %+v; want pending with one failed attempt", id, m.Status, m.Attempts)
		}
	}
}

func TestNewDispatcherRefusesALeaseShorterThanTwoSends(t *testing.T) {
	t.Parallel()
	_, err := messaging.NewDispatcher(messaging.DispatcherConfig{Lease: time.Minute, SendTimeout: 45 * time.Second})
	if err == nil {
		t.Fatal("NewDispatcher accepted a send timeout of more than half the lease")
	}
}
