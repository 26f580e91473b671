package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

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
}

// Dispatcher sends the outbox's due messages through a ports.Mailer. Any
// number of dispatchers, in any number of processes, may run against one
// database: a claim leases a message to one of them, so none sends a
// message another holds. Delivery is at least once: a dispatcher that
// dies after the relay accepted a message but before it saved that, loses
// its lease and the message is sent again, with the same Message-ID.
type Dispatcher struct {
	uow     ports.UnitOfWork
	mailer  ports.Mailer
	clock   ports.Clock
	log     *slog.Logger
	policy  domain.RetryPolicy
	lease   time.Duration
	timeout time.Duration
	batch   int
	poll    time.Duration
	drain   time.Duration
	wake    chan struct{}

	tracer  trace.Tracer
	sent    metric.Int64Counter
	failed  metric.Int64Counter
	latency metric.Float64Histogram
}

const scope = "github.com/keelhq/keel/application/messaging"

// NewDispatcher checks cfg and returns a dispatcher; Run starts it. It
// fails when the send timeout would not fit twice in the lease, or the
// retry policy allows no attempt.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Policy == (domain.RetryPolicy{}) {
		cfg.Policy = domain.DefaultRetryPolicy
	}
	if cfg.Policy.MaxAttempts < 1 || cfg.Policy.Base <= 0 || cfg.Policy.Max < cfg.Policy.Base {
		return nil, fmt.Errorf("retry policy %+v: want at least one attempt and 0 < base <= max", cfg.Policy)
	}
	d := &Dispatcher{
		uow: cfg.UoW, mailer: cfg.Mailer, clock: cfg.Clock, log: cfg.Logger, policy: cfg.Policy,
		lease: orDefault(cfg.Lease, DefaultLease), timeout: orDefault(cfg.SendTimeout, DefaultSendTimeout),
		batch: cfg.Concurrency, poll: orDefault(cfg.PollInterval, DefaultPollInterval),
		wake: make(chan struct{}, 1),
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
	var errs [3]error
	d.sent, errs[0] = m.Int64Counter("keel.mail.sent", metric.WithUnit("{message}"),
		metric.WithDescription("Messages the mail relay accepted, by kind."))
	d.failed, errs[1] = m.Int64Counter("keel.mail.failed", metric.WithUnit("{attempt}"),
		metric.WithDescription("Failed delivery attempts, by kind and outcome: retry (temporary, will retry), failed (permanent) or dead (out of attempts)."))
	d.latency, errs[2] = m.Float64Histogram("keel.mail.queue_latency", metric.WithUnit("s"),
		metric.WithDescription("Time from queueing a message to the relay accepting it."),
		metric.WithExplicitBucketBoundaries(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4*3600, 12*3600, 24*3600))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("mail metrics: %w", err)
	}
	return d, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Wake makes a waiting Run look for due messages now rather than at its
// next poll. Call it after committing a transaction that queued mail. It
// never blocks: wakes that arrive while one is pending merge into it.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx is done: it claims a batch, sends it
// and saves each outcome, claims again at once while batches come back
// full, and otherwise waits for the poll interval or a Wake. When ctx is
// done it claims nothing more and returns once the sends in flight have
// finished and been saved; sends still running after the drain timeout
// are cancelled and recorded as failed attempts. Errors are logged, not
// returned: a database that is down is waited for.
func (d *Dispatcher) Run(ctx context.Context) error {
	// Sends run on their own context, which outlives ctx by the drain
	// timeout: a stop lets a relay finish accepting a message rather
	// than cut it off and send it again later.
	sends, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(d.drain, cancelSends) })
	defer stop()

	wait := time.NewTimer(0)
	defer wait.Stop()
	backoff := time.Duration(0)
	for {
		n, err := d.dispatch(ctx, sends)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = min(max(2*backoff, d.poll), maxClaimBackoff)
			d.log.ErrorContext(ctx, "claiming mail failed", "err", err, "retry_in", backoff.String())
		case n == d.batch:
			backoff = 0
			continue // more may be due
		default:
			backoff = 0
		}
		wait.Reset(max(backoff, d.poll))
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-wait.C:
		}
	}
}

// DispatchDue claims one batch of due messages, sends them and saves the
// outcomes, and returns how many it claimed. Run calls it in a loop; tests
// call it to step a dispatcher by hand. Only a failed claim is an error:
// failed sends are recorded on their messages, failed saves are logged.
func (d *Dispatcher) DispatchDue(ctx context.Context) (int, error) {
	return d.dispatch(ctx, ctx)
}

// dispatch claims on ctx and sends on sends.
func (d *Dispatcher) dispatch(ctx, sends context.Context) (int, error) {
	var batch []domain.OutboxMessage
	err := d.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		batch, err = st.Outbox().Claim(ctx, d.clock.Now(), d.lease, d.batch)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim messages: %w", err)
	}
	// One goroutine per message: the batch is no larger than the
	// concurrency, so every claimed message starts sending at once and
	// finishes within the send timeout, well inside its lease.
	var wg sync.WaitGroup
	for _, m := range batch {
		wg.Go(func() { d.deliver(sends, m) })
	}
	wg.Wait()
	return len(batch), nil
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
	err := d.mailer.Send(sendCtx, m.Message)
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
	if err := d.uow.WithinTx(saveCtx, func(ctx context.Context, st ports.Stores) error {
		return st.Outbox().Save(ctx, m)
	}); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "outcome not saved")
		d.log.ErrorContext(ctx, "saving a mail delivery outcome failed; the message is tried again when its lease expires",
			"message", m.Message.ID(), "status", m.Status.String(), "lease", d.lease.String(), "err", err)
	}
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
