package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

func TestErrorIs(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk on fire")
	// Sentinels of other packages, rebuilt here: ports.ErrInvalidCursor and
	// httpapi's unknown-route error share a code with errors that must not
	// match them.
	cursor := domain.Invalid(domain.FieldError{Field: "cursor", Code: "invalid_cursor", Message: "Bad cursor."})
	route := domain.E(domain.KindNotFound, "not_found", "No route matches this path.")
	validationFailed := &domain.Error{Kind: domain.KindInvalid, Code: "validation_failed"}
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"itself", domain.ErrNotFound, domain.ErrNotFound, true},
		{"with a cause, wrapped", fmt.Errorf("load thing: %w", domain.ErrNotFound.WithCause(cause)), domain.ErrNotFound, true},
		{"with a message", domain.ErrNotFound.WithMessage("No form %q.", "f"), domain.ErrNotFound, true},
		{"with retry after", domain.ErrRateLimited.WithRetryAfter(time.Second), domain.ErrRateLimited, true},
		{"derived sentinel matches its origin", domain.ErrWorkspaceUnknown, domain.ErrNotFound, true},
		{"a copy of a derived sentinel matches it", domain.ErrWorkspaceUnknown.WithCause(cause), domain.ErrWorkspaceUnknown, true},
		{"an origin does not match what was derived from it", domain.ErrNotFound, domain.ErrWorkspaceUnknown, false},
		{"another kind", domain.ErrNotFound, domain.ErrForbidden, false},
		{"any validation error is not the cursor error", domain.Invalid(domain.FieldError{Field: "name"}), cursor, false},
		{"the cursor error", fmt.Errorf("list: %w", cursor.WithCause(cause)), cursor, true},
		{"same code, another sentinel", domain.ErrNotFound, route, false},
		{"the route error is not ErrNotFound", route, domain.ErrNotFound, false},
		{"workspace and entry slugs", domain.ErrEntrySlugTaken, domain.ErrSlugTaken, false},
		{"login and sender-code rate limits", domain.ErrSenderCodeTooSoon, domain.ErrRateLimited, false},
		{"a literal matches by kind and code", cursor, validationFailed, true},
		{"a literal of another kind", domain.E(domain.KindConflict, "validation_failed", "x"), validationFailed, false},
		{"a plain error target", domain.ErrNotFound, errors.New("not_found: The resource does not exist."), false},
		{"the cause stays reachable", domain.ErrNotFound.WithCause(cause), cause, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errors.Is(tt.err, tt.target); got != tt.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", tt.err, tt.target, got, tt.want)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want domain.Kind
	}{
		{"no error", nil, domain.KindNone},
		{"unclassified", errors.New("boom"), domain.KindInternal},
		{"wrapped invalid", fmt.Errorf("x: %w", domain.Invalid(domain.FieldError{Field: "a"})), domain.KindInvalid},
		{"conflict", domain.E(domain.KindConflict, "taken", "Taken."), domain.KindConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[domain.Kind]string{
		domain.KindNone:            "none",
		domain.KindInternal:        "internal",
		domain.KindInvalid:         "invalid",
		domain.KindNotFound:        "not_found",
		domain.KindConflict:        "conflict",
		domain.KindUnauthenticated: "unauthenticated",
		domain.KindForbidden:       "forbidden",
		domain.KindRateLimited:     "rate_limited",
		domain.KindUnavailable:     "unavailable",
		domain.KindPrecondition:    "precondition",
		domain.Kind(200):           "kind(200)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestWithCauseDoesNotMutateSentinel(t *testing.T) {
	t.Parallel()
	_ = domain.ErrNotFound.WithCause(errors.New("x")).WithMessage("No form %q.", "f")
	if domain.ErrNotFound.Unwrap() != nil || domain.ErrNotFound.Message != "The resource does not exist." {
		t.Fatalf("sentinel mutated: %#v", domain.ErrNotFound)
	}
}
