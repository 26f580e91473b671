package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// newLogger writes JSON lines at level and above. Every record made with a
// context that carries a span gets trace_id and span_id, so any log line
// leads to its trace.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(traceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if sc.IsValid() && !hasAttr(r, "trace_id") {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

// lineWriter is the process's one standard output: the logger, the console
// mailer's summary lines and the stdout trace exporter all write through
// it. Each of them writes a whole line (or a whole span) per Write call, and
// lineWriter keeps every call contiguous, so no line is ever torn by another.
//
// Write returns only once its bytes are written: nothing waits in a buffer
// for a flush that a kill -9 would never run. Writing each access-log line
// with its own system call would cost more than a small request's
// handling, so concurrent writers share system calls instead: while one
// write is under way, later callers queue their lines, and the next of them
// writes all queued lines in one call, as a group commit does.
type lineWriter struct {
	w       io.Writer
	mu      sync.Mutex
	done    *sync.Cond // broadcast when a batch has been written
	pending []byte     // queued lines of batch next
	spare   []byte     // the last written batch's buffer, for reuse
	next    uint64     // number of the batch pending fills
	written uint64     // number of the last batch written
	writing bool       // a caller is writing a batch now
}

// maxSpare bounds the buffer kept between batches, so that one huge record
// does not pin its size for the life of the process.
const maxSpare = 256 << 10

func newLineWriter(w io.Writer) *lineWriter {
	lw := &lineWriter{w: w, next: 1}
	lw.done = sync.NewCond(&lw.mu)
	return lw
}

// Write queues p in the current batch and returns once that batch has been
// written: by this caller when no write is under way, otherwise by whichever
// caller of the batch gets there first once the write under way ends. Only
// the caller that wrote the batch sees a write error: the others are log
// records and summary lines, whose writers have nowhere to report it.
func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	batch := lw.next
	lw.pending = append(lw.pending, p...)
	for lw.written < batch {
		if lw.writing {
			lw.done.Wait()
			continue
		}
		buf := lw.pending
		lw.pending, lw.spare = lw.spare[:0], nil
		lw.next++
		lw.writing = true
		lw.mu.Unlock()
		_, err := lw.w.Write(buf)
		lw.mu.Lock()
		lw.writing = false
		lw.written = batch
		if cap(buf) <= maxSpare {
			lw.spare = buf[:0]
		}
		lw.done.Broadcast()
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
