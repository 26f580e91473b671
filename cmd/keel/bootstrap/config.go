package bootstrap

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
)

// setting is one configuration value: its flag, its environment variable,
// its default and its description. The README's configuration table lists
// the same settings; TestREADMEListsEverySetting keeps the two in step.
type setting struct {
	flag, env, def, usage string
}

var (
	sHTTPAddr          = setting{"http-addr", "KEEL_HTTP_ADDR", "127.0.0.1:8080", "address the HTTP server listens on (host:port; port 0 picks a free one)"}
	sDataDir           = setting{"data-dir", "KEEL_DATA_DIR", "./keel-data", "directory for the SQLite database, console mail and, on SQLite without a secret key setting, secret.key"}
	sDatabaseURL       = setting{"database-url", "KEEL_DATABASE_URL", "", "postgres://user:pass@host/db, or sqlite:PATH (default: sqlite in the data directory)"}
	sSMTPURL           = setting{"smtp-url", "KEEL_SMTP_URL", "", "smtp://user:pass@host:port[?tls=starttls|implicit|none] or smtps://… (default: write mail to the console and .eml files)"}
	sLogLevel          = setting{"log-level", "KEEL_LOG_LEVEL", "info", "debug, info, warn or error"}
	sTraceExporter     = setting{"trace-exporter", "KEEL_TRACE_EXPORTER", "none", "none, stdout or otlp (otlp reads the standard OTEL_EXPORTER_OTLP_* variables)"}
	sMaxBodyBytes      = setting{"max-body-bytes", "KEEL_MAX_BODY_BYTES", "1048576", "largest request body accepted, in bytes"}
	sShutdownTimeout   = setting{"shutdown-timeout", "KEEL_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests may run after SIGTERM"}
	sDBTimeout         = setting{"db-timeout", "KEEL_DB_TIMEOUT", "10s", "how long one request's or job's database work may wait for the database before it fails with 503 database_unavailable"}
	sSessionTTL        = setting{"session-ttl", "KEEL_SESSION_TTL", "24h", "sliding lifetime of a login session"}
	sSessionMaxAge     = setting{"session-max-age", "KEEL_SESSION_MAX_AGE", "720h", "absolute lifetime of a login session, however busy (at least the session TTL)"}
	sMailFrom          = setting{"mail-from", "KEEL_MAIL_FROM", "Keel <keel@localhost>", "sender (From) of the mail Keel sends"}
	sMailMaxAttempts   = setting{"mail-max-attempts", "KEEL_MAIL_MAX_ATTEMPTS", "12", "delivery attempts per message before it is given up as dead"}
	sMailRetryBase     = setting{"mail-retry-base", "KEEL_MAIL_RETRY_BASE", "1m", "wait before the first retry of a failed delivery; each later wait doubles, up to 12h"}
	sDispatcher        = setting{"dispatcher", "KEEL_DISPATCHER", "on", "on: serve delivers queued mail and webhooks itself; off: leave them to keel worker processes"}
	sMailFromDomains   = setting{"mail-from-domains", "KEEL_MAIL_FROM_DOMAINS", "", "comma-separated domains a workspace's mail_from may use without confirming the address (the domain of the mail-from setting always may)"}
	sEventRetention    = setting{"event-retention", "KEEL_EVENT_RETENTION", "720h", "how long the change feed keeps an event (at least 1h)"}
	sWorkspaceCreators = setting{"workspace-creators", "KEEL_WORKSPACE_CREATORS", "admins", "who may create workspaces: admins (instance administrators and the users they allow) or anyone"}
)

// settings lists every setting in the README's order.
var settings = []setting{
	sHTTPAddr, sAdminAddr, sMetricsToken, sDataDir, sDatabaseURL, sDBTimeout, sBlobURL, sSMTPURL, sLogLevel, sTraceExporter, sMaxBodyBytes, sShutdownTimeout, sMemoryLimit, sSearchMmap, sSessionTTL,
	sSessionMaxAge, sSecretKey, sMailFrom, sMailFromDomains, sWorkspaceCreators, sMailMaxAttempts, sMailRetryBase, sDispatcher,
	sRateLimitAPIKey, sRateLimitSession, sRateLimitAnonymous, sRateLimitStore,
	sIPHashKey, sSubmitPerIP, sSubmitPerForm, sSpamMaxLinks, sSpamMinFillTime, sAutoresponderPerAddress, sUploadSweepAge,
	sMediaMaxFileSize, sMediaMaxWorkspaceSize,
	sPublicMaxAge, sPublicStale, sPublicURL, sEventRetention, sIdempotencyTTL, sRetainSentMail,
	sWebhookAllowNetworks, sWebhookAllowHTTP, sWebhookRetryBase, sWebhookMaxAttempts, sWebhookDisableAfter, sWebhookConcurrency,
	sBackupSchedule, sBackupKeep, sBackupDir,
	sConsoleSecureCookies, sTrustedProxies,
}

func (s setting) name() string { return s.env + " (--" + s.flag + ")" }

// errorf names the setting at fault, so a bad value is one line that says
// what to fix.
func (s setting) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", s.name(), fmt.Sprintf(format, args...))
}

func addFlags(fs *pflag.FlagSet, ss ...setting) {
	for _, s := range ss {
		fs.String(s.flag, s.def, s.usage+" ["+s.env+"]")
	}
}

// value returns a setting's flag if given, else its environment variable if
// set, else its default: flags override the environment, which overrides
// the defaults.
func value(fs *pflag.FlagSet, getenv func(string) string, s setting) string {
	if f := fs.Lookup(s.flag); f != nil && f.Changed {
		return f.Value.String()
	}
	if v := getenv(s.env); v != "" {
		return v
	}
	return s.def
}

// storeConfig is what every command that opens the database needs.
type storeConfig struct {
	dataDir     string
	databaseURL string
	logLevel    slog.Level
	traceExport string
	dbTimeout   time.Duration // bounds each transaction and read (sqlstore.WithTimeout)
	searchMmap  int64         // bytes of SQLite each search connection maps (sqlstore.WithSearchMmapSize)
}

// serveConfig adds what the server needs.
type serveConfig struct {
	storeConfig
	backups         backupScheduleConfig
	blobs           blobConfig // files: the data directory or an S3 bucket
	httpAddr        string
	admin           adminConfig // the listener of /metrics and /debug/pprof/
	metricsToken    string      // opens GET /metrics on the public listener
	smtpURL         string
	maxBodyBytes    int64
	shutdownTimeout time.Duration
	memoryLimit     int64 // bytes; 0: none
	sessions        sessionConfig
	mailFrom        string // validated: a parsable address
	workspaces      identity.WorkspacePolicy
	mailMaxAttempts int
	mailRetryBase   time.Duration
	dispatcher      bool // deliver mail and webhooks in this process
	eventRetention  time.Duration
	idempotencyTTL  time.Duration
	retainSentMail  time.Duration // 0 keeps sent mail
	forms           formsConfig
	media           mediaConfig
	rateLimits      rateLimitConfig
	content         contentConfig
	webhookConfig
	consoleSecureCookies bool
	trustedProxies       []netip.Prefix // whose X-Forwarded-For names the client
}

func loadStoreConfig(fs *pflag.FlagSet, getenv func(string) string) (storeConfig, error) {
	var c storeConfig
	var err error
	c.dataDir = value(fs, getenv, sDataDir)
	if c.dataDir == "" {
		return c, sDataDir.errorf("must not be empty")
	}
	c.databaseURL = value(fs, getenv, sDatabaseURL)
	if c.databaseURL == "" {
		c.databaseURL = "sqlite:" + filepath.Join(c.dataDir, "keel.db")
	} else if err := checkDatabaseURL(c.databaseURL); err != nil {
		return c, sDatabaseURL.errorf("%v", err)
	}
	lvl := value(fs, getenv, sLogLevel)
	if err = c.logLevel.UnmarshalText([]byte(lvl)); err != nil || strings.ContainsAny(lvl, "+-") {
		return c, sLogLevel.errorf("unknown level %q (want debug, info, warn or error)", lvl)
	}
	c.traceExport = value(fs, getenv, sTraceExporter)
	switch c.traceExport {
	case "none", "stdout", "otlp":
	default:
		return c, sTraceExporter.errorf("unknown exporter %q (want none, stdout or otlp)", c.traceExport)
	}
	raw := value(fs, getenv, sDBTimeout)
	if c.dbTimeout, err = time.ParseDuration(raw); err != nil || c.dbTimeout < 100*time.Millisecond {
		return c, sDBTimeout.errorf("want a duration of at least 100ms such as 10s, got %q", raw)
	}
	if c.searchMmap, err = loadSearchMmap(fs, getenv); err != nil {
		return c, err
	}
	return c, nil
}

// checkDatabaseURL catches what can be caught without connecting. Error
// texts never include the URL: it may hold a password.
func checkDatabaseURL(raw string) error {
	scheme, rest, ok := strings.Cut(raw, ":")
	switch {
	case !ok:
		return errors.New("not a URL: want postgres://… or sqlite:PATH")
	case scheme == "postgres" || scheme == "postgresql":
		u, err := url.Parse(raw)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("cannot parse the URL: %v", err)
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return errors.New("the URL names no host")
		}
		return nil
	case scheme == "sqlite" || scheme == "file":
		if strings.TrimPrefix(rest, "//") == "" {
			return errors.New("the URL names no file")
		}
		return nil
	}
	return fmt.Errorf("unsupported scheme %q (want postgres or sqlite)", scheme)
}

func loadServeConfig(fs *pflag.FlagSet, getenv func(string) string) (serveConfig, error) {
	sc, err := loadStoreConfig(fs, getenv)
	c := serveConfig{storeConfig: sc}
	if err != nil {
		return c, err
	}
	if c.backups, err = loadBackupScheduleConfig(fs, getenv, c.dataDir); err != nil {
		return c, err
	}
	if c.blobs, err = loadBlobConfig(fs, getenv, c.dataDir); err != nil {
		return c, err
	}
	c.httpAddr = value(fs, getenv, sHTTPAddr)
	if _, port, err := net.SplitHostPort(c.httpAddr); err != nil {
		return c, sHTTPAddr.errorf("want host:port, got %q", c.httpAddr)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return c, sHTTPAddr.errorf("bad port %q", port)
	}
	if c.admin, err = loadAdminConfig(fs, getenv, sAdminAddr); err != nil {
		return c, err
	}
	if c.metricsToken, err = loadMetricsToken(fs, getenv); err != nil {
		return c, err
	}
	c.smtpURL = value(fs, getenv, sSMTPURL)
	raw := value(fs, getenv, sMaxBodyBytes)
	if c.maxBodyBytes, err = strconv.ParseInt(raw, 10, 64); err != nil || c.maxBodyBytes <= 0 {
		return c, sMaxBodyBytes.errorf("want a positive number of bytes, got %q", raw)
	}
	raw = value(fs, getenv, sShutdownTimeout)
	if c.shutdownTimeout, err = time.ParseDuration(raw); err != nil || c.shutdownTimeout <= 0 {
		return c, sShutdownTimeout.errorf("want a positive duration such as 15s, got %q", raw)
	}
	if c.memoryLimit, err = loadMemoryLimit(fs, getenv); err != nil {
		return c, err
	}
	raw = value(fs, getenv, sSessionTTL)
	if c.sessions.ttl, err = time.ParseDuration(raw); err != nil || c.sessions.ttl < time.Minute {
		return c, sSessionTTL.errorf("want a duration of at least 1m such as 24h, got %q", raw)
	}
	raw = value(fs, getenv, sSessionMaxAge)
	if c.sessions.maxAge, err = time.ParseDuration(raw); err != nil || c.sessions.maxAge < c.sessions.ttl {
		return c, sSessionMaxAge.errorf("want a duration no shorter than the session TTL (%s) such as 720h, got %q", c.sessions.ttl, raw)
	}
	if c.sessions.sealer, err = resolveSecretKey(fs, getenv, c.storeConfig); err != nil {
		return c, err
	}
	raw = value(fs, getenv, sEventRetention)
	if c.eventRetention, err = time.ParseDuration(raw); err != nil || c.eventRetention < time.Hour {
		return c, sEventRetention.errorf("want a duration of at least 1h such as 720h, got %q", raw)
	}
	if c.idempotencyTTL, err = loadIdempotencyTTL(fs, getenv); err != nil {
		return c, err
	}
	if c.retainSentMail, err = loadRetainSentMail(fs, getenv); err != nil {
		return c, err
	}
	c.mailFrom = value(fs, getenv, sMailFrom)
	if _, err := mail.ParseAddress(c.mailFrom); err != nil {
		return c, sMailFrom.errorf("want an address such as \"Keel <keel@example.com>\", got %q", c.mailFrom)
	}
	c.workspaces.MailFrom = c.mailFrom
	raw = value(fs, getenv, sMailFromDomains)
	if c.workspaces.SenderDomains, err = domain.ParseSenderDomains(strings.Split(raw, ",")); err != nil {
		return c, sMailFromDomains.errorf("want domain names such as example.com,example.org, got %q", raw)
	}
	switch raw = value(fs, getenv, sWorkspaceCreators); raw {
	case "admins", "anyone":
		c.workspaces.AnyoneCreates = raw == "anyone"
	default:
		return c, sWorkspaceCreators.errorf("want admins or anyone, got %q", raw)
	}
	if c.mailMaxAttempts, err = loadMailMaxAttempts(fs, getenv); err != nil {
		return c, err
	}
	if c.mailRetryBase, err = loadMailRetryBase(fs, getenv); err != nil {
		return c, err
	}
	switch raw = value(fs, getenv, sDispatcher); raw {
	case "on", "off":
		c.dispatcher = raw == "on"
	default:
		return c, sDispatcher.errorf("want on or off, got %q", raw)
	}
	if c.forms, err = loadFormsConfig(fs, getenv); err != nil {
		return c, err
	}
	if c.media, err = loadMediaConfig(fs, getenv); err != nil {
		return c, err
	}
	if c.rateLimits, err = loadRateLimitConfig(fs, getenv); err != nil {
		return c, err
	}
	if c.content, err = loadContentConfig(fs, getenv); err != nil {
		return c, err
	}
	if c.webhookConfig, err = loadWebhookConfig(fs, getenv); err != nil {
		return c, err
	}
	if c.consoleSecureCookies, err = loadConsoleSecureCookies(fs, getenv); err != nil {
		return c, err
	}
	if c.trustedProxies, err = loadTrustedProxies(fs, getenv); err != nil {
		return c, err
	}
	return c, nil
}

// maxMailAttempts bounds KEEL_MAIL_MAX_ATTEMPTS: with waits capped at 12
// hours, this many attempts already spread over about six weeks.
const maxMailAttempts = 100

func loadMailMaxAttempts(fs *pflag.FlagSet, getenv func(string) string) (int, error) {
	raw := value(fs, getenv, sMailMaxAttempts)
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxMailAttempts {
		return 0, sMailMaxAttempts.errorf("want a number from 1 to %d, got %q", maxMailAttempts, raw)
	}
	return n, nil
}

// loadMailRetryBase reads the first retry wait. Below a second a relay
// outage would burn through the attempts in moments; above the backoff's
// 12-hour cap the doubling would never apply.
func loadMailRetryBase(fs *pflag.FlagSet, getenv func(string) string) (time.Duration, error) {
	raw := value(fs, getenv, sMailRetryBase)
	d, err := time.ParseDuration(raw)
	if err != nil || d < time.Second || d > domain.DefaultRetryPolicy.Max {
		return 0, sMailRetryBase.errorf("want a duration from 1s to 12h such as 1m, got %q", raw)
	}
	return d, nil
}
