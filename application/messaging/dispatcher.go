package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Dispatcher defaults.
const (
	// DefaultLease is how long a claim keeps other dispatchers off a
	// message. It must outlast a send (SendTimeout) and its save, or a
	// slow send could be claimed and sent again by another dispatcher.
	DefaultLease = 2 * time.Minute
	// DefaultSendTimeout bounds one delivery attempt, SMTP dialogue and
	// all; the SMTP adapter's own per-command timeout is shorter.
	DefaultSendTimeout = time.Minute
	// DefaultConcurrency is how many messages one dispatcher claims and
	// sends at once.
	DefaultConcurrency = 8
	// DefaultPollInterval is how often an idle dispatcher looks for due
	// messages; Wake cuts the wait short.
	DefaultPollInterval = 200 * time.Millisecond

	// saveTimeout bounds the transaction that records an outcome. It runs
	// even after shutdown began: an unsaved outcome means a second send.
	saveTimeout = 10 * time.Second
	// maxClaimBackoff caps the wait between claims while the database
	// fails, so a dead database is not hammered five times a second.
	maxClaimBackoff = 10 * time.Second
)

// DispatcherConfig holds a dispatcher's dependencies and settings; zero
// settings take the defaults above.
type DispatcherConfig struct {
	UoW    ports.UnitOfWork
	Mailer ports.Mailer
	// Blobs holds the files that messages attach (domain.Message's
	// Attachments name their keys); nil sends such messages with a note
	// instead of their files.
	Blobs  ports.BlobStore
	Clock  ports.Clock
	Logger *slog.Logger
	// Policy spaces retries; the zero value is domain.DefaultRetryPolicy.
	Policy       domain.RetryPolicy
	Lease        time.Duration
	SendTimeout  time.Duration // at most half the lease
	Concurrency  int
	PollInterval time.Duration
	// DrainTimeout is how long in-flight sends may run once Run's context
	// is done; they are cancelled after it (default SendTimeout).
	DrainTimeout time.Duration
	// The providers default to OpenTelemetry's globals.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider

	// Webhooks posts webhook deliveries; nil runs no webhook queue, and
	// the settings below are then unused.
	Webhooks ports.WebhookSender
	// WebhookPolicy spaces a delivery's retries; the zero value is
	// domain.DefaultWebhookRetryPolicy.
	WebhookPolicy domain.RetryPolicy
	// WebhookConcurrency is how many deliveries are in flight at once
	// (default DefaultWebhookConcurrency).
	WebhookConcurrency int
	// WebhookPerEndpoint is how many of them one endpoint may hold, so a
	// slow endpoint cannot take every slot (default
	// DefaultWebhookPerEndpoint).
	WebhookPerEndpoint int
	// WebhookLease keeps other dispatchers off a claimed delivery; at
	// least twice WebhookTimeout (default DefaultWebhookLease).
	WebhookLease time.Duration
	// WebhookTimeout bounds one attempt (default DefaultWebhookTimeout);
	// the sender may bound it more tightly.
	WebhookTimeout time.Duration
	// DisableAfter is how long an endpoint may fail every attempt before
	// it is disabled (default domain.DefaultWebhookDisableAfter).
	DisableAfter time.Duration
	// MailFrom is the sender of the mail that tells a workspace's admins
	// and owners an endpoint was disabled; required with Webhooks.
	MailFrom string

	// SentMailRetention is how long sent mail stays in the outbox before
	// PruneSentMail deletes it; zero keeps it forever.
	SentMailRetention time.Duration
}

// Dispatcher sends the outbox's due messages through a ports.Mailer and,
// when configured, its due webhook deliveries through a
// ports.WebhookSender: two queues driven by the same loop (Run). Any
// number of dispatchers, in any number of processes, may run against one
// database: a claim leases a message or delivery to one of them, so none
// sends what another holds. Delivery is at least once: a dispatcher that
// dies after the relay or receiver accepted but before it saved that,
// loses its lease and the message is sent again, with the same Message-ID
// (webhook-id for a delivery).
type Dispatcher struct {
	uow     ports.UnitOfWork
	mailer  ports.Mailer
	blobs   ports.BlobStore
	clock   ports.Clock
	log     *slog.Logger
	policy  domain.RetryPolicy
	lease   time.Duration
	timeout time.Duration
	batch   int
	poll    time.Duration
	drain   time.Duration
	// queues are what Run drives: mail first, then webhooks when set.
	queues []*queue
	mail   *queue
	hookQ  *queue    // nil without a webhook sender
	hooks  *webhooks // nil without a webhook sender

	tracer  trace.Tracer
	sent    metric.Int64Counter
	failed  metric.Int64Counter
	latency metric.Float64Histogram

	retainSent time.Duration
	pruned     metric.Int64Counter
}

// queue is one kind of outbox work that Run drives with the same
// machinery: claims with a lease, a bounded number of sends in flight,
// refills, backoff while the database fails, and the drain at shutdown.
type queue struct {
	name  string // in log lines: "mail", "webhook deliveries"
	slots int    // sends in flight at most
	// capped says that a claim can come back short although more is due,
	// because the store caps what one key (an endpoint) may hold: then
	// each finished send may have made room, and is a reason to claim.
	capped bool
	wake   chan struct{}
	// claim leases up to limit due items and returns one send for each,
	// which the caller starts at once, so that it ends inside its lease.
	claim func(ctx context.Context, limit int) ([]func(context.Context), error)
}

// refill is how many slots must be free before Run claims: one when it
// was told to look (the poll, a Wake), half of them while claims come back
// full. Half keeps sends flowing past a slow one yet claims several at a
// time: a claim is a write transaction, and claiming for each freed slot
// cost markedly more CPU per message on SQLite (BENCHMARKS.md).
func (q *queue) refill(more bool) int {
	if !more {
		return 1
	}
	return max(1, q.slots/2)
}

const scope = "github.com/keelhq/keel/application/messaging"

// NewDispatcher checks cfg and returns a dispatcher; Run starts it. It
// fails when a send timeout would not fit twice in its lease, a retry
// policy allows no attempt, or webhooks come without a valid MailFrom.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Policy == (domain.RetryPolicy{}) {
		cfg.Policy = domain.DefaultRetryPolicy
	}
	if err := checkPolicy(cfg.Policy); err != nil {
		return nil, err
	}
	d := &Dispatcher{
		uow: cfg.UoW, mailer: cfg.Mailer, blobs: cfg.Blobs, clock: cfg.Clock, log: cfg.Logger, policy: cfg.Policy,
		lease: orDefault(cfg.Lease, DefaultLease), timeout: orDefault(cfg.SendTimeout, DefaultSendTimeout),
		batch: cfg.Concurrency, poll: orDefault(cfg.PollInterval, DefaultPollInterval), retainSent: cfg.SentMailRetention,
	}
	if d.batch <= 0 {
		d.batch = DefaultConcurrency
	}
	d.drain = orDefault(cfg.DrainTimeout, d.timeout)
	if 2*d.timeout > d.lease {
		return nil, fmt.Errorf("send timeout %s is more than half the lease %s: a slow send could be claimed and sent twice", d.timeout, d.lease)
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	d.tracer = tp.Tracer(scope)
	m := mp.Meter(scope)
	var errs [4]error
	d.sent, errs[0] = m.Int64Counter("keel.mail.sent", metric.WithUnit("{message}"),
		metric.WithDescription("Messages the mail relay accepted, by kind."))
	d.failed, errs[1] = m.Int64Counter("keel.mail.failed", metric.WithUnit("{attempt}"),
		metric.WithDescription("Failed delivery attempts, by kind and outcome: retry (temporary, will retry), failed (permanent) or dead (out of attempts)."))
	d.latency, errs[2] = m.Float64Histogram("keel.mail.queue_latency", metric.WithUnit("s"),
		metric.WithDescription("Time from queueing a message to the relay accepting it."),
		metric.WithExplicitBucketBoundaries(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4*3600, 12*3600, 24*3600))
	d.pruned, errs[3] = PrunedCounter(mp)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("mail metrics: %w", err)
	}
	d.mail = &queue{name: "mail", slots: d.batch, wake: make(chan struct{}, 1), claim: d.claimMail}
	d.queues = []*queue{d.mail}
	if cfg.Webhooks != nil {
		hooks, err := newWebhooks(cfg, m)
		if err != nil {
			return nil, err
		}
		d.hooks = hooks
		d.hookQ = &queue{name: "webhook deliveries", slots: hooks.slots, capped: true, wake: make(chan struct{}, 1), claim: d.claimWebhooks}
		d.queues = append(d.queues, d.hookQ)
	}
	return d, nil
}

func checkPolicy(p domain.RetryPolicy) error {
	if p.MaxAttempts < 1 || p.Base <= 0 || p.Max < p.Base {
		return fmt.Errorf("retry policy %+v: want at least one attempt and 0 < base <= max", p)
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Wake makes a waiting Run look for due messages and deliveries now
// rather than at its next poll. Call it after committing a transaction
// that queued mail or webhook deliveries. It never blocks: wakes that
// arrive while one is pending merge into it.
func (d *Dispatcher) Wake() {
	for _, q := range d.queues {
		q.wakeUp()
	}
}

// WakeMail wakes only the mail queue: for a commit that queued mail and
// surely no webhook delivery, so that the webhook queue is not claimed
// from for nothing.
func (d *Dispatcher) WakeMail() { d.mail.wakeUp() }

// WakeWebhooks wakes only the webhook queue (when there is one): for the
// store's notice that a commit queued deliveries.
func (d *Dispatcher) WakeWebhooks() {
	if d.hookQ != nil {
		d.hookQ.wakeUp()
	}
}

func (q *queue) wakeUp() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages and webhook deliveries until ctx is done,
// each queue in its own loop (run). Errors are logged, not returned: a
// database that is down is waited for.
func (d *Dispatcher) Run(ctx context.Context) error {
	// Sends run on their own context, which outlives ctx by the drain
	// timeout: a stop lets a relay finish accepting a message rather
	// than cut it off and send it again later.
	sends, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(d.drain, cancelSends) })
	defer stop()
	if d.hooks != nil {
		unobserve, err := d.observeQueueDepth()
		if err != nil {
			d.log.ErrorContext(ctx, "webhook queue depth will not be reported", "err", err)
		} else {
			defer unobserve()
		}
	}
	var loops sync.WaitGroup
	for _, q := range d.queues {
		loops.Go(func() { d.run(ctx, sends, q) })
	}
	loops.Wait()
	return nil
}

// run drives one queue until ctx is done. It keeps up to the queue's slots
// of sends in flight: it claims as many items as there are free slots and
// starts each at once, and while claims come back full it claims again as
// slots free up, without waiting for the slowest send of a batch. Once a
// claim comes back short it waits for the poll interval or a Wake (or, for
// a capped queue, a finished send). When ctx is done it claims nothing
// more and returns once the sends in flight have finished and been saved;
// sends still running after the drain timeout are cancelled (on sends) and
// recorded as failed attempts.
func (d *Dispatcher) run(ctx, sends context.Context, q *queue) {
	// The drain: the sends in flight end before Run cancels sends.
	var wg sync.WaitGroup
	defer wg.Wait()
	// Each finished send leaves a token, so the loop knows its free slots.
	finished := make(chan struct{}, q.slots)
	inFlight := 0

	wait := time.NewTimer(d.poll)
	defer wait.Stop()
	backoff := time.Duration(0)
	// more: the last claim filled every free slot, so more may be due and
	// freed slots are filled at once; otherwise the poll or a Wake is.
	// claim: a claim is wanted as soon as enough slots are free; the
	// first is at once.
	more, claim := false, true
	for {
		if free := q.slots - inFlight; claim && free >= q.refill(more) {
			claim = false
			batch, err := q.claim(ctx, free)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				more = false
				backoff = min(max(2*backoff, d.poll), maxClaimBackoff)
				d.log.ErrorContext(ctx, "claiming "+q.name+" failed", "err", err, "retry_in", backoff.String())
				wait.Reset(backoff)
			default:
				backoff = 0
				more = len(batch) == free
				if !more {
					wait.Reset(d.poll)
				}
			}
			for _, send := range batch {
				inFlight++
				wg.Go(func() {
					send(sends)
					finished <- struct{}{}
				})
			}
		}
		if more && q.slots-inFlight >= q.refill(true) {
			claim = true
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-finished:
			inFlight--
			// Sends that finished meanwhile free their slots too, so
			// that one claim fills them all.
			for drained := false; !drained; {
				select {
				case <-finished:
					inFlight--
				default:
					drained = true
				}
			}
			claim = claim || more || (q.capped && backoff == 0)
		case <-q.wake:
			claim = true
		case <-wait.C:
			claim = true
		}
	}
}

// DispatchDue claims one batch of each queue (due messages, then due
// webhook deliveries), sends them and saves the outcomes, and returns how
// many it claimed. Tests call it to step a dispatcher by hand. Only a
// failed claim is an error: failed sends are recorded on their messages
// and deliveries, failed saves are logged.
func (d *Dispatcher) DispatchDue(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	var wg sync.WaitGroup
	for _, q := range d.queues {
		batch, err := q.claim(ctx, q.slots)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n += len(batch)
		for _, send := range batch {
			wg.Go(func() { send(ctx) })
		}
	}
	wg.Wait()
	return n, errors.Join(errs...)
}

// claimMail is the mail queue's claim.
func (d *Dispatcher) claimMail(ctx context.Context, limit int) ([]func(context.Context), error) {
	batch, err := d.claim(ctx, limit)
	if err != nil {
		return nil, err
	}
	sends := make([]func(context.Context), len(batch))
	for i, m := range batch {
		sends[i] = func(ctx context.Context) { d.deliver(ctx, m) }
	}
	return sends, nil
}

// claim leases up to limit due messages to this dispatcher. Callers start
// sending each at once, so that every send ends within the send timeout,
// well inside its lease.
func (d *Dispatcher) claim(ctx context.Context, limit int) ([]domain.OutboxMessage, error) {
	var batch []domain.OutboxMessage
	err := d.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		batch, err = st.Outbox().Claim(ctx, d.clock.Now(), d.lease, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	return batch, nil
}

// deliver makes one attempt at m and saves the outcome. Its span is a
// child of the request that queued m, when m kept that request's
// traceparent, so one trace runs from the browser's POST to the SMTP send.
func (d *Dispatcher) deliver(ctx context.Context, m domain.OutboxMessage) {
	if m.TraceParent != "" {
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": m.TraceParent})
	}
	ctx, span := d.tracer.Start(ctx, "messaging.Deliver", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("keel.message.id", m.Message.ID()),
		attribute.String("keel.message.kind", m.Kind),
		attribute.Int("keel.message.attempt", len(m.Attempts)+1),
		attribute.String("keel.workspace.id", string(m.Workspace)),
	))
	defer span.End()
	kind := metric.WithAttributes(attribute.String("kind", m.Kind))

	sendCtx, cancel := context.WithTimeout(ctx, d.timeout)
	err := d.send(sendCtx, m.Message)
	cancel()
	now := d.clock.Now()
	if err == nil {
		m.Sent(now)
		d.sent.Add(ctx, 1, kind)
		d.latency.Record(ctx, now.Sub(m.CreatedAt).Seconds(), kind)
	} else {
		m.Failed(err, domain.KindOf(err) == domain.KindUnavailable, d.policy, now)
		outcome := outcomeOf(m.Status)
		d.failed.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", m.Kind), attribute.String("outcome", outcome)))
		span.RecordError(err)
		span.SetStatus(codes.Error, "delivery failed: "+outcome)
		args := []any{"message", m.Message.ID(), "kind", m.Kind, "attempt", len(m.Attempts), "outcome", outcome, "err", err}
		if m.Status == domain.OutboxPending {
			d.log.WarnContext(ctx, "mail delivery failed; will retry", append(args, "next_attempt_at", m.NextAttemptAt)...)
		} else {
			d.log.ErrorContext(ctx, "mail delivery failed; giving up", args...)
		}
	}
	span.SetAttributes(attribute.String("keel.message.status", m.Status.String()))

	// The outcome is saved even when shutdown has begun: an unsaved
	// success is a second send once the lease runs out.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	// Outcomes share transactions where the storage can: a save only
	// updates its own message's row, and on PostgreSQL the sends that end
	// together then cost one commit instead of one each.
	if err := usecase.SharedTx(d.uow)(saveCtx, func(ctx context.Context, st ports.Stores) error {
		return st.Outbox().Save(ctx, m)
	}); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "outcome not saved")
		d.log.ErrorContext(ctx, "saving a mail delivery outcome failed; the message is tried again when its lease expires",
			"message", m.Message.ID(), "status", m.Status.String(), "lease", d.lease.String(), "err", err)
	}
}

// send hands msg to the mailer. A message that attaches files goes with
// those still in the blob store, streamed from it as the mailer writes
// the message; a file erased since the message was queued (the
// submission's erasure or retention) is left out and the message says
// so, rather than failing on every attempt. A store that cannot be
// reached is a temporary failure.
func (d *Dispatcher) send(ctx context.Context, msg domain.Message) error {
	files := msg.Attachments()
	if len(files) == 0 {
		return d.mailer.Send(ctx, msg)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("keel.message.attachments", len(files)))
	am, ok := d.mailer.(ports.AttachmentMailer)
	if !ok || d.blobs == nil {
		return d.mailer.Send(ctx, msg.WithAttachments(nil).WithNote(
			"These files could not be attached to this message: "+fileNames(files)+"."))
	}
	var (
		kept []domain.MessageAttachment
		gone []domain.MessageAttachment
		atts []ports.MailAttachment
	)
	for _, f := range files {
		_, err := d.blobs.Stat(ctx, f.Key)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			gone = append(gone, f)
			continue
		case err != nil:
			return domain.ErrUnavailable.WithCause(fmt.Errorf("look up attachment %s: %w", f.Key, err))
		}
		kept = append(kept, f)
		key := f.Key
		atts = append(atts, ports.MailAttachment{Name: f.Name, ContentType: f.ContentType, Size: f.Size,
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				rc, _, err := d.blobs.Get(ctx, key, 0, -1)
				if err != nil {
					return nil, domain.ErrUnavailable.WithCause(fmt.Errorf("read attachment %s: %w", key, err))
				}
				return rc, nil
			}})
	}
	msg = msg.WithAttachments(kept)
	if len(gone) > 0 {
		msg = msg.WithNote("These files were deleted before this message was sent, so they are not attached: " + fileNames(gone) + ".")
	}
	if len(atts) == 0 {
		return d.mailer.Send(ctx, msg)
	}
	return am.SendWithAttachments(ctx, msg, atts)
}

func fileNames(files []domain.MessageAttachment) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// outcomeOf names what a failed attempt led to, for metrics and logs.
func outcomeOf(s domain.OutboxStatus) string {
	switch s {
	case domain.OutboxPending:
		return "retry"
	case domain.OutboxDead:
		return "dead"
	}
	return "failed"
}
