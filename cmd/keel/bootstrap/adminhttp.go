package bootstrap

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

var (
	sAdminAddr = setting{"admin-addr", "KEEL_ADMIN_ADDR", "127.0.0.1:9090", "address of the admin listener, which serves /metrics and /debug/pprof/ (off: none; port 0 picks a free one)"}
	// sWorkerAdminAddr is the same setting for keel worker, whose default
	// port differs so that a worker beside serve on one host gets its own.
	sWorkerAdminAddr = setting{sAdminAddr.flag, sAdminAddr.env, "127.0.0.1:9091", sAdminAddr.usage}
	sMetricsToken    = setting{"metrics-token", "KEEL_METRICS_TOKEN", "", "bearer token (16 to 1024 characters) with which the public listener serves GET /metrics too (default: only the admin listener does)"}
)

// adminConfig says where the admin listener listens: addr is empty when
// it is off. explicit says the address was configured rather than the
// default, which decides what a port already taken means.
type adminConfig struct {
	addr     string
	explicit bool
}

// loadAdminConfig reads KEEL_ADMIN_ADDR (s is serve's or worker's
// spelling of it, with its default).
func loadAdminConfig(fs *pflag.FlagSet, getenv func(string) string, s setting) (adminConfig, error) {
	raw := value(fs, getenv, s)
	f := fs.Lookup(s.flag)
	c := adminConfig{addr: raw, explicit: (f != nil && f.Changed) || getenv(s.env) != ""}
	if raw == "off" || raw == "" {
		return adminConfig{}, nil
	}
	if _, port, err := net.SplitHostPort(raw); err != nil {
		return c, s.errorf("want host:port or off, got %q", raw)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return c, s.errorf("bad port %q", port)
	}
	return c, nil
}

// loadMetricsToken reads KEEL_METRICS_TOKEN: empty, or long enough that it
// cannot be guessed.
func loadMetricsToken(fs *pflag.FlagSet, getenv func(string) string) (string, error) {
	token := value(fs, getenv, sMetricsToken)
	if token != "" && (len(token) < 16 || len(token) > 1024) {
		return "", sMetricsToken.errorf("want 16 to 1024 characters, got %d", len(token))
	}
	return token, nil
}

// listenAdmin opens the admin listener, or returns nil when it is off. A
// configured address that cannot be had stops the process, as a bad
// KEEL_HTTP_ADDR does; the default one is taken on a best effort, since a
// second Keel process on the host, or anything else on that port, would
// otherwise keep a node from starting for the sake of its metrics: then
// it warns and runs without the listener.
func listenAdmin(c adminConfig, s setting, log *slog.Logger) (net.Listener, error) {
	if c.addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", c.addr)
	switch {
	case err == nil:
		return ln, nil
	case c.explicit:
		return nil, s.errorf("%v", err)
	}
	log.Warn("admin listener off: its default address is taken; set "+s.env+" to another address or off", "addr", c.addr, "err", err)
	return nil, nil
}

// adminAddr names ln's address for the start-up log line, or "off".
func adminAddr(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

// newAdminServer serves the metrics and Go's profiles. They stay off the
// public listener: profiles and metrics tell an attacker what the process
// does and can each cost seconds of CPU. pprof's handlers are registered
// on this mux only (net/http/pprof also adds them to
// http.DefaultServeMux, which Keel never serves).
func newAdminServer(metrics http.Handler, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{
		Handler: mux,
		// No write timeout: a CPU profile or a trace writes for as many
		// seconds as it was asked for.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serveAdmin is the admin listener's job: it serves on ln until ctx ends,
// then closes it, cutting off within a second a profile still being
// written.
func serveAdmin(srv *http.Server, ln net.Listener) func(context.Context) error {
	return func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
