package console

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// auditPerPage is how many events a page of an audit log shows.
const auditPerPage = ports.DefaultPageLimit

// auditData is what an audit log page shows: a page of events with their
// actors and targets named, a link to older ones, and whether the member
// may read the log at all (a viewer or editor may not: the page says so
// instead of showing a table).
type auditData struct {
	Entries []identity.AuditEntry
	Older   string
	Allowed bool
}

func (c *Console) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/workspaces/{ws}/audit", c.auditLog)
}

// auditLog shows a workspace's audit log, newest first, with a cursor
// link to older events, as GET /v1/workspaces/{ws}/audit-events pages it.
// Admins and owners read it; other members get a 403 page that says so,
// and a non-member a 404, as in the API.
func (c *Console) auditLog(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	ref, after := r.PathValue("ws"), r.URL.Query().Get("after")
	pg := page{Title: "Audit log · " + ws.Name(), Signed: true, Workspace: &ws, Section: "audit"}
	entries, next, err := c.cfg.Identity.AuditLog(r.Context(), p, ref, ports.Page{After: after, Limit: auditPerPage})
	switch {
	case errors.Is(err, domain.ErrForbidden):
		pg.Data = auditData{}
		c.render(w, r, http.StatusForbidden, "audit", pg)
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	d := auditData{Entries: entries, Allowed: true}
	d.Older = nextPage(Prefix+"workspaces/"+url.PathEscape(ref)+"/audit", next)
	pg.Data = d
	c.render(w, r, http.StatusOK, "audit", pg)
}
