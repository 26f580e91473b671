package sqlstore_test

import (
	"testing"

	"github.com/keelhq/keel/ports/porttest"
)

func TestIdempotencySQLite(t *testing.T) {
	porttest.Idempotency(t, func(t *testing.T) porttest.IdempotencyDB { return openSQLite(t) })
}

func TestIdempotencyPostgres(t *testing.T) {
	porttest.Idempotency(t, func(t *testing.T) porttest.IdempotencyDB { return openPostgres(t) })
}
