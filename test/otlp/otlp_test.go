// Package otlp checks that Keel exports its traces where the operator
// points it: to an OTLP receiver over http/protobuf and over gRPC, and to
// standard output. The receivers here are real OTLP endpoints (the
// collector's protobuf service), so the bytes on the wire are what a real
// collector would get.
package otlp

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/keelhq/keel/cmd/keel/bootstrap"
)

// received gathers the span names an OTLP receiver got.
type received struct {
	mu    sync.Mutex
	names []string
}

func (r *received) add(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.names = append(r.names, s.GetName())
			}
		}
	}
}

func (r *received) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.names {
		if n == name {
			return true
		}
	}
	return false
}

// serveOnce runs keel serve with the process environment, sends one
// request and stops it, which flushes the exporter.
func serveOnce(t *testing.T, stdout io.Writer) {
	t.Helper()
	t.Setenv("KEEL_DATA_DIR", t.TempDir())
	t.Setenv("KEEL_HTTP_ADDR", "127.0.0.1:0")
	pr, pw := io.Pipe()
	addr := make(chan string, 1)
	var logs bytes.Buffer
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := pr.Read(buf)
			logs.Write(buf[:n])
			if i := strings.Index(logs.String(), `"msg":"listening","addr":"`); i >= 0 && len(addr) == 0 {
				rest := logs.String()[i+len(`"msg":"listening","addr":"`):]
				addr <- rest[:strings.IndexByte(rest, '"')]
			}
			if err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bootstrap.Run(ctx, []string{"serve"}, os.Getenv, nil, io.MultiWriter(pw, stdout), io.Discard)
	}()
	select {
	case a := <-addr:
		resp, err := http.Get("http://" + a + "/v1/instance")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	pw.Close()
}

func TestOTLPOverHTTP(t *testing.T) {
	var got received
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got.add(&req)
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})}
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	t.Setenv("KEEL_TRACE_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	serveOnce(t, io.Discard)
	for _, name := range []string{"GET /v1/instance", "system.Instance", "stmt.Exec"} {
		if !got.has(name) {
			t.Errorf("collector did not receive span %q; got %v", name, got.names)
		}
	}
}

type traceService struct {
	collectortrace.UnimplementedTraceServiceServer
	got *received
}

func (s traceService) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.got.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func TestOTLPOverGRPC(t *testing.T) {
	var got received
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, traceService{got: &got})
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	t.Setenv("KEEL_TRACE_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	serveOnce(t, io.Discard)
	for _, name := range []string{"GET /v1/instance", "system.Instance", "stmt.Exec"} {
		if !got.has(name) {
			t.Errorf("collector did not receive span %q; got %v", name, got.names)
		}
	}
}

func TestStdoutExporter(t *testing.T) {
	t.Setenv("KEEL_TRACE_EXPORTER", "stdout")
	var out bytes.Buffer
	var mu sync.Mutex
	serveOnce(t, writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) }))
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{`"Name":"GET /v1/instance"`, `"Name":"system.Instance"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks span %s", want)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
