package bootstrap

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/metric"

	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var (
	sIPHashKey       = setting{"ip-hash-key", "KEEL_IP_HASH_KEY", "", "secret that keys the hash stored instead of client IPs; set the same on every node (default: random per process)"}
	sSubmitPerIP     = setting{"submit-per-ip", "KEEL_SUBMIT_PER_IP", "300", "submissions one client IP may make to one form per minute, per node (0: no limit)"}
	sSubmitPerForm   = setting{"submit-per-form", "KEEL_SUBMIT_PER_FORM", "6000", "submissions a form accepts per minute, all clients together, per node (0: no limit)"}
	sSpamMaxLinks    = setting{"spam-max-links", "KEEL_SPAM_MAX_LINKS", "5", "submissions with more links than this are stored as spam (0: no limit)"}
	sSpamMinFillTime = setting{"spam-min-fill-time", "KEEL_SPAM_MIN_FILL_TIME", "2s", "submissions sooner than this after page load (field _keel_ts, Unix ms) are spam"}

	sUploadSweepAge          = setting{"upload-sweep-age", "KEEL_UPLOAD_SWEEP_AGE", "1h", "how old a submission's file that no submission holds, or a media blob that no media record holds (a crash between its upload and its commit), must be before serve's sweeps, at start and hourly, delete it (at least 1s)"}
	sAutoresponderPerAddress = setting{"autoresponder-per-address", "KEEL_AUTORESPONDER_PER_ADDRESS", "5", "autoresponses one recipient address may get per hour, per node; more submissions are stored and notified without one"}
)

// formsConfig is what the forms service takes from configuration.
type formsConfig struct {
	ipHashKey []byte
	randomKey bool
	perIP     int
	perForm   int
	spam      domain.SpamRules
	// perAddress is the autoresponses per recipient address and hour.
	perAddress int
	// limits makes the autoresponder's limiter (serve sets it).
	limits limiters
	// blobs stores the files of file fields (serve sets it).
	blobs ports.BlobStore
	// sweepAge is how old an orphaned file must be before the sweep
	// deletes it.
	sweepAge time.Duration
}

func loadFormsConfig(fs *pflag.FlagSet, getenv func(string) string) (formsConfig, error) {
	var c formsConfig
	if k := value(fs, getenv, sIPHashKey); k != "" {
		if len(k) < 16 {
			return c, sIPHashKey.errorf("use at least 16 characters")
		}
		c.ipHashKey = []byte(k)
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		c.ipHashKey, c.randomKey = []byte(hex.EncodeToString(b)), true
	}
	// A submission quota of 0 is none, as for KEEL_RATE_LIMIT_*: a
	// deployment may limit in front of Keel instead. Autoresponses always
	// have one, since they mail addresses that visitors type.
	for _, s := range []struct {
		set  *setting
		dst  *int
		none bool
	}{{&sSubmitPerIP, &c.perIP, true}, {&sSubmitPerForm, &c.perForm, true}, {&sAutoresponderPerAddress, &c.perAddress, false}} {
		raw := value(fs, getenv, *s.set)
		n, err := strconv.Atoi(raw)
		switch {
		case s.none && (err != nil || n < 0):
			return c, s.set.errorf("want 0 (none) or more, got %q", raw)
		case !s.none && (err != nil || n < 1):
			return c, s.set.errorf("want a positive number, got %q", raw)
		}
		*s.dst = n
	}
	raw := value(fs, getenv, sSpamMaxLinks)
	links, err := strconv.Atoi(raw)
	if err != nil || links < 0 {
		return c, sSpamMaxLinks.errorf("want 0 or more, got %q", raw)
	}
	raw = value(fs, getenv, sSpamMinFillTime)
	fill, err := time.ParseDuration(raw)
	if err != nil || fill < 0 {
		return c, sSpamMinFillTime.errorf("want a duration such as 2s, got %q", raw)
	}
	c.spam = domain.SpamRules{MaxLinks: links, MinFillTime: fill, TimestampField: "_keel_ts"}
	raw = value(fs, getenv, sUploadSweepAge)
	if c.sweepAge, err = time.ParseDuration(raw); err != nil || c.sweepAge < time.Second {
		return c, sUploadSweepAge.errorf("want a duration of at least 1s such as 1h, got %q", raw)
	}
	return c, nil
}

func newForms(cfg formsConfig, uow ports.UnitOfWork, authz ports.Authorizer, mailFrom string, wake func(), log *slog.Logger) *forms.Service {
	if cfg.randomKey {
		log.Warn("KEEL_IP_HASH_KEY is not set: a random key hashes client IPs, so one client's hash differs between restarts and between nodes")
	}
	fc := forms.Config{
		UoW: uow, Authorizer: authz, Clock: ports.ClockFunc(time.Now), MailFrom: mailFrom,
		Spam: cfg.spam, IPHashKey: cfg.ipHashKey,
		// PerIP and PerForm stay unset: the HTTP adapter applies
		// KEEL_SUBMIT_PER_* with the API's other quotas (newRateLimits),
		// so that clients see them in the RateLimit headers.
		Wake:  wake,
		Log:   log,
		Blobs: cfg.blobs,
	}
	if cfg.perAddress > 0 { // loadFormsConfig requires it; a test's literal may leave it out
		// A recipient's allowance comes back over the hour rather than all
		// at once at its end.
		fc.PerRecipient = cfg.limits.rate("autoresponder_address", float64(cfg.perAddress)/3600, cfg.perAddress)
	}
	return forms.NewService(fc)
}

// observeForms publishes the forms service's counters: the autoresponses
// skipped because their recipient had had its share, which a visitor who
// floods a form with someone's address makes one a submission, so they
// are counted rather than each logged.
func observeForms(svc *forms.Service, mp metric.MeterProvider) error {
	_, err := mp.Meter("github.com/keelhq/keel/cmd/keel/bootstrap").Int64ObservableCounter("keel.forms.autoresponses_skipped",
		metric.WithUnit("{message}"),
		metric.WithDescription("Autoresponses this process skipped because their recipient had had its share (KEEL_AUTORESPONDER_PER_ADDRESS)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(svc.AutoresponsesSkipped())
			return nil
		}))
	return err
}

// formFileSweepJob is serve's job that deletes, at start and hourly, the
// files of submissions that never committed (a crash between upload and
// commit) once they are age old (KEEL_UPLOAD_SWEEP_AGE, by default
// forms.OrphanFileAge).
func formFileSweepJob(svc *forms.Service, age time.Duration, log *slog.Logger) jobs.Job {
	return jobs.Job{Name: "submission file sweep", Run: func(ctx context.Context) error {
		return jobs.Every(ctx, retentionEvery, true, func(ctx context.Context) {
			n, err := svc.SweepOrphanFiles(ctx, age)
			switch {
			case err != nil && ctx.Err() == nil:
				log.ErrorContext(ctx, "submission file sweep failed", "err", err)
			case n > 0:
				log.InfoContext(ctx, "submission file sweep deleted orphaned files", "count", n)
			}
		})
	}}
}

// retentionEvery is how often the retention job runs. Every node runs it;
// the deletes are idempotent, so concurrent runs only repeat work.
const retentionEvery = time.Hour

// runRetention deletes expired submissions, then expired events (those
// the submissions' deletion just wrote are new), now and every
// retentionEvery until ctx ends, then returns nil. Failures are logged
// and retried at the next run.
func runRetention(ctx context.Context, svc *forms.Service, msgs *messaging.Service, mp metric.MeterProvider, log *slog.Logger) error {
	return jobs.Every(ctx, retentionEvery, true, func(ctx context.Context) {
		n, err := svc.ApplyRetention(ctx)
		countPruned(ctx, mp, "submissions", n)
		switch {
		case err != nil && ctx.Err() == nil:
			log.ErrorContext(ctx, "retention failed", "err", err)
		case n > 0:
			log.InfoContext(ctx, "retention deleted expired submissions", "count", n)
		}
		n, err = msgs.ApplyEventRetention(ctx)
		countPruned(ctx, mp, "events", n)
		switch {
		case err != nil && ctx.Err() == nil:
			log.ErrorContext(ctx, "event retention failed", "err", err)
		case n > 0:
			log.InfoContext(ctx, "retention deleted expired events", "count", n)
		}
	})
}
