package arch

import "testing"

// TestForbidden pins the rule itself, so that loosening it is a visible
// change: each case is an import the real tree must never gain.
func TestForbidden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, imp string
		std, want bool
	}{
		{module + "/domain", "time", true, false},
		{module + "/domain", "github.com/google/uuid", false, true},
		{module + "/domain", module + "/ports", false, true},
		{module + "/ports", module + "/domain", false, false},
		{module + "/ports", "context", true, false},
		{module + "/ports", module + "/adapters/sqlstore", false, true},
		{module + "/ports", "github.com/gin-gonic/gin", false, true},
		{module + "/ports/porttest", module + "/ports", false, false},
		{module + "/application/system", module + "/application/usecase", false, false},
		{module + "/application/system", module + "/application/forms", false, true},
		{module + "/application/system", module + "/adapters/inmem", false, true},
		{module + "/application/system", "github.com/gin-gonic/gin", false, true},
		{module + "/application/system", "github.com/casbin/casbin/v2", false, true},
		{module + "/application/system", "database/sql", true, true},
		{module + "/application/system", "go.opentelemetry.io/otel/sdk/trace", false, true},
		{module + "/application/usecase", "go.opentelemetry.io/otel", false, false},
		{module + "/adapters/httpapi", module + "/application/system", false, false},
		{module + "/adapters/httpapi", module + "/adapters/sqlstore", false, true},
		{module + "/adapters/console", module + "/application/identity", false, false},
		{module + "/adapters/console", module + "/adapters/httpapi", false, true},
		{module + "/adapters/console", module + "/api", false, true},
		{module + "/adapters/sqlstore", module + "/application/system", false, true},
		{module + "/adapters/smtpmail", module + "/adapters/internal/mimemail", false, false},
		{module + "/adapters/internal/mimemail", module + "/adapters/smtpmail", false, true},
		{module + "/adapters/sqlstore", "github.com/jackc/pgx/v5", false, false},
		{module + "/cmd/keel/bootstrap", module + "/adapters/sqlstore", false, false},
		{module + "/test/e2e", module + "/adapters/httpapi", false, false},
		{module + "/api", "go.yaml.in/yaml/v3", false, false},
		{module + "/api", "github.com/getkin/kin-openapi/openapi3", false, true},
		{module + "/api", module + "/domain", false, true},
		{module + "/api/openapitest", "github.com/getkin/kin-openapi/openapi3", false, false},
		{module + "/api/openapitest", module + "/api", false, false},
		{module + "/adapters/httpapi", module + "/api", false, false},
		{module + "/adapters/httpapi", module + "/api/openapitest", false, true},
		{module + "/adapters/sqlstore", module + "/api", false, true},
	}
	for _, tt := range tests {
		if got := forbidden(tt.from, tt.imp, tt.std) != ""; got != tt.want {
			t.Errorf("forbidden(%s → %s) = %v, want %v", tt.from, tt.imp, got, tt.want)
		}
	}
}

// TestForbiddenInTest pins the rule for test files the same way: what a
// package's tests may import beyond its code, and what they may not.
func TestForbiddenInTest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, imp string
		std, want bool
	}{
		{module + "/domain", "testing", true, false},
		{module + "/domain", module + "/domain", false, false},
		{module + "/domain", module + "/adapters/sqlstore/sqlitetest", false, true},
		{module + "/domain", module + "/ports", false, true},
		{module + "/domain", "github.com/google/go-cmp/cmp", false, true},
		{module + "/application/forms", module + "/adapters/sqlstore/sqlitetest", false, false},
		{module + "/application/forms", module + "/adapters/sqlstore", false, false},
		{module + "/application/forms", module + "/adapters/casbinauthz", false, false},
		{module + "/application/forms", module + "/adapters/ratelimit", false, false},
		{module + "/application/messaging", module + "/adapters/inmem", false, false},
		{module + "/application/identity", module + "/adapters/argon2id", false, false},
		{module + "/application/forms", module + "/adapters/httpapi", false, true},
		{module + "/application/forms", module + "/adapters/smtpmail", false, true},
		{module + "/application/forms", module + "/adapters/markdown", false, true},
		{module + "/application/forms", module + "/application/identity", false, true},
		{module + "/application/forms", module + "/test/testdb", false, true},
		{module + "/application/forms", module + "/cmd/keel/bootstrap", false, true},
		{module + "/application/messaging", "go.opentelemetry.io/otel/sdk/metric", false, false},
		{module + "/application/forms", "github.com/gin-gonic/gin", false, true},
		{module + "/application/forms", "database/sql", true, true},
		{module + "/adapters/smtpmail", module + "/ports/porttest", false, false},
		{module + "/adapters/smtpmail", module + "/test/mailpit", false, false},
		// Adapters are tested on containers, never through the binary.
		{module + "/adapters/smtpmail", module + "/test/keelproc", false, true},
		{module + "/test/outbox", module + "/test/keelproc", false, false},
		{module + "/adapters/casbinauthz", module + "/adapters/sqlstore/sqlitetest", false, false},
		{module + "/adapters/smtpmail", module + "/adapters/httpapi", false, true},
		{module + "/adapters/markdown", module + "/adapters/casbinauthz", false, true},
		{module + "/adapters/sqlstore", module + "/application/forms", false, true},
		{module + "/adapters/sqlstore", module + "/cmd/keel/bootstrap", false, true},
		{module + "/adapters/httpapi", module + "/adapters/markdown", false, false},
		{module + "/adapters/httpapi", module + "/adapters/smtpmail", false, true},
		{module + "/test/e2e", module + "/cmd/keel/bootstrap", false, false},
		{module + "/adapters/httpapi", module + "/api/openapitest", false, false},
		{module + "/adapters/sqlstore", module + "/api/openapitest", false, true},
	}
	for _, tt := range tests {
		if got := forbiddenInTest(tt.from, tt.imp, tt.std) != ""; got != tt.want {
			t.Errorf("forbiddenInTest(%s → %s) = %v, want %v", tt.from, tt.imp, got, tt.want)
		}
	}
}
