package console

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// recentItems is how many submissions and audit events an overview shows.
const recentItems = 10

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
	case errors.Is(err, domain.ErrSecondFactorRequired):
		// The password was right; a code finishes the sign-in (twofactor.go).
		c.secondFactorPage(w, r, http.StatusOK, secondFactorData{Challenge: res.Challenge})
		return
	case errors.As(err, &de) && de.Kind == domain.KindRateLimited:
		setRetryAfter(w, err)
		c.render(w, r, http.StatusTooManyRequests, "signin", page{Title: "Sign in", Email: email, Error: "Too many attempts: " + waitText(de)})
		return
	default:
		c.fail(w, r, err)
		return
	}
	c.signedIn(w, r, res)
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

// overviewData is what the overview shows. Activity is nil when the
// member's role may not read the audit log; the section is then left out.
type overviewData struct {
	Submissions []ports.RecentSubmission
	Activity    []identity.AuditEntry
	CanAudit    bool

	// Mail is the mail queue's health, nil when the member's role may not
	// read the outbox; MailWait says how long the oldest message waits.
	Mail     *ports.OutboxHealth
	MailWait string
}

// overview shows a workspace's recent submissions across its forms (one
// query), its mail queue's health (one query) and its recent activity,
// each section only to a role that may read it. A workspace the user is
// not a member of is a 404, as in the API.
func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ws")
	var d overviewData
	var err error
	d.Submissions, err = c.cfg.Forms.RecentSubmissions(r.Context(), p, ref, recentItems)
	if err != nil && !errors.Is(err, domain.ErrForbidden) {
		c.fail(w, r, err)
		return
	}
	if c.cfg.Messaging != nil {
		h, err := c.cfg.Messaging.MailHealth(r.Context(), p, ref)
		switch {
		case err == nil:
			d.Mail = &h
			if !h.OldestPending.IsZero() {
				d.MailWait = waitedText(time.Since(h.OldestPending))
			}
		case !errors.Is(err, domain.ErrForbidden):
			c.fail(w, r, err)
			return
		}
	}
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

// waitedText says roughly how long something has waited.
func waitedText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
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
