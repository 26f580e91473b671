// Package usecase opens the span every use case runs in.
package usecase

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"

	"github.com/keelhq/keel/domain"
)

const scope = "github.com/keelhq/keel/application"

// Start opens a use case's span named name ("context.UseCase"); call the
// returned function, deferred, with a pointer to the use case's error. Only
// internal errors fail the span: a 404 or a 422 is the system working, and
// marking those as errors would drown the real faults.
func Start(ctx context.Context, name string) (context.Context, func(*error)) {
	// The tracer is looked up on every call, not kept in a package
	// variable: a tracer taken from the global provider before the program
	// installs its own stays bound to the first provider ever installed,
	// which loses spans when the composition root runs more than once in a
	// process, as end-to-end tests do.
	ctx, span := otel.Tracer(scope).Start(ctx, name)
	return ctx, func(errp *error) {
		if err := *errp; err != nil {
			if domain.KindOf(err) == domain.KindInternal {
				span.RecordError(err)
				span.SetStatus(codes.Error, "internal error")
			} else {
				span.SetAttributes(errorCode(err))
			}
		}
		span.End()
	}
}
