package authz

import (
	"net/http"
	"testing"
)

// erasureScope is the one API key scope that lets a key erase a person's
// data. Erasure used to ride on members:write, so a key made to manage
// members could delete every submission holding an address.
const erasureScope = "submissions:erase"

// TestErasureNeedsItsOwnScope calls the erasure route with a key holding
// each scope alone, on each engine: only erasureScope erases, and every
// other scope, members:write among them, is refused with 403.
func TestErasureNeedsItsOwnScope(t *testing.T) {
	var erasure row
	for _, r := range matrix {
		if r.route == "POST /v1/workspaces/:ws/erasure" {
			erasure = r
		}
	}
	if erasure.route == "" {
		t.Fatal("the matrix has no erasure row")
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			tp := newTemplate(t, e, keyWithScope)
			for _, scope := range allScopes {
				t.Run(scope, func(t *testing.T) {
					t.Parallel()
					r := erasure
					r.scope = scope
					if scope != erasureScope {
						r.want[keyWithScope] = http.StatusForbidden
					}
					f := tp.copy(t)
					checkResponse(t, f.call(t, r, keyWithScope), r, keyWithScope)
				})
			}
		})
	}
}
