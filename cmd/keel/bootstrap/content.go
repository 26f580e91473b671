package bootstrap

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/markdown"
	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/ports"
)

var (
	sPublicMaxAge = setting{"public-max-age", "KEEL_PUBLIC_MAX_AGE", "60s", "how long browsers and CDNs may reuse a public content response (Cache-Control max-age)"}
	sPublicStale  = setting{"public-stale", "KEEL_PUBLIC_STALE", "300s", "how long after that they may serve it stale while revalidating (stale-while-revalidate)"}
	sPublicURL    = setting{"public-url", "KEEL_PUBLIC_URL", "", "the API's absolute base URL, such as https://api.example.com, for the links in feeds and sitemaps (default: http:// and the listening address)"}
)

// contentConfig is what the public content API takes from configuration.
type contentConfig struct {
	maxAge, stale time.Duration
	// publicURL is KEEL_PUBLIC_URL without a trailing slash; empty
	// derives it from the listening address (publicURLFor).
	publicURL string
}

func loadContentConfig(fs *pflag.FlagSet, getenv func(string) string) (contentConfig, error) {
	var c contentConfig
	for _, s := range []struct {
		set *setting
		dst *time.Duration
	}{{&sPublicMaxAge, &c.maxAge}, {&sPublicStale, &c.stale}} {
		raw := value(fs, getenv, *s.set)
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Second || d > 365*24*time.Hour {
			return c, s.set.errorf("want a duration from 1s to 8760h such as 60s, got %q", raw)
		}
		*s.dst = d.Truncate(time.Second)
	}
	raw := value(fs, getenv, sPublicURL)
	if raw != "" {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return c, sPublicURL.errorf("cannot parse %q", raw)
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
			return c, sPublicURL.errorf("want an absolute http or https URL such as https://api.example.com, got %q", raw)
		case u.User != nil, u.RawQuery != "", u.ForceQuery, u.Fragment != "", strings.HasSuffix(raw, "#"):
			return c, sPublicURL.errorf("want a URL without user, query or fragment, got %q", raw)
		}
		c.publicURL = strings.TrimSuffix(u.String(), "/")
	}
	return c, nil
}

// publicURLFor is the API's absolute base URL: KEEL_PUBLIC_URL, or else
// http:// and the address the server listens on, with an unspecified host
// (every interface) shown as localhost and the port it was given when it
// asked for port 0. Links are never built from the request, whose Host
// header the client chooses.
func (c contentConfig) publicURLFor(httpAddr string, bound net.Addr) string {
	if c.publicURL != "" {
		return c.publicURL
	}
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		host = ""
	}
	if _, p, err := net.SplitHostPort(bound.String()); err == nil {
		port = p
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// publicCacheBytes bounds the memory of rendered public responses. It
// stays well below the default memory limit (KEEL_MEMORY_LIMIT): a full
// cache is live heap, and a live heap near the limit makes the collector
// run all the time.
const publicCacheBytes = 16 << 20

// contentParts is the content service with the cache of its public
// responses, which every change empties.
type contentParts struct {
	svc   *content.Service
	cache *httpapi.PublicCache
}

func newContent(uow ports.UnitOfWork, authz ports.Authorizer, cache *httpapi.PublicCache) contentParts {
	svc := content.NewService(content.Config{
		UoW: uow, Authorizer: authz, Clock: ports.ClockFunc(time.Now), Renderer: markdown.New(),
		PublicChanged: cache.Invalidate,
	})
	return contentParts{svc: svc, cache: cache}
}

// How often every node checks for scheduled entries that are due and for
// public content that another node changed. Publication is promised
// within 5 s of its time, and invalidation on every node within 1 s. On
// PostgreSQL a notification brings the change at once (watch.go), and
// while it does the check is a fallback made every invalidateWatchedEvery.
const (
	scheduleEvery          = time.Second
	invalidateEvery        = 250 * time.Millisecond
	invalidateWatchedEvery = 5 * time.Second
	dueBatch               = 100
)

// runScheduler publishes due entries every scheduleEvery until ctx ends,
// then returns nil. Every node runs it; each entry is claimed by one of
// them. Failures are logged and retried at the next tick.
func runScheduler(ctx context.Context, svc *content.Service, log *slog.Logger) error {
	return jobs.Every(ctx, scheduleEvery, false, func(ctx context.Context) {
		for {
			n, err := svc.PublishDue(ctx, dueBatch)
			if err != nil {
				if ctx.Err() == nil {
					log.ErrorContext(ctx, "scheduled publication failed", "err", err)
				}
				break
			}
			if n > 0 {
				log.InfoContext(ctx, "published scheduled entries", "count", n)
			}
			if n < dueBatch {
				break
			}
		}
	})
}

// runInvalidation empties cache whenever the public content counter
// moves, which another node's change does, until ctx ends; then it
// returns nil. It reads the counter every invalidateEvery, or every
// invalidateWatchedEvery while w says notifications bring changes, and at
// once when w pokes it.
func runInvalidation(ctx context.Context, svc *content.Service, cache *httpapi.PublicCache, w *changeWatch, log *slog.Logger) error {
	every := func() time.Duration {
		if w.watched.Load() {
			return invalidateWatchedEvery
		}
		return invalidateEvery
	}
	t := time.NewTimer(every())
	defer t.Stop()
	last, err := svc.PublicVersion(ctx)
	failing := err != nil
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.content:
		}
		t.Reset(every())
		v, err := svc.PublicVersion(ctx)
		switch {
		case err != nil:
			// Serving from a cache that may be stale is the lesser evil
			// while the database is away; say so once.
			if !failing && ctx.Err() == nil {
				log.WarnContext(ctx, "cannot check for public content changes", "err", err)
			}
			failing = true
			continue
		case failing:
			// Changes made while the database was unreachable are unknown.
			cache.Invalidate()
			failing = false
		case v != last:
			cache.Invalidate()
		}
		last = v
	}
}
