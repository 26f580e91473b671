package bootstrap

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/ports"
)

// BenchmarkHandler measures the HTTP stack exactly as serve wires it
// (telemetry with no exporter, the batched JSON log to a file), in process,
// from parallel goroutines: what each request costs above the network.
func BenchmarkHandler(b *testing.B) {
	for _, tc := range []struct {
		path string
		want int
	}{{"/healthz", http.StatusOK}, {"/v1/nope", http.StatusNotFound}} {
		b.Run(tc.path, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "keel.log"))
			if err != nil {
				b.Fatal(err)
			}
			lw := newLineWriter(f)
			b.Cleanup(func() { _ = f.Close() })
			tel, err := newTelemetry(context.Background(), "none", func(string) string { return "" }, f)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = tel.shutdown(context.Background()) })
			db := sqlitetest.New(b)
			h := httpapi.New(httpapi.Config{
				Logger:         newLogger(lw, 0),
				System:         system.NewService(db, db, ports.ClockFunc(time.Now)),
				Metrics:        tel.metrics,
				TracerProvider: tel.tracer,
				MeterProvider:  tel.meter,
				Propagator:     tel.propagator,
			})
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, tc.path, nil)
				for pb.Next() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != tc.want {
						b.Errorf("GET %s = %d", tc.path, w.Code)
						return
					}
				}
			})
		})
	}
}
