package authz

import (
	"net/http"
	"testing"
)

// backdateBody publishes the matrix's entry in the past, as an importer
// of an archive does.
func backdateBody(*fixture) any { return map[string]string{"publish_at": "2019-05-01T08:30:00Z"} }

// TestPublishingInThePastNeedsContentImport calls the publish route with
// a publish_at years ago as every principal, on each engine: admins and
// owners date the entry then; editors, who may publish, get 422
// publish_at_in_past rather than the silent "now" of before; a key with
// content:write alone gets the same 422, and a key that also holds
// content:import (here: every scope) dates it.
func TestPublishingInThePastNeedsContentImport(t *testing.T) {
	backdate := row{
		want:  want(401, 403, 422, 200, 200, 404, 422, 403, 404, 401, 401),
		route: "POST /v1/workspaces/:ws/entries/:id/publish", scope: "content:write", body: backdateBody,
		codes: map[principal]string{editor: "publish_at_in_past", keyWithScope: "publish_at_in_past"},
	}
	everyScope := backdate
	everyScope.scope = "" // key_with_scope then holds every scope, content:import among them
	everyScope.want[keyWithScope] = http.StatusOK
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			templates := newTemplates(t, e)
			for p := range principals {
				t.Run(p.String(), func(t *testing.T) {
					t.Parallel()
					f := templates[p].copy(t)
					checkResponse(t, f.call(t, backdate, p), backdate, p)
				})
			}
			t.Run("key_with_content_import", func(t *testing.T) {
				t.Parallel()
				f := templates[keyWithScope].copy(t)
				checkResponse(t, f.call(t, everyScope, keyWithScope), everyScope, keyWithScope)
			})
		})
	}
}
