package usecase_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
)

func TestOnlyInternalErrorsFailTheSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))

	run := func(err error) {
		_, end := usecase.Start(context.Background(), "test.UseCase")
		end(&err)
	}
	run(nil)
	run(domain.ErrNotFound)
	run(errors.New("disk full"))

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3", len(spans))
	}
	want := []codes.Code{codes.Unset, codes.Unset, codes.Error}
	for i, s := range spans {
		if s.Name() != "test.UseCase" || s.Status().Code != want[i] {
			t.Errorf("span %d: %s status %v, want test.UseCase %v", i, s.Name(), s.Status().Code, want[i])
		}
	}
	var code string
	for _, a := range spans[1].Attributes() {
		if a.Key == "keel.error.code" {
			code = a.Value.AsString()
		}
	}
	if code != "not_found" {
		t.Errorf("not-found span keel.error.code = %q, want not_found", code)
	}
}
