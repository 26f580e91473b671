package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// BenchmarkSubmit measures the public submission endpoint as serve wires
// it, on SQLite: decode, validate, store the submission and its two
// outbox messages in one transaction, answer 201. Its key variant sends a
// new Idempotency-Key with every request, which then also inserts the key
// and stores the response (issue 12: a key must cost < 10%). Its claim
// variant measures the least that any key which commits with its
// request's work can cost: without the header, each request carries a
// claim on its context, as the HTTP adapter puts it there, so that the
// transaction inserts a new key, and nothing else (no response is sealed
// or stored).
func BenchmarkSubmit(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchmarkSubmit(b, "") })
	b.Run("key", func(b *testing.B) { benchmarkSubmit(b, "key") })
	b.Run("claim", func(b *testing.B) { benchmarkSubmit(b, "claim") })
}

func benchmarkSubmit(b *testing.B, variant string) {
	ctx := context.Background()
	tel, err := newTelemetry(ctx, "none", func(string) string { return "" }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "keel.db"), sqlstore.WithTracerProvider(tel.tracer), sqlstore.WithMeterProvider(tel.meter))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	log := newLogger(newLineWriter(io.Discard), 0)
	ids, err := newIdentity(ctx, db, sessionConfig{ttl: time.Hour}, identity.WorkspacePolicy{}, log, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ids.close()
	svc := newForms(formsConfig{ipHashKey: []byte("0123456789abcdef0123"), perIP: 1e9, perForm: 1e9}, db, ids.authz, "Keel <k@example.com>", func() {}, log)
	ws, _ := domain.NewWorkspace("S", "s", time.Now())
	form, err := domain.NewForm(ws.ID(), domain.FormInput{
		Name:          "C",
		Fields:        []domain.Field{{Name: "name", Type: domain.FieldText, Required: true}, {Name: "email", Type: domain.FieldEmail, Required: true}, {Name: "message", Type: domain.FieldTextarea}},
		Notify:        domain.Notify{Recipients: []string{"team@example.com"}},
		Autoresponder: domain.Autoresponder{Enabled: true, EmailField: "email", Subject: "Thanks", Text: "Hi"},
	}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		return st.Forms().Add(ctx, form)
	}); err != nil {
		b.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{
		Logger: log, System: system.NewService(db, db, ports.ClockFunc(time.Now)), Identity: ids.svc, Forms: svc,
		TracerProvider: tel.tracer, MeterProvider: tel.meter, Propagator: tel.propagator,
		// The form's quotas as serve applies them, too high to refuse: the
		// benchmark pays for the buckets and the RateLimit headers.
		RateLimits:  newRateLimits(rateLimitConfig{}, formsConfig{perIP: 1e9, perForm: 1e9}),
		Idempotency: httpapi.IdempotencyConfig{Store: db, IPHashKey: []byte("0123456789abcdef0123")},
	})
	var keys atomic.Int64
	const body = `{"name":"Ada","email":"ada@example.com","message":"Hello there, this is a test message."}`
	path := "/v1/forms/" + string(form.ID()) + "/submissions"
	b.ReportAllocs()
	// Many requests at once, as wrk's 32 connections in bench-ingest.sh,
	// so that group commit batches as it does in production.
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			switch variant {
			case "key":
				req.Header.Set("Idempotency-Key", "bench-"+strconv.FormatInt(keys.Add(1), 10))
			case "claim":
				now := time.Now()
				sum := sha256.Sum256([]byte("bench-" + strconv.FormatInt(keys.Add(1), 10)))
				req = req.WithContext(ports.WithIdempotencyClaim(req.Context(), &ports.IdempotencyClaim{
					Key:         ports.IdempotencyKey{Scope: "ip:0123456789abcdef0123456789abcdef", Key: hex.EncodeToString(sum[:])},
					Fingerprint: sum[:], CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
				}))
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				b.Errorf("POST = %d %s", w.Code, w.Body)
				return
			}
		}
	})
}
