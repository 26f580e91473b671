package usecase

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"

	"github.com/keelhq/keel/domain"
)

// errorCode records the stable code of an expected error on the span, so
// traces still show why a request was refused without marking it failed.
func errorCode(err error) attribute.KeyValue {
	var de *domain.Error
	if errors.As(err, &de) {
		return attribute.String("keel.error.code", de.Code)
	}
	return attribute.String("keel.error.code", "unknown")
}
