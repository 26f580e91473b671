package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
)

// accountFormLimit bounds the body of the account flows' forms: a few
// fields of at most a password's 256 bytes each.
const accountFormLimit = 16 << 10

// accountRoutes serves the account flows: a forgotten password, the
// links that password reset, invitation and e-mail change mail carry,
// and the signed-in user's own account page. The pages behind mailed
// links change nothing on GET: mail scanners follow links, so every
// change is a POST the person makes with a button.
func (c *Console) accountRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/password-reset", c.forgotPage)
	mux.HandleFunc("POST /console/password-reset", c.forgot)
	mux.HandleFunc("GET /console/password-reset/{token}", c.resetPage)
	mux.HandleFunc("POST /console/password-reset/{token}", c.reset)
	mux.HandleFunc("GET /console/invitations/{token}", c.invitationPage)
	mux.HandleFunc("POST /console/invitations/{token}", c.acceptInvitation)
	mux.HandleFunc("POST /console/invitations/{token}/sign-in", c.invitationSignIn)
	mux.HandleFunc("GET /console/account", c.accountPage)
	mux.HandleFunc("POST /console/account/password", c.changePassword)
	mux.HandleFunc("POST /console/account/email", c.changeEmail)
	mux.HandleFunc("GET /console/email-change/{token}", c.emailChangePage)
	mux.HandleFunc("POST /console/email-change/{token}", c.confirmEmailChange)
}

// formError turns a use case's refusal of a form into the sentence the
// form shows, and the status its page is sent with; ok is false for an
// error no form can show, which the caller hands to c.fail.
func formError(err error) (msg string, status int, ok bool) {
	var de *domain.Error
	if !errors.As(err, &de) {
		return "", 0, false
	}
	switch de.Kind {
	case domain.KindInvalid:
		var parts []string
		for _, f := range de.Fields {
			parts = append(parts, f.Message)
		}
		if len(parts) == 0 {
			parts = append(parts, de.Message)
		}
		return strings.Join(parts, " "), http.StatusUnprocessableEntity, true
	case domain.KindRateLimited:
		return "Too many attempts: " + waitText(de), http.StatusTooManyRequests, true
	case domain.KindConflict:
		return de.Message, http.StatusConflict, true
	}
	return "", 0, false
}

// forgotData is what the forgotten password page shows: the form, or
// once sent, the one answer every address gets.
type forgotData struct {
	Sent bool
}

func (c *Console) forgotPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "forgot", page{Title: "Forgotten password", Data: forgotData{}})
}

// forgot asks for a reset link. Every address gets the same answer, as
// from POST /v1/auth/password-reset, so that the page tells nobody which
// addresses have accounts; only a rate limit shows.
func (c *Console) forgot(w http.ResponseWriter, r *http.Request) {
	if !c.readPostedForm(w, r, accountFormLimit) {
		return
	}
	email := trimEmail(r.PostFormValue("email"))
	anon := domain.AnonymousPrincipal.WithClient(client(r))
	err := c.cfg.Identity.RequestPasswordReset(r.Context(), anon, email)
	if msg, status, ok := formError(err); ok {
		setRetryAfter(w, err)
		c.render(w, r, status, "forgot", page{Title: "Forgotten password", Email: email, Error: msg, Data: forgotData{}})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "forgot", page{Title: "Forgotten password", Email: email, Data: forgotData{Sent: true}})
}

// resetData is what the page behind a reset link shows: the form for a
// new password, that the link cannot be used, or that it was.
type resetData struct {
	Token    string
	Unusable bool
	Done     bool
}

func (c *Console) resetPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	err := c.cfg.Identity.CheckPasswordReset(r.Context(), token)
	if errors.Is(err, domain.ErrPasswordResetUnusable) {
		c.render(w, r, http.StatusNotFound, "reset", page{Title: "Choose a new password", Data: resetData{Unusable: true}})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "reset", page{Title: "Choose a new password", Data: resetData{Token: token}})
}

// reset sets the new password. It ends every session of the account, the
// browser's own included, so the cookie goes too and the page links to
// the sign-in.
func (c *Console) reset(w http.ResponseWriter, r *http.Request) {
	if !c.readPostedForm(w, r, accountFormLimit) {
		return
	}
	token := r.PathValue("token")
	title := "Choose a new password"
	if r.PostFormValue("password") != r.PostFormValue("confirm") {
		c.render(w, r, http.StatusUnprocessableEntity, "reset", page{Title: title, Error: "The two passwords differ.", Data: resetData{Token: token}})
		return
	}
	anon := domain.AnonymousPrincipal.WithClient(client(r))
	err := c.cfg.Identity.ConfirmPasswordReset(r.Context(), anon, token, r.PostFormValue("password"))
	switch msg, status, ok := formError(err); {
	case err == nil:
	case errors.Is(err, domain.ErrPasswordResetUnusable):
		c.render(w, r, http.StatusNotFound, "reset", page{Title: title, Data: resetData{Unusable: true}})
		return
	case ok:
		setRetryAfter(w, err)
		c.render(w, r, status, "reset", page{Title: title, Error: msg, Data: resetData{Token: token}})
		return
	default:
		c.fail(w, r, err)
		return
	}
	c.setSession(w, r, "", -1)
	c.render(w, r, http.StatusOK, "reset", page{Title: "Password changed", Data: resetData{Done: true}})
}

// invitationData is what the page behind an invitation's link shows.
// Gone: the link cannot be used. Otherwise, for an address without an
// account, the form that creates it; for one with an account, a sign-in
// form when nobody is signed in, an accept button when its owner is, and
// a note when someone else is.
type invitationData struct {
	Token     string
	Gone      bool
	View      identity.InvitationView
	Signed    bool
	WrongUser bool
	Name      string
}

func (c *Console) invitationPage(w http.ResponseWriter, r *http.Request) {
	d, ok := c.invitationData(w, r)
	if !ok {
		return
	}
	status := http.StatusOK
	if d.Gone {
		status = http.StatusNotFound
	}
	c.render(w, r, status, "invitation", page{Title: "Invitation", Signed: d.Signed, Data: d})
}

// invitationData reads the invitation behind the link and who is signed
// in; false after rendering an error page.
func (c *Console) invitationData(w http.ResponseWriter, r *http.Request) (invitationData, bool) {
	d := invitationData{Token: r.PathValue("token")}
	v, err := c.cfg.Identity.ViewInvitation(r.Context(), d.Token)
	if errors.Is(err, domain.ErrInvitationGone) {
		return invitationData{Gone: true}, true
	}
	if err != nil {
		c.fail(w, r, err)
		return d, false
	}
	d.View = v
	if p, err := c.principal(r); err == nil {
		d.Signed = true
		if v.HasAccount {
			me, err := c.cfg.Identity.Me(r.Context(), p)
			if err != nil {
				c.fail(w, r, err)
				return d, false
			}
			d.WrongUser = me.User.Email() != v.Email
		}
	}
	return d, true
}

// postedInvitation reads a form posted from an invitation's page and the
// invitation behind its link; false after the page that says why, the
// invitation's own 404 page when the link cannot be used.
func (c *Console) postedInvitation(w http.ResponseWriter, r *http.Request) (invitationData, bool) {
	if !c.readPostedForm(w, r, accountFormLimit) {
		return invitationData{}, false
	}
	d, ok := c.invitationData(w, r)
	if ok && d.Gone {
		c.render(w, r, http.StatusNotFound, "invitation", page{Title: "Invitation", Data: d})
		return d, false
	}
	return d, ok
}

// acceptInvitation accepts with the signed-in account, or creates the
// invited address's account from the form and signs it in with a new
// session, ending the session of any other account signed in; either way
// it lands on the workspace.
func (c *Console) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	d, ok := c.postedInvitation(w, r)
	if !ok {
		return
	}
	p := domain.AnonymousPrincipal.WithClient(client(r))
	if d.View.HasAccount {
		if p, ok = c.signedPrincipal(r); !ok {
			http.Redirect(w, r, Prefix+"invitations/"+url.PathEscape(d.Token), http.StatusSeeOther)
			return
		}
	}
	in := identity.AcceptInput{Token: d.Token}
	if !d.View.HasAccount {
		in.Name, in.Password = r.PostFormValue("name"), r.PostFormValue("password")
		d.Name = in.Name
		if in.Password != r.PostFormValue("confirm") {
			c.render(w, r, http.StatusUnprocessableEntity, "invitation", page{Title: "Invitation", Signed: d.Signed, Error: "The two passwords differ.", Data: d})
			return
		}
	}
	res, err := c.cfg.Identity.AcceptInvitation(r.Context(), p, in)
	switch msg, status, ok := formError(err); {
	case err == nil:
	case errors.Is(err, domain.ErrInvitationGone):
		c.render(w, r, http.StatusNotFound, "invitation", page{Title: "Invitation", Data: invitationData{Gone: true}})
		return
	case ok:
		setRetryAfter(w, err)
		c.render(w, r, status, "invitation", page{Title: "Invitation", Signed: d.Signed, Error: msg, Data: d})
		return
	default:
		c.fail(w, r, err)
		return
	}
	if res.Created {
		// Whoever was signed in on this browser is not the account just
		// made: their session ends, on the server as well, so that the
		// browser does not go on as them, nor keep a session it no longer
		// holds a cookie for.
		if old, ok := c.signedPrincipal(r); ok {
			if err := c.cfg.Identity.Logout(r.Context(), old); err != nil {
				c.cfg.Logger.WarnContext(r.Context(), "console: sign out the previous account after accepting an invitation", "err", err)
			}
		}
		// The account is new: sign it in with the password just chosen,
		// through the same login as the sign-in page (throttled, audited,
		// a new session).
		login, err := c.cfg.Identity.Login(r.Context(), p, identity.LoginInput{Email: d.View.Email.String(), Password: in.Password})
		if err != nil {
			c.cfg.Logger.WarnContext(r.Context(), "console: sign in after accepting an invitation", "err", err)
			c.setSession(w, r, "", -1)
			http.Redirect(w, r, Prefix+"sign-in", http.StatusSeeOther)
			return
		}
		c.startSession(w, r, login)
	}
	http.Redirect(w, r, Prefix+"workspaces/"+url.PathEscape(res.Workspace.Slug()), http.StatusSeeOther)
}

// signedPrincipal is c.principal for handlers that only need to know.
func (c *Console) signedPrincipal(r *http.Request) (domain.Principal, bool) {
	p, err := c.principal(r)
	return p, err == nil
}

// invitationSignIn signs in from an invitation's page, as the sign-in
// page does (the same login, throttling and audit, a new session), and
// comes back to the invitation, whose accept button then shows. A login
// that needs more than a password is finished on the sign-in page.
func (c *Console) invitationSignIn(w http.ResponseWriter, r *http.Request) {
	d, ok := c.postedInvitation(w, r)
	if !ok {
		return
	}
	anon := domain.AnonymousPrincipal.WithClient(client(r))
	res, err := c.cfg.Identity.Login(r.Context(), anon, identityLogin(d.View.Email.String(), r.PostFormValue("password")))
	var de *domain.Error
	switch {
	case err == nil && res.Token != "":
	case errors.Is(err, domain.ErrInvalidCreds):
		c.render(w, r, http.StatusUnauthorized, "invitation", page{Title: "Invitation", Error: "The password is wrong.", Data: d})
		return
	case errors.As(err, &de) && de.Kind == domain.KindRateLimited:
		setRetryAfter(w, err)
		c.render(w, r, http.StatusTooManyRequests, "invitation", page{Title: "Invitation", Error: "Too many attempts: " + waitText(de), Data: d})
		return
	case err == nil || (errors.As(err, &de) && de.Kind != domain.KindInternal):
		c.render(w, r, http.StatusOK, "invitation", page{Title: "Invitation", Error: "Finish signing in on the sign-in page, then open the invitation's link again.", Data: d})
		return
	default:
		c.fail(w, r, err)
		return
	}
	c.startSession(w, r, res)
	http.Redirect(w, r, Prefix+"invitations/"+url.PathEscape(d.Token), http.StatusSeeOther)
}

// accountData is what the account page shows: who is signed in, what
// just changed, and the forms' errors and input.
type accountData struct {
	User          domain.User
	Notice        string
	PasswordError string
	EmailError    string
	NewEmail      string
}

// accountNotices are the notices a change leaves on the account page,
// by the value of its "done" parameter.
var accountNotices = map[string]string{
	"password": "Your password is changed. Your other sessions are signed out.",
	"email":    "Check the new address: the link mailed there confirms the change, within 24 hours. The current address got a notice.",
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request) {
	c.renderAccount(w, r, http.StatusOK, accountData{Notice: accountNotices[r.URL.Query().Get("done")]})
}

// renderAccount renders the account page with d, once it has read the
// signed-in user.
func (c *Console) renderAccount(w http.ResponseWriter, r *http.Request, status int, d accountData) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	me, err := c.cfg.Identity.Me(r.Context(), p)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.User = me.User
	c.render(w, r, status, "account", page{Title: "Your account", Signed: true, Section: "account", Data: d})
}

// changePassword changes the password with the same use case as POST
// /v1/me/password: this session stays, the account's others end.
func (c *Console) changePassword(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, accountFormLimit)
	if !ok {
		return
	}
	if r.PostFormValue("new_password") != r.PostFormValue("confirm") {
		c.renderAccount(w, r, http.StatusUnprocessableEntity, accountData{PasswordError: "The two new passwords differ."})
		return
	}
	err := c.cfg.Identity.ChangePassword(r.Context(), p, identity.ChangePasswordInput{Current: r.PostFormValue("current_password"), New: r.PostFormValue("new_password")})
	if msg, status, ok := formError(err); ok {
		setRetryAfter(w, err)
		c.renderAccount(w, r, status, accountData{PasswordError: msg})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"account?done=password", http.StatusSeeOther)
}

// changeEmail asks for a new address with the same use case as POST
// /v1/me/email; the address changes when the mailed link is followed.
func (c *Console) changeEmail(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, accountFormLimit)
	if !ok {
		return
	}
	email := trimEmail(r.PostFormValue("email"))
	err := c.cfg.Identity.RequestEmailChange(r.Context(), p, identity.ChangeEmailInput{Email: email, Password: r.PostFormValue("password")})
	if msg, status, ok := formError(err); ok {
		setRetryAfter(w, err)
		c.renderAccount(w, r, status, accountData{EmailError: msg, NewEmail: email})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"account?done=email", http.StatusSeeOther)
}

// emailChangeData is what the page behind an e-mail change's link shows:
// a button that confirms, that the link cannot be used, or the address
// the account now has.
type emailChangeData struct {
	Token    string
	Unusable bool
	Email    string
}

// emailChangePage asks for a click rather than confirming on GET, which
// a mail scanner following the link would do.
func (c *Console) emailChangePage(w http.ResponseWriter, r *http.Request) {
	_, signed := c.signedPrincipal(r)
	c.render(w, r, http.StatusOK, "account_email", page{Title: "Confirm your new address", Signed: signed, Data: emailChangeData{Token: r.PathValue("token")}})
}

func (c *Console) confirmEmailChange(w http.ResponseWriter, r *http.Request) {
	if !c.readPostedForm(w, r, accountFormLimit) {
		return
	}
	_, signed := c.signedPrincipal(r)
	token := r.PathValue("token")
	title := "Confirm your new address"
	u, err := c.cfg.Identity.ConfirmEmailChange(r.Context(), domain.AnonymousPrincipal.WithClient(client(r)), token)
	switch msg, status, ok := formError(err); {
	case err == nil:
	case errors.Is(err, domain.ErrEmailChangeUnusable):
		c.render(w, r, http.StatusNotFound, "account_email", page{Title: title, Signed: signed, Data: emailChangeData{Unusable: true}})
		return
	case ok:
		c.render(w, r, status, "account_email", page{Title: title, Signed: signed, Error: msg, Data: emailChangeData{Token: token}})
		return
	default:
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "account_email", page{Title: "Address changed", Signed: signed, Data: emailChangeData{Email: u.Email().String()}})
}
