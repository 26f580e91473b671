//go:build keelfault

package httpapi

import (
	"os"
	"syscall"
)

// killAfterCommit is read once, at start: only a binary built with
// -tags keelfault has this hook, for test/idempotency, which must kill a
// node between a request's commit and its answer. Production builds
// compile the empty afterCommit of idempotency_nofault.go instead.
var killAfterCommit = os.Getenv("KEEL_FAULT_KILL_AFTER_COMMIT") == "1"

// afterCommit kills the process with SIGKILL, as a crash would, once a
// request's transaction committed its Idempotency-Key and before its
// response is stored or sent, when KEEL_FAULT_KILL_AFTER_COMMIT=1.
func afterCommit() {
	if killAfterCommit {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; nothing more may happen
	}
}
