package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/markdown"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/ports"
)

// BenchmarkSite measures the public delivery API's cached paths in
// process, from parallel goroutines: a post of about 3 KB of Markdown, the
// same post revalidated with its ETag (304), and a page of 20 posts, each
// answered from the PublicCache. Telemetry is as keel serve has it without
// an exporter (spans not sampled) and the access log is encoded but
// discarded, so a profile shows what the site routes add to a request.
// scripts/bench-content.sh measures the same paths, and search on SQLite,
// over the network.
func BenchmarkSite(b *testing.B) {
	srv, post := newSiteBench(b)
	var etag string
	{
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, post, nil))
		if w.Code != http.StatusOK || w.Body.Len() < 3000 {
			b.Fatalf("GET %s = %d, %d bytes", post, w.Code, w.Body.Len())
		}
		etag = w.Header().Get("ETag")
	}
	for _, tc := range []struct {
		name, path string
		header     []string
		want       int
	}{
		{"Post", post, nil, http.StatusOK},
		{"Post304", post, []string{"If-None-Match", etag}, http.StatusNotModified},
		{"List20", "/v1/sites/acme/posts?limit=20", nil, http.StatusOK},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, tc.path, nil)
				for i := 0; i+1 < len(tc.header); i += 2 {
					req.Header.Set(tc.header[i], tc.header[i+1])
				}
				for pb.Next() {
					w := httptest.NewRecorder()
					srv.ServeHTTP(w, req)
					if w.Code != tc.want {
						b.Errorf("GET %s = %d, want %d", tc.path, w.Code, tc.want)
						return
					}
				}
			})
		})
	}
}

// newSiteBench returns a server whose workspace "acme" has 30 published
// posts, and the path of one of them.
func newSiteBench(b *testing.B) (*Server, string) {
	b.Helper()
	ctx := context.Background()
	db := sqlitetest.New(b)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	clock := ports.ClockFunc(time.Now)
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{PollInterval: -1, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = authz.Close() })
	ids, err := identity.NewService(ctx, identity.Config{
		UoW: db, Authorizer: authz, Clock: clock, SessionTTL: time.Hour,
		Hasher:          argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		LoginPerIP:      ratelimit.NewRateLimiter(1000, 1000, clock.Now),
		LoginPerAccount: ratelimit.NewRateLimiter(1000, 1000, clock.Now),
	})
	if err != nil {
		b.Fatal(err)
	}
	cache := NewPublicCache(64 << 20)
	cs := content.NewService(content.Config{UoW: db, Authorizer: authz, Clock: clock, Renderer: markdown.New(), PublicChanged: cache.Invalidate})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	b.Cleanup(func() { _ = tp.Shutdown(ctx) })
	srv := New(Config{
		Logger: log, System: system.NewService(db, db, clock), Identity: ids, Content: cs, PublicCache: cache,
		TracerProvider: tp, Propagator: propagation.TraceContext{},
	})

	call := func(method, path, token string, body any, out any) {
		b.Helper()
		var r io.Reader
		if body != nil {
			js, _ := json.Marshal(body)
			r = strings.NewReader(string(js))
		}
		req := httptest.NewRequest(method, path, r)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code/100 != 2 {
			b.Fatalf("%s %s = %d: %s", method, path, w.Code, w.Body)
		}
		if out != nil {
			if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
				b.Fatal(err)
			}
		}
	}
	var setup struct{ Token string }
	call(http.MethodPost, "/v1/setup", "", map[string]string{"email": "owner@example.com", "password": "correct horse battery", "name": "Owner"}, &setup)
	call(http.MethodPost, "/v1/workspaces", setup.Token, map[string]string{"name": "Acme", "slug": "acme"}, nil)
	var para strings.Builder
	for i := range 60 {
		para.WriteString([]string{"Keel ", "serves ", "*cached* ", "posts ", "from ", "memory, ", "`fast`. "}[i%7])
	}
	body := "Intro. " + para.String() + "\n\n## A heading\n\n" + para.String() + "\n\n- one\n- two\n- three\n\n" +
		para.String() + "\n\n> " + para.String() + "\n\n" + para.String() + "\n"
	var slug string
	for i := range 30 {
		var e struct{ ID, Slug string }
		call(http.MethodPost, "/v1/workspaces/acme/entries", setup.Token, map[string]any{
			"kind": "post", "title": "Post number " + string(rune('A'+i%26)) + string(rune('a'+i/26)), "body": body, "tags": []string{"go", "caching"},
		}, &e)
		call(http.MethodPost, "/v1/workspaces/acme/entries/"+e.ID+"/publish", setup.Token, nil, nil)
		slug = e.Slug
	}
	return srv, "/v1/sites/acme/posts/" + slug
}
