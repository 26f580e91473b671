package domain_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keelhq/keel/domain"
)

func TestErrorIsMatchesCodeThroughWrapping(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk on fire")
	err := fmt.Errorf("load thing: %w", domain.ErrNotFound.WithCause(cause))
	if !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("errors.Is(%v, ErrNotFound) = false", err)
	}
	if !errors.Is(err, cause) {
		t.Fatalf("cause lost: %v", err)
	}
	if errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("not_found matched forbidden")
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want domain.Kind
	}{
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

func TestWithCauseDoesNotMutateSentinel(t *testing.T) {
	t.Parallel()
	_ = domain.ErrNotFound.WithCause(errors.New("x")).WithMessage("No form %q.", "f")
	if domain.ErrNotFound.Unwrap() != nil || domain.ErrNotFound.Message != "The resource does not exist." {
		t.Fatalf("sentinel mutated: %#v", domain.ErrNotFound)
	}
}
