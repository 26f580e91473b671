package console

import (
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"net/http"
	"strings"

	"github.com/boombuler/barcode/qr"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
)

// twoFactorRoutes serves the account's two-factor authentication page and
// the sign-in's second step.
func (c *Console) twoFactorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/account/two-factor", c.twoFactorPage)
	mux.HandleFunc("POST /console/account/two-factor/start", c.startTwoFactor)
	mux.HandleFunc("POST /console/account/two-factor/confirm", c.confirmTwoFactor)
	mux.HandleFunc("POST /console/account/two-factor/disable", c.disableTwoFactor)
	mux.HandleFunc("POST /console/account/two-factor/recovery-codes", c.regenerateRecoveryCodes)
	mux.HandleFunc("POST /console/sign-in/second-factor", c.signInSecondFactor)
}

// twoFactorData is what the two-factor page shows.
type twoFactorData struct {
	Status identity.TwoFactorStatus
	Notice string
	Error  string
}

// twoFactorNotices are the notices a redirect to the page names.
var twoFactorNotices = map[string]string{
	"off": "Two-factor authentication is off: your password alone signs you in.",
}

func (c *Console) twoFactorPage(w http.ResponseWriter, r *http.Request) {
	c.renderTwoFactor(w, r, http.StatusOK, twoFactorData{Notice: twoFactorNotices[r.URL.Query().Get("done")]})
}

func (c *Console) renderTwoFactor(w http.ResponseWriter, r *http.Request, status int, d twoFactorData) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Status, err = c.cfg.Identity.TwoFactorStatus(r.Context(), p); err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "twofactor", page{Title: "Two-factor authentication", Signed: true, Section: "account", Data: d})
}

// enrolData is the enrolment page: the secret, as text and as a QR code
// of its otpauth:// URI, and the form that confirms it with a code.
type enrolData struct {
	Secret, URI string
	QR          template.HTML
	Error       string
}

// twoFactorPost reads a form posted from the two-factor pages and
// authenticates it; false after the page that says why. A form that
// cannot be read comes back as the two-factor page with the error, not
// the error page, so that its buttons stay at hand.
func (c *Console) twoFactorPost(w http.ResponseWriter, r *http.Request) (_ domain.Principal, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.renderTwoFactor(w, r, http.StatusBadRequest, twoFactorData{Error: "The form could not be read. Try again."})
		return domain.Principal{}, false
	}
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return p, false
	}
	return p, true
}

// startTwoFactor makes a new secret, given the account's password, and
// shows it; two-factor authentication is on only once a code of it
// confirms it, which signs the account's other sessions out.
func (c *Console) startTwoFactor(w http.ResponseWriter, r *http.Request) {
	p, ok := c.twoFactorPost(w, r)
	if !ok {
		return
	}
	e, err := c.cfg.Identity.StartTwoFactor(r.Context(), p, r.PostFormValue("password"))
	if err != nil {
		c.twoFactorFailed(w, r, err)
		return
	}
	c.renderEnrol(w, r, http.StatusOK, enrolData{Secret: e.Secret, URI: e.URI})
}

func (c *Console) renderEnrol(w http.ResponseWriter, r *http.Request, status int, d enrolData) {
	qrSVG, err := qrCode(d.URI)
	if err != nil {
		c.fail(w, r, fmt.Errorf("draw the QR code: %w", err))
		return
	}
	d.QR = qrSVG
	c.render(w, r, status, "twofactor_enrol", page{Title: "Set up two-factor authentication", Signed: true, Section: "account", Data: d})
}

// confirmTwoFactor turns two-factor authentication on with a code and
// shows the recovery codes, once. A wrong code shows the same secret
// again, which the form carries back: the page has no other copy, and
// the use case checks the code against the stored secret only.
func (c *Console) confirmTwoFactor(w http.ResponseWriter, r *http.Request) {
	p, ok := c.twoFactorPost(w, r)
	if !ok {
		return
	}
	codes, err := c.cfg.Identity.ConfirmTwoFactor(r.Context(), p, r.PostFormValue("code"))
	var de *domain.Error
	if errors.As(err, &de) && de.Kind == domain.KindInvalid {
		secret, uri := r.PostFormValue("secret"), r.PostFormValue("uri")
		if !strings.HasPrefix(uri, "otpauth://totp/") || len(uri) > 1024 || len(secret) > 64 {
			c.renderTwoFactor(w, r, http.StatusUnprocessableEntity, twoFactorData{Error: "The code was wrong. Start again."})
			return
		}
		c.renderEnrol(w, r, http.StatusUnprocessableEntity, enrolData{Secret: secret, URI: uri, Error: "The code is wrong or expired: type the one your app shows now."})
		return
	}
	if err != nil {
		c.twoFactorFailed(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "twofactor_codes", page{Title: "Your recovery codes", Signed: true, Section: "account", Data: codes})
}

// proof reads the form's password, the only proof the console asks for.
func proof(r *http.Request) identity.SecondFactorProof {
	return identity.SecondFactorProof{Password: r.PostFormValue("password")}
}

func (c *Console) disableTwoFactor(w http.ResponseWriter, r *http.Request) {
	p, ok := c.twoFactorPost(w, r)
	if !ok {
		return
	}
	if err := c.cfg.Identity.DisableTwoFactor(r.Context(), p, proof(r)); err != nil {
		c.twoFactorFailed(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"account/two-factor?done=off", http.StatusSeeOther)
}

func (c *Console) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	p, ok := c.twoFactorPost(w, r)
	if !ok {
		return
	}
	codes, err := c.cfg.Identity.RegenerateRecoveryCodes(r.Context(), p, proof(r))
	if err != nil {
		c.twoFactorFailed(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "twofactor_codes", page{Title: "Your recovery codes", Signed: true, Section: "account", Data: codes})
}

// twoFactorFailed shows a refusal the member can act on (a wrong
// password, a state that changed, the throttling, no secret key) on the
// two-factor page, and anything else as fail does.
func (c *Console) twoFactorFailed(w http.ResponseWriter, r *http.Request, err error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		c.fail(w, r, err)
		return
	}
	switch de.Kind {
	case domain.KindInvalid:
		msg := de.Message
		if len(de.Fields) > 0 {
			msg = de.Fields[0].Message
		}
		c.renderTwoFactor(w, r, http.StatusUnprocessableEntity, twoFactorData{Error: msg})
	case domain.KindConflict, domain.KindUnavailable:
		c.renderTwoFactor(w, r, http.StatusConflict, twoFactorData{Error: de.Message})
	case domain.KindRateLimited:
		c.renderTwoFactor(w, r, http.StatusTooManyRequests, twoFactorData{Error: "Too many attempts: " + waitText(de)})
	default:
		c.fail(w, r, err)
	}
}

// secondFactorData is the sign-in's second step: the challenge the
// password earned, carried by the form.
type secondFactorData struct {
	Challenge string
	Error     string
}

// secondFactorPage asks for the code that finishes a sign-in whose
// password was right (signIn, pages.go).
func (c *Console) secondFactorPage(w http.ResponseWriter, r *http.Request, status int, d secondFactorData) {
	c.render(w, r, status, "signin_code", page{Title: "Sign in: code", Data: d})
}

// signInSecondFactor finishes a sign-in with a code or a recovery code,
// through the use case POST /v1/auth/login/second-factor calls, and sets a
// new session's cookie as signIn does.
func (c *Console) signInSecondFactor(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "signin", page{Title: "Sign in", Error: "The form could not be read. Sign in again."})
		return
	}
	in := identity.SecondFactorInput{Challenge: r.PostFormValue("challenge"), Code: strings.TrimSpace(r.PostFormValue("code")), RecoveryCode: strings.TrimSpace(r.PostFormValue("recovery_code"))}
	anon := domain.AnonymousPrincipal.WithClient(client(r))
	res, err := c.cfg.Identity.CompleteSecondFactor(r.Context(), anon, in)
	var de *domain.Error
	switch {
	case err == nil:
	case errors.Is(err, domain.ErrSecondFactorInvalid):
		c.secondFactorPage(w, r, http.StatusUnauthorized, secondFactorData{Challenge: in.Challenge, Error: "The code is wrong, expired or was already used."})
		return
	case errors.Is(err, domain.ErrLoginChallengeUnusable):
		c.render(w, r, http.StatusUnauthorized, "signin", page{Title: "Sign in", Error: "This sign-in expired or had too many wrong codes. Sign in again."})
		return
	case errors.As(err, &de) && de.Kind == domain.KindRateLimited:
		setRetryAfter(w, err)
		c.secondFactorPage(w, r, http.StatusTooManyRequests, secondFactorData{Challenge: in.Challenge, Error: "Too many attempts: " + waitText(de)})
		return
	default:
		c.fail(w, r, err)
		return
	}
	c.signedIn(w, r, res)
}

// qrQuietZone is the blank margin, in modules, that QR readers need.
const qrQuietZone = 4

// qrCode draws content as a QR code in inline SVG: one path of dark
// modules, with no style and no script, which the console's CSP allows
// where it forbids data: images. Medium error correction keeps an
// otpauth:// URI's code small enough to scan off a phone's screen.
func qrCode(content string) (template.HTML, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return "", err
	}
	b := code.Bounds()
	n := b.Dx() + 2*qrQuietZone
	var d strings.Builder
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if code.At(x, y) == color.Black {
				fmt.Fprintf(&d, "M%d %dh1v1h-1z", x-b.Min.X+qrQuietZone, y-b.Min.Y+qrQuietZone)
			}
		}
	}
	// The SVG is built from numbers alone: nothing of content reaches it
	// but the modules' positions.
	return template.HTML(fmt.Sprintf(`<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="qr-title" shape-rendering="crispEdges"><title id="qr-title">QR code of the secret, for an authenticator app</title><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n, n, n*5, n*5, n, n, d.String())), nil
}
