package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/keelhq/keel/adapters/console"
	"github.com/keelhq/keel/adapters/consolemail"
	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/smtpmail"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/ports"
)

func newServeCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API (applies pending migrations first)",
		Long: `Serve runs Keel's HTTP API until it receives SIGINT or SIGTERM, then stops
accepting connections, lets in-flight requests finish (up to the shutdown
timeout) and closes the database.

Unless KEEL_DISPATCHER=off, serve also delivers the mail and the webhook
deliveries in the outbox, as "keel worker" does; at shutdown its sends in
flight finish too.

Endpoints outside the versioned API: GET /healthz (the process lives),
GET /readyz (the database answers) and the web console under /console/.
GET /metrics (Prometheus text) and Go's profiles under /debug/pprof/ are on
the admin listener (KEEL_ADMIN_ADDR, 127.0.0.1:9090 by default; off turns it
off); the public listener serves /metrics only with KEEL_METRICS_TOKEN set,
to requests that send it as a bearer token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadServeConfig(cmd.Flags(), getenv)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, getenv, cmd.OutOrStdout())
		},
	}
	addFlags(cmd.Flags(), settings...)
	return cmd
}

// serve runs the server until ctx is cancelled. Start-up errors return at
// once, naming the setting at fault; nothing is left running.
func serve(ctx context.Context, cfg serveConfig, getenv func(string) string, stdout io.Writer) (err error) {
	started := time.Now()
	if getenv("GOGC") == "" {
		// Keel's live heap is small, so the default GOGC=100 collects
		// very often under load; 400 trades some peak memory for less CPU
		// per request (README, "The binary"; figures in BENCHMARKS.md).
		// GOGC and GOMEMLIMIT in the environment still win.
		debug.SetGCPercent(400)
	}
	applyMemoryLimit(cfg.memoryLimit, getenv)
	p, closeProcess, err := startProcess(ctx, cfg.storeConfig, getenv, stdout)
	if err != nil {
		return err
	}
	defer closeProcess()
	log, tel, db := p.log, p.tel, p.db
	// The first burst after a start finds PostgreSQL's connections open.
	go db.Warm(ctx)
	warnNoSecretKey(log, cfg.sessions.sealer)
	// The store is opened at start, so that a wrong KEEL_BLOB_URL, an
	// unreachable bucket or bad credentials stop serve here. Scheduled
	// backups go to an S3 bucket, off the host; a directory store would
	// only move them within it, so they stay in KEEL_BACKUP_DIR then.
	blobs, err := openBlobStore(ctx, cfg.blobs)
	if err != nil {
		return err
	}
	log.Info("blob store ready", "store", cfg.blobs.describe())
	cfg.backups.source = blobs
	if cfg.blobs.s3 != nil {
		cfg.backups.blobs, cfg.backups.blobWhere = blobs, "s3://"+cfg.blobs.s3.Bucket+"/"+cfg.blobs.s3.Prefix
	}
	// The limits exist before the services they guard; on PostgreSQL they
	// are shared by every node (KEEL_RATE_LIMIT_STORE).
	lim, err := newLimiters(cfg.rateLimits, db, log)
	if err != nil {
		return err
	}
	cfg.sessions.limits, cfg.forms.limits, cfg.rateLimits.limits = lim, lim, lim
	dispatcher, mailDesc, err := newDelivery(p, deliveryConfig{
		smtpURL: cfg.smtpURL, dataDir: cfg.dataDir, mailFrom: cfg.mailFrom, mailMaxAttempts: cfg.mailMaxAttempts,
		mailRetryBase: cfg.mailRetryBase, drain: cfg.shutdownTimeout, webhookConfig: cfg.webhookConfig, retainSentMail: cfg.retainSentMail,
		blobs: blobs,
	})
	if err != nil {
		return err
	}
	// wake tells this process's dispatcher that a committed transaction
	// queued mail or webhook deliveries, wakeMail that it queued mail
	// only, and the database itself tells it of the deliveries events
	// queued; with the dispatcher off, the workers' polls find them.
	wake, wakeMail := func() {}, func() {}
	if cfg.dispatcher {
		wake, wakeMail = dispatcher.Wake, dispatcher.WakeMail
		p.deliveriesQueued.set(dispatcher.WakeWebhooks)
	}

	sys := system.NewService(db, db, ports.ClockFunc(time.Now), system.WithBackupLog(db))
	inst, err := sys.Instance(ctx)
	if err != nil {
		return fmt.Errorf("load instance identity: %w", err)
	}
	// The public cache exists before the services that change what it
	// holds, so that each empties it at once after its change.
	publicCache := httpapi.NewPublicCache(publicCacheBytes)
	// publicURL is known once the server listens, below, and before it
	// serves: account mail (invitations) reads it only while serving.
	var publicURL string
	ids, err := newIdentity(ctx, db, cfg.sessions, cfg.workspaces, log, publicCache.Invalidate, func() string { return publicURL })
	if err != nil {
		return err
	}
	defer ids.close()
	msgs := messaging.NewService(messaging.Config{
		UoW: db, Authorizer: ids.authz, Clock: ports.ClockFunc(time.Now), Wake: wake, EventRetention: cfg.eventRetention,
		AllowHTTP: cfg.webhookAllowHTTP,
	})
	cfg.forms.blobs = blobs
	formsSvc := newForms(cfg.forms, db, ids.authz, cfg.mailFrom, wakeMail, log)
	if err := observeForms(formsSvc, tel.meter); err != nil {
		return err
	}
	cnt := newContent(db, ids.authz, publicCache)
	mediaSvc := newMedia(cfg.media, db, ids.authz, blobs, log, publicCache.Invalidate)

	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return sHTTPAddr.errorf("%v", err)
	}
	publicURL = cfg.content.publicURLFor(cfg.httpAddr, ln.Addr())
	formsSvc.SetLinkBase(publicURL)
	adminLn, err := listenAdmin(cfg.admin, sAdminAddr, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	// The public listener serves the metrics only behind the token; the
	// admin listener serves them to whoever can reach it.
	var publicMetrics http.Handler
	if cfg.metricsToken != "" {
		publicMetrics = tel.metrics
	}
	api := httpapi.New(httpapi.Config{
		Logger:         log,
		System:         sys,
		Identity:       ids.svc,
		Messaging:      msgs,
		Forms:          formsSvc,
		Content:        cnt.svc,
		Media:          mediaSvc,
		Blobs:          blobs,
		PublicCache:    cnt.cache,
		PublicMaxAge:   cfg.content.maxAge,
		PublicStale:    cfg.content.stale,
		PublicURL:      publicURL,
		ForwardedLinks: cfg.content.publicURL == "" && len(cfg.trustedProxies) > 0, // see trustProxies
		MaxBodyBytes:   cfg.maxBodyBytes,
		RateLimits:     newRateLimits(cfg.rateLimits, cfg.forms),
		Build:          httpapi.Build(readBuild()),
		Metrics:        publicMetrics,
		MetricsToken:   cfg.metricsToken,
		TracerProvider: tel.tracer,
		MeterProvider:  tel.meter,
		Propagator:     tel.propagator,
		Idempotency: httpapi.IdempotencyConfig{
			Store: db, TTL: cfg.idempotencyTTL, IPHashKey: cfg.forms.ipHashKey,
		},
	})
	web := console.New(console.Config{
		Logger: log, Identity: ids.svc, Forms: formsSvc, Content: cnt.svc, Messaging: msgs,
		Authorizer: ids.authz, SecureCookies: cfg.consoleSecureCookies,
		TracerProvider: tel.tracer, MeterProvider: tel.meter, Propagator: tel.propagator,
		// Only a configured KEEL_PUBLIC_URL: the listening address a
		// deployment without one would get is plain http, and behind a
		// proxy not what sites reach, while the console knows the origin
		// it was reached on and whether that was https.
		PublicURL: cfg.content.publicURL,
		// Trusted proxies name the origin, as they do the API's links.
		ForwardedOrigin: cfg.content.publicURL == "" && len(cfg.trustedProxies) > 0,
	})
	srv := &http.Server{
		Handler: trustProxies(cfg.trustedProxies, withConsole(web, api)),
		// Slow clients must not hold connections open forever: headers
		// within 10s, a whole body within 30s, and idle keep-alive
		// connections are closed after 2 minutes.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	log.Info("listening",
		"addr", ln.Addr().String(),
		"admin_addr", adminAddr(adminLn),
		"database", db.Dialect(),
		"mail", mailDesc,
		"dispatcher", cfg.dispatcher,
		"instance", inst.ID(),
		"version", buildVersion(),
		"startup_ms", time.Since(started).Milliseconds(),
	)

	if fresh, err := ids.svc.NeedsSetup(ctx); err == nil && fresh {
		log.Info("this instance has no users yet: create the first administrator with POST /v1/setup {email, password, name} or keel admin create --email you@example.com")
	}

	// Every background loop runs under one job runner, which stops them
	// and waits for each before the deferred closes above release what
	// they use. The HTTP server and the dispatcher stop first, together:
	// in-flight requests and sends finish within the shutdown timeout.
	// The others stop after, so that the usage writer's last flush writes
	// what the last requests recorded.
	watch := newChangeWatch(ids.authz, ids.svc.ForgetCachedCredentials, log)
	front := jobs.Stage{{Name: "http server", Run: serveHTTP(srv, ln, cfg.shutdownTimeout, log)}}
	if adminLn != nil {
		front = append(front, jobs.Job{Name: "admin server", Run: serveAdmin(newAdminServer(tel.metrics, log), adminLn)})
	}
	if cfg.dispatcher {
		front = append(front, jobs.Job{Name: "dispatcher", Run: dispatcher.Run},
			jobs.Job{Name: "mail prune", Run: func(ctx context.Context) error { return runMailPrune(ctx, dispatcher, log) }})
	}
	back := jobs.Stage{
		{Name: "usage writer", Run: ids.svc.RunUsageWriter},
		{Name: "policy poller", Run: ids.authz.Run},
		{Name: "retention", Run: func(ctx context.Context) error { return runRetention(ctx, formsSvc, msgs, tel.meter, log) }},
		{Name: "idempotency purge", Run: func(ctx context.Context) error { return runIdempotencyPurge(ctx, db, tel.meter, log) }},
		{Name: "scheduler", Run: func(ctx context.Context) error { return runScheduler(ctx, cnt.svc, log) }},
		{Name: "cache invalidation", Run: func(ctx context.Context) error { return runInvalidation(ctx, cnt.svc, cnt.cache, watch, log) }},
		{Name: "change watch", Run: func(ctx context.Context) error { return watch.run(ctx, db) }},
	}
	if lim.shared != nil {
		back = append(back, jobs.Job{Name: "rate limit purge", Run: func(ctx context.Context) error { return runRateLimitPurge(ctx, lim.shared, log) }})
	}
	if cfg.backups.schedule != nil {
		// With the first stage: a shutdown interrupts a backup in progress
		// rather than wait for it, and the run is recorded as failed.
		front = append(front, jobs.Job{Name: "scheduled backups", Run: func(ctx context.Context) error {
			return runScheduledBackups(ctx, cfg.backups, db, sys, cfg.mailFrom, tel.meter, log)
		}})
	}
	if j, ok := blobSweepJob(blobs, log); ok {
		back = append(back, j)
	}
	back = append(back, formFileSweepJob(formsSvc, cfg.forms.sweepAge, log))
	back = append(back, mediaFileSweepJob(mediaSvc, cfg.forms.sweepAge, log))
	err = jobs.Run(ctx, log, front, back)
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// serveHTTP is the HTTP server's job: it serves on ln until ctx ends,
// then stops accepting connections and lets in-flight requests finish
// within timeout, cutting off those that outlive it.
func serveHTTP(srv *http.Server, ln net.Listener, timeout time.Duration, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served: // Serve returns only with an error
			return err
		case <-ctx.Done():
		}
		log.Info("shutting down", "timeout", timeout.String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			// In-flight requests outlived the timeout: cut them off rather
			// than hang, and say so.
			_ = srv.Close()
			log.Warn("in-flight requests cut off at shutdown timeout", "err", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// newMailer picks SMTP when a URL is configured and the console mailer,
// which writes .eml files into the data directory, otherwise. The
// description it returns is safe to log: it holds no password.
func newMailer(smtpURL, dataDir string, stdout io.Writer) (ports.Mailer, string, error) {
	if smtpURL == "" {
		dir := filepath.Join(dataDir, "mail")
		return consolemail.New(dir, stdout), "console " + dir, nil
	}
	m, err := smtpmail.New(smtpURL)
	if err != nil {
		return nil, "", sSMTPURL.errorf("%v", err)
	}
	return m, m.String(), nil
}
