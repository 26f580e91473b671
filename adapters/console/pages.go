package console

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// recentItems is how many submissions and audit events an overview shows.
const recentItems = 10

// formsScanned bounds the forms an overview reads recent submissions
// from: the newest ten of the first page of forms. A use case that lists
// a workspace's submissions across its forms will replace this.
const formsScanned = 50

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if _, err := c.principal(r); err != nil {
		http.Redirect(w, r, Prefix+"sign-in", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"workspaces", http.StatusSeeOther)
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signin", page{Title: "Sign in"})
}

// signIn logs in through the identity service, so the login throttling
// and the audit log apply as they do to POST /v1/login. Each sign-in
// starts a new session and sets its token, whatever cookie the request
// carried: a cookie planted before sign-in is never promoted.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "signin", page{Title: "Sign in", Error: "The form could not be read. Try again."})
		return
	}
	email := trimEmail(r.PostFormValue("email"))
	anon := domain.AnonymousPrincipal.WithClient(client(r))
	res, err := c.cfg.Identity.Login(r.Context(), anon, identityLogin(email, r.PostFormValue("password")))
	var de *domain.Error
	switch {
	case err == nil:
	case errors.Is(err, domain.ErrInvalidCreds):
		c.render(w, r, http.StatusUnauthorized, "signin", page{Title: "Sign in", Email: email, Error: "The e-mail address or password is wrong."})
		return
	case errors.As(err, &de) && de.Kind == domain.KindRateLimited:
		if de.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(seconds(de.RetryAfter)))
		}
		c.render(w, r, http.StatusTooManyRequests, "signin", page{Title: "Sign in", Email: email, Error: "Too many attempts: " + waitText(de)})
		return
	default:
		c.fail(w, r, err)
		return
	}
	c.setSession(w, r, res.Token, int(time.Until(res.ExpiresAt).Seconds()))
	http.Redirect(w, r, Prefix+"workspaces", http.StatusSeeOther)
}

// signOut ends the session and clears the cookie. Signing out without a
// valid session still clears the cookie and lands on the sign-in page.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if p, err := c.principal(r); err == nil {
		if err := c.cfg.Identity.Logout(r.Context(), p); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	c.setSession(w, r, "", -1)
	http.Redirect(w, r, Prefix+"sign-in", http.StatusSeeOther)
}

func (c *Console) workspaces(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ws, _, err := c.cfg.Identity.ListWorkspaces(r.Context(), p, ports.Page{Limit: ports.MaxPageLimit})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "workspaces", page{Title: "Workspaces", Signed: true, Data: ws})
}

// recentSubmission is a row of the overview's submissions table.
type recentSubmission struct {
	Form   string
	At     time.Time
	Status string
}

// overviewData is what the overview shows. Activity is nil when the
// member's role may not read the audit log; the section is then left out.
type overviewData struct {
	Submissions []recentSubmission
	Activity    []identity.AuditEntry
	CanAudit    bool
}

// overview shows a workspace's recent submissions and activity. A
// workspace the user is not a member of is a 404, as in the API.
func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ref := r.PathValue("ws")
	ws, err := c.cfg.Identity.GetWorkspace(r.Context(), p, ref)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var d overviewData
	fs, _, err := c.cfg.Forms.ListForms(r.Context(), p, ref, ports.Page{Limit: formsScanned})
	if err != nil && !errors.Is(err, domain.ErrForbidden) {
		c.fail(w, r, err)
		return
	}
	for _, f := range fs {
		subs, _, err := c.cfg.Forms.ListSubmissions(r.Context(), p, ref, f.ID(), ports.SubmissionFilter{}, ports.Page{Limit: recentItems})
		if errors.Is(err, domain.ErrForbidden) {
			break
		}
		if err != nil && !errors.Is(err, domain.ErrNotFound) { // a form deleted meanwhile
			c.fail(w, r, err)
			return
		}
		for _, s := range subs {
			d.Submissions = append(d.Submissions, recentSubmission{Form: f.Name(), At: s.CreatedAt(), Status: s.Status().String()})
		}
	}
	slices.SortStableFunc(d.Submissions, func(a, b recentSubmission) int { return b.At.Compare(a.At) })
	d.Submissions = d.Submissions[:min(len(d.Submissions), recentItems)]
	d.Activity, _, err = c.cfg.Identity.AuditLog(r.Context(), p, ref, ports.Page{Limit: recentItems})
	switch {
	case err == nil:
		d.CanAudit = true
	case errors.Is(err, domain.ErrForbidden):
	default:
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "overview", page{Title: ws.Name(), Signed: true, Workspace: &ws, Section: "overview", Data: d})
}

// seconds rounds a wait up to whole seconds, at least one.
func seconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// waitText says how long to wait before trying again.
func waitText(de *domain.Error) string {
	if de.RetryAfter <= 0 {
		return "try again later."
	}
	n := seconds(de.RetryAfter)
	if n == 1 {
		return "try again in 1 second."
	}
	return fmt.Sprintf("try again in %d seconds.", n)
}
