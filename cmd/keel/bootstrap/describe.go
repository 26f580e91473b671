package bootstrap

import (
	"errors"
	"strings"

	"github.com/keelhq/keel/domain"
)

// describe renders a domain error for a person at a terminal: its message
// and each field problem, on one line.
func describe(err error) string {
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind == domain.KindInternal {
		return err.Error()
	}
	parts := []string{de.Message}
	for _, f := range de.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return strings.Join(parts, " ")
}
