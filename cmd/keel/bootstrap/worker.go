package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"net/mail"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// workerSettings are the settings keel worker reads: the database, the
// mail relay, the sender of Keel's own mail, webhook delivery and how to
// stop.
var workerSettings = append([]setting{sDataDir, sDatabaseURL, sDBTimeout, sSMTPURL, sLogLevel, sTraceExporter, sShutdownTimeout, sMailMaxAttempts, sMailRetryBase, sMailFrom, sRetainSentMail, sWorkerAdminAddr, sBlobURL},
	webhookSettings...)

// workerConfig is what keel worker needs.
type workerConfig struct {
	storeConfig
	smtpURL         string
	shutdownTimeout time.Duration
	mailMaxAttempts int
	mailRetryBase   time.Duration
	mailFrom        string // the sender of the endpoint-disabled mail
	webhookConfig
	retainSentMail time.Duration
	admin          adminConfig // the listener of /metrics and /debug/pprof/
	// blobs is where the files that notifications attach are read from,
	// the store serve writes them to.
	blobs blobConfig
}

func loadWorkerConfig(fs *pflag.FlagSet, getenv func(string) string) (workerConfig, error) {
	sc, err := loadStoreConfig(fs, getenv)
	c := workerConfig{storeConfig: sc}
	if err != nil {
		return c, err
	}
	c.smtpURL = value(fs, getenv, sSMTPURL)
	raw := value(fs, getenv, sShutdownTimeout)
	if c.shutdownTimeout, err = time.ParseDuration(raw); err != nil || c.shutdownTimeout <= 0 {
		return c, sShutdownTimeout.errorf("want a positive duration such as 15s, got %q", raw)
	}
	if c.mailMaxAttempts, err = loadMailMaxAttempts(fs, getenv); err != nil {
		return c, err
	}
	if c.mailRetryBase, err = loadMailRetryBase(fs, getenv); err != nil {
		return c, err
	}
	c.mailFrom = value(fs, getenv, sMailFrom)
	if _, err := mail.ParseAddress(c.mailFrom); err != nil {
		return c, sMailFrom.errorf("want an address such as \"Keel <keel@example.com>\", got %q", c.mailFrom)
	}
	if c.webhookConfig, err = loadWebhookConfig(fs, getenv); err != nil {
		return c, err
	}
	if c.retainSentMail, err = loadRetainSentMail(fs, getenv); err != nil {
		return c, err
	}
	if c.blobs, err = loadBlobConfig(fs, getenv, c.dataDir); err != nil {
		return c, err
	}
	c.admin, err = loadAdminConfig(fs, getenv, sWorkerAdminAddr)
	return c, err
}

func newWorkerCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Deliver queued mail and webhooks (applies pending migrations first)",
		Long: `Worker delivers the mail and the webhook deliveries in the outbox, as "keel
serve" does by default, without serving HTTP. Run workers when the serve
nodes have KEEL_DISPATCHER=off, or beside them: any number of dispatchers
share one database without sending a message or a delivery twice.

GET /metrics (Prometheus text) and Go's profiles under /debug/pprof/ are
served on the admin listener, KEEL_ADMIN_ADDR: 127.0.0.1:9091 by default, a
port apart from serve's 9090 so that both can run on one host; off turns
it off.

On SIGINT or SIGTERM the worker claims no more messages, lets sends in
flight finish (up to the shutdown timeout) and records their outcome.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadWorkerConfig(cmd.Flags(), getenv)
			if err != nil {
				return err
			}
			return work(cmd.Context(), cfg, getenv, cmd.OutOrStdout())
		},
	}
	addFlags(cmd.Flags(), workerSettings...)
	return cmd
}

// work runs a dispatcher until ctx is cancelled and its sends are done.
func work(ctx context.Context, cfg workerConfig, getenv func(string) string, stdout io.Writer) error {
	p, closeProcess, err := startProcess(ctx, cfg.storeConfig, getenv, stdout)
	if err != nil {
		return err
	}
	defer closeProcess()
	log, db := p.log, p.db
	blobs, err := openBlobStore(ctx, cfg.blobs)
	if err != nil {
		return err
	}
	d, mailDesc, err := newDelivery(p, deliveryConfig{
		smtpURL: cfg.smtpURL, dataDir: cfg.dataDir, mailFrom: cfg.mailFrom, mailMaxAttempts: cfg.mailMaxAttempts,
		mailRetryBase: cfg.mailRetryBase, drain: cfg.shutdownTimeout, webhookConfig: cfg.webhookConfig, retainSentMail: cfg.retainSentMail,
		blobs: blobs,
	})
	if err != nil {
		return err
	}
	p.deliveriesQueued.set(d.WakeWebhooks)
	adminLn, err := listenAdmin(cfg.admin, sWorkerAdminAddr, log)
	if err != nil {
		return err
	}
	// The admin listener stops last, so that the metrics can be read
	// while the dispatcher drains.
	var admin jobs.Stage
	if adminLn != nil {
		admin = jobs.Stage{{Name: "admin server", Run: serveAdmin(newAdminServer(p.tel.metrics, log), adminLn)}}
	}
	log.Info("delivering mail", "admin_addr", adminAddr(adminLn), "database", db.Dialect(), "mail", mailDesc, "max_attempts", cfg.mailMaxAttempts, "retry_base", cfg.mailRetryBase.String(),
		"webhook_max_attempts", cfg.webhookPolicy.MaxAttempts, "webhook_retry_base", cfg.webhookPolicy.Base.String(), "webhook_concurrency", cfg.webhookConcurrency,
		"version", buildVersion())
	if err := jobs.Run(ctx, log, jobs.Stage{
		{Name: "dispatcher", Run: d.Run},
		{Name: "mail prune", Run: func(ctx context.Context) error { return runMailPrune(ctx, d, log) }},
	}, admin); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// newDispatcher builds the outbox dispatcher of serve and worker: the
// default retry policies with the configured attempts and first waits,
// mail through mailer and webhooks through sender. Sends in flight at
// shutdown may run for c.drain before they are cut off.
func newDispatcher(uow ports.UnitOfWork, mailer ports.Mailer, sender ports.WebhookSender, c deliveryConfig, log *slog.Logger, tel *telemetry) (*messaging.Dispatcher, error) {
	policy := domain.DefaultRetryPolicy
	policy.MaxAttempts, policy.Base = c.mailMaxAttempts, c.mailRetryBase
	return messaging.NewDispatcher(messaging.DispatcherConfig{
		UoW: uow, Mailer: mailer, Blobs: c.blobs, Clock: ports.ClockFunc(time.Now), Logger: log.With("component", "dispatcher"),
		Policy: policy, DrainTimeout: c.drain,
		TracerProvider: tel.tracer, MeterProvider: tel.meter,
		Webhooks: sender, WebhookPolicy: c.webhookPolicy, WebhookConcurrency: c.webhookConcurrency,
		DisableAfter: c.webhookDisableAfter, MailFrom: c.mailFrom, SentMailRetention: c.retainSentMail,
	})
}
