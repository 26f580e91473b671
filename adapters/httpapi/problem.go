package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/domain"
)

// Errors the HTTP layer itself raises. Codes refine a kind where HTTP has a
// more precise status than the kind's default.
var (
	errRouteNotFound    = domain.E(domain.KindNotFound, "not_found", "No route matches this path.")
	errMethodNotAllowed = domain.E(domain.KindInvalid, "method_not_allowed", "This path does not accept this method; see the Allow header.")
	errBodyTooLarge     = domain.E(domain.KindInvalid, "body_too_large", "The request body is larger than this server accepts.")
	errUnsupportedMedia = domain.E(domain.KindInvalid, "unsupported_media_type", "The request body must be application/json.")
	errMalformedJSON    = domain.E(domain.KindInvalid, "malformed_json", "The request body is not valid JSON.")
	errPanic            = domain.E(domain.KindInternal, "internal", "An internal error occurred.")
)

// codeStatus maps the codes whose HTTP status is more precise than their
// kind's. Everything else takes kindStatus.
var codeStatus = map[string]int{
	"method_not_allowed":     http.StatusMethodNotAllowed,
	"body_too_large":         http.StatusRequestEntityTooLarge,
	"unsupported_media_type": http.StatusUnsupportedMediaType,
	"malformed_json":         http.StatusBadRequest,
	"unknown_parameter":      http.StatusBadRequest,
	"malformed_form":         http.StatusBadRequest,
	"invalid_utf8":           http.StatusBadRequest,
	"form_closed":            http.StatusGone,
	"cursor_expired":         http.StatusGone,

	// The media library's refusals of a file (media.go).
	"media_type_unsupported": http.StatusUnsupportedMediaType,
	"svg_not_supported":      http.StatusUnsupportedMediaType,
	"media_too_large":        http.StatusRequestEntityTooLarge,
	"media_quota_exceeded":   http.StatusRequestEntityTooLarge,
	"invalid_width":          http.StatusBadRequest,
	"no_variants":            http.StatusBadRequest,

	// A malformed Idempotency-Key header, like a malformed body, is 400.
	"invalid_idempotency_key": http.StatusBadRequest,
}

var kindStatus = map[domain.Kind]int{
	domain.KindInvalid:         http.StatusUnprocessableEntity,
	domain.KindNotFound:        http.StatusNotFound,
	domain.KindConflict:        http.StatusConflict,
	domain.KindUnauthenticated: http.StatusUnauthorized,
	domain.KindForbidden:       http.StatusForbidden,
	domain.KindRateLimited:     http.StatusTooManyRequests,
	domain.KindUnavailable:     http.StatusServiceUnavailable,
	domain.KindPrecondition:    http.StatusPreconditionFailed,
	domain.KindInternal:        http.StatusInternalServerError,
}

func statusOf(e *domain.Error) int {
	if s, ok := codeStatus[e.Code]; ok {
		return s
	}
	if s, ok := kindStatus[e.Kind]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// problem is an RFC 9457 problem details document with Keel's extensions:
// a stable code, the trace ID to quote in support requests, and field
// errors for validation failures.
type problem struct {
	Type    string         `json:"type"`
	Title   string         `json:"title"`
	Status  int            `json:"status"`
	Detail  string         `json:"detail"`
	Code    string         `json:"code"`
	TraceID string         `json:"trace_id,omitempty"`
	Errors  []problemField `json:"errors,omitempty"`
	// Challenge and ChallengeExpiresAt come with second_factor_required
	// only: the login's challenge, which POST
	// /v1/auth/login/second-factor takes with a code (twofactor.go).
	Challenge          string        `json:"challenge,omitempty"`
	ChallengeExpiresAt *domain.Stamp `json:"challenge_expires_at,omitempty"`
}

type problemField struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusClientClosed is what a request whose client went away before its
// answer is recorded with: nginx's 499, outside HTTP's own codes.
const statusClientClosed = 499

// problemTypeBase prefixes each code to make the problem's type URI: a URN,
// so the type is stable and needs no web page to resolve.
const problemTypeBase = "urn:keel:problem:"

func toProblem(status int, e *domain.Error, traceID string) problem {
	p := problem{
		Type:    problemTypeBase + e.Code,
		Title:   http.StatusText(status),
		Status:  status,
		Detail:  e.Message,
		Code:    e.Code,
		TraceID: traceID,
	}
	for _, f := range e.Fields {
		p.Errors = append(p.Errors, problemField{Field: f.Field, Code: f.Code, Message: f.Message})
	}
	return p
}

// problems is the one place that writes error bodies. Handlers and other
// middleware report errors with c.Error and return; this middleware turns
// the last one into problem+json after the handler chain. Internal errors
// are logged with their cause and shown to the client as a bare "internal".
func problems(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 || c.Writer.Written() {
			return
		}
		err := c.Errors.Last().Err
		if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
			// The client went away before its answer: nobody is left to
			// read one, and nothing failed here. The access log and the
			// request metrics record nginx's 499, "client closed
			// request", not a server error.
			c.Errors = c.Errors[:0]
			c.Status(statusClientClosed)
			return
		}
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind == domain.KindInternal {
			log.ErrorContext(c.Request.Context(), "request failed", "route", c.FullPath(), "err", err)
			de = domain.ErrInternal
		} else {
			// Expected errors are the system working: keep them off the
			// server span's error status, which otelgin sets from c.Errors.
			c.Errors = c.Errors[:0]
		}
		status := statusOf(de)
		if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
			secs := int(math.Ceil(de.RetryAfter.Seconds()))
			if secs < 1 {
				secs = 5
			}
			c.Header("Retry-After", strconv.Itoa(secs))
		}
		if status == http.StatusUnauthorized {
			c.Header("WWW-Authenticate", `Bearer realm="keel"`)
		}
		body := toProblem(status, de, trace.SpanContextFromContext(c.Request.Context()).TraceID().String())
		if !trace.SpanContextFromContext(c.Request.Context()).HasTraceID() {
			body.TraceID = ""
		}
		if de.Code == domain.ErrSecondFactorRequired.Code {
			addChallenge(c, &body)
		}
		c.Render(status, problemJSON{body})
		c.Abort()
	}
}

// problemJSON renders a problem with the application/problem+json type;
// gin's JSON renderer would force application/json.
type problemJSON struct{ p problem }

func (r problemJSON) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	return encodeJSON(w, r.p)
}

func (problemJSON) WriteContentType(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/problem+json")
}
