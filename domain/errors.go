package domain

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller can do about it. Adapters map
// kinds to their own vocabulary (HTTP statuses, exit codes) in one place each.
type Kind uint8

// The kinds. KindInternal is the zero value so that an error nobody
// classified is treated as a fault of ours, never as the caller's.
const (
	KindInternal        Kind = iota // a bug or a broken dependency: 500, logged
	KindInvalid                     // the input breaks a rule: 422
	KindNotFound                    // no such thing, or not visible to the caller: 404
	KindConflict                    // the state forbids it: 409
	KindUnauthenticated             // no or bad credentials: 401
	KindForbidden                   // authenticated but not allowed: 403
	KindRateLimited                 // too many requests: 429
	KindUnavailable                 // a dependency is down; retry later: 503
	KindPrecondition                // the caller's copy is stale (If-Match): 412
	KindNone                        // no error at all: what KindOf(nil) returns
)

// String names the kind. A switch rather than a table indexed by the
// constants keeps each name with its kind whatever their order.
func (k Kind) String() string {
	switch k {
	case KindInternal:
		return "internal"
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindForbidden:
		return "forbidden"
	case KindRateLimited:
		return "rate_limited"
	case KindUnavailable:
		return "unavailable"
	case KindPrecondition:
		return "precondition"
	case KindNone:
		return "none"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// FieldError names one problem with one input field. Code is stable and
// machine-readable; Message is for people.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

// Error is an error the core returns on purpose. Code is a stable string
// clients may switch on; Message is safe to show. The cause, if any, is for
// logs only: it may hold driver errors or file names that callers must not see.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  []FieldError
	// RetryAfter, when set on a rate-limited or unavailable error, tells
	// the caller how long to wait before trying again.
	RetryAfter time.Duration
	cause      error
	// made is set by E and Invalid. An Error written as a literal lacks
	// it and serves errors.Is as a pattern (see Is).
	made bool
	// parent is the Error this one was copied from by WithCause,
	// WithMessage or WithRetryAfter; nil for one that E or Invalid made.
	parent *Error
}

// E builds an Error of kind k with a stable code and a safe message.
func E(k Kind, code, message string) *Error {
	return &Error{Kind: k, Code: code, Message: message, made: true}
}

// Invalid reports one or more field problems as a validation_failed error.
func Invalid(fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Code: "validation_failed", Message: "The request is not valid.", Fields: fields, made: true}
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Message + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether e is target or was copied from it, directly or
// through other copies, by WithCause, WithMessage or WithRetryAfter. So a
// sentinel matches its own copies and the sentinels derived from it
// (errNoSuchForm, made from ErrNotFound, is ErrNotFound), and never
// another sentinel that happens to share its code: each validation error
// is not ports.ErrInvalidCursor, and an unknown route is not ErrNotFound.
//
// A target written as a literal, such as &Error{Kind: KindInvalid, Code:
// "validation_failed"}, is a pattern instead: it matches every error of
// its Kind and Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if !t.made {
		return t.Kind == e.Kind && t.Code == e.Code
	}
	for x := e; x != nil; x = x.parent {
		if x == t {
			return true
		}
	}
	return false
}

// derive returns a copy of e that errors.Is matches with e.
func (e *Error) derive() *Error {
	c := *e
	c.parent = e
	return &c
}

// WithCause returns a copy of e that wraps cause for logging.
func (e *Error) WithCause(cause error) *Error {
	c := e.derive()
	c.cause = cause
	return c
}

// WithMessage returns a copy of e with a more specific safe message.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := e.derive()
	c.Message = fmt.Sprintf(format, args...)
	return c
}

// WithFields returns a copy of e that lists the fields at fault.
func (e *Error) WithFields(fields ...FieldError) *Error {
	c := e.derive()
	c.Fields = fields
	return c
}

// WithRetryAfter returns a copy of e that tells the caller to wait d.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := e.derive()
	c.RetryAfter = d
	return c
}

// KindOf returns the kind of the first *Error in err's chain, KindNone
// for nil, and KindInternal for errors nobody classified.
func KindOf(err error) Kind {
	if err == nil {
		return KindNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Sentinels shared by every context. Contexts define their own, more precise
// codes next to the rules that produce them.
var (
	ErrNotFound        = E(KindNotFound, "not_found", "The resource does not exist.")
	ErrUnauthenticated = E(KindUnauthenticated, "unauthenticated", "Authentication is required.")
	ErrForbidden       = E(KindForbidden, "forbidden", "You are not allowed to do this.")
	ErrUnavailable     = E(KindUnavailable, "unavailable", "A dependency is unavailable; try again later.")
	ErrInternal        = E(KindInternal, "internal", "An internal error occurred.")
)
