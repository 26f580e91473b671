//go:build !keelfault

package httpapi

// afterCommit runs between a request's commit of its Idempotency-Key and
// the storing of its response. It does nothing: test builds with -tags
// keelfault replace it with a crash (idempotency_fault.go).
func afterCommit() {}
