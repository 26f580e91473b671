package console

import (
	"net/http"
	"net/url"

	"github.com/keelhq/keel/domain"
)

// spamRoutes registers the "Not spam" action of a submission's page.
func (c *Console) spamRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /console/workspaces/{ws}/submissions/{sub}/not-spam", c.notSpam)
}

// notSpam marks a spam submission not spam through the use case POST
// /v1/…/submissions/{id}/not-spam calls: it goes to new and the mail its
// spam verdict held back is queued, once, however often the button is
// pressed; the use case refuses a role that may not file submissions.
func (c *Console) notSpam(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ref, id := r.PathValue("ws"), domain.SubmissionID(r.PathValue("sub"))
	if _, err := c.cfg.Forms.NotSpam(r.Context(), p, ref, id); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"workspaces/"+url.PathEscape(ref)+"/submissions/"+url.PathEscape(string(id)), http.StatusSeeOther)
}
