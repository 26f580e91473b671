package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/ports"
)

// process is what every long-running command (serve, worker) starts with:
// the JSON logger, telemetry, and the migrated database.
type process struct {
	log *slog.Logger
	// out is standard output made line-atomic: everything the process
	// prints goes through it, so that no line is torn by another.
	out io.Writer
	tel *telemetry
	db  *sqlstore.DB
	// onClose adds f to what close undoes; the last added runs first.
	onClose func(f func())
	// deliveriesQueued is called after each commit that queued webhook
	// deliveries; it does nothing until set to a dispatcher's wake.
	deliveriesQueued *lateFunc
}

// lateFunc is a function set after the code that calls it was built: the
// database calls it after commits, and the dispatcher it should wake is
// built from that database.
type lateFunc struct{ fn atomic.Pointer[func()] }

func (l *lateFunc) set(fn func()) { l.fn.Store(&fn) }

func (l *lateFunc) call() {
	if fn := l.fn.Load(); fn != nil {
		(*fn)()
	}
}

// startProcess sets up logging, telemetry and the database, applying
// pending migrations. close undoes it in reverse order: the database,
// then the telemetry flush, so that the last spans of the run are written.
func startProcess(ctx context.Context, cfg storeConfig, getenv func(string) string, stdout io.Writer) (_ *process, _ func(), err error) {
	out := newLineWriter(stdout)
	log := newLogger(out, cfg.logLevel)
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()

	tel, err := newTelemetry(ctx, cfg.traceExport, getenv, out)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if terr := tel.shutdown(sctx); terr != nil {
			log.Warn("flushing telemetry failed", "err", terr)
		}
	})

	queued := &lateFunc{}
	db, err := openDatabase(ctx, cfg.databaseURL, sqlstore.WithTracerProvider(tel.tracer), sqlstore.WithMeterProvider(tel.meter),
		sqlstore.WithDeliveriesQueued(queued.call), sqlstore.WithTimeout(cfg.dbTimeout), sqlstore.WithSearchMmapSize(cfg.searchMmap))
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() { _ = db.Close() })
	// The progress bar goes to standard error, which a terminal shows
	// even when the log on standard output goes to a file.
	if _, err := migrateShowing(ctx, db, os.Stderr, func(m sqlstore.Migration) {
		log.Info("migration applied", "version", m.Version, "name", m.Name, "duration_ms", float64(m.Took.Microseconds())/1000)
	}); err != nil {
		return nil, nil, sDatabaseURL.errorf("%v", err)
	}
	onClose := func(f func()) { closers = append(closers, f) }
	return &process{log: log, out: out, tel: tel, db: db, onClose: onClose, deliveriesQueued: queued}, closeAll, nil
}

// deliveryConfig is what the dispatcher of serve and worker needs: the
// mail relay and retries, the sender of Keel's own mail, how long sends in
// flight may finish at shutdown (drain), and the webhook settings.
type deliveryConfig struct {
	smtpURL, dataDir, mailFrom string
	mailMaxAttempts            int
	mailRetryBase, drain       time.Duration
	webhookConfig
	retainSentMail time.Duration // 0 keeps sent mail
	// blobs holds the files that notifications attach; nil sends them
	// with a note instead.
	blobs ports.BlobStore
}

// newDelivery builds the mailer the configuration names, the webhook
// client, and a dispatcher that sends through both, and describes the
// mailer for the start-up log. The console mailer prints to the process's
// output, between whole log lines. Closing the process closes the mailer.
// The caller points p.deliveriesQueued at the dispatcher when this process
// delivers what its own commits queue.
func newDelivery(p *process, c deliveryConfig) (*messaging.Dispatcher, string, error) {
	mailer, desc, err := newMailer(c.smtpURL, c.dataDir, p.out)
	if err != nil {
		return nil, "", err
	}
	// The SMTP mailer keeps sessions open between messages; they end
	// with the process, after the dispatcher has stopped sending.
	if c, ok := mailer.(io.Closer); ok {
		p.onClose(func() { _ = c.Close() })
	}
	d, err := newDispatcher(p.db, mailer, newWebhookSender(c.webhookConfig, p.tel), c, p.log, p.tel)
	if err != nil {
		return nil, "", err
	}
	return d, desc, nil
}
