// Package console is Keel's web console: server-rendered HTML pages for
// the people who run a site, a second driving adapter next to httpapi.
// It calls the application services directly, never Keel's HTTP API, and
// serves its templates and stylesheet from the binary (go:embed), so no
// page asks anyone but Keel for anything.
package console

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Prefix is the path the console is mounted on.
const Prefix = "/console/"

// CookieName names the session cookie; its value is a session token, the
// same kind /v1/login returns.
const CookieName = "keel_session"

// contentSecurityPolicy allows scripts, styles and images from Keel only
// (static/console.js, nothing inline, no eval), forms posted to Keel only,
// and no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the console needs: the services it drives and how it
// sets its cookie.
type Config struct {
	Logger    *slog.Logger
	Identity  *identity.Service
	Forms     *forms.Service
	Content   *content.Service
	Messaging *messaging.Service
	// Authorizer answers, for a page, the question a use case behind one
	// of its buttons will ask, so that a button the member's role may not
	// use is left out. Without one no such button is shown.
	Authorizer ports.Authorizer
	// PublicURL is the API's absolute base URL as sites reach it
	// (KEEL_PUBLIC_URL), which a form's embed snippet posts to; without
	// it the snippet uses the origin the console was reached on.
	PublicURL string
	// ForwardedOrigin lets a request's X-Forwarded-Host and
	// X-Forwarded-Proto name that origin in place of its Host. Set it
	// only when the headers can come from trusted proxies alone (the
	// composition root strips them from other peers).
	ForwardedOrigin bool
	// SecureCookies marks the session cookie Secure even on plain HTTP
	// requests, for deployments behind a proxy that terminates TLS; a
	// request that arrives over TLS always gets a Secure cookie.
	SecureCookies bool
	// TracerProvider, MeterProvider and Propagator make every request a
	// trace, a measurement and a log line, as the API's are; nil ones
	// record nothing.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

// Console is the console as an http.Handler, to be mounted on Prefix.
type Console struct {
	cfg   Config
	pages map[string]*template.Template
	h     http.Handler
	obs   *observer
}

// New builds the console. It panics if its embedded templates do not
// parse, which a test catches before any release.
func New(cfg Config) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, pages: map[string]*template.Template{}, obs: newObserver(cfg)}
	// Every template but the layout is a page, named by its file, so a
	// new page is a new file and nothing else.
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, file := range names {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" {
			continue
		}
		c.pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", file))
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /console", http.RedirectHandler(Prefix, http.StatusMovedPermanently))
	mux.HandleFunc("GET /console/{$}", c.home)
	mux.HandleFunc("GET /console/sign-in", c.signInPage)
	mux.HandleFunc("POST /console/sign-in", c.signIn)
	mux.HandleFunc("POST /console/sign-out", c.signOut)
	mux.HandleFunc("GET /console/workspaces", c.workspaces)
	mux.HandleFunc("GET /console/workspaces/{ws}", c.overview)
	mux.HandleFunc("GET /console/workspaces/{ws}/forms", c.formsList)
	mux.HandleFunc("GET /console/workspaces/{ws}/forms/{form}", c.submissions)
	mux.HandleFunc("GET /console/workspaces/{ws}/forms/{form}/export", c.exportCSV)
	mux.HandleFunc("GET /console/workspaces/{ws}/submissions/{sub}", c.submission)
	mux.HandleFunc("POST /console/workspaces/{ws}/submissions/{sub}/status", c.setStatus)
	mux.HandleFunc("POST /console/workspaces/{ws}/submissions/{sub}/delete", c.deleteSubmission)
	// Each area of the console registers its own routes, from its own file.
	c.membersRoutes(mux)
	c.keysRoutes(mux)
	c.spamRoutes(mux)
	c.accountRoutes(mux)
	c.auditRoutes(mux)
	c.adminRoutes(mux)
	c.contentRoutes(mux)
	c.outboxRoutes(mux)
	c.webhooksRoutes(mux)
	c.formEditRoutes(mux)
	c.twoFactorRoutes(mux)
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("/", c.notFound)

	// Every state change is a POST, and a browser's cross-origin POST is
	// refused here, before any handler runs (Sec-Fetch-Site, or Origin
	// against Host). SameSite=Lax on the cookie is the second lock.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusForbidden, "Refused", "This request came from another site, so Keel refused it.")
	}))
	c.h = cop.Handler(mux)
	return c
}

// ServeHTTP sets the headers every console response carries and serves
// the request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	c.obs.serve(w, r, c.h)
}

// page is what every template gets.
type page struct {
	Title     string
	Signed    bool
	Message   string // the error page's text
	Error     string // a form's error
	Email     string
	Data      any
	Workspace *domain.Workspace
	// Section names the workspace's area a page belongs to ("overview",
	// "forms", "content", "members", "keys", "outbox", "webhooks",
	// "audit"), so that the workspace's navigation marks it current.
	Section string
	// Admin shows the instance administration links in the top
	// navigation; render sets it for a signed-in instance administrator.
	Admin bool
}

var funcs = template.FuncMap{
	"date": func(t interface{ Format(string) string }) string { return t.Format("2006-01-02 15:04 MST") },
	"secretField": func(id, label, value string) secretCopyField {
		return secretCopyField{ID: id, Label: label, Value: value}
	},
	"newPasswordField": func(id, label, errorID string) newPasswordField {
		return newPasswordField{ID: id, Label: label, ErrorID: errorID}
	},
}

// secretCopyField is what layout.html's "secretCopy" shows: a secret that Keel
// shows once (an API key's, a webhook's, a two-factor one), read-only and
// with a Copy button, so that every such page offers it the same way.
type secretCopyField struct{ ID, Label, Value string }

// newPasswordField is what layout.html's "newPassword" shows: a new
// password's field (named as its ID), the rule it must meet and its
// confirmation, the same on every page that sets a password. ErrorID, when
// set, names the form's error, which the field is then described by too.
type newPasswordField struct{ ID, Label, ErrorID string }

// render writes a page with status. Templates render into a buffer first,
// so that a failure is a clean error page rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Signed {
		// The handler authenticated this request a moment ago, so the
		// identity service answers from its cache of verified tokens.
		if pr, err := c.principal(r); err == nil {
			p.Admin = pr.IsInstanceAdmin()
		}
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, p); err != nil {
		c.cfg.Logger.ErrorContext(r.Context(), "console: render page", "page", name, "err", err)
		http.Error(w, "Something went wrong on Keel's side.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders an error page for err: a missing or hidden resource is a
// 404, a rate limit a 429, input that breaks a rule (a bad filter or
// cursor in a link) a 400 and a change the state forbids a 409, both
// with the use case's message, and anything else a 500 whose cause is
// logged and never shown.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var de *domain.Error
	switch {
	case errors.Is(err, domain.ErrNotFound), errors.Is(err, domain.ErrForbidden):
		c.notFound(w, r)
	case errors.Is(err, domain.ErrUnauthenticated):
		http.Redirect(w, r, Prefix+"sign-in", http.StatusSeeOther)
	case errors.As(err, &de) && de.Kind == domain.KindRateLimited:
		c.errorPage(w, r, http.StatusTooManyRequests, "Too many requests", "Too many requests: "+waitText(de))
	case errors.As(err, &de) && de.Kind == domain.KindInvalid:
		c.errorPage(w, r, http.StatusBadRequest, "Bad request", de.Message)
	case errors.As(err, &de) && de.Kind == domain.KindConflict:
		c.errorPage(w, r, http.StatusConflict, "Not possible", de.Message)
	default:
		c.cfg.Logger.ErrorContext(r.Context(), "console: request failed", "path", loggedPath(r), "err", err)
		c.errorPage(w, r, http.StatusInternalServerError, "Error", "Something went wrong on Keel's side. Try again later.")
	}
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.errorPage(w, r, http.StatusNotFound, "Not found", "There is no such page.")
}

// errorPage renders the error page with the navigation a signed-in user
// had, so that an error does not strand them: the top navigation whenever
// the session is valid, and the workspace's navigation, with its area
// marked, when the path names a workspace the user may see. It reads the
// workspace again, which costs an error page one query, never a page that
// works; anything that fails here only leaves a navigation out.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	pg := page{Title: title, Message: message}
	if p, err := c.principal(r); err == nil {
		pg.Signed = true
		if ref := r.PathValue("ws"); ref != "" {
			if ws, err := c.cfg.Identity.GetWorkspace(r.Context(), p, ref); err == nil {
				pg.Workspace, pg.Section = &ws, sectionOf(r.URL.Path)
			}
		}
	}
	c.render(w, r, status, "error", pg)
}

// sectionOf names the workspace area a console path belongs to, the
// segment after /console/workspaces/{ws}/ (a submission belongs to
// forms), or "" for the workspace's own page and anything unknown, whose
// error page then marks no link current.
func sectionOf(urlPath string) string {
	parts := strings.SplitN(strings.TrimPrefix(urlPath, Prefix+"workspaces/"), "/", 3)
	if len(parts) < 2 {
		return ""
	}
	switch parts[1] {
	case "submissions":
		return "forms"
	case "invitations":
		return "members"
	case "forms", "content", "members", "keys", "outbox", "webhooks", "audit":
		return parts[1]
	}
	return ""
}

// nextPage links the page after a list's page at path: next is the
// cursor the list returned, and keep holds the filters the page was asked
// for, as name and value pairs, of which those with a value go into the
// link so that it goes on through the same list. It is "" when there is
// no next page, which the templates take as no link.
func nextPage(path, next string, keep ...string) string {
	if next == "" {
		return ""
	}
	q := url.Values{"after": {next}}
	for i := 0; i+1 < len(keep); i += 2 {
		if keep[i+1] != "" {
			q.Set(keep[i], keep[i+1])
		}
	}
	return path + "?" + q.Encode()
}

// client is who sends the request, for throttling and the audit log.
func client(r *http.Request) domain.Client {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return domain.Client{IP: ip, UserAgent: r.UserAgent()}
}

// principal authenticates the session cookie. Only session tokens count:
// an API key in the cookie is refused like a bad token.
func (c *Console) principal(r *http.Request) (domain.Principal, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || !domain.IsSessionToken(ck.Value) {
		return domain.Principal{}, domain.ErrUnauthenticated
	}
	p, err := c.cfg.Identity.Authenticate(r.Context(), ck.Value, client(r))
	if err != nil {
		return domain.Principal{}, err
	}
	if p.Kind() != domain.UserPrincipal || p.Session() == "" {
		return domain.Principal{}, domain.ErrUnauthenticated
	}
	return p, nil
}

// workspaceOf authenticates the request and reads the workspace in its
// path; a workspace the user is not a member of is a 404, as in the API.
func (c *Console) workspaceOf(w http.ResponseWriter, r *http.Request) (domain.Principal, domain.Workspace, bool) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return p, domain.Workspace{}, false
	}
	ws, err := c.cfg.Identity.GetWorkspace(r.Context(), p, r.PathValue("ws"))
	if err != nil {
		c.fail(w, r, err)
		return p, ws, false
	}
	return p, ws, true
}

// readPostedForm bounds a posted form to limit bytes and parses it. A form
// that cannot be read, too large or malformed, gets the 400 error page,
// which keeps a signed-in user's navigation, and false.
func (c *Console) readPostedForm(w http.ResponseWriter, r *http.Request, limit int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read. Try again.")
		return false
	}
	return true
}

// postForm authenticates a console POST and reads its form of at most
// limit bytes; it has answered the request when ok is false.
func (c *Console) postForm(w http.ResponseWriter, r *http.Request, limit int64) (_ domain.Principal, ok bool) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return p, false
	}
	return p, c.readPostedForm(w, r, limit)
}

func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.cfg.SecureCookies }

// startSession sets the cookie of a session a login just started. The
// cookie lives until the session's absolute end (KEEL_SESSION_MAX_AGE),
// not its first expiry: a session slides with use (KEEL_SESSION_TTL), so a
// cookie dropped at the first expiry would sign out an active user whose
// session lives on. The server still checks the sliding expiry on every
// request, so an idle session ends on time whatever the cookie says, and
// no response needs to carry a refreshed cookie.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, res identity.LoginResult) {
	end := res.EndsAt
	if end.Before(res.ExpiresAt) {
		end = res.ExpiresAt
	}
	c.setSession(w, r, res.Token, seconds(time.Until(end)))
}

// signedIn starts the session a sign-in (with a password, or finished
// with a second factor) just opened and goes to the workspaces.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request, res identity.LoginResult) {
	c.startSession(w, r, res)
	http.Redirect(w, r, Prefix+"workspaces", http.StatusSeeOther)
}

// setRetryAfter passes a rate limit's wait on to the browser.
func setRetryAfter(w http.ResponseWriter, err error) {
	var de *domain.Error
	if errors.As(err, &de) && de.Kind == domain.KindRateLimited && de.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(seconds(de.RetryAfter)))
	}
}

func (c *Console) setSession(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: token, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.secure(r),
	})
}

func trimEmail(s string) string { return strings.TrimSpace(s) }

func identityLogin(email, password string) identity.LoginInput {
	return identity.LoginInput{Email: email, Password: password}
}

// refused reports whether err refuses a form's input: a rule it broke, or
// a conflict such as an address already taken. Such an error goes back to
// the form (see refusal); any other is not the form's fault.
func refused(err error) bool {
	var de *domain.Error
	return errors.As(err, &de) && (de.Kind == domain.KindInvalid || de.Kind == domain.KindConflict)
}

// refusal is what a form shows for an error refused accepts, and the
// status of its page: the use case's message, then each field's with its
// name; 409 for a conflict, 422 for a broken rule.
func refusal(err error) (lines []string, status int) {
	var de *domain.Error
	errors.As(err, &de)
	lines = []string{de.Message}
	for _, f := range de.Fields {
		lines = append(lines, f.Field+": "+f.Message)
	}
	if de.Kind == domain.KindConflict {
		return lines, http.StatusConflict
	}
	return lines, http.StatusUnprocessableEntity
}
