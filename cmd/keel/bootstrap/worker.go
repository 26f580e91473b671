package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// workerSettings are the settings keel worker reads: the database, the
// mail relay and how to stop.
var workerSettings = []setting{sDataDir, sDatabaseURL, sSMTPURL, sLogLevel, sTraceExporter, sShutdownTimeout, sMailMaxAttempts, sMailRetryBase}

// workerConfig is what keel worker needs.
type workerConfig struct {
	storeConfig
	smtpURL         string
	shutdownTimeout time.Duration
	mailMaxAttempts int
	mailRetryBase   time.Duration
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
	c.mailRetryBase, err = loadMailRetryBase(fs, getenv)
	return c, err
}

func newWorkerCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Deliver queued mail (applies pending migrations first)",
		Long: `Worker delivers the mail in the outbox, as "keel serve" does by default, without
serving HTTP. Run workers when the serve nodes have KEEL_DISPATCHER=off, or
beside them: any number of dispatchers share one database without sending a
message twice.

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
	d, mailDesc, err := newDelivery(p, cfg.smtpURL, cfg.dataDir, cfg.mailMaxAttempts, cfg.mailRetryBase, cfg.shutdownTimeout)
	if err != nil {
		return err
	}
	log.Info("delivering mail", "database", db.Dialect(), "mail", mailDesc, "max_attempts", cfg.mailMaxAttempts, "retry_base", cfg.mailRetryBase.String(), "version", buildVersion())
	if err := jobs.Run(ctx, log, jobs.Stage{{Name: "dispatcher", Run: d.Run}}); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// newDispatcher builds the outbox dispatcher of serve and worker: the
// default retry policy with the configured attempts and first wait. Sends
// in flight at shutdown may run for drain before they are cut off.
func newDispatcher(uow ports.UnitOfWork, mailer ports.Mailer, maxAttempts int, retryBase, drain time.Duration, log *slog.Logger, tel *telemetry) (*messaging.Dispatcher, error) {
	policy := domain.DefaultRetryPolicy
	policy.MaxAttempts, policy.Base = maxAttempts, retryBase
	return messaging.NewDispatcher(messaging.DispatcherConfig{
		UoW: uow, Mailer: mailer, Clock: ports.ClockFunc(time.Now), Logger: log.With("component", "dispatcher"),
		Policy: policy, DrainTimeout: drain,
		TracerProvider: tel.tracer, MeterProvider: tel.meter,
	})
}
