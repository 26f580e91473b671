package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/domain"
)

const requestIDHeader = "X-Request-Id"

// requestID gives every request an ID, echoed in the response and the
// access log. A well-formed ID from the client (a proxy's, say) is kept so
// one ID follows the request across systems; anything else is replaced,
// since it ends up in logs. The replacement is the request's trace ID, so
// a support request quoting it leads straight to the trace; it runs after
// the tracing middleware for that reason.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(requestIDHeader)
		if !validRequestID(id) {
			if sc := trace.SpanContextFromContext(c.Request.Context()); sc.HasTraceID() {
				id = sc.TraceID().String()
			} else {
				var b [16]byte
				_, _ = rand.Read(b[:])
				id = hex.EncodeToString(b[:])
			}
		}
		c.Set(requestIDHeader, id)
		c.Header(requestIDHeader, id)
		c.Next()
	}
}

// validRequestID accepts 1 to 128 characters of letters, digits and
// "-_.:", which covers UUIDs, ULIDs and the IDs of common proxies.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// accessLog writes one JSON line per request once it is answered.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		sc := trace.SpanContextFromContext(c.Request.Context())
		log.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", c.Writer.Status()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", c.Writer.Size()),
			slog.String("client_ip", c.ClientIP()),
			slog.String("request_id", c.GetString(requestIDHeader)),
			slog.String("trace_id", sc.TraceID().String()),
			slog.String("span_id", sc.SpanID().String()),
		)
	}
}

// recovery turns a panic into an internal error for problems to render, so
// one bad request costs one 500 and the process lives. The stack goes to
// the log with the error, never to the client. http.ErrAbortHandler is the
// server's own way to drop a connection and is passed on.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			_ = c.Error(errPanic.WithCause(fmt.Errorf("panic: %v\n%s", rec, debug.Stack())))
			c.Abort()
		}()
		c.Next()
	}
}

// Keys limitBody leaves for the public submission's handler: that a body
// was declared too large, and the limit, which a visitor's page states.
const (
	bodyTooLargeKey = "keel.bodyTooLarge"
	bodyLimitKey    = "keel.bodyLimit"
)

// limitBody refuses a request whose declared Content-Length is over the
// limit before any handler runs, and caps bodies of unknown length
// (chunked) so that reading past the limit fails; decodeJSON turns that
// failure into the same 413. The public submission's handler gives that
// refusal itself, since a browser posting a form is answered with the
// form's error redirect or a page: its body is replaced by one that
// fails, so that nothing on the way reads the real one.
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(bodyLimitKey, limit)
		limit := limit
		if c.FullPath() == submitRoute && c.Request.Method == http.MethodPost && isMultipart(c) {
			// A multipart submission may carry files: the form's file
			// fields bound them (domain.MaxFormFileBytes in all), and
			// decodeMultipart bounds its text parts to the usual limit.
			limit += domain.MaxFormFileBytes
		}
		if c.FullPath() == mediaUploadRoute && c.Request.Method == http.MethodPost {
			limit = maxMediaUploadBody // the media service bounds the file as it streams it
		}
		if c.Request.ContentLength > limit {
			// The unread body is not worth draining: close the connection.
			c.Header("Connection", "close")
			if c.FullPath() == submitRoute && c.Request.Method == http.MethodPost {
				c.Set(bodyTooLargeKey, true)
				c.Request.Body = io.NopCloser(errReader{&http.MaxBytesError{Limit: limit}})
				c.Next()
				return
			}
			_ = c.Error(errBodyTooLarge)
			c.Abort()
			return
		}
		if c.Request.ContentLength != 0 { // -1 (unknown, chunked) or a length within the limit
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}
